//! Stage 2's core: applies repartition records to the engine exactly once, and moves the
//! state of a partition's series to and from its changelog.
//!
//! Exactly once by idempotent merges keyed by source offsets (docs/scale-out.md): every
//! series remembers, per source partition, the end of the offset range whose partial
//! buckets it has counted. A record whose range ends there or before is a duplicate (a
//! stage-1 flush produced again after a crash, or a repartition record read again after
//! a restore) and is skipped. Stage 1 makes a replayed flush cover exactly the range of
//! the one it replaces, so ranges never straddle that end. The ends are part of the
//! series' changelog record, so they move with the series.

use hashbrown::HashMap;

use super::preagg::Produced;
use super::record::{self, Partial};
use crate::engine::{Engine, PartialOutcome};
use crate::state::codec::{CodecError, Reader, Writer};

/// The version of a changelog value's encoding.
const CHANGELOG_VERSION: u64 = 1;

/// What became of repartition records, for `slipstream_repartition_records_total`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyStats {
    pub applied: u64,
    pub duplicate: u64,
    /// Not decodable, or for a population or SLO set this instance does not have.
    pub rejected: u64,
    /// Applied, but its range started before the series' end: counted twice in part.
    /// Zero unless stage 1's replay of a flush was not exact.
    pub overlap: u64,
    /// Applied, for a series already held under another partition: with
    /// `input_keyed`, events of one series in two input partitions (the input is not
    /// keyed as the config says, and the series' state cannot follow one partition).
    pub unkeyed: u64,
}

/// Where a series' counts come from, per source partition.
#[derive(Clone, Debug, Default)]
struct SeriesMeta {
    /// The partition whose owner holds the series, and whose changelog it goes to.
    partition: i32,
    /// `(source topic, source partition, end)`: offsets before `end` are counted.
    ends: Vec<(Box<str>, i32, i64)>,
    /// Changed since it was last written to the changelog.
    dirty: bool,
}

pub struct Owner {
    /// Per series key.
    series: HashMap<Box<[u8]>, SeriesMeta>,
    /// Per population of the engine: the hash of its state key.
    state_hashes: Vec<u64>,
    pub stats: ApplyStats,
}

#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    #[error("a record that does not decode: {0}")]
    Codec(#[from] CodecError),
    #[error(
        "a record for population `{0}`, which this instance's config does not have: run every \
         instance with the same SLOs"
    )]
    UnknownPopulation(String),
    #[error(
        "a record for population `{0}` counted under other SLOs or indicators: run every \
         instance with the same SLOs"
    )]
    OtherSlos(String),
}

impl Owner {
    pub fn new(engine: &Engine) -> Owner {
        let state_hashes = (0..engine.populations())
            .map(|p| record::stable_hash(engine.state_key(p).as_bytes()))
            .collect();
        Owner {
            series: HashMap::new(),
            state_hashes,
            stats: ApplyStats::default(),
        }
    }

    /// Series held, and how many of them changed since the last checkpoint.
    pub fn series(&self) -> (usize, usize) {
        let dirty = self.series.values().filter(|m| m.dirty).count();
        (self.series.len(), dirty)
    }

    /// Applies one record of `partition` (of the repartition topic, or of the input
    /// with `input_keyed`), unless it is a duplicate.
    pub fn apply(&mut self, engine: &mut Engine, partition: i32, key: &[u8], value: &[u8]) {
        match self.try_apply(engine, partition, key, value) {
            Ok(()) => {}
            Err(e) => {
                self.stats.rejected += 1;
                tracing::warn!("repartition record rejected: {e}");
            }
        }
    }

    fn try_apply(
        &mut self,
        engine: &mut Engine,
        partition: i32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), OwnerError> {
        let (selection, p, labels) = series_of(engine, key)?;
        let partial = Partial::read(value)?;
        if partial.state_hash != self.state_hashes[p] || partial.width != engine.population_width(p)
        {
            return Err(OwnerError::OtherSlos(selection.to_owned()));
        }
        let meta = match self.series.get_mut(key) {
            Some(meta) => {
                if meta.partition != partition {
                    self.stats.unkeyed += 1;
                }
                meta
            }
            None => self.series.entry(Box::from(key)).or_insert(SeriesMeta {
                partition,
                ..SeriesMeta::default()
            }),
        };
        let source = &partial.source;
        let at = meta
            .ends
            .iter()
            .position(|(t, p, _)| *p == source.partition && **t == *source.topic);
        if let Some(i) = at {
            let end = meta.ends[i].2;
            if source.to <= end {
                self.stats.duplicate += 1;
                return Ok(());
            }
            if source.from < end {
                self.stats.overlap += 1;
            }
            meta.ends[i].2 = source.to;
        } else {
            meta.ends
                .push((Box::from(source.topic), source.partition, source.to));
        }
        meta.dirty = true;
        for pane in &partial.panes {
            let outcome = engine.add_partial(
                p,
                labels.clone(),
                pane.second,
                partial.newest_ms,
                &pane.counts,
                &pane.buckets,
            );
            debug_assert!(matches!(
                outcome,
                PartialOutcome::Counted | PartialOutcome::TooOld
            ));
        }
        self.stats.applied += 1;
        Ok(())
    }

