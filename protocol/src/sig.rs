//! RSA-PSS with SHA-256: the one signature scheme for device identities, vendor CAs,
//! the platform root and firmware manifests.
//!
//! Signing is a private-key operation of the `rsa` crate, which is not constant-time
//! (RUSTSEC-2023-0071): call [`sign_pss`] only in devices and offline tools, never on a
//! network-facing path of the platform. Verification is safe anywhere.

use rand_core::CryptoRngCore;
use rsa::pss::{BlindedSigningKey, Signature, VerifyingKey};
use rsa::signature::{RandomizedSigner, SignatureEncoding, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

/// Signs `msg` with RSA-PSS/SHA-256; the salt and blinding come from `rng`.
pub fn sign_pss(key: &RsaPrivateKey, rng: &mut impl CryptoRngCore, msg: &[u8]) -> Vec<u8> {
    BlindedSigningKey::<Sha256>::new(key.clone())
        .sign_with_rng(rng, msg)
        .to_vec()
}

/// Whether `sig` is a valid RSA-PSS/SHA-256 signature of `msg` by `key`.
pub fn verify_pss(key: &RsaPublicKey, msg: &[u8], sig: &[u8]) -> bool {
    let Ok(sig) = Signature::try_from(sig) else {
        return false;
    };
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(msg, &sig)
        .is_ok()
}
