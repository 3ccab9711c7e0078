//! Where reports go in `run`: [`prometheus`] (exposition at `/metrics`). Alertmanager,
//! OpenTelemetry and Kafka sinks follow the same shape: they take a finished report and
//! never block ingestion.

pub mod prometheus;
