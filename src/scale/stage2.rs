//! Stage 2's shell: a member of `scale_out.group` on the repartition topic. It applies
//! the partial buckets of the partitions it owns to the engine ([`Owner::apply`]), and
//! moves their state with them:
//!
//! - every `checkpoint_interval`, the series changed since the last one go to the
//!   changelog topic (partition = repartition partition, key = series), and once they
//!   are acknowledged the repartition offsets they cover are committed;
//! - on revoke, the same for the partitions given up, then their series are let go;
//! - on assignment, each partition's changelog is read to its end and its series are
//!   restored before its records are consumed, from the committed offset on. Records
//!   read again after a crash are duplicates by their source range, and are dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::ScaleStatus;
use super::owner::Owner;
use super::topics::BatchProducer;
use crate::config::{Config, KafkaSettings};
use crate::engine::Engine;
use crate::kafka_client::client_config;

const POLL_WAIT: Duration = Duration::from_millis(100);
const MAX_BATCH: usize = 1_024;
/// How long reading one assignment's changelog may take.
const RESTORE_WAIT: Duration = Duration::from_secs(60);

pub struct Stage2Context {
    engine: Arc<parking_lot::Mutex<Engine>>,
    owner: Mutex<Owner>,
    producer: BatchProducer,
    kafka: KafkaSettings,
    repartition: String,
    changelog: String,
    /// Per owned repartition partition: the offset after the last record applied.
    positions: Mutex<HashMap<i32, i64>>,
    status: Arc<ScaleStatus>,
    stop: Arc<AtomicBool>,
}

pub struct Stage2 {
    consumer: BaseConsumer<Stage2Context>,
    checkpoint_every: Duration,
}

impl Stage2 {
    pub fn connect(
        config: &Config,
        engine: Arc<parking_lot::Mutex<Engine>>,
        status: Arc<ScaleStatus>,
        stop: Arc<AtomicBool>,
    ) -> Result<Stage2, KafkaError> {
        let kafka = &config.run.kafka;
        let scale = config
            .scale_out
            .as_ref()
            .expect("stage 2 runs with scale_out");
        let owner = Owner::new(&engine.lock(), scale.partitions);
        let consumer: BaseConsumer<Stage2Context> = client_config(
            kafka,
            &[
                ("client.id", "slipstream-stage2"),
                ("auto.offset.reset", "earliest"),
            ],
        )
        .set("group.id", &scale.group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .create_with_context(Stage2Context {
            engine,
            owner: Mutex::new(owner),
            producer: BatchProducer::new(kafka, "slipstream-stage2")?,
            kafka: kafka.clone(),
            repartition: scale.repartition_topic.clone(),
            changelog: scale.changelog_topic.clone(),
            positions: Mutex::new(HashMap::new()),
            status,
            stop,
        })?;
        consumer.subscribe(&[&scale.repartition_topic])?;
        Ok(Stage2 {
            consumer,
            checkpoint_every: Duration::from_millis(scale.checkpoint_interval_ms as u64),
        })
    }

    /// Applies records until `stop`, then checkpoints what changed and leaves.
    pub fn run(self, stop: &AtomicBool) {
        let consumer = &self.consumer;
        let context = consumer.context();
        let mut due = Instant::now() + self.checkpoint_every;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while !stop.load(Ordering::Relaxed) {
            let mut wait = POLL_WAIT;
            while batch.len() < MAX_BATCH {
                match consumer.poll(wait) {
                    Some(Ok(m)) => batch.push(m),
                    Some(Err(e)) => {
                        tracing::warn!("stage 2: consume error: {e}");
                        break;
                    }
                    None => break,
                }
                wait = Duration::ZERO;
            }
            if !batch.is_empty() {
                let mut engine = context.engine.lock();
                let mut owner = context.lock_owner();
                let mut positions = context.positions.lock().unwrap_or_else(|e| e.into_inner());
                for m in batch.drain(..) {
                    if let (Some(key), Some(value)) = (m.key(), m.payload()) {
                        owner.apply(&mut engine, key, value);
                    } else {
                        owner.stats.rejected += 1;
                    }
                    positions.insert(m.partition(), m.offset() + 1);
                }
                context.status.set_applied(&owner.stats);
            }
            if Instant::now() >= due {
                context.checkpoint(consumer, None);
                due = Instant::now() + self.checkpoint_every;
            }
        }
        context.checkpoint(consumer, None);
        tracing::info!("stage 2 stopped; leaving the group");
    }
}

impl Stage2Context {
    fn lock_owner(&self) -> std::sync::MutexGuard<'_, Owner> {
        self.owner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the changed series (of `partitions`, or all) to the changelog, then
    /// commits the repartition offsets they cover.
    fn checkpoint<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        partitions: Option<&[i32]>,
    ) {
        let (records, positions) = {
            let engine = self.engine.lock();
            let mut owner = self.lock_owner();
            let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
            let positions: Vec<(i32, i64)> = positions
                .iter()
                .filter(|(p, _)| partitions.is_none_or(|ps| ps.contains(p)))
                .map(|(&p, &o)| (p, o))
                .collect();
            (owner.checkpoint(&engine, partitions), positions)
        };
        if !records.is_empty() {
            if !self.producer.deliver(&self.changelog, &records, &self.stop) {
                tracing::warn!(
                    "stopping with changelog records not delivered; offsets stay uncommitted"
                );
                return;
            }
            self.status
                .changelog_written
                .fetch_add(records.len() as u64, Ordering::Relaxed);
        }
        if positions.is_empty() {
            return;
        }
        let mut list = TopicPartitionList::new();
        for (p, offset) in positions {
            let _ = list.add_partition_offset(&self.repartition, p, Offset::Offset(offset));
        }
        if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
            tracing::warn!("stage 2: cannot commit repartition offsets: {e}");
        }
    }

    /// Reads the changelog of `partitions` to its end and restores their series.
    fn restore(&self, partitions: &[i32]) {
        let started = Instant::now();
        let latest = match read_changelog(&self.kafka, &self.changelog, partitions) {
            Ok(latest) => latest,
            Err(e) => {
                tracing::error!(
                    "stage 2: cannot read the changelog of partitions {partitions:?}: {e}; \
                     their series start from the repartition topic's retained records"
                );
                return;
            }
        };
        let mut engine = self.engine.lock();
        let mut owner = self.lock_owner();
        let mut restored = 0;
        for (key, value) in &latest {
            match owner.restore(&mut engine, key, value) {
                Ok(()) => restored += 1,
                Err(e) => tracing::warn!("stage 2: a changelog record not restored: {e}"),
            }
        }
        self.status
            .changelog_restored
            .fetch_add(restored, Ordering::Relaxed);
        tracing::info!(
            "stage 2: restored {restored} series of partitions {partitions:?} in {:.2}s",
            started.elapsed().as_secs_f64()
        );
    }

    fn set_owned(&self, consumer: &BaseConsumer<Self>) {
        let mut owned: Vec<i32> = consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        owned.sort_unstable();
        *self.status.owned.lock().unwrap_or_else(|e| e.into_inner()) = owned;
    }
}

