//! Burn-rate alerts, step 5 of the data path: reports in, alert states and transitions
//! out. Pure and synchronous like the engine: the time is the report's `at`, so the same
//! reports give the same alerts whatever the clock.
//!
//! Per SLO series and severity, a rule's condition holds when its long window has at
//! least `min_events` events and the burn rate exceeds the rule's over both its windows.
//! States: inactive → (pending while `for` runs) → firing → resolved (when no rule of
//! the severity holds any more) → firing again or inactive. A firing page suppresses
//! the ticket of the same series: one incident, one notification.

use std::collections::HashMap;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::config::{AlertPolicy, AlertRule, Composite, Severity, Slo};
use crate::decode::timestamp::format_rfc3339;
use crate::report::{Report, SeriesReport};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Inactive,
    /// The condition holds, for less than the policy's `for`.
    Pending,
    Firing,
    /// Was firing; no rule holds since `resolved_ms`.
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }
}

/// The rule that holds (or last held), with the burn rates that made it hold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub rule: AlertRule,
    pub long_burn_rate: f64,
    pub short_burn_rate: f64,
    pub long_events: u64,
}

/// One alert: an SLO series at one severity.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub slo: String,
    pub labels: Vec<(String, String)>,
    pub severity: Severity,
    pub state: State,
    /// When the current pending or firing spell began (evaluation time).
    pub since_ms: i64,
    pub resolved_ms: Option<i64>,
    pub hit: Option<Hit>,
    pub objective: f64,
    pub error_budget_remaining: Option<f64>,
}

/// A change worth telling a receiver about.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    pub alert: Alert,
}

/// Every alert's state, across evaluations.
#[derive(Default)]
pub struct AlertBook {
    alerts: HashMap<String, [Option<Alert>; 2]>,
    key: String,
}

impl AlertBook {
    /// Moves every alert on by one evaluation; returns the alerts that started firing or
    /// resolved. A composite's series follows its own rules, as an SLO's.
    pub fn update(
        &mut self,
        report: &Report,
        slos: &[Slo],
        composites: &[Composite],
    ) -> Vec<Transition> {
        let by_name = policies(slos, composites);
        let mut transitions = Vec::new();
        for series in &report.slos {
            let Some(policy) = by_name.get(series.name.as_str()) else {
                continue;
            };
            let page = condition(policy, series, Severity::Page);
            // A firing page suppresses the ticket of the same series.
            let ticket = if page.is_some() {
                None
            } else {
                condition(policy, series, Severity::Ticket)
            };
            crate::report::series_key(&mut self.key, &series.name, &series.labels);
            if !self.alerts.contains_key(&self.key) {
                self.alerts.insert(self.key.clone(), [None, None]);
            }
            let entries = self.alerts.get_mut(&self.key).expect("just inserted");
            for (i, (severity, hit)) in [(Severity::Page, page), (Severity::Ticket, ticket)]
                .into_iter()
                .enumerate()
            {
                if !policy.rules.iter().any(|r| r.severity == severity) {
                    continue;
                }
                let alert = entries[i].get_or_insert_with(|| Alert {
                    slo: series.name.clone(),
                    labels: series.labels.clone(),
                    severity,
                    state: State::Inactive,
                    since_ms: report.at_ms,
                    resolved_ms: None,
                    hit: None,
                    objective: series.objective,
                    error_budget_remaining: None,
                });
                alert.error_budget_remaining = series.error_budget_remaining;
                if step(alert, hit, report.at_ms, policy.for_ms) {
                    transitions.push(Transition {
                        alert: alert.clone(),
                    });
                }
            }
        }
        transitions
    }

    /// After a config reload: forgets the alerts of series `report` does not have (their
    /// SLO is gone, or groups its series by other labels now) and of severities their SLO
    /// has no rule for any more.
    pub fn forget_stale(&mut self, report: &Report, slos: &[Slo], composites: &[Composite]) {
        let by_name = policies(slos, composites);
        let mut key = String::new();
        let seen: std::collections::HashSet<String> = report
            .slos
            .iter()
            .map(|s| {
                crate::report::series_key(&mut key, &s.name, &s.labels);
                key.clone()
            })
            .collect();
        self.alerts.retain(|k, entries| {
            for entry in entries.iter_mut() {
                let keep = entry.as_ref().is_some_and(|a| {
                    let policy = by_name.get(a.slo.as_str());
                    policy.is_some_and(|p| p.rules.iter().any(|r| r.severity == a.severity))
                });
                if !keep {
                    *entry = None;
                }
            }
            seen.contains(k) && entries.iter().any(Option::is_some)
        });
    }

