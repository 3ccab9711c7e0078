//! The SLO config: parse (YAML → [`raw::RawConfig`]), validate with no I/O
//! ([`validate::validate`] → [`Config`]), then the engine builds from it.
//!
//! Errors say which file, which SLO (by name) and which field is at fault, and what to
//! write instead; nothing runs on a config that does not validate.

pub mod alerting;
pub mod budget;
pub mod composites;
pub mod decisions;
pub mod definition;
pub mod document;
pub mod durability;
mod duration;
pub mod events;
mod glob;
pub mod ladder;
pub mod limits;
pub mod outputs;
pub mod percent;
pub mod raw;
pub mod run;
pub mod scale_out;
pub mod secret;
pub mod tiers;
mod validate;

use std::path::{Path, PathBuf};

pub use alerting::{AlertPolicy, AlertRule, AlertingSettings, AlertmanagerSettings, Severity};
pub use composites::{Component, Composite, Rollup};
pub use duration::Span;
pub use events::{EventSchema, FieldPath, LabelField, MAX_LABELS};
pub use glob::Glob;
pub use limits::Limits;
pub use run::{Clock, Evaluation, KafkaSettings, RunSettings};
pub use secret::{FromEnv, Secret};
pub use validate::validate;

/// Windows reported when the config names none. Each SLO's own window is always added.
pub const DEFAULT_WINDOWS: [Span; 7] = [
    Span::from_secs(300),
    Span::from_secs(1800),
    Span::HOUR,
    Span::from_secs(7200),
    Span::from_secs(21_600),
    Span::DAY,
    Span::from_secs(259_200),
];

/// The longest window accepted: a calendar quarter. It bounds the memory of a series.
pub const MAX_WINDOW: Span = Span::from_secs(93 * 86_400);

/// A validated config.
#[derive(Clone, Debug)]
pub struct Config {
    pub events: EventSchema,
    pub slos: Vec<Slo>,
    /// What only `run` reads: Kafka, HTTP and the evaluation clock.
    pub run: RunSettings,
    /// Where alerts go.
    pub alerting: AlertingSettings,
    /// What `run` publishes besides its own metrics.
    pub outputs: outputs::Outputs,
    /// Checkpoints of the window state (`run` only); none without a `state` section.
    pub state: Option<durability::StateSettings>,
    /// Where `run` produces invalid messages; none without a `dead_letter` section.
    pub dead_letter: Option<durability::DeadLetterSettings>,
    /// Several `run` instances in one consumer group; none without a `scale_out` section.
    pub scale_out: Option<scale_out::ScaleOutSettings>,
    /// Bounds on the series the input can create.
    pub limits: Limits,
    /// Composite SLOs, evaluated after the SLOs from their components' series.
    pub composites: Vec<Composite>,
    /// Roll-ups of SLOs' series along a label.
    pub rollups: Vec<Rollup>,
    /// The objectives the baseline of every series is placed on.
    pub objective_ladder: ladder::ObjectiveLadder,
    /// Tiers, services rules and how each SLO got its tier.
    pub policies: tiers::Policies,
    /// What is accepted but questionable (an objective below its tier's floor with
    /// `policy.tier_floor: warn`), each naming the file, SLO and field; logged at load.
    pub warnings: Vec<String>,
    /// The decision log and governance (`run`).
    pub decisions: decisions::DecisionSettings,
}

/// One SLO, checked and normalised.
#[derive(Clone, Debug)]
pub struct Slo {
    pub name: String,
    pub service: ServiceMatch,
    /// Exact matches that an event must satisfy, on the route or a label.
    pub selector: Vec<(Field, String)>,
    /// Glob patterns that an event must match, on the route or a label (from a services
    /// rule's `match`).
    pub selector_globs: Vec<(Field, Glob)>,
    /// One series per distinct combination of these values.
    pub group_by: Vec<Field>,
    pub indicator: Indicator,
    /// The objective as a fraction in (0, 1), e.g. 0.999.
    pub objective: f64,
    /// The SLO window, which is the error-budget period.
    pub window: Span,
    /// Every window this SLO reports: the configured ones and its own, ascending.
    pub windows: Vec<Span>,
    /// Its burn-rate alert rules.
    pub alerts: AlertPolicy,
    /// Windows kept, not reported, for the composites it is a component of: their SLO
    /// windows and alert rules' windows that it keeps for no other reason. Ascending.
    pub composite_windows: Vec<Span>,
    /// What to do as its error budget runs out: its own, or the top-level one.
    pub budget_policy: budget::BudgetPolicy,
    /// Its effective tier: its own `tier`, that of the services rule that covers its
    /// service, or that of the rule that generated it; its tier's policies apply to it.
    pub tier: Option<String>,
    /// Why this version of the file changes it, and approvals of the change.
    pub decision: Option<decisions::Decision>,
    /// Changes need the governance quorum.
    pub approval_required: bool,
}

