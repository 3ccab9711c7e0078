//! `slipstream import openslo`: OpenSLO v1 objects (SLO, SLI, AlertPolicy, AlertCondition,
//! Service, DataSource, AlertNotificationTarget) → a slipstream config, plus one warning for
//! everything that could not be mapped exactly. docs/openslo.md is the user's contract.
//!
//! Three steps, all pure ([`import_file`] only reads the file): [`read`] splits the YAML into objects and deserialises each into
//! the serde model below (an object that does not fit is a warning, not a failure of the
//! whole file); [`map::translate`] maps them; [`output`] serialises the config and checks
//! that slipstream's own loader accepts it before anything is printed.
//!
//! The model mirrors the OpenSLO v1 README and OpenSLO/go-sdk `pkg/openslo/v1`. Every
//! struct whose fields the spec lists denies unknown fields, so a typo is reported rather
//! than silently dropped; `metricSource.spec` and `connectionDetails` are open by the spec.

mod alerts;
mod composite;
mod map;
mod output;
mod read;
mod source;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Span;

pub use output::validate_output;
pub use read::Documents;
use read::{ReadError, read};

/// The only `apiVersion` read.
pub const API_VERSION: &str = "openslo/v1";

/// Our annotation namespace (`openslo.com/` is reserved by the spec).
pub const ANNOTATION_PREFIX: &str = "slipstream.dev/";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid YAML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    NotOpenSlo { path: PathBuf, message: String },
    /// The translation produced a config slipstream refuses: a bug of the importer, since
    /// every SLO is checked on its own before it is kept.
    #[error("the translated config does not load: {0}")]
    Output(String),
}

/// One thing not mapped, or mapped with a caveat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// `SLO`, `SLI`, `AlertPolicy`, ...
    pub kind: String,
    pub name: String,
    /// Where in the object, e.g. `spec.timeWindow[0].duration`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "warning: {}/{}: {}: {}",
            self.kind, self.name, self.field, self.message
        )
    }
}

/// What an import produced.
#[derive(Debug)]
pub struct Import {
    /// The slipstream config, or none when no SLO could be mapped.
    pub yaml: Option<String>,
    /// In input order, each at most once.
    pub warnings: Vec<Warning>,
    /// OpenSLO SLO objects read, and how many of them were mapped.
    pub slos_read: usize,
    pub slos_mapped: usize,
    /// What the config holds.
    pub slipstream_slos: usize,
    pub composites: usize,
}

impl Import {
    /// The one-line summary printed after the warnings.
    pub fn summary(&self) -> String {
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "openslo: {} of {} mapped ({}, {}); {}",
            self.slos_mapped,
            count(self.slos_read, "SLO"),
            count(self.slipstream_slos, "slipstream SLO"),
            count(self.composites, "composite"),
            count(self.warnings.len(), "warning")
        )
    }
}

/// Reads OpenSLO from `path` (`-`: stdin) and translates it.
pub fn import_file(path: &Path) -> Result<Import, ImportError> {
    let read_err = |source| ImportError::Read {
        path: path.to_owned(),
        source,
    };
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin().lock()).map_err(read_err)?
    } else {
        std::fs::read_to_string(path).map_err(read_err)?
    };
    import(&text, path)
}

/// Translates OpenSLO YAML text; `path` only labels errors.
pub fn import(text: &str, path: &Path) -> Result<Import, ImportError> {
    let mut docs = read(text).map_err(|e| match e {
        ReadError::Syntax(message) => ImportError::Syntax {
            path: path.to_owned(),
            message,
        },
        ReadError::NotOpenSlo(message) => ImportError::NotOpenSlo {
            path: path.to_owned(),
            message,
        },
    })?;
    let mut warnings = std::mem::take(&mut docs.warnings);
    let mapped = map::translate(&docs, &mut warnings);
    let yaml = if mapped.config.slos.is_empty() {
        None
    } else {
        let yaml = mapped.config.to_yaml().map_err(ImportError::Output)?;
        validate_output(&yaml).map_err(ImportError::Output)?;
        Some(yaml)
    };
    Ok(Import {
        yaml,
        slos_read: docs.slo_objects,
        slos_mapped: mapped.slos_mapped,
        slipstream_slos: mapped.config.slos.len(),
        composites: mapped.config.composites.len(),
        warnings,
    })
}

// ---------------------------------------------------------------------------------------
// The serde model.

