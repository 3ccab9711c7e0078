//! The `outputs` section: what `run` publishes besides its own metrics and API.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: prometheus, kafka, otlp")]
pub struct RawOutputs {
    pub prometheus: Option<RawPrometheusOutput>,
    pub kafka: Option<RawKafkaOutput>,
    /// Not built yet: refused with an error rather than silently ignored.
    pub otlp: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: sloth_compatible")]
pub struct RawPrometheusOutput {
    /// Also expose Sloth's recording-rule series, so Sloth's dashboards work unchanged.
    #[serde(default)]
    pub sloth_compatible: bool,
}

/// SLI snapshot records to a Kafka topic (on the brokers of `kafka`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: sli_topic, interval")]
pub struct RawKafkaOutput {
    pub sli_topic: String,
    /// How often every series' snapshot is produced; default 10s.
    pub interval: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    pub sloth_compatible: bool,
    pub kafka: Option<KafkaOutput>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KafkaOutput {
    pub sli_topic: String,
    pub interval_ms: i64,
}

const DEFAULT_SLI_INTERVAL_MS: i64 = 10_000;

pub fn build(raw: Option<&RawOutputs>) -> Result<Outputs, (String, String)> {
    let Some(raw) = raw else {
        return Ok(Outputs::default());
    };
    if raw.otlp.is_some() {
        return Err((
            "outputs.otlp".into(),
            "this output is not built yet (docs/outputs.md); remove the key".into(),
        ));
    }
    let kafka = match &raw.kafka {
        None => None,
        Some(k) => {
            if k.sli_topic.trim().is_empty() {
                return Err(("outputs.kafka.sli_topic".into(), "name a topic".into()));
            }
            let interval_ms = match &k.interval {
                None => DEFAULT_SLI_INTERVAL_MS,
                Some(t) => super::run::millis(t, false)
                    .map_err(|m| ("outputs.kafka.interval".to_owned(), m))?,
            };
            Some(KafkaOutput {
                sli_topic: k.sli_topic.trim().to_owned(),
                interval_ms,
            })
        }
    };
    Ok(Outputs {
        sloth_compatible: raw.prometheus.as_ref().is_some_and(|p| p.sloth_compatible),
        kafka,
    })
}
