//! The baseline and the error-budget policy of each SLO series as Prometheus gauges
//! (docs/metrics.md, docs/budgets.md): `slipstream_objective_{achieved,holds,next,
//! next_bad_events}`, `slipstream_budget_action` and `slipstream_deploys_blocked`.
//!
//! A baseline value the report has as `null` is not exported, like every SLO gauge
//! ([`Slot`]). `slipstream_budget_action` is 1 under the label of the current action;
//! when the action changes, the previous label set is set to 0 and no longer updated, so
//! the registry drops it after `idle_after`, as it drops any gauge that vanished.

use metrics::{Gauge, Key, Label, Recorder};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::prometheus::{METADATA, Slot};
use crate::report::SeriesReport;

pub struct BudgetGauges {
    achieved: Slot,
    holds: Slot,
    next: Slot,
    next_bad_events: Slot,
    /// The action exported as 1, and its gauge.
    action: Option<(Box<str>, Gauge)>,
    deploys_blocked: Gauge,
}

/// `slo`, then `extra`, then the series' own labels: the order of `slipstream_alert_firing`.
fn labels(series: &SeriesReport, extra: Option<Label>) -> Vec<Label> {
    let mut labels = super::prometheus::series_labels(series);
    if let Some(extra) = extra {
        labels.insert(1, extra);
    }
    labels
}

fn register(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Gauge {
    recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
}

impl BudgetGauges {
    pub fn register(recorder: &PrometheusRecorder, series: &SeriesReport) -> BudgetGauges {
        BudgetGauges {
            achieved: Slot::default(),
            holds: Slot::default(),
            next: Slot::default(),
            next_bad_events: Slot::default(),
            action: None,
            deploys_blocked: register(recorder, "slipstream_deploys_blocked", labels(series, None)),
        }
    }

    pub fn update(&mut self, recorder: &PrometheusRecorder, series: &SeriesReport) {
        let b = &series.baseline;
        let slot = |slot: &mut Slot, name, value: Option<f64>| {
            slot.set(value, || register(recorder, name, labels(series, None)));
        };
        slot(
            &mut self.achieved,
            "slipstream_objective_achieved",
            b.achieved,
        );
        let holds = b.holds.map(|p| p.fraction());
        slot(&mut self.holds, "slipstream_objective_holds", holds);
        slot(
            &mut self.next,
            "slipstream_objective_next",
            b.next.map(|p| p.fraction()),
        );
        slot(
            &mut self.next_bad_events,
            "slipstream_objective_next_bad_events",
            b.bad_events_to_remove.map(|n| n as f64),
        );
        let policy = &series.budget_policy;
        let action = policy.action();
        if self.action.as_ref().is_none_or(|(a, _)| &**a != action) {
            if let Some((_, previous)) = self.action.take() {
                previous.set(0.0);
            }
            let label = Label::new("action", action.to_owned());
            let gauge = register(
                recorder,
                "slipstream_budget_action",
                labels(series, Some(label)),
            );
            self.action = Some((action.into(), gauge));
        }
        if let Some((_, gauge)) = &self.action {
            gauge.set(1.0);
        }
        let blocked = if policy.blocks_deploys() { 1.0 } else { 0.0 };
        self.deploys_blocked.set(blocked);
    }
}

/// The HELP lines of these gauges.
pub(super) fn describe(recorder: &PrometheusRecorder) {
    for (name, help) in [
        (
            "slipstream_objective_achieved",
            "Good over total events in the SLO window (the baseline's SLI).",
        ),
        (
            "slipstream_objective_holds",
            "The highest step of the objective ladder the SLI meets, as a fraction.",
        ),
        (
            "slipstream_objective_next",
            "The lowest step of the objective ladder the SLI does not meet, as a fraction.",
        ),
        (
            "slipstream_objective_next_bad_events",
            "Bad events of the SLO window that would have had to be good to meet the next step.",
        ),
        (
            "slipstream_budget_action",
            "1 for the current action of the SLO's error-budget policy.",
        ),
        (
            "slipstream_deploys_blocked",
            "1 while the current budget-policy action blocks deploys, else 0.",
        ),
    ] {
        recorder.describe_gauge(name.into(), None, help.into());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::prometheus::PrometheusSink;
    use crate::config::Span;
    use crate::config::budget::BudgetPolicy;
    use crate::config::ladder::ObjectiveLadder;
    use crate::report::{EventCounts, Lifetime, Report, SeriesReport, baseline, budget};
    use crate::source::SourceStatus;

    fn report(good: u64, total: u64) -> Report {
        let objective = 0.99;
        Report {
            at_ms: 1_795_262_400_000,
            events: EventCounts::default(),
            overflow: Vec::new(),
            rollups: None,
            slos: vec![SeriesReport {
                name: "pay".into(),
                labels: vec![("operator".into(), "eu-1".into())],
                objective,
                window: Span::DAY,
                tier: None,
                error_budget_remaining: crate::report::error_budget_remaining(
                    good, total, objective,
                ),
                windows: Vec::new(),
                alert_windows: Vec::new(),
                lifetime: Lifetime { total, good },
                composite: None,
                baseline: baseline::baseline(good, total, &ObjectiveLadder::default()),
                budget_policy: budget::budget_action(
                    &BudgetPolicy::default(),
                    good,
                    total,
                    objective,
                ),
            }],
        }
    }

    fn value(sink: &PrometheusSink, sample: &str) -> Option<f64> {
        let text = sink.handle().render();
        text.lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .map(|v| v.parse().unwrap())
    }

    #[test]
    fn baseline_action_and_blocking_follow_the_report() {
        let mut sink = PrometheusSink::new(Duration::from_secs(1), None);
        let status = SourceStatus::default();
        // 985 of 1000 against 99 %: 15 bad, the budget of 10 overspent: freeze.
        sink.publish(&report(985, 1000), 1, &status);
        let series = r#"{slo="pay",operator="eu-1"}"#;
        let at = |name: &str| value(&sink, &format!("{name}{series}"));
        assert_eq!(at("slipstream_objective_achieved"), Some(0.985));
        assert_eq!(at("slipstream_objective_holds"), Some(0.98));
        assert_eq!(at("slipstream_objective_next"), Some(0.99));
        assert_eq!(at("slipstream_objective_next_bad_events"), Some(5.0));
        assert_eq!(at("slipstream_deploys_blocked"), Some(1.0));
        let action = |sink: &PrometheusSink, a: &str| {
            let sample =
                format!(r#"slipstream_budget_action{{slo="pay",action="{a}",operator="eu-1"}}"#);
            value(sink, &sample)
        };
        assert_eq!(action(&sink, "freeze"), Some(1.0));

        // Recovered: the earlier action reads 0 until it expires, the new one 1.
        sink.publish(&report(1000, 1000), 1, &status);
        assert_eq!(action(&sink, "freeze"), Some(0.0));
        assert_eq!(action(&sink, "normal"), Some(1.0));
        let at = |name: &str| value(&sink, &format!("{name}{series}"));
        assert_eq!(at("slipstream_deploys_blocked"), Some(0.0));
        assert_eq!(at("slipstream_objective_holds"), Some(0.99999));
        // Above the last step there is no next one: its gauges are left to expire.
        let fresh = {
            let mut s = PrometheusSink::new(Duration::from_secs(1), None);
            s.publish(&report(1000, 1000), 1, &status);
            s.handle().render()
        };
        assert!(!fresh.contains("slipstream_objective_next{"), "{fresh}");
        assert!(
            !fresh.contains("slipstream_objective_next_bad_events{"),
            "{fresh}"
        );
    }
}
