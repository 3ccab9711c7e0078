//! `slipstream replay` end to end on tests/fixtures/composites: a 3-step checkout journey
//! (pay weighted 2, cart, auth) and the ecosystem of four payment operators, with every
//! count derived by hand from the fixture's generator table (gen_events.py).

use std::process::Command;

use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/composites/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn replay(config: &str, format: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args([
            "replay",
            "--config",
            config,
            "--input",
            &fixture("events.ndjson"),
        ])
        .args(["--at", "2026-11-21T12:00:00Z", "--format", format])
        .output()
        .expect("run slipstream replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn report() -> Value {
    serde_json::from_str(&replay(&fixture("config.yaml"), "json")).expect("JSON report")
}

/// `(window, good, total)` per window.
type Counts = Vec<(String, u64, u64)>;

/// The counts of a roll-up's `windows` array.
fn counts(windows: &Value) -> Counts {
    windows
        .as_array()
        .expect("`windows` is an array")
        .iter()
        .map(|w| {
            let n = |k: &str| w[k].as_u64().unwrap();
            (
                w["window"].as_str().unwrap().to_owned(),
                n("good"),
                n("total"),
            )
        })
        .collect()
}

fn close(got: &Value, want: f64) {
    let got = got
        .as_f64()
        .unwrap_or_else(|| panic!("{got} is not a number"));
    assert!((got - want).abs() < 1e-9, "{got} != {want}");
}

#[test]
fn the_journey_is_the_weighted_sum_of_its_steps() {
    let report = report();
    assert_eq!(report["events"]["read"], 2801);
    let slos = report["slos"].as_array().unwrap();
    // Every SLO series first (payments: five operators), the composite last.
    let names: Vec<&str> = slos.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 9);
    assert_eq!(names.last(), Some(&"checkout-journey"));
    let journey = slos.last().unwrap();
    assert_eq!(journey["labels"], json!({}));
    assert_eq!(journey["objective"], 0.995);
    assert_eq!(journey["window"], "30d");
    assert_eq!(
        journey["composite"],
        json!({ "components": [
            { "slo": "checkout-pay-availability", "weight": 2 },
            { "slo": "cart-availability", "weight": 1 },
            { "slo": "auth-availability", "weight": 1 },
        ]})
    );
    // pay (x2), cart, auth: 1h 2·90+100+100 of 2·100+100+100; 1d 2·390+500+595 of
    // 2·400+500+600; 30d adds cart's 200 older events. GET /summary is not the pay step.
    for (window, good, total) in [("1h", 380, 400), ("1d", 1875, 1900), ("30d", 2075, 2100)] {
        let w = &journey["windows"][window];
        assert_eq!(
            (w["good"].as_u64(), w["total"].as_u64()),
            (Some(good), Some(total)),
            "{window}"
        );
        close(&w["sli"], good as f64 / total as f64);
        close(
            &w["burn_rate"],
            (1.0 - good as f64 / total as f64) / (1.0 - 0.995),
        );
    }
    assert_eq!(journey["windows"].as_object().unwrap().len(), 3);
    // Percentiles do not combine across components: null where an SLO has them.
    assert_eq!(
        journey["windows"]["1h"]["latency_ms"],
        json!({ "p50": null, "p90": null, "p99": null, "p999": null })
    );
    assert!(journey["windows"]["1d"].get("latency_ms").is_none());
    // 25 bad (2 × 10 paid, 5 logins) against 0.5 % of 2100.
    close(
        &journey["error_budget_remaining"],
        1.0 - 25.0 / (0.005 * 2100.0),
    );
    // SLO entries have no `composite` key.
    assert!(slos[0].get("composite").is_none());
}

