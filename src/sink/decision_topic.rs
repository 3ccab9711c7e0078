//! The decision log's entries to `decision_log.kafka_topic`, as JSON records keyed by SLO
//! name (one SLO's decisions stay in order on one partition), by an idempotent producer
//! on the brokers and client settings of `kafka`. Decisions are few, so each batch is
//! flushed at once: delivered, or a logged failure, before the reload that made it ends.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use super::kafka::{Counting, KafkaSinkStats};
use crate::config::KafkaSettings;
use crate::decisions::Entry;
use crate::kafka_client::client_config;

/// How long a batch of entries may take to be delivered.
const FLUSH: Duration = Duration::from_secs(10);

pub struct DecisionTopic {
    producer: ThreadedProducer<Counting>,
    topic: String,
}

impl DecisionTopic {
    pub fn new(kafka: &KafkaSettings, topic: String) -> Result<DecisionTopic, KafkaError> {
        let producer = client_config(kafka, &[])
            .set("client.id", "slipstream-decisions")
            .set("enable.idempotence", "true")
            .create_with_context(Counting(Arc::new(KafkaSinkStats::default())))?;
        Ok(DecisionTopic { producer, topic })
    }

    /// Produces `entries` and waits for their delivery, at most [`FLUSH`].
    pub fn send(&self, entries: &[Entry]) {
        for entry in entries {
            let payload = serde_json::to_vec(entry).expect("an entry serializes");
            let record = BaseRecord::to(&self.topic)
                .key(entry.slo.as_str())
                .payload(&payload);
            if let Err((e, _)) = self.producer.send(record) {
                tracing::warn!(
                    "decision {} of SLO `{}` not produced to {}: {e}",
                    entry.id,
                    entry.slo,
                    self.topic
                );
            }
        }
        if let Err(e) = self.producer.flush(FLUSH) {
            tracing::warn!(
                "decisions not all delivered to {} within {FLUSH:?}: {e}",
                self.topic
            );
        }
    }
}
