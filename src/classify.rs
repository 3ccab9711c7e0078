//! Step 2 of the data path: [`Event`] → the series it counts in.
//!
//! SLOs that select the same events (same service, selector and grouping) form one
//! [`Population`]: its series count the total and the latency histogram once, and one
//! good count per SLO. An availability and a latency SLO on the same service, the usual
//! pair, therefore cost one series update per event, not two.
//!
//! Which series an event belongs to depends only on its service, route and labels, so the
//! answer is cached per distinct combination (a stream), under an encoding of those fields
//! (the stream key): one hash lookup per event, and the SLO matching runs once per stream.
//! Keys are written into the caller's buffer, so that a batch of events can be looked up
//! together.
//!
//! Memory is bounded whatever the cardinality of the input (`limits.max_series_per_slo`):
//! - a population holds at most that many series of real label combinations; a new
//!   combination beyond it counts in the population's one *overflow series*, whose every
//!   label value is [`OVERFLOW`], and is not remembered (only refused, see [`Overflow`]);
//! - the stream cache holds at most [`Classifier::max_streams`] streams and is emptied
//!   when full: it is only a cache, and streams resolve again through the bounded series
//!   tables to the same series.

use crate::config::{Config, Field, Glob, Indicator, MAX_LABELS, ServiceMatch, Slo, Span};
use crate::window::Layout;

mod series;
mod streams;

use series::Resolved;
pub use series::{OVERFLOW, Overflow, SeriesTable};
pub use streams::StreamKeys;
use streams::{StreamCache, decode_key};

/// Most SLOs one population counts: the good flags of an event travel as a u32 mask.
const MAX_SLOS_PER_POPULATION: usize = 32;

/// Streams the cache holds at least, whatever the limits: enough for the streams of a
/// busy fleet's series.
const MIN_STREAMS: usize = 1 << 16;

/// SLOs that select the same events, and the layout of their series.
#[derive(Debug)]
pub struct Population {
    pub service: ServiceMatch,
    pub selector: Vec<(Field, String)>,
    pub selector_globs: Vec<(Field, Glob)>,
    pub group_by: Vec<Field>,
    /// Indices into `Config::slos`; bit `j` of a good mask is `slos[j]`.
    pub slos: Vec<usize>,
    pub indicators: Vec<Indicator>,
    pub layout: Layout,
    /// Label names of every series: `service` first when the SLO matches more than one
    /// service.
    pub label_names: Vec<String>,
}

impl Population {
    /// The mask of SLOs for which a request with this outcome is good.
    #[inline]
    pub fn good_mask(&self, status: u16, latency_ms: f64) -> u32 {
        let mut mask = 0;
        for (j, indicator) in self.indicators.iter().enumerate() {
            mask |= u32::from(indicator.is_good(status, latency_ms)) << j;
        }
        mask
    }

    /// What a checkpoint of this population's series must match to be restored: its
    /// selection, grouping, SLOs and indicators, and the layout of its state. Fields are
    /// named, not indexed, so that reordering `events.labels` keeps the key.
    pub fn state_key(&self, config: &Config) -> String {
        let slos: Vec<(&str, &Indicator)> = self
            .slos
            .iter()
            .zip(&self.indicators)
            .map(|(&s, i)| (config.slos[s].name.as_str(), i))
            .collect();
        let l = &self.layout;
        format!(
            "{} slos={slos:?} tiers={:?} latency={:?}",
            self.selection_key(config),
            l.tiers,
            l.latency
        )
    }

    /// Which events this population counts and how it splits them into series: the part
    /// of [`Population::state_key`] that a series' labels depend on.
    pub fn selection_key(&self, config: &Config) -> String {
        selection(
            config,
            &self.service,
            &self.selector,
            &self.selector_globs,
            &self.label_names,
        )
    }

    fn matches(&self, event: &Fields) -> bool {
        self.service.matches(event.service)
            && self
                .selector
                .iter()
                .all(|(field, want)| value(event, *field) == Some(want.as_str()))
            && self
                .selector_globs
                .iter()
                .all(|(field, glob)| value(event, *field).is_some_and(|v| glob.matches(v)))
    }

    fn series_key(&self, event: &Fields) -> Box<[Box<str>]> {
        let service = self.service.per_service().then_some(event.service);
        let grouped = self.group_by.iter().map(|f| value(event, *f).unwrap_or(""));
        service.into_iter().chain(grouped).map(Box::from).collect()
    }
}

