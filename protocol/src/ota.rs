//! Signed firmware (OTA) manifests with anti-rollback.
//!
//! - [`Manifest`]: what a firmware image claims to be: model, version, rollback floor
//!   ([`Manifest::min_version`]), size and SHA-256.
//! - [`SignedManifest`]: a manifest with the vendor's RSA-PSS signature, in a canonical,
//!   bounded binary encoding.
//! - [`DeviceFirmware`]: what a device has installed (model, current version, floor).
//! - [`ImageVerifier`]: checks an image that arrives in chunks; [`SignedManifest::verify`]
//!   does the same in one call.
//! - [`OtaRefusal`]: why an image is refused, with the evidence.
//!
//! The encoding and the refusal rules are specified, with requirement IDs, in
//! `docs/sections/ota.md`.
//!
//! ```
//! # use camproof_protocol::ota::*;
//! # use rand_chacha::ChaCha8Rng;
//! # use rand_core::SeedableRng;
//! # let mut rng = ChaCha8Rng::seed_from_u64(7);
//! # let vendor_key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
//! # let vendor_pub = vendor_key.to_public_key();
//! let image = b"firmware image bytes";
//! let v = |s: &str| s.parse::<FirmwareVersion>().unwrap();
//! // Vendor side, offline: describe the image and sign the manifest.
//! let manifest = Manifest::for_image("IPC-3MP", v("2.1.0"), v("2.0.0"), image)?;
//! let bytes = SignedManifest::sign(manifest, &vendor_key, &mut rng)?.encode();
//!
//! // Device side: decode, verify against the vendor key, install.
//! let mut device = DeviceFirmware::new("IPC-3MP", v("1.4.2"), v("1.0.0"));
//! let signed = SignedManifest::decode(&bytes)?;
//! let verified = signed.verify(image, &device, &vendor_pub)?;
//! device.install(&verified)?;
//! assert_eq!((device.current, device.floor), (v("2.1.0"), v("2.0.0")));
//!
//! // The old firmware is now below the floor: a rollback is refused.
//! let old = Manifest::for_image("IPC-3MP", v("1.9.0"), v("1.0.0"), b"old")?;
//! let old = SignedManifest::sign(old, &vendor_key, &mut rng)?;
//! assert!(matches!(old.verify(b"old", &device, &vendor_pub), Err(OtaRefusal::Downgrade { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::str::FromStr;

use rand_core::CryptoRngCore;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::sig;
use crate::wire::{DecodeError, Reader, Writer};

/// The four bytes that open every manifest encoding: ASCII `"CPFW"`.
pub const MANIFEST_MAGIC: [u8; 4] = *b"CPFW";
/// The manifest encoding version this module reads and writes.
pub const MANIFEST_FORMAT: u8 = 1;
/// Longest model name in bytes.
pub const MAX_MODEL_LEN: usize = 64;
/// Longest signature in bytes (enough for RSA-8192).
pub const MAX_SIGNATURE_LEN: usize = 1024;
/// The prefix of every signed message, so a manifest signature means nothing elsewhere.
pub const SIGNING_DOMAIN: &[u8] = b"camproof OTA manifest v1\0";

/// A firmware version `major.minor.patch`, ordered numerically field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

impl FirmwareVersion {
    /// The version `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        FirmwareVersion {
            major,
            minor,
            patch,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.major);
        out.put_u32(self.minor);
        out.put_u32(self.patch);
    }

    fn read(r: &mut Reader<'_>, field: &'static str) -> Result<Self, DecodeError> {
        Ok(FirmwareVersion {
            major: r.u32(field)?,
            minor: r.u32(field)?,
            patch: r.u32(field)?,
        })
    }
}

impl fmt::Display for FirmwareVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A string that is not a `major.minor.patch` version.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a firmware version (expected major.minor.patch, each 0 to 4294967295): {0:?}")]
pub struct ParseVersionError(pub String);

impl FromStr for FirmwareVersion {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseVersionError(s.to_owned());
        let mut parts = s.split('.').map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(err());
            }
            p.parse::<u32>().map_err(|_| err())
        });
        let (Some(major), Some(minor), Some(patch), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        Ok(FirmwareVersion::new(major?, minor?, patch?))
    }
}

/// Why a manifest cannot be encoded or signed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The model name is empty or longer than [`MAX_MODEL_LEN`] bytes.
    #[error("model name is {len} bytes; it must be 1 to {max}")]
    ModelLength {
        /// The model name's length.
        len: usize,
        /// The longest allowed name.
        max: usize,
    },
    /// The model name contains a character other than printable ASCII.
    #[error("model name {0:?} contains characters other than printable ASCII")]
    ModelCharacters(String),
    /// The signature is longer than [`MAX_SIGNATURE_LEN`] bytes.
    #[error("signature is {len} bytes, longer than the limit of {max}")]
    SignatureTooLong {
        /// The signature's length.
        len: usize,
        /// The longest allowed signature.
        max: usize,
    },
}

/// Whether `model` is 1 to [`MAX_MODEL_LEN`] printable ASCII characters (space included).
fn check_model(model: &str) -> Result<(), ManifestError> {
    if model.is_empty() || model.len() > MAX_MODEL_LEN {
        return Err(ManifestError::ModelLength {
            len: model.len(),
            max: MAX_MODEL_LEN,
        });
    }
    if !model.bytes().all(|b| (0x20..=0x7E).contains(&b)) {
        return Err(ManifestError::ModelCharacters(model.to_owned()));
    }
    Ok(())
}

/// What a firmware image claims to be; signed by the vendor inside a [`SignedManifest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The device model the image is built for (1 to 64 printable ASCII bytes).
    pub model: String,
    /// The image's firmware version.
    pub version: FirmwareVersion,
    /// SHA-256 of the whole image.
    pub image_sha256: [u8; 32],
    /// Length of the whole image in bytes.
    pub image_size: u64,
    /// The rollback floor the device adopts after installing this image.
    pub min_version: FirmwareVersion,
}

