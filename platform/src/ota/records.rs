//! The OTA service's state as a keyspace a replicated store can hold.
//!
//! | key | value |
//! |---|---|
//! | `ota/meta` | JSON: next rollout id |
//! | `ota/trust/{model}` | the vendor CA certificate (camproof certificate encoding) |
//! | `ota/release/{model}/{version}/manifest` | the signed manifest (canonical encoding) |
//! | `ota/release/{model}/{version}/image` | the image bytes |
//! | `ota/release/{model}/{version}/meta` | JSON: publication time |
//! | `ota/rollout/{id:016x}` | JSON: model, version, percent, minimum, state, times, window, alert |
//! | `ota/rollout/{id:016x}/device/{device}` | JSON: eligible, offered and latest report |
//! | `ota/alert/{seq:016x}` | JSON: one [`HaltAlert`] |
//!
//! `{model}` and `{device}` escape `%`, `/` and space as `%25`, `%2F`, `%20`; `{version}`
//! is `MMMMMMMMMM.mmmmmmmmmm.pppppppppp` (zero-padded) so keys sort in version order.
//! Counters are not stored: they are recomputed from the device entries on load, so they
//! cannot disagree with them. Releases are verified again on load.

use std::collections::BTreeMap;

use camproof_protocol::ota::{FirmwareVersion, SignedManifest};
use camproof_protocol::pki::Certificate;
use camproof_protocol::time::Timestamp;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use camproof_protocol::ota::RefusalCode;

use super::catalog::{PublishError, Release};
use super::rollout::{
    DeviceProgress, DeviceReport, HaltAlert, HaltReason, InstallResult, Rollout, RolloutId,
    RolloutState,
};
use super::{ConfigError, OtaConfig, OtaService};

/// A replica's keyspace: key → value bytes, ordered.
pub type Keyspace = BTreeMap<String, Vec<u8>>;

/// Why records cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key under `ota/` is not one this layout defines.
    #[error("unexpected key {0:?}")]
    UnexpectedKey(String),
    /// A value could not be decoded.
    #[error("record {key:?} is damaged: {reason}")]
    Damaged {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A stored release no longer passes the publication checks.
    #[error("stored release under {key:?} fails verification: {error}")]
    ReleaseRejected {
        /// The manifest's key.
        key: String,
        /// The check it fails.
        error: Box<PublishError>,
    },
}

/// Escapes `%`, `/` and space so a name is one key segment.
fn escape(s: &str) -> String {
    s.replace('%', "%25")
        .replace('/', "%2F")
        .replace(' ', "%20")
}

/// Reverses [`escape`] in one pass (so `%252F` becomes `%2F`, not `/`).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (ch, skip) = match tail.get(..3) {
            Some("%25") => ('%', 3),
            Some("%2F") => ('/', 3),
            Some("%20") => (' ', 3),
            _ => ('%', 1),
        };
        out.push(ch);
        rest = &tail[skip..];
    }
    out.push_str(rest);
    out
}

fn version_key(v: FirmwareVersion) -> String {
    format!("{:010}.{:010}.{:010}", v.major, v.minor, v.patch)
}

fn rollout_key(id: RolloutId) -> String {
    format!("ota/rollout/{:016x}", id.0)
}

#[derive(Serialize, Deserialize)]
struct MetaRecord {
    next_rollout: u64,
}

#[derive(Serialize, Deserialize)]
struct ReleaseMeta {
    published_at_us: u64,
}

#[derive(Serialize, Deserialize)]
struct AlertRecord {
    rollout: u64,
    model: String,
    version: String,
    began_us: u64,
    fired_us: u64,
    failures: u64,
    reports: u64,
    max_failure_permille: u32,
}

impl From<&HaltAlert> for AlertRecord {
    fn from(a: &HaltAlert) -> Self {
        let HaltReason::FailureRatio {
            failures,
            reports,
            max_failure_permille,
        } = a.reason.clone();
        AlertRecord {
            rollout: a.rollout.0,
            model: a.model.clone(),
            version: a.version.to_string(),
            began_us: a.began.as_micros(),
            fired_us: a.fired.as_micros(),
            failures,
            reports,
            max_failure_permille,
        }
    }
}

impl AlertRecord {
    fn into_alert(self, key: &str) -> Result<HaltAlert, RecordError> {
        Ok(HaltAlert {
            rollout: RolloutId(self.rollout),
            model: self.model,
            version: parse_version(key, &self.version)?,
            began: Timestamp::from_micros(self.began_us),
            fired: Timestamp::from_micros(self.fired_us),
            reason: HaltReason::FailureRatio {
                failures: self.failures,
                reports: self.reports,
                max_failure_permille: self.max_failure_permille,
            },
        })
    }
}

#[derive(Serialize, Deserialize)]
struct RolloutRecord {
    model: String,
    version: String,
    percent: u8,
    min_current: Option<String>,
    /// `active`, `paused`, `halted`, `completed` or `aborted`.
    state: String,
    /// For `halted`: when the rule fired (the reason is the alert).
    halted_at_us: Option<u64>,
    started_at_us: u64,
    ended_at_us: Option<u64>,
    window: u32,
    over_since_us: Option<u64>,
    alert: Option<AlertRecord>,
}

