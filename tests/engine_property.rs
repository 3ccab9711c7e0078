//! Property tests of [`Engine`] against a brute-force recompute of docs/semantics.md.
//!
//! Random configs (availability and latency SLOs, a series limit or none, `service: "*"`, selectors on the route
//! or a label, `group_by`, explicit `windows:` mixing fine and coarse resolutions) and
//! random NDJSON events (epoch-ms and RFC 3339 times over minutes to days, in random
//! arrival order with random lateness, some 29 to 45 days old, a few invalid lines) go
//! through the engine. Its reports, on and off the grid, live and with a horizon (replay's
//! `--at`), must match a model that keeps every event and recounts each window from scratch:
//!
//! - `read`, `valid` and `too_old`, the last decided in arrival order on the longest ring;
//! - the series (those with at least one aggregated event) and their order, and per window
//!   `total` and `good` exactly, with `sli`, `burn_rate` and `error_budget_remaining`
//!   consistent with them (null iff the window is empty);
//! - with a small `limits.max_series_per_slo`, the combinations past it counted in the
//!   `__overflow__` series, and the refused combinations and overflow events per SLO;
//! - p50/p90/p99/p999 of the windows up to 1 h within 0.99 % of the exact nearest-rank
//!   value, over the window at the percentile resolution (on whole minutes, exactly the
//!   counters' window);
//! - `evaluate` succeeds at or after the newest aggregated event; before it, it may refuse
//!   (`NotRetained`) but must never answer inexactly.
//!
//! A second property checks that two arrival orders of the same events give identical
//! reports when no event is too old in either. A third, that a checkpoint taken in steps
//! while events keep arriving restores an engine that reports exactly as one that read
//! only the events before the checkpoint's cut, and, fed the rest, as the original.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use slipstream::config::{self, Config, Span};
use slipstream::engine::Engine;
use slipstream::report::{Report, SeriesReport, WindowReport};
use slipstream::window::latency::QUANTILES;
use slipstream::window::{LADDER_MS, SLACK, resolution_of};

const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// 2026-11-21T00:00:00Z. Events fall from here up to a span later, a few far earlier.
const BASE_MS: i64 = 1_795_219_200_000;

/// Reported windows: resolutions 1s (10s, 45s, 1m), 10s, 1m, 5m, 15m and 1h.
const WINDOW_POOL: [&str; 11] = [
    "10s", "45s", "1m", "5m", "7m", "30m", "1h", "2h", "6h", "1d", "3d",
];
const SLO_WINDOWS: [&str; 3] = ["1d", "7d", "30d"];
const OBJECTIVES: [&str; 4] = ["99.9", "99", "95", "99.5"];
/// SLOs name the first two; the third is only seen by `service: "*"`.
const SERVICES: [&str; 3] = ["checkout", "search", "auth"];
const ROUTES: [&str; 3] = ["GET /cart", "POST /pay", "GET /q"];
/// An empty operator is the same series value as a missing one.
const OPERATORS: [&str; 3] = ["eu", "us", ""];
const THRESHOLDS: [&str; 4] = ["100", "250.5", "300", "0.5"];
/// Latencies equal to a threshold, written in several ways.
const AT_THRESHOLDS: [&str; 11] = [
    "100", "100.0", "1e2", "250.5", "250.50", "2.505e2", "300", "300.000", "0.5", "0", "-0",
];

