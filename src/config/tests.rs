//! One test per kind of config error: each must name the file, the SLO and the field.

use std::path::Path;

use super::*;

const GOOD: &str = r#"
events:
  labels: [operator]
slos:
  - name: checkout-availability
    service: checkout
    selector: { route: "POST /pay" }
    group_by: [operator]
    indicator: { type: availability }
    objective: 99.9
    window: 30d
  - name: fleet-latency
    service: "*"
    indicator: { type: latency, threshold_ms: 300 }
    objective: 99
    window: 28d
"#;

fn parse_text(text: &str) -> Result<Config, ConfigError> {
    parse(text, Path::new("slo.yaml"))
}

/// Replaces `from` (which must occur) in the good config, and returns the error text.
fn error_after(from: &str, to: &str) -> String {
    assert!(
        GOOD.contains(from),
        "test bug: `{from}` not in the base config"
    );
    let text = GOOD.replacen(from, to, 1);
    parse_text(&text)
        .expect_err("config should be rejected")
        .to_string()
}

fn assert_names(message: &str, parts: &[&str]) {
    assert!(message.starts_with("slo.yaml:"), "no file in: {message}");
    for part in parts {
        assert!(message.contains(part), "`{part}` missing in: {message}");
    }
}

#[test]
fn accepts_the_good_config() {
    let config = parse_text(GOOD).unwrap();
    assert_eq!(config.slos.len(), 2);
    let checkout = &config.slos[0];
    assert_eq!(checkout.objective, 0.999);
    assert_eq!(
        checkout.selector,
        vec![(Field::Route, "POST /pay".to_owned())]
    );
    assert_eq!(checkout.group_by, vec![Field::Label(0)]);
    let shown: Vec<String> = config.slos[1].windows.iter().map(Span::to_string).collect();
    assert_eq!(shown, ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "28d"]);
    assert_eq!(config.slos[1].service, ServiceMatch::Any);
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let message = parse_text("slos: [\n  - name: x\n")
        .unwrap_err()
        .to_string();
    assert!(message.starts_with("slo.yaml: not valid YAML"), "{message}");
    assert!(message.contains("line"), "{message}");
}

#[test]
fn unknown_field_names_slo_and_field() {
    let m = error_after("objective: 99.9", "objectiv: 99.9");
    assert_names(&m, &["slo `checkout-availability`", "slos[0]", "objectiv"]);
}

#[test]
fn unknown_top_level_field() {
    let m = error_after("events:", "event:");
    assert_names(&m, &["event"]);
    // Found by fuzzing: an empty key left the field empty (`slo.yaml: : unknown field`).
    let m = parse_text(&format!("\"\": 1\n{GOOD}"))
        .unwrap_err()
        .to_string();
    assert_names(&m, &["slo.yaml: (top level): unknown field ``"]);
}

#[test]
fn wrong_type() {
    let m = error_after("objective: 99\n", "objective: high\n");
    assert_names(&m, &["slo `fleet-latency`", "slos[1].objective"]);
}

#[test]
fn unknown_indicator_type() {
    let m = error_after("type: availability", "type: saturation");
    assert_names(
        &m,
        &[
            "slo `checkout-availability`",
            "slos[0].indicator",
            "saturation",
        ],
    );
}

#[test]
fn availability_indicator_refuses_stray_keys() {
    let m = error_after(
        "{ type: availability }",
        "{ type: availability, threshold_ms: 300 }",
    );
    assert_names(
        &m,
        &[
            "slo `checkout-availability`",
            "slos[0].indicator",
            "threshold_ms",
        ],
    );
}

#[test]
fn latency_indicator_without_threshold() {
    let m = error_after("{ type: latency, threshold_ms: 300 }", "{ type: latency }");
    assert_names(&m, &["slo `fleet-latency`", "threshold_ms"]);
}

#[test]
fn negative_threshold() {
    let m = error_after("threshold_ms: 300", "threshold_ms: -1");
    assert_names(
        &m,
        &[
            "slo `fleet-latency`",
            "slos[1].indicator.threshold_ms",
            ">= 0",
        ],
    );
}

#[test]
fn objective_out_of_range() {
    for bad in ["100", "0", "-5", "150"] {
        let m = error_after("objective: 99.9", &format!("objective: {bad}"));
        assert_names(
            &m,
            &[
                "slo `checkout-availability`",
                "slos[0].objective",
                "below 100",
            ],
        );
    }
}

#[test]
fn bad_window() {
    for bad in ["30", "30w", "0d", "100d"] {
        let m = error_after("window: 30d", &format!("window: {bad}"));
        assert_names(&m, &["slo `checkout-availability`", "slos[0].window"]);
    }
}

#[test]
fn bad_global_window() {
    let m = error_after("events:", "windows: [5m, 1y]\nevents:");
    assert_names(&m, &["windows[1]", "unit"]);
}

