//! Stage 1's core: events of the assigned input partitions in, partial buckets per
//! series, second and source partition out ([`record::Partial`]).
//!
//! The same decode and classification as the engine (same `Decoder`, same
//! `Classifier`), so that a series here is the series the engine would count; what is
//! left to stage 2 is anything that depends on the series' history (`too_old`).
//!
//! What it holds is bounded by the flush: the shell flushes every `flush_interval`, or
//! sooner once [`PreAggregator::held`] events are held.

use hashbrown::HashMap;

use super::record::{self, Pane, Partial, Source};
use crate::classify::{Classifier, StreamKeys};
use crate::config::Config;
use crate::decode::{Decoder, Invalid};
use crate::report::EventCounts;
use crate::window::latency::bucket_of;

/// A record ready to produce: its repartition partition, key and value.
pub struct Produced {
    pub partition: i32,
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Which partition a flushed record belongs to.
#[derive(Clone, Copy, Debug)]
pub enum Route {
    /// The repartition topic's, of this many partitions: a hash of the series key.
    ByKey(i32),
    /// Its source partition's (`input_keyed`: the input partition owns its series).
    BySource,
}

/// Per population: what records name it by.
struct PopulationInfo {
    selection: String,
    state_hash: u64,
    width: usize,
    latency: bool,
}

/// The events of one source partition since the last flush.
#[derive(Default)]
struct PartitionAcc {
    /// `[from, to)` of the offsets read since the last flush.
    range: Option<(i64, i64)>,
    /// Valid events held.
    held: usize,
    /// Kept per partition, so that a partition let go before its flush takes its
    /// counts with it (its next owner reads its events again).
    counts: EventCounts,
    /// (population, series) → index into `series`.
    index: HashMap<(u32, u32), usize>,
    series: Vec<SeriesAcc>,
}

struct SeriesAcc {
    population: u32,
    series: u32,
    newest_ms: i64,
    panes: Vec<Pane>,
}

pub struct PreAggregator {
    decoder: Decoder,
    streams: StreamKeys,
    classifier: Classifier,
    populations: Vec<PopulationInfo>,
    /// Per source partition read since the last flush: a few, searched in order.
    partitions: Vec<(String, i32, PartitionAcc)>,
    /// Events after this time are invalid (`future`): wall clock plus the allowed skew.
    latest_valid_ms: Option<i64>,
    key: Vec<u8>,
    held: usize,
}

impl PreAggregator {
    pub fn new(config: &Config) -> PreAggregator {
        let classifier = Classifier::new(config);
        let populations = classifier
            .populations()
            .iter()
            .map(|p| PopulationInfo {
                selection: p.selection_key(config),
                state_hash: record::stable_hash(p.state_key(config).as_bytes()),
                width: p.layout.width,
                latency: p.layout.latency.is_some(),
            })
            .collect();
        PreAggregator {
            decoder: Decoder::new(&config.events),
            streams: classifier.stream_keys().clone(),
            classifier,
            populations,
            partitions: Vec::new(),
            latest_valid_ms: None,
            key: Vec::new(),
            held: 0,
        }
    }

    pub fn set_latest_valid(&mut self, latest_ms: Option<i64>) {
        self.latest_valid_ms = latest_ms;
    }

    /// Events held since the last flush (bounds the memory between flushes).
    pub fn held(&self) -> usize {
        self.held
    }

