//! The state that follows partitions, for stage 2 (repartition partitions) and for
//! `input_keyed` (input partitions): the [`Owner`] of their series, its changelog topic
//! (partition = owned partition, key = series) and its local cache ([`LocalCache`]).
//!
//! - [`Changelog::checkpoint`] writes the series changed since the last one; only once
//!   they are acknowledged may the caller commit the offsets they cover. Now and then,
//!   and always before a partition is given up or at shutdown, it also writes each
//!   partition's whole state to the local cache, with the changelog offset it is current
//!   to.
//! - [`Changelog::restore`] brings an assigned partition's series back: from the cache
//!   and the changelog's tail after it, or from the whole changelog partition.
//! - [`Changelog::release`] lets a revoked partition's series go.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use super::cache::{Cached, LocalCache, anchor_of};
use super::owner::Owner;
use super::topics::BatchProducer;
use super::{ScaleError, ScaleStatus};
use crate::config::{Config, KafkaSettings};
use crate::engine::Engine;
use crate::kafka_client::client_config;

const POLL_WAIT: Duration = Duration::from_millis(100);
/// How long reading one assignment's changelog may take.
const RESTORE_WAIT: Duration = Duration::from_secs(60);

/// A changelog record: a series key and its value.
type Record = (Vec<u8>, Vec<u8>);

/// Which partitions a checkpoint covers, and so whether the cache is written.
#[derive(Clone, Copy, Debug)]
pub enum Scope<'a> {
    /// Every owned partition; the cache when it is due.
    Periodic,
    /// Partitions about to be given up: their cache too.
    Revoked(&'a [i32]),
    /// Every owned partition, at shutdown: the cache too.
    Final,
}

/// Where an owned changelog partition ends, as far as this instance knows: the offset
/// after its newest record, and that record's anchor.
#[derive(Clone, Copy, Debug, Default)]
struct Tail {
    next: i64,
    anchor: Option<u64>,
}

