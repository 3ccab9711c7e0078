//! Servers from Debian's packages, installed on first use when missing (`.ci/run` runs
//! as root on a clean machine): under `CI=true` a package that cannot be installed fails
//! the test; elsewhere the test is skipped with a message.

use std::process::{Command, Stdio};

/// Whether `binary` exists, after trying `apt-get install -y package` if it did not.
pub fn ensure(package: &str, binary: &str) -> bool {
    if std::path::Path::new(binary).is_file() {
        return true;
    }
    eprintln!("{binary} not found: apt-get install -y {package}");
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    apt(&["update"]) && apt(&["install", "-y", "--no-install-recommends", package])
}

/// Fails under `CI=true`, else says the test is skipped; for a missing package.
pub fn missing(package: &str) {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{package} is not installed and apt-get install failed"
    );
    eprintln!("SKIPPED: {package} is not installed");
}
