//! Property tests of composite SLOs and roll-ups against a brute-force recompute from the
//! raw events (the style of tests/engine_property.rs).
//!
//! Random configs (availability and latency SLOs, `service: "*"`, `group_by` on the route
//! and a label, a series limit or none; one composite of a random subset of the SLOs with
//! random weights, objective and window; a roll-up of every SLO that has labels, by a
//! random one of them, with a random `top_k` and `rank_window`) and random events go
//! through the engine, evaluated on a whole hour (on every window's grid, so a window `W`
//! is exactly `[at - W, at)`). The report must match a model that keeps every event:
//!
//! - the composite: per reported and alert-only window, `good` and `total` equal to the
//!   weighted counts of every event each component selects, lifetime counts likewise,
//!   ratios consistent with them, and no entry before a component has a series;
//! - every roll-up: per group (the value of the label of each series, the overflow series
//!   included) and for the ecosystem, `good` and `total` per window, the budget left;
//! - the top-k: exactly the first `top_k` of a full sort of every series with bad events
//!   in `rank_window`, by share of own budget burned, bad events, then label values.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use slipstream::config::{self, Config, Span};
use slipstream::engine::Engine;
use slipstream::report::{Report, SeriesReport};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
/// 2026-11-21T00:00:00Z. Events fall in the 20 hours after it.
const BASE_MS: i64 = 1_795_219_200_000;
const WINDOW_POOL: [&str; 5] = ["5m", "30m", "1h", "6h", "1d"];
const SERVICES: [&str; 3] = ["checkout", "search", "auth"];
const ROUTES: [&str; 3] = ["GET /cart", "POST /pay", "GET /q"];
const OPERATORS: [&str; 4] = ["eu", "us", "ap", ""];
const STATUSES: [u16; 5] = [200, 201, 404, 500, 503];

#[derive(Clone, Debug)]
struct SloSpec {
    /// `None` is `service: "*"`.
    service: Option<&'static str>,
    group_by: Vec<&'static str>,
    /// `None` is an availability indicator.
    threshold: Option<u32>,
    objective: &'static str,
    window: &'static str,
}

#[derive(Clone, Debug)]
struct Setup {
    windows: Vec<&'static str>,
    slos: Vec<SloSpec>,
    max_series: Option<u32>,
    /// (SLO index, weight) of the composite's components.
    components: Vec<(usize, u64)>,
    composite_objective: &'static str,
    composite_window: &'static str,
    /// Per SLO: which of its labels, `top_k`, which of its windows up to its own.
    rollups: Vec<(Index, usize, Index)>,
}

impl SloSpec {
    fn label_names(&self) -> Vec<&'static str> {
        let service = self.service.is_none().then_some("service");
        service.into_iter().chain(self.group_by.clone()).collect()
    }

    fn matches(&self, e: &Ev) -> bool {
        self.service.is_none_or(|s| s == e.service)
    }

    fn label_values(&self, e: &Ev) -> Vec<String> {
        let service = self.service.is_none().then_some(e.service);
        let grouped = self.group_by.iter().map(|&g| match g {
            "route" => e.route,
            _ => e.operator,
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
            Some(t) => e.latency_ms <= t,
        }
    }

    fn objective(&self) -> f64 {
        self.objective.parse::<f64>().unwrap() / 100.0
    }

    /// The reported windows, ascending.
    fn windows(&self, setup: &Setup) -> Vec<Span> {
        let mut all: Vec<Span> = setup.windows.iter().map(|w| span(w)).collect();
        all.push(span(self.window));
        all.sort();
        all.dedup();
        all
    }
}

