//! The wire tap: every TCP segment that crosses the simulated network, seen once, scanned
//! for the run's secrets and, for chosen hosts, kept for pcap files.
//!
//! turmoil keeps a sent segment on its link until the link's latency has passed, and the
//! world looks at the links between two steps; a segment is new when it was not on the
//! links at the previous look. Nothing is delivered, dropped or changed by looking.
//!
//! A [`FlowRecorder`] shared with the tap ([`Tap::record_flows`]) reassembles the first
//! bytes of chosen connections, both directions, and hands them to an attacker (the
//! replayer in `attack.rs`) as [`RecordedFlow`]s.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
pub use camproof_results::Leak;
use turmoil::{Protocol, Segment};

/// What a tapped segment was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    /// A connection request.
    Syn,
    /// Payload bytes.
    Data,
    /// The sender finished sending.
    Fin,
    /// The connection was reset.
    Rst,
}

/// One TCP segment as it went over the simulated wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TappedSegment {
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// What it was.
    pub kind: SegmentKind,
    /// The payload (empty but for data).
    pub payload: Bytes,
}

/// A secret the run knows and that must never cross the wire in clear.
#[derive(Debug, Clone)]
pub struct KnownSecret {
    /// What it is, for reports (`password of user0@site1.example`).
    pub label: String,
    /// Its bytes as they would appear on the wire.
    pub value: Vec<u8>,
}

/// Key of a segment while it sits on a link.
type InFlight = (SocketAddr, SocketAddr, SegmentKind, u64);

/// Looks at the links between steps.
pub struct Tap {
    previous: HashSet<InFlight>,
    current: HashSet<InFlight>,
    scanner: Option<Scanner>,
    keep: BTreeSet<IpAddr>,
    names: BTreeMap<IpAddr, String>,
    kept: Vec<TappedSegment>,
    recorder: Option<SharedRecorder>,
    /// Segments seen, all kinds.
    pub segments: u64,
    /// Payload bytes seen.
    pub bytes: u64,
}

/// Finds the run's secrets in every byte stream on the wire.
///
/// Every secret is at least [`MIN_SECRET`] bytes long, so a sample of the stream, one
/// `w`-byte piece every `w` bytes with `w` at most half the shortest secret, always
/// falls wholly inside an occurrence. Each piece is looked up among all `w`-byte pieces
/// of all secrets, and a hit is checked against the whole secret. One lookup per `w`
/// bytes reads the video-heavy wire about ten times faster than a multi-pattern
/// automaton over random 32-byte keys did here (115 MB/s).
struct Scanner {
    secrets: Vec<KnownSecret>,
    /// Every `w`-byte piece of every secret: (secret, offset of the piece in it).
    pieces: HashMap<Vec<u8>, Vec<(usize, usize)>>,
    w: usize,
    longest: usize,
    streams: HashMap<(SocketAddr, SocketAddr), Stream>,
    leaks: Vec<Leak>,
    /// Secrets already reported, so a leak repeated on every heartbeat is one finding.
    reported: BTreeSet<(usize, IpAddr, IpAddr)>,
}

/// One direction of one connection, as far as the scan has read it.
#[derive(Default)]
struct Stream {
    /// Stream offset of `kept[0]`.
    base: u64,
    /// The bytes still needed: from `longest` before `next` to the end.
    kept: Vec<u8>,
    /// The next sampled offset to look up (a multiple of `w`).
    next: u64,
}

impl Scanner {
    fn new(secrets: Vec<KnownSecret>) -> Option<Self> {
        let shortest = secrets.iter().map(|s| s.value.len()).min()?;
        let w = (shortest / 2).clamp(1, 16);
        let mut pieces: HashMap<Vec<u8>, Vec<(usize, usize)>> = HashMap::new();
        for (id, secret) in secrets.iter().enumerate() {
            for k in 0..=secret.value.len() - w {
                pieces
                    .entry(secret.value[k..k + w].to_vec())
                    .or_default()
                    .push((id, k));
            }
        }
        Some(Scanner {
            longest: secrets.iter().map(|s| s.value.len()).max().unwrap_or(0),
            secrets,
            pieces,
            w,
            streams: HashMap::new(),
            leaks: Vec::new(),
            reported: BTreeSet::new(),
        })
    }

