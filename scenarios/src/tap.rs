//! The wire tap: every TCP segment that crosses the simulated network, seen once, scanned
//! for the run's secrets and, for chosen hosts, kept for pcap files.
//!
//! turmoil keeps a sent segment on its link until the link's latency has passed, and the
//! world looks at the links between two steps; a segment is new when it was not on the
//! links at the previous look. Nothing is delivered, dropped or changed by looking.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
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

/// One secret the tap found in clear on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    /// Simulated time of the segment that completed it.
    pub at: Duration,
    /// Which secret, by its label (never its value).
    pub secret: String,
    /// Sender host.
    pub from: String,
    /// Receiver host.
    pub to: String,
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
            segments: 0,
            bytes: 0,
        }
    }

    /// Names an address, for leak reports.
    pub fn name(&mut self, addr: IpAddr, name: String) {
        self.names.insert(addr, name);
    }

    /// Looks at every segment on the simulator's links at simulated time `at`.
    pub fn look(&mut self, sim: &turmoil::Sim<'_>, at: Duration) {
        let mut fresh: Vec<TappedSegment> = Vec::new();
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
                        fresh.push(TappedSegment {
                            at,
                            src,
                            dst,
                            kind,
                            payload,
                        });
                    }
                    current.insert(key);
                }
            }
        });
        std::mem::swap(&mut self.previous, &mut self.current);
        for segment in fresh {
            self.observe(segment);
        }
    }

    /// Takes one segment the wire carried.
    pub fn observe(&mut self, segment: TappedSegment) {
        self.segments += 1;
        self.bytes += segment.payload.len() as u64;
        if let Some(scanner) = self.scanner.as_mut() {
            if segment.kind == SegmentKind::Data {
                scanner.scan(&segment, &self.names);
            } else {
                scanner.streams.remove(&(segment.src, segment.dst));
            }
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
