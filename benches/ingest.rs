//! The engine's speed targets (docs/performance.md):
//! - `decode`: the event decoder alone, against serde_json's borrowed-struct decode;
//! - `ingest`: decode + classify + aggregate, 185-byte events, 4 SLOs over 5k series,
//!   with 5k and with 40k distinct streams, live and backfill;
//! - `evaluate`: one report over those series;
//! - `replay_2m`: `replay` of 2M lines in memory, against serde_json parsing the same lines.
//!
//! Run: `cargo bench --bench ingest` (add `-- ingest` to run one group).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::Deserialize;
use slipstream::decode::Decoder;
use slipstream::engine::Engine;
use slipstream::replay;
use support::{OPERATORS, ROUTES, config, events};

mod support;

#[derive(Deserialize)]
#[allow(dead_code)] // the fields are read by serde; their values are what is measured
struct SerdeEvent<'a> {
    timestamp: &'a str,
    service: &'a str,
    route: Option<&'a str>,
    status: u16,
    latency_ms: f64,
    operator: Option<&'a str>,
}

fn decode(c: &mut Criterion) {
    let lines = events(100_000, 600_000);
    let bytes: usize = lines.iter().map(Vec::len).sum();
    eprintln!("mean event size: {} bytes", bytes / lines.len());
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(lines.len() as u64));
    let mut decoder = Decoder::new(&config(OPERATORS).events);
    group.bench_function("slipstream", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(decoder.decode(line).is_ok());
            }
        })
    });
    group.bench_function("serde_json_borrowed", |b| {
        b.iter(|| {
            for line in &lines {
                black_box(serde_json::from_slice::<SerdeEvent>(line).is_ok());
            }
        })
    });
    group.finish();
}

/// Ingest throughput in two regimes. `live`: event time advances one second per million
/// events, as it does when a fleet that busy is consumed live; each series fills its pane
/// for many events. `backfill`: the same events spread over a day, so nearly every event
/// opens a new pane of its series, the worst case for pane rotation. Events go in through
/// `Engine::ingest_all`, a chunk at a time, as `run` hands the engine each poll's batch.
/// The stream never goes back in time: when it is used up, a fresh engine is warmed on
/// its first chunk, outside the timed region.
fn ingest(c: &mut Criterion) {
    const CHUNK: usize = 100_000;
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(CHUNK as u64));
    for (name, text) in [("routes", ROUTES), ("routes_operators", OPERATORS)] {
        let config = config(text);
        for (regime, span_ms) in [("live", 2_000), ("backfill", 86_400_000)] {
            let lines = events(2_000_000, span_ms);
            let chunks: Vec<&[Vec<u8>]> = lines.chunks(CHUNK).collect();
            let fresh = || {
                let mut engine = Engine::new(&config);
                chunks[0].iter().for_each(|l| engine.ingest(l));
                engine
            };
            let mut engine = fresh();
            let mut next = 1;
            group.bench_function(format!("{name}/{regime}"), |b| {
                b.iter_custom(|iters| {
                    let mut elapsed = std::time::Duration::ZERO;
                    for _ in 0..iters {
                        if next == chunks.len() {
                            engine = fresh();
                            next = 1;
                        }
                        let start = std::time::Instant::now();
                        engine.ingest_all(chunks[next].iter().map(|l| black_box(l.as_slice())));
                        elapsed += start.elapsed();
                        next += 1;
                    }
                    elapsed
                })
            });
            let (bytes, series) = engine.memory();
            eprintln!(
                "{name}/{regime}: {series} series, {} bytes of window state each",
                bytes / series
            );
        }
    }
    group.finish();

    let config = config(ROUTES);
    let lines = events(200_000, 600_000);
    let mut engine = Engine::new(&config);
    lines.iter().for_each(|l| engine.ingest(l));
    let series = engine.memory().1;
    let at = replay::next_minute(engine.newest_event_ms().expect("events"));
    let mut group = c.benchmark_group("evaluate");
    group.throughput(Throughput::Elements(series as u64));
    group.bench_function("routes", |b| {
        b.iter(|| black_box(engine.evaluate(at).expect("retained").slos.len()))
    });
    group.finish();
}

fn replay_2m(c: &mut Criterion) {
    let mut file = Vec::new();
    for line in events(2_000_000, 3_600_000) {
        file.extend_from_slice(&line);
        file.push(b'\n');
    }
    let config = config(ROUTES);
    let mut group = c.benchmark_group("replay_2m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2_000_000));
    group.bench_function("slipstream_replay", |b| {
        b.iter(|| {
            replay::replay(&config, file.as_slice(), None, 0)
                .expect("report")
                .slos
                .len()
        })
    });
    group.bench_function("serde_json_parse_only", |b| {
        b.iter(|| {
            let mut ok = 0u64;
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', &file) {
                ok += u64::from(serde_json::from_slice::<SerdeEvent>(&file[start..end]).is_ok());
                start = end + 1;
            }
            black_box(ok)
        })
    });
    group.finish();
}

criterion_group!(benches, decode, ingest, replay_2m);
criterion_main!(benches);
