//! Certificates and a deterministic test PKI.
//!
//! The hierarchy is fixed and small: a self-signed platform **root** (RSA) signs
//! **vendor CAs** (RSA) and the platform's **server** certificates (Ed25519 keys, so the
//! platform never performs an RSA private-key operation on a network path); each vendor
//! CA signs its **device** certificates (RSA). Every signature is RSA-PSS/SHA-256 over a
//! domain-separated encoding, see `docs/protocol.md` (CDP-CERT-*).
//!
//! [`TestPki`] derives the whole hierarchy from one seed. RSA key generation costs about
//! 0.26 s per 2048-bit key, so device identities share a small pool of keys while every
//! device still gets its own certificate (serial and subject); [`KeyCache`] lets a caller
//! keep generated keys on disk between runs.
//!
//! ```
//! use camproof_protocol::pki::{PkiOptions, TestPki, TrustStore};
//! use camproof_protocol::Timestamp;
//!
//! let pki = TestPki::generate(7, &PkiOptions::fast_for_tests());
//! let camera = pki.device(42);
//! let mut trust = TrustStore::new(pki.root_certificate().clone());
//! let now = Timestamp::from_secs(1_800_000_000);
//! let who = trust.verify_device_chain(camera.chain(), now).unwrap();
//! assert_eq!(who.subject, camera.chain()[0].subject);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use rand_chacha::ChaCha8Rng;
use rand_core::{CryptoRngCore, SeedableRng};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::sig::{sign_pss, verify_pss};
use crate::wire::{DecodeError, Reader, Writer};
use crate::Timestamp;

/// Domain separation prefix of every certificate signature.
const CERT_SIGNATURE_CONTEXT: &[u8] = b"camproof certificate v1\0";
/// Format version byte of an encoded certificate.
const CERT_VERSION: u8 = 1;
/// Longest subject or issuer name, in bytes.
pub const MAX_NAME_LEN: usize = 128;
/// Longest encoded public key, in bytes (an RSA-4096 PKCS#1 key is 526 bytes).
pub const MAX_KEY_LEN: usize = 1024;
/// Longest signature, in bytes (RSA-4096 signs 512 bytes).
pub const MAX_SIGNATURE_LEN: usize = 512;
/// Smallest RSA modulus accepted in a certificate, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// What a certificate is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// The self-signed platform root: signs vendor CAs and server certificates.
    Root,
    /// A camera vendor's CA: signs that vendor's device certificates.
    VendorCa,
    /// One camera's identity.
    Device,
    /// A platform endpoint (gateway) identity.
    PlatformServer,
}

impl Role {
    fn to_byte(self) -> u8 {
        match self {
            Role::Root => 1,
            Role::VendorCa => 2,
            Role::Device => 3,
            Role::PlatformServer => 4,
        }
    }

    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            1 => Role::Root,
            2 => Role::VendorCa,
            3 => Role::Device,
            4 => Role::PlatformServer,
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "certificate role",
                    reason: format!("unknown role {other}"),
                })
            }
        })
    }
}

/// A public key carried in a certificate.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// An RSA key (roots, vendor CAs, devices); signatures are RSA-PSS/SHA-256.
    Rsa(RsaPublicKey),
    /// An Ed25519 key (platform servers).
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublicKey::Rsa(k) => write!(f, "Rsa({} bits)", k.size() * 8),
            PublicKey::Ed25519(k) => write!(f, "Ed25519({})", hex::encode(&k.to_bytes()[..8])),
        }
    }
}

/// A certificate: a public key bound to a name and role by an issuer's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Unique serial number within the issuing PKI; revocation lists name serials.
    pub serial: u64,
    /// What this certificate may do.
    pub role: Role,
    /// The name of the holder (a device serial number, a vendor, a gateway).
    pub subject: String,
    /// The subject of the issuing certificate.
    pub issuer: String,
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// The holder's public key.
    pub key: PublicKey,
    /// The issuer's RSA-PSS/SHA-256 signature over the to-be-signed encoding.
    pub signature: Vec<u8>,
}

