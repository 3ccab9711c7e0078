//! Comparing reports (the JSON of `replay` and of `/api/v1/slos`) with the expected
//! files of the independent reference, tests/fixtures/replay/expected.py.

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

pub fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/replay/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The fixture's events, as a gateway would publish them: one message per non-blank
/// line, spread over `partitions` partitions in turn.
pub fn fixture_records(partitions: i32) -> Vec<(i32, Vec<u8>)> {
    let text = fs::read(fixture("events.ndjson")).expect("fixture events");
    text.split(|&b| b == b'\n')
        .filter(|l| l.iter().any(|b| !b" \t\r".contains(b)))
        .enumerate()
        .map(|(i, l)| (i as i32 % partitions, l.to_vec()))
        .collect()
}

pub fn expected(name: &str) -> Value {
    let text = fs::read_to_string(fixture(name)).expect("read expected file");
    serde_json::from_str(&text).expect("expected file is JSON")
}

#[derive(Clone, Copy)]
enum Tol {
    Exact,
    Abs(f64),
    Rel(f64),
}

const ABS: Tol = Tol::Abs(1e-9);
const PERCENTILE: Tol = Tol::Rel(0.01);

fn matches(got: &Value, want: &Value, tol: Tol) -> bool {
    match (tol, got.as_f64(), want.as_f64()) {
        (Tol::Exact, ..) => got == want,
        (Tol::Abs(eps), Some(g), Some(w)) => (g - w).abs() <= eps,
        (Tol::Rel(eps), Some(g), Some(w)) => (g - w).abs() <= eps * w.abs(),
        _ => got.is_null() && want.is_null(),
    }
}

/// Series of a report by "name {labels}", labels sorted by key.
pub fn series(report: &Value) -> BTreeMap<String, &Value> {
    let mut out = BTreeMap::new();
    for s in report["slos"].as_array().expect("`slos` is an array") {
        let labels: BTreeMap<_, _> = s["labels"]
            .as_object()
            .expect("`labels` object")
            .iter()
            .collect();
        let key = format!("{} {}", s["name"], serde_json::to_string(&labels).unwrap());
        assert!(
            out.insert(key.clone(), s).is_none(),
            "series {key} reported twice"
        );
    }
    out
}

fn window_names(s: &Value) -> Value {
    let names = s["windows"]
        .as_object()
        .map(|w| w.keys().cloned().collect::<Vec<_>>());
    names.map_or(Value::Null, Value::from)
}

fn compare_series(key: &str, got: &Value, want: &Value, diffs: &mut Vec<String>) {
    let mut check = |field: &str, g: &Value, w: &Value, tol: Tol| {
        if !matches(g, w, tol) {
            diffs.push(format!("{key} {field}: got {g}, want {w}"));
        }
    };
    check("objective", &got["objective"], &want["objective"], ABS);
    check("window", &got["window"], &want["window"], Tol::Exact);
    let budget = "error_budget_remaining";
    check(budget, &got[budget], &want[budget], ABS);
    check(
        "windows (names)",
        &window_names(got),
        &window_names(want),
        Tol::Exact,
    );
    for (name, w) in want["windows"]
        .as_object()
        .expect("expected `windows` object")
    {
        let g = &got["windows"][name.as_str()];
        for (field, tol) in [
            ("total", Tol::Exact),
            ("good", Tol::Exact),
            ("sli", ABS),
            ("burn_rate", ABS),
        ] {
            check(
                &format!("windows.{name}.{field}"),
                &g[field],
                &w[field],
                tol,
            );
        }
        let (g, w) = (&g["latency_ms"], &w["latency_ms"]);
        if g.is_object() != w.is_object() {
            check(&format!("windows.{name}.latency_ms"), g, w, Tol::Exact);
            continue;
        }
        for p in ["p50", "p90", "p99", "p999"] {
            check(
                &format!("windows.{name}.latency_ms.{p}"),
                &g[p],
                &w[p],
                PERCENTILE,
            );
        }
    }
}

pub fn assert_report(got: &Value, want: &Value) {
    let mut diffs = Vec::new();
    for field in ["at", "events"] {
        if got[field] != want[field] {
            diffs.push(format!("{field}: got {}, want {}", got[field], want[field]));
        }
    }
    let (got, want) = (series(got), series(want));
    diffs.extend(
        want.keys()
            .filter(|k| !got.contains_key(*k))
            .map(|k| format!("missing series {k}")),
    );
    diffs.extend(
        got.keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| format!("extra series {k}")),
    );
    for (key, w) in &want {
        if let Some(g) = got.get(key) {
            compare_series(key, g, w, &mut diffs);
        }
    }
    assert!(
        diffs.is_empty(),
        "{} difference(s):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The first field where `got` and `want` differ, as a path (`.windows.1h.total`).
pub fn first_difference(path: &str, got: &Value, want: &Value) -> Option<String> {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            let keys: std::collections::BTreeSet<&String> = g.keys().chain(w.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (g, w) = (
                    g.get(k).unwrap_or(&Value::Null),
                    w.get(k).unwrap_or(&Value::Null),
                );
                first_difference(&format!("{path}.{k}"), g, w)
            })
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => g
            .iter()
            .zip(w)
            .enumerate()
            .find_map(|(i, (g, w))| first_difference(&format!("{path}[{i}]"), g, w)),
        _ if got == want => None,
        _ => Some(format!("{path}: got {got}, want {want}")),
    }
}
