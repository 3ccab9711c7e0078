//! Scale-out's stage 2 on the engine (docs/scale-out.md): partial buckets in, made by
//! stage 1 on other instances; and series state out and in by label, so that the series
//! of one repartition partition can be written to the changelog, let go, and taken up
//! by another instance.
//!
//! A series is known across instances by its population's selection key and its label
//! values, never by an index: indices are local to one engine.

use super::batch::Newest;
use super::{Engine, SeriesStore};
use crate::report::EventCounts;
use crate::state::codec::{CodecError, Reader, Writer};
use crate::window::{LADDER_MS, PaneClock, Series, Stage};

/// What became of a partial bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartialOutcome {
    Counted,
    /// Behind what the longest ring holds: counted as `too_old`, as its events would be.
    TooOld,
}

impl Engine {
    /// The population with this selection key.
    pub fn population_of(&self, selection: &str) -> Option<usize> {
        self.selections.iter().position(|s| s == selection)
    }

    pub fn populations(&self) -> usize {
        self.selections.len()
    }

    /// Counters per series of a population: the total, then one good count per SLO.
    pub fn population_width(&self, population: usize) -> usize {
        self.classifier.populations()[population].layout.width
    }

    /// Which events a population counts and how it splits them into series.
    pub fn selection(&self, population: usize) -> &str {
        &self.selections[population]
    }

    /// What a population's series state must match to be read back
    /// ([`crate::classify::Population::state_key`]).
    pub fn state_key(&self, population: usize) -> &str {
        &self.state_keys[population]
    }

    /// Label values of each series of a population.
    pub fn series_labels(&self, population: usize) -> &[Box<[Box<str>]>] {
        self.classifier.series_labels(population)
    }

    /// Counts a partial bucket of one series: `counts` (the total, then each good count;
    /// the population's width) of the events of the second `second` (epoch seconds),
    /// their latency `buckets`, sorted, and the newest event time among them.
    pub fn add_partial(
        &mut self,
        population: usize,
        labels: Box<[Box<str>]>,
        second: i64,
        newest_ms: i64,
        counts: &[u32],
        buckets: &[u16],
    ) -> PartialOutcome {
        let clock = PaneClock::at(second * LADDER_MS[0]);
        let (step, len) = self.retention;
        if let Some(n) = self.newest
            && clock.pane[step] <= n.pane - i64::from(len)
        {
            self.counts.too_old += u64::from(counts[0]);
            return PartialOutcome::TooOld;
        }
        if self.newest.is_none_or(|n| n.ms < newest_ms) {
            let pane = PaneClock::at(newest_ms).pane[step];
            self.newest = Some(Newest {
                ms: newest_ms,
                pane,
            });
        }
        let i = self.classifier.series_of(population, labels) as usize;
        let layout = &self.classifier.populations()[population].layout;
        let store: &mut SeriesStore = &mut self.series[population];
        if i == store.series.len() {
            store.series.push(Series::new(layout));
            store.stages.push(Stage::default());
        }
        let (stage, series) = (&mut store.stages[i], &mut store.series[i]);
        Series::add(stage, series, layout, &clock, counts, buckets);
        PartialOutcome::Counted
    }

    /// Adds what another part of this instance read (stage 1) to the event counts.
    pub fn add_event_counts(&mut self, counts: &EventCounts) {
        self.counts.add(counts);
    }

    /// Writes the state of the series of `labels` in `population`; `false` if there is
    /// none.
    pub fn write_series(&self, population: usize, labels: &[Box<str>], w: &mut Writer) -> bool {
        let all = self.classifier.series_labels(population);
        let Some(i) = all.iter().position(|l| **l == *labels) else {
            return false;
        };
        let store = &self.series[population];
        store.series[i].write_state(&store.stages[i], w);
        true
    }

    /// Sets the series of `labels` in `population` to a state [`Engine::write_series`]
    /// wrote (with the same [`Engine::state_key`]), replacing any it has.
    pub fn read_series(
        &mut self,
        population: usize,
        labels: Box<[Box<str>]>,
        r: &mut Reader,
    ) -> Result<(), CodecError> {
        let layout = &self.classifier.populations()[population].layout;
        let (series, stage) = Series::read_state(layout, r)?;
        let i = match self.classifier.restore_series(population, labels.clone()) {
            Some(i) => i,
            None => self.classifier.series_of(population, labels),
        } as usize;
        let store = &mut self.series[population];
        if i == store.series.len() {
            store.series.push(series);
            store.stages.push(stage);
        } else {
            store.series[i] = series;
            store.stages[i] = stage;
        }
        Ok(())
    }

