//! Property test of a config change mid-stream ([`Engine::reconfigure`], what a reload
//! does), against engines that had the new config from the start.
//!
//! Random events (three routes, good and bad, fast and slow, over two hours, in random
//! arrival order) go into an engine with two SLOs of one population; at a random cut it
//! is reconfigured by one of: a new objective, a new alert rule on windows it already
//! keeps, the other SLO removed, a third SLO added to the same selection, or a checkpoint
//! restored under the new config. Then the rest of the events arrive. At several times:
//! - every SLO that kept its history reports exactly as an engine built with the new
//!   config that read every event;
//! - an added SLO reports exactly as such an engine that read only the events after the
//!   cut (it starts empty, and counts apart from the SLOs with a past).

use std::path::Path;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use slipstream::config::{self, Config};
use slipstream::engine::Engine;
use slipstream::report::{Report, SeriesReport};

const BASE_MS: i64 = 1_795_219_200_000;

const AVAIL: &str = "  - { name: avail, service: shop, group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }\n";
const FAST: &str = "  - { name: fast, service: shop, group_by: [route], indicator: { type: latency, threshold_ms: 250 }, objective: 99, window: 7d }\n";
const FASTER: &str = "  - { name: faster, service: shop, group_by: [route], indicator: { type: latency, threshold_ms: 100 }, objective: 95, window: 30d }\n";

#[derive(Clone, Copy, Debug)]
enum Edit {
    Objective,
    AlertRule,
    Remove,
    Add,
    /// Through a checkpoint's bytes, restored under the new config (a change made while
    /// stopped), with a new objective and an added SLO.
    Restore,
}

fn config(slos: &str) -> Config {
    config::parse(&format!("slos:\n{slos}"), Path::new("p.yaml")).expect("config")
}

fn after(edit: Edit) -> Config {
    match edit {
        Edit::Objective => config(&format!("{}{FAST}", AVAIL.replace("99.9", "99.5"))),
        Edit::AlertRule => config(&format!(
            "{}{FAST}",
            AVAIL.replace(
                "window: 30d }",
                "window: 30d, alerts: { page: [{ long: 6h, short: 30m, burn_rate: 3 }], ticket: off } }"
            )
        )),
        Edit::Remove => config(FAST),
        Edit::Add | Edit::Restore => config(&format!("{}{FAST}{FASTER}", AVAIL.replace("99.9", "98"))),
    }
}

#[derive(Clone, Debug)]
struct Ev {
    offset_s: i64,
    route: usize,
    bad: bool,
    latency_ms: u32,
}

impl Ev {
    fn line(&self) -> String {
        format!(
            r#"{{"timestamp":{},"service":"shop","route":"/r{}","status":{},"latency_ms":{}}}"#,
            BASE_MS + self.offset_s * 1000,
            self.route,
            if self.bad { 503 } else { 200 },
            self.latency_ms
        )
    }
}

fn event() -> impl Strategy<Value = Ev> {
    (
        0..7200i64,
        0..3usize,
        prop::bool::weighted(0.1),
        select(vec![5u32, 100, 180, 250, 900]),
    )
        .prop_map(|(offset_s, route, bad, latency_ms)| Ev {
            offset_s,
            route,
            bad,
            latency_ms,
        })
}

fn feed(engine: &mut Engine, events: &[Ev]) {
    let lines: Vec<String> = events.iter().map(Ev::line).collect();
    engine.ingest_all(lines.iter().map(|l| l.as_bytes()));
}

fn of<'a>(report: &'a Report, slo: &str) -> Vec<&'a SeriesReport> {
    report.slos.iter().filter(|s| s.name == slo).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_reconfigured_engine_reports_as_one_built_with_the_new_config(
        events in vec(event(), 1..400),
        cut in 0.0..1.0f64,
        edit in select(vec![Edit::Objective, Edit::AlertRule, Edit::Remove, Edit::Add, Edit::Restore]),
        whens in vec(0..7200i64, 1..4),
    ) {
        let cut = ((events.len() as f64) * cut) as usize;
        let before = config(&format!("{AVAIL}{FAST}"));
        let next = after(edit);
        let mut live = Engine::new(&before);
        feed(&mut live, &events[..cut]);
        let mut live = match edit {
            Edit::Restore => {
                live.begin_checkpoint();
                let checkpoint = live.finish_checkpoint().expect("a checkpoint");
                let mut bytes = Vec::new();
                checkpoint.write(|piece| bytes.extend_from_slice(piece));
                Engine::restore(&next, &bytes).expect("restores").0
            }
            _ => {
                let restored = live.reconfigure(&next);
                prop_assert!(restored.restarted_slos.is_empty());
                live
            }
        };
        feed(&mut live, &events[cut..]);
        let mut all = Engine::new(&next);
        feed(&mut all, &events);
        let mut since_cut = Engine::new(&next);
        feed(&mut since_cut, &events[cut..]);
        let newest = all.newest_event_ms().unwrap_or(BASE_MS);
        prop_assert_eq!(live.newest_event_ms(), all.newest_event_ms());
        prop_assert_eq!(live.counts(), all.counts());
        for when in whens.iter().map(|s| newest + s * 1000).chain([BASE_MS + 7_200_000]) {
            let (got, kept, fresh) = (live.evaluate(when), all.evaluate(when), since_cut.evaluate(when));
            let (Ok(got), Ok(kept), Ok(fresh)) = (got, kept, fresh) else {
                continue;
            };
            for slo in ["avail", "fast"] {
                prop_assert_eq!(of(&got, slo), of(&kept, slo), "{} at {}", slo, when);
            }
            prop_assert_eq!(of(&got, "faster"), of(&fresh, "faster"), "faster at {}", when);
        }
    }
}
