//! What a version of the config file means for the log, pure: which changes it makes
//! (against the last applied values in the log), which are applied, which wait for
//! approvals (and keep the SLO at its applied definition: a [`Pin`]), which pending
//! changes it withdraws; and an approval that arrives by the API.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use super::governance::{self, ApprovalError, governed};
use super::{ApprovalRecord, Change, DecisionLog, Entry, Status};
use crate::config::decisions::{Governance, decode_signature};
use crate::config::definition::{changed_fields, composite_definition, definition};
use crate::config::{Config, Slo};

/// An SLO held at its applied definition while a change of it waits for approvals.
#[derive(Clone, Debug, PartialEq)]
pub struct Pin {
    pub slo: String,
    pub definition: Value,
}

/// What to log, what to hold back, and what to warn about.
#[derive(Debug, Default)]
pub struct Outcome {
    pub entries: Vec<Entry>,
    pub pins: Vec<Pin>,
    pub warnings: Vec<String>,
}

/// Compares `file` (validated from `document`) with the last applied values in `log`, at
/// time `now` (RFC 3339).
pub fn reconcile(log: &DecisionLog, file: &Config, document: &Value, now: &str) -> Outcome {
    let mut out = Outcome::default();
    let applied = log.applied();
    let pending = log.pending();
    let governance = file.decisions.governance.as_ref();
    let composites = file.composites.iter().map(|c| c.name.as_str());
    let mut names: Vec<&str> = file.slos.iter().map(|s| s.name.as_str()).collect();
    names.extend(composites);
    let removed: Vec<&str> = applied
        .keys()
        .map(String::as_str)
        .filter(|n| !names.contains(n))
        .collect();
    names.extend(removed);
    for name in names {
        let slo = file.slos.iter().find(|s| s.name == name);
        let composite = file.composites.iter().find(|c| c.name == name);
        let new = match (slo, composite) {
            (Some(s), _) => Some(definition(s, &file.events)),
            (None, Some(c)) => Some(composite_definition(c)),
            (None, None) => None,
        };
        let old = applied.get(name);
        let change = match (old, &new) {
            (Some(a), Some(b)) if a == b => None,
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            _ => Some(Change::Modified),
        };
        let payload = governance::payload(name, old, new.as_ref());
        let id = governance::id(&payload);
        // Pending changes of this SLO that the file no longer asks for are withdrawn.
        let withdrawn = pending.iter().filter(|e| e.slo == name && e.id != id);
        for e in withdrawn {
            out.entries.push(Entry {
                time: now.to_owned(),
                status: Status::Rejected,
                ..(*e).clone()
            });
        }
        let Some(change) = change else { continue };
        let decision = slo
            .and_then(|s| s.decision.as_ref())
            .or(file.decisions.decision.as_ref());
        let latest = log.latest(&id).filter(|e| e.status == Status::Pending);
        let reason = decision
            .and_then(|d| d.reason.clone())
            .or_else(|| latest.and_then(|e| e.reason.clone()));
        let author = decision
            .and_then(|d| d.author.clone())
            .or_else(|| latest.and_then(|e| e.author.clone()));
        if reason.is_none() {
            out.warnings.push(format!(
                "SLO `{name}` is {} without a reason: add `decision: {{ reason, author }}` to \
                 it or to the file; it is logged with reason null",
                match change {
                    Change::Added => "added",
                    Change::Removed => "removed",
                    Change::Modified => "changed",
                }
            ));
        }
        let mut entry = Entry {
            id,
            time: now.to_owned(),
            slo: name.to_owned(),
            change,
            old: old.cloned(),
            new: new.clone(),
            fields: changed_fields(
                old.unwrap_or(&Value::Null),
                new.as_ref().unwrap_or(&Value::Null),
            ),
            reason,
            author,
            status: Status::Applied,
            approvals: Vec::new(),
            payload: None,
        };
        // Adding an SLO needs no approval: it changes no promise anyone relies on yet,
        // and from then on every change of it is governed.
        // A composite is no SLO of its own components' promise: it is logged, never held.
        let was_composite = old.is_some_and(|d| d.get("components").is_some());
        let gate = match (governance, old) {
            (Some(g), Some(old)) if change != Change::Added && !was_composite => {
                let governed = match slo_of(name, old, document) {
                    Some(s) => governed(&s, g),
                    None => {
                        // Cannot happen with a definition this build wrote; if it does,
                        // the change waits rather than slip through.
                        out.warnings.push(format!(
                            "SLO `{name}`: its applied definition in the decision log does not \
                             validate any more; its change is treated as governed"
                        ));
                        true
                    }
                };
                governed.then_some(g)
            }
            _ => None,
        };
        let Some(g) = gate else {
            out.entries.push(entry);
            continue;
        };
        let mut approvals = latest.map(|e| e.approvals.clone()).unwrap_or_default();
        let in_file = slo
            .and_then(|s| s.decision.as_ref())
            .map(|d| d.approvals.as_slice());
        for a in in_file.unwrap_or_default() {
            if approvals.iter().any(|r| r.approver == a.approver) {
                continue;
            }
            match governance::verify(g, &a.approver, &a.signature, &payload) {
                Ok(()) => approvals.push(ApprovalRecord {
                    approver: a.approver.clone(),
                    signature: BASE64.encode(a.signature),
                    time: now.to_owned(),
                    via: "file".into(),
                }),
                Err(e) => out.warnings.push(format!(
                    "SLO `{name}`: the approval of `{}` in the file is not counted: {e}",
                    a.approver
                )),
            }
        }
        entry.approvals = approvals;
        entry.payload = Some(payload);
        if entry.approvals.len() >= g.quorum {
            out.entries.push(Entry {
                status: Status::Approved,
                ..entry.clone()
            });
            out.entries.push(entry);
            continue;
        }
        out.pins.push(Pin {
            slo: name.to_owned(),
            definition: old
                .expect("a governed change has an applied definition")
                .clone(),
        });
        let known = latest.is_some_and(|e| e.approvals == entry.approvals);
        if !known {
            entry.status = Status::Pending;
            out.entries.push(entry);
        }
    }
    out
}

