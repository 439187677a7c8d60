//! The DUT description: what a device declares about itself (like Matter's PICS), so
//! only the relevant cases run and skipped ones say why.
//!
//! Two stages, as for scenarios: [`DutFile`] mirrors the TOML, [`DutDescription::parse`]
//! validates it into a [`DutDescription`] with precise errors. Secrets do not belong in
//! the file: the NETIP password comes from `CAMPROOF_DUT_PASSWORD` (or, for simulated
//! profiles, from the profile) and never reaches a report.

use serde::Deserialize;
use thiserror::Error;

/// A capability a DUT may declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Feature {
    /// Connects to the platform over CDP/1.
    Cloud,
    /// Resumes sessions with tickets.
    Resumption,
    /// Streams end-to-end sealed video over its CDP/1 session.
    Video,
    /// Follows fallback endpoints the platform assigns.
    Fallback,
    /// Answers NETIP/DVRIP on its LAN port.
    Netip,
    /// Accepts firmware over NETIP 1520/1522, signed by the certification vendor key.
    OtaNetip,
}

impl Feature {
    /// The key in the `[features]` table.
    pub fn key(self) -> &'static str {
        match self {
            Feature::Cloud => "cloud",
            Feature::Resumption => "resumption",
            Feature::Video => "video",
            Feature::Fallback => "fallback_endpoints",
            Feature::Netip => "netip",
            Feature::OtaNetip => "ota_netip",
        }
    }
}

/// Why a DUT description is unusable.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DutError {
    /// The TOML does not parse or has unknown keys.
    #[error("DUT description: {0}")]
    Toml(#[from] toml::de::Error),
    /// A value is out of range.
    #[error("DUT description: {field}: {reason}")]
    Invalid {
        /// The offending key.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// The file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutFile {
    /// Identity.
    pub dut: DutIdentityFile,
    /// Declared features.
    #[serde(default)]
    pub features: FeaturesFile,
    /// Cloud protocol parameters.
    #[serde(default)]
    pub cloud: CloudFile,
    /// NETIP parameters.
    #[serde(default)]
    pub netip: NetipFile,
}

/// `[dut]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DutIdentityFile {
    /// Product name.
    pub name: String,
    /// Vendor.
    pub vendor: String,
    /// Model, as firmware manifests name it.
    pub model: String,
    /// Firmware version as the vendor states it.
    pub firmware_version: String,
    /// Path of the firmware image, hashed into the report (optional).
    #[serde(default)]
    pub firmware_image: Option<String>,
}

/// `[features]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesFile {
    /// See [`Feature::Cloud`].
    #[serde(default = "yes")]
    pub cloud: bool,
    /// See [`Feature::Resumption`].
    #[serde(default = "yes")]
    pub resumption: bool,
    /// See [`Feature::Video`].
    #[serde(default = "yes")]
    pub video: bool,
    /// See [`Feature::Fallback`].
    #[serde(default = "yes")]
    pub fallback_endpoints: bool,
    /// See [`Feature::Netip`].
    #[serde(default = "yes")]
    pub netip: bool,
    /// See [`Feature::OtaNetip`].
    #[serde(default = "yes")]
    pub ota_netip: bool,
}

fn yes() -> bool {
    true
}

impl Default for FeaturesFile {
    fn default() -> Self {
        FeaturesFile {
            cloud: true,
            resumption: true,
            video: true,
            fallback_endpoints: true,
            netip: true,
            ota_netip: true,
        }
    }
}

/// `[cloud]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudFile {
    /// Records the device sends under one key before its own key update.
    #[serde(default = "default_rekey")]
    pub rekey_after_records: u64,
    /// Most frames between two keyframes.
    #[serde(default = "default_keyframe")]
    pub keyframe_interval: u32,
}

fn default_rekey() -> u64 {
    100_000
}

fn default_keyframe() -> u32 {
    50
}

impl Default for CloudFile {
    fn default() -> Self {
        CloudFile {
            rekey_after_records: default_rekey(),
            keyframe_interval: default_keyframe(),
        }
    }
}

/// `[netip]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetipFile {
    /// TCP port of the NETIP service.
    #[serde(default = "default_port")]
    pub port: u16,
    /// The administrator account.
    #[serde(default = "default_user")]
    pub admin_user: String,
}

fn default_port() -> u16 {
    34567
}

fn default_user() -> String {
    "admin".into()
}

impl Default for NetipFile {
    fn default() -> Self {
        NetipFile {
            port: default_port(),
            admin_user: default_user(),
        }
    }
}

