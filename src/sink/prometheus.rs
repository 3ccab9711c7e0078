//! Reports → Prometheus exposition: the SLO gauges and counters and the self-metrics of
//! docs/metrics.md, rendered at `/metrics` by metrics-exporter-prometheus.
//!
//! The registry is this sink's own, not the process-global recorder, so that several
//! pipelines can share a process (tests, `demo`). Handles are registered once per SLO
//! series and reused: an update is a store per value, not a key lookup.
//!
//! Series of SLOs live in a second registry, which a config reload replaces
//! ([`PrometheusSink::reconfigure`]): a registry cannot drop a counter, and the series of
//! an SLO that is gone must be gone from `/metrics`. `/metrics` renders both
//! ([`MetricsHandle`]); no metric name is in both.
//!
//! No traffic is not 100 %, and not NaN either: a value the report has as `null` (an SLI,
//! burn rate, percentile or budget of an empty window) is not exported. Its gauge stops
//! being updated and the registry drops it after [`idle_after`], so a query sees no
//! sample, which PromQL handles, instead of a stale or NaN one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Key, Label, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use metrics_util::MetricKindMask;

use std::sync::{Arc, RwLock};

use crate::alert::{AlertBook, State};
use crate::decode::Invalid;
use crate::report::{Report, SeriesReport};
use crate::sink::alertmanager::Outbox;
use crate::sink::kafka::KafkaSinkStats;
use crate::sink::sloth::SlothSeries;
use crate::source::SourceStatus;

const QUANTILES: [&str; 4] = ["0.5", "0.9", "0.99", "0.999"];
const BATCH_BUCKETS: [f64; 9] = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.25];

/// How long a gauge that is no longer updated stays exported: a few evaluations, and
/// far longer than one publish takes even at tens of thousands of series (a publish that
/// outlasted it would find its own gauges dropped, and register them all again).
pub fn idle_after(interval: Duration) -> Duration {
    (interval * 3).max(Duration::from_secs(30))
}

/// An exported value that may be `null` in the report: registered while it has a value.
#[derive(Default)]
pub(super) struct Slot(Option<Gauge>);

struct WindowGauges {
    sli: Slot,
    burn_rate: Slot,
    good: Gauge,
    bad: Gauge,
    quantiles: [Slot; 4],
}

struct SeriesGauges {
    windows: Vec<WindowGauges>,
    objective: Gauge,
    budget: Slot,
    events_good: Counter,
    events_bad: Counter,
    sloth: Option<SlothSeries>,
    policy: super::budget::BudgetGauges,
}

pub struct PrometheusSink {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// The registry of SLO series, and the handle `/metrics` renders it by.
    slo_recorder: PrometheusRecorder,
    slo_handle: Arc<RwLock<PrometheusHandle>>,
    /// Set by [`PrometheusSink::reconfigure`]: the next publish fills a new SLO registry.
    fresh_registry: bool,
    series: HashMap<String, SeriesGauges>,
    key_buf: String,
    /// With `sloth_compatible`: the service of each SLO that names one, by SLO name.
    sloth: Option<HashMap<String, Option<String>>>,
    /// Gauges not updated for this long are dropped by the registry.
    idle: Duration,
    last_publish: Option<Instant>,
    rollups: super::rollup_metrics::RollupMetrics,
}

impl PrometheusSink {
    /// `sloth`: with Sloth-compatible series, each SLO's name and exact service.
    pub fn new(
        interval: Duration,
        sloth: Option<HashMap<String, Option<String>>>,
    ) -> PrometheusSink {
        let recorder = build_recorder(idle_after(interval));
        let slo_recorder = build_recorder(idle_after(interval));
        PrometheusSink {
            handle: recorder.handle(),
            recorder,
            slo_handle: Arc::new(RwLock::new(slo_recorder.handle())),
            slo_recorder,
            fresh_registry: false,
            series: HashMap::new(),
            key_buf: String::new(),
            sloth,
            idle: idle_after(interval),
            last_publish: None,
            rollups: Default::default(),
        }
    }

