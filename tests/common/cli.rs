//! The slipstream binary run once, as a command: arguments in, its output back.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::thread;

/// Runs slipstream with `args`, feeding `stdin` (if any) on its standard input.
pub fn run(args: &[&str], stdin: Option<Vec<u8>>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn slipstream");
    // Write from another thread so that a full stdout pipe cannot deadlock the test.
    let writer = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        thread::spawn(move || pipe.write_all(&data))
    });
    let output = child.wait_with_output().expect("wait for slipstream");
    if let Some(writer) = writer {
        writer.join().expect("stdin writer").expect("write stdin");
    }
    output
}
