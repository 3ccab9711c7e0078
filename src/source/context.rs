//! What runs inside librdkafka's callbacks on the consumer thread: logs, statistics,
//! errors, and rebalances, where offsets are made durable before partitions are given up
//! and set from the restored state when partitions are taken.
//!
//! Offsets, with checkpoints (`state`): a checkpoint covers the engine's state and the
//! positions it has counted to; offsets are committed only once such a checkpoint is
//! durable (after the dead letters it implies are delivered), and an assigned partition
//! starts at the engine's position when it has one, not at the group's committed offset.
//! Without checkpoints: at-least-once, from offsets stored after their batch is counted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::SourceStatus;
use crate::engine::{Engine, SourcePosition};
use crate::kafka_client::Revoke;
use crate::sink::dead_letter::DeadLetterSink;
use crate::state::Checkpointer;

/// How long a revoke waits for polled batches to be counted before it commits.
const REVOKE_WAIT: Duration = Duration::from_secs(10);

/// Callbacks librdkafka runs on the consumer thread, inside `poll`, and what the ingest
/// and checkpoint threads share with them.
pub struct SourceContext {
    pub(super) status: Arc<SourceStatus>,
    pub(super) in_flight: InFlight,
    pub(super) engine: Arc<parking_lot::Mutex<Engine>>,
    pub(super) checkpointer: Option<Arc<Checkpointer>>,
    pub(super) dead_letter: Option<DeadLetterSink>,
}

/// Batches handed to the ingest thread and not yet counted.
#[derive(Default)]
pub(super) struct InFlight {
    count: Mutex<usize>,
    drained: Condvar,
}

impl InFlight {
    pub(super) fn started(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    pub(super) fn finished(&self) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.drained.notify_all();
        }
    }

    /// Waits until every batch handed over is counted, at most `limit`.
    fn wait_drained(&self, limit: Duration) -> bool {
        let count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let (count, _) = self
            .drained
            .wait_timeout_while(count, limit, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *count == 0
    }
}

impl ClientContext for SourceContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka_client::log(level, fac, message);
    }

    fn stats(&self, stats: Statistics) {
        self.status.observe(&stats);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.status.observe_error(&error, reason);
    }
}

impl ConsumerContext for SourceContext {
    /// The whole rebalance, not only the hooks around it: on assignment the offsets of
    /// the partition list are set before librdkafka starts fetching.
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        crate::kafka_client::rebalance(
            consumer,
            err,
            tpl,
            "source",
            |tpl| self.start_from_state(tpl),
            |_, how| {
                if how == Revoke::Lost {
                    // Fenced: a commit would be refused. Should the partitions come
                    // back, they start from the engine's positions, which the ingest
                    // thread keeps counting to.
                    return;
                }
                // The next owner starts from the committed offsets: let the batches
                // already polled be counted, then make them durable and commit.
                if !self.in_flight.wait_drained(REVOKE_WAIT) {
                    tracing::warn!(
                        "batches still uncounted at revoke; their events may be read twice"
                    );
                }
                make_durable(consumer, CommitMode::Sync, "before giving up partitions");
            },
        );
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.status
            .assigned_partitions
            .store(assigned, Ordering::Relaxed);
    }
}

impl SourceContext {
    /// Sets each assigned partition that the engine's state covers to start right after
    /// it: the state, not the group's committed offset, says what is counted.
    fn start_from_state(&self, tpl: &mut TopicPartitionList) {
        let engine = self.engine.lock();
        let starts: Vec<SourcePosition> = tpl
            .elements()
            .iter()
            .filter_map(|e| {
                let mut p = engine.positions().iter();
                p.find(|p| p.partition == e.partition() && p.topic == e.topic())
                    .cloned()
            })
            .collect();
        drop(engine);
        for p in starts {
            let offset = Offset::Offset(p.next_offset);
            match tpl.set_partition_offset(&p.topic, p.partition, offset) {
                Ok(()) => tracing::info!(
                    "{}[{}] resumes at offset {} from the checkpointed state",
                    p.topic,
                    p.partition,
                    p.next_offset
                ),
                Err(e) => tracing::warn!("cannot resume {}[{}]: {e}", p.topic, p.partition),
            }
        }
    }
}

/// Commits what is counted, durably: with checkpoints, takes one (when anything is new),
/// waits for the dead letters, then commits the positions it covers on the partitions
/// still assigned; without, commits the stored offsets.
pub(super) fn make_durable(consumer: &BaseConsumer<SourceContext>, mode: CommitMode, when: &str) {
    let context = consumer.context();
    let Some(checkpointer) = &context.checkpointer else {
        match consumer.commit_consumer_state(mode) {
            Ok(()) => tracing::debug!("offsets committed {when}"),
            Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!("cannot commit offsets {when}: {e}"),
        }
        return;
    };
    let positions = match checkpointer.checkpoint() {
        Ok(positions) => positions,
        Err(e) => {
            tracing::error!(
                "checkpoint failed {when}: {e}; offsets stay uncommitted until one succeeds"
            );
            return;
        }
    };
    if let Some(dead_letter) = &context.dead_letter {
        dead_letter.flush(crate::sink::dead_letter::FLUSH_WAIT);
    }
    let assigned = consumer.assignment().unwrap_or_default();
    let mut list = TopicPartitionList::new();
    for p in &positions {
        if assigned.find_partition(&p.topic, p.partition).is_some() {
            let offset = Offset::Offset(p.next_offset);
            if let Err(e) = list.add_partition_offset(&p.topic, p.partition, offset) {
                tracing::warn!("cannot commit {}[{}]: {e}", p.topic, p.partition);
            }
        }
    }
    if list.count() == 0 {
        return;
    }
    match consumer.commit(&list, mode) {
        Ok(()) => tracing::debug!("checkpointed offsets committed {when}"),
        Err(e) => tracing::warn!("cannot commit checkpointed offsets {when}: {e}"),
    }
}