/// The [`Population::selection_key`] of the population that counts `slo`.
pub fn selection_of(config: &Config, slo: &Slo) -> String {
    let labels = slo.label_names(&config.events);
    selection(
        config,
        &slo.service,
        &slo.selector,
        &slo.selector_globs,
        &labels,
    )
}

fn selection(
    config: &Config,
    service: &ServiceMatch,
    selector: &[(Field, String)],
    globs: &[(Field, Glob)],
    label_names: &[String],
) -> String {
    let field = |f: &Field| match f {
        Field::Route => "route".to_owned(),
        Field::Label(i) => config.events.labels[*i].name.clone(),
    };
    let selector: Vec<(String, &str)> = selector
        .iter()
        .map(|(f, v)| (field(f), v.as_str()))
        .collect();
    // Only populations with globs (from services rules) have this part, so that the
    // keys of checkpoints written before rules existed still restore.
    let globs = if globs.is_empty() {
        String::new()
    } else {
        let globs: Vec<(String, &Glob)> = globs.iter().map(|(f, g)| (field(f), g)).collect();
        format!(" globs={globs:?}")
    };
    format!("service={service:?} selector={selector:?}{globs} labels={label_names:?}")
}

/// The fields of an event that decide its series.
pub struct Fields<'a> {
    pub service: &'a str,
    pub route: Option<&'a str>,
    pub labels: [Option<&'a str>; MAX_LABELS],
}

fn value<'a>(event: &Fields<'a>, field: Field) -> Option<&'a str> {
    match field {
        Field::Route => event.route,
        Field::Label(i) => event.labels[i],
    }
}

/// A series: its population and its index there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeriesRef {
    pub population: u32,
    pub series: u32,
}

pub struct Classifier {
    populations: Vec<Population>,
    /// Per population.
    tables: Vec<SeriesTable>,
    /// Real series a population holds at most (`limits.max_series_per_slo`).
    max_series: u32,
    /// SLO names, for the warning of a population's first overflow.
    slo_names: Vec<String>,
    streams: StreamCache,
    max_streams: usize,
    keys: StreamKeys,
}

impl Classifier {
    pub fn new(config: &Config) -> Classifier {
        Classifier::grouped(config, &vec![0; config.slos.len()], None)
    }

    /// As [`Classifier::new`], with SLOs of the same selection sharing a population only
    /// when they are of the same group (`groups[i]` for `config.slos[i]`), and with the
    /// stream keys of an earlier classifier (so that keys hashed for it stay valid).
    /// Groups keep apart SLOs whose series have a different past: those that carry an
    /// earlier population's state, and those that start empty (`engine::carry`).
    pub fn grouped(config: &Config, groups: &[u32], keys: Option<StreamKeys>) -> Classifier {
        let mut populations: Vec<Population> = Vec::new();
        let mut group_of: Vec<u32> = Vec::new();
        for (i, slo) in config.slos.iter().enumerate() {
            let same = populations.iter_mut().zip(&group_of).find(|(p, g)| {
                p.service == slo.service
                    && p.selector == slo.selector
                    && p.selector_globs == slo.selector_globs
                    && p.group_by == slo.group_by
                    && **g == groups[i]
                    && p.slos.len() < MAX_SLOS_PER_POPULATION
            });
            match same {
                Some((p, _)) => {
                    p.slos.push(i);
                    p.indicators.push(slo.indicator);
                }
                None => {
                    group_of.push(groups[i]);
                    populations.push(Population {
                        service: slo.service.clone(),
                        selector: slo.selector.clone(),
                        selector_globs: slo.selector_globs.clone(),
                        group_by: slo.group_by.clone(),
                        slos: vec![i],
                        indicators: vec![slo.indicator],
                        layout: Layout::new(&[], 0),
                        label_names: slo.label_names(&config.events),
                    });
                }
            }
        }
        for p in &mut populations {
            let mut windows: Vec<Span> = p
                .slos
                .iter()
                .flat_map(|&i| config.slos[i].engine_windows())
                .collect();
            windows.sort();
            windows.dedup();
            let mut reported: Vec<Span> = p
                .slos
                .iter()
                .flat_map(|&i| config.slos[i].windows.iter().copied())
                .collect();
            reported.sort();
            reported.dedup();
            p.layout = Layout::with_percentiles(&windows, p.slos.len(), &reported);
        }
        let max_series = config.limits.max_series_per_slo;
        // Twice the series the populations can hold: room for streams that differ only
        // in fields that no SLO groups by, before the cache is emptied.
        let max_streams = (max_series as usize)
            .saturating_mul(populations.len())
            .saturating_mul(2)
            .max(MIN_STREAMS);
        Classifier {
            tables: populations.iter().map(|_| SeriesTable::default()).collect(),
            populations,
            max_series,
            slo_names: config.slos.iter().map(|s| s.name.clone()).collect(),
            streams: StreamCache::default(),
            max_streams,
            keys: keys.unwrap_or_else(|| StreamKeys::new(config.events.labels.len())),
        }
    }

