//! Scale-out (docs/scale-out.md): several `run` instances in one consumer group give
//! exactly the SLIs of one. Kafka is the distributed engine, as in Kafka Streams; there
//! is no cluster protocol of slipstream's own.
//!
//! ```text
//!  input ──stage 1──▶ PreAggregator ──flush──▶ repartition topic (keyed by series)
//!  (kafka.group)      (preagg)                  │
//!                                               ▼ stage 2 (scale_out.group)
//!                     Engine ◀── Owner::apply ──┘   exactly once per source range
//!                       │  ▲
//!       checkpoint ─────┘  └──── restore on assignment
//!            ▼
//!  changelog topic (compacted, keyed by series) ◀──▶ state.dir (its local cache)
//! ```
//!
//! With `input_keyed` there is no stage 1: [`keyed`] owns input partitions, and
//! pre-aggregates and applies in process (input partition = changelog partition).
//!
//! The pure parts: [`record`] (the repartition record), [`preagg`] (stage 1's
//! aggregation, and the replay plans), [`owner`] (the exactly-once apply, and the
//! changelog records). The shells: [`stage1`] and [`stage2`], or [`keyed`] (a consumer
//! thread each), [`changelog`] (state to and from the changelog topic, through
//! [`cache`]), [`peers`] (which instances are alive, for the whole-picture API) and
//! [`topics`] (creating the internal topics).

pub mod cache;
pub mod changelog;
pub mod keyed;
pub mod owner;
pub mod peers;
pub mod preagg;
pub mod record;
pub mod stage1;
pub mod stage2;
pub mod topics;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why scale-out cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error(transparent)]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Cache(#[from] cache::CacheError),
    #[error(
        "input topic `{0}` is not in the cluster's metadata: with scale_out.input_keyed the \
         changelog gets its partitions; create it first"
    )]
    NoInput(String),
    #[error(
        "changelog topic `{topic}` has {has} partitions and input topic `{input}` {want}: with \
         scale_out.input_keyed each input partition's state goes to the changelog partition \
         of the same number; name a new scale_out.changelog_topic"
    )]
    ChangelogPartitions {
        topic: String,
        has: usize,
        input: String,
        want: usize,
    },
}

/// What the scale-out threads have done, for /metrics and the peers.
#[derive(Default)]
pub struct ScaleStatus {
    /// Repartition partitions this instance owns (stage 2), sorted.
    pub owned: Mutex<Vec<i32>>,
    pub produced_records: AtomicU64,
    pub produced_bytes: AtomicU64,
    pub applied: AtomicU64,
    pub duplicate: AtomicU64,
    pub rejected: AtomicU64,
    pub overlap: AtomicU64,
    pub unkeyed: AtomicU64,
    pub changelog_written: AtomicU64,
    pub changelog_restored: AtomicU64,
    /// Records read from the changelog topic by restores.
    pub changelog_read: AtomicU64,
    /// Partitions assigned, by what the local cache gave: used, none, not usable.
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    pub cache_invalid: AtomicU64,
    /// Times stage 2 gave partitions up: their series must leave /metrics and the alerts.
    pub releases: AtomicU64,
}

impl ScaleStatus {
    pub fn add_produced(&self, records: &[preagg::Produced]) {
        let bytes: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
        self.produced_records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.produced_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Records the partitions `consumer` is assigned as the owned ones.
    pub fn set_owned<C: rdkafka::consumer::ConsumerContext>(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<C>,
    ) {
        use rdkafka::consumer::Consumer;
        let mut owned: Vec<i32> = consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        owned.sort_unstable();
        *self.owned.lock().unwrap_or_else(|e| e.into_inner()) = owned;
    }

    pub fn owned(&self) -> Vec<i32> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Copies the owner's totals (it keeps them under the engine's lock).
    pub fn set_applied(&self, stats: &owner::ApplyStats) {
        self.applied.store(stats.applied, Ordering::Relaxed);
        self.duplicate.store(stats.duplicate, Ordering::Relaxed);
        self.rejected.store(stats.rejected, Ordering::Relaxed);
        self.overlap.store(stats.overlap, Ordering::Relaxed);
        self.unkeyed.store(stats.unkeyed, Ordering::Relaxed);
    }
}
