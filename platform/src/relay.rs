//! The video relay core: fan-out of end-to-end sealed frames, without the key.
//!
//! [`Relay`] reads only each frame's authenticated header (stream, sequence, keyframe
//! flag) and forwards the sealed bytes unchanged; it holds no pairing secret and cannot
//! decrypt. Each viewer has a bounded queue; a viewer that falls behind loses the rest of
//! the current group of pictures and resumes at the next keyframe (a partial GOP cannot
//! be decoded anyway). Nothing stays queued longer than `max_age`, and frame buffers are
//! zeroed when the last viewer releases them.
//!
//! Pure and deterministic: time comes in as `now`; the network driver lives elsewhere.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use camproof_protocol::video::{VideoError, VideoHeader};
use camproof_protocol::Timestamp;
use thiserror::Error;

/// Relay limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Longest a frame may wait in a queue.
    pub max_age: Duration,
    /// Most frames queued for one viewer.
    pub max_queue_frames: usize,
    /// Most bytes queued for one viewer.
    pub max_queue_bytes: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            max_age: Duration::from_secs(3),
            max_queue_frames: 256,
            max_queue_bytes: 8 * 1024 * 1024,
        }
    }
}

/// A sealed frame as the relay holds it: shared by every viewer queue it is in, and
/// zeroed when the last one releases it.
#[derive(Debug)]
pub struct SealedFrame {
    bytes: Vec<u8>,
    header: VideoHeader,
    arrived: Timestamp,
}

impl SealedFrame {
    /// The sealed bytes, exactly as the camera sent them.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The authenticated header the relay routed by.
    pub fn header(&self) -> &VideoHeader {
        &self.header
    }

    /// When the relay received it.
    pub fn arrived(&self) -> Timestamp {
        self.arrived
    }
}

impl Drop for SealedFrame {
    fn drop(&mut self) {
        // Ciphertext only, but the relay promises not to leave media in freed memory.
        zeroize::Zeroize::zeroize(&mut self.bytes);
    }
}

/// Names one viewer subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ViewerId(u64);

/// Why the relay refused something.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The frame's header does not parse.
    #[error("malformed frame: {0}")]
    Malformed(#[from] VideoError),
    /// No such viewer.
    #[error("unknown viewer {0:?}")]
    UnknownViewer(ViewerId),
}

/// Counters of one relay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

#[derive(Debug)]
struct ViewerQueue {
    stream_id: u32,
    frames: VecDeque<Rc<SealedFrame>>,
    bytes: usize,
    awaiting_keyframe: bool,
}

/// The relay's state: streams, viewers and their queues.
#[derive(Debug)]
pub struct Relay {
    config: RelayConfig,
    viewers: BTreeMap<ViewerId, ViewerQueue>,
    by_stream: BTreeMap<u32, Vec<ViewerId>>,
    next_viewer: u64,
    stats: RelayStats,
}

impl Relay {
    /// An empty relay.
    pub fn new(config: RelayConfig) -> Self {
        Relay {
            config,
            viewers: BTreeMap::new(),
            by_stream: BTreeMap::new(),
            next_viewer: 0,
            stats: RelayStats::default(),
        }
    }

    /// Subscribes a new viewer to `stream_id`; its first frame will be a keyframe.
    pub fn subscribe(&mut self, stream_id: u32) -> ViewerId {
        let id = ViewerId(self.next_viewer);
        self.next_viewer += 1;
        self.viewers.insert(
            id,
            ViewerQueue {
                stream_id,
                frames: VecDeque::new(),
                bytes: 0,
                awaiting_keyframe: true,
            },
        );
        self.by_stream.entry(stream_id).or_default().push(id);
        id
    }

    /// Ends a subscription and releases its queue.
    pub fn unsubscribe(&mut self, viewer: ViewerId) -> Result<(), RelayError> {
        let queue = self
            .viewers
            .remove(&viewer)
            .ok_or(RelayError::UnknownViewer(viewer))?;
        if let Some(list) = self.by_stream.get_mut(&queue.stream_id) {
            list.retain(|v| *v != viewer);
            if list.is_empty() {
                self.by_stream.remove(&queue.stream_id);
            }
        }
        Ok(())
    }

