use std::path::Path;

use super::*;
use crate::decisions::governance::{keygen, sign};

const NOW: &str = "2026-11-21T12:00:00.000Z";

fn file(slos: &str, top: &str) -> (Config, Value) {
    let (_, alice) = keygen([1; 32]);
    let (_, bob) = keygen([2; 32]);
    let text = format!(
        "state: {{ dir: /tmp/unused }}\n{top}\ngovernance: {{ approvers: {{ alice: \"{alice}\", bob: \"{bob}\" }}, quorum: 2 }}\nslos:\n{slos}"
    );
    let value = crate::config::parse_value(&text, Path::new("t.yaml")).unwrap();
    (
        crate::config::from_value(&value, Path::new("t.yaml")).unwrap(),
        value,
    )
}

const PAY: &str = "  - { name: pay, service: shop, indicator: { type: availability }, objective: 99.9, window: 30d, approval_required: true }\n";
const CART: &str = "  - { name: cart, service: shop, indicator: { type: availability }, objective: 99, window: 30d }\n";

/// Reconciles and appends, as the shell does.
fn step(log: &mut DecisionLog, (config, value): &(Config, Value)) -> Outcome {
    let out = reconcile(log, config, value, NOW);
    log.append(out.entries.clone()).unwrap();
    out
}

fn summary(out: &Outcome) -> Vec<(String, Change, Status)> {
    out.entries
        .iter()
        .map(|e| (e.slo.clone(), e.change, e.status))
        .collect()
}

#[test]
fn the_first_start_adds_every_slo_and_a_change_is_one_entry() {
    let mut log = DecisionLog::in_memory();
    let out = step(&mut log, &file(&format!("{PAY}{CART}"), ""));
    assert_eq!(
        summary(&out),
        [
            ("pay".into(), Change::Added, Status::Applied),
            ("cart".into(), Change::Added, Status::Applied)
        ]
    );
    assert!(out.pins.is_empty());
    assert_eq!(out.warnings.len(), 2, "{:?}", out.warnings);
    assert!(
        step(&mut log, &file(&format!("{PAY}{CART}"), ""))
            .entries
            .is_empty()
    );

    let cart = CART.replace(
        "objective: 99,",
        "objective: 99.5, decision: { reason: tighter, author: bob },",
    );
    let out = step(
        &mut log,
        &file(
            &format!("{PAY}{cart}"),
            "decision: { reason: quarterly, author: alice }",
        ),
    );
    assert_eq!(
        summary(&out),
        [("cart".into(), Change::Modified, Status::Applied)]
    );
    let e = &out.entries[0];
    assert_eq!(e.fields, ["objective"]);
    assert_eq!(
        (e.reason.as_deref(), e.author.as_deref()),
        (Some("tighter"), Some("bob"))
    );
    assert_eq!(e.old.as_ref().unwrap()["objective"], 99.0);
    assert_eq!(e.new.as_ref().unwrap()["objective"], 99.5);
    assert!(out.warnings.is_empty());
    assert_eq!(log.applied()["cart"]["objective"], 99.5);

    // Removed: by the top-level decision.
    let out = step(
        &mut log,
        &file(PAY, "decision: { reason: merged, author: alice }"),
    );
    assert_eq!(
        summary(&out),
        [("cart".into(), Change::Removed, Status::Applied)]
    );
    assert_eq!(out.entries[0].reason.as_deref(), Some("merged"));
    assert!(out.entries[0].new.is_none());
}

