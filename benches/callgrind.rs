//! Instruction counts per event under callgrind: repeatable where wall-clock figures on a
//! shared machine are not (docs/performance.md). The workloads are those of the `ingest`
//! benchmarks; only the work of `measured_*` functions is meant to be counted:
//!
//! ```sh
//! cargo bench --bench callgrind --no-run        # prints the executable's path
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     --toggle-collect='*count_blocks*' <executable> <workload>
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>
//! ```
//!
//! Workloads: `decode` (300k events), `live` and `backfill` (300k events of the `ingest`
//! regimes, through one `Engine::ingest_all`, after 100k to warm up), `replay` (`replay` of the
//! 2M lines of `replay_2m`; its counting thread runs `count_blocks`, hence the second
//! toggle). Divide the instruction total by the events. Run alone, it prints wall-clock
//! nanoseconds per event too.

use std::hint::black_box;

use slipstream::config::Config;
use slipstream::decode::Decoder;
use slipstream::engine::Engine;
use slipstream::replay;
use support::{ROUTES, config, events};

mod support;

const WARM: usize = 100_000;
const MEASURED: usize = 300_000;
const REPLAY_LINES: usize = 2_000_000;

#[inline(never)]
fn measured_decode(decoder: &mut Decoder, lines: &[Vec<u8>]) -> usize {
    lines
        .iter()
        .filter(|l| decoder.decode(black_box(l)).is_ok())
        .count()
}

#[inline(never)]
fn measured_ingest(engine: &mut Engine, lines: &[Vec<u8>]) {
    engine.ingest_all(lines.iter().map(|l| black_box(l.as_slice())));
}

#[inline(never)]
fn measured_replay(config: &Config, file: &[u8]) -> usize {
    let report = replay::replay(config, file, None, 0).expect("report");
    report.slos.len()
}

fn main() {
    let config = config(ROUTES);
    // `cargo bench` passes `--bench`; the workload is the first other argument.
    let workload = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "backfill".to_owned());
    let (start, n) = match workload.as_str() {
        "decode" => {
            let lines = events(MEASURED, 600_000);
            let mut decoder = Decoder::new(&config.events);
            let start = std::time::Instant::now();
            black_box(measured_decode(&mut decoder, &lines));
            (start, MEASURED)
        }
        "live" | "backfill" => {
            let span_ms = if workload == "live" {
                2_000
            } else {
                86_400_000
            };
            let lines = events(2_000_000, span_ms);
            let mut engine = Engine::new(&config);
            lines[..WARM].iter().for_each(|l| engine.ingest(l));
            let start = std::time::Instant::now();
            measured_ingest(&mut engine, &lines[WARM..WARM + MEASURED]);
            (start, MEASURED)
        }
        "replay" => {
            let mut file = Vec::new();
            for line in events(REPLAY_LINES, 3_600_000) {
                file.extend_from_slice(&line);
                file.push(b'\n');
            }
            let start = std::time::Instant::now();
            black_box(measured_replay(&config, &file));
            (start, REPLAY_LINES)
        }
        other => panic!("unknown workload {other}: decode, live, backfill or replay"),
    };
    let ns = start.elapsed().as_nanos() as f64 / n as f64;
    println!("{workload}: {n} events, {ns:.0} ns per event");
}
