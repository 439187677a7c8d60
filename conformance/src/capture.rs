//! Captures: the harness records every TCP flow it has with the DUT, writes them as
//! pcap or pcapng, and reads pcap/pcapng files back into flows for offline checks.
//!
//! - [`Recorded`]: an `AsyncRead + AsyncWrite` wrapper that appends what passes to a
//!   shared [`Capture`].
//! - [`Capture::to_pcap`] / [`Capture::to_pcapng`]: synthesised IPv4/TCP packets
//!   (handshake, data, FIN) that Wireshark and `pcap-parser` read.
//! - [`read_capture`]: any pcap or pcapng (Ethernet, raw IP, Linux cooked, BSD
//!   loopback; IPv4 TCP), reassembled per direction by sequence number. A damaged file
//!   is an error naming the packet, never a panic; memory is bounded.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use camproof_net::Clock;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Which way bytes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// From the TCP client to the server.
    ClientToServer,
    /// From the server to the client.
    ServerToClient,
}

/// Bytes that went one way at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Microseconds since the Unix epoch.
    pub at_us: u64,
    /// Direction.
    pub dir: Dir,
    /// The bytes.
    pub data: Vec<u8>,
}

/// One TCP connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// The side that connected.
    pub client: SocketAddrV4,
    /// The side that accepted.
    pub server: SocketAddrV4,
    /// When it opened (µs since the epoch).
    pub opened_us: u64,
    /// Data in order of arrival.
    pub segments: Vec<Segment>,
    /// Bytes dropped because the flow was over the capture bound.
    pub dropped: u64,
}

impl Flow {
    /// Everything one direction carried, concatenated.
    pub fn stream(&self, dir: Dir) -> Vec<u8> {
        let mut out = Vec::new();
        for s in self.segments.iter().filter(|s| s.dir == dir) {
            out.extend_from_slice(&s.data);
        }
        out
    }
}

/// Largest number of bytes kept per flow (more is counted, not kept).
pub const MAX_FLOW_BYTES: usize = 32 * 1024 * 1024;
/// Largest number of flows kept.
pub const MAX_FLOWS: usize = 4096;

/// The flows of one run.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// Flows, in order of opening.
    pub flows: Vec<Flow>,
    /// Bytes kept so far per flow, so recording is O(1) per segment. Flows added to
    /// `flows` directly are counted when first recorded into.
    kept: Vec<usize>,
}

impl PartialEq for Capture {
    fn eq(&self, other: &Self) -> bool {
        self.flows == other.flows
    }
}

impl Eq for Capture {}

/// How a segment seen on a wire moves its TCP connection along.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentRole {
    /// A connection request: opens a flow with its sender as the client.
    Open,
    /// Payload bytes.
    Data,
    /// FIN or RST: counted, carries nothing.
    Close,
}

/// One TCP segment seen on a (simulated) wire, in wire order.
#[derive(Debug, Clone, Copy)]
pub struct WireSegment<'a> {
    /// When it was seen, µs since the Unix epoch.
    pub at_us: u64,
    /// Sender.
    pub src: std::net::SocketAddr,
    /// Receiver.
    pub dst: std::net::SocketAddr,
    /// What it does to the connection.
    pub role: SegmentRole,
    /// The payload (empty but for data).
    pub payload: &'a [u8],
}

/// What [`Capture::from_segments`] made of a wire's segments.
#[derive(Debug, Clone, Default)]
pub struct WireCapture {
    /// The flows, ready for [`Capture::to_pcap`].
    pub capture: Capture,
    /// Segments written (opening, data and closing alike).
    pub segments: u64,
    /// Segments left out: not IPv4, or of flows beyond [`MAX_FLOWS`].
    pub skipped: u64,
}

/// A capture shared by the recorders of one run.
pub type SharedCapture = Rc<RefCell<Capture>>;

impl Capture {
    /// Opens a flow and returns its index.
    pub fn open(&mut self, client: SocketAddrV4, server: SocketAddrV4, at_us: u64) -> usize {
        if self.flows.len() >= MAX_FLOWS {
            // Keep recording into the last flow rather than growing without bound.
            return self.flows.len() - 1;
        }
        self.flows.push(Flow {
            client,
            server,
            opened_us: at_us,
            segments: Vec::new(),
            dropped: 0,
        });
        self.flows.len() - 1
    }

