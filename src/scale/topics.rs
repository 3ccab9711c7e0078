//! The Kafka plumbing stage 1 and stage 2 share: creating the internal topics, and a
//! producer that hands back only once every record of a batch is acknowledged.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

use super::ScaleError;
use super::preagg::Produced;
use crate::config::KafkaSettings;
use crate::config::scale_out::ScaleOutSettings;
use crate::kafka_client::client_config;

/// How long one attempt to deliver a batch may take before it is sent again.
const DELIVERY_WAIT: Duration = Duration::from_secs(30);

/// Creates the internal topics where missing: the repartition and changelog topics
/// with `scale_out.partitions` partitions (the changelog compacted), the instances
/// topic with one, compacted. With `input_keyed`, no repartition topic, and the
/// changelog has the input topic's partitions, which an existing one must have too.
pub async fn create(kafka: &KafkaSettings, scale: &ScaleOutSettings) -> Result<(), ScaleError> {
    let admin: AdminClient<DefaultClientContext> = client_config(kafka, &[]).create()?;
    let compact = [("cleanup.policy", "compact")];
    let input = &kafka.topics[0];
    let changelog_partitions = if scale.input_keyed {
        let want =
            partitions_of(&admin, input)?.ok_or_else(|| ScaleError::NoInput(input.clone()))?;
        i32::try_from(want).unwrap_or(i32::MAX)
    } else {
        scale.partitions
    };
    let mut topics = vec![
        (&scale.changelog_topic, changelog_partitions, &compact[..]),
        (&scale.instances_topic, 1, &compact[..]),
    ];
    if !scale.input_keyed {
        topics.push((&scale.repartition_topic, scale.partitions, &[][..]));
    }
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
                tracing::error!("cannot create topic {name}: {code}");
                return Err(KafkaError::AdminOp(code).into());
            }
        }
    }
    if scale.input_keyed {
        let has = partitions_of(&admin, &scale.changelog_topic)?.unwrap_or(0);
        let want = usize::try_from(changelog_partitions).unwrap_or(0);
        if has != want {
            return Err(ScaleError::ChangelogPartitions {
                topic: scale.changelog_topic.clone(),
                has,
                input: input.clone(),
                want,
            });
        }
    }
    Ok(())
}

/// The partitions of `topic`, `None` when the cluster does not know it.
fn partitions_of(
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
) -> Result<Option<usize>, KafkaError> {
    let metadata = admin
        .inner()
        .fetch_metadata(Some(topic), Duration::from_secs(10))?;
    Ok(metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
        .filter(|&n| n > 0))
}

/// What the delivery reports of a [`BatchProducer`] said.
#[derive(Default)]
struct Acks {
    failed: AtomicU64,
    /// Per partition written to: the offset after the newest record acknowledged.
    ends: Mutex<Vec<(i32, i64)>>,
}

struct Acked(std::sync::Arc<Acks>);

impl ClientContext for Acked {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka_client::log(level, fac, message);
    }
}

impl ProducerContext for Acked {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                let (partition, end) = (m.partition(), m.offset() + 1);
                let mut ends = self.0.ends.lock().unwrap_or_else(|e| e.into_inner());
                match ends.iter_mut().find(|(p, _)| *p == partition) {
                    Some((_, e)) => *e = (*e).max(end),
                    None => ends.push((partition, end)),
                }
            }
            Err((e, _)) => {
                tracing::warn!("kafka producer: a record was not delivered: {e}");
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// An idempotent producer of internal records, to one topic.
pub struct BatchProducer {
    producer: BaseProducer<Acked>,
    acks: std::sync::Arc<Acks>,
}

impl BatchProducer {
    pub fn new(kafka: &KafkaSettings, client_id: &str) -> Result<BatchProducer, KafkaError> {
        let acks = std::sync::Arc::new(Acks::default());
        let producer = client_config(kafka, &[("linger.ms", "5"), ("compression.type", "lz4")])
            .set("client.id", client_id)
            .set("enable.idempotence", "true")
            .set("message.max.bytes", "10000000")
            .create_with_context(Acked(acks.clone()))?;
        Ok(BatchProducer { producer, acks })
    }

    /// The offset after the newest record acknowledged in `partition` (of the one topic
    /// this producer writes), if any was.
    pub fn acked_end(&self, partition: i32) -> Option<i64> {
        let ends = self.acks.ends.lock().unwrap_or_else(|e| e.into_inner());
        ends.iter().find(|(p, _)| *p == partition).map(|(_, e)| *e)
    }

    /// Produces `records` to `topic` and waits until the broker has acknowledged every
    /// one. A batch with a failed record is sent again whole (its consumers drop what
    /// they already have: records are idempotent), until it is delivered or `stop` is
    /// set; `false` then.
    pub fn deliver(&self, topic: &str, records: &[Produced], stop: &AtomicBool) -> bool {
        loop {
            let failed_before = self.acks.failed.load(Ordering::Relaxed);
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
                            self.acks.failed.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
            let flushed = self.producer.flush(DELIVERY_WAIT);
            let failed = self.acks.failed.load(Ordering::Relaxed) > failed_before;
            if flushed.is_ok() && !failed {
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
