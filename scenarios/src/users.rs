//! The world's users as the product would have left them: registered with a strong
//! password and an enrolled authenticator.

use std::collections::BTreeMap;

use camproof_platform::accounts::Region;
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

/// Every user of a world by account id: their home region, for the residency check, and
/// their username, to name them in failures (an account id is 128 opaque bits).
#[derive(Debug, Clone, Default)]
pub struct UserDirectory {
    /// Home region by account id.
    pub homes: BTreeMap<String, Region>,
    /// Username by account id.
    names: BTreeMap<String, String>,
}

impl UserDirectory {
    /// Records account `id` of `username`, homed in `home`.
    pub fn add(&mut self, id: &str, username: &str, home: Region) {
        self.homes.insert(id.to_owned(), home);
        self.names.insert(id.to_owned(), username.to_owned());
    }

    /// `text` followed by the username of every known account id it contains (ids
    /// shortened to 8 digits there): `… (user 3f2a9c01…: user0@site1.example)`.
    pub fn name_users_in(&self, text: &str) -> String {
        let found: Vec<String> = self
            .names
            .iter()
            .filter(|(id, _)| text.contains(id.as_str()))
            .map(|(id, name)| format!("{}…: {name}", id.get(..8).unwrap_or(id)))
            .collect();
        if found.is_empty() {
            text.to_owned()
        } else {
            format!("{text} (user {})", found.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_name_the_users_whose_ids_they_show() {
        let mut users = UserDirectory::default();
        let id = "3f2a9c01".repeat(4);
        users.add(&id, "user0@site1.example", Region::EuAfrica);
        users.add(&"0".repeat(32), "user1@site1.example", Region::EuAfrica);
        let text = format!("replica gw-apac-1 holds \"accounts/user/{id}/profile\"");
        assert_eq!(
            users.name_users_in(&text),
            format!("{text} (user 3f2a9c01…: user0@site1.example)")
        );
        assert_eq!(users.name_users_in("no id here"), "no id here");
    }
}
