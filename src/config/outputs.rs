//! The `outputs` section: what `run` publishes besides its own metrics and API.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: prometheus, kafka, otlp")]
pub struct RawOutputs {
    pub prometheus: Option<RawPrometheusOutput>,
    pub kafka: Option<RawKafkaOutput>,
    pub otlp: Option<RawOtlpOutput>,
}

/// SLI gauges over OTLP.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: endpoint, protocol, interval"
)]
pub struct RawOtlpOutput {
    /// e.g. `http://127.0.0.1:4317` (gRPC) or `http://127.0.0.1:4318/v1/metrics` (HTTP).
    pub endpoint: String,
    /// `grpc` (default) or `http/protobuf`.
    pub protocol: Option<String>,
    /// Export interval; default 10s.
    pub interval: Option<String>,
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
    pub otlp: Option<OtlpOutput>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OtlpOutput {
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub interval_ms: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
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
    let otlp = match &raw.otlp {
        None => None,
        Some(o) => {
            let endpoint = o.endpoint.trim().to_owned();
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err((
                    "outputs.otlp.endpoint".into(),
                    format!("`{endpoint}` must be a URL such as http://127.0.0.1:4317"),
                ));
            }
            let protocol = match o.protocol.as_deref().map(str::trim) {
                None | Some("grpc") => OtlpProtocol::Grpc,
                Some("http/protobuf") => OtlpProtocol::HttpProtobuf,
                Some(other) => {
                    return Err((
                        "outputs.otlp.protocol".into(),
                        format!("`{other}` is not a protocol; use `grpc` or `http/protobuf`"),
                    ));
                }
            };
            let interval_ms = match &o.interval {
                None => DEFAULT_SLI_INTERVAL_MS,
                Some(t) => super::run::millis(t, false)
                    .map_err(|m| ("outputs.otlp.interval".to_owned(), m))?,
            };
            Some(OtlpOutput {
                endpoint,
                protocol,
                interval_ms,
            })
        }
    };
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
        otlp,
    })
}
