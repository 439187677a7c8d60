//! An attacker on the path between a site's cameras and the platform (it holds the
//! site's router). Inside live CDP/1 sessions it replays, reorders, truncates and
//! bit-flips a record the gateway sends a camera, replays a record of the session's
//! previous key epoch or of another session, and answers a new handshake with a hello
//! recorded from an earlier one. Then it watches what the camera writes next: a camera
//! must fail the connection (an alert, or closing it); one that keeps writing took the
//! record.
//!
//! Everything here is byte handling on one connection ([`Conn`]) and the counters of one
//! router ([`OnPath`]); [`crate::router`] feeds it the bytes.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use camproof_protocol::cdp::{split_frame, FrameHeads, FrameType, Split, FRAME_HEAD_LEN};
use camproof_protocol::Timestamp;
use camproof_results::attacks::MAX_FINDINGS;
pub use camproof_results::OnPathStats;
use tokio::io::ReadBuf;

/// A router alters at most one session's records, and replaces at most one hello, in
/// this long, so cameras have time to come back between attempts (the attacker wants
/// findings, not an outage).
pub const TAMPER_PACE: Duration = Duration::from_secs(5);
/// A session's records are altered only once it has been up this long (so it carries
/// records worth replaying, and a camera that refused one gets a quiet reconnect).
pub const MIN_SESSION_AGE: Duration = Duration::from_secs(5);
/// Hellos one router replaces in a whole attack, all at gateways of the site's own
/// region. A camera whose handshake fails moves on to its next gateway and backs off, so
/// during a failover (the next gateways are down too) each replaced hello can keep a
/// camera offline for up to a minute.
pub const HELLO_BUDGET: u32 = 2;
/// Length prefix, type byte, epoch (4) and sequence (8): where a record's ciphertext starts.
const CIPHERTEXT_AT: usize = FRAME_HEAD_LEN + 12;

/// How the attacker alters a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Variant {
    /// A record delivered, then delivered again.
    Replayed,
    /// A record held back and delivered after the next one.
    Reordered,
    /// A record cut to half its length (the length prefix rewritten to match).
    Truncated,
    /// A record with one ciphertext bit flipped.
    BitFlipped,
    /// The last record of the session's previous key epoch, after a key update.
    OldEpoch,
    /// A record recorded from another session through the same router.
    OtherSession,
    /// A new handshake answered with the hello of an earlier one (same frame type).
    StaleHello,
}

impl Variant {
    /// Its name in counters: `replayed`, `reordered`, `truncated`, `bit-flipped`,
    /// `old-epoch`, `other-session`, `stale-hello`.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Replayed => "replayed",
            Variant::Reordered => "reordered",
            Variant::Truncated => "truncated",
            Variant::BitFlipped => "bit-flipped",
            Variant::OldEpoch => "old-epoch",
            Variant::OtherSession => "other-session",
            Variant::StaleHello => "stale-hello",
        }
    }
}

/// The record variants a router takes turns with, in order, on the sessions it does
/// not spare. (The spared session waits for a key update and gets [`Variant::OldEpoch`].)
const RECORD_VARIANTS: [Variant; 5] = [
    Variant::BitFlipped,
    Variant::Replayed,
    Variant::Truncated,
    Variant::Reordered,
    Variant::OtherSession,
];

/// What a camera did after it was handed an altered record or hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// It sent an alert (and, the reference camera, closed).
    Refused,
    /// It closed the connection without a word.
    Closed,
    /// It wrote a frame other than an alert: it took what it was given.
    Accepted,
    /// The connection ended on the platform's side (or the router reset it) first.
    Cut,
}

impl Outcome {
    fn name(self) -> &'static str {
        match self {
            Outcome::Refused => "refused",
            Outcome::Closed => "closed",
            Outcome::Accepted => "accepted",
            Outcome::Cut => "cut",
        }
    }
}

