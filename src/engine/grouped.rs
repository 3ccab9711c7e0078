//! Counting a long run of events series by series, for `replay`.
//!
//! Why: when a series sees an event only every few seconds, nearly every event moves it
//! on by a pane, and counting it touches the series' rings, which are out of cache: a
//! few misses per event, one after the other (see docs/performance.md). Here a block's
//! events are admitted and looked up as they arrive, in order, but counted later, half a
//! million series counts at a time, grouped by series: a series then sees all of its
//! events of the group in a row, and its rings are read into cache once per group, not
//! once per event. A full group is sorted, then counted bit by bit while the next one
//! fills, so that the work per block stays even.
//!
//! Invariant: the state afterwards is the same as counting each event as it arrived.
//! Every decision that depends on the order of all events (`too_old`, the horizon, the
//! stream cache, which series a new combination gets) is taken when the event is
//! admitted, in arrival order; what is deferred only changes the state of one series,
//! and each series still sees its events in arrival order (the grouping is a stable
//! counting sort). Nothing can read the engine in between: [`GroupedIngest`] borrows it
//! until [`GroupedIngest::finish`].

use super::{DecodedBlock, Engine, SeriesStore, snapshot};
use crate::classify::SeriesRef;
use crate::decode::Invalid;
use crate::window::{PaneClock, Series, Stage};

/// Series counts held back before they are counted: 12 MB of records, enough that a
/// series with an event every ten seconds has dozens in each group (in `replay_2m`,
/// 5,050 series and two per event, about a hundred). Half or twice as many measured
/// slower (docs/performance.md).
const GROUP_RECORDS: usize = 1 << 19;

/// One event's count in one series, held back.
#[derive(Clone, Copy)]
struct Record {
    target: SeriesRef,
    timestamp_ms: i64,
    good: u32,
    bucket: u32,
}

const NO_RECORD: Record = Record {
    target: SeriesRef {
        population: 0,
        series: 0,
    },
    timestamp_ms: 0,
    good: 0,
    bucket: 0,
};

/// An engine taking blocks whose counting is deferred and grouped by series; see the
/// module's doc. Dropping it without [`GroupedIngest::finish`] counts what is held back
/// too, unless the thread is panicking.
pub struct GroupedIngest<'e> {
    engine: &'e mut Engine,
    /// The group filling, in arrival order.
    records: Vec<Record>,
    /// The group before it, by series, counted up to `next`.
    sorted: Vec<Record>,
    next: usize,
    /// Per population and series, how many of `records` count in it.
    held: Vec<Vec<u32>>,
}

impl Engine {
    /// This engine, counting in groups of series until [`GroupedIngest::finish`].
    pub fn grouped(&mut self) -> GroupedIngest<'_> {
        let populations = self.series.len();
        GroupedIngest {
            engine: self,
            records: Vec::new(),
            sorted: Vec::new(),
            next: 0,
            held: vec![Vec::new(); populations],
        }
    }
}