    /// Takes the series table of a population (leaving it empty), to hand it to a
    /// population of another classifier with the same selection.
    pub fn take_table(&mut self, population: usize) -> SeriesTable {
        std::mem::take(&mut self.tables[population])
    }

    /// Sets a population's series table: one taken from a population of the same
    /// selection, whose series are then this population's, in the same order.
    pub fn put_table(&mut self, population: usize, table: SeriesTable) {
        self.tables[population] = table;
    }

    pub fn populations(&self) -> &[Population] {
        &self.populations
    }

    /// Label values of a series, in the order of its population's `label_names`.
    pub fn series_labels(&self, population: usize) -> &[Box<[Box<str>]>] {
        &self.tables[population].labels
    }

    /// Sets how many combinations a population's limit had refused, from a checkpoint.
    /// (Which ones is not kept: a combination refused before the checkpoint may be
    /// counted again after a restore.)
    pub fn restore_refused(&mut self, population: usize, refused: u64) {
        self.tables[population].overflow.refused = refused;
    }

    /// What the series limit of a population has refused, and its overflow series.
    pub fn overflow(&self, population: usize) -> &Overflow {
        &self.tables[population].overflow
    }

    /// Most streams the cache holds before it is emptied.
    pub fn max_streams(&self) -> usize {
        self.max_streams
    }

    /// Streams cached now.
    pub fn cached_streams(&self) -> usize {
        self.streams.len()
    }

    /// Makes room for `n` new streams: empties the stream cache if it could not take
    /// them. Stream numbers handed out before are void after it; call it before looking
    /// up a batch of `n` events, never between a lookup and its [`Classifier::targets`].
    #[inline]
    pub fn make_room(&mut self, n: usize) {
        if self.streams.len() + n > self.max_streams {
            self.clear_streams();
        }
    }

    /// Empties the stream cache, keeping its allocations (bounded by `max_streams`).
    #[cold]
    fn clear_streams(&mut self) {
        self.streams.clear();
    }

    /// Adds a series restored from a checkpoint, as the next of its population; `None`
    /// if the population already has a series with these label values.
    pub fn restore_series(&mut self, population: usize, labels: Box<[Box<str>]>) -> Option<u32> {
        self.tables[population].restore(labels)
    }

    /// The series of a label combination in a population, created while the limit
    /// allows, else the overflow series (as for a new stream's events).
    pub fn series_of(&mut self, population: usize, labels: Box<[Box<str>]>) -> u32 {
        let table = &mut self.tables[population];
        match table.resolve(labels, self.max_series, &self.keys.hasher) {
            Resolved::Series(series) => series,
            Resolved::FirstOverflow(series) => {
                let population = &self.populations[population];
                warn_overflow(population, &self.slo_names, self.max_series);
                series
            }
        }
    }

    /// Keeps the series of a population for which `keep(labels)` holds: old index → new
    /// index. Empties the stream cache, whose targets name the old indices.
    pub fn retain_series(
        &mut self,
        population: usize,
        keep: impl FnMut(&[Box<str>]) -> bool,
    ) -> Vec<Option<u32>> {
        self.clear_streams();
        self.tables[population].retain(keep)
    }

    /// The writer of this classifier's stream keys.
    pub fn stream_keys(&self) -> &StreamKeys {
        &self.keys
    }

    /// The stream of a key, created (and matched against every SLO) on first sight. Call
    /// [`Classifier::make_room`] before each batch of lookups, so that the cache stays
    /// bounded.
    #[inline]
    pub fn stream(&mut self, hash: u64, key: &[u8]) -> u32 {
        match self.streams.find(hash, key) {
            Some(i) => i,
            None => self.new_stream(hash, key),
        }
    }

