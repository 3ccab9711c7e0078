//! Roll-ups → Prometheus (docs/metrics.md, "Roll-ups"): per group and for the whole
//! ecosystem, the SLI of every window and the budget left; and the top-k ranking, one
//! gauge per rank.
//!
//! As for SLO series, handles are registered once and reused, and a value that is null
//! in the report is not exported (its gauge expires after the registry's idle timeout).
//! A rank's gauge carries the labels of the series at that rank: when another series
//! takes the rank, or the ranking gets shorter, the old gauge is no longer updated and
//! expires the same way (the registry has no way to delete a series at once).

use std::collections::HashMap;

use metrics::{Gauge, Key, Label, Recorder, SharedString};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::prometheus::{METADATA, Slot};
use crate::report::rollup::{Aggregate, RollupReport};

/// `(SLI, budget left)` metric names of a group, and of the ecosystem.
const GROUP: (&str, &str) = (
    "slipstream_rollup_sli",
    "slipstream_rollup_error_budget_remaining",
);
const ECOSYSTEM: (&str, &str) = (
    "slipstream_ecosystem_sli",
    "slipstream_ecosystem_error_budget_remaining",
);

/// The gauges of one group (or of the ecosystem) of a roll-up.
#[derive(Default)]
struct AggregateGauges {
    /// Per window, in the report's order.
    sli: Vec<Slot>,
    budget: Slot,
}

/// The gauge of one rank, and whose it is (the series' label values, NUL-separated).
struct RankGauge {
    series: String,
    gauge: Gauge,
}

#[derive(Default)]
pub(super) struct RollupMetrics {
    /// By roll-up name and group value (`None`: the ecosystem).
    aggregates: HashMap<(String, Option<String>), AggregateGauges>,
    /// By roll-up name: rank 1 first.
    ranks: HashMap<String, Vec<RankGauge>>,
    key: String,
}

impl RollupMetrics {
    /// Forgets every handle, so that the next publish registers them again (after the
    /// registry may have dropped them).
    pub(super) fn clear(&mut self) {
        self.aggregates.clear();
        self.ranks.clear();
    }

    pub(super) fn publish(&mut self, recorder: &PrometheusRecorder, rollups: &[RollupReport]) {
        for r in rollups {
            let base = || {
                vec![
                    Label::new("rollup", r.name.clone()),
                    Label::new("slo", r.slo.clone()),
                ]
            };
            for g in &r.groups {
                let by = Label::new(SharedString::from(r.by.clone()), g.value.clone());
                let gauges = self
                    .aggregates
                    .entry((r.name.clone(), Some(g.value.clone())))
                    .or_default();
                let labels = |window: Option<String>| {
                    let mut labels = base();
                    labels.extend(window.map(|w| Label::new("window", w)));
                    labels.push(by.clone());
                    labels
                };
                update(recorder, gauges, &g.aggregate, GROUP, labels);
            }
            let gauges = self.aggregates.entry((r.name.clone(), None)).or_default();
            let labels = |window: Option<String>| {
                let mut labels = base();
                labels.extend(window.map(|w| Label::new("window", w)));
                labels
            };
            update(recorder, gauges, &r.ecosystem, ECOSYSTEM, labels);

            let ranks = self.ranks.entry(r.name.clone()).or_default();
            ranks.truncate(r.top.entries.len());
            for (i, entry) in r.top.entries.iter().enumerate() {
                crate::report::series_key(&mut self.key, "", &entry.labels);
                if ranks.get(i).is_none_or(|g| g.series != self.key) {
                    let mut labels = base();
                    labels.push(Label::new("rank", (i + 1).to_string()));
                    labels.extend(
                        entry
                            .labels
                            .iter()
                            .map(|(k, v)| Label::new(SharedString::from(k.clone()), v.clone())),
                    );
                    let key = Key::from_parts("slipstream_rollup_top_budget_burned", labels);
                    let gauge = RankGauge {
                        series: self.key.clone(),
                        gauge: recorder.register_gauge(&key, &METADATA),
                    };
                    match ranks.get_mut(i) {
                        Some(slot) => *slot = gauge,
                        None => ranks.push(gauge),
                    }
                }
                ranks[i].gauge.set(entry.budget_burned);
            }
        }
    }
}

/// Sets the SLI of every window and the budget left of one group or of the ecosystem,
/// under the metric names `(sli, budget)`; `labels` gives a window's (or, with `None`,
/// the budget's) labels.
fn update(
    recorder: &PrometheusRecorder,
    gauges: &mut AggregateGauges,
    aggregate: &Aggregate,
    (sli, budget): (&'static str, &'static str),
    labels: impl Fn(Option<String>) -> Vec<Label>,
) {
    let register = |name: &'static str, labels: Vec<Label>| {
        recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
    };
    gauges
        .sli
        .resize_with(aggregate.windows.len(), Slot::default);
    for (slot, w) in gauges.sli.iter_mut().zip(&aggregate.windows) {
        slot.set(w.sli, || register(sli, labels(Some(w.window.to_string()))));
    }
    gauges.budget.set(aggregate.error_budget_remaining, || {
        register(budget, labels(None))
    });
}

/// The HELP lines of the roll-up metrics.
pub(super) fn describe(recorder: &PrometheusRecorder) {
    for (name, help) in [
        (
            "slipstream_rollup_sli",
            "Good over total events of a roll-up group (the SLO's series with one value of the label) in the window.",
        ),
        (
            "slipstream_rollup_error_budget_remaining",
            "Share of the SLO window's error budget a roll-up group has left.",
        ),
        (
            "slipstream_ecosystem_sli",
            "Good over total events of every series of a roll-up's SLO in the window.",
        ),
        (
            "slipstream_ecosystem_error_budget_remaining",
            "Share of the SLO window's error budget every series of a roll-up's SLO together has left.",
        ),
        (
            "slipstream_rollup_top_budget_burned",
            "Share of its own SLO-window budget the series at this rank burned in the roll-up's rank_window.",
        ),
    ] {
        recorder.describe_gauge(name.into(), None, help.into());
    }
}

#[cfg(test)]
mod tests;