    /// Renders the exposition text for `/metrics`.
    pub fn handle(&self) -> MetricsHandle {
        MetricsHandle {
            base: self.handle.clone(),
            slos: self.slo_handle.clone(),
        }
    }

    /// After a config reload: SLO names and services for the Sloth series, and a new SLO
    /// registry from the next publish on, so that series of removed SLOs disappear. The
    /// old registry is rendered until the new one holds every series.
    pub fn reconfigure(&mut self, sloth: Option<HashMap<String, Option<String>>>) {
        self.sloth = sloth;
        self.fresh_registry = true;
    }

    /// A gauge in the registry of SLO series.
    pub(super) fn slo_gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        let key = Key::from_parts(name, labels);
        self.slo_recorder.register_gauge(&key, &METADATA)
    }

    fn slo_counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        let key = Key::from_parts(name, labels);
        self.slo_recorder.register_counter(&key, &METADATA)
    }

    pub(super) fn gauge(&self, name: &'static str, labels: Vec<Label>) -> Gauge {
        let key = Key::from_parts(name, labels);
        self.recorder.register_gauge(&key, &METADATA)
    }

    pub(super) fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        let key = Key::from_parts(name, labels);
        self.recorder.register_counter(&key, &METADATA)
    }

    /// The self-metrics the source updates per batch.
    pub fn source_metrics(&self) -> crate::source::kafka::SourceMetrics {
        crate::source::kafka::SourceMetrics {
            batch_seconds: self.recorder.register_histogram(
                &Key::from_static_name("slipstream_batch_seconds"),
                &METADATA,
            ),
            messages_consumed: self.counter("slipstream_messages_consumed_total", Vec::new()),
        }
    }

    /// Counts requests the HTTP server refused for a missing or wrong bearer token.
    pub fn unauthorized_counter(&self) -> Counter {
        self.counter("slipstream_http_unauthorized_total", Vec::new())
    }

    /// Publishes one report, and the state of the engine and the source with it.
    pub fn publish(&mut self, report: &Report, live_series: usize, status: &SourceStatus) {
        // After a gap in publishing (skipped or slow evaluations) the registry may have
        // dropped gauges whose handles are cached here; register every series afresh.
        let now = Instant::now();
        if self
            .last_publish
            .is_some_and(|last| now - last >= self.idle / 2)
        {
            self.series.clear();
            self.rollups.clear();
        }
        if self.fresh_registry {
            self.slo_recorder = build_recorder(self.idle);
            self.series.clear();
            self.rollups.clear();
        }
        self.last_publish = Some(now);
        for series in &report.slos {
            crate::report::series_key(&mut self.key_buf, &series.name, &series.labels);
            if !self.series.contains_key(&self.key_buf) {
                let gauges = self.register_series(series);
                self.series.insert(self.key_buf.clone(), gauges);
            }
            let gauges = self.series.get_mut(&self.key_buf).expect("just inserted");
            update_series(&self.slo_recorder, gauges, series);
        }
        if let Some(rollups) = &report.rollups {
            self.rollups.publish(&self.slo_recorder, rollups);
        }
        self.publish_self(report, live_series, status);
        if std::mem::take(&mut self.fresh_registry) {
            *self.slo_handle.write().unwrap_or_else(|e| e.into_inner()) =
                self.slo_recorder.handle();
        }
        self.handle.run_upkeep();
        self.slo_handle
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .run_upkeep();
    }

    fn register_series(&self, series: &SeriesReport) -> SeriesGauges {
        let base = series_labels(series);
        let with = |extra: &[(&'static str, String)]| {
            let mut labels = base.clone();
            labels.extend(extra.iter().map(|(k, v)| Label::new(*k, v.clone())));
            labels
        };
        SeriesGauges {
            objective: self.slo_gauge("slipstream_slo_objective", base.clone()),
            windows: series
                .windows
                .iter()
                .map(|w| {
                    let window = ("window", w.window.to_string());
                    WindowGauges {
                        sli: Slot::default(),
                        burn_rate: Slot::default(),
                        good: self.slo_gauge(
                            "slipstream_window_events",
                            with(&[window.clone(), ("outcome", "good".into())]),
                        ),
                        bad: self.slo_gauge(
                            "slipstream_window_events",
                            with(&[window, ("outcome", "bad".into())]),
                        ),
                        quantiles: Default::default(),
                    }
                })
                .collect(),
            budget: Slot::default(),
            events_good: self.slo_counter(
                "slipstream_slo_events_total",
                with(&[("outcome", "good".into())]),
            ),
            events_bad: self.slo_counter(
                "slipstream_slo_events_total",
                with(&[("outcome", "bad".into())]),
            ),
            sloth: self.sloth.as_ref().map(|services| {
                let service = services.get(&series.name).and_then(Option::as_deref);
                SlothSeries::register(&self.slo_recorder, series, service)
            }),
            policy: super::budget::BudgetGauges::register(&self.slo_recorder, series),
        }
    }

    fn publish_self(&self, report: &Report, live_series: usize, status: &SourceStatus) {
        let e = &report.events;
        let counter = |name, value| self.counter(name, Vec::new()).absolute(value);
        counter("slipstream_events_read_total", e.read);
        counter("slipstream_events_valid_total", e.valid);
        counter("slipstream_events_too_old_total", e.too_old);
        for (reason, n) in Invalid::ALL.iter().zip(&e.invalid_by_reason) {
            self.counter(
                "slipstream_events_invalid_total",
                vec![Label::new("reason", reason.as_str())],
            )
            .absolute(*n);
        }
        for o in &report.overflow {
            let slo = || vec![Label::new("slo", o.slo.clone())];
            self.slo_counter("slipstream_series_overflow_total", slo())
                .absolute(o.combinations);
            self.slo_counter("slipstream_series_overflow_events_total", slo())
                .absolute(o.events);
        }
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        counter(
            "slipstream_kafka_errors_total",
            status.kafka_errors.load(relaxed),
        );
        self.gauge("slipstream_series", Vec::new())
            .set(live_series as f64);
        self.gauge("slipstream_partitions_assigned", Vec::new())
            .set(status.assigned_partitions.load(relaxed) as f64);
        self.gauge("slipstream_evaluated_at_seconds", Vec::new())
            .set(report.at_ms as f64 / 1000.0);
        let lags = status.lags.lock().unwrap_or_else(|e| e.into_inner());
        for p in lags.iter() {
            if let Some(lag) = p.lag {
                let labels = vec![
                    Label::new("topic", p.topic.clone()),
                    Label::new("partition", p.partition.to_string()),
                ];
                self.gauge("slipstream_consumer_lag", labels)
                    .set(lag as f64);
            }
        }
    }

    /// Exports the state of every alert that is not inactive (1 while firing), and the
    /// Alertmanager sender's counters.
    pub fn publish_alerts(&self, book: &AlertBook, outbox: Option<Arc<Outbox>>) {
        for a in book.active() {
            let mut labels = vec![
                Label::new("slo", a.slo.clone()),
                Label::new("severity", a.severity.as_str()),
            ];
            labels.extend(
                a.labels
                    .iter()
                    .map(|(k, v)| Label::new(SharedString::from(k.clone()), v.clone())),
            );
            let firing = if a.state == State::Firing { 1.0 } else { 0.0 };
            self.slo_gauge("slipstream_alert_firing", labels)
                .set(firing);
        }
        if let Some(outbox) = outbox {
            self.copy("slipstream_alertmanager_sent_total", &outbox.sent);
            self.copy("slipstream_alertmanager_failed_total", &outbox.failed);
            self.copy("slipstream_alerts_dropped_total", &outbox.dropped);
        }
    }

    /// The Kafka outputs' delivery counters.
    pub fn publish_kafka_output(&self, stats: &KafkaSinkStats) {
        self.copy("slipstream_kafka_output_delivered_total", &stats.delivered);
        self.copy("slipstream_kafka_output_failed_total", &stats.failed);
        self.copy("slipstream_kafka_output_dropped_total", &stats.dropped);
    }

    /// The OTLP exporter's counters.
    pub fn publish_otlp(&self, stats: &crate::sink::otlp::OtlpStats) {
        self.copy("slipstream_otlp_data_points_total", &stats.data_points);
        self.copy(
            "slipstream_otlp_rejected_data_points_total",
            &stats.rejected,
        );
        self.copy("slipstream_otlp_failed_exports_total", &stats.failed);
    }

    /// Exports a sink's own counter as the unlabelled counter `name`.
    pub(super) fn copy(&self, name: &'static str, value: &std::sync::atomic::AtomicU64) {
        let value = value.load(std::sync::atomic::Ordering::Relaxed);
        self.counter(name, Vec::new()).absolute(value);
    }

    /// Records how long an evaluation took.
    pub fn evaluation_took(&self, took: Duration) {
        self.gauge("slipstream_evaluation_seconds", Vec::new())
            .set(took.as_secs_f64());
    }
}

