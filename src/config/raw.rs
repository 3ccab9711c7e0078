//! The config file as serde reads it: a field-for-field mirror of the YAML with no logic.
//! Every struct denies unknown fields, so a typo is an error rather than a silent default.
//! [`super::validate`] turns this into the checked [`super::Config`].

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping with `slos:`, `services:` or both"
)]
pub struct RawConfig {
    /// Windows every SLO reports, e.g. `[5m, 1h, 30d]`; each SLO's own window is added.
    pub windows: Option<Vec<String>>,
    /// Where the fields of an event are found.
    #[serde(default)]
    pub events: RawEvents,
    /// Optional when `services` rules generate SLOs.
    #[serde(default)]
    pub slos: Vec<RawSlo>,
    /// SLOs that governance holds at their approved definition while a change waits for
    /// approvals (set by the decision log, never read from the file): their objective
    /// may sit below a tier floor raised meanwhile, and each replaces the SLO of the
    /// same name that a services rule generates.
    #[serde(skip)]
    pub pinned: Vec<String>,
    /// Named reliability promises that SLOs and services rules refer to.
    #[serde(default)]
    pub tiers: BTreeMap<String, super::tiers::RawTier>,
    /// Rules that give every matching service its tier's SLOs.
    #[serde(default)]
    pub services: Vec<super::tiers::RawServiceRule>,
    /// Whether an objective below its tier's floor is an error or a warning.
    #[serde(default)]
    pub policy: super::tiers::RawPolicy,
    /// `run` only: the Kafka source.
    #[serde(default)]
    pub kafka: super::run::RawKafka,
    /// `run` only: the HTTP server.
    #[serde(default)]
    pub http: super::run::RawHttp,
    /// `run` only: which clock windows are evaluated on, and how often.
    #[serde(default)]
    pub evaluation: super::run::RawEvaluation,
    /// Where alerts go, and defaults of every SLO's `alerts`.
    pub alerting: Option<super::alerting::RawAlerting>,
    /// What `run` publishes besides its own metrics.
    pub outputs: Option<super::outputs::RawOutputs>,
    /// `run` only: checkpoints of the window state.
    pub state: Option<super::durability::RawState>,
    /// `run` only: where invalid messages are produced.
    pub dead_letter: Option<super::durability::RawDeadLetter>,
    /// `run` only: several instances in one consumer group.
    pub scale_out: Option<super::scale_out::RawScaleOut>,
    /// Bounds on what the input can make slipstream hold (`replay` and `run`).
    #[serde(default)]
    pub limits: super::limits::RawLimits,
    /// SLOs made of other SLOs' events, with weights.
    #[serde(default)]
    pub composites: Vec<super::composites::RawComposite>,
    /// Per-label roll-ups of an SLO's series, with a top-k of who burned its budget.
    #[serde(default)]
    pub rollups: Vec<super::composites::RawRollup>,
    /// Objectives in percent, strictly ascending: the steps the baseline climbs.
    pub objective_ladder: Option<Vec<f64>>,
    /// The error-budget policy of every SLO that has none of its own.
    pub budget_policy: Option<Vec<super::budget::RawBudgetRule>>,
    /// Why this version of the file changes SLOs, and who changes them (decision log).
    pub decision: Option<super::decisions::RawDecision>,
    /// `run` only: where the decision log also goes.
    pub decision_log: Option<super::decisions::RawDecisionLog>,
    /// `run` only: changes of some SLOs need a quorum of approvals.
    pub governance: Option<super::decisions::RawGovernance>,
}

/// Maps the logical event fields onto JSON paths (dots descend into nested objects).
#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping of event fields, e.g. `{ preset: kong }`"
)]
pub struct RawEvents {
    /// `default`, `envoy`, `kong` or `nginx`: a whole mapping at once.
    pub preset: Option<String>,
    pub timestamp: Option<String>,
    pub service: Option<String>,
    pub route: Option<String>,
    pub status: Option<String>,
    /// Path of the request latency (logical field `latency_ms`).
    pub latency_ms: Option<String>,
    /// Unit of the latency field: `ms` (default), `s` or `us`.
    pub latency_unit: Option<String>,
    /// Further string fields that SLOs may select on or group by.
    #[serde(default)]
    pub labels: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an SLO: name, service, indicator, objective, window (or tier)"
)]
pub struct RawSlo {
    pub name: String,
    /// An exact service name, or `*` for every service.
    pub service: String,
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    #[serde(default)]
    pub group_by: Vec<String>,
    pub indicator: RawIndicator,
    /// Percent, e.g. `99.9`; default: the tier's.
    pub objective: Option<f64>,
    /// The rolling SLO window, which is also the error-budget period; default: the tier's.
    pub window: Option<String>,
    /// A name under `tiers`: defaults and floors of the objective, window and threshold.
    pub tier: Option<String>,
    /// With a glob `service` (e.g. `payments-*`): services the glob leaves out.
    #[serde(default)]
    pub except_services: Vec<String>,
    /// Globs on `route` or labels that an event must match, as a services rule's.
    #[serde(default, rename = "match")]
    pub match_: BTreeMap<String, String>,
    /// Burn-rate alert rules; default: the SRE Workbook's, scaled to `window`.
    pub alerts: Option<super::alerting::RawSloAlerts>,
    /// Replaces the top-level `budget_policy` for this SLO.
    pub budget_policy: Option<Vec<super::budget::RawBudgetRule>>,
    /// Why this version of the file changes this SLO (overrides the top-level one), and
    /// approvals of the change.
    pub decision: Option<super::decisions::RawDecision>,
    /// Changes of this SLO need the governance quorum.
    #[serde(default)]
    pub approval_required: bool,
}

#[derive(Debug, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    deny_unknown_fields,
    expecting = "an indicator: `{ type: availability }` or `{ type: latency, threshold_ms: N }`"
)]
pub enum RawIndicator {
    /// Good iff `status < 500`. A struct variant, so that stray keys are refused too.
    Availability {},
    /// Good iff `latency_ms <= threshold_ms`; default: the tier's threshold.
    Latency { threshold_ms: Option<f64> },
}
