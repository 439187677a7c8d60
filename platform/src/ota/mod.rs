//! OTA service: a catalog of vendor-signed images per model, staged rollouts by
//! percentage, and install results that can halt a rollout. Pure and deterministic: time
//! comes in as `now`, nothing here does I/O, and the platform only ever verifies
//! signatures (RSA public-key operations), never signs.
//!
//! Main types: [`OtaService`] (the service; call its methods with `now`, drain
//! [`OtaService::poll_event`] after each), [`OtaCatalog`] (vendor trust and verified
//! [`Release`]s), [`OtaConfig`] / [`HaltPolicy`], [`Offer`], [`InstallResult`],
//! [`RolloutStatus`] / [`RolloutState`] / [`HaltAlert`], the eligibility function
//! [`is_eligible`], and the errors [`TrustError`], [`PublishError`], [`RolloutError`],
//! [`ReportError`], [`ChunkError`], [`ConfigError`] and [`RecordError`]. Records live in
//! a [`Keyspace`] (see [`records`]).
//!
//! ```
//! use camproof_platform::ota::{InstallResult, OtaConfig, OtaService};
//! use camproof_protocol::ota::{Manifest, SignedManifest};
//! use camproof_protocol::pki::{PkiOptions, TestPki};
//! use camproof_protocol::time::Timestamp;
//! use rand_chacha::ChaCha8Rng;
//! use rand_core::SeedableRng;
//!
//! let pki = TestPki::generate(7, &PkiOptions::fast_for_tests());
//! let v = |s: &str| s.parse().unwrap();
//! let now = Timestamp::from_secs(1_800_000_000);
//! // Vendor side, offline: sign the manifest.
//! let image = b"firmware 2.1.0".to_vec();
//! let manifest = Manifest::for_image("IPC-3MP", v("2.1.0"), v("2.0.0"), &image)?;
//! let mut rng = ChaCha8Rng::seed_from_u64(1);
//! let signed = SignedManifest::sign(manifest, pki.vendor_key(0).unwrap(), &mut rng)?;
//!
//! // Platform: trust the vendor for the model, publish (verified), roll out to 100 %.
//! let mut ota = OtaService::new(OtaConfig::default())?;
//! ota.trust_vendor("IPC-3MP", pki.vendor_certificate(0).unwrap().clone())?;
//! ota.publish(signed, image.clone(), now)?;
//! let rollout = ota.start_rollout("IPC-3MP", v("2.1.0"), 100, now)?;
//!
//! let offer = ota.offer("CAM-1", "IPC-3MP", v("1.4.2"), now).expect("eligible");
//! let chunk = ota.image_chunk("IPC-3MP", offer.version, 0, 4096)?;
//! assert_eq!(chunk, &image[..]);
//! ota.report("CAM-1", offer.version, InstallResult::Installed, now)?;
//! assert_eq!(ota.status(rollout).unwrap().counts.installed, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See `docs/ota-service.md` for the publication checks, eligibility, halting rule and
//! record layout.

pub mod catalog;
pub mod records;
pub mod rollout;

use std::collections::{BTreeMap, VecDeque};

use camproof_protocol::ota::{FirmwareVersion, SignedManifest};
use camproof_protocol::pki::Certificate;
use camproof_protocol::time::Timestamp;
use thiserror::Error;

pub use catalog::{ChunkError, OtaCatalog, PublishError, Release, TrustError};
pub use records::{Keyspace, RecordError};
pub use rollout::{
    eligibility_bucket, is_eligible, HaltAlert, HaltReason, InstallResult, RolloutCounts,
    RolloutId, RolloutState, RolloutStatus, BUCKETS,
};

use catalog::valid_model;
use rollout::Rollout;

