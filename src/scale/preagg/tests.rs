//! Stage 1 then stage 2 against the engine alone: the same report, whatever the flushes,
//! source partitions and duplicates.

use std::path::Path;

use proptest::prelude::*;

use super::*;
use crate::engine::Engine;
use crate::scale::owner::Owner;

const CONFIG: &str = "
events: { labels: [region] }
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
  - name: all
    service: \"*\"
    group_by: [region]
    indicator: { type: availability }
    objective: 99
    window: 30d
";

const T0: i64 = 1_800_000_000_000;

fn event(i: u64, ts_ms: i64) -> Vec<u8> {
    let service = ["checkout", "search", "cart"][(i % 3) as usize];
    let route = ["/a", "/b"][(i / 3 % 2) as usize];
    let status = [200, 200, 503, 404][(i / 5 % 4) as usize];
    let region = ["eu", "us"][(i / 7 % 2) as usize];
    let latency = (i * 37 % 900) as f64 + 0.5;
    if i % 41 == 40 {
        return b"not json".to_vec();
    }
    format!(
        r#"{{"timestamp":{ts_ms},"service":"{service}","route":"{route}","status":{status},"latency_ms":{latency},"region":"{region}"}}"#
    )
    .into_bytes()
}

/// Events through pre-aggregation (split over `partitions` source partitions, flushed
/// after the events of each index in `flush_at`), with every record applied `copies`
/// times, against the same events ingested directly.
fn check(events: &[(i64, u64)], partitions: i32, flush_at: &[usize], copies: usize) {
    let config = crate::config::parse(CONFIG, Path::new("t.yaml")).unwrap();
    let payloads: Vec<Vec<u8>> = events.iter().map(|&(ts, i)| event(i, T0 + ts)).collect();
    let mut direct = Engine::new(&config);
    direct.ingest_all(payloads.iter().map(Vec::as_slice));

    let mut pre = PreAggregator::new(&config);
    let mut engine = Engine::new(&config);
    let mut owner = Owner::new(&engine, 4);
    let mut offsets = vec![0i64; partitions as usize];
    let mut flushed = Vec::new();
    for (n, payload) in payloads.iter().enumerate() {
        let p = (n % partitions as usize) as i32;
        pre.add("events", p, offsets[p as usize], payload);
        offsets[p as usize] += 1;
        if flush_at.contains(&n) {
            flushed.push(pre.flush(4, |_, _, _| false));
        }
    }
    flushed.push(pre.flush(4, |_, _, _| false));
    for f in &flushed {
        engine.add_event_counts(&f.counts);
        for _ in 0..copies {
            for r in &f.records {
                owner.apply(&mut engine, &r.key, &r.value);
            }
        }
    }
    assert_eq!(owner.stats.rejected + owner.stats.overlap, 0);
    let at = T0 + 2 * 3_600_000;
    assert_eq!(engine.evaluate(at), direct.evaluate(at));
}

#[test]
fn a_few_flushes_report_as_direct_ingestion() {
    let events: Vec<(i64, u64)> = (0..500)
        .map(|i| ((i * 7_919 % 3_600_000) as i64, i))
        .collect();
    check(&events, 3, &[50, 51, 300], 1);
    check(&events, 1, &[], 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn any_split_reports_as_direct_ingestion(
        events in prop::collection::vec((0i64..7_200_000, 0u64..10_000), 1..200),
        partitions in 1i32..5,
        flush_at in prop::collection::vec(0usize..200, 0..6),
        copies in 1usize..3,
    ) {
        check(&events, partitions, &flush_at, copies);
    }
}
