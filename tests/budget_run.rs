//! End-to-end test of the error-budget policy in `slipstream run` against a real
//! Kafka-protocol broker (Tansu) with `slipstream run` as a process of its own, behind a
//! bearer token: an incident spends the budget of one series, and
//! `GET /api/v1/slos/{name}/budget` flips from 200 to 409 while `/metrics` shows
//! `slipstream_deploys_blocked 1` and the `freeze` action.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::broker::{Tansu, produce};
use common::slipstream::{Options, Running};
use common::wait::wait_until;
use serde_json::{Value, json};

const TOKEN: &str = "deploy-gate-token";

fn config(brokers: &str) -> String {
    format!(
        r#"
windows: [5m, 1h]
events: {{ labels: [operator] }}
slos:
  - name: checkout
    service: checkout
    group_by: [operator]
    indicator: {{ type: availability }}
    objective: 99
    window: 1h
kafka:
  brokers: "{brokers}"
  topics: [budget]
  group: e2e-budget
  properties: {{ session.timeout.ms: "6000" }}
evaluation: {{ clock: event, interval: 1s }}
"#
    )
}

/// `n` events of `operator`, one a second from `from_ms`, the first `bad` of them 503.
fn events(operator: &str, from_ms: i64, n: i64, bad: i64) -> Vec<(i32, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let status = if i < bad { 503 } else { 200 };
            let line = format!(
                r#"{{"timestamp":{},"service":"checkout","operator":"{operator}","status":{status},"latency_ms":20}}"#,
                from_ms + i * 1000
            );
            ((i % 2) as i32, line.into_bytes())
        })
        .collect()
}

fn budget(run: &Running, query: &str) -> (u16, Value) {
    let (status, body) = run.get(&format!("/api/v1/slos/checkout/budget{query}"));
    let body = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, body)
}

#[test]
fn an_incident_that_spends_the_budget_blocks_deploys() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("budget", 2);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // Whole minutes, two hours back: the event clock evaluates at the minute after the
    // newest event, and nothing is near the `future` limit.
    let start = (now.as_millis() as i64 / 60_000 - 120) * 60_000;

    // Before: eu-1 has spent a fifth of its budget (2 bad of 1000 at 99 %), us-2 none.
    let mut before = events("eu-1", start, 1000, 2);
    before.extend(events("us-2", start, 400, 0));
    produce(&brokers, "budget", &before);
    let run = Running::start_with(
        &config(&brokers),
        Options {
            token: Some(TOKEN),
            ..Options::default()
        },
    );
    run.wait_for_read(1400, Duration::from_secs(90));

    let (status, body) = budget(&run, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["may_ship"], true);
    assert_eq!(body["action"], "normal");
    assert_eq!(body["blocking_series"], json!([]));
    assert_eq!(body["objective"], 0.99);
    assert_eq!(body["window"], "1h");
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let left = series[0]["error_budget_remaining"].as_f64().unwrap();
    assert!((left - 0.8).abs() < 1e-9, "{left}");
    assert!(series[0]["burn_rates"]["1h"].is_number(), "{body}");
    assert!(series[0]["burn_rates"]["5m"].is_number(), "{body}");

    // The questions a pipeline can get wrong are refused, never answered 200.
    assert_eq!(budget(&run, "?region=eu").0, 400);
    assert_eq!(budget(&run, "?operator=eu-9").0, 404);
    let (status, _) = run.get("/api/v1/slos/nope/budget");
    assert_eq!(status, 404);
    let (status, _) = common::http::get(&run.addr, "/api/v1/slos/checkout/budget").unwrap();
    assert_eq!(status, 401, "the endpoint is behind the bearer token");

    let labels = |extra: &[(&'static str, &'static str)]| {
        let mut l = vec![("slo", "checkout"), ("operator", "eu-1")];
        l.extend_from_slice(extra);
        l
    };
    wait_until(
        "deploys_blocked 0 on /metrics",
        Duration::from_secs(30),
        || run.metric("slipstream_deploys_blocked", &labels(&[])) == Some(0.0),
    );
    assert_eq!(
        run.metric("slipstream_budget_action", &labels(&[("action", "normal")])),
        Some(1.0)
    );
    assert_eq!(
        run.metric("slipstream_objective_achieved", &labels(&[])),
        Some(0.998)
    );
    assert_eq!(
        run.metric("slipstream_objective_holds", &labels(&[])),
        Some(0.995)
    );
    assert_eq!(
        run.metric("slipstream_objective_next", &labels(&[])),
        Some(0.999)
    );
    // 99.9 % of 1000 allows 1 bad: 1 of the 2 to go.
    assert_eq!(
        run.metric("slipstream_objective_next_bad_events", &labels(&[])),
        Some(1.0)
    );

    // The incident, half an hour later: 30 failures on eu-1, 32 bad of 1030 against
    // 10.3 allowed.
    produce(
        &brokers,
        "budget",
        &events("eu-1", start + 1_800_000, 30, 30),
    );
    run.wait_for_read(1430, Duration::from_secs(60));
    let (status, body) = budget(&run, "");
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["may_ship"], false);
    assert_eq!(body["action"], "freeze");
    assert_eq!(body["blocking_series"], json!([{ "operator": "eu-1" }]));
    let eu1 = &body["series"][0];
    assert_eq!(eu1["labels"], json!({ "operator": "eu-1" }));
    assert_eq!(eu1["action"], "freeze");
    assert_eq!(eu1["blocks_deploys"], true);
    assert_eq!(
        eu1["description"],
        "freeze releases except reliability fixes"
    );
    assert!(eu1["error_budget_remaining"].as_f64().unwrap() < 0.0);
    assert_eq!(body["series"][1]["action"], "normal");
    let at = body["at"].as_str().unwrap().to_owned();

    // The other operator may still ship; `at` and a label select as documented.
    let (status, body) = budget(&run, "?operator=us-2");
    assert_eq!(status, 200, "{body}");
    let (status, body) = budget(&run, &format!("?at={at}&operator=eu-1"));
    assert_eq!((status, &body["at"]), (409, &json!(at)), "{body}");
    assert_eq!(budget(&run, "?at=yesterday").0, 400);

    wait_until(
        "deploys_blocked 1 on /metrics",
        Duration::from_secs(30),
        || run.metric("slipstream_deploys_blocked", &labels(&[])) == Some(1.0),
    );
    assert_eq!(
        run.metric("slipstream_budget_action", &labels(&[("action", "freeze")])),
        Some(1.0)
    );
    assert_eq!(
        run.metric("slipstream_budget_action", &labels(&[("action", "normal")])),
        Some(0.0),
        "the earlier action reads 0 until it expires"
    );
    let us2 = [("slo", "checkout"), ("operator", "us-2")];
    assert_eq!(run.metric("slipstream_deploys_blocked", &us2), Some(0.0));
}
