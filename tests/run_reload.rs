//! Config reload of `slipstream run` (a process of its own) on a real broker (Tansu):
//! 1. a new objective in the file and SIGHUP: applied, the SLO's window counts are the
//!    same (its history is kept), its objective and burn rates in `/api/v1/slos` are the
//!    new ones, and the decision log has one entry with the reason and author, also
//!    produced to `decision_log.kafka_topic`;
//! 2. the file changed, no signal: the poll applies it;
//! 3. an invalid edit: rejected, the old config keeps running, the rejected counter rises;
//! 4. a change of a restart-only section: rejected, naming the field;
//! 5. an SLO removed: its series leave `/metrics`.

mod common;

use std::time::Duration;

use common::broker::{Tansu, produce, read_records};
use common::slipstream::{Options, Running};
use common::wait::wait_until;
use serde_json::Value;

const SLOS: &str = r#"
slos:
  - name: checkout-availability
    service: checkout
    indicator: { type: availability }
    objective: 99.9
    window: 30d
  - name: checkout-latency
    service: checkout
    indicator: { type: latency, threshold_ms: 300 }
    objective: 99
    window: 30d
"#;

fn config(slos: &str, brokers: &str, topic: &str) -> String {
    format!(
        "{slos}\nkafka:\n  brokers: \"{brokers}\"\n  topics: [{topic}]\n  group: {topic}\n  \
         properties: {{ session.timeout.ms: \"6000\" }}\n\
         evaluation: {{ clock: event, interval: 200ms }}\n"
    )
}

/// 600 events over the last 10 minutes: 1 in 20 failed, 1 in 10 slow.
fn events() -> Vec<(i32, Vec<u8>)> {
    let start = slipstream::run::wall_ms() - 600_000;
    (0..600)
        .map(|i| {
            let status = if i % 20 == 0 { 503 } else { 200 };
            let latency = if i % 10 == 0 { 900 } else { 40 };
            let line = format!(
                r#"{{"timestamp":{},"service":"checkout","route":"/pay","status":{status},"latency_ms":{latency}}}"#,
                start + i * 1000
            );
            (0, line.into_bytes())
        })
        .collect()
}

fn slos(run: &Running) -> Value {
    let (status, body) = run.get("/api/v1/slos");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn slo<'a>(report: &'a Value, name: &str) -> &'a Value {
    let all = report["slos"].as_array().expect("slos");
    all.iter().find(|s| s["name"] == name).expect("the SLO")
}

fn reloads(run: &Running, result: &str) -> f64 {
    run.metric("slipstream_config_reloads_total", &[("result", result)])
        .unwrap_or(0.0)
}

fn started(topic: &str, slos: &str, options: Options<'_>) -> Option<(Tansu, Running, String)> {
    let tansu = Tansu::start()?;
    let brokers = tansu.brokers();
    tansu.create_topic(topic, 1);
    tansu.create_topic(&format!("{topic}-decisions"), 1);
    produce(&brokers, topic, &events());
    let run = Running::start_with(&config(slos, &brokers, topic), options);
    run.wait_for_read(600, Duration::from_secs(90));
    Some((tansu, run, brokers))
}

