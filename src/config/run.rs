//! The sections of the config that only `run` reads: where events come from (`kafka`),
//! where the API listens (`http`), and which clock windows are evaluated on
//! (`evaluation`). `replay` accepts and ignores them, so one file serves both.
//!
//! Raw mirrors (deny unknown fields) first, then [`build`]: pure checks, defaults in one
//! place ([`RunSettings::default`]). Secrets (the bearer token, `kafka.properties_env`)
//! are named by environment variable and read only by [`RunSettings::read_env`], which
//! `run` calls and `replay` does not.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use serde::Deserialize;

use super::secret::{FromEnv, Secret, check_var_name, is_secret_property};

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
    expecting = "a mapping: brokers, topics, group, properties, properties_env"
)]
pub struct RawKafka {
    /// Comma-separated `host:port` list.
    pub brokers: Option<String>,
    pub topics: Option<Vec<String>>,
    /// The consumer group.
    pub group: Option<String>,
    /// Passed through to librdkafka (`session.timeout.ms`, `security.protocol`,
    /// `sasl.mechanisms`, `ssl.ca.location` …); secrets are refused here.
    #[serde(default)]
    pub properties: BTreeMap<String, RawProperty>,
    /// librdkafka property → the environment variable holding its value, for secrets
    /// (`sasl.password: KAFKA_SASL_PASSWORD`).
    #[serde(default)]
    pub properties_env: BTreeMap<String, String>,
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
#[serde(deny_unknown_fields, expecting = "a mapping: listen, token_env")]
pub struct RawHttp {
    /// `host:port` of the HTTP server (metrics, API, health).
    pub listen: Option<String>,
    /// The environment variable holding the bearer token every endpoint but the probes
    /// requires.
    pub token_env: Option<String>,
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
    /// Passed to librdkafka as they are; never a secret ([`is_secret_property`]).
    pub properties: Vec<(String, String)>,
    /// Passed to librdkafka with the value of their environment variable.
    pub properties_env: Vec<(String, FromEnv)>,
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
    /// `http.token_env`: the bearer token of every endpoint but `/healthz` and `/readyz`.
    pub token: Option<FromEnv>,
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
                properties_env: Vec::new(),
            },
            listen: SocketAddr::from(([127, 0, 0, 1], 9898)),
            token: None,
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
        let field = format!("kafka.properties.{key}");
        owned(key).map_err(|m| (field.clone(), m))?;
        if is_secret_property(key) {
            // An error, not a warning: a config file is read by more people and tools
            // (repositories, ConfigMaps, CI logs) than its secrets should be, and a
            // warning is seen only once the secret is already there.
            return Err((
                field,
                format!(
                    "`{key}` holds a secret, which does not belong in a config file: put \
                     it in an environment variable and name that in `kafka.properties_env` \
                     (e.g. `properties_env: {{ {key}: KAFKA_SECRET }}`)"
                ),
            ));
        }
        if kafka.properties_env.contains_key(key) {
            return Err((
                field,
                format!("`{key}` is also in `kafka.properties_env`; keep one of the two"),
            ));
        }
        let value = match value {
            RawProperty::Text(s) => s.clone(),
            RawProperty::Number(n) => n.to_string(),
            RawProperty::Bool(b) => b.to_string(),
        };
        out.kafka.properties.push((key.clone(), value));
    }
    for (key, var) in &kafka.properties_env {
        let field = format!("kafka.properties_env.{key}");
        owned(key).map_err(|m| (field.clone(), m))?;
        check_var_name(var.trim()).map_err(|m| (field, m))?;
        out.kafka
            .properties_env
            .push((key.clone(), FromEnv::named(var.trim())));
    }
    if let Some(listen) = &http.listen {
        out.listen = listen.trim().parse().map_err(|_| {
            (
                "http.listen".to_owned(),
                format!("`{listen}` is not a host:port such as 127.0.0.1:9898"),
            )
        })?;
    }
    if let Some(var) = &http.token_env {
        check_var_name(var.trim()).map_err(|m| ("http.token_env".to_owned(), m))?;
        out.token = Some(FromEnv::named(var.trim()));
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

/// Refuses a property slipstream sets itself.
fn owned(key: &str) -> Result<(), String> {
    match OWNED_PROPERTIES.iter().find(|(k, _)| *k == key) {
        Some((_, why)) => Err(format!("slipstream sets this itself: {why}")),
        None => Ok(()),
    }
}

impl RunSettings {
    /// Reads every secret the config names from the environment (`lookup` is
    /// `std::env::var` outside tests): `(field path, message)` for a variable that is not
    /// set or empty. The token loses surrounding whitespace (no HTTP client can send
    /// it); Kafka values are used as they are.
    pub fn read_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), (String, String)> {
        if let Some(token) = &mut self.token {
            let value = lookup(&token.var).map(|v| v.trim().to_owned());
            token.value = Some(Secret::new(value.filter(|v| !v.is_empty()).ok_or_else(
                || {
                    (
                        "http.token_env".to_owned(),
                        format!(
                            "the environment variable `{}` is not set or is empty: set it \
                             to the bearer token clients must send, or remove \
                             `http.token_env`",
                            token.var
                        ),
                    )
                },
            )?));
        }
        for (key, from) in &mut self.kafka.properties_env {
            let value = lookup(&from.var).filter(|v| !v.is_empty());
            from.value = Some(Secret::new(value.ok_or_else(|| {
                (
                    format!("kafka.properties_env.{key}"),
                    format!(
                        "the environment variable `{}` is not set or is empty: set it to \
                         the value of `{key}`, or remove this entry",
                        from.var
                    ),
                )
            })?));
        }
        Ok(())
    }

    /// The first secret [`RunSettings::read_env`] has not read yet, as `(field path,
    /// variable)`.
    pub fn unread_env(&self) -> Option<(String, String)> {
        let token = self.token.iter().map(|t| ("http.token_env".to_owned(), t));
        let kafka = self
            .kafka
            .properties_env
            .iter()
            .map(|(key, t)| (format!("kafka.properties_env.{key}"), t));
        token
            .chain(kafka)
            .find(|(_, t)| t.value.is_none())
            .map(|(field, t)| (field, t.var.clone()))
    }
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
mod tests;
