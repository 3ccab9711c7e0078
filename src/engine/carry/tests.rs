use std::path::Path;

use super::*;
use crate::config::Span;
use crate::report::{Report, SeriesReport};

const BASE_MS: i64 = 1_795_219_200_000;

fn config(slos: &str) -> Config {
    let text = format!("events: {{ labels: [region] }}\nslos:\n{slos}");
    crate::config::parse(&text, Path::new("t.yaml")).unwrap()
}

const AVAIL: &str = "  - { name: avail, service: shop, group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }\n";
const FAST: &str = "  - { name: fast, service: shop, group_by: [route], indicator: { type: latency, threshold_ms: 100 }, objective: 99, window: 30d }\n";

/// `n` events one second apart from `from_s`, on two routes, some slow, some failed.
fn feed(engine: &mut Engine, from_s: i64, n: i64) {
    for i in from_s..from_s + n {
        let status = if i % 13 == 0 { 503 } else { 200 };
        let latency = if i % 7 == 0 { 250 } else { 20 };
        let line = format!(
            r#"{{"timestamp":{},"service":"shop","route":"/r{}","status":{status},"latency_ms":{latency},"region":"eu"}}"#,
            BASE_MS + i * 1000,
            i % 2
        );
        engine.ingest(line.as_bytes());
    }
}

fn at(report: &Report, slo: &str) -> Vec<SeriesReport> {
    report
        .slos
        .iter()
        .filter(|s| s.name == slo)
        .cloned()
        .collect()
}

/// Counts (not objectives) of every window of `slo` that both reports have.
fn counts(report: &Report, slo: &str) -> Vec<(String, Span, u64, u64, u64, u64)> {
    at(report, slo)
        .iter()
        .flat_map(|s| {
            let labels = format!("{:?}", s.labels);
            s.windows.iter().map(move |w| {
                let life = (s.lifetime.total, s.lifetime.good);
                (labels.clone(), w.window, w.total, w.good, life.0, life.1)
            })
        })
        .collect()
}

/// An engine fed `n` events under `before`, then reconfigured to `after`, and one fed the
/// same events under `after` from the start.
fn both(before: &Config, after: &Config, n: i64) -> (Engine, Engine, Restored) {
    let mut live = Engine::new(before);
    feed(&mut live, 0, n);
    live.advance("events", 0, n);
    let restored = live.reconfigure(after);
    let mut reference = Engine::new(after);
    feed(&mut reference, 0, n);
    (live, reference, restored)
}

fn now(n: i64) -> i64 {
    BASE_MS + n * 1000 + 60_000
}

#[test]
fn a_new_objective_keeps_every_count() {
    let before = config(&format!("{AVAIL}{FAST}"));
    let after = config(&format!("{}{FAST}", AVAIL.replace("99.9", "99.5")));
    let (mut live, mut reference, restored) = both(&before, &after, 1800);
    assert_eq!(restored.restarted_slos, Vec::<String>::new());
    assert!(restored.discarded_populations.is_empty());
    assert_eq!(restored.series, 2);
    assert_eq!(live.positions()[0].next_offset, 1800);
    assert_eq!(live.counts().read, 1800);
    assert_eq!(live.evaluate(now(1800)), reference.evaluate(now(1800)));
    // And it goes on counting as if it had always had the new config.
    feed(&mut live, 1800, 900);
    feed(&mut reference, 1800, 900);
    assert_eq!(live.evaluate(now(2700)), reference.evaluate(now(2700)));
}

#[test]
fn the_good_counts_move_by_slo_when_another_slo_leaves_or_joins() {
    let both_slos = config(&format!("{AVAIL}{FAST}"));
    let fast_only = config(FAST);
    let (mut live, reference, restored) = both(&both_slos, &fast_only, 1200);
    assert!(restored.restarted_slos.is_empty());
    let (a, b) = (
        live.evaluate(now(1200)).unwrap(),
        reference.evaluate(now(1200)).unwrap(),
    );
    assert_eq!(counts(&a, "fast"), counts(&b, "fast"));
    assert!(counts(&a, "fast").iter().any(|c| c.2 > 0 && c.3 < c.2));

    // `avail` comes back: it has no past, so it counts apart from `fast`, from zero.
    let restored = live.reconfigure(&both_slos);
    assert_eq!(restored.restarted_slos, Vec::<String>::new());
    assert_eq!(live.classifier.populations().len(), 2);
    let a = live.evaluate(now(1200)).unwrap();
    assert_eq!(counts(&a, "fast"), counts(&b, "fast"));
    assert!(
        at(&a, "avail").is_empty(),
        "no series before its first event"
    );
    feed(&mut live, 1200, 60);
    let a = live.evaluate(now(1260)).unwrap();
    let avail = at(&a, "avail");
    assert_eq!(avail.len(), 2);
    assert_eq!(avail.iter().map(|s| s.lifetime.total).sum::<u64>(), 60);
    let fast: u64 = at(&a, "fast").iter().map(|s| s.lifetime.total).sum();
    assert_eq!(fast, 1260);

    // Through a checkpoint and a restore under the same config, the two stay apart.
    live.begin_checkpoint();
    let checkpoint = live.finish_checkpoint().unwrap();
    let mut bytes = Vec::new();
    checkpoint.write(|piece| bytes.extend_from_slice(piece));
    let (restored, summary) = Engine::restore(&both_slos, &bytes).unwrap();
    assert!(summary.discarded_populations.is_empty());
    assert_eq!(restored.classifier.populations().len(), 2);
    assert_eq!(restored.evaluate(now(1260)), live.evaluate(now(1260)));
}

