//! Step 2 of the data path: [`Event`] → the series it counts in.
//!
//! SLOs that select the same events (same service, selector and grouping) form one
//! [`Population`]: its series count the total and the latency histogram once, and one
//! good count per SLO. An availability and a latency SLO on the same service, the usual
//! pair, therefore cost one series update per event, not two.
//!
//! Which series an event belongs to depends only on its service, route and labels, so the
//! answer is cached per distinct combination (a stream): one hash lookup per event, and
//! the SLO matching runs once per stream. The cache and the series tables grow with the
//! cardinality of the input; bounding them is the job of the cardinality limits.

use hashbrown::HashMap;

use crate::config::{Config, Field, Indicator, ServiceMatch, Span};
use crate::decode::Event;
use crate::window::Layout;

/// Most SLOs one population counts: the good flags of an event travel as a u32 mask.
const MAX_SLOS_PER_POPULATION: usize = 32;

/// SLOs that select the same events, and the layout of their series.
#[derive(Debug)]
pub struct Population {
    pub service: ServiceMatch,
    pub selector: Vec<(Field, String)>,
    pub group_by: Vec<Field>,
    /// Indices into `Config::slos`; bit `j` of a good mask is `slos[j]`.
    pub slos: Vec<usize>,
    pub indicators: Vec<Indicator>,
    pub layout: Layout,
    /// Label names of every series: `service` first when the SLO matches every service.
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

    fn matches(&self, event: &Event) -> bool {
        if let ServiceMatch::Exact(service) = &self.service
            && service != event.service
        {
            return false;
        }
        self.selector
            .iter()
            .all(|(field, want)| value(event, *field) == Some(want.as_str()))
    }

    fn series_key(&self, event: &Event) -> Box<[Box<str>]> {
        let service = matches!(self.service, ServiceMatch::Any).then_some(event.service);
        let grouped = self.group_by.iter().map(|f| value(event, *f).unwrap_or(""));
        service.into_iter().chain(grouped).map(Box::from).collect()
    }
}

fn value<'a>(event: &Event<'a>, field: Field) -> Option<&'a str> {
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
    /// Per population: label values → series index, and the reverse.
    series_index: Vec<HashMap<Box<[Box<str>]>, u32>>,
    series_labels: Vec<Vec<Box<[Box<str>]>>>,
    streams: HashMap<Vec<u8>, Box<[SeriesRef]>>,
    n_labels: usize,
    key: Vec<u8>,
}

impl Classifier {
    pub fn new(config: &Config) -> Classifier {
        let mut populations: Vec<Population> = Vec::new();
        for (i, slo) in config.slos.iter().enumerate() {
            let same = populations.iter_mut().find(|p| {
                p.service == slo.service
                    && p.selector == slo.selector
                    && p.group_by == slo.group_by
                    && p.slos.len() < MAX_SLOS_PER_POPULATION
            });
            match same {
                Some(p) => {
                    p.slos.push(i);
                    p.indicators.push(slo.indicator);
                }
                None => populations.push(Population {
                    service: slo.service.clone(),
                    selector: slo.selector.clone(),
                    group_by: slo.group_by.clone(),
                    slos: vec![i],
                    indicators: vec![slo.indicator],
                    layout: Layout::new(&[], 0),
                    label_names: label_names(config, &slo.service, &slo.group_by),
                }),
            }
        }
        for p in &mut populations {
            let mut windows: Vec<Span> = p
                .slos
                .iter()
                .flat_map(|&i| config.slos[i].windows.iter().copied())
                .collect();
            windows.sort();
            windows.dedup();
            p.layout = Layout::new(&windows, p.slos.len());
        }
        let n = populations.len();
        Classifier {
            populations,
            series_index: (0..n).map(|_| HashMap::new()).collect(),
            series_labels: vec![Vec::new(); n],
            streams: HashMap::new(),
            n_labels: config.events.labels.len(),
            key: Vec::with_capacity(256),
        }
    }

    pub fn populations(&self) -> &[Population] {
        &self.populations
    }

