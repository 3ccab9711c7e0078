//! The bearer token of `http.token_env`: every endpoint but the probes answers 401
//! without it (with `WWW-Authenticate: Bearer` and a count of refusals), and a real
//! Prometheus scrapes `/metrics` with it from a `credentials_file`, and fails without it.
//! `run` in-process on librdkafka's mock cluster; a missing variable, as an operator
//! meets it, with `slipstream run` as a process of its own.

mod common;

use common::wait::wait_until;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{Response, get_with, sample, samples};
use common::in_process::InProcess;
use rdkafka::mocking::MockCluster;

const TOKEN: &str = "s3cr3t-t0ken-for-tests";

const SLOS: &str = r#"
slos:
  - { name: checkout-availability, service: checkout, indicator: { type: availability }, objective: 99.9, window: 30d }
"#;

fn start(cluster: &MockCluster<'_, rdkafka::producer::DefaultProducerContext>) -> InProcess {
    cluster.create_topic("events", 1, 1).unwrap();
    InProcess::start_with_env(
        &format!(
            "{SLOS}kafka: {{ brokers: \"{}\", topics: [events], group: token }}\n\
             http: {{ listen: \"127.0.0.1:0\", token_env: TEST_TOKEN }}\n",
            cluster.bootstrap_servers()
        ),
        &[("TEST_TOKEN", TOKEN)],
    )
}

fn get(addr: &str, path: &str, authorization: Option<&str>) -> Response {
    let headers: Vec<(&str, &str)> = authorization
        .iter()
        .map(|a| ("Authorization", *a))
        .collect();
    get_with(addr, path, &headers).unwrap_or_else(|| panic!("GET {path}: no answer"))
}

#[test]
fn the_token_guards_every_endpoint_but_the_probes() {
    let cluster = MockCluster::new(1).unwrap();
    let run = start(&cluster);
    let addr = run.addr();
    let bearer = format!("Bearer {TOKEN}");

    let refusals = [
        ("/metrics", None, r#"Bearer realm="slipstream""#),
        (
            "/api/v1/slos",
            Some("Bearer not-the-token"),
            r#"Bearer realm="slipstream", error="invalid_token""#,
        ),
        (
            "/api/v1/alerts",
            Some("Basic c2xpcHN0cmVhbTpzM2NyM3Q="),
            r#"Bearer realm="slipstream""#,
        ),
        (
            "/api/v1/slos?at=2026-11-21T12:00:00Z",
            Some(&bearer[..bearer.len() - 1]),
            r#"Bearer realm="slipstream", error="invalid_token""#,
        ),
        ("/api/v1/config", None, r#"Bearer realm="slipstream""#),
        ("/api/v1/decisions", None, r#"Bearer realm="slipstream""#),
        (
            "/api/v1/decisions/pending",
            None,
            r#"Bearer realm="slipstream""#,
        ),
    ];
    for (path, authorization, challenge) in refusals {
        let r = get(&addr, path, authorization);
        assert_eq!(r.status, 401, "{path}: {}", r.body);
        assert_eq!(r.header("www-authenticate"), Some(challenge), "{path}");
        let body: serde_json::Value = serde_json::from_str(&r.body).expect("a JSON error");
        assert!(body["error"].as_str().is_some(), "{path}: {}", r.body);
        assert!(!r.body.contains(TOKEN), "{path}: {}", r.body);
    }

    // Orchestrators probe without credentials.
    assert_eq!(get(&addr, "/healthz", None).status, 200);
    assert_ne!(get(&addr, "/readyz", None).status, 401);

    for path in ["/api/v1/slos", "/api/v1/alerts", "/api/v1/config"] {
        let r = get(&addr, path, Some(&bearer));
        assert_eq!(r.status, 200, "{path}: {}", r.body);
    }
    // The scheme is case-insensitive (RFC 7235).
    let r = get(&addr, "/metrics", Some(&format!("bearer {TOKEN}")));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains(TOKEN));
    assert_eq!(
        sample(&samples(&r.body), "slipstream_http_unauthorized_total", &[]),
        Some(refusals.len() as f64),
        "{}",
        r.body
    );
    run.stop();
}

#[test]
fn prometheus_scrapes_with_the_token_and_fails_without() {
    let cluster = MockCluster::new(1).unwrap();
    let run = start(&cluster);
    let addr = run.addr();
    let token_file =
        std::env::temp_dir().join(format!("slipstream-token-{}", common::broker::free_port()));
    // With a newline at the end, as `echo` writes it: Prometheus trims it.
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let jobs = format!(
        "  - job_name: with-token\n    \
         authorization: {{ type: Bearer, credentials_file: \"{}\" }}\n    \
         static_configs: [{{ targets: [\"{addr}\"] }}]\n  \
         - job_name: without-token\n    \
         static_configs: [{{ targets: [\"{addr}\"] }}]\n",
        token_file.display()
    );
    let Some(prometheus) = common::prometheus::Prometheus::with_jobs(&jobs) else {
        let _ = std::fs::remove_file(&token_file);
        return;
    };
    let up = |job: &str| -> Option<f64> {
        let result = prometheus.query(&format!("up{{job=\"{job}\"}}"));
        result[0]["value"][1].as_str()?.parse().ok()
    };
    wait_until("both scrape jobs' `up`", Duration::from_secs(30), || {
        up("with-token") == Some(1.0) && up("without-token") == Some(0.0)
    });
    // What was scraped with the token is slipstream's exposition, and the tokenless
    // scrapes are the refusals it counted.
    wait_until("the refusals counted", Duration::from_secs(30), || {
        let refused = prometheus.query(r#"slipstream_http_unauthorized_total{job="with-token"}"#);
        refused[0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(|n| n >= 1.0)
    });
    let _ = std::fs::remove_file(&token_file);
    drop(prometheus);
    run.stop();
}

#[test]
fn run_stops_with_a_config_error_when_the_token_variable_is_missing() {
    let path = std::env::temp_dir().join(format!(
        "slipstream-token-missing-{}.yaml",
        common::broker::free_port()
    ));
    std::fs::write(
        &path,
        format!("{SLOS}http: {{ token_env: SLIPSTREAM_TEST_NEVER_SET }}\n"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(["run", "--config"])
        .arg(&path)
        .env_remove("SLIPSTREAM_TEST_NEVER_SET")
        .stdin(Stdio::null())
        .output()
        .expect("run slipstream");
    let _ = std::fs::remove_file(&path);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: http.token_env: the environment variable `SLIPSTREAM_TEST_NEVER_SET` is not set",
            path.display()
        )),
        "{stderr}"
    );
}

/// A program that starts `run` on a config whose secrets it never read is told so,
/// rather than served without its token.
#[test]
fn run_refuses_a_config_whose_secrets_were_not_read() {
    let config = slipstream::config::parse(
        &format!("{SLOS}http: {{ listen: \"127.0.0.1:0\", token_env: TEST_TOKEN }}\n"),
        std::path::Path::new("unread.yaml"),
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = rt.block_on(slipstream::run::start(&config, std::future::pending()));
    let message = started.err().expect("refused").to_string();
    assert!(
        message.starts_with("http.token_env: the environment variable `TEST_TOKEN` was never read"),
        "{message}"
    );
}
