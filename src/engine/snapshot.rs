//! The engine's state as bytes, for checkpoints: everything that decides a later report
//! (every series with its labels, the event counts, the newest event) together with the
//! source positions it covers. Restored, the engine reports and ingests exactly as the one
//! it was taken from.
//!
//! Taking it must not stall ingestion, and serialising 100k series takes longer than the
//! 50 ms an ingest may wait. So a checkpoint is a consistent cut taken in steps:
//! [`Engine::begin_checkpoint`] fixes the cut (positions, counts, and how many series each
//! population has), [`Engine::checkpoint_step`] serialises a few series at a time, each
//! under a short hold of the engine's lock, and ingestion goes on in between. A series
//! that an event is about to change while the checkpoint is open is serialised first
//! (copy on write, in `count_batch`), so every series is saved as it was at the cut.
//! Series created after the cut are not part of it: their events come after the saved
//! positions and are read again after a restore.

use super::batch::Newest;
use super::carry::{self, Past, PastLabels, Restored};
use super::{Engine, SeriesStore};
use crate::classify::{Classifier, SeriesRef};
use crate::config::Config;
use crate::decode::Invalid;
use crate::report::EventCounts;
use crate::state::codec::{CodecError, Reader, Writer};
use crate::window::{Series, Stage};

/// The format of [`Checkpoint::write`]'s bytes: 2 describes each population (its SLOs and
/// layout), so that a restore can carry its state into a changed config.
pub const FORMAT: u32 = 2;

/// Where the engine's state ends in one partition of the source: the offset of the next
/// message it has not counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourcePosition {
    pub topic: String,
    pub partition: i32,
    pub next_offset: i64,
}

/// A checkpoint being taken: the cut, and the series serialised so far.
pub(super) struct Capture {
    positions: Vec<SourcePosition>,
    counts: EventCounts,
    newest: Option<Newest>,
    populations: Vec<CapturedPopulation>,
    scratch: Writer,
}

/// Per population: its series at the cut, `labels + state` each, in an arena in the
/// order they were saved.
struct CapturedPopulation {
    key: String,
    /// What it counts and how its state is laid out ([`carry::write_descriptor`]).
    descriptor: Vec<u8>,
    /// Label combinations its series limit had refused at the cut.
    refused: u64,
    /// `(start, end)` in `arena` of each series below the cut; `UNSAVED` until saved.
    spans: Vec<(usize, usize)>,
    arena: Vec<u8>,
    /// Series below this index are saved, or were saved out of order on write.
    cursor: usize,
}

const UNSAVED: (usize, usize) = (usize::MAX, 0);

impl CapturedPopulation {
    fn save(
        &mut self,
        i: usize,
        labels: &[Box<str>],
        series: &Series,
        stage: &Stage,
        scratch: &mut Writer,
    ) {
        scratch.buf.clear();
        series.write_state(stage, scratch);
        let mut w = Writer {
            buf: std::mem::take(&mut self.arena),
        };
        let start = w.buf.len();
        w.u64(labels.len() as u64);
        labels.iter().for_each(|l| w.str(l));
        w.bytes(&scratch.buf);
        self.spans[i] = (start, w.buf.len());
        self.arena = w.buf;
    }
}

/// A checkpoint taken: ready to be written while ingestion goes on.
pub struct Checkpoint {
    capture: Box<Capture>,
}

impl Checkpoint {
    pub fn positions(&self) -> &[SourcePosition] {
        &self.capture.positions
    }

    /// Series in the checkpoint.
    pub fn series(&self) -> usize {
        self.capture.populations.iter().map(|p| p.spans.len()).sum()
    }

    /// The checkpoint's bytes, in pieces (to be written in order, and checksummed by the
    /// caller): a header, then every series' record, straight from the arenas.
    pub fn write(&self, mut out: impl FnMut(&[u8])) {
        let c = &self.capture;
        let mut w = Writer::default();
        w.u64(c.positions.len() as u64);
        for p in &c.positions {
            w.str(&p.topic);
            w.i64(i64::from(p.partition));
            w.i64(p.next_offset);
        }
        w.u64(c.counts.read);
        w.u64(c.counts.valid);
        w.u64(c.counts.too_old);
        w.u64(Invalid::ALL.len() as u64);
        for reason in Invalid::ALL {
            w.str(reason.as_str());
            w.u64(c.counts.invalid_by_reason[reason as usize]);
        }
        match c.newest {
            None => w.u64(0),
            Some(n) => {
                w.u64(1);
                w.i64(n.ms);
                w.i64(n.pane);
            }
        }
        w.u64(c.populations.len() as u64);
        out(&w.buf);
        for p in &c.populations {
            w.buf.clear();
            w.str(&p.key);
            w.buf.extend_from_slice(&p.descriptor);
            w.u64(p.refused);
            w.u64(p.spans.len() as u64);
            w.u64(p.arena.len() as u64);
            out(&w.buf);
            for &(start, end) in &p.spans {
                out(&p.arena[start..end]);
            }
        }
    }
}

