//! Password policy (length, leaked-password lists, zxcvbn strength) and Argon2id hashing.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;
use zxcvbn::matching::patterns::MatchPattern;

/// What a password must be to be accepted at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters (Unicode scalar values) accepted.
    pub min_chars: usize,
    /// Most bytes accepted (bounds hashing and strength-estimation work).
    pub max_bytes: usize,
    /// A password that is, or is a simple variant of, one of this many most common
    /// leaked passwords is refused as common.
    pub common_rank_limit: usize,
    /// Lowest zxcvbn score (0 to 4) accepted; 3 means "safely unguessable" (≥ 10^10
    /// guesses).
    pub min_score: u8,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_chars: 10,
            max_bytes: 1024,
            common_rank_limit: 10_000,
            min_score: 3,
        }
    }
}

/// Why a password was refused; `Display` tells the person what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WeakPassword {
    /// One of the most common leaked passwords, or a capitalised, reversed or l33t
    /// variant of one.
    #[error(
        "this password is {}one of the {limit} most common leaked passwords (rank {rank}); \
         attackers try these first: choose a passphrase of several unrelated words",
        if *.variant { "a simple variant of " } else { "" }
    )]
    Common {
        /// Rank of the password in the leaked-password frequency list (1 = most common).
        rank: usize,
        /// Whether the password is a variant (case, reversal, l33t) rather than the entry.
        variant: bool,
        /// How many of the most common passwords are refused.
        limit: usize,
    },
    /// Fewer characters than the policy's minimum.
    #[error("this password has {actual} characters; use at least {min}")]
    TooShort {
        /// The minimum.
        min: usize,
        /// The password's length in characters.
        actual: usize,
    },
    /// Longer than the policy's maximum in bytes.
    #[error("this password is longer than {max} bytes; use a shorter passphrase")]
    TooLong {
        /// The maximum in bytes.
        max: usize,
    },
    /// Estimated too easy to guess (zxcvbn score below the minimum).
    #[error(
        "this password is too easy to guess (strength {score} of 4, need {min}){}{}",
        warning.as_ref().map(|w| format!(": {w}")).unwrap_or_default(),
        if suggestions.is_empty() { String::new() } else { format!(". {}", suggestions.join(" ")) }
    )]
    TooGuessable {
        /// zxcvbn's score, 0 to 4.
        score: u8,
        /// The policy's minimum score.
        min: u8,
        /// zxcvbn's warning, if any ("This is similar to a commonly used password").
        warning: Option<String>,
        /// zxcvbn's suggestions ("Add another word or two. Uncommon words are better.").
        suggestions: Vec<String>,
    },
}