    /// Label values of a series, in the order of its population's `label_names`.
    pub fn series_labels(&self, population: usize) -> &[Box<[Box<str>]>] {
        &self.series_labels[population]
    }

    /// The series an event counts in, with the populations they refer to. New series get
    /// the next index of their population.
    #[inline]
    pub fn targets(&mut self, event: &Event) -> (&[Population], &[SeriesRef]) {
        self.key.clear();
        push_part(&mut self.key, Some(event.service));
        push_part(&mut self.key, event.route);
        for label in &event.labels[..self.n_labels] {
            push_part(&mut self.key, *label);
        }
        let (populations, index, labels) = (
            &self.populations,
            &mut self.series_index,
            &mut self.series_labels,
        );
        let refs = self
            .streams
            .entry_ref(self.key.as_slice())
            .or_insert_with(|| resolve(populations, index, labels, event));
        (populations, refs)
    }
}

/// Matches a new stream against every population, creating series as needed.
#[cold]
fn resolve(
    populations: &[Population],
    index: &mut [HashMap<Box<[Box<str>]>, u32>],
    labels: &mut [Vec<Box<[Box<str>]>>],
    event: &Event,
) -> Box<[SeriesRef]> {
    let mut refs = Vec::new();
    for (p, population) in populations.iter().enumerate() {
        if !population.matches(event) {
            continue;
        }
        let key = population.series_key(event);
        let next = labels[p].len() as u32;
        let series = *index[p].entry(key.clone()).or_insert_with(|| {
            labels[p].push(key);
            next
        });
        refs.push(SeriesRef {
            population: p as u32,
            series,
        });
    }
    refs.into_boxed_slice()
}

/// Appends one field to a stream key: a presence byte, then the length and the bytes, so
/// that no two different field lists share a key.
#[inline]
fn push_part(key: &mut Vec<u8>, part: Option<&str>) {
    match part {
        None => key.push(0),
        Some(s) => {
            key.push(1);
            key.extend_from_slice(&(s.len() as u32).to_le_bytes());
            key.extend_from_slice(s.as_bytes());
        }
    }
}

fn label_names(config: &Config, service: &ServiceMatch, group_by: &[Field]) -> Vec<String> {
    let service = matches!(service, ServiceMatch::Any).then(|| "service".to_owned());
    let grouped = group_by.iter().map(|f| match f {
        Field::Route => "route".to_owned(),
        Field::Label(i) => config.events.labels[*i].name.clone(),
    });
    service.into_iter().chain(grouped).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::MAX_LABELS;

    const CONFIG: &str = r#"
events: { labels: [operator] }
slos:
  - { name: avail, service: checkout, group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: fast, service: checkout, group_by: [route], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
  - { name: pay, service: checkout, selector: { route: "POST /pay" }, indicator: { type: availability }, objective: 99, window: 7d }
  - { name: fleet, service: "*", group_by: [operator], indicator: { type: availability }, objective: 99.5, window: 30d }
"#;

    fn event<'a>(service: &'a str, route: Option<&'a str>, op: Option<&'a str>) -> Event<'a> {
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
        let pay = c
            .targets(&event("checkout", Some("POST /pay"), Some("eu")))
            .1
            .to_vec();
        assert_eq!(pay.len(), 3);
        let cart = c
            .targets(&event("checkout", Some("GET /cart"), None))
            .1
            .to_vec();
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
        let again = c
            .targets(&event("checkout", Some("POST /pay"), Some("eu")))
            .1
            .to_vec();
        assert_eq!(again, pay);
        assert_eq!(
            c.targets(&event("search", None, Some("eu"))).1.to_vec(),
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

    #[test]
    fn stream_keys_do_not_collide_across_fields() {
        let mut a = Vec::new();
        push_part(&mut a, Some("ab"));
        push_part(&mut a, None);
        let mut b = Vec::new();
        push_part(&mut b, Some("a"));
        push_part(&mut b, Some("b"));
        assert_ne!(a, b);
    }
}
