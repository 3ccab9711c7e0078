//! The sections of the config that only `run` reads: where events come from (`kafka`),
//! where the API listens (`http`), and which clock windows are evaluated on
//! (`evaluation`). `replay` accepts and ignores them, so one file serves both.
//!
//! Raw mirrors (deny unknown fields) first, then [`build`]: pure checks, defaults in one
//! place ([`RunSettings::default`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

/// librdkafka properties that slipstream sets itself: offsets are stored only once their
/// events are in the engine's state, which a user value would silently break.
const OWNED_PROPERTIES: [(&str, &str); 4] = [
    ("bootstrap.servers", "use `kafka.brokers`"),
    ("group.id", "use `kafka.group`"),
    (
        "enable.auto.offset.store",
        "slipstream stores an offset only after its event is counted",
    ),
    (
        "enable.partition.eof",
        "slipstream tracks the end of partitions itself",
    ),
];

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: brokers, topics, group, properties"
)]
pub struct RawKafka {
    /// Comma-separated `host:port` list.
    pub brokers: Option<String>,
    pub topics: Option<Vec<String>>,
    /// The consumer group.
    pub group: Option<String>,
    /// Passed through to librdkafka (`session.timeout.ms`, `sasl.*` for PLAIN …). This
    /// build has no TLS or SCRAM (docs/run.md).
    #[serde(default)]
    pub properties: BTreeMap<String, RawProperty>,
}

/// A librdkafka property value; YAML may write `6000` or `"6000"`, both mean the same.
#[derive(Debug, Deserialize)]
#[serde(untagged, expecting = "a string, number or boolean")]
pub enum RawProperty {
    Text(String),
    Number(serde_json::Number),
    Bool(bool),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: listen")]
pub struct RawHttp {
    /// `host:port` of the HTTP server (metrics, API, health).
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: clock, delay, interval, max_clock_skew"
)]
pub struct RawEvaluation {
    /// `wall` (default) or `event`.
    pub clock: Option<String>,
    /// How far behind wall-clock now windows are evaluated, for events in flight.
    pub delay: Option<String>,
    /// How often the report is recomputed and exported.
    pub interval: Option<String>,
    /// Events timestamped further than this ahead of wall-clock now are invalid.
    pub max_clock_skew: Option<String>,
}

/// Which time "now" is when windows are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Wall-clock now minus `delay_ms`.
    Wall,
    /// The newest event time, rounded up to the next whole minute (as `replay`).
    Event,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KafkaSettings {
    pub brokers: String,
    pub topics: Vec<String>,
    pub group: String,
    pub properties: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    pub clock: Clock,
    pub delay_ms: i64,
    pub interval_ms: i64,
    pub max_clock_skew_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    pub kafka: KafkaSettings,
    pub listen: SocketAddr,
    pub evaluation: Evaluation,
}

impl Default for RunSettings {
    /// Every default of the run sections, in one place.
    fn default() -> Self {
        RunSettings {
            kafka: KafkaSettings {
                brokers: "127.0.0.1:9092".into(),
                topics: vec!["gateway-events".into()],
                group: "slipstream".into(),
                properties: Vec::new(),
            },
            listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
            evaluation: Evaluation {
                clock: Clock::Wall,
                delay_ms: 5_000,
                interval_ms: 1_000,
                max_clock_skew_ms: 300_000,
            },
        }
    }
}

