//! The catalog: which vendor key signs each model's firmware, and the releases that passed
//! verification. Only public-key operations happen here: the platform never signs.

use std::collections::BTreeMap;

use camproof_protocol::ota::{FirmwareVersion, OtaRefusal, SignedManifest, MAX_MODEL_LEN};
use camproof_protocol::pki::{Certificate, PublicKey, Role};
use camproof_protocol::sig::verify_pss;
use camproof_protocol::time::Timestamp;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Why a vendor certificate cannot be trusted for a model.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TrustError {
    /// The model name is not 1 to 64 printable ASCII bytes.
    #[error("model name {0:?} is not 1 to 64 printable ASCII characters")]
    BadModel(String),
    /// The certificate is not a vendor CA certificate.
    #[error("certificate {subject:?} has role {role:?}; firmware is signed by a vendor CA")]
    NotVendorCa {
        /// The certificate's subject.
        subject: String,
        /// Its role.
        role: Role,
    },
    /// The certificate's key is not an RSA key (manifests are RSA-PSS signed).
    #[error("certificate {subject:?} does not carry an RSA key")]
    NotRsa {
        /// The certificate's subject.
        subject: String,
    },
}

/// Why a release was not accepted into the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PublishError {
    /// No vendor is trusted for the manifest's model.
    #[error("no vendor key is configured for model {model:?}; refusing its firmware")]
    UnknownModel {
        /// The manifest's model.
        model: String,
    },
    /// The manifest or image fails the same check a device makes.
    #[error("release {model} {version} refused: {refusal}")]
    Refused {
        /// The manifest's model ("?" if it could not be decoded).
        model: String,
        /// The manifest's version (0.0.0 if it could not be decoded).
        version: FirmwareVersion,
        /// The refusal, with its evidence.
        refusal: OtaRefusal,
    },
    /// The manifest is validly signed, but by another trusted vendor than the model's.
    #[error(
        "release {model} {version} is signed by vendor {signed_by:?}, but model {model} \
         is trusted to vendor {expected:?}"
    )]
    WrongVendor {
        /// The manifest's model.
        model: String,
        /// The manifest's version.
        version: FirmwareVersion,
        /// The vendor trusted for the model.
        expected: String,
        /// The vendor whose key did sign it.
        signed_by: String,
    },
    /// The version is not above the newest already published for the model.
    #[error(
        "release {model} {version} does not increase the model's version: {latest} is \
         already published"
    )]
    NotIncreasing {
        /// The manifest's model.
        model: String,
        /// The manifest's version.
        version: FirmwareVersion,
        /// The newest published version.
        latest: FirmwareVersion,
    },
    /// The image (or the size the manifest declares) is above the configured limit.
    #[error("image of {size} bytes is larger than the limit of {max} bytes")]
    ImageTooLarge {
        /// The size.
        size: u64,
        /// The limit.
        max: u64,
    },
}

impl PublishError {
    /// The device-side refusal behind this error, if it is one.
    pub fn refusal(&self) -> Option<&OtaRefusal> {
        match self {
            PublishError::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}

/// Why a chunk of an image cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// No such release in the catalog.
    #[error("no release {version} of model {model:?} in the catalog")]
    UnknownRelease {
        /// The model asked for.
        model: String,
        /// The version asked for.
        version: FirmwareVersion,
    },
    /// The offset is past the end of the image.
    #[error("offset {offset} is past the end of the {size}-byte image")]
    OffsetBeyondEnd {
        /// The offset asked for.
        offset: u64,
        /// The image's size.
        size: u64,
    },
}

/// A vendor trusted to sign one model's firmware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VendorTrust {
    pub(crate) certificate: Certificate,
}

/// A firmware release that passed every publication check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    manifest: SignedManifest,
    image: Vec<u8>,
    published_at: Timestamp,
}

impl Release {
    /// A release whose checks the caller has run.
    pub(crate) fn new(manifest: SignedManifest, image: Vec<u8>, published_at: Timestamp) -> Self {
        Release {
            manifest,
            image,
            published_at,
        }
    }

