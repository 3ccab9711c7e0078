//! Invalid messages → the dead-letter topic (`dead_letter.topic`), unchanged: the same
//! key and payload, with where they came from and why they were refused in headers:
//!
//! | header | value |
//! |---|---|
//! | `slipstream.reason` | the invalid reason, as in `slipstream_events_invalid_total` |
//! | `slipstream.source.topic` | the topic it was read from |
//! | `slipstream.source.partition` | its partition, in decimal |
//! | `slipstream.source.offset` | its offset, in decimal |
//!
//! The producer is idempotent and its queue bounded; it is fed per batch by the ingest
//! thread, after the engine's lock is released. With checkpoints on, it is flushed before
//! offsets are committed, so that a dead letter is delivered before its source offset
//! counts as done (a crash may deliver it twice, never lose it). A record that does not
//! fit the queue is dropped and counted (`slipstream_dead_letters_dropped_total`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use super::kafka::{Counting, KafkaSinkStats};
use crate::config::KafkaSettings;
use crate::decode::Invalid;
use crate::kafka_client::client_config;

/// How long a commit waits for the dead letters before it.
pub const FLUSH_WAIT: Duration = Duration::from_secs(10);

/// Dead letters librdkafka may hold before `send` refuses more.
const QUEUE_RECORDS: &str = "100000";

pub struct DeadLetterSink {
    producer: ThreadedProducer<Counting>,
    topic: String,
    stats: Arc<KafkaSinkStats>,
}

impl DeadLetterSink {
    /// A producer on the brokers (and client properties) of the source.
    pub fn new(kafka: &KafkaSettings, topic: String) -> Result<DeadLetterSink, KafkaError> {
        let stats = Arc::new(KafkaSinkStats::default());
        let producer = client_config(kafka, &[("client.id", "slipstream-dead-letters")])
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", QUEUE_RECORDS)
            .create_with_context(Counting(stats.clone()))?;
        Ok(DeadLetterSink {
            producer,
            topic,
            stats,
        })
    }

    pub fn stats(&self) -> Arc<KafkaSinkStats> {
        self.stats.clone()
    }

    /// Produces the messages of `batch` that the engine refused (`rejected`: index in
    /// the batch, reason).
    pub fn send(&self, batch: &[BorrowedMessage<'_>], rejected: &[(u32, Invalid)]) {
        for &(i, reason) in rejected {
            let Some(m) = batch.get(i as usize) else {
                continue;
            };
            let (partition, offset) = (m.partition().to_string(), m.offset().to_string());
            let headers = OwnedHeaders::new_with_capacity(4)
                .insert(header("slipstream.reason", reason.as_str()))
                .insert(header("slipstream.source.topic", m.topic()))
                .insert(header("slipstream.source.partition", &partition))
                .insert(header("slipstream.source.offset", &offset));
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
            if let Some(key) = m.key() {
                record = record.key(key);
            }
            if let Some(payload) = m.payload() {
                record = record.payload(payload);
            }
            if let Some(ts) = m.timestamp().to_millis() {
                record = record.timestamp(ts);
            }
            if let Err((e, _)) = self.producer.send(record) {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(
                    "dead letter from {}[{partition}]@{offset} dropped: {e}",
                    m.topic()
                );
            }
        }
    }

    /// Waits up to `timeout` until every dead letter sent so far is delivered (or failed).
    pub fn flush(&self, timeout: Duration) -> bool {
        match self.producer.flush(timeout) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!("dead letters not all delivered within {timeout:?}: {e}");
                false
            }
        }
    }
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
