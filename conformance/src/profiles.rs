//! Simulated DUT profiles: the reference camera and one flawed firmware per weakness.
//!
//! A profile is data: camera flaws, NETIP flaws, trust settings and DUT-level services.
//! [`crate::dutsim`] turns it into a running device (inside turmoil or on real sockets);
//! `docs/certification.md` lists which cases each profile must fail, and a test checks
//! that table against real runs.

use std::time::Duration;

use camproof_protocol::cdp::{ClientConfig, DeviceFlaws};
use camproof_protocol::pki::{DeviceCredentials, TestPki, TrustStore};
use camproof_simulated_devices::camera::CameraFlaws;
use camproof_simulated_devices::netip_server::NetipFlaws;

/// Model name of the simulated camera (as its firmware manifests say).
pub const SIM_MODEL: &str = "CAMPROOF-IPC";
/// Records the simulated camera sends per key epoch (declared in its description).
pub const SIM_REKEY_AFTER: u64 = 40;
/// Frames per group of pictures of the simulated camera.
pub const SIM_GOP: u32 = 25;
/// Seed of the certification test PKI. Its keys are public test keys: anyone can
/// regenerate them, which is the point (a lab reproduces a run).
pub const CERT_PKI_SEED: u64 = 1;
/// Index of the server identity the harness presents as revoked; its serial is
/// `1_000_000 + index`, the certification revocation list.
pub const REVOKED_SERVER_INDEX: u64 = 2;
/// Serial of the revoked platform certificate a DUT must refuse.
pub const REVOKED_SERVER_SERIAL: u64 = 1_000_000 + REVOKED_SERVER_INDEX;
/// Device identity (index in the test PKI) simulated DUTs present.
pub const SIM_DEVICE_INDEX: u64 = 1;
/// Serial number of simulated DUTs.
pub const SIM_SERIAL: &str = "CAMPROOF0000001";
/// The simulated camera's admin password (reference and most profiles).
pub const SIM_PASSWORD: &str = "Cert-Lab-Pa55-7f3a";
/// Debug ports certification requires closed.
pub const DEBUG_PORTS: [u16; 2] = [9527, 9530];

/// One simulated firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimProfile {
    /// Name used with `--profile`.
    pub name: &'static str,
    /// The weakness, in one line (empty for the reference).
    pub flaw: &'static str,
    /// Camera (CDP/1 client, video) defects.
    pub camera: CameraFlaws,
    /// NETIP server defects.
    pub netip: NetipFlaws,
    /// The device's accepted clock difference with the platform.
    pub skew_window: Duration,
    /// Records the device sends before its own key update.
    pub rekey_after: u64,
    /// Whether the device loaded the certification revocation list.
    pub loads_crl: bool,
    /// Whether the device presents a chain that does not verify.
    pub bad_identity: bool,
    /// A telnet-like debug shell listens on 9527 and 9530.
    pub debug_shell: bool,
    /// The NETIP service dies on an oversized length field (CVE-2019-11878).
    pub crash_on_oversized_length: bool,
}

impl SimProfile {
    const fn reference() -> Self {
        SimProfile {
            name: "reference",
            flaw: "",
            camera: CameraFlaws {
                clock_skew_secs: 0,
                no_backoff: false,
                device: DeviceFlaws {
                    reuse_record_nonces: false,
                    accept_replayed_records: false,
                    accept_any_server_certificate: false,
                    ignore_bad_records: false,
                    skip_resumption_proof_check: false,
                    accept_future_epochs: false,
                    accept_skipped_records: false,
                },
                weak_pairing_secret: false,
                reuse_video_epoch: false,
                no_keyframe_flag: false,
                reuse_ticket: false,
                ignore_fallbacks: false,
                accept_unsigned_ota: false,
                accept_downgrade_ota: false,
            },
            netip: NetipFlaws::none(),
            skew_window: camproof_protocol::cdp::DEFAULT_SKEW_WINDOW,
            rekey_after: SIM_REKEY_AFTER,
            loads_crl: true,
            bad_identity: false,
            debug_shell: false,
            crash_on_oversized_length: false,
        }
    }

