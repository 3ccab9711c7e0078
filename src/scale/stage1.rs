//! Stage 1's shell: a member of `kafka.group` on the input topics that pre-aggregates
//! its partitions' events ([`PreAggregator`]) and produces the partial buckets to the
//! repartition topic every `flush_interval`.
//!
//! A flush is made exactly once, in three steps: (1) its plan, the offset each source
//! partition's records end at, is committed to a group of its own (`<group>-plans`);
//! (2) its records are produced and acknowledged; (3) those ends are committed to
//! `kafka.group`. A new owner of a partition whose planned end is past its committed
//! offset (the last owner died between 1 and 3) replays exactly that range as one flush,
//! so its records are those of the flush it replaces, and stage 2 drops the ones it has
//! ([`super::owner`]). Kafka transactions would do the same, but the broker the tests
//! run against does not filter aborted records (docs/scale-out.md).

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

use super::ScaleStatus;
use super::preagg::{Plans, PreAggregator, Route};
use super::topics::BatchProducer;
use crate::config::Config;
use crate::engine::Engine;
use crate::kafka_client::{Revoke, client_config, input_consumer, poll_batch};
use crate::sink::dead_letter::DeadLetterSink;
use crate::source::SourceStatus;

/// Most events held between flushes: bounds stage 1's memory whatever the rate.
const MAX_HELD: usize = 500_000;
const POLL_WAIT: Duration = Duration::from_millis(100);
const MAX_BATCH: usize = 2_048;

/// What stage 1's rebalance callbacks share with its loop.
pub struct Stage1Context {
    state: Mutex<Flusher>,
    engine: Arc<parking_lot::Mutex<Engine>>,
    source: Arc<SourceStatus>,
}

/// Everything a flush needs.
struct Flusher {
    pre: PreAggregator,
    producer: BatchProducer,
    /// A client of the plans group, for its commits only.
    plans: BaseConsumer,
    topic: String,
    partitions: i32,
    /// Source partitions replaying a planned flush: where that flush must end.
    replaying: Plans,
    /// Invalid events go there, delivered before the offsets past them are committed.
    dead_letter: Option<DeadLetterSink>,
    stop: Arc<AtomicBool>,
    status: Arc<ScaleStatus>,
}

pub struct Stage1 {
    consumer: BaseConsumer<Stage1Context>,
    flush_every: Duration,
}

impl Stage1 {
    pub fn connect(
        config: &Config,
        engine: Arc<parking_lot::Mutex<Engine>>,
        source: Arc<SourceStatus>,
        status: Arc<ScaleStatus>,
        stop: Arc<AtomicBool>,
        dead_letter: Option<DeadLetterSink>,
    ) -> Result<Stage1, KafkaError> {
        let kafka = &config.run.kafka;
        let scale = config
            .scale_out
            .as_ref()
            .expect("stage 1 runs with scale_out");
        let plans: BaseConsumer = client_config(kafka, &[])
            .set("group.id", format!("{}-plans", kafka.group))
            .set("enable.auto.commit", "false")
            .create()?;
        let flusher = Flusher {
            pre: PreAggregator::new(config),
            producer: BatchProducer::new(kafka, "slipstream-stage1")?,
            plans,
            topic: scale.repartition_topic.clone(),
            partitions: scale.partitions,
            replaying: Plans::default(),
            dead_letter,
            stop,
            status,
        };
        let consumer: BaseConsumer<Stage1Context> = input_consumer(kafka, "slipstream-stage1")
            .create_with_context(Stage1Context {
                state: Mutex::new(flusher),
                engine,
                source,
            })?;
        let topics: Vec<&str> = kafka.topics.iter().map(String::as_str).collect();
        consumer.subscribe(&topics)?;
        Ok(Stage1 {
            consumer,
            flush_every: Duration::from_millis(scale.flush_interval_ms as u64),
        })
    }