/// Connections whose last record a router keeps for `other-session` replays.
const RECENT_SESSIONS: usize = 4;

/// The attacker's state at one site's router, shared by the connections through it.
#[derive(Debug)]
pub struct OnPath {
    site: String,
    /// When the run started (findings say how far into it).
    epoch: Timestamp,
    /// Gateway names of the site's own region start with this (`gw-eu-africa-`).
    home_gateways: String,
    from: Timestamp,
    until: Timestamp,
    /// No record altered before this (the pace).
    next_allowed: Timestamp,
    /// No hello replaced before this (hellos keep a pace of their own: a camera that
    /// refused a record reconnects at once, and that is the hello worth replacing).
    next_hello: Timestamp,
    /// Whose turn it is among [`RECORD_VARIANTS`].
    turn: usize,
    /// The session left alone until its keys move on (then its old epoch is replayed):
    /// a camera fails a session it caught being altered, so one must be spared to rekey.
    spared: Option<u64>,
    /// Hellos it may still replace ([`HELLO_BUDGET`]).
    hellos_left: u32,
    /// Hello opportunities seen: every other one is taken.
    hello_turns: u64,
    /// The last genuine first frame from the platform, by frame type byte.
    hellos: BTreeMap<u8, Vec<u8>>,
    /// The last record frame of the most recent connections, oldest first (one each).
    recent: VecDeque<(u64, Vec<u8>)>,
    stats: OnPathStats,
}

impl OnPath {
    /// The attacker at `site` (of `region`), at work from `from` to `until` of a run
    /// that started at `epoch`.
    pub fn new(
        site: &str,
        region: &str,
        epoch: Timestamp,
        from: Timestamp,
        until: Timestamp,
    ) -> Self {
        OnPath {
            site: site.to_owned(),
            epoch,
            home_gateways: format!("gw-{region}-"),
            from,
            until,
            next_allowed: from,
            next_hello: from,
            turn: 0,
            spared: None,
            hellos_left: HELLO_BUDGET,
            hello_turns: 0,
            hellos: BTreeMap::new(),
            recent: VecDeque::new(),
            stats: OnPathStats::default(),
        }
    }

    /// What it counted so far.
    pub fn stats(&self) -> &OnPathStats {
        &self.stats
    }

    /// Remembers `frame` as connection `id`'s last record.
    fn remember(&mut self, id: u64, frame: &[u8]) {
        self.recent.retain(|(c, _)| *c != id);
        if self.recent.len() == RECENT_SESSIONS {
            self.recent.pop_front();
        }
        self.recent.push_back((id, frame.to_vec()));
    }

    /// The last record of the most recent connection other than `id`.
    fn other_than(&self, id: u64) -> Option<Vec<u8>> {
        self.recent
            .iter()
            .rev()
            .find(|(c, _)| *c != id)
            .map(|(_, f)| f.clone())
    }

    fn may_tamper(&self, now: Timestamp, hello: bool) -> bool {
        let next = if hello {
            self.next_hello
        } else {
            self.next_allowed
        };
        self.from <= now && now < self.until && now >= next
    }

    fn book(&mut self, now: Timestamp, variant: Variant, conn: &Conn) {
        let next = now.saturating_add(TAMPER_PACE);
        if variant == Variant::StaleHello {
            self.next_hello = next;
        } else {
            self.next_allowed = next;
        }
        *self
            .stats
            .tampered
            .entry(variant.name().to_owned())
            .or_default() += 1;
        if conn.epoch > 0 {
            self.stats.after_rekey += 1;
        }
        if !conn.target.starts_with(&self.home_gateways) {
            self.stats.failed_over += 1;
        }
    }

