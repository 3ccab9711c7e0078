//! Where reports and alerts go in `run`: [`prometheus`] (exposition at `/metrics`, with
//! [`sloth`] series and the baseline and budget-policy gauges of `budget`),
//! [`alertmanager`], [`kafka`] topics and [`otlp`]. Every sink takes a finished
//! evaluation and never blocks ingestion.

pub mod alertmanager;
mod budget;
mod config_metrics;
pub mod dead_letter;
pub mod decision_topic;
mod durability_metrics;
mod http_post;
pub mod kafka;
pub mod otlp;
pub mod prometheus;
mod rollup_metrics;
mod scale_metrics;
pub mod sloth;