#[derive(Clone, Copy, Debug)]
enum Selector {
    Route(&'static str),
    Operator(&'static str),
}

#[derive(Clone, Debug)]
struct SloSpec {
    /// `None` is `service: "*"`.
    service: Option<&'static str>,
    selector: Option<Selector>,
    group_by: Vec<&'static str>,
    /// `None` is an availability indicator.
    threshold: Option<&'static str>,
    objective: &'static str,
    window: &'static str,
}

#[derive(Clone, Debug)]
struct Setup {
    windows: Vec<&'static str>,
    slos: Vec<SloSpec>,
    /// `limits.max_series_per_slo`, when set.
    max_series: Option<u32>,
}

impl Setup {
    fn yaml(&self) -> String {
        let mut y = format!(
            "windows: [{}]\nevents: {{ labels: [operator] }}\nslos:\n",
            self.windows.join(", ")
        );
        if let Some(n) = self.max_series {
            y.insert_str(0, &format!("limits: {{ max_series_per_slo: {n} }}\n"));
        }
        for (i, s) in self.slos.iter().enumerate() {
            let selector = match s.selector {
                None => String::new(),
                Some(Selector::Route(r)) => format!(" selector: {{ route: \"{r}\" }},"),
                Some(Selector::Operator(o)) => format!(" selector: {{ operator: \"{o}\" }},"),
            };
            let indicator = match s.threshold {
                None => "{ type: availability }".to_owned(),
                Some(t) => format!("{{ type: latency, threshold_ms: {t} }}"),
            };
            writeln!(
                y,
                "  - {{ name: s{i}, service: \"{}\",{selector} group_by: [{}], indicator: \
                 {indicator}, objective: {}, window: {} }}",
                s.service.unwrap_or("*"),
                s.group_by.join(", "),
                s.objective,
                s.window
            )
            .unwrap();
        }
        y
    }

    fn config(&self) -> Config {
        let yaml = self.yaml();
        config::parse(&yaml, Path::new("property.yaml"))
            .unwrap_or_else(|e| panic!("generated config does not parse: {e}\n{yaml}"))
    }
}

#[derive(Clone, Copy, Debug)]
enum TimeForm {
    EpochMs,
    Utc,
    /// RFC 3339 with this UTC offset in minutes.
    Offset(i64),
}

#[derive(Clone, Copy, Debug)]
enum Broken {
    Status,
    NotJson,
    NegativeLatency,
    NoService,
}

#[derive(Clone, Debug)]
struct Ev {
    ts: i64,
    form: TimeForm,
    service: &'static str,
    route: Option<&'static str>,
    status: u16,
    /// As written in the JSON.
    latency: String,
    operator: Option<&'static str>,
    broken: Option<Broken>,
    /// Arrival order is by `ts + delay`.
    delay: i64,
}

impl Ev {
    fn line(&self) -> String {
        if let Some(Broken::NotJson) = self.broken {
            return format!("{{\"timestamp\": {}, \"service\": oops", self.ts);
        }
        let ts = match self.form {
            TimeForm::EpochMs => self.ts.to_string(),
            TimeForm::Utc => format!("\"{}\"", rfc3339(self.ts, 0)),
            TimeForm::Offset(minutes) => format!("\"{}\"", rfc3339(self.ts, minutes)),
        };
        let mut fields = vec![format!("\"timestamp\":{ts}")];
        if !matches!(self.broken, Some(Broken::NoService)) {
            fields.push(format!("\"service\":\"{}\"", self.service));
        }
        if let Some(r) = self.route {
            fields.push(format!("\"route\":\"{r}\""));
        }
        let status = match self.broken {
            Some(Broken::Status) => 600,
            _ => self.status,
        };
        fields.push(format!("\"status\":{status}"));
        let latency = match self.broken {
            Some(Broken::NegativeLatency) => "-1.5",
            _ => &self.latency,
        };
        fields.push(format!("\"latency_ms\":{latency}"));
        if let Some(o) = self.operator {
            fields.push(format!("\"operator\":\"{o}\""));
        }
        format!("{{{}}}", fields.join(", "))
    }

    fn latency_ms(&self) -> f64 {
        self.latency.parse().expect("generated latency parses")
    }
}

/// RFC 3339 at a UTC offset in minutes, always with milliseconds.
fn rfc3339(ms: i64, offset_minutes: i64) -> String {
    let local = ms + offset_minutes * MINUTE;
    let (days, rem) = (local.div_euclid(DAY), local.rem_euclid(DAY));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let zone = match offset_minutes {
        0 => "Z".to_owned(),
        o => {
            let sign = if o < 0 { '-' } else { '+' };
            format!("{sign}{:02}:{:02}", o.abs() / 60, o.abs() % 60)
        }
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}{zone}",
        rem / HOUR,
        rem % HOUR / MINUTE,
        rem % MINUTE / SECOND,
        rem % SECOND
    )
}

fn floor_to(t: i64, r: i64) -> i64 {
    t.div_euclid(r) * r
}

fn ceil_to(t: i64, r: i64) -> i64 {
    floor_to(t, r) + if t.rem_euclid(r) == 0 { 0 } else { r }
}

fn span(text: &str) -> Span {
    let (n, unit) = text.split_at(text.len() - 1);
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => 86_400,
    };
    Span::from_secs(n.parse::<u64>().expect("window number") * scale)
}

/// When to evaluate, relative to the newest aggregated event.
#[derive(Clone, Copy, Debug)]
enum When {
    Newest,
    /// The `k`-th whole hour at or after it: on every window's grid.
    Hour(i64),
    /// The `k`-th whole minute at or after it.
    Minute(i64),
    /// Any millisecond at or after it.
    After(i64),
    /// Any millisecond before it: the engine may refuse.
    Before(i64),
    /// The `k`-th whole hour at or before it.
    HourBefore(i64),
}