/// `slo`, then the series' own labels.
pub(super) fn series_labels(series: &SeriesReport) -> Vec<Label> {
    let mut labels = vec![Label::new("slo", series.name.clone())];
    labels.extend(
        series
            .labels
            .iter()
            .map(|(k, v)| Label::new(SharedString::from(k.clone()), v.clone())),
    );
    labels
}

fn update_series(recorder: &PrometheusRecorder, gauges: &mut SeriesGauges, series: &SeriesReport) {
    let register = |name: &'static str, extra: &[(&'static str, String)]| {
        let mut labels = series_labels(series);
        labels.extend(extra.iter().map(|(k, v)| Label::new(*k, v.clone())));
        recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
    };
    gauges.objective.set(series.objective);
    gauges.budget.set(series.error_budget_remaining, || {
        register("slipstream_error_budget_remaining", &[])
    });
    if let Some(sloth) = &mut gauges.sloth {
        sloth.update(recorder, series);
    }
    gauges.policy.update(recorder, series);
    let bad = series.lifetime.total - series.lifetime.good;
    gauges.events_good.absolute(series.lifetime.good);
    gauges.events_bad.absolute(bad);
    for (g, w) in gauges.windows.iter_mut().zip(&series.windows) {
        let window = || ("window", w.window.to_string());
        g.good.set(w.good as f64);
        g.bad.set((w.total - w.good) as f64);
        g.sli.set(w.sli, || register("slipstream_sli", &[window()]));
        g.burn_rate.set(w.burn_rate, || {
            register("slipstream_burn_rate", &[window()])
        });
        let Some(latency) = w.latency_ms else {
            continue;
        };
        for (i, slot) in g.quantiles.iter_mut().enumerate() {
            slot.set(latency.map(|l| l[i]), || {
                register(
                    "slipstream_latency_ms",
                    &[window(), ("quantile", QUANTILES[i].into())],
                )
            });
        }
    }
}