    /// Consumes and flushes until `stop`, then flushes what it holds and leaves.
    pub fn run(self, stop: &AtomicBool, max_clock_skew_ms: i64) {
        let consumer = &self.consumer;
        let context = consumer.context();
        let mut due = Instant::now() + self.flush_every;
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while !stop.load(Ordering::Relaxed) {
            let wait = POLL_WAIT.min(due.saturating_duration_since(Instant::now()));
            if let Some(e) = poll_batch(consumer, wait, MAX_BATCH, &mut batch) {
                context.source.kafka_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("kafka consume error: {e}");
            }
            if !batch.is_empty() {
                context.source.connected.store(true, Ordering::Relaxed);
            }
            let mut state = context.lock();
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            state.pre.set_latest_valid(Some(now_ms + max_clock_skew_ms));
            let n = batch.len() as u64;
            for (i, m) in batch.iter().enumerate() {
                let (topic, partition, offset) = (m.topic(), m.partition(), m.offset());
                if state.replaying.flush_before(topic, partition, offset) {
                    state.flush(consumer, &context.engine);
                }
                let payload = m.payload().unwrap_or(b"");
                if let Some(reason) = state.pre.add(topic, partition, offset, payload) {
                    // Now, before a flush below can commit the offset past it.
                    if let Some(dead_letter) = &state.dead_letter {
                        dead_letter.send(&batch, &[(i as u32, reason)]);
                    }
                }
                if state.replaying.flush_after(topic, partition, offset) {
                    state.flush(consumer, &context.engine);
                }
            }
            batch.clear();
            context
                .source
                .messages_consumed
                .fetch_add(n, Ordering::Relaxed);
            if Instant::now() >= due || state.pre.held() >= MAX_HELD {
                state.flush(consumer, &context.engine);
                due = Instant::now() + self.flush_every;
            }
        }
        context.lock().flush(consumer, &context.engine);
        tracing::info!("stage 1 stopped; leaving the group");
    }
}

impl Stage1Context {
    fn lock(&self) -> std::sync::MutexGuard<'_, Flusher> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Flusher {
    /// Flushes every source partition but those replaying a plan that is not complete
    /// yet: plan, produce, commit.
    fn flush<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        engine: &parking_lot::Mutex<Engine>,
    ) {
        let replaying = &self.replaying;
        let flushed = self
            .pre
            .flush(Route::ByKey(self.partitions), |topic, partition, at| {
                replaying.hold(topic, partition, at)
            });
        self.replaying.flushed(&flushed.ends);
        if flushed.ends.is_empty() {
            return;
        }
        let ends = offsets(&flushed.ends);
        // 1. The plan: a crash from here on is replayed as exactly this flush.
        if let Err(e) = self.plans.commit(&ends, CommitMode::Sync) {
            tracing::warn!("cannot commit the plan of a flush: {e}; producing it anyway");
        }
        // 2. The records.
        if !self
            .producer
            .deliver(&self.topic, &flushed.records, &self.stop)
        {
            tracing::warn!("stopping with a flush not delivered: its next owner replays it");
            return;
        }
        self.status.add_produced(&flushed.records);
        if let Some(dead_letter) = &self.dead_letter {
            dead_letter.flush(crate::sink::dead_letter::FLUSH_WAIT);
        }
        // 3. The input offsets.
        if let Err(e) = consumer.commit(&ends, CommitMode::Sync) {
            tracing::warn!("cannot commit input offsets after a flush: {e}; the plan replays it");
        }
        engine.lock().add_event_counts(&flushed.counts);
    }
}

/// The partition list of `(topic, partition, offset)` ends.
fn offsets(ends: &[(String, i32, i64)]) -> TopicPartitionList {
    let mut list = TopicPartitionList::with_capacity(ends.len());
    for (topic, partition, offset) in ends {
        let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
    }
    list
}

impl ClientContext for Stage1Context {
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

impl ConsumerContext for Stage1Context {
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
            "stage 1",
            |tpl| self.lock().take_plans(consumer, tpl),
            |tpl, how| {
                let mut state = self.lock();
                if how == Revoke::Orderly {
                    state.flush(consumer, &self.engine);
                }
                for e in tpl.elements() {
                    state.pre.forget(e.topic(), e.partition());
                    state.replaying.forget(e.topic(), e.partition());
                }
            },
        );
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.source
            .assigned_partitions
            .store(assigned, Ordering::Relaxed);
    }
}

impl Flusher {
    /// For newly assigned partitions: a planned end past the committed offset means a
    /// flush was cut short; it is replayed as planned.
    fn take_plans<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) {
        let wait = Duration::from_secs(10);
        let committed = consumer.committed_offsets(tpl.clone(), wait);
        let planned = self.plans.committed_offsets(tpl.clone(), wait);
        let (Ok(committed), Ok(planned)) = (committed, planned) else {
            tracing::warn!("cannot read the flush plans of the assigned partitions");
            return;
        };
        for e in planned.elements() {
            let Offset::Offset(end) = e.offset() else {
                continue;
            };
            let start = committed
                .find_partition(e.topic(), e.partition())
                .and_then(|c| match c.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                });
            if start.is_none_or(|s| s < end) {
                tracing::info!(
                    "{}[{}]: replaying a flush cut short, up to offset {end}",
                    e.topic(),
                    e.partition()
                );
                self.replaying.add(e.topic(), e.partition(), [end]);
            }
        }
    }
}
