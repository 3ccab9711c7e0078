//! Step 4 of the data path: window sums → the SLO report, the document that `replay`
//! prints and that the outputs publish. The SLI math lives here, as pure functions; the
//! JSON form is the contract in docs/report.md, and [`table`] renders it for a person.

pub mod baseline;
pub mod baseline_view;
pub mod budget;
pub mod composite;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod rollup;
pub mod table;
mod top_k;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::Span;
use crate::decode::Invalid;
use crate::decode::timestamp::format_rfc3339;

/// Good over total; `None` with no traffic, which is not 100 %.
pub fn sli(good: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| good as f64 / total as f64)
}

/// How fast the error budget burns: the error ratio over the allowed one. 1 spends the
/// budget exactly over the SLO window. `None` with no traffic.
pub fn burn_rate(good: u64, total: u64, objective: f64) -> Option<f64> {
    (total > 0).then(|| ((total - good) as f64 / total as f64) / (1.0 - objective))
}

/// `1 - bad / ((1 - objective) * total)`: the share of the budget left; negative when it
/// is overspent, `None` when the window had no traffic.
pub fn error_budget_remaining(good: u64, total: u64, objective: f64) -> Option<f64> {
    (total > 0).then(|| 1.0 - (total - good) as f64 / ((1.0 - objective) * total as f64))
}

/// What happened to the events read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCounts {
    pub read: u64,
    pub valid: u64,
    pub too_old: u64,
    /// Indexed like [`Invalid::ALL`].
    pub invalid_by_reason: [u64; Invalid::ALL.len()],
}

impl EventCounts {
    pub fn invalid(&self) -> u64 {
        self.invalid_by_reason.iter().sum()
    }

    #[inline]
    pub fn count_invalid(&mut self, reason: Invalid) {
        self.invalid_by_reason[reason as usize] += 1;
    }

    /// Adds counts taken elsewhere (another instance, or scale-out's stage 1).
    pub fn add(&mut self, other: &EventCounts) {
        self.read += other.read;
        self.valid += other.valid;
        self.too_old += other.too_old;
        for (a, b) in self
            .invalid_by_reason
            .iter_mut()
            .zip(&other.invalid_by_reason)
        {
            *a += b;
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub at_ms: i64,
    pub events: EventCounts,
    /// One entry per SLO series, in config order, then by label values.
    pub slos: Vec<SeriesReport>,
    /// One entry per SLO, in config order: what its series limit refused (the
    /// `slipstream_series_overflow*` counters; not part of the JSON report, whose
    /// overflow series is in `slos` like any other).
    pub overflow: Vec<SeriesOverflow>,
    /// One entry per roll-up, in config order; `None` when the config has no `rollups`
    /// (the JSON then has no `rollups` key).
    pub rollups: Option<Vec<rollup::RollupReport>>,
}

/// What the series limit (`limits.max_series_per_slo`) refused an SLO since the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeriesOverflow {
    pub slo: String,
    /// Label combinations refused a series of their own (see docs/metrics.md for when
    /// one is counted twice).
    pub combinations: u64,
    /// Events counted in the overflow series instead: its lifetime total, exact.
    pub events: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SeriesReport {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub objective: f64,
    pub window: Span,
    /// The SLO's effective tier (`tiers`), if it has one.
    pub tier: Option<String>,
    pub error_budget_remaining: Option<f64>,
    /// Ascending by window length.
    pub windows: Vec<WindowReport>,
    /// The windows its alert rules or its composites read that are not in `windows` (not
    /// part of the JSON report).
    pub alert_windows: Vec<WindowReport>,
    /// Every event this series has counted since the start, and the good ones among them:
    /// monotonic, whatever the windows (the `slipstream_slo_events_total` counters; not
    /// part of the JSON report).
    pub lifetime: Lifetime,
    /// For a composite SLO, its components and their weights; `None` for an SLO's series.
    pub composite: Option<Vec<crate::config::Component>>,
    /// Over the SLO window: the SLI achieved, placed on the objective ladder.
    pub baseline: baseline::Baseline,
    /// The action of the SLO's error-budget policy at the budget left.
    pub budget_policy: budget::BudgetAction,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lifetime {
    pub total: u64,
    pub good: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WindowReport {
    pub window: Span,
    pub total: u64,
    pub good: u64,
    pub sli: Option<f64>,
    pub burn_rate: Option<f64>,
    /// `None` for windows too long to keep percentiles; `Some(None)` when empty.
    pub latency_ms: Option<Option<[f64; 4]>>,
}

/// A series' identity as one string (name and label values, NUL-separated), for the
/// maps that follow a series from one evaluation to the next.
pub fn series_key(out: &mut String, name: &str, labels: &[(String, String)]) {
    out.clear();
    out.push_str(name);
    for (_, v) in labels {
        out.push('\0');
        out.push_str(v);
    }
}

impl SeriesReport {
    /// The window `w`, reported or read by an alert rule.
    pub fn window(&self, w: Span) -> Option<&WindowReport> {
        self.windows
            .iter()
            .chain(&self.alert_windows)
            .find(|r| r.window == w)
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("at", &format_rfc3339(self.at_ms))?;
        m.serialize_entry("events", &self.events)?;
        m.serialize_entry("slos", &self.slos)?;
        if let Some(rollups) = &self.rollups {
            m.serialize_entry("rollups", rollups)?;
        }
        m.end()
    }
}

impl Serialize for EventCounts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("read", &self.read)?;
        m.serialize_entry("valid", &self.valid)?;
        m.serialize_entry("invalid", &self.invalid())?;
        m.serialize_entry("too_old", &self.too_old)?;
        m.serialize_entry("invalid_by_reason", &ByReason(&self.invalid_by_reason))?;
        m.end()
    }
}

struct ByReason<'a>(&'a [u64; Invalid::ALL.len()]);

impl Serialize for ByReason<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (reason, n) in Invalid::ALL.iter().zip(self.0) {
            m.serialize_entry(reason.as_str(), n)?;
        }
        m.end()
    }
}

