//! Carrying window state into an engine of another config: a live reload
//! ([`Engine::reconfigure`]) and a checkpoint restored under a changed config
//! ([`Engine::restore`]) go through the same [`assemble`].
//!
//! The unit of state is a population's series: one total count and one good count per
//! SLO per pane, in rings laid out for the windows of all its SLOs. An SLO of the new
//! config keeps its history when an earlier population counted it with the same
//! selection (service, selector, group_by) and indicator, and kept every pane of its SLO
//! window at the resolution that window needs ([`Layout::holds`]). Its objective, alert
//! rules and reported windows may have changed, and so may the other SLOs of its
//! population (added, removed, changed): the good counts move by SLO name, not by
//! position. Rings at a resolution the earlier layout did not keep start empty, and a
//! longer ring keeps only the panes the earlier one held; a window that reads beyond
//! them fills up from there, as after a fresh start. An SLO that cannot keep its history
//! (new, renamed, another indicator or selection, or an SLO window longer than what was
//! kept) starts empty.
//!
//! SLOs that keep their history and SLOs that start empty never share a population, even
//! with the same selection: a population has one total count per pane, and the past
//! totals are not those of an SLO that starts empty. They stay apart (one more set of
//! series) for as long as the state lives: checkpoints record which SLOs each population
//! counts, and a restore groups them the same way.

use super::batch::Newest;
use super::{Engine, SeriesStore};
use crate::classify::{Classifier, SeriesTable, StreamKeys};
use crate::config::{Config, Indicator};
use crate::state::codec::{CodecError, Reader, Writer};
use crate::window::{LADDER_MS, Layout, PaneClock};

/// A population of an earlier engine or of a checkpoint: which SLOs it counted (good
/// count `j + 1` is `slos[j]`), how its state is laid out, and its series.
pub(super) struct Past {
    /// Its state key, as the checkpoint names it.
    pub key: String,
    pub selection: String,
    pub slos: Vec<(String, Indicator)>,
    pub layout: Layout,
    pub labels: PastLabels,
    pub store: SeriesStore,
}

/// The label values of a past population's series, in the order of its store.
pub(super) enum PastLabels {
    /// A live engine's table, moved as it is.
    Table(SeriesTable),
    /// A checkpoint's: the labels of each series, and the combinations refused.
    Read {
        labels: Vec<Box<[Box<str>]>>,
        refused: u64,
    },
}

/// What a reconfiguration or restore did with the state it was given.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub series: usize,
    /// Populations whose state no SLO of the config could use: they are dropped.
    pub discarded_populations: Vec<String>,
    /// SLOs that had state but start empty: a new indicator or selection, or an SLO
    /// window longer than the state kept.
    pub restarted_slos: Vec<String>,
}

/// Writes what [`read_descriptor`] reads: what a checkpointed population counts, and how
/// its state is laid out.
pub(super) fn write_descriptor(
    w: &mut Writer,
    selection: &str,
    slos: &[(&str, Indicator)],
    layout: &Layout,
) {
    w.str(selection);
    w.u64(slos.len() as u64);
    for (name, indicator) in slos {
        w.str(name);
        match indicator {
            Indicator::Availability => w.u64(0),
            Indicator::Latency { threshold_ms } => {
                w.u64(1);
                w.u64(threshold_ms.to_bits());
            }
        }
    }
    w.u64(layout.tiers.len() as u64);
    for t in &layout.tiers {
        w.u64(t.step as u64);
        w.u64(u64::from(t.len));
    }
    match &layout.latency {
        None => w.u64(0),
        Some(l) => {
            w.u64(1);
            w.u64(l.step as u64);
            w.u64(u64::from(l.len));
        }
    }
}

/// Panes a ring of a checkpoint may have: more than any window up to a quarter needs at
/// one-second resolution, so that a corrupt length cannot ask for gigabytes.
const MAX_PANES: usize = 1 << 24;

pub(super) type Descriptor = (String, Vec<(String, Indicator)>, Layout);

pub(super) fn read_descriptor(r: &mut Reader) -> Result<Descriptor, CodecError> {
    let selection = r.str()?.to_owned();
    let n = r.len(32, "the number of SLOs of a population")?;
    let mut slos = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str()?.to_owned();
        let indicator = match r.u64()? {
            0 => Indicator::Availability,
            1 => Indicator::Latency {
                threshold_ms: f64::from_bits(r.u64()?),
            },
            _ => return Err(r.invalid("an indicator")),
        };
        slos.push((name, indicator));
    }
    let ring = |r: &mut Reader| -> Result<(usize, u32), CodecError> {
        let step = r.len(LADDER_MS.len() - 1, "a ring's resolution")?;
        let len = r.len(MAX_PANES, "a ring's length")?;
        if len == 0 {
            return Err(r.invalid("a ring's length"));
        }
        Ok((step, len as u32))
    };
    let mut tiers = Vec::new();
    for _ in 0..r.len(LADDER_MS.len(), "the number of rings")? {
        tiers.push(ring(r)?);
    }
    if tiers.is_empty() {
        return Err(r.invalid("the number of rings"));
    }
    let latency = match r.u64()? {
        0 => None,
        1 => Some(ring(r)?),
        _ => return Err(r.invalid("the latency ring")),
    };
    let layout = Layout::storage(&tiers, latency, 1 + slos.len());
    Ok((selection, slos, layout))
}