    fn judge(&mut self, variant: Variant, outcome: Outcome, target: &str, now: Timestamp) {
        let key = format!("{} {}", variant.name(), outcome.name());
        *self.stats.outcomes.entry(key).or_default() += 1;
        if outcome == Outcome::Accepted {
            self.stats.accepted += 1;
            if self.stats.findings.len() < MAX_FINDINGS {
                self.stats.findings.push(format!(
                    "a camera at {} took an altered record ({}) from {target}, {:.1} s into \
                     the run",
                    self.site,
                    variant.name(),
                    now.saturating_since(self.epoch).as_secs_f64()
                ));
            }
        }
    }
}

/// Bytes ready for the camera; a chunk that carries an alteration ends a read of its own.
#[derive(Debug)]
struct Chunk {
    bytes: Vec<u8>,
    at: usize,
    /// The chunk holds altered bytes (nothing is appended to it: it ends a read).
    altered: bool,
    /// The alteration, until the camera starts reading the chunk: from then on its
    /// next frame is the verdict.
    verdict: Option<Variant>,
}

/// One connection from a camera to a gateway, as the on-path attacker sees it.
#[derive(Debug)]
pub struct Conn {
    id: u64,
    /// The gateway dialled (`gw-apac-1:7443`).
    target: String,
    opened: Timestamp,
    /// Bytes from the gateway not yet a whole frame.
    raw: Vec<u8>,
    /// A frame the attacker could not parse: everything after it passes untouched.
    opaque: bool,
    chunks: VecDeque<Chunk>,
    /// Frames from the gateway so far.
    frames: u64,
    epoch: u32,
    last_record: Option<Vec<u8>>,
    /// The last record of an earlier key epoch of this session.
    old_epoch_record: Option<Vec<u8>>,
    /// This session was altered already (once is enough).
    done: bool,
    /// A reordered record waiting for the one after it.
    held: Option<Vec<u8>>,
    /// The gateway's side ended (closed, reset, or its host crashed): a camera that
    /// drops the connection afterwards is not judged.
    gateway_ended: bool,
    /// Altered bytes the camera has read; its next frame says what it made of them.
    awaiting: Option<Variant>,
    /// The camera's frames, followed head by head.
    up: FrameHeads,
}

impl Conn {
    /// Connection `id` to `target`, opened at `now`.
    pub fn new(id: u64, target: &str, now: Timestamp) -> Self {
        Conn {
            id,
            target: target.to_owned(),
            opened: now,
            raw: Vec::new(),
            opaque: false,
            chunks: VecDeque::new(),
            frames: 0,
            epoch: 0,
            last_record: None,
            old_epoch_record: None,
            done: false,
            held: None,
            gateway_ended: false,
            awaiting: None,
            up: FrameHeads::new(),
        }
    }

    /// Whether bytes are ready for the camera.
    pub fn has_output(&self) -> bool {
        !self.chunks.is_empty()
    }

    /// Hands the camera what is ready, never past the end of an altered chunk.
    pub fn read_into(&mut self, buf: &mut ReadBuf<'_>) {
        let Some(chunk) = self.chunks.front_mut() else {
            return;
        };
        if buf.remaining() == 0 {
            return;
        }
        // From the first altered byte on, the camera's next frame is its verdict: a
        // camera refuses the first bad record of a chunk before it reads the rest (a
        // reordered pair can exceed its read buffer), and it cannot answer bytes it has
        // not read.
        if let Some(variant) = chunk.verdict.take() {
            self.awaiting = Some(variant);
        }
        let n = buf.remaining().min(chunk.bytes.len() - chunk.at);
        buf.put_slice(&chunk.bytes[chunk.at..chunk.at + n]);
        chunk.at += n;
        if chunk.at == chunk.bytes.len() {
            self.chunks.pop_front();
        }
    }

    fn pass(&mut self, bytes: &[u8]) {
        match self.chunks.back_mut() {
            Some(last) if !last.altered => last.bytes.extend_from_slice(bytes),
            _ => self.chunks.push_back(Chunk {
                bytes: bytes.to_vec(),
                at: 0,
                altered: false,
                verdict: None,
            }),
        }
    }