/// Why a certificate or chain was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CertError {
    /// The encoding is malformed.
    #[error("malformed certificate: {0}")]
    Malformed(#[from] DecodeError),
    /// The chain has the wrong number of certificates.
    #[error("certificate chain has {got} certificates, expected {expected}")]
    ChainLength {
        /// Certificates expected.
        expected: usize,
        /// Certificates present.
        got: usize,
    },
    /// A certificate has a role its position does not allow.
    #[error("certificate '{subject}' has role {got:?}, expected {expected:?}")]
    WrongRole {
        /// The certificate's subject.
        subject: String,
        /// Role required at this position.
        expected: Role,
        /// Role found.
        got: Role,
    },
    /// A certificate names an issuer other than the certificate above it.
    #[error("certificate '{subject}' is issued by '{issuer}', expected '{expected}'")]
    WrongIssuer {
        /// The certificate's subject.
        subject: String,
        /// The issuer it names.
        issuer: String,
        /// The issuer it should name.
        expected: String,
    },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("signature on certificate '{subject}' does not verify")]
    BadSignature {
        /// The certificate's subject.
        subject: String,
    },
    /// The current time is past the certificate's validity.
    #[error("certificate '{subject}' expired at {not_after} (now {now})")]
    Expired {
        /// The certificate's subject.
        subject: String,
        /// End of validity.
        not_after: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// The current time is before the certificate's validity.
    #[error("certificate '{subject}' is not valid before {not_before} (now {now})")]
    NotYetValid {
        /// The certificate's subject.
        subject: String,
        /// Start of validity.
        not_before: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// The certificate's serial is on the revocation list.
    #[error("certificate '{subject}' (serial {serial}) is revoked")]
    Revoked {
        /// The certificate's subject.
        subject: String,
        /// The revoked serial.
        serial: u64,
    },
    /// The key type does not fit the role (a device with an Ed25519 key, a short RSA key).
    #[error("certificate '{subject}' carries an unacceptable key: {reason}")]
    BadKey {
        /// The certificate's subject.
        subject: String,
        /// What is wrong with the key.
        reason: &'static str,
    },
}

impl Certificate {
    /// The to-be-signed encoding: every field but the signature.
    pub fn tbs_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + MAX_NAME_LEN);
        out.push(CERT_VERSION);
        out.push(self.role.to_byte());
        out.put_u64(self.serial);
        out.put_vec16(&self.subject.as_bytes()[..self.subject.len().min(MAX_NAME_LEN)]);
        out.put_vec16(&self.issuer.as_bytes()[..self.issuer.len().min(MAX_NAME_LEN)]);
        out.put_u64(self.not_before.as_micros());
        out.put_u64(self.not_after.as_micros());
        match &self.key {
            PublicKey::Rsa(k) => {
                out.push(1);
                // PKCS#1 DER of a public key cannot fail to encode for a valid key.
                let der = k.to_pkcs1_der().map(|d| d.into_vec()).unwrap_or_default();
                out.put_vec16(&der);
            }
            PublicKey::Ed25519(k) => {
                out.push(2);
                out.put_vec16(k.as_bytes());
            }
        }
        out
    }

    /// The full encoding: to-be-signed bytes followed by the signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.tbs_bytes();
        out.put_vec16(&self.signature);
        out
    }

    /// Decodes one certificate, refusing trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CertError> {
        let mut r = Reader::new(bytes);
        let cert = Self::read(&mut r)?;
        r.finish("certificate")?;
        Ok(cert)
    }

    /// Reads one certificate from `r`.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, CertError> {
        let version = r.u8("certificate version")?;
        if version != CERT_VERSION {
            return Err(DecodeError::InvalidValue {
                field: "certificate version",
                reason: format!("version {version}, only {CERT_VERSION} is defined"),
            }
            .into());
        }
        let role = Role::from_byte(r.u8("certificate role")?)?;
        let serial = r.u64("certificate serial")?;
        let subject = r.str16("certificate subject", MAX_NAME_LEN)?.to_owned();
        let issuer = r.str16("certificate issuer", MAX_NAME_LEN)?.to_owned();
        let not_before = Timestamp::from_micros(r.u64("certificate not_before")?);
        let not_after = Timestamp::from_micros(r.u64("certificate not_after")?);
        let key_type = r.u8("certificate key type")?;
        let key_bytes = r.vec16("certificate key", MAX_KEY_LEN)?;
        let key = match key_type {
            1 => PublicKey::Rsa(RsaPublicKey::from_pkcs1_der(key_bytes).map_err(|e| {
                DecodeError::InvalidValue {
                    field: "certificate RSA key",
                    reason: e.to_string(),
                }
            })?),
            2 => {
                let raw: [u8; 32] =
                    key_bytes
                        .try_into()
                        .map_err(|_| DecodeError::InvalidValue {
                            field: "certificate Ed25519 key",
                            reason: format!("{} bytes, expected 32", key_bytes.len()),
                        })?;
                PublicKey::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&raw).map_err(|e| {
                    DecodeError::InvalidValue {
                        field: "certificate Ed25519 key",
                        reason: e.to_string(),
                    }
                })?)
            }
            other => {
                return Err(DecodeError::InvalidValue {
                    field: "certificate key type",
                    reason: format!("unknown key type {other}"),
                }
                .into())
            }
        };
        let signature = r
            .vec16("certificate signature", MAX_SIGNATURE_LEN)?
            .to_vec();
        Ok(Certificate {
            serial,
            role,
            subject,
            issuer,
            not_before,
            not_after,
            key,
            signature,
        })
    }

    /// SHA-256 of the full encoding; names a certificate in caches and reports.
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.to_bytes()).into()
    }

    /// Signs the certificate in place with the issuer's RSA key.
    pub fn sign(&mut self, issuer_key: &RsaPrivateKey, rng: &mut impl CryptoRngCore) {
        self.signature = sign_pss(issuer_key, rng, &self.signed_message());
    }

    fn signed_message(&self) -> Vec<u8> {
        let mut msg = CERT_SIGNATURE_CONTEXT.to_vec();
        msg.extend_from_slice(&self.tbs_bytes());
        msg
    }

    /// Checks the signature against the issuer's public key.
    pub fn verify_signature(&self, issuer_key: &PublicKey) -> Result<(), CertError> {
        let ok = match issuer_key {
            PublicKey::Rsa(k) => verify_pss(k, &self.signed_message(), &self.signature),
            // Only RSA keys issue certificates in this PKI.
            PublicKey::Ed25519(_) => false,
        };
        if ok {
            Ok(())
        } else {
            Err(CertError::BadSignature {
                subject: self.subject.clone(),
            })
        }
    }

    /// Checks that `now` lies inside the validity period.
    pub fn check_validity(&self, now: Timestamp) -> Result<(), CertError> {
        if now < self.not_before {
            return Err(CertError::NotYetValid {
                subject: self.subject.clone(),
                not_before: self.not_before,
                now,
            });
        }
        if now > self.not_after {
            return Err(CertError::Expired {
                subject: self.subject.clone(),
                not_after: self.not_after,
                now,
            });
        }
        Ok(())
    }

    fn expect_role(&self, expected: Role) -> Result<(), CertError> {
        if self.role == expected {
            Ok(())
        } else {
            Err(CertError::WrongRole {
                subject: self.subject.clone(),
                expected,
                got: self.role,
            })
        }
    }

    fn expect_issuer(&self, issuer: &Certificate) -> Result<(), CertError> {
        if self.issuer == issuer.subject {
            Ok(())
        } else {
            Err(CertError::WrongIssuer {
                subject: self.subject.clone(),
                issuer: self.issuer.clone(),
                expected: issuer.subject.clone(),
            })
        }
    }

    fn rsa_key(&self) -> Result<&RsaPublicKey, CertError> {
        match &self.key {
            PublicKey::Rsa(k) if k.size() * 8 >= MIN_RSA_BITS => Ok(k),
            PublicKey::Rsa(_) => Err(CertError::BadKey {
                subject: self.subject.clone(),
                reason: "RSA modulus shorter than 2048 bits",
            }),
            PublicKey::Ed25519(_) => Err(CertError::BadKey {
                subject: self.subject.clone(),
                reason: "an RSA key is required for this role",
            }),
        }
    }
}

