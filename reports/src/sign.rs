//! Signed JSON reports.
//!
//! File layout, byte for byte (one line, then a newline):
//!
//! ```text
//! {"format":"camproof-certification-report/1","report":REPORT,"signature":{"algorithm":"ed25519","public_key":"HEX","value":"HEX"}}
//! ```
//!
//! `REPORT` is the report's JSON exactly as signed: the signature is Ed25519 over
//! `"camproof certification report v1\0" || REPORT`. Verification re-derives the
//! envelope from its parts and requires the file to equal it, so a changed byte anywhere
//! (inside the report, in the signature, or in the envelope's punctuation) fails.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::model::Report;

/// The envelope's format tag.
pub const REPORT_FORMAT: &str = "camproof-certification-report/1";
const DOMAIN: &[u8] = b"camproof certification report v1\0";

/// Why a report does not verify.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Not a report envelope.
    #[error("not a camproof certification report: {0}")]
    Malformed(String),
    /// Bytes outside the signed part differ from the canonical envelope.
    #[error("the file was altered outside the signed report (envelope not canonical)")]
    Envelope,
    /// The signature does not verify.
    #[error("the signature does not verify: the report was altered or signed by another key")]
    BadSignature,
    /// Signed by a key other than the expected one.
    #[error("signed by key {got}, not the expected {expected}")]
    WrongKey {
        /// Fingerprint of the key in the file.
        got: String,
        /// Fingerprint of the expected key.
        expected: String,
    },
    /// Signature valid, but the content contradicts itself (a faulty signer).
    #[error("the report's summary or requirement verdicts do not match its cases")]
    Inconsistent,
    /// Serialisation failed.
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    format: String,
    #[serde(borrow)]
    report: &'a RawValue,
    signature: SignatureField,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureField {
    algorithm: String,
    public_key: String,
    value: String,
}

/// The bytes of lowercase hex (what `sign` writes); anything else is refused.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(s).ok()
}

/// Short fingerprint of a public key: the first 16 hex digits of its SHA-256.
pub fn fingerprint(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

fn envelope(report: &str, key: &str, sig: &str) -> String {
    format!(
        "{{\"format\":\"{REPORT_FORMAT}\",\"report\":{report},\"signature\":{{\"algorithm\":\"ed25519\",\"public_key\":\"{key}\",\"value\":\"{sig}\"}}}}\n"
    )
}

/// The signed report file for `report`.
pub fn sign_report(report: &Report, key: &SigningKey) -> Result<Vec<u8>, ReportError> {
    let body = serde_json::to_string(report)?;
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(body.as_bytes());
    let sig = key.sign(&msg);
    Ok(envelope(
        &body,
        &hex::encode(key.verifying_key().as_bytes()),
        &hex::encode(sig.to_bytes()),
    )
    .into_bytes())
}

/// A report whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedReport {
    /// The report.
    pub report: Report,
    /// The key that signed it.
    pub key: VerifyingKey,
}

/// Verifies a signed report file; with `expected`, also that this key signed it.
pub fn verify_report(
    file: &[u8],
    expected: Option<&VerifyingKey>,
) -> Result<VerifiedReport, ReportError> {
    let text = std::str::from_utf8(file)
        .map_err(|_| ReportError::Malformed("the file is not UTF-8".into()))?;
    let env: Envelope<'_> =
        serde_json::from_str(text).map_err(|e| ReportError::Malformed(e.to_string()))?;
    if env.format != REPORT_FORMAT || env.signature.algorithm != "ed25519" {
        return Err(ReportError::Malformed(format!(
            "format {:?} / algorithm {:?}",
            env.format, env.signature.algorithm
        )));
    }
    let raw = env.report.get();
    if envelope(raw, &env.signature.public_key, &env.signature.value) != text {
        return Err(ReportError::Envelope);
    }
    let key_bytes: [u8; 32] = unhex(&env.signature.public_key)
        .and_then(|v| v.try_into().ok())
        .ok_or(ReportError::BadSignature)?;
    let sig_bytes: [u8; 64] = unhex(&env.signature.value)
        .and_then(|v| v.try_into().ok())
        .ok_or(ReportError::BadSignature)?;
    let key = VerifyingKey::from_bytes(&key_bytes).map_err(|_| ReportError::BadSignature)?;
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(raw.as_bytes());
    key.verify_strict(&msg, &Signature::from_bytes(&sig_bytes))
        .map_err(|_| ReportError::BadSignature)?;
    if let Some(want) = expected {
        if want != &key {
            return Err(ReportError::WrongKey {
                got: fingerprint(&key),
                expected: fingerprint(want),
            });
        }
    }
    let report: Report =
        serde_json::from_str(raw).map_err(|e| ReportError::Malformed(e.to_string()))?;
    if !report.is_consistent() {
        return Err(ReportError::Inconsistent);
    }
    Ok(VerifiedReport { report, key })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DutIdentity, RunInfo};
    use camproof_conformance::outcome::{Evidence, Outcome, Verdict};

    fn sample() -> Report {
        let outcomes = vec![
            Outcome {
                id: "NETIP-AUTH-01".into(),
                verdict: Verdict::Fail,
                summary: "admin logs in with the empty password".into(),
                explanation: "remove it".into(),
                evidence: vec![Evidence {
                    label: "login".into(),
                    value: "Ret 100".into(),
                }],
                duration_us: 1200,
            },
            Outcome {
                id: "NETIP-DEBUG-01".into(),
                verdict: Verdict::Pass,
                summary: "closed".into(),
                explanation: String::new(),
                evidence: vec![],
                duration_us: 5,
            },
        ];
        Report::build(
            DutIdentity {
                name: "x".into(),
                ..Default::default()
            },
            RunInfo {
                command: "camproof certify --profile empty-admin-password --seed 1".into(),
                ..Default::default()
            },
            &outcomes,
        )
    }

    /// Changing any single byte of a signed report makes verification fail.
    #[test]
    fn every_single_byte_change_is_detected() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let file = sign_report(&sample(), &key).unwrap();
        let ok = verify_report(&file, Some(&key.verifying_key())).unwrap();
        assert_eq!(ok.report, sample());
        for i in 0..file.len() {
            for delta in [1u8, 0x20] {
                let mut t = file.clone();
                t[i] ^= delta;
                assert!(
                    verify_report(&t, None).is_err(),
                    "byte {i} ^ {delta:#x} went unnoticed"
                );
            }
        }
        // Removing or adding a byte too.
        assert!(verify_report(&file[..file.len() - 1], None).is_err());
        let mut longer = file.clone();
        longer.push(b' ');
        assert!(verify_report(&longer, None).is_err());
    }

    /// Another key's valid signature is refused when a key is pinned.
    #[test]
    fn pinned_key_is_enforced() {
        let a = SigningKey::from_bytes(&[1; 32]);
        let b = SigningKey::from_bytes(&[2; 32]);
        let file = sign_report(&sample(), &a).unwrap();
        assert!(matches!(
            verify_report(&file, Some(&b.verifying_key())),
            Err(ReportError::WrongKey { .. })
        ));
    }

    /// A faulty signer's self-contradicting report is refused even though signed.
    #[test]
    fn inconsistent_report_is_refused() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let mut r = sample();
        r.summary.fail = 0;
        let file = sign_report(&r, &key).unwrap();
        assert!(matches!(
            verify_report(&file, None),
            Err(ReportError::Inconsistent)
        ));
    }
}
