//! Governance end to end, on a real broker (Tansu), with `slipstream run`, `keygen` and
//! `sign` as processes: a change of an SLO that needs approvals stays pending (the SLO
//! keeps its definition) through one approval and a crash, a bad signature is refused,
//! and the second approval applies it at once, history kept; a restart keeps the
//! approved definition and the log as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::broker::{Tansu, produce};
use common::slipstream::Running;
use common::traffic::state_dir;
use common::wait::wait_until;
use serde_json::Value;

fn slipstream(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(args)
        .output()
        .expect("run slipstream");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// `slipstream keygen`: the private key file and the public key.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(format!("{name}.key"));
    let public = slipstream(&["keygen", "--out", key.to_str().unwrap()]);
    (key, public)
}

/// `slipstream sign` of `payload` (through a file, as an approver would save it).
fn sign(key: &Path, payload: &str) -> String {
    let file = key.with_extension("payload");
    std::fs::write(&file, format!("{payload}\n")).unwrap();
    slipstream(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--payload-file",
        file.to_str().unwrap(),
    ])
}

fn config(objective: &str, brokers: &str, state: &Path, approvers: &str) -> String {
    format!(
        r#"
slos:
  - name: checkout-availability
    service: checkout
    indicator: {{ type: availability }}
    objective: {objective}
    window: 30d
    approval_required: true
    decision: {{ reason: "relax after the payment provider change", author: "dave@example.com" }}
  - name: checkout-latency
    service: checkout
    indicator: {{ type: latency, threshold_ms: 300 }}
    objective: 99
    window: 30d
governance:
  approvers: {{ {approvers} }}
  quorum: 2
kafka:
  brokers: "{brokers}"
  topics: [governed]
  group: governed
  properties: {{ session.timeout.ms: "6000" }}
evaluation: {{ clock: event, interval: 200ms }}
state: {{ dir: "{}", checkpoint_interval: 300ms }}
"#,
        state.display()
    )
}

fn json(run: &Running, path: &str) -> Value {
    let (status, body) = run.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn availability(run: &Running) -> Value {
    let report = json(run, "/api/v1/slos");
    let all = report["slos"].as_array().unwrap();
    all.iter()
        .find(|s| s["name"] == "checkout-availability")
        .unwrap()
        .clone()
}

fn approve(run: &Running, id: &str, approver: &str, signature: &str) -> (u16, Value) {
    let body = serde_json::json!({ "approver": approver, "signature": signature }).to_string();
    let (status, text) = run.post(&format!("/api/v1/decisions/{id}/approvals"), &body);
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn a_governed_change_needs_the_quorum_and_survives_restarts() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("governed", 1);
    let start = slipstream::run::wall_ms() - 300_000;
    let events: Vec<(i32, Vec<u8>)> = (0..300)
        .map(|i| {
            let status = if i % 25 == 0 { 500 } else { 200 };
            let line = format!(
                r#"{{"timestamp":{},"service":"checkout","route":"/pay","status":{status},"latency_ms":20}}"#,
                start + i * 1000
            );
            (0, line.into_bytes())
        })
        .collect();
    produce(&brokers, "governed", &events);
    let state = state_dir("governance");
    std::fs::create_dir_all(&state).unwrap();
    let keys = ["alice", "bob", "carol"].map(|name| keygen(&state, name));
    let approvers = keys
        .iter()
        .zip(["alice", "bob", "carol"])
        .map(|((_, public), name)| format!("{name}: \"{public}\""))
        .collect::<Vec<_>>()
        .join(", ");

    let run = Running::start(&config("99.9", &brokers, &state, &approvers));
    run.wait_for_read(300, Duration::from_secs(90));
    let before = availability(&run);
    assert_eq!(before["objective"], 0.999);
    assert_eq!(before["windows"]["30d"]["total"], 300);

    // The change is pending: the reload applies, the SLO keeps its definition.
    let lower = config("99.5", &brokers, &state, &approvers);
    run.rewrite_config(&lower);
    run.signal("HUP");
    wait_until("the change is pending", Duration::from_secs(20), || {
        json(&run, "/api/v1/decisions/pending")["pending"]
            .as_array()
            .is_some_and(|p| p.len() == 1)
    });
    assert_eq!(availability(&run)["objective"], 0.999);
    let pending = json(&run, "/api/v1/decisions/pending");
    let change = &pending["pending"][0];
    let (id, payload) = (
        change["id"].as_str().unwrap(),
        change["payload"].as_str().unwrap(),
    );
    assert_eq!(change["status"], "pending");
    assert_eq!(change["fields"], serde_json::json!(["objective"]));
    assert_eq!(change["reason"], "relax after the payment provider change");
    assert_eq!(id, slipstream::decisions::governance::id(payload));

    // One approval is not enough; a signature of something else is refused.
    let (status, entry) = approve(&run, id, "alice", &sign(&keys[0].0, payload));
    assert_eq!(status, 200, "{entry}");
    assert_eq!(
        (
            entry["status"].as_str(),
            entry["approvals"].as_array().map(Vec::len)
        ),
        (Some("pending"), Some(1))
    );
    let (status, refused) = approve(&run, id, "carol", &sign(&keys[2].0, "{}"));
    assert_eq!(status, 400);
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{refused}"
    );
    let (status, _) = approve(&run, id, "mallory", &sign(&keys[2].0, payload));
    assert_eq!(status, 400);
    assert_eq!(availability(&run)["objective"], 0.999);

    // A crash: the pending change and its approval are still there, the SLO still held.
    run.stop("KILL", Duration::from_secs(10));
    let run = Running::start(&lower);
    run.wait_for_read(300, Duration::from_secs(90));
    assert_eq!(availability(&run)["objective"], 0.999);
    let pending = json(&run, "/api/v1/decisions/pending");
    assert_eq!(pending["pending"][0]["id"], id);
    assert_eq!(pending["pending"][0]["approvals"][0]["approver"], "alice");

    // Bob's approval completes the quorum: applied at once, with the history.
    let (status, entry) = approve(&run, id, "bob", &sign(&keys[1].0, payload));
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["status"], "applied");
    let after = availability(&run);
    assert_eq!(after["objective"], 0.995);
    assert_eq!(
        after["windows"]["30d"]["total"],
        before["windows"]["30d"]["total"]
    );
    assert_eq!(
        after["windows"]["30d"]["good"],
        before["windows"]["30d"]["good"]
    );
    let log = json(&run, "/api/v1/decisions?slo=checkout-availability");
    let statuses: Vec<&str> = log["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    // Added; the change; alice's approval; bob's; the quorum; the change applied.
    assert_eq!(
        statuses,
        [
            "applied", "pending", "pending", "pending", "approved", "applied"
        ]
    );
    let applied = &log["decisions"][5];
    let approvers: Vec<&str> = applied["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["approver"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["alice", "bob"]);
    let lines = std::fs::read_to_string(state.join("decisions.jsonl")).unwrap();

    // A restart: the approved definition runs, the log is as it was.
    let stopped = run.stop("TERM", Duration::from_secs(20));
    assert!(stopped.success(), "{stopped}");
    let run = Running::start(&lower);
    run.wait_for_read(300, Duration::from_secs(90));
    assert_eq!(availability(&run)["objective"], 0.995);
    assert!(
        json(&run, "/api/v1/decisions/pending")["pending"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        std::fs::read_to_string(state.join("decisions.jsonl")).unwrap(),
        lines
    );
    drop(run);
    let _ = std::fs::remove_dir_all(&state);
}
