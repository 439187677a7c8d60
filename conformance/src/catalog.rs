//! The certification test cases: ID, requirements, purpose, what they need.
//!
//! The catalog is data. The code that runs a case lives in [`crate::harness`] (live
//! device) and [`crate::offline`] (capture); both look cases up here by ID, so a report
//! always names the same requirements and purpose for a case whichever way it ran.

use crate::dut::Feature;

/// One certification test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCase {
    /// Stable ID, e.g. `CLOUD-REC-01`; `--test ID` runs just this case.
    pub id: &'static str,
    /// Area: `cloud`, `resilience`, `video`, `ota`, `netip`, `hygiene`.
    pub area: &'static str,
    /// Requirement IDs checked, from `docs/protocol.md` and `docs/certification.md`.
    pub requirements: &'static [&'static str],
    /// What the case checks, in one line.
    pub purpose: &'static str,
    /// Features the DUT must declare for the case to apply (else: skipped, with why).
    pub needs: &'static [Feature],
    /// Cases that must pass first: if one failed, this case is blocked, not run.
    pub requires: &'static [&'static str],
    /// Whether a capture (mode 4) can decide the case.
    pub offline: bool,
}

use Feature::*;

/// Every case, in the order a certification runs them. The order matters on a live
/// device: a case that changes the DUT's state (firmware installed, account locked,
/// service crashed) runs after the cases that need the old state.
pub const CATALOG: &[TestCase] = &[
    TestCase {
        id: "CLOUD-HS-01",
        area: "cloud",
        requirements: &["CDP-HS-01", "CDP-HS-03", "CDP-HS-05", "CDP-FRAME-01"],
        purpose: "completes a full CDP/1 handshake with a valid device chain, sends data only once established",
        needs: &[Cloud],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "CLOUD-CERT-01",
        area: "cloud",
        requirements: &["CDP-HS-04", "CDP-CERT-04"],
        purpose: "refuses an expired platform certificate",
        needs: &[Cloud],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "CLOUD-NONCE-01",
        area: "cloud",
        requirements: &["CDP-REC-01", "CDP-REC-06"],
        purpose: "never reuses a record nonce: (epoch, seq) of its records never repeat and seq grows by one",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01"],
        offline: true,
    },
    TestCase {
        id: "CLOUD-CERT-02",
        area: "cloud",
        requirements: &["CDP-HS-04", "CDP-CERT-03"],
        purpose: "refuses a platform certificate whose signature is not the root's",
        needs: &[Cloud],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "CLOUD-SKEW-01",
        area: "cloud",
        requirements: &["CDP-HS-07", "CERT-CLK-01"],
        purpose: "tolerates a platform clock 20 s ahead and 20 s behind",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-CERT-03",
        area: "cloud",
        requirements: &["CDP-HS-04", "CDP-CERT-04", "CDP-CERT-05"],
        purpose: "refuses a revoked platform certificate",
        needs: &[Cloud],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "CLOUD-REC-01",
        area: "cloud",
        requirements: &["CDP-REC-02"],
        purpose: "refuses a replayed record and ends the connection",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-SKEW-02",
        area: "cloud",
        requirements: &["CDP-HS-07", "CDP-HS-06", "CDP-HS-08"],
        purpose: "refuses a replayed (stale) ServerHello 60 s outside the skew window, even correctly signed",
        needs: &[Cloud],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "CLOUD-REC-02",
        area: "cloud",
        requirements: &["CDP-REC-03"],
        purpose: "refuses a reordered record and ends the connection",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-REC-03",
        area: "cloud",
        requirements: &["CDP-REC-04"],
        purpose: "refuses a truncated record and ends the connection",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-REC-04",
        area: "cloud",
        requirements: &["CDP-REC-05"],
        purpose: "refuses a tampered record (one bit flipped) and ends the connection",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-REC-05",
        area: "cloud",
        requirements: &["CDP-REC-03", "CDP-REC-06"],
        purpose: "refuses a record from a future key epoch (no key update moved there) and ends the connection",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-REKEY-01",
        area: "cloud",
        requirements: &["CDP-REC-06"],
        purpose: "follows the platform's key updates and rekeys its own direction as declared",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "VIDEO-E2E-01",
        area: "video",
        requirements: &["VID-E2E-01", "VID-KEY-02", "VID-AEAD-01", "VID-HDR-01", "VID-HDR-06"],
        purpose: "video frames are sealed end to end: the relay parses headers but cannot open frames",
        needs: &[Cloud, Video],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "VIDEO-SEQ-01",
        area: "video",
        requirements: &["VID-SEQ-01", "VID-KEY-03"],
        purpose: "frame sequence numbers run 0, 1, 2, ... and each session uses a new, greater key epoch",
        needs: &[Cloud, Video],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "VIDEO-KEY-01",
        area: "video",
        requirements: &["VID-HDR-03", "CERT-VID-01"],
        purpose: "a session starts with a keyframe and keyframes recur within the declared interval",
        needs: &[Cloud, Video],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "RES-BACKOFF-01",
        area: "resilience",
        requirements: &["CERT-RES-01"],
        purpose: "reconnects with growing, jittered delays when the platform refuses it (no thundering herd)",
        needs: &[Cloud],
        requires: &["CLOUD-HS-01"],
        offline: false,
    },
    TestCase {
        id: "RES-FALLBACK-01",
        area: "resilience",
        requirements: &["CERT-RES-02", "CDP-APP-01"],
        purpose: "follows the fallback endpoint the platform assigned when its zone fails",
        needs: &[Cloud, Fallback],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01"],
        offline: false,
    },
    TestCase {
        id: "RES-STALE-01",
        area: "resilience",
        requirements: &["CERT-RES-03", "CDP-RES-02", "CDP-RES-04"],
        purpose: "after failover to a region that refuses its ticket, drops it and does a full handshake",
        needs: &[Cloud, Fallback],
        requires: &["CLOUD-HS-01", "RES-FALLBACK-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-RES-01",
        area: "cloud",
        requirements: &["CDP-RES-01", "CDP-RES-02"],
        purpose: "resumes with its latest ticket and never presents a ticket twice",
        needs: &[Cloud, Resumption],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01", "RES-FALLBACK-01"],
        offline: false,
    },
    TestCase {
        id: "CLOUD-RES-02",
        area: "cloud",
        requirements: &["CDP-RES-03", "CDP-RES-01"],
        purpose: "refuses a resumption answer whose proof was made without the ticket's secret (a cloud impersonator holding a stolen ticket id)",
        needs: &[Cloud, Resumption],
        requires: &["CLOUD-HS-01", "CLOUD-NONCE-01", "RES-FALLBACK-01"],
        offline: false,
    },
    TestCase {
        id: "OTA-UNSIGNED-01",
        area: "ota",
        requirements: &["OTA-SIG-02", "NETIP-SRV-19", "NETIP-SRV-27"],
        purpose: "refuses an unsigned firmware image and keeps its version",
        needs: &[Netip, OtaNetip],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "OTA-TAMPER-01",
        area: "ota",
        requirements: &["OTA-IMG-02", "OTA-IMG-03", "NETIP-SRV-19"],
        purpose: "refuses a correctly signed manifest whose image was changed",
        needs: &[Netip, OtaNetip],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "OTA-MODEL-01",
        area: "ota",
        requirements: &["OTA-MODEL-01", "OTA-ORDER-01", "NETIP-SRV-19"],
        purpose: "refuses a correctly signed image for another model",
        needs: &[Netip, OtaNetip],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "OTA-DOWNGRADE-01",
        area: "ota",
        requirements: &["OTA-ROLLBACK-01", "OTA-ROLLBACK-02", "NETIP-SRV-29"],
        purpose: "refuses a correctly signed image older than the installed one",
        needs: &[Netip, OtaNetip],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "OTA-INTERRUPT-01",
        area: "ota",
        requirements: &["OTA-IMG-03", "NETIP-SRV-18", "CERT-OTA-01"],
        purpose: "an upload cut off mid-image leaves the old firmware running; a full upload then installs",
        needs: &[Netip, OtaNetip],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "NETIP-AUTH-01",
        area: "netip",
        requirements: &["NETIP-SRV-06", "NETIP-SRV-24", "NETIP-SRV-03"],
        purpose: "admin has no empty or well-known default password",
        needs: &[Netip],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "NETIP-AUTH-02",
        area: "netip",
        requirements: &["NETIP-SRV-06", "NETIP-SRV-25", "NETIP-SRV-03"],
        purpose: "no hidden account (default/tluafed and other vendor backdoors) logs in",
        needs: &[Netip],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "NETIP-PLAIN-01",
        area: "netip",
        requirements: &["CERT-NETIP-02", "NETIP-LOGIN-04"],
        purpose: "refuses a login with the password in clear (EncryptType NONE) like a wrong password",
        needs: &[Netip],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "NETIP-PRE-01",
        area: "netip",
        requirements: &["NETIP-SRV-07", "NETIP-SRV-08", "NETIP-SRV-26"],
        purpose: "nothing but login is answered before login, nor with another session's id",
        needs: &[Netip],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "HYG-WIRE-01",
        area: "hygiene",
        requirements: &["CERT-HYG-01", "NETIP-SRV-05", "VID-E2E-01"],
        purpose: "no plaintext credential, password hash or private key in anything the device sent",
        needs: &[],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "NETIP-LOCK-01",
        area: "netip",
        requirements: &["NETIP-SRV-04", "NETIP-SRV-28", "NETIP-LOGIN-03"],
        purpose: "locks the account after 5 wrong passwords, even against the right one",
        needs: &[Netip],
        requires: &[],
        offline: true,
    },
    TestCase {
        id: "NETIP-LEN-01",
        area: "netip",
        requirements: &["NETIP-LEN-01", "NETIP-LEN-02", "NETIP-SRV-21"],
        purpose: "an oversized length field closes the connection without a reply, and the service survives",
        needs: &[Netip],
        requires: &[],
        offline: false,
    },
    TestCase {
        id: "NETIP-DEBUG-01",
        area: "netip",
        requirements: &["CERT-NETIP-01"],
        purpose: "debug and telnet services on TCP 9527 and 9530 are closed",
        needs: &[],
        requires: &[],
        offline: false,
    },
];

/// The case with this ID.
pub fn find(id: &str) -> Option<&'static TestCase> {
    CATALOG.iter().find(|c| c.id.eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// IDs are unique, prerequisites exist and run earlier, requirements are well formed.
    #[test]
    fn catalog_is_consistent() {
        let mut seen = BTreeSet::new();
        for case in CATALOG {
            assert!(seen.insert(case.id), "duplicate {}", case.id);
            for r in case.requires {
                assert!(
                    seen.contains(r),
                    "{} requires {r}, which must run first",
                    case.id
                );
            }
            assert!(!case.requirements.is_empty(), "{} cites nothing", case.id);
            for r in case.requirements {
                assert!(crate::requirements::is_requirement_id(r), "{r}");
            }
        }
        assert!(find("cloud-rec-01").is_some());
        assert!(find("NOPE-01").is_none());
    }

    /// Every requirement a case cites is defined in docs/protocol.md or
    /// docs/certification.md.
    #[test]
    fn cited_requirements_exist() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut defined = BTreeSet::new();
        for doc in ["docs/protocol.md", "docs/certification.md"] {
            let text = std::fs::read_to_string(format!("{root}/{doc}")).unwrap();
            for r in crate::requirements::parse_requirements(&text).unwrap() {
                defined.insert(r.id);
            }
        }
        for case in CATALOG {
            for r in case.requirements {
                assert!(defined.contains(*r), "{} cites undefined {r}", case.id);
            }
        }
    }
}
