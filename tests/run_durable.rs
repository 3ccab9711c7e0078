//! Exactly-once across crashes, against a real broker (Tansu) and `slipstream run` as a
//! process of its own, with checkpoints on (`state`):
//! 1. a stream of 1M events is consumed while the process is killed with SIGKILL at
//!    random points, 5 times, and restarted after each: the final report equals the one
//!    of an engine that read every event once (0 lost, 0 duplicated);
//! 2. a corrupted newest checkpoint: the one before it is used, the partitions are
//!    re-read from its offsets, and the counts are still exact;
//! 3. 100k malformed messages mixed into the stream: counted by reason, and each one in
//!    the dead-letter topic, unchanged, with where it came from;
//! 4. the cardinality attack: 1M events, each with a route never seen before: counts
//!    exact, and the process's peak memory bounded.
//!
//! The expected report comes from an in-process engine fed the same payloads once,
//! evaluated at the same instant: the two must be equal field for field.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::broker::{Tansu, produce};
use common::report::{first_difference, fixture};
use common::slipstream::Running;
use common::traffic::state_dir;
use serde_json::Value;
use slipstream::engine::Engine;

const PARTITIONS: i32 = 4;

fn config(brokers: &str, topic: &str, state: &Path) -> String {
    let slos = std::fs::read_to_string(fixture("config.yaml")).expect("fixture config");
    format!(
        "{slos}\nkafka:\n  brokers: \"{brokers}\"\n  topics: [{topic}]\n  group: durable\n  \
         properties: {{ session.timeout.ms: \"6000\" }}\n\
         evaluation: {{ interval: 100ms }}\n\
         state: {{ dir: \"{}\", checkpoint_interval: 300ms }}\n",
        state.display()
    )
}

/// `n` events over the two hours before now, spread over the partitions.
fn traffic(n: usize, seed: u64) -> Vec<(i32, Vec<u8>)> {
    common::traffic::traffic(
        n,
        seed,
        40,
        7_200_000,
        (7_000_000 / n as i64).max(1),
        PARTITIONS,
    )
}

/// The report of an engine that reads every record once, at `at_ms`, as JSON.
fn expected(conf: &str, records: &[(i32, Vec<u8>)], at_ms: i64) -> Value {
    let config = slipstream::config::parse(conf, Path::new("durable.yaml")).expect("config");
    let mut engine = Engine::new(&config);
    engine.ingest_all(records.iter().map(|(_, r)| r.as_slice()));
    // Through text, as the API's answer comes: serde_json's parse of a float may differ
    // from the f64 it printed in the last place, the same way on both sides.
    let text = serde_json::to_string(&engine.evaluate(at_ms).expect("evaluates")).unwrap();
    serde_json::from_str(&text).expect("JSON")
}

/// Asserts two reports are equal, naming the first field that differs.
fn assert_same(got: &Value, want: &Value) {
    if let Some(difference) = first_difference("", got, want) {
        panic!("reports differ at {difference}");
    }
}