impl When {
    fn at(self, newest: i64) -> i64 {
        match self {
            When::Newest => newest,
            When::Hour(k) => ceil_to(newest, HOUR) + k * HOUR,
            When::Minute(k) => ceil_to(newest, MINUTE) + k * MINUTE,
            When::After(ms) => newest + ms,
            When::Before(ms) => newest - ms,
            When::HourBefore(k) => floor_to(newest, HOUR) - k * HOUR,
        }
    }
}

/// A horizon, relative to the time of one generated event.
#[derive(Clone, Copy, Debug)]
enum Cut {
    AtEvent(Index),
    Hour(Index),
    Minute(Index),
    Near(Index, i64),
}

impl Cut {
    fn at(self, events: &[Ev]) -> i64 {
        match self {
            Cut::AtEvent(i) => i.get(events).ts,
            Cut::Hour(i) => ceil_to(i.get(events).ts, HOUR),
            Cut::Minute(i) => ceil_to(i.get(events).ts, MINUTE),
            Cut::Near(i, ms) => i.get(events).ts + ms,
        }
    }
}

/// One SLO as the model sees it.
struct ModelSlo {
    name: String,
    service: Option<&'static str>,
    selector: Option<Selector>,
    group_by: Vec<&'static str>,
    threshold: Option<f64>,
    objective: f64,
    window: Span,
    /// The configured windows and the SLO's own, ascending.
    windows: Vec<Span>,
    /// Pane width of the percentiles: the coarsest ladder step up to 1m that divides
    /// every window up to 1 h.
    percentile_ms: i64,
}

impl ModelSlo {
    fn matches(&self, e: &Ev) -> bool {
        self.service.is_none_or(|s| s == e.service)
            && match self.selector {
                None => true,
                Some(Selector::Route(r)) => e.route == Some(r),
                Some(Selector::Operator(o)) => e.operator == Some(o),
            }
    }

    fn label_names(&self) -> Vec<&'static str> {
        let service = self.service.is_none().then_some("service");
        service.into_iter().chain(self.group_by.clone()).collect()
    }

    fn label_values(&self, e: &Ev) -> Vec<String> {
        let service = self.service.is_none().then_some(e.service);
        let grouped = self.group_by.iter().map(|&g| match g {
            "route" => e.route.unwrap_or(""),
            _ => e.operator.unwrap_or(""),
        });
        service
            .into_iter()
            .chain(grouped)
            .map(str::to_owned)
            .collect()
    }

    fn is_good(&self, e: &Ev) -> bool {
        match self.threshold {
            None => e.status < 500,
            Some(t) => e.latency_ms() <= t,
        }
    }
}

struct Model {
    slos: Vec<ModelSlo>,
    max_series: Option<u32>,
    /// Pane width and panes of the ring that holds the most history.
    retention: (i64, i64),
}

/// What the model makes of a stream.
struct Outcome<'e> {
    read: u64,
    valid: u64,
    too_old: u64,
    aggregated: Vec<&'e Ev>,
    newest: Option<i64>,
}

