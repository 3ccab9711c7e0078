//! End-to-end tests of the baseline and the error-budget policy through the binary:
//! `slipstream replay` (the `baseline` and `budget_policy` fields of every series) and
//! `slipstream baseline` (table and JSON), on events with counts chosen so that every
//! expected value follows by hand from docs/budgets.md:
//!
//! | `pay` (99 %, 1d) | events in 1d | bad | SLI | holds | next | to remove | budget left | action |
//! |---|--:|--:|---|---|---|---|---|---|
//! | `ap-3` | 400 | 4 | 99 % exactly | 99 | 99.5 | 4 - 2 = 2 | 0 % exactly | freeze |
//! | `eu-1` | 2500 | 7 | 99.72 % | 99.5 | 99.9 | 7 - 2 = 5 | 72 % | normal |
//! | `old` | 0 (5 two days before) | 0 | null | null | null | null | null | normal |
//! | `us-2` | 1000 | 8 | 99.2 % | 99 | 99.5 | 8 - 5 = 3 | 20 % | slow-down |
//!
//! `pay-latency` (99.9 %, 1d, one series, its own policy: at or below -100 %
//! `incident-review`): 10 slow of the 3900 events in its window, 99.744 %: holds 99.5,
//! next 99.9 (3 slow allowed: 7 to remove), budget left 1 - 10 / 3.9 = -156 %.

mod common;

use std::fmt::Write as _;

use serde_json::{Value, json};

const CONFIG: &str = r#"
events: { labels: [operator] }
windows: [5m, 1h, 3d]
budget_policy:
  - { at_or_below_percent: 25, action: slow-down, description: "slow down risky releases" }
  - { at_or_below_percent: 0, action: freeze, description: "freeze releases except reliability fixes", blocks_deploys: true }
slos:
  - name: pay
    service: checkout
    group_by: [operator]
    indicator: { type: availability }
    objective: 99
    window: 1d
  - name: pay-latency
    service: checkout
    indicator: { type: latency, threshold_ms: 300 }
    objective: 99.9
    window: 1d
    budget_policy:
      - { at_or_below_percent: -100, action: incident-review, description: "stop and review", blocks_deploys: true }
"#;

const AT: &str = "2026-11-21T12:00:00Z";
const AT_MS: i64 = 1_795_262_400_000;

/// The events of the table above, interleaved, in the hour before `AT` (and 2 days
/// before for `old`).
fn events() -> String {
    let mut out = String::new();
    let mut line = |ms: i64, operator: &str, status: u16, latency: u32| {
        let _ = writeln!(
            out,
            r#"{{"timestamp":{ms},"service":"checkout","operator":"{operator}","status":{status},"latency_ms":{latency}}}"#
        );
    };
    for (operator, total, bad) in [("eu-1", 2500, 7), ("us-2", 1000, 8), ("ap-3", 400, 4)] {
        for i in 0..total {
            let status = if i % (total / bad) == 0 && i / (total / bad) < bad {
                503
            } else {
                200
            };
            // The slow ones are all good for availability, all in eu-1.
            let latency = if operator == "eu-1" && i % 250 == 1 {
                900
            } else {
                40
            };
            line(
                AT_MS - 3_500_000 + i as i64 * 1000,
                operator,
                status,
                latency,
            );
        }
    }
    for i in 0..5 {
        line(AT_MS - 2 * 86_400_000 + i, "old", 200, 40);
    }
    out
}

