//! Durable state: checkpoints of the engine together with the source offsets they cover,
//! so that a restart neither loses nor double-counts an event, and a 30-day window
//! survives a Kafka retention shorter than 30 days.
//!
//! ```text
//!  Engine ──begin/step/finish──▶ Checkpoint ──file::write──▶ state.dir/checkpoint-N.slip
//!    ▲       (short lock holds)                 (fsync, rename, fsync dir)   │
//!    └─────────────── Engine::restore ◀── file::load (newest good one) ◀─────┘
//! ```
//!
//! [`Checkpointer`] takes them (periodically, on revoke and at shutdown); the source
//! stores and commits offsets to Kafka only once the checkpoint that covers them is
//! durable, and seeks its partitions to the restored positions on assignment.

pub mod codec;
mod file;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use file::{LoadFailure, LoadReason, StateStore};

use crate::config::Config;
use crate::engine::{Engine, Restored, SourcePosition};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot use the state directory {}: {source} (state.dir)", dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the state directory {} is in use by another slipstream process; give each \
         instance its own state.dir",
        dir.display()
    )]
    Locked { dir: PathBuf },
    #[error("cannot write checkpoint {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "none of the {count} checkpoints in {} can be read (newest: {newest}); refusing to \
         start with empty windows while Kafka's committed offsets say those events were \
         counted. Move the directory away to start empty on purpose",
        dir.display()
    )]
    NoGoodCheckpoint {
        dir: PathBuf,
        count: usize,
        newest: String,
    },
}

/// Series serialised per hold of the engine's lock: a few milliseconds at most.
const STEP_SERIES: usize = 256;

/// What the checkpointer has done, for the self-metrics (docs/metrics.md).
#[derive(Debug, Default)]
pub struct CheckpointStats {
    pub written: AtomicU64,
    pub failed: AtomicU64,
    /// Of the last checkpoint written: seconds to take and write it, bytes, series.
    pub last_seconds_bits: AtomicU64,
    pub last_bytes: AtomicU64,
    pub last_series: AtomicU64,
    /// Unix milliseconds when the last checkpoint became durable.
    pub last_unix_ms: AtomicU64,
    /// The longest the engine's lock was held by one step of a checkpoint, in µs.
    pub max_hold_us: AtomicU64,
    /// Checkpoints that could not be loaded at start, by [`LoadReason`].
    pub load_failures: [AtomicU64; LoadReason::ALL.len()],
    /// Series restored at start.
    pub restored_series: AtomicU64,
}

impl CheckpointStats {
    pub fn last_seconds(&self) -> f64 {
        f64::from_bits(self.last_seconds_bits.load(Ordering::Relaxed))
    }
}

/// Takes checkpoints of a shared engine and writes them to a [`StateStore`]. One at a time:
/// a periodic one, the one on revoke and the one at shutdown may be asked concurrently.
pub struct Checkpointer {
    store: Mutex<StateStore>,
    engine: Arc<parking_lot::Mutex<Engine>>,
    pub stats: Arc<CheckpointStats>,
    pub interval: Duration,
}

impl Checkpointer {
    pub fn new(
        store: StateStore,
        engine: Arc<parking_lot::Mutex<Engine>>,
        stats: Arc<CheckpointStats>,
        interval: Duration,
    ) -> Checkpointer {
        Checkpointer {
            store: Mutex::new(store),
            engine,
            stats,
            interval,
        }
    }