impl Serialize for SeriesReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        m.serialize_entry("labels", &Pairs(&self.labels))?;
        m.serialize_entry("objective", &self.objective)?;
        m.serialize_entry("window", &self.window.to_string())?;
        m.serialize_entry("tier", &self.tier)?;
        m.serialize_entry("error_budget_remaining", &self.error_budget_remaining)?;
        m.serialize_entry("windows", &Windows(&self.windows))?;
        if let Some(components) = &self.composite {
            m.serialize_entry("composite", &composite::Components(components))?;
        }
        m.serialize_entry("baseline", &self.baseline)?;
        m.serialize_entry("budget_policy", &self.budget_policy)?;
        m.end()
    }
}

/// Label pairs as a JSON object, in their order.
pub(crate) struct Pairs<'a>(pub(crate) &'a [(String, String)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

struct Windows<'a>(&'a [WindowReport]);

impl Serialize for Windows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for w in self.0 {
            m.serialize_entry(&w.window.to_string(), w)?;
        }
        m.end()
    }
}

impl Serialize for WindowReport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("total", &self.total)?;
        m.serialize_entry("good", &self.good)?;
        m.serialize_entry("sli", &self.sli)?;
        m.serialize_entry("burn_rate", &self.burn_rate)?;
        if let Some(q) = &self.latency_ms {
            m.serialize_entry("latency_ms", &Percentiles(q))?;
        }
        m.end()
    }
}

struct Percentiles<'a>(&'a Option<[f64; 4]>);

impl Serialize for Percentiles<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        for (i, key) in ["p50", "p90", "p99", "p999"].into_iter().enumerate() {
            m.serialize_entry(key, &self.0.map(|q| q[i]))?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_traffic_is_null_not_perfect() {
        assert_eq!(sli(0, 0), None);
        assert_eq!(burn_rate(0, 0, 0.999), None);
        assert_eq!(error_budget_remaining(0, 0, 0.999), None);
    }

    #[test]
    fn burn_rate_and_budget_follow_the_definitions() {
        // 1 % errors against a 99 % objective burns at exactly 1 and spends the budget.
        let b = burn_rate(990, 1000, 0.99).unwrap();
        assert!((b - 1.0).abs() < 1e-12, "{b}");
        let left = error_budget_remaining(990, 1000, 0.99).unwrap();
        assert!(left.abs() < 1e-12, "{left}");
        // Twice the allowed errors: the budget is overspent by its own size.
        let left = error_budget_remaining(980, 1000, 0.99).unwrap();
        assert!((left + 1.0).abs() < 1e-12, "{left}");
        assert_eq!(sli(174, 181), Some(174.0 / 181.0));
    }

    #[test]
    fn json_has_the_contract_shape() {
        let report = Report {
            at_ms: 1_795_262_400_000,
            events: EventCounts {
                read: 3,
                valid: 2,
                too_old: 0,
                invalid_by_reason: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            },
            overflow: Vec::new(),
            rollups: None,
            slos: vec![SeriesReport {
                name: "a".into(),
                labels: vec![("service".into(), "x".into())],
                objective: 0.99,
                window: Span::DAY,
                tier: None,
                error_budget_remaining: None,
                lifetime: Lifetime { total: 2, good: 2 },
                alert_windows: Vec::new(),
                composite: None,
                baseline: baseline::Baseline::default(),
                budget_policy: budget::BudgetAction::Normal { no_traffic: true },
                windows: vec![
                    WindowReport {
                        window: Span::from_secs(300),
                        total: 0,
                        good: 0,
                        sli: None,
                        burn_rate: None,
                        latency_ms: Some(None),
                    },
                    WindowReport {
                        window: Span::DAY,
                        total: 2,
                        good: 2,
                        sli: Some(1.0),
                        burn_rate: Some(0.0),
                        latency_ms: None,
                    },
                ],
            }],
        };
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(
            json,
            r#"{"at":"2026-11-21T12:00:00Z","events":{"read":3,"valid":2,"invalid":1,"too_old":0,"invalid_by_reason":{"json":1,"not_object":0,"too_large":0,"timestamp":0,"service":0,"route":0,"status":0,"latency_ms":0,"label":0,"future":0}},"slos":[{"name":"a","labels":{"service":"x"},"objective":0.99,"window":"1d","tier":null,"error_budget_remaining":null,"windows":{"5m":{"total":0,"good":0,"sli":null,"burn_rate":null,"latency_ms":{"p50":null,"p90":null,"p99":null,"p999":null}},"1d":{"total":2,"good":2,"sli":1.0,"burn_rate":0.0}},"baseline":{"achieved":null,"holds":null,"next":null,"bad_events_to_remove":null,"bad_share_to_remove":null},"budget_policy":{"action":"normal","description":"no traffic in the SLO window: no budget spent","blocks_deploys":false}}]}"#
        );
    }
}