/// Runs slipstream with `args` plus `--config` and `--input` of the above (the events
/// on stdin with `--input -` when `stdin`); its stdout. `name` keeps the config files of
/// tests running at once apart.
fn slipstream(name: &str, args: &[&str], stdin: bool) -> String {
    let dir = std::env::temp_dir().join(format!("slipstream-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (config, input) = (
        dir.join(format!("{name}.yaml")),
        dir.join(format!("{name}.ndjson")),
    );
    std::fs::write(&config, CONFIG).unwrap();
    let (config, input) = (config.to_str().unwrap(), input.to_str().unwrap());
    let mut all = args.to_vec();
    all.extend(["--config", config, "--input"]);
    let out = if stdin {
        all.push("-");
        common::cli::run(&all, Some(events().into_bytes()))
    } else {
        std::fs::write(input, events()).unwrap();
        all.push(input);
        common::cli::run(&all, None)
    };
    let _ = (std::fs::remove_file(config), std::fs::remove_file(input));
    assert!(
        out.status.success(),
        "slipstream {all:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn find<'a>(slos: &'a Value, name: &str, operator: Option<&str>) -> &'a Value {
    slos.as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name && s["labels"]["operator"].as_str() == operator)
        .unwrap_or_else(|| panic!("no series {name} {operator:?}"))
}

fn baseline(holds: Value, next: Value, remove: Value, share: Value, achieved: Value) -> Value {
    json!({
        "achieved": achieved, "holds": holds, "next": next,
        "bad_events_to_remove": remove, "bad_share_to_remove": share,
    })
}

fn action(action: &str, description: &str, blocks: bool) -> Value {
    json!({ "action": action, "description": description, "blocks_deploys": blocks })
}

/// Every series' expected `baseline` and `budget_policy`.
fn expected() -> Vec<(&'static str, Option<&'static str>, Value, Value)> {
    let slow = action("slow-down", "slow down risky releases", false);
    let freeze = action("freeze", "freeze releases except reliability fixes", true);
    let normal = action("normal", "no budget-policy rule applies", false);
    let quiet = action(
        "normal",
        "no traffic in the SLO window: no budget spent",
        false,
    );
    vec![
        (
            "pay",
            Some("ap-3"),
            baseline(json!(0.99), json!(0.995), json!(2), json!(0.5), json!(0.99)),
            freeze,
        ),
        (
            "pay",
            Some("eu-1"),
            baseline(
                json!(0.995),
                json!(0.999),
                json!(5),
                json!(5.0 / 7.0),
                json!(2493.0 / 2500.0),
            ),
            normal,
        ),
        (
            "pay",
            Some("old"),
            baseline(
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ),
            quiet,
        ),
        (
            "pay",
            Some("us-2"),
            baseline(
                json!(0.99),
                json!(0.995),
                json!(3),
                json!(0.375),
                json!(0.992),
            ),
            slow,
        ),
        (
            "pay-latency",
            None,
            baseline(
                json!(0.995),
                json!(0.999),
                json!(7),
                json!(0.7),
                json!(3890.0 / 3900.0),
            ),
            action("incident-review", "stop and review", true),
        ),
    ]
}

#[test]
fn replay_reports_the_baseline_and_the_policy_action_of_every_series() {
    let text = slipstream("replay", &["replay", "--at", AT], false);
    let report: Value = serde_json::from_str(&text).unwrap();
    let slos = &report["slos"];
    assert_eq!(slos.as_array().unwrap().len(), 5);
    for (name, operator, baseline, action) in expected() {
        let s = find(slos, name, operator);
        assert_eq!(s["baseline"], baseline, "{name} {operator:?}");
        assert_eq!(s["budget_policy"], action, "{name} {operator:?}");
    }
    // The new keys come last, after `windows` (docs/report.md's order).
    let first = &text[text.find("\"slos\"").unwrap()..];
    let at = |key: &str| first.find(&format!("\"{key}\":")).unwrap();
    assert!(at("error_budget_remaining") < at("windows"));
    assert!(at("windows") < at("baseline"));
    assert!(at("baseline") < at("budget_policy"));
    // The exactly spent budget that the policy freezes on reads as ~0 in the float.
    let ap3 = find(slos, "pay", Some("ap-3"))["error_budget_remaining"]
        .as_f64()
        .unwrap();
    assert!(ap3.abs() < 1e-12, "{ap3}");
    let us2 = find(slos, "pay", Some("us-2"))["error_budget_remaining"]
        .as_f64()
        .unwrap();
    assert!((us2 - 0.2).abs() < 1e-12, "{us2}");
}

#[test]
fn baseline_json_has_the_counts_and_the_same_objects() {
    let out = slipstream("json", &["baseline", "--at", AT, "--format", "json"], false);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["at"], AT);
    assert_eq!(doc["events"]["read"], 3905);
    assert_eq!(doc["events"]["invalid"], 0);
    let slos = &doc["slos"];
    for (name, operator, baseline, action) in expected() {
        let s = find(slos, name, operator);
        assert_eq!(s["baseline"], baseline, "{name} {operator:?}");
        assert_eq!(s["budget_policy"], action, "{name} {operator:?}");
    }
    let us2 = find(slos, "pay", Some("us-2"));
    assert_eq!(us2["objective"], 0.99);
    assert_eq!(us2["window"], "1d");
    assert_eq!(
        us2["events"],
        json!({ "total": 1000, "good": 992, "bad": 8 })
    );
    let old = find(slos, "pay", Some("old"));
    assert_eq!(old["events"], json!({ "total": 0, "good": 0, "bad": 0 }));
    let latency = find(slos, "pay-latency", None);
    assert_eq!(latency["labels"], json!({}));
    assert_eq!(latency["objective"], 0.999);
    assert_eq!(latency["events"]["bad"], 10);
}

