//! Composite SLOs and roll-ups in `slipstream run`, end to end: events through a real
//! Kafka-protocol broker (Tansu), `run` as its own process. A failing journey step whose
//! own SLO is lax (auth at 90 %) makes the composite journey page, seen in
//! `/api/v1/alerts` and `slipstream_alert_firing{slo="checkout-journey"}`, while auth's
//! own SLO does not; and `/metrics` has the roll-up series of a payment ecosystem of
//! three operators, with the failing operator ranked first.

mod common;

use std::time::{Duration, Instant};

use common::broker::{Tansu, produce};
use common::slipstream::Running;
use serde_json::Value;
use slipstream::run::wall_ms;

fn event(ts: i64, service: &str, route: &str, operator: &str, status: u16) -> Vec<u8> {
    format!(
        r#"{{"timestamp":{ts},"service":"{service}","route":"{route}","status":{status},"latency_ms":40,"operator":"{operator}"}}"#
    )
    .into_bytes()
}

const STEPS: [(&str, &str); 3] = [
    ("checkout", "POST /pay"),
    ("cart", "GET /cart"),
    ("auth", "POST /login"),
];

/// The element of the JSON array `list` that `pick` picks.
fn find(list: &Value, pick: impl Fn(&Value) -> bool) -> Value {
    let list = list.as_array().expect("an array");
    list.iter().find(|v| pick(v)).cloned().expect("an element")
}