    /// The vendor-signed manifest, as devices receive it.
    pub fn manifest(&self) -> &SignedManifest {
        &self.manifest
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.manifest.manifest().model
    }

    /// The version.
    pub fn version(&self) -> FirmwareVersion {
        self.manifest.manifest().version
    }

    /// The image bytes.
    pub fn image(&self) -> &[u8] {
        &self.image
    }

    /// When the release was accepted.
    pub fn published_at(&self) -> Timestamp {
        self.published_at
    }
}

/// Vendor trust per model and the verified releases.
///
/// [`publish`](Self::publish) costs one RSA-PSS verification (more only when the
/// signature fails, to name the vendor that did sign it) and one SHA-256 pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OtaCatalog {
    max_image_bytes: u64,
    pub(crate) trust: BTreeMap<String, VendorTrust>,
    pub(crate) releases: BTreeMap<(String, FirmwareVersion), Release>,
}

/// Whether `model` is 1 to 64 printable ASCII bytes, as in a manifest.
pub(crate) fn valid_model(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= MAX_MODEL_LEN
        && model.bytes().all(|b| (0x20..=0x7E).contains(&b))
}

impl OtaCatalog {
    /// An empty catalog accepting images up to `max_image_bytes`.
    pub fn new(max_image_bytes: u64) -> Self {
        OtaCatalog {
            max_image_bytes,
            ..OtaCatalog::default()
        }
    }

    /// Trusts the vendor CA `certificate` to sign `model`'s firmware (replacing any
    /// earlier vendor). Checking the certificate's chain is the caller's job.
    pub fn trust_vendor(
        &mut self,
        model: &str,
        certificate: Certificate,
    ) -> Result<(), TrustError> {
        if !valid_model(model) {
            return Err(TrustError::BadModel(model.to_owned()));
        }
        if certificate.role != Role::VendorCa {
            return Err(TrustError::NotVendorCa {
                subject: certificate.subject.clone(),
                role: certificate.role,
            });
        }
        if !matches!(certificate.key, PublicKey::Rsa(_)) {
            return Err(TrustError::NotRsa {
                subject: certificate.subject.clone(),
            });
        }
        self.trust
            .insert(model.to_owned(), VendorTrust { certificate });
        Ok(())
    }

    /// The vendor certificate trusted for `model`.
    pub fn vendor_for(&self, model: &str) -> Option<&Certificate> {
        self.trust.get(model).map(|t| &t.certificate)
    }

    /// Verifies a signed manifest and its image, then adds them to the catalog.
    ///
    /// Checks, in order: a vendor is trusted for the model; the manifest is signed, and by
    /// that vendor; its floor is not above its version; the image is within the size
    /// limit, has the declared size and SHA-256; the version is above every version
    /// already published for the model.
    pub fn publish(
        &mut self,
        signed: SignedManifest,
        image: Vec<u8>,
        now: Timestamp,
    ) -> Result<&Release, PublishError> {
        self.check(&signed, &image)?;
        let m = signed.manifest();
        if let Some(latest) = self.latest_version(&m.model) {
            if m.version <= latest {
                return Err(PublishError::NotIncreasing {
                    model: m.model.clone(),
                    version: m.version,
                    latest,
                });
            }
        }
        let key = (m.model.clone(), m.version);
        let release = Release {
            manifest: signed,
            image,
            published_at: now,
        };
        Ok(self.releases.entry(key).or_insert(release))
    }

    /// Decodes a signed manifest (as a firmware server would send it), then [`publish`](Self::publish)es it.
    pub fn publish_encoded(
        &mut self,
        manifest_bytes: &[u8],
        image: Vec<u8>,
        now: Timestamp,
    ) -> Result<&Release, PublishError> {
        let signed = SignedManifest::decode(manifest_bytes).map_err(|e| PublishError::Refused {
            model: "?".into(),
            version: FirmwareVersion::default(),
            refusal: OtaRefusal::Malformed(e),
        })?;
        self.publish(signed, image, now)
    }

