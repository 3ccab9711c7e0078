//! Fast tests of `run` in-process, on librdkafka's mock cluster (the real protocol, no
//! broker process): the same fixture as the end-to-end tests gives the reference report,
//! events too far in the future are refused with their own reason, `/readyz` turns
//! ready once partitions are assigned and caught up, and routes past the series limit
//! count in the overflow series, with their counters at /metrics.

mod common;

use common::wait::wait_until;
use std::time::Duration;

use common::broker::produce;
use common::in_process::InProcess;
use common::report::{assert_report, expected, fixture};
use rdkafka::mocking::MockCluster;
use serde_json::Value;
use slipstream::run::wall_ms;

fn start(brokers: &str, topic: &str, clock: &str) -> InProcess {
    start_with(brokers, topic, clock, "")
}

fn start_with(brokers: &str, topic: &str, clock: &str, extra: &str) -> InProcess {
    let slos = std::fs::read_to_string(fixture("config.yaml")).unwrap();
    InProcess::start(&format!(
        "{slos}\nkafka: {{ brokers: \"{brokers}\", topics: [{topic}], group: mock, \
         properties: {{ session.timeout.ms: \"6000\" }} }}\n\
         http: {{ listen: \"127.0.0.1:0\" }}\nevaluation: {{ clock: {clock} }}\n{extra}"
    ))
}

