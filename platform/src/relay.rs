//! The video relay core: fan-out of end-to-end sealed frames, without the key.
//!
//! [`Relay`] reads only each frame's authenticated header (stream, sequence, keyframe
//! flag) and forwards the sealed bytes unchanged; it holds no pairing secret and cannot
//! decrypt. Each viewer has a bounded queue; a viewer that falls behind loses the rest of
//! the current group of pictures and resumes at the next keyframe (a partial GOP cannot
//! be decoded anyway). Nothing stays queued longer than `max_age`, and frame buffers are
//! zeroed when the last viewer releases them.
//!
//! - [`SealedFrame`]: one frame as the relay holds it: [`Bytes`] parts shared by every
//!   viewer queue (never copied per viewer), zeroed when the last reference goes.
//! - [`Deframer`]: cuts frames out of a camera's byte stream, read by read, without
//!   copying a frame's body even when it spans reads.
//!
//! How a connection opens (hello, status byte, ready) is a wire format of its own, in
//! [`camproof_protocol::relay`].
//!
//! Pure and deterministic: time comes in as `now`; the socket driver,
//! [`relay_net`](crate::relay_net), is a thin loop around this core, and the simulator and
//! the real relay count frames, bytes and queue depth with this one implementation.
//!
//! ```
//! use camproof_platform::relay::{Relay, RelayConfig};
//! use camproof_protocol::video::{Codec, FrameSealer, PairingSecret};
//! use camproof_protocol::Timestamp;
//!
//! let mut camera = FrameSealer::new(&PairingSecret::from_bytes([1; 32]), 7, 1);
//! let mut relay = Relay::new(RelayConfig::default());
//! let viewer = relay.subscribe(7);
//! let now = Timestamp::from_secs(1_800_000_000);
//! relay.handle_frame(now, camera.seal(now, true, Codec::H264, b"IDR")?)?;
//! let frame = relay.poll_frame(viewer, now)?.expect("queued");
//! assert!(frame.header().keyframe);
//! assert_eq!(relay.stats().queued_frames, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use camproof_protocol::video::{VideoError, VideoHeader, HEADER_LEN};
use camproof_protocol::Timestamp;
pub use camproof_results::RelayStats;
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

/// An owned buffer that is zeroed when dropped: the owner behind a [`Bytes`] made from a
/// `Vec` (see [`SealedFrame::from_vec`]).
#[derive(Debug)]
struct ZeroOnDrop(Vec<u8>);

impl AsRef<[u8]> for ZeroOnDrop {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ZeroOnDrop {
    fn drop(&mut self) {
        // Ciphertext only, but the relay promises not to leave media in freed memory.
        wipe(&mut self.0);
    }
}

/// Zeroes `buf` at memset speed and keeps the compiler from eliding it.
///
/// `zeroize` writes byte by byte through volatile stores (measured: 17% of the relay's
/// CPU on 64 KiB buffers); a plain fill that the optimiser must assume is observed does
/// the same job for ciphertext buffers.
pub fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(buf);
}

/// `bytes` as [`Bytes`] whose memory is zeroed when the last reference is dropped.
pub fn zeroizing_bytes(bytes: Vec<u8>) -> Bytes {
    Bytes::from_owner(ZeroOnDrop(bytes))
}

/// The byte parts of one frame: usually one slice of a read buffer, several when the
/// frame spanned reads.
#[derive(Debug, Clone)]
enum Parts {
    One(Bytes),
    Many(Vec<Bytes>),
}

/// A sealed frame as the relay holds it: shared by every viewer queue it is in (an `Rc`
/// of [`Bytes`] parts, never copied per viewer); its memory is zeroed when the last
/// reference to the underlying buffer goes.
#[derive(Debug)]
pub struct SealedFrame {
    parts: Parts,
    len: usize,
    header: VideoHeader,
    arrived: Timestamp,
}

impl SealedFrame {
    /// A frame from one whole sealed frame in a `Vec` (zeroed when released).
    pub fn from_vec(arrived: Timestamp, bytes: Vec<u8>) -> Result<Self, RelayError> {
        let (header, _) = VideoHeader::parse(&bytes)?;
        Ok(SealedFrame {
            len: bytes.len(),
            parts: Parts::One(zeroizing_bytes(bytes)),
            header,
            arrived,
        })
    }