    /// Takes one sealed frame from a camera and queues it for the stream's viewers.
    /// Returns the header it routed by.
    pub fn handle_frame(
        &mut self,
        now: Timestamp,
        bytes: Vec<u8>,
    ) -> Result<VideoHeader, RelayError> {
        let (header, _) = VideoHeader::parse(&bytes)?;
        self.stats.frames_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        let Some(viewers) = self.by_stream.get(&header.stream_id) else {
            return Ok(header);
        };
        let len = bytes.len();
        let frame = Rc::new(SealedFrame {
            bytes,
            header,
            arrived: now,
        });
        for id in viewers {
            let Some(q) = self.viewers.get_mut(id) else {
                continue;
            };
            if q.awaiting_keyframe {
                if !header.keyframe {
                    self.stats.skipped_to_keyframe += 1;
                    continue;
                }
                q.awaiting_keyframe = false;
            }
            let full = q.frames.len() >= self.config.max_queue_frames
                || q.bytes + len > self.config.max_queue_bytes;
            if full {
                // Skip the rest of this GOP: drop the queue and wait for a keyframe.
                self.stats.dropped_overflow += q.frames.len() as u64 + 1;
                q.frames.clear();
                q.bytes = 0;
                q.awaiting_keyframe = !header.keyframe;
                if !header.keyframe {
                    continue;
                }
            }
            q.bytes += len;
            q.frames.push_back(frame.clone());
        }
        Ok(header)
    }

    /// The next frame for `viewer`, dropping any that waited longer than `max_age`.
    pub fn poll_frame(
        &mut self,
        viewer: ViewerId,
        now: Timestamp,
    ) -> Result<Option<Rc<SealedFrame>>, RelayError> {
        self.expire_viewer(viewer, now)?;
        let q = self
            .viewers
            .get_mut(&viewer)
            .ok_or(RelayError::UnknownViewer(viewer))?;
        let frame = q.frames.pop_front();
        if let Some(f) = &frame {
            q.bytes -= f.bytes.len();
            self.stats.frames_out += 1;
            self.stats.bytes_out += f.bytes.len() as u64;
        }
        Ok(frame)
    }

    fn expire_viewer(&mut self, viewer: ViewerId, now: Timestamp) -> Result<(), RelayError> {
        let max_age = self.config.max_age;
        let q = self
            .viewers
            .get_mut(&viewer)
            .ok_or(RelayError::UnknownViewer(viewer))?;
        while let Some(front) = q.frames.front() {
            if now.saturating_since(front.arrived) <= max_age {
                break;
            }
            q.bytes -= front.bytes.len();
            q.frames.pop_front();
            self.stats.dropped_expired += 1;
        }
        Ok(())
    }

    /// Drops every queued frame older than `max_age`, for all viewers.
    pub fn expire(&mut self, now: Timestamp) {
        let ids: Vec<ViewerId> = self.viewers.keys().copied().collect();
        for id in ids {
            let _ = self.expire_viewer(id, now);
        }
    }

    /// How long the oldest queued frame has waited (for the "no frame held longer than
    /// the limit" invariant), or `None` when nothing is queued.
    pub fn oldest_age(&self, now: Timestamp) -> Option<Duration> {
        self.viewers
            .values()
            .filter_map(|q| q.frames.front())
            .map(|f| now.saturating_since(f.arrived))
            .max()
    }

    /// Frames queued for `viewer`.
    pub fn queued(&self, viewer: ViewerId) -> usize {
        self.viewers.get(&viewer).map_or(0, |q| q.frames.len())
    }

