//! Receiving a firmware upload over 1520/1522 and verifying it before installation.
//!
//! The upload is framed as a little-endian `u32` length `N`, then `N` bytes of
//! [`SignedManifest::encode`], then the image itself. The manifest is verified (vendor
//! signature, model, rollback floor, newer version) as soon as it is complete, before
//! any image byte is accepted; the image is hashed as it streams in and never buffered.

use camproof_protocol::ota::{
    DeviceFirmware, FirmwareVersion, ImageVerifier, OtaRefusal, SignedManifest,
};
use rsa::RsaPublicKey;

/// Largest signed manifest accepted at the start of an upload, in bytes.
pub const MAX_MANIFEST_FRAME: usize = 4096;

/// The upload a client sends through 1522 chunks: `u32 LE` length of the signed
/// manifest, the signed manifest, then the image.
pub fn encode_upgrade_upload(signed: &SignedManifest, image: &[u8]) -> Vec<u8> {
    let manifest = signed.encode();
    let len = u32::try_from(manifest.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(4 + manifest.len() + image.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&manifest);
    out.extend_from_slice(image);
    out
}

/// How an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UpgradeOutcome {
    /// Installed; the firmware version now running.
    Installed(FirmwareVersion),
    /// Refused, and why.
    Refused(String),
}

/// What the receiver is waiting for.
enum Stage {
    /// The length prefix and the signed manifest (bounded by [`MAX_MANIFEST_FRAME`]).
    AwaitManifest(Vec<u8>),
    /// Image bytes, hashed by the verifier (secure firmware) or ignored (flawed).
    AwaitImage {
        manifest: Option<SignedManifest>,
        verifier: Option<Box<ImageVerifier>>,
    },
    /// The upload was refused; later chunks are ignored.
    Failed(String),
}

/// The firmware-upgrade flaws a device may have. Both cameras express theirs with it:
/// the NETIP camera from its [`NetipFlaws`](super::NetipFlaws), the CDP camera from its
/// OTA flaws.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct UpgradeFlaws {
    /// Firmware is installed without any verification.
    pub(crate) accept_unsigned_upgrade: bool,
    /// A correctly signed image older than the installed one, or below the rollback
    /// floor, is installed.
    pub(crate) accept_downgrade: bool,
}

/// What the receiver needs from the camera.
pub(crate) struct Policy<'a> {
    pub(crate) vendor_key: Option<&'a RsaPublicKey>,
    pub(crate) firmware: &'a DeviceFirmware,
    pub(crate) flaws: UpgradeFlaws,
}

impl Policy<'_> {
    /// The firmware state manifests are checked against: the real one, or (with the
    /// `accept_downgrade` flaw) one that admits any version of the right model.
    fn device(&self) -> DeviceFirmware {
        if self.flaws.accept_downgrade {
            let zero = FirmwareVersion::new(0, 0, 0);
            DeviceFirmware::new(self.firmware.model.clone(), zero, zero)
        } else {
            self.firmware.clone()
        }
    }
}

/// One upload in progress.
pub(crate) struct UpgradeReceiver {
    received: u64,
    max_total: u64,
    stage: Stage,
}

impl UpgradeReceiver {
    /// An upload of at most `max_total` bytes.
    pub(crate) fn new(max_total: u64) -> Self {
        UpgradeReceiver {
            received: 0,
            max_total,
            stage: Stage::AwaitManifest(Vec::new()),
        }
    }

    /// Whether the upload was refused.
    pub(crate) fn failed(&self) -> bool {
        matches!(self.stage, Stage::Failed(_))
    }

    /// Takes one chunk; `Err` (with the reason) if the upload is refused now or was
    /// refused before.
    pub(crate) fn chunk(&mut self, data: &[u8], policy: &Policy<'_>) -> Result<(), String> {
        if let Stage::Failed(reason) = &self.stage {
            return Err(reason.clone());
        }
        let total = self.received.saturating_add(data.len() as u64);
        self.received = total;
        if total > self.max_total {
            return self.fail(format!(
                "upload exceeds the limit of {} bytes",
                self.max_total
            ));
        }
        match self.take(data, policy) {
            Ok(()) => Ok(()),
            Err(reason) => self.fail(reason),
        }
    }