impl Model {
    fn new(setup: &Setup) -> Model {
        let slos: Vec<ModelSlo> = setup
            .slos
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let window = span(s.window);
                let mut windows: Vec<Span> = setup.windows.iter().map(|w| span(w)).collect();
                windows.push(window);
                windows.sort();
                windows.dedup();
                let short: Vec<i64> = windows
                    .iter()
                    .filter(|w| **w <= Span::HOUR)
                    .map(|w| w.millis())
                    .collect();
                let percentile_ms = LADDER_MS
                    .into_iter()
                    .filter(|&r| r <= MINUTE && short.iter().all(|w| w % r == 0))
                    .max()
                    .expect("1s divides every window");
                ModelSlo {
                    name: format!("s{i}"),
                    service: s.service,
                    selector: s.selector,
                    group_by: s.group_by.clone(),
                    threshold: s.threshold.map(|t| t.parse().expect("threshold")),
                    objective: s.objective.parse::<f64>().expect("objective") / 100.0,
                    window,
                    windows,
                    percentile_ms,
                }
            })
            .collect();
        let retention = slos
            .iter()
            .flat_map(|s| &s.windows)
            .map(|w| {
                let r = LADDER_MS[resolution_of(*w)];
                let slack = (SLACK.millis() + r - 1) / r;
                (r, w.millis() / r + slack)
            })
            .max_by_key(|(r, panes)| r * panes)
            .expect("at least one window");
        Model {
            slos,
            max_series: setup.max_series,
            retention,
        }
    }

    /// Reads the events in arrival order, as the engine with this horizon does.
    fn ingest<'e>(&self, arrival: &[&'e Ev], horizon: Option<i64>) -> Outcome<'e> {
        let (r, panes) = self.retention;
        let mut out = Outcome {
            read: 0,
            valid: 0,
            too_old: 0,
            aggregated: Vec::new(),
            newest: None,
        };
        for &e in arrival {
            out.read += 1;
            if e.broken.is_some() {
                continue;
            }
            out.valid += 1;
            if horizon.is_some_and(|h| e.ts >= h) {
                continue;
            }
            if let Some(n) = out.newest
                && e.ts.div_euclid(r) <= n.div_euclid(r) - panes
            {
                out.too_old += 1;
                continue;
            }
            out.newest = out.newest.max(Some(e.ts));
            out.aggregated.push(e);
        }
        out
    }

    /// Evaluates the engine at `at` and compares with a recount.
    fn check(
        &self,
        engine: &Engine,
        outcome: &Outcome,
        at: i64,
        horizon: Option<i64>,
    ) -> Result<(), TestCaseError> {
        let ctx = format!(
            "at {} ({at}), horizon {:?}, newest aggregated {:?}",
            rfc3339(at, 0),
            horizon.map(|h| rfc3339(h, 0)),
            outcome.newest.map(|n| rfc3339(n, 0)),
        );
        let report = match engine.evaluate(at) {
            Ok(report) => report,
            Err(e) => {
                prop_assert!(
                    outcome.newest.is_some_and(|n| at < n),
                    "{ctx}: evaluate refused a time at or after the newest event: {e}"
                );
                return Ok(());
            }
        };
        self.check_report(&report, outcome, at, &ctx)
    }

    fn check_report(
        &self,
        report: &Report,
        outcome: &Outcome,
        at: i64,
        ctx: &str,
    ) -> Result<(), TestCaseError> {
        prop_assert_eq!(report.at_ms, at);
        let e = &report.events;
        prop_assert_eq!(
            (e.read, e.valid, e.too_old, e.invalid()),
            (
                outcome.read,
                outcome.valid,
                outcome.too_old,
                outcome.read - outcome.valid
            ),
            "{}: events (read, valid, too_old, invalid)",
            ctx
        );
        let mut expected = Vec::new();
        let mut overflow = Vec::new();
        for slo in &self.slos {
            // Label combinations get a series of their own in arrival order, up to the
            // limit; the others count in the one series labelled `__overflow__`.
            let mut series: BTreeMap<Vec<String>, Vec<&Ev>> = BTreeMap::new();
            let mut own = BTreeSet::new();
            let (mut refused, mut overflow_events) = (BTreeSet::new(), 0);
            for &e in outcome.aggregated.iter().filter(|e| slo.matches(e)) {
                let mut values = slo.label_values(e);
                if !own.contains(&values) {
                    if self.max_series.is_none_or(|m| own.len() < m as usize) {
                        own.insert(values.clone());
                    } else {
                        let width = values.len();
                        refused.insert(values);
                        values = vec!["__overflow__".to_owned(); width];
                        overflow_events += 1;
                    }
                }
                series.entry(values).or_default().push(e);
            }
            overflow.push((slo.name.clone(), refused.len() as u64, overflow_events));
            expected.extend(
                series
                    .into_iter()
                    .map(|(values, events)| (slo, values, events)),
            );
        }
        let got: Vec<(&str, Vec<&str>)> = report
            .slos
            .iter()
            .map(|s| (&*s.name, s.labels.iter().map(|l| &*l.1).collect()))
            .collect();
        let want: Vec<(&str, Vec<&str>)> = expected
            .iter()
            .map(|(slo, values, _)| (&*slo.name, values.iter().map(|v| &**v).collect()))
            .collect();
        prop_assert_eq!(got, want, "{}: series (SLO, label values) in order", ctx);
        let got: Vec<(String, u64, u64)> = report
            .overflow
            .iter()
            .map(|o| (o.slo.clone(), o.combinations, o.events))
            .collect();
        prop_assert_eq!(
            got,
            overflow,
            "{}: overflow (SLO, combinations, events)",
            ctx
        );
        for ((slo, _, events), series) in expected.iter().zip(&report.slos) {
            check_series(slo, events, series, at, ctx)?;
        }
        Ok(())
    }
}

fn close(got: Option<f64>, want: Option<f64>) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        _ => false,
    }
}

