//! The world's users as the product would have left them: registered with a strong
//! password and an enrolled authenticator.

use camproof_platform::registry::Caller;
use camproof_platform::signaling::RegionServices;
use camproof_protocol::cdp::SecretText;
use camproof_protocol::Timestamp;
use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use crate::error::WorldError;

/// Registers `username` in the region with a strong random password and an enrolled
/// authenticator; returns the caller, the password and the authenticator's secret.
pub fn register_user(
    svc: &mut RegionServices,
    username: &str,
    now: Timestamp,
    rng: &mut ChaCha8Rng,
) -> Result<(Caller, SecretText, SecretText), WorldError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        WorldError::Invalid(format!("{what} {username}: {e}"))
    };
    let mut raw = [0u8; 16];
    rng.fill_bytes(&mut raw);
    let password: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let home = svc.region;
    let reg = svc
        .accounts
        .register(username, &password, home, now, rng)
        .map_err(|e| fail("registering", &e))?;
    let enrol = svc
        .accounts
        .begin_totp_enrolment(&reg.user_id, rng)
        .map_err(|e| fail("enrolling", &e))?;
    let secret = enrol.secret_base32().to_owned();
    let code = camproof_platform::accounts::Totp::from_base32(&secret, 6)
        .map_err(|e| fail("enrolling", &e))?
        .code_at(now);
    svc.accounts
        .confirm_totp(&reg.user_id, &code, now)
        .map_err(|e| fail("enrolling", &e))?;
    svc.persist_account(&reg.user_id);
    Ok((
        Caller::new(reg.user_id, home),
        SecretText::new(password),
        SecretText::new(secret),
    ))
}