    fn scan(&mut self, segment: &TappedSegment, names: &BTreeMap<IpAddr, String>) {
        let key = (segment.src, segment.dst);
        let stream = self.streams.entry(key).or_default();
        stream.kept.extend_from_slice(&segment.payload);
        let end = stream.base + stream.kept.len() as u64;
        let w = self.w as u64;
        let mut found: Vec<usize> = Vec::new();
        'sample: while stream.next + w <= end {
            let at = (stream.next - stream.base) as usize;
            let piece = &stream.kept[at..at + self.w];
            for &(id, k) in self.pieces.get(piece).map_or(&[][..], Vec::as_slice) {
                let secret = &self.secrets[id].value;
                let Some(start) = at.checked_sub(k) else {
                    continue; // began before anything this stream kept: already checked
                };
                if start + secret.len() > stream.kept.len() {
                    // The rest may come in the next segment: look again then.
                    break 'sample;
                }
                if stream.kept[start..start + secret.len()] == secret[..] {
                    found.push(id);
                }
            }
            stream.next += w;
        }
        // Keep what a later match could still start in.
        let keep_from = stream
            .next
            .saturating_sub(self.longest as u64)
            .max(stream.base);
        stream.kept.drain(..(keep_from - stream.base) as usize);
        stream.base = keep_from;
        for id in found {
            if self.leaks.len() >= MAX_LEAKS
                || !self
                    .reported
                    .insert((id, segment.src.ip(), segment.dst.ip()))
            {
                continue;
            }
            let name = |a: IpAddr| names.get(&a).cloned().unwrap_or_else(|| a.to_string());
            self.leaks.push(Leak {
                at: segment.at,
                secret: self.secrets[id].label.clone(),
                from: name(segment.src.ip()),
                to: name(segment.dst.ip()),
            });
        }
    }
}

/// A [`FlowRecorder`] shared by the tap (which fills it) and an attacker (which takes).
pub type SharedRecorder = Rc<RefCell<FlowRecorder>>;

/// One recorded TCP connection: its first bytes each way, reassembled in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFlow {
    /// The side that connected.
    pub client: SocketAddr,
    /// The side that accepted.
    pub server: SocketAddr,
    /// Simulated time of the connection request.
    pub opened: Duration,
    /// Simulated time the recorder handed it over.
    pub handed: Duration,
    /// Client to server bytes (at most the recorder's limit).
    pub to_server: Vec<u8>,
    /// Server to client bytes (at most the recorder's limit).
    pub to_client: Vec<u8>,
    /// Whether either side closed or reset the connection before it was handed over.
    pub closed: bool,
}

impl RecordedFlow {
    /// The type byte of the client's first CDP/1 frame, once four length bytes and it
    /// were recorded.
    pub fn first_frame_type(&self) -> Option<u8> {
        camproof_protocol::cdp::peek_frame_type(&self.to_server)
    }
}

/// One direction of a recorded connection, reassembled by turmoil's segment numbers
/// (which start at 1 and count data and FIN segments alike).
#[derive(Debug, Default)]
struct HalfStream {
    next: u64,
    /// Segments that arrived ahead of `next` (`None`: a FIN).
    ahead: BTreeMap<u64, Option<Bytes>>,
    bytes: Vec<u8>,
    fin: bool,
}

/// Segments kept waiting for an earlier one, per direction: beyond, the flow is given up.
const MAX_AHEAD: usize = 256;

impl HalfStream {
    /// Takes segment `seq` (`None`: the next one) with its payload (`None`: a FIN);
    /// false if the reassembly gave up.
    fn push(&mut self, seq: Option<u64>, payload: Option<Bytes>, limit: usize) -> bool {
        if self.next == 0 {
            self.next = 1;
        }
        let seq = seq.unwrap_or(self.next + self.ahead.len() as u64);
        if seq < self.next || self.fin {
            return true;
        }
        if self.ahead.len() >= MAX_AHEAD {
            return false;
        }
        self.ahead.insert(seq, payload);
        while let Some(next) = self.ahead.remove(&self.next) {
            self.next += 1;
            match next {
                None => {
                    self.fin = true;
                    self.ahead.clear();
                    break;
                }
                Some(bytes) => {
                    let room = limit.saturating_sub(self.bytes.len());
                    self.bytes
                        .extend_from_slice(&bytes[..bytes.len().min(room)]);
                }
            }
        }
        true
    }
}

/// A connection being recorded.
#[derive(Debug)]
struct LiveFlow {
    opened: Duration,
    up: HalfStream,
    down: HalfStream,
    reset: bool,
}

