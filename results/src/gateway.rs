//! The device gateway's counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a gateway counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewayStats {
    /// Connections accepted.
    pub connections: u64,
    /// Full handshakes completed.
    pub handshakes: u64,
    /// Resumed handshakes completed.
    pub resumptions: u64,
    /// Connections that failed, by error kind.
    pub failures: BTreeMap<String, u64>,
    /// Heartbeats answered.
    pub heartbeats: u64,
    /// Video frames received.
    pub video_frames: u64,
    /// Video bytes received (sealed frames).
    pub video_bytes: u64,
    /// Camera-to-gateway latency of each frame, in microseconds (capture time to arrival).
    #[serde(skip)]
    pub frame_latency_us: crate::Latencies,
    /// Devices connected right now, by certificate subject.
    #[serde(skip)]
    pub online: BTreeMap<String, u64>,
    /// App sessions established.
    pub app_sessions: u64,
    /// Connections closed at accept because a connection cap was reached.
    pub refused: u64,
    /// Accepts that failed (out of descriptors, aborted) and were retried.
    pub accept_errors: u64,
}
