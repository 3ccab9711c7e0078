//! The slipstream config an import prints: a serialisable mirror of the config keys it
//! uses, and the check that slipstream's own loader ([`crate::config::parse`]) accepts
//! what is printed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Serialize, Serializer};

use crate::config::{self, ConfigError};

const HEADER: &str = "\
# Translated from OpenSLO by `slipstream import openslo` (docs/openslo.md).
# `events` keeps slipstream's default field names: set a preset (envoy, kong, nginx) or
# the paths of your gateway's events (docs/config.md#events) before running it.
";

#[derive(Clone, Debug, Default, Serialize)]
pub struct SlipstreamConfig {
    #[serde(skip_serializing_if = "Events::is_empty")]
    pub events: Events,
    pub slos: Vec<Slo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub composites: Vec<Composite>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Events {
    /// Paths of the label fields the SLOs select on.
    pub labels: Vec<String>,
}

impl Events {
    fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Slo {
    pub name: String,
    pub service: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub selector: BTreeMap<String, String>,
    pub indicator: Indicator,
    /// Percent.
    pub objective: f64,
    pub window: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Indicator {
    Availability {},
    Latency { threshold_ms: f64 },
}

/// An SLO's or composite's `alerts`: the rules of both tiers, a tier without rules `off`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Alerts {
    #[serde(serialize_with = "tier")]
    pub page: Vec<Rule>,
    #[serde(serialize_with = "tier")]
    pub ticket: Vec<Rule>,
    #[serde(rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    pub long: String,
    pub short: String,
    pub burn_rate: f64,
}

fn tier<S: Serializer>(rules: &[Rule], serializer: S) -> Result<S::Ok, S::Error> {
    if rules.is_empty() {
        serializer.serialize_str("off")
    } else {
        rules.serialize(serializer)
    }
}

/// An entry of `composites` (the composite SLOs' section, in the composites branch).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Composite {
    pub name: String,
    /// Percent.
    pub objective: f64,
    pub window: String,
    pub components: Vec<Component>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Alerts>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Component {
    pub slo: String,
    pub weight: u64,
}

impl SlipstreamConfig {
    pub fn to_yaml(&self) -> Result<String, String> {
        let body = serde_saphyr::to_string(self).map_err(|e| e.to_string())?;
        Ok(format!("{HEADER}{body}"))
    }
}

/// Whether slipstream accepts `slo` on its own, with the event labels `labels`: the
/// validator's message if not.
pub fn check_slo(labels: &[String], slo: &Slo) -> Result<(), String> {
    let single = SlipstreamConfig {
        events: Events {
            labels: labels.to_vec(),
        },
        slos: vec![slo.clone()],
        composites: Vec::new(),
    };
    let yaml = single.to_yaml()?;
    config::parse(&yaml, Path::new("-"))
        .map(drop)
        .map_err(|e| match e {
            ConfigError::Invalid { field, message, .. } => format!("{field}: {message}"),
            other => other.to_string(),
        })
}

/// Checks a translated config with slipstream's own loader.
pub fn validate_output(yaml: &str) -> Result<(), String> {
    config::parse(yaml, Path::new("(translated config)"))
        .map(drop)
        .map_err(|e| e.to_string())
}