    /// Turns segments seen on a wire into flows: an opening segment opens a flow (client =
    /// sender), data goes the flow's way; data of a connection whose opening was not
    /// seen opens a flow with its sender as the client.
    pub fn from_segments<'a>(segments: impl IntoIterator<Item = WireSegment<'a>>) -> WireCapture {
        use std::net::SocketAddr;
        let mut out = WireCapture::default();
        let mut open: BTreeMap<(SocketAddr, SocketAddr), usize> = BTreeMap::new();
        for seg in segments {
            let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (seg.src, seg.dst) else {
                out.skipped += 1;
                continue;
            };
            let known = open
                .get(&(seg.src, seg.dst))
                .map(|f| (*f, Dir::ClientToServer))
                .or_else(|| {
                    open.get(&(seg.dst, seg.src))
                        .map(|f| (*f, Dir::ServerToClient))
                });
            let flow = match (seg.role, known) {
                (SegmentRole::Open, _) | (_, None) => {
                    if out.capture.flows.len() >= MAX_FLOWS {
                        out.skipped += 1;
                        continue;
                    }
                    let f = out.capture.open(src, dst, seg.at_us);
                    open.insert((seg.src, seg.dst), f);
                    open.remove(&(seg.dst, seg.src));
                    Some((f, Dir::ClientToServer))
                }
                (_, known) => known,
            };
            out.segments += 1;
            if let (SegmentRole::Data, Some((f, dir))) = (seg.role, flow) {
                out.capture.record(f, dir, seg.at_us, seg.payload);
            }
        }
        out
    }

    /// Creates a capture of `flows` (as read from a file, or built by hand).
    pub fn from_flows(flows: Vec<Flow>) -> Self {
        Capture {
            flows,
            kept: Vec::new(),
        }
    }

    /// Appends `data`, sent `dir` at `at_us` (µs since the Unix epoch), to flow `flow`
    /// (an index [`Capture::open`] returned); an unknown flow is ignored. Bytes over
    /// [`MAX_FLOW_BYTES`] per flow are counted in [`Flow::dropped`], not kept. O(1) per
    /// call (amortised): data sent the same way at the same time joins the last segment.
    pub fn record(&mut self, flow: usize, dir: Dir, at_us: u64, data: &[u8]) {
        if flow >= self.flows.len() {
            return;
        }
        // Count flows pushed without `open` once, then keep the running total.
        while self.kept.len() <= flow {
            let i = self.kept.len();
            let bytes = self.flows[i].segments.iter().map(|s| s.data.len()).sum();
            self.kept.push(bytes);
        }
        let (f, kept) = (&mut self.flows[flow], &mut self.kept[flow]);
        if *kept + data.len() > MAX_FLOW_BYTES {
            f.dropped += data.len() as u64;
            return;
        }
        *kept += data.len();
        match f.segments.last_mut() {
            Some(last) if last.dir == dir && last.at_us == at_us && last.data.len() < 16384 => {
                last.data.extend_from_slice(data)
            }
            _ => f.segments.push(Segment {
                at_us,
                dir,
                data: data.to_vec(),
            }),
        }
    }

    /// Overwrites with `*` every occurrence of `secret` that directly follows `prefix`
    /// in what went `dir` on `flow`, even across segments; returns how many were masked.
    ///
    /// The length is kept, so framing, offsets and sequence numbers stay valid. The
    /// harness uses it to keep a password it had to send in clear out of capture files.
    pub fn mask_after(&mut self, flow: usize, dir: Dir, prefix: &[u8], secret: &[u8]) -> usize {
        let Some(f) = self.flows.get_mut(flow) else {
            return 0;
        };
        if secret.is_empty() {
            return 0;
        }
        let needle: Vec<u8> = prefix.iter().chain(secret).copied().collect();
        let data = f.stream(dir);
        let mut hits = Vec::new();
        let mut at = 0;
        while let Some(window) = data.get(at..at + needle.len()) {
            if window == needle.as_slice() {
                hits.push(at + prefix.len()..at + needle.len());
                at += needle.len();
            } else {
                at += 1;
            }
        }
        let mut offset = 0;
        for seg in f.segments.iter_mut().filter(|s| s.dir == dir) {
            let end = offset + seg.data.len();
            for hit in &hits {
                let (from, to) = (hit.start.max(offset), hit.end.min(end));
                if from < to {
                    seg.data[from - offset..to - offset].fill(b'*');
                }
            }
            offset = end;
        }
        hits.len()
    }

    /// The capture as a classic pcap file (LINKTYPE_RAW, microsecond timestamps).
    pub fn to_pcap(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&65535u32.to_le_bytes());
        out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        for (at, pkt) in self.packets() {
            let secs = (at / 1_000_000) as u32;
            let usecs = (at % 1_000_000) as u32;
            out.extend_from_slice(&secs.to_le_bytes());
            out.extend_from_slice(&usecs.to_le_bytes());
            out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
            out.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
            out.extend_from_slice(&pkt);
        }
        out
    }

    /// The capture as a pcapng file (one interface, LINKTYPE_RAW, µs timestamps).
    pub fn to_pcapng(&self) -> Vec<u8> {
        fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
            let pad = (4 - body.len() % 4) % 4;
            let total = (12 + body.len() + pad) as u32;
            out.extend_from_slice(&kind.to_le_bytes());
            out.extend_from_slice(&total.to_le_bytes());
            out.extend_from_slice(body);
            out.extend(std::iter::repeat_n(0u8, pad));
            out.extend_from_slice(&total.to_le_bytes());
        }
        let mut out = Vec::new();
        let mut shb = Vec::new();
        shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
        shb.extend_from_slice(&1u16.to_le_bytes());
        shb.extend_from_slice(&0u16.to_le_bytes());
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        block(&mut out, 0x0a0d_0d0a, &shb);
        let mut idb = Vec::new();
        idb.extend_from_slice(&(LINKTYPE_RAW as u16).to_le_bytes());
        idb.extend_from_slice(&0u16.to_le_bytes());
        idb.extend_from_slice(&65535u32.to_le_bytes());
        block(&mut out, 1, &idb);
        for (at, pkt) in self.packets() {
            let mut epb = Vec::new();
            epb.extend_from_slice(&0u32.to_le_bytes());
            epb.extend_from_slice(&((at >> 32) as u32).to_le_bytes());
            epb.extend_from_slice(&(at as u32).to_le_bytes());
            epb.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
            epb.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
            epb.extend_from_slice(&pkt);
            block(&mut out, 6, &epb);
        }
        out
    }

    /// Synthesised IPv4/TCP packets of every flow, in time order.
    fn packets(&self) -> Vec<(u64, Vec<u8>)> {
        let mut all = Vec::new();
        for (i, f) in self.flows.iter().enumerate() {
            let isn_c = 1_000 + (i as u32) * 7919;
            let isn_s = 500_000 + (i as u32) * 104_729;
            let (c, s) = (f.client, f.server);
            let mut seq_c = isn_c.wrapping_add(1);
            let mut seq_s = isn_s.wrapping_add(1);
            let t0 = f.opened_us;
            all.push((t0, tcp_packet(c, s, isn_c, 0, SYN, &[])));
            all.push((t0, tcp_packet(s, c, isn_s, seq_c, SYN | ACK, &[])));
            all.push((t0, tcp_packet(c, s, seq_c, seq_s, ACK, &[])));
            let mut last = t0;
            for seg in &f.segments {
                last = seg.at_us.max(last);
                for chunk in seg.data.chunks(16 * 1024) {
                    let pkt = match seg.dir {
                        Dir::ClientToServer => {
                            let p = tcp_packet(c, s, seq_c, seq_s, PSH | ACK, chunk);
                            seq_c = seq_c.wrapping_add(chunk.len() as u32);
                            p
                        }
                        Dir::ServerToClient => {
                            let p = tcp_packet(s, c, seq_s, seq_c, PSH | ACK, chunk);
                            seq_s = seq_s.wrapping_add(chunk.len() as u32);
                            p
                        }
                    };
                    // Never before the handshake or an earlier segment of the flow: a
                    // stamp that goes backwards would put the bytes out of order.
                    all.push((last, pkt));
                }
            }
            all.push((last, tcp_packet(c, s, seq_c, seq_s, FIN | ACK, &[])));
        }
        // A stable sort keeps each flow's packets in order at equal times.
        all.sort_by_key(|(t, _)| *t);
        all
    }
}

