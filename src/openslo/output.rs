//! The slipstream config an import prints: a serialisable mirror of the config keys it
//! uses, and the check that slipstream's own loader ([`crate::config::parse`]) accepts
//! what is printed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};

use crate::config::{self, ConfigError, MAX_WINDOW, Span, alerting};

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
///
/// MERGE(composites): `composites` is not in this branch's config schema yet (the
/// composites branch adds it), so it is taken out here, the rest goes through
/// [`config::parse`], and the composites are checked against the contract of that branch
/// by [`check_composites_until_merged`]. Once both branches are merged, this function is
/// `config::parse(yaml, …)` alone: delete the special case and that function.
pub fn validate_output(yaml: &str) -> Result<(), String> {
    let mut value: serde_json::Value =
        serde_saphyr::from_str(yaml).map_err(|e| format!("not valid YAML: {e}"))?;
    let composites = value.as_object_mut().and_then(|m| m.remove("composites"));
    // JSON is YAML: the loader reads it as it reads any config file.
    let rest = serde_json::to_string(&value).map_err(|e| e.to_string())?;
    let config =
        config::parse(&rest, Path::new("(translated config)")).map_err(|e| e.to_string())?;
    match composites {
        None => Ok(()),
        Some(list) => check_composites_until_merged(list, &config),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingComposite {
    name: String,
    objective: f64,
    window: String,
    components: Vec<PendingComponent>,
    alerts: Option<alerting::RawSloAlerts>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PendingComponent {
    slo: String,
    #[serde(default = "one")]
    weight: u64,
}

fn one() -> u64 {
    1
}

/// The composites branch's rules, as far as they concern a translated config: the keys,
/// names unique across SLOs and composites, components that are SLOs, whole weights >= 1,
/// the objective, window and alert rules of an SLO.
fn check_composites_until_merged(
    list: serde_json::Value,
    config: &config::Config,
) -> Result<(), String> {
    let list: Vec<PendingComposite> = serde_path_to_error::deserialize(list)
        .map_err(|e| format!("composites{}: {}", e.path(), e.inner()))?;
    let mut names: Vec<&str> = config.slos.iter().map(|s| s.name.as_str()).collect();
    for (i, c) in list.iter().enumerate() {
        let fail = |field: &str, m: String| Err(format!("composites[{i}].{field}: {m}"));
        if names.contains(&c.name.as_str()) {
            return fail(
                "name",
                format!("`{}` is already an SLO or composite", c.name),
            );
        }
        names.push(&c.name);
        if !(c.objective.is_finite() && c.objective > 0.0 && c.objective < 100.0) {
            return fail(
                "objective",
                format!("must be above 0 and below 100, got {}", c.objective),
            );
        }
        let window = Span::parse(&c.window).map_err(|m| format!("composites[{i}].window: {m}"))?;
        if window > MAX_WINDOW {
            return fail("window", format!("longer than {MAX_WINDOW}"));
        }
        if c.components.is_empty() {
            return fail("components", "no component".into());
        }
        for (j, component) in c.components.iter().enumerate() {
            if !config.slos.iter().any(|s| s.name == component.slo) {
                return fail(
                    &format!("components[{j}].slo"),
                    format!("`{}` is not an SLO of the config", component.slo),
                );
            }
            if component.weight == 0 {
                return fail(&format!("components[{j}].weight"), "must be >= 1".into());
            }
        }
        alerting::build_policy(c.alerts.as_ref(), None, window)
            .map_err(|(field, m)| format!("composites[{i}].{field}: {m}"))?;
    }
    Ok(())
}