#[test]
fn the_rollup_groups_operators_sums_the_ecosystem_and_ranks_the_burners() {
    let report = report();
    let rollups = report["rollups"]
        .as_array()
        .expect("`rollups` with rollups configured");
    assert_eq!(rollups.len(), 1);
    let r = &rollups[0];
    assert_eq!(
        (&r["name"], &r["slo"], &r["by"]),
        (
            &json!("payments-by-operator"),
            &json!("payments-availability"),
            &json!("operator")
        )
    );
    let groups: Vec<(&str, Counts)> = r["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["value"].as_str().unwrap(), counts(&g["windows"])))
        .collect();
    let w = |h: (u64, u64), d: (u64, u64), week: (u64, u64)| {
        vec![
            ("1h".to_owned(), h.0, h.1),
            ("1d".to_owned(), d.0, d.1),
            ("7d".to_owned(), week.0, week.1),
        ]
    };
    assert_eq!(
        groups,
        [
            ("", w((0, 0), (10, 11), (10, 11))),
            ("op-a", w((50, 50), (250, 250), (350, 350))),
            ("op-b", w((48, 50), (238, 250), (338, 350))),
            ("op-c", w((20, 20), (120, 120), (170, 220))),
            ("op-d", w((10, 20), (70, 120), (70, 120))),
        ]
    );
    let eco = &r["ecosystem"];
    assert_eq!(
        counts(&eco["windows"]),
        w((128, 140), (688, 751), (938, 1051))
    );
    close(
        &eco["error_budget_remaining"],
        1.0 - 113.0 / (0.005 * 1051.0),
    );
    let op_c = &r["groups"][3];
    close(
        &op_c["error_budget_remaining"],
        1.0 - 50.0 / (0.005 * 220.0),
    );
    assert_eq!(r["groups"][0]["windows"][0]["sli"], Value::Null);

    // Bad events in the last day over each series' own 7-day allowance: op-d 50 of
    // 0.6, the operator-less series 1 of 0.055, op-b 12 of 1.75; op-c's failures are
    // two days old. top_k 2 keeps the first two.
    let top = &r["top"];
    assert_eq!(top["window"], "1d");
    let entries = top["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["labels"], json!({ "operator": "op-d" }));
    assert_eq!(
        (entries[0]["bad"].as_u64(), entries[0]["total"].as_u64()),
        (Some(50), Some(120))
    );
    close(&entries[0]["budget_burned"], 50.0 / (0.005 * 120.0));
    assert_eq!(entries[1]["labels"], json!({ "operator": "" }));
    close(&entries[1]["budget_burned"], 1.0 / (0.005 * 11.0));
}

#[test]
fn the_table_shows_the_journey_and_the_rollup() {
    let text = replay(&fixture("config.yaml"), "table");
    assert!(
        text.contains("checkout-journey {}  objective 99.5%  window 30d"),
        "{text}"
    );
    assert!(text.contains(
        "composite of checkout-pay-availability x2, cart-availability x1, auth-availability x1"
    ));
    assert!(text.contains("rollup payments-by-operator: payments-availability by operator"));
    assert!(text.contains("top 2 by budget burned in 1d"));
    assert!(
        text.contains("1. {operator=\"op-d\"}  8333.3%  (50 bad of 120)"),
        "{text}"
    );
}

#[test]
fn without_rollups_the_report_has_no_rollups_key() {
    let config = std::fs::read_to_string(fixture("config.yaml")).unwrap();
    let without = config.split("rollups:").next().unwrap().to_owned();
    let path = std::env::temp_dir().join(format!("composites-{}.yaml", std::process::id()));
    std::fs::write(&path, without).unwrap();
    let report: Value = serde_json::from_str(&replay(path.to_str().unwrap(), "json")).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(report.get("rollups").is_none());
    assert_eq!(
        report["slos"].as_array().unwrap().last().unwrap()["name"],
        "checkout-journey"
    );
}

#[test]
fn the_example_config_replays_on_the_example_events() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args([
            "replay",
            "--config",
            &format!("{root}/config/composites.yaml"),
        ])
        .args(["--input", &format!("{root}/config/example-events.ndjson")])
        .output()
        .expect("run slipstream replay");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let slos = report["slos"].as_array().unwrap();
    let total = |name: &str| {
        let s = slos.iter().find(|s| s["name"] == name).unwrap();
        s["windows"]["1h"]["total"].as_u64().unwrap()
    };
    assert_eq!(
        total("checkout-journey"),
        2 * total("checkout-availability")
            + total("cart-availability")
            + total("auth-availability")
    );
    let rollups = report["rollups"].as_array().unwrap();
    let values: Vec<&Value> = rollups[0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| &g["value"])
        .collect();
    assert_eq!(values, [&json!("ap-3"), &json!("eu-1"), &json!("us-2")]);
    assert_eq!(rollups[0]["top"]["entries"].as_array().unwrap().len(), 5);
    assert_eq!(rollups[1]["by"], "service");
}