const LINKTYPE_RAW: u32 = 101;
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let mut odd: Option<u8> = None;
    for chunk in chunks {
        for &b in *chunk {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn tcp_packet(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let total = 40 + payload.len();
    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut tcp = vec![0u8; 20];
    tcp[0..2].copy_from_slice(&src.port().to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    tcp[4..8].copy_from_slice(&seq.to_be_bytes());
    tcp[8..12].copy_from_slice(&(if flags & ACK != 0 { ack } else { 0 }).to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.ip().octets());
    pseudo.extend_from_slice(&dst.ip().octets());
    pseudo.extend_from_slice(&[0, 6]);
    pseudo.extend_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    let c = checksum(&[&pseudo, &tcp, payload]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    let mut out = ip;
    out.extend_from_slice(&tcp);
    out.extend_from_slice(payload);
    out
}

/// A stream whose traffic is appended to a [`Capture`].
///
/// `local_is_client` says whether the harness opened the connection: bytes the harness
/// reads then travel server → client.
pub struct Recorded<S, C> {
    inner: S,
    capture: SharedCapture,
    flow: usize,
    clock: C,
    read_dir: Dir,
}

impl<S, C: Clock> Recorded<S, C> {
    /// Records `inner` as a new flow `client → server`.
    pub fn new(
        inner: S,
        capture: SharedCapture,
        clock: C,
        client: SocketAddrV4,
        server: SocketAddrV4,
        local_is_client: bool,
    ) -> Self {
        let flow = capture
            .borrow_mut()
            .open(client, server, clock.now().as_micros());
        Recorded {
            inner,
            capture,
            flow,
            clock,
            read_dir: if local_is_client {
                Dir::ServerToClient
            } else {
                Dir::ClientToServer
            },
        }
    }

    /// Masks, in the capture, `secret` after `prefix` in what this side wrote so far
    /// (see [`Capture::mask_after`]); returns how many were masked.
    pub fn mask_written_after(&self, prefix: &[u8], secret: &[u8]) -> usize {
        self.capture
            .borrow_mut()
            .mask_after(self.flow, self.write_dir(), prefix, secret)
    }

    fn write_dir(&self) -> Dir {
        match self.read_dir {
            Dir::ClientToServer => Dir::ServerToClient,
            Dir::ServerToClient => Dir::ClientToServer,
        }
    }
}

impl<S: AsyncRead + Unpin, C: Clock + Unpin> AsyncRead for Recorded<S, C> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                let at = this.clock.now().as_micros();
                this.capture
                    .borrow_mut()
                    .record(this.flow, this.read_dir, at, new);
            }
        }
        r
    }
}

