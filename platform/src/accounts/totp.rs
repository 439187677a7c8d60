//! Time-based one-time passwords (RFC 6238, HMAC-SHA-1, 30-second steps) with a ±1 step
//! window and replay protection.

use std::fmt;

use camproof_protocol::cdp::app::{TOTP_DIGITS, TOTP_STEP_SECS};
use camproof_protocol::time::Timestamp;
use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

/// Bytes of a freshly generated secret (160 bits, as RFC 4226 recommends).
pub const TOTP_SECRET_BYTES: usize = 20;

/// Why a TOTP secret or code was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// The secret is shorter than 128 bits or the digit count is not 6 to 8.
    #[error("a TOTP secret needs at least 128 bits and 6 to 8 digits")]
    BadParameters,
    /// The base32 text is not a valid secret.
    #[error("the TOTP secret is not valid base32")]
    BadBase32,
    /// The code matches no step in the window (wrong, or too old / too early).
    #[error("the one-time code is wrong or has expired")]
    InvalidCode,
    /// The code was valid but its step, or a later one, was already used.
    #[error("the one-time code was already used; wait for the next one")]
    Replayed,
    /// The account has no second factor enrolled.
    #[error("no authenticator is enrolled on this account")]
    NotEnrolled,
    /// The account already has an authenticator enrolled.
    #[error("an authenticator is already enrolled on this account")]
    AlreadyEnrolled,
    /// `confirm_totp` was called without a pending `begin_totp_enrolment`.
    #[error("no authenticator enrolment is pending; start one first")]
    NoPendingEnrolment,
}

/// A TOTP generator and verifier: the shared secret and the last step accepted.
///
/// The secret never appears in `Debug` and is zeroed on drop. Verification accepts the
/// current step and one step either side, in constant time, and refuses any step at or
/// before the last one accepted (RFC 6238 §5.2: a code is accepted at most once).
#[derive(Clone)]
pub struct Totp {
    inner: TOTP,
    last_accepted_step: Option<u64>,
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"<redacted>")
            .field("digits", &self.inner.digits)
            .field("last_accepted_step", &self.last_accepted_step)
            .finish()
    }
}

impl Totp {
    /// A TOTP over `secret` (raw bytes, at least 16) with `digits` digits (6 to 8).
    pub fn new(secret: Vec<u8>, digits: usize) -> Result<Self, TotpError> {
        let inner = TOTP::new(Algorithm::SHA1, digits, 1, TOTP_STEP_SECS, secret)
            .map_err(|_| TotpError::BadParameters)?;
        Ok(Totp {
            inner,
            last_accepted_step: None,
        })
    }

    /// A 6-digit TOTP with a fresh 160-bit secret drawn from `rng`.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut secret = vec![0u8; TOTP_SECRET_BYTES];
        rng.fill_bytes(&mut secret);
        // 20 bytes and 6 digits are always valid parameters.
        Totp::new(secret, TOTP_DIGITS).unwrap_or_else(|_| unreachable!("valid parameters"))
    }

    /// A TOTP from the base32 secret an authenticator app was given (what a simulated
    /// user's phone holds).
    pub fn from_base32(secret: &str, digits: usize) -> Result<Self, TotpError> {
        let bytes = totp_rs::Secret::Encoded(secret.to_ascii_uppercase())
            .to_bytes()
            .map_err(|_| TotpError::BadBase32)?;
        Totp::new(bytes, digits)
    }

    /// The secret in base32 without padding (what the user types into an app).
    pub fn secret_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(self.inner.get_secret_base32())
    }

    /// The code for the step containing `now` (what an authenticator app shows).
    pub fn code_at(&self, now: Timestamp) -> Zeroizing<String> {
        Zeroizing::new(self.inner.generate(now.as_secs()))
    }

    /// The last step accepted, if any (a step is `unix seconds / 30`).
    pub fn last_accepted_step(&self) -> Option<u64> {
        self.last_accepted_step
    }

    /// Sets the last accepted step (when restoring from the store).
    pub fn set_last_accepted_step(&mut self, step: Option<u64>) {
        self.last_accepted_step = step;
    }

    /// Checks `code` at `now` against the previous, current and next step; on success
    /// remembers the step so the same code (or an earlier one) is never accepted again.
    pub fn verify(&mut self, code: &str, now: Timestamp) -> Result<(), TotpError> {
        let code = code.trim();
        if code.len() != self.inner.digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TotpError::InvalidCode);
        }
        let current = now.as_secs() / TOTP_STEP_SECS;
        let mut matched: Option<u64> = None;
        // Every candidate is computed and compared, matching or not, so timing does not
        // tell which step matched.
        for step in [
            current.checked_sub(1),
            Some(current),
            current.checked_add(1),
        ]
        .into_iter()
        .flatten()
        {
            let expected = Zeroizing::new(self.inner.generate(step * TOTP_STEP_SECS));
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                matched = Some(matched.map_or(step, |m: u64| m.max(step)));
            }
        }
        let step = matched.ok_or(TotpError::InvalidCode)?;
        if self.last_accepted_step.is_some_and(|last| step <= last) {
            return Err(TotpError::Replayed);
        }
        self.last_accepted_step = Some(step);
        Ok(())
    }

    /// The `otpauth://` URI an authenticator app scans (Key Uri Format).
    pub fn provisioning_uri(&self, issuer: &str, account: &str) -> Zeroizing<String> {
        let issuer = percent_encode(issuer);
        let account = percent_encode(account);
        Zeroizing::new(format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={}&period={TOTP_STEP_SECS}",
            self.secret_base32().as_str(),
            self.inner.digits,
        ))
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What a user needs to set up an authenticator app: the secret and the URI to scan.
/// Both are secrets: `Debug` is redacted and the memory is zeroed on drop.
pub struct TotpEnrolment {
    secret_base32: Zeroizing<String>,
    uri: Zeroizing<String>,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

impl TotpEnrolment {
    pub(crate) fn new(totp: &Totp, issuer: &str, account: &str) -> Self {
        TotpEnrolment {
            secret_base32: totp.secret_base32(),
            uri: totp.provisioning_uri(issuer, account),
        }
    }

