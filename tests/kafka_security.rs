//! Kafka over TLS and SASL, end to end: a real broker (Tansu) behind a TLS-terminating
//! proxy that requires a client certificate (OpenSSL, tests/common/tls.rs, with a CA made
//! at test time), and `slipstream run` as its own process, its secrets in environment
//! variables (`kafka.properties_env`) and its API behind a bearer token.
//!
//! 1. `SSL` with mutual TLS, the client key's passphrase from the environment: the replay
//!    fixture gives the reference counts, the producer of the Kafka outputs delivers
//!    alert transitions through the same settings, and no secret appears in the log (librdkafka's config dump
//!    included), `/metrics` or `/api/v1/slos`.
//! 2. `SASL_SSL` with `SCRAM-SHA-512` (config/kafka-tls-sasl.yaml), the password from the
//!    environment: the same counts, through the proxy's SCRAM gate (tests/common/scram.rs,
//!    a stand-in for a broker's SASL layer that verifies the client's proof); a wrong
//!    password is refused there.
//! 3. The same config against Tansu requiring SASL itself (`--authentication`): librdkafka
//!    and a real broker's SCRAM run the exchange, which the broker refuses (Tansu 0.6 lets
//!    only an authenticated client create SCRAM users, so no login can succeed there).
//! 4. A broker certificate the configured CA did not sign is refused, and so is TLS to a
//!    plaintext listener.
//!
//! Every refusal leaves nothing read, the instance not ready,
//! `slipstream_kafka_errors_total` counting and the log saying why, without a secret.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::broker::{Tansu, create_topic_with, free_port, produce_with};
use common::report::{assert_report, expected, fixture};
use common::slipstream::{Options, Running};
use common::tls::{CLIENT_KEY_PASSWORD, Pki, TlsProxy};

const PASSWORD: &str = "sasl-pw-8f3a9c1e-never-logged";
const TOKEN: &str = "token-51d0c7aa-never-logged";

/// Who authenticates SASL logins, if anyone.
#[derive(Clone, Copy, PartialEq)]
enum Sasl {
    /// No SASL: `security.protocol: SSL`.
    None,
    /// The proxy's SCRAM-SHA-512 gate, for `USER` with `PASSWORD`.
    Gate,
    /// Tansu itself (`--authentication`).
    Broker,
}

const USER: &str = "slipstream";

/// A broker behind TLS.
struct Secured {
    pki: Pki,
    sasl: Sasl,
    _proxy: TlsProxy,
    tansu: Tansu,
    /// Where clients connect: the TLS proxy.
    brokers: String,
}

impl Secured {
    fn start(sasl: Sasl) -> Option<Secured> {
        let pki = Pki::new();
        let upstream = free_port();
        let gate = (sasl == Sasl::Gate).then_some((USER, PASSWORD));
        let proxy = TlsProxy::start(&pki, upstream, gate);
        let tansu = Tansu::start_behind(upstream, proxy.port, sasl == Sasl::Broker)?;
        Some(Secured {
            brokers: format!("127.0.0.1:{}", proxy.port),
            pki,
            sasl,
            _proxy: proxy,
            tansu,
        })
    }

    /// The TLS properties of a client of the test itself (producer, admin).
    fn client(&self) -> Vec<(&str, &str)> {
        fn path(p: &Path) -> &str {
            p.to_str().unwrap()
        }
        let mut properties = vec![
            ("security.protocol", "SSL"),
            ("ssl.ca.location", path(&self.pki.ca)),
            ("ssl.certificate.location", path(&self.pki.client_cert)),
            ("ssl.key.location", path(&self.pki.client_key)),
            ("ssl.key.password", CLIENT_KEY_PASSWORD),
        ];
        if self.sasl != Sasl::None {
            properties[0].1 = "SASL_SSL";
            properties.extend([
                ("sasl.mechanisms", "SCRAM-SHA-512"),
                ("sasl.username", USER),
                ("sasl.password", PASSWORD),
            ]);
        }
        properties
    }

    /// A run config on `topic` trusting `ca`, with the secrets from the environment.
    fn config(&self, topic: &str, ca: &Path) -> String {
        let security = match self.sasl {
            Sasl::None => SSL,
            Sasl::Gate | Sasl::Broker => SASL_SSL,
        };
        let slos = std::fs::read_to_string(fixture("config.yaml")).unwrap();
        format!(
            "{slos}\nkafka:\n  brokers: \"{}\"\n  topics: [{topic}]\n  group: {topic}\n  \
             properties:\n    session.timeout.ms: \"6000\"\n{security}    \
             ssl.ca.location: \"{}\"\n    ssl.certificate.location: \"{}\"\n    \
             ssl.key.location: \"{}\"\n    debug: conf\n  \
             properties_env:\n    ssl.key.password: KAFKA_SSL_KEY_PASSWORD\n    \
             sasl.password: KAFKA_SASL_PASSWORD\n\
             evaluation: {{ clock: event }}\n",
            self.brokers,
            ca.display(),
            self.pki.client_cert.display(),
            self.pki.client_key.display(),
        )
    }
}

const SSL: &str = "    security.protocol: SSL\n";
const SASL_SSL: &str = "    security.protocol: SASL_SSL\n    sasl.mechanisms: SCRAM-SHA-512\n    \
                        sasl.username: slipstream\n";

fn log_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("slipstream-{name}-{}.log", free_port()))
}

fn run(config: &str, sasl_password: &str, log: &Path) -> Running {
    Running::start_with(
        config,
        Options {
            token: Some(TOKEN),
            env: &[
                ("KAFKA_SASL_PASSWORD", sasl_password),
                ("KAFKA_SSL_KEY_PASSWORD", CLIENT_KEY_PASSWORD),
            ],
            log_filter: Some("info,librdkafka=debug"),
            stderr: Some(log),
        },
    )
}

