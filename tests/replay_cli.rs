//! End-to-end test of `slipstream replay` against `tests/fixtures/replay/expected*.json`,
//! which the independent reference `tests/fixtures/replay/expected.py` computes from
//! `docs/semantics.md` (see the fixture's README.md to regenerate them).

use std::fs;
use std::process::Output;

use common::report::{assert_report, expected, fixture, series};
use serde_json::Value;

mod common;

/// The `--at` of expected_at.json: 2026-11-19T12:00:00Z, a whole hour mid-data.
const EXPLICIT_AT: &str = "2026-11-19T14:00:00+02:00";

/// Runs slipstream with `args`, feeding the file `stdin` (if any) on its standard input.
fn slipstream(args: &[&str], stdin: Option<&str>) -> Output {
    common::cli::run(
        args,
        stdin.map(|path| fs::read(path).expect("read stdin file")),
    )
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
