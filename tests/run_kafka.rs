//! End-to-end tests of `slipstream run` against a real Kafka-protocol broker (Tansu, in a
//! process of its own), with `slipstream run` as a process of its own:
//! 1. the replay fixture produced into three partitions (days of event time, out of
//!    order, invalid events) gives, through `/api/v1/slos` and `/metrics`, exactly the
//!    counts the independent reference computed (tests/fixtures/replay/expected*.json);
//! 2. a restart resumes from the committed offsets: after a graceful stop nothing is
//!    read twice, after a crash the events since the last commit are read again
//!    (at-least-once: windows start empty in the new process until checkpoints exist);
//! 3. a graceful shutdown exits 0 and commits the offset of every event read.

mod common;

use std::time::Duration;

use common::broker::{Tansu, committed, produce};
use common::report::{assert_report, expected, fixture};
use common::slipstream::Running;
use serde_json::Value;

/// librdkafka's default session timeout makes a group join take ~20 s on Tansu.
const GROUP_PROPERTIES: &str = r#"session.timeout.ms: "6000""#;

fn config(brokers: &str, topic: &str, group: &str, clock: &str, extra: &str) -> String {
    let slos = std::fs::read_to_string(fixture("config.yaml")).expect("fixture config");
    format!(
        "{slos}\nkafka:\n  brokers: \"{brokers}\"\n  topics: [{topic}]\n  group: {group}\n  \
         properties: {{ {GROUP_PROPERTIES}{extra} }}\nevaluation: {{ clock: {clock} }}\n"
    )
}

fn api(run: &Running, query: &str) -> Value {
    let (status, body) = run.get(&format!("/api/v1/slos{query}"));
    assert_eq!(status, 200, "/api/v1/slos{query}: {body}");
    serde_json::from_str(&body).expect("the API returns JSON")
}

#[test]
fn counts_through_a_real_broker_equal_the_reference() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("fixture", 3);
    let records = common::report::fixture_records(3);
    assert_eq!(records.len(), 2994);
    produce(&brokers, "fixture", &records);
    let run = Running::start(&config(&brokers, "fixture", "e2e-fixture", "event", ""));
    run.wait_for_read(records.len() as u64, Duration::from_secs(90));

    // The event clock evaluates where replay does: the newest event, rounded up.
    let want = expected("expected.json");
    assert_report(&api(&run, ""), &want);
    assert_report(
        &api(&run, "?at=2026-11-21T12:35:00Z"),
        &expected("expected_run_at.json"),
    );

    let (_, text) = run.get("/metrics");
    let samples = common::http::samples(&text);
    let metric = |name: &str, labels: &[(&str, &str)]| common::http::sample(&samples, name, labels);
    let events = &want["events"];
    assert_eq!(metric("slipstream_events_read_total", &[]), Some(2994.0));
    assert_eq!(
        metric("slipstream_events_too_old_total", &[]),
        events["too_old"].as_f64()
    );
    for (reason, n) in events["invalid_by_reason"].as_object().unwrap() {
        assert_eq!(
            metric("slipstream_events_invalid_total", &[("reason", reason)]),
            n.as_f64(),
            "invalid {reason}"
        );
    }
    let mut checked = 0;
    for s in want["slos"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let mut labels: Vec<(&str, &str)> = vec![("slo", name)];
        for (k, v) in s["labels"].as_object().unwrap() {
            labels.push((k, v.as_str().unwrap()));
        }
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut l = labels.clone();
            l.extend_from_slice(extra);
            l
        };
        let own = &s["windows"][s["window"].as_str().unwrap()];
        let (good, total) = (
            own["good"].as_f64().unwrap(),
            own["total"].as_f64().unwrap(),
        );
        // Every event of the fixture is inside every SLO window: lifetime = own window.
        assert_eq!(
            metric("slipstream_slo_events_total", &with(&[("outcome", "good")])),
            Some(good),
            "{labels:?}"
        );
        assert_eq!(
            metric("slipstream_slo_events_total", &with(&[("outcome", "bad")])),
            Some(total - good),
            "{labels:?}"
        );
        let budget = metric("slipstream_error_budget_remaining", &labels);
        assert_close(budget, s["error_budget_remaining"].as_f64(), &labels);
        for (window, w) in s["windows"].as_object().unwrap() {
            let mut at = labels.clone();
            at.push(("window", window));
            let outcome = |o| {
                let mut l = at.clone();
                l.push(("outcome", o));
                metric("slipstream_window_events", &l)
            };
            let (good, total) = (w["good"].as_f64().unwrap(), w["total"].as_f64().unwrap());
            assert_eq!(outcome("good"), Some(good), "{at:?}");
            assert_eq!(outcome("bad"), Some(total - good), "{at:?}");
            // No traffic: no SLI sample at all, rather than NaN.
            assert_close(metric("slipstream_sli", &at), w["sli"].as_f64(), &at);
            assert_close(
                metric("slipstream_burn_rate", &at),
                w["burn_rate"].as_f64(),
                &at,
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} windows checked");
}

