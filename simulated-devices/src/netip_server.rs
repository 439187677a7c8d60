//! The simulated camera's NETIP/DVRIP LAN server (being written).