/// Longest device id accepted, in bytes.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// When a rollout halts itself: the failure ratio among reporting devices is above
/// `max_failure_permille` and at least `min_reports` devices reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaltPolicy {
    /// The highest tolerated failure ratio, in per mille (50 = 5 %); above it, halt.
    pub max_failure_permille: u32,
    /// The smallest number of reporting devices before the rule may fire.
    pub min_reports: u64,
    /// Whether a device's refusal counts as a failure (a verified image should never be
    /// refused: a refusal means tampering on the way, or a mis-keyed fleet).
    pub refusals_count_as_failures: bool,
}

impl HaltPolicy {
    /// Whether this result counts against the rollout.
    pub fn counts_as_failure(&self, result: InstallResult) -> bool {
        match result {
            InstallResult::Installed => false,
            InstallResult::Failed => true,
            InstallResult::Refused(_) => self.refusals_count_as_failures,
        }
    }

    /// Whether `failures` of `reports` is above the limit (the sample size aside).
    pub fn is_over(&self, failures: u64, reports: u64) -> bool {
        reports > 0
            && u128::from(failures) * 1000
                > u128::from(self.max_failure_permille) * u128::from(reports)
    }
}

impl Default for HaltPolicy {
    /// More than 5 % of at least 20 reporting devices; refusals count.
    fn default() -> Self {
        HaltPolicy {
            max_failure_permille: 50,
            min_reports: 20,
            refusals_count_as_failures: true,
        }
    }
}

/// Defects planted for the rollout checks' negative tests (all off in a real platform).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtaBugs {
    /// Image parts are served from one byte past the offset asked for.
    pub chunk_off_by_one: bool,
}

/// The service's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtaConfig {
    /// The largest image the catalog accepts, in bytes.
    pub max_image_bytes: u64,
    /// The largest chunk [`OtaService::image_chunk`] returns, in bytes.
    pub max_chunk_bytes: u32,
    /// When rollouts halt themselves.
    pub halt: HaltPolicy,
}

impl Default for OtaConfig {
    /// 64 MiB images, 64 KiB chunks, the default [`HaltPolicy`].
    fn default() -> Self {
        OtaConfig {
            max_image_bytes: 64 << 20,
            max_chunk_bytes: 64 << 10,
            halt: HaltPolicy::default(),
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The failure limit is above 1000 per mille (the rule could never fire).
    #[error("max_failure_permille is {0}; it must be 0 to 1000")]
    FailureLimit(u32),
    /// The minimum sample is zero (one report could halt a rollout).
    #[error("min_reports must be at least 1")]
    NoMinimumSample,
    /// The chunk size is zero.
    #[error("max_chunk_bytes must be at least 1")]
    NoChunkSize,
}

/// Why a rollout operation is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// No such rollout.
    #[error("no rollout {0}")]
    UnknownRollout(RolloutId),
    /// The version is not in the catalog (it was never published, or was refused).
    #[error("model {model:?} has no published release {version}")]
    UnknownRelease {
        /// The model.
        model: String,
        /// The version.
        version: FirmwareVersion,
    },
    /// The model already has an open (active, paused or halted) rollout.
    #[error("model {model:?} already has an open rollout, {existing}")]
    AlreadyOpen {
        /// The model.
        model: String,
        /// The open rollout.
        existing: RolloutId,
    },
    /// A newer (or the same) version was already rolled out to everyone.
    #[error("model {model:?} already completed a rollout of {completed}; {version} would not reach anyone")]
    Superseded {
        /// The model.
        model: String,
        /// The version asked for.
        version: FirmwareVersion,
        /// The completed version.
        completed: FirmwareVersion,
    },
    /// The percentage is above 100.
    #[error("percentage {0} is above 100")]
    InvalidPercent(u8),
    /// The operation does not apply in the rollout's state.
    #[error("cannot {action} {rollout}: it is {state}")]
    InvalidTransition {
        /// The rollout.
        rollout: RolloutId,
        /// What was asked (`pause`, `resume`, ...).
        action: &'static str,
        /// The state it is in.
        state: &'static str,
    },
    /// Completing needs the rollout at 100 %.
    #[error("cannot complete {rollout} at {percent} %: raise it to 100 % first")]
    NotAtFullPercent {
        /// The rollout.
        rollout: RolloutId,
        /// Its percentage.
        percent: u8,
    },
}

/// Why an install report is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The device was never offered this version: an unsolicited report cannot move the
    /// counters (nor halt, nor mask, a rollout).
    #[error("device {device:?} was never offered version {version}; report ignored")]
    NotOffered {
        /// The reporting device.
        device: String,
        /// The version it reported on.
        version: FirmwareVersion,
    },
}

