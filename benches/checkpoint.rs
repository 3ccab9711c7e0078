//! What checkpoints cost at 100,000 series (issue 5's targets: a checkpoint within 2 s,
//! ingestion never paused more than 50 ms by it, a restore within 5 s):
//!
//! - `checkpoint`: one full checkpoint (cut, serialisation in steps, file write, fsync,
//!   rename), while another thread keeps ingesting batches of 2,048 events into the
//!   same engine, as the Kafka source does. Reported: the checkpoint's time and size,
//!   the longest single hold of the engine's lock by a checkpoint step, and the longest
//!   an ingest batch waited for the lock during the checkpoint, against a baseline
//!   of the same ingestion with no checkpoint running.
//! - `restore`: reading, checking and restoring that file into a new engine.
//! - `reload`: a config reload's move of that state into an engine built for the new
//!   config (`Engine::reconfigure`, under the engine's lock: counting pauses for it),
//!   when an objective changes (the state moves as it is) and when an SLO leaves the
//!   population (every series' rings are rebuilt without its good counts; an SLO that
//!   joins starts a population of its own, so that is a move too).
//!
//! Run: `cargo bench --bench checkpoint` (figures in docs/performance.md).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use slipstream::config;
use slipstream::engine::Engine;
use slipstream::state::{self, CheckpointStats, Checkpointer, StateStore};
use slipstream::traffic::Generator;

/// 100 services × 1,000 routes: 100,000 series, each an availability and a latency SLO.
const CONFIG: &str = r#"
limits: { max_series_per_slo: 200000 }
slos:
  - { name: route-availability, service: "*", group_by: [route], indicator: { type: availability }, objective: 99.9, window: 30d }
  - { name: route-latency, service: "*", group_by: [route], indicator: { type: latency, threshold_ms: 300 }, objective: 99, window: 30d }
"#;
const SERIES: usize = 100_000;
const BATCH: usize = 2_048;
const BASE_MS: i64 = 1_795_262_400_000;

fn events(generator: &mut Generator, from: usize, n: usize, step_ms: i64) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| {
            let mut line = Vec::with_capacity(200);
            generator.write_event(BASE_MS + i as i64 * step_ms, &mut line);
            line
        })
        .collect()
}

/// Ingests batches until `stop`; the longest wait for the engine's lock, and batches.
fn ingest_until(
    engine: &parking_lot::Mutex<Engine>,
    lines: &[Vec<u8>],
    stop: &AtomicBool,
) -> (Duration, usize) {
    let mut longest = Duration::ZERO;
    let mut batches = 0;
    for (i, batch) in lines.chunks(BATCH).cycle().enumerate() {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let asked = Instant::now();
        let mut engine = engine.lock();
        longest = longest.max(asked.elapsed());
        engine.ingest_all(batch.iter().map(Vec::as_slice));
        engine.advance("bench", 0, i as i64 + 1);
        drop(engine);
        batches += 1;
    }
    (longest, batches)
}

fn main() {
    let config = config::parse(CONFIG, Path::new("bench.yaml")).expect("config");
    let dir = std::env::temp_dir().join(format!("slipstream-bench-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut generator = Generator::numbered(42, 100, 1_000);
    // About 10 events per series over an hour, then a stream that keeps going.
    let history = events(
        &mut generator,
        0,
        10 * SERIES,
        3_600_000 / (10 * SERIES) as i64,
    );
    let live = events(&mut generator, 10 * SERIES, 200_000, 5);
    let mut engine = Engine::new(&config);
    engine.ingest_all(history.iter().map(Vec::as_slice));
    engine.advance("bench", 0, history.len() as i64);
    let (bytes, series) = engine.memory();
    eprintln!(
        "{series} series, {:.0} MB of window state",
        bytes as f64 / 1e6
    );
    assert!(series >= SERIES * 95 / 100, "only {series} series");
    let engine = Arc::new(parking_lot::Mutex::new(engine));

    // Baseline: the same ingestion with no checkpoint running.
    let stop = AtomicBool::new(false);
    let (baseline, _) = std::thread::scope(|s| {
        let ingest = s.spawn(|| ingest_until(&engine, &live, &stop));
        std::thread::sleep(Duration::from_secs(2));
        stop.store(true, Ordering::Relaxed);
        ingest.join().unwrap()
    });

    let stats = Arc::new(CheckpointStats::default());
    let store = StateStore::open(&dir).expect("state dir");
    let checkpointer = Checkpointer::new(
        store,
        engine.clone(),
        stats.clone(),
        Duration::from_secs(10),
    );
    let stop = AtomicBool::new(false);
    let (took, (waited, batches)) = std::thread::scope(|s| {
        let ingest = s.spawn(|| ingest_until(&engine, &live, &stop));
        std::thread::sleep(Duration::from_millis(200));
        let started = Instant::now();
        checkpointer.checkpoint().expect("checkpoint written");
        let took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        (took, ingest.join().unwrap())
    });
    let size = stats.last_bytes.load(Ordering::Relaxed);
    println!(
        "checkpoint: {:.3} s for {} series, {:.1} MB; longest step {:.1} ms; \
         longest ingest wait {:.1} ms during it ({batches} batches), {:.1} ms without",
        took.as_secs_f64(),
        stats.last_series.load(Ordering::Relaxed),
        size as f64 / 1e6,
        stats.max_hold_us.load(Ordering::Relaxed) as f64 / 1e3,
        waited.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
    );
    drop(checkpointer);

    let started = Instant::now();
    let (_, restored) =
        state::open_and_restore(&dir, &config, &CheckpointStats::default()).expect("restores");
    println!(
        "restore: {:.3} s for {} series",
        started.elapsed().as_secs_f64(),
        restored.memory().1
    );
    let mut engine = restored;
    for (what, text) in [
        (
            "objective changed",
            CONFIG.replace("objective: 99.9,", "objective: 99.95,"),
        ),
        (
            "an SLO leaves the population",
            CONFIG
                .lines()
                .filter(|l| !l.contains("route-latency"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ] {
        let new = config::parse(&text, Path::new("bench.yaml")).expect("config");
        let started = Instant::now();
        let carried = engine.reconfigure(&new);
        let took = started.elapsed();
        assert!(
            carried.restarted_slos.is_empty(),
            "{:?}",
            carried.restarted_slos
        );
        println!(
            "reload ({what}): {:.1} ms for {} series carried",
            took.as_secs_f64() * 1e3,
            carried.series
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