/// A verified peer: what a chain proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The leaf certificate's subject.
    pub subject: String,
    /// The leaf certificate's serial.
    pub serial: u64,
    /// The issuing vendor CA's subject (devices), or the root's (servers).
    pub issuer: String,
}

/// The trust anchors and policy one side uses to verify the other's chain.
///
/// Holds a cache of vendor CA certificates already verified, so that verifying the
/// thousandth camera of a vendor costs one RSA verification (its own), not two.
#[derive(Debug, Clone)]
pub struct TrustStore {
    root: Certificate,
    revoked: BTreeSet<u64>,
    verified_cas: BTreeMap<[u8; 32], Timestamp>,
}

impl TrustStore {
    /// A store that trusts `root` and revokes nothing.
    pub fn new(root: Certificate) -> Self {
        TrustStore {
            root,
            revoked: BTreeSet::new(),
            verified_cas: BTreeMap::new(),
        }
    }

    /// The trusted root certificate.
    pub fn root(&self) -> &Certificate {
        &self.root
    }

    /// Adds a serial to the revocation list.
    pub fn revoke(&mut self, serial: u64) {
        self.revoked.insert(serial);
        // A revoked CA must not stay trusted through the cache.
        self.verified_cas.clear();
    }

    fn check_not_revoked(&self, cert: &Certificate) -> Result<(), CertError> {
        if self.revoked.contains(&cert.serial) {
            Err(CertError::Revoked {
                subject: cert.subject.clone(),
                serial: cert.serial,
            })
        } else {
            Ok(())
        }
    }

    /// Verifies a device chain `[device, vendor CA]` up to the root at time `now`.
    pub fn verify_device_chain(
        &mut self,
        chain: &[Certificate],
        now: Timestamp,
    ) -> Result<PeerIdentity, CertError> {
        let [device, vendor] = chain else {
            return Err(CertError::ChainLength {
                expected: 2,
                got: chain.len(),
            });
        };
        self.verify_vendor_ca(vendor, now)?;
        device.expect_role(Role::Device)?;
        device.expect_issuer(vendor)?;
        device.check_validity(now)?;
        self.check_not_revoked(device)?;
        device.rsa_key()?;
        device.verify_signature(&vendor.key)?;
        Ok(PeerIdentity {
            subject: device.subject.clone(),
            serial: device.serial,
            issuer: vendor.subject.clone(),
        })
    }