    /// Every publication check except the version order (also run when loading records).
    pub(crate) fn check(&self, signed: &SignedManifest, image: &[u8]) -> Result<(), PublishError> {
        let m = signed.manifest();
        let refused = |refusal| PublishError::Refused {
            model: m.model.clone(),
            version: m.version,
            refusal,
        };
        let trust = self
            .trust
            .get(&m.model)
            .ok_or_else(|| PublishError::UnknownModel {
                model: m.model.clone(),
            })?;
        if signed.signature().is_empty() {
            return Err(refused(OtaRefusal::Unsigned));
        }
        let msg = m
            .signing_input()
            .map_err(|_| refused(OtaRefusal::BadSignature))?;
        let verifies = |t: &VendorTrust| match &t.certificate.key {
            PublicKey::Rsa(k) => verify_pss(k, &msg, signed.signature()),
            _ => false,
        };
        if !verifies(trust) {
            // Name the culprit if another trusted vendor's key signed it: a mixed-up
            // signing pipeline, or one vendor trying to ship another's model.
            let expected = &trust.certificate;
            let other = self
                .trust
                .values()
                .filter(|t| t.certificate.key != expected.key)
                .find(|t| verifies(t));
            return Err(match other {
                Some(t) => PublishError::WrongVendor {
                    model: m.model.clone(),
                    version: m.version,
                    expected: expected.subject.clone(),
                    signed_by: t.certificate.subject.clone(),
                },
                None => refused(OtaRefusal::BadSignature),
            });
        }
        if m.min_version > m.version {
            return Err(refused(OtaRefusal::InconsistentVersions {
                version: m.version,
                min_version: m.min_version,
            }));
        }
        let size = image.len() as u64;
        if size.max(m.image_size) > self.max_image_bytes {
            return Err(PublishError::ImageTooLarge {
                size: size.max(m.image_size),
                max: self.max_image_bytes,
            });
        }
        if size != m.image_size {
            return Err(refused(OtaRefusal::SizeMismatch {
                expected: m.image_size,
                got: size,
            }));
        }
        let got: [u8; 32] = Sha256::digest(image).into();
        if !bool::from(got.ct_eq(&m.image_sha256)) {
            return Err(refused(OtaRefusal::HashMismatch {
                expected: m.image_sha256,
                got,
            }));
        }
        Ok(())
    }

    /// The release `version` of `model`.
    pub fn release(&self, model: &str, version: FirmwareVersion) -> Option<&Release> {
        self.releases.get(&(model.to_owned(), version))
    }

    /// The releases of `model`, oldest first.
    pub fn releases(&self, model: &str) -> impl Iterator<Item = &Release> + '_ {
        let model = model.to_owned();
        self.releases
            .iter()
            .filter(move |((m, _), _)| *m == model)
            .map(|(_, r)| r)
    }

    /// The newest version published for `model`.
    pub fn latest_version(&self, model: &str) -> Option<FirmwareVersion> {
        self.releases(model).last().map(Release::version)
    }

    /// Up to `len` bytes of the image of `model` `version` from `offset` (fewer at the end;
    /// empty exactly at the end).
    pub fn image_chunk(
        &self,
        model: &str,
        version: FirmwareVersion,
        offset: u64,
        len: u32,
    ) -> Result<&[u8], ChunkError> {
        let release = self
            .release(model, version)
            .ok_or_else(|| ChunkError::UnknownRelease {
                model: model.to_owned(),
                version,
            })?;
        let size = release.image.len() as u64;
        if offset > size {
            return Err(ChunkError::OffsetBeyondEnd { offset, size });
        }
        let end = offset.saturating_add(u64::from(len)).min(size);
        // Both bounds are at most the image length, which fits in usize.
        Ok(&release.image[offset as usize..end as usize])
    }
}
