//! Composite SLOs and roll-ups: the `composites` and `rollups` sections. Raw mirrors
//! first, then [`build_composites`] and [`build_rollups`], pure, run after the SLOs are
//! validated because both refer to SLOs by name.
//!
//! A composite is computed from its components' series at evaluation time, so each
//! component must keep the composite's window and the windows of the composite's alert
//! rules. Validation adds those to the component's kept windows
//! ([`Slo::composite_windows`]), which changes what the engine holds but not what the SLO
//! reports.

use std::collections::HashSet;

use serde::Deserialize;

use super::alerting::{AlertPolicy, RawAlerting, RawSloAlerts};
use super::budget::BudgetPolicy;
use super::validate::{ValidationError, objective, window};
use super::{EventSchema, Slo, Span};

/// The largest weight of a component. Weights are relative (OpenSLO's `compositeWeight`
/// ratios scale to whole numbers up to this, see `openslo::composite`); the bound keeps
/// weighted sums of event counts exact in a u64: 10^6 × 10^12 events is 10^18.
pub const MAX_WEIGHT: u64 = 1_000_000;
pub const DEFAULT_TOP_K: usize = 10;
/// The bound on `top_k`: the ranking is for people and dashboards, not an export.
pub const MAX_TOP_K: usize = 1000;
/// Labels of the roll-up metrics; a series label of the same name would collide.
const ROLLUP_METRIC_LABELS: [&str; 2] = ["rollup", "rank"];

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a composite SLO: name, objective, window, components, alerts"
)]
pub struct RawComposite {
    pub name: String,
    /// Percent, e.g. `99.5`, as an SLO's.
    pub objective: f64,
    /// The composite's error-budget period.
    pub window: String,
    pub components: Vec<RawComponent>,
    /// Burn-rate alert rules, as an SLO's `alerts`; default: the SRE Workbook's, scaled
    /// to `window`.
    pub alerts: Option<RawSloAlerts>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a component: `{ slo: NAME }` or `{ slo: NAME, weight: N }`"
)]
pub struct RawComponent {
    pub slo: String,
    /// A whole number from 1 to [`MAX_WEIGHT`]; default 1.
    pub weight: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a roll-up: name, slo, by, top_k, rank_window"
)]
pub struct RawRollup {
    pub name: String,
    /// The SLO whose series are rolled up.
    pub slo: String,
    /// A label of that SLO's series.
    pub by: String,
    /// How many series the ranking keeps; default [`DEFAULT_TOP_K`].
    pub top_k: Option<u64>,
    /// The window the ranking counts bad events in; default the SLO's own window.
    pub rank_window: Option<String>,
}

/// A composite SLO, checked: the weighted sum of its components' events, with its own
/// objective, window and alerts.
#[derive(Clone, Debug)]
pub struct Composite {
    pub name: String,
    /// As a fraction in (0, 1).
    pub objective: f64,
    pub window: Span,
    /// Every window it reports: the config's `windows` and its own, ascending.
    pub windows: Vec<Span>,
    /// In config order, each SLO once.
    pub components: Vec<Component>,
    pub alerts: AlertPolicy,
    /// The top-level `budget_policy` (a composite has none of its own).
    pub budget_policy: BudgetPolicy,
}

/// Serialized as the report writes it: `{"slo": NAME, "weight": N}`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Component {
    /// The name of an SLO (never of a composite).
    pub slo: String,
    /// Each of the SLO's events counts this many times in the composite.
    pub weight: u64,
}

/// A roll-up, checked, with what it needs of its SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct Rollup {
    pub name: String,
    pub slo: String,
    /// The label the series are grouped by.
    pub by: String,
    pub top_k: usize,
    /// One of the SLO's reported windows, no longer than its SLO window.
    pub rank_window: Span,
    /// The SLO's objective (a fraction), window and reported windows.
    pub objective: f64,
    pub window: Span,
    pub windows: Vec<Span>,
}

/// An error at `field`; `composite` names the composite it is in (roll-up errors name
/// only the field: the `slo` of an error is an SLO's or composite's name).
fn fail<T>(composite: Option<&str>, field: String, message: String) -> Result<T, ValidationError> {
    Err(ValidationError {
        slo: composite.filter(|n| !n.is_empty()).map(str::to_owned),
        field,
        message,
    })
}