    /// The admin password this firmware really has.
    pub fn admin_password(&self) -> &'static str {
        if self.netip.empty_admin_password {
            ""
        } else {
            SIM_PASSWORD
        }
    }

    /// The device's CDP/1 configuration: the certification trust (root and, unless the
    /// profile skips it, the revocation list) plus the profile's defects.
    pub fn client_config(&self, pki: &TestPki) -> ClientConfig {
        let mut trust = pki.trust_store();
        if self.loads_crl {
            trust = certification_trust(pki);
        }
        let mut config = ClientConfig::new(trust);
        config.skew_window = self.skew_window;
        config.rekey_after = self.rekey_after;
        config.flaws = self.camera.device;
        config
    }

    /// The device's identity: the test PKI's device, or (flawed) one whose vendor CA
    /// signature was damaged, so the chain does not verify.
    pub fn credentials(&self, pki: &TestPki) -> DeviceCredentials {
        let creds = pki.device(SIM_DEVICE_INDEX);
        if !self.bad_identity {
            return creds;
        }
        let mut chain = creds.chain().to_vec();
        if let Some(vendor) = chain.get_mut(1) {
            if let Some(b) = vendor.signature.get_mut(7) {
                *b ^= 0x40;
            }
        }
        DeviceCredentials::new(creds.key().clone(), chain)
    }
}

/// The trust a DUT under certification holds: the certification root and its
/// revocation list (one serial, [`REVOKED_SERVER_SERIAL`]).
pub fn certification_trust(pki: &TestPki) -> TrustStore {
    let mut trust = pki.trust_store();
    trust.revoke(REVOKED_SERVER_SERIAL);
    trust
}

macro_rules! profile {
    ($name:expr, $flaw:expr, |$p:ident| $body:block) => {{
        let mut $p = SimProfile::reference();
        $p.name = $name;
        $p.flaw = $flaw;
        $body
        $p
    }};
}

