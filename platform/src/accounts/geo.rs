//! Regions (where data lives) and places on the globe (where logins come from).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One of the platform's four regions; an account's data lives only in its home region.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    /// Mainland China (`cn`).
    Cn,
    /// North and South America (`americas`).
    Americas,
    /// Europe and Africa (`eu-africa`).
    EuAfrica,
    /// Asia-Pacific (`apac`).
    Apac,
}

impl Region {
    /// Every region, in a fixed order.
    pub const ALL: [Region; 4] = [Region::Cn, Region::Americas, Region::EuAfrica, Region::Apac];

    /// The region's short name (`cn`, `americas`, `eu-africa`, `apac`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Region::Cn => "cn",
            Region::Americas => "americas",
            Region::EuAfrica => "eu-africa",
            Region::Apac => "apac",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A region name that is not one of `cn`, `americas`, `eu-africa`, `apac`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region {0:?}: expected one of cn, americas, eu-africa, apac")]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRegion(s.to_owned()))
    }
}

/// A point on the globe in degrees (as a geo-IP lookup would give it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Latitude in degrees, north positive.
    pub lat: f64,
    /// Longitude in degrees, east positive.
    pub lon: f64,
}

/// Mean Earth radius in kilometres (IUGG).
const EARTH_RADIUS_KM: f64 = 6371.0088;

impl GeoPoint {
    /// A point at `lat`, `lon` degrees.
    pub const fn new(lat: f64, lon: f64) -> Self {
        GeoPoint { lat, lon }
    }

    /// Great-circle distance to `other` in kilometres (haversine formula).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.lon - self.lon).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names_round_trip() {
        for r in Region::ALL {
            assert_eq!(r.as_str().parse::<Region>(), Ok(r));
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        let err = "europe".parse::<Region>().unwrap_err();
        assert!(err.to_string().contains("eu-africa"), "{err}");
    }

    #[test]
    fn haversine_matches_known_distances() {
        let paris = GeoPoint::new(48.8566, 2.3522);
        let london = GeoPoint::new(51.5074, -0.1278);
        let sydney = GeoPoint::new(-33.8688, 151.2093);
        let d = paris.distance_km(&london);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        let d = paris.distance_km(&sydney);
        assert!((d - 16_960.0).abs() < 30.0, "{d}");
        assert_eq!(paris.distance_km(&paris), 0.0);
    }
}
