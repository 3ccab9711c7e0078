//! The config file as `run` keeps it to reload it: its generic value (to tell which
//! sections changed) and the SHA-256 of its bytes (to tell whether it changed at all).
//!
//! Reloadable is everything that only defines SLOs: `slos`, `windows`, the alert rules
//! (`alerting.min_events`, `alerting.for`, `alerting.runbook_url`, each SLO's `alerts`),
//! `limits`, and any section not listed in [`RESTART_ONLY`]. Restart-only are the sections
//! that set up connections, threads or files at start; a reload that changes one is
//! refused with the field that changed, so that the running process never disagrees
//! with its file without saying so.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Config, ConfigError};

/// Dotted paths of the parts of the file only a restart applies.
pub const RESTART_ONLY: [&str; 12] = [
    "events",
    "kafka",
    "http",
    "evaluation",
    "state",
    "dead_letter",
    "outputs",
    "alerting.alertmanager",
    "alerting.kafka_topic",
    "decision_log",
    "governance",
    "scale_out",
];

/// A config file as read: where, its generic value, and the hex SHA-256 of its bytes.
#[derive(Clone, Debug)]
pub struct Document {
    pub path: PathBuf,
    pub value: Value,
    pub sha256: String,
}

/// Reads, parses and validates a config file, keeping its document.
pub fn read(path: &Path) -> Result<(Document, Config), ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Syntax {
        path: path.to_owned(),
        message: "the file is not UTF-8 text".into(),
    })?;
    let value = super::parse_value(&text, path)?;
    let config = super::from_value(&value, path)?;
    let document = Document {
        path: path.to_owned(),
        value,
        sha256: sha256_hex(text.as_bytes()),
    };
    Ok((document, config))
}

/// [`read`], then the secrets from the environment, as [`super::load_for_run`].
pub fn read_for_run(path: &Path) -> Result<(Document, Config), ConfigError> {
    let (document, mut config) = read(path)?;
    super::read_env(&mut config, path)?;
    Ok((document, config))
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The first restart-only field whose value differs between two documents, as a dotted
/// path (`kafka.brokers`, `events.labels[1]`); `None` when only reloadable parts differ.
pub fn restart_only_change(old: &Value, new: &Value) -> Option<String> {
    RESTART_ONLY.iter().find_map(|section| {
        let mut at = (Some(old), Some(new));
        for key in section.split('.') {
            at = (at.0.and_then(|v| v.get(key)), at.1.and_then(|v| v.get(key)));
        }
        first_difference(at.0, at.1, section)
    })
}

fn first_difference(a: Option<&Value>, b: Option<&Value>, at: &str) -> Option<String> {
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .find_map(|k| first_difference(x.get(k), y.get(k), &format!("{at}.{k}")))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(Some(p), Some(q), &format!("{at}[{i}]"))),
        // A section written as `{}` or `null` is the same as one left out.
        (a, b) if normal(a) == normal(b) => None,
        _ => Some(at.to_owned()),
    }
}

fn normal(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null() && v.as_object().is_none_or(|o| !o.is_empty()))
}

/// Gives `next` (a reloaded config) the running config's restart-only settings: the
/// file has the same values for them ([`restart_only_change`]), but the running ones also
/// hold what the command line overrode and the secrets read from the environment.
pub fn keep_restart_only(running: &Config, next: &mut Config) {
    next.events = running.events.clone();
    next.run = running.run.clone();
    next.outputs = running.outputs.clone();
    next.state = running.state.clone();
    next.dead_letter = running.dead_letter.clone();
    next.alerting.alertmanager = running.alerting.alertmanager.clone();
    next.alerting.kafka_topic = running.alerting.kafka_topic.clone();
    next.decisions.kafka_topic = running.decisions.kafka_topic.clone();
    next.decisions.governance = running.decisions.governance.clone();
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn restart_only_changes_are_named_by_field() {
        let old = json!({
            "kafka": { "brokers": "a:9092", "topics": ["t"] },
            "alerting": { "for": "1m", "alertmanager": { "url": "http://am" } },
            "slos": [],
        });
        let change = |f: &dyn Fn(&mut Value)| {
            let mut new = old.clone();
            f(&mut new);
            restart_only_change(&old, &new)
        };
        assert_eq!(change(&|_| {}), None);
        assert_eq!(change(&|v| v["slos"] = json!([1])), None);
        assert_eq!(change(&|v| v["alerting"]["for"] = json!("5m")), None);
        assert_eq!(change(&|v| v["windows"] = json!(["5m"])), None);
        assert_eq!(
            change(&|v| v["kafka"]["brokers"] = json!("b:9092")).as_deref(),
            Some("kafka.brokers")
        );
        assert_eq!(
            change(&|v| v["kafka"]["topics"] = json!(["t", "u"])).as_deref(),
            Some("kafka.topics")
        );
        assert_eq!(
            change(&|v| v["alerting"]["alertmanager"]["url"] = json!("http://x")).as_deref(),
            Some("alerting.alertmanager.url")
        );
        assert_eq!(
            change(&|v| v["state"] = json!({ "dir": "/s" })).as_deref(),
            Some("state")
        );
        assert_eq!(change(&|v| v["http"] = json!({})), None);
    }
}