fn check_series(
    slo: &ModelSlo,
    events: &[&Ev],
    series: &SeriesReport,
    at: i64,
    ctx: &str,
) -> Result<(), TestCaseError> {
    let ctx = format!("{ctx}, SLO {} {:?}", slo.name, series.labels);
    let names: Vec<&str> = series.labels.iter().map(|l| &*l.0).collect();
    prop_assert_eq!(names, slo.label_names(), "{}: label names", ctx);
    prop_assert_eq!(series.window, slo.window, "{}: SLO window", ctx);
    prop_assert!(close(Some(series.objective), Some(slo.objective)), "{ctx}");
    let windows: Vec<Span> = series.windows.iter().map(|w| w.window).collect();
    prop_assert_eq!(&windows, &slo.windows, "{}: windows", ctx);
    for w in &series.windows {
        let ctx = format!("{ctx}, window {}", w.window);
        let r = LADDER_MS[resolution_of(w.window)];
        let hi = ceil_to(at, r);
        let inside: Vec<&Ev> = events
            .iter()
            .copied()
            .filter(|e| (hi - w.window.millis()..hi).contains(&e.ts))
            .collect();
        let total = inside.len() as u64;
        let good = inside.iter().filter(|e| slo.is_good(e)).count() as u64;
        prop_assert_eq!((w.total, w.good), (total, good), "{}: (total, good)", ctx);
        check_ratios(slo, w, series, &ctx)?;
        check_percentiles(w, events, at, slo.percentile_ms, &ctx)?;
    }
    Ok(())
}

fn check_ratios(
    slo: &ModelSlo,
    w: &WindowReport,
    series: &SeriesReport,
    ctx: &str,
) -> Result<(), TestCaseError> {
    let (good, total) = (w.good as f64, w.total as f64);
    let bad = total - good;
    let some = |v: f64| (w.total > 0).then_some(v);
    let allowed = 1.0 - slo.objective;
    prop_assert!(close(w.sli, some(good / total)), "{ctx}: sli {:?}", w.sli);
    prop_assert!(
        close(w.burn_rate, some(bad / total / allowed)),
        "{ctx}: burn_rate {:?}",
        w.burn_rate
    );
    if w.window == slo.window {
        let left = some(1.0 - bad / (allowed * total));
        prop_assert!(
            close(series.error_budget_remaining, left),
            "{ctx}: error_budget_remaining {:?}, want {left:?}",
            series.error_budget_remaining
        );
    }
    Ok(())
}

/// Percentiles exist for windows up to 1 h, over the panes of width `r` that start in
/// `[ceil_r(at) - W, ceil_r(at))` (on a whole minute, the counters' window), each within
/// 0.99 % of the exact nearest-rank value (the contract allows 1 %).
fn check_percentiles(
    w: &WindowReport,
    events: &[&Ev],
    at: i64,
    r: i64,
    ctx: &str,
) -> Result<(), TestCaseError> {
    let Some(latency) = w.latency_ms else {
        prop_assert!(w.window > Span::HOUR, "{ctx}: no percentiles");
        return Ok(());
    };
    prop_assert!(w.window <= Span::HOUR, "{ctx}: percentiles beyond 1h");
    let hi = ceil_to(at, r);
    let mut values: Vec<f64> = events
        .iter()
        .filter(|e| (hi - w.window.millis()..hi).contains(&e.ts))
        .map(|e| e.latency_ms())
        .collect();
    values.sort_by(f64::total_cmp);
    let Some(q) = latency else {
        prop_assert!(values.is_empty(), "{ctx}: no percentiles of {values:?}");
        return Ok(());
    };
    prop_assert!(!values.is_empty(), "{ctx}: percentiles {q:?} of nothing");
    let n = values.len() as u64;
    for (&(num, den), got) in QUANTILES.iter().zip(q) {
        let exact = values[((num * n).div_ceil(den) - 1) as usize];
        prop_assert!(
            (got - exact).abs() <= exact.abs() * 0.0099 + 1e-9,
            "{ctx}: quantile {num}/{den} is {got}, exact {exact} (of {n} values)"
        );
    }
    Ok(())
}

/// The events in arrival order: by `ts + delay`, ties in generation order.
fn arrival(events: &[Ev]) -> Vec<&Ev> {
    let mut order: Vec<&Ev> = events.iter().collect();
    order.sort_by_key(|e| e.ts + e.delay);
    order
}

fn run_engine(config: &Config, arrival: &[&Ev], horizon: Option<i64>) -> Engine {
    let mut engine = Engine::new(config);
    engine.set_horizon(horizon);
    for e in arrival {
        engine.ingest(e.line().as_bytes());
    }
    engine
}