#[test]
fn a_governed_change_waits_for_the_quorum_and_is_applied_when_it_has_it() {
    let mut log = DecisionLog::in_memory();
    step(&mut log, &file(PAY, ""));
    let lower = PAY.replace("99.9", "99.5");
    let (config, value) = file(&lower, "");
    let out = step(&mut log, &(config.clone(), value.clone()));
    assert_eq!(
        summary(&out),
        [("pay".into(), Change::Modified, Status::Pending)]
    );
    assert_eq!(out.pins.len(), 1);
    assert_eq!(out.pins[0].definition["objective"], 99.9);
    let pending = out.entries[0].clone();
    let payload = pending.payload.clone().unwrap();
    assert_eq!(pending.id, governance::id(&payload));
    // The running config keeps the approved definition.
    let held = crate::config::from_value(&pinned(&value, &out.pins), Path::new("t")).unwrap();
    assert_eq!(held.slos[0].objective, 0.999);
    // Seen again: still pending, nothing new to log.
    let again = step(&mut log, &(config, value));
    assert!(again.entries.is_empty());
    assert_eq!(again.pins, out.pins);

    // One approval by the API is not enough; a second one in the file is.
    let (alice, _) = keygen([1; 32]);
    let (bob, _) = keygen([2; 32]);
    let governance = file(PAY, "").0.decisions.governance.unwrap();
    let signed = sign(&alice, &payload).unwrap();
    let entry = approve(&log, &governance, &pending.id, "alice", &signed, NOW).unwrap();
    assert_eq!(entry.approvals.len(), 1);
    log.append(vec![entry]).unwrap();
    assert_eq!(
        approve(&log, &governance, &pending.id, "alice", &signed, NOW),
        Err(ApproveError::Twice("alice".into()))
    );
    let with_bob = lower.replace(
        "approval_required: true",
        &format!(
            "approval_required: true, decision: {{ approvals: [{{ approver: bob, signature: \"{}\" }}] }}",
            sign(&bob, &payload).unwrap()
        ),
    );
    let out = step(&mut log, &file(&with_bob, ""));
    assert_eq!(
        summary(&out),
        [
            ("pay".into(), Change::Modified, Status::Approved),
            ("pay".into(), Change::Modified, Status::Applied)
        ]
    );
    assert!(out.pins.is_empty());
    let via: Vec<&str> = out.entries[1]
        .approvals
        .iter()
        .map(|a| a.via.as_str())
        .collect();
    assert_eq!(via, ["api", "file"]);
    assert_eq!(log.applied()["pay"]["objective"], 99.5);
    assert!(log.pending().is_empty());
}

#[test]
fn bad_approvals_are_not_counted_and_a_reverted_change_is_withdrawn() {
    let mut log = DecisionLog::in_memory();
    step(&mut log, &file(PAY, ""));
    let (alice, _) = keygen([1; 32]);
    // Alice signs something else than this change: not counted, and said so.
    let wrong = sign(&alice, "another payload").unwrap();
    let lower = PAY.replace("99.9", "99.5").replace(
        "approval_required: true",
        &format!(
            "approval_required: true, decision: {{ approvals: [{{ approver: alice, signature: \"{wrong}\" }}] }}"
        ),
    );
    let out = step(&mut log, &file(&lower, ""));
    assert_eq!(out.entries[0].status, Status::Pending);
    assert!(out.entries[0].approvals.is_empty());
    assert!(
        out.warnings.iter().any(|w| w.contains("does not verify")),
        "{:?}",
        out.warnings
    );
    let id = out.entries[0].id.clone();
    let governance = file(PAY, "").0.decisions.governance.unwrap();
    assert!(matches!(
        approve(&log, &governance, &id, "alice", &wrong, NOW),
        Err(ApproveError::Invalid(ApprovalError::BadSignature(_)))
    ));
    assert!(matches!(
        approve(&log, &governance, &id, "alice", "!!", NOW),
        Err(ApproveError::Invalid(ApprovalError::Malformed(_)))
    ));
    assert_eq!(
        approve(&log, &governance, "nope", "alice", &wrong, NOW),
        Err(ApproveError::NotPending("nope".into()))
    );

    // Removing `approval_required` is a governed change too; reverting withdraws it.
    let out = step(
        &mut log,
        &file(&PAY.replace(", approval_required: true", ""), ""),
    );
    assert_eq!(
        summary(&out),
        [
            ("pay".into(), Change::Modified, Status::Rejected),
            ("pay".into(), Change::Modified, Status::Pending)
        ]
    );
    assert_eq!(out.entries[1].fields, ["approval_required"]);
    let out = step(&mut log, &file(PAY, ""));
    assert_eq!(
        summary(&out),
        [("pay".into(), Change::Modified, Status::Rejected)]
    );
    assert!(out.pins.is_empty());
    assert!(log.pending().is_empty());
}

