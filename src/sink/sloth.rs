//! Sloth-compatible series (`outputs.prometheus.sloth_compatible`): the names and labels
//! of the recording rules Sloth generates, so that Sloth's Grafana dashboards and alerts
//! read slipstream's exact windows unchanged.
//!
//! Per SLO series: `slo:sli_error:ratio_rate<window>` for every reported window (Sloth's
//! are 5m, 30m, 1h, 2h, 6h, 1d, 3d and the SLO period), `slo:objective:ratio`,
//! `slo:error_budget:ratio`, `slo:time_period:days`, `slo:current_burn_rate:ratio` (over
//! the shortest window), `slo:period_burn_rate:ratio`,
//! `slo:period_error_budget_remaining:ratio` and `sloth_slo_info`, labelled `sloth_id`,
//! `sloth_service`, `sloth_slo` and the series' own labels. Unlike Sloth's rules, a
//! window without traffic has no sample instead of NaN.

use metrics::{Gauge, Key, Label, Recorder, SharedString};
use metrics_exporter_prometheus::PrometheusRecorder;

use super::prometheus::{METADATA, Slot};
use crate::report::SeriesReport;

pub struct SlothSeries {
    labels: Vec<Label>,
    error_ratio: Vec<Slot>,
    current_burn: Slot,
    period_burn: Slot,
    period_remaining: Slot,
    objective: Gauge,
    error_budget: Gauge,
    time_period: Gauge,
    info: Gauge,
}

impl SlothSeries {
    /// `service`: the SLO's service when it names one; otherwise the series' `service`
    /// label is used.
    pub fn register(
        recorder: &PrometheusRecorder,
        series: &SeriesReport,
        service: Option<&str>,
    ) -> SlothSeries {
        let service = service
            .or_else(|| {
                let label = series.labels.iter().find(|(k, _)| k == "service");
                label.map(|(_, v)| v.as_str())
            })
            .unwrap_or("")
            .to_owned();
        let mut labels = vec![
            Label::new("sloth_id", format!("{service}-{}", series.name)),
            Label::new("sloth_service", service),
            Label::new("sloth_slo", series.name.clone()),
        ];
        labels.extend(
            series
                .labels
                .iter()
                .map(|(k, v)| Label::new(SharedString::from(k.clone()), v.clone())),
        );
        let gauge = |name: &'static str, extra: Vec<Label>| {
            let mut all = labels.clone();
            all.extend(extra);
            recorder.register_gauge(&Key::from_parts(name, all), &METADATA)
        };
        let objective = format!("{}", series.objective * 100.0);
        SlothSeries {
            error_ratio: series.windows.iter().map(|_| Slot::default()).collect(),
            current_burn: Slot::default(),
            period_burn: Slot::default(),
            period_remaining: Slot::default(),
            objective: gauge("slo:objective:ratio", Vec::new()),
            error_budget: gauge("slo:error_budget:ratio", Vec::new()),
            time_period: gauge("slo:time_period:days", Vec::new()),
            info: gauge(
                "sloth_slo_info",
                vec![
                    Label::new("sloth_mode", "slipstream"),
                    Label::new("sloth_objective", objective),
                ],
            ),
            labels,
        }
    }

    pub fn update(&mut self, recorder: &PrometheusRecorder, series: &SeriesReport) {
        let register = |name: String| {
            recorder.register_gauge(&Key::from_parts(name, self.labels.clone()), &METADATA)
        };
        self.objective.set(series.objective);
        self.error_budget.set(1.0 - series.objective);
        self.time_period.set(series.window.secs() as f64 / 86_400.0);
        self.info.set(1.0);
        for (slot, w) in self.error_ratio.iter_mut().zip(&series.windows) {
            slot.set(w.sli.map(|s| 1.0 - s), || {
                register(format!("slo:sli_error:ratio_rate{}", w.window))
            });
        }
        let shortest = series.windows.first().and_then(|w| w.burn_rate);
        self.current_burn
            .set(shortest, || register("slo:current_burn_rate:ratio".into()));
        let period = series.windows.iter().find(|w| w.window == series.window);
        self.period_burn.set(period.and_then(|w| w.burn_rate), || {
            register("slo:period_burn_rate:ratio".into())
        });
        self.period_remaining
            .set(series.error_budget_remaining, || {
                register("slo:period_error_budget_remaining:ratio".into())
            });
    }
}
