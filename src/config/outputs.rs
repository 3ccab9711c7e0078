//! The `outputs` section: what `run` publishes besides its own metrics and API.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: prometheus, kafka, otlp")]
pub struct RawOutputs {
    pub prometheus: Option<RawPrometheusOutput>,
    /// Not built yet: refused with an error rather than silently ignored.
    pub kafka: Option<serde_json::Value>,
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

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    pub sloth_compatible: bool,
}

pub fn build(raw: Option<&RawOutputs>) -> Result<Outputs, (String, String)> {
    let Some(raw) = raw else {
        return Ok(Outputs::default());
    };
    for (key, present) in [("kafka", raw.kafka.is_some()), ("otlp", raw.otlp.is_some())] {
        if present {
            return Err((
                format!("outputs.{key}"),
                "this output is not built yet (docs/alerts.md, \"Not yet built\"); remove the key"
                    .into(),
            ));
        }
    }
    Ok(Outputs {
        sloth_compatible: raw.prometheus.as_ref().is_some_and(|p| p.sloth_compatible),
    })
}