/// What a device is offered: the vendor-signed manifest to verify, and where the image is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The rollout making the offer.
    pub rollout: RolloutId,
    /// The model.
    pub model: String,
    /// The offered version.
    pub version: FirmwareVersion,
    /// The manifest exactly as the vendor signed it (send `manifest.encode()`).
    pub manifest: SignedManifest,
    /// The image's size; fetch it with [`OtaService::image_chunk`].
    pub image_size: u64,
    /// The largest chunk the service returns.
    pub max_chunk_bytes: u32,
}

/// Something that happened, for monitoring and the run trace.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtaEvent {
    /// A release entered the catalog.
    Published {
        /// The model.
        model: String,
        /// The version.
        version: FirmwareVersion,
        /// When.
        at: Timestamp,
    },
    /// A rollout started.
    RolloutStarted {
        /// The rollout.
        rollout: RolloutId,
        /// Its starting percentage.
        percent: u8,
        /// When.
        at: Timestamp,
    },
    /// A rollout's percentage changed.
    PercentChanged {
        /// The rollout.
        rollout: RolloutId,
        /// The old percentage.
        from: u8,
        /// The new percentage.
        to: u8,
        /// When.
        at: Timestamp,
    },
    /// An operator paused a rollout.
    Paused {
        /// The rollout.
        rollout: RolloutId,
        /// When.
        at: Timestamp,
    },
    /// An operator resumed a paused or halted rollout.
    Resumed {
        /// The rollout.
        rollout: RolloutId,
        /// When.
        at: Timestamp,
    },
    /// The failure-ratio rule halted a rollout (an alert).
    Halted(HaltAlert),
    /// A rollout completed.
    Completed {
        /// The rollout.
        rollout: RolloutId,
        /// When.
        at: Timestamp,
    },
    /// A rollout was aborted.
    Aborted {
        /// The rollout.
        rollout: RolloutId,
        /// When.
        at: Timestamp,
    },
}

/// The OTA service of one platform: catalog, rollouts, install results, alerts.
///
/// Call the operations with the current time, then drain [`poll_event`](Self::poll_event).
/// [`records`](Self::records) gives the state as a keyspace and
/// [`from_records`](Self::from_records) rebuilds it.
#[derive(Debug, Clone)]
pub struct OtaService {
    config: OtaConfig,
    catalog: OtaCatalog,
    rollouts: BTreeMap<RolloutId, Rollout>,
    next_rollout: u64,
    alerts: Vec<HaltAlert>,
    events: VecDeque<OtaEvent>,
    bugs: OtaBugs,
}

impl OtaService {
    /// An empty service with `config`.
    pub fn new(config: OtaConfig) -> Result<Self, ConfigError> {
        if config.halt.max_failure_permille > 1000 {
            return Err(ConfigError::FailureLimit(config.halt.max_failure_permille));
        }
        if config.halt.min_reports == 0 {
            return Err(ConfigError::NoMinimumSample);
        }
        if config.max_chunk_bytes == 0 {
            return Err(ConfigError::NoChunkSize);
        }
        Ok(OtaService {
            config,
            catalog: OtaCatalog::new(config.max_image_bytes),
            rollouts: BTreeMap::new(),
            next_rollout: 1,
            alerts: Vec::new(),
            events: VecDeque::new(),
            bugs: OtaBugs::default(),
        })
    }

    /// Plants `bugs` (negative tests of the checks that watch rollouts).
    pub fn plant_bugs(&mut self, bugs: OtaBugs) {
        self.bugs = bugs;
    }