    /// Reads one message of a source partition. Invalid events are counted by reason;
    /// the reason is returned for the dead-letter topic.
    pub fn add(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        payload: &[u8],
    ) -> Option<Invalid> {
        let at = self
            .partitions
            .iter()
            .position(|(t, p, _)| *p == partition && t == topic);
        let at = at.unwrap_or_else(|| {
            let acc = PartitionAcc::default();
            self.partitions.push((topic.to_owned(), partition, acc));
            self.partitions.len() - 1
        });
        let acc = &mut self.partitions[at].2;
        acc.range = Some(match acc.range {
            Some((from, to)) => (from.min(offset), to.max(offset + 1)),
            None => (offset, offset + 1),
        });
        acc.counts.read += 1;
        let event = match self.decoder.decode(payload) {
            Ok(event) => event,
            Err(reason) => {
                acc.counts.count_invalid(reason);
                return Some(reason);
            }
        };
        if self.latest_valid_ms.is_some_and(|l| event.timestamp_ms > l) {
            acc.counts.count_invalid(Invalid::Future);
            return Some(Invalid::Future);
        }
        acc.counts.valid += 1;
        acc.held += 1;
        self.held += 1;
        self.key.clear();
        let hash = self.streams.write(&event, &mut self.key);
        self.classifier.make_room(1);
        let stream = self.classifier.stream(hash, &self.key);
        let second = event.timestamp_ms.div_euclid(1_000);
        let bucket = bucket_of(event.latency_ms) as u16;
        let populations = self.classifier.populations();
        for target in self.classifier.targets(stream) {
            let population = &populations[target.population as usize];
            let info = &self.populations[target.population as usize];
            let good = population.good_mask(event.status, event.latency_ms);
            let n = acc.series.len();
            let i = *acc
                .index
                .entry((target.population, target.series))
                .or_insert(n);
            if i == n {
                acc.series.push(SeriesAcc {
                    population: target.population,
                    series: target.series,
                    newest_ms: event.timestamp_ms,
                    panes: Vec::new(),
                });
            }
            let series = &mut acc.series[i];
            series.newest_ms = series.newest_ms.max(event.timestamp_ms);
            // Events of a series arrive mostly in time order: the newest pane is last.
            let pane = match series.panes.iter().rposition(|p| p.second == second) {
                Some(j) => &mut series.panes[j],
                None => {
                    series.panes.push(Pane {
                        second,
                        counts: vec![0; info.width],
                        buckets: Vec::new(),
                    });
                    series.panes.last_mut().expect("just pushed")
                }
            };
            pane.counts[0] += 1;
            let mut bits = good;
            while bits != 0 {
                pane.counts[1 + bits.trailing_zeros() as usize] += 1;
                bits &= bits - 1;
            }
            if info.latency {
                pane.buckets.push(bucket);
            }
        }
        None
    }

    /// Takes what was read: one record per series and source partition, routed by
    /// `route`, the offsets each source partition's records cover, and the event counts
    /// since the last flush. Source partitions for which `hold(topic, partition, end)`
    /// holds are kept for a later flush.
    pub fn flush(&mut self, route: Route, mut hold: impl FnMut(&str, i32, i64) -> bool) -> Flushed {
        let mut out = Flushed::default();
        let (taken, kept) = std::mem::take(&mut self.partitions)
            .into_iter()
            .partition(|(t, p, acc)| acc.range.is_none_or(|(_, to)| !hold(t, *p, to)));
        self.partitions = kept;
        let taken: Vec<(String, i32, PartitionAcc)> = taken;
        for (topic, partition, acc) in taken {
            let Some((from, to)) = acc.range else {
                continue;
            };
            out.counts.add(&acc.counts);
            out.ends.push((topic.clone(), partition, to));
            for mut series in acc.series {
                let p = series.population as usize;
                let info = &self.populations[p];
                let labels = &self.classifier.series_labels(p)[series.series as usize];
                let mut key = Vec::new();
                record::write_key(&info.selection, labels, &mut key);
                series.panes.sort_unstable_by_key(|pane| pane.second);
                for pane in &mut series.panes {
                    pane.buckets.sort_unstable();
                }
                let partial = Partial {
                    source: Source {
                        topic: &topic,
                        partition,
                        from,
                        to,
                    },
                    state_hash: info.state_hash,
                    width: info.width,
                    newest_ms: series.newest_ms,
                    panes: series.panes,
                };
                let mut value = Vec::new();
                partial.write(&mut value);
                out.records.push(Produced {
                    partition: match route {
                        Route::ByKey(partitions) => record::partition_of(&key, partitions),
                        Route::BySource => partition,
                    },
                    key,
                    value,
                });
            }
        }
        self.held = self.partitions.iter().map(|(_, _, acc)| acc.held).sum();
        out
    }

