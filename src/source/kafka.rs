//! The Kafka source: one consumer-group member, drained in batches on a dedicated thread
//! (never on the async runtime), feeding payloads to the engine.
//!
//! Per batch, not per message: one lock of the engine, one clock read, one offset store,
//! one metric update. librdkafka hands over each message as it fetched it; the payloads
//! are decoded in place, on an ingest thread beside the polling one.
//!
//! Offsets (at-least-once): librdkafka's automatic offset store is off. An offset is
//! stored only after the batch holding its message is in the engine's state, and the
//! periodic auto-commit, the commit on revoke and the commit on shutdown commit only
//! stored offsets. A crash can therefore replay a batch (counted twice), never lose one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::{PartitionLag, SourceStatus};
use crate::config::KafkaSettings;
use crate::engine::Engine;
use crate::kafka_client::client_config;

/// Messages per batch: large enough to amortise the lock and the offset store, small
/// enough that a batch is ingested in well under a millisecond.
pub const MAX_BATCH: usize = 2_048;
/// Batches polled but not yet counted: bounds the memory between the two threads.
const IN_FLIGHT: usize = 2;
/// How long a revoke waits for polled batches to be counted before it commits.
const REVOKE_WAIT: Duration = Duration::from_secs(10);
/// How long a poll waits for the first message of a batch; bounds how late a stop is seen.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// The consumer's settings that `kafka.properties` may override (docs/run.md).
const CONSUMER_DEFAULTS: [(&str, &str); 5] = [
    ("client.id", "slipstream"),
    ("enable.auto.commit", "true"),
    ("auto.offset.reset", "earliest"),
    ("statistics.interval.ms", "1000"),
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

/// Callbacks librdkafka runs on the consumer thread, inside `poll`.
pub struct SourceContext {
    status: Arc<SourceStatus>,
    in_flight: InFlight,
}

/// Batches handed to the ingest thread and not yet counted (with their offsets stored).
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    drained: Condvar,
}

impl InFlight {
    fn started(&self) {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
    }

    fn finished(&self) {
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
        let connected = stats.brokers.values().any(|b| b.state == "UP");
        self.status.connected.store(connected, Ordering::Relaxed);
        let mut lags: Vec<PartitionLag> = stats
            .topics
            .iter()
            .flat_map(|(name, topic)| {
                topic
                    .partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.desired)
                    .map(move |p| PartitionLag {
                        topic: name.clone(),
                        partition: p.partition,
                        lag: stored_lag(p),
                    })
            })
            .collect();
        lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        *self.status.lags.lock().unwrap_or_else(|e| e.into_inner()) = lags;
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.status.kafka_errors.fetch_add(1, Ordering::Relaxed);
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.status.connected.store(false, Ordering::Relaxed);
        }
        // librdkafka logs the same error through `log`; counting it is what is left.
        tracing::debug!("kafka: {error}: {reason}");
    }
}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            // The next owner starts from the committed offsets: let the batches already
            // polled be counted and their offsets stored, then commit them.
            if !self.in_flight.wait_drained(REVOKE_WAIT) {
                tracing::warn!("batches still uncounted at revoke; their events may be read twice");
            }
            commit(consumer, "before giving up partitions");
            tracing::info!("partitions revoked: {}", describe(partitions));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let assigned = consumer.assignment().map(|a| a.count()).unwrap_or(0);
        self.status
            .assigned_partitions
            .store(assigned, Ordering::Relaxed);
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!("partitions assigned: {}", describe(partitions))
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!("rebalance failed: {e}"),
        }
    }
}

fn describe(partitions: &TopicPartitionList) -> String {
    let parts: Vec<String> = partitions
        .elements()
        .iter()
        .map(|e| format!("{}[{}]", e.topic(), e.partition()))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

/// Commits the stored offsets, synchronously. Nothing stored yet is not an error.
fn commit(consumer: &BaseConsumer<SourceContext>, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) => tracing::debug!("offsets committed {when}"),
        Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => tracing::warn!("cannot commit offsets {when}: {e}"),
    }
}

