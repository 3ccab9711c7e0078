//! The one place a librdkafka client config is made from the `kafka` section, for the
//! consumer ([`crate::source::kafka`]) and every producer ([`crate::sink::kafka`]): each
//! client gets the same brokers, `kafka.properties` and secrets from
//! `kafka.properties_env`, so that TLS and SASL settings apply to all of them alike; and
//! [`log`], which every client context uses for librdkafka's messages.
//!
//! librdkafka is built with OpenSSL (vendored: compiled from source, nothing to install),
//! so `security.protocol` `SSL` and `SASL_SSL`, and the SASL mechanisms `PLAIN`,
//! `SCRAM-SHA-256` and `SCRAM-SHA-512`, work. Its own debug dump of the config
//! (`debug: conf`) prints `[redacted]` for `sasl.password` and the other sensitive
//! properties, and rdkafka's `Debug` of a config leaves them out.

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::topic_partition_list::TopicPartitionList;
use rdkafka::types::RDKafkaRespErr;

use crate::config::KafkaSettings;

/// A client config: `defaults` first (the client's own choices, which `kafka.properties`
/// may override), then `kafka.properties`, `kafka.properties_env` and `bootstrap.servers`.
/// Set what the client must own after this.
///
/// A `properties_env` value not read yet ([`crate::config::RunSettings::read_env`]) is
/// left out; [`crate::run::start`] refuses to start with one.
pub fn client_config(settings: &KafkaSettings, defaults: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    // rdkafka derives librdkafka's log level from the `log` crate, which slipstream does
    // not use (it logs with `tracing`), and so would drop everything below errors: a
    // refused TLS handshake or a timed-out connection would leave no line. librdkafka
    // emits debug lines only for the contexts `debug` names; RUST_LOG filters the rest.
    config.set_log_level(RDKafkaLogLevel::Debug);
    for (key, value) in defaults {
        config.set(*key, *value);
    }
    for (key, value) in &settings.properties {
        config.set(key, value);
    }
    for (key, from) in &settings.properties_env {
        if let Some(secret) = &from.value {
            config.set(key, secret.expose());
        }
    }
    config.set("bootstrap.servers", &settings.brokers);
    config
}

/// Logs a librdkafka message with `tracing`, under the target `librdkafka`: what every
/// client context's `ClientContext::log` does (the default goes to the `log` crate,
/// which slipstream does not use, so a producer's TLS or SASL failure would be lost).
pub fn log(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac}: {message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac}: {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", "{fac}: {message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac}: {message}"),
    }
}

/// How partitions are being given up, for `on_revoke`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoke {
    /// A rebalance or a shutdown: this member still owns them, and may make its progress
    /// durable and commit before letting go.
    Orderly,
    /// The group session timed out (a broker that hangs, a partition of the network):
    /// the coordinator has already fenced this member, so a commit is refused, or waits
    /// on a coordinator that does not answer, and another member may own the partitions
    /// already. Nothing may be committed or written on their behalf; the next owner
    /// starts from what was made durable last.
    Lost,
}

/// A consumer's whole rebalance, for the contexts that take it over: `on_assign` runs
/// before the partitions are taken (it may set their start offsets), `on_revoke` before
/// they are given up; then the assignment is applied, incrementally under the
/// cooperative protocol. `who` names the consumer in the logs.
pub fn rebalance<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    err: RDKafkaRespErr,
    tpl: &mut TopicPartitionList,
    who: &str,
    on_assign: impl FnOnce(&mut TopicPartitionList),
    on_revoke: impl FnOnce(&TopicPartitionList, Revoke),
) {
    let cooperative = matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    let result = match err {
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
            on_assign(tpl);
            tracing::info!("{who}: partitions assigned: {}", describe(tpl));
            if cooperative {
                consumer.incremental_assign(tpl)
            } else {
                consumer.assign(tpl)
            }
        }
        RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
            let how = if consumer.assignment_lost() {
                tracing::warn!(
                    "{who}: assignment lost (the group session timed out): {} given up \
                     without a commit; the next owner starts from the last committed offsets",
                    describe(tpl)
                );
                Revoke::Lost
            } else {
                Revoke::Orderly
            };
            on_revoke(tpl, how);
            tracing::info!("{who}: partitions revoked: {}", describe(tpl));
            if cooperative {
                consumer.incremental_unassign(tpl)
            } else {
                consumer.unassign()
            }
        }
        other => {
            tracing::warn!(
                "{who}: rebalance failed: {}",
                rdkafka::error::RDKafkaErrorCode::from(other)
            );
            consumer.unassign()
        }
    };
    if let Err(e) = result {
        tracing::error!("{who}: cannot apply the new partition assignment: {e}");
    }
}

