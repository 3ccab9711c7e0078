//! `slipstream gen`: realistic gateway traffic ([`crate::traffic`]) produced into any
//! Kafka, at a steady rate or as fast as the broker takes it, optionally with a scripted
//! incident. Used by `demo`, the end-to-end tests, the benchmarks and docker-compose.
//!
//! Events carry the wall-clock time they are produced at, as a gateway's would.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::run::wall_ms;
use crate::traffic::{ERROR_RATE, Generator};

/// Services `gen` and `demo` simulate unless told otherwise; the first one has the
/// incident.
pub const DEFAULT_SERVICES: [&str; 5] = ["checkout", "payments", "search", "catalog", "accounts"];
/// Routes per service.
const ROUTES: usize = 6;
/// How often the send rate is topped up to its target.
const TICK: Duration = Duration::from_millis(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Every service at its baseline 0.2 % of 5xx.
    Steady,
    /// The first service's 5xx share climbs from 0.2 % to 10 % between minute 1 and 2,
    /// holds, and recovers at minute 5: burn rates and the budget move visibly.
    Incident,
}

impl Scenario {
    /// The 5xx share of the first service `elapsed` into the run.
    pub fn error_rate(self, elapsed: Duration) -> f64 {
        let s = elapsed.as_secs_f64();
        match self {
            Scenario::Steady => ERROR_RATE,
            Scenario::Incident if (60.0..120.0).contains(&s) => {
                ERROR_RATE + (0.10 - ERROR_RATE) * (s - 60.0) / 60.0
            }
            Scenario::Incident if (120.0..300.0).contains(&s) => 0.10,
            Scenario::Incident => ERROR_RATE,
        }
    }
}

#[derive(Clone, Debug)]
pub struct GenOptions {
    pub brokers: String,
    pub topic: String,
    /// Events per second; 0 = as fast as the broker takes them.
    pub rate: u64,
    /// Stop after this long; `None` = until stopped.
    pub duration: Option<Duration>,
    pub scenario: Scenario,
    pub services: Vec<String>,
    pub seed: u64,
    /// Key each record by its service, as gateways do for `scale_out.input_keyed`.
    pub key_by_service: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("cannot create the Kafka producer (brokers {brokers}): {source}")]
    Create {
        brokers: String,
        #[source]
        source: KafkaError,
    },
    #[error("cannot produce to topic `{topic}`: {source}")]
    Produce {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("{unsent} events were not delivered before the flush deadline")]
    Flush { unsent: i32 },
}

/// Produces until the duration is up or `stop` is set; returns how many events were sent.
pub fn generate(options: &GenOptions, stop: &AtomicBool) -> Result<u64, GenError> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &options.brokers)
        .set("client.id", "slipstream-gen")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .set("batch.num.messages", "10000")
        .create()
        .map_err(|source| GenError::Create {
            brokers: options.brokers.clone(),
            source,
        })?;
    let mut generator = Generator::new(options.seed, &options.services, ROUTES);
    let mut line = Vec::with_capacity(256);
    let started = Instant::now();
    let mut sent: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let elapsed = started.elapsed();
        if options.duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        generator.set_error_rate(0, options.scenario.error_rate(elapsed));
        let due = if options.rate == 0 {
            sent + 10_000
        } else {
            (elapsed.as_secs_f64() * options.rate as f64) as u64
        };
        let now = wall_ms();
        while sent < due {
            line.clear();
            let s = generator.write_event(now, &mut line);
            let key = options
                .key_by_service
                .then(|| options.services[s].as_bytes());
            send(&producer, &options.topic, key, &line)?;
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        if options.rate > 0 {
            std::thread::sleep(TICK);
        }
    }
    producer
        .flush(Duration::from_secs(30))
        .map_err(|_| GenError::Flush {
            unsent: producer.in_flight_count(),
        })?;
    Ok(sent)
}

/// Queues one event, waiting for room when librdkafka's queue is full.
fn send(
    producer: &BaseProducer,
    topic: &str,
    key: Option<&[u8]>,
    payload: &[u8],
) -> Result<(), GenError> {
    let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
    if let Some(key) = key {
        record = record.key(key);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(10));
            }
            Err((source, _)) => {
                return Err(GenError::Produce {
                    topic: topic.to_owned(),
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_incident_climbs_holds_and_recovers() {
        let at = |s| Scenario::Incident.error_rate(Duration::from_secs(s));
        assert_eq!(at(30), ERROR_RATE);
        assert!(at(90) > 0.04 && at(90) < 0.06, "{}", at(90));
        assert_eq!(at(200), 0.10);
        assert_eq!(at(400), ERROR_RATE);
        assert_eq!(
            Scenario::Steady.error_rate(Duration::from_secs(200)),
            ERROR_RATE
        );
    }
}