fn assert_close(got: Option<f64>, want: Option<f64>, what: &[(&str, &str)]) {
    match (got, want) {
        (Some(g), Some(w)) => assert!(
            (g - w).abs() <= 1e-9 * w.abs().max(1.0),
            "{what:?}: {g} vs {w}"
        ),
        (None, None) => {}
        _ => panic!("{what:?}: exported {got:?}, report has {want:?}"),
    }
}

/// `n` events of generated traffic, an hour before now, over two partitions.
fn traffic(n: usize, seed: u64) -> Vec<(i32, Vec<u8>)> {
    common::traffic::traffic(n, seed, 4, 3_600_000, 1_000, 2)
}

fn window_total(run: &Running, window: &str) -> u64 {
    let report = api(run, "");
    report["slos"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == "fleet-availability")
        .map(|s| s["windows"][window]["total"].as_u64().unwrap())
        .sum()
}

/// Auto-commit never fires within the test: only the commits on revoke and shutdown do.
const NO_AUTO_COMMIT: &str = r#", auto.commit.interval.ms: "600000""#;

#[test]
fn a_restart_resumes_from_the_committed_offsets() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("restart", 2);
    let conf = config(&brokers, "restart", "e2e-restart", "wall", NO_AUTO_COMMIT);

    produce(&brokers, "restart", &traffic(1_000, 1));
    let first = Running::start(&conf);
    first.wait_for_read(1_000, Duration::from_secs(60));
    assert!(first.stop("TERM", Duration::from_secs(20)).success());

    // Graceful stop: the next process reads only what came after, nothing twice.
    produce(&brokers, "restart", &traffic(600, 2));
    let second = Running::start(&conf);
    second.wait_for_read(600, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        second.metric("slipstream_events_read_total", &[]),
        Some(600.0)
    );
    assert_eq!(window_total(&second, "1d"), 600);

    // Crash: nothing was committed since it started, so the next process reads the same
    // 600 events again (at-least-once), and, its state being new, counts each once.
    assert!(!second.stop("KILL", Duration::from_secs(10)).success());
    let third = Running::start(&conf);
    third.wait_for_read(600, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        third.metric("slipstream_events_read_total", &[]),
        Some(600.0)
    );
    assert_eq!(window_total(&third, "1d"), 600);
}

#[test]
fn graceful_shutdown_commits_every_offset_read() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("shutdown", 2);
    produce(&brokers, "shutdown", &traffic(1_500, 3));
    let conf = config(&brokers, "shutdown", "e2e-shutdown", "wall", NO_AUTO_COMMIT);
    let run = Running::start(&conf);
    run.wait_for_read(1_500, Duration::from_secs(60));
    assert_eq!(
        committed(&brokers, "e2e-shutdown", "shutdown", 2),
        [None, None],
        "nothing is committed before shutdown with auto-commit out of reach"
    );
    let status = run.stop("TERM", Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    // The topic was empty and `traffic` alternates partitions: 750 messages in each, so
    // the offset after the last one is 750.
    assert_eq!(
        committed(&brokers, "e2e-shutdown", "shutdown", 2),
        [Some(750), Some(750)]
    );
}
