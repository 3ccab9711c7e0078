//! Oracles for the fuzz targets in `fuzz_targets/` (docs/fuzzing.md).
//!
//! Each oracle recomputes, from the documented contract and independently of slipstream's
//! code, what slipstream must answer: [`json`] what the decoder makes of one line (read
//! with serde_json), [`engine`] what the engine counts and reports from a sequence of
//! decoded events (docs/semantics.md). The targets compare; a difference is a crash.

pub mod engine;
pub mod json;
pub mod mappings;
pub mod rfc3339;