    fn verify_vendor_ca(&mut self, vendor: &Certificate, now: Timestamp) -> Result<(), CertError> {
        vendor.expect_role(Role::VendorCa)?;
        vendor.expect_issuer(&self.root)?;
        vendor.check_validity(now)?;
        self.check_not_revoked(vendor)?;
        vendor.rsa_key()?;
        let fingerprint = vendor.fingerprint();
        if !self.verified_cas.contains_key(&fingerprint) {
            vendor.verify_signature(&self.root.key)?;
            self.verified_cas.insert(fingerprint, now);
        }
        Ok(())
    }

    /// Verifies a platform server certificate issued by the root at time `now`.
    pub fn verify_server(
        &self,
        cert: &Certificate,
        now: Timestamp,
    ) -> Result<PeerIdentity, CertError> {
        cert.expect_role(Role::PlatformServer)?;
        cert.expect_issuer(&self.root)?;
        cert.check_validity(now)?;
        self.check_not_revoked(cert)?;
        if !matches!(cert.key, PublicKey::Ed25519(_)) {
            return Err(CertError::BadKey {
                subject: cert.subject.clone(),
                reason: "a platform server must hold an Ed25519 key",
            });
        }
        cert.verify_signature(&self.root.key)?;
        Ok(PeerIdentity {
            subject: cert.subject.clone(),
            serial: cert.serial,
            issuer: self.root.subject.clone(),
        })
    }
}

/// A camera's credentials: its RSA key and its chain `[device, vendor CA]`.
#[derive(Clone)]
pub struct DeviceCredentials {
    key: RsaPrivateKey,
    chain: Vec<Certificate>,
}

impl fmt::Debug for DeviceCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.debug_struct("DeviceCredentials")
            .field("subject", &self.chain.first().map(|c| &c.subject))
            .finish_non_exhaustive()
    }
}

impl DeviceCredentials {
    /// Credentials from a key and its chain `[device, vendor CA]`.
    pub fn new(key: RsaPrivateKey, chain: Vec<Certificate>) -> Self {
        DeviceCredentials { key, chain }
    }

    /// The private key (zeroized by `rsa` when dropped).
    pub fn key(&self) -> &RsaPrivateKey {
        &self.key
    }

    /// The chain `[device, vendor CA]`.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
}

/// A platform endpoint's credentials: an Ed25519 key and its root-issued certificate.
#[derive(Clone)]
pub struct ServerCredentials {
    key: ed25519_dalek::SigningKey,
    certificate: Certificate,
}

impl fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCredentials")
            .field("subject", &self.certificate.subject)
            .finish_non_exhaustive()
    }
}

impl ServerCredentials {
    /// Credentials from a signing key and its certificate.
    pub fn new(key: ed25519_dalek::SigningKey, certificate: Certificate) -> Self {
        ServerCredentials { key, certificate }
    }

    /// The signing key (zeroized by `ed25519-dalek` when dropped).
    pub fn key(&self) -> &ed25519_dalek::SigningKey {
        &self.key
    }

    /// The server certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }
}

/// Where generated RSA keys may be kept between runs (PKCS#8 DER, keyed by a name that
/// encodes seed, purpose and size).
pub trait KeyCache {
    /// The cached key named `name`, if any.
    fn get(&mut self, name: &str) -> Option<Vec<u8>>;
    /// Stores a key under `name`; failures are the cache's own business.
    fn put(&mut self, name: &str, pkcs8_der: &[u8]);
}

/// A cache that keeps nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCache;

impl KeyCache for NoCache {
    fn get(&mut self, _name: &str) -> Option<Vec<u8>> {
        None
    }
    fn put(&mut self, _name: &str, _pkcs8_der: &[u8]) {}
}

/// Shape of a generated test PKI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiOptions {
    /// RSA modulus size for every RSA key.
    pub rsa_bits: usize,
    /// Number of vendor CAs.
    pub vendors: usize,
    /// Number of distinct RSA keys shared among device identities.
    pub device_key_pool: usize,
    /// Validity start of every certificate.
    pub not_before: Timestamp,
    /// Validity end of every certificate.
    pub not_after: Timestamp,
}

impl PkiOptions {
    /// A small PKI for unit tests: 2048-bit keys, two vendors, two device keys.
    pub fn fast_for_tests() -> Self {
        PkiOptions {
            rsa_bits: 2048,
            vendors: 2,
            device_key_pool: 2,
            ..PkiOptions::default()
        }
    }
}

impl Default for PkiOptions {
    fn default() -> Self {
        PkiOptions {
            rsa_bits: 2048,
            vendors: 3,
            device_key_pool: 8,
            // 2020-01-01 to 2100-01-01: simulations pick their epoch inside this.
            not_before: Timestamp::from_secs(1_577_836_800),
            not_after: Timestamp::from_secs(4_102_444_800),
        }
    }
}

/// Why a test PKI could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PkiError {
    /// The requested shape is impossible.
    #[error("invalid PKI options: {0}")]
    InvalidOptions(&'static str),
    /// The RSA implementation refused to generate a key.
    #[error("RSA key generation failed: {0}")]
    KeyGeneration(String),
}