#[derive(Serialize, Deserialize)]
struct DeviceRecord {
    eligible_at_us: u64,
    offered_at_us: Option<u64>,
    /// `installed`, `failed` or `refused:{code}`.
    result: Option<String>,
    reported_at_us: Option<u64>,
    report_window: Option<u32>,
}

fn result_name(r: InstallResult) -> String {
    match r {
        InstallResult::Installed => "installed".into(),
        InstallResult::Failed => "failed".into(),
        InstallResult::Refused(code) => format!("refused:{code}"),
    }
}

fn parse_result(key: &str, s: &str) -> Result<InstallResult, RecordError> {
    match s {
        "installed" => Ok(InstallResult::Installed),
        "failed" => Ok(InstallResult::Failed),
        _ => s
            .strip_prefix("refused:")
            .and_then(RefusalCode::parse)
            .map(InstallResult::Refused)
            .ok_or_else(|| damaged(key, format!("unknown install result {s:?}"))),
    }
}

fn damaged(key: &str, reason: impl Into<String>) -> RecordError {
    RecordError::Damaged {
        key: key.to_owned(),
        reason: reason.into(),
    }
}

fn parse_version(key: &str, s: &str) -> Result<FirmwareVersion, RecordError> {
    s.parse().map_err(|e| damaged(key, format!("{e}")))
}