/// Records the first bytes of connections from chosen hosts to one server port, and
/// hands them over once they are closed, full, or old enough.
///
/// Bounded: at most `max_flows` flows are held (recording or waiting to be taken), at
/// most half of them opened with the same frame type (so full handshakes, resumptions
/// and app sessions all get recorded), each with at most `max_bytes` per direction.
/// Unconfigured (the default), it records nothing.
#[derive(Debug, Default)]
pub struct FlowRecorder {
    port: u16,
    sources: BTreeSet<IpAddr>,
    max_flows: usize,
    max_bytes: usize,
    ripe_after: Duration,
    live: BTreeMap<(SocketAddr, SocketAddr), LiveFlow>,
    ripe: VecDeque<RecordedFlow>,
    /// Flows handed over or waiting, by first frame type.
    held_by_type: BTreeMap<u8, usize>,
    /// Flows handed to the attacker so far.
    pub handed: u64,
    /// Connections not recorded: no room, their kind's share full, or reassembly gave up.
    pub skipped: u64,
}

impl FlowRecorder {
    /// A shared recorder that records nothing until [`FlowRecorder::configure`]d.
    pub fn shared() -> SharedRecorder {
        Rc::new(RefCell::new(FlowRecorder::default()))
    }

    /// Records connections from `sources` to port `port`: at most `max_flows` held, the
    /// first `max_bytes` each way, handed over `ripe_after` their opening at the latest.
    pub fn configure(
        &mut self,
        port: u16,
        sources: BTreeSet<IpAddr>,
        max_flows: usize,
        max_bytes: usize,
        ripe_after: Duration,
    ) {
        self.port = port;
        self.sources = sources;
        self.max_flows = max_flows;
        self.max_bytes = max_bytes;
        self.ripe_after = ripe_after;
    }

    /// Whether it records anything.
    pub fn is_active(&self) -> bool {
        !self.sources.is_empty() && self.max_flows > 0
    }

    /// Takes one segment the wire carried, with turmoil's number for it (`None`: the
    /// segment is the next one of its direction).
    pub fn observe(&mut self, segment: &TappedSegment, seq: Option<u64>) {
        if !self.is_active() {
            return;
        }
        let up = segment.dst.port() == self.port && self.sources.contains(&segment.src.ip());
        let down = segment.src.port() == self.port && self.sources.contains(&segment.dst.ip());
        if !up && !down {
            return;
        }
        let key = if up {
            (segment.src, segment.dst)
        } else {
            (segment.dst, segment.src)
        };
        if segment.kind == SegmentKind::Syn {
            if up && !self.live.contains_key(&key) {
                if self.live.len() + self.ripe.len() < self.max_flows {
                    self.live.insert(
                        key,
                        LiveFlow {
                            opened: segment.at,
                            up: HalfStream::default(),
                            down: HalfStream::default(),
                            reset: false,
                        },
                    );
                } else {
                    self.skipped += 1;
                }
            }
            return;
        }
        let Some(flow) = self.live.get_mut(&key) else {
            return;
        };
        let half = if up { &mut flow.up } else { &mut flow.down };
        let ok = match segment.kind {
            SegmentKind::Data => half.push(seq, Some(segment.payload.clone()), self.max_bytes),
            SegmentKind::Fin => half.push(seq, None, self.max_bytes),
            SegmentKind::Rst => {
                flow.reset = true;
                true
            }
            SegmentKind::Syn => true,
        };
        if !ok {
            self.live.remove(&key);
            self.skipped += 1;
        }
    }

    /// Hands over the flows that are ready at `at`; gives up flows whose kind has its
    /// share already.
    pub fn advance(&mut self, at: Duration) {
        if self.live.is_empty() {
            return;
        }
        let share = (self.max_flows / 2).max(1);
        let mut done = Vec::new();
        for (key, flow) in &self.live {
            let full = flow.up.bytes.len() >= self.max_bytes;
            let closed = flow.reset || flow.up.fin || flow.down.fin;
            let old = at.saturating_sub(flow.opened) >= self.ripe_after;
            if full || closed || (old && !flow.up.bytes.is_empty()) {
                done.push(*key);
            } else if old && at.saturating_sub(flow.opened) >= self.ripe_after * 4 {
                // Silent for long: nothing to replay.
                done.push(*key);
            }
        }
        for key in done {
            let Some(flow) = self.live.remove(&key) else {
                continue;
            };
            let Some(&kind) = flow.up.bytes.get(4) else {
                self.skipped += 1;
                continue;
            };
            let held = self.held_by_type.entry(kind).or_default();
            if *held >= share {
                self.skipped += 1;
                continue;
            }
            *held += 1;
            self.ripe.push_back(RecordedFlow {
                client: key.0,
                server: key.1,
                opened: flow.opened,
                handed: at,
                closed: flow.reset || flow.up.fin || flow.down.fin,
                to_server: flow.up.bytes,
                to_client: flow.down.bytes,
            });
        }
    }

