//! Waiting for a condition of a running process, with a deadline.

use std::time::{Duration, Instant};

/// Polls `ok` every 100 ms until it holds; panics, naming `what`, after `within`.
pub fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
