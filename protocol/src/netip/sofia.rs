//! The "Sofia" password hash NETIP clients send instead of the password.

use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// The 62 characters hash bytes map to: digits, upper case, lower case.
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The 8-character Sofia hash of `password`, as sent in `PassWord` with
/// `"EncryptType":"MD5"`.
///
/// Unsalted and only about 47 bits: it travels in clear and can be replayed as the
/// password, which is a weakness of the protocol, not of this code.
pub fn sofia_hash(password: &str) -> String {
    let d: [u8; 16] = Md5::digest(password.as_bytes()).into();
    d.chunks_exact(2)
        .map(|pair| {
            let sum = pair.iter().map(|&b| usize::from(b)).sum::<usize>();
            char::from(ALPHABET[sum % ALPHABET.len()])
        })
        .collect()
}

/// Whether `received` equals the stored hash `stored`, compared in constant time.
pub fn sofia_hash_matches(received: &str, stored: &str) -> bool {
    received.as_bytes().ct_eq(stored.as_bytes()).into()
}

/// Whether `received` is the Sofia hash of `password`, compared in constant time.
pub fn verify_password(received: &str, password: &str) -> bool {
    sofia_hash_matches(received, &sofia_hash(password))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// NETIP-HASH-01: the four known-answer vectors of the spec.
    #[test]
    fn sofia_known_answers() {
        assert_eq!(sofia_hash(""), "tlJwpbo6");
        assert_eq!(sofia_hash("admin"), "6QNMIQGe");
        assert_eq!(sofia_hash("123456"), "nTBCS19C");
        assert_eq!(sofia_hash("password"), "mF95aD4o");
    }

    /// NETIP-HASH-02: a received hash is checked against the stored one; any other
    /// string, including a prefix, is refused.
    #[test]
    fn verify_accepts_only_the_hash() {
        assert!(verify_password("6QNMIQGe", "admin"));
        assert!(!verify_password("6QNMIQGf", "admin"));
        assert!(!verify_password("6QNMIQG", "admin"));
        assert!(!verify_password("admin", "admin"));
        assert!(sofia_hash_matches("tlJwpbo6", "tlJwpbo6"));
    }

    proptest! {
        /// NETIP-HASH-01: every hash is 8 characters of the 62-character alphabet.
        #[test]
        fn hash_shape(p in "\\PC{0,40}") {
            let h = sofia_hash(&p);
            prop_assert_eq!(h.len(), 8);
            prop_assert!(h.bytes().all(|b| b.is_ascii_alphanumeric()));
            prop_assert!(verify_password(&h, &p));
        }
    }
}