struct Vendor {
    key: RsaPrivateKey,
    cert: Certificate,
}

/// A whole PKI derived from one seed: root, vendor CAs, a server identity per name, and
/// device identities on demand.
///
/// Everything is a pure function of `(seed, options)`: the same seed gives byte-identical
/// keys and certificates on every machine (`ChaCha8Rng`, stable across versions).
pub struct TestPki {
    seed: u64,
    options: PkiOptions,
    root_key: RsaPrivateKey,
    root: Certificate,
    vendors: Vec<Vendor>,
    device_keys: Vec<RsaPrivateKey>,
}

impl fmt::Debug for TestPki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestPki")
            .field("seed", &self.seed)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Serial ranges keep the roles apart so a serial alone names a certificate.
const SERIAL_VENDOR_BASE: u64 = 1_000;
const SERIAL_SERVER_BASE: u64 = 1_000_000;
const SERIAL_DEVICE_BASE: u64 = 1 << 32;

impl TestPki {
    /// Generates the PKI, panicking only if `options` are impossible (tests and demos).
    ///
    /// Use [`TestPki::try_generate`] for options that come from outside.
    pub fn generate(seed: u64, options: &PkiOptions) -> Self {
        match Self::try_generate(seed, options, &mut NoCache) {
            Ok(pki) => pki,
            Err(e) => panic!("test PKI generation failed: {e}"),
        }
    }

