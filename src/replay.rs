//! `slipstream replay`: NDJSON events from a file or stdin through the engine, then one
//! report. The offline front door to the same code path that the Kafka source feeds.
//!
//! Lines are cut from large reads in place (no allocation per line) and go to the engine
//! a read at a time, so that it can batch them. A line longer than
//! the event limit is counted as `too_large` and skipped without being buffered, so memory
//! stays bounded whatever the input. Blank lines are not events and are not counted.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, TryRecvError, TrySendError};

use crate::config::Config;
use crate::decode::{Invalid, MAX_EVENT_BYTES};
use crate::engine::{BlockDecoder, DecodedBlock, Engine, EvalError};
use crate::report::Report;

const READ_CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the input: {0}")]
    Read(#[from] std::io::Error),
    #[error(transparent)]
    Evaluate(#[from] EvalError),
}

/// Replays `input` and evaluates at `at_ms`, or, by default, at the newest valid event
/// time rounded up to the next whole minute (`now_ms` rounded up when there is none).
pub fn replay(
    config: &Config,
    input: impl Read,
    at_ms: Option<i64>,
    now_ms: i64,
) -> Result<Report, ReplayError> {
    let mut engine = Engine::new(config);
    engine.set_horizon(at_ms);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        read_and_count(&mut engine, input)?;
    } else {
        for_each_batch(input, |lines, too_large| {
            engine.ingest_all(lines.iter().copied());
            (0..too_large).for_each(|_| engine.reject(Invalid::TooLarge));
        })?;
    }
    let at = at_ms.unwrap_or_else(|| {
        let latest = engine.newest_event_ms().unwrap_or(now_ms - 1);
        next_minute(latest)
    });
    let report = engine.evaluate(at)?;
    if cores > 1 {
        // Freeing the windows of every series takes a few percent of a replay; the report
        // does not wait for it (and `main` prints while it runs, then exits). Should no
        // thread start, the engine is freed here, as the closure is dropped.
        let _ = std::thread::Builder::new()
            .name("slipstream-free".into())
            .spawn(move || drop(engine));
    }
    Ok(report)
}

/// Events per block handed from the decoding thread to the counting one: enough that the
/// hand-over is rare (a few microseconds per block), few enough that blocks stay in cache.
const BLOCK_EVENTS: usize = 1024;
/// Blocks decoded ahead of the counting thread at most: enough that the reading thread
/// keeps decoding while the counting one sorts a group of series counts (see
/// `engine::grouped`; a few milliseconds), about 15 MB at most. 32 and 64 measured
/// slower (docs/performance.md).
const BLOCKS_AHEAD: usize = 160;
/// How many events of a block the reading thread decodes at first (it also reads and cuts
/// lines; the counting thread decodes the rest). Only a starting point: it moves.
const READER_SHARE: usize = BLOCK_EVENTS * 3 / 4;
/// The reader's share moves by this many events whenever one thread waits for the other,
/// or the reader is more than [`AHEAD_ENOUGH`] blocks ahead.
const SHARE_STEP: usize = 8;
/// Blocks queued beyond which the reading thread counts as ahead, and takes more of the
/// decoding. The queue itself is deeper, to absorb the counting thread's sorts; waiting
/// for it to fill before moving the split would leave the reader idle meanwhile.
const AHEAD_ENOUGH: usize = 8;