impl PasswordPolicy {
    /// Checks `password` against the policy; `user_inputs` (username, email parts) count
    /// as known words, so a password built from them scores low.
    ///
    /// Order: too long, common (so "password1" is reported as common, not merely short),
    /// too short, too guessable. Cost: one zxcvbn estimate, about a millisecond.
    pub fn check(&self, password: &str, user_inputs: &[&str]) -> Result<(), WeakPassword> {
        if password.len() > self.max_bytes {
            return Err(WeakPassword::TooLong {
                max: self.max_bytes,
            });
        }
        let entropy = zxcvbn::zxcvbn(password, user_inputs);
        if let [only] = entropy.sequence() {
            if let MatchPattern::Dictionary(d) = &only.pattern {
                // `DictionaryType` is not exported by zxcvbn; its Debug name is stable.
                let leaked = format!("{:?}", d.dictionary_name) == "Passwords";
                let whole = only.token.chars().count() == password.chars().count();
                if leaked && whole && d.rank <= self.common_rank_limit {
                    return Err(WeakPassword::Common {
                        rank: d.rank,
                        variant: d.l33t || d.reversed || only.token != d.matched_word,
                        limit: self.common_rank_limit,
                    });
                }
            }
        }
        let chars = password.chars().count();
        if chars < self.min_chars {
            return Err(WeakPassword::TooShort {
                min: self.min_chars,
                actual: chars,
            });
        }
        let score = u8::from(entropy.score());
        if score < self.min_score {
            let feedback = entropy.feedback();
            return Err(WeakPassword::TooGuessable {
                score,
                min: self.min_score,
                warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
                suggestions: feedback
                    .map(|f| f.suggestions().iter().map(|s| s.to_string()).collect())
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }
}

/// Argon2id cost parameters. Hashes record their own parameters, so changing these only
/// affects new hashes; old ones still verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Config {
    /// Memory per hash in KiB (at least 8 × `parallelism`).
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Argon2Config {
    /// OWASP's recommended Argon2id minimum: 19 MiB, 2 passes, 1 lane (tens of ms a hash).
    pub const PRODUCTION: Argon2Config = Argon2Config {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Tiny parameters for tests and large simulations (microseconds a hash; not secure).
    pub const TEST: Argon2Config = Argon2Config {
        memory_kib: 32,
        iterations: 1,
        parallelism: 1,
    };

    /// The Argon2id hasher, or an error naming the bad parameter.
    pub(crate) fn hasher(&self) -> Result<Argon2<'static>, argon2::Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// An Argon2id hash in PHC string form (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`).
///
/// Not a secret in the way a password is, but it allows offline guessing: it never
/// appears in `Debug`, `Display` or an export, and its memory is zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashString(Zeroizing<String>);

impl fmt::Debug for PasswordHashString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHashString(<redacted>)")
    }
}

impl PasswordHashString {
    /// The PHC string, for the replicated store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Wraps a PHC string read back from the store.
    pub fn from_phc(phc: String) -> Self {
        PasswordHashString(Zeroizing::new(phc))
    }
}

/// Hashes `password` with a fresh 16-byte salt drawn from `rng`.
pub(crate) fn hash_password(
    hasher: &Argon2<'static>,
    password: &str,
    rng: &mut impl CryptoRngCore,
) -> Result<PasswordHashString, argon2::password_hash::Error> {
    let salt = SaltString::generate(rng);
    let hash = hasher.hash_password(password.as_bytes(), &salt)?;
    Ok(PasswordHashString(Zeroizing::new(hash.to_string())))
}

/// Whether `password` matches `hash` (constant-time comparison inside the crate). A
/// malformed hash never matches.
pub(crate) fn verify_password(
    hasher: &Argon2<'static>,
    hash: &PasswordHashString,
    password: &str,
) -> bool {
    match PasswordHash::new(hash.as_phc()) {
        Ok(parsed) => hasher.verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    fn common_passwords_are_refused_as_common() {
        let policy = PasswordPolicy::default();
        for pw in [
            "password1",
            "qwerty123",
            "iloveyou",
            "123456789a",
            "Password1",
            "1234567890",
        ] {
            match policy.check(pw, &[]) {
                Err(WeakPassword::Common { rank, .. }) => assert!(rank <= 10_000, "{pw}"),
                other => panic!("{pw}: expected Common, got {other:?}"),
            }
        }
        let err = policy.check("iloveyou", &[]).unwrap_err().to_string();
        assert!(err.contains("most common leaked passwords"), "{err}");
    }

    #[test]
    fn short_and_guessable_passwords_are_refused_with_a_reason() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            policy.check("x7#Kq9!z", &[]),
            Err(WeakPassword::TooShort { min: 10, actual: 8 })
        );
        match policy.check("aaaaaaaaaaaa", &[]) {
            Err(e @ WeakPassword::TooGuessable { .. }) => {
                assert!(e.to_string().contains("too easy to guess"), "{e}");
            }
            other => panic!("expected TooGuessable, got {other:?}"),
        }
        // Built from the username: zxcvbn counts user inputs as dictionary words.
        assert!(matches!(
            policy.check("alicealice99", &["alice"]),
            Err(WeakPassword::TooGuessable { .. })
        ));
        assert!(matches!(
            policy.check("Summer2024!", &[]),
            Err(WeakPassword::TooGuessable { score: 2, .. })
        ));
        assert!(matches!(
            policy.check(&"x".repeat(2000), &[]),
            Err(WeakPassword::TooLong { max: 1024 })
        ));
    }

    #[test]
    fn a_long_random_passphrase_passes() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.check("marble-otter-quantum-lantern-91", &[]), Ok(()));
        assert_eq!(policy.check("Tq8#vL2m!xR9pWz4", &[]), Ok(()));
    }

    #[test]
    fn argon2_hash_verifies_and_a_wrong_password_fails() {
        let hasher = Argon2Config::TEST.hasher().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let hash = hash_password(&hasher, "correct horse battery staple", &mut rng).unwrap();
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=32,t=1,p=1$"));
        assert!(verify_password(
            &hasher,
            &hash,
            "correct horse battery staple"
        ));
        assert!(!verify_password(
            &hasher,
            &hash,
            "correct horse battery stapler"
        ));
        assert!(!verify_password(&hasher, &hash, ""));
        // Same password, fresh salt: a different hash.
        let again = hash_password(&hasher, "correct horse battery staple", &mut rng).unwrap();
        assert_ne!(hash, again);
        // A hash made with other parameters still verifies (parameters live in the hash).
        let prod = Argon2Config {
            memory_kib: 64,
            iterations: 2,
            parallelism: 1,
        }
        .hasher()
        .unwrap();
        assert!(verify_password(
            &prod,
            &hash,
            "correct horse battery staple"
        ));
        assert!(!verify_password(
            &hasher,
            &PasswordHashString::from_phc("not a hash".into()),
            "x"
        ));
        assert_eq!(format!("{hash:?}"), "PasswordHashString(<redacted>)");
    }

    #[test]
    fn invalid_argon2_parameters_are_refused() {
        let bad = Argon2Config {
            memory_kib: 1,
            iterations: 1,
            parallelism: 1,
        };
        assert!(bad.hasher().is_err());
        assert!(Argon2Config::PRODUCTION.hasher().is_ok());
    }
}