#[test]
fn sighup_applies_a_new_objective_and_keeps_the_history() {
    let with_topic = format!("{SLOS}decision_log: {{ kafka_topic: reload-sighup-decisions }}\n");
    let Some((_tansu, run, brokers)) = started("reload-sighup", &with_topic, Options::default())
    else {
        return;
    };
    let before = slos(&run);
    let old = slo(&before, "checkout-availability");
    assert_eq!(old["objective"], 0.999);
    assert_eq!(old["windows"]["30d"]["total"], 600);
    assert_eq!(old["windows"]["30d"]["good"], 570);

    let edited = with_topic.replacen("objective: 99.9", "objective: 99.5", 1).replacen(
        "    window: 30d\n",
        "    window: 30d\n    decision: { reason: \"raise after Q3 hardening\", author: \"alice@example.com\" }\n",
        1,
    );
    run.rewrite_config(&config(&edited, &brokers, "reload-sighup"));
    run.signal("HUP");
    wait_until("the reload is applied", Duration::from_secs(20), || {
        reloads(&run, "applied") >= 1.0
    });
    let after = slos(&run);
    let new = slo(&after, "checkout-availability");
    assert_eq!(new["objective"], 0.995);
    for window in ["5m", "1h", "30d"] {
        for count in ["total", "good"] {
            assert_eq!(
                new["windows"][window][count], old["windows"][window][count],
                "{window} {count}: the history is kept"
            );
        }
    }
    let burn = |s: &Value| s["windows"]["30d"]["burn_rate"].as_f64().unwrap();
    assert!((burn(old) - 0.05 / 0.001).abs() < 1e-6, "{}", burn(old));
    assert!((burn(new) - 0.05 / 0.005).abs() < 1e-6, "{}", burn(new));
    // The other SLO is untouched.
    assert_eq!(
        slo(&after, "checkout-latency"),
        slo(&before, "checkout-latency")
    );
    assert_eq!(reloads(&run, "rejected"), 0.0);
    let (_, config) = run.get("/api/v1/config");
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["slos"][0]["objective"], 99.5);
    assert_eq!(config["sha256"].as_str().map(str::len), Some(64));

    let (status, body) = run.get("/api/v1/decisions?slo=checkout-availability");
    assert_eq!(status, 200, "{body}");
    let log: Value = serde_json::from_str(&body).unwrap();
    let entries = log["decisions"].as_array().unwrap();
    let changes: Vec<&Value> = entries
        .iter()
        .filter(|e| e["change"] == "modified")
        .collect();
    assert_eq!(changes.len(), 1, "{entries:?}");
    let entry = changes[0];
    assert_eq!(entry["fields"], serde_json::json!(["objective"]));
    assert_eq!(entry["old"]["objective"], 99.9);
    assert_eq!(entry["new"]["objective"], 99.5);
    assert_eq!(entry["reason"], "raise after Q3 hardening");
    assert_eq!(entry["author"], "alice@example.com");
    assert_eq!(entry["status"], "applied");

    // The same entries on the topic, keyed by SLO: two added at start, then the change.
    let topic = "reload-sighup-decisions";
    let records = read_records(&brokers, topic, Duration::from_secs(30), |r| r.len() >= 3);
    assert_eq!(records.len(), 3, "{records:?}");
    let (key, value) = &records[2];
    assert_eq!(key, "checkout-availability");
    let produced: Value = serde_json::from_str(value).unwrap();
    assert_eq!(&produced, entry);
}

#[test]
fn the_file_is_watched_and_bad_edits_are_rejected() {
    let log = std::env::temp_dir().join(format!("slipstream-reload-{}.log", std::process::id()));
    let options = Options {
        stderr: Some(&log),
        ..Options::default()
    };
    let Some((_tansu, run, brokers)) = started("reload-watch", SLOS, options) else {
        return;
    };
    let topic = "reload-watch";
    // 2. No signal: the poll sees the new content.
    let lower = SLOS.replacen("objective: 99\n", "objective: 98\n", 1);
    run.rewrite_config(&config(&lower, &brokers, topic));
    wait_until(
        "the changed file is applied",
        Duration::from_secs(20),
        || reloads(&run, "applied") >= 1.0,
    );
    assert_eq!(slo(&slos(&run), "checkout-latency")["objective"], 0.98);

    // 3. An objective of 120 %: nothing changes, the rejection is counted and logged.
    let invalid = lower.replacen("objective: 99.9", "objective: 120", 1);
    run.rewrite_config(&config(&invalid, &brokers, topic));
    wait_until(
        "the invalid file is rejected",
        Duration::from_secs(20),
        || reloads(&run, "rejected") >= 1.0,
    );
    let report = slos(&run);
    assert_eq!(slo(&report, "checkout-availability")["objective"], 0.999);
    assert_eq!(
        slo(&report, "checkout-availability")["windows"]["30d"]["total"],
        600
    );
    assert_eq!(reloads(&run, "applied"), 1.0);

    // 4. Another broker list: a restart-only section, refused by name.
    let moved = config(&lower, &brokers, topic).replace(&brokers, "127.0.0.1:1");
    run.rewrite_config(&moved);
    wait_until(
        "the restart-only change is rejected",
        Duration::from_secs(20),
        || reloads(&run, "rejected") >= 2.0,
    );
    assert_eq!(reloads(&run, "applied"), 1.0);
    wait_until("the rejection is logged", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("restart to change kafka.brokers") && text.contains("slos[0].objective")
    });

    // 5. An SLO removed: its series are gone from /metrics at the next evaluation.
    let only = &lower[..lower
        .find("  - name: checkout-latency")
        .expect("the latency SLO")];
    let series = |run: &Running| {
        let (_, text) = run.get("/metrics");
        let of = text
            .lines()
            .filter(|l| l.contains(r#"slo="checkout-latency""#));
        of.count()
    };
    assert!(series(&run) > 0);
    run.rewrite_config(&config(only, &brokers, topic));
    wait_until("the SLO is removed", Duration::from_secs(20), || {
        reloads(&run, "applied") >= 2.0
    });
    wait_until("its series leave /metrics", Duration::from_secs(5), || {
        series(&run) == 0
    });
    let objective = run.metric(
        "slipstream_slo_objective",
        &[("slo", "checkout-availability")],
    );
    assert_eq!(objective, Some(0.999));
    let _ = std::fs::remove_file(&log);
}