fn firing(run: &Running, slo: &str) -> bool {
    let (_, alerts) = run.get("/api/v1/alerts");
    let alerts: Value = serde_json::from_str(&alerts).expect("alerts JSON");
    alerts["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["slo"] == slo && a["severity"] == "page" && a["state"] == "firing")
}

#[test]
fn a_failing_step_pages_the_journey_and_the_rollup_is_exported() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("journey", 2);
    let config = format!(
        r#"
events: {{ labels: [operator] }}
slos:
  - {{ name: checkout-pay-availability, service: checkout, selector: {{ route: "POST /pay" }}, indicator: {{ type: availability }}, objective: 99.9, window: 30d }}
  - {{ name: cart-availability, service: cart, indicator: {{ type: availability }}, objective: 99.9, window: 30d }}
  - {{ name: auth-availability, service: auth, indicator: {{ type: availability }}, objective: 90, window: 30d }}
  - {{ name: payments-availability, service: payments, group_by: [operator], indicator: {{ type: availability }}, objective: 99.5, window: 7d }}
composites:
  - name: checkout-journey
    objective: 99.9
    window: 30d
    components:
      - {{ slo: checkout-pay-availability, weight: 2 }}
      - {{ slo: cart-availability }}
      - {{ slo: auth-availability }}
rollups:
  - {{ name: payments-by-operator, slo: payments-availability, by: operator, top_k: 2, rank_window: 1h }}
kafka: {{ brokers: "{brokers}", topics: [journey], group: composites, properties: {{ session.timeout.ms: "6000" }} }}
evaluation: {{ clock: wall, delay: 0s, interval: 1s }}
"#
    );
    let run = Running::start(&config);

    // 50 minutes of healthy journeys (1000 per step), and 1000 payments per operator,
    // of which op-c fails 50 and op-b 5; all in the 1h window for the next 10 minutes.
    let now = wall_ms();
    let mut healthy: Vec<(i32, Vec<u8>)> = Vec::new();
    for i in 0..1_000i64 {
        let ts = now - 3_000_000 + i * 3_000;
        for (service, route) in STEPS {
            healthy.push(((i % 2) as i32, event(ts, service, route, "", 200)));
        }
        for (operator, every) in [("op-a", 0), ("op-b", 200), ("op-c", 20)] {
            let status = if every > 0 && i % every == 0 {
                503
            } else {
                200
            };
            healthy.push((
                (i % 2) as i32,
                event(ts, "payments", "POST /charge", operator, status),
            ));
        }
    }
    produce(&brokers, "journey", &healthy);
    run.wait_for_read(6_000, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !firing(&run, "checkout-journey"),
        "no page before the incident"
    );

    // The incident: half of 400 logins fail in the last 4 minutes. auth's 90 % SLO
    // burns at 1.4 (1h) and 4 (5m), no page; the journey's 99.9 % burns at about 45
    // (1h: 200 bad of 4400) and far more over 5m, both above 14.4.
    let now = wall_ms();
    let incident: Vec<(i32, Vec<u8>)> = (0..400)
        .map(|i| {
            let status = if i % 2 == 0 { 503 } else { 200 };
            (
                i % 2,
                event(
                    now - 240_000 + i64::from(i) * 600,
                    "auth",
                    "POST /login",
                    "",
                    status,
                ),
            )
        })
        .collect();
    produce(&brokers, "journey", &incident);
    let produced = Instant::now();
    while !firing(&run, "checkout-journey") {
        assert!(
            produced.elapsed() < Duration::from_secs(20),
            "the journey did not page within 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !firing(&run, "auth-availability"),
        "auth's own SLO should not page"
    );
    assert_eq!(
        run.metric(
            "slipstream_alert_firing",
            &[("slo", "checkout-journey"), ("severity", "page")]
        ),
        Some(1.0)
    );
    let (_, alerts) = run.get("/api/v1/alerts");
    let alerts: Value = serde_json::from_str(&alerts).unwrap();
    let page = find(&alerts["alerts"], |a| {
        a["slo"] == "checkout-journey" && a["severity"] == "page"
    });
    assert_eq!(page["labels"], serde_json::json!({}));
    assert!(
        page["rule"]["long_burn_rate"].as_f64().unwrap() > 14.4,
        "{page}"
    );

    // The journey is an ordinary series: exported, and in /api/v1/slos with its parts.
    let journey_1h = run.metric(
        "slipstream_sli",
        &[("slo", "checkout-journey"), ("window", "1h")],
    );
    let journey_1h = journey_1h.expect("slipstream_sli of the journey");
    assert!(
        (journey_1h - (1.0 - 200.0 / 4_400.0)).abs() < 1e-9,
        "{journey_1h}"
    );
    let (_, slos) = run.get("/api/v1/slos");
    let report: Value = serde_json::from_str(&slos).unwrap();
    let journey = find(&report["slos"], |s| s["name"] == "checkout-journey");
    assert_eq!(journey["composite"]["components"][0]["weight"], 2);
    assert_eq!(journey["windows"]["1h"]["total"], 4_400);
    assert_eq!(report["rollups"][0]["name"], "payments-by-operator");

    // The roll-up: per operator, the ecosystem, and who burned the most.
    let rollup = [
        ("rollup", "payments-by-operator"),
        ("slo", "payments-availability"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut labels = rollup.to_vec();
        labels.extend_from_slice(extra);
        labels
    };
    let sli = |op| {
        run.metric(
            "slipstream_rollup_sli",
            &with(&[("window", "1h"), ("operator", op)]),
        )
    };
    assert_eq!(sli("op-a"), Some(1.0));
    assert_eq!(sli("op-c"), Some(0.95));
    let ecosystem = run.metric("slipstream_ecosystem_sli", &with(&[("window", "1h")]));
    assert!((ecosystem.unwrap() - (1.0 - 55.0 / 3_000.0)).abs() < 1e-9);
    assert!(
        run.metric("slipstream_ecosystem_error_budget_remaining", &rollup)
            .is_some()
    );
    assert!(
        run.metric(
            "slipstream_rollup_error_budget_remaining",
            &with(&[("operator", "op-b")])
        )
        .is_some()
    );
    let top = |rank, op| {
        run.metric(
            "slipstream_rollup_top_budget_burned",
            &with(&[("rank", rank), ("operator", op)]),
        )
    };
    // op-c: 50 bad of an allowance of 0.5 % of 1000; op-b: 5 of 5.
    assert!((top("1", "op-c").unwrap() - 10.0).abs() < 1e-9);
    assert!((top("2", "op-b").unwrap() - 1.0).abs() < 1e-9);
}