impl Slo {
    /// Every window the engine keeps for this SLO: the reported ones, the alert
    /// rules' and its composites', ascending.
    pub fn engine_windows(&self) -> Vec<Span> {
        let mut all: Vec<Span> = self
            .windows
            .iter()
            .copied()
            .chain(self.alerts.windows())
            .chain(self.composite_windows.iter().copied())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The label names of its series, in report order: `service` with `service: "*"` (or
    /// a services rule's glob), then the `group_by` fields.
    pub fn label_names(&self, events: &EventSchema) -> Vec<String> {
        let service = self.service.per_service().then(|| "service".to_owned());
        let grouped = self.group_by.iter().map(|f| match f {
            Field::Route => "route".to_owned(),
            Field::Label(i) => events.labels[*i].name.clone(),
        });
        service.into_iter().chain(grouped).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ServiceMatch {
    Exact(String),
    /// `*`: every service, and `service` becomes a label of each series.
    Any,
    /// The services a services rule's glob matches, except those with SLOs of their own;
    /// `service` becomes a label of each series, as with `Any`.
    Glob {
        glob: Glob,
        except: Vec<String>,
    },
}

impl ServiceMatch {
    pub fn matches(&self, service: &str) -> bool {
        match self {
            ServiceMatch::Exact(name) => name == service,
            ServiceMatch::Any => true,
            ServiceMatch::Glob { glob, except } => {
                glob.matches(service) && !except.iter().any(|e| e == service)
            }
        }
    }

    /// Whether the series are per service: `service` is their first label.
    pub fn per_service(&self) -> bool {
        !matches!(self, ServiceMatch::Exact(_))
    }
}

/// An event field an SLO can select on or group by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    Route,
    /// Index into [`EventSchema::labels`].
    Label(usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Indicator {
    /// Good iff `status < 500`.
    Availability,
    /// Good iff `latency_ms <= threshold_ms`.
    Latency { threshold_ms: f64 },
}

impl Indicator {
    /// Whether a request with this status and latency is good.
    #[inline]
    pub fn is_good(self, status: u16, latency_ms: f64) -> bool {
        match self {
            Indicator::Availability => status < 500,
            Indicator::Latency { threshold_ms } => latency_ms <= threshold_ms,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not valid YAML: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// The YAML is well formed but does not fit the schema, or fails validation.
    #[error("{}: {}{field}: {message}", path.display(), slo_prefix(slo))]
    Invalid {
        path: PathBuf,
        slo: Option<String>,
        field: String,
        message: String,
    },
}

fn slo_prefix(slo: &Option<String>) -> String {
    slo.as_ref()
        .map(|s| format!("slo `{s}`: "))
        .unwrap_or_default()
}

/// Reads, parses and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// [`load`], then what `run` needs besides: the secrets the config names, read from the
/// environment ([`RunSettings::read_env`]). A variable that is not set is a config error.
pub fn load_for_run(path: &Path) -> Result<Config, ConfigError> {
    let mut config = load(path)?;
    read_env(&mut config, path)?;
    Ok(config)
}

/// Reads the secrets `config` names from the environment; `path` labels errors.
fn read_env(config: &mut Config, path: &Path) -> Result<(), ConfigError> {
    config
        .run
        .read_env(|var| std::env::var(var).ok())
        .map_err(|(field, message)| ConfigError::Invalid {
            path: path.to_owned(),
            slo: None,
            field,
            message,
        })
}

/// Parses and validates config text; `path` only labels errors.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    from_value(&parse_value(text, path)?, path)
}

/// The generic value of config text: syntax checked, schema not yet.
pub fn parse_value(text: &str, path: &Path) -> Result<serde_json::Value, ConfigError> {
    serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Checks a config's generic value against the schema, and validates it.
pub fn from_value(value: &serde_json::Value, path: &Path) -> Result<Config, ConfigError> {
    from_value_pinned(value, path, &[])
}

/// [`from_value`], with the SLOs named in `pinned` held at the definitions `value` gives
/// them by governance (see [`raw::RawConfig::pinned`]).
pub fn from_value_pinned(
    value: &serde_json::Value,
    path: &Path,
    pinned: &[String],
) -> Result<Config, ConfigError> {
    // Two steps so that every error can name its SLO: YAML syntax errors come with a line
    // and column from the YAML parser; schema errors come with a path (`slos[2].window`)
    // whose SLO name is looked up in the generic value.
    let mut raw: raw::RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
        let at = e.path().to_string();
        let (slo, field) = split_slo_path(value, &at);
        ConfigError::Invalid {
            path: path.to_owned(),
            slo,
            field,
            message: e.into_inner().to_string(),
        }
    })?;
    raw.pinned = pinned.to_vec();
    let mut config = validate(&raw).map_err(|e| ConfigError::Invalid {
        path: path.to_owned(),
        slo: e.slo,
        field: e.field,
        message: e.message,
    })?;
    for warning in &mut config.warnings {
        *warning = format!("{}: {warning}", path.display());
    }
    Ok(config)
}

/// `slos[2].indicator` → (name of the third SLO, `slos[2].indicator`).
fn split_slo_path(value: &serde_json::Value, at: &str) -> (Option<String>, String) {
    // An empty key at the top level has an empty path.
    let field = if at == "." || at.is_empty() {
        "(top level)".to_owned()
    } else {
        at.to_owned()
    };
    let index = at
        .strip_prefix("slos[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse::<usize>().ok());
    let name = index.and_then(|i| value.get("slos")?.get(i)?.get("name")?.as_str());
    (name.map(str::to_owned), field)
}

#[cfg(test)]
mod tests;
