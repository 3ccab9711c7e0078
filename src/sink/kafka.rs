//! Reports and alerts → Kafka topics, as JSON records (docs/outputs.md):
//! - SLI snapshots, one record per SLO series every `outputs.kafka.interval`, to
//!   `outputs.kafka.sli_topic`;
//! - alert transitions (firing, resolved), to `alerting.kafka_topic`.
//!
//! Records are keyed by SLO and labels, so that one series' records stay in order on one
//! partition. The producer is idempotent (no duplicates from its own retries) and never
//! blocks the evaluator: librdkafka's queue is bounded, a record that does not fit is
//! dropped and counted, and delivery results are counted by a callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

use crate::alert::Transition;
use crate::config::KafkaSettings;
use crate::decode::timestamp::format_rfc3339;
use crate::kafka_client::client_config;
use crate::report::{Report, SeriesReport};

/// Records librdkafka may hold before `send` refuses more.
const QUEUE_RECORDS: &str = "100000";

#[derive(Debug, Default)]
pub struct KafkaSinkStats {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    /// Refused because the producer's queue was full.
    pub dropped: AtomicU64,
}

/// Counts delivery results into its stats (shared with the dead-letter producer).
pub(crate) struct Counting(pub(crate) Arc<KafkaSinkStats>);

impl ClientContext for Counting {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka_client::log(level, fac, message);
    }
}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let counter = match result {
            Ok(_) => &self.0.delivered,
            Err((e, _)) => {
                tracing::warn!("kafka producer: a record was not delivered: {e}");
                &self.0.failed
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct KafkaSink {
    producer: ThreadedProducer<Counting>,
    sli: Option<(String, i64)>,
    alert_topic: Option<String>,
    last_snapshot_ms: Option<i64>,
    stats: Arc<KafkaSinkStats>,
    key: String,
}

impl KafkaSink {
    /// A producer on the brokers, client properties and secrets of the source.
    pub fn new(
        kafka: &KafkaSettings,
        sli: Option<(String, i64)>,
        alert_topic: Option<String>,
    ) -> Result<KafkaSink, KafkaError> {
        let stats = Arc::new(KafkaSinkStats::default());
        let producer = client_config(kafka, &[])
            .set("client.id", "slipstream-outputs")
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .set("queue.buffering.max.messages", QUEUE_RECORDS)
            .create_with_context(Counting(stats.clone()))?;
        Ok(KafkaSink {
            producer,
            sli,
            alert_topic,
            last_snapshot_ms: None,
            stats,
            key: String::new(),
        })
    }

    pub fn stats(&self) -> Arc<KafkaSinkStats> {
        self.stats.clone()
    }

    /// After an evaluation: every transition at once, every series' snapshot when the
    /// interval has passed.
    pub fn after_evaluation(&mut self, report: &Report, transitions: &[Transition]) {
        let at = format_rfc3339(report.at_ms);
        if let Some(topic) = self.alert_topic.clone() {
            for t in transitions {
                let a = &t.alert;
                let mut value = serde_json::to_value(a).expect("an alert serializes");
                value["at"] = at.clone().into();
                value["transition"] = a.state.as_str().into();
                record_key(&mut self.key, &a.slo, &a.labels);
                self.key.push('|');
                self.key.push_str(a.severity.as_str());
                self.send(&topic, &value);
            }
        }
        let Some((topic, interval_ms)) = self.sli.clone() else {
            return;
        };
        let due = self
            .last_snapshot_ms
            .is_none_or(|last| report.at_ms - last >= interval_ms);
        if !due {
            return;
        }
        self.last_snapshot_ms = Some(report.at_ms);
        for series in &report.slos {
            let mut value = snapshot(series);
            value["at"] = at.clone().into();
            record_key(&mut self.key, &series.name, &series.labels);
            self.send(&topic, &value);
        }
    }

    fn send(&self, topic: &str, value: &serde_json::Value) {
        let payload = serde_json::to_vec(value).expect("JSON serializes");
        let record = BaseRecord::to(topic).key(&self.key).payload(&payload);
        if let Err((e, _)) = self.producer.send(record) {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::debug!("kafka output: record to {topic} dropped: {e}");
        }
    }

    /// Waits up to `timeout` for queued records, at shutdown.
    pub fn flush(&self, timeout: std::time::Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!("kafka output: not every record was delivered at shutdown: {e}");
        }
    }
}

fn snapshot(series: &SeriesReport) -> serde_json::Value {
    serde_json::to_value(series).expect("a series report serializes")
}

/// `slo|k=v,k=v`: the record key of a series.
fn record_key(out: &mut String, slo: &str, labels: &[(String, String)]) {
    out.clear();
    out.push_str(slo);
    out.push('|');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}