    /// Every alert that is not inactive, by SLO, labels and severity.
    pub fn active(&self) -> Vec<&Alert> {
        let mut out: Vec<&Alert> = self.all().filter(|a| a.state != State::Inactive).collect();
        out.sort_by(|a, b| (&a.slo, &a.labels, a.severity).cmp(&(&b.slo, &b.labels, b.severity)));
        out
    }

    /// Every alert, inactive ones included.
    pub fn all(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().flatten().flatten()
    }
}

/// The first rule of `severity` that holds for `series`, if any.
fn condition(policy: &AlertPolicy, series: &SeriesReport, severity: Severity) -> Option<Hit> {
    policy
        .rules
        .iter()
        .filter(|r| r.severity == severity)
        .find_map(|&rule| {
            let long = series.window(rule.long)?;
            let short = series.window(rule.short)?;
            let (lb, sb) = (long.burn_rate?, short.burn_rate?);
            (long.total >= policy.min_events && lb > rule.burn_rate && sb > rule.burn_rate)
                .then_some(Hit {
                    rule,
                    long_burn_rate: lb,
                    short_burn_rate: sb,
                    long_events: long.total,
                })
        })
}

/// One evaluation of one alert; true when it started firing or resolved.
fn step(alert: &mut Alert, hit: Option<Hit>, at_ms: i64, for_ms: i64) -> bool {
    match (alert.state, hit) {
        (State::Inactive | State::Resolved, Some(h)) => {
            alert.hit = Some(h);
            alert.since_ms = at_ms;
            alert.resolved_ms = None;
            if for_ms == 0 {
                alert.state = State::Firing;
                return true;
            }
            alert.state = State::Pending;
            false
        }
        (State::Pending, Some(h)) => {
            alert.hit = Some(h);
            if at_ms - alert.since_ms >= for_ms {
                alert.state = State::Firing;
                alert.since_ms = at_ms;
                return true;
            }
            false
        }
        (State::Pending, None) => {
            alert.state = State::Inactive;
            false
        }
        (State::Firing, Some(h)) => {
            alert.hit = Some(h);
            false
        }
        (State::Firing, None) => {
            alert.state = State::Resolved;
            alert.resolved_ms = Some(at_ms);
            true
        }
        (State::Inactive | State::Resolved, None) => false,
    }
}

/// The JSON form, as `/api/v1/alerts` serves it (docs/alerts.md).
impl Serialize for Alert {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("slo", &self.slo)?;
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        m.serialize_entry("labels", &labels)?;
        m.serialize_entry("severity", self.severity.as_str())?;
        m.serialize_entry("state", self.state.as_str())?;
        m.serialize_entry("since", &format_rfc3339(self.since_ms))?;
        m.serialize_entry("resolved_at", &self.resolved_ms.map(format_rfc3339))?;
        m.serialize_entry("objective", &self.objective)?;
        m.serialize_entry("error_budget_remaining", &self.error_budget_remaining)?;
        if let Some(h) = &self.hit {
            let rule = serde_json::json!({
                "long": h.rule.long.to_string(),
                "short": h.rule.short.to_string(),
                "burn_rate_threshold": h.rule.burn_rate,
                "long_burn_rate": h.long_burn_rate,
                "short_burn_rate": h.short_burn_rate,
                "long_events": h.long_events,
            });
            m.serialize_entry("rule", &rule)?;
        }
        m.end()
    }
}

/// The rule and burn rates of a hit in words, for an alert's description.
pub fn describe(hit: &Hit) -> String {
    format!(
        "burn rate {:.1} over {} and {:.1} over {} (threshold {}; {} events in {})",
        hit.long_burn_rate,
        hit.rule.long,
        hit.short_burn_rate,
        hit.rule.short,
        hit.rule.burn_rate,
        hit.long_events,
        hit.rule.long
    )
}

/// The alert rules of every SLO and composite, by name.
fn policies<'a>(slos: &'a [Slo], composites: &'a [Composite]) -> HashMap<&'a str, &'a AlertPolicy> {
    slos.iter()
        .map(|s| (s.name.as_str(), &s.alerts))
        .chain(composites.iter().map(|c| (c.name.as_str(), &c.alerts)))
        .collect()
}

#[cfg(test)]
mod tests;