/// Reads `input` on this thread while `engine` counts on another. Decoding and counting
/// cost about the same, and which is the busier depends on the input (a first replay
/// also pays for the pages of a new state while counting), so each block is split: this
/// thread decodes the first part of it, the counting thread the rest, then counts it.
/// The split follows who waits: many blocks queued mean this thread is ahead and takes
/// more, none that the counting thread is. Blocks go through a bounded channel
/// in order and come back empty to be reused, so the report is the same as from one
/// thread, and memory stays bounded.
fn read_and_count(engine: &mut Engine, input: impl Read) -> std::io::Result<()> {
    let mut decoder = engine.block_decoder();
    let share = AtomicUsize::new(READER_SHARE);
    let counted = AtomicUsize::new(0);
    let mut sent = 0;
    let (full, full_rx) = mpsc::sync_channel::<DecodedBlock>(BLOCKS_AHEAD);
    let (empty, empty_rx) = mpsc::channel::<DecodedBlock>();
    std::thread::scope(|scope| {
        let finisher = engine.block_decoder();
        let (share, counted) = (&share, &counted);
        let counter =
            scope.spawn(move || count_blocks(engine, finisher, &full_rx, &empty, share, counted));
        let mut send = |block: DecodedBlock| {
            sent += 1;
            let more = || {
                let now = share.load(Ordering::Relaxed);
                share.store((now + SHARE_STEP).min(BLOCK_EVENTS), Ordering::Relaxed);
            };
            match full.try_send(block) {
                Ok(()) => {
                    if sent - counted.load(Ordering::Relaxed) > AHEAD_ENOUGH {
                        more();
                    }
                }
                Err(TrySendError::Full(block)) => {
                    more();
                    // Fails only if the counting thread panicked; joining it below
                    // re-raises.
                    let _ = full.send(block);
                }
                Err(TrySendError::Disconnected(_)) => {}
            }
        };
        let read = for_each_batch(input, |lines, too_large| {
            let chunks = lines.chunks(BLOCK_EVENTS);
            let n = chunks.len();
            for (i, chunk) in chunks.enumerate() {
                let mut block = empty_rx.try_recv().unwrap_or_default();
                let now = share.load(Ordering::Relaxed);
                // The lines refused as too large go with the last block of the read.
                let refused = if i + 1 == n { too_large } else { 0 };
                decoder.decode(chunk, now, refused, &mut block);
                send(block);
            }
            if n == 0 && too_large > 0 {
                let mut block = empty_rx.try_recv().unwrap_or_default();
                decoder.decode(&[], 0, too_large, &mut block);
                send(block);
            }
        });
        drop(full);
        if let Err(panic) = counter.join() {
            std::panic::resume_unwind(panic);
        }
        read
    })
}

/// The counting thread: finishes decoding each block, counts it, and sends it back.
fn count_blocks(
    engine: &mut Engine,
    mut decoder: BlockDecoder,
    full: &mpsc::Receiver<DecodedBlock>,
    empty: &mpsc::Sender<DecodedBlock>,
    share: &AtomicUsize,
    counted: &AtomicUsize,
) {
    let mut engine = engine.grouped();
    loop {
        let mut block = match full.try_recv() {
            Ok(block) => block,
            Err(TryRecvError::Empty) => {
                let now = share.load(Ordering::Relaxed);
                share.store(now.saturating_sub(SHARE_STEP), Ordering::Relaxed);
                match full.recv() {
                    Ok(block) => block,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        decoder.finish(&mut block);
        engine.ingest_block(&block);
        counted.fetch_add(1, Ordering::Relaxed);
        // The reader may be done with empty blocks already.
        let _ = empty.send(block);
    }
    engine.finish();
}

/// The next whole minute strictly after `ms`, so that an event at `ms` is inside every
/// window evaluated there.
pub fn next_minute(ms: i64) -> i64 {
    ms.div_euclid(60_000) * 60_000 + 60_000
}

/// Calls `f` with the non-blank lines of each read of `input`, and the number of lines
/// over [`MAX_EVENT_BYTES`] among them; the bytes of those are dropped as they are read.
pub fn for_each_batch(
    mut input: impl Read,
    mut f: impl FnMut(&[&[u8]], usize),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; READ_CHUNK + MAX_EVENT_BYTES + 1];
    let mut filled = 0;
    let mut skipping = false;
    loop {
        let n = match input.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let end_of_input = n == 0;
        filled += n;
        // One vector per read (about a megabyte of events), not per line.
        let mut lines: Vec<&[u8]> = Vec::with_capacity(filled / 128 + 1);
        let mut too_large = 0;
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..filled]) {
            if skipping {
                skipping = false;
            } else {
                keep(&buf[start..start + nl], &mut lines, &mut too_large);
            }
            start += nl + 1;
        }
        if end_of_input {
            if !skipping && start < filled {
                keep(&buf[start..filled], &mut lines, &mut too_large);
            }
            f(&lines, too_large);
            return Ok(());
        }
        let rest = filled - start;
        if rest > MAX_EVENT_BYTES && !skipping {
            too_large += 1;
            skipping = true;
        }
        f(&lines, too_large);
        if skipping {
            filled = 0;
        } else {
            buf.copy_within(start..filled, 0);
            filled = rest;
        }
    }
}

