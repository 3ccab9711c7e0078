//! End-to-end test of `slipstream replay` against `tests/fixtures/replay/expected*.json`,
//! which the independent reference `tests/fixtures/replay/expected.py` computes from
//! `docs/semantics.md` (see the fixture's README.md to regenerate them).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::{fs, thread};

use serde_json::Value;

/// The `--at` of expected_at.json: 2026-11-19T12:00:00Z, a whole hour mid-data.
const EXPLICIT_AT: &str = "2026-11-19T14:00:00+02:00";

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/replay/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn expected(name: &str) -> Value {
    let text = fs::read_to_string(fixture(name)).expect("read expected file");
    serde_json::from_str(&text).expect("expected file is JSON")
}

/// Runs slipstream with `args`, feeding the file `stdin` (if any) on its standard input.
fn slipstream(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn slipstream");
    // Write from another thread so that a full stdout pipe cannot deadlock the test.
    let writer = stdin.map(|path| {
        let data = fs::read(path).expect("read stdin file");
        let mut pipe = child.stdin.take().expect("stdin is piped");
        thread::spawn(move || pipe.write_all(&data))
    });
    let output = child.wait_with_output().expect("wait for slipstream");
    if let Some(writer) = writer {
        writer.join().expect("stdin writer").expect("write stdin");
    }
    output
}

fn replay_json(config: &str, input: &str, at: Option<&str>, stdin: Option<&str>) -> Value {
    let (config, input_path) = (fixture(config), fixture(input));
    let input = if input == "-" { "-" } else { &input_path };
    let mut args = vec![
        "replay", "--config", &config, "--input", input, "--format", "json",
    ];
    if let Some(at) = at {
        args.extend(["--at", at]);
    }
    let out = slipstream(&args, stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "slipstream {args:?}: {}\n{stderr}",
        out.status
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
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
fn series(report: &Value) -> BTreeMap<String, &Value> {
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

fn assert_report(got: &Value, want: &Value) {
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

#[test]
fn replay_default_at() {
    let got = replay_json("config.yaml", "events.ndjson", None, None);
    assert_report(&got, &expected("expected.json"));
}

#[test]
fn replay_explicit_at() {
    let got = replay_json("config.yaml", "events.ndjson", Some(EXPLICIT_AT), None);
    assert_report(&got, &expected("expected_at.json"));
}

#[test]
fn replay_kong_preset() {
    let got = replay_json("kong.yaml", "kong.ndjson", None, None);
    assert_report(&got, &expected("expected_kong.json"));
}

#[test]
fn replay_from_stdin() {
    let events = fixture("events.ndjson");
    let got = replay_json("config.yaml", "-", None, Some(&events));
    assert_report(&got, &expected("expected.json"));
}

#[test]
fn replay_table_lists_every_slo() {
    let (config, input) = (fixture("config.yaml"), fixture("events.ndjson"));
    let args = [
        "replay", "--config", &config, "--input", &input, "--format", "table",
    ];
    let out = slipstream(&args, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let want = expected("expected.json");
    for name in series(&want)
        .values()
        .map(|s| s["name"].as_str().expect("SLO name"))
    {
        assert!(
            stdout.contains(name),
            "table does not mention {name}:\n{stdout}"
        );
    }
}

#[test]
fn config_error_names_file_and_slo() {
    let path = format!("{}/replay_cli_bad_config.yaml", env!("CARGO_TARGET_TMPDIR"));
    let config = "\
slos:
  - name: checkout-availability
    service: checkout
    indicator: { type: availability }
    objective: 99.9
    window: 30d
  - name: search-latency-typo
    service: search
    indicator: { type: latency, threshold_ms: 250 }
    objectiv: 99
    window: 30d
";
    fs::write(&path, config).expect("write bad config");
    let input = fixture("events.ndjson");
    let out = slipstream(
        &[
            "replay", "--config", &path, "--input", &input, "--format", "json",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted a config with `objectiv:`");
    assert!(
        stderr.contains(&path),
        "stderr does not name {path}:\n{stderr}"
    );
    assert!(
        stderr.contains("search-latency-typo"),
        "stderr does not name the SLO:\n{stderr}"
    );
}