    /// The counters.
    pub fn stats(&self) -> RelayStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camproof_protocol::video::{Codec, FrameOpener, FrameSealer, PairingSecret};

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_micros(1_800_000_000_000_000 + ms * 1000)
    }

    fn camera() -> (FrameSealer, PairingSecret) {
        let secret = PairingSecret::from_bytes([3; 32]);
        (FrameSealer::new(&secret, 9, 1), secret)
    }

    fn frame(sealer: &mut FrameSealer, at: Timestamp, keyframe: bool, len: usize) -> Vec<u8> {
        sealer
            .seal(at, keyframe, Codec::H264, &vec![0x42; len])
            .expect("seal")
    }

    /// Frames reach every viewer of their stream unchanged, and the viewer (holding the
    /// pairing secret the relay never had) opens them.
    #[test]
    fn fans_out_sealed_frames_unchanged() {
        let (mut cam, secret) = camera();
        let mut relay = Relay::new(RelayConfig::default());
        let a = relay.subscribe(9);
        let b = relay.subscribe(9);
        let other = relay.subscribe(10);
        let mut sent = Vec::new();
        for i in 0..5 {
            let f = frame(&mut cam, t(i * 40), i == 0, 1000);
            sent.push(f.clone());
            relay.handle_frame(t(i * 40), f).unwrap();
        }
        for v in [a, b] {
            let mut opener = FrameOpener::new(&secret, 9, 1);
            for s in &sent {
                let got = relay.poll_frame(v, t(200)).unwrap().expect("frame");
                assert_eq!(got.bytes(), &s[..]);
                opener.open(got.bytes()).expect("authentic");
            }
            assert!(relay.poll_frame(v, t(200)).unwrap().is_none());
        }
        assert_eq!(relay.queued(other), 0);
        assert_eq!(relay.stats().frames_in, 5);
        assert_eq!(relay.stats().frames_out, 10);
    }

    /// A new viewer starts at a keyframe, never mid-GOP.
    #[test]
    fn viewers_join_at_a_keyframe() {
        let (mut cam, _) = camera();
        let mut relay = Relay::new(RelayConfig::default());
        relay
            .handle_frame(t(0), frame(&mut cam, t(0), true, 10))
            .unwrap();
        let v = relay.subscribe(9);
        relay
            .handle_frame(t(40), frame(&mut cam, t(40), false, 10))
            .unwrap();
        relay
            .handle_frame(t(80), frame(&mut cam, t(80), false, 10))
            .unwrap();
        assert_eq!(relay.queued(v), 0);
        relay
            .handle_frame(t(120), frame(&mut cam, t(120), true, 10))
            .unwrap();
        let first = relay.poll_frame(v, t(120)).unwrap().expect("keyframe");
        assert!(first.header().keyframe);
        assert_eq!(relay.stats().skipped_to_keyframe, 2);
    }

    /// A slow viewer's queue stays bounded: on overflow it skips to the next keyframe.
    #[test]
    fn slow_viewer_queue_is_bounded() {
        let (mut cam, _) = camera();
        let config = RelayConfig {
            max_queue_frames: 4,
            ..RelayConfig::default()
        };
        let mut relay = Relay::new(config);
        let v = relay.subscribe(9);
        for i in 0..20u64 {
            relay
                .handle_frame(t(i), frame(&mut cam, t(i), i % 10 == 0, 100))
                .unwrap();
            assert!(relay.queued(v) <= 4);
        }
        // Frames 0-3 queue; frame 4 overflows: the queue and frame 4 are dropped (5) and
        // 5-9 skipped until keyframe 10; the same again at 14 (5 dropped, 15-19 skipped).
        assert_eq!(relay.stats().dropped_overflow, 10);
        assert_eq!(relay.stats().skipped_to_keyframe, 10);
        assert_eq!(relay.queued(v), 0);
        relay
            .handle_frame(t(20), frame(&mut cam, t(20), true, 100))
            .unwrap();
        let first = relay.poll_frame(v, t(20)).unwrap().expect("frame");
        assert!(first.header().keyframe);
        assert_eq!(first.header().seq, 20);
    }

    /// No frame waits longer than `max_age`; the oldest age is observable for checkers.
    #[test]
    fn frames_expire_after_max_age() {
        let (mut cam, _) = camera();
        let mut relay = Relay::new(RelayConfig {
            max_age: Duration::from_secs(2),
            ..RelayConfig::default()
        });
        let v = relay.subscribe(9);
        relay
            .handle_frame(t(0), frame(&mut cam, t(0), true, 10))
            .unwrap();
        relay
            .handle_frame(t(1500), frame(&mut cam, t(1500), false, 10))
            .unwrap();
        assert_eq!(relay.oldest_age(t(1900)), Some(Duration::from_millis(1900)));
        relay.expire(t(2100));
        assert_eq!(relay.queued(v), 1);
        assert_eq!(relay.oldest_age(t(2100)), Some(Duration::from_millis(600)));
        assert!(relay.poll_frame(v, t(3600)).unwrap().is_none());
        assert_eq!(relay.stats().dropped_expired, 2);
        assert_eq!(relay.oldest_age(t(3600)), None);
    }

    /// The relay refuses what it cannot route and unknown viewers.
    #[test]
    fn malformed_frames_and_unknown_viewers_refused() {
        let mut relay = Relay::new(RelayConfig::default());
        assert!(matches!(
            relay.handle_frame(t(0), vec![1, 2, 3]),
            Err(RelayError::Malformed(_))
        ));
        let v = relay.subscribe(1);
        relay.unsubscribe(v).unwrap();
        assert_eq!(relay.unsubscribe(v), Err(RelayError::UnknownViewer(v)));
        assert!(relay.poll_frame(v, t(0)).is_err());
    }
}
