//! slipstream: exact sliding-window SLIs, error budgets and burn rates from a stream of
//! per-request gateway events.
//!
//! The data path, one module per step, each a plain type in and out:
//!
//! ```text
//!  bytes ──decode──▶ Event ──classify──▶ series (+ good mask per SLO)
//!        (decode)          (classify)          │
//!                                              ▼
//!  sinks ◀──render── Report ◀──evaluate── window state: panes on rings
//!  (replay)          (report)  (engine)        (window)
//! ```
//!
//! The config decides what the steps do, once, before any event: [`config`] turns tiers
//! and `services` rules into ordinary SLOs (fleet defaults), checks tier floors, and
//! gives every SLO its alert rules and error-budget policy; `slipstream check` lists the
//! result. At evaluation, [`report`] adds to the per-series numbers what is derived from
//! them alone: composites (weighted sums of other SLOs' windows), roll-ups along a label
//! with a top-k of budget burned, the baseline on the objective ladder, and the current
//! budget-policy action.
//!
//! [`engine::Engine`] strings the pure steps together: no I/O, clock or runtime. The
//! front doors only feed it bytes and ask for reports: [`replay`] (and `baseline`) from a
//! file, and [`run`], the thin async shell of the long-running processor:
//!
//! ```text
//!  Kafka ──▶ source::kafka ──▶ Engine ──(every interval)──▶ Report ──alert──▶ AlertBook
//!            poll + ingest       │                           │               │ transitions
//!            threads             │          sink::prometheus ◀┤               ▼
//!                                │          sink::otlp       ◀┤   sink::alertmanager
//!            run::api ◀──────────┘          sink::kafka      ◀┴──────────────┘
//!            /api/v1/slos, /api/v1/slos/{name}/budget, /api/v1/alerts, /metrics, /readyz
//! ```
//!
//! With `scale_out`, [`scale`] splits the source in two stages over Kafka (stage 1
//! pre-aggregates into a repartition topic keyed by series; stage 2 owns each series on
//! one instance and feeds the same engine), so several instances give the SLIs of one;
//! with keyed input, each input partition owns its series and stage 1 is skipped.
//!
//! [`openslo`] is a front door of another kind: it translates OpenSLO v1 documents into
//! a slipstream config.

pub mod alert;
pub mod check;
pub mod classify;
pub mod cli;
pub mod config;
pub mod decisions;
pub mod decode;
pub mod demo;
pub mod engine;
pub mod kafka_client;
pub mod loadgen;
pub mod openslo;
pub mod replay;
pub mod report;
pub mod run;
pub mod scale;
pub mod sink;
pub mod source;
pub mod state;
pub mod traffic;
pub mod window;