pub struct Changelog {
    engine: Arc<parking_lot::Mutex<Engine>>,
    owner: Mutex<Owner>,
    producer: BatchProducer,
    kafka: KafkaSettings,
    topic: String,
    /// With `state.dir`: the cache, and how often it is written.
    cache: Option<(LocalCache, Duration)>,
    cache_due: Mutex<Instant>,
    /// Per owned partition.
    tails: Mutex<HashMap<i32, Tail>>,
    status: Arc<ScaleStatus>,
    stop: Arc<AtomicBool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Changelog {
    pub fn new(
        config: &Config,
        engine: Arc<parking_lot::Mutex<Engine>>,
        status: Arc<ScaleStatus>,
        stop: Arc<AtomicBool>,
        client_id: &str,
    ) -> Result<Changelog, ScaleError> {
        let scale = config.scale_out.as_ref().expect("scale_out is set");
        let topic = scale.changelog_topic.clone();
        let cache = match &config.state {
            None => None,
            Some(state) => Some((
                LocalCache::open(&state.dir, &topic)?,
                Duration::from_millis(state.checkpoint_interval_ms as u64),
            )),
        };
        let owner = Owner::new(&engine.lock());
        Ok(Changelog {
            engine,
            owner: Mutex::new(owner),
            producer: BatchProducer::new(&config.run.kafka, client_id)?,
            kafka: config.run.kafka.clone(),
            topic,
            cache_due: Mutex::new(Instant::now() + cache.as_ref().map_or(Duration::ZERO, |c| c.1)),
            cache,
            tails: Mutex::new(HashMap::new()),
            status,
            stop,
        })
    }

    /// Runs `f` on the engine and the owner, locked in that order (always).
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine, &mut Owner) -> R) -> R {
        let mut engine = self.engine.lock();
        let mut owner = lock(&self.owner);
        let r = f(&mut engine, &mut owner);
        self.status.set_applied(&owner.stats);
        r
    }

    /// Writes the series changed since the last checkpoint (of `scope`) to the
    /// changelog, and the cache where `scope` asks for it. `false` when stopping cut
    /// the delivery short: the offsets they cover must not be committed.
    pub fn checkpoint(&self, scope: Scope<'_>) -> bool {
        let owned: Vec<i32> = match scope {
            Scope::Revoked(partitions) => partitions.to_vec(),
            _ => lock(&self.tails).keys().copied().collect(),
        };
        let cache_now = self.cache.as_ref().is_some_and(|(_, every)| {
            let mut due = lock(&self.cache_due);
            let now = Instant::now();
            let periodic = matches!(scope, Scope::Periodic);
            let write = !periodic || now >= *due;
            if write && !matches!(scope, Scope::Revoked(_)) {
                *due = now + *every;
            }
            write
        });
        // The records and the snapshots at the same instant: the snapshots are then
        // what the changelog holds once the records are in.
        let (records, snapshots) = {
            let engine = self.engine.lock();
            let mut owner = lock(&self.owner);
            let only = matches!(scope, Scope::Revoked(_)).then_some(owned.as_slice());
            let records = owner.checkpoint(&engine, only);
            let snapshots: Vec<(i32, Vec<Record>)> = if cache_now {
                owned
                    .iter()
                    .map(|&p| (p, owner.snapshot(&engine, p)))
                    .collect()
            } else {
                Vec::new()
            };
            (records, snapshots)
        };
        if !records.is_empty() {
            if !self.producer.deliver(&self.topic, &records, &self.stop) {
                tracing::warn!(
                    "stopping with changelog records not delivered; offsets stay uncommitted"
                );
                lock(&self.owner).not_written(&records);
                return false;
            }
            self.status
                .changelog_written
                .fetch_add(records.len() as u64, Ordering::Relaxed);
            let mut tails = lock(&self.tails);
            // A partition's newest record is the last of the batch in it.
            for r in records.iter().rev() {
                let (Some(tail), Some(next)) = (
                    tails.get_mut(&r.partition),
                    self.producer.acked_end(r.partition),
                ) else {
                    continue;
                };
                if next > tail.next {
                    *tail = Tail {
                        next,
                        anchor: Some(anchor_of(&r.key, &r.value)),
                    };
                }
            }
        }
        if let Some((cache, _)) = &self.cache {
            let tails = lock(&self.tails).clone();
            for (p, records) in snapshots {
                let Some(tail) = tails.get(&p) else { continue };
                let cached = Cached {
                    next: tail.next,
                    anchor: tail.anchor,
                    records,
                };
                if let Err(e) = cache.write(p, &cached) {
                    tracing::warn!("cannot write the local changelog cache: {e}");
                }
            }
        }
        true
    }

    /// Brings the series of the assigned `partitions` back.
    pub fn restore(&self, partitions: &[i32]) {
        let started = Instant::now();
        let mut reads = Vec::with_capacity(partitions.len());
        for &p in partitions {
            reads.push((p, self.cached(p)));
        }
        if let Err(e) = read_changelog(&self.kafka, &self.topic, &mut reads) {
            tracing::error!(
                "cannot read the changelog of partitions {partitions:?}: {e}; their series \
                 start from the records their source still holds"
            );
            return;
        }
        let (mut engine, mut owner) = (self.engine.lock(), lock(&self.owner));
        let mut tails = lock(&self.tails);
        let (mut restored, mut read) = (0, 0);
        for (p, r) in &reads {
            read += r.read;
            if r.invalid {
                self.status.cache_invalid.fetch_add(1, Ordering::Relaxed);
            } else if r.cached {
                self.status.cache_hits.fetch_add(1, Ordering::Relaxed);
            } else if self.cache.is_some() {
                self.status.cache_misses.fetch_add(1, Ordering::Relaxed);
            }
            for (key, value) in &r.latest {
                match owner.restore(&mut engine, *p, key, value) {
                    Ok(()) => restored += 1,
                    Err(e) => tracing::warn!("a changelog record not restored: {e}"),
                }
            }
            tails.insert(*p, r.tail);
        }
        self.status
            .changelog_restored
            .fetch_add(restored, Ordering::Relaxed);
        self.status
            .changelog_read
            .fetch_add(read, Ordering::Relaxed);
        tracing::info!(
            "restored {restored} series of partitions {partitions:?} ({read} changelog records \
             read) in {:.2}s",
            started.elapsed().as_secs_f64()
        );
    }

    /// What the cache holds for `p`, as the start of its read.
    fn cached(&self, p: i32) -> PartitionRead {
        let Some((cache, _)) = &self.cache else {
            return PartitionRead::default();
        };
        match cache.read(p) {
            Ok(None) => PartitionRead::default(),
            Ok(Some(cached)) => PartitionRead::from(cached),
            Err(e) => {
                tracing::warn!("{e}; reading the whole changelog partition");
                PartitionRead {
                    invalid: true,
                    ..PartitionRead::default()
                }
            }
        }
    }

    /// Lets the series of the revoked `partitions` go (checkpoint them first).
    pub fn release(&self, partitions: &[i32]) {
        let gone = {
            let mut engine = self.engine.lock();
            lock(&self.owner).release(&mut engine, partitions)
        };
        lock(&self.tails).retain(|p, _| !partitions.contains(p));
        tracing::info!("{gone} series of partitions {partitions:?} let go");
        self.status.releases.fetch_add(1, Ordering::Relaxed);
    }
}