    /// The configuration.
    pub fn config(&self) -> &OtaConfig {
        &self.config
    }

    /// The catalog (vendor trust and releases).
    pub fn catalog(&self) -> &OtaCatalog {
        &self.catalog
    }

    /// Trusts the vendor CA `certificate` to sign `model`'s firmware.
    pub fn trust_vendor(
        &mut self,
        model: &str,
        certificate: Certificate,
    ) -> Result<(), TrustError> {
        self.catalog.trust_vendor(model, certificate)
    }

    /// Verifies and publishes a release (see [`OtaCatalog::publish`]).
    pub fn publish(
        &mut self,
        signed: SignedManifest,
        image: Vec<u8>,
        now: Timestamp,
    ) -> Result<&Release, PublishError> {
        let release = self.catalog.publish(signed, image, now)?;
        self.events.push_back(OtaEvent::Published {
            model: release.model().to_owned(),
            version: release.version(),
            at: now,
        });
        Ok(release)
    }

    /// Decodes, verifies and publishes a release (see [`OtaCatalog::publish_encoded`]).
    pub fn publish_encoded(
        &mut self,
        manifest_bytes: &[u8],
        image: Vec<u8>,
        now: Timestamp,
    ) -> Result<&Release, PublishError> {
        let release = self.catalog.publish_encoded(manifest_bytes, image, now)?;
        self.events.push_back(OtaEvent::Published {
            model: release.model().to_owned(),
            version: release.version(),
            at: now,
        });
        Ok(release)
    }

    /// Up to `len` bytes (capped at `max_chunk_bytes`) of a published image from `offset`.
    pub fn image_chunk(
        &self,
        model: &str,
        version: FirmwareVersion,
        offset: u64,
        len: u32,
    ) -> Result<&[u8], ChunkError> {
        let len = len.min(self.config.max_chunk_bytes);
        let offset = offset.saturating_add(u64::from(self.bugs.chunk_off_by_one));
        self.catalog.image_chunk(model, version, offset, len)
    }

    /// Starts rolling `model` `version` out to `percent` % of its devices.
    pub fn start_rollout(
        &mut self,
        model: &str,
        version: FirmwareVersion,
        percent: u8,
        now: Timestamp,
    ) -> Result<RolloutId, RolloutError> {
        self.start(model, version, percent, None, now)
    }

    /// As [`start_rollout`](Self::start_rollout), offering the image only to devices that
    /// already run `min_current` or later (older ones must take an earlier release first).
    pub fn start_rollout_from(
        &mut self,
        model: &str,
        version: FirmwareVersion,
        percent: u8,
        min_current: FirmwareVersion,
        now: Timestamp,
    ) -> Result<RolloutId, RolloutError> {
        self.start(model, version, percent, Some(min_current), now)
    }

    fn start(
        &mut self,
        model: &str,
        version: FirmwareVersion,
        percent: u8,
        min_current: Option<FirmwareVersion>,
        now: Timestamp,
    ) -> Result<RolloutId, RolloutError> {
        if percent > 100 {
            return Err(RolloutError::InvalidPercent(percent));
        }
        if self.catalog.release(model, version).is_none() {
            return Err(RolloutError::UnknownRelease {
                model: model.to_owned(),
                version,
            });
        }
        if let Some(open) = self.open_rollout(model) {
            return Err(RolloutError::AlreadyOpen {
                model: model.to_owned(),
                existing: open,
            });
        }
        if let Some(completed) = self.completed_version(model) {
            if version <= completed {
                return Err(RolloutError::Superseded {
                    model: model.to_owned(),
                    version,
                    completed,
                });
            }
        }
        let id = RolloutId(self.next_rollout);
        self.next_rollout += 1;
        let rollout = Rollout::new(id, model.to_owned(), version, percent, min_current, now);
        self.rollouts.insert(id, rollout);
        self.events.push_back(OtaEvent::RolloutStarted {
            rollout: id,
            percent,
            at: now,
        });
        Ok(id)
    }