impl Manifest {
    /// A manifest describing `image` (its size and SHA-256 computed here).
    pub fn for_image(
        model: impl Into<String>,
        version: FirmwareVersion,
        min_version: FirmwareVersion,
        image: &[u8],
    ) -> Result<Manifest, ManifestError> {
        let model = model.into();
        check_model(&model)?;
        Ok(Manifest {
            model,
            version,
            image_sha256: Sha256::digest(image).into(),
            image_size: image.len() as u64,
            min_version,
        })
    }

    /// The canonical encoding of this manifest.
    pub fn encode(&self) -> Result<Vec<u8>, ManifestError> {
        check_model(&self.model)?;
        let mut out = Vec::with_capacity(71 + self.model.len());
        self.write_checked(&mut out);
        Ok(out)
    }

    /// Decodes a manifest encoding; the input must hold exactly one manifest.
    pub fn decode(bytes: &[u8]) -> Result<Manifest, DecodeError> {
        let mut r = Reader::new(bytes);
        let m = Manifest::read(&mut r)?;
        r.finish("manifest")?;
        Ok(m)
    }

    /// The message the vendor signs: [`SIGNING_DOMAIN`] followed by the encoding.
    pub fn signing_input(&self) -> Result<Vec<u8>, ManifestError> {
        check_model(&self.model)?;
        let mut out = Vec::with_capacity(SIGNING_DOMAIN.len() + 71 + self.model.len());
        out.extend_from_slice(SIGNING_DOMAIN);
        self.write_checked(&mut out);
        Ok(out)
    }

    /// Appends the encoding; the caller has checked the model name.
    fn write_checked(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&MANIFEST_MAGIC);
        out.push(MANIFEST_FORMAT);
        out.put_vec16(self.model.as_bytes());
        self.version.write(out);
        self.min_version.write(out);
        out.put_u64(self.image_size);
        out.extend_from_slice(&self.image_sha256);
    }

    fn read(r: &mut Reader<'_>) -> Result<Manifest, DecodeError> {
        let magic: [u8; 4] = r.array("manifest magic")?;
        if magic != MANIFEST_MAGIC {
            return Err(DecodeError::InvalidValue {
                field: "manifest magic",
                reason: format!("{} is not \"CPFW\"", hex::encode(magic)),
            });
        }
        let format = r.u8("manifest format")?;
        if format != MANIFEST_FORMAT {
            return Err(DecodeError::InvalidValue {
                field: "manifest format",
                reason: format!("version {format} is not supported (this build reads 1)"),
            });
        }
        let model = r.str16("model", MAX_MODEL_LEN)?;
        check_model(model).map_err(|e| DecodeError::InvalidValue {
            field: "model",
            reason: e.to_string(),
        })?;
        Ok(Manifest {
            model: model.to_owned(),
            version: FirmwareVersion::read(r, "version")?,
            min_version: FirmwareVersion::read(r, "min version")?,
            image_size: r.u64("image size")?,
            image_sha256: r.array("image sha256")?,
        })
    }
}

/// A manifest with the vendor's signature (possibly empty: unsigned), in canonical form.
///
/// Only constructed through [`sign`](Self::sign), [`decode`](Self::decode),
/// [`unsigned`](Self::unsigned) or [`with_signature`](Self::with_signature), which check
/// the field bounds, so [`encode`](Self::encode) cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    manifest: Manifest,
    signature: Vec<u8>,
}

impl SignedManifest {
    /// Signs `manifest` with the vendor key (RSA-PSS/SHA-256, offline tools only).
    pub fn sign(
        manifest: Manifest,
        vendor_key: &RsaPrivateKey,
        rng: &mut impl CryptoRngCore,
    ) -> Result<SignedManifest, ManifestError> {
        let msg = manifest.signing_input()?;
        let signature = sig::sign_pss(vendor_key, rng, &msg);
        SignedManifest::with_signature(manifest, signature)
    }

    /// `manifest` with an empty signature, as a careless build pipeline would ship it.
    pub fn unsigned(manifest: Manifest) -> Result<SignedManifest, ManifestError> {
        SignedManifest::with_signature(manifest, Vec::new())
    }

    /// `manifest` with an arbitrary signature (for tests, attackers and flawed vendors).
    pub fn with_signature(
        manifest: Manifest,
        signature: Vec<u8>,
    ) -> Result<SignedManifest, ManifestError> {
        check_model(&manifest.model)?;
        if signature.len() > MAX_SIGNATURE_LEN {
            return Err(ManifestError::SignatureTooLong {
                len: signature.len(),
                max: MAX_SIGNATURE_LEN,
            });
        }
        Ok(SignedManifest {
            manifest,
            signature,
        })
    }

    /// The manifest (not yet verified).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The signature bytes; empty if unsigned.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The canonical encoding: the manifest encoding, then a `u16` length and the signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(73 + self.manifest.model.len() + self.signature.len());
        self.manifest.write_checked(&mut out);
        out.put_vec16(&self.signature);
        out
    }

    /// Decodes a signed manifest; the input must hold exactly one.
    pub fn decode(bytes: &[u8]) -> Result<SignedManifest, DecodeError> {
        let mut r = Reader::new(bytes);
        let manifest = Manifest::read(&mut r)?;
        let signature = r.vec16("signature", MAX_SIGNATURE_LEN)?.to_vec();
        r.finish("signed manifest")?;
        Ok(SignedManifest {
            manifest,
            signature,
        })
    }

    /// Checks the signature, the device's policy and the whole `image` in one call.
    ///
    /// Costs one RSA-PSS verification and one SHA-256 pass over the image.
    pub fn verify(
        &self,
        image: &[u8],
        device: &DeviceFirmware,
        vendor_key: &RsaPublicKey,
    ) -> Result<VerifiedManifest, OtaRefusal> {
        let mut v = ImageVerifier::new(self, device, vendor_key)?;
        v.update(image)?;
        v.finish()
    }

    /// Checks that the signature is present and valid for `vendor_key`.
    fn check_signature(&self, vendor_key: &RsaPublicKey) -> Result<(), OtaRefusal> {
        if self.signature.is_empty() {
            return Err(OtaRefusal::Unsigned);
        }
        let msg = self
            .manifest
            .signing_input()
            .map_err(|_| OtaRefusal::BadSignature)?;
        if sig::verify_pss(vendor_key, &msg, &self.signature) {
            Ok(())
        } else {
            Err(OtaRefusal::BadSignature)
        }
    }
}