impl Engine {
    /// Marks that the state now covers `partition` of `topic` up to `next_offset`: the
    /// offset after the newest message counted, which moves back only when the source
    /// does (a log recreated, an offset reset).
    pub fn advance(&mut self, topic: &str, partition: i32, next_offset: i64) {
        match self
            .positions
            .iter_mut()
            .find(|p| p.partition == partition && p.topic == topic)
        {
            Some(p) => p.next_offset = next_offset,
            None => self.positions.push(SourcePosition {
                topic: topic.to_owned(),
                partition,
                next_offset,
            }),
        }
    }

    /// The source positions the state covers, per partition.
    pub fn positions(&self) -> &[SourcePosition] {
        &self.positions
    }

    /// What population `p` counts and how its state is laid out, as a checkpoint says it.
    fn descriptor(&self, p: usize) -> Vec<u8> {
        let population = &self.classifier.populations()[p];
        let slos: Vec<(&str, crate::config::Indicator)> = population
            .slos
            .iter()
            .zip(&population.indicators)
            .map(|(&s, &i)| (self.slos[s].name.as_str(), i))
            .collect();
        let mut w = Writer::default();
        carry::write_descriptor(&mut w, &self.selections[p], &slos, &population.layout);
        w.buf
    }

    /// Fixes the cut of a new checkpoint (dropping one left unfinished). Cheap: no series
    /// is serialised here.
    pub fn begin_checkpoint(&mut self) {
        let populations = self
            .state_keys
            .iter()
            .zip(&self.series)
            .enumerate()
            .map(|(p, (key, store))| CapturedPopulation {
                key: key.clone(),
                descriptor: self.descriptor(p),
                refused: self.classifier.overflow(p).refused,
                spans: vec![UNSAVED; store.series.len()],
                arena: Vec::new(),
                cursor: 0,
            })
            .collect();
        self.capture = Some(Box::new(Capture {
            positions: self.positions.clone(),
            counts: self.counts.clone(),
            newest: self.newest,
            populations,
            scratch: Writer::default(),
        }));
    }

    /// Serialises up to `max_series` more series of the open checkpoint; `true` once all
    /// are (or when none is open).
    pub fn checkpoint_step(&mut self, max_series: usize) -> bool {
        let Some(capture) = self.capture.as_deref_mut() else {
            return true;
        };
        let mut budget = max_series;
        for (p, population) in capture.populations.iter_mut().enumerate() {
            let store = &self.series[p];
            let labels = self.classifier.series_labels(p);
            while population.cursor < population.spans.len() {
                let i = population.cursor;
                if population.spans[i] == UNSAVED {
                    if budget == 0 {
                        return false;
                    }
                    budget -= 1;
                    let (series, stage) = (&store.series[i], &store.stages[i]);
                    population.save(i, &labels[i], series, stage, &mut capture.scratch);
                }
                population.cursor += 1;
            }
        }
        true
    }

    /// Completes the open checkpoint (serialising what is left), if one is open.
    pub fn finish_checkpoint(&mut self) -> Option<Checkpoint> {
        self.checkpoint_step(usize::MAX);
        self.capture.take().map(|capture| Checkpoint { capture })
    }

    /// An engine for `config` with the state of a checkpoint's bytes (as
    /// [`Checkpoint::write`] wrote them), carried as a reload carries it
    /// ([`super::carry`]): the config may differ from the one the checkpoint was taken
    /// with.
    pub fn restore(config: &Config, bytes: &[u8]) -> Result<(Engine, Restored), CodecError> {
        Engine::restore_version(config, bytes, FORMAT)
    }