impl<S: AsyncWrite + Unpin, C: Clock + Unpin> AsyncWrite for Recorded<S, C> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &r {
            let at = this.clock.now().as_micros();
            let dir = this.write_dir();
            this.capture
                .borrow_mut()
                .record(this.flow, dir, at, &data[..*n]);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Why a capture file could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// Not a pcap or pcapng file, or damaged.
    #[error("not a readable pcap/pcapng file: {0}")]
    Format(String),
    /// A block could not be parsed.
    #[error("damaged capture at block {block}: {reason}")]
    Damaged {
        /// Index of the block (0-based).
        block: usize,
        /// What the parser said.
        reason: String,
    },
    /// Reading the file failed.
    #[error("reading the capture: {0}")]
    Io(#[from] io::Error),
}

/// What [`read_capture`] found besides the flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets read.
    pub packets: u64,
    /// Packets that were not IPv4 TCP between two different sockets (skipped).
    pub skipped: u64,
    /// Link types seen that are not supported.
    pub unsupported_links: Vec<u32>,
}

/// One direction being reassembled.
#[derive(Default)]
struct Half {
    base: Option<u32>,
    chunks: BTreeMap<u32, (u64, Vec<u8>)>,
    bytes: usize,
    dropped: u64,
}

struct Building {
    client: SocketAddrV4,
    server: SocketAddrV4,
    opened_us: u64,
    halves: [Half; 2],
}