/// Why a device refuses a firmware image, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OtaRefusal {
    /// The manifest bytes could not be decoded.
    #[error("manifest is not well-formed: {0}")]
    Malformed(#[from] DecodeError),
    /// The manifest carries no signature.
    #[error("manifest is unsigned")]
    Unsigned,
    /// The signature does not verify against the vendor key.
    #[error("manifest signature does not verify against the vendor key")]
    BadSignature,
    /// The manifest's rollback floor is above its own version.
    #[error(
        "manifest is inconsistent: its minimum version {min_version} is above its own \
         version {version}"
    )]
    InconsistentVersions {
        /// The manifest's version.
        version: FirmwareVersion,
        /// The manifest's minimum version.
        min_version: FirmwareVersion,
    },
    /// The image is built for another model.
    #[error("image is for model {got:?}, but this device is a {expected:?}")]
    WrongModel {
        /// The device's model.
        expected: String,
        /// The manifest's model.
        got: String,
    },
    /// The image's version is below the device's rollback floor.
    #[error("downgrade refused: version {got} is below the rollback floor {floor}")]
    Downgrade {
        /// The device's rollback floor.
        floor: FirmwareVersion,
        /// The manifest's version.
        got: FirmwareVersion,
    },
    /// The image's version is the one installed.
    #[error("version {version} is already installed")]
    AlreadyInstalled {
        /// The installed version.
        version: FirmwareVersion,
    },
    /// The image's version is older than the installed one (but not below the floor).
    #[error("version {got} is not newer than the installed version {current}")]
    NotNewer {
        /// The installed version.
        current: FirmwareVersion,
        /// The manifest's version.
        got: FirmwareVersion,
    },
    /// The image is longer or shorter than the manifest declares.
    #[error("image size mismatch: the manifest declares {expected} bytes, received {got}")]
    SizeMismatch {
        /// The size the manifest declares.
        expected: u64,
        /// The bytes received (so far, when refused while streaming).
        got: u64,
    },
    /// The image's SHA-256 differs from the manifest's.
    #[error(
        "image SHA-256 mismatch: the manifest declares {}, the image hashes to {}",
        hex::encode(.expected),
        hex::encode(.got)
    )]
    HashMismatch {
        /// The digest the manifest declares.
        expected: [u8; 32],
        /// The digest of the image received.
        got: [u8; 32],
    },
}

/// The firmware state a device keeps: its model, the installed version and the rollback floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFirmware {
    /// The device's model, compared byte for byte with a manifest's.
    pub model: String,
    /// The installed firmware version.
    pub current: FirmwareVersion,
    /// The lowest version the device may ever install again.
    pub floor: FirmwareVersion,
}

impl DeviceFirmware {
    /// A device of `model` running `current`, refusing anything below `floor`.
    pub fn new(model: impl Into<String>, current: FirmwareVersion, floor: FirmwareVersion) -> Self {
        DeviceFirmware {
            model: model.into(),
            current,
            floor,
        }
    }

    /// Whether this device's policy admits `manifest` (versions and model; no signature).
    pub fn check(&self, manifest: &Manifest) -> Result<(), OtaRefusal> {
        if manifest.min_version > manifest.version {
            return Err(OtaRefusal::InconsistentVersions {
                version: manifest.version,
                min_version: manifest.min_version,
            });
        }
        if manifest.model != self.model {
            return Err(OtaRefusal::WrongModel {
                expected: self.model.clone(),
                got: manifest.model.clone(),
            });
        }
        if manifest.version < self.floor {
            return Err(OtaRefusal::Downgrade {
                floor: self.floor,
                got: manifest.version,
            });
        }
        if manifest.version == self.current {
            return Err(OtaRefusal::AlreadyInstalled {
                version: self.current,
            });
        }
        if manifest.version < self.current {
            return Err(OtaRefusal::NotNewer {
                current: self.current,
                got: manifest.version,
            });
        }
        Ok(())
    }

    /// Records the installation of a verified image: current version and raised floor.
    ///
    /// Re-checks the policy against the state now, so a manifest verified earlier cannot
    /// be installed twice or after a newer one.
    pub fn install(&mut self, verified: &VerifiedManifest) -> Result<(), OtaRefusal> {
        let m = &verified.manifest;
        self.check(m)?;
        self.current = m.version;
        self.floor = self.floor.max(m.min_version);
        Ok(())
    }
}

/// A manifest whose signature, policy checks and image all passed; only verification makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedManifest {
    manifest: Manifest,
}