/// Checks the run sections: `(field path, message)` on error.
pub fn build(
    kafka: &RawKafka,
    http: &RawHttp,
    evaluation: &RawEvaluation,
) -> Result<RunSettings, (String, String)> {
    let mut out = RunSettings::default();
    if let Some(brokers) = &kafka.brokers {
        if brokers.trim().is_empty() {
            return Err(("kafka.brokers".into(), "name at least one host:port".into()));
        }
        out.kafka.brokers = brokers.trim().to_owned();
    }
    if let Some(topics) = &kafka.topics {
        if topics.is_empty() {
            return Err(("kafka.topics".into(), "name at least one topic".into()));
        }
        if let Some(i) = topics.iter().position(|t| t.trim().is_empty()) {
            return Err((format!("kafka.topics[{i}]"), "a topic name is empty".into()));
        }
        out.kafka.topics = topics.clone();
    }
    if let Some(group) = &kafka.group {
        if group.trim().is_empty() {
            return Err(("kafka.group".into(), "a consumer group is needed".into()));
        }
        out.kafka.group = group.trim().to_owned();
    }
    for (key, value) in &kafka.properties {
        if let Some((_, why)) = OWNED_PROPERTIES.iter().find(|(k, _)| k == key) {
            return Err((
                format!("kafka.properties.{key}"),
                format!("slipstream sets this itself: {why}"),
            ));
        }
        let value = match value {
            RawProperty::Text(s) => s.clone(),
            RawProperty::Number(n) => n.to_string(),
            RawProperty::Bool(b) => b.to_string(),
        };
        out.kafka.properties.push((key.clone(), value));
    }
    if let Some(listen) = &http.listen {
        out.listen = listen.trim().parse().map_err(|_| {
            (
                "http.listen".to_owned(),
                format!("`{listen}` is not a host:port such as 127.0.0.1:9898"),
            )
        })?;
    }
    let e = &mut out.evaluation;
    if let Some(clock) = &evaluation.clock {
        e.clock = match clock.trim() {
            "wall" => Clock::Wall,
            "event" => Clock::Event,
            other => {
                return Err((
                    "evaluation.clock".into(),
                    format!("`{other}` is not a clock; use `wall` or `event`"),
                ));
            }
        };
    }
    let field = |name: &str, text: &Option<String>, zero_ok: bool, default: i64| match text {
        None => Ok(default),
        Some(t) => millis(t, zero_ok).map_err(|m| (format!("evaluation.{name}"), m)),
    };
    e.delay_ms = field("delay", &evaluation.delay, true, e.delay_ms)?;
    e.interval_ms = field("interval", &evaluation.interval, false, e.interval_ms)?;
    e.max_clock_skew_ms = field(
        "max_clock_skew",
        &evaluation.max_clock_skew,
        true,
        e.max_clock_skew_ms,
    )?;
    Ok(out)
}

/// `250ms`, `5s`, `1m`, `1h`: a duration in milliseconds, at most a day.
pub(super) fn millis(text: &str, zero_ok: bool) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{text}` has no unit: write it as e.g. `500ms`, `5s` or `1m`"))?;
    let (digits, unit) = text.split_at(split);
    let scale = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => {
            return Err(format!(
                "`{text}` has unit `{unit}`; use one of ms, s, m, h"
            ));
        }
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("`{text}` does not start with a number"))?;
    let ms = n.saturating_mul(scale);
    if ms > 86_400_000 {
        return Err(format!("`{text}` is longer than a day"));
    }
    if ms == 0 && !zero_ok {
        return Err(format!("`{text}` is zero; it must be positive"));
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_ms_to_hours() {
        assert_eq!(millis("250ms", false), Ok(250));
        assert_eq!(millis("5s", false), Ok(5_000));
        assert_eq!(millis("0s", true), Ok(0));
        assert!(millis("0s", false).unwrap_err().contains("zero"));
        assert!(millis("5", false).unwrap_err().contains("no unit"));
        assert!(millis("2d", false).unwrap_err().contains("unit `d`"));
        assert!(
            millis("25h", false)
                .unwrap_err()
                .contains("longer than a day")
        );
    }

    #[test]
    fn owned_properties_are_refused() {
        let mut kafka = RawKafka::default();
        kafka
            .properties
            .insert("enable.auto.offset.store".into(), RawProperty::Bool(true));
        let (field, message) =
            build(&kafka, &RawHttp::default(), &RawEvaluation::default()).unwrap_err();
        assert_eq!(field, "kafka.properties.enable.auto.offset.store");
        assert!(message.contains("after its event is counted"), "{message}");
    }
}
