//! Generated gateway traffic for the tests that run slipstream on a broker, and a fresh
//! state directory for those that keep checkpoints.

use std::path::PathBuf;

/// `n` events of 3 services with `routes` routes each, the first `ago_ms` before now and
/// one every `step_ms` after it, spread over `partitions` in turn.
pub fn traffic(
    n: usize,
    seed: u64,
    routes: usize,
    ago_ms: i64,
    step_ms: i64,
    partitions: i32,
) -> Vec<(i32, Vec<u8>)> {
    let mut generator = slipstream::traffic::Generator::numbered(seed, 3, routes);
    let start = slipstream::run::wall_ms() - ago_ms;
    (0..n)
        .map(|i| {
            let mut line = Vec::new();
            generator.write_event(start + i as i64 * step_ms, &mut line);
            (i as i32 % partitions, line)
        })
        .collect()
}

/// An empty directory, unique to this test process, for one test's checkpoints.
pub fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("slipstream-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}
