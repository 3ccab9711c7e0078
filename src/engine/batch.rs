//! The ingest path, in batches of up to [`BATCH`] events and three passes:
//!
//! 1. decode each event, decide `too_old` and the horizon (in arrival order, as one at a
//!    time would), and write its stream key into the batch's key arena;
//! 2. look up every stream;
//! 3. touch every target stage, then count every event, in arrival order.
//!
//! Why: the work per event is small and most of its cost is waiting on memory (the
//! stream table, the series' stage). One event at a time, those waits come one after the
//! other. In a pass over a batch the loads of different events do not depend on each
//! other, so the processor overlaps their misses. The result is the same as one event at
//! a time: every decision that depends on order is taken in order.

use std::hint::black_box;

use super::{Engine, SeriesStore};
use crate::decode::Invalid;
use crate::window::latency::bucket_of;
use crate::window::{PaneClock, Series, Stage};

/// Events per batch: enough misses in flight to fill the memory pipeline, small enough
/// that the batch stays in L1.
pub const BATCH: usize = 32;

/// The newest event aggregated: its time, and its pane on the retention ring.
#[derive(Clone, Copy)]
pub struct Newest {
    pub ms: i64,
    pub pane: i64,
}

/// A decoded event waiting for passes 2 and 3. Reused across batches.
#[derive(Default)]
pub struct Batch {
    events: Vec<Pending>,
    keys: Vec<u8>,
}

struct Pending {
    clock: PaneClock,
    status: u16,
    latency_ms: f64,
    bucket: u32,
    key: (u32, u32),
    hash: u64,
    stream: u32,
}

impl Engine {
    /// Reads events in order; the same as [`Engine::ingest`] on each, only faster.
    pub fn ingest_all<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) {
        let mut payloads = payloads.into_iter();
        loop {
            self.batch.events.clear();
            self.batch.keys.clear();
            let mut read = 0;
            for payload in payloads.by_ref().take(BATCH) {
                read += 1;
                self.decode_one(payload);
            }
            if read == 0 {
                return;
            }
            let Engine {
                classifier, batch, ..
            } = self;
            for e in &mut batch.events {
                e.stream =
                    classifier.stream(e.hash, &batch.keys[e.key.0 as usize..e.key.1 as usize]);
            }
            self.count_batch();
        }
    }

    /// Pass 1 for one event.
    #[inline]
    fn decode_one(&mut self, payload: &[u8]) {
        let Engine {
            decoder,
            classifier,
            counts,
            horizon_ms,
            latest_valid_ms,
            retention,
            newest,
            batch,
            ..
        } = self;
        counts.read += 1;
        let event = match decoder.decode(payload) {
            Ok(event) => event,
            Err(reason) => return counts.count_invalid(reason),
        };
        if latest_valid_ms.is_some_and(|l| event.timestamp_ms > l) {
            return counts.count_invalid(Invalid::Future);
        }
        counts.valid += 1;
        if horizon_ms.is_some_and(|h| event.timestamp_ms >= h) {
            return;
        }
        let clock = PaneClock::at(event.timestamp_ms);
        let (step, len) = *retention;
        let pane = clock.pane[step];
        match newest {
            // Older than the longest ring holds, behind the newest event: no window of
            // any SLO can count it any more.
            Some(n) if pane <= n.pane - i64::from(len) => {
                counts.too_old += 1;
                return;
            }
            Some(n) if n.ms >= event.timestamp_ms => {}
            _ => {
                *newest = Some(Newest {
                    ms: event.timestamp_ms,
                    pane,
                })
            }
        }
        let start = batch.keys.len() as u32;
        let hash = classifier.stream_key(&event, &mut batch.keys);
        batch.events.push(Pending {
            clock,
            status: event.status,
            latency_ms: event.latency_ms,
            bucket: bucket_of(event.latency_ms),
            key: (start, batch.keys.len() as u32),
            hash,
            stream: 0,
        });
    }

    /// Pass 3: counts every pending event in its series.
    fn count_batch(&mut self) {
        let Engine {
            classifier,
            series,
            batch,
            ..
        } = self;
        // Touch the stage of every target first: these loads are independent, so their
        // misses overlap; the counting below then finds the lines in cache.
        let mut touched = 0i64;
        for e in &batch.events {
            for r in classifier.targets(e.stream) {
                if let Some(stage) = series[r.population as usize].stages.get(r.series as usize) {
                    touched ^= stage.pane();
                }
            }
        }
        black_box(touched);
        let populations = classifier.populations();
        for e in &batch.events {
            for r in classifier.targets(e.stream) {
                let population = &populations[r.population as usize];
                let layout = &population.layout;
                let store: &mut SeriesStore = &mut series[r.population as usize];
                let i = r.series as usize;
                if i == store.series.len() {
                    store.series.push(Series::new(layout));
                    store.stages.push(Stage::default());
                }
                let good = population.good_mask(e.status, e.latency_ms);
                let (stage, state) = (&mut store.stages[i], &mut store.series[i]);
                Series::record(stage, state, layout, &e.clock, good, e.bucket);
            }
        }
    }
}