/// Every profile: the reference first, then one per weakness.
pub fn all() -> Vec<SimProfile> {
    vec![
        SimProfile::reference(),
        profile!(
            "untrusted-identity",
            "presents a device chain that does not verify",
            |p| {
                p.bad_identity = true;
            }
        ),
        profile!(
            "nonce-reuse",
            "seals every record with the same nonce",
            |p| {
                p.camera.device.reuse_record_nonces = true;
            }
        ),
        profile!(
            "accept-any-server-cert",
            "accepts any platform certificate (no issuer, expiry or revocation check)",
            |p| {
                p.camera.device.accept_any_server_certificate = true;
            }
        ),
        profile!(
            "no-revocation-list",
            "never loads the revocation list",
            |p| {
                p.loads_crl = false;
            }
        ),
        profile!(
            "strict-clock",
            "tolerates only 5 s of platform clock difference",
            |p| {
                p.skew_window = Duration::from_secs(5);
            }
        ),
        profile!(
            "no-clock-check",
            "does not check the platform's handshake time",
            |p| {
                p.skew_window = Duration::from_secs(10 * 365 * 24 * 3600);
            }
        ),
        profile!(
            "no-replay-check",
            "accepts records whose sequence number was used",
            |p| {
                p.camera.device.accept_replayed_records = true;
            }
        ),
        profile!(
            "lenient-records",
            "drops records that fail to open and keeps the session",
            |p| {
                p.camera.device.ignore_bad_records = true;
            }
        ),
        profile!(
            "accept-skipped-seq",
            "accepts a record that skips sequence numbers (still refuses replays)",
            |p| {
                p.camera.device.accept_skipped_records = true;
            }
        ),
        profile!(
            "accept-future-epoch",
            "accepts a record from a later key epoch without the key update",
            |p| {
                p.camera.device.accept_future_epochs = true;
            }
        ),
        profile!("no-rekey", "never updates its sending key", |p| {
            p.rekey_after = u64::MAX;
        }),
        profile!(
            "weak-pairing-secret",
            "seals video under an all-zero pairing secret",
            |p| {
                p.camera.weak_pairing_secret = true;
            }
        ),
        profile!(
            "reused-video-epoch",
            "reuses video key epoch 1 in every session",
            |p| {
                p.camera.reuse_video_epoch = true;
            }
        ),
        profile!("no-keyframe-flag", "never sets the keyframe flag", |p| {
            p.camera.no_keyframe_flag = true;
        }),
        profile!(
            "no-backoff",
            "reconnects every 100 ms, without backoff or jitter",
            |p| {
                p.camera.no_backoff = true;
            }
        ),
        profile!(
            "ignore-fallbacks",
            "ignores the fallback endpoints it is assigned",
            |p| {
                p.camera.ignore_fallbacks = true;
            }
        ),
        profile!(
            "reuse-ticket",
            "keeps presenting its first resumption ticket",
            |p| {
                p.camera.reuse_ticket = true;
            }
        ),
        profile!(
            "no-resumption-proof-check",
            "does not check the platform's resumption proof (ResumeAccept verify)",
            |p| {
                p.camera.device.skip_resumption_proof_check = true;
            }
        ),
        profile!(
            "accept-unsigned-upgrade",
            "installs firmware without verification",
            |p| {
                p.netip.accept_unsigned_upgrade = true;
            }
        ),
        profile!(
            "accept-downgrade",
            "installs correctly signed older firmware",
            |p| {
                p.netip.accept_downgrade = true;
            }
        ),
        profile!("single-slot-flash", "flashes over the running slot", |p| {
            p.netip.single_slot_flash = true;
        }),
        profile!(
            "empty-admin-password",
            "admin has the empty password",
            |p| {
                p.netip.empty_admin_password = true;
            }
        ),
        profile!(
            "hidden-default-account",
            "hidden account default/tluafed",
            |p| {
                p.netip.hidden_default_account = true;
            }
        ),
        profile!(
            "plaintext-login",
            "accepts the NETIP password in clear (EncryptType NONE)",
            |p| {
                p.netip.accept_plaintext_password = true;
            }
        ),
        profile!(
            "commands-before-login",
            "executes commands before login",
            |p| {
                p.netip.commands_before_login = true;
            }
        ),
        profile!(
            "secrets-in-config",
            "returns password hashes in a config section",
            |p| {
                p.netip.secrets_in_config = true;
            }
        ),
        profile!("no-lockout", "never locks an account", |p| {
            p.netip.no_lockout = true;
        }),
        profile!(
            "crash-on-oversized-length",
            "NETIP service dies on an oversized length field",
            |p| {
                p.crash_on_oversized_length = true;
            }
        ),
        profile!(
            "debug-shell",
            "a debug shell listens on 9527 and 9530",
            |p| {
                p.debug_shell = true;
            }
        ),
    ]
}

/// The profile called `name`.
pub fn find(name: &str) -> Option<SimProfile> {
    all().into_iter().find(|p| p.name == name)
}

/// Every profile name, for error messages.
pub fn names() -> Vec<&'static str> {
    all().iter().map(|p| p.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are unique; exactly one profile is flawless; each flawed one differs from
    /// the reference.
    #[test]
    fn profiles_are_distinct() {
        let all = all();
        let reference = &all[0];
        assert_eq!(reference.name, "reference");
        let mut names: Vec<_> = all.iter().map(|p| p.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
        for p in &all[1..] {
            let mut same = p.clone();
            same.name = reference.name;
            same.flaw = reference.flaw;
            assert_ne!(&same, reference, "{} has no flaw", p.name);
        }
        assert!(find("no-lockout").is_some());
        assert!(find("nope").is_none());
    }
}
