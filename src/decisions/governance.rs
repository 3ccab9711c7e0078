//! What approvers sign, and how a signature is checked: Ed25519 over a canonical payload.
//!
//! The payload of a change is the compact JSON of `{"new": …, "old": …, "slo": …}` with
//! every object's keys sorted (by their UTF-8 bytes), no whitespace, strings escaped and
//! numbers written as serde_json writes them; `old` and `new` are the SLO's definitions
//! (`config::definition`, null when added or removed). The change's id is the hex SHA-256
//! of the payload. Both are computed from the change alone, so an approver can sign a
//! change before slipstream has seen it, and the same change always has the same id.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Value, json};

use crate::config::Slo;
use crate::config::decisions::Governance;

/// Whether a change of `slo` (modified or removed) needs the governance quorum: it asks
/// for it (`approval_required`), or its tier (`Slo::tier`) is one of `governance.tiers`.
pub fn governed(slo: &Slo, governance: &Governance) -> bool {
    slo.approval_required
        || slo
            .tier
            .as_ref()
            .is_some_and(|t| governance.tiers.contains(t))
}

/// The canonical payload of a change of SLO `slo` from `old` to `new`.
pub fn payload(slo: &str, old: Option<&Value>, new: Option<&Value>) -> String {
    canonical(&json!({ "slo": slo, "old": old, "new": new }))
}

/// The id of a payload: its hex SHA-256.
pub fn id(payload: &str) -> String {
    crate::config::document::sha256_hex(payload.as_bytes())
}

/// Compact JSON with sorted keys, whatever the order of the map type.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// Why an approval is not counted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ApprovalError {
    #[error("`{0}` is not an approver (governance.approvers)")]
    UnknownApprover(String),
    #[error("the signature is not valid: {0}")]
    Malformed(String),
    #[error(
        "the signature of `{0}` does not verify: it was not made with that approver's key \
         over this change's payload"
    )]
    BadSignature(String),
}

/// Checks `approver`'s `signature` of `payload`.
pub fn verify(
    governance: &Governance,
    approver: &str,
    signature: &[u8; 64],
    payload: &str,
) -> Result<(), ApprovalError> {
    let key = governance
        .approvers
        .get(approver)
        .ok_or_else(|| ApprovalError::UnknownApprover(approver.to_owned()))?;
    let key = VerifyingKey::from_bytes(key).map_err(|e| ApprovalError::Malformed(e.to_string()))?;
    key.verify_strict(payload.as_bytes(), &Signature::from_bytes(signature))
        .map_err(|_| ApprovalError::BadSignature(approver.to_owned()))
}

/// A new private key from 32 random bytes, written as base64 (what `keygen` writes), and
/// the base64 public key (what `governance.approvers` names).
pub fn keygen(seed: [u8; 32]) -> (String, String) {
    let key = SigningKey::from_bytes(&seed);
    (
        BASE64.encode(key.to_bytes()),
        BASE64.encode(key.verifying_key().as_bytes()),
    )
}

/// The base64 signature of `payload` with a private key as [`keygen`] writes it.
pub fn sign(private_key: &str, payload: &str) -> Result<String, String> {
    let bytes = BASE64.decode(private_key.trim()).map_err(|e| {
        format!("the key file is not base64 ({e}); make one with `slipstream keygen`")
    })?;
    let seed: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        format!("the key file holds {} bytes; a private key has 32", b.len())
    })?;
    let signature = SigningKey::from_bytes(&seed).sign(payload.as_bytes());
    Ok(BASE64.encode(signature.to_bytes()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::decisions::decode_signature;

    fn governance(keys: &[(&str, [u8; 32])]) -> Governance {
        let approvers = keys.iter().map(|(name, seed)| {
            let (_, public) = keygen(*seed);
            let key: [u8; 32] = BASE64.decode(public).unwrap().try_into().unwrap();
            ((*name).to_owned(), key)
        });
        Governance {
            approvers: approvers.collect::<BTreeMap<_, _>>(),
            quorum: 2,
            tiers: vec!["P0".into()],
        }
    }

    #[test]
    fn the_payload_is_compact_with_sorted_keys_and_its_id_is_its_hash() {
        let old =
            json!({ "window": "30d", "objective": 99.9, "selector": { "z": "1", "a": "é\"" } });
        let p = payload("checkout", Some(&old), None);
        assert_eq!(
            p,
            r#"{"new":null,"old":{"objective":99.9,"selector":{"a":"é\"","z":"1"},"window":"30d"},"slo":"checkout"}"#
        );
        assert_eq!(id(&p).len(), 64);
        assert_eq!(id(&p), crate::config::document::sha256_hex(p.as_bytes()));
        assert_ne!(id(&p), id(&payload("checkout", None, Some(&old))));
    }

    #[test]
    fn signatures_verify_only_for_their_approver_and_payload() {
        let g = governance(&[("alice", [1; 32]), ("bob", [2; 32])]);
        let (alice, _) = keygen([1; 32]);
        let p = payload("a", None, Some(&json!({ "objective": 99 })));
        let signature = decode_signature(&sign(&alice, &p).unwrap()).unwrap();
        assert_eq!(verify(&g, "alice", &signature, &p), Ok(()));
        assert_eq!(
            verify(&g, "bob", &signature, &p),
            Err(ApprovalError::BadSignature("bob".into()))
        );
        assert!(verify(&g, "alice", &signature, &format!("{p} ")).is_err());
        assert_eq!(
            verify(&g, "mallory", &signature, &p),
            Err(ApprovalError::UnknownApprover("mallory".into()))
        );
        assert!(sign("not a key", &p).is_err());
    }
}
