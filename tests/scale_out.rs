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
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::broker::{Tansu, produce};
use common::cluster::{
    INPUT, Instance, PARTITIONS, SCALE_OUT, assert_none, compare_series, config, counted,
    differences, events, minute_after, series_of, settle, wait_for_owners,
};
use serde_json::Value;

/// How long the deployment may take to count what the single instance counted.
const CONVERGE: Duration = Duration::from_secs(60);

/// A broker with the input topic, three instances of a deployment owning the
/// partitions between them, and the single instance.
struct Setup {
    /// The deployment's config, for one more instance.
    deployment: String,
    single_conf: String,
    instances: Vec<Instance>,
    single: Instance,
    started: Instant,
    /// After the instances (fields drop in order), so that they stop before it does.
    tansu: Tansu,
    /// Last, so that it is released after every process has stopped.
    _turn: MutexGuard<'static, ()>,
}

/// The tests of this file take turns: each runs a broker and five processes, and the
/// machines they run on have two cores.
static TURN: Mutex<()> = Mutex::new(());

fn three_and_one() -> Option<Setup> {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let tansu = Tansu::start()?;
    let started = Instant::now();
    tansu.create_topic(INPUT, PARTITIONS);
    let brokers = tansu.brokers();
    let deployment = config(&brokers, "scale", Some(SCALE_OUT));
    let single_conf = config(&brokers, "single", None);
    let instances: Vec<Instance> = ["a", "b", "c"]
        .iter()
        .map(|name| Instance::start(name, &deployment))
        .collect();
    let single = Instance::start("single", &single_conf);
    wait_for_owners(
        &instances.iter().collect::<Vec<_>>(),
        Duration::from_secs(60),
    );
    eprintln!("3 instances own the partitions: {:?}", started.elapsed());
    Some(Setup {
        tansu,
        deployment,
        single_conf,
        instances,
        single,
        started,
        _turn: turn,
    })
}

impl Setup {
    fn produce(&self, records: &[(i32, Vec<u8>)]) {
        produce(&self.tansu.brokers(), INPUT, records);
    }
}

/// Waits until the single instance has read all `n` events, then waits until
/// `instances` report exactly what it reports at `at` (events too, with `events`), and
/// asserts they still do a few flushes later, when a late duplicate would show.
fn assert_same_counts(instances: &[&Instance], single: &Instance, n: u64, at: &str, events: bool) {
    single.run.wait_for_read(n, Duration::from_secs(60));
    let want = single.whole(at);
    let lifetimes = single.lifetimes();
    assert_eq!(
        common::cluster::read(&want),
        n,
        "the single instance's report"
    );
    let diffs = settle(CONVERGE, || {
        differences(instances, at, &want, &lifetimes, events)
    });
    assert_none("the deployment against one instance", &diffs, instances);
    std::thread::sleep(Duration::from_secs(3));
    let diffs = differences(instances, at, &want, &lifetimes, events);
    assert_none("3 s later", &diffs, instances);
    for i in instances {
        let records = |result| {
            let labels = [("result", result)];
            i.run
                .metric("slipstream_repartition_records_total", &labels)
                .unwrap_or(0.0)
        };
        let read = i.metric("slipstream_events_read_total").unwrap_or(0.0);
        let (applied, duplicate) = (records("applied"), records("duplicate"));
        eprintln!(
            "{}: read {read}, repartition records applied {applied}, duplicate {duplicate}",
            i.name
        );
        assert_eq!(
            records("rejected"),
            0.0,
            "{}: repartition records rejected",
            i.name
        );
    }
}

/// Waits until `instance`'s own series have counted something.
fn wait_until_counting(instance: &Instance, at: &str) {
    common::wait::wait_until(
        &format!("{} counts its first events", instance.name),
        Duration::from_secs(60),
        || counted(&instance.local(at)) > 0,
    );
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
    let Setup {
        instances, single, ..
    } = &setup;
    let records = events(12_000, 1, 600);
    let at = minute_after(&records);
    setup.produce(&records);
    let all: Vec<&Instance> = instances.iter().collect();
    assert_same_counts(&all, single, records.len() as u64, &at, true);
    eprintln!("counts equal: {:?}", setup.started.elapsed());

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
    let (first, rest) = records.split_at(records.len() / 2);
    setup.produce(first);
    let victim = setup.instances.remove(1);
    wait_until_counting(&victim, &at);
    let status = victim.run.stop("KILL", Duration::from_secs(10));
    assert!(!status.success(), "SIGKILL: {status}");
    eprintln!("{} killed: {:?}", victim.name, setup.started.elapsed());

    setup.produce(rest);
    let survivors: Vec<&Instance> = setup.instances.iter().collect();
    wait_for_owners(&survivors, Duration::from_secs(60));
    eprintln!(
        "2 instances own the partitions: {:?}",
        setup.started.elapsed()
    );
    // The survivors re-read what the dead one had read but not committed: the read
    // counts may exceed the events; the SLI counts may not.
    assert_same_counts(&survivors, &setup.single, records.len() as u64, &at, false);
    eprintln!("counts equal: {:?}", setup.started.elapsed());
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
    let fourth = Instance::start("d", &setup.deployment);
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
    assert_same_counts(&all, &setup.single, records.len() as u64, &at, true);
    eprintln!("counts equal: {:?}", setup.started.elapsed());
}
