//! Scale-out on input keyed by service (`scale_out.input_keyed: true`), end to end against
//! a real broker (Tansu) and `slipstream run` processes: each instance owns input
//! partitions as they are, with no stage 1 and no repartition topic, and one plain
//! instance in a group of its own reads the same 12-partition topic as the reference.
//! 1. three keyed instances give exactly the single instance's counts, for every series
//!    and window, and their read counts too; nothing is produced, no series is met in a
//!    second partition, and no repartition topic exists;
//! 2. one of three is killed (SIGKILL) mid-stream, after it wrote its changelog: its
//!    input partitions move, the survivors restore them from the changelog, and the
//!    counts are still exact.
//!
//! Events carry historic timestamps and the clock is the event clock, so every report is
//! evaluated at one fixed instant and must be equal field for field.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use common::cluster::{Instance, PARTITIONS, logs, minute_after};
use common::deployment::{
    Deployment, SCALE_OUT_KEYED, assert_counts_match, keyed_events, mix_invalid,
    repartition_records,
};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::Value;

/// The deployment's `kafka.group`: its changelog is `keyed-changelog`.
const GROUP: &str = "keyed";

/// The tests of this file take turns: each runs a broker and four processes.
static TURN: Mutex<()> = Mutex::new(());

fn three_and_one() -> Option<Deployment> {
    Deployment::three_and_one(&TURN, GROUP, SCALE_OUT_KEYED)
}

/// What only keyed mode promises, on every instance: no series met in a second input
/// partition, nothing produced, some partial records applied in process, and
/// `slipstream_scale_out_owned_partitions` = the input partitions `/api/v1/cluster`
/// says it owns.
fn assert_keyed(instances: &[&Instance]) {
    for i in instances {
        let cluster = i.cluster();
        let owned = cluster["instances"]
            .as_array()
            .expect("`instances` is an array")
            .iter()
            .find(|m| m["instance"] == cluster["instance"])
            .and_then(|m| m["partitions"].as_array())
            .map_or(0, Vec::len);
        let what = |m: &str| format!("{}: {m}\n{}", i.name, logs(&[i]));
        assert_eq!(
            i.metric("slipstream_scale_out_owned_partitions"),
            Some(owned as f64),
            "{}",
            what(&format!("owned partitions, /api/v1/cluster: {cluster}"))
        );
        assert_eq!(
            repartition_records(i, "unkeyed"),
            0.0,
            "{}",
            what("records unkeyed")
        );
        assert_eq!(
            i.metric("slipstream_repartition_produced_records_total"),
            Some(0.0),
            "{}",
            what("records produced")
        );
        assert!(
            repartition_records(i, "applied") > 0.0,
            "{}",
            what("no partial record applied")
        );
    }
}

/// Partitions per topic on the broker.
fn topics(brokers: &str) -> BTreeMap<String, usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("create a metadata client");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("fetch metadata");
    metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect()
}

/// A changelog counter of `instance` (`kind`: written, restored, read), 0 when absent.
fn changelog(instance: &Instance, kind: &str) -> f64 {
    instance
        .run
        .metric("slipstream_changelog_records_total", &[("kind", kind)])
        .unwrap_or(0.0)
}

#[test]
fn keyed_three_instances_match_one() {
    let Some(setup) = three_and_one() else { return };
    let mut records = keyed_events(12_000, 4, 600);
    let at = minute_after(&records);
    let invalid = mix_invalid(&mut records, 97);
    setup.produce(&records);
    let all: Vec<&Instance> = setup.instances.iter().collect();
    assert_counts_match(&all, &setup.single, records.len() as u64, &at, true);
    eprintln!("counts equal: {:?}", setup.started.elapsed());
    setup.assert_dead_letters(GROUP, invalid);
    assert_keyed(&all);

    // Every instance checkpoints its partitions, to a changelog with one partition per
    // input partition; no repartition topic is made.
    for i in &all {
        common::wait::wait_until(
            &format!("{} writes its changelog", i.name),
            Duration::from_secs(10),
            || changelog(i, "written") > 0.0,
        );
    }
    let topics = topics(&setup.tansu.brokers());
    let changelog_topic = format!("{GROUP}-changelog");
    assert_eq!(
        topics.get(&changelog_topic),
        Some(&(PARTITIONS as usize)),
        "the changelog's partitions: {topics:?}"
    );
    assert!(
        !topics.keys().any(|t| t.contains("repartition")),
        "a repartition topic in keyed mode: {topics:?}"
    );

    // The traffic is what the comparison needs: many series, bad events where an SLO
    // can have them, and latency percentiles.
    let want = setup.single.whole(&at);
    let slos = want["slos"].as_array().expect("`slos` is an array");
    assert!(slos.len() > 150, "only {} series", slos.len());
    let bad =
        |s: &Value| s["windows"]["1d"]["good"].as_u64() < s["windows"]["1d"]["total"].as_u64();
    for name in ["route-availability", "checkout-availability"] {
        assert!(
            slos.iter().filter(|s| s["name"] == name).any(bad),
            "no bad event in {name}"
        );
    }
    assert!(
        slos.iter()
            .any(|s| s["windows"]["5m"]["latency_ms"].is_object())
    );
}

#[test]
fn keyed_killed_instance_counts_stay_exact() {
    let Some(mut setup) = three_and_one() else {
        return;
    };
    let records = keyed_events(10_000, 5, 720);
    let at = minute_after(&records);
    // Killed after a checkpoint, so that its partitions have a changelog to restore.
    setup.kill_one_mid_stream(&records, &at, |victim| changelog(victim, "written") > 0.0);
    let survivors: Vec<&Instance> = setup.instances.iter().collect();
    assert_keyed(&survivors);
    let read: f64 = survivors.iter().map(|i| changelog(i, "read")).sum();
    let restored: f64 = survivors.iter().map(|i| changelog(i, "restored")).sum();
    eprintln!("changelog records read at restores {read}, series restored {restored}");
    assert!(
        read > 0.0 && restored > 0.0,
        "the victim's partitions were not restored from its changelog\n{}",
        logs(&survivors)
    );
}
