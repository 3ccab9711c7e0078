//! Where events come from in `run`: a Kafka consumer-group member ([`kafka`]) that feeds
//! raw payloads to the same [`crate::engine::Engine`] that `replay` feeds from a file.
//!
//! [`SourceStatus`] is what the rest of the process may know about the source (for
//! `/readyz` and the self-metrics) without touching the consumer.

mod context;
pub mod kafka;

use std::sync::Mutex;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::statistics::Statistics;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// A partition whose lag behind its high watermark counts as caught up, in messages.
pub const CAUGHT_UP_LAG: i64 = 1_000;

/// The consumer lag of one assigned partition, from librdkafka's statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// Messages behind the high watermark; `None` until librdkafka knows it.
    pub lag: Option<i64>,
}

/// Written by the consumer thread and its callbacks, read by the HTTP server and the
/// evaluator. Atomics and one small mutex: nothing here is touched per event.
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// Some broker is up (librdkafka's statistics, or a successful fetch).
    pub connected: AtomicBool,
    pub assigned_partitions: AtomicUsize,
    pub messages_consumed: AtomicU64,
    pub kafka_errors: AtomicU64,
    pub lags: Mutex<Vec<PartitionLag>>,
}

impl SourceStatus {
    /// Ready: connected, with partitions assigned, and every one of them within
    /// [`CAUGHT_UP_LAG`] of its high watermark. `Err` says which of these is missing.
    pub fn ready(&self) -> Result<(), String> {
        if !self.connected.load(Ordering::Relaxed) {
            return Err("not connected to any Kafka broker".into());
        }
        let assigned = self.assigned_partitions.load(Ordering::Relaxed);
        if assigned == 0 {
            return Err("no partitions assigned (yet) to this consumer".into());
        }
        let lags = self.lags.lock().unwrap_or_else(|e| e.into_inner());
        if lags.len() < assigned {
            return Err(format!(
                "lag known for {} of {assigned} assigned partitions",
                lags.len()
            ));
        }
        for p in lags.iter() {
            match p.lag {
                Some(lag) if lag <= CAUGHT_UP_LAG => {}
                Some(lag) => {
                    return Err(format!(
                        "{}[{}] is {lag} messages behind (caught up means at most {CAUGHT_UP_LAG})",
                        p.topic, p.partition
                    ));
                }
                None => {
                    return Err(format!("lag of {}[{}] not known yet", p.topic, p.partition));
                }
            }
        }
        Ok(())
    }

    /// Takes in librdkafka's statistics (every [`crate::kafka_client::STATISTICS`], on
    /// the consumer's thread): connected if some broker is up, and the lag of each
    /// partition this member consumes.
    pub fn observe(&self, stats: &Statistics) {
        let connected = stats.brokers.values().any(|b| b.state == "UP");
        self.connected.store(connected, Ordering::Relaxed);
        let mut lags: Vec<PartitionLag> = stats
            .topics
            .iter()
            .flat_map(|(name, topic)| {
                topic
                    .partitions
                    .values()
                    .filter(|p| p.partition >= 0 && p.desired)
                    .map(move |p| PartitionLag {
                        topic: name.clone(),
                        partition: p.partition,
                        lag: counted_lag(p),
                    })
            })
            .collect();
        lags.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        *self.lags.lock().unwrap_or_else(|e| e.into_inner()) = lags;
    }

    /// Counts a client error; all brokers down means not connected until the next
    /// statistics say otherwise.
    pub fn observe_error(&self, error: &KafkaError, reason: &str) {
        self.kafka_errors.fetch_add(1, Ordering::Relaxed);
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.connected.store(false, Ordering::Relaxed);
        }
        // librdkafka logs the same error through `log`; counting it is what is left.
        tracing::debug!("kafka: {error}: {reason}");
    }
}

/// Messages between the high watermark and the next one this member would count: the
/// stored offset (what is counted, where offsets are stored per batch), else the next one
/// handed to the application (where they are committed by hand once durable), else the
/// committed one, else the log start. librdkafka's own `consumer_lag` measures from the
/// committed offset, which trails by the commit interval (or the checkpoint interval).
fn counted_lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    if p.hi_offset < 0 {
        return None;
    }
    let position = [
        p.stored_offset,
        p.app_offset,
        p.committed_offset,
        p.lo_offset,
    ]
    .into_iter()
    .find(|&o| o >= 0)?;
    Some((p.hi_offset - position).max(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_a_connection_partitions_and_small_lag() {
        let status = SourceStatus::default();
        assert!(status.ready().unwrap_err().contains("not connected"));
        status.connected.store(true, Ordering::Relaxed);
        assert!(status.ready().unwrap_err().contains("no partitions"));
        status.assigned_partitions.store(1, Ordering::Relaxed);
        assert!(status.ready().unwrap_err().contains("0 of 1"));
        let lag = |lag| PartitionLag {
            topic: "t".into(),
            partition: 0,
            lag,
        };
        *status.lags.lock().unwrap() = vec![lag(None)];
        assert!(status.ready().unwrap_err().contains("not known"));
        *status.lags.lock().unwrap() = vec![lag(Some(CAUGHT_UP_LAG + 1))];
        assert!(status.ready().unwrap_err().contains("behind"));
        *status.lags.lock().unwrap() = vec![lag(Some(3))];
        assert_eq!(status.ready(), Ok(()));
    }
}