#[test]
fn a_shorter_slo_window_keeps_its_history_and_a_longer_one_starts_empty() {
    let month = config(AVAIL);
    let week = config(&AVAIL.replace("30d", "7d"));
    let (mut live, reference, restored) = both(&month, &week, 1500);
    assert!(restored.restarted_slos.is_empty());
    let (a, b) = (
        live.evaluate(now(1500)).unwrap(),
        reference.evaluate(now(1500)).unwrap(),
    );
    assert_eq!(counts(&a, "avail"), counts(&b, "avail"));
    assert_eq!(
        a.slos[0].error_budget_remaining,
        b.slos[0].error_budget_remaining
    );
    // The default rules of a week read a 14m window at 10 s panes, where the month kept
    // 10 minutes: that window holds what was kept, and fills up from there.
    let window = |r: &Report| {
        r.slos[0]
            .alert_windows
            .iter()
            .find(|w| w.window.secs() == 840)
            .map(|w| w.total)
    };
    assert_eq!((window(&a), window(&b)), (Some(300), Some(390)));
    let quarter = config(&AVAIL.replace("30d", "90d"));
    let restored = live.reconfigure(&quarter);
    assert_eq!(restored.restarted_slos, ["avail"]);
    assert_eq!(restored.discarded_populations.len(), 1);
    assert!(live.evaluate(now(1500)).unwrap().slos.is_empty());
    assert_eq!(live.counts().read, 1500);
}

#[test]
fn new_alert_windows_keep_the_rings_they_share() {
    let before = config(AVAIL);
    // A page rule on 2m/20s adds rings at 1 s and 10 s resolution; the others are kept.
    let after = config(&AVAIL.replace(
        "window: 30d }",
        "window: 30d, alerts: { page: [{ long: 2h, short: 2m, burn_rate: 10 }] } }",
    ));
    let (mut live, mut reference, restored) = both(&before, &after, 2400);
    assert!(restored.restarted_slos.is_empty());
    let (a, b) = (
        live.evaluate(now(2400)).unwrap(),
        reference.evaluate(now(2400)).unwrap(),
    );
    assert_eq!(counts(&a, "avail"), counts(&b, "avail"));
    // The new 2m window starts empty, then fills: after it has passed, it is exact.
    let short = |r: &Report| {
        at(r, "avail")
            .iter()
            .map(|s| {
                s.alert_windows
                    .iter()
                    .find(|w| w.window == Span::from_secs(120))
                    .map(|w| w.total)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(short(&a), [Some(0), Some(0)]);
    feed(&mut live, 2400, 300);
    feed(&mut reference, 2400, 300);
    let (a, b) = (
        live.evaluate(now(2700)).unwrap(),
        reference.evaluate(now(2700)).unwrap(),
    );
    assert_eq!(short(&a), short(&b));
    assert_eq!(counts(&a, "avail"), counts(&b, "avail"));
}

#[test]
fn a_checkpoint_restores_into_a_changed_config() {
    let before = config(&format!("{AVAIL}{FAST}"));
    let mut engine = Engine::new(&before);
    feed(&mut engine, 0, 900);
    engine.begin_checkpoint();
    let checkpoint = engine.finish_checkpoint().unwrap();
    let mut bytes = Vec::new();
    checkpoint.write(|piece| bytes.extend_from_slice(piece));
    // Stopped, `fast` got a new threshold (its history no longer applies) and `avail`
    // a new objective (its history does).
    let after = config(&format!(
        "{}{}",
        AVAIL.replace("99.9", "99.95"),
        FAST.replace("threshold_ms: 100", "threshold_ms: 200")
    ));
    let (restored, summary) = Engine::restore(&after, &bytes).unwrap();
    assert_eq!(summary.restarted_slos, ["fast"]);
    let mut reference = Engine::new(&after);
    feed(&mut reference, 0, 900);
    let (a, b) = (
        restored.evaluate(now(900)).unwrap(),
        reference.evaluate(now(900)).unwrap(),
    );
    assert_eq!(at(&a, "avail"), at(&b, "avail"));
    assert!(at(&a, "fast").is_empty());
}

#[test]
fn a_checkpoint_of_format_1_restores_the_populations_whose_key_is_the_same() {
    let before = config(&format!("{AVAIL}{FAST}"));
    let mut engine = Engine::new(&before);
    feed(&mut engine, 0, 600);
    engine.begin_checkpoint();
    let checkpoint = engine.finish_checkpoint().unwrap();
    let mut bytes = Vec::new();
    checkpoint.write(|piece| bytes.extend_from_slice(piece));
    // Format 1 is format 2 without the descriptor after each population's key.
    let mut descriptor = Writer::default();
    let population = &engine.classifier.populations()[0];
    let slos: Vec<(&str, Indicator)> = vec![
        ("avail", population.indicators[0]),
        ("fast", population.indicators[1]),
    ];
    write_descriptor(
        &mut descriptor,
        &engine.selections[0],
        &slos,
        &population.layout,
    );
    let at = bytes
        .windows(descriptor.buf.len())
        .position(|w| w == descriptor.buf.as_slice())
        .expect("the descriptor is in the checkpoint");
    bytes.drain(at..at + descriptor.buf.len());

    let (restored, summary) = Engine::restore_version(&before, &bytes, 1).unwrap();
    assert_eq!(summary.series, 2);
    assert_eq!(restored.evaluate(now(600)), engine.evaluate(now(600)));
    // Under another config, format 1 cannot say what its population counted.
    let (restored, summary) = Engine::restore_version(&config(FAST), &bytes, 1).unwrap();
    assert_eq!(summary.discarded_populations.len(), 1);
    assert!(restored.evaluate(now(600)).unwrap().slos.is_empty());
}
