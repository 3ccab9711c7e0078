//! Window state per series, measured on realistic traffic (docs/performance.md):
//! - counters of every default window plus 30d: at most 12 KB per SLO series;
//! - with the percentile panes of the windows up to 1 h, after more than an hour at 1,
//!   10, 100 and 1,000 requests per second per series: at most 64 KB per series.

use std::path::Path;

use slipstream::config;
use slipstream::engine::Engine;
use slipstream::traffic::Generator;

const BASE_MS: i64 = 1_795_262_400_000;

/// Feeds `rate` events per second per series for 70 minutes of event time, so that every
/// ring up to 1 h has wrapped, and returns (bytes per series, series).
fn state_per_series(slos: &str, routes: usize, rate: i64) -> (usize, usize) {
    let config = config::parse(slos, Path::new("memory.yaml")).expect("config");
    let mut engine = Engine::new(&config);
    let mut traffic = Generator::numbered(5, 1, routes);
    let span_ms = 70 * 60 * 1000;
    let total = routes as i64 * rate * span_ms / 1000;
    let mut line = Vec::new();
    for i in 0..total {
        line.clear();
        traffic.write_event(BASE_MS + i * span_ms / total, &mut line);
        engine.ingest(&line);
    }
    let (bytes, series) = engine.memory();
    (bytes / series, series)
}

#[test]
fn counters_of_every_window_up_to_30d_fit_in_12_kb_per_series() {
    // Windows longer than 1 h only: no percentile panes, counters alone.
    let slos = r#"
windows: [2h, 6h, 1d, 3d]
slos:
  - { name: avail, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
"#;
    let (bytes, series) = state_per_series(slos, 50, 1);
    assert_eq!(series, 50);
    println!("counters: {bytes} bytes per series");
    assert!(bytes <= 12 * 1024, "{bytes} bytes per series");
}

#[test]
fn default_windows_with_percentiles_fit_in_64_kb_per_series() {
    let slos = r#"
slos:
  - { name: avail, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
"#;
    // (series, requests per second per series): busier series fill their 1-minute
    // percentile panes with more distinct buckets.
    for (routes, rate) in [(50, 1), (10, 10), (2, 100), (1, 1000)] {
        let (bytes, series) = state_per_series(slos, routes, rate);
        assert_eq!(series, routes);
        println!("with percentiles, {rate} requests/s per series: {bytes} bytes per series");
        assert!(bytes <= 64 * 1024, "{rate}/s: {bytes} bytes per series");
    }
}