    /// Generates the PKI, reusing RSA keys from `cache` where present.
    pub fn try_generate(
        seed: u64,
        options: &PkiOptions,
        cache: &mut dyn KeyCache,
    ) -> Result<Self, PkiError> {
        if options.vendors == 0 {
            return Err(PkiError::InvalidOptions("at least one vendor CA is needed"));
        }
        if options.device_key_pool == 0 {
            return Err(PkiError::InvalidOptions(
                "the device key pool cannot be empty",
            ));
        }
        if options.rsa_bits < MIN_RSA_BITS || options.rsa_bits > 4096 {
            return Err(PkiError::InvalidOptions(
                "RSA keys must be 2048 to 4096 bits",
            ));
        }
        if options.not_after <= options.not_before {
            return Err(PkiError::InvalidOptions(
                "not_after must be after not_before",
            ));
        }
        let bits = options.rsa_bits;
        let root_key = derive_rsa_key(seed, "root", 0, bits, cache)?;
        let mut rng = purpose_rng(seed, "root-signing", 0);
        let mut root = Certificate {
            serial: 1,
            role: Role::Root,
            subject: "camproof root".into(),
            issuer: "camproof root".into(),
            not_before: options.not_before,
            not_after: options.not_after,
            key: PublicKey::Rsa(root_key.to_public_key()),
            signature: Vec::new(),
        };
        root.sign(&root_key, &mut rng);
        let mut vendors = Vec::with_capacity(options.vendors);
        for v in 0..options.vendors {
            let key = derive_rsa_key(seed, "vendor", v as u64, bits, cache)?;
            let mut cert = Certificate {
                serial: SERIAL_VENDOR_BASE + v as u64,
                role: Role::VendorCa,
                subject: format!("vendor-{v}"),
                issuer: root.subject.clone(),
                not_before: options.not_before,
                not_after: options.not_after,
                key: PublicKey::Rsa(key.to_public_key()),
                signature: Vec::new(),
            };
            cert.sign(&root_key, &mut rng);
            vendors.push(Vendor { key, cert });
        }
        let device_keys = (0..options.device_key_pool)
            .map(|i| derive_rsa_key(seed, "device", i as u64, bits, cache))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TestPki {
            seed,
            options: options.clone(),
            root_key,
            root,
            vendors,
            device_keys,
        })
    }

    /// The seed this PKI was derived from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The self-signed root certificate every verifier trusts.
    pub fn root_certificate(&self) -> &Certificate {
        &self.root
    }

    /// A trust store anchored at this PKI's root.
    pub fn trust_store(&self) -> TrustStore {
        TrustStore::new(self.root.clone())
    }

    /// Number of vendor CAs.
    pub fn vendor_count(&self) -> usize {
        self.vendors.len()
    }

    /// The vendor CA certificate `index`, if it exists.
    pub fn vendor_certificate(&self, index: usize) -> Option<&Certificate> {
        self.vendors.get(index).map(|v| &v.cert)
    }

    /// The vendor CA private key `index` (for signing firmware), if it exists.
    pub fn vendor_key(&self, index: usize) -> Option<&RsaPrivateKey> {
        self.vendors.get(index).map(|v| &v.key)
    }

    /// A platform server identity named `name`, number `index`, valid as configured.
    ///
    /// Ed25519 keys are cheap, so every server gets its own key, derived from the seed.
    pub fn server(&self, name: &str, index: u64) -> ServerCredentials {
        self.server_with_validity(name, index, self.options.not_before, self.options.not_after)
    }

    /// A platform server identity with an explicit validity period (for expiry tests).
    pub fn server_with_validity(
        &self,
        name: &str,
        index: u64,
        not_before: Timestamp,
        not_after: Timestamp,
    ) -> ServerCredentials {
        let mut rng = purpose_rng(self.seed, "server", index);
        let key = ed25519_dalek::SigningKey::generate(&mut rng);
        let mut cert = Certificate {
            serial: SERIAL_SERVER_BASE + index,
            role: Role::PlatformServer,
            subject: name.chars().take(MAX_NAME_LEN).collect(),
            issuer: self.root.subject.clone(),
            not_before,
            not_after,
            key: PublicKey::Ed25519(key.verifying_key()),
            signature: Vec::new(),
        };
        cert.sign(&self.root_key, &mut rng);
        ServerCredentials::new(key, cert)
    }

    /// Device identity `index`: a unique certificate (serial, subject `CAM-<index>`) from
    /// vendor `index % vendors`, over a key from the shared pool.
    pub fn device(&self, index: u64) -> DeviceCredentials {
        let vendor = (index % self.vendors.len() as u64) as usize;
        self.device_from_vendor(index, vendor)
    }

    /// Device identity `index` as [`TestPki::device`] gives it, with the certificate kept
    /// in `cache`: issuing costs an RSA signature (about 1.5 ms), loading only a
    /// verification (about 0.2 ms). A cached certificate that is damaged, or is not
    /// exactly the one this PKI would issue, is issued afresh.
    pub fn device_cached(&self, index: u64, cache: &mut dyn KeyCache) -> DeviceCredentials {
        let vendor_index = (index % self.vendors.len() as u64) as usize;
        let vendor = &self.vendors[vendor_index];
        let key = &self.device_keys[(index % self.device_keys.len() as u64) as usize];
        let name = format!(
            "cert-rsa{}-seed{}-device-{index}",
            self.options.rsa_bits, self.seed
        );
        if let Some(bytes) = cache.get(&name) {
            if let Ok(cert) = Certificate::from_bytes(&bytes) {
                let expected = PublicKey::Rsa(key.to_public_key());
                let fits = cert.serial == SERIAL_DEVICE_BASE + index
                    && cert.role == Role::Device
                    && cert.subject == format!("CAM-{index:08}")
                    && cert.issuer == vendor.cert.subject
                    && cert.not_before == self.options.not_before
                    && cert.not_after == self.options.not_after
                    && cert.key == expected
                    && cert.verify_signature(&vendor.cert.key).is_ok();
                if fits {
                    return DeviceCredentials::new(key.clone(), vec![cert, vendor.cert.clone()]);
                }
            }
        }
        let creds = self.device_from_vendor(index, vendor_index);
        cache.put(&name, &creds.chain()[0].to_bytes());
        creds
    }

    /// Device identity `index` issued by a chosen vendor (`vendor` is taken modulo the
    /// number of vendors).
    pub fn device_from_vendor(&self, index: u64, vendor: usize) -> DeviceCredentials {
        let vendor = &self.vendors[vendor % self.vendors.len()];
        let key = self.device_keys[(index % self.device_keys.len() as u64) as usize].clone();
        let mut rng = purpose_rng(self.seed, "device-cert", index);
        let mut cert = Certificate {
            serial: SERIAL_DEVICE_BASE + index,
            role: Role::Device,
            subject: format!("CAM-{index:08}"),
            issuer: vendor.cert.subject.clone(),
            not_before: self.options.not_before,
            not_after: self.options.not_after,
            key: PublicKey::Rsa(key.to_public_key()),
            signature: Vec::new(),
        };
        cert.sign(&vendor.key, &mut rng);
        DeviceCredentials::new(key, vec![cert, vendor.cert.clone()])
    }
}

/// A ChaCha8 stream for one purpose of one seed: independent of the order of use.
fn purpose_rng(seed: u64, purpose: &str, index: u64) -> ChaCha8Rng {
    let mut h = Sha256::new();
    h.update(b"camproof pki\0");
    h.update(seed.to_be_bytes());
    h.update(purpose.as_bytes());
    h.update([0]);
    h.update(index.to_be_bytes());
    ChaCha8Rng::from_seed(h.finalize().into())
}

