//! What the engine must count and report, per docs/semantics.md, from the events it was
//! given, kept as a plain list: no panes, rings or streams.
//!
//! - `future` after `set_latest_valid`, `too_old` on the ring that spans the most time;
//! - one series per SLO and combination of `group_by` values (plus `service` for `*`);
//! - a window `W` of resolution `r` at time `T` counts `[ceil_r(T) - W, ceil_r(T))`;
//! - percentiles (windows up to 1 h, panes of 1 min here) are within 0.99 % of the exact
//!   nearest-rank value, 0 below 2^-10 ms and saturated from 2^32 ms.

use std::collections::BTreeMap;

use slipstream::config::{Config, Field, Indicator, ServiceMatch, Slo, Span};
use slipstream::decode::Invalid;
use slipstream::report::{EventCounts, Report, SeriesReport, WindowReport};

use crate::json::Expected;

const LADDER_MS: [i64; 6] = [1_000, 10_000, 60_000, 300_000, 900_000, 3_600_000];
/// Rings keep this much beyond their longest window, for late events.
const SLACK_MS: i64 = 300_000;
/// Percentile panes of the mappings' windows (5m, 1h: both whole minutes).
const PERCENTILE_PANE_MS: i64 = 60_000;
const PERCENTILE_MAX: Span = Span::HOUR;
const QUANTILES: [(u64, u64); 4] = [(1, 2), (9, 10), (99, 100), (999, 1000)];

/// The resolution of a window: the coarsest ladder step that cuts it into at least 30
/// panes, else the finest one that divides it.
fn resolution_ms(w: Span) -> i64 {
    let ms = w.millis();
    let divides: Vec<i64> = LADDER_MS.into_iter().filter(|r| ms % r == 0).collect();
    divides
        .iter()
        .rev()
        .find(|&&r| ms / r >= 30)
        .or(divides.first())
        .copied()
        .expect("windows are whole seconds")
}

fn ceil_to(t: i64, r: i64) -> i64 {
    t.div_euclid(r) * r + if t.rem_euclid(r) == 0 { 0 } else { r }
}

/// What happened to one line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Outcome {
    Invalid(Invalid),
    TooOld,
    Counted,
}

pub struct Model {
    latest_valid_ms: i64,
    /// The ring that spans the most time: its pane length and its panes.
    retention: (i64, i64),
    newest_ms: Option<i64>,
    pub counts: EventCounts,
    counted: Vec<Expected>,
}

impl Model {
    pub fn new(config: &Config, latest_valid_ms: i64) -> Model {
        let mut longest: BTreeMap<i64, Span> = BTreeMap::new();
        for w in config.slos.iter().flat_map(Slo::engine_windows) {
            let r = resolution_ms(w);
            let e = longest.entry(r).or_insert(w);
            *e = (*e).max(w);
        }
        let retention = longest
            .iter()
            .map(|(&r, w)| (r, w.millis() / r + (SLACK_MS + r - 1) / r))
            .max_by_key(|&(r, len)| r * len)
            .expect("a config has an SLO");
        Model {
            latest_valid_ms,
            retention,
            newest_ms: None,
            counts: EventCounts::default(),
            counted: Vec::new(),
        }
    }

    /// One line, as the decoder read it.
    pub fn admit(&mut self, decoded: Result<Expected, Invalid>) -> Outcome {
        self.counts.read += 1;
        let event = match decoded {
            Err(reason) => {
                self.counts.count_invalid(reason);
                return Outcome::Invalid(reason);
            }
            Ok(e) if e.timestamp_ms > self.latest_valid_ms => {
                self.counts.count_invalid(Invalid::Future);
                return Outcome::Invalid(Invalid::Future);
            }
            Ok(e) => e,
        };
        self.counts.valid += 1;
        let (r, len) = self.retention;
        let pane = |ms: i64| ms.div_euclid(r);
        if let Some(newest) = self.newest_ms
            && pane(event.timestamp_ms) <= pane(newest) - len
        {
            self.counts.too_old += 1;
            return Outcome::TooOld;
        }
        self.newest_ms = Some(
            self.newest_ms
                .map_or(event.timestamp_ms, |n| n.max(event.timestamp_ms)),
        );
        self.counted.push(event);
        Outcome::Counted
    }

    pub fn newest_ms(&self) -> Option<i64> {
        self.newest_ms
    }

    /// Checks every number of `report` (evaluated at `report.at_ms`).
    pub fn check(&self, config: &Config, report: &Report) {
        assert_eq!(report.events, self.counts, "event counts");
        let mut rest = &report.slos[..];
        for slo in &config.slos {
            let expected = self.series_of(slo);
            let n = rest.iter().take_while(|s| s.name == slo.name).count();
            let (got, tail) = rest.split_at(n);
            rest = tail;
            let keys: Vec<Vec<String>> = got
                .iter()
                .map(|s| s.labels.iter().map(|l| l.1.clone()).collect())
                .collect();
            assert!(
                keys.is_sorted(),
                "series of {} out of order: {keys:?}",
                slo.name
            );
            let want: Vec<&Vec<String>> = expected.keys().collect();
            assert_eq!(
                keys.iter().collect::<Vec<_>>(),
                want,
                "series of {}",
                slo.name
            );
            for (series, key) in got.iter().zip(&keys) {
                check_series(config, slo, series, &expected[key], report.at_ms);
            }
        }
        assert!(rest.is_empty(), "series of no SLO: {rest:?}");
    }