    fn altered(&mut self, bytes: Vec<u8>, variant: Variant) {
        self.chunks.push_back(Chunk {
            bytes,
            at: 0,
            altered: true,
            verdict: Some(variant),
        });
    }

    /// Takes bytes the gateway sent the camera at `now`.
    pub fn from_gateway(&mut self, data: &[u8], path: &mut OnPath, now: Timestamp) {
        if self.opaque {
            self.pass(data);
            return;
        }
        self.raw.extend_from_slice(data);
        let mut start = 0;
        loop {
            match split_frame(&self.raw, start) {
                Split::Frame(f) => {
                    let frame = self.raw[f.start..f.end].to_vec();
                    start = f.end;
                    self.on_frame(frame, path, now);
                }
                Split::Partial => break,
                Split::Invalid { .. } => {
                    // Not CDP/1 as the attacker knows it: stop looking.
                    self.opaque = true;
                    self.release_held(path, now);
                    let rest = self.raw.split_off(start);
                    self.pass(&rest);
                    self.raw.clear();
                    return;
                }
            }
        }
        self.raw.drain(..start);
    }

    fn on_frame(&mut self, frame: Vec<u8>, path: &mut OnPath, now: Timestamp) {
        let kind = frame[FRAME_HEAD_LEN - 1];
        let first = self.frames == 0;
        self.frames += 1;
        if first && (kind == hello_byte() || kind == resume_byte()) {
            return self.on_hello(frame, kind, path, now);
        }
        if kind != FrameType::Record.to_byte() || frame.len() <= CIPHERTEXT_AT {
            return self.pass(&frame);
        }
        let mut epoch = [0u8; 4];
        epoch.copy_from_slice(&frame[FRAME_HEAD_LEN..FRAME_HEAD_LEN + 4]);
        let epoch = u32::from_be_bytes(epoch);
        if epoch > self.epoch {
            self.old_epoch_record = self.last_record.take().or(self.old_epoch_record.take());
            self.epoch = epoch;
        }
        let other = path.other_than(self.id);
        path.remember(self.id, &frame);
        self.last_record = Some(frame.clone());
        if let Some(held) = self.held.take() {
            let mut swapped = frame;
            swapped.extend_from_slice(&held);
            return self.altered(swapped, Variant::Reordered);
        }
        let old_enough = now.saturating_since(self.opened) >= MIN_SESSION_AGE;
        if self.done || !old_enough || !path.may_tamper(now, false) {
            return self.pass(&frame);
        }
        let spared = *path.spared.get_or_insert(self.id) == self.id;
        let variant = if spared {
            // A session left alone until its keys move on: then its old epoch is replayed.
            if self.old_epoch_record.is_none() {
                return self.pass(&frame);
            }
            path.spared = None;
            Variant::OldEpoch
        } else {
            let turn = path.turn;
            path.turn += 1;
            match RECORD_VARIANTS[turn % RECORD_VARIANTS.len()] {
                Variant::OtherSession if other.is_none() => Variant::Replayed,
                v => v,
            }
        };
        self.done = true;
        path.book(now, variant, self);
        match variant {
            Variant::Replayed => {
                self.pass(&frame);
                self.altered(frame, variant);
            }
            Variant::Reordered => self.held = Some(frame),
            Variant::Truncated => self.altered(truncate(&frame), variant),
            Variant::BitFlipped => self.altered(flip(&frame), variant),
            Variant::OldEpoch | Variant::OtherSession => {
                let stale = if variant == Variant::OldEpoch {
                    self.old_epoch_record.clone()
                } else {
                    other
                };
                self.pass(&frame);
                self.altered(stale.unwrap_or(frame), variant);
            }
            Variant::StaleHello => self.pass(&frame),
        }
    }