/// `apiVersion`, `kind`, `metadata`, `spec`: the envelope of every object.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Object<S> {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: S,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
    pub display_name: Option<String>,
    /// A string or a list of strings per key; only reported, never read.
    #[serde(default)]
    pub labels: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SloSpec {
    pub description: Option<String>,
    pub service: String,
    pub indicator: Option<InlineSli>,
    pub indicator_ref: Option<String>,
    #[serde(default)]
    pub time_window: Vec<TimeWindow>,
    pub budgeting_method: String,
    pub objectives: Vec<Objective>,
    #[serde(default)]
    pub alert_policies: Vec<PolicyItem>,
}

/// An SLI written inside an SLO or an objective.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineSli {
    pub metadata: Metadata,
    pub spec: SliSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TimeWindow {
    pub duration: String,
    pub is_rolling: Option<bool>,
    pub calendar: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Objective {
    pub display_name: Option<String>,
    pub op: Option<String>,
    pub value: Option<f64>,
    pub target: Option<f64>,
    pub target_percent: Option<f64>,
    pub time_slice_target: Option<f64>,
    /// A duration shorthand, or a bare number of minutes.
    pub time_slice_window: Option<serde_json::Value>,
    pub indicator: Option<InlineSli>,
    pub indicator_ref: Option<String>,
    pub composite_weight: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SliSpec {
    pub description: Option<String>,
    pub threshold_metric: Option<MetricSpec>,
    pub ratio_metric: Option<RatioMetric>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RatioMetric {
    /// Events are always counted, so this changes nothing.
    pub counter: Option<bool>,
    pub good: Option<MetricSpec>,
    pub bad: Option<MetricSpec>,
    pub total: Option<MetricSpec>,
    pub raw_type: Option<String>,
    pub raw: Option<MetricSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSpec {
    pub metric_source: MetricSource,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSource {
    pub metric_source_ref: Option<String>,
    #[serde(rename = "type")]
    pub source_type: Option<String>,
    /// Open by the spec; for `type: slipstream`, [`source::SlipstreamSpec`].
    #[serde(default)]
    pub spec: serde_json::Value,
}

/// An entry of `SLO.spec.alertPolicies`: `alertPolicyRef`, or an inline policy.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicyItem {
    pub alert_policy_ref: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Metadata>,
    pub spec: Option<AlertPolicySpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertPolicySpec {
    pub description: Option<String>,
    pub alert_when_no_data: Option<bool>,
    pub alert_when_resolved: Option<bool>,
    pub alert_when_breaching: Option<bool>,
    #[serde(default)]
    pub conditions: Vec<ConditionItem>,
    #[serde(default)]
    pub notification_targets: Vec<TargetItem>,
}

/// An entry of `AlertPolicy.spec.conditions`: `conditionRef`, or an inline condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionItem {
    pub condition_ref: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Metadata>,
    pub spec: Option<AlertConditionSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AlertConditionSpec {
    pub description: Option<String>,
    pub severity: String,
    pub condition: Condition,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Condition {
    /// `burnrate`, the only kind, and the default.
    pub kind: Option<String>,
    pub op: Option<String>,
    pub threshold: Option<f64>,
    pub lookback_window: Option<String>,
    pub alert_after: Option<String>,
}

/// An entry of `AlertPolicy.spec.notificationTargets`: only reported.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetItem {
    pub target_ref: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Metadata>,
    pub spec: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DataSourceSpec {
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub source_type: String,
    #[serde(default)]
    pub connection_details: serde_json::Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertNotificationTargetSpec {
    pub target: serde_json::Value,
    pub description: Option<String>,
}

/// Adds a warning unless the same one is there already: an object shared by several SLOs
/// (an SLI, a policy) is reported once.
fn push(
    list: &mut Vec<Warning>,
    kind: &str,
    name: &str,
    field: impl Into<String>,
    message: impl Into<String>,
) {
    let warning = Warning {
        kind: kind.to_owned(),
        name: name.to_owned(),
        field: field.into(),
        message: message.into(),
    };
    if !list.contains(&warning) {
        list.push(warning);
    }
}

/// An OpenSLO duration shorthand whose length is exact: `m`, `h`, `d` or `w`.
fn shorthand(text: &str) -> Result<Span, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let secs_per = match unit {
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "M" | "Q" | "Y" => {
            return Err(format!(
                "`{text}`: a month, quarter or year has no fixed length, so no exact rolling \
                 window; write days or weeks (e.g. 30d, 4w)"
            ));
        }
        _ => {
            return Err(format!(
                "`{text}` is not a duration shorthand: a whole number and one of m, h, d, w"
            ));
        }
    };
    match digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(secs_per))
    {
        Some(0) => Err(format!("`{text}` is zero")),
        Some(secs) => Ok(Span::from_secs(secs)),
        None => Err(format!(
            "`{text}` is not a duration shorthand: a whole number and one of m, h, d, w"
        )),
    }
}

#[cfg(test)]
mod tests;