    /// [`Engine::restore`] of a checkpoint of format `version`: 1 names its populations
    /// only by key, so that only those of the config's populations with the same key are
    /// restored; 2 also says what each counts and how its state is laid out.
    pub fn restore_version(
        config: &Config,
        bytes: &[u8],
        version: u32,
    ) -> Result<(Engine, Restored), CodecError> {
        let mut r = Reader::new(bytes);
        let mut positions = Vec::new();
        for _ in 0..r.len(1 << 20, "the number of positions")? {
            let topic = r.str()?.to_owned();
            let partition = i32::try_from(r.i64()?).map_err(|_| r.invalid("a partition"))?;
            positions.push(SourcePosition {
                topic,
                partition,
                next_offset: r.i64()?,
            });
        }
        let mut counts = EventCounts {
            read: r.u64()?,
            valid: r.u64()?,
            too_old: r.u64()?,
            ..EventCounts::default()
        };
        for _ in 0..r.len(1024, "the number of invalid reasons")? {
            let name = r.str()?;
            let n = r.u64()?;
            match Invalid::ALL.iter().find(|i| i.as_str() == name) {
                Some(&reason) => counts.invalid_by_reason[reason as usize] = n,
                None => return Err(r.invalid("an invalid reason")),
            }
        }
        let newest = match r.u64()? {
            0 => None,
            1 => {
                let ms = r.i64()?;
                r.i64()?;
                Some(ms)
            }
            _ => return Err(r.invalid("the newest event")),
        };
        // Format 1: the populations of the config that a checkpointed key names.
        let legacy = (version < 2).then(|| Classifier::new(config));
        let mut pasts = Vec::new();
        let mut discarded = Vec::new();
        for _ in 0..r.len(1 << 20, "the number of populations")? {
            let key = r.str()?.to_owned();
            let described = match &legacy {
                None => Some(carry::read_descriptor(&mut r)?),
                Some(classifier) => classifier
                    .populations()
                    .iter()
                    .find(|p| p.state_key(config) == key)
                    .map(|p| {
                        let slos = p.slos.iter().zip(&p.indicators);
                        let slos = slos.map(|(&s, &i)| (config.slos[s].name.clone(), i));
                        (p.selection_key(config), slos.collect(), p.layout.clone())
                    }),
            };
            let refused = r.u64()?;
            let n = r.len(bytes.len(), "the number of series")?;
            let arena = r.len(bytes.len(), "the size of a population")?;
            let mut records = Reader::new(r.take(arena)?);
            let Some((selection, slos, layout)) = described else {
                discarded.push(key);
                continue;
            };
            let mut labels = Vec::with_capacity(n);
            let mut store = SeriesStore::default();
            for _ in 0..n {
                let n_labels = records.len(64, "the number of labels")?;
                let values: Box<[Box<str>]> = (0..n_labels)
                    .map(|_| records.str().map(Box::from))
                    .collect::<Result<_, _>>()?;
                let mut state = Reader::new(records.bytes()?);
                let (series, stage) = Series::read_state(&layout, &mut state)?;
                if !state.is_empty() {
                    return Err(state.invalid("the end of a series"));
                }
                labels.push(values);
                store.series.push(series);
                store.stages.push(stage);
            }
            if !records.is_empty() {
                return Err(records.invalid("the end of a population"));
            }
            pasts.push(Past {
                key,
                selection,
                slos,
                layout,
                labels: PastLabels::Read { labels, refused },
                store,
            });
        }
        if !r.is_empty() {
            return Err(r.invalid("the end of the checkpoint"));
        }
        let (mut engine, mut restored) = carry::assemble(config, pasts, None)?;
        restored.discarded_populations.extend(discarded);
        engine.counts = counts;
        engine.positions = positions;
        engine.set_newest(newest);
        Ok((engine, restored))
    }
}

/// Copy on write: saves, before they change, the series below the cut that `targets`
/// are about to count in.
pub(super) fn save_before_write<'a>(
    capture: &mut Capture,
    classifier: &Classifier,
    series: &[SeriesStore],
    targets: impl Iterator<Item = &'a SeriesRef>,
) {
    for r in targets {
        let (p, i) = (r.population as usize, r.series as usize);
        let population = &mut capture.populations[p];
        if population.spans.get(i) == Some(&UNSAVED) {
            let store = &series[p];
            let labels = &classifier.series_labels(p)[i];
            population.save(
                i,
                labels,
                &store.series[i],
                &store.stages[i],
                &mut capture.scratch,
            );
        }
    }
}