    /// Changelog records of the series changed since the last checkpoint (of
    /// `partitions` only, when given), which are then clean.
    pub fn checkpoint(&mut self, engine: &Engine, partitions: Option<&[i32]>) -> Vec<Produced> {
        let mut out = Vec::new();
        for (key, meta) in &mut self.series {
            if !meta.dirty || partitions.is_some_and(|ps| !ps.contains(&meta.partition)) {
                continue;
            }
            if let Some(value) = encode(engine, key, meta) {
                meta.dirty = false;
                out.push(Produced {
                    partition: meta.partition,
                    key: key.to_vec(),
                    value,
                });
            }
        }
        out
    }

    /// The changelog records of `records` were not delivered: their series are dirty
    /// again, so that no later checkpoint counts them written (and commits past them).
    pub fn not_written(&mut self, records: &[Produced]) {
        for r in records {
            if let Some(meta) = self.series.get_mut(r.key.as_slice()) {
                meta.dirty = true;
            }
        }
    }

    /// Every series of `partition` as its changelog record would hold it: what the
    /// changelog's compacted partition holds once the dirty ones are written.
    pub fn snapshot(&self, engine: &Engine, partition: i32) -> Vec<(Vec<u8>, Vec<u8>)> {
        self.series
            .iter()
            .filter(|(_, meta)| meta.partition == partition)
            .filter_map(|(key, meta)| Some((key.to_vec(), encode(engine, key, meta)?)))
            .collect()
    }

    /// The ends of `(topic, partition)` past `after` that the series hold, ascending:
    /// with `input_keyed`, where the flushes of a partition read again from `after`
    /// must end so that no flush straddles a series' end (each was a flush's end).
    pub fn ends_after(&self, topic: &str, partition: i32, after: i64) -> Vec<i64> {
        let mut ends: Vec<i64> = self
            .series
            .values()
            .flat_map(|meta| meta.ends.iter())
            .filter(|(t, p, end)| *p == partition && **t == *topic && *end > after)
            .map(|(_, _, end)| *end)
            .collect();
        ends.sort_unstable();
        ends.dedup();
        ends
    }

    /// Restores a series of changelog `partition` from its newest record. A record for
    /// another state key (the SLOs changed) is an error: the series starts again from
    /// the records its source still holds.
    pub fn restore(
        &mut self,
        engine: &mut Engine,
        partition: i32,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), OwnerError> {
        let (selection, p, labels) = series_of(engine, key)?;
        let mut r = Reader::new(value);
        if r.u64()? != CHANGELOG_VERSION {
            return Err(r.invalid("the changelog record version").into());
        }
        if r.str()? != engine.state_key(p) {
            return Err(OwnerError::OtherSlos(selection.to_owned()));
        }
        let n = r.len(1 << 16, "the number of sources")?;
        let mut ends = Vec::with_capacity(n);
        for _ in 0..n {
            let topic = Box::from(r.str()?);
            let partition = i32::try_from(r.i64()?).map_err(|_| r.invalid("a partition"))?;
            ends.push((topic, partition, r.i64()?));
        }
        engine.read_series(p, labels, &mut r)?;
        self.series.insert(
            Box::from(key),
            SeriesMeta {
                partition,
                ends,
                dirty: false,
            },
        );
        Ok(())
    }

    /// Lets go of the series of `partitions` (revoked): out of the engine and out of
    /// here. Checkpoint them first.
    pub fn release(&mut self, engine: &mut Engine, partitions: &[i32]) -> usize {
        let mut gone = hashbrown::HashSet::new();
        self.series.retain(|key, m| {
            let keep = !partitions.contains(&m.partition);
            if !keep {
                gone.insert(key.clone());
            }
            keep
        });
        let selections: Vec<String> = (0..engine.populations())
            .map(|p| engine.selection(p).to_owned())
            .collect();
        let mut key = Vec::new();
        engine.retain_series(|p, labels| {
            key.clear();
            record::write_key(&selections[p], labels, &mut key);
            !gone.contains(key.as_slice())
        })
    }
}

/// A series' changelog value: the version, its population's state key, its ends and
/// its window state. `None` when the engine no longer has it.
fn encode(engine: &Engine, key: &[u8], meta: &SeriesMeta) -> Option<Vec<u8>> {
    let (selection, labels) = record::read_key(key).ok()?;
    let p = engine.population_of(selection)?;
    let mut w = Writer::default();
    w.u64(CHANGELOG_VERSION);
    w.str(engine.state_key(p));
    w.u64(meta.ends.len() as u64);
    for (topic, partition, end) in &meta.ends {
        w.str(topic);
        w.i64(i64::from(*partition));
        w.i64(*end);
    }
    engine.write_series(p, &labels, &mut w).then_some(w.buf)
}

/// The selection, population and labels of a series key, in `engine`'s populations.
fn series_of<'k>(
    engine: &Engine,
    key: &'k [u8],
) -> Result<(&'k str, usize, record::Labels), OwnerError> {
    let (selection, labels) = record::read_key(key)?;
    let p = engine
        .population_of(selection)
        .ok_or_else(|| OwnerError::UnknownPopulation(selection.to_owned()))?;
    Ok((selection, p, labels))
}