/// librdkafka's statistics, every second: an input consumer's context turns them into
/// its [`crate::source::SourceStatus`] (connection, lag), which `/readyz` reads.
pub const STATISTICS: (&str, &str) = ("statistics.interval.ms", "1000");

/// A consumer in `group` whose offsets are committed by hand, once what they cover is
/// durable; from the earliest offset where none is committed.
pub fn committing_consumer(kafka: &KafkaSettings, client_id: &str, group: &str) -> ClientConfig {
    committing(kafka, &[("client.id", client_id)], group)
}

/// A [`committing_consumer`] of the input topics, in `kafka.group`, with [`STATISTICS`].
pub fn input_consumer(kafka: &KafkaSettings, client_id: &str) -> ClientConfig {
    committing(kafka, &[("client.id", client_id), STATISTICS], &kafka.group)
}

fn committing(kafka: &KafkaSettings, defaults: &[(&str, &str)], group: &str) -> ClientConfig {
    let mut defaults = defaults.to_vec();
    defaults.push(("auto.offset.reset", "earliest"));
    let mut config = client_config(kafka, &defaults);
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    config
}

/// Fills `batch` with up to `max` messages, waiting at most `wait` for the first and
/// not at all for the rest; stops at a consume error, which it returns.
pub fn poll_batch<'c, C: ConsumerContext>(
    consumer: &'c BaseConsumer<C>,
    mut wait: std::time::Duration,
    max: usize,
    batch: &mut Vec<rdkafka::message::BorrowedMessage<'c>>,
) -> Option<rdkafka::error::KafkaError> {
    while batch.len() < max {
        match consumer.poll(wait) {
            Some(Ok(m)) => batch.push(m),
            Some(Err(e)) => return Some(e),
            None => return None,
        }
        wait = std::time::Duration::ZERO;
    }
    None
}

/// `topic[partition], …` of a partition list, or `none`.
pub fn describe(partitions: &TopicPartitionList) -> String {
    let parts: Vec<String> = partitions
        .elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::consumer::BaseConsumer;

    use super::*;
    use crate::config::{FromEnv, Secret};

    fn settings() -> KafkaSettings {
        KafkaSettings {
            brokers: "127.0.0.1:9".into(),
            topics: vec!["t".into()],
            group: "g".into(),
            properties: vec![
                ("client.id".into(), "mine".into()),
                ("security.protocol".into(), "SASL_SSL".into()),
                ("sasl.mechanisms".into(), "SCRAM-SHA-512".into()),
                ("sasl.username".into(), "slipstream".into()),
            ],
            properties_env: vec![(
                "sasl.password".into(),
                FromEnv {
                    var: "KAFKA_SASL_PASSWORD".into(),
                    value: Some(Secret::new("hunter2".into())),
                },
            )],
        }
    }

    #[test]
    fn properties_override_defaults_and_secrets_are_set() {
        let config = client_config(&settings(), &[("client.id", "slipstream"), ("a", "b")]);
        assert_eq!(config.get("client.id"), Some("mine"));
        assert_eq!(config.get("a"), Some("b"));
        assert_eq!(config.get("sasl.password"), Some("hunter2"));
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9"));
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    /// The build really has TLS and SCRAM: librdkafka says so, and creates a `SASL_SSL` +
    /// `SCRAM-SHA-512` client (a build without them refuses it at creation).
    #[test]
    fn this_build_has_tls_and_scram() {
        let native = ClientConfig::new()
            .create_native_config()
            .expect("a native config");
        let features = native.get("builtin.features").expect("builtin.features");
        for feature in ["ssl", "sasl_plain", "sasl_scram", "gzip"] {
            assert!(
                features.split(',').any(|f| f == feature),
                "{feature} not in {features}"
            );
        }
        let consumer = client_config(&settings(), &[])
            .set("group.id", "g")
            .create::<BaseConsumer>();
        assert!(consumer.is_ok(), "{:?}", consumer.err());
    }
}
