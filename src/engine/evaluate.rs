//! [`Engine::evaluate`]: window state in, [`Report`] out.
//!
//! Every series is read on its own (its windows' sums, percentiles and lifetime counts),
//! so a large population is split in two halves read on two threads when the machine has
//! the cores: with ten thousand series a report takes tens of milliseconds, which is what
//! `replay` waits for at its end and what `run` holds the engine's lock for every
//! interval. The rows are sorted afterwards as before, so the report does not depend on
//! the split.

use std::ops::Range;

use super::{Engine, EvalError};
use crate::config::Span;
use crate::report::{self, Report, SeriesOverflow, SeriesReport, WindowReport};
use crate::window::latency::Accumulator;
use crate::window::{Layout, Series, Stage, pane_range};

/// Series from which a population is read on two threads: below it, spawning costs more
/// than it saves.
const PARALLEL_FROM: usize = 2_048;

impl Engine {
    /// The report at `at_ms`, for any time whose windows are still retained.
    pub fn evaluate(&self, at_ms: i64) -> Result<Report, EvalError> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.report(at_ms, threads)
    }

    /// [`Engine::evaluate`] on at most `threads` threads (two are used, at most).
    fn report(&self, at_ms: i64, threads: usize) -> Result<Report, EvalError> {
        self.check_retained(at_ms)?;
        let mut slos = Vec::new();
        let mut overflow = Vec::new();
        // Per SLO: the windows its alert rules and composites read that it does not report.
        let alert_only: Vec<Vec<Span>> = self
            .slos
            .iter()
            .map(|slo| {
                let mut extra = slo.engine_windows();
                extra.retain(|w| !slo.windows.contains(w));
                extra
            })
            .collect();
        for (p, population) in self.classifier.populations().iter().enumerate() {
            // Rows are the series that have state and labels, as zipping them would give.
            let store = &self.series[p];
            let n = (store.series.len())
                .min(store.stages.len())
                .min(self.classifier.series_labels(p).len());
            if threads > 1 && n >= PARALLEL_FROM {
                let (first, second) = std::thread::scope(|scope| {
                    let second = scope.spawn(|| self.rows(p, n / 2..n, at_ms, &alert_only));
                    let first = self.rows(p, 0..n / 2, at_ms, &alert_only);
                    // A panic in the other half is re-raised here, as it would be in one.
                    let second = second
                        .join()
                        .unwrap_or_else(|e| std::panic::resume_unwind(e));
                    (first, second)
                });
                slos.extend(first);
                slos.extend(second);
            } else {
                slos.extend(self.rows(p, 0..n, at_ms, &alert_only));
            }
            let limit = self.classifier.overflow(p);
            let overflow_events = limit.series.map_or(0, |i| {
                let mut lifetime = vec![0; population.layout.width];
                let i = i as usize;
                if let (Some(series), Some(stage)) = (store.series.get(i), store.stages.get(i)) {
                    series.lifetime(stage, &population.layout, &mut lifetime);
                }
                lifetime[0]
            });
            overflow.extend(population.slos.iter().map(|&s| {
                let slo = self.slos[s].name.clone();
                let (combinations, events) = (limit.refused, overflow_events);
                (
                    s,
                    SeriesOverflow {
                        slo,
                        combinations,
                        events,
                    },
                )
            }));
        }
        overflow.sort_by_key(|(s, _)| *s);
        slos.sort_by(|(a, x), (b, y)| {
            a.cmp(b).then_with(|| {
                x.labels
                    .iter()
                    .map(|l| &l.1)
                    .cmp(y.labels.iter().map(|l| &l.1))
            })
        });
        let mut slos: Vec<SeriesReport> = slos.into_iter().map(|(_, r)| r).collect();
        let rollups = (!self.rollups.is_empty()).then(|| {
            let of = |r| report::rollup::evaluate(r, &slos);
            self.rollups.iter().map(of).collect()
        });
        let composites: Vec<SeriesReport> = self
            .composites
            .iter()
            .filter_map(|c| report::composite::evaluate(c, &slos, &self.ladder))
            .collect();
        slos.extend(composites);
        Ok(Report {
            at_ms,
            events: self.counts.clone(),
            slos,
            overflow: overflow.into_iter().map(|(_, o)| o).collect(),
            rollups,
        })
    }

    /// The report rows of series `rows` of population `p`, each with its SLO's index.
    fn rows(
        &self,
        p: usize,
        rows: Range<usize>,
        at_ms: i64,
        alert_only: &[Vec<Span>],
    ) -> Vec<(usize, SeriesReport)> {
        let population = &self.classifier.populations()[p];
        let layout = &population.layout;
        let store = &self.series[p];
        let labels = &self.classifier.series_labels(p)[rows.clone()];
        let series = store.series[rows.clone()].iter().zip(&store.stages[rows]);
        let mut acc = Accumulator::default();
        let mut out = Vec::with_capacity(labels.len() * population.slos.len());
        for ((series, stage), values) in series.zip(labels) {
            let sums: Vec<Vec<u64>> = (0..layout.windows.len())
                .map(|w| {
                    let mut out = vec![0; layout.width];
                    series.sum(stage, layout, w, at_ms, &mut out);
                    out
                })
                .collect();
            let percentiles = percentiles(series, stage, layout, at_ms, &mut acc);
            let mut lifetime = vec![0; layout.width];
            series.lifetime(stage, layout, &mut lifetime);
            let labels: Vec<(String, String)> = population
                .label_names
                .iter()
                .zip(values.iter())
                .map(|(k, v)| (k.clone(), v.to_string()))
                .collect();
            for (j, &s) in population.slos.iter().enumerate() {
                let slo = &self.slos[s];
                let report_of = |w: &Span| {
                    let i = layout.windows.iter().position(|(lw, _)| lw == w);
                    let i = i.expect("every SLO window is in its population's layout");
                    let (total, good) = (sums[i][0], sums[i][1 + j]);
                    WindowReport {
                        window: *w,
                        total,
                        good,
                        sli: report::sli(good, total),
                        burn_rate: report::burn_rate(good, total, slo.objective),
                        latency_ms: percentiles.iter().find(|(pw, _)| pw == w).map(|p| p.1),
                    }
                };
                let windows: Vec<WindowReport> = slo.windows.iter().map(report_of).collect();
                let alert_windows = alert_only[s].iter().map(report_of).collect();
                let own = windows
                    .iter()
                    .find(|w| w.window == slo.window)
                    .expect("own window");
                let baseline = report::baseline::baseline(own.good, own.total, &self.ladder);
                let budget_policy = report::budget::budget_action(
                    &slo.budget_policy,
                    own.good,
                    own.total,
                    slo.objective,
                );
                out.push((
                    s,
                    SeriesReport {
                        name: slo.name.clone(),
                        labels: labels.clone(),
                        objective: slo.objective,
                        window: slo.window,
                        tier: slo.tier.clone(),
                        error_budget_remaining: report::error_budget_remaining(
                            own.good,
                            own.total,
                            slo.objective,
                        ),
                        windows,
                        alert_windows,
                        lifetime: report::Lifetime {
                            total: lifetime[0],
                            good: lifetime[1 + j],
                        },
                        composite: None,
                        baseline,
                        budget_policy,
                    },
                ));
            }
        }
        out
    }
}

