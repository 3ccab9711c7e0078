//! The example configs in `config/` load, and the example events replay to the report the
//! README's first run shows: counts from `config/make_example_events.py`, and the
//! checkout incident visible as a fast burn.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use slipstream::config::{self, Span};
use slipstream::decode::Invalid;
use slipstream::replay::replay;
use slipstream::report::Report;

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn replay_text(config_name: &str, events: &str) -> Report {
    let config = config::load(&config_dir().join(config_name)).expect("config loads");
    replay(&config, events.as_bytes(), None, 0).expect("replay")
}

#[test]
fn every_example_config_loads() {
    let mut names: Vec<String> = fs::read_dir(config_dir())
        .expect("read config/")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .map(|path| {
            config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            path.file_name().unwrap().to_string_lossy().into_owned()
        })
        .collect();
    names.sort();
    for expected in [
        "decisions.yaml",
        "envoy.yaml",
        "example.yaml",
        "kafka-tls-sasl.yaml",
        "kong.yaml",
        "nginx.yaml",
        "scale-out-keyed.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
}

#[test]
fn example_events_replay_to_the_documented_report() {
    let config = config::load(&config_dir().join("example.yaml")).expect("example.yaml loads");
    let events = File::open(config_dir().join("example-events.ndjson")).expect("open events");
    let report = replay(&config, events, None, 0).expect("replay");

    // The numbers make_example_events.py prints.
    let e = &report.events;
    assert_eq!(e.read, 20_000);
    assert_eq!(e.valid, 19_901);
    assert_eq!(e.invalid(), 99);
    assert_eq!(e.invalid_by_reason[Invalid::Json as usize], 47);
    assert_eq!(e.invalid_by_reason[Invalid::Status as usize], 32);
    assert_eq!(e.invalid_by_reason[Invalid::Service as usize], 20);
    assert_eq!(e.too_old, 0);
    // The newest event is just before 12:00, so the default --at is 2026-11-21T12:00:00Z.
    assert_eq!(report.at_ms, 1_795_262_400_000);

    // Every SLO of the config has traffic, so every one has at least one series.
    assert!(!report.slos.is_empty());
    for slo in &config.slos {
        assert!(
            report.slos.iter().any(|s| s.name == slo.name),
            "no series for {}",
            slo.name
        );
    }

    // The incident: checkout burns its budget far faster than the 14.4 that pages.
    let checkout = report
        .slos
        .iter()
        .find(|s| s.name == "checkout-availability")
        .expect("checkout-availability is reported");
    let burn = |window: Span| {
        checkout
            .windows
            .iter()
            .find(|w| w.window == window)
            .and_then(|w| w.burn_rate)
            .unwrap_or_else(|| panic!("no burn rate for {window}"))
    };
    let (five_minutes, one_hour) = (burn(Span::from_secs(300)), burn(Span::HOUR));
    assert!(five_minutes > 1.0, "5m burn {five_minutes}");
    assert!(five_minutes > 14.4, "5m burn {five_minutes}");
    assert!(one_hour > 14.4, "1h burn {one_hour}");
    // ... while a quiet service stays well inside its budget.
    let cart = report
        .slos
        .iter()
        .find(|s| s.name == "cart-latency")
        .expect("cart-latency is reported");
    assert!(
        cart.windows
            .iter()
            .all(|w| w.burn_rate.is_some_and(|b| b < 1.0))
    );
}

/// The sample lines of docs/events.md, one per preset, are valid for the preset configs.
#[test]
fn preset_examples_decode_their_sample_lines() {
    let cases = [
        (
            "example.yaml",
            r#"{"timestamp":"2026-11-21T11:59:58.120Z","service":"checkout","route":"POST /pay","status":200,"latency_ms":141.0,"operator":"eu-1","request_id":"0f6c2b9e51a4d7e3"}"#,
        ),
        (
            "envoy.yaml",
            r#"{"start_time":"2026-11-21T11:58:42.517Z","method":"POST","path":"/v1/orders","response_code":201,"response_flags":"-","duration":143,"upstream_cluster":"orders","upstream_host":"10.0.3.17:8080","route_name":"orders-create","authority":"api.example.com"}"#,
        ),
        (
            "kong.yaml",
            r#"{"request":{"method":"POST","uri":"/orders"},"response":{"status":201,"size":800},"route":{"id":"8eeab217-a783-431d-a403-c18dca3bb641","name":"orders-create"},"service":{"id":"2d08044d-c3f7-47ff-adb5-548b63c423fd","name":"orders"},"latencies":{"request":141,"kong":3,"proxy":138,"receive":0},"consumer":{"username":"acme"},"client_ip":"203.0.113.102","started_at":1795262322517}"#,
        ),
        (
            "nginx.yaml",
            r#"{"time_iso8601":"2026-11-21T12:58:42+01:00","host":"shop.example.com","uri":"/api/search","status":200,"request_time":0.137}"#,
        ),
    ];
    for (config_name, line) in cases {
        let report = replay_text(config_name, line);
        assert_eq!(
            (report.events.valid, report.events.invalid()),
            (1, 0),
            "{config_name}"
        );
        assert!(!report.slos.is_empty(), "{config_name}: no SLO matched");
    }
}

/// The TLS and SASL example (docs/run.md): SASL_SSL with SCRAM, the CA, the user inline,
/// the password and the token from the environment, never shown once read.
#[test]
fn the_tls_and_sasl_example_takes_its_secrets_from_the_environment() {
    let mut config =
        config::load(&config_dir().join("kafka-tls-sasl.yaml")).expect("loads without secrets");
    let kafka = &config.run.kafka;
    let property = |key: &str| {
        kafka
            .properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(property("security.protocol"), Some("SASL_SSL"));
    assert_eq!(property("sasl.mechanisms"), Some("SCRAM-SHA-512"));
    assert_eq!(property("sasl.username"), Some("slipstream"));
    assert!(property("ssl.ca.location").is_some());
    let vars: Vec<(&str, &str)> = kafka
        .properties_env
        .iter()
        .map(|(k, from)| (k.as_str(), from.var.as_str()))
        .collect();
    assert_eq!(vars, [("sasl.password", "KAFKA_SASL_PASSWORD")]);
    assert_eq!(
        config.run.token.as_ref().map(|t| t.var.as_str()),
        Some("SLIPSTREAM_TOKEN")
    );
    config
        .run
        .read_env(|var| Some(format!("secret-of-{var}")))
        .expect("every variable set");
    assert_eq!(config.run.unread_env(), None);
    assert!(!format!("{config:?}").contains("secret-of-"));
}
