//! Tiers and service rules: reliability policy as config.
//!
//! - `tiers` name promises (`P0: { availability: 99.99, latency: {...}, window: 30d }`).
//!   An SLO with a tier inherits what it does not set, and may not promise less than its
//!   tier: an objective below the tier's, or a latency threshold above it, is "below the
//!   floor", an error (or a warning with `policy.tier_floor: warn`).
//! - `services` rules give every service their globs match the SLOs of a tier, with no
//!   per-service YAML: each rule generates ordinary SLOs (`<name>-availability`,
//!   `<name>-latency`) that select by glob and have `service` as their first label, so
//!   the series limit bounds them like any other SLO. A service with an SLO of its own
//!   (by exact name) is excluded from every rule: explicit SLOs replace fleet defaults.
//!
//! Everything here is pure, like the rest of validation. Globs are matched per stream by
//! the engine (`crate::classify`), never per event.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::glob::Glob;
use super::raw::{RawIndicator, RawSlo};
use super::{Field, Indicator, ServiceMatch, Slo, Span};

// === raw ===

/// A tier as written: objectives in percent, like an SLO's.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a tier: `{ availability: 99.9, latency: { threshold_ms: 300, objective: 99 }, window: 30d }`"
)]
pub struct RawTier {
    /// Objective of availability SLOs, percent.
    pub availability: Option<f64>,
    pub latency: Option<RawTierLatency>,
    /// The SLO window of the tier's SLOs.
    pub window: String,
    /// The error-budget policy of the tier's SLOs; replaces the top-level one for them.
    pub budget_policy: Option<Vec<crate::config::budget::RawBudgetRule>>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a latency promise: `{ threshold_ms: 300, objective: 99.9 }`"
)]
pub struct RawTierLatency {
    pub threshold_ms: f64,
    /// Percent of requests at or under `threshold_ms`.
    pub objective: f64,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a services rule: `{ match: { service: \"payments-*\" }, tier: P0 }`, optionally `name` and `group_by`"
)]
pub struct RawServiceRule {
    /// Field (`service`, `route` or a label) → glob; every one must match.
    #[serde(rename = "match")]
    pub match_: BTreeMap<String, String>,
    pub tier: String,
    /// Names the generated SLOs; default `<tier lowercased>-fleet`.
    pub name: Option<String>,
    #[serde(default)]
    pub group_by: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: tier_floor")]
pub struct RawPolicy {
    /// `error` (default) or `warn`.
    pub tier_floor: Option<FloorMode>,
}

// === validated ===

/// What an objective below its tier's floor is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", expecting = "`error` or `warn`")]
pub enum FloorMode {
    #[default]
    Error,
    Warn,
}

impl FloorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            FloorMode::Error => "error",
            FloorMode::Warn => "warn",
        }
    }
}

/// A tier; objectives are fractions, like [`Slo::objective`].
#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    pub name: String,
    pub availability: Option<f64>,
    pub latency: Option<TierLatency>,
    pub window: Span,
    /// Its own `budget_policy`, if it has one.
    pub budget_policy: Option<crate::config::budget::BudgetPolicy>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TierLatency {
    pub threshold_ms: f64,
    pub objective: f64,
}

impl Tier {
    /// The tier's objective for availability or latency SLOs, if it has one.
    pub(super) fn objective_for(&self, latency: bool) -> Option<f64> {
        if latency {
            self.latency.map(|l| l.objective)
        } else {
            self.availability
        }
    }

    pub(super) fn threshold_ms(&self) -> Option<f64> {
        self.latency.map(|l| l.threshold_ms)
    }

    /// The budget policy of its SLOs: its own, else the config's top-level one.
    pub(super) fn budget_policy<'a>(
        &'a self,
        top_level: &'a crate::config::budget::BudgetPolicy,
    ) -> &'a crate::config::budget::BudgetPolicy {
        self.budget_policy.as_ref().unwrap_or(top_level)
    }
}

/// A `services` rule.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRule {
    /// Names its SLOs `<name>-availability` and `<name>-latency`.
    pub name: String,
    pub tier: String,
    /// The glob on the service name; none matches every service.
    pub service: Option<Glob>,
    /// Globs on the route and labels.
    pub fields: Vec<(Field, Glob)>,
    pub group_by: Vec<Field>,
    /// Services the globs match that have SLOs of their own, so none of this rule's.
    pub excluded: Vec<String>,
    /// The SLOs it generates, by name.
    pub slos: Vec<String>,
}

impl ServiceRule {
    /// Whether the rule decides the tier of an SLO of exactly `service`: only a rule that
    /// matches on the service name alone can, as the other fields are known per event.
    fn covers(&self, service: &str) -> bool {
        self.fields.is_empty() && self.service.as_ref().is_some_and(|g| g.matches(service))
    }
}

/// Where an SLO's tier comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierFrom {
    /// Its own `tier:`.
    Explicit,
    /// The first services rule whose `service` glob matches its exact service.
    Inherited { rule: usize },
    /// The SLO is generated by this services rule.
    Rule { rule: usize },
}

impl TierFrom {
    pub fn as_str(self) -> &'static str {
        match self {
            TierFrom::Explicit => "explicit",
            TierFrom::Inherited { .. } => "inherited",
            TierFrom::Rule { .. } => "rule",
        }
    }

    pub fn rule(self) -> Option<usize> {
        match self {
            TierFrom::Explicit => None,
            TierFrom::Inherited { rule } | TierFrom::Rule { rule } => Some(rule),
        }
    }
}

/// How one SLO got its tier and values.
#[derive(Clone, Debug, PartialEq)]
pub struct SloPolicy {
    pub slo: String,
    pub tier_from: Option<TierFrom>,
    /// The keys taken from the tier: `objective`, `window`, `indicator.threshold_ms`.
    pub inherited: Vec<&'static str>,
}

