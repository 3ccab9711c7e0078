//! Text → the config loader (`slipstream::config::parse`): it must answer with a config
//! or with an error that names the file, never panic, hang or overflow the stack. A
//! config it accepts must build an engine that ingests and reports, and whose report
//! the alert rules can read.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use slipstream::alert::AlertBook;
use slipstream::config::ConfigError;
use slipstream::engine::Engine;

/// A few events of the default mapping; other mappings refuse them, which is counted too.
const EVENTS: [&str; 3] = [
    r#"{"timestamp":"2026-11-21T11:59:58.120Z","service":"checkout","route":"POST /pay","status":200,"latency_ms":141.0,"operator":"eu-1"}"#,
    r#"{"timestamp":"2026-11-21T11:58:00Z","service":"search","route":"GET /search","status":503,"latency_ms":12}"#,
    r#"{"timestamp":1795262398120,"service":"cart","status":404,"latency_ms":0.3}"#,
];

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let config = match slipstream::config::parse(text, Path::new("fuzz.yaml")) {
        Ok(config) => config,
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.yaml: "), "{message}");
            if let ConfigError::Invalid { field, message, .. } = &e {
                assert!(!field.is_empty() && !message.is_empty(), "{e}");
            }
            return;
        }
    };
    assert!(!config.slos.is_empty());
    let mut engine = Engine::new(&config);
    engine.ingest_all(EVENTS.iter().map(|e| e.as_bytes()));
    let counts = engine.counts();
    assert_eq!(counts.read, EVENTS.len() as u64);
    assert_eq!(counts.read, counts.valid + counts.invalid());
    let at = engine.newest_event_ms().unwrap_or(0) + 1;
    let report = engine
        .evaluate(at)
        .expect("a report just after the newest event");
    AlertBook::default().update(&report, &config.slos, &config.composites);
    serde_json::to_string(&report).expect("a report serialises");
});