#[inline]
fn keep<'a>(line: &'a [u8], lines: &mut Vec<&'a [u8]>, too_large: &mut usize) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r')) {
        return;
    }
    if line.len() > MAX_EVENT_BYTES {
        *too_large += 1;
    } else {
        lines.push(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines as read, `None` for each line too large.
    fn lines(input: &[u8]) -> Vec<Option<Vec<u8>>> {
        let mut out = Vec::new();
        for_each_batch(input, |lines, too_large| {
            out.extend(lines.iter().map(|l| Some(l.to_vec())));
            out.extend((0..too_large).map(|_| None));
        })
        .unwrap();
        out
    }

    #[test]
    fn splits_lines_skips_blanks_and_strips_cr() {
        let got = lines(b"a\r\n\n  \t\r\nb\nc");
        assert_eq!(
            got,
            [
                Some(b"a".to_vec()),
                Some(b"b".to_vec()),
                Some(b"c".to_vec())
            ]
        );
    }

    #[test]
    fn oversized_lines_are_counted_once_and_not_buffered() {
        let mut input = b"first\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 3 * MAX_EVENT_BYTES));
        input.extend_from_slice(b"\nlast\n");
        let mut got = lines(&input);
        got.sort();
        assert_eq!(got, [None, Some(b"first".to_vec()), Some(b"last".to_vec())]);
    }

    #[test]
    fn decoding_on_another_thread_changes_nothing() {
        let config = crate::config::parse(
            "slos:\n  - { name: a, service: \"*\", group_by: [route], indicator: { type: latency, \
             threshold_ms: 100 }, objective: 99, window: 30d }\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        // Over a megabyte (several reads and blocks), with invalid, blank, late and
        // oversized lines among the events.
        let mut traffic = crate::traffic::Generator::numbered(3, 4, 20);
        let mut input = Vec::new();
        for i in 0..12_000i64 {
            let late = if i % 97 == 0 { 3_600_000 } else { 0 };
            traffic.write_event(1_795_262_400_000 + i * 700 - late, &mut input);
            input.push(b'\n');
            match i % 1000 {
                10 => input.extend_from_slice(b"{\"service\":\"x\"}\nnot json\n\n"),
                500 => input.extend(std::iter::repeat_n(b'x', MAX_EVENT_BYTES + 1)),
                _ => continue,
            }
            input.push(b'\n');
        }
        let mut one = Engine::new(&config);
        for_each_batch(input.as_slice(), |lines, too_large| {
            one.ingest_all(lines.iter().copied());
            (0..too_large).for_each(|_| one.reject(Invalid::TooLarge));
        })
        .unwrap();
        let mut two = Engine::new(&config);
        read_and_count(&mut two, input.as_slice()).unwrap();
        assert_eq!(two.counts(), one.counts());
        assert_eq!(one.counts().invalid(), 12 * 2 + 12);
        let at = next_minute(one.newest_event_ms().unwrap());
        assert_eq!(two.evaluate(at).unwrap(), one.evaluate(at).unwrap());
    }

    #[test]
    fn a_block_counts_the_same_whichever_thread_decoded_what() {
        let config = crate::config::parse(
            "slos:\n  - { name: a, service: \"*\", group_by: [route], indicator: { type: \
             availability }, objective: 99, window: 1d }\n",
            std::path::Path::new("t.yaml"),
        )
        .unwrap();
        let mut traffic = crate::traffic::Generator::numbered(5, 3, 7);
        let mut lines: Vec<Vec<u8>> = (0..300i64)
            .map(|i| {
                let mut line = Vec::new();
                traffic.write_event(1_795_262_400_000 + i * 900, &mut line);
                line
            })
            .collect();
        lines.insert(40, b"not json".to_vec());
        let payloads: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        let counted = |now: usize| {
            let mut engine = Engine::new(&config);
            let (mut decoder, mut finisher) = (engine.block_decoder(), engine.block_decoder());
            let mut block = DecodedBlock::default();
            decoder.decode(&payloads, now, 2, &mut block);
            finisher.finish(&mut block);
            engine.ingest_block(&block);
            let at = next_minute(engine.newest_event_ms().unwrap());
            (engine.counts().clone(), engine.evaluate(at).unwrap())
        };
        let all = counted(payloads.len());
        assert_eq!(all.0.invalid(), 1 + 2);
        for now in [0, 1, 40, 41, 299] {
            assert_eq!(counted(now), all, "the reader decoded {now}");
        }
    }

    #[test]
    fn next_minute_is_strictly_later() {
        assert_eq!(next_minute(0), 60_000);
        assert_eq!(next_minute(59_999), 60_000);
        assert_eq!(next_minute(60_000), 120_000);
    }
}