    /// Forgets what was read from a partition since the last flush (it was revoked
    /// before its flush: its next owner reads it again).
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.partitions
            .retain(|(t, p, _)| !(*p == partition && t == topic));
    }
}

/// Where the flushes of source partitions read again must end, so that each replays
/// exactly a range flushed before: stage 1 replays a planned flush cut short, and with
/// `input_keyed` the owner of a partition cuts at the ends its restored series hold.
#[derive(Default)]
pub struct Plans {
    entries: Vec<Plan>,
}

struct Plan {
    topic: String,
    partition: i32,
    /// The ends still to reach, ascending.
    ends: std::collections::VecDeque<i64>,
    /// An offset read at or past the next end: every offset before it was read (a gap
    /// in the offsets skipped the range's last ones), so the range is complete.
    reached: Option<i64>,
}

impl Plans {
    /// Plans flushes of `(topic, partition)` ending at each of `ends` (ascending).
    pub fn add(&mut self, topic: &str, partition: i32, ends: impl IntoIterator<Item = i64>) {
        self.forget(topic, partition);
        let ends: std::collections::VecDeque<i64> = ends.into_iter().collect();
        if !ends.is_empty() {
            self.entries.push(Plan {
                topic: topic.to_owned(),
                partition,
                ends,
                reached: None,
            });
        }
    }

    fn find(&self, topic: &str, partition: i32) -> Option<&Plan> {
        let mut all = self.entries.iter();
        all.find(|e| e.partition == partition && e.topic == topic)
    }

    /// Before reading `offset`: true when it is past the planned range, which is then
    /// complete and must be flushed first.
    pub fn flush_before(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        let mut all = self.entries.iter_mut();
        let Some(plan) = all.find(|e| e.partition == partition && e.topic == topic) else {
            return false;
        };
        let past = plan.ends.front().is_some_and(|end| offset >= *end);
        if past {
            plan.reached = Some(offset);
        }
        past
    }

    /// After reading `offset`: it was the planned range's last, so flush now.
    pub fn flush_after(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.find(topic, partition)
            .and_then(|plan| plan.ends.front())
            == Some(&(offset + 1))
    }

    /// For [`PreAggregator::flush`]: a partition short of its planned end waits.
    pub fn hold(&self, topic: &str, partition: i32, at: i64) -> bool {
        self.find(topic, partition).is_some_and(|plan| {
            plan.reached.is_none() && plan.ends.front().is_some_and(|end| at < *end)
        })
    }

    /// After a flush: the ends it reached are done, and so are those a read past them
    /// completed (with nothing left to flush: the range's offsets are gone).
    pub fn flushed(&mut self, flushed: &[(String, i32, i64)]) {
        for plan in &mut self.entries {
            let to = flushed
                .iter()
                .find(|(t, p, _)| *p == plan.partition && *t == plan.topic)
                .map(|f| f.2);
            let upto = match (plan.reached.take(), to) {
                (Some(r), Some(t)) => r.max(t),
                (Some(r), None) => r,
                (None, Some(t)) => t,
                (None, None) => continue,
            };
            while plan.ends.front().is_some_and(|end| *end <= upto) {
                plan.ends.pop_front();
            }
        }
        self.entries.retain(|e| !e.ends.is_empty());
    }

    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.entries
            .retain(|e| !(e.partition == partition && e.topic == topic));
    }
}

/// What one flush produced.
#[derive(Default)]
pub struct Flushed {
    pub records: Vec<Produced>,
    /// Per source partition: the offset after the last one read.
    pub ends: Vec<(String, i32, i64)>,
    pub counts: EventCounts,
}

#[cfg(test)]
mod tests;
