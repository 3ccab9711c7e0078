//! Roll-ups at evaluation: an SLO's series summed per value of one label (per operator,
//! provider, region), summed all together (the ecosystem), and ranked by the share of
//! their own error budget they burned in a window (who burned the budget: a bounded
//! top-k).
//!
//! Pure functions of the SLO's series reports, so a roll-up is exactly the sum of the
//! series it covers, window by window. A series without the label's value (the event
//! had none) is in the group `""`, and the overflow series in the group `__overflow__`,
//! as their labels read: every event of the SLO is in exactly one group.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::top_k::TopK;
use super::{Pairs, SeriesReport};
use crate::config::{Rollup, Span};

#[derive(Clone, Debug, PartialEq)]
pub struct RollupReport {
    pub name: String,
    pub slo: String,
    pub by: String,
    /// One per value of `by`, ascending (byte order).
    pub groups: Vec<Group>,
    /// Every series of the SLO.
    pub ecosystem: Aggregate,
    pub top: Top,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Group {
    pub value: String,
    pub aggregate: Aggregate,
}

/// Summed series: the budget left over the SLO window, and every reported window.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    pub error_budget_remaining: Option<f64>,
    pub windows: Vec<WindowSum>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowSum {
    pub window: Span,
    pub good: u64,
    pub total: u64,
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
}

/// The series that burned the largest share of their own budget in `window`.
#[derive(Clone, Debug, PartialEq)]
pub struct Top {
    pub window: Span,
    /// Best first: at most `top_k`, only series with bad events in `window`.
    pub entries: Vec<TopEntry>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TopEntry {
    pub labels: Vec<(String, String)>,
    /// Bad events and all events of the series in the ranking window.
    pub bad: u64,
    pub total: u64,
    /// `bad / ((1 - objective) × total over the SLO window)`: 1 is the whole budget of
    /// the SLO window spent within the ranking window.
    pub budget_burned: f64,
}

/// The roll-up `rollup` of the series in `slos` (all of a report's; those of other SLOs
/// are skipped).
pub fn evaluate(rollup: &Rollup, slos: &[SeriesReport]) -> RollupReport {
    let n = rollup.windows.len();
    let own = index_of(&rollup.windows, rollup.window);
    let rank = index_of(&rollup.windows, rollup.rank_window);
    let mut groups: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    let mut ecosystem = vec![(0u64, 0u64); n];
    let mut top = TopK::new(rollup.top_k);
    let mut counts = Vec::with_capacity(n);
    for series in slos.iter().filter(|s| s.name == rollup.slo) {
        let value = series
            .labels
            .iter()
            .find(|(k, _)| *k == rollup.by)
            .map_or("", |(_, v)| v.as_str());
        let group = groups.entry(value).or_insert_with(|| vec![(0, 0); n]);
        counts.clear();
        for &w in &rollup.windows {
            let r = series
                .window(w)
                .expect("a series reports every window of its SLO");
            counts.push((r.good, r.total));
        }
        for ((g, e), (good, total)) in group.iter_mut().zip(&mut ecosystem).zip(&counts) {
            *g = (g.0 + good, g.1 + total);
            *e = (e.0 + good, e.1 + total);
        }
        let (good, total) = counts[rank];
        let bad = total - good;
        if bad > 0 {
            // `rank_window` is no longer than the SLO window, so that window has at least
            // these events and the allowance is positive.
            let period_total = counts[own].1;
            top.push(Ranked {
                bad,
                total,
                period_total,
                budget_burned: bad as f64 / ((1.0 - rollup.objective) * period_total as f64),
                labels: &series.labels,
            });
        }
    }
    let aggregate = |sums: &[(u64, u64)]| aggregate(rollup, own, sums);
    RollupReport {
        name: rollup.name.clone(),
        slo: rollup.slo.clone(),
        by: rollup.by.clone(),
        groups: groups
            .iter()
            .map(|(value, sums)| Group {
                value: (*value).to_owned(),
                aggregate: aggregate(sums),
            })
            .collect(),
        ecosystem: aggregate(&ecosystem),
        top: Top {
            window: rollup.rank_window,
            entries: top.into_sorted().into_iter().map(Ranked::entry).collect(),
        },
    }
}

fn index_of(windows: &[Span], w: Span) -> usize {
    windows
        .iter()
        .position(|x| *x == w)
        .expect("validation keeps a roll-up's windows among its SLO's")
}

fn aggregate(rollup: &Rollup, own: usize, sums: &[(u64, u64)]) -> Aggregate {
    let objective = rollup.objective;
    let (good, total) = sums[own];
    Aggregate {
        error_budget_remaining: super::error_budget_remaining(good, total, objective),
        windows: rollup
            .windows
            .iter()
            .zip(sums)
            .map(|(&window, &(good, total))| WindowSum {
                window,
                good,
                total,
                sli: super::sli(good, total),
                burn_rate: super::burn_rate(good, total, objective),
            })
            .collect(),
    }
}

/// A top-k candidate, ordered best first: the larger share of budget burned, then more
/// bad events, then the label values ascending (so that the ranking is deterministic).
/// It borrows the labels: only the `k` kept are copied.
struct Ranked<'a> {
    bad: u64,
    total: u64,
    /// Events in the SLO window, of which `1 - objective` are the series' allowance.
    period_total: u64,
    /// For the report; the ranking compares the exact ratio `bad / period_total`
    /// instead (the same order, since the objective is common to all), so that equal
    /// shares tie whatever the rounding of the division.
    budget_burned: f64,
    labels: &'a [(String, String)],
}

impl Ranked<'_> {
    fn entry(self) -> TopEntry {
        TopEntry {
            labels: self.labels.to_vec(),
            bad: self.bad,
            total: self.total,
            budget_burned: self.budget_burned,
        }
    }
}

impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let share = |r: &Self, by: &Self| u128::from(r.bad) * u128::from(by.period_total);
        share(other, self)
            .cmp(&share(self, other))
            .then(other.bad.cmp(&self.bad))
            .then_with(|| {
                let values = |r: &Self| r.labels.iter().map(|l| &l.1);
                values(self).cmp(values(other))
            })
    }
}

impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked<'_> {}

// === impl Serialize ===

impl Serialize for RollupReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(6))?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("slo", &self.slo)?;
        m.serialize_entry("by", &self.by)?;
        m.serialize_entry("groups", &self.groups)?;
        m.serialize_entry("ecosystem", &self.ecosystem)?;
        m.serialize_entry("top", &self.top)?;
        m.end()
    }
}

impl Serialize for Group {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("value", &self.value)?;
        m.serialize_entry(
            "error_budget_remaining",
            &self.aggregate.error_budget_remaining,
        )?;
        m.serialize_entry("windows", &self.aggregate.windows)?;
        m.end()
    }
}

impl Serialize for Aggregate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("error_budget_remaining", &self.error_budget_remaining)?;
        m.serialize_entry("windows", &self.windows)?;
        m.end()
    }
}

impl Serialize for WindowSum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("window", &self.window.to_string())?;
        m.serialize_entry("good", &self.good)?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("sli", &self.sli)?;
        m.serialize_entry("burn_rate", &self.burn_rate)?;
        m.end()
    }
}

impl Serialize for Top {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("window", &self.window.to_string())?;
        m.serialize_entry("entries", &self.entries)?;
        m.end()
    }
}

impl Serialize for TopEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("labels", &Pairs(&self.labels))?;
        m.serialize_entry("bad", &self.bad)?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("budget_burned", &self.budget_burned)?;
        m.end()
    }
}

#[cfg(test)]
mod tests;