    /// The oldest recorded flow not yet taken.
    pub fn take(&mut self) -> Option<RecordedFlow> {
        let flow = self.ripe.pop_front()?;
        self.handed += 1;
        Some(flow)
    }

    /// Tells the recorder a taken flow was used up: its kind's share has room again.
    pub fn release(&mut self, flow: &RecordedFlow) {
        if let Some(kind) = flow.first_frame_type() {
            if let Some(n) = self.held_by_type.get_mut(&kind) {
                *n = n.saturating_sub(1);
            }
        }
    }
}

/// Shortest secret scanned for: shorter values would match random ciphertext.
pub const MIN_SECRET: usize = 8;

/// Most leaks kept (each distinct secret and pair of hosts counts once).
const MAX_LEAKS: usize = 1000;

impl Tap {
    /// A tap that scans for `secrets` (none: no scan) and keeps the segments to and from
    /// `keep` hosts.
    pub fn new(secrets: Vec<KnownSecret>, keep: BTreeSet<IpAddr>) -> Self {
        let secrets: Vec<KnownSecret> = secrets
            .into_iter()
            .filter(|s| s.value.len() >= MIN_SECRET)
            .collect();
        let scanner = Scanner::new(secrets);
        Tap {
            previous: HashSet::new(),
            current: HashSet::new(),
            scanner,
            keep,
            names: BTreeMap::new(),
            kept: Vec::new(),
            recorder: None,
            segments: 0,
            bytes: 0,
        }
    }

    /// Names an address, for leak reports.
    pub fn name(&mut self, addr: IpAddr, name: String) {
        self.names.insert(addr, name);
    }

    /// Hands every segment to `recorder` too (it keeps what it was configured to keep).
    pub fn record_flows(&mut self, recorder: SharedRecorder) {
        self.recorder = Some(recorder);
    }

    /// Looks at every segment on the simulator's links at simulated time `at`.
    pub fn look(&mut self, sim: &turmoil::Sim<'_>, at: Duration) {
        let mut fresh: Vec<(TappedSegment, u64)> = Vec::new();
        let current = &mut self.current;
        let previous = &self.previous;
        current.clear();
        sim.links(|links| {
            for link in links {
                for sent in link {
                    let (src, dst) = sent.pair();
                    let Protocol::Tcp(segment) = sent.protocol() else {
                        continue;
                    };
                    let (kind, seq, payload) = match segment {
                        Segment::Syn(_) => (SegmentKind::Syn, 0, Bytes::new()),
                        Segment::Data(seq, bytes) => (SegmentKind::Data, *seq, bytes.clone()),
                        Segment::Fin(seq) => (SegmentKind::Fin, *seq, Bytes::new()),
                        Segment::Rst => (SegmentKind::Rst, 0, Bytes::new()),
                    };
                    let key = (src, dst, kind, seq);
                    if !previous.contains(&key) {
                        fresh.push((
                            TappedSegment {
                                at,
                                src,
                                dst,
                                kind,
                                payload,
                            },
                            seq,
                        ));
                    }
                    current.insert(key);
                }
            }
        });
        std::mem::swap(&mut self.previous, &mut self.current);
        for (segment, seq) in fresh {
            self.take(segment, Some(seq));
        }
        if let Some(recorder) = &self.recorder {
            recorder.borrow_mut().advance(at);
        }
    }

    /// Takes one segment the wire carried (in order within its connection).
    pub fn observe(&mut self, segment: TappedSegment) {
        self.take(segment, None);
    }

    /// Takes one segment with turmoil's number for it, if known.
    fn take(&mut self, segment: TappedSegment, seq: Option<u64>) {
        self.segments += 1;
        self.bytes += segment.payload.len() as u64;
        if let Some(scanner) = self.scanner.as_mut() {
            if segment.kind == SegmentKind::Data {
                scanner.scan(&segment, &self.names);
            } else {
                scanner.streams.remove(&(segment.src, segment.dst));
            }
        }
        if let Some(recorder) = &self.recorder {
            recorder.borrow_mut().observe(&segment, seq);
        }
        if self.keep.contains(&segment.src.ip()) || self.keep.contains(&segment.dst.ip()) {
            self.kept.push(segment);
        }
    }

