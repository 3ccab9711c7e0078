//! The cardinality attack of issue 5 through `slipstream replay`, the real binary: a
//! million events, each with a route never seen before, against an SLO grouped by route.
//!
//! - Counts stay exact: the series past `limits.max_series_per_slo` are one `__overflow__`
//!   series, and the totals of all series add up to the events read.
//! - Memory stays bounded: the peak resident set (VmHWM) of the process is under a fixed
//!   bound, and ten times the distinct routes (100,000 → 1,000,000) raise it by no more
//!   than the fixed-size buffers the smaller input leaves unfilled. Without the limit, each route would hold a series of several
//!   kilobytes: gigabytes in all.
//!
//! The peak is read from `/proc/<pid>/status` once the report has begun to arrive (the
//! report is built before its first byte is written) and before the process can exit (it
//! writes more than a pipe holds, so it waits for the test to read on).

use std::io::{BufWriter, Read, Write};
use std::process::{Command, Stdio};
use std::thread;

use serde_json::Value;

/// 2026-11-21T12:00:00Z.
const BASE_MS: i64 = 1_795_262_400_000;
const MAX_SERIES: usize = 1_000;
/// Peak resident set of a replay of any number of distinct routes at this limit. Measured
/// about 40 MiB for the debug build (docs/performance.md); a million series would take
/// over 8 GiB.
const BOUND_KIB: u64 = 128 * 1024;
/// What ten times the distinct routes may add to the peak: allocator slack, and buffers
/// of a fixed size that the smaller input does not fill (`replay` holds up to 2 × 12 MiB
/// of series counts to group them, and up to 160 decoded blocks), not growth. A series
/// per route would add gigabytes; a stream cache that is never emptied, about 100 MiB.
const GROWTH_KIB: u64 = 48 * 1024;

const CONFIG: &str = r#"
limits: { max_series_per_slo: 1000 }
slos:
  - { name: routes, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: fast, service: "*", group_by: [route], indicator: { type: latency, threshold_ms: 250 }, objective: 99, window: 30d }
"#;

/// Replays `n` events with `n` distinct routes, spread over an hour, one in a hundred a
/// 5xx; returns the report and the process's peak resident set in KiB.
fn replay_distinct_routes(n: u64) -> (Value, u64) {
    let config = std::env::temp_dir().join(format!(
        "slipstream-cardinality-{}-{n}.yaml",
        std::process::id()
    ));
    std::fs::write(&config, CONFIG).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(["replay", "--config"])
        .arg(&config)
        .args(["--input", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn slipstream");
    let stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || {
        let mut out = BufWriter::with_capacity(1 << 16, stdin);
        for i in 0..n {
            let ts = BASE_MS + (i * 3_600_000 / n) as i64;
            let status = if i % 100 == 0 { 503 } else { 200 };
            writeln!(
                out,
                r#"{{"timestamp":{ts},"service":"api","route":"/items/{i}","status":{status},"latency_ms":{}}}"#,
                i % 500
            )?;
        }
        out.flush()
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut report = vec![0; 1];
    stdout.read_exact(&mut report).expect("the report begins");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .expect("the process is still writing its report");
    let hwm_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in\n{status}"));
    stdout.read_to_end(&mut report).unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let exit = child.wait().unwrap();
    writer.join().unwrap().expect("write the events");
    std::fs::remove_file(&config).unwrap();
    assert!(exit.success(), "slipstream replay: {exit}\n{stderr}");
    assert_eq!(
        stderr.matches("series limit reached").count(),
        1,
        "one warning for the population of both SLOs:\n{stderr}"
    );
    (serde_json::from_slice(&report).unwrap(), hwm_kib)
}

/// Per SLO: the limit's series and the overflow series, which together count every event
/// once; the overflow series counts exactly the events of the routes past the limit.
fn check_counts(report: &Value, n: u64) {
    assert_eq!(report["events"]["read"], n);
    assert_eq!(report["events"]["valid"], n);
    for name in ["routes", "fast"] {
        let series: Vec<&Value> = report["slos"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"] == name)
            .collect();
        assert_eq!(
            series.len(),
            MAX_SERIES + 1,
            "{name}: the limit and the overflow"
        );
        let total = |s: &Value| s["windows"]["30d"]["total"].as_u64().unwrap();
        let sum: u64 = series.iter().map(|s| total(s)).sum();
        assert_eq!(sum, n, "{name}: every event in exactly one series");
        let overflow: Vec<&&Value> = series
            .iter()
            .filter(|s| s["labels"]["route"] == "__overflow__")
            .collect();
        assert_eq!(overflow.len(), 1, "{name}");
        let overflow = overflow[0];
        assert_eq!(overflow["labels"]["service"], "__overflow__");
        // The first routes, in arrival order, have their own series.
        let refused = n - MAX_SERIES as u64;
        assert_eq!(total(overflow), refused, "{name}");
        let good = overflow["windows"]["30d"]["good"].as_u64().unwrap();
        let want = (MAX_SERIES as u64..n)
            .filter(|i| match name {
                "routes" => i % 100 != 0,
                _ => i % 500 <= 250,
            })
            .count() as u64;
        assert_eq!(good, want, "{name}: good events of the overflow series");
    }
}

#[test]
fn a_million_distinct_routes_stay_exact_in_bounded_memory() {
    let (small, small_kib) = replay_distinct_routes(100_000);
    check_counts(&small, 100_000);
    let (large, large_kib) = replay_distinct_routes(1_000_000);
    check_counts(&large, 1_000_000);
    println!(
        "peak resident set: {small_kib} KiB for 100,000 routes, {large_kib} KiB for 1,000,000"
    );
    assert!(large_kib <= BOUND_KIB, "{large_kib} KiB");
    assert!(
        large_kib <= small_kib + GROWTH_KIB,
        "{small_kib} KiB for 100,000 routes, {large_kib} KiB for 1,000,000"
    );
}