    fn fail(&mut self, reason: String) -> Result<(), String> {
        self.stage = Stage::Failed(reason.clone());
        Err(reason)
    }

    fn take(&mut self, mut data: &[u8], policy: &Policy<'_>) -> Result<(), String> {
        if let Stage::AwaitManifest(buf) = &mut self.stage {
            // Only the bytes the frame still needs are copied, so the buffer stays bounded.
            let declared = buf
                .first_chunk::<4>()
                .map(|b| u32::from_le_bytes(*b) as usize);
            let need = declared.map_or(4, |n| n.saturating_add(4));
            let take = need.saturating_sub(buf.len()).min(data.len());
            buf.extend_from_slice(data.get(..take).unwrap_or_default());
            data = data.get(take..).unwrap_or_default();
            if declared.is_none() {
                if let Some(b) = buf.first_chunk::<4>() {
                    let n = u32::from_le_bytes(*b) as usize;
                    if n == 0 || n > MAX_MANIFEST_FRAME {
                        if policy.flaws.accept_unsigned_upgrade {
                            self.stage = Stage::AwaitImage {
                                manifest: None,
                                verifier: None,
                            };
                            return Ok(());
                        }
                        return Err(format!(
                            "manifest frame of {n} bytes is outside 1..={MAX_MANIFEST_FRAME}"
                        ));
                    }
                    // The length is known now: take the manifest bytes of this chunk.
                    return self.take(data, policy);
                }
                return Ok(());
            }
            if buf.len() < need {
                return Ok(());
            }
            let decoded = SignedManifest::decode(buf.get(4..).unwrap_or_default());
            self.stage = if policy.flaws.accept_unsigned_upgrade {
                Stage::AwaitImage {
                    manifest: decoded.ok(),
                    verifier: None,
                }
            } else {
                let signed = decoded.map_err(|e| OtaRefusal::Malformed(e).to_string())?;
                let Some(key) = policy.vendor_key else {
                    return Err("the camera has no vendor key to verify firmware".to_owned());
                };
                let verifier = ImageVerifier::new(&signed, &policy.device(), key)
                    .map_err(|e| e.to_string())?;
                Stage::AwaitImage {
                    manifest: Some(signed),
                    verifier: Some(Box::new(verifier)),
                }
            };
        }
        match &mut self.stage {
            Stage::AwaitImage {
                verifier: Some(v), ..
            } => v.update(data).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }

    /// Ends the upload (the end flag arrived): verifies and installs into `firmware`.
    pub(crate) fn finish(
        self,
        policy: &Policy<'_>,
        firmware: &mut DeviceFirmware,
    ) -> UpgradeOutcome {
        match self.stage {
            Stage::Failed(reason) => UpgradeOutcome::Refused(reason),
            Stage::AwaitManifest(_) if policy.flaws.accept_unsigned_upgrade => {
                UpgradeOutcome::Installed(firmware.current)
            }
            Stage::AwaitManifest(_) => {
                UpgradeOutcome::Refused("upload ended before its manifest".to_owned())
            }
            Stage::AwaitImage {
                manifest,
                verifier: None,
            } => {
                // Flawed firmware: whatever the manifest claims is believed.
                if let Some(m) = manifest {
                    firmware.current = m.manifest().version;
                }
                UpgradeOutcome::Installed(firmware.current)
            }
            Stage::AwaitImage {
                verifier: Some(v), ..
            } => {
                let verified = match v.finish() {
                    Ok(verified) => verified,
                    Err(e) => return UpgradeOutcome::Refused(e.to_string()),
                };
                if policy.flaws.accept_downgrade {
                    firmware.current = verified.manifest().version;
                    return UpgradeOutcome::Installed(firmware.current);
                }
                match firmware.install(&verified) {
                    Ok(()) => UpgradeOutcome::Installed(firmware.current),
                    Err(e) => UpgradeOutcome::Refused(e.to_string()),
                }
            }
        }
    }
}
