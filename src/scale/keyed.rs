//! `scale_out.input_keyed`: the input is keyed by service, so every event of a series is
//! in one input partition, and the partition can own the series itself. No stage 1, no
//! repartition topic: one consumer in `kafka.group` pre-aggregates each assigned input
//! partition ([`PreAggregator`]) and applies the partial buckets in process, through the
//! same exactly-once [`super::owner::Owner`] as stage 2, every `flush_interval`. Its
//! series go to the changelog partition of the input partition's number.
//!
//! A checkpoint writes the changed series to the changelog, then commits the input
//! offsets they cover. A new owner restores a partition's series, then reads its input
//! from the committed offset; a series written by a checkpoint whose commit was lost
//! holds an end past that offset, and the flushes read again are cut at every such end
//! ([`Plans`]), so each of them is either wholly counted (a duplicate, dropped) or not
//! at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;

use super::changelog::{Changelog, Scope};
use super::preagg::{Plans, PreAggregator, Route};
use super::{ScaleError, ScaleStatus};
use crate::config::Config;
use crate::engine::Engine;
use crate::kafka_client::{Revoke, input_consumer, poll_batch};
use crate::sink::dead_letter::{DeadLetterSink, FLUSH_WAIT};
use crate::source::SourceStatus;

/// Most events held between flushes: bounds the memory whatever the rate.
const MAX_HELD: usize = 500_000;
const POLL_WAIT: Duration = Duration::from_millis(100);
const MAX_BATCH: usize = 2_048;

pub struct KeyedContext {
    reader: Mutex<Reader>,
    changelog: Changelog,
    /// Invalid events go there, delivered before the offsets past them are committed.
    dead_letter: Option<DeadLetterSink>,
    source: Arc<SourceStatus>,
    status: Arc<ScaleStatus>,
}

/// What the consumer thread and its rebalance callbacks share.
struct Reader {
    pre: PreAggregator,
    plans: Plans,
    topic: String,
    /// Per owned input partition: the offset after the last one flushed.
    positions: HashMap<i32, i64>,
}

pub struct Keyed {
    consumer: BaseConsumer<KeyedContext>,
    flush_every: Duration,
    checkpoint_every: Duration,
}

impl Keyed {
    pub fn connect(
        config: &Config,
        engine: Arc<parking_lot::Mutex<Engine>>,
        source: Arc<SourceStatus>,
        status: Arc<ScaleStatus>,
        stop: Arc<AtomicBool>,
        dead_letter: Option<DeadLetterSink>,
    ) -> Result<Keyed, ScaleError> {
        let kafka = &config.run.kafka;
        let scale = config
            .scale_out
            .as_ref()
            .expect("keyed runs with scale_out");
        let changelog = Changelog::new(config, engine, status.clone(), stop, "slipstream-keyed")?;
        let reader = Reader {
            pre: PreAggregator::new(config),
            plans: Plans::default(),
            topic: kafka.topics[0].clone(),
            positions: HashMap::new(),
        };
        let consumer: BaseConsumer<KeyedContext> = input_consumer(kafka, "slipstream-keyed")
            .create_with_context(KeyedContext {
                reader: Mutex::new(reader),
                changelog,
                dead_letter,
                source,
                status,
            })?;
        consumer.subscribe(&[&kafka.topics[0]])?;
        Ok(Keyed {
            consumer,
            flush_every: Duration::from_millis(scale.flush_interval_ms as u64),
            checkpoint_every: Duration::from_millis(scale.checkpoint_interval_ms as u64),
        })
    }

    /// Consumes, flushes and checkpoints until `stop`, then checkpoints all and leaves.
    pub fn run(self, stop: &AtomicBool, max_clock_skew_ms: i64) {
        let consumer = &self.consumer;
        let context = consumer.context();
        let mut flush_due = Instant::now() + self.flush_every;
        let mut checkpoint_due = Instant::now() + self.checkpoint_every;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while !stop.load(Ordering::Relaxed) {
            let wait = POLL_WAIT.min(flush_due.saturating_duration_since(Instant::now()));
            if let Some(e) = poll_batch(consumer, wait, MAX_BATCH, &mut batch) {
                context.source.kafka_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("kafka consume error: {e}");
            }
            if !batch.is_empty() {
                context.source.connected.store(true, Ordering::Relaxed);
            }
            let n = batch.len() as u64;
            {
                let mut reader = context.lock();
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                reader
                    .pre
                    .set_latest_valid(Some(now_ms + max_clock_skew_ms));
                for (i, m) in batch.iter().enumerate() {
                    let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
                    if reader.plans.flush_before(topic, partition, offset) {
                        reader.flush(&context.changelog);
                    }
                    let payload = m.payload().unwrap_or(b"");
                    if let Some(reason) = reader.pre.add(topic, partition, offset, payload)
                        && let Some(dead_letter) = &context.dead_letter
                    {
                        dead_letter.send(&batch, &[(i as u32, reason)]);
                    }
                    if reader.plans.flush_after(topic, partition, offset) {
                        reader.flush(&context.changelog);
                    }
                }
                batch.clear();
                if Instant::now() >= flush_due || reader.pre.held() >= MAX_HELD {
                    reader.flush(&context.changelog);
                    flush_due = Instant::now() + self.flush_every;
                }
            }
            context
                .source
                .messages_consumed
                .fetch_add(n, Ordering::Relaxed);
            if Instant::now() >= checkpoint_due {
                context.checkpoint(consumer, Scope::Periodic);
                checkpoint_due = Instant::now() + self.checkpoint_every;
            }
        }
        context.checkpoint(consumer, Scope::Final);
        tracing::info!("keyed input stopped; leaving the group");
    }
}