    /// The sealed bytes, exactly as the camera sent them (borrowed unless the frame
    /// spanned several reads).
    pub fn bytes(&self) -> Cow<'_, [u8]> {
        match &self.parts {
            Parts::One(b) => Cow::Borrowed(b),
            Parts::Many(v) => Cow::Owned(v.iter().flat_map(|b| b.iter().copied()).collect()),
        }
    }

    /// The sealed bytes as the shared buffers that hold them, in order: what a socket
    /// driver hands to a vectored write.
    pub fn parts(&self) -> &[Bytes] {
        match &self.parts {
            Parts::One(b) => std::slice::from_ref(b),
            Parts::Many(v) => v,
        }
    }

    /// Length of the sealed frame in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the frame has no bytes (never true for a frame that parsed).
    pub fn is_empty(&self) -> bool {
        self.len == 0
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

/// Cuts sealed frames out of a camera's byte stream, one read at a time.
///
/// Frames are self-delimiting: the header's ciphertext length field (validated against
/// the format's bounds as soon as the 33 header bytes are in) gives each frame's length.
/// A frame inside one read is a slice of that read's buffer; a frame that spans reads
/// keeps a slice of each. Only a header cut by a read boundary is copied (33 bytes).
#[derive(Debug)]
pub struct Deframer {
    parts: Vec<Bytes>,
    have: usize,
    /// Header and total length of the frame in progress, once known.
    pending: Option<(VideoHeader, usize)>,
    head: [u8; HEADER_LEN],
    head_len: usize,
}

impl Default for Deframer {
    fn default() -> Self {
        Deframer::new()
    }
}

impl Deframer {
    /// A deframer at the start of a stream.
    pub fn new() -> Self {
        Deframer {
            parts: Vec::new(),
            have: 0,
            pending: None,
            head: [0; HEADER_LEN],
            head_len: 0,
        }
    }

    /// Bytes of a frame in progress (0 between frames).
    pub fn buffered(&self) -> usize {
        self.have
    }

    /// Takes one read's bytes and appends every frame it completes to `out`, stamped
    /// `now`. On error (a header that does not parse) the stream cannot be resynchronised
    /// and the connection should be closed.
    pub fn handle_bytes(
        &mut self,
        now: Timestamp,
        mut data: Bytes,
        out: &mut Vec<SealedFrame>,
    ) -> Result<(), RelayError> {
        while !data.is_empty() {
            let (header, total) = match self.pending {
                Some(p) => p,
                None if self.have == 0 && data.len() >= HEADER_LEN => {
                    // Fast path: the header is whole in this read.
                    let Some(p) = VideoHeader::peek(&data)? else {
                        break;
                    };
                    p
                }
                None => {
                    let take = (HEADER_LEN - self.head_len).min(data.len());
                    self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
                    self.head_len += take;
                    self.have += take;
                    self.parts.push(data.split_to(take));
                    match VideoHeader::peek(&self.head[..self.head_len])? {
                        Some(p) => {
                            self.pending = Some(p);
                            self.head_len = 0;
                            if self.have < p.1 {
                                continue;
                            }
                            p
                        }
                        None => continue,
                    }
                }
            };
            let take = (total - self.have).min(data.len());
            if take > 0 {
                self.parts.push(data.split_to(take));
                self.have += take;
            }
            if self.have < total {
                self.pending = Some((header, total));
                break;
            }
            let parts = if self.parts.len() == 1 {
                Parts::One(self.parts.pop().unwrap_or_default())
            } else {
                Parts::Many(std::mem::take(&mut self.parts))
            };
            out.push(SealedFrame {
                parts,
                len: total,
                header,
                arrived: now,
            });
            self.parts.clear();
            self.have = 0;
            self.pending = None;
        }
        Ok(())
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

/// Records how long a frame taken for a viewer waited.
fn note_held(stats: &mut RelayStats, now: Timestamp, arrived: Timestamp) {
    let held = u64::try_from(now.saturating_since(arrived).as_micros()).unwrap_or(u64::MAX);
    stats.max_held_us = stats.max_held_us.max(held);
}

#[derive(Debug)]
struct ViewerQueue {
    stream_id: u32,
    frames: VecDeque<Rc<SealedFrame>>,
    bytes: usize,
    awaiting_keyframe: bool,
}

/// The relay's state: streams, viewers and their queues.
///
/// Feed it with [`handle_frame`](Self::handle_frame) or
/// [`handle_sealed`](Self::handle_sealed); drain each viewer with
/// [`poll_frame`](Self::poll_frame) or [`poll_batch`](Self::poll_batch); call
/// [`expire`](Self::expire) now and then so a viewer that stopped reading does not pin
/// memory. Costs per frame: one `Rc` allocation and, per viewer of its stream, a queue
/// push (no byte copy).
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

    /// The limits this relay enforces.
    pub fn config(&self) -> &RelayConfig {
        &self.config
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
        self.stats.queued_frames -= queue.frames.len() as u64;
        self.stats.queued_bytes -= queue.bytes as u64;
        if let Some(list) = self.by_stream.get_mut(&queue.stream_id) {
            list.retain(|v| *v != viewer);
            if list.is_empty() {
                self.by_stream.remove(&queue.stream_id);
            }
        }
        Ok(())
    }

    /// The viewers subscribed to `stream_id`, in subscription order.
    pub fn viewers_of(&self, stream_id: u32) -> &[ViewerId] {
        self.by_stream.get(&stream_id).map_or(&[], Vec::as_slice)
    }

    /// Takes one sealed frame from a camera and queues it for the stream's viewers.
    /// Returns the header it routed by.
    pub fn handle_frame(
        &mut self,
        now: Timestamp,
        bytes: Vec<u8>,
    ) -> Result<VideoHeader, RelayError> {
        let frame = SealedFrame::from_vec(now, bytes)?;
        Ok(self.handle_sealed(frame))
    }

    /// Queues a frame already cut and parsed (by a [`Deframer`]) for its stream's
    /// viewers, applying the drop policy. Returns the header it routed by.
    pub fn handle_sealed(&mut self, frame: SealedFrame) -> VideoHeader {
        let header = frame.header;
        let len = frame.len;
        self.stats.frames_in += 1;
        self.stats.bytes_in += len as u64;
        let Some(viewers) = self.by_stream.get(&header.stream_id) else {
            return header;
        };
        let frame = Rc::new(frame);
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
                self.stats.queued_frames -= q.frames.len() as u64;
                self.stats.queued_bytes -= q.bytes as u64;
                q.frames.clear();
                q.bytes = 0;
                q.awaiting_keyframe = !header.keyframe;
                if !header.keyframe {
                    continue;
                }
                // A keyframe that alone exceeds the byte limit cannot be queued at all.
                if len > self.config.max_queue_bytes {
                    q.awaiting_keyframe = true;
                    continue;
                }
                // The keyframe itself is queued below, not dropped.
                self.stats.dropped_overflow -= 1;
            }
            q.bytes += len;
            q.frames.push_back(frame.clone());
            self.stats.queued_frames += 1;
            self.stats.queued_bytes += len as u64;
        }
        self.stats.peak_queued_bytes = self.stats.peak_queued_bytes.max(self.stats.queued_bytes);
        header
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
            note_held(&mut self.stats, now, f.arrived);
            q.bytes -= f.len;
            self.stats.frames_out += 1;
            self.stats.bytes_out += f.len as u64;
            self.stats.queued_frames -= 1;
            self.stats.queued_bytes -= f.len as u64;
        }
        Ok(frame)
    }

    /// Moves up to `max_frames` frames and about `max_bytes` bytes (at least one frame
    /// when any is queued) for `viewer` into `out`, after dropping expired ones. Returns
    /// how many were moved. One lookup for the batch: what a socket driver calls before
    /// one vectored write.
    pub fn poll_batch(
        &mut self,
        viewer: ViewerId,
        now: Timestamp,
        max_frames: usize,
        max_bytes: usize,
        out: &mut Vec<Rc<SealedFrame>>,
    ) -> Result<usize, RelayError> {
        self.expire_viewer(viewer, now)?;
        let q = self
            .viewers
            .get_mut(&viewer)
            .ok_or(RelayError::UnknownViewer(viewer))?;
        let mut moved = 0;
        let mut bytes = 0;
        while moved < max_frames {
            let Some(front) = q.frames.front() else {
                break;
            };
            if moved > 0 && bytes + front.len > max_bytes {
                break;
            }
            let Some(f) = q.frames.pop_front() else {
                break;
            };
            note_held(&mut self.stats, now, f.arrived);
            bytes += f.len;
            moved += 1;
            out.push(f);
        }
        q.bytes -= bytes;
        self.stats.frames_out += moved as u64;
        self.stats.bytes_out += bytes as u64;
        self.stats.queued_frames -= moved as u64;
        self.stats.queued_bytes -= bytes as u64;
        Ok(moved)
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
            q.bytes -= front.len;
            self.stats.queued_frames -= 1;
            self.stats.queued_bytes -= front.len as u64;
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
                opener.open(&got.bytes()).expect("authentic");
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

    /// The core records the longest any frame waited, whichever way it was taken.
    #[test]
    fn longest_hold_is_recorded() {
        let (mut cam, _) = camera();
        let mut relay = Relay::new(RelayConfig::default());
        let a = relay.subscribe(9);
        let b = relay.subscribe(9);
        relay
            .handle_frame(t(0), frame(&mut cam, t(0), true, 10))
            .unwrap();
        assert!(relay.poll_frame(a, t(150)).unwrap().is_some());
        assert_eq!(relay.stats().max_held_us, 150_000);
        let mut out = Vec::new();
        relay.poll_batch(b, t(700), 8, 1 << 20, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(relay.stats().max_held_us, 700_000);
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
    /// Queue depth is accounted as frames move: queued, handed out, dropped.
    #[test]
    fn queue_depth_is_accounted() {
        let (mut cam, _) = camera();
        let mut relay = Relay::new(RelayConfig::default());
        let a = relay.subscribe(9);
        let b = relay.subscribe(9);
        for i in 0..3u64 {
            relay
                .handle_frame(t(i), frame(&mut cam, t(i), i == 0, 100))
                .unwrap();
        }
        let len = (HEADER_LEN + 100 + 16) as u64;
        assert_eq!(relay.stats().queued_frames, 6);
        assert_eq!(relay.stats().queued_bytes, 6 * len);
        let mut out = Vec::new();
        assert_eq!(relay.poll_batch(a, t(3), 64, 1 << 20, &mut out).unwrap(), 3);
        assert_eq!(relay.stats().queued_frames, 3);
        // One frame at least, then the byte budget.
        out.clear();
        assert_eq!(relay.poll_batch(b, t(3), 64, 1, &mut out).unwrap(), 1);
        relay.unsubscribe(b).unwrap();
        assert_eq!(relay.stats().queued_frames, 0);
        assert_eq!(relay.stats().queued_bytes, 0);
        assert_eq!(relay.stats().peak_queued_bytes, 6 * len);
        assert_eq!(relay.stats().frames_out, 4);
        assert_eq!(relay.viewers_of(9), &[a]);
    }

    /// A slow viewer loses the rest of its GOP and resumes at the next keyframe, while a
    /// fast viewer of the same stream gets every frame; the camera is never refused.
    #[test]
    fn slow_viewer_does_not_affect_fast_viewer() {
        let (mut cam, _) = camera();
        let mut relay = Relay::new(RelayConfig {
            max_queue_frames: 8,
            ..RelayConfig::default()
        });
        let fast = relay.subscribe(9);
        let slow = relay.subscribe(9);
        let mut fast_got = Vec::new();
        for i in 0..45u64 {
            relay
                .handle_frame(t(i), frame(&mut cam, t(i), i % 20 == 0, 100))
                .unwrap();
            while let Some(f) = relay.poll_frame(fast, t(i)).unwrap() {
                fast_got.push(f.header().seq);
            }
        }
        assert_eq!(fast_got, (0..45).collect::<Vec<_>>());
        // The slow viewer never read: its queue overflowed at 8 and 28 and restarted at
        // keyframes 20 and 40.
        let mut slow_got = Vec::new();
        while let Some(f) = relay.poll_frame(slow, t(50)).unwrap() {
            slow_got.push(f.header().seq);
        }
        assert_eq!(slow_got, (40..45).collect::<Vec<_>>());
        assert!(relay.stats().dropped_overflow > 0);
    }

    /// A keyframe larger than a viewer's whole byte budget is not queued, and the
    /// viewer waits for the next keyframe.
    #[test]
    fn oversized_keyframe_is_skipped() {
        let (mut cam, _) = camera();
        let mut relay = Relay::new(RelayConfig {
            max_queue_bytes: 1000,
            ..RelayConfig::default()
        });
        let v = relay.subscribe(9);
        relay
            .handle_frame(t(0), frame(&mut cam, t(0), true, 100))
            .unwrap();
        relay
            .handle_frame(t(1), frame(&mut cam, t(1), true, 5000))
            .unwrap();
        relay
            .handle_frame(t(2), frame(&mut cam, t(2), false, 100))
            .unwrap();
        assert_eq!(relay.queued(v), 0);
        assert!(relay.stats().queued_bytes <= 1000);
    }

    /// The deframer cuts the same frames out of a stream whatever the read boundaries,
    /// without copying bodies: a frame inside one read is one part.
    #[test]
    fn deframer_handles_every_split() {
        let (mut cam, _) = camera();
        let frames: Vec<Vec<u8>> = (0..4u64)
            .map(|i| frame(&mut cam, t(i), i == 0, 50 + 30 * i as usize))
            .collect();
        let stream: Vec<u8> = frames.concat();
        for chunk in 1..=stream.len() {
            let mut d = Deframer::new();
            let mut out = Vec::new();
            for piece in stream.chunks(chunk) {
                d.handle_bytes(t(0), Bytes::copy_from_slice(piece), &mut out)
                    .unwrap();
            }
            assert_eq!(d.buffered(), 0, "chunk {chunk}");
            let got: Vec<Vec<u8>> = out.iter().map(|f| f.bytes().into_owned()).collect();
            assert_eq!(got, frames, "chunk {chunk}");
            if chunk == stream.len() {
                assert!(out.iter().all(|f| f.parts().len() == 1));
            }
        }
        let mut d = Deframer::new();
        let mut out = Vec::new();
        let err = d.handle_bytes(
            t(0),
            Bytes::from_static(b"GET / HTTP/1.1\r\nHost: camera.example\r\n\r\n"),
            &mut out,
        );
        assert!(matches!(err, Err(RelayError::Malformed(_))));
    }
}