/// Derives (or loads from `cache`) the RSA key for `(seed, purpose, index, bits)`.
fn derive_rsa_key(
    seed: u64,
    purpose: &str,
    index: u64,
    bits: usize,
    cache: &mut dyn KeyCache,
) -> Result<RsaPrivateKey, PkiError> {
    let name = format!("rsa{bits}-seed{seed}-{purpose}-{index}");
    if let Some(der) = cache.get(&name) {
        // A damaged cache entry is regenerated, never trusted.
        if let Ok(key) = RsaPrivateKey::from_pkcs8_der(&der) {
            if key.size() * 8 == bits {
                return Ok(key);
            }
        }
    }
    let mut rng = purpose_rng(seed, purpose, index);
    let key =
        RsaPrivateKey::new(&mut rng, bits).map_err(|e| PkiError::KeyGeneration(e.to_string()))?;
    if let Ok(der) = key.to_pkcs8_der() {
        cache.put(&name, der.as_bytes());
    }
    Ok(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// One PKI per test binary: RSA generation is the slow part of the suite.
    pub(crate) fn pki() -> &'static TestPki {
        static PKI: OnceLock<TestPki> = OnceLock::new();
        PKI.get_or_init(|| TestPki::generate(7, &PkiOptions::fast_for_tests()))
    }

    pub(crate) fn now() -> Timestamp {
        Timestamp::from_secs(1_800_000_000)
    }

    /// CDP-CERT-01: certificates round-trip through their encoding.
    #[test]
    fn cdp_cert_01_encoding_round_trips() {
        let dev = pki().device(3);
        for cert in dev.chain() {
            let back = Certificate::from_bytes(&cert.to_bytes()).unwrap();
            assert_eq!(&back, cert);
        }
        let server = pki().server("gw-eu-1", 0);
        let back = Certificate::from_bytes(&server.certificate().to_bytes()).unwrap();
        assert_eq!(&back, server.certificate());
    }

    /// CDP-CERT-02: a device chain verifies to the root; every link is checked.
    #[test]
    fn cdp_cert_02_device_chain_verifies() {
        let mut trust = pki().trust_store();
        let dev = pki().device(5);
        let id = trust.verify_device_chain(dev.chain(), now()).unwrap();
        assert_eq!(id.subject, "CAM-00000005");
        assert_eq!(id.issuer, "vendor-1");

        // Tampered subject: the vendor's signature no longer covers it.
        let mut chain = dev.chain().to_vec();
        chain[0].subject = "CAM-99999999".into();
        assert!(matches!(
            trust.verify_device_chain(&chain, now()),
            Err(CertError::BadSignature { .. })
        ));
        // A device certificate presented as from the other vendor.
        let other = pki().device_from_vendor(5, 0);
        let chain = vec![dev.chain()[0].clone(), other.chain()[1].clone()];
        assert!(matches!(
            trust.verify_device_chain(&chain, now()),
            Err(CertError::WrongIssuer { .. })
        ));
        // A device certificate in the CA's place.
        let chain = vec![dev.chain()[0].clone(), dev.chain()[0].clone()];
        assert!(matches!(
            trust.verify_device_chain(&chain, now()),
            Err(CertError::WrongRole { .. })
        ));
        assert!(matches!(
            trust.verify_device_chain(&dev.chain()[..1], now()),
            Err(CertError::ChainLength {
                expected: 2,
                got: 1
            })
        ));
    }

    /// CDP-CERT-03: a chain from a root other than the trusted one is refused.
    #[test]
    fn cdp_cert_03_foreign_root_refused() {
        let other = TestPki::generate(8, &PkiOptions::fast_for_tests());
        let mut trust = pki().trust_store();
        assert!(matches!(
            trust.verify_device_chain(other.device(1).chain(), now()),
            Err(CertError::BadSignature { .. })
        ));
        assert!(matches!(
            trust.verify_server(other.server("gw", 0).certificate(), now()),
            Err(CertError::BadSignature { .. })
        ));
    }

    /// CDP-CERT-04: expired, not-yet-valid and revoked certificates are refused.
    #[test]
    fn cdp_cert_04_validity_and_revocation() {
        let mut trust = pki().trust_store();
        let dev = pki().device(9);
        let late = Timestamp::from_secs(4_200_000_000);
        assert!(matches!(
            trust.verify_device_chain(dev.chain(), late),
            Err(CertError::Expired { .. })
        ));
        assert!(matches!(
            trust.verify_device_chain(dev.chain(), Timestamp::from_secs(1)),
            Err(CertError::NotYetValid { .. })
        ));
        let server = pki().server_with_validity(
            "gw",
            1,
            now(),
            now().saturating_add(std::time::Duration::from_secs(60)),
        );
        assert!(trust.verify_server(server.certificate(), now()).is_ok());
        assert!(matches!(
            trust.verify_server(server.certificate(), late),
            Err(CertError::Expired { .. })
        ));
        // Revoking the vendor CA revokes its devices, even after the CA was cached.
        assert!(trust.verify_device_chain(dev.chain(), now()).is_ok());
        trust.revoke(dev.chain()[1].serial);
        assert!(matches!(
            trust.verify_device_chain(dev.chain(), now()),
            Err(CertError::Revoked { .. })
        ));
        let mut trust = pki().trust_store();
        trust.revoke(dev.chain()[0].serial);
        assert!(matches!(
            trust.verify_device_chain(dev.chain(), now()),
            Err(CertError::Revoked { .. })
        ));
        trust.revoke(server.certificate().serial);
        assert!(matches!(
            trust.verify_server(server.certificate(), now()),
            Err(CertError::Revoked { .. })
        ));
    }

    /// CDP-CERT-05: a server certificate must carry an Ed25519 key and the server role.
    #[test]
    fn cdp_cert_05_server_key_type_and_role() {
        let trust = pki().trust_store();
        let dev = pki().device(1);
        // A vendor CA certificate presented as a server's.
        assert!(matches!(
            trust.verify_server(&dev.chain()[1], now()),
            Err(CertError::WrongRole { .. })
        ));
    }

    #[test]
    fn generation_is_deterministic_per_seed() {
        let a = TestPki::generate(7, &PkiOptions::fast_for_tests());
        assert_eq!(a.root_certificate(), pki().root_certificate());
        assert_eq!(a.device(11).chain(), pki().device(11).chain());
        assert_eq!(
            a.server("gw", 2).certificate(),
            pki().server("gw", 2).certificate()
        );
        assert_ne!(pki().device(1).chain()[0], pki().device(2).chain()[0]);
    }

    #[test]
    fn cache_is_used_and_bad_entries_regenerated() {
        #[derive(Default)]
        struct MemCache(BTreeMap<String, Vec<u8>>, usize);
        impl KeyCache for MemCache {
            fn get(&mut self, name: &str) -> Option<Vec<u8>> {
                self.1 += 1;
                self.0.get(name).cloned()
            }
            fn put(&mut self, name: &str, der: &[u8]) {
                self.0.insert(name.into(), der.to_vec());
            }
        }
        let opts = PkiOptions {
            vendors: 1,
            device_key_pool: 1,
            ..PkiOptions::fast_for_tests()
        };
        let mut cache = MemCache::default();
        let a = TestPki::try_generate(99, &opts, &mut cache).unwrap();
        assert_eq!(cache.0.len(), 3);
        // Corrupt one entry: it is regenerated to the same key.
        let first = cache.0.keys().next().unwrap().clone();
        cache.0.insert(first, vec![1, 2, 3]);
        let b = TestPki::try_generate(99, &opts, &mut cache).unwrap();
        assert_eq!(a.root_certificate().key, b.root_certificate().key);
        assert_eq!(a.device(0).chain(), b.device(0).chain());
    }

    #[test]
    fn device_certificates_are_cached_and_checked_on_load() {
        #[derive(Default)]
        struct MemCache(BTreeMap<String, Vec<u8>>);
        impl KeyCache for MemCache {
            fn get(&mut self, name: &str) -> Option<Vec<u8>> {
                self.0.get(name).cloned()
            }
            fn put(&mut self, name: &str, der: &[u8]) {
                self.0.insert(name.into(), der.to_vec());
            }
        }
        let mut cache = MemCache::default();
        let fresh = pki().device_cached(12, &mut cache);
        assert_eq!(fresh.chain(), pki().device(12).chain());
        assert_eq!(cache.0.len(), 1);
        assert_eq!(pki().device_cached(12, &mut cache).chain(), fresh.chain());
        // A cached certificate for another device, or a forged one, is not used.
        let (name, _) = cache
            .0
            .iter()
            .next()
            .map(|(k, v)| (k.clone(), v.clone()))
            .unwrap();
        cache
            .0
            .insert(name.clone(), pki().device(13).chain()[0].to_bytes());
        assert_eq!(pki().device_cached(12, &mut cache).chain(), fresh.chain());
        let mut forged = fresh.chain()[0].clone();
        forged.not_after = Timestamp::from_secs(4_200_000_000);
        cache.0.insert(name.clone(), forged.to_bytes());
        assert_eq!(pki().device_cached(12, &mut cache).chain(), fresh.chain());
        cache.0.insert(name, vec![0xFF; 10]);
        assert_eq!(pki().device_cached(12, &mut cache).chain(), fresh.chain());
    }

    #[test]
    fn impossible_options_are_refused() {
        let bad = PkiOptions {
            vendors: 0,
            ..PkiOptions::fast_for_tests()
        };
        assert!(matches!(
            TestPki::try_generate(1, &bad, &mut NoCache),
            Err(PkiError::InvalidOptions(_))
        ));
        let bad = PkiOptions {
            rsa_bits: 1024,
            ..PkiOptions::fast_for_tests()
        };
        assert!(TestPki::try_generate(1, &bad, &mut NoCache).is_err());
    }

    #[test]
    fn secrets_do_not_reach_debug_output() {
        let dev = pki().device(1);
        let text = format!("{dev:?} {:?} {:?}", pki().server("gw", 0), pki());
        assert!(text.contains("CAM-00000001"));
        assert!(!text.to_lowercase().contains("prime"));
        assert!(text.len() < 300, "debug output leaks detail: {text}");
    }

    proptest! {
        /// CDP-CERT-01: the decoder never panics and refuses what it cannot parse.
        #[test]
        fn cdp_cert_01_decoder_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Certificate::from_bytes(&bytes);
        }

        #[test]
        fn truncation_is_refused(cut in 0usize..1000) {
            let bytes = pki().device(1).chain()[0].to_bytes();
            let cut = cut % bytes.len();
            prop_assert!(Certificate::from_bytes(&bytes[..cut]).is_err());
        }
    }
}
