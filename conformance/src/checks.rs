//! Checks shared by live runs and capture analysis: record nonces, secrets on the wire.

use camproof_protocol::netip::sofia_hash;

use crate::outcome::hex_prefix;

/// Two records with the same nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateNonce {
    /// Epoch of both.
    pub epoch: u32,
    /// Sequence of both.
    pub seq: u64,
    /// The first record (hex, cut).
    pub first: String,
    /// The second record (hex, cut).
    pub second: String,
}

/// What [`check_record_nonces`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NonceReport {
    /// Records examined.
    pub records: usize,
    /// The first repeated (epoch, seq), if any.
    pub duplicate: Option<DuplicateNonce>,
    /// The first break in the 0, 1, 2, ... numbering, if any.
    pub gap: Option<String>,
}

/// Checks the (epoch, seq) of record bodies one sender sent on one connection: no pair
/// repeats (a repeated AES-GCM nonce), and numbering is consecutive.
pub fn check_record_nonces<'a>(bodies: impl Iterator<Item = &'a [u8]>) -> NonceReport {
    let mut report = NonceReport::default();
    let mut seen: std::collections::BTreeMap<(u32, u64), Vec<u8>> = Default::default();
    let mut expected: Option<(u32, u64)> = None;
    for body in bodies {
        let (Some(e), Some(s)) = (body.get(..4), body.get(4..12)) else {
            continue;
        };
        let epoch = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        let mut sb = [0u8; 8];
        sb.copy_from_slice(s);
        let seq = u64::from_be_bytes(sb);
        report.records += 1;
        if let Some(prev) = seen.get(&(epoch, seq)) {
            if report.duplicate.is_none() {
                report.duplicate = Some(DuplicateNonce {
                    epoch,
                    seq,
                    first: hex_prefix(prev, 40),
                    second: hex_prefix(body, 40),
                });
            }
            continue;
        }
        if report.gap.is_none() {
            let ok = match expected {
                None => seq == 0,
                Some((ee, es)) => (epoch == ee && seq == es) || (epoch == ee + 1 && seq == 0),
            };
            if !ok {
                report.gap = Some(format!(
                    "epoch {epoch} seq {seq} where {} was expected",
                    expected
                        .map(|(e, s)| format!("epoch {e} seq {s}"))
                        .unwrap_or_else(|| "seq 0".into())
                ));
            }
        }
        expected = Some((epoch, seq.saturating_add(1)));
        if seen.len() < 1_000_000 {
            seen.insert((epoch, seq), body.to_vec());
        }
    }
    report
}

/// A secret found in bytes the device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// What kind of secret (never the secret itself).
    pub what: String,
    /// Where: flow and offset.
    pub at: String,
    /// Surrounding bytes, with the secret replaced by `<redacted>`.
    pub context: String,
}

/// Scans `data` (one direction of one flow, sent by the device) for secrets: the known
/// password and its Sofia hash, a password-hash field in NETIP JSON, private keys.
pub fn find_leaks(data: &[u8], password: Option<&str>, flow: &str) -> Vec<Leak> {
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("a PEM private key".into(), b"PRIVATE KEY-----".to_vec()),
        (
            "a PKCS#8 RSA private key (DER)".into(),
            vec![
                0x02, 0x01, 0x00, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
                0x01, 0x01, 0x05, 0x00, 0x04, 0x82,
            ],
        ),
    ];
    if let Some(p) = password.filter(|p| p.len() >= 4) {
        needles.push(("the admin password in clear".into(), p.as_bytes().to_vec()));
    }
    if let Some(p) = password {
        needles.push((
            "the admin password's Sofia hash (accepted as the password)".into(),
            sofia_hash(p).into_bytes(),
        ));
    }
    let mut leaks = Vec::new();
    for (what, needle) in &needles {
        if let Some(at) = find(data, needle) {
            leaks.push(Leak {
                what: what.clone(),
                at: format!("{flow}, byte {at}"),
                context: redacted_context(data, at, needle.len()),
            });
        }
    }
    // A NETIP JSON password field sent by the device: `"Password":"xxxxxxxx"`.
    for key in [&b"\"Password\""[..], b"\"PassWord\""] {
        let mut from = 0;
        while let Some(rel) = find(&data[from..], key) {
            let at = from + rel;
            from = at + key.len();
            let rest = &data[from..];
            let value_start = rest.iter().position(|b| *b == b'"').map(|p| p + 1);
            if let Some(vs) = value_start {
                let value = &rest[vs..];
                let len = value.iter().position(|b| *b == b'"').unwrap_or(0);
                if (6..=64).contains(&len) {
                    leaks.push(Leak {
                        what: "a password or password hash in a JSON field".into(),
                        at: format!("{flow}, byte {}", from + vs),
                        context: redacted_context(data, from + vs, len),
                    });
                    break;
                }
            }
        }
    }
    leaks
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Printable text around `at`, with `len` bytes from `at` replaced.
fn redacted_context(data: &[u8], at: usize, len: usize) -> String {
    let start = at.saturating_sub(32);
    let end = (at + len + 16).min(data.len());
    let show = |b: &[u8]| -> String {
        b.iter()
            .map(|&c| {
                if (0x20..0x7f).contains(&c) {
                    c as char
                } else {
                    '.'
                }
            })
            .collect()
    };
    format!(
        "{}<redacted>{}",
        show(&data[start..at]),
        show(&data[(at + len).min(end)..end])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(epoch: u32, seq: u64) -> Vec<u8> {
        let mut b = epoch.to_be_bytes().to_vec();
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&[1; 20]);
        b
    }

    /// CDP-REC-01: a repeated (epoch, seq) is reported; a clean sequence is not.
    #[test]
    fn cdp_rec_01_nonce_check() {
        let good = [rec(0, 0), rec(0, 1), rec(0, 2), rec(1, 0)];
        let r = check_record_nonces(good.iter().map(|b| b.as_slice()));
        assert_eq!((r.records, r.duplicate, r.gap), (4, None, None));
        let bad = [rec(0, 0), rec(0, 0)];
        let r = check_record_nonces(bad.iter().map(|b| b.as_slice()));
        assert_eq!(r.duplicate.unwrap().seq, 0);
        let gap = [rec(0, 0), rec(0, 5)];
        assert!(check_record_nonces(gap.iter().map(|b| b.as_slice()))
            .gap
            .is_some());
    }

    /// Secrets are found and redacted in the evidence.
    #[test]
    fn leaks_are_found_and_redacted() {
        let data =
            br#"{"Name":"System.ExUserMap","User":[{"Name":"admin","Password":"6QNMIQGe"}]}"#;
        let leaks = find_leaks(data, Some("admin"), "flow 1");
        assert!(leaks.iter().any(|l| l.what.contains("Sofia")));
        assert!(
            leaks.iter().all(|l| !l.context.contains("6QNMIQGe")),
            "{leaks:?}"
        );
        assert!(find_leaks(br#"{"Ret":100}"#, Some("Secret-1"), "f").is_empty());
    }
}