/// The SLO `name` of `definition`, validated in the context of `document` (its events and
/// governance), to ask [`governed`] about it.
fn slo_of(name: &str, definition: &Value, document: &Value) -> Option<Slo> {
    let mut slo = definition.clone();
    let map = slo.as_object_mut()?;
    if map.get("tier").is_some_and(Value::is_null) {
        map.remove("tier");
    }
    map.insert("name".into(), name.into());
    let mut mini = json!({ "slos": [slo] });
    for key in ["events", "state", "governance", "tiers", "policy"] {
        if let Some(part) = document.get(key).filter(|v| !v.is_null()) {
            mini[key] = part.clone();
        }
    }
    let path = std::path::Path::new("(decision log)");
    let config = crate::config::from_value_pinned(&mini, path, &[name.to_owned()]).ok()?;
    config.slos.into_iter().next()
}

/// `document` with each pinned SLO at its pinned definition: in place of the file's
/// version of it, or added back when the file removes it.
pub fn pinned(document: &Value, pins: &[Pin]) -> Value {
    let mut value = document.clone();
    // A file of services rules only has no `slos`; a pinned generated SLO goes there.
    if value.get("slos").is_none_or(Value::is_null) && !pins.is_empty() {
        value["slos"] = Value::Array(Vec::new());
    }
    let Some(slos) = value.get_mut("slos").and_then(Value::as_array_mut) else {
        return value;
    };
    for pin in pins {
        let mut slo = pin.definition.clone();
        if let Some(map) = slo.as_object_mut() {
            if map.get("tier").is_some_and(Value::is_null) {
                map.remove("tier");
            }
            map.insert("name".into(), pin.slo.clone().into());
        }
        match slos
            .iter_mut()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(&pin.slo))
        {
            Some(at) => *at = slo,
            None => slos.push(slo),
        }
    }
    value
}

/// Why an approval by the API is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApproveError {
    #[error("no pending change has the id `{0}` (GET /api/v1/decisions/pending lists them)")]
    NotPending(String),
    #[error(transparent)]
    Invalid(#[from] ApprovalError),
    #[error("`{0}` has approved this change already")]
    Twice(String),
}

/// The pending entry of change `id` with `approver`'s approval added, once its signature
/// of the change's payload verifies.
pub fn approve(
    log: &DecisionLog,
    governance: &Governance,
    id: &str,
    approver: &str,
    signature: &str,
    now: &str,
) -> Result<Entry, ApproveError> {
    let entry = log
        .latest(id)
        .filter(|e| e.status == Status::Pending)
        .ok_or_else(|| ApproveError::NotPending(id.to_owned()))?;
    let payload = entry.payload.as_deref().unwrap_or_default();
    let bytes = decode_signature(signature).map_err(ApprovalError::Malformed)?;
    governance::verify(governance, approver, &bytes, payload)?;
    if entry.approvals.iter().any(|a| a.approver == approver) {
        return Err(ApproveError::Twice(approver.to_owned()));
    }
    let mut next = entry.clone();
    next.time = now.to_owned();
    next.approvals.push(ApprovalRecord {
        approver: approver.to_owned(),
        signature: BASE64.encode(bytes),
        time: now.to_owned(),
        via: "api".into(),
    });
    Ok(next)
}

#[cfg(test)]
mod tests;