    fn on_hello(&mut self, frame: Vec<u8>, kind: u8, path: &mut OnPath, now: Timestamp) {
        // Only at the home region's gateways: after a failover the camera's next gateways
        // are down, and a camera that refused a hello backs off for up to a minute.
        let home = self.target.starts_with(&path.home_gateways);
        let stale = if home && path.hellos_left > 0 && path.may_tamper(now, true) {
            path.hello_turns += 1;
            path.hellos
                .get(&kind)
                .filter(|_| path.hello_turns % 2 == 1)
                .cloned()
        } else {
            None
        };
        path.hellos.insert(kind, frame.clone());
        match stale {
            Some(stale) => {
                self.done = true;
                path.hellos_left -= 1;
                path.book(now, Variant::StaleHello, self);
                self.altered(stale, Variant::StaleHello);
            }
            None => self.pass(&frame),
        }
    }

    /// The gateway ended its side (closed it, or the connection failed): whatever is
    /// held or partial goes to the camera as is.
    pub fn gateway_closed(&mut self, path: &mut OnPath, now: Timestamp) {
        self.gateway_ended = true;
        self.release_held(path, now);
        let raw = std::mem::take(&mut self.raw);
        if !raw.is_empty() {
            self.pass(&raw);
        }
    }

    /// A reordered record that will have no successor goes on as it came.
    fn release_held(&mut self, path: &mut OnPath, now: Timestamp) {
        if let Some(held) = self.held.take() {
            path.judge(Variant::Reordered, Outcome::Cut, &self.target, now);
            self.pass(&held);
        }
    }

    /// Takes bytes the camera wrote; the first frame after altered bytes is the verdict.
    pub fn from_camera(&mut self, mut data: &[u8], path: &mut OnPath, now: Timestamp) {
        while let Some(head) = self.up.next_head(&mut data) {
            if let Some(variant) = self.awaiting.take() {
                let outcome = if head.kind == FrameType::Alert.to_byte() {
                    Outcome::Refused
                } else {
                    Outcome::Accepted
                };
                path.judge(variant, outcome, &self.target, now);
            }
        }
    }

    /// The camera dropped the connection (`reset`: the router reset it first).
    pub fn dropped(&mut self, reset: bool, path: &mut OnPath, now: Timestamp) {
        if path.spared == Some(self.id) {
            path.spared = None;
        }
        let unread = self.chunks.iter().find_map(|c| c.verdict);
        if let Some(variant) = self.awaiting.take() {
            // Closing without a word refuses too, unless the other side ended first.
            let outcome = if reset || self.gateway_ended {
                Outcome::Cut
            } else {
                Outcome::Closed
            };
            path.judge(variant, outcome, &self.target, now);
        } else if let Some(variant) = unread.or(self.held.take().map(|_| Variant::Reordered)) {
            path.judge(variant, Outcome::Cut, &self.target, now);
        }
    }
}

fn hello_byte() -> u8 {
    FrameType::ServerHello.to_byte()
}

fn resume_byte() -> u8 {
    FrameType::ResumeAccept.to_byte()
}

/// The frame cut to half its body, its length prefix rewritten to match.
fn truncate(frame: &[u8]) -> Vec<u8> {
    let body = &frame[FRAME_HEAD_LEN..];
    let keep = body.len() / 2;
    let mut out = Vec::with_capacity(FRAME_HEAD_LEN + keep);
    out.extend_from_slice(&((1 + keep) as u32).to_be_bytes());
    out.push(frame[FRAME_HEAD_LEN - 1]);
    out.extend_from_slice(&body[..keep]);
    out
}