    fn rollout_mut(&mut self, id: RolloutId) -> Result<&mut Rollout, RolloutError> {
        self.rollouts
            .get_mut(&id)
            .ok_or(RolloutError::UnknownRollout(id))
    }

    /// Changes the percentage of an open rollout. Raising it only adds devices; lowering
    /// it stops new offers to the devices it removes (their reports still count).
    pub fn set_percent(
        &mut self,
        id: RolloutId,
        percent: u8,
        now: Timestamp,
    ) -> Result<(), RolloutError> {
        if percent > 100 {
            return Err(RolloutError::InvalidPercent(percent));
        }
        let r = self.rollout_mut(id)?;
        if !r.state.is_open() {
            return Err(transition(id, "change the percentage of", &r.state));
        }
        let from = std::mem::replace(&mut r.percent, percent);
        self.events.push_back(OtaEvent::PercentChanged {
            rollout: id,
            from,
            to: percent,
            at: now,
        });
        Ok(())
    }

    /// Pauses an active rollout: no new offers; reports still count.
    pub fn pause(&mut self, id: RolloutId, now: Timestamp) -> Result<(), RolloutError> {
        let r = self.rollout_mut(id)?;
        if r.state != RolloutState::Active {
            return Err(transition(id, "pause", &r.state));
        }
        r.state = RolloutState::Paused;
        self.events.push_back(OtaEvent::Paused {
            rollout: id,
            at: now,
        });
        Ok(())
    }

    /// Resumes a paused or halted rollout. Resuming a halted one opens a new halting
    /// window: only reports from then on count toward the rule.
    pub fn resume(&mut self, id: RolloutId, now: Timestamp) -> Result<(), RolloutError> {
        let r = self.rollout_mut(id)?;
        match r.state {
            RolloutState::Paused => {}
            RolloutState::Halted { .. } => r.new_window(),
            _ => return Err(transition(id, "resume", &r.state)),
        }
        r.state = RolloutState::Active;
        self.events.push_back(OtaEvent::Resumed {
            rollout: id,
            at: now,
        });
        Ok(())
    }

    /// Aborts an open rollout for good: no more offers from it.
    pub fn abort(&mut self, id: RolloutId, now: Timestamp) -> Result<(), RolloutError> {
        let r = self.rollout_mut(id)?;
        if !r.state.is_open() {
            return Err(transition(id, "abort", &r.state));
        }
        r.state = RolloutState::Aborted;
        r.ended_at = Some(now);
        self.events.push_back(OtaEvent::Aborted {
            rollout: id,
            at: now,
        });
        Ok(())
    }

    /// Completes an active rollout at 100 %: the release becomes generally available.
    pub fn complete(&mut self, id: RolloutId, now: Timestamp) -> Result<(), RolloutError> {
        let r = self.rollout_mut(id)?;
        if r.state != RolloutState::Active {
            return Err(transition(id, "complete", &r.state));
        }
        if r.percent < 100 {
            return Err(RolloutError::NotAtFullPercent {
                rollout: id,
                percent: r.percent,
            });
        }
        r.state = RolloutState::Completed;
        r.ended_at = Some(now);
        self.events.push_back(OtaEvent::Completed {
            rollout: id,
            at: now,
        });
        Ok(())
    }

    /// The open rollout of `model`, if any.
    pub fn open_rollout(&self, model: &str) -> Option<RolloutId> {
        self.rollouts
            .values()
            .find(|r| r.model == model && r.state.is_open())
            .map(|r| r.id)
    }

    /// The newest completed rollout of `model`.
    fn completed(&self, model: &str) -> Option<&Rollout> {
        self.rollouts
            .values()
            .filter(|r| r.model == model && r.state == RolloutState::Completed)
            .max_by_key(|r| r.version)
    }

    fn completed_version(&self, model: &str) -> Option<FirmwareVersion> {
        self.completed(model).map(|r| r.version)
    }