/// A validated DUT description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DutDescription {
    /// Product name.
    pub name: String,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Firmware version as stated.
    pub firmware_version: String,
    /// Firmware image path, if given.
    pub firmware_image: Option<String>,
    /// Declared features.
    pub features: Vec<Feature>,
    /// Declared own rekey interval, in records.
    pub rekey_after_records: u64,
    /// Declared largest keyframe interval, in frames.
    pub keyframe_interval: u32,
    /// NETIP port.
    pub netip_port: u16,
    /// NETIP administrator account.
    pub admin_user: String,
}

impl DutDescription {
    /// Parses and validates a description.
    pub fn parse(text: &str) -> Result<Self, DutError> {
        let file: DutFile = toml::from_str(text)?;
        let nonempty = |field: &'static str, v: &str| {
            if v.trim().is_empty() || v.len() > 128 {
                Err(DutError::Invalid {
                    field,
                    reason: "must be 1 to 128 characters".into(),
                })
            } else {
                Ok(())
            }
        };
        nonempty("dut.name", &file.dut.name)?;
        nonempty("dut.vendor", &file.dut.vendor)?;
        nonempty("dut.model", &file.dut.model)?;
        nonempty("dut.firmware_version", &file.dut.firmware_version)?;
        nonempty("netip.admin_user", &file.netip.admin_user)?;
        if file.cloud.rekey_after_records == 0 {
            return Err(DutError::Invalid {
                field: "cloud.rekey_after_records",
                reason: "must be at least 1".into(),
            });
        }
        if file.cloud.keyframe_interval == 0 || file.cloud.keyframe_interval > 1000 {
            return Err(DutError::Invalid {
                field: "cloud.keyframe_interval",
                reason: "must be 1 to 1000 frames".into(),
            });
        }
        let f = &file.features;
        let features = [
            (f.cloud, Feature::Cloud),
            (f.resumption, Feature::Resumption),
            (f.video, Feature::Video),
            (f.fallback_endpoints, Feature::Fallback),
            (f.netip, Feature::Netip),
            (f.ota_netip, Feature::OtaNetip),
        ]
        .into_iter()
        .filter_map(|(on, feat)| on.then_some(feat))
        .collect();
        Ok(DutDescription {
            name: file.dut.name,
            vendor: file.dut.vendor,
            model: file.dut.model,
            firmware_version: file.dut.firmware_version,
            firmware_image: file.dut.firmware_image,
            features,
            rekey_after_records: file.cloud.rekey_after_records,
            keyframe_interval: file.cloud.keyframe_interval,
            netip_port: file.netip.port,
            admin_user: file.netip.admin_user,
        })
    }

    /// The description of camproof's simulated camera (every profile shares it: a
    /// flawed firmware claims to be the reference one).
    pub fn simulated() -> Self {
        DutDescription {
            name: "camproof simulated camera".into(),
            vendor: "camproof".into(),
            model: crate::profiles::SIM_MODEL.into(),
            firmware_version: "1.0.0".into(),
            firmware_image: None,
            features: vec![
                Feature::Cloud,
                Feature::Resumption,
                Feature::Video,
                Feature::Fallback,
                Feature::Netip,
                Feature::OtaNetip,
            ],
            rekey_after_records: crate::profiles::SIM_REKEY_AFTER,
            keyframe_interval: crate::profiles::SIM_GOP,
            netip_port: 34567,
            admin_user: "admin".into(),
        }
    }

    /// Whether the DUT declares `feature`.
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(&feature)
    }

    /// Why a case needing `needs` does not apply, if it does not.
    pub fn skip_reason(&self, needs: &[Feature]) -> Option<String> {
        needs
            .iter()
            .find(|f| !self.has(**f))
            .map(|f| format!("the DUT description declares feature `{}` = false", f.key()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_example_and_reports_bad_fields() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/duts/camproof-camera.toml"
        ))
        .unwrap();
        let d = DutDescription::parse(&text).unwrap();
        assert!(d.has(Feature::Cloud) && d.has(Feature::OtaNetip));
        assert_eq!(d.skip_reason(&[Feature::Cloud]), None);

        let no_ota = text.replace("ota_netip = true", "ota_netip = false");
        let d = DutDescription::parse(&no_ota).unwrap();
        assert_eq!(
            d.skip_reason(&[Feature::Netip, Feature::OtaNetip]).unwrap(),
            "the DUT description declares feature `ota_netip` = false"
        );

        let err = DutDescription::parse("[dut]\nname = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("missing field"), "{err}");
        let err =
            DutDescription::parse(&text.replace("[cloud]", "[cloud]\nbogus = 1")).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let err =
            DutDescription::parse(&text.replace("keyframe_interval = 25", "keyframe_interval = 0"))
                .unwrap_err();
        assert!(err.to_string().contains("cloud.keyframe_interval"), "{err}");
    }
}