impl Reader {
    /// Applies what was read, but for partitions short of a planned end.
    fn flush(&mut self, changelog: &Changelog) {
        let plans = &self.plans;
        let flushed = self
            .pre
            .flush(Route::BySource, |t, p, at| plans.hold(t, p, at));
        self.plans.flushed(&flushed.ends);
        if flushed.ends.is_empty() {
            return;
        }
        changelog.with(|engine, owner| {
            for r in &flushed.records {
                owner.apply(engine, r.partition, &r.key, &r.value);
            }
            engine.add_event_counts(&flushed.counts);
        });
        for (_, partition, end) in flushed.ends {
            self.positions.insert(partition, end);
        }
    }
}

impl KeyedContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, Reader> {
        self.reader.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies what was read, writes the changed series (of `scope`) to the changelog,
    /// then commits the input offsets they cover.
    fn checkpoint<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>, scope: Scope<'_>) {
        let (topic, positions) = {
            let mut reader = self.lock();
            reader.flush(&self.changelog);
            let positions: Vec<(i32, i64)> = reader
                .positions
                .iter()
                .filter(|(p, _)| match scope {
                    Scope::Revoked(ps) => ps.contains(p),
                    _ => true,
                })
                .map(|(&p, &o)| (p, o))
                .collect();
            (reader.topic.clone(), positions)
        };
        if !self.changelog.checkpoint(scope) || positions.is_empty() {
            return;
        }
        if let Some(dead_letter) = &self.dead_letter {
            dead_letter.flush(FLUSH_WAIT);
        }
        let mut list = TopicPartitionList::new();
        for (p, offset) in positions {
            let _ = list.add_partition_offset(&topic, p, Offset::Offset(offset));
        }
        if let Err(e) = consumer.commit(&list, CommitMode::Sync) {
            tracing::warn!("cannot commit input offsets after a checkpoint: {e}");
        }
    }

    /// Restores the assigned partitions' series, starts each from its committed offset,
    /// and plans its first flushes to end where its series do.
    fn assign<C: ConsumerContext>(&self, consumer: &BaseConsumer<C>, tpl: &mut TopicPartitionList) {
        let partitions: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        self.changelog.restore(&partitions);
        let committed = match consumer.committed_offsets(tpl.clone(), Duration::from_secs(10)) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(
                    "cannot read the committed offsets of {}: {e}; reading from the start, \
                     with the restored series dropping what they counted",
                    crate::kafka_client::describe(tpl)
                );
                TopicPartitionList::new()
            }
        };
        let mut reader = self.lock();
        let topic = reader.topic.clone();
        for &p in &partitions {
            let from = committed
                .find_partition(&topic, p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            if let Some(from) = from {
                let _ = tpl.set_partition_offset(&topic, p, Offset::Offset(from));
            }
            let ends = self
                .changelog
                .with(|_, owner| owner.ends_after(&topic, p, from.unwrap_or(-1)));
            if !ends.is_empty() {
                tracing::info!(
                    "{topic}[{p}]: reading from {from:?}, cut at {} series ends after it",
                    ends.len()
                );
            }
            reader.plans.add(&topic, p, ends);
        }
    }
}

impl ClientContext for KeyedContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        crate::kafka_client::log(level, fac, message);
    }

    fn stats(&self, stats: Statistics) {
        self.source.observe(&stats);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.source.observe_error(&error, reason);
    }
}

impl ConsumerContext for KeyedContext {
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
            "keyed input",
            |tpl| self.assign(consumer, tpl),
            |_, how| {
                if how == Revoke::Orderly {
                    self.checkpoint(consumer, Scope::Revoked(&partitions));
                }
                self.changelog.release(&partitions);
                let mut reader = self.lock();
                let topic = reader.topic.clone();
                for p in &partitions {
                    reader.pre.forget(&topic, *p);
                    reader.plans.forget(&topic, *p);
                    reader.positions.remove(p);
                }
            },
        );
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.source
            .assigned_partitions
            .store(assigned, Ordering::Relaxed);
        self.status.set_owned(consumer);
    }
}
