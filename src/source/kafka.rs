//! The Kafka source: one consumer-group member, drained in batches on a dedicated thread
//! (never on the async runtime), feeding payloads to the engine.
//!
//! Per batch, not per message: one lock of the engine, one clock read, one offset store,
//! one metric update. librdkafka hands over each message as it fetched it; the payloads
//! are decoded in place, on an ingest thread beside the polling one.
//!
//! Offsets: librdkafka's automatic offset store is off; an offset is stored only after
//! the batch holding its message is in the engine's state (this is what the lag is
//! measured from). With checkpoints, the engine also records the positions it has
//! counted to, and only a durable checkpoint commits them (exactly-once across crashes,
//! see [`super::context`]); a third thread takes checkpoints every
//! `state.checkpoint_interval`. Without, auto-commit commits stored offsets
//! (at-least-once: a crash can replay a batch, never lose one).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::SourceStatus;
use super::context::{InFlight, SourceContext, make_durable};
use crate::config::KafkaSettings;
use crate::decode::Invalid;
use crate::engine::Engine;
use crate::kafka_client::client_config;
use crate::sink::dead_letter::DeadLetterSink;
use crate::state::Checkpointer;

/// Messages per batch: large enough to amortise the lock and the offset store, small
/// enough that a batch is ingested in well under a millisecond.
pub const MAX_BATCH: usize = 2_048;
/// Batches polled but not yet counted: bounds the memory between the two threads.
const IN_FLIGHT: usize = 2;
/// How long a poll waits for the first message of a batch; bounds how late a stop is seen.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// The consumer's settings that `kafka.properties` may override (docs/run.md).
const CONSUMER_DEFAULTS: [(&str, &str); 4] = [
    ("client.id", "slipstream"),
    ("auto.offset.reset", "earliest"),
    crate::kafka_client::STATISTICS,
    // librdkafka pauses fetching a partition whose local queue is full for this long
    // (default 1 s): a consumer as fast as ours then drains the queue and idles for most
    // of that second.
    ("fetch.queue.backoff.ms", "10"),
];

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot create the Kafka consumer (brokers {brokers}): {source}")]
    Create {
        brokers: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot subscribe to topics {topics:?}: {source}")]
    Subscribe {
        topics: Vec<String>,
        #[source]
        source: KafkaError,
    },
}

/// The per-batch self-metrics of the source.
pub struct SourceMetrics {
    pub batch_seconds: metrics::Histogram,
    pub messages_consumed: metrics::Counter,
}

/// What the source does besides counting: checkpoints and dead letters.
#[derive(Default)]
pub struct Durability {
    pub checkpointer: Option<Arc<Checkpointer>>,
    pub dead_letter: Option<DeadLetterSink>,
}

/// A subscribed consumer-group member.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
}

impl KafkaSource {
    pub fn connect(
        settings: &KafkaSettings,
        status: Arc<SourceStatus>,
        engine: Arc<parking_lot::Mutex<Engine>>,
        durability: Durability,
    ) -> Result<KafkaSource, SourceError> {
        // With checkpoints, only a durable checkpoint commits.
        let auto_commit = if durability.checkpointer.is_some() {
            "false"
        } else {
            "true"
        };
        let mut config = client_config(settings, &CONSUMER_DEFAULTS);
        config
            .set("group.id", &settings.group)
            .set("enable.auto.offset.store", "false")
            .set("enable.auto.commit", auto_commit)
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext {
                status,
                in_flight: InFlight::default(),
                engine,
                checkpointer: durability.checkpointer,
                dead_letter: durability.dead_letter,
            })
            .map_err(|source| SourceError::Create {
                brokers: settings.brokers.clone(),
                source,
            })?;
        let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|source| SourceError::Subscribe {
                topics: settings.topics.clone(),
                source,
            })?;
        Ok(KafkaSource { consumer })
    }

    /// Consumes until `stop` is set, then makes what it counted durable and leaves the
    /// group (the consumer closes when dropped).
    ///
    /// Two threads, so that polling librdkafka and aggregating overlap: this one polls
    /// batches, a scoped ingest thread counts each batch into the engine and then stores
    /// its offsets. Batches travel by bounded channels and come back for reuse, so a slow
    /// engine slows polling instead of growing a queue. With checkpoints, a third thread
    /// takes one every interval.
    pub fn run(self, stop: &AtomicBool, max_clock_skew_ms: i64, metrics: &SourceMetrics) {
        let consumer = &self.consumer;
        let (full_tx, full_rx) = mpsc::sync_channel::<Vec<BorrowedMessage<'_>>>(IN_FLIGHT);
        let (empty_tx, empty_rx) = mpsc::sync_channel(IN_FLIGHT + 1);
        for _ in 0..=IN_FLIGHT {
            let _ = empty_tx.send(Vec::with_capacity(MAX_BATCH));
        }
        std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("slipstream-ingest".into())
                .spawn_scoped(scope, || {
                    let mut ingest = Ingest::new(consumer, max_clock_skew_ms, metrics);
                    for mut batch in full_rx {
                        if !batch.is_empty() {
                            ingest.batch(&batch);
                            batch.clear();
                            consumer.context().in_flight.finished();
                        }
                        if empty_tx.send(batch).is_err() {
                            return;
                        }
                    }
                })
                .expect("the OS refused to start the ingest thread");
            if let Some(checkpointer) = &consumer.context().checkpointer {
                let interval = checkpointer.interval;
                std::thread::Builder::new()
                    .name("slipstream-checkpoint".into())
                    .spawn_scoped(scope, move || checkpoint_every(consumer, interval, stop))
                    .expect("the OS refused to start the checkpoint thread");
            }
            poll_batches(consumer, stop, &empty_rx, &full_tx);
            drop(full_tx);
        });
        make_durable(consumer, CommitMode::Sync, "at shutdown");
        tracing::info!("consumer stopped; leaving the group");
    }
}