/// One partition's restore: what the cache gave, then the changelog's records over it.
#[derive(Default)]
struct PartitionRead {
    latest: HashMap<Vec<u8>, Vec<u8>>,
    /// From the cache: `(offset, anchor)` of the record the changelog must hold there.
    check: Option<(i64, u64)>,
    /// Where to start reading (the cache's anchor, or the beginning).
    start: Option<i64>,
    cached: bool,
    /// The cache was there but could not be used.
    invalid: bool,
    tail: Tail,
    read: u64,
}

impl From<Cached> for PartitionRead {
    fn from(cached: Cached) -> PartitionRead {
        let check = cached.anchor.map(|a| (cached.next - 1, a));
        PartitionRead {
            latest: cached.records.into_iter().collect(),
            check,
            start: check.map(|(offset, _)| offset),
            cached: true,
            tail: Tail {
                next: cached.next,
                anchor: cached.anchor,
            },
            ..PartitionRead::default()
        }
    }
}

impl PartitionRead {
    /// The cache does not match the changelog: read it whole instead.
    fn discard(&mut self) {
        tracing::warn!("a local changelog cache does not match the changelog; reading it whole");
        self.latest.clear();
        self.check = None;
        self.cached = false;
        self.invalid = true;
        self.tail = Tail::default();
    }
}

/// Reads each partition's changelog from its start to the end librdkafka reports
/// (`PartitionEOF`: some brokers, Tansu, report a high watermark inside the last batch),
/// over what the cache gave. A cache is used only if the changelog holds its anchor
/// record where the cache says (or a later one, the anchor compacted away).
fn read_changelog(
    kafka: &KafkaSettings,
    topic: &str,
    reads: &mut [(i32, PartitionRead)],
) -> Result<(), KafkaError> {
    // librdkafka wants a group for any consumer; this one never joins or commits.
    let reader: BaseConsumer = client_config(kafka, &[("client.id", "slipstream-restore")])
        .set("group.id", format!("{}-restore", kafka.group))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        .create()?;
    let mut unread = HashSet::new();
    let mut list = TopicPartitionList::new();
    for (p, r) in reads.iter_mut() {
        let (lo, hi) = reader.fetch_watermarks(topic, *p, Duration::from_secs(10))?;
        if hi <= lo {
            // Empty: a cache that names a record cannot be of this changelog.
            if r.check.is_some() {
                r.discard();
            }
            r.tail = Tail {
                next: hi,
                anchor: None,
            };
            continue;
        }
        unread.insert(*p);
        let start = r.start.map_or(lo, |s| s.max(lo));
        list.add_partition_offset(topic, *p, Offset::Offset(start))?;
    }
    if unread.is_empty() {
        return Ok(());
    }
    reader.assign(&list)?;
    let deadline = Instant::now() + RESTORE_WAIT;
    while !unread.is_empty() {
        if Instant::now() > deadline {
            return Err(KafkaError::Canceled);
        }
        let m = match reader.poll(POLL_WAIT) {
            None => continue,
            Some(Err(KafkaError::PartitionEOF(p))) => {
                let Some((_, r)) = reads.iter_mut().find(|(q, _)| *q == p) else {
                    continue;
                };
                if r.check.is_some() {
                    // Not even the anchor: the changelog is shorter than the cache says.
                    r.discard();
                    reader.seek(topic, p, Offset::Beginning, Duration::from_secs(10))?;
                    continue;
                }
                unread.remove(&p);
                continue;
            }
            Some(m) => m?,
        };
        let (p, offset) = (m.partition(), m.offset());
        let Some((_, r)) = reads.iter_mut().find(|(q, _)| *q == p) else {
            continue;
        };
        let (key, value) = (m.key().unwrap_or_default(), m.payload());
        let anchor = anchor_of(key, value.unwrap_or_default());
        if let Some((at, want)) = r.check.take() {
            if offset == at && anchor == want {
                // The cache's own newest record: it holds it already.
                continue;
            }
            // Past the anchor, it was compacted away (a newer record of its key is
            // ahead). Before it, the reader went back to the beginning: the changelog
            // is shorter than the cache says.
            if offset <= at {
                r.discard();
                if offset == at {
                    reader.seek(topic, p, Offset::Beginning, Duration::from_secs(10))?;
                    continue;
                }
            }
        }
        r.read += 1;
        r.tail.anchor = Some(anchor);
        match value {
            Some(value) => r.latest.insert(key.to_vec(), value.to_vec()),
            None => r.latest.remove(key),
        };
        r.tail.next = offset + 1;
    }
    Ok(())
}
