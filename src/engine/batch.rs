//! The ingest path, in batches of up to [`BATCH`] events and three passes:
//!
//! 1. decode each event, decide `too_old` and the horizon (in arrival order, as one at a
//!    time would), and write its stream key into the batch's key arena;
//! 2. look up every stream;
//! 3. prefetch every target's stage, then count every event, in arrival order.
//!
//! Why: the work per event is small and most of its cost is waiting on memory (the
//! stream table, the series' stage). One event at a time, those waits come one after the
//! other. In a pass over a batch the loads of different events do not depend on each
//! other, so the processor overlaps their misses. The result is the same as one event at
//! a time: every decision that depends on order is taken in order.

use super::{Engine, SeriesStore, snapshot};
use crate::classify::StreamKeys;
use crate::decode::{Decoder, Invalid};
use crate::window::latency::bucket_of;
use crate::window::{LADDER_MS, PaneClock, Series, Stage};

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

/// What counting needs of a decoded event; its stream key is a range of a key arena.
#[derive(Clone, Copy)]
pub struct Pending {
    pub(super) timestamp_ms: i64,
    pub(super) status: u16,
    pub(super) latency_ms: f64,
    pub(super) bucket: u32,
    key: (u32, u32),
    hash: u64,
    pub(super) stream: u32,
}

/// A valid event as decoded, before the checks that depend on what came before it. Its
/// latency bucket depends on the event alone, so it is worked out here: with `replay`
/// decoding on its own thread, the counting side is the busier one. (Not its pane clock:
/// six words, which `replay`'s blocks would carry from one core to the other, for six
/// multiplications.)
#[derive(Clone, Copy)]
pub struct Decoded {
    timestamp_ms: i64,
    latency_ms: f64,
    bucket: u32,
    hash: u64,
    key: (u32, u32),
    status: u16,
}

/// Decodes `payload` into what counting needs, appending its stream key to `keys`. It
/// reads no engine state, so it can run ahead of the engine, on another thread
/// (`replay`).
#[inline]
pub fn decode(
    decoder: &mut Decoder,
    streams: &StreamKeys,
    payload: &[u8],
    keys: &mut Vec<u8>,
) -> Result<Decoded, Invalid> {
    let event = decoder.decode(payload)?;
    let start = keys.len() as u32;
    let hash = streams.write(&event, keys);
    Ok(Decoded {
        timestamp_ms: event.timestamp_ms,
        latency_ms: event.latency_ms,
        bucket: bucket_of(event.latency_ms),
        hash,
        key: (start, keys.len() as u32),
        status: event.status,
    })
}