    /// Takes a checkpoint and makes it durable, unless nothing was counted since the last
    /// one; the positions the newest durable checkpoint covers.
    pub fn checkpoint(&self) -> Result<Vec<SourcePosition>, StateError> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let started = Instant::now();
        {
            let mut engine = self.lock_engine();
            if engine.positions() == store.last_positions() {
                return Ok(store.last_positions().to_vec());
            }
            engine.begin_checkpoint();
        }
        let mut max_hold = Duration::ZERO;
        let checkpoint = loop {
            let mut engine = self.lock_engine();
            let held = Instant::now();
            let done = engine.checkpoint_step(STEP_SERIES);
            let checkpoint = if done {
                engine.finish_checkpoint()
            } else {
                None
            };
            // A fair unlock hands the lock to a waiting ingest thread: relocking at once
            // would starve it for the whole checkpoint (measured: 230 ms waits with
            // every step under 5 ms). The ingest thread's own unlocks are fair often
            // enough (parking_lot: every 0.5 ms on average) that it cannot starve the
            // checkpoint either.
            parking_lot::MutexGuard::unlock_fair(engine);
            max_hold = max_hold.max(held.elapsed());
            if done {
                break checkpoint.expect("a checkpoint was begun");
            }
        };
        let written = store.write(&checkpoint);
        let stats = &self.stats;
        let bytes = match written {
            Ok(bytes) => bytes,
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                return Err(e);
            }
        };
        stats.written.fetch_add(1, Ordering::Relaxed);
        stats
            .last_seconds_bits
            .store(started.elapsed().as_secs_f64().to_bits(), Ordering::Relaxed);
        stats.last_bytes.store(bytes, Ordering::Relaxed);
        stats
            .last_series
            .store(checkpoint.series() as u64, Ordering::Relaxed);
        stats
            .last_unix_ms
            .store(crate::run::wall_ms() as u64, Ordering::Relaxed);
        stats
            .max_hold_us
            .fetch_max(max_hold.as_micros() as u64, Ordering::Relaxed);
        Ok(checkpoint.positions().to_vec())
    }

    /// Holds checkpoints off while the guard lives: none is being taken, so the engine
    /// may be replaced (a config reload) without cutting one in half.
    pub fn hold(&self) -> std::sync::MutexGuard<'_, StateStore> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_engine(&self) -> parking_lot::MutexGuard<'_, Engine> {
        self.engine.lock()
    }
}

/// Opens `dir` and restores the newest checkpoint that loads; an empty engine when there
/// is none yet. Failures to load are logged and counted in `stats`, and the next older
/// checkpoint is tried.
pub fn open_and_restore(
    dir: &Path,
    config: &Config,
    stats: &CheckpointStats,
) -> Result<(StateStore, Engine), StateError> {
    let mut store = StateStore::open(dir)?;
    let files = store.checkpoints();
    let mut newest_failure = None;
    for path in files.iter().rev() {
        match file::load(path, config) {
            Ok((engine, restored)) => {
                log_restored(path, &engine, &restored);
                stats
                    .restored_series
                    .store(restored.series as u64, Ordering::Relaxed);
                store.restored(engine.positions().to_vec());
                return Ok((store, engine));
            }
            Err(failure) => {
                tracing::error!(
                    "checkpoint {} cannot be used: {failure}; trying the one before it",
                    path.display()
                );
                stats.load_failures[failure.reason() as usize].fetch_add(1, Ordering::Relaxed);
                newest_failure.get_or_insert_with(|| format!("{}: {failure}", path.display()));
            }
        }
    }
    match newest_failure {
        None => {
            tracing::info!(
                "no checkpoint in {} yet: starting with empty windows",
                dir.display()
            );
            Ok((store, Engine::new(config)))
        }
        Some(newest) => Err(StateError::NoGoodCheckpoint {
            dir: dir.to_owned(),
            count: files.len(),
            newest,
        }),
    }
}

fn log_restored(path: &Path, engine: &Engine, restored: &Restored) {
    let positions: Vec<String> = engine
        .positions()
        .iter()
        .map(|p| format!("{}[{}]@{}", p.topic, p.partition, p.next_offset))
        .collect();
    tracing::info!(
        "restored {} series from {}; resuming at {}",
        restored.series,
        path.display(),
        if positions.is_empty() {
            "the committed offsets".to_owned()
        } else {
            positions.join(", ")
        }
    );
    for key in &restored.discarded_populations {
        tracing::warn!(
            "checkpointed series of SLOs that changed were not restored (they start empty): {key}"
        );
    }
    if !restored.restarted_slos.is_empty() {
        tracing::warn!(
            "SLOs whose indicator, selection or SLO window changed since the checkpoint start \
             with empty windows: {}",
            restored.restarted_slos.join(", ")
        );
    }
}