    /// Secrets found in clear, in the order they were found.
    pub fn leaks(&self) -> &[Leak] {
        self.scanner.as_ref().map_or(&[], |s| s.leaks.as_slice())
    }

    /// Whether the tap scans for secrets.
    pub fn scans(&self) -> bool {
        self.scanner.is_some()
    }

    /// The segments kept for capture files, in wire order.
    pub fn into_kept(self) -> Vec<TappedSegment> {
        self.kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(at: u64, src: &str, dst: &str, bytes: &[u8]) -> TappedSegment {
        TappedSegment {
            at: Duration::from_secs(at),
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            kind: SegmentKind::Data,
            payload: Bytes::copy_from_slice(bytes),
        }
    }

    fn secret(label: &str, value: &[u8]) -> KnownSecret {
        KnownSecret {
            label: label.into(),
            value: value.to_vec(),
        }
    }

    #[test]
    fn a_secret_in_clear_is_found_once_even_split_over_segments() {
        let mut tap = Tap::new(
            vec![secret("password of alice", b"correct horse battery")],
            BTreeSet::new(),
        );
        tap.observe(data(
            1,
            "10.0.0.1:1000",
            "10.0.0.2:7443",
            b"login: correct ho",
        ));
        tap.observe(data(2, "10.0.0.1:1000", "10.0.0.2:7443", b"rse battery\n"));
        // The same leak again on the same pair of hosts is the same finding.
        tap.observe(data(
            3,
            "10.0.0.1:1001",
            "10.0.0.2:7443",
            b"correct horse battery",
        ));
        assert_eq!(tap.leaks().len(), 1);
        assert_eq!(tap.leaks()[0].secret, "password of alice");
        assert_eq!(tap.leaks()[0].at, Duration::from_secs(2));
    }

    #[test]
    fn sealed_bytes_and_other_directions_are_not_a_leak() {
        let mut tap = Tap::new(
            vec![secret("pairing secret of camera 1", b"0123456789abcdef")],
            BTreeSet::new(),
        );
        // Half the secret one way, the other half the other way: no single stream has it.
        tap.observe(data(1, "10.0.0.1:1000", "10.0.0.2:7443", b"01234567"));
        tap.observe(data(1, "10.0.0.2:7443", "10.0.0.1:1000", b"89abcdef"));
        tap.observe(data(
            2,
            "10.0.0.1:1000",
            "10.0.0.2:7443",
            b"\x8f\x11 sealed",
        ));
        assert!(tap.leaks().is_empty());
        assert_eq!(tap.bytes, 25);
    }

    #[test]
    fn short_secrets_are_not_scanned_for() {
        // A 4-byte secret would match random ciphertext; such values are left out.
        let tap = Tap::new(vec![secret("pin", b"1234")], BTreeSet::new());
        assert!(!tap.scans());
    }

    proptest::proptest! {
        /// The sampled scan finds exactly what a plain search of the whole stream finds,
        /// however the stream is cut into segments.
        #[test]
        fn the_scan_agrees_with_a_plain_search(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            secret in proptest::collection::vec(proptest::prelude::any::<u8>(), 8..40),
            insert in proptest::option::of(0usize..300),
            cuts in proptest::collection::vec(1usize..50, 1..20),
        ) {
            let mut stream = noise.clone();
            if let Some(at) = insert {
                let at = at.min(stream.len());
                stream.splice(at..at, secret.iter().copied());
            }
            let expected = stream.windows(secret.len()).any(|w| w == &secret[..]);
            let mut tap = Tap::new(vec![KnownSecret { label: "s".into(), value: secret }], BTreeSet::new());
            let mut rest = &stream[..];
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (now, later) = rest.split_at((*cut).min(rest.len()));
                tap.observe(data(1, "10.0.0.1:1000", "10.0.0.2:7443", now));
                rest = later;
            }
            proptest::prop_assert_eq!(tap.leaks().len(), usize::from(expected));
        }
    }

    #[test]
    fn only_chosen_hosts_are_kept() {
        let keep: BTreeSet<IpAddr> = ["10.0.0.2".parse().unwrap()].into();
        let mut tap = Tap::new(Vec::new(), keep);
        tap.observe(data(1, "10.0.0.1:1000", "10.0.0.2:7443", b"a"));
        tap.observe(data(1, "10.0.0.1:1000", "10.0.0.3:7443", b"b"));
        let kept = tap.into_kept();
        assert_eq!(kept.len(), 1);
        assert_eq!(&kept[0].payload[..], b"a");
    }
}