#[test]
fn duplicate_slo_names() {
    let m = error_after("name: fleet-latency", "name: checkout-availability");
    assert_names(
        &m,
        &["slo `checkout-availability`", "slos[1].name", "unique"],
    );
}

#[test]
fn empty_name_and_service() {
    let m = error_after("name: fleet-latency", "name: \"\"");
    assert_names(&m, &["slos[1].name"]);
    let m = error_after("service: checkout", "service: \"\"");
    assert_names(&m, &["slo `checkout-availability`", "slos[0].service"]);
}

#[test]
fn selector_on_unknown_label() {
    let m = error_after("{ route: \"POST /pay\" }", "{ region: eu }");
    assert_names(
        &m,
        &["slo `checkout-availability`", "selector.region", "operator"],
    );
}

#[test]
fn group_by_unknown_duplicate_or_service() {
    let m = error_after("group_by: [operator]", "group_by: [tenant]");
    assert_names(&m, &["slos[0].group_by[0]", "tenant"]);
    let m = error_after("group_by: [operator]", "group_by: [operator, operator]");
    assert_names(&m, &["slos[0].group_by[1]", "twice"]);
    let m = error_after("group_by: [operator]", "group_by: [service]");
    assert_names(&m, &["slos[0].group_by[0]", "service: \"*\""]);
}

#[test]
fn no_slos() {
    let m = parse_text("slos: []").unwrap_err().to_string();
    assert_names(&m, &["slos", "at least one"]);
}

#[test]
fn events_errors_name_the_events_key() {
    let m = error_after(
        "labels: [operator]",
        "labels: [operator]\n  preset: haproxy",
    );
    assert_names(&m, &["events.preset", "haproxy"]);
    let m = error_after(
        "labels: [operator]",
        "labels: [operator]\n  latency_ms: \"a..b\"",
    );
    assert_names(&m, &["events.latency_ms"]);
}

#[test]
fn missing_file() {
    let e = load(Path::new("/nonexistent/slo.yaml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/slo.yaml"), "{e}");
}

#[test]
fn series_limit_is_positive_and_its_section_strict() {
    let limited = format!("limits: {{ max_series_per_slo: 500 }}\n{GOOD}");
    assert_eq!(parse_text(&limited).unwrap().limits.max_series_per_slo, 500);
    assert_eq!(parse_text(GOOD).unwrap().limits, Limits::default());
    for (section, field) in [
        (
            "limits: { max_series_per_slo: 0 }",
            "limits.max_series_per_slo",
        ),
        (
            "limits: { max_series_per_slo: -5 }",
            "limits.max_series_per_slo",
        ),
        ("limits: { max_series: 10 }", "limits"),
    ] {
        let m = parse_text(&format!("{section}\n{GOOD}"))
            .unwrap_err()
            .to_string();
        assert_names(&m, &[field]);
    }
}

const SECURE: &str = r#"
slos:
  - { name: a, service: checkout, indicator: { type: availability }, objective: 99.9, window: 30d }
kafka:
  properties: { security.protocol: SASL_SSL, sasl.mechanisms: SCRAM-SHA-512, sasl.username: slipstream }
  properties_env: { sasl.password: SLIPSTREAM_TEST_UNSET_KAFKA_PASSWORD }
http: { token_env: SLIPSTREAM_TEST_UNSET_TOKEN }
"#;

#[test]
fn secrets_from_the_environment_are_read_for_run_only() {
    let mut config = parse_text(SECURE).expect("replay needs no secret");
    assert_eq!(
        config.run.unread_env(),
        Some((
            "http.token_env".into(),
            "SLIPSTREAM_TEST_UNSET_TOKEN".into()
        ))
    );
    config
        .run
        .read_env(|var| Some(format!("value-of-{var}")))
        .unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("value-of-"), "{shown}");
    assert!(shown.contains("SLIPSTREAM_TEST_UNSET_KAFKA_PASSWORD"));
}

#[test]
fn an_unset_variable_is_a_config_error_of_run() {
    let path = std::env::temp_dir().join(format!("slipstream-secure-{}.yaml", std::process::id()));
    std::fs::write(&path, SECURE).unwrap();
    assert!(load(&path).is_ok());
    let message = load_for_run(&path).unwrap_err().to_string();
    let _ = std::fs::remove_file(&path);
    assert!(
        message.starts_with(&path.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("http.token_env: the environment variable `SLIPSTREAM_TEST_UNSET_TOKEN`"),
        "{message}"
    );
}

#[test]
fn an_inline_secret_is_refused_with_the_way_out() {
    let text = SECURE.replace(
        "sasl.username: slipstream",
        "sasl.username: slipstream, sasl.password: hunter2",
    );
    let m = parse_text(&text).unwrap_err().to_string();
    assert_names(&m, &["kafka.properties.sasl.password", "properties_env"]);
    assert!(!m.contains("hunter2"), "{m}");
}