impl VerifiedManifest {
    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

/// Verifies an image that arrives in chunks against a signed manifest.
///
/// [`new`](Self::new) checks the signature and the device's policy before any image
/// byte is accepted; [`update`](Self::update) hashes each chunk and refuses as soon as
/// more bytes arrive than the manifest declares; [`finish`](Self::finish) checks the
/// size and the SHA-256 (in constant time).
pub struct ImageVerifier {
    manifest: Manifest,
    hasher: Sha256,
    received: u64,
}

impl fmt::Debug for ImageVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImageVerifier")
            .field("model", &self.manifest.model)
            .field("version", &self.manifest.version)
            .field("image_size", &self.manifest.image_size)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl ImageVerifier {
    /// Checks the signature, then the device's policy; ready for the image's bytes.
    pub fn new(
        signed: &SignedManifest,
        device: &DeviceFirmware,
        vendor_key: &RsaPublicKey,
    ) -> Result<ImageVerifier, OtaRefusal> {
        signed.check_signature(vendor_key)?;
        device.check(&signed.manifest)?;
        Ok(ImageVerifier {
            manifest: signed.manifest.clone(),
            hasher: Sha256::new(),
            received: 0,
        })
    }

    /// Takes the next chunk of the image; refuses if the image grows past its declared size.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), OtaRefusal> {
        let total = self.received.saturating_add(chunk.len() as u64);
        self.received = total;
        if total > self.manifest.image_size {
            return Err(OtaRefusal::SizeMismatch {
                expected: self.manifest.image_size,
                got: total,
            });
        }
        self.hasher.update(chunk);
        Ok(())
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Checks that the whole image arrived and hashes to the declared SHA-256.
    pub fn finish(self) -> Result<VerifiedManifest, OtaRefusal> {
        if self.received != self.manifest.image_size {
            return Err(OtaRefusal::SizeMismatch {
                expected: self.manifest.image_size,
                got: self.received,
            });
        }
        let got: [u8; 32] = self.hasher.finalize().into();
        if !bool::from(got.ct_eq(&self.manifest.image_sha256)) {
            return Err(OtaRefusal::HashMismatch {
                expected: self.manifest.image_sha256,
                got,
            });
        }
        Ok(VerifiedManifest {
            manifest: self.manifest,
        })
    }
}

/// Why a device refused an image, as it reports it (mirrors [`OtaRefusal`] without data). Its
/// [`as_str`](RefusalCode::as_str) name is what a device puts in its install report..
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RefusalCode {
    /// The manifest could not be decoded.
    Malformed,
    /// The manifest was unsigned.
    Unsigned,
    /// The signature did not verify.
    BadSignature,
    /// The manifest's floor was above its version.
    InconsistentVersions,
    /// The image was for another model.
    WrongModel,
    /// The version was below the device's rollback floor.
    Downgrade,
    /// The version was already installed.
    AlreadyInstalled,
    /// The version was older than the installed one.
    NotNewer,
    /// The image's size differed from the manifest's.
    SizeMismatch,
    /// The image's SHA-256 differed from the manifest's.
    HashMismatch,
    /// Any other reason.
    Other,
}

impl RefusalCode {
    /// Every code, in order (for parsing and reports).
    pub const ALL: [RefusalCode; 11] = [
        RefusalCode::Malformed,
        RefusalCode::Unsigned,
        RefusalCode::BadSignature,
        RefusalCode::InconsistentVersions,
        RefusalCode::WrongModel,
        RefusalCode::Downgrade,
        RefusalCode::AlreadyInstalled,
        RefusalCode::NotNewer,
        RefusalCode::SizeMismatch,
        RefusalCode::HashMismatch,
        RefusalCode::Other,
    ];

