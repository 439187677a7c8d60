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
//!
//! The signer's key lives in a file of 64 hex digits ([`SigningKeyFile`]), created on
//! first use; [`parse_public_key`] reads the key a verifier pins.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, SignatureError, Signer, SigningKey, VerifyingKey};
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

/// The environment variable naming the default report signing key file.
pub const SIGNING_KEY_ENV: &str = "CAMPROOF_SIGNING_KEY";

/// Why a report signing key file could not be read or created.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SigningKeyError {
    /// No path was given and there is neither `$CAMPROOF_SIGNING_KEY` nor a home.
    #[error("no signing key path: pass --signing-key FILE")]
    NoPath,
    /// The file does not hold 64 hex digits.
    #[error("{path}: expected 64 hex digits (an Ed25519 secret key)")]
    Malformed {
        /// The file.
        path: String,
    },
    /// The OS random source could not be read for a new key.
    #[error("reading /dev/urandom for a new signing key")]
    Random(#[source] io::Error),
    /// The new key's file or directory could not be created or written.
    #[error("creating {path}")]
    Create {
        /// The file or directory.
        path: String,
        /// Why.
        source: io::Error,
    },
}

/// A report signing key and the file it is kept in.
#[derive(Debug)]
pub struct SigningKeyFile {
    /// The key.
    pub key: SigningKey,
    /// Its file.
    pub path: PathBuf,
    /// Whether [`SigningKeyFile::open`] created the file with a new key.
    pub created: bool,
}

impl SigningKeyFile {
    /// Where the key is kept unless a path is given: `$CAMPROOF_SIGNING_KEY`, else
    /// `~/.config/camproof/report-signing.key`, else none (no home directory).
    pub fn default_path() -> Option<PathBuf> {
        std::env::var_os(SIGNING_KEY_ENV)
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME")
                    .map(|h| PathBuf::from(h).join(".config/camproof/report-signing.key"))
            })
    }

    /// The key in `path` (else in [`SigningKeyFile::default_path`]): 64 hex digits. A
    /// file that cannot be read is created (owner-only on Unix) with a new key from the
    /// OS random source.
    pub fn open(path: Option<PathBuf>) -> Result<Self, SigningKeyError> {
        let path = path
            .or_else(Self::default_path)
            .ok_or(SigningKeyError::NoPath)?;
        if let Ok(text) = fs::read_to_string(&path) {
            let seed: [u8; 32] = hex::decode(text.trim())
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| SigningKeyError::Malformed {
                    path: path.display().to_string(),
                })?;
            return Ok(SigningKeyFile {
                key: SigningKey::from_bytes(&seed),
                path,
                created: false,
            });
        }
        let mut seed = [0u8; 32];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| io::Read::read_exact(&mut f, &mut seed))
            .map_err(SigningKeyError::Random)?;
        let create = |p: &Path| {
            let path = p.display().to_string();
            move |source| SigningKeyError::Create { path, source }
        };
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(create(dir))?;
        }
        match write_private(&path, format!("{}\n", hex::encode(seed)).as_bytes()) {
            // Another process created it first (tests and CI jobs certify side by side):
            // the key is theirs, whole, and ours to read.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && path.exists() => {
                return Self::open(Some(path));
            }
            other => other.map_err(create(&path))?,
        }
        Ok(SigningKeyFile {
            key: SigningKey::from_bytes(&seed),
            path,
            created: true,
        })
    }
}

/// Writes a new file that only its owner may read (on Unix); refuses to overwrite one.
/// The file appears whole or not at all: it is written under a name of this process and
/// then linked into place, so a reader never sees it half written.
fn write_private(path: &Path, data: &[u8]) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        use std::sync::atomic::{AtomicU64, Ordering};
        // Unique to this process and this call: threads of one process may race too.
        static STAGED: AtomicU64 = AtomicU64::new(0);
        let n = STAGED.fetch_add(1, Ordering::Relaxed);
        let mut staged = path.as_os_str().to_owned();
        staged.push(format!(".{}-{n}.new", std::process::id()));
        let staged = PathBuf::from(staged);
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&staged)
            .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()));
        let linked = written.and_then(|()| fs::hard_link(&staged, path));
        // The staged name is ours alone; if it cannot be removed, nothing is lost.
        let _ = fs::remove_file(&staged);
        linked
    }
    #[cfg(not(unix))]
    {
        fs::write(path, data)
    }
}

/// Why a public key given as text was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// Not 64 hex digits.
    #[error("expected 64 hex digits")]
    NotHex,
    /// 32 bytes, but not a point an Ed25519 key can be.
    #[error("not an Ed25519 public key")]
    NotAKey(#[source] SignatureError),
}

/// An Ed25519 public key written as 64 hex digits (what `verify-report` prints to pin).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, PublicKeyError> {
    let bytes: [u8; 32] = hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(PublicKeyError::NotHex)?;
    VerifyingKey::from_bytes(&bytes).map_err(PublicKeyError::NotAKey)
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

#[cfg(test)]
mod key_file_tests {
    use super::*;

    /// A new key file is created once (owner-only, 64 hex digits) and read back after.
    #[test]
    fn a_key_file_is_created_once_then_read() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("sub/report-signing.key");
        let first = SigningKeyFile::open(Some(path.clone())).expect("created");
        assert!(first.created);
        let text = fs::read_to_string(&path).expect("written");
        assert_eq!(text, format!("{}\n", hex::encode(first.key.to_bytes())));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = SigningKeyFile::open(Some(path)).expect("read");
        assert!(!again.created);
        assert_eq!(again.key.to_bytes(), first.key.to_bytes());
    }

    /// A file that is not a key is refused by name, never replaced.
    #[test]
    fn a_malformed_key_file_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bad.key");
        fs::write(&path, "abc\n").expect("write");
        let err = SigningKeyFile::open(Some(path.clone())).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: expected 64 hex digits (an Ed25519 secret key)",
                path.display()
            )
        );
        assert_eq!(fs::read_to_string(&path).expect("kept"), "abc\n");
    }

    /// A pinned key round-trips through its hex; other text is refused.
    #[test]
    fn public_keys_parse_from_hex() {
        let key = SigningKey::from_bytes(&[9; 32]).verifying_key();
        let text = hex::encode(key.as_bytes());
        assert_eq!(parse_public_key(&text).expect("parses"), key);
        assert_eq!(parse_public_key(&text.to_uppercase()).expect("parses"), key);
        for bad in [
            "",
            "abc",
            &text[..62],
            &format!("{text}00"),
            &format!("g{}", &text[1..]),
        ] {
            assert!(
                matches!(parse_public_key(bad), Err(PublicKeyError::NotHex)),
                "{bad}"
            );
        }
    }

    /// Many certifications starting at once with no key yet all sign with one key: the
    /// first to create it wins and the others read it whole.
    #[test]
    fn signing_keys_created_side_by_side_are_one_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("keys/report-signing.key");
        let keys: Vec<[u8; 32]> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    s.spawn(move || {
                        let file = SigningKeyFile::open(Some(path)).expect("opens or creates");
                        file.key.verifying_key().to_bytes()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("no panic"))
                .collect()
        });
        assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
        let left: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("lists")
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(left, [std::ffi::OsString::from("report-signing.key")]);
    }
}