    /// What a device of `model` running `current` should install, if anything.
    ///
    /// The model's active rollout offers its image to devices in its percentage running
    /// an older version (and at least its `min_current`); otherwise the newest completed
    /// rollout offers its image to every device running an older version. Paused, halted
    /// and aborted rollouts offer nothing. Invalid ids and unknown models get nothing.
    pub fn offer(
        &mut self,
        device_id: &str,
        model: &str,
        current: FirmwareVersion,
        now: Timestamp,
    ) -> Option<Offer> {
        if device_id.is_empty() || device_id.len() > MAX_DEVICE_ID_LEN || !valid_model(model) {
            return None;
        }
        let wants = |r: &Rollout| current < r.version && r.min_current.is_none_or(|m| current >= m);
        let mut chosen = None;
        if let Some(id) = self.open_rollout(model) {
            let r = &self.rollouts[&id];
            if r.state == RolloutState::Active && r.includes(device_id) {
                let offered = wants(r);
                if offered {
                    chosen = Some(id);
                }
                // Safe: `id` came from the map above.
                if let Some(r) = self.rollouts.get_mut(&id) {
                    r.note_check(device_id, offered, now);
                }
            }
        }
        if chosen.is_none() {
            if let Some(r) = self.completed(model) {
                let id = r.id;
                let offered = wants(r);
                if offered {
                    chosen = Some(id);
                }
                if let Some(r) = self.rollouts.get_mut(&id) {
                    r.note_check(device_id, offered, now);
                }
            }
        }
        let r = &self.rollouts[&chosen?];
        let release = self.catalog.release(&r.model, r.version)?;
        Some(Offer {
            rollout: r.id,
            model: r.model.clone(),
            version: r.version,
            manifest: release.manifest().clone(),
            image_size: release.image().len() as u64,
            max_chunk_bytes: self.config.max_chunk_bytes,
        })
    }

    /// Records a device's install result for `version`; returns the rollout it counted in.
    ///
    /// Only a device that was offered `version` may report on it. A device's latest
    /// report replaces its earlier one in the counters. May halt the rollout (see
    /// [`HaltPolicy`]), which records a [`HaltAlert`] and emits [`OtaEvent::Halted`].
    pub fn report(
        &mut self,
        device_id: &str,
        version: FirmwareVersion,
        result: InstallResult,
        now: Timestamp,
    ) -> Result<RolloutId, ReportError> {
        let not_offered = || ReportError::NotOffered {
            device: device_id.chars().take(MAX_DEVICE_ID_LEN).collect(),
            version,
        };
        let policy = self.config.halt;
        let rollout = self
            .rollouts
            .values_mut()
            .rev()
            .find(|r| r.version == version && r.was_offered(device_id))
            .ok_or_else(not_offered)?;
        let id = rollout.id;
        if let Some(alert) = rollout.apply_report(device_id, result, now, &policy) {
            self.alerts.push(alert.clone());
            self.events.push_back(OtaEvent::Halted(alert));
        }
        Ok(id)
    }

    /// The status of rollout `id`.
    pub fn status(&self, id: RolloutId) -> Option<RolloutStatus> {
        self.rollouts.get(&id).map(Rollout::status)
    }

    /// Every rollout's status, oldest first.
    pub fn rollouts(&self) -> Vec<RolloutStatus> {
        self.rollouts.values().map(Rollout::status).collect()
    }

    /// Every halt alert recorded, oldest first.
    pub fn alerts(&self) -> &[HaltAlert] {
        &self.alerts
    }

    /// The next event, oldest first.
    pub fn poll_event(&mut self) -> Option<OtaEvent> {
        self.events.pop_front()
    }
}

fn transition(rollout: RolloutId, action: &'static str, state: &RolloutState) -> RolloutError {
    RolloutError::InvalidTransition {
        rollout,
        action,
        state: state.name(),
    }
}

#[cfg(test)]
mod tests;