/// Percentiles of every window that keeps them. The windows share one end, so panes are
/// added once, from the shortest window outwards.
fn percentiles(
    series: &Series,
    stage: &Stage,
    layout: &Layout,
    at_ms: i64,
    acc: &mut Accumulator,
) -> Vec<(Span, Option<[f64; 4]>)> {
    let Some(tier) = &layout.latency else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut covered_from = None;
    for &window in &layout.percentile_windows {
        let (lo, hi) = pane_range(at_ms, window, tier.step);
        series.sum_latency(stage, layout, lo, covered_from.unwrap_or(hi), acc);
        covered_from = Some(lo);
        out.push((window, acc.quantiles()));
    }
    acc.clear();
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// A population large enough to be read on two threads reports exactly what one
    /// thread reports, row for row, percentiles and overflow included.
    #[test]
    fn two_threads_report_what_one_does() {
        let config = crate::config::parse(
            "limits: { max_series_per_slo: 3000 }\n\
             slos:\n  - { name: a, service: \"*\", group_by: [route], indicator: { type: latency, \
             threshold_ms: 100 }, objective: 99, window: 30d }\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        let mut engine = Engine::new(&config);
        let mut traffic = crate::traffic::Generator::numbered(1, 40, 90);
        let mut line = Vec::new();
        for i in 0..40_000i64 {
            line.clear();
            traffic.write_event(1_795_262_400_000 + i * 30, &mut line);
            engine.ingest(&line);
        }
        assert!(engine.series[0].series.len() > PARALLEL_FROM);
        let at = crate::replay::next_minute(engine.newest_event_ms().unwrap());
        let (one, two) = (engine.report(at, 1).unwrap(), engine.report(at, 2).unwrap());
        assert_eq!(one, two);
        assert_eq!(one.slos.len(), engine.series[0].series.len());
        assert!(one.overflow[0].combinations > 0 && one.overflow[0].events > 0);
    }
}