    /// The counted events of each series of `slo`, by label values.
    fn series_of<'a>(&'a self, slo: &Slo) -> BTreeMap<Vec<String>, Vec<&'a Expected>> {
        let value = |e: &'a Expected, f: &Field| -> Option<&'a str> {
            match f {
                Field::Route => e.route.as_deref(),
                Field::Label(i) => e.labels[*i].as_deref(),
            }
        };
        let mut out: BTreeMap<Vec<String>, Vec<&Expected>> = BTreeMap::new();
        for e in &self.counted {
            if let ServiceMatch::Exact(s) = &slo.service
                && *s != e.service
            {
                continue;
            }
            if !slo
                .selector
                .iter()
                .all(|(f, want)| value(e, f) == Some(want.as_str()))
            {
                continue;
            }
            let service = matches!(slo.service, ServiceMatch::Any).then(|| e.service.clone());
            let grouped = slo
                .group_by
                .iter()
                .map(|f| value(e, f).unwrap_or("").to_owned());
            out.entry(service.into_iter().chain(grouped).collect())
                .or_default()
                .push(e);
        }
        out
    }
}

fn is_good(indicator: Indicator, e: &Expected) -> bool {
    match indicator {
        Indicator::Availability => e.status < 500,
        Indicator::Latency { threshold_ms } => e.latency_ms <= threshold_ms,
    }
}

fn check_series(config: &Config, slo: &Slo, series: &SeriesReport, events: &[&Expected], at: i64) {
    let mut names: Vec<&str> = Vec::new();
    if slo.service == ServiceMatch::Any {
        names.push("service");
    }
    for f in &slo.group_by {
        names.push(match f {
            Field::Route => "route",
            Field::Label(i) => &config.events.labels[*i].name,
        });
    }
    let got: Vec<&str> = series.labels.iter().map(|l| l.0.as_str()).collect();
    assert_eq!(got, names, "label names of {}", slo.name);
    let good = events.iter().filter(|e| is_good(slo.indicator, e)).count() as u64;
    assert_eq!(
        (series.lifetime.total, series.lifetime.good),
        (events.len() as u64, good),
        "lifetime of {} {:?}",
        slo.name,
        series.labels
    );
    assert_eq!(series.window, slo.window);
    assert_eq!(series.objective, slo.objective);
    let listed: Vec<Span> = series.windows.iter().map(|w| w.window).collect();
    assert_eq!(listed, slo.windows, "windows of {}", slo.name);
    for w in series.windows.iter().chain(&series.alert_windows) {
        check_window(slo, w, events, at);
        if series.windows.iter().any(|r| r.window == w.window) {
            assert_eq!(
                w.latency_ms.is_some(),
                w.window <= PERCENTILE_MAX,
                "{}",
                w.window
            );
        }
    }
    let own = series
        .windows
        .iter()
        .find(|w| w.window == slo.window)
        .expect("own window");
    let remaining = (own.total > 0)
        .then(|| 1.0 - (own.total - own.good) as f64 / ((1.0 - slo.objective) * own.total as f64));
    assert_eq!(series.error_budget_remaining, remaining);
}

fn check_window(slo: &Slo, w: &WindowReport, events: &[&Expected], at: i64) {
    let r = resolution_ms(w.window);
    let end = ceil_to(at, r);
    let inside = |e: &&&Expected| (end - w.window.millis()..end).contains(&e.timestamp_ms);
    let total = events.iter().filter(inside).count() as u64;
    let good = events
        .iter()
        .filter(inside)
        .filter(|e| is_good(slo.indicator, e))
        .count() as u64;
    let what = format!("{} window {} at {at}", slo.name, w.window);
    assert_eq!((w.total, w.good), (total, good), "{what}");
    let sli = (total > 0).then(|| good as f64 / total as f64);
    assert_eq!(w.sli, sli, "{what}");
    let burn = (total > 0).then(|| ((total - good) as f64 / total as f64) / (1.0 - slo.objective));
    assert_eq!(w.burn_rate, burn, "{what}");
    let Some(quantiles) = w.latency_ms else {
        return;
    };
    let end = ceil_to(at, PERCENTILE_PANE_MS);
    let mut latencies: Vec<f64> = events
        .iter()
        .filter(|e| (end - w.window.millis()..end).contains(&e.timestamp_ms))
        .map(|e| e.latency_ms)
        .collect();
    latencies.sort_by(f64::total_cmp);
    let Some(quantiles) = quantiles else {
        assert!(
            latencies.is_empty(),
            "{what}: no percentiles of {latencies:?}"
        );
        return;
    };
    let n = latencies.len() as u64;
    assert!(n > 0, "{what}: percentiles {quantiles:?} of no event");
    for ((num, den), got) in QUANTILES.into_iter().zip(quantiles) {
        let exact = latencies[((num * n).div_ceil(den).max(1) - 1) as usize];
        let ok = if exact < 2f64.powi(-10) {
            got == 0.0
        } else if exact >= 2f64.powi(32) {
            got == 2f64.powi(32)
        } else {
            (got - exact).abs() <= 0.0099 * exact * (1.0 + 1e-9)
        };
        assert!(ok, "{what}: p{num}/{den} {got} for exact {exact}");
    }
}