fn api(addr: &str, query: &str) -> Value {
    let (status, body) = common::http::get(addr, &format!("/api/v1/slos{query}")).unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn the_fixture_through_the_mock_cluster_gives_the_reference_report() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("events", 4, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let records = common::report::fixture_records(4);
    produce(&brokers, "events", &records);
    let run = start(&brokers, "events", "event");
    let addr = run.addr();
    wait_until("every event read", Duration::from_secs(60), || {
        api(&addr, "")["events"]["read"] == records.len()
    });
    assert_report(&api(&addr, ""), &expected("expected.json"));
    wait_until("ready", Duration::from_secs(30), || {
        common::http::get(&addr, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    run.stop();
}

#[test]
fn events_beyond_the_clock_skew_are_invalid_future() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("skew", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let event = |ts: i64| {
        format!(r#"{{"timestamp":{ts},"service":"checkout","route":"POST /pay","status":200,"latency_ms":12}}"#)
            .into_bytes()
    };
    let now = wall_ms();
    // Two within the default 5 minutes of skew, one an hour ahead.
    let records = vec![
        (0, event(now - 1_000)),
        (0, event(now + 60_000)),
        (0, event(now + 3_600_000)),
    ];
    produce(&brokers, "skew", &records);
    let run = start(&brokers, "skew", "wall");
    let addr = run.addr();
    wait_until("every event read", Duration::from_secs(60), || {
        api(&addr, "")["events"]["read"] == 3
    });
    let events = &api(&addr, "")["events"];
    assert_eq!(events["valid"], 2);
    assert_eq!(events["invalid_by_reason"]["future"], 1);
    let (_, metrics) = common::http::get(&addr, "/metrics").unwrap();
    let samples = common::http::samples(&metrics);
    wait_until("the future event exported", Duration::from_secs(10), || {
        let (_, metrics) = common::http::get(&addr, "/metrics").unwrap();
        common::http::sample(
            &common::http::samples(&metrics),
            "slipstream_events_invalid_total",
            &[("reason", "future")],
        ) == Some(1.0)
    });
    assert!(
        samples
            .keys()
            .any(|k| k.starts_with("slipstream_batch_seconds_bucket"))
    );
    run.stop();
}

/// A real Prometheus scrapes `run`: PromQL returns the burn rates the API reports, and the
/// Sloth-compatible series Sloth's dashboards query.
#[test]
fn prometheus_sees_what_the_api_reports() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("prom", 2, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let records = common::report::fixture_records(2);
    produce(&brokers, "prom", &records);
    let sloth = "outputs: { prometheus: { sloth_compatible: true } }\n";
    let run = start_with(&brokers, "prom", "event", sloth);
    let addr = run.addr();
    wait_until("every event read", Duration::from_secs(60), || {
        api(&addr, "")["events"]["read"] == records.len()
    });
    let Some(prometheus) = common::prometheus::Prometheus::scraping(&addr) else {
        return;
    };
    let report = api(&addr, "");
    let cart = report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "cart-availability")
        .unwrap();
    let want = cart["windows"]["1d"]["burn_rate"].as_f64().unwrap();
    let value = |result: &Value| -> Option<f64> { result[0]["value"][1].as_str()?.parse().ok() };
    let query = r#"slipstream_burn_rate{slo="cart-availability",window="1d"}"#;
    wait_until("PromQL's value", Duration::from_secs(30), || {
        value(&prometheus.query(query)).is_some_and(|got| (got - want).abs() < 1e-9)
    });
    let sloth = prometheus.query(r#"slo:period_burn_rate:ratio{sloth_slo="cart-availability"}"#);
    let period = cart["windows"]["30d"]["burn_rate"].as_f64().unwrap();
    assert!((value(&sloth).unwrap() - period).abs() < 1e-9, "{sloth}");
    assert_eq!(sloth[0]["metric"]["sloth_service"], "cart");
    run.stop();
}

/// `run` with a series limit: past it, routes count in the `__overflow__` series of the API
/// and of /metrics, and the overflow counters say how many routes and events.
#[test]
fn routes_past_the_series_limit_count_in_the_overflow_series() {
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("many-routes", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let now = wall_ms();
    // Ten routes, each twice, the second time with a 503.
    let records: Vec<(i32, Vec<u8>)> = (0..20)
        .map(|i| {
            let (route, status) = (i % 10, if i < 10 { 200 } else { 503 });
            let line = format!(
                r#"{{"timestamp":{},"service":"checkout","route":"/r{route}","status":{status},"latency_ms":5}}"#,
                now - 60_000 + i
            );
            (0, line.into_bytes())
        })
        .collect();
    produce(&brokers, "many-routes", &records);
    let run = InProcess::start(&format!(
        "limits: {{ max_series_per_slo: 3 }}\n\
         slos:\n  - {{ name: routes, service: checkout, group_by: [route], \
         indicator: {{ type: availability }}, objective: 99, window: 1d }}\n\
         kafka: {{ brokers: \"{brokers}\", topics: [many-routes], group: limits }}\n\
         http: {{ listen: \"127.0.0.1:0\" }}\nevaluation: {{ clock: event }}\n"
    ));
    let addr = run.addr();
    wait_until("every event read", Duration::from_secs(60), || {
        api(&addr, "")["events"]["read"] == 20
    });
    let report = api(&addr, "");
    let routes: Vec<&str> = report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["labels"]["route"].as_str().unwrap())
        .collect();
    assert_eq!(routes, ["/r0", "/r1", "/r2", "__overflow__"]);
    let overflow = &report["slos"][3]["windows"]["1d"];
    assert_eq!(
        (&overflow["total"], &overflow["good"]),
        (&14.into(), &7.into())
    );
    let slo = [("slo", "routes")];
    wait_until(
        "the overflow counters exported",
        Duration::from_secs(10),
        || {
            let (_, metrics) = common::http::get(&addr, "/metrics").unwrap();
            let samples = common::http::samples(&metrics);
            let sample = |name| common::http::sample(&samples, name, &slo);
            let bad = common::http::sample(
                &samples,
                "slipstream_slo_events_total",
                &[
                    ("slo", "routes"),
                    ("route", "__overflow__"),
                    ("outcome", "bad"),
                ],
            );
            sample("slipstream_series_overflow_total") == Some(7.0)
                && sample("slipstream_series_overflow_events_total") == Some(14.0)
                && bad == Some(7.0)
        },
    );
    run.stop();
}