/// Reads a pcap or pcapng file into flows (IPv4 TCP; other packets are counted and
/// skipped). Directions are reassembled by sequence number; retransmitted bytes are
/// kept once. The side that sent the first SYN (else the first packet) is the client.
pub fn read_capture(
    mut reader: impl io::Read + Send,
) -> Result<(Capture, CaptureStats), CaptureError> {
    use pcap_parser::{Block, PcapBlockOwned, PcapError};

    let mut r = pcap_parser::create_reader(1 << 20, &mut reader)
        .map_err(|e| CaptureError::Format(format!("{e:?}")))?;
    let mut stats = CaptureStats::default();
    let mut link_types: Vec<u32> = Vec::new();
    let mut ts_resolution: Vec<u64> = Vec::new();
    let mut legacy_link = 0u32;
    let mut legacy_nanos = false;
    let mut flows: BTreeMap<(SocketAddrV4, SocketAddrV4), Building> = BTreeMap::new();
    let mut order: Vec<(SocketAddrV4, SocketAddrV4)> = Vec::new();
    let mut block_no = 0usize;
    let mut last_incomplete: Option<usize> = None;
    loop {
        match r.next() {
            Ok((offset, block)) => {
                let mut packet: Option<(u32, u64, Vec<u8>)> = None;
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_link = h.network.0 as u32;
                        legacy_nanos = matches!(h.magic_number, 0xa1b2_3c4d | 0x4d3c_b2a1);
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let frac = u64::from(b.ts_usec);
                        let us = u64::from(b.ts_sec) * 1_000_000
                            + if legacy_nanos { frac / 1000 } else { frac };
                        packet = Some((legacy_link, us, b.data.to_vec()));
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        link_types.clear();
                        ts_resolution.clear();
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        link_types.push(idb.linktype.0 as u32);
                        ts_resolution.push(idb.ts_resolution().unwrap_or(1_000_000));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let i = epb.if_id as usize;
                        let link = link_types.get(i).copied().unwrap_or(u32::MAX);
                        let res = ts_resolution.get(i).copied().unwrap_or(1_000_000).max(1);
                        let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                        let us = (u128::from(raw) * 1_000_000 / u128::from(res)) as u64;
                        let len = (epb.caplen as usize).min(epb.data.len());
                        packet = Some((link, us, epb.data[..len].to_vec()));
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let link = link_types.first().copied().unwrap_or(u32::MAX);
                        packet = Some((link, 0, spb.data.to_vec()));
                    }
                    PcapBlockOwned::NG(_) => {}
                }
                r.consume(offset);
                block_no += 1;
                if let Some((link, at, data)) = packet {
                    stats.packets += 1;
                    match ip_of(link, &data) {
                        Some(ip) => {
                            if !add_packet(&mut flows, &mut order, at, ip) {
                                stats.skipped += 1;
                            }
                        }
                        None => {
                            stats.skipped += 1;
                            if !SUPPORTED_LINKS.contains(&link)
                                && !stats.unsupported_links.contains(&link)
                            {
                                stats.unsupported_links.push(link);
                            }
                        }
                    }
                }
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                // Two refills in a row without a block: the file ends inside one.
                if last_incomplete == Some(block_no) {
                    return Err(CaptureError::Damaged {
                        block: block_no,
                        reason: "the file ends inside a block".into(),
                    });
                }
                last_incomplete = Some(block_no);
                r.refill().map_err(|e| CaptureError::Damaged {
                    block: block_no,
                    reason: format!("{e:?}"),
                })?;
            }
            Err(e) => {
                return Err(CaptureError::Damaged {
                    block: block_no,
                    reason: format!("{e:?}"),
                })
            }
        }
    }
    let mut capture = Capture::default();
    for key in order {
        let Some(b) = flows.remove(&key) else {
            continue;
        };
        let mut flow = Flow {
            client: b.client,
            server: b.server,
            opened_us: b.opened_us,
            segments: Vec::new(),
            dropped: 0,
        };
        for (half, dir) in b
            .halves
            .into_iter()
            .zip([Dir::ClientToServer, Dir::ServerToClient])
        {
            flow.dropped += half.dropped;
            let mut next = 0u32;
            // Stamps kept non-decreasing in sequence order, so the sort by time below
            // interleaves the two directions without reordering either one's bytes.
            let mut stamp = 0u64;
            for (off, (at, data)) in half.chunks {
                let end = off.wrapping_add(data.len() as u32);
                if off > next {
                    // A gap: bytes missing from the capture. Keep what follows as-is.
                    flow.dropped += u64::from(off - next);
                    next = off;
                }
                if end <= next {
                    continue; // retransmission
                }
                let skip = (next - off) as usize;
                stamp = stamp.max(at);
                flow.segments.push(Segment {
                    at_us: stamp,
                    dir,
                    data: data[skip..].to_vec(),
                });
                next = end;
            }
        }
        flow.segments.sort_by_key(|s| s.at_us);
        capture.flows.push(flow);
    }
    Ok((capture, stats))
}

const SUPPORTED_LINKS: [u32; 6] = [0, 1, 101, 108, 113, 228];

