//! Composite SLOs at evaluation: one series made of the weighted events of other SLOs'
//! series, with its own objective, window, budget and burn rates (OpenSLO's composite
//! SLO, Occurrences budgeting).
//!
//! Per window, `good = Σ weight · good` and `total = Σ weight · total` over every series
//! of every component (the overflow series too). Weights are whole numbers, so the sums
//! stay exact integers: a bad event of a weight-2 component costs the composite two.
//! From those sums on, a composite is an SLO like any other: the same SLI, burn-rate and
//! budget functions, and the sinks and the alert book see an ordinary series.

use serde::ser::{Serialize, SerializeMap, Serializer};

use super::{Lifetime, SeriesReport, WindowReport};
use crate::config::ladder::ObjectiveLadder;
use crate::config::{Component, Composite, Span};
use crate::window::MAX_LATENCY_WINDOW;

/// The composite's series at the time the SLO series `slos` were evaluated, or `None`
/// when no component has a series yet (as an SLO has no series before its first event).
///
/// Every component must keep the composite's windows (config validation sees to it:
/// [`crate::config::Slo::composite_windows`]).
pub fn evaluate(
    composite: &Composite,
    slos: &[SeriesReport],
    ladder: &ObjectiveLadder,
) -> Option<SeriesReport> {
    let mut alert_only: Vec<Span> = composite
        .alerts
        .windows()
        .filter(|w| !composite.windows.contains(w))
        .collect();
    alert_only.sort();
    alert_only.dedup();
    let all: Vec<Span> = composite
        .windows
        .iter()
        .chain(&alert_only)
        .copied()
        .collect();
    // (good, total) per window of `all`.
    let mut sums = vec![(0u64, 0u64); all.len()];
    let mut lifetime = Lifetime::default();
    let mut seen = false;
    for series in slos {
        let Some(weight) = weight_of(&composite.components, &series.name) else {
            continue;
        };
        seen = true;
        for (sum, &w) in sums.iter_mut().zip(&all) {
            let window = series
                .window(w)
                .expect("validation makes every component keep its composites' windows");
            // Saturating: exact up to 1.8 × 10^19, far beyond any real count times the
            // largest weight (MAX_WEIGHT), and never a panic or a wrap.
            sum.0 = sum.0.saturating_add(weight.saturating_mul(window.good));
            sum.1 = sum.1.saturating_add(weight.saturating_mul(window.total));
        }
        let weighted = |n: u64| weight.saturating_mul(n);
        lifetime.good = lifetime.good.saturating_add(weighted(series.lifetime.good));
        lifetime.total = lifetime
            .total
            .saturating_add(weighted(series.lifetime.total));
    }
    if !seen {
        return None;
    }
    let objective = composite.objective;
    let reported = composite.windows.len();
    let mut windows: Vec<WindowReport> = all
        .iter()
        .zip(&sums)
        .enumerate()
        .map(|(i, (&window, &(good, total)))| WindowReport {
            window,
            total,
            good,
            sli: super::sli(good, total),
            burn_rate: super::burn_rate(good, total, objective),
            // Components may measure different things (availability, latency): their
            // latencies do not add up to the composite's, so its percentiles are null
            // where an SLO's would be reported.
            latency_ms: (i < reported && window <= MAX_LATENCY_WINDOW).then_some(None),
        })
        .collect();
    let alert_windows = windows.split_off(reported);
    let own = windows
        .iter()
        .find(|w| w.window == composite.window)
        .expect("a composite reports its own window");
    let (good, total) = (own.good, own.total);
    Some(SeriesReport {
        name: composite.name.clone(),
        labels: Vec::new(),
        objective,
        window: composite.window,
        tier: None,
        error_budget_remaining: super::error_budget_remaining(good, total, objective),
        windows,
        alert_windows,
        lifetime,
        composite: Some(composite.components.clone()),
        baseline: super::baseline::baseline(good, total, ladder),
        budget_policy: super::budget::budget_action(
            &composite.budget_policy,
            good,
            total,
            objective,
        ),
    })
}

fn weight_of(components: &[Component], slo: &str) -> Option<u64> {
    components.iter().find(|c| c.slo == slo).map(|c| c.weight)
}

/// The `composite` key of a composite's entry: `{"components": [{"slo", "weight"}]}`.
pub(super) struct Components<'a>(pub(super) &'a [Component]);

impl Serialize for Components<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry("components", self.0)?;
        m.end()
    }
}

#[cfg(test)]
mod tests;