impl Engine {
    /// Reads events in order; the same as [`Engine::ingest`] on each, only faster.
    pub fn ingest_all<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) {
        let mut payloads = payloads.into_iter();
        self.rejected.clear();
        self.admitted = 0;
        loop {
            self.batch.events.clear();
            self.batch.keys.clear();
            let mut read = 0;
            for payload in payloads.by_ref().take(BATCH) {
                read += 1;
                let Engine {
                    decoder,
                    streams,
                    batch,
                    ..
                } = self;
                let decoded = decode(decoder, streams, payload, &mut batch.keys);
                if let Some(pending) = self.admit(decoded) {
                    self.batch.events.push(pending);
                }
            }
            if read == 0 {
                return;
            }
            let mut batch = std::mem::take(&mut self.batch);
            self.count_batch(&mut batch.events, &batch.keys);
            self.batch = batch;
        }
    }

    /// Counts events decoded ahead by [`decode`], in order: the same as
    /// [`Engine::ingest_all`] on the payloads they were decoded from.
    pub(crate) fn ingest_decoded(&mut self, events: &[Result<Decoded, Invalid>], keys: &[u8]) {
        self.admit_decoded(events, |engine, batch| engine.count_batch(batch, keys));
    }

    /// Pass 1 over events decoded ahead, a batch at a time, in order; `then` takes each
    /// batch's admitted events.
    #[inline]
    pub(super) fn admit_decoded(
        &mut self,
        events: &[Result<Decoded, Invalid>],
        mut then: impl FnMut(&mut Engine, &mut [Pending]),
    ) {
        self.rejected.clear();
        self.admitted = 0;
        for chunk in events.chunks(BATCH) {
            let mut batch = std::mem::take(&mut self.batch);
            batch.events.clear();
            for &decoded in chunk {
                if let Some(pending) = self.admit(decoded) {
                    batch.events.push(pending);
                }
            }
            then(self, &mut batch.events);
            self.batch = batch;
        }
    }

    /// Pass 1 for one decoded event: counts it as read, valid or invalid, and decides
    /// `too_old` and the horizon, in arrival order. Events to count are pushed to the
    /// batch (by `ingest_all`) or returned.
    #[inline]
    fn admit(&mut self, decoded: Result<Decoded, Invalid>) -> Option<Pending> {
        let Engine {
            counts,
            horizon_ms,
            latest_valid_ms,
            retention,
            newest,
            rejected,
            admitted,
            ..
        } = self;
        counts.read += 1;
        let index = *admitted;
        *admitted += 1;
        let decoded = match decoded {
            Ok(decoded) => decoded,
            Err(reason) => {
                counts.count_invalid(reason);
                rejected.push((index, reason));
                return None;
            }
        };
        let ts = decoded.timestamp_ms;
        if latest_valid_ms.is_some_and(|l| ts > l) {
            counts.count_invalid(Invalid::Future);
            rejected.push((index, Invalid::Future));
            return None;
        }
        counts.valid += 1;
        if horizon_ms.is_some_and(|h| ts >= h) {
            return None;
        }
        let (step, len) = *retention;
        let pane = ts.div_euclid(LADDER_MS[step]);
        match newest {
            // Older than the longest ring holds, behind the newest event: no window of
            // any SLO can count it any more.
            Some(n) if pane <= n.pane - i64::from(len) => {
                counts.too_old += 1;
                return None;
            }
            Some(n) if n.ms >= ts => {}
            _ => *newest = Some(Newest { ms: ts, pane }),
        }
        Some(Pending {
            timestamp_ms: ts,
            status: decoded.status,
            latency_ms: decoded.latency_ms,
            bucket: decoded.bucket,
            key: decoded.key,
            hash: decoded.hash,
            stream: 0,
        })
    }

    /// Pass 2: the stream of every pending event (keys are ranges of `keys`).
    pub(super) fn look_up(&mut self, events: &mut [Pending], keys: &[u8]) {
        // Once per batch, so that the stream numbers of this batch stay valid.
        self.classifier.make_room(events.len());
        for e in events.iter_mut() {
            let key = &keys[e.key.0 as usize..e.key.1 as usize];
            e.stream = self.classifier.stream(e.hash, key);
        }
    }

    /// Passes 2 and 3: looks up the stream of every pending event (keys are ranges of
    /// `keys`), then counts each in its series.
    fn count_batch(&mut self, events: &mut [Pending], keys: &[u8]) {
        self.look_up(events, keys);
        let Engine {
            classifier,
            series,
            capture,
            ..
        } = self;
        if let Some(capture) = capture {
            let targets = events.iter().flat_map(|e| classifier.targets(e.stream));
            snapshot::save_before_write(capture, classifier, series, targets);
        }
        // Ask for the stage of every target first: the requests are independent, so their
        // misses overlap; the counting below then finds the lines in cache.
        for e in events.iter() {
            for r in classifier.targets(e.stream) {
                if let Some(stage) = series[r.population as usize].stages.get(r.series as usize) {
                    stage.prefetch();
                }
            }
        }
        let populations = classifier.populations();
        for e in events.iter() {
            let clock = PaneClock::at(e.timestamp_ms);
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
                Series::record(stage, state, layout, &clock, good, e.bucket);
            }
        }
    }
}