impl GroupedIngest<'_> {
    /// The same as [`Engine::ingest_block`], except that the block's events are counted
    /// in their series later, with others.
    pub fn ingest_block(&mut self, block: &DecodedBlock) {
        debug_assert!(block.raw_ends.is_empty(), "a block counted unfinished");
        let before = self.records.len();
        let engine = &mut *self.engine;
        let (records, held) = (&mut self.records, &mut self.held);
        engine.admit_decoded(&block.events, |engine, batch| {
            engine.look_up(batch, &block.keys);
            let populations = engine.classifier.populations();
            for e in batch.iter() {
                for &target in engine.classifier.targets(e.stream) {
                    let population = &populations[target.population as usize];
                    let counts = &mut held[target.population as usize];
                    let i = target.series as usize;
                    if i >= counts.len() {
                        counts.resize(i + 1, 0);
                    }
                    counts[i] += 1;
                    records.push(Record {
                        target,
                        timestamp_ms: e.timestamp_ms,
                        good: population.good_mask(e.status, e.latency_ms),
                        bucket: e.bucket,
                    });
                }
            }
        });
        (0..block.too_large).for_each(|_| engine.reject(Invalid::TooLarge));
        // The group before this one is counted as this one fills, a little faster, so
        // that the work per block stays even (a whole group at once would stall a
        // pipeline that feeds this one, as `replay`'s does).
        let added = self.records.len() - before;
        self.count_sorted(added + added / 4);
        if self.records.len() >= GROUP_RECORDS {
            self.count_sorted(usize::MAX);
            self.sort_held();
        }
    }

    /// Counts everything held back, and gives the engine back.
    pub fn finish(mut self) {
        self.count_all();
    }

    fn count_all(&mut self) {
        self.count_sorted(usize::MAX);
        self.sort_held();
        self.count_sorted(usize::MAX);
    }

    /// Moves the records held into `sorted`, grouped by series, each series' in arrival
    /// order. `sorted` must be counted already.
    fn sort_held(&mut self) {
        debug_assert_eq!(self.next, self.sorted.len(), "a group sorted over another");
        if self.records.is_empty() {
            return;
        }
        let Engine {
            classifier,
            series,
            capture,
            ..
        } = &mut *self.engine;
        if let Some(capture) = capture {
            let targets = self.records.iter().map(|r| &r.target);
            snapshot::save_before_write(capture, classifier, series, targets);
        }
        // A stable counting sort by (population, series), from the counts kept as the
        // records came in: `held[p][i]` becomes where series i's records start.
        let mut at = 0;
        for counts in &mut self.held {
            for c in counts.iter_mut() {
                let n = *c;
                *c = at;
                at += n;
            }
        }
        // Every slot below the group's length is written once: no need to clear.
        self.sorted.resize(self.records.len(), NO_RECORD);
        self.sorted.truncate(self.records.len());
        for r in &self.records {
            let at = &mut self.held[r.target.population as usize][r.target.series as usize];
            self.sorted[*at as usize] = *r;
            *at += 1;
        }
        self.held.iter_mut().for_each(|counts| counts.fill(0));
        self.records.clear();
        self.next = 0;
    }

    /// Counts up to `n` more of the sorted records in their series.
    fn count_sorted(&mut self, n: usize) {
        let Engine {
            classifier, series, ..
        } = &mut *self.engine;
        let end = self.next.saturating_add(n).min(self.sorted.len());
        let populations = classifier.populations();
        // Series new in this group have the next indices of their population, and each
        // has a record (the event that made it): in this order, each is made when its
        // index is the number of series held.
        for r in &self.sorted[self.next..end] {
            let p = r.target.population as usize;
            let layout = &populations[p].layout;
            let store: &mut SeriesStore = &mut series[p];
            let i = r.target.series as usize;
            if i == store.series.len() {
                store.series.push(Series::new(layout));
                store.stages.push(Stage::default());
            }
            let clock = PaneClock::at(r.timestamp_ms);
            let (stage, state) = (&mut store.stages[i], &mut store.series[i]);
            Series::record(stage, state, layout, &clock, r.good, r.bucket);
        }
        self.next = end;
    }
}

impl Drop for GroupedIngest<'_> {
    fn drop(&mut self) {
        // Unwinding already: counting more could only panic again.
        if !std::thread::panicking() {
            self.count_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::next_minute;

    /// Sparse series, late and invalid events, several blocks and groups: the same
    /// counts and report as one event at a time.
    #[test]
    fn grouping_by_series_changes_nothing() {
        let config = crate::config::parse(
            "slos:\n  - { name: a, service: \"*\", group_by: [route], indicator: { type: latency, \
             threshold_ms: 100 }, objective: 99, window: 30d }\n  - { name: b, service: \"*\", \
             indicator: { type: availability }, objective: 99.5, window: 1d }\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        let mut traffic = crate::traffic::Generator::numbered(7, 40, 30);
        let mut lines: Vec<Vec<u8>> = Vec::new();
        for i in 0..(GROUP_RECORDS as i64 / 2 + 5_000) {
            // Late by up to ten minutes now and then, and too old once in a while.
            let late = match i % 211 {
                0 => 600_000,
                1 => 40 * 86_400_000,
                _ => 0,
            };
            let mut line = Vec::new();
            traffic.write_event(1_795_262_400_000 + i * 150 - late, &mut line);
            lines.push(line);
            if i % 1000 == 7 {
                lines.push(b"{\"service\":\"x\"}".to_vec());
            }
        }
        let payloads: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let mut one = Engine::new(&config);
        payloads.iter().for_each(|p| one.ingest(p));
        let mut two = Engine::new(&config);
        let mut decoder = two.block_decoder();
        let mut grouped = two.grouped();
        let mut block = DecodedBlock::default();
        for chunk in payloads.chunks(1000) {
            decoder.decode(chunk, chunk.len(), 0, &mut block);
            grouped.ingest_block(&block);
        }
        grouped.finish();
        assert_eq!(two.counts(), one.counts());
        assert!(one.counts().too_old > 0, "the input has events too old");
        assert_eq!(two.series_count(), one.series_count());
        let at = next_minute(one.newest_event_ms().unwrap());
        for at in [at, at - 37_000, at - 200_000] {
            assert_eq!(two.evaluate(at).unwrap(), one.evaluate(at).unwrap());
        }
    }
}
