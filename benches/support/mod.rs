//! What the benchmarks share: the SLO configs and the traffic they run on. Each benchmark
//! uses only some of it.
#![allow(dead_code)]

use std::path::Path;

use slipstream::config::{self, Config};
use slipstream::traffic::Generator;

/// 50 services × 100 routes = 5,000 (service, route) streams. Per route and per service,
/// an availability and a latency SLO (the usual pairs): 4 SLOs, 10,100 SLO series, kept
/// in 5,050 series because each pair shares its events.
pub const ROUTES: &str = r#"
slos:
  - { name: route-availability, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: route-latency, service: "*", group_by: [route], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
  - { name: service-availability, service: "*", indicator: { type: availability }, objective: 99.5, window: 30d }
  - { name: service-latency, service: "*", indicator: { type: latency, threshold_ms: 500 }, objective: 99, window: 30d }
"#;

/// The same routes, plus the operator of each request as a label: 40,000 streams (5,000
/// routes × 8 operators), 4 SLOs over 5,408 series.
pub const OPERATORS: &str = r#"
events: { labels: [operator] }
slos:
  - { name: route-availability, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: route-latency, service: "*", group_by: [route], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
  - { name: operator-availability, service: "*", group_by: [operator], indicator: { type: availability }, objective: 99.5, window: 30d }
  - { name: checkout-availability, service: svc-000, group_by: [operator], indicator: { type: availability }, objective: 99.95, window: 30d }
"#;

const BASE_MS: i64 = 1_795_262_400_000;

pub fn config(text: &str) -> Config {
    config::parse(text, Path::new("bench.yaml")).expect("bench config")
}

/// `n` events over `span_ms` of event time, in arrival order with up to 2 s of jitter.
pub fn events(n: usize, span_ms: i64) -> Vec<Vec<u8>> {
    let mut g = Generator::numbered(42, 50, 100);
    let mut rng = slipstream::traffic::Rng::new(9);
    (0..n)
        .map(|i| {
            let mut line = Vec::with_capacity(200);
            let jitter = (rng.unit() * 2000.0) as i64;
            g.write_event(BASE_MS + i as i64 * span_ms / n as i64 - jitter, &mut line);
            line
        })
        .collect()
}