/// Takes a checkpoint and commits what it covers every `interval`, until `stop`.
fn checkpoint_every(consumer: &BaseConsumer<SourceContext>, interval: Duration, stop: &AtomicBool) {
    let mut due = Instant::now() + interval;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(POLL_WAIT.min(due.saturating_duration_since(Instant::now())));
        if Instant::now() >= due {
            make_durable(consumer, CommitMode::Async, "after a checkpoint");
            due = Instant::now() + interval;
        }
    }
}

/// Fills batches from librdkafka and hands them to the ingest thread, until `stop`.
fn poll_batches<'c>(
    consumer: &'c BaseConsumer<SourceContext>,
    stop: &AtomicBool,
    empty: &mpsc::Receiver<Vec<BorrowedMessage<'c>>>,
    full: &mpsc::SyncSender<Vec<BorrowedMessage<'c>>>,
) {
    let status = &consumer.context().status;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut batch) = empty.recv() else { return };
        let mut wait = POLL_WAIT;
        while batch.len() < MAX_BATCH {
            match consumer.poll(wait) {
                Some(Ok(message)) => batch.push(message),
                Some(Err(e)) => {
                    status.kafka_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("kafka consume error: {e}");
                    break;
                }
                None => break,
            }
            wait = Duration::ZERO;
        }
        if batch.is_empty() {
            // Back into the pool, through the channel the ingest thread refills it by.
            if full.send(batch).is_err() {
                return;
            }
            continue;
        }
        status.connected.store(true, Ordering::Relaxed);
        consumer.context().in_flight.started();
        if full.send(batch).is_err() {
            return;
        }
    }
}

/// The ingest thread's side: counts batches and records how far they reach.
struct Ingest<'a> {
    consumer: &'a BaseConsumer<SourceContext>,
    max_clock_skew_ms: i64,
    metrics: &'a SourceMetrics,
    rejected: Vec<(u32, Invalid)>,
}

impl<'a> Ingest<'a> {
    fn new(
        consumer: &'a BaseConsumer<SourceContext>,
        max_clock_skew_ms: i64,
        metrics: &'a SourceMetrics,
    ) -> Ingest<'a> {
        Ingest {
            consumer,
            max_clock_skew_ms,
            metrics,
            rejected: Vec::new(),
        }
    }

    /// Counts one batch into the engine (with checkpoints, with the positions it reaches,
    /// under the same lock), produces its invalid messages to the dead-letter topic, then
    /// stores its offsets: an offset is stored only once its event is in the state.
    fn batch(&mut self, batch: &[BorrowedMessage<'_>]) {
        let started = Instant::now();
        let context = self.consumer.context();
        let ends = batch_ends(batch);
        {
            let now_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            let mut engine = context.engine.lock();
            engine.set_latest_valid(Some(now_ms + self.max_clock_skew_ms));
            // A message without a payload (a tombstone) is not JSON: counted, not lost.
            engine.ingest_all(batch.iter().map(|m| m.payload().unwrap_or(b"")));
            if context.checkpointer.is_some() {
                for &(topic, partition, next) in &ends {
                    engine.advance(topic, partition, next);
                }
            }
            self.rejected.clear();
            if context.dead_letter.is_some() {
                self.rejected.extend_from_slice(engine.rejected());
            }
        }
        if let Some(dead_letter) = &context.dead_letter {
            dead_letter.send(batch, &self.rejected);
        }
        store_offsets(self.consumer, &ends);
        self.metrics
            .batch_seconds
            .record(started.elapsed().as_secs_f64());
        self.metrics.messages_consumed.increment(batch.len() as u64);
        context
            .status
            .messages_consumed
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
    }
}

/// Per partition of `batch` (one or a few): topic, partition, and the offset after its
/// newest message.
fn batch_ends<'b>(batch: &'b [BorrowedMessage<'_>]) -> Vec<(&'b str, i32, i64)> {
    let mut ends: Vec<(&str, i32, i64)> = Vec::new();
    for m in batch {
        let (topic, partition, offset) = (m.topic(), m.partition(), m.offset() + 1);
        match ends
            .iter_mut()
            .find(|(t, p, _)| *p == partition && *t == topic)
        {
            Some(entry) => entry.2 = entry.2.max(offset),
            None => ends.push((topic, partition, offset)),
        }
    }
    ends
}

/// Stores the offsets a batch reaches, per partition.
fn store_offsets(consumer: &BaseConsumer<SourceContext>, ends: &[(&str, i32, i64)]) {
    let mut list = TopicPartitionList::with_capacity(ends.len());
    for &(topic, partition, offset) in ends {
        if let Err(e) = list.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::warn!("cannot store offset {offset} of {topic}[{partition}]: {e}");
        }
    }
    if let Err(e) = consumer.store_offsets(&list) {
        // A partition revoked while its batch was counted: its new owner re-reads it.
        tracing::debug!("offsets not stored: {e}");
    }
}
