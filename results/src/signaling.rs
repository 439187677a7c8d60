//! The region services' counters: signaling and the replicated store.

use serde::{Deserialize, Serialize};

/// What the region's signaling counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SignalingStats {
    /// Sign-ins that succeeded.
    pub logins: u64,
    /// Sign-ins refused (any reason but "second factor required").
    pub logins_refused: u64,
    /// Sign-ins that asked for the second factor.
    pub second_factor_asked: u64,
    /// Authorization codes issued.
    pub codes_issued: u64,
    /// Requests refused because the device is not the caller's (or does not exist).
    pub not_found: u64,
    /// Signals refused for a bad, spent, expired or mismatched code.
    pub unauthorized: u64,
    /// Commands forwarded to a device.
    pub forwarded: u64,
    /// Command results returned to an app.
    pub answered: u64,
    /// Commands the device did not answer in time.
    pub timeouts: u64,
    /// Live views granted.
    pub live_views: u64,
    /// Accounts erased.
    pub erasures: u64,
    /// Writes for the store dropped unwritten because its queue was full (the store
    /// could not keep up or had no quorum for that long). Absent from the result
    /// document when zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub writes_dropped: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SignalingStats {
    /// Adds another region's counters to these.
    pub fn add(&mut self, o: &SignalingStats) {
        self.logins += o.logins;
        self.erasures += o.erasures;
        self.logins_refused += o.logins_refused;
        self.second_factor_asked += o.second_factor_asked;
        self.codes_issued += o.codes_issued;
        self.not_found += o.not_found;
        self.unauthorized += o.unauthorized;
        self.forwarded += o.forwarded;
        self.answered += o.answered;
        self.timeouts += o.timeouts;
        self.live_views += o.live_views;
        self.writes_dropped += o.writes_dropped;
    }
}

/// What the replicated store did for a region's services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoreStats {
    /// Records acknowledged (held by a majority of the region's zones).
    pub writes_acked: u64,
    /// Log entries that carried them (one batch per writer round).
    pub batches_acked: u64,
    /// Batches that failed (no leader reachable, indeterminate); retried later.
    pub writes_failed: u64,
    /// Leaders elected, over all regions.
    pub leaders: u64,
    /// Invariant violations: "one leader per term", "no acknowledged write lost".
    pub violations: Vec<String>,
    /// Records of the batch being written now (neither queued nor acknowledged): what a
    /// store that stops at this instant would leave unstored besides the queue.
    #[serde(skip)]
    pub in_flight: u64,
}