/// `(SLO index, label, top_k, rank window)` of each roll-up, as configured.
type RollupSpec = (usize, &'static str, usize, Span);

impl Setup {
    fn rollup_specs(&self) -> Vec<RollupSpec> {
        let mut out = Vec::new();
        for (i, (slo, (label, k, rank))) in self.slos.iter().zip(&self.rollups).enumerate() {
            let labels = slo.label_names();
            if labels.is_empty() {
                continue;
            }
            let own = span(slo.window);
            let ranks: Vec<Span> = slo
                .windows(self)
                .into_iter()
                .filter(|w| *w <= own)
                .collect();
            out.push((i, *label.get(&labels), *k, *rank.get(&ranks)));
        }
        out
    }

    fn yaml(&self) -> String {
        let mut y = format!(
            "windows: [{}]\nevents: {{ labels: [operator] }}\nslos:\n",
            self.windows.join(", ")
        );
        if let Some(n) = self.max_series {
            y.insert_str(0, &format!("limits: {{ max_series_per_slo: {n} }}\n"));
        }
        for (i, s) in self.slos.iter().enumerate() {
            let indicator = match s.threshold {
                None => "{ type: availability }".to_owned(),
                Some(t) => format!("{{ type: latency, threshold_ms: {t} }}"),
            };
            writeln!(
                y,
                "  - {{ name: s{i}, service: \"{}\", group_by: [{}], indicator: {indicator}, \
                 objective: {}, window: {} }}",
                s.service.unwrap_or("*"),
                s.group_by.join(", "),
                s.objective,
                s.window
            )
            .unwrap();
        }
        let components: Vec<String> = self
            .components
            .iter()
            .map(|(s, w)| format!("{{ slo: s{s}, weight: {w} }}"))
            .collect();
        writeln!(
            y,
            "composites:\n  - {{ name: journey, objective: {}, window: {}, components: [{}] }}",
            self.composite_objective,
            self.composite_window,
            components.join(", ")
        )
        .unwrap();
        let rollups = self.rollup_specs();
        if !rollups.is_empty() {
            y.push_str("rollups:\n");
        }
        for (s, label, k, rank) in rollups {
            writeln!(
                y,
                "  - {{ name: r{s}, slo: s{s}, by: {label}, top_k: {k}, rank_window: {rank} }}"
            )
            .unwrap();
        }
        y
    }

    fn config(&self) -> Config {
        let yaml = self.yaml();
        config::parse(&yaml, Path::new("composites.yaml"))
            .unwrap_or_else(|e| panic!("generated config does not parse: {e}\n{yaml}"))
    }
}

#[derive(Clone, Debug)]
struct Ev {
    ts: i64,
    service: &'static str,
    route: &'static str,
    operator: &'static str,
    status: u16,
    latency_ms: u32,
}

impl Ev {
    fn line(&self) -> String {
        format!(
            r#"{{"timestamp":{},"service":"{}","route":"{}","status":{},"latency_ms":{},"operator":"{}"}}"#,
            self.ts, self.service, self.route, self.status, self.latency_ms, self.operator
        )
    }
}

fn span(text: &str) -> Span {
    Span::parse(text).expect("a pool window parses")
}

/// Every matched event of an SLO, by series (label values, overflow applied in arrival
/// order, as docs/semantics.md defines it).
fn series_of<'e>(
    slo: &SloSpec,
    events: &'e [Ev],
    max_series: Option<u32>,
) -> BTreeMap<Vec<String>, Vec<&'e Ev>> {
    let mut series: BTreeMap<Vec<String>, Vec<&Ev>> = BTreeMap::new();
    let mut own = BTreeSet::new();
    for e in events.iter().filter(|e| slo.matches(e)) {
        let mut values = slo.label_values(e);
        if !own.contains(&values) {
            if max_series.is_none_or(|m| own.len() < m as usize) {
                own.insert(values.clone());
            } else {
                values = vec!["__overflow__".to_owned(); values.len()];
            }
        }
        series.entry(values).or_default().push(e);
    }
    series
}

/// (good, total) of `events` for `slo` in the window `w` ending at `at`.
fn count(slo: &SloSpec, events: &[&Ev], at: i64, w: Span) -> (u64, u64) {
    let inside = events
        .iter()
        .filter(|e| (at - w.millis()..at).contains(&e.ts));
    inside.fold((0, 0), |(g, t), e| (g + u64::from(slo.is_good(e)), t + 1))
}

fn close(got: Option<f64>, want: Option<f64>) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) => (g - w).abs() <= 1e-9 * w.abs().max(1.0),
        _ => false,
    }
}

fn budget(good: u64, total: u64, objective: f64) -> Option<f64> {
    (total > 0).then(|| 1.0 - (total - good) as f64 / ((1.0 - objective) * total as f64))
}