    #[cold]
    fn new_stream(&mut self, hash: u64, key: &[u8]) -> u32 {
        let fields = decode_key(key, self.keys.n_labels);
        let mut targets = Vec::new();
        for (p, population) in self.populations.iter().enumerate() {
            if !population.matches(&fields) {
                continue;
            }
            let series_key = population.series_key(&fields);
            let table = &mut self.tables[p];
            let series = match table.resolve(series_key, self.max_series, &self.keys.hasher) {
                Resolved::Series(series) => series,
                Resolved::FirstOverflow(series) => {
                    warn_overflow(population, &self.slo_names, self.max_series);
                    series
                }
            };
            targets.push(SeriesRef {
                population: p as u32,
                series,
            });
        }
        self.streams.insert(hash, key, &targets, &self.keys)
    }

    /// The series a stream's events count in. New series get the next index of their
    /// population, in the order their first event arrives.
    #[inline]
    pub fn targets(&self, stream: u32) -> &[SeriesRef] {
        self.streams.targets(stream)
    }
}

/// Once per population: the limit is reached, and what to do about it.
#[cold]
fn warn_overflow(population: &Population, slo_names: &[String], max_series: u32) {
    let slos: Vec<String> = population
        .slos
        .iter()
        .map(|&i| format!("`{}`", slo_names[i]))
        .collect();
    tracing::warn!(
        "series limit reached by SLO {}: {max_series} series each \
         (limits.max_series_per_slo); events of new combinations of {} now count in one \
         series whose labels are `{OVERFLOW}`. Raise the limit, or drop a label with many \
         values from group_by",
        slos.join(", "),
        population.label_names.join(", ")
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::MAX_LABELS;
    use crate::decode::Event;

    const CONFIG: &str = r#"
events: { labels: [operator] }
slos:
  - { name: avail, service: checkout, group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: fast, service: checkout, group_by: [route], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
  - { name: pay, service: checkout, selector: { route: "POST /pay" }, indicator: { type: availability }, objective: 99, window: 7d }
  - { name: fleet, service: "*", group_by: [operator], indicator: { type: availability }, objective: 99.5, window: 30d }
"#;

    fn targets(c: &mut Classifier, event: &Event) -> Vec<SeriesRef> {
        let mut key = Vec::new();
        let hash = c.stream_keys().write(event, &mut key);
        c.make_room(1);
        let stream = c.stream(hash, &key);
        c.targets(stream).to_vec()
    }

    pub(super) fn event<'a>(
        service: &'a str,
        route: Option<&'a str>,
        op: Option<&'a str>,
    ) -> Event<'a> {
        let mut labels = [None; MAX_LABELS];
        labels[0] = op;
        Event {
            timestamp_ms: 0,
            service,
            route,
            status: 200,
            latency_ms: 1.0,
            labels,
        }
    }

    #[test]
    fn slos_with_the_same_selection_share_a_population() {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let c = Classifier::new(&config);
        let slos: Vec<Vec<usize>> = c.populations().iter().map(|p| p.slos.clone()).collect();
        assert_eq!(slos, [vec![0, 1], vec![2], vec![3]]);
        assert_eq!(c.populations()[0].good_mask(200, 301.0), 0b01);
        assert_eq!(c.populations()[0].good_mask(503, 12.0), 0b10);
        assert_eq!(c.populations()[2].label_names, ["service", "operator"]);
    }

    #[test]
    fn events_reach_every_matching_series_once() {
        let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
        let mut c = Classifier::new(&config);
        let pay = targets(&mut c, &event("checkout", Some("POST /pay"), Some("eu")));
        assert_eq!(pay.len(), 3);
        let cart = targets(&mut c, &event("checkout", Some("GET /cart"), None));
        assert_eq!(
            cart,
            [
                SeriesRef {
                    population: 0,
                    series: 1
                },
                SeriesRef {
                    population: 2,
                    series: 1
                }
            ]
        );
        let again = targets(&mut c, &event("checkout", Some("POST /pay"), Some("eu")));
        assert_eq!(again, pay);
        assert_eq!(
            targets(&mut c, &event("search", None, Some("eu"))),
            [SeriesRef {
                population: 2,
                series: 2
            }]
        );
        let fleet: Vec<Vec<&str>> = c
            .series_labels(2)
            .iter()
            .map(|k| k.iter().map(|s| &**s).collect())
            .collect();
        assert_eq!(
            fleet,
            [
                vec!["checkout", "eu"],
                vec!["checkout", ""],
                vec!["search", "eu"]
            ]
        );
    }

    fn labels(c: &Classifier, population: usize) -> Vec<Vec<&str>> {
        let all = c.series_labels(population).iter();
        all.map(|k| k.iter().map(|s| &**s).collect()).collect()
    }

    const LIMITED: &str = r#"
events: { labels: [operator] }
limits: { max_series_per_slo: 2 }
slos:
  - { name: routes, service: checkout, group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: fleet, service: "*", group_by: [operator], indicator: { type: availability }, objective: 99.5, window: 30d }
"#;

    fn series_of(c: &mut Classifier, route: &str, op: &str) -> Vec<u32> {
        let e = event("checkout", Some(route), Some(op));
        targets(c, &e).iter().map(|r| r.series).collect()
    }

    #[test]
    fn beyond_the_limit_new_combinations_share_the_overflow_series() {
        let config = crate::config::parse(LIMITED, Path::new("t.yaml")).unwrap();
        let mut c = Classifier::new(&config);
        assert_eq!(series_of(&mut c, "/a", "eu"), [0, 0]);
        assert_eq!(series_of(&mut c, "/b", "us"), [1, 1]);
        assert_eq!(c.overflow(0).series, None);
        // Both populations are full: new routes and operators go to series 2, created
        // for the purpose; known ones keep their series.
        assert_eq!(series_of(&mut c, "/c", "eu"), [2, 0]);
        assert_eq!(series_of(&mut c, "/d", "apac"), [2, 2]);
        assert_eq!(series_of(&mut c, "/b", "latam"), [1, 2]);
        for route in 0..100 {
            assert_eq!(series_of(&mut c, &format!("/r{route}"), "us")[0], 2);
        }
        assert_eq!(labels(&c, 0), [["/a"], ["/b"], [OVERFLOW]]);
        assert_eq!(
            labels(&c, 1),
            [["checkout", "eu"], ["checkout", "us"], [OVERFLOW, OVERFLOW]]
        );
        assert_eq!(c.overflow(0).series, Some(2));
        assert_eq!(c.overflow(0).refused, 102);
        // `apac` and `latam`: each combination counts once, whatever its streams.
        assert_eq!(c.overflow(1).refused, 2);
    }

    #[test]
    fn streams_resolve_to_the_same_series_after_the_cache_is_emptied() {
        let config = crate::config::parse(LIMITED, Path::new("t.yaml")).unwrap();
        let mut c = Classifier::new(&config);
        assert_eq!(c.max_streams(), 1 << 16);
        let routes = ["/a", "/b", "/c", "/d", "/a"];
        let before: Vec<Vec<u32>> = routes.iter().map(|r| series_of(&mut c, r, "eu")).collect();
        assert_eq!(c.cached_streams(), 4);
        c.make_room(c.max_streams());
        assert_eq!(c.cached_streams(), 0);
        let after: Vec<Vec<u32>> = routes.iter().map(|r| series_of(&mut c, r, "eu")).collect();
        assert_eq!(before, after);
        assert_eq!(labels(&c, 0).len(), 3);
        // `/c` and `/d` are refused again but not counted again.
        assert_eq!(c.overflow(0).refused, 2);
        assert_eq!(c.overflow(1).refused, 0);
    }

    #[test]
    fn overflow_values_in_events_count_in_the_overflow_series() {
        let config = crate::config::parse(LIMITED, Path::new("t.yaml")).unwrap();
        let mut c = Classifier::new(&config);
        // Before the limit is reached, the overflow series may exist already: it is not
        // counted in the limit, and no second series gets its labels.
        assert_eq!(series_of(&mut c, OVERFLOW, "eu"), [0, 0]);
        assert_eq!(c.overflow(0).series, Some(0));
        assert_eq!(series_of(&mut c, "/a", "eu"), [1, 0]);
        assert_eq!(series_of(&mut c, "/b", "eu"), [2, 0]);
        assert_eq!(series_of(&mut c, "/c", "eu"), [0, 0]);
        assert_eq!(labels(&c, 0), [[OVERFLOW], ["/a"], ["/b"]]);
        assert_eq!(c.overflow(0).refused, 1);
    }
}