/// Asserts that no secret is in `text` (`what` names it).
fn assert_no_secret(what: &str, text: &str) {
    for secret in [PASSWORD, TOKEN, CLIENT_KEY_PASSWORD] {
        assert!(!text.contains(secret), "a secret is in the {what}");
    }
}

/// Runs the fixture through `broker` and checks the counts, and that no secret shows.
fn consumes_the_fixture_and_shows_no_secret(broker: &Secured, topic: &str) {
    create_topic_with(&broker.brokers, &broker.client(), topic, 2);
    // The fixture's incidents fire alerts, whose transitions go to a topic: the
    // producer of the Kafka outputs gets the same TLS and SASL settings and secrets.
    let alert_topic = format!("{topic}-alerts");
    create_topic_with(&broker.brokers, &broker.client(), &alert_topic, 1);
    let records = common::report::fixture_records(2);
    produce_with(&broker.brokers, &broker.client(), topic, &records);
    let log = log_file(topic);
    let config = format!(
        "{}alerting: {{ kafka_topic: {alert_topic} }}\n",
        broker.config(topic, &broker.pki.ca)
    );
    let run = run(&config, PASSWORD, &log);
    run.wait_for_read(records.len() as u64, Duration::from_secs(90));
    let deadline = Instant::now() + Duration::from_secs(60);
    while run
        .metric("slipstream_kafka_output_delivered_total", &[])
        .unwrap_or(0.0)
        < 1.0
    {
        assert!(Instant::now() < deadline, "no alert transition delivered");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        run.metric("slipstream_kafka_output_failed_total", &[]),
        Some(0.0)
    );

    let (status, api) = run.get("/api/v1/slos");
    assert_eq!(status, 200, "{api}");
    assert_report(
        &serde_json::from_str(&api).unwrap(),
        &expected("expected.json"),
    );
    let (status, metrics) = run.get("/metrics");
    assert_eq!(status, 200);
    drop(run);
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    for (what, shown) in [
        ("log", &text),
        ("/api/v1/slos", &api),
        ("/metrics", &metrics),
    ] {
        assert_no_secret(what, shown);
    }
    // librdkafka's dump of the config (`debug: conf`) was logged, redacted.
    for key in ["ssl.key.password", "sasl.password"] {
        assert!(
            text.contains(&format!("{key} = [redacted]")),
            "no redacted {key} in the log:\n{text}"
        );
    }
}

#[test]
fn run_consumes_over_mutual_tls_and_shows_no_secret() {
    let Some(broker) = Secured::start(Sasl::None) else {
        return;
    };
    consumes_the_fixture_and_shows_no_secret(&broker, "tls");
}

#[test]
fn run_consumes_over_sasl_ssl_with_scram_and_shows_no_secret() {
    let Some(broker) = Secured::start(Sasl::Gate) else {
        return;
    };
    consumes_the_fixture_and_shows_no_secret(&broker, "scram");
}

/// Waits until `run` has counted a Kafka error and is not ready; the log then.
fn refused(run: Running, log: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while run
        .metric("slipstream_kafka_errors_total", &[])
        .unwrap_or(0.0)
        < 1.0
    {
        assert!(Instant::now() < deadline, "no Kafka error counted");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, body) = run.get("/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not connected"), "{body}");
    let read = run.metric("slipstream_events_read_total", &[]);
    assert_eq!(read.unwrap_or(0.0), 0.0);
    drop(run);
    let text = std::fs::read_to_string(log).unwrap();
    let _ = std::fs::remove_file(log);
    assert_no_secret("log", &text);
    text
}

#[test]
fn a_wrong_scram_password_is_refused_and_reported() {
    let Some(broker) = Secured::start(Sasl::Gate) else {
        return;
    };
    let log = log_file("wrong-password");
    let config = broker.config("wrong-password", &broker.pki.ca);
    let text = refused(run(&config, "not-the-password", &log), &log);
    assert!(text.contains("SASL authentication error"), "{text}");
    assert!(text.contains("wrong password"), "{text}");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[test]
fn a_real_brokers_scram_refusal_is_reported() {
    let Some(broker) = Secured::start(Sasl::Broker) else {
        return;
    };
    let log = log_file("broker-scram");
    let config = broker.config("broker-scram", &broker.pki.ca);
    let text = refused(run(&config, PASSWORD, &log), &log);
    assert!(text.contains("SASL SCRAM authentication failed"), "{text}");
    assert!(!text.contains("certificate verify failed"), "{text}");
}

#[test]
fn an_untrusted_broker_certificate_is_refused_and_reported() {
    let Some(broker) = Secured::start(Sasl::None) else {
        return;
    };
    let log = log_file("untrusted");
    let config = broker.config("untrusted", &broker.pki.other_ca);
    let text = refused(run(&config, PASSWORD, &log), &log);
    assert!(text.contains("certificate verify failed"), "{text}");
}

#[test]
fn tls_to_a_plaintext_listener_is_refused_and_reported() {
    let Some(broker) = Secured::start(Sasl::None) else {
        return;
    };
    let log = log_file("plaintext");
    // The broker waits for a request that never comes: the client's connection setup
    // times out (30 s by default).
    let config = broker
        .config("plaintext", &broker.pki.ca)
        .replace(&broker.brokers, &broker.tansu.brokers())
        .replace(
            "debug: conf",
            "debug: conf\n    socket.connection.setup.timeout.ms: 2000",
        );
    let text = refused(run(&config, PASSWORD, &log), &log);
    assert!(
        text.contains("Connection setup timed out in state SSL_HANDSHAKE"),
        "{text}"
    );
}