    /// Keeps the series for which `keep(population, labels)` holds and lets the others
    /// go; returns how many went.
    pub fn retain_series(&mut self, mut keep: impl FnMut(usize, &[Box<str>]) -> bool) -> usize {
        let mut gone = 0;
        for p in 0..self.series.len() {
            let moved = self.classifier.retain_series(p, |labels| keep(p, labels));
            let old = std::mem::take(&mut self.series[p]);
            let store = &mut self.series[p];
            for ((series, stage), to) in old.series.into_iter().zip(old.stages).zip(&moved) {
                match to {
                    Some(_) => {
                        store.series.push(series);
                        store.stages.push(stage);
                    }
                    None => gone += 1,
                }
            }
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::parse;

    const CONFIG: &str = "
slos:
  - name: pay-availability
    service: checkout
    group_by: [route]
    indicator: { type: availability }
    objective: 99.9
    window: 1d
  - name: pay-latency
    service: checkout
    group_by: [route]
    indicator: { type: latency, threshold_ms: 300 }
    objective: 99
    window: 1d
";

    fn event(ts_ms: i64, route: &str, status: u16, latency_ms: f64) -> Vec<u8> {
        format!(
            r#"{{"timestamp":{ts_ms},"service":"checkout","route":"{route}","status":{status},"latency_ms":{latency_ms}}}"#
        )
        .into_bytes()
    }

    fn labels(values: &[&str]) -> Box<[Box<str>]> {
        values.iter().map(|&v| Box::from(v)).collect()
    }

    /// Partials counted one by one give the report that the same events give.
    #[test]
    fn partials_report_as_their_events() {
        let config = parse(CONFIG, Path::new("t.yaml")).unwrap();
        let t0 = 1_800_000_000_000;
        let mut direct = Engine::new(&config);
        let events = [
            event(t0 + 10, "/a", 200, 100.0),
            event(t0 + 20, "/a", 503, 400.0),
            event(t0 + 1_500, "/a", 200, 350.0),
        ];
        direct.ingest_all(events.iter().map(Vec::as_slice));
        let mut partial = Engine::new(&config);
        let p = partial.population_of(direct.selection(0)).unwrap();
        assert_eq!(partial.population_width(p), 3);
        let b = |ms| crate::window::latency::bucket_of(ms) as u16;
        let mut first = vec![b(100.0), b(400.0)];
        first.sort_unstable();
        let s = t0 / 1000;
        let outcome = partial.add_partial(p, labels(&["/a"]), s, t0 + 20, &[2, 1, 1], &first);
        assert_eq!(outcome, PartialOutcome::Counted);
        partial.add_partial(
            p,
            labels(&["/a"]),
            s + 1,
            t0 + 1_500,
            &[1, 1, 0],
            &[b(350.0)],
        );
        partial.add_event_counts(direct.counts());
        let at = t0 + 60_000;
        assert_eq!(partial.evaluate(at), direct.evaluate(at));
    }

    #[test]
    fn series_move_between_engines_by_label() {
        let config = parse(CONFIG, Path::new("t.yaml")).unwrap();
        let t0 = 1_800_000_000_000;
        let mut from = Engine::new(&config);
        for route in ["/a", "/b", "/c"] {
            from.ingest(&event(t0, route, 200, 10.0));
        }
        let mut to = Engine::new(&config);
        to.ingest(&event(t0, "/b", 500, 10.0));
        let mut w = Writer::default();
        assert!(from.write_series(0, &labels(&["/b"]), &mut w));
        to.read_series(0, labels(&["/b"]), &mut Reader::new(&w.buf))
            .unwrap();
        assert_eq!(from.retain_series(|_, l| &*l[0] != "/b"), 1);
        let at = t0 + 60_000;
        let rows = |e: &Engine| {
            let report = e.evaluate(at).unwrap();
            let mut rows: Vec<(String, u64, u64)> = report
                .slos
                .iter()
                .map(|s| (s.labels[0].1.clone(), s.windows[0].total, s.windows[0].good))
                .collect();
            rows.sort();
            rows.dedup();
            rows
        };
        assert_eq!(rows(&from), [("/a".into(), 1, 1), ("/c".into(), 1, 1)]);
        // The state read back replaced the series `to` had.
        assert_eq!(rows(&to), [("/b".into(), 1, 1)]);
        // New events still find their series after the indices moved.
        from.ingest(&event(t0 + 1, "/c", 500, 10.0));
        assert!(rows(&from).contains(&("/c".into(), 2, 1)));
    }
}
