//! Bytes → the event decoder and the engine, under every mapping of `mappings`.
//!
//! The input is cut into lines (NDJSON, as `replay` reads it). Each line is decoded by
//! each mapping's decoder and compared with the oracle of `json` (serde_json). The lines
//! then go through four engines per mapping, one line at a time, in batches, decoded
//! ahead, and counted later grouped by series (`ingest`, `ingest_all`, `ingest_block`,
//! `grouped`); their counts must follow the model of
//! `engine` line by line, and their reports, at two times, must equal each other and the
//! model.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use slipstream::alert::AlertBook;
use slipstream::decode::Decoder;
use slipstream::engine::{DecodedBlock, Engine};
use slipstream_fuzz::engine::Model;
use slipstream_fuzz::json::{Expectation, Expected, expect};
use slipstream_fuzz::mappings::{self, Mapping};

/// Events after 2100-01-01 are `future`.
const LATEST_VALID_MS: i64 = 4_102_444_800_000;

fn mappings() -> &'static [Mapping] {
    static ALL: OnceLock<Vec<Mapping>> = OnceLock::new();
    ALL.get_or_init(|| {
        slipstream_fuzz::rfc3339::self_check();
        mappings::all()
    })
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    for mapping in mappings() {
        check_mapping(mapping, &lines);
    }
});

fn check_mapping(mapping: &Mapping, lines: &[&[u8]]) {
    let config = &mapping.config;
    let n_labels = config.events.labels.len();
    let mut decoder = Decoder::new(&config.events);
    let mut model = Model::new(config, LATEST_VALID_MS);
    let mut one = Engine::new(config);
    one.set_latest_valid(Some(LATEST_VALID_MS));
    for line in lines {
        let decoded = decoder
            .decode(line)
            .map(|event| Expected::of(&event, n_labels));
        if let Ok(event) = &decoded {
            assert!(event.latency_ms.is_finite() && event.latency_ms >= 0.0);
            assert!((100..=599).contains(&event.status));
            assert!(!event.service.is_empty());
        }
        if let Expectation::Exact(expected) = expect(&config.events, line) {
            assert_eq!(
                decoded,
                expected,
                "mapping {}, line {:?}",
                mapping.name,
                String::from_utf8_lossy(line)
            );
        }
        let before = one.counts().clone();
        one.ingest(line);
        let outcome = model.admit(decoded);
        let after = one.counts();
        assert_eq!(
            after, &model.counts,
            "mapping {}: {outcome:?}",
            mapping.name
        );
        assert_eq!(after.read, before.read + 1);
        assert_eq!(after.read, after.valid + after.invalid());
    }
    assert_eq!(one.newest_event_ms(), model.newest_ms());

    let mut batched = Engine::new(config);
    batched.set_latest_valid(Some(LATEST_VALID_MS));
    batched.ingest_all(lines.iter().copied());
    let mut ahead = Engine::new(config);
    ahead.set_latest_valid(Some(LATEST_VALID_MS));
    // The reading thread decodes the first half, the counting thread the rest.
    let mut block = DecodedBlock::default();
    ahead
        .block_decoder()
        .decode(lines, lines.len() / 2, 0, &mut block);
    ahead.block_decoder().finish(&mut block);
    ahead.ingest_block(&block);
    // The same, counted later and grouped by series, as `replay` counts.
    let mut grouped = Engine::new(config);
    grouped.set_latest_valid(Some(LATEST_VALID_MS));
    let mut decoder = grouped.block_decoder();
    let mut held = grouped.grouped();
    for half in lines.chunks(lines.len().div_ceil(2).max(1)) {
        decoder.decode(half, half.len(), 0, &mut block);
        held.ingest_block(&block);
    }
    held.finish();

    // Just after the newest event (off the grid), and on the next whole hour (on the grid
    // of every window).
    let newest = model.newest_ms().unwrap_or(0);
    let hour = 3_600_000;
    let mut book = AlertBook::default();
    for at in [newest + 1, newest.div_euclid(hour) * hour + hour] {
        let report = one
            .evaluate(at)
            .unwrap_or_else(|e| panic!("mapping {}: {e}", mapping.name));
        model.check(config, &report);
        assert_eq!(batched.evaluate(at).as_ref(), Ok(&report), "ingest_all");
        assert_eq!(ahead.evaluate(at).as_ref(), Ok(&report), "ingest_block");
        assert_eq!(grouped.evaluate(at).as_ref(), Ok(&report), "grouped");
        let json = serde_json::to_string(&report).expect("a report serialises");
        serde_json::from_str::<serde_json::Value>(&json).expect("as JSON");
        slipstream::report::table::render(&report);
        book.update(&report, &config.slos, &config.composites);
    }
}