    /// The secret in base32 (for typing into an app by hand).
    pub fn secret_base32(&self) -> &str {
        &self.secret_base32
    }

    /// The `otpauth://totp/...` URI (for a QR code).
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    fn rfc_totp() -> Totp {
        Totp::new(b"12345678901234567890".to_vec(), 8).unwrap()
    }

    /// RFC 6238 appendix B, SHA-1 rows.
    #[test]
    fn rfc6238_sha1_test_vectors() {
        let totp = rfc_totp();
        for (t, code) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(
                totp.code_at(Timestamp::from_secs(t)).as_str(),
                code,
                "T={t}"
            );
        }
    }

    #[test]
    fn window_accepts_one_step_either_side_only() {
        let t0 = Timestamp::from_secs(1_111_111_111);
        let code = rfc_totp().code_at(t0);
        for (dt, ok) in [
            (-60i64, false),
            (-30, true),
            (0, true),
            (30, true),
            (60, false),
        ] {
            let now = Timestamp::from_secs(t0.as_secs().checked_add_signed(dt).unwrap());
            let got = rfc_totp().verify(&code, now);
            assert_eq!(got.is_ok(), ok, "offset {dt}s: {got:?}");
        }
        assert_eq!(rfc_totp().verify("1234", t0), Err(TotpError::InvalidCode));
        assert_eq!(
            rfc_totp().verify("abcdefgh", t0),
            Err(TotpError::InvalidCode)
        );
        // Step 0 has no previous step: no underflow.
        let early = rfc_totp().code_at(Timestamp::from_secs(1));
        assert!(rfc_totp().verify(&early, Timestamp::from_secs(2)).is_ok());
    }

    #[test]
    fn replayed_code_is_refused() {
        let mut totp = rfc_totp();
        let now = Timestamp::from_secs(1_234_567_890);
        let code = totp.code_at(now);
        assert_eq!(totp.verify(&code, now), Ok(()));
        // Same code again, within its window: refused.
        assert_eq!(totp.verify(&code, now), Err(TotpError::Replayed));
        let later = Timestamp::from_secs(now.as_secs() + 20);
        assert_eq!(totp.verify(&code, later), Err(TotpError::Replayed));
        // An older code that is still in the window is refused too.
        let before = Timestamp::from_secs(now.as_secs() - 30);
        let older = totp.code_at(before);
        assert_eq!(totp.verify(&older, now), Err(TotpError::Replayed));
        // The next step's code is fine.
        let next = Timestamp::from_secs(now.as_secs() + 30);
        assert_eq!(totp.verify(&totp.code_at(next), next), Ok(()));
    }

    #[test]
    fn enrolment_gives_base32_secret_uri_and_hides_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let totp = Totp::generate(&mut rng);
        let e = TotpEnrolment::new(&totp, "camproof", "alice@example.com");
        assert_eq!(e.secret_base32().len(), 32, "160 bits in base32");
        assert!(e
            .uri()
            .starts_with("otpauth://totp/camproof:alice%40example.com?secret="));
        assert!(e.uri().contains("&digits=6&period=30"));
        let phone = Totp::from_base32(e.secret_base32(), 6).unwrap();
        let now = Timestamp::from_secs(1_700_000_000);
        assert_eq!(phone.code_at(now), totp.code_at(now));
        assert!(!format!("{e:?}").contains(e.secret_base32()));
        assert!(!format!("{totp:?}").contains(e.secret_base32()));
        assert_eq!(
            Totp::new(vec![1; 8], 6).unwrap_err(),
            TotpError::BadParameters
        );
        assert_eq!(
            Totp::from_base32("!!", 6).unwrap_err(),
            TotpError::BadBase32
        );
    }

    proptest! {
        /// A code generated for time t verifies at t, and not once its window has passed.
        #[test]
        fn a_code_verifies_at_its_time_and_not_after_the_window(
            seed: u64,
            t in 60u64..4_000_000_000,
            late in 60u64..100_000,
        ) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let totp = Totp::generate(&mut rng);
            let now = Timestamp::from_secs(t);
            let code = totp.code_at(now);
            prop_assert_eq!(totp.clone().verify(&code, now), Ok(()));
            // Past the end of the next step, the code is too old (barring a 1-in-10^6
            // coincidence with a later step's code, which the seed space may hit).
            let step_end = (t / TOTP_STEP_SECS + 2) * TOTP_STEP_SECS;
            let after = Timestamp::from_secs(step_end + late);
            let still_matches = [after.as_secs() / TOTP_STEP_SECS - 1, after.as_secs() / TOTP_STEP_SECS, after.as_secs() / TOTP_STEP_SECS + 1]
                .iter()
                .any(|s| totp.code_at(Timestamp::from_secs(s * TOTP_STEP_SECS)) == code);
            if !still_matches {
                prop_assert_eq!(totp.clone().verify(&code, after), Err(TotpError::InvalidCode));
            }
        }
    }
}