fn report_at(run: &Running, at: &str) -> Value {
    let (status, body) = run.get(&format!("/api/v1/slos?at={at}"));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn read_total(run: &Running) -> u64 {
    run.metric("slipstream_events_read_total", &[])
        .unwrap_or(0.0) as u64
}

/// Waits until every event is read, then a little longer: any duplicate would show.
fn wait_for_all(run: &Running, n: u64) {
    run.wait_for_read(n, Duration::from_secs(300));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(read_total(run), n, "events read twice");
}

fn rfc3339(ms: i64) -> String {
    slipstream::decode::timestamp::format_rfc3339(ms)
}

/// A small deterministic generator: the seed is printed, so a failing run can be redone.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

#[test]
fn kill_9_at_random_points_loses_and_duplicates_nothing() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("durable", PARTITIONS);
    const N: u64 = 1_000_000;
    let records = traffic(N as usize, 7);
    produce(&brokers, "durable", &records);
    let dir = state_dir("kill9");
    let conf = config(&brokers, "durable", &dir);
    let at = slipstream::run::wall_ms() / 60_000 * 60_000 + 60_000;
    let want = expected(&conf, &records, at);

    let seed = std::env::var("KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| slipstream::run::wall_ms() as u64);
    eprintln!("kill points from KILL_SEED={seed}");
    let mut rng = Lcg(seed);
    let mut restored_any = false;
    for kill in 0..5 {
        let run = Running::start(&conf);
        let restored = run
            .metric("slipstream_checkpoint_restored_series", &[])
            .unwrap_or(0.0);
        restored_any |= restored > 0.0;
        let from = read_total(&run);
        // Somewhere in the first third of what is left: two thirds stay unread, so that
        // the consumer, polled every few milliseconds, cannot finish the stream between
        // reaching the target and the kill (after five kills, 13 % of the stream is left).
        let target = from + 1 + rng.below((N - from) / 3);
        let deadline = Instant::now() + Duration::from_secs(120);
        while read_total(&run) < target {
            assert!(
                Instant::now() < deadline,
                "kill {kill}: stuck before {target}"
            );
            std::thread::sleep(Duration::from_millis(rng.below(40) + 5));
        }
        let at_kill = read_total(&run);
        assert!(!run.stop("KILL", Duration::from_secs(10)).success());
        eprintln!("kill {kill}: at about {at_kill} events read (restored {restored} series)");
        assert!(
            at_kill < N,
            "kill {kill} came after the stream was consumed"
        );
    }
    assert!(restored_any, "no restart restored a checkpoint");

    let run = Running::start(&conf);
    wait_for_all(&run, N);
    assert_same(&report_at(&run, &rfc3339(at)), &want);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_newest_checkpoint_falls_back_to_the_previous_one() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("corrupt", PARTITIONS);
    let records = traffic(20_000, 8);
    let dir = state_dir("corrupt");
    let conf = config(&brokers, "corrupt", &dir);
    let at = slipstream::run::wall_ms() / 60_000 * 60_000 + 60_000;

    let run = Running::start(&conf);
    let checkpoints = |run: &Running| {
        run.metric("slipstream_checkpoints_total", &[])
            .unwrap_or(0.0)
    };
    for (half, records) in records.chunks(10_000).enumerate() {
        produce(&brokers, "corrupt", records);
        run.wait_for_read(10_000 * (half as u64 + 1), Duration::from_secs(60));
        // Checkpoints are written only when something new was counted: once their count
        // holds still for several intervals, the newest covers this half.
        let mut last = (checkpoints(&run), Instant::now());
        while last.1.elapsed() < Duration::from_millis(1_500) {
            std::thread::sleep(Duration::from_millis(100));
            let now = checkpoints(&run);
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
    }
    assert!(!run.stop("KILL", Duration::from_secs(10)).success());

    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "slip"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let newest = files.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    std::fs::write(newest, bytes).unwrap();

    let run = Running::start(&conf);
    // Exported from the first evaluation on.
    let failures = || {
        run.metric(
            "slipstream_checkpoint_load_failures_total",
            &[("reason", "checksum")],
        )
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while failures().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(failures(), Some(1.0));
    let restored = read_total(&run);
    assert!(
        restored < 20_000,
        "restored {restored}: the older checkpoint covers less"
    );
    wait_for_all(&run, 20_000);
    assert_same(
        &report_at(&run, &rfc3339(at)),
        &expected(&conf, &records, at),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A malformed message of each kind in turn, with the reason it is refused for.
fn malformed(i: usize, ts_ms: i64) -> (Vec<u8>, &'static str) {
    let ts = rfc3339(ts_ms);
    let kinds: [(String, &str); 7] = [
        ("{\"timestamp\": \"".to_owned() + &ts, "json"),
        ("[1, 2, 3]".to_owned(), "not_object"),
        (
            format!(
                r#"{{"timestamp":"{ts}","service":"svc-000","route":"/a","status":999,"latency_ms":5}}"#
            ),
            "status",
        ),
        (
            format!(r#"{{"timestamp":"{ts}","route":"/a","status":200,"latency_ms":5}}"#),
            "service",
        ),
        (
            format!(
                r#"{{"timestamp":"{ts}","service":"svc-000","route":"/a","status":200,"latency_ms":-5}}"#
            ),
            "latency_ms",
        ),
        (
            r#"{"timestamp":"yesterday","service":"svc-000","status":200,"latency_ms":5}"#
                .to_owned(),
            "timestamp",
        ),
        (String::new(), "json"),
    ];
    let (text, reason) = &kinds[i % kinds.len()];
    (text.clone().into_bytes(), reason)
}

#[test]
fn malformed_messages_are_counted_by_reason_and_dead_lettered_unchanged() {
    use rdkafka::Message;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Headers;

    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("mixed", PARTITIONS);
    tansu.create_topic("mixed-dlq", 1);
    const BAD: usize = 100_000;
    let valid = traffic(BAD / 2, 9);
    let now = slipstream::run::wall_ms();
    let mut records = Vec::new();
    let mut reasons = std::collections::HashMap::new();
    let mut next_offset = [0i64; PARTITIONS as usize];
    let mut valid = valid.into_iter();
    for i in 0..BAD * 3 / 2 {
        let partition = i as i32 % PARTITIONS;
        let payload = if i % 3 == 2 {
            valid.next().expect("enough valid events").1
        } else {
            let (payload, reason) = malformed(records.len(), now - 60_000);
            reasons.insert(
                (partition, next_offset[partition as usize]),
                (payload.clone(), reason),
            );
            payload
        };
        next_offset[partition as usize] += 1;
        records.push((partition, payload));
    }
    assert_eq!(reasons.len(), BAD);
    produce(&brokers, "mixed", &records);
    let dir = state_dir("dlq");
    let conf = config(&brokers, "mixed", &dir) + "dead_letter: { topic: mixed-dlq }\n";
    let at = now / 60_000 * 60_000 + 60_000;

    let run = Running::start(&conf);
    wait_for_all(&run, records.len() as u64);
    assert_same(
        &report_at(&run, &rfc3339(at)),
        &expected(&conf, &records, at),
    );

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("consumer");
    consumer.subscribe(&["mixed-dlq"]).expect("subscribe");
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < BAD {
        assert!(
            Instant::now() < deadline,
            "{} of {BAD} dead letters",
            seen.len()
        );
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let headers = m.headers().expect("dead letters carry headers");
        let header = |name: &str| {
            let h = headers
                .iter()
                .find(|h| h.key == name)
                .unwrap_or_else(|| panic!("no {name}"));
            String::from_utf8(h.value.expect("a value").to_vec()).unwrap()
        };
        assert_eq!(header("slipstream.source.topic"), "mixed");
        let source = (
            header("slipstream.source.partition")
                .parse::<i32>()
                .unwrap(),
            header("slipstream.source.offset").parse::<i64>().unwrap(),
        );
        let (payload, reason) = reasons
            .get(&source)
            .unwrap_or_else(|| panic!("{source:?} was valid"));
        assert_eq!(header("slipstream.reason"), *reason, "{source:?}");
        assert_eq!(
            m.payload().unwrap_or_default(),
            payload.as_slice(),
            "{source:?}"
        );
        assert!(seen.insert(source), "{source:?} dead-lettered twice");
    }
    assert_eq!(
        run.metric("slipstream_dead_letters_delivered_total", &[]),
        Some(BAD as f64)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_million_new_routes_keep_memory_bounded_and_counts_exact() {
    let Some(tansu) = Tansu::start() else { return };
    let brokers = tansu.brokers();
    tansu.create_topic("routes", PARTITIONS);
    const N: usize = 1_000_000;
    let start = slipstream::run::wall_ms() - 3_600_000;
    let records: Vec<(i32, Vec<u8>)> = (0..N)
        .map(|i| {
            let status = if i % 10 == 0 { 503 } else { 200 };
            let line = format!(
                r#"{{"timestamp":{},"service":"checkout","route":"/item/{i}","status":{status},"latency_ms":5}}"#,
                start + i as i64 * 3
            );
            (i as i32 % PARTITIONS, line.into_bytes())
        })
        .collect();
    produce(&brokers, "routes", &records);
    let conf = format!(
        "slos:\n  - {{ name: routes, service: checkout, group_by: [route], \
         indicator: {{ type: availability }}, objective: 99.9, window: 30d }}\n\
         limits: {{ max_series_per_slo: 1000 }}\n\
         kafka: {{ brokers: \"{brokers}\", topics: [routes], group: attack, \
         properties: {{ session.timeout.ms: \"6000\" }} }}\n"
    );
    let run = Running::start(&conf);
    wait_for_all(&run, N as u64);
    let (status, body) = run.get("/api/v1/slos");
    assert_eq!(status, 200);
    let report: Value = serde_json::from_str(&body).unwrap();
    let series = report["slos"].as_array().unwrap();
    assert_eq!(series.len(), 1_001, "1,000 routes and the overflow series");
    let total = |s: &Value| s["windows"]["30d"]["total"].as_u64().unwrap();
    let good = |s: &Value| s["windows"]["30d"]["good"].as_u64().unwrap();
    assert_eq!(series.iter().map(total).sum::<u64>(), N as u64);
    assert_eq!(series.iter().map(good).sum::<u64>(), N as u64 * 9 / 10);
    let overflow = series
        .iter()
        .find(|s| s["labels"]["route"] == "__overflow__")
        .expect("the overflow series");
    assert_eq!(total(overflow), (N - 1_000) as u64);
    assert_eq!(
        run.metric(
            "slipstream_series_overflow_events_total",
            &[("slo", "routes")]
        ),
        Some((N - 1_000) as f64)
    );
    // A million series would take gigabytes; the limit keeps it to librdkafka's
    // buffers and a thousand series.
    let peak = run.peak_rss_kib();
    eprintln!("peak RSS of `run` after 1M new routes: {} MiB", peak / 1024);
    assert!(peak < 400 * 1024, "peak RSS {} MiB", peak / 1024);
}
