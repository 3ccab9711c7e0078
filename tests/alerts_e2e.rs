//! Burn-rate alerts end to end, against real peers: events through a real Kafka-protocol
//! broker (Tansu), `slipstream run` as its own process, and a real Alertmanager, read
//! through Alertmanager's own API. An incident pages with the contract's labels and
//! annotations within the evaluation interval plus 2 s, and the page resolves after the
//! recovery. And the Kafka outputs: SLI snapshots and alert transitions, read back from
//! the broker.

mod common;

use std::time::{Duration, Instant};

use common::alertmanager::Alertmanager;
use common::broker::{Tansu, produce, read_records};
use common::slipstream::Running;
use serde_json::Value;
use slipstream::run::wall_ms;

fn event(ts: i64, status: u16) -> Vec<u8> {
    format!(
        r#"{{"timestamp":{ts},"service":"checkout","route":"POST /pay","status":{status},"latency_ms":40,"operator":"eu-1"}}"#
    )
    .into_bytes()
}

fn pages(am: &Alertmanager) -> Vec<Value> {
    am.alerts()
        .into_iter()
        .filter(|a| {
            a["labels"]["severity"] == "page" && a["labels"]["slo"] == "checkout-availability"
        })
        .collect()
}

#[test]
fn an_incident_pages_through_alertmanager_and_resolves() {
    let Some(tansu) = Tansu::start() else { return };
    let Some(am) = Alertmanager::start() else {
        return;
    };
    let brokers = tansu.brokers();
    tansu.create_topic("incident", 2);
    let config = format!(
        r#"
events: {{ labels: [operator] }}
slos:
  - {{ name: checkout-availability, service: checkout, indicator: {{ type: availability }}, objective: 99.9, window: 30d }}
kafka: {{ brokers: "{brokers}", topics: [incident], group: alerts, properties: {{ session.timeout.ms: "6000" }} }}
evaluation: {{ clock: wall, delay: 0s, interval: 1s }}
alerting:
  alertmanager: {{ url: "{}", resend_interval: 2s }}
  runbook_url: "https://runbooks.example/{{slo}}"
"#,
        am.url()
    );
    let run = Running::start(&config);

    // An hour of healthy traffic first.
    let now = wall_ms();
    let healthy: Vec<(i32, Vec<u8>)> = (0..3_000)
        .map(|i| (i % 2, event(now - 3_600_000 + i as i64 * 1_000, 200)))
        .collect();
    produce(&brokers, "incident", &healthy);
    run.wait_for_read(3_000, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    assert!(pages(&am).is_empty(), "no page before the incident");

    // The incident: half of the last 300 requests fail. Burn rate 500 over 5m and about
    // 45 over 1h, both above 14.4.
    let now = wall_ms();
    let incident: Vec<(i32, Vec<u8>)> = (0..300)
        .map(|i| {
            (
                i % 2,
                event(
                    now - 240_000 + i as i64 * 800,
                    if i % 2 == 0 { 503 } else { 200 },
                ),
            )
        })
        .collect();
    produce(&brokers, "incident", &incident);
    let produced = Instant::now();
    let page = loop {
        if let Some(page) = pages(&am).into_iter().next() {
            break page;
        }
        assert!(
            produced.elapsed() < Duration::from_secs(20),
            "no page within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let latency = produced.elapsed();
    eprintln!("alert latency (produced → in Alertmanager): {latency:?}");
    assert!(
        latency <= Duration::from_secs(3),
        "interval 1 s + 2 s exceeded: {latency:?}"
    );
    let labels = &page["labels"];
    assert_eq!(labels["alertname"], "SLOErrorBudgetBurn");
    assert_eq!(labels["service"], "checkout");
    assert_eq!(
        page["annotations"]["runbook_url"],
        "https://runbooks.example/checkout-availability"
    );
    let description = page["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("over 1h") && description.contains("over 5m"),
        "{description}"
    );
    assert!(
        page["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/api/v1/alerts")
    );

    let (_, alerts) = run.get("/api/v1/alerts");
    let alerts: Value = serde_json::from_str(&alerts).unwrap();
    let firing: Vec<&Value> = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["severity"] == "page" && a["state"] == "firing")
        .collect();
    assert_eq!(firing.len(), 1, "{alerts}");
    assert!(firing[0]["rule"]["short_burn_rate"].as_f64().unwrap() > 14.4);
    assert_eq!(
        run.metric(
            "slipstream_alert_firing",
            &[("slo", "checkout-availability"), ("severity", "page")]
        ),
        Some(1.0)
    );

    // Recovery: a flood of good requests brings the 5m burn rate under 14.4 and the 6h
    // one under 6; the page resolves (the ticket may fire: the day still burns).
    let now = wall_ms();
    let recovery: Vec<(i32, Vec<u8>)> = (0..30_000)
        .map(|i| (i % 2, event(now - 1_000 + i as i64 / 30, 200)))
        .collect();
    produce(&brokers, "incident", &recovery);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pages(&am).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the page did not resolve in Alertmanager"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, alerts) = run.get("/api/v1/alerts");
    let alerts: Value = serde_json::from_str(&alerts).unwrap();
    let page = alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["severity"] == "page")
        .cloned()
        .unwrap();
    assert_eq!(page["state"], "resolved", "{alerts}");
    assert!(page["resolved_at"].is_string());
}

#[test]
fn sli_snapshots_and_alert_transitions_reach_kafka() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("gateway", 2);
    tansu.create_topic("slipstream-sli", 1);
    tansu.create_topic("slipstream-alerts", 1);
    let config = format!(
        r#"
slos:
  - {{ name: checkout-availability, service: checkout, indicator: {{ type: availability }}, objective: 99.9, window: 30d }}
kafka: {{ brokers: "{brokers}", topics: [gateway], group: outputs, properties: {{ session.timeout.ms: "6000" }} }}
evaluation: {{ clock: wall, delay: 0s, interval: 1s }}
alerting: {{ kafka_topic: slipstream-alerts }}
outputs: {{ kafka: {{ sli_topic: slipstream-sli, interval: 1s }} }}
"#
    );
    let run = Running::start(&config);
    let now = wall_ms();
    // An hour of traffic whose last 300 requests fail half of the time: a page.
    let mut records: Vec<(i32, Vec<u8>)> = (0..3_000)
        .map(|i| (i % 2, event(now - 3_600_000 + i as i64 * 1_000, 200)))
        .collect();
    records.extend((0..300).map(|i| {
        let status = if i % 2 == 0 { 503 } else { 200 };
        (i % 2, event(now - 240_000 + i as i64 * 800, status))
    }));
    produce(&brokers, "gateway", &records);
    run.wait_for_read(3_300, Duration::from_secs(60));

    let alerts = read_records(
        &brokers,
        "slipstream-alerts",
        Duration::from_secs(30),
        |r| !r.is_empty(),
    );
    let (key, value) = alerts.first().expect("an alert transition record");
    assert_eq!(key, "checkout-availability||page");
    let alert: Value = serde_json::from_str(value).unwrap();
    assert_eq!(alert["transition"], "firing");
    assert_eq!(alert["severity"], "page");
    assert!(alert["rule"]["short_burn_rate"].as_f64().unwrap() > 14.4);

    // Snapshots every second; the newest ones count every event in the 30-day window.
    let counted = |r: &[(String, String)]| {
        r.iter().any(|(_, v)| {
            let s: Value = serde_json::from_str(v).unwrap();
            s["windows"]["30d"]["total"] == 3_300
        })
    };
    let snapshots = read_records(&brokers, "slipstream-sli", Duration::from_secs(30), counted);
    assert!(
        counted(&snapshots),
        "no snapshot counts all 3,300 events: {snapshots:?}"
    );
    let (key, value) = snapshots.last().unwrap();
    assert_eq!(key, "checkout-availability|");
    let snapshot: Value = serde_json::from_str(value).unwrap();
    assert_eq!(snapshot["name"], "checkout-availability");
    assert!(snapshot["at"].is_string());
    assert!(snapshot["windows"]["5m"]["burn_rate"].as_f64().unwrap() > 14.4);
    assert_eq!(
        run.metric("slipstream_kafka_output_failed_total", &[]),
        Some(0.0)
    );
}
