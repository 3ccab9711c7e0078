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
//!  changelog topic (compacted, keyed by series)
//! ```
//!
//! The pure parts: [`record`] (the repartition record), [`preagg`] (stage 1's
//! aggregation), [`owner`] (stage 2's exactly-once apply, and the changelog). The
//! shells: [`stage1`] and [`stage2`] (a consumer thread each), [`peers`] (which
//! instances are alive, for the whole-picture API) and [`topics`] (creating the internal
//! topics).

pub mod owner;
pub mod peers;

pub mod preagg;
pub mod record;
pub mod stage1;
pub mod stage2;
pub mod topics;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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
    pub changelog_written: AtomicU64,
    pub changelog_restored: AtomicU64,
}

impl ScaleStatus {
    pub fn add_produced(&self, records: &[preagg::Produced]) {
        let bytes: usize = records.iter().map(|r| r.key.len() + r.value.len()).sum();
        self.produced_records
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.produced_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
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
    }
}