/// The `tiers`, `services` and `policy` sections, and what they did to each SLO.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policies {
    /// Sorted by name.
    pub tiers: Vec<Tier>,
    /// In config order.
    pub rules: Vec<ServiceRule>,
    pub tier_floor: FloorMode,
    /// One per SLO, in the order of `Config::slos`.
    pub slos: Vec<SloPolicy>,
}

impl Policies {
    pub fn tier(&self, name: &str) -> Option<&Tier> {
        self.tiers.iter().find(|t| t.name == name)
    }

    /// How the SLO named `slo` got its tier.
    pub fn slo(&self, slo: &str) -> Option<&SloPolicy> {
        self.slos.iter().find(|p| p.slo == slo)
    }

    /// The tier of an explicit SLO: its own, else that of the first rule that covers its
    /// exact service. Err: an unknown tier name, for the SLO's `tier` field.
    pub(super) fn tier_of(&self, raw: &RawSlo) -> Result<Option<(&Tier, TierFrom)>, String> {
        if let Some(name) = &raw.tier {
            let name = name.trim();
            return match self.tier(name) {
                Some(t) => Ok(Some((t, TierFrom::Explicit))),
                None => Err(self.unknown_tier(name)),
            };
        }
        // Rules apply to a service by name: a pattern (`*`, `payments-*`) is not one.
        let service = raw.service.trim();
        if Glob::is_pattern(service) {
            return Ok(None);
        }
        let rule = self.rules.iter().position(|r| r.covers(service));
        Ok(rule.map(|rule| {
            let tier = self.tier(&self.rules[rule].tier).expect("rule tiers exist");
            (tier, TierFrom::Inherited { rule })
        }))
    }

    fn unknown_tier(&self, name: &str) -> String {
        let known = self.tiers.iter().map(|t| t.name.as_str());
        format!(
            "unknown tier `{name}`; tiers are defined under `tiers` ({})",
            super::validate::listing(known, "none defined")
        )
    }

    /// Records how the explicit SLO `slos[i]` got its tier, and checks it against its
    /// tier's floor: Err is `(field, message)`; in `warn` mode the message goes to
    /// `warnings` instead.
    pub(super) fn admit(
        &mut self,
        i: usize,
        raw: &RawSlo,
        slo: &Slo,
        from: Option<TierFrom>,
        pinned: bool,
        warnings: &mut Vec<String>,
    ) -> Result<(), (String, String)> {
        let mut inherited = Vec::new();
        if let Some(tier) = slo.tier.as_deref().and_then(|t| self.tier(t)) {
            if raw.objective.is_none() {
                inherited.push("objective");
            }
            if raw.window.is_none() {
                inherited.push("window");
            }
            if matches!(raw.indicator, RawIndicator::Latency { threshold_ms: None }) {
                inherited.push("indicator.threshold_ms");
            }
            if let Some((field, message)) = below_floor(slo, tier, from, &self.rules) {
                let field = format!("slos[{i}].{field}");
                // A pinned SLO keeps the promise approved before the floor was raised,
                // until the change to the new floor is approved.
                let mode = if pinned {
                    FloorMode::Warn
                } else {
                    self.tier_floor
                };
                match mode {
                    FloorMode::Error => {
                        return Err((
                            field,
                            format!(
                                "{message}; raise it, or set `policy.tier_floor: warn` to \
                                 accept it with a warning"
                            ),
                        ));
                    }
                    FloorMode::Warn => {
                        warnings.push(format!("slo `{}`: {field}: {message}", slo.name));
                    }
                }
            }
        }
        self.slos.push(SloPolicy {
            slo: slo.name.clone(),
            tier_from: from,
            inherited,
        });
        Ok(())
    }
}

/// Why `slo` promises less than `tier`, if it does: `(field, message)`.
fn below_floor(
    slo: &Slo,
    tier: &Tier,
    from: Option<TierFrom>,
    rules: &[ServiceRule],
) -> Option<(&'static str, String)> {
    let tier_name = match from.and_then(TierFrom::rule) {
        Some(r) => format!(
            "`{}` (from services[{r}], whose `{}` matches service `{}`)",
            tier.name,
            rules[r].service.as_ref().map_or("*", Glob::as_str),
            match &slo.service {
                ServiceMatch::Exact(s) => s.as_str(),
                _ => "*",
            }
        ),
        None => format!("`{}`", tier.name),
    };
    let latency = matches!(slo.indicator, Indicator::Latency { .. });
    if let Some(floor) = tier.objective_for(latency)
        && slo.objective < floor
    {
        return Some((
            "objective",
            format!(
                "objective {} % is below the floor of tier {tier_name}, {} %",
                fraction_to_percent(slo.objective),
                fraction_to_percent(floor)
            ),
        ));
    }
    if let (Indicator::Latency { threshold_ms }, Some(l)) = (slo.indicator, tier.latency)
        && threshold_ms > l.threshold_ms
    {
        return Some((
            "indicator.threshold_ms",
            format!(
                "threshold {threshold_ms} ms is looser than the floor of tier {tier_name}, \
                 {} ms",
                l.threshold_ms
            ),
        ));
    }
    None
}

/// The objective as a percent exactly as written: the inverse of the validation's
/// `99.9` → `0.999`, so that no `99.90000000000001` shows.
pub fn fraction_to_percent(fraction: f64) -> f64 {
    format!("{fraction}e2").parse().unwrap_or(fraction * 100.0)
}

mod build;
mod fleet;

pub(super) use build::build;

#[cfg(test)]
mod tests;
