//! The synchronous core: bytes in ([`Engine::ingest`]), report out ([`Engine::evaluate`]).
//!
//! It strings the steps of the data path together (decode → classify → window) and owns
//! the state of every series. No I/O, clock, lock or runtime: `replay` drives it from a
//! file, the Kafka source from partitions, and tests directly.
//!
//! Per event it does one decode, one stream lookup, and per series one update of the pane
//! it is filling, with no allocation once a stream is known; counts are plain fields.
//! Events go through in small batches ([`batch`]) so that their memory accesses overlap.

mod ahead;
mod batch;
mod carry;
mod evaluate;
mod grouped;
mod partial;
mod snapshot;

pub use ahead::{BlockDecoder, DecodedBlock};
pub use carry::Restored;
pub use grouped::GroupedIngest;
pub use partial::PartialOutcome;
pub use snapshot::{Checkpoint, FORMAT as CHECKPOINT_FORMAT, SourcePosition};

use batch::{Batch, Newest};

use crate::classify::{Classifier, StreamKeys};
use crate::config::ladder::ObjectiveLadder;
use crate::config::{Composite, Config, Rollup, Slo, Span};
use crate::decode::timestamp::format_rfc3339;
use crate::decode::{Decoder, Invalid};
use crate::report::EventCounts;
use crate::window::{LADDER_MS, PaneClock, Series, Stage, pane_range};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EvalError {
    #[error(
        "cannot evaluate at {at}: SLO `{slo}` window {window} reaches back to {from}, but data \
         is only retained from {retained} on; pick a later time"
    )]
    NotRetained {
        at: String,
        slo: String,
        window: Span,
        from: String,
        retained: String,
    },
}

/// The state of one population's series. Stages sit in their own dense array: the hot
/// path touches only them (see `window::series`).
#[derive(Default)]
pub(crate) struct SeriesStore {
    pub(crate) stages: Vec<Stage>,
    pub(crate) series: Vec<Series>,
}

pub struct Engine {
    decoder: Decoder,
    /// The classifier's key writer, apart from it so that decoding can borrow it while
    /// counting borrows the classifier.
    streams: StreamKeys,
    classifier: Classifier,
    slos: Vec<Slo>,
    /// Evaluated after the SLOs, from their series.
    composites: Vec<Composite>,
    rollups: Vec<Rollup>,
    /// Where each series' baseline is placed.
    ladder: ObjectiveLadder,
    /// Per population.
    series: Vec<SeriesStore>,
    counts: EventCounts,
    /// Events at or after this time are counted but not aggregated.
    horizon_ms: Option<i64>,
    /// Events after this time are invalid (`future`): the shell's wall clock plus the
    /// allowed skew. The engine reads no clock itself.
    latest_valid_ms: Option<i64>,
    /// Ladder step and panes of the ring that holds the most history.
    retention: (usize, u32),
    newest: Option<Newest>,
    batch: Batch,
    /// Per partition of the source, where the counted events end (`run` only).
    positions: Vec<SourcePosition>,
    /// The invalid events of the last `ingest_all` call: their index in it, and why.
    rejected: Vec<(u32, Invalid)>,
    /// Events read so far by the current `ingest_all` call.
    admitted: u32,
    /// Per population, what its checkpointed state must match to be restored as it is.
    state_keys: Vec<String>,
    /// Per population, its selection ([`crate::classify::Population::selection_key`]).
    selections: Vec<String>,
    /// The checkpoint being taken, if any (see [`snapshot`]).
    capture: Option<Box<snapshot::Capture>>,
}

impl Engine {
    pub fn new(config: &Config) -> Engine {
        Engine::with_classifier(config, Classifier::new(config))
    }

