//! One test per kind of invalid event, plus the shapes a valid one can take.

use std::path::Path;

use super::*;
use crate::config;

fn decoder(events_yaml: &str) -> Decoder {
    let text = format!(
        "{events_yaml}\nslos:\n  - {{name: a, service: x, indicator: {{type: availability}}, \
         objective: 99, window: 1h}}\n"
    );
    let cfg = config::parse(&text, Path::new("t.yaml")).unwrap();
    Decoder::new(&cfg.events)
}

fn default_decoder() -> Decoder {
    decoder("events: { labels: [operator, region] }")
}

const OK: &str = r#"{"timestamp":"2026-11-21T11:59:59.123Z","service":"checkout","route":"POST /pay","status":200,"latency_ms":41.237,"operator":"eu-1"}"#;

/// `OK` with one field's JSON text replaced, or removed when `value` is empty.
fn with(field: &str, value: &str) -> String {
    let fields = [
        ("timestamp", "\"2026-11-21T11:59:59.123Z\""),
        ("service", "\"checkout\""),
        ("route", "\"POST /pay\""),
        ("status", "200"),
        ("latency_ms", "41.237"),
        ("operator", "\"eu-1\""),
    ];
    let parts: Vec<String> = fields
        .iter()
        .map(|&(k, v)| (k, if k == field { value } else { v }))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("\"{k}\":{v}"))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn reason(d: &mut Decoder, line: &str) -> Invalid {
    d.decode(line.as_bytes()).expect_err(line)
}

#[test]
fn decodes_a_valid_event() {
    let mut d = default_decoder();
    let e = d.decode(OK.as_bytes()).unwrap();
    assert_eq!(e.timestamp_ms, 1_795_262_399_123);
    assert_eq!(
        (e.service, e.route, e.status),
        ("checkout", Some("POST /pay"), 200)
    );
    assert_eq!(e.latency_ms, 41.237);
    assert_eq!(e.labels[..2], [Some("eu-1"), None]);
}

#[test]
fn accepts_epoch_millis_escapes_null_route_and_unknown_fields() {
    let mut d = default_decoder();
    let line = r#"{"x":{"y":[1,2,{"z":null}]},"timestamp":1795262399123,"service":"ch\u00e9ck\/out",
        "route":null,"status":599,"latency_ms":1.5e2,"region":"eu","operator":null}"#;
    let e = d.decode(line.as_bytes()).unwrap();
    assert_eq!(e.timestamp_ms, 1_795_262_399_123);
    assert_eq!(e.service, "chéck/out");
    assert_eq!(e.route, None);
    assert_eq!(e.latency_ms, 150.0);
    assert_eq!(e.labels[..2], [None, Some("eu")]);
}

#[test]
fn latency_numbers_parse_exactly_like_std() {
    let mut d = default_decoder();
    for text in [
        "0",
        "-0",
        "-0.0e5",
        "0.1",
        "41.237",
        "300",
        "299.99999999999999",
        "1e-3",
        "123456789.123456",
        // More digits than a u64 holds: found by fuzzing (a multiplication overflow).
        "123456789012345678901234567890",
        "0.000000000000000000001234",
    ] {
        let line = with("latency_ms", text);
        let got = d.decode(line.as_bytes()).unwrap().latency_ms;
        assert_eq!(got, text.parse::<f64>().unwrap().abs(), "{text}");
    }
}

#[test]
fn not_json() {
    let mut d = default_decoder();
    for bad in [
        "{",
        "hello",
        "{\"service\":\"a\",}",
        &(OK.to_owned() + "x"),
        "{\"a\":NaN}",
    ] {
        assert_eq!(reason(&mut d, bad), Invalid::Json, "{bad}");
    }
}

#[test]
fn not_an_object() {
    let mut d = default_decoder();
    for bad in ["[]", "42", "\"event\"", "null"] {
        assert_eq!(reason(&mut d, bad), Invalid::NotObject, "{bad}");
    }
}

#[test]
fn too_large() {
    let mut d = default_decoder();
    let big = format!("{{\"pad\":\"{}\"}}", "a".repeat(MAX_EVENT_BYTES));
    assert_eq!(reason(&mut d, &big), Invalid::TooLarge);
}