/// The same through the batched path, as `replay` and the Kafka source feed it.
fn run_engine_batched(config: &Config, arrival: &[&Ev], horizon: Option<i64>) -> Engine {
    let lines: Vec<String> = arrival.iter().map(|e| e.line()).collect();
    let mut engine = Engine::new(config);
    engine.set_horizon(horizon);
    engine.ingest_all(lines.iter().map(|l| l.as_bytes()));
    engine
}

fn slo_spec() -> impl Strategy<Value = SloSpec> {
    (
        prop_oneof![Just(None), select(SERVICES[..2].to_vec()).prop_map(Some)],
        prop_oneof![
            2 => Just(None),
            1 => select(ROUTES.to_vec()).prop_map(|r| Some(Selector::Route(r))),
            1 => select(OPERATORS[..2].to_vec()).prop_map(|o| Some(Selector::Operator(o))),
        ],
        select(vec![
            vec![],
            vec!["route"],
            vec!["operator"],
            vec!["route", "operator"],
            vec!["operator", "route"],
        ]),
        option::of(select(THRESHOLDS.to_vec())),
        select(OBJECTIVES.to_vec()),
        select(SLO_WINDOWS.to_vec()),
    )
        .prop_map(
            |(service, selector, group_by, threshold, objective, window)| SloSpec {
                service,
                selector,
                group_by,
                threshold,
                objective,
                window,
            },
        )
}

/// With `limited`, sometimes a series limit small enough to be reached.
fn setup(limited: bool) -> impl Strategy<Value = Setup> {
    let max_series = if limited {
        option::of(1u32..=4).boxed()
    } else {
        Just(None).boxed()
    };
    (
        subsequence(WINDOW_POOL.to_vec(), 0..=6),
        vec(slo_spec(), 1..=5),
        max_series,
    )
        .prop_map(|(windows, slos, max_series)| Setup {
            windows,
            slos,
            max_series,
        })
}

fn latency() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (0u32..2000).prop_map(|n| n.to_string()),
        3 => (0u32..2000, 0u32..100).prop_map(|(n, f)| format!("{n}.{f:02}")),
        3 => select(AT_THRESHOLDS.to_vec()).prop_map(str::to_owned),
        // Not below 2^-10 ms, which reads as 0.
        1 => (1u32..1000).prop_map(|f| format!("0.{f:03}")),
        1 => (10_000u32..200_000).prop_map(|n| n.to_string()),
    ]
}

/// Offsets from [`BASE_MS`]: spread over `span`, crowded at its end where the fine windows
/// look, on whole minutes and hours, and with `far_old` a few about 30 days back or more,
/// around what the longest (30d) ring holds.
fn offset(span: i64, far_old: bool) -> BoxedStrategy<i64> {
    let recent = prop_oneof![
        12 => 0..span,
        8 => (span - 10 * MINUTE).max(0)..span,
        3 => (0..span / HOUR + 1).prop_map(|h| h * HOUR),
        3 => (0..span / MINUTE).prop_map(|m| m * MINUTE),
    ];
    if far_old {
        prop_oneof![
            80 => recent,
            1 => -45 * DAY..-31 * DAY,
            1 => -31 * DAY..-29 * DAY,
        ]
        .boxed()
    } else {
        recent.boxed()
    }
}

fn event(span: i64, far_old: bool) -> impl Strategy<Value = Ev> {
    let form = prop_oneof![
        Just(TimeForm::EpochMs),
        Just(TimeForm::Utc),
        select(vec![-300, 60, 330]).prop_map(TimeForm::Offset),
    ];
    let broken = prop_oneof![
        40 => Just(None),
        1 => select(vec![
            Broken::Status,
            Broken::NotJson,
            Broken::NegativeLatency,
            Broken::NoService
        ])
        .prop_map(Some),
    ];
    // Lateness: mostly small, some up to the whole span, some after everything else.
    let delay = prop_oneof![
        6 => 0..5 * SECOND,
        4 => 0..5 * MINUTE,
        2 => 0..2 * HOUR,
        2 => 0..=span,
        1 => 40 * DAY..50 * DAY,
    ];
    (
        offset(span, far_old),
        form,
        select(SERVICES.to_vec()),
        option::weighted(0.85, select(ROUTES.to_vec())),
        prop_oneof![3 => 100u16..500, 2 => 500u16..600],
        latency(),
        option::weighted(0.7, select(OPERATORS.to_vec())),
        broken,
        delay,
    )
        .prop_map(
            |(offset, form, service, route, status, latency, operator, broken, delay)| Ev {
                ts: BASE_MS + offset,
                form,
                service,
                route,
                status,
                latency,
                operator,
                broken,
                delay,
            },
        )
}

