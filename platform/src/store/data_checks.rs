//! Checks over what replicas hold: an erased user is gone from every replica, and no
//! user's records sit in a region other than their home (data residency).

use std::collections::BTreeMap;

use super::types::Keyspace;
use crate::accounts::{Region, UserId};

/// Personal data where it must not be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataViolation {
    /// A replica still holds a key or value naming an erased user.
    #[error("replica {replica} still holds {key:?} of erased user {user}")]
    NotErased {
        /// The replica (host name).
        replica: String,
        /// The key found.
        key: String,
        /// The erased user.
        user: UserId,
    },
    /// A user's record is held by a replica of another region.
    #[error("replica {replica} of region {region} holds {key:?} of a user homed in {home}")]
    OutsideHome {
        /// The replica (host name).
        replica: String,
        /// The replica's region.
        region: Region,
        /// The key found.
        key: String,
        /// The user's home region.
        home: Region,
    },
}

/// Checks that no replica holds a key or value that names an erased user.
pub fn check_erased<'a>(
    replicas: impl IntoIterator<Item = (&'a str, &'a Keyspace)>,
    erased: &[UserId],
) -> Result<(), DataViolation> {
    for (replica, ks) in replicas {
        for (key, value) in ks {
            for user in erased {
                let id = user.as_str().as_bytes();
                if key.contains(user.as_str()) || value.windows(id.len()).any(|w| w == id) {
                    return Err(DataViolation::NotErased {
                        replica: replica.into(),
                        key: key.clone(),
                        user: user.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Checks that every `accounts/user/{id}/…` key of a replica in `region` belongs to a
/// user homed there; `homes` maps every user of the run to their home region (a user
/// missing from it counts as homed elsewhere).
pub fn check_residency<'a>(
    replicas: impl IntoIterator<Item = (&'a str, Region, &'a Keyspace)>,
    homes: &BTreeMap<String, Region>,
) -> Result<(), DataViolation> {
    for (replica, region, ks) in replicas {
        for key in ks.range("accounts/user/".to_owned()..).map(|(k, _)| k) {
            let Some(rest) = key.strip_prefix("accounts/user/") else {
                break;
            };
            let id = rest.split('/').next().unwrap_or_default();
            let home = homes.get(id).copied();
            if home != Some(region) {
                return Err(DataViolation::OutsideHome {
                    replica: replica.into(),
                    region,
                    key: key.clone(),
                    home: home.unwrap_or(region),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ks(keys: &[(&str, &str)]) -> Keyspace {
        keys.iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    fn user(id: &str) -> UserId {
        UserId(id.into())
    }

    #[test]
    fn erasure_checker_passes_clean_replicas_and_names_a_leftover() {
        let clean = ks(&[("accounts/user/bob/profile", "{}")]);
        assert_eq!(check_erased([("gw-1", &clean)], &[user("alice")]), Ok(()));
        let key_left = ks(&[("accounts/user/alice/login/1", "x")]);
        assert!(matches!(
            check_erased([("gw-1", &clean), ("gw-2", &key_left)], &[user("alice")]),
            Err(DataViolation::NotErased { replica, .. }) if replica == "gw-2"
        ));
        // A value that names the user counts too (an audit record elsewhere).
        let value_left = ks(&[("devices/cam-1/seen", "claimed by alice")]);
        assert!(check_erased([("gw-3", &value_left)], &[user("alice")]).is_err());
    }

    #[test]
    fn residency_checker_passes_home_data_and_names_foreign_data() {
        let homes: BTreeMap<String, Region> = [
            ("alice".to_string(), Region::EuAfrica),
            ("bob".to_string(), Region::Apac),
        ]
        .into();
        let eu = ks(&[("accounts/user/alice/profile", "{}"), ("devices/x", "")]);
        assert_eq!(
            check_residency([("gw-eu-1", Region::EuAfrica, &eu)], &homes),
            Ok(())
        );
        let leak = ks(&[("accounts/user/bob/profile", "{}")]);
        let err = check_residency([("gw-eu-1", Region::EuAfrica, &leak)], &homes).unwrap_err();
        assert!(
            matches!(
                err,
                DataViolation::OutsideHome {
                    home: Region::Apac,
                    ..
                }
            ),
            "{err}"
        );
        let unknown = ks(&[("accounts/user/mallory/profile", "{}")]);
        assert!(check_residency([("gw-eu-1", Region::EuAfrica, &unknown)], &homes).is_err());
    }
}
