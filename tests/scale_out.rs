//! Scale-out end to end (issue 7), against a real broker (Tansu) and `slipstream run`
//! processes: instances with `scale_out` in one group, and one plain instance in a group
//! of its own reading the same 12-partition topic, as the reference.
//! 1. three instances give exactly the single instance's counts, for every series and
//!    window: the union of their local reports (each series on one instance), the whole
//!    picture any of them serves, and their lifetime counters on /metrics;
//! 2. one of three is killed (SIGKILL) mid-stream: its partitions move to the two left,
//!    and the counts are still exact;
//! 3. a fourth instance joins mid-stream: it gets partitions, and the counts are exact.
//!
//! Events carry historic timestamps and the clock is the event clock, so every report is
//! evaluated at one fixed instant and must be equal field for field.

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use common::cluster::{
    Instance, SCALE_OUT, assert_none, compare_series, events, minute_after, series_of,
    wait_for_owners,
};
use common::deployment::{Deployment, assert_counts_match, mix_invalid, wait_until_counting};
use serde_json::Value;

/// The tests of this file take turns: each runs a broker and five processes.
static TURN: Mutex<()> = Mutex::new(());

fn three_and_one() -> Option<Deployment> {
    Deployment::three_and_one(&TURN, "scale", SCALE_OUT)
}

/// The report of an engine that reads every record once, at `at`, as JSON (through text,
/// as the API's answer comes).
fn engine_report(conf: &str, records: &[(i32, Vec<u8>)], at: &str) -> Value {
    let config = slipstream::config::parse(conf, Path::new("single.yaml")).expect("config");
    let mut engine = slipstream::engine::Engine::new(&config);
    engine.ingest_all(records.iter().map(|(_, r)| r.as_slice()));
    let at_ms = slipstream::decode::timestamp::parse_rfc3339(at.as_bytes()).expect("at");
    let report = engine.evaluate(at_ms).expect("evaluates");
    serde_json::from_str(&serde_json::to_string(&report).unwrap()).expect("JSON")
}

#[test]
fn three_instances_match_one() {
    let Some(setup) = three_and_one() else { return };
    let Deployment {
        instances, single, ..
    } = &setup;
    let mut records = events(12_000, 1, 600);
    let at = minute_after(&records);
    let invalid = mix_invalid(&mut records, 97);
    setup.produce(&records);
    let all: Vec<&Instance> = instances.iter().collect();
    assert_counts_match(&all, single, records.len() as u64, &at, true);
    eprintln!("counts equal: {:?}", setup.started.elapsed());
    setup.assert_dead_letters("scale", invalid);

    // The reference itself is right: an engine fed every event once agrees with it.
    let mut diffs = Vec::new();
    let want = engine_report(&setup.single_conf, &records, &at);
    let got = single.whole(&at);
    compare_series(
        "single instance against the in-process engine",
        &series_of(&got, &mut diffs),
        &series_of(&want, &mut diffs),
        &mut diffs,
    );
    assert_none("the reference", &diffs, &[single]);
    // Every SLO kind is there, with bad events and latency percentiles to compare.
    let slos = want["slos"].as_array().unwrap();
    assert!(slos.len() > 60, "only {} series", slos.len());
    assert!(
        slos.iter()
            .any(|s| s["windows"]["5m"]["latency_ms"].is_object())
    );
    for name in [
        "route-availability",
        "operator-latency",
        "checkout-availability",
    ] {
        let bad =
            |s: &&Value| s["windows"]["1d"]["good"].as_u64() < s["windows"]["1d"]["total"].as_u64();
        assert!(
            slos.iter().filter(|s| s["name"] == name).any(|s| bad(&s)),
            "no bad event in {name}"
        );
    }
}

#[test]
fn killed_instance_partitions_move_counts_stay_exact() {
    let Some(mut setup) = three_and_one() else {
        return;
    };
    let records = events(10_000, 2, 720);
    let at = minute_after(&records);
    setup.kill_one_mid_stream(&records, &at, |_| true);
}

#[test]
fn added_instance_rebalances_counts_stay_exact() {
    let Some(mut setup) = three_and_one() else {
        return;
    };
    let records = events(10_000, 3, 720);
    let at = minute_after(&records);
    let (first, rest) = records.split_at(records.len() / 2);
    setup.produce(first);
    wait_until_counting(&setup.instances[0], &at);
    let fourth = Instance::start("d", &setup.config);
    setup.produce(rest);
    setup.instances.push(fourth);
    let all: Vec<&Instance> = setup.instances.iter().collect();
    wait_for_owners(&all, Duration::from_secs(60));
    eprintln!(
        "4 instances own the partitions: {:?}",
        setup.started.elapsed()
    );

    let fourth = all[3].cluster();
    let own = fourth["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["instance"] == fourth["instance"])
        .map_or(0, |m| m["partitions"].as_array().map_or(0, Vec::len));
    assert!(own >= 1, "the fourth instance owns no partition: {fourth}");
    common::wait::wait_until(
        "the fourth instance's slipstream_scale_out_owned_partitions",
        Duration::from_secs(10),
        || all[3].metric("slipstream_scale_out_owned_partitions") == Some(own as f64),
    );
    // A rebalance revokes gracefully: stage 1 commits what it read, and nothing is read
    // twice, so the read counts are exact too.
    assert_counts_match(&all, &setup.single, records.len() as u64, &at, true);
    eprintln!("counts equal: {:?}", setup.started.elapsed());
}
