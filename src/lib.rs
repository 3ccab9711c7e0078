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
//! [`engine::Engine`] strings the pure steps together: no I/O, clock or runtime. The
//! front doors only feed it bytes and ask for reports: [`replay`] from a file, and [`run`],
//! the thin async shell of the long-running processor:
//!
//! ```text
//!  Kafka ──▶ source::kafka ──▶ Engine ──(every interval)──▶ Report ──alert──▶ AlertBook
//!            poll + ingest       │                           │               │ transitions
//!            threads             │          sink::prometheus ◀┤               ▼
//!                                │          sink::otlp       ◀┤   sink::alertmanager
//!            run::api ◀──────────┘          sink::kafka      ◀┴──────────────┘
//!            /api/v1/slos, /api/v1/alerts, /metrics, /readyz
//! ```

pub mod alert;
pub mod classify;
pub mod cli;
pub mod config;
pub mod decisions;
pub mod decode;
pub mod demo;
pub mod engine;
pub mod kafka_client;
pub mod loadgen;
pub mod replay;
pub mod report;
pub mod run;
pub mod sink;
pub mod source;
pub mod state;
pub mod traffic;
pub mod window;