/// The IPv4 packet inside a link-layer frame, if it is one.
fn ip_of(link: u32, data: &[u8]) -> Option<&[u8]> {
    let ip = match link {
        // Ethernet, with one or two VLAN tags.
        1 => {
            let mut off = 12;
            let mut ethertype = u16::from_be_bytes([*data.get(off)?, *data.get(off + 1)?]);
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                off += 4;
                ethertype = u16::from_be_bytes([*data.get(off)?, *data.get(off + 1)?]);
            }
            if ethertype != 0x0800 {
                return None;
            }
            data.get(off + 2..)?
        }
        101 | 228 => data,
        // BSD loopback: a 4-byte address family.
        0 | 108 => data.get(4..)?,
        // Linux cooked capture.
        113 => {
            if u16::from_be_bytes([*data.get(14)?, *data.get(15)?]) != 0x0800 {
                return None;
            }
            data.get(16..)?
        }
        _ => return None,
    };
    (ip.first()? >> 4 == 4).then_some(ip)
}

/// Adds one IPv4 packet; false if it is not TCP or is malformed.
fn add_packet(
    flows: &mut BTreeMap<(SocketAddrV4, SocketAddrV4), Building>,
    order: &mut Vec<(SocketAddrV4, SocketAddrV4)>,
    at: u64,
    ip: &[u8],
) -> bool {
    let Some(&vihl) = ip.first() else {
        return false;
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if ihl < 20 || ip.len() < ihl + 20 || ip.get(9) != Some(&6) {
        return false;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    // Captures with TSO report a total of 0; otherwise trust the smaller of the two.
    let ip = if total >= ihl + 20 && total <= ip.len() {
        &ip[..total]
    } else {
        ip
    };
    let src_ip = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst_ip = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let tcp = &ip[ihl..];
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
    let doff = usize::from(tcp[12] >> 4) * 4;
    let flags = tcp[13];
    if doff < 20 || tcp.len() < doff {
        return false;
    }
    let payload = &tcp[doff..];
    let src = SocketAddrV4::new(src_ip, sport);
    let dst = SocketAddrV4::new(dst_ip, dport);
    if src == dst {
        // A socket talking to itself has no direction to reassemble by: skipped.
        return false;
    }
    let (key, dir) = if flows.contains_key(&(dst, src)) {
        ((dst, src), 1)
    } else {
        if !flows.contains_key(&(src, dst)) {
            // A SYN/ACK first means the SYN was missed: its sender is the server.
            let (client, server) = if flags & (SYN | ACK) == SYN | ACK {
                (dst, src)
            } else {
                (src, dst)
            };
            if flows.len() >= MAX_FLOWS {
                return false;
            }
            flows.insert(
                (client, server),
                Building {
                    client,
                    server,
                    opened_us: at,
                    halves: [Half::default(), Half::default()],
                },
            );
            order.push((client, server));
        }
        if flows.contains_key(&(src, dst)) {
            ((src, dst), 0)
        } else {
            ((dst, src), 1)
        }
    };
    let Some(b) = flows.get_mut(&key) else {
        return false;
    };
    let half = &mut b.halves[dir];
    let data_seq = if flags & SYN != 0 {
        seq.wrapping_add(1)
    } else {
        seq
    };
    let base = *half.base.get_or_insert(data_seq);
    if payload.is_empty() {
        return true;
    }
    let off = data_seq.wrapping_sub(base);
    if off > (1 << 30) {
        return true; // before the base: an old retransmission
    }
    if half.bytes + payload.len() > MAX_FLOW_BYTES {
        half.dropped += payload.len() as u64;
        return true;
    }
    half.bytes += payload.len();
    half.chunks
        .entry(off)
        .or_insert_with(|| (at, payload.to_vec()));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_segments_become_flows_by_their_opening() {
        use std::net::SocketAddr;
        let a: SocketAddr = "10.0.0.1:40000".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:7443".parse().unwrap();
        let c: SocketAddr = "10.0.0.3:50000".parse().unwrap();
        let v6: SocketAddr = "[::1]:1".parse().unwrap();
        let seg = |at_us, src, dst, role, payload: &'static [u8]| WireSegment {
            at_us,
            src,
            dst,
            role,
            payload,
        };
        let out = Capture::from_segments([
            seg(10, a, b, SegmentRole::Open, b""),
            seg(11, a, b, SegmentRole::Data, b"hi"),
            seg(12, b, a, SegmentRole::Data, b"yo"),
            seg(13, a, b, SegmentRole::Close, b""),
            // Data of a connection whose opening was not seen: its sender is the client.
            seg(14, b, c, SegmentRole::Data, b"late"),
            seg(15, v6, b, SegmentRole::Data, b"x"),
        ]);
        assert_eq!((out.segments, out.skipped), (5, 1));
        let flows = &out.capture.flows;
        assert_eq!(flows.len(), 2);
        assert_eq!(
            (flows[0].client.port(), flows[0].server.port()),
            (40000, 7443)
        );
        assert_eq!(flows[0].stream(Dir::ClientToServer), b"hi");
        assert_eq!(flows[0].stream(Dir::ServerToClient), b"yo");
        assert_eq!((flows[1].client.port(), flows[1].opened_us), (7443, 14));
        assert_eq!(flows[1].stream(Dir::ClientToServer), b"late");
    }

    fn sample() -> Capture {
        let mut c = Capture::default();
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 34567);
        let f = c.open(a, b, 1_700_000_000_000_000);
        c.record(f, Dir::ClientToServer, 1_700_000_000_000_100, b"hello");
        c.record(f, Dir::ServerToClient, 1_700_000_000_000_200, b"world!");
        c.record(f, Dir::ClientToServer, 1_700_000_000_000_300, &[7u8; 40000]);
        c
    }

    /// A segment stamped before its flow opened (a clock that went backwards) is written
    /// after the handshake: the flow reads back with the same client and the same bytes
    /// each way (found by the `capture` fuzz target).
    #[test]
    fn segments_stamped_before_the_open_keep_their_flow_and_direction() {
        let mut c = Capture::default();
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 34567);
        let f = c.open(a, b, 5_000_000);
        c.record(f, Dir::ServerToClient, 1_000_000, b"hello");
        c.record(f, Dir::ClientToServer, 2_000_000, b"hi");
        for written in [c.to_pcap(), c.to_pcapng()] {
            let (again, _) = read_capture(written.as_slice()).expect("reads");
            assert_eq!(again.flows.len(), 1);
            let g = &again.flows[0];
            assert_eq!((g.client, g.server), (a, b));
            assert_eq!(g.stream(Dir::ServerToClient), b"hello");
            assert_eq!(g.stream(Dir::ClientToServer), b"hi");
        }
    }

    /// Bytes are kept in sequence order even when a later part was stamped earlier (two
    /// capture points' clocks, a reordered file): found by the `capture` fuzz target.
    #[test]
    fn reassembly_keeps_sequence_order_when_stamps_go_backwards() {
        let mut c = Capture::default();
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 34567);
        let f = c.open(a, b, 1_000);
        c.record(f, Dir::ClientToServer, 9_000, b"first ");
        c.record(f, Dir::ServerToClient, 9_000, b"ok");
        c.record(f, Dir::ClientToServer, 9_000, b"second");
        let mut pcap = c.to_pcap();
        // Stamp the client's second data packet (the sixth record: after the handshake,
        // "first " and "ok") 8 ms earlier than its first.
        let mut at = 24;
        for _ in 0..5 {
            let len = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().expect("4 bytes"));
            at += 16 + len as usize;
        }
        pcap[at + 4..at + 8].copy_from_slice(&1_000u32.to_le_bytes());
        let (again, _) = read_capture(pcap.as_slice()).expect("reads");
        assert_eq!(again.flows[0].stream(Dir::ClientToServer), b"first second");
    }

    /// A socket talking to itself has no direction to reassemble by: its packets are
    /// skipped, not read into a flow whose bytes could land either way.
    #[test]
    fn a_socket_talking_to_itself_is_skipped() {
        let mut c = Capture::default();
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
        let f = c.open(a, a, 1_000);
        c.record(f, Dir::ClientToServer, 2_000, b"echo");
        let (again, stats) = read_capture(c.to_pcap().as_slice()).expect("reads");
        assert!(again.flows.is_empty(), "{:?}", again.flows.len());
        assert!(stats.packets > 0);
        assert_eq!(stats.skipped, stats.packets);
    }

    /// A secret after its prefix is masked with `*`, also when split across segments;
    /// the same bytes elsewhere, and other flows and directions, are left alone.
    #[test]
    fn mask_after_masks_only_the_secret_after_its_prefix() {
        let mut c = sample();
        let f = 0;
        c.record(f, Dir::ClientToServer, 1, b"{\"PassWord\":\"hun");
        c.record(f, Dir::ClientToServer, 2, b"ter2\"} hunter2 ");
        c.record(f, Dir::ClientToServer, 3, b"\"PassWord\":\"hunter2\"");
        c.record(f, Dir::ServerToClient, 4, b"\"PassWord\":\"hunter2\"");
        let before = c.flows[0].stream(Dir::ClientToServer);
        assert_eq!(
            c.mask_after(f, Dir::ClientToServer, b"\"PassWord\":\"", b"hunter2"),
            2
        );
        let after = c.flows[0].stream(Dir::ClientToServer);
        assert_eq!(after.len(), before.len());
        let tail = String::from_utf8_lossy(&after[40_005..]).into_owned();
        assert_eq!(
            tail,
            "{\"PassWord\":\"*******\"} hunter2 \"PassWord\":\"*******\""
        );
        assert_eq!(
            c.flows[0].stream(Dir::ServerToClient),
            b"world!\"PassWord\":\"hunter2\""
        );
        assert_eq!(c.mask_after(f, Dir::ClientToServer, b"x", b""), 0);
        assert_eq!(c.mask_after(9, Dir::ClientToServer, b"x", b"y"), 0);
    }

    /// The running byte count bounds each flow, also for flows built by hand.
    #[test]
    fn record_keeps_at_most_max_flow_bytes_per_flow() {
        let mut c = sample();
        let kept = 5 + 6 + 40_000;
        let chunk = vec![1u8; 1 << 20];
        let mut at = 1_700_000_001_000_000;
        while c.flows[0]
            .segments
            .iter()
            .map(|s| s.data.len())
            .sum::<usize>()
            + chunk.len()
            <= MAX_FLOW_BYTES
        {
            at += 1;
            c.record(0, Dir::ServerToClient, at, &chunk);
        }
        let full: usize = c.flows[0].segments.iter().map(|s| s.data.len()).sum();
        assert!(full > kept && full + chunk.len() > MAX_FLOW_BYTES);
        c.record(0, Dir::ServerToClient, at + 1, &chunk);
        assert_eq!(c.flows[0].dropped, chunk.len() as u64);
        let mut by_hand = Capture::from_flows(c.flows.clone());
        by_hand.record(0, Dir::ClientToServer, at + 2, &chunk);
        assert_eq!(by_hand.flows[0].dropped, 2 * chunk.len() as u64);
        by_hand.record(0, Dir::ClientToServer, at + 3, b"x");
        assert_eq!(by_hand.flows[0].dropped, 2 * chunk.len() as u64);
        by_hand.record(7, Dir::ClientToServer, at, b"nowhere");
        assert_eq!(by_hand.flows.len(), 1);
    }

    /// pcap and pcapng written by the harness read back as the same flows.
    #[test]
    fn pcap_and_pcapng_round_trip() {
        let c = sample();
        for bytes in [c.to_pcap(), c.to_pcapng()] {
            let (back, stats) = read_capture(&bytes[..]).unwrap();
            assert_eq!(stats.skipped, 0);
            assert_eq!(back.flows.len(), 1);
            let f = &back.flows[0];
            assert_eq!(f.client, c.flows[0].client);
            assert_eq!(
                f.stream(Dir::ClientToServer),
                c.flows[0].stream(Dir::ClientToServer)
            );
            assert_eq!(f.stream(Dir::ServerToClient), b"world!");
        }
    }

    /// A damaged or truncated file is an error, never a panic.
    #[test]
    fn damaged_files_are_errors() {
        let good = sample().to_pcap();
        assert!(read_capture(&b"not a capture at all"[..]).is_err());
        for cut in [10, 30, 60, good.len() - 3] {
            let _ = read_capture(&good[..cut]);
        }
        let mut bad = good.clone();
        bad[24 + 8] = 0xff; // captured length of the first packet
        bad[24 + 9] = 0xff;
        let _ = read_capture(&bad[..]);
        let ng = sample().to_pcapng();
        for cut in [8, 40, ng.len() - 2] {
            let _ = read_capture(&ng[..cut]);
        }
        // Every cut, and many seeded byte changes, of both formats: errors or flows,
        // never a panic.
        use rand_core::{RngCore, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for file in [&good, &ng] {
            for cut in (0..file.len()).step_by(97) {
                let _ = read_capture(&file[..cut]);
            }
            for _ in 0..300 {
                let mut bad = file.to_vec();
                for _ in 0..1 + rng.next_u32() % 4 {
                    let at = rng.next_u32() as usize % bad.len();
                    bad[at] = rng.next_u32() as u8;
                }
                let _ = read_capture(&bad[..]);
            }
        }
    }
}
