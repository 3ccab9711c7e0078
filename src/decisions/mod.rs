//! The decision log: every change of an SLO, as an append-only record of what changed,
//! why, by whom, and (with governance) who approved it.
//!
//! ```text
//!  config file ──▶ reconcile(last applied values in the log, the file) ──▶ entries
//!  (start, reload,      │ governed change without a quorum: keep the applied       │
//!   an approval)        │ definition (a pin), the change is `pending`              ▼
//!                       ▼                                       <state.dir>/decisions.jsonl
//!               the config that runs                            (+ decision_log.kafka_topic)
//! ```
//!
//! The log is the source of truth for what is applied: at start, the file is compared
//! with the last applied value of each SLO in the log, so that changes made while
//! slipstream was stopped are logged too, and a governed SLO whose file definition was
//! not approved stays at its approved one. [`reconcile`] is pure; [`DecisionLog`] owns
//! the file; the shell (`run::reload`) applies what they decide.

pub mod governance;
mod log;
mod reconcile;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use log::{DecisionLog, LogError};
pub use reconcile::{ApproveError, Outcome, Pin, approve, pinned, reconcile};

/// What happened to the SLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Removed,
    Modified,
}

/// Where a change stands. `pending`: waits for the governance quorum, the SLO keeps its
/// previous definition; `approved`: the quorum is reached (an `applied` entry follows);
/// `rejected`: a pending change withdrawn, because the file no longer asks for it (it was
/// reverted, or replaced by another change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Applied,
    Pending,
    Approved,
    Rejected,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Hex SHA-256 of the change's payload ([`governance::payload`]): the same change
    /// has the same id, and approvals name it.
    pub id: String,
    /// RFC 3339, when it was logged.
    pub time: String,
    pub slo: String,
    pub change: Change,
    /// The SLO's definition before and after (`config::definition`); null when added or
    /// removed.
    pub old: Option<Value>,
    pub new: Option<Value>,
    /// The parts that changed: `selection`, `indicator`, `objective`, `window`, `alerts`,
    /// `tier`, `approval_required`.
    pub fields: Vec<String>,
    pub reason: Option<String>,
    pub author: Option<String>,
    pub status: Status,
    pub approvals: Vec<ApprovalRecord>,
    /// For a governed change: what approvers sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// A valid approval of a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    pub approver: String,
    /// Base64 Ed25519 signature of the payload.
    pub signature: String,
    /// RFC 3339, when slipstream accepted it.
    pub time: String,
    /// `file` (the SLO's `decision.approvals`) or `api` (`POST .../approvals`).
    pub via: String,
}
