//! Stage 2's shell: a member of `scale_out.group` on the repartition topic. It applies
//! the partial buckets of the partitions it owns to the engine
//! ([`super::owner::Owner::apply`]), and moves their state with them ([`Changelog`]):
//!
//! - every `checkpoint_interval`, the series changed since the last one go to the
//!   changelog topic (partition = repartition partition, key = series), and once they
//!   are acknowledged the repartition offsets they cover are committed;
//! - on revoke, the same for the partitions given up, then their series are let go;
//! - on assignment, each partition's series are restored (from the local cache and the
//!   changelog's tail, or the whole changelog partition) before its records are
//!   consumed, from the committed offset on. Records read again after a crash are
//!   duplicates by their source range, and are dropped.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::changelog::{Changelog, Scope};
use super::{ScaleError, ScaleStatus};
use crate::config::Config;
use crate::engine::Engine;
use crate::kafka_client::{Revoke, committing_consumer, poll_batch};

const POLL_WAIT: Duration = Duration::from_millis(100);
const MAX_BATCH: usize = 1_024;

pub struct Stage2Context {
    changelog: Changelog,
    repartition: String,
    /// Per owned repartition partition: the offset after the last record applied.
    positions: Mutex<HashMap<i32, i64>>,
    status: Arc<ScaleStatus>,
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
    ) -> Result<Stage2, ScaleError> {
        let kafka = &config.run.kafka;
        let scale = config
            .scale_out
            .as_ref()
            .expect("stage 2 runs with scale_out");
        let changelog = Changelog::new(config, engine, status.clone(), stop, "slipstream-stage2")?;
        let consumer: BaseConsumer<Stage2Context> =
            committing_consumer(kafka, "slipstream-stage2", &scale.group).create_with_context(
                Stage2Context {
                    changelog,
                    repartition: scale.repartition_topic.clone(),
                    positions: Mutex::new(HashMap::new()),
                    status,
                },
            )?;
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
            if let Some(e) = poll_batch(consumer, POLL_WAIT, MAX_BATCH, &mut batch) {
                tracing::warn!("stage 2: consume error: {e}");
            }
            if !batch.is_empty() {
                context.changelog.with(|engine, owner| {
                    let mut positions = context.positions.lock().unwrap_or_else(|e| e.into_inner());
                    for m in batch.drain(..) {
                        if let (Some(key), Some(value)) = (m.key(), m.payload()) {
                            owner.apply(engine, m.partition(), key, value);
                        } else {
                            owner.stats.rejected += 1;
                        }
                        positions.insert(m.partition(), m.offset() + 1);
                    }
                });
            }
            if Instant::now() >= due {
                context.checkpoint(consumer, Scope::Periodic);
                due = Instant::now() + self.checkpoint_every;
            }
        }
        context.checkpoint(consumer, Scope::Final);
        tracing::info!("stage 2 stopped; leaving the group");
    }
}

impl Stage2Context {
    /// Writes the changed series (of `scope`) to the changelog, then commits the
    /// repartition offsets they cover.
    fn checkpoint<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>, scope: Scope<'_>) {
        // The positions before the checkpoint: every record before them is in it.
        let positions: Vec<(i32, i64)> = {
            let positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
            positions
                .iter()
                .filter(|(p, _)| match scope {
                    Scope::Revoked(ps) => ps.contains(p),
                    _ => true,
                })
                .map(|(&p, &o)| (p, o))
                .collect()
        };
        if !self.changelog.checkpoint(scope) || positions.is_empty() {
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
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        crate::kafka_client::rebalance(
            consumer,
            err,
            tpl,
            "stage 2",
            |_| self.changelog.restore(&partitions),
            |_, how| {
                if how == Revoke::Orderly {
                    self.checkpoint(consumer, Scope::Revoked(&partitions));
                }
                self.changelog.release(&partitions);
                let mut positions = self.positions.lock().unwrap_or_else(|e| e.into_inner());
                positions.retain(|p, _| !partitions.contains(p));
            },
        );
        self.status.set_owned(consumer);
    }
}