#[test]
fn baseline_table_has_a_row_per_series() {
    // Table is the default format, and `--input -` reads stdin, as with replay.
    let out = slipstream("table", &["baseline", "--at", AT], true);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("at {AT}"));
    assert_eq!(
        lines[1],
        "events: 3905 read, 3905 valid, 0 invalid, 0 too old"
    );
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        words(lines[3]).join(" "),
        "slo labels objective window events bad achieved % holds % next % to remove share action"
    );
    let rows: Vec<Vec<String>> = lines[4..].iter().map(|l| words(l)).collect();
    let want = [
        "pay {operator=\"ap-3\"} 99% 1d 400 4 99.0000 99 99.5 2 50.0% freeze",
        "pay {operator=\"eu-1\"} 99% 1d 2500 7 99.7200 99.5 99.9 5 71.4% normal",
        "pay {operator=\"old\"} 99% 1d 0 0 - - - - - normal",
        "pay {operator=\"us-2\"} 99% 1d 1000 8 99.2000 99 99.5 3 37.5% slow-down",
        "pay-latency {} 99.9% 1d 3900 10 99.7436 99.5 99.9 7 70.0% incident-review",
    ];
    let got: Vec<String> = rows.iter().map(|r| r.join(" ")).collect();
    assert_eq!(got, want);
}

#[test]
fn the_example_config_replays_to_the_documented_actions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config = slipstream::config::load(&dir.join("budget-policy.yaml")).expect("loads");
    let events = std::fs::File::open(dir.join("example-events.ndjson")).expect("events");
    let report = slipstream::replay::replay(&config, events, None, 0).expect("replays");
    let action = |name: &str, labels: &[&str]| {
        let s = report
            .slos
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels
                        .iter()
                        .map(|l| l.1.as_str())
                        .eq(labels.iter().copied())
            })
            .unwrap_or_else(|| panic!("no series {name} {labels:?}"));
        (
            s.budget_policy.action().to_owned(),
            s.budget_policy.blocks_deploys(),
        )
    };
    // checkout: 31 bad of 3731 against 99.9 % is 731 % overspent: past -100 %.
    assert_eq!(
        action("checkout-availability", &[]),
        ("postmortem".into(), true)
    );
    assert_eq!(action("search-availability", &[]), ("normal".into(), false));
    assert_eq!(
        action("fleet-availability", &["checkout", "eu-1"]),
        ("freeze".into(), true)
    );
    // 5 bad of 1129 against 99.5 %: 11 % of the budget left.
    assert_eq!(
        action("fleet-availability", &["search", "ap-3"]),
        ("slow-down".into(), false)
    );
    assert_eq!(action("search-latency", &[]), ("normal".into(), false));
}