/// Messages between the high watermark and the next one this member would count: the
/// stored offset (what is counted), else the committed one, else the log start. librdkafka's
/// own `consumer_lag` measures from the committed offset, which trails by the commit
/// interval.
fn stored_lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    if p.hi_offset < 0 {
        return None;
    }
    let position = [p.stored_offset, p.committed_offset, p.lo_offset]
        .into_iter()
        .find(|&o| o >= 0)?;
    Some((p.hi_offset - position).max(0))
}

/// A subscribed consumer-group member.
pub struct KafkaSource {
    consumer: BaseConsumer<SourceContext>,
}

impl KafkaSource {
    pub fn connect(
        settings: &KafkaSettings,
        status: Arc<SourceStatus>,
    ) -> Result<KafkaSource, SourceError> {
        let mut config = client_config(settings, &CONSUMER_DEFAULTS);
        config
            .set("group.id", &settings.group)
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer<SourceContext> = config
            .create_with_context(SourceContext {
                status,
                in_flight: InFlight::default(),
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

    /// Consumes until `stop` is set, then commits and leaves the group (the consumer
    /// closes when dropped).
    ///
    /// Two threads, so that polling librdkafka and aggregating overlap: this one polls
    /// batches, a scoped ingest thread counts each batch into `engine` and then stores
    /// its offsets. Batches travel by bounded channels and come back for reuse, so a slow
    /// engine slows polling instead of growing a queue.
    pub fn run(
        self,
        engine: &Mutex<Engine>,
        stop: &AtomicBool,
        max_clock_skew_ms: i64,
        metrics: &SourceMetrics,
    ) {
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
                    for mut batch in full_rx {
                        if !batch.is_empty() {
                            ingest(consumer, engine, &batch, max_clock_skew_ms, metrics);
                            batch.clear();
                            consumer.context().in_flight.finished();
                        }
                        if empty_tx.send(batch).is_err() {
                            return;
                        }
                    }
                })
                .expect("the OS refused to start the ingest thread");
            poll_batches(consumer, stop, &empty_rx, &full_tx);
            drop(full_tx);
        });
        commit(consumer, "at shutdown");
        tracing::info!("consumer stopped; leaving the group");
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

/// Counts one batch into the engine, then stores its offsets: an offset is stored only
/// once its event is in the engine's state.
fn ingest(
    consumer: &BaseConsumer<SourceContext>,
    engine: &Mutex<Engine>,
    batch: &[BorrowedMessage<'_>],
    max_clock_skew_ms: i64,
    metrics: &SourceMetrics,
) {
    let started = Instant::now();
    {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut engine = engine.lock().unwrap_or_else(|e| e.into_inner());
        engine.set_latest_valid(Some(now_ms + max_clock_skew_ms));
        // A message without a payload (a tombstone) is not JSON: counted, not lost.
        engine.ingest_all(batch.iter().map(|m| m.payload().unwrap_or(b"")));
    }
    store_offsets(consumer, batch);
    metrics
        .batch_seconds
        .record(started.elapsed().as_secs_f64());
    metrics.messages_consumed.increment(batch.len() as u64);
    let status = &consumer.context().status;
    status
        .messages_consumed
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
}

/// Stores, per partition, the offset after the newest message of the batch.
fn store_offsets(consumer: &BaseConsumer<SourceContext>, batch: &[BorrowedMessage<'_>]) {
    let mut next: Vec<(&str, i32, i64)> = Vec::new();
    for m in batch {
        let (topic, partition, offset) = (m.topic(), m.partition(), m.offset() + 1);
        match next
            .iter_mut()
            .find(|(t, p, _)| *p == partition && *t == topic)
        {
            Some(entry) => entry.2 = entry.2.max(offset),
            None => next.push((topic, partition, offset)),
        }
    }
    let mut list = TopicPartitionList::with_capacity(next.len());
    for (topic, partition, offset) in next {
        if let Err(e) = list.add_partition_offset(topic, partition, Offset::Offset(offset)) {
            tracing::warn!("cannot store offset {offset} of {topic}[{partition}]: {e}");
        }
    }
    if let Err(e) = consumer.store_offsets(&list) {
        // A partition revoked while its batch was counted: its new owner re-reads it.
        tracing::debug!("offsets not stored: {e}");
    }
}