fn json<T: for<'de> Deserialize<'de>>(key: &str, value: &[u8]) -> Result<T, RecordError> {
    serde_json::from_slice(value).map_err(|e| damaged(key, e.to_string()))
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these plain structs (strings, integers, options) cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

impl OtaService {
    /// The service's state as a keyspace (layout in [`records`](self)).
    ///
    /// Pending events are not records: drain them first.
    pub fn records(&self) -> Keyspace {
        let mut out = Keyspace::new();
        out.insert(
            "ota/meta".into(),
            to_json(&MetaRecord {
                next_rollout: self.next_rollout,
            }),
        );
        for (model, t) in &self.catalog.trust {
            out.insert(
                format!("ota/trust/{}", escape(model)),
                t.certificate.to_bytes(),
            );
        }
        for ((model, version), r) in &self.catalog.releases {
            let base = format!("ota/release/{}/{}", escape(model), version_key(*version));
            out.insert(format!("{base}/manifest"), r.manifest().encode());
            out.insert(format!("{base}/image"), r.image().to_vec());
            out.insert(
                format!("{base}/meta"),
                to_json(&ReleaseMeta {
                    published_at_us: r.published_at().as_micros(),
                }),
            );
        }
        for r in self.rollouts.values() {
            let key = rollout_key(r.id);
            let halted_at_us = match &r.state {
                RolloutState::Halted { at, .. } => Some(at.as_micros()),
                _ => None,
            };
            let record = RolloutRecord {
                model: r.model.clone(),
                version: r.version.to_string(),
                percent: r.percent,
                min_current: r.min_current.map(|v| v.to_string()),
                state: r.state.name().into(),
                halted_at_us,
                started_at_us: r.started_at.as_micros(),
                ended_at_us: r.ended_at.map(Timestamp::as_micros),
                window: r.window,
                over_since_us: r.over_since.map(Timestamp::as_micros),
                alert: r.alert.as_ref().map(AlertRecord::from),
            };
            for (device, d) in &r.devices {
                let rec = DeviceRecord {
                    eligible_at_us: d.eligible_at.as_micros(),
                    offered_at_us: d.offered_at.map(Timestamp::as_micros),
                    result: d.report.map(|x| result_name(x.result)),
                    reported_at_us: d.report.map(|x| x.at.as_micros()),
                    report_window: d.report.map(|x| x.window),
                };
                out.insert(format!("{key}/device/{}", escape(device)), to_json(&rec));
            }
            out.insert(key, to_json(&record));
        }
        for (seq, a) in self.alerts.iter().enumerate() {
            out.insert(
                format!("ota/alert/{seq:016x}"),
                to_json(&AlertRecord::from(a)),
            );
        }
        out
    }

    /// Rebuilds a service from [`records`](Self::records), verifying every release again.
    ///
    /// Keys outside `ota/` are ignored (the store holds other services too).
    pub fn from_records(config: OtaConfig, keyspace: &Keyspace) -> Result<Self, RecordError> {
        let mut svc = OtaService::new(config)?;
        let ota = keyspace
            .range("ota/".to_owned()..)
            .take_while(|(k, _)| k.starts_with("ota/"));
        let mut manifests = Vec::new();
        let mut images = BTreeMap::new();
        let mut release_meta = BTreeMap::new();
        let mut devices = Vec::new();
        for (key, value) in ota {
            let parts: Vec<&str> = key.split('/').collect();
            match parts.as_slice() {
                ["ota", "meta"] => {
                    let m: MetaRecord = json(key, value)?;
                    svc.next_rollout = m.next_rollout;
                }
                ["ota", "trust", model] => {
                    let certificate =
                        Certificate::from_bytes(value).map_err(|e| damaged(key, e.to_string()))?;
                    svc.catalog
                        .trust_vendor(&unescape(model), certificate)
                        .map_err(|e| damaged(key, e.to_string()))?;
                }
                ["ota", "release", model, version, "manifest"] => {
                    manifests.push((key.clone(), (unescape(model), version.to_string()), value));
                }
                ["ota", "release", model, version, "image"] => {
                    images.insert((unescape(model), version.to_string()), value.clone());
                }
                ["ota", "release", model, version, "meta"] => {
                    let m: ReleaseMeta = json(key, value)?;
                    release_meta.insert((unescape(model), version.to_string()), m);
                }
                ["ota", "rollout", id] => {
                    let id = parse_id(key, id)?;
                    let r: RolloutRecord = json(key, value)?;
                    let rollout = load_rollout(key, id, r)?;
                    svc.rollouts.insert(id, rollout);
                }
                ["ota", "rollout", id, "device", device] => {
                    let id = parse_id(key, id)?;
                    let d: DeviceRecord = json(key, value)?;
                    devices.push((key.clone(), id, unescape(device), d));
                }
                ["ota", "alert", _] => {
                    let a: AlertRecord = json(key, value)?;
                    svc.alerts.push(a.into_alert(key)?);
                }
                _ => return Err(RecordError::UnexpectedKey(key.clone())),
            }
        }
        for (key, name, bytes) in manifests {
            let signed = SignedManifest::decode(bytes).map_err(|e| damaged(&key, e.to_string()))?;
            let image = images
                .remove(&name)
                .ok_or_else(|| damaged(&key, "the release's image is missing"))?;
            let m = signed.manifest();
            if (escape(&m.model), version_key(m.version)) != (escape(&name.0), name.1.clone()) {
                return Err(damaged(&key, "the manifest names another release"));
            }
            svc.catalog
                .check(&signed, &image)
                .map_err(|error| RecordError::ReleaseRejected {
                    key: key.clone(),
                    error: Box::new(error),
                })?;
            let published_at = release_meta.get(&name).map_or(Timestamp::ZERO, |m| {
                Timestamp::from_micros(m.published_at_us)
            });
            let release = Release::new(signed, image, published_at);
            svc.catalog
                .releases
                .insert((release.model().to_owned(), release.version()), release);
        }
        for (key, id, device, d) in devices {
            let rollout = svc
                .rollouts
                .get_mut(&id)
                .ok_or_else(|| damaged(&key, "device entry of a rollout that does not exist"))?;
            let report = match (d.result, d.reported_at_us, d.report_window) {
                (Some(result), Some(at), Some(window)) => Some(DeviceReport {
                    result: parse_result(&key, &result)?,
                    at: Timestamp::from_micros(at),
                    window,
                }),
                (None, None, None) => None,
                _ => return Err(damaged(&key, "partial report")),
            };
            rollout.devices.insert(
                device,
                DeviceProgress {
                    eligible_at: Timestamp::from_micros(d.eligible_at_us),
                    offered_at: d.offered_at_us.map(Timestamp::from_micros),
                    report,
                },
            );
        }
        let policy = svc.config.halt;
        for r in svc.rollouts.values_mut() {
            r.recount(&policy);
        }
        Ok(svc)
    }
}

fn parse_id(key: &str, hex: &str) -> Result<RolloutId, RecordError> {
    u64::from_str_radix(hex, 16)
        .map(RolloutId)
        .map_err(|_| damaged(key, "rollout id is not hex"))
}

fn load_rollout(key: &str, id: RolloutId, r: RolloutRecord) -> Result<Rollout, RecordError> {
    let version = parse_version(key, &r.version)?;
    let alert = r.alert.map(|a| a.into_alert(key)).transpose()?;
    let state = match r.state.as_str() {
        "active" => RolloutState::Active,
        "paused" => RolloutState::Paused,
        "completed" => RolloutState::Completed,
        "aborted" => RolloutState::Aborted,
        "halted" => {
            let (Some(at), Some(alert)) = (r.halted_at_us, &alert) else {
                return Err(damaged(key, "halted without its alert"));
            };
            RolloutState::Halted {
                reason: alert.reason.clone(),
                at: Timestamp::from_micros(at),
            }
        }
        other => return Err(damaged(key, format!("unknown state {other:?}"))),
    };
    let mut rollout = Rollout::new(
        id,
        r.model,
        version,
        r.percent.min(100),
        r.min_current.map(|v| parse_version(key, &v)).transpose()?,
        Timestamp::from_micros(r.started_at_us),
    );
    rollout.state = state;
    rollout.ended_at = r.ended_at_us.map(Timestamp::from_micros);
    rollout.window = r.window;
    rollout.over_since = r.over_since_us.map(Timestamp::from_micros);
    rollout.alert = alert;
    Ok(rollout)
}