fn check_composite(
    setup: &Setup,
    config: &Config,
    report: &Report,
    events: &[Ev],
    at: i64,
) -> Result<(), TestCaseError> {
    let composite = &config.composites[0];
    let matched: Vec<(&SloSpec, u64, Vec<&Ev>)> = setup
        .components
        .iter()
        .map(|&(s, w)| {
            let slo = &setup.slos[s];
            (slo, w, events.iter().filter(|e| slo.matches(e)).collect())
        })
        .collect();
    let entries: Vec<&SeriesReport> = report.slos.iter().filter(|s| s.name == "journey").collect();
    if matched.iter().all(|(_, _, m)| m.is_empty()) {
        prop_assert!(
            entries.is_empty(),
            "a composite entry without any component series"
        );
        return Ok(());
    }
    prop_assert_eq!(entries.len(), 1);
    let c = entries[0];
    prop_assert!(
        std::ptr::eq(c, report.slos.last().unwrap()),
        "the composite comes last"
    );
    prop_assert!(c.labels.is_empty());
    let weighted = |w: Span| {
        matched.iter().fold((0, 0), |(g, t), (slo, weight, m)| {
            let (good, total) = count(slo, m, at, w);
            (g + weight * good, t + weight * total)
        })
    };
    let reported: Vec<Span> = c.windows.iter().map(|w| w.window).collect();
    prop_assert_eq!(&reported, &composite.windows);
    for w in c.windows.iter().chain(&c.alert_windows) {
        let (good, total) = weighted(w.window);
        prop_assert_eq!(
            (w.good, w.total),
            (good, total),
            "composite window {}",
            w.window
        );
        let ratio = (total > 0).then(|| good as f64 / total as f64);
        prop_assert!(close(w.sli, ratio), "sli {:?}", w.sli);
    }
    for rule in &composite.alerts.rules {
        prop_assert!(c.window(rule.long).is_some() && c.window(rule.short).is_some());
    }
    let (good, total) = weighted(composite.window);
    prop_assert!(close(
        c.error_budget_remaining,
        budget(good, total, composite.objective)
    ));
    let lifetime = matched.iter().fold((0, 0), |(g, t), (slo, weight, m)| {
        let good = m.iter().filter(|e| slo.is_good(e)).count() as u64;
        (g + weight * good, t + weight * m.len() as u64)
    });
    prop_assert_eq!((c.lifetime.good, c.lifetime.total), lifetime);
    Ok(())
}

fn check_rollups(
    setup: &Setup,
    report: &Report,
    events: &[Ev],
    at: i64,
) -> Result<(), TestCaseError> {
    let specs = setup.rollup_specs();
    let Some(rollups) = &report.rollups else {
        prop_assert!(specs.is_empty(), "no `rollups` in the report");
        return Ok(());
    };
    prop_assert_eq!(rollups.len(), specs.len());
    for (r, &(s, label, k, rank)) in rollups.iter().zip(&specs) {
        let slo = &setup.slos[s];
        let windows = slo.windows(setup);
        let own = span(slo.window);
        let objective = slo.objective();
        let position = slo.label_names().iter().position(|l| *l == label).unwrap();
        let series = series_of(slo, events, setup.max_series);
        let mut groups: BTreeMap<&str, Vec<&Ev>> = BTreeMap::new();
        for (values, evs) in &series {
            groups.entry(&values[position]).or_default().extend(evs);
        }
        let got: Vec<&str> = r.groups.iter().map(|g| g.value.as_str()).collect();
        let want: Vec<&str> = groups.keys().copied().collect();
        prop_assert_eq!(got, want, "groups of {}", r.name);
        let all: Vec<&Ev> = series.values().flatten().copied().collect();
        let aggregates = r.groups.iter().map(|g| &g.aggregate).chain([&r.ecosystem]);
        let models = groups.values().chain([&all]);
        for (a, evs) in aggregates.zip(models) {
            let got: Vec<(Span, u64, u64)> = a
                .windows
                .iter()
                .map(|w| (w.window, w.good, w.total))
                .collect();
            let want: Vec<(Span, u64, u64)> = windows
                .iter()
                .map(|&w| {
                    let (g, t) = count(slo, evs, at, w);
                    (w, g, t)
                })
                .collect();
            prop_assert_eq!(got, want, "{} windows", r.name);
            let (g, t) = count(slo, evs, at, own);
            prop_assert!(close(a.error_budget_remaining, budget(g, t, objective)));
        }
        // The ranking: every series with bad events in `rank`, fully sorted, truncated.
        let mut ranked: Vec<(&Vec<String>, u64, u64, u64)> = series
            .iter()
            .map(|(values, evs)| {
                let (g, t) = count(slo, evs, at, rank);
                (values, t - g, t, count(slo, evs, at, own).1)
            })
            .filter(|(_, bad, _, _)| *bad > 0)
            .collect();
        ranked.sort_by(|a, b| {
            let share = |x: &(&Vec<String>, u64, u64, u64), y: &(&Vec<String>, u64, u64, u64)| {
                u128::from(x.1) * u128::from(y.3)
            };
            share(b, a)
                .cmp(&share(a, b))
                .then(b.1.cmp(&a.1))
                .then_with(|| a.0.cmp(b.0))
        });
        ranked.truncate(k);
        prop_assert_eq!(r.top.window, rank);
        let got: Vec<(Vec<&str>, u64, u64)> = r
            .top
            .entries
            .iter()
            .map(|e| {
                (
                    e.labels.iter().map(|l| l.1.as_str()).collect(),
                    e.bad,
                    e.total,
                )
            })
            .collect();
        let want: Vec<(Vec<&str>, u64, u64)> = ranked
            .iter()
            .map(|(v, bad, total, _)| (v.iter().map(String::as_str).collect(), *bad, *total))
            .collect();
        prop_assert_eq!(got, want, "top of {}", r.name);
        for (e, (_, bad, _, period)) in r.top.entries.iter().zip(&ranked) {
            let burned = *bad as f64 / ((1.0 - objective) * *period as f64);
            prop_assert!(close(Some(e.budget_burned), Some(burned)));
        }
    }
    Ok(())
}