impl Slot {
    /// Exports `value`, registering the gauge when it (again) has one; with `None`, lets
    /// the registry expire it.
    pub(super) fn set(&mut self, value: Option<f64>, register: impl FnOnce() -> Gauge) {
        match value {
            Some(v) => self.0.get_or_insert_with(register).set(v),
            None => self.0 = None,
        }
    }
}

/// What `/metrics` renders: the sink's own metrics and those of the SLO series.
#[derive(Clone)]
pub struct MetricsHandle {
    base: PrometheusHandle,
    slos: Arc<RwLock<PrometheusHandle>>,
}

impl MetricsHandle {
    pub fn render(&self) -> String {
        let mut text = self.base.render();
        text.push_str(&self.slos.read().unwrap_or_else(|e| e.into_inner()).render());
        text
    }
}

/// A registry with every metric described, whose gauges expire when not updated for
/// `idle`.
fn build_recorder(idle: Duration) -> PrometheusRecorder {
    let recorder = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::GAUGE, Some(idle))
        .set_buckets_for_metric(
            Matcher::Full("slipstream_batch_seconds".into()),
            &BATCH_BUCKETS,
        )
        .expect("bucket list is not empty")
        .build_recorder();
    describe(&recorder);
    super::durability_metrics::describe(&recorder);
    super::scale_metrics::describe(&recorder);
    super::config_metrics::describe(&recorder);
    super::rollup_metrics::describe(&recorder);
    super::budget::describe(&recorder);
    recorder
}