#[test]
fn a_governed_slo_removed_from_the_file_stays_until_approved() {
    let mut log = DecisionLog::in_memory();
    step(&mut log, &file(&format!("{PAY}{CART}"), ""));
    let (config, value) = file(CART, "");
    let out = step(&mut log, &(config, value.clone()));
    assert_eq!(
        summary(&out),
        [("pay".into(), Change::Removed, Status::Pending)]
    );
    let held = crate::config::from_value(&pinned(&value, &out.pins), Path::new("t")).unwrap();
    let names: Vec<&str> = held.slos.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cart", "pay"]);
    assert!(held.slos[1].approval_required);
}

#[test]
fn a_governed_tier_holds_the_slos_its_rule_generates() {
    let (_, alice) = keygen([1; 32]);
    let (_, bob) = keygen([2; 32]);
    let fleet = |availability: &str| {
        let text = format!(
            "state: {{ dir: /tmp/unused }}\n\
             governance: {{ approvers: {{ alice: \"{alice}\", bob: \"{bob}\" }}, quorum: 2, tiers: [P0] }}\n\
             tiers:\n  P0: {{ availability: {availability}, window: 30d }}\n  P3: {{ availability: 90, window: 30d }}\n\
             services:\n  - {{ match: {{ service: \"pay-*\" }}, tier: P0, name: pay }}\n  - {{ match: {{ service: \"web-*\" }}, tier: P3, name: web }}\n"
        );
        let value = crate::config::parse_value(&text, Path::new("t.yaml")).unwrap();
        (
            crate::config::from_value(&value, Path::new("t.yaml")).unwrap(),
            value,
        )
    };
    let mut log = DecisionLog::in_memory();
    let first = step(&mut log, &fleet("99.9"));
    assert_eq!(
        summary(&first),
        [
            ("pay-availability".into(), Change::Added, Status::Applied),
            ("web-availability".into(), Change::Added, Status::Applied)
        ]
    );
    // Raising the P0 floor changes the SLO the P0 rule generates: it waits, at 99.9 %.
    let (config, value) = fleet("99.99");
    let out = step(&mut log, &(config, value.clone()));
    assert_eq!(
        summary(&out),
        [("pay-availability".into(), Change::Modified, Status::Pending)]
    );
    let names: Vec<String> = out.pins.iter().map(|p| p.slo.clone()).collect();
    let held = crate::config::from_value_pinned(&pinned(&value, &out.pins), Path::new("t"), &names)
        .unwrap();
    let pay = held
        .slos
        .iter()
        .find(|s| s.name == "pay-availability")
        .unwrap();
    assert_eq!(pay.objective, 0.999);
    assert!(
        matches!(&pay.service, crate::config::ServiceMatch::Glob { glob, .. } if glob.as_str() == "pay-*")
    );
    assert_eq!(
        held.slos.len(),
        2,
        "the held SLO replaces the generated one"
    );
    assert_eq!(
        held.warnings.len(),
        1,
        "below the raised floor: {:?}",
        held.warnings
    );
}

#[test]
fn a_composite_change_is_logged_and_never_held() {
    let journey = |objective: &str| {
        format!(
            "composites:\n  - {{ name: journey, objective: {objective}, window: 30d, components: [{{ slo: pay, weight: 2 }}, {{ slo: cart }}] }}\n"
        )
    };
    let mut log = DecisionLog::in_memory();
    let first = step(&mut log, &file(&format!("{PAY}{CART}"), &journey("99")));
    assert!(summary(&first).contains(&("journey".into(), Change::Added, Status::Applied)));
    let out = step(&mut log, &file(&format!("{PAY}{CART}"), &journey("99.5")));
    assert_eq!(
        summary(&out),
        [("journey".into(), Change::Modified, Status::Applied)]
    );
    assert_eq!(out.entries[0].fields, ["objective"]);
    assert_eq!(
        out.entries[0].new.as_ref().unwrap()["components"][0],
        json!({ "slo": "pay", "weight": 2 })
    );
    assert!(out.pins.is_empty());
}
