//! Where reports and alerts go in `run`: [`prometheus`] (exposition at `/metrics`) and
//! [`alertmanager`]. Every sink takes a finished evaluation and never blocks ingestion.

pub mod alertmanager;
pub mod prometheus;
pub mod sloth;