fn when() -> impl Strategy<Value = When> {
    prop_oneof![
        Just(When::Newest),
        (0..48i64).prop_map(When::Hour),
        (0..180i64).prop_map(When::Minute),
        (0..3 * HOUR).prop_map(When::After),
        (1..10 * MINUTE).prop_map(When::Before),
        (1..3 * DAY).prop_map(When::Before),
        (0..30i64).prop_map(When::HourBefore),
    ]
}

fn cut() -> impl Strategy<Value = Cut> {
    prop_oneof![
        any::<Index>().prop_map(Cut::AtEvent),
        any::<Index>().prop_map(Cut::Hour),
        any::<Index>().prop_map(Cut::Minute),
        (any::<Index>(), -HOUR..HOUR).prop_map(|(i, ms)| Cut::Near(i, ms)),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    setup: Setup,
    events: Vec<Ev>,
    whens: Vec<When>,
    cut: Cut,
}

fn case() -> impl Strategy<Value = Case> {
    (
        setup(true),
        select(vec![10 * MINUTE, 3 * HOUR, 2 * DAY, 8 * DAY]),
    )
        .prop_flat_map(|(setup, span)| {
            (
                Just(setup),
                vec(event(span, true), 1..300),
                vec(when(), 3..8),
                cut(),
            )
        })
        .prop_map(|(setup, events, whens, cut)| Case {
            setup,
            events,
            whens,
            cut,
        })
}

#[derive(Clone, Debug)]
struct TwoOrders {
    setup: Setup,
    /// In the order of the first arrival, by `ts + delay`.
    events: Vec<Ev>,
    /// The same events in a second order.
    shuffled: Vec<Ev>,
    whens: Vec<When>,
    cut: Option<Cut>,
}

/// Within 20 h: less than any SLO window's ring holds, so nothing can be too old. No
/// series limit: which combinations get a series of their own depends on the order.
fn two_orders() -> impl Strategy<Value = TwoOrders> {
    (setup(false), select(vec![10 * MINUTE, 3 * HOUR, 20 * HOUR]))
        .prop_flat_map(|(setup, span)| (Just(setup), vec(event(span, false), 1..300)))
        .prop_flat_map(|(setup, events)| {
            let first: Vec<Ev> = arrival(&events).into_iter().cloned().collect();
            (
                Just(setup),
                Just(first),
                Just(events).prop_shuffle(),
                vec(when(), 3..6),
                option::of(cut()),
            )
        })
        .prop_map(|(setup, events, shuffled, whens, cut)| TwoOrders {
            setup,
            events,
            shuffled,
            whens,
            cut,
        })
}

#[derive(Clone, Debug)]
struct CheckpointCase {
    setup: Setup,
    events: Vec<Ev>,
    whens: Vec<When>,
    /// Where the cut is, and how many events arrive while the checkpoint is being taken.
    cut: Index,
    during: Index,
    /// Series serialised per step, between the events that arrive meanwhile.
    step: usize,
}

fn checkpoint_case() -> impl Strategy<Value = CheckpointCase> {
    (
        setup(true),
        select(vec![10 * MINUTE, 3 * HOUR, 2 * DAY, 8 * DAY]),
    )
        .prop_flat_map(|(setup, span)| {
            (
                Just(setup),
                vec(event(span, true), 1..300),
                vec(when(), 2..5),
                any::<Index>(),
                any::<Index>(),
                1usize..4,
            )
        })
        .prop_map(|(setup, events, whens, cut, during, step)| CheckpointCase {
            setup,
            events,
            whens,
            cut,
            during,
            step,
        })
}

/// A checkpoint's bytes, as a state file holds them (without the framing).
fn checkpoint_bytes(engine: &mut Engine) -> Vec<u8> {
    let checkpoint = engine.finish_checkpoint().expect("a checkpoint is open");
    let mut bytes = Vec::new();
    checkpoint.write(|piece| bytes.extend_from_slice(piece));
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_checkpoint_restores_exactly_what_its_cut_covers(case in checkpoint_case()) {
        let config = case.setup.config();
        let lines: Vec<String> = arrival(&case.events).iter().map(|e| e.line()).collect();
        let cut = case.cut.index(lines.len() + 1);
        let during = cut + case.during.index(lines.len() - cut + 1);
        let mut original = Engine::new(&config);
        original.ingest_all(lines[..cut].iter().map(|l| l.as_bytes()));
        original.advance("events", 0, cut as i64);
        original.begin_checkpoint();
        // Events keep arriving (one small batch at a time) while series are serialised.
        for chunk in lines[cut..during].chunks(3) {
            original.ingest_all(chunk.iter().map(|l| l.as_bytes()));
            original.checkpoint_step(case.step);
        }
        original.advance("events", 0, during as i64);
        let bytes = checkpoint_bytes(&mut original);
        let (mut restored, summary) = Engine::restore(&config, &bytes).expect("restores");
        prop_assert!(summary.discarded_populations.is_empty());
        prop_assert_eq!(restored.positions()[0].next_offset, cut as i64);

        let mut reference = Engine::new(&config);
        reference.ingest_all(lines[..cut].iter().map(|l| l.as_bytes()));
        prop_assert_eq!(restored.newest_event_ms(), reference.newest_event_ms());
        let newest = reference.newest_event_ms().unwrap_or(BASE_MS);
        for when in &case.whens {
            let at = when.at(newest);
            prop_assert_eq!(restored.evaluate(at), reference.evaluate(at), "at {}", rfc3339(at, 0));
        }

        // Fed what came after the cut, the restored engine is the original. Except for
        // the count of refused label combinations: which ones were refused is not kept,
        // so one refused again after the cut is counted again.
        restored.ingest_all(lines[cut..].iter().map(|l| l.as_bytes()));
        original.ingest_all(lines[during..].iter().map(|l| l.as_bytes()));
        let newest = original.newest_event_ms().unwrap_or(BASE_MS);
        let without_refusals = |report: Result<Report, _>| {
            report.map(|mut r| {
                r.overflow.iter_mut().for_each(|o| o.combinations = 0);
                r
            })
        };
        for when in &case.whens {
            let at = when.at(newest);
            prop_assert_eq!(
                without_refusals(restored.evaluate(at)),
                without_refusals(original.evaluate(at)),
                "at {}",
                rfc3339(at, 0)
            );
        }
        if case.setup.max_series.is_some() {
            return Ok(());
        }
        // And its own checkpoint is the original's, byte for byte.
        restored.advance("events", 0, lines.len() as i64);
        original.advance("events", 0, lines.len() as i64);
        restored.begin_checkpoint();
        original.begin_checkpoint();
        prop_assert_eq!(checkpoint_bytes(&mut restored), checkpoint_bytes(&mut original));
    }

    #[test]
    fn engine_matches_a_brute_force_recount(case in case()) {
        let model = Model::new(&case.setup);
        let config = case.setup.config();
        let order = arrival(&case.events);

        // Live: every valid event is aggregated unless too old.
        let engine = run_engine(&config, &order, None);
        let outcome = model.ingest(&order, None);
        prop_assert_eq!(engine.newest_event_ms(), outcome.newest);
        let newest = outcome.newest.unwrap_or(BASE_MS);
        for when in &case.whens {
            model.check(&engine, &outcome, when.at(newest), None)?;
        }

        // Replay with --at: events at or after the horizon are read but not aggregated.
        let horizon = case.cut.at(&case.events);
        let engine = run_engine(&config, &order, Some(horizon));
        let outcome = model.ingest(&order, Some(horizon));
        prop_assert_eq!(engine.newest_event_ms(), outcome.newest);
        model.check(&engine, &outcome, horizon, Some(horizon))?;
        let newest = outcome.newest.unwrap_or(horizon);
        for when in case.whens.iter().take(2) {
            model.check(&engine, &outcome, when.at(newest), Some(horizon))?;
        }
    }

    #[test]
    /// Also checks the batched path against the one-at-a-time one.
    fn arrival_order_does_not_change_reports(case in two_orders()) {
        let config = case.setup.config();
        let horizon = case.cut.map(|c| c.at(&case.events));
        let first = run_engine(&config, &case.events.iter().collect::<Vec<_>>(), horizon);
        let second =
            run_engine_batched(&config, &case.shuffled.iter().collect::<Vec<_>>(), horizon);
        prop_assert_eq!(first.counts().too_old, 0);
        prop_assert_eq!(second.counts().too_old, 0);
        prop_assert_eq!(first.newest_event_ms(), second.newest_event_ms());
        let newest = first.newest_event_ms().or(horizon).unwrap_or(BASE_MS);
        let times = case.whens.iter().map(|w| w.at(newest)).chain(horizon);
        for at in times {
            prop_assert_eq!(first.evaluate(at), second.evaluate(at), "at {}", rfc3339(at, 0));
        }
    }
}

#[test]
fn rfc3339_writes_known_instants() {
    assert_eq!(rfc3339(BASE_MS, 0), "2026-11-21T00:00:00.000Z");
    assert_eq!(rfc3339(BASE_MS - 1, 330), "2026-11-21T05:29:59.999+05:30");
    assert_eq!(
        rfc3339(951_782_400_000, -300),
        "2000-02-28T19:00:00.000-05:00"
    );
}