#[test]
fn bad_timestamps() {
    let mut d = default_decoder();
    for bad in [
        "",
        "null",
        "1.7e12",
        "1795262399123.0",
        "\"yesterday\"",
        "true",
        "\"2026-11-21\"",
    ] {
        assert_eq!(
            reason(&mut d, &with("timestamp", bad)),
            Invalid::Timestamp,
            "{bad}"
        );
    }
}

#[test]
fn bad_services() {
    let mut d = default_decoder();
    for bad in ["", "null", "\"\"", "42", "[\"a\"]"] {
        assert_eq!(
            reason(&mut d, &with("service", bad)),
            Invalid::Service,
            "{bad}"
        );
    }
}

#[test]
fn bad_route() {
    let mut d = default_decoder();
    for bad in ["42", "{}", "false"] {
        assert_eq!(reason(&mut d, &with("route", bad)), Invalid::Route, "{bad}");
    }
}

#[test]
fn bad_statuses() {
    let mut d = default_decoder();
    for bad in [
        "", "null", "99", "600", "200.0", "2e2", "\"200\"", "-200", "1000", "true",
        // Three characters with a sign: found by fuzzing (a subtraction overflow).
        "-10", "-99",
    ] {
        assert_eq!(
            reason(&mut d, &with("status", bad)),
            Invalid::Status,
            "{bad}"
        );
    }
}

#[test]
fn bad_latencies() {
    let mut d = default_decoder();
    // `-1e-400` rounds to -0.0 but is negative (found with the fuzzing oracle).
    for bad in [
        "", "null", "-1", "-0.001", "\"41\"", "1e400", "true", "-1e-400",
    ] {
        assert_eq!(
            reason(&mut d, &with("latency_ms", bad)),
            Invalid::LatencyMs,
            "{bad}"
        );
    }
}

#[test]
fn bad_label() {
    let mut d = default_decoder();
    assert_eq!(reason(&mut d, &with("operator", "7")), Invalid::Label);
}

#[test]
fn the_first_bad_field_in_contract_order_counts() {
    let mut d = default_decoder();
    let line = r#"{"latency_ms":-1,"status":9,"service":5,"timestamp":"x"}"#;
    assert_eq!(reason(&mut d, line), Invalid::Timestamp);
    let line = r#"{"latency_ms":-1,"status":9,"service":5,"timestamp":0}"#;
    assert_eq!(reason(&mut d, line), Invalid::Service);
    let line = r#"{"latency_ms":-1,"status":9,"service":"a","timestamp":0}"#;
    assert_eq!(reason(&mut d, line), Invalid::Status);
}

#[test]
fn kong_preset_reads_nested_fields() {
    let mut d = decoder("events: { preset: kong }");
    let line = r#"{"request":{"method":"POST","uri":"/pay"},"response":{"status":502,"size":10},
        "latencies":{"request":515,"kong":58,"proxy":457},"service":{"name":"checkout"},
        "route":{"name":"pay"},"started_at":1795262399123,"client_ip":"10.0.0.1"}"#;
    let e = d.decode(line.as_bytes()).unwrap();
    assert_eq!(
        (e.service, e.route, e.status, e.latency_ms),
        ("checkout", Some("pay"), 502, 515.0)
    );
    assert_eq!(e.timestamp_ms, 1_795_262_399_123);
}

#[test]
fn nginx_preset_converts_seconds() {
    let mut d = decoder("events: { preset: nginx }");
    let line = r#"{"time_iso8601":"2026-11-21T12:59:59+01:00","host":"api","uri":"/","status":200,"request_time":0.25}"#;
    let e = d.decode(line.as_bytes()).unwrap();
    assert_eq!((e.latency_ms, e.timestamp_ms), (250.0, 1_795_262_399_000));
    // Finite in seconds, infinite in milliseconds: refused (found by fuzzing).
    let line = line.replace("0.25", "1e306");
    assert_eq!(reason(&mut d, &line), Invalid::LatencyMs);
}