fn slo_spec() -> impl Strategy<Value = SloSpec> {
    (
        prop_oneof![3 => select(&SERVICES[..2]).prop_map(Some), 1 => Just(None)],
        subsequence(vec!["route", "operator"], 0..=2),
        prop_oneof![Just(None), (1u32..200).prop_map(Some)],
        select(&["99.9", "99", "95", "99.5"][..]),
        select(&["1d", "7d"][..]),
    )
        .prop_map(
            |(service, group_by, threshold, objective, window)| SloSpec {
                service,
                group_by,
                threshold,
                objective,
                window,
            },
        )
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        subsequence(WINDOW_POOL.to_vec(), 1..=3),
        vec(slo_spec(), 1..=4),
        prop_oneof![Just(None), (1u32..4).prop_map(Some)],
        vec((any::<Index>(), 1u64..=5), 1..=3),
        select(&["99", "99.5", "90"][..]),
        select(&["1d", "7d", "30d"][..]),
        vec((any::<Index>(), 1usize..=5, any::<Index>()), 4),
    )
        .prop_map(
            |(windows, slos, max_series, picks, objective, window, rollups)| {
                let mut components: Vec<(usize, u64)> = Vec::new();
                for (i, weight) in picks {
                    let s = i.index(slos.len());
                    if components.iter().all(|(c, _)| *c != s) {
                        components.push((s, weight));
                    }
                }
                Setup {
                    windows,
                    slos,
                    max_series,
                    components,
                    composite_objective: objective,
                    composite_window: window,
                    rollups,
                }
            },
        )
}

fn event() -> impl Strategy<Value = Ev> {
    (
        0..20 * HOUR,
        select(&SERVICES[..]),
        select(&ROUTES[..]),
        select(&OPERATORS[..]),
        select(&STATUSES[..]),
        0u32..300,
    )
        .prop_map(
            |(offset, service, route, operator, status, latency_ms)| Ev {
                ts: BASE_MS + offset,
                service,
                route,
                operator,
                status,
                latency_ms,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn composites_and_rollups_match_a_recount(
        setup in setup(),
        events in vec(event(), 0..300),
        hours_after in 0i64..30,
    ) {
        let config = setup.config();
        let mut engine = Engine::new(&config);
        for e in &events {
            engine.ingest(e.line().as_bytes());
        }
        let newest = events.iter().map(|e| e.ts).max().unwrap_or(BASE_MS);
        let at = (newest / HOUR + 1 + hours_after) * HOUR;
        let report = engine.evaluate(at).expect("evaluated after the newest event");
        prop_assert_eq!(report.events.too_old, 0);
        check_composite(&setup, &config, &report, &events, at)?;
        check_rollups(&setup, &report, &events, at)?;
    }
}
