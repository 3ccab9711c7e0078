//! The Kafka plumbing stage 1 and stage 2 share: creating the internal topics, and a
//! producer that hands back only once every record of a batch is acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use super::preagg::Produced;
use crate::config::KafkaSettings;
use crate::config::scale_out::ScaleOutSettings;
use crate::kafka_client::client_config;

/// How long one attempt to deliver a batch may take before it is sent again.
const DELIVERY_WAIT: Duration = Duration::from_secs(30);

/// Creates the repartition, changelog and instances topics where missing: the first
/// two with `scale_out.partitions` partitions (the changelog compacted), the last with
/// one, compacted.
pub async fn create(kafka: &KafkaSettings, scale: &ScaleOutSettings) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka, &[]).create()?;
    let compact = [("cleanup.policy", "compact")];
    let topics = [
        (&scale.repartition_topic, scale.partitions, &[][..]),
        (&scale.changelog_topic, scale.partitions, &compact[..]),
        (&scale.instances_topic, 1, &compact[..]),
    ];
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions, config)| {
            config.iter().fold(
                NewTopic::new(name, *partitions, TopicReplication::Fixed(-1)),
                |t, (k, v)| t.set(k, v),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(name) => tracing::info!("created topic {name}"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::AdminOp(code)).inspect_err(|_| {
                    tracing::error!("cannot create topic {name}: {code}");
                });
            }
        }
    }
    Ok(())
}

/// Counts deliveries, so that a batch is known to be acknowledged in full.
#[derive(Default)]
pub struct Deliveries {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
}

pub struct Counting(Arc<Deliveries>);

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
                tracing::warn!("internal topic: a record was not delivered: {e}");
                &self.0.failed
            }
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// An idempotent producer of internal records.
pub struct BatchProducer {
    producer: BaseProducer<Counting>,
    deliveries: Arc<Deliveries>,
    /// Bytes of keys and values delivered.
    pub bytes: AtomicU64,
}

impl BatchProducer {
    pub fn new(kafka: &KafkaSettings, client_id: &str) -> Result<BatchProducer, KafkaError> {
        let deliveries = Arc::new(Deliveries::default());
        let producer = client_config(kafka, &[("linger.ms", "5"), ("compression.type", "lz4")])
            .set("client.id", client_id)
            .set("enable.idempotence", "true")
            .set("message.max.bytes", "10000000")
            .create_with_context(Counting(deliveries.clone()))?;
        Ok(BatchProducer {
            producer,
            deliveries,
            bytes: AtomicU64::new(0),
        })
    }

    /// Produces `records` to `topic` and waits until the broker has acknowledged every
    /// one. A batch with a failed record is sent again whole (its consumers drop what
    /// they already have: records are idempotent), until it is delivered or `stop` is
    /// set; `false` then.
    pub fn deliver(&self, topic: &str, records: &[Produced], stop: &AtomicBool) -> bool {
        loop {
            let failed_before = self.deliveries.failed.load(Ordering::Relaxed);
            for r in records {
                let mut record = BaseRecord::to(topic)
                    .partition(r.partition)
                    .key(&r.key)
                    .payload(&r.value);
                loop {
                    match self.producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            record = back;
                            self.producer.poll(Duration::from_millis(10));
                        }
                        Err((e, _)) => {
                            tracing::warn!("cannot produce to {topic}: {e}");
                            self.deliveries.failed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
            let flushed = self.producer.flush(DELIVERY_WAIT);
            let failed = self.deliveries.failed.load(Ordering::Relaxed) > failed_before;
            if flushed.is_ok() && !failed {
                let bytes: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
                self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                return true;
            }
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            tracing::warn!("{topic}: a batch was not delivered in full; sending it again");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Produces one record (a heartbeat, a tombstone) without waiting.
    pub fn send_one(&self, topic: &str, key: &[u8], value: Option<&[u8]>) {
        let mut record = BaseRecord::to(topic).partition(0).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Err((e, _)) = self.producer.send(record) {
            tracing::warn!("cannot produce to {topic}: {e}");
        }
        self.producer.poll(Duration::ZERO);
    }

    pub fn flush(&self, wait: Duration) {
        let _ = self.producer.flush(wait);
    }
}
