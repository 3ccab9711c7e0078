//! End-to-end: `slipstream replay` of config/policies.yaml over
//! tests/fixtures/policies/events.ndjson (see make_events.py there for what each service
//! sends). Services rules give the payments services the P0 SLOs with no YAML of their
//! own, a service with its own SLO is left out of the fleet's, and a service no rule
//! matches gets nothing; every count is read off the fixture's generator.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn events() -> PathBuf {
    root().join("tests/fixtures/policies/events.ndjson")
}

/// Runs `replay` and returns the JSON report and standard error.
fn replay(config: &Path) -> (Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(["replay", "--config"])
        .arg(config)
        .arg("--input")
        .arg(events())
        .output()
        .expect("run slipstream");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}: {stderr}", out.status);
    (
        serde_json::from_slice(&out.stdout).expect("JSON report"),
        stderr,
    )
}

/// (name, `label=value`s, tier, 30d total, 30d good) of every series, in report order.
/// (The labels are compared as a set: serde_json's map sorts their keys.)
fn series(report: &Value) -> Vec<(String, Vec<String>, Value, u64, u64)> {
    let slos = report["slos"].as_array().expect("slos");
    slos.iter()
        .map(|s| {
            let labels = s["labels"].as_object().expect("labels");
            let w = &s["windows"]["30d"];
            (
                s["name"].as_str().unwrap().to_owned(),
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                    .collect(),
                s["tier"].clone(),
                w["total"].as_u64().unwrap(),
                w["good"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn row(
    name: &str,
    labels: &[&str],
    tier: &str,
    total: u64,
    good: u64,
) -> (String, Vec<String>, Value, u64, u64) {
    let labels = labels.iter().map(|l| l.to_string()).collect();
    (name.to_owned(), labels, Value::from(tier), total, good)
}

#[test]
fn rules_give_matching_services_their_tiers_slos() {
    let (report, stderr) = replay(&root().join("config/policies.yaml"));
    assert_eq!(report["events"]["valid"], 480);
    assert_eq!(
        series(&report),
        [
            // Its own SLO, with the tier services[0] gives its service.
            row("payments-gateway-availability", &[], "P0", 60, 59),
            row("reports-availability", &[], "P3", 60, 50),
            // The fleet SLOs: both payments services, not the gateway.
            row(
                "payments-availability",
                &["service=payments-api"],
                "P0",
                60,
                57
            ),
            row(
                "payments-availability",
                &["service=payments-ledger"],
                "P0",
                60,
                58
            ),
            row("payments-latency", &["service=payments-api"], "P0", 60, 54),
            row(
                "payments-latency",
                &["service=payments-ledger"],
                "P0",
                60,
                60
            ),
            // `search-?` and `GET /api/*`: search-1's API route only; search-12 has
            // two characters after the dash.
            row(
                "p2-fleet-availability",
                &["route=GET /api/q", "service=search-1"],
                "P2",
                60,
                59
            ),
        ]
    );
    // checkout matches no rule and has no SLO: none of its 60 events is in a series.
    let counted: u64 = series(&report).iter().map(|s| s.3).sum();
    assert_eq!(counted, 7 * 60);
    let text = report.to_string();
    assert!(!text.contains("checkout") && !text.contains("search-12"));
    let fleet = &report["slos"][2];
    assert_eq!(fleet["objective"], 0.9999);
    assert_eq!(fleet["window"], "30d");
    assert!(!stderr.contains("WARN"), "{stderr}");
}

fn temp_config(name: &str, text: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn the_series_limit_bounds_a_fleet_rule() {
    // One rule for every service, at most 3 series: the 4 services past the first 3 (in
    // the order of their first event) share the overflow series.
    let config = temp_config(
        "policies-limit.yaml",
        "tiers: { P3: { availability: 90, window: 30d } }\n\
         services: [{ match: { service: \"*\" }, tier: P3 }]\n\
         limits: { max_series_per_slo: 3 }\n",
    );
    let (report, stderr) = replay(&config);
    assert_eq!(
        series(&report),
        [
            row(
                "p3-fleet-availability",
                &["service=__overflow__"],
                "P3",
                5 * 60,
                5 * 60 - 1 - 10
            ),
            row(
                "p3-fleet-availability",
                &["service=payments-api"],
                "P3",
                60,
                57
            ),
            row(
                "p3-fleet-availability",
                &["service=payments-gateway"],
                "P3",
                60,
                59
            ),
            row(
                "p3-fleet-availability",
                &["service=payments-ledger"],
                "P3",
                60,
                58
            ),
        ]
    );
    assert!(stderr.contains("series limit reached"), "{stderr}");
}

#[test]
fn an_objective_below_its_floor_is_a_warning_at_load_in_warn_mode() {
    let config = temp_config(
        "policies-warn.yaml",
        "tiers: { P0: { availability: 99.99, window: 30d } }\n\
         policy: { tier_floor: warn }\n\
         slos: [{ name: gw, service: payments-gateway, tier: P0, indicator: { type: availability }, objective: 99 }]\n",
    );
    let (report, stderr) = replay(&config);
    assert_eq!(series(&report), [row("gw", &[], "P0", 60, 59)]);
    assert_eq!(report["slos"][0]["objective"], 0.99);
    for part in [
        "WARN",
        "policies-warn.yaml",
        "slo `gw`",
        "slos[0].objective",
        "tier `P0`",
        "99.99 %",
    ] {
        assert!(stderr.contains(part), "`{part}` missing in: {stderr}");
    }
}