/// The newest value of every key of the changelog's `partitions`, read from the start
/// to the end they had when reading began.
fn read_changelog(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: &[i32],
) -> Result<HashMap<Vec<u8>, Vec<u8>>, KafkaError> {
    // librdkafka wants a group for any consumer; this one never joins or commits.
    let reader: BaseConsumer = client_config(kafka, &[("client.id", "slipstream-restore")])
        .set("group.id", format!("{}-restore", kafka.group))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()?;
    let mut ends = HashMap::new();
    let mut list = TopicPartitionList::new();
    for &p in partitions {
        let (lo, hi) = reader.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        if hi > lo {
            ends.insert(p, hi);
            list.add_partition_offset(topic, p, Offset::Offset(lo))?;
        }
    }
    let mut latest = HashMap::new();
    if ends.is_empty() {
        return Ok(latest);
    }
    reader.assign(&list)?;
    let deadline = Instant::now() + RESTORE_WAIT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(KafkaError::Canceled);
        }
        let Some(m) = reader.poll(POLL_WAIT) else {
            continue;
        };
        let m = m?;
        if let Some(key) = m.key() {
            match m.payload() {
                Some(value) => latest.insert(key.to_vec(), value.to_vec()),
                None => latest.remove(key),
            };
        }
        if ends
            .get(&m.partition())
            .is_some_and(|&hi| m.offset() + 1 >= hi)
        {
            ends.remove(&m.partition());
        }
    }
    Ok(latest)
}

impl ClientContext for Stage2Context {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka_client::log(level, fac, message);
    }
}

impl ConsumerContext for Stage2Context {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                self.restore(&partitions);
                tracing::info!("stage 2: partitions assigned: {partitions:?}");
                if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.checkpoint(consumer, Some(&partitions));
                {
                    let mut engine = self.engine.lock();
                    let mut owner = self.lock_owner();
                    let gone = owner.release(&mut engine, &partitions);
                    tracing::info!(
                        "stage 2: partitions revoked: {partitions:?} ({gone} series let go)"
                    );
                }
                let mut positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
                positions.retain(|p, _| !partitions.contains(p));
                drop(positions);
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!("stage 2 rebalance failed: {other:?}");
                consumer.unassign()
            }
        };
        if let Err(e) = result {
            tracing::error!("stage 2: cannot apply the new assignment: {e}");
        }
        self.set_owned(consumer);
    }
}