    /// A stable snake_case name, used in records and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalCode::Malformed => "malformed",
            RefusalCode::Unsigned => "unsigned",
            RefusalCode::BadSignature => "bad_signature",
            RefusalCode::InconsistentVersions => "inconsistent_versions",
            RefusalCode::WrongModel => "wrong_model",
            RefusalCode::Downgrade => "downgrade",
            RefusalCode::AlreadyInstalled => "already_installed",
            RefusalCode::NotNewer => "not_newer",
            RefusalCode::SizeMismatch => "size_mismatch",
            RefusalCode::HashMismatch => "hash_mismatch",
            RefusalCode::Other => "other",
        }
    }

    /// The code named `name` by [`as_str`](Self::as_str), if any.
    pub fn parse(name: &str) -> Option<RefusalCode> {
        RefusalCode::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&OtaRefusal> for RefusalCode {
    fn from(r: &OtaRefusal) -> Self {
        match r {
            OtaRefusal::Malformed(_) => RefusalCode::Malformed,
            OtaRefusal::Unsigned => RefusalCode::Unsigned,
            OtaRefusal::BadSignature => RefusalCode::BadSignature,
            OtaRefusal::InconsistentVersions { .. } => RefusalCode::InconsistentVersions,
            OtaRefusal::WrongModel { .. } => RefusalCode::WrongModel,
            OtaRefusal::Downgrade { .. } => RefusalCode::Downgrade,
            OtaRefusal::AlreadyInstalled { .. } => RefusalCode::AlreadyInstalled,
            OtaRefusal::NotNewer { .. } => RefusalCode::NotNewer,
            OtaRefusal::SizeMismatch { .. } => RefusalCode::SizeMismatch,
            OtaRefusal::HashMismatch { .. } => RefusalCode::HashMismatch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use std::sync::OnceLock;

    const MODEL: &str = "IPC-HFW2431S";
    const IMAGE: &[u8] = b"camproof firmware image";

    /// Two RSA-2048 keys (vendor, impostor), generated once per test binary.
    fn keys() -> &'static [(RsaPrivateKey, RsaPublicKey); 2] {
        static KEYS: OnceLock<[(RsaPrivateKey, RsaPublicKey); 2]> = OnceLock::new();
        KEYS.get_or_init(|| {
            [1, 2].map(|seed| {
                let key = RsaPrivateKey::new(&mut ChaCha8Rng::seed_from_u64(seed), 2048).unwrap();
                let public = key.to_public_key();
                (key, public)
            })
        })
    }

    fn vendor() -> &'static RsaPrivateKey {
        &keys()[0].0
    }

    fn vendor_pub() -> &'static RsaPublicKey {
        &keys()[0].1
    }

    fn v(major: u32, minor: u32, patch: u32) -> FirmwareVersion {
        FirmwareVersion::new(major, minor, patch)
    }

    fn manifest(version: FirmwareVersion, min_version: FirmwareVersion) -> Manifest {
        Manifest::for_image(MODEL, version, min_version, IMAGE).unwrap()
    }

    fn signed(m: Manifest) -> SignedManifest {
        SignedManifest::sign(m, vendor(), &mut ChaCha8Rng::seed_from_u64(99)).unwrap()
    }

    /// A device on 5.4.0 with floor 5.0.0.
    fn device() -> DeviceFirmware {
        DeviceFirmware::new(MODEL, v(5, 4, 0), v(5, 0, 0))
    }

    /// A correctly signed 5.5.3 (floor 5.0.0) manifest for IMAGE, signed once.
    fn good() -> &'static SignedManifest {
        static GOOD: OnceLock<SignedManifest> = OnceLock::new();
        GOOD.get_or_init(|| signed(manifest(v(5, 5, 3), v(5, 0, 0))))
    }

    fn arb_version() -> impl Strategy<Value = FirmwareVersion> {
        (0u32..4, 0u32..4, 0u32..4).prop_map(|(a, b, c)| v(a, b, c))
    }

    fn arb_manifest() -> impl Strategy<Value = Manifest> {
        (
            "[ -~]{1,64}",
            any::<(u32, u32, u32)>(),
            any::<(u32, u32, u32)>(),
            any::<u64>(),
            any::<[u8; 32]>(),
        )
            .prop_map(|(model, a, b, image_size, image_sha256)| Manifest {
                model,
                version: v(a.0, a.1, a.2),
                min_version: v(b.0, b.1, b.2),
                image_size,
                image_sha256,
            })
    }

    // Computed independently in Python from the layout in docs/sections/ota.md.
    const KAT_MANIFEST: &str = "4350465701000c4950432d48465732343331530000000500000005000000030000\
                                0005000000000000000000000000000000170bd19600e61e49de80a85bc499b74a\
                                74a73b91691d07316a04f94ff4ced92dc1";

    /// OTA-ENC-01: a fixed manifest encodes to exactly these bytes.
    #[test]
    fn kat_manifest_encoding() {
        let m = manifest(v(5, 5, 3), v(5, 0, 0));
        assert_eq!(hex::encode(m.encode().unwrap()), KAT_MANIFEST);
        assert_eq!(Manifest::decode(&m.encode().unwrap()), Ok(m.clone()));
        let s = SignedManifest::with_signature(m, vec![0xAB, 0xCD]).unwrap();
        assert_eq!(hex::encode(s.encode()), format!("{KAT_MANIFEST}0002abcd"));
    }

    /// OTA-SIG-01: the signed message is the domain prefix then the manifest encoding,
    /// and a signature over the bare encoding (no domain) does not verify.
    #[test]
    fn signature_is_domain_separated() {
        let m = manifest(v(5, 5, 3), v(5, 0, 0));
        let input = m.signing_input().unwrap();
        assert_eq!(
            &input[..SIGNING_DOMAIN.len()],
            b"camproof OTA manifest v1\0"
        );
        assert_eq!(&input[SIGNING_DOMAIN.len()..], &m.encode().unwrap()[..]);
        assert!(sig::verify_pss(vendor_pub(), &input, good().signature()));
        let bare = sig::sign_pss(
            vendor(),
            &mut ChaCha8Rng::seed_from_u64(3),
            &m.encode().unwrap(),
        );
        let s = SignedManifest::with_signature(m, bare).unwrap();
        assert_eq!(
            s.verify(IMAGE, &device(), vendor_pub()),
            Err(OtaRefusal::BadSignature)
        );
    }

    /// OTA-SIG-01, OTA-ROLLBACK-03: a signed newer image verifies and installs; the device
    /// then runs its version and its floor is max(old floor, min_version).
    #[test]
    fn signed_update_installs_and_raises_floor() {
        let bytes = good().encode();
        let decoded = SignedManifest::decode(&bytes).unwrap();
        let mut dev = device();
        let verified = decoded.verify(IMAGE, &dev, vendor_pub()).unwrap();
        assert_eq!(verified.manifest(), good().manifest());
        dev.install(&verified).unwrap();
        assert_eq!((dev.current, dev.floor), (v(5, 5, 3), v(5, 0, 0)));

        // A manifest with a lower min_version never lowers the floor.
        let mut dev = DeviceFirmware::new(MODEL, v(5, 4, 0), v(5, 2, 0));
        let verified = good().verify(IMAGE, &dev, vendor_pub()).unwrap();
        dev.install(&verified).unwrap();
        assert_eq!((dev.current, dev.floor), (v(5, 5, 3), v(5, 2, 0)));
    }

    /// OTA-ROLLBACK-03: after installing an image that raises the floor, an image that was
    /// acceptable before is refused as a downgrade.
    #[test]
    fn raised_floor_blocks_old_images() {
        let mut dev = device();
        let old = signed(manifest(v(5, 4, 5), v(5, 0, 0)));
        assert!(old.verify(IMAGE, &dev, vendor_pub()).is_ok());
        let raising = signed(manifest(v(6, 0, 0), v(5, 5, 0)));
        dev.install(&raising.verify(IMAGE, &dev, vendor_pub()).unwrap())
            .unwrap();
        assert_eq!(dev.floor, v(5, 5, 0));
        assert_eq!(
            old.verify(IMAGE, &dev, vendor_pub()),
            Err(OtaRefusal::Downgrade {
                floor: v(5, 5, 0),
                got: v(5, 4, 5)
            })
        );
    }

    /// OTA-SIG-02: a manifest with an empty signature is refused as unsigned.
    #[test]
    fn unsigned_refused() {
        let s = SignedManifest::unsigned(manifest(v(5, 5, 3), v(5, 0, 0))).unwrap();
        let back = SignedManifest::decode(&s.encode()).unwrap();
        assert!(back.signature().is_empty());
        assert_eq!(
            back.verify(IMAGE, &device(), vendor_pub()),
            Err(OtaRefusal::Unsigned)
        );
    }

    /// OTA-SIG-03: a signature by another key, a corrupted or truncated signature, or any
    /// manifest field changed after signing is refused as badly signed.
    #[test]
    fn bad_signatures_refused() {
        let m = good().manifest().clone();
        let sig = good().signature().to_vec();
        let other =
            SignedManifest::sign(m.clone(), &keys()[1].0, &mut ChaCha8Rng::seed_from_u64(5))
                .unwrap();
        let mut flipped = sig.clone();
        flipped[17] ^= 0x01;
        let mut candidates = vec![
            other,
            SignedManifest::with_signature(m.clone(), flipped).unwrap(),
            SignedManifest::with_signature(m.clone(), sig[..sig.len() - 1].to_vec()).unwrap(),
            SignedManifest::with_signature(m.clone(), vec![0; 256]).unwrap(),
        ];
        let edits: [fn(&mut Manifest); 5] = [
            |m| m.model.push('X'),
            |m| m.version.patch += 1,
            |m| m.min_version.major -= 1,
            |m| m.image_size += 1,
            |m| m.image_sha256[0] ^= 1,
        ];
        for edit in edits {
            let mut m2 = m.clone();
            edit(&mut m2);
            candidates.push(SignedManifest::with_signature(m2, sig.clone()).unwrap());
        }
        for c in candidates {
            assert_eq!(
                c.verify(IMAGE, &device(), vendor_pub()),
                Err(OtaRefusal::BadSignature),
                "{c:?}"
            );
        }
    }

    /// OTA-ORDER-01: the checks run in the documented order: the signature before any
    /// field is trusted, then versions, model, floor, current, size, hash.
    #[test]
    fn first_failing_check_is_reported() {
        let mut bad = manifest(v(1, 0, 0), v(2, 0, 0));
        bad.model = "other".into();
        bad.image_size = 1;
        let dev = device();
        let unsigned = SignedManifest::unsigned(bad.clone()).unwrap();
        assert_eq!(
            unsigned.verify(b"", &dev, vendor_pub()),
            Err(OtaRefusal::Unsigned)
        );
        let forged = SignedManifest::with_signature(bad.clone(), vec![1; 256]).unwrap();
        assert_eq!(
            forged.verify(b"", &dev, vendor_pub()),
            Err(OtaRefusal::BadSignature)
        );
        assert!(matches!(
            signed(bad.clone()).verify(b"", &dev, vendor_pub()),
            Err(OtaRefusal::InconsistentVersions { .. })
        ));
        bad.min_version = v(0, 0, 1);
        assert!(matches!(
            signed(bad.clone()).verify(b"", &dev, vendor_pub()),
            Err(OtaRefusal::WrongModel { .. })
        ));
        bad.model = MODEL.into();
        assert!(matches!(
            signed(bad.clone()).verify(b"", &dev, vendor_pub()),
            Err(OtaRefusal::Downgrade { .. })
        ));
        bad.version = v(6, 0, 0);
        assert!(matches!(
            signed(bad).verify(b"", &dev, vendor_pub()),
            Err(OtaRefusal::SizeMismatch {
                expected: 1,
                got: 0
            })
        ));
    }

    /// OTA-VER-01: a manifest whose min_version is above its version is refused as
    /// inconsistent, even when correctly signed.
    #[test]
    fn inconsistent_versions_refused() {
        let s = signed(manifest(v(5, 5, 3), v(5, 6, 0)));
        assert_eq!(
            s.verify(IMAGE, &device(), vendor_pub()),
            Err(OtaRefusal::InconsistentVersions {
                version: v(5, 5, 3),
                min_version: v(5, 6, 0)
            })
        );
    }

    /// OTA-VER-02: versions order numerically by major, then minor, then patch, and
    /// print and parse as `major.minor.patch`.
    #[test]
    fn version_order_and_text() {
        assert!(v(1, 10, 0) > v(1, 9, 99));
        assert!(v(2, 0, 0) > v(1, 99, 99));
        assert!(v(1, 0, 10) > v(1, 0, 9));
        assert_eq!(v(4, 0, 12).to_string(), "4.0.12");
        assert_eq!("4.0.12".parse(), Ok(v(4, 0, 12)));
        assert_eq!("4294967295.0.0".parse(), Ok(v(u32::MAX, 0, 0)));
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1..3",
            "a.b.c",
            "+1.2.3",
            "1.2.-3",
            "4294967296.0.0",
        ] {
            assert!(bad.parse::<FirmwareVersion>().is_err(), "{bad:?}");
        }
    }

    /// OTA-MODEL-01: an image for another model is refused; models compare byte for byte.
    #[test]
    fn wrong_model_refused() {
        for other in ["IPC-HFW2431T", "ipc-hfw2431s", "IPC-HFW2431S "] {
            let mut m = manifest(v(5, 5, 3), v(5, 0, 0));
            m.model = other.into();
            assert_eq!(
                signed(m).verify(IMAGE, &device(), vendor_pub()),
                Err(OtaRefusal::WrongModel {
                    expected: MODEL.into(),
                    got: other.into()
                })
            );
        }
    }

    /// OTA-ROLLBACK-01: an image whose version is below the device's floor is refused as
    /// a downgrade, even if it is newer than the installed version.
    #[test]
    fn below_floor_refused() {
        let s = signed(manifest(v(4, 9, 9), v(4, 0, 0)));
        assert_eq!(
            s.verify(IMAGE, &device(), vendor_pub()),
            Err(OtaRefusal::Downgrade {
                floor: v(5, 0, 0),
                got: v(4, 9, 9)
            })
        );
        let odd = DeviceFirmware::new(MODEL, v(5, 0, 0), v(6, 0, 0));
        assert!(matches!(
            good().verify(IMAGE, &odd, vendor_pub()),
            Err(OtaRefusal::Downgrade { .. })
        ));
    }

    /// OTA-ROLLBACK-02: the installed version is refused as already installed, an older
    /// one (at or above the floor) as not newer; installing twice is refused.
    #[test]
    fn not_newer_refused() {
        let dev = device();
        assert_eq!(
            signed(manifest(v(5, 4, 0), v(5, 0, 0))).verify(IMAGE, &dev, vendor_pub()),
            Err(OtaRefusal::AlreadyInstalled {
                version: v(5, 4, 0)
            })
        );
        assert_eq!(
            signed(manifest(v(5, 0, 0), v(5, 0, 0))).verify(IMAGE, &dev, vendor_pub()),
            Err(OtaRefusal::NotNewer {
                current: v(5, 4, 0),
                got: v(5, 0, 0)
            })
        );
        let mut dev = dev;
        let verified = good().verify(IMAGE, &dev, vendor_pub()).unwrap();
        dev.install(&verified).unwrap();
        assert_eq!(
            dev.install(&verified),
            Err(OtaRefusal::AlreadyInstalled {
                version: v(5, 5, 3)
            })
        );
    }

    /// OTA-IMG-01: an image shorter or longer than declared is refused with both sizes.
    #[test]
    fn size_mismatch_refused() {
        let n = IMAGE.len() as u64;
        assert_eq!(
            good().verify(&IMAGE[1..], &device(), vendor_pub()),
            Err(OtaRefusal::SizeMismatch {
                expected: n,
                got: n - 1
            })
        );
        let mut long = IMAGE.to_vec();
        long.push(0);
        assert_eq!(
            good().verify(&long, &device(), vendor_pub()),
            Err(OtaRefusal::SizeMismatch {
                expected: n,
                got: n + 1
            })
        );
    }

    /// OTA-IMG-02, OTA-REF-01: an image of the right size but another SHA-256 is refused;
    /// the refusal shows both digests in hex.
    #[test]
    fn hash_mismatch_refused() {
        let mut evil = IMAGE.to_vec();
        evil[0] ^= 0x20;
        let err = good().verify(&evil, &device(), vendor_pub()).unwrap_err();
        let want_got: [u8; 32] = Sha256::digest(&evil).into();
        assert_eq!(
            err,
            OtaRefusal::HashMismatch {
                expected: good().manifest().image_sha256,
                got: want_got
            }
        );
        let text = err.to_string();
        assert!(text.contains("0bd19600e61e49de80a85bc499b74a74a73b91691d07316a04f94ff4ced92dc1"));
        assert!(text.contains(&hex::encode(want_got)), "{text}");
    }

    /// OTA-REF-01: every refusal reads as a sentence naming the evidence.
    #[test]
    fn refusals_read_well() {
        let cases = [
            (OtaRefusal::Unsigned, "manifest is unsigned"),
            (
                OtaRefusal::Downgrade {
                    floor: v(5, 0, 0),
                    got: v(4, 9, 9),
                },
                "downgrade refused: version 4.9.9 is below the rollback floor 5.0.0",
            ),
            (
                OtaRefusal::NotNewer {
                    current: v(5, 4, 0),
                    got: v(5, 1, 0),
                },
                "version 5.1.0 is not newer than the installed version 5.4.0",
            ),
            (
                OtaRefusal::SizeMismatch {
                    expected: 10,
                    got: 11,
                },
                "image size mismatch: the manifest declares 10 bytes, received 11",
            ),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
        }
        let e: OtaRefusal = SignedManifest::decode(b"CPFW").unwrap_err().into();
        assert!(
            e.to_string()
                .starts_with("manifest is not well-formed: truncated"),
            "{e}"
        );
    }

    /// OTA-IMG-03: the streaming verifier refuses at the first chunk that exceeds the
    /// declared size, without hashing it, and stays refused.
    #[test]
    fn streaming_refuses_overflow_early() {
        let n = IMAGE.len() as u64;
        let mut iv = ImageVerifier::new(good(), &device(), vendor_pub()).unwrap();
        iv.update(&IMAGE[..20]).unwrap();
        iv.update(&IMAGE[20..]).unwrap();
        assert_eq!(iv.received(), n);
        assert_eq!(
            iv.update(b"!"),
            Err(OtaRefusal::SizeMismatch {
                expected: n,
                got: n + 1
            })
        );
        assert!(matches!(iv.finish(), Err(OtaRefusal::SizeMismatch { .. })));
        // A hostile first chunk bigger than the whole declared image is refused at once.
        let mut iv = ImageVerifier::new(good(), &device(), vendor_pub()).unwrap();
        assert!(iv.update(&[0; 4096]).is_err());
        // Signature and policy are checked before the first byte.
        let unsigned = SignedManifest::unsigned(good().manifest().clone()).unwrap();
        assert!(matches!(
            ImageVerifier::new(&unsigned, &device(), vendor_pub()),
            Err(OtaRefusal::Unsigned)
        ));
    }

    /// OTA-ENC-02: model names must be 1 to 64 printable ASCII bytes, on encode and decode.
    #[test]
    fn model_name_bounds() {
        let mut m = manifest(v(1, 0, 0), v(1, 0, 0));
        m.model = "x".repeat(64);
        let ok = m.encode().unwrap();
        assert_eq!(Manifest::decode(&ok), Ok(m.clone()));
        for bad in [String::new(), "x".repeat(65)] {
            m.model = bad.clone();
            assert_eq!(
                m.encode(),
                Err(ManifestError::ModelLength {
                    len: bad.len(),
                    max: 64
                })
            );
            assert!(SignedManifest::unsigned(m.clone()).is_err());
        }
        for bad in ["caméra", "tab\there", "nul\0"] {
            m.model = bad.into();
            assert!(matches!(m.encode(), Err(ManifestError::ModelCharacters(_))));
            assert!(m.signing_input().is_err());
        }
        // Decoding: patch the model bytes of a valid encoding.
        let mut enc = ok.clone();
        enc[7] = 0x07;
        assert!(matches!(
            Manifest::decode(&enc),
            Err(DecodeError::InvalidValue { field: "model", .. })
        ));
        let mut enc = ok.clone();
        enc[5..7].copy_from_slice(&65u16.to_be_bytes());
        assert!(matches!(
            Manifest::decode(&enc),
            Err(DecodeError::LengthTooLarge {
                len: 65,
                max: 64,
                ..
            })
        ));
        let mut enc = ok;
        enc[5..7].copy_from_slice(&0u16.to_be_bytes());
        assert!(Manifest::decode(&enc).is_err());
    }

    /// OTA-ENC-02: signatures longer than 1024 bytes are refused, on decode before reading.
    #[test]
    fn signature_length_bounded() {
        let m = manifest(v(1, 0, 0), v(1, 0, 0));
        assert_eq!(
            SignedManifest::with_signature(m.clone(), vec![0; 1025]),
            Err(ManifestError::SignatureTooLong {
                len: 1025,
                max: 1024
            })
        );
        assert!(SignedManifest::with_signature(m.clone(), vec![0; 1024]).is_ok());
        let mut enc = m.encode().unwrap();
        enc.extend_from_slice(&u16::MAX.to_be_bytes());
        assert!(matches!(
            SignedManifest::decode(&enc),
            Err(DecodeError::LengthTooLarge {
                len: 65535,
                max: 1024,
                ..
            })
        ));
    }

    /// OTA-ENC-02: wrong magic, unknown format, truncation and trailing bytes are refused.
    #[test]
    fn framing_errors_refused() {
        let enc = good().encode();
        let mut bad = enc.clone();
        bad[0] = b'X';
        assert!(matches!(
            SignedManifest::decode(&bad),
            Err(DecodeError::InvalidValue {
                field: "manifest magic",
                ..
            })
        ));
        let mut bad = enc.clone();
        bad[4] = 2;
        assert!(matches!(
            SignedManifest::decode(&bad),
            Err(DecodeError::InvalidValue {
                field: "manifest format",
                ..
            })
        ));
        for cut in [0, 4, 5, 20, 83, enc.len() - 1] {
            assert!(
                matches!(
                    SignedManifest::decode(&enc[..cut]),
                    Err(DecodeError::Truncated { .. })
                ),
                "cut {cut}"
            );
        }
        let mut long = enc.clone();
        long.push(0);
        assert!(matches!(
            SignedManifest::decode(&long),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
        let m_enc = good().manifest().encode().unwrap();
        assert!(matches!(
            Manifest::decode(&[m_enc.as_slice(), &[0]].concat()),
            Err(DecodeError::TrailingBytes { count: 1, .. })
        ));
    }

    proptest! {
        /// OTA-ENC-01: any manifest, and any signed manifest, encodes and decodes back
        /// unchanged, and decoding then encoding gives back the same bytes (canonical).
        #[test]
        fn manifest_round_trip(
            m in arb_manifest(),
            sig in proptest::collection::vec(any::<u8>(), 0..=MAX_SIGNATURE_LEN),
        ) {
            let enc = m.encode().unwrap();
            prop_assert_eq!(enc.len(), 71 + m.model.len());
            prop_assert_eq!(Manifest::decode(&enc), Ok(m.clone()));
            let s = SignedManifest::with_signature(m, sig).unwrap();
            let bytes = s.encode();
            let back = SignedManifest::decode(&bytes).unwrap();
            prop_assert_eq!(back.encode(), bytes);
            prop_assert_eq!(back, s);
        }

        /// OTA-ENC-03: decoding arbitrary bytes never panics.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Manifest::decode(&bytes);
            let _ = SignedManifest::decode(&bytes);
            let mut prefixed = b"CPFW\x01".to_vec();
            prefixed.extend_from_slice(&bytes);
            if let Ok(s) = SignedManifest::decode(&prefixed) {
                prop_assert_eq!(s.encode(), prefixed);
            }
        }

        /// OTA-ENC-03, OTA-SIG-03: a signed manifest with arbitrary byte edits never panics
        /// the decoder, and if it still decodes it is refused unless it is unchanged.
        #[test]
        fn edited_manifests_never_verify(
            edits in proptest::collection::vec((any::<Index>(), any::<u8>()), 1..4),
        ) {
            let orig = good().encode();
            let mut bytes = orig.clone();
            for (at, val) in edits {
                let i = at.index(bytes.len());
                bytes[i] = val;
            }
            if let Ok(s) = SignedManifest::decode(&bytes) {
                let result = s.verify(IMAGE, &device(), vendor_pub());
                prop_assert_eq!(result.is_ok(), bytes == orig);
            }
        }

        /// OTA-IMG-03: for any split of the image into chunks, the streaming verifier
        /// reaches the same verdict as the one-shot verify, for good and corrupted images.
        #[test]
        fn streaming_matches_one_shot(
            cuts in proptest::collection::vec(any::<Index>(), 0..6),
            corrupt in proptest::option::of((any::<Index>(), 1u8..)),
            extra in proptest::collection::vec(any::<u8>(), 0..3),
            drop in 0usize..3,
        ) {
            let mut image = IMAGE.to_vec();
            if let Some((at, x)) = corrupt {
                let i = at.index(image.len());
                image[i] ^= x;
            }
            image.truncate(image.len() - drop);
            image.extend_from_slice(&extra);
            let one_shot = good().verify(&image, &device(), vendor_pub());
            let mut points: Vec<usize> = cuts.iter().map(|c| c.index(image.len() + 1)).collect();
            points.sort_unstable();
            let mut iv = ImageVerifier::new(good(), &device(), vendor_pub()).unwrap();
            let mut start = 0;
            let mut streamed = Ok(());
            for p in points.into_iter().chain([image.len()]) {
                streamed = iv.update(&image[start..p]);
                start = p;
                if streamed.is_err() {
                    break;
                }
            }
            let streamed = streamed.and_then(|()| iv.finish());
            prop_assert_eq!(streamed.is_ok(), one_shot.is_ok());
            if let (Err(a), Err(b)) = (&streamed, &one_shot) {
                prop_assert!(
                    std::mem::discriminant(a) == std::mem::discriminant(b),
                    "streamed {:?} vs one-shot {:?}", a, b
                );
            }
            prop_assert_eq!(one_shot.is_ok(), image == IMAGE);
        }

        /// OTA-ROLLBACK-01, OTA-ROLLBACK-02, OTA-ROLLBACK-03, OTA-VER-01: the policy check
        /// matches the documented rules for any device state and manifest versions, and
        /// installing keeps floor <= current.
        #[test]
        fn policy_matches_rules(
            current in arb_version(), floor in arb_version(),
            version in arb_version(), min_version in arb_version(),
        ) {
            let mut dev = DeviceFirmware::new(MODEL, current, floor);
            let m = Manifest { min_version, version, ..good().manifest().clone() };
            let got = dev.check(&m);
            let want = if min_version > version {
                Err(OtaRefusal::InconsistentVersions { version, min_version })
            } else if version < floor {
                Err(OtaRefusal::Downgrade { floor, got: version })
            } else if version == current {
                Err(OtaRefusal::AlreadyInstalled { version })
            } else if version < current {
                Err(OtaRefusal::NotNewer { current, got: version })
            } else {
                Ok(())
            };
            prop_assert_eq!(&got, &want);
            if got.is_ok() {
                dev.install(&VerifiedManifest { manifest: m }).unwrap();
                prop_assert_eq!(dev.current, version);
                prop_assert_eq!(dev.floor, floor.max(min_version));
                prop_assert!(dev.floor <= dev.current);
            }
        }
    }
}
