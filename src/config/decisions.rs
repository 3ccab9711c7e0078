//! The config of the decision log and of governance: `decision` (top level and per SLO:
//! why a version of the file changes SLOs, and approvals), `decision_log` (a Kafka topic
//! the log is also produced to) and `governance` (who approves changes of which SLOs,
//! and how many approvals a change needs). Raw mirrors first, then [`build`], pure.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a mapping: reason, author, approvals"
)]
pub struct RawDecision {
    /// Why this version of the file changes the SLO(s).
    pub reason: Option<String>,
    /// Who changes them (an e-mail address, a handle).
    pub author: Option<String>,
    /// Signatures of approvers over the change of this SLO (governance).
    #[serde(default)]
    pub approvals: Vec<RawApproval>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: approver, signature")]
pub struct RawApproval {
    pub approver: String,
    /// Base64 Ed25519 signature of the change's payload (`slipstream sign`).
    pub signature: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: kafka_topic")]
pub struct RawDecisionLog {
    /// Every decision entry is also produced to this topic (on the brokers of `kafka`).
    pub kafka_topic: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a mapping: approvers, quorum, tiers")]
pub struct RawGovernance {
    /// Approver name → base64 Ed25519 public key (32 bytes; `slipstream keygen`).
    pub approvers: BTreeMap<String, String>,
    /// Distinct approvers a change needs.
    pub quorum: u64,
    /// SLOs of these tiers need the quorum (besides those with `approval_required`).
    #[serde(default)]
    pub tiers: Vec<String>,
}

/// Why, by whom, and approved by whom.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub reason: Option<String>,
    pub author: Option<String>,
    pub approvals: Vec<Approval>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Approval {
    pub approver: String,
    pub signature: [u8; 64],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Governance {
    /// Name and Ed25519 public key of each approver, by name.
    pub approvers: BTreeMap<String, [u8; 32]>,
    pub quorum: usize,
    pub tiers: Vec<String>,
}

/// The top level of the decision config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecisionSettings {
    /// The file's `decision`: for every change it makes, unless the SLO has its own.
    pub decision: Option<Decision>,
    pub kafka_topic: Option<String>,
    pub governance: Option<Governance>,
}

type Fail = (String, String);

/// A `decision` at `at` (`decision` or `slos[i].decision`); approvals only on an SLO.
pub fn build_decision(
    raw: Option<&RawDecision>,
    at: &str,
    governance: Option<&Governance>,
    on_slo: bool,
) -> Result<Option<Decision>, Fail> {
    let Some(raw) = raw else { return Ok(None) };
    let text = |t: &Option<String>| {
        t.as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    };
    if !on_slo && !raw.approvals.is_empty() {
        return Err((
            format!("{at}.approvals"),
            "approvals sign the change of one SLO: put them in that SLO's `decision`".into(),
        ));
    }
    let mut approvals = Vec::with_capacity(raw.approvals.len());
    for (i, a) in raw.approvals.iter().enumerate() {
        let field = format!("{at}.approvals[{i}]");
        let Some(governance) = governance else {
            return Err((field, "approvals need a `governance` section".into()));
        };
        let approver = a.approver.trim();
        if !governance.approvers.contains_key(approver) {
            return Err((
                format!("{field}.approver"),
                format!(
                    "`{approver}` is not in governance.approvers ({})",
                    governance
                        .approvers
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let signature =
            decode_signature(&a.signature).map_err(|m| (format!("{field}.signature"), m))?;
        approvals.push(Approval {
            approver: approver.to_owned(),
            signature,
        });
    }
    Ok(Some(Decision {
        reason: text(&raw.reason),
        author: text(&raw.author),
        approvals,
    }))
}

/// A base64 Ed25519 signature: 64 bytes.
pub fn decode_signature(text: &str) -> Result<[u8; 64], String> {
    let bytes = BASE64
        .decode(text.trim())
        .map_err(|e| format!("not base64 ({e}); paste what `slipstream sign` prints"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("{} bytes; an Ed25519 signature has 64", b.len()))
}

/// `decision_log` and `governance`; `has_state`: whether the config has a `state` section.
pub fn build_settings(
    decision_log: Option<&RawDecisionLog>,
    governance: Option<&RawGovernance>,
    has_state: bool,
) -> Result<(Option<String>, Option<Governance>), Fail> {
    let kafka_topic = match decision_log.and_then(|d| d.kafka_topic.as_deref()) {
        Some(t) if t.trim().is_empty() => {
            return Err(("decision_log.kafka_topic".into(), "name a topic".into()));
        }
        t => t.map(|t| t.trim().to_owned()),
    };
    let Some(raw) = governance else {
        return Ok((kafka_topic, None));
    };
    if !has_state {
        return Err((
            "governance".into(),
            "governance needs a `state` section: pending changes and the approved \
             definitions must survive a restart"
                .into(),
        ));
    }
    if raw.approvers.is_empty() {
        return Err((
            "governance.approvers".into(),
            "name at least one approver".into(),
        ));
    }
    let mut approvers = BTreeMap::new();
    for (name, key) in &raw.approvers {
        let field = format!("governance.approvers.{name}");
        if name.trim().is_empty() || name.trim() != name {
            return Err((field, "an approver's name is a non-empty word".into()));
        }
        let bytes = BASE64.decode(key.trim()).map_err(|e| {
            (
                field.clone(),
                format!("not base64 ({e}); paste what `slipstream keygen` prints"),
            )
        })?;
        let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            (
                field.clone(),
                format!("{} bytes; an Ed25519 public key has 32", b.len()),
            )
        })?;
        if ed25519_dalek::VerifyingKey::from_bytes(&key).is_err() {
            return Err((field, "not an Ed25519 public key".into()));
        }
        approvers.insert(name.clone(), key);
    }
    let quorum = raw.quorum as usize;
    if quorum == 0 || quorum > approvers.len() {
        return Err((
            "governance.quorum".into(),
            format!(
                "must be between 1 and the number of approvers ({}), got {}",
                approvers.len(),
                raw.quorum
            ),
        ));
    }
    if let Some(i) = raw.tiers.iter().position(|t| t.trim().is_empty()) {
        return Err((
            format!("governance.tiers[{i}]"),
            "a tier name is empty".into(),
        ));
    }
    Ok((
        kafka_topic,
        Some(Governance {
            approvers,
            quorum,
            tiers: raw.tiers.iter().map(|t| t.trim().to_owned()).collect(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key();
        BASE64.encode(key.as_bytes())
    }

    fn governance(quorum: u64) -> RawGovernance {
        RawGovernance {
            approvers: BTreeMap::from([("alice".into(), key(1)), ("bob".into(), key(2))]),
            quorum,
            tiers: vec!["P0".into()],
        }
    }

    #[test]
    fn governance_needs_state_valid_keys_and_a_reachable_quorum() {
        let (_, g) = build_settings(None, Some(&governance(2)), true).unwrap();
        assert_eq!(g.unwrap().quorum, 2);
        assert_eq!(
            build_settings(None, Some(&governance(2)), false)
                .unwrap_err()
                .0,
            "governance"
        );
        assert_eq!(
            build_settings(None, Some(&governance(3)), true)
                .unwrap_err()
                .0,
            "governance.quorum"
        );
        let mut bad = governance(1);
        bad.approvers.insert("carol".into(), "AAAA".into());
        let (field, message) = build_settings(None, Some(&bad), true).unwrap_err();
        assert_eq!(field, "governance.approvers.carol");
        assert!(message.contains("3 bytes"), "{message}");
    }

    #[test]
    fn approvals_name_known_approvers_and_carry_signatures() {
        let (_, g) = build_settings(None, Some(&governance(2)), true).unwrap();
        let raw = |approver: &str, signature: &str| RawDecision {
            reason: Some(" why ".into()),
            author: Some("".into()),
            approvals: vec![RawApproval {
                approver: approver.into(),
                signature: signature.into(),
            }],
        };
        let good = BASE64.encode([7u8; 64]);
        let d = build_decision(
            Some(&raw("alice", &good)),
            "slos[0].decision",
            g.as_ref(),
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!((d.reason.as_deref(), d.author), (Some("why"), None));
        assert_eq!(d.approvals[0].signature, [7u8; 64]);
        let field = |r: &RawDecision, on_slo| {
            build_decision(Some(r), "d", g.as_ref(), on_slo)
                .unwrap_err()
                .0
        };
        assert_eq!(
            field(&raw("mallory", &good), true),
            "d.approvals[0].approver"
        );
        assert_eq!(
            field(&raw("alice", "AAAA"), true),
            "d.approvals[0].signature"
        );
        assert_eq!(field(&raw("alice", &good), false), "d.approvals");
    }
}
