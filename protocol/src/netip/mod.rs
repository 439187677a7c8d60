//! NETIP / DVRIP / "Sofia" LAN protocol codec (being written).