/// The `composites` section. Adds each composite's windows to its components'
/// [`Slo::composite_windows`]. `budget_policy` is the top-level one.
pub fn build_composites(
    raw: &[RawComposite],
    slos: &mut [Slo],
    windows: &[Span],
    alerting: Option<&RawAlerting>,
    budget_policy: &BudgetPolicy,
) -> Result<Vec<Composite>, ValidationError> {
    let composite_names: HashSet<&str> = raw.iter().map(|c| c.name.trim()).collect();
    // Owned: `slos` is written to below, for the components' kept windows.
    let mut names: HashSet<String> = slos.iter().map(|s| s.name.clone()).collect();
    let mut out = Vec::with_capacity(raw.len());
    for (i, c) in raw.iter().enumerate() {
        let name = c.name.trim();
        let at = |field: &str| format!("composites[{i}].{field}");
        if name.is_empty() {
            return fail(
                Some(name),
                at("name"),
                "a composite needs a non-empty name".into(),
            );
        }
        if !names.insert(name.to_owned()) {
            return fail(
                Some(name),
                at("name"),
                "an SLO or another composite has the same name; names must be unique".into(),
            );
        }
        let objective = objective(c.objective).or_else(|m| fail(Some(name), at("objective"), m))?;
        let window = window(&c.window).or_else(|m| fail(Some(name), at("window"), m))?;
        let alerts = super::alerting::build_policy(c.alerts.as_ref(), alerting, window)
            .or_else(|(field, m)| fail(Some(name), at(&field), m))?;
        if c.components.is_empty() {
            return fail(
                Some(name),
                at("components"),
                "list at least one SLO, e.g. `[{ slo: checkout-availability }]`".into(),
            );
        }
        let mut components: Vec<Component> = Vec::with_capacity(c.components.len());
        for (j, raw_component) in c.components.iter().enumerate() {
            let at = |field: &str| at(&format!("components[{j}].{field}"));
            let slo = raw_component.slo.trim();
            let Some(s) = slos.iter().position(|s| s.name == slo) else {
                let message = if slo == name {
                    "a composite cannot contain itself".to_owned()
                } else if composite_names.contains(slo) {
                    format!(
                        "`{slo}` is a composite; composites of composites are not supported \
                         (yet): list its SLOs here instead"
                    )
                } else {
                    format!("no SLO is named `{slo}`; components are SLOs of `slos`")
                };
                return fail(Some(name), at("slo"), message);
            };
            let weight = raw_component.weight.unwrap_or(1);
            if !(1..=MAX_WEIGHT).contains(&weight) {
                return fail(
                    Some(name),
                    at("weight"),
                    format!("must be a whole number from 1 to {MAX_WEIGHT}, got {weight}"),
                );
            }
            if components.iter().any(|k| k.slo == slo) {
                return fail(
                    Some(name),
                    at("slo"),
                    format!("`{slo}` is listed twice; give it a weight instead"),
                );
            }
            components.push(Component {
                slo: slo.to_owned(),
                weight,
            });
            keep_windows(&mut slos[s], window, &alerts);
        }
        let mut reported: Vec<Span> = windows.iter().copied().chain([window]).collect();
        reported.sort();
        reported.dedup();
        out.push(Composite {
            name: name.to_owned(),
            objective,
            window,
            windows: reported,
            components,
            alerts,
            budget_policy: budget_policy.clone(),
        });
    }
    Ok(out)
}

/// Makes `slo` keep the windows a composite of it reads: its SLO window and its alert
/// rules' (the config's `windows` every SLO reports already).
fn keep_windows(slo: &mut Slo, window: Span, alerts: &AlertPolicy) {
    for w in std::iter::once(window).chain(alerts.windows()) {
        if !slo.engine_windows().contains(&w) {
            slo.composite_windows.push(w);
            slo.composite_windows.sort();
        }
    }
}

/// The `rollups` section, over the validated SLOs.
pub fn build_rollups(
    raw: &[RawRollup],
    slos: &[Slo],
    composites: &[Composite],
    events: &EventSchema,
) -> Result<Vec<Rollup>, ValidationError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (i, r) in raw.iter().enumerate() {
        let name = r.name.trim();
        let at = |field: &str| format!("rollups[{i}].{field}");
        if name.is_empty() {
            return fail(None, at("name"), "a roll-up needs a non-empty name".into());
        }
        if !names.insert(name) {
            return fail(
                None,
                at("name"),
                format!("another roll-up is named `{name}`; names must be unique"),
            );
        }
        let slo_name = r.slo.trim();
        let Some(slo) = slos.iter().find(|s| s.name == slo_name) else {
            let message = if composites.iter().any(|c| c.name == slo_name) {
                format!("`{slo_name}` is a composite, which has one series; roll up an SLO")
            } else {
                format!("no SLO is named `{slo_name}`")
            };
            return fail(None, at("slo"), message);
        };
        let labels = slo.label_names(events);
        let by = r.by.trim();
        if !labels.iter().any(|l| l == by) {
            let message = if labels.is_empty() {
                format!(
                    "SLO `{slo_name}` has one series, with no labels: give it `group_by` (or \
                     `service: \"*\"`) to roll it up by `{by}`"
                )
            } else {
                format!(
                    "`{by}` is not a label of SLO `{slo_name}`'s series; its labels are {}",
                    labels.join(", ")
                )
            };
            return fail(None, at("by"), message);
        }
        if let Some(clash) = labels
            .iter()
            .find(|l| ROLLUP_METRIC_LABELS.contains(&l.as_str()))
        {
            return fail(
                None,
                at("slo"),
                format!(
                    "SLO `{slo_name}` has a label `{clash}`, which the roll-up metrics use \
                     themselves; rename the label in `events.labels`"
                ),
            );
        }
        let top_k = r.top_k.unwrap_or(DEFAULT_TOP_K as u64);
        if !(1..=MAX_TOP_K as u64).contains(&top_k) {
            return fail(
                None,
                at("top_k"),
                format!("must be a whole number from 1 to {MAX_TOP_K}, got {top_k}"),
            );
        }
        let rank_window = match &r.rank_window {
            None => slo.window,
            Some(text) => {
                let w = window(text).or_else(|m| fail(None, at("rank_window"), m))?;
                if !slo.windows.contains(&w) || w > slo.window {
                    let shown: Vec<String> = slo
                        .windows
                        .iter()
                        .filter(|x| **x <= slo.window)
                        .map(Span::to_string)
                        .collect();
                    return fail(
                        None,
                        at("rank_window"),
                        format!(
                            "{w} is not a window of SLO `{slo_name}` up to its SLO window; \
                             use one of {}",
                            shown.join(", ")
                        ),
                    );
                }
                w
            }
        };
        out.push(Rollup {
            name: name.to_owned(),
            slo: slo.name.clone(),
            by: by.to_owned(),
            top_k: top_k as usize,
            rank_window,
            objective: slo.objective,
            window: slo.window,
            windows: slo.windows.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