impl Engine {
    /// Replaces this engine by one for `config` that keeps the state of every SLO that can
    /// keep it (see the module doc), with the same event counts, newest event, source
    /// positions and stream keys. No checkpoint may be open (the caller holds the
    /// checkpointer off): one would cover series that are no longer there.
    pub fn reconfigure(&mut self, config: &Config) -> Restored {
        let keys = self.streams.clone();
        let mut old = std::mem::replace(self, Engine::new(config));
        let mut pasts = Vec::with_capacity(old.series.len());
        let stores = std::mem::take(&mut old.series);
        for (p, store) in stores.into_iter().enumerate() {
            let population = &old.classifier.populations()[p];
            let slos = population
                .slos
                .iter()
                .zip(&population.indicators)
                .map(|(&s, &i)| (old.slos[s].name.clone(), i))
                .collect();
            let layout = population.layout.clone();
            pasts.push(Past {
                key: old.state_keys[p].clone(),
                selection: old.selections[p].clone(),
                slos,
                layout,
                labels: PastLabels::Table(old.classifier.take_table(p)),
                store,
            });
        }
        // Only a checkpoint's labels are checked (a live table is moved whole), so this
        // cannot fail.
        let (mut engine, restored) =
            assemble(config, pasts, Some(keys)).expect("a live engine's state is consistent");
        engine.counts = old.counts;
        engine.horizon_ms = old.horizon_ms;
        engine.latest_valid_ms = old.latest_valid_ms;
        engine.positions = old.positions;
        engine.set_newest(old.newest.map(|n| n.ms));
        *self = engine;
        restored
    }

    /// Sets the newest event time, on the pane grid of this engine's retention ring.
    pub(super) fn set_newest(&mut self, ms: Option<i64>) {
        self.newest = ms.map(|ms| Newest {
            ms,
            pane: PaneClock::at(ms).pane[self.retention.0],
        });
    }
}

/// An engine for `config` holding the series of `pasts` that its SLOs can keep.
pub(super) fn assemble(
    config: &Config,
    mut pasts: Vec<Past>,
    keys: Option<StreamKeys>,
) -> Result<(Engine, Restored), CodecError> {
    let mut restored = Restored::default();
    // Per SLO of the config: the past population and good count its history is in.
    let sources: Vec<Option<(usize, usize)>> = config
        .slos
        .iter()
        .map(|slo| {
            let selection = crate::classify::selection_of(config, slo);
            let found = pasts.iter().enumerate().find_map(|(p, past)| {
                let j = past.slos.iter().position(|(name, _)| *name == slo.name)?;
                Some((p, j, past))
            });
            let (p, j, past) = found?;
            let keeps = past.slos[j].1 == slo.indicator
                && past.selection == selection
                && past.layout.holds(slo.window);
            if !keeps {
                restored.restarted_slos.push(slo.name.clone());
            }
            keeps.then_some((p, j))
        })
        .collect();
    let groups: Vec<u32> = sources
        .iter()
        .map(|s| s.map_or(0, |(p, _)| p as u32 + 1))
        .collect();
    let classifier = Classifier::grouped(config, &groups, keys);
    let mut engine = Engine::with_classifier(config, classifier);
    let mut used = vec![false; pasts.len()];
    for n in 0..engine.series.len() {
        let population = &engine.classifier.populations()[n];
        let Some((p, _)) = sources[population.slos[0]] else {
            continue;
        };
        used[p] = true;
        let past = &mut pasts[p];
        // Counter 0 is the total; counter 1 + j the good count of the population's j-th SLO.
        let columns: Vec<usize> = std::iter::once(0)
            .chain(population.slos.iter().map(|&s| {
                let (_, j) = sources[s].expect("an SLO of a carried population");
                1 + j
            }))
            .collect();
        let layout = population.layout.clone();
        let n_labels = population.label_names.len();
        let store = std::mem::take(&mut past.store);
        restored.series += store.series.len();
        let same = past.layout.same_storage(&layout) && columns.iter().copied().eq(0..layout.width);
        engine.series[n] = if same {
            store
        } else {
            let mut out = SeriesStore::default();
            for (series, stage) in store.series.into_iter().zip(store.stages) {
                out.series
                    .push(series.carry_into(stage, &past.layout, &layout, &columns));
                out.stages.push(Default::default());
            }
            out
        };
        match std::mem::replace(
            &mut past.labels,
            PastLabels::Read {
                labels: Vec::new(),
                refused: 0,
            },
        ) {
            PastLabels::Table(table) => engine.classifier.put_table(n, table),
            PastLabels::Read { labels, refused } => {
                for key in labels {
                    if key.len() != n_labels {
                        return Err(CodecError::Invalid {
                            what: "the number of labels",
                            at: 0,
                        });
                    }
                    if engine.classifier.restore_series(n, key).is_none() {
                        return Err(CodecError::Invalid {
                            what: "a series' labels (seen twice)",
                            at: 0,
                        });
                    }
                }
                engine.classifier.restore_refused(n, refused);
            }
        }
    }
    restored.discarded_populations = pasts
        .iter()
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|(past, _)| past.key.clone())
        .collect();
    Ok((engine, restored))
}

#[cfg(test)]
mod tests;
