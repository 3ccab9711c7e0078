//! Where reports and alerts go in `run`: [`prometheus`] (exposition at `/metrics`, with
//! [`sloth`] series), [`alertmanager`] and [`kafka`] topics. Every sink takes a finished
//! evaluation and never blocks ingestion.

pub mod alertmanager;
pub mod kafka;
pub mod prometheus;
pub mod sloth;