pub(super) static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The HELP lines of every metric (see docs/metrics.md).
fn describe(recorder: &PrometheusRecorder) {
    let gauges: [(&str, &str); 12] = [
        (
            "slipstream_alert_firing",
            "1 while the burn-rate alert of an SLO series and severity fires, 0 when pending or resolved.",
        ),
        (
            "slipstream_sli",
            "Good over total events in the window; absent with no traffic.",
        ),
        (
            "slipstream_burn_rate",
            "Error ratio in the window over the allowed one (1 - objective).",
        ),
        (
            "slipstream_window_events",
            "Events in the window, by outcome.",
        ),
        (
            "slipstream_latency_ms",
            "Latency percentile of the window's events, in ms.",
        ),
        (
            "slipstream_error_budget_remaining",
            "Share of the SLO window's error budget left; negative when overspent.",
        ),
        (
            "slipstream_slo_objective",
            "The SLO's objective, as a fraction.",
        ),
        ("slipstream_series", "SLO series held by the engine."),
        (
            "slipstream_partitions_assigned",
            "Kafka partitions assigned to this instance.",
        ),
        (
            "slipstream_consumer_lag",
            "Messages behind the high watermark, per partition.",
        ),
        (
            "slipstream_evaluated_at_seconds",
            "The time (Unix seconds) the exported windows end at.",
        ),
        (
            "slipstream_evaluation_seconds",
            "How long the last evaluation of every window took.",
        ),
    ];
    for (name, help) in gauges {
        recorder.describe_gauge(name.into(), None, help.into());
    }
    let counters: [(&str, &str); 19] = [
        (
            "slipstream_series_overflow_total",
            "Label combinations an SLO's series limit refused a series of their own.",
        ),
        (
            "slipstream_series_overflow_events_total",
            "Events counted in an SLO's overflow series, whose labels are __overflow__.",
        ),
        (
            "slipstream_http_unauthorized_total",
            "HTTP requests refused for a missing or wrong bearer token (http.token_env).",
        ),
        (
            "slipstream_kafka_output_delivered_total",
            "Records of the Kafka outputs the broker acknowledged.",
        ),
        (
            "slipstream_kafka_output_failed_total",
            "Records of the Kafka outputs that could not be delivered.",
        ),
        (
            "slipstream_kafka_output_dropped_total",
            "Records of the Kafka outputs dropped because the producer's queue was full.",
        ),
        (
            "slipstream_otlp_data_points_total",
            "OTLP data points the receiver accepted.",
        ),
        (
            "slipstream_otlp_rejected_data_points_total",
            "OTLP data points the receiver rejected in a request it accepted (partial success).",
        ),
        (
            "slipstream_otlp_failed_exports_total",
            "OTLP exports stopped by a request that failed or timed out.",
        ),
        (
            "slipstream_alertmanager_sent_total",
            "Batches of alerts Alertmanager accepted.",
        ),
        (
            "slipstream_alertmanager_failed_total",
            "Batches of alerts given up on after every retry.",
        ),
        (
            "slipstream_alerts_dropped_total",
            "Batches of alerts replaced by a newer one before they were sent.",
        ),
        (
            "slipstream_slo_events_total",
            "Events counted by the SLO series since start, by outcome.",
        ),
        (
            "slipstream_messages_consumed_total",
            "Kafka messages consumed.",
        ),
        (
            "slipstream_events_read_total",
            "Events read (every message consumed).",
        ),
        (
            "slipstream_events_valid_total",
            "Events that decoded and passed every check.",
        ),
        (
            "slipstream_events_invalid_total",
            "Invalid events, by reason.",
        ),
        (
            "slipstream_events_too_old_total",
            "Valid events older than any window still held.",
        ),
        (
            "slipstream_kafka_errors_total",
            "Errors reported by the Kafka client.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
    recorder.describe_histogram(
        "slipstream_batch_seconds".into(),
        None,
        "Time to decode and aggregate one batch of messages.".into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Span;
    use crate::report::{EventCounts, Lifetime, SeriesOverflow, WindowReport};

    fn report(sli_window: Option<(u64, u64)>) -> Report {
        let (total, good) = sli_window.unwrap_or((0, 0));
        Report {
            at_ms: 1_795_262_400_000,
            events: EventCounts::default(),
            overflow: vec![SeriesOverflow {
                slo: "checkout".into(),
                combinations: 0,
                events: 0,
            }],
            rollups: None,
            slos: vec![SeriesReport {
                name: "checkout".into(),
                labels: vec![("route".into(), "POST /pay".into())],
                objective: 0.999,
                window: Span::DAY,
                tier: None,
                error_budget_remaining: crate::report::error_budget_remaining(good, total, 0.999),
                windows: vec![WindowReport {
                    window: Span::DAY,
                    total,
                    good,
                    sli: crate::report::sli(good, total),
                    burn_rate: crate::report::burn_rate(good, total, 0.999),
                    latency_ms: Some(None),
                }],
                lifetime: Lifetime { total, good },
                alert_windows: Vec::new(),
                composite: None,
                baseline: Default::default(),
                budget_policy: crate::report::budget::BudgetAction::Normal { no_traffic: true },
            }],
        }
    }

    #[test]
    fn exports_values_and_leaves_out_nulls() {
        let mut sink = PrometheusSink::new(Duration::from_secs(1), None);
        let status = SourceStatus::default();
        sink.publish(&report(Some((1000, 998))), 1, &status);
        let text = sink.handle().render();
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit_once(' ')
                .unwrap()
                .1
                .parse::<f64>()
                .unwrap()
        };
        let series = r#"{slo="checkout",route="POST /pay""#;
        assert_eq!(
            line(&format!("slipstream_sli{series},window=\"1d\"}}")),
            0.998
        );
        assert_eq!(line(&format!("slipstream_slo_objective{series}}}")), 0.999);
        assert_eq!(
            line(&format!(
                "slipstream_slo_events_total{series},outcome=\"bad\"}}"
            )),
            2.0
        );
        assert_eq!(line("slipstream_series "), 1.0);
        // Before any overflow, its counters are there, at 0, so that `increase()` sees the
        // first one.
        assert_eq!(
            line(r#"slipstream_series_overflow_total{slo="checkout"}"#),
            0.0
        );
        assert_eq!(
            line(r#"slipstream_series_overflow_events_total{slo="checkout"}"#),
            0.0
        );

        // An empty window: no SLI sample is set (the registry drops the stale one once
        // idle), but the counts are still exported, as zeros.
        let mut empty = PrometheusSink::new(Duration::from_secs(1), None);
        empty.publish(&report(None), 1, &status);
        let text = empty.handle().render();
        assert!(!text.contains("slipstream_sli{"), "{text}");
        assert!(!text.contains("slipstream_latency_ms{"), "{text}");
        assert!(text.contains(&format!(
            "slipstream_window_events{series},window=\"1d\",outcome=\"good\"}} 0"
        )));
    }

    #[test]
    fn sloth_compatible_series_carry_sloth_names_and_labels() {
        let services = HashMap::from([("checkout".to_owned(), Some("shop".to_owned()))]);
        let mut sink = PrometheusSink::new(Duration::from_secs(1), Some(services));
        sink.publish(&report(Some((1000, 990))), 1, &SourceStatus::default());
        let text = sink.handle().render();
        let sloth = r#"sloth_id="shop-checkout",sloth_service="shop",sloth_slo="checkout",route="POST /pay""#;
        for (name, value) in [
            ("slo:sli_error:ratio_rate1d", 0.01),
            ("slo:objective:ratio", 0.999),
            ("slo:period_burn_rate:ratio", 10.0),
            ("slo:current_burn_rate:ratio", 10.0),
            ("slo:time_period:days", 1.0),
        ] {
            let prefix = format!("{name}{{{sloth}}} ");
            let line = text
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"));
            let got: f64 = line[prefix.len()..].parse().unwrap();
            assert!((got - value).abs() < 1e-9, "{line}");
        }
        assert!(text.contains("slo:period_error_budget_remaining:ratio{"));
        assert!(text.contains("sloth_slo_info{"));
    }
}