    fn with_classifier(config: &Config, classifier: Classifier) -> Engine {
        let retention = classifier
            .populations()
            .iter()
            .map(|p| p.layout.longest_tier())
            .max_by_key(|t| i64::from(t.len) * LADDER_MS[t.step])
            .map(|t| (t.step, t.len))
            .expect("a config has at least one SLO");
        let populations = classifier.populations();
        let classifier_keys = populations.iter().map(|p| p.state_key(config)).collect();
        let selections = populations
            .iter()
            .map(|p| p.selection_key(config))
            .collect();
        Engine {
            decoder: Decoder::new(&config.events),
            streams: classifier.stream_keys().clone(),
            series: classifier
                .populations()
                .iter()
                .map(|_| SeriesStore::default())
                .collect(),
            classifier,
            slos: config.slos.clone(),
            composites: config.composites.clone(),
            rollups: config.rollups.clone(),
            ladder: config.objective_ladder.clone(),
            counts: EventCounts::default(),
            horizon_ms: None,
            latest_valid_ms: None,
            retention,
            newest: None,
            batch: Batch::default(),
            positions: Vec::new(),
            rejected: Vec::new(),
            admitted: 0,
            state_keys: classifier_keys,
            selections,
            capture: None,
        }
    }

    /// Events timestamped at or after `horizon_ms` are read and validated, but no window
    /// counts them: a report at that time then describes the stream as it was then.
    pub fn set_horizon(&mut self, horizon_ms: Option<i64>) {
        self.horizon_ms = horizon_ms;
    }

    /// Events timestamped after `latest_ms` are counted as invalid (`future`) from now on:
    /// `run` sets wall-clock now plus the allowed clock skew before each batch.
    pub fn set_latest_valid(&mut self, latest_ms: Option<i64>) {
        self.latest_valid_ms = latest_ms;
    }

    pub fn counts(&self) -> &EventCounts {
        &self.counts
    }

    /// SLO series held: one per SLO and distinct combination of its `group_by` values.
    pub fn series_count(&self) -> usize {
        let populations = self.classifier.populations();
        self.series
            .iter()
            .zip(populations)
            .map(|(store, p)| store.series.len() * p.slos.len())
            .sum()
    }

    /// The newest event time aggregated so far.
    pub fn newest_event_ms(&self) -> Option<i64> {
        self.newest.map(|n| n.ms)
    }

    /// Reads one event.
    pub fn ingest(&mut self, payload: &[u8]) {
        self.ingest_all([payload]);
    }

    /// The events of the last [`Engine::ingest_all`] call that were invalid: their index
    /// among its payloads, and the reason (for the dead-letter topic).
    pub fn rejected(&self) -> &[(u32, Invalid)] {
        &self.rejected
    }

    /// Counts an event refused before decoding (by the reader, e.g. `too_large`).
    pub fn reject(&mut self, reason: Invalid) {
        self.counts.read += 1;
        self.counts.count_invalid(reason);
    }

    /// Every window of every SLO at `at_ms` must still be held by its rings (counters and
    /// percentiles alike); otherwise the report would silently undercount.
    fn check_retained(&self, at_ms: i64) -> Result<(), EvalError> {
        let Some(newest) = self.newest_event_ms() else {
            return Ok(());
        };
        let clock = PaneClock::at(newest);
        for population in self.classifier.populations() {
            let layout = &population.layout;
            let rings = layout
                .windows
                .iter()
                .map(|&(w, t)| (w, layout.tiers[t].step, layout.tiers[t].len));
            let latency = layout.latency.iter().flat_map(|l| {
                let short = layout.percentile_windows.iter();
                short.map(|&w| (w, l.step, l.len))
            });
            for (window, step, len) in rings.chain(latency) {
                let (lo, _) = pane_range(at_ms, window, step);
                let oldest = clock.pane[step] - i64::from(len) + 1;
                if lo < oldest {
                    let mut slos = population.slos.iter().map(|&s| &self.slos[s]);
                    let slo = slos
                        .find(|s| s.engine_windows().contains(&window))
                        .map_or("", |s| &s.name);
                    let r = LADDER_MS[step];
                    return Err(EvalError::NotRetained {
                        at: format_rfc3339(at_ms),
                        slo: slo.to_owned(),
                        window,
                        from: format_rfc3339(lo * r),
                        retained: format_rfc3339(oldest * r),
                    });
                }
            }
        }
        Ok(())
    }

    /// Heap bytes of all series window state, and the number of series.
    pub fn memory(&self) -> (usize, usize) {
        let series = self.series.iter().flat_map(|s| &s.series);
        series.fold((0, 0), |(bytes, n), s| (bytes + s.heap_bytes(), n + 1))
    }
}
