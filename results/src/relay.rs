//! The video relay's counters.

use serde::{Deserialize, Serialize};

/// Counters of one relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayStats {
    /// Frames received from cameras.
    pub frames_in: u64,
    /// Bytes received from cameras.
    pub bytes_in: u64,
    /// Frames handed to viewers.
    pub frames_out: u64,
    /// Bytes handed to viewers.
    pub bytes_out: u64,
    /// Frames dropped because a viewer's queue was full (GOP skipped).
    pub dropped_overflow: u64,
    /// Frames dropped because they waited longer than `max_age`.
    pub dropped_expired: u64,
    /// Frames skipped while a viewer waited for a keyframe.
    pub skipped_to_keyframe: u64,
    /// Frames queued now, summed over viewers (a frame queued for two viewers counts twice).
    pub queued_frames: u64,
    /// Bytes queued now, summed over viewers (shared frames count once per viewer).
    pub queued_bytes: u64,
    /// The most bytes ever queued at once, summed over viewers.
    pub peak_queued_bytes: u64,
    /// The longest any frame waited between arriving and being handed to a viewer, µs.
    pub max_held_us: u64,
}

/// What a relay host counted, beyond the core's [`RelayStats`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RelayServiceStats {
    /// Connections admitted, by role.
    pub admitted_cameras: u64,
    /// Viewers admitted.
    pub admitted_viewers: u64,
    /// Connections refused at admission or for a bad frame.
    pub refused: u64,
    /// The core's counters.
    pub core: RelayStats,
    /// Longest a frame waited in a viewer queue, seen at any poll (µs).
    pub max_held_us: u64,
    /// Accepts that failed (out of descriptors, aborted) and were retried.
    pub accept_errors: u64,
}

impl RelayServiceStats {
    /// Adds another relay's counters to these (the longest hold is the maximum).
    pub fn add(&mut self, o: &RelayServiceStats) {
        self.admitted_cameras += o.admitted_cameras;
        self.admitted_viewers += o.admitted_viewers;
        self.refused += o.refused;
        self.accept_errors += o.accept_errors;
        self.max_held_us = self.max_held_us.max(o.max_held_us);
        let (c, oc) = (&mut self.core, &o.core);
        c.frames_in += oc.frames_in;
        c.bytes_in += oc.bytes_in;
        c.frames_out += oc.frames_out;
        c.bytes_out += oc.bytes_out;
        c.dropped_overflow += oc.dropped_overflow;
        c.dropped_expired += oc.dropped_expired;
        c.skipped_to_keyframe += oc.skipped_to_keyframe;
        c.queued_frames += oc.queued_frames;
        c.queued_bytes += oc.queued_bytes;
        c.peak_queued_bytes = c.peak_queued_bytes.max(oc.peak_queued_bytes);
    }
}
