//! The series of one population, bounded by `limits.max_series_per_slo`.
//!
//! A population holds at most that many series of real label combinations. A new
//! combination beyond it counts in the population's one overflow series, whose every label
//! value is [`OVERFLOW`], and is not kept: the table stops growing, whatever the input.

use std::hash::BuildHasher;

use hashbrown::{HashMap, HashSet};

/// Every label value of a population's overflow series. A series whose label values are
/// all this *is* the overflow series, however it came to be (an event may carry the value
/// itself): one identity, so that two series never share their labels.
pub const OVERFLOW: &str = "__overflow__";

/// The series of one population.
#[derive(Default)]
pub struct SeriesTable {
    /// Label values → series index, and the reverse. Combinations refused by the limit
    /// are in neither: that is what bounds them.
    index: HashMap<Box<[Box<str>]>, u32>,
    pub(super) labels: Vec<Box<[Box<str>]>>,
    pub(super) overflow: Overflow,
}

/// What a population's series limit has refused.
#[derive(Default)]
pub struct Overflow {
    /// The overflow series, once it exists.
    pub series: Option<u32>,
    /// Distinct label combinations refused (see `refused_recently` for how distinct).
    pub refused: u64,
    /// Hashes of the combinations refused lately, so that the streams of one combination
    /// (which differ in fields the population does not group by) and its streams resolved
    /// again after the stream cache was emptied count it once. Emptied when it holds
    /// [`remembered`] hashes: a combination refused again after that is counted again.
    refused_recently: HashSet<u64>,
}

/// Refused combinations remembered per population: as many as it holds series, and at
/// least a few thousand; a hash costs some bytes where a series costs kilobytes.
fn remembered(max_series: u32) -> usize {
    (max_series as usize).max(4096)
}

/// Where a new stream's events go in one population.
pub(super) enum Resolved {
    Series(u32),
    /// The overflow series, to which the limit just refused a combination for the first
    /// time in this population.
    FirstOverflow(u32),
}

impl SeriesTable {
    /// The series of a label combination: its own, a new one while the population holds
    /// fewer than `max_series` real series, or else the overflow series.
    pub(super) fn resolve(
        &mut self,
        key: Box<[Box<str>]>,
        max_series: u32,
        hasher: &impl BuildHasher,
    ) -> Resolved {
        if let Some(&series) = self.index.get(&key) {
            return Resolved::Series(series);
        }
        if is_overflow(&key) {
            return Resolved::Series(self.overflow_series(key.len()));
        }
        let real = self.labels.len() - usize::from(self.overflow.series.is_some());
        if real < max_series as usize {
            let series = self.labels.len() as u32;
            self.labels.push(key.clone());
            self.index.insert(key, series);
            return Resolved::Series(series);
        }
        let first = self.overflow.refused == 0;
        let recent = &mut self.overflow.refused_recently;
        if recent.len() >= remembered(max_series) {
            recent.clear();
        }
        if recent.insert(hasher.hash_one(&key)) {
            self.overflow.refused += 1;
        }
        let series = self.overflow_series(key.len());
        if first {
            Resolved::FirstOverflow(series)
        } else {
            Resolved::Series(series)
        }
    }

    /// Adds a series restored from a checkpoint, as the next one (the overflow series
    /// too, known by its labels); `None` if these labels already have a series.
    pub(super) fn restore(&mut self, key: Box<[Box<str>]>) -> Option<u32> {
        if self.index.contains_key(&key) {
            return None;
        }
        let series = self.labels.len() as u32;
        if is_overflow(&key) {
            self.overflow.series = Some(series);
        }
        self.labels.push(key.clone());
        self.index.insert(key, series);
        Some(series)
    }

    /// Keeps the series for which `keep(labels)` holds, in their order, and forgets
    /// the others: old index → new index (`None` for a series let go).
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&[Box<str>]) -> bool) -> Vec<Option<u32>> {
        let old = std::mem::take(&mut self.labels);
        self.index.clear();
        self.overflow.series = None;
        old.into_iter()
            .map(|labels| keep(&labels).then(|| self.restore(labels).expect("labels are unique")))
            .collect()
    }

    /// The overflow series (of `width` labels), created on first need. It is not
    /// counted in the limit.
    fn overflow_series(&mut self, width: usize) -> u32 {
        if let Some(series) = self.overflow.series {
            return series;
        }
        let key: Box<[Box<str>]> = (0..width).map(|_| Box::from(OVERFLOW)).collect();
        let series = self.labels.len() as u32;
        self.labels.push(key.clone());
        self.index.insert(key, series);
        self.overflow.series = Some(series);
        series
    }
}

/// Whether label values are those of an overflow series. A population without labels has
/// one series and never overflows.
fn is_overflow(values: &[Box<str>]) -> bool {
    !values.is_empty() && values.iter().all(|v| &**v == OVERFLOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(values: &[&str]) -> Box<[Box<str>]> {
        values.iter().map(|&v| Box::from(v)).collect()
    }

    #[test]
    fn refused_combinations_are_not_kept() {
        let hasher = foldhash::fast::FixedState::default();
        let mut table = SeriesTable::default();
        let resolve = |t: &mut SeriesTable, v: &str| match t.resolve(key(&[v]), 3, &hasher) {
            Resolved::Series(s) => (s, false),
            Resolved::FirstOverflow(s) => (s, true),
        };
        for (i, v) in ["a", "b", "c"].into_iter().enumerate() {
            assert_eq!(resolve(&mut table, v), (i as u32, false));
        }
        assert_eq!(resolve(&mut table, "d"), (3, true));
        let n = 3 * remembered(3);
        for i in 0..n {
            assert_eq!(resolve(&mut table, &format!("x{i}")), (3, false));
        }
        assert_eq!(resolve(&mut table, "b"), (1, false));
        // Three real series and the overflow series, whatever was refused.
        assert_eq!(table.index.len(), 4);
        assert_eq!(table.labels.len(), 4);
        assert!(table.overflow.refused_recently.len() <= remembered(3));
        assert_eq!(table.overflow.refused, 1 + n as u64);
    }
}