/// The frame with one bit of its ciphertext flipped (the middle byte's lowest).
fn flip(frame: &[u8]) -> Vec<u8> {
    let mut out = frame.to_vec();
    let at = CIPHERTEXT_AT + (frame.len() - CIPHERTEXT_AT) / 2;
    out[at] ^= 0x01;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    /// A frame of `kind` whose body is `epoch | seq | 20 bytes of `fill``.
    fn record(epoch: u32, seq: u64, fill: u8) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&epoch.to_be_bytes());
        body.extend_from_slice(&seq.to_be_bytes());
        body.extend_from_slice(&[fill; 20]);
        frame(FrameType::Record.to_byte(), &body)
    }

    fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut f = ((1 + body.len()) as u32).to_be_bytes().to_vec();
        f.push(kind);
        f.extend_from_slice(body);
        f
    }

    /// Everything the camera reads, one read per call, until nothing is ready.
    fn reads(conn: &mut Conn) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while conn.has_output() {
            let mut space = [0u8; 4096];
            let mut buf = ReadBuf::new(&mut space);
            conn.read_into(&mut buf);
            out.push(buf.filled().to_vec());
        }
        out
    }

    fn path() -> OnPath {
        OnPath::new("site-eu-africa-1", "eu-africa", at(0), at(100), at(200))
    }

    /// A session opened at 80 s with one hello and two records: at 115 s it is old
    /// enough and the attacker may act.
    fn session(path: &mut OnPath, id: u64, target: &str) -> Conn {
        let mut conn = Conn::new(id, target, at(80));
        conn.from_gateway(&frame(hello_byte(), b"hello"), path, at(80));
        conn.from_gateway(&record(0, 0, 1), path, at(81));
        reads(&mut conn);
        conn
    }

    #[test]
    fn nothing_is_altered_outside_the_window_or_in_a_young_session() {
        let mut p = path();
        let mut conn = session(&mut p, 0, "gw-eu-africa-1:7443");
        conn.from_gateway(&record(0, 1, 2), &mut p, at(99));
        assert_eq!(reads(&mut conn), vec![record(0, 1, 2)]);
        // Another session is the spared one: the young one would be altered if old enough.
        p.spared = Some(99);
        let mut young = Conn::new(2, "gw-eu-africa-1:7443", at(105));
        young.from_gateway(&frame(0x15, b"x"), &mut p, at(105));
        young.from_gateway(&record(0, 0, 3), &mut p, at(108));
        assert_eq!(
            reads(&mut young),
            vec![[frame(0x15, b"x"), record(0, 0, 3)].concat()]
        );
        assert!(p.stats.tampered.is_empty());
        // Five seconds old, it is.
        young.from_gateway(&record(0, 1, 4), &mut p, at(110));
        reads(&mut young);
        assert_eq!(young.awaiting, Some(Variant::BitFlipped));
    }

    #[test]
    fn the_verdict_starts_with_the_first_altered_byte_the_camera_reads() {
        let mut p = path();
        p.spared = Some(99);
        p.turn = 3; // reordered
        let mut conn = session(&mut p, 0, "gw-eu-africa-1:7443");
        conn.from_gateway(&record(0, 1, 2), &mut p, at(115));
        conn.from_gateway(&record(0, 2, 3), &mut p, at(116));
        // A small read buffer: the camera gets the reordered pair in pieces, refuses the
        // first record before it reads the second, and its alert is the verdict.
        let mut space = [0u8; 10];
        let mut buf = ReadBuf::new(&mut space);
        conn.read_into(&mut buf);
        assert_eq!(conn.awaiting, Some(Variant::Reordered));
        conn.from_camera(&frame(0x15, &[7]), &mut p, at(116));
        conn.dropped(false, &mut p, at(116));
        assert_eq!(
            p.stats.outcomes,
            BTreeMap::from([("reordered refused".to_owned(), 1)])
        );
    }

    #[test]
    fn a_camera_that_drops_a_session_the_gateway_ended_is_not_judged() {
        let mut p = path();
        p.spared = Some(99);
        let mut ended = session(&mut p, 0, "gw-eu-africa-1:7443");
        ended.from_gateway(&record(0, 1, 2), &mut p, at(115));
        reads(&mut ended);
        ended.gateway_closed(&mut p, at(116));
        ended.dropped(false, &mut p, at(116));
        let mut silent = session(&mut p, 2, "gw-eu-africa-1:7443");
        silent.from_gateway(&record(0, 1, 2), &mut p, at(121));
        reads(&mut silent);
        silent.dropped(false, &mut p, at(121));
        assert_eq!(
            p.stats.outcomes,
            BTreeMap::from([
                ("bit-flipped cut".to_owned(), 1),
                ("replayed closed".to_owned(), 1)
            ])
        );
        assert_eq!(p.stats.judged(), 1);
    }

    #[test]
    fn a_replayed_record_comes_in_a_read_of_its_own_and_the_alert_refuses_it() {
        let mut p = path();
        p.spared = Some(99);
        p.turn = 1; // replayed
        let mut conn = session(&mut p, 0, "gw-eu-africa-1:7443");
        // Split across two reads from the gateway: the attacker waits for the whole frame.
        let r = record(0, 1, 2);
        conn.from_gateway(&r[..7], &mut p, at(115));
        assert!(!conn.has_output());
        conn.from_gateway(&r[7..], &mut p, at(115));
        assert_eq!(reads(&mut conn), vec![r.clone(), r]);
        assert_eq!(conn.awaiting, Some(Variant::Replayed));
        conn.from_camera(&frame(0x15, &[7]), &mut p, at(115));
        assert_eq!(p.stats.outcomes.get("replayed refused"), Some(&1));
        assert_eq!(p.stats.accepted, 0);
        // Once per session, and the router keeps its pace.
        conn.from_gateway(&record(0, 2, 3), &mut p, at(116));
        assert_eq!(reads(&mut conn), vec![record(0, 2, 3)]);
    }

    #[test]
    fn a_camera_that_keeps_writing_took_the_record() {
        let mut p = path();
        p.spared = Some(99);
        p.turn = 1; // replayed
        let mut conn = session(&mut p, 0, "gw-apac-1:7443");
        conn.from_gateway(&record(0, 1, 2), &mut p, at(115));
        reads(&mut conn);
        // A heartbeat record, written in two pieces.
        let hb = record(0, 5, 9);
        conn.from_camera(&hb[..3], &mut p, at(116));
        conn.from_camera(&hb[3..], &mut p, at(116));
        assert_eq!(p.stats.accepted, 1);
        assert_eq!(p.stats.failed_over, 1);
        assert_eq!(
            p.stats.findings,
            [
                "a camera at site-eu-africa-1 took an altered record (replayed) from \
              gw-apac-1:7443, 116.0 s into the run"
            ]
        );
    }

    #[test]
    fn the_variants_take_turns_and_alter_what_they_say() {
        let mut p = path();
        let mut t = 115;
        let mut seen = Vec::new();
        // Another session is the one spared to rekey.
        p.spared = Some(99);
        for id in [0u64, 2, 4, 6, 8] {
            let mut conn = session(&mut p, id, "gw-eu-africa-1:7443");
            conn.from_gateway(&record(0, 7, 5), &mut p, at(t));
            conn.from_gateway(&record(0, 8, 6), &mut p, at(t));
            let got = reads(&mut conn);
            seen.push((conn.awaiting, got));
            t += 10;
        }
        let variants: Vec<_> = seen.iter().map(|(v, _)| v.map(Variant::name)).collect();
        assert_eq!(
            variants,
            [
                Some("bit-flipped"),
                Some("replayed"),
                Some("truncated"),
                Some("reordered"),
                Some("other-session"),
            ]
        );
        let flipped = &seen[0].1[0];
        let diff = flipped
            .iter()
            .zip(record(0, 7, 5))
            .filter(|(a, b)| **a != *b)
            .count();
        assert_eq!(diff, 1);
        assert_eq!(seen[1].1[..2], [record(0, 7, 5), record(0, 7, 5)]);
        let truncated = &seen[2].1[0];
        assert_eq!(
            truncated.len(),
            FRAME_HEAD_LEN + (record(0, 7, 5).len() - FRAME_HEAD_LEN) / 2
        );
        assert_eq!(
            seen[3].1.last(),
            Some(&[record(0, 8, 6), record(0, 7, 5)].concat())
        );
        // Another session's last record: session 6's.
        assert_eq!(seen[4].1[1], record(0, 8, 6));
        assert_eq!(p.stats.after_rekey, 0);
    }

    #[test]
    fn a_spared_session_gets_its_old_epoch_replayed_once_it_rekeys() {
        let mut p = path();
        let mut conn = session(&mut p, 1, "gw-eu-africa-1:7443");
        conn.from_gateway(&record(0, 1, 2), &mut p, at(115));
        assert_eq!(reads(&mut conn), vec![record(0, 1, 2)], "spared");
        assert_eq!(p.spared, Some(1));
        // Meanwhile other sessions are fair game.
        let mut other = session(&mut p, 2, "gw-eu-africa-1:7443");
        other.from_gateway(&record(0, 1, 2), &mut p, at(116));
        assert_eq!(other.awaiting, None);
        reads(&mut other);
        assert_eq!(other.awaiting, Some(Variant::BitFlipped));
        conn.from_gateway(&record(1, 0, 3), &mut p, at(125));
        assert_eq!(reads(&mut conn), vec![record(1, 0, 3), record(0, 1, 2)]);
        assert_eq!(conn.awaiting, Some(Variant::OldEpoch));
        assert_eq!(p.stats.after_rekey, 1);
        assert_eq!(p.spared, None, "the next session may be spared");
    }

    #[test]
    fn a_new_handshake_gets_an_earlier_hello_every_other_time() {
        let mut p = path();
        let _old = session(&mut p, 1, "gw-eu-africa-1:7443");
        // A failed-over camera's handshake is left alone (and takes no turn).
        let mut away = Conn::new(4, "gw-apac-1:7443", at(119));
        away.from_gateway(&frame(hello_byte(), b"away"), &mut p, at(119));
        assert_eq!(reads(&mut away), vec![frame(hello_byte(), b"away")]);
        let mut fresh = Conn::new(2, "gw-eu-africa-1:7443", at(120));
        fresh.from_gateway(&frame(hello_byte(), b"fresh"), &mut p, at(120));
        assert_eq!(reads(&mut fresh), vec![frame(hello_byte(), b"away")]);
        assert_eq!(fresh.awaiting, Some(Variant::StaleHello));
        fresh.dropped(false, &mut p, at(121));
        assert_eq!(p.stats.outcomes.get("stale-hello closed"), Some(&1));
        let mut next = Conn::new(3, "gw-eu-africa-1:7443", at(140));
        next.from_gateway(&frame(hello_byte(), b"next"), &mut p, at(140));
        assert_eq!(reads(&mut next), vec![frame(hello_byte(), b"next")]);
    }

    #[test]
    fn unparseable_bytes_pass_untouched_and_cut_verdicts_are_not_judged() {
        let mut p = path();
        let mut conn = Conn::new(1, "gw-eu-africa-1:7443", at(80));
        conn.from_gateway(&[0, 0, 0, 0, 9, 9], &mut p, at(80));
        conn.from_gateway(&record(0, 0, 1), &mut p, at(115));
        assert_eq!(
            reads(&mut conn),
            vec![[&[0, 0, 0, 0, 9, 9][..], &record(0, 0, 1)].concat()]
        );
        p.spared = Some(99);
        let mut cut = session(&mut p, 2, "gw-eu-africa-1:7443");
        cut.from_gateway(&record(0, 1, 2), &mut p, at(115));
        cut.dropped(false, &mut p, at(115));
        assert_eq!(p.stats.outcomes.get("bit-flipped cut"), Some(&1));
        assert_eq!(p.stats.judged(), 0);
    }
}
