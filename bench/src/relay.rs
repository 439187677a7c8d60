//! The relay benchmark (`camproof bench relay`): the relay against the machine's
//! ceiling and real peers.
//!
//! On loopback, side by side: a direct sender → receiver transfer (the ceiling); the
//! camproof relay (`camproof relay`, a child process) for one stream and fan-out to 10
//! and to `--viewers`; `socat` as a plain TCP relay; and `srt-live-transmit` with an
//! AES-256 passphrase, UDP in → SRT → UDP out. Each runs twice: unpaced (throughput, and
//! GB forwarded per CPU-second of the relay process, from its own rusage via `wait4`)
//! and paced to `--latency-gbps` delivered in total (per-frame latency, from a send
//! timestamp the sender writes into each frame's header).
//!
//! The load generator seals one GOP with the real [`FrameSealer`] and rewrites each
//! frame's timestamp field as it sends it, so frames keep the exact sealed layout and
//! sizes (the relay never checks tags: it has no key); the receivers only parse headers.
//!
//! It reads the host clock: it measures the host.
#![allow(clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use camproof_protocol::relay::{RelayHello, RelayReady, RelayRole, ADMITTED};
use camproof_protocol::video::{Codec, FrameSealer, PairingSecret, VideoHeader, HEADER_LEN};
use camproof_protocol::Timestamp;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::error::{BenchError, Context as _};

type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Frames per group of pictures in the generated stream.
const GOP: usize = 30;
/// Payload of the keyframe that opens each GOP.
const KEYFRAME_PAYLOAD: usize = 128 * 1024;
/// Payload of every other frame.
const PFRAME_PAYLOAD: usize = 24 * 1024;
/// Byte offset of the timestamp in a sealed frame's header.
const TS_OFFSET: usize = 21;
/// UDP datagram size for the SRT path (SRT's live-mode default payload, 7 × 188).
const UDP_DATAGRAM: usize = 1316;
/// Bench header of each UDP datagram: frame number, offset, frame length, send time.
const UDP_HEAD: usize = 20;
/// Read size of the receivers.
const RECV_BUF: usize = 64 * 1024;
/// The SRT passphrase (AES-256: `pbkeylen=32`).
const SRT_PASSPHRASE: &str = "camproof-bench-relay";

/// What the relay benchmark measures.
#[derive(Debug, Clone)]
pub struct RelayBenchArgs {
    /// Concurrent streams (cameras) in every case.
    pub streams: u32,
    /// Largest fan-out (viewers per stream); 1 and 10 run too.
    pub viewers: u32,
    /// Seconds each phase sends for.
    pub seconds: f64,
    /// Total delivered rate of the latency phase, Gbit/s.
    pub latency_gbps: f64,
    /// The `camproof` executable whose `relay` command is measured.
    pub camproof: PathBuf,
}

/// Which path a case measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    Direct,
    Camproof { viewers: u32 },
    Socat { buffer: Option<u32> },
    Srt,
}

impl Path {
    fn viewers(self) -> u32 {
        match self {
            Path::Camproof { viewers } => viewers,
            _ => 1,
        }
    }

    fn name(self) -> String {
        match self {
            Path::Direct => "direct (ceiling)".into(),
            Path::Camproof { viewers: 1 } => "camproof relay".into(),
            Path::Camproof { viewers } => format!("camproof relay 1→{viewers}"),
            Path::Socat { buffer: None } => "socat (default 8 KiB buffer)".into(),
            Path::Socat { buffer: Some(b) } => format!("socat -b {b}"),
            Path::Srt => "srt-live-transmit (AES-256)".into(),
        }
    }
}

/// One phase of one case.
#[derive(Debug, Clone, Default)]
struct Phase {
    wall: Duration,
    bytes_delivered: u64,
    frames_expected: u64,
    frames_received: u64,
    relay_cpu: Option<Duration>,
    latencies_us: Vec<u32>,
    relay_stats: Option<Value>,
}

impl Phase {
    fn gbps(&self) -> f64 {
        self.bytes_delivered as f64 * 8.0 / self.wall.as_secs_f64().max(1e-9) / 1e9
    }

    fn gb_per_cpu_s(&self) -> Option<f64> {
        self.relay_cpu
            .map(|c| self.bytes_delivered as f64 / 1e9 / c.as_secs_f64().max(1e-6))
    }

    fn dropped(&self) -> u64 {
        self.frames_expected.saturating_sub(self.frames_received)
    }

    fn percentile(&self, p: f64) -> Option<f64> {
        let mut v = self.latencies_us.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let idx = ((v.len() as f64 - 1.0) * p).round() as usize;
        v.get(idx.min(v.len() - 1)).map(|&x| f64::from(x))
    }

    fn to_json(&self) -> Value {
        json!({
            "seconds": self.wall.as_secs_f64(),
            "bytes_delivered": self.bytes_delivered,
            "gbit_per_s": self.gbps(),
            "relay_cpu_seconds": self.relay_cpu.map(|c| c.as_secs_f64()),
            "gb_per_relay_cpu_second": self.gb_per_cpu_s(),
            "frames_expected": self.frames_expected,
            "frames_received": self.frames_received,
            "frames_dropped": self.dropped(),
            "latency_p50_us": self.percentile(0.5),
            "latency_p99_us": self.percentile(0.99),
            "relay_stats": self.relay_stats,
        })
    }
}

/// One row: a path measured unpaced and paced, or missing.
#[derive(Debug)]
struct Case {
    path: Path,
    throughput: Option<Phase>,
    latency: Option<Phase>,
    missing: Option<String>,
}

/// What a relay benchmark measured: every case, and the targets of issue 6.
#[derive(Debug)]
pub struct RelayBench {
    args: RelayBenchArgs,
    cases: Vec<Case>,
    targets: Vec<Value>,
}

/// Runs every case; calls `on_case` with each case's name before measuring it.
pub fn run(args: RelayBenchArgs, on_case: &mut dyn FnMut(&str)) -> Result<RelayBench> {
    if args.streams < 1 || args.viewers < 1 {
        return Err(BenchError::Invalid(
            "--streams and --viewers must be at least 1".into(),
        ));
    }
    if !(args.seconds > 0.0 && args.seconds <= 3600.0) {
        return Err(BenchError::Invalid("--seconds must be in (0, 3600]".into()));
    }
    if args.latency_gbps.is_nan() || args.latency_gbps <= 0.0 {
        return Err(BenchError::Invalid(
            "--latency-gbps must be positive".into(),
        ));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .ctx("starting the load generator's runtime")?;
    let mut paths = vec![Path::Direct, Path::Camproof { viewers: 1 }];
    if args.viewers > 10 {
        paths.push(Path::Camproof { viewers: 10 });
    }
    if args.viewers > 1 {
        paths.push(Path::Camproof {
            viewers: args.viewers,
        });
    }
    paths.push(Path::Socat { buffer: None });
    paths.push(Path::Socat {
        buffer: Some(65536),
    });
    paths.push(Path::Srt);

    let bench = Bench {
        args: args.clone(),
        start: Instant::now(),
    };
    let mut cases = Vec::new();
    for path in paths {
        on_case(&path.name());
        if let Some(missing) = missing_tool(path) {
            cases.push(Case {
                path,
                throughput: None,
                latency: None,
                missing: Some(missing),
            });
            continue;
        }
        let throughput = bench
            .measure(&rt, path, None)
            .with_ctx(|| format!("{} (throughput)", path.name()))?;
        let per_viewer_bps =
            args.latency_gbps * 1e9 / 8.0 / f64::from(args.streams) / f64::from(path.viewers());
        let latency = bench
            .measure(&rt, path, Some(per_viewer_bps))
            .with_ctx(|| format!("{} (latency)", path.name()))?;
        cases.push(Case {
            path,
            throughput: Some(throughput),
            latency: Some(latency),
            missing: None,
        });
    }
    let targets = targets(&cases);
    Ok(RelayBench {
        args,
        cases,
        targets,
    })
}

impl RelayBench {
    /// Every figure as one JSON document.
    pub fn to_json(&self) -> Value {
        let args = &self.args;
        json!({
            "bench": "relay",
            "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            "streams": args.streams,
            "max_viewers": args.viewers,
            "seconds_per_phase": args.seconds,
            "latency_phase_gbit_per_s": args.latency_gbps,
            "gop": { "frames": GOP, "keyframe_payload": KEYFRAME_PAYLOAD, "pframe_payload": PFRAME_PAYLOAD },
            "cases": self.cases.iter().map(|c| json!({
                "name": c.path.name(),
                "viewers_per_stream": c.path.viewers(),
                "missing": c.missing,
                "throughput": c.throughput.as_ref().map(Phase::to_json),
                "latency": c.latency.as_ref().map(Phase::to_json),
            })).collect::<Vec<_>>(),
            "targets": self.targets,
        })
    }

    /// The figures as a table for people, with the targets met or missed.
    pub fn table(&self) -> String {
        table(&self.args, &self.cases, &self.targets)
    }
}

/// Why a peer cannot run here, if it cannot.
fn missing_tool(path: Path) -> Option<String> {
    let tool = match path {
        Path::Socat { .. } => "socat",
        Path::Srt => "srt-live-transmit",
        _ => return None,
    };
    match Command::new(tool)
        .arg(if tool == "socat" { "-V" } else { "-version" })
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
    {
        Ok(_) => None,
        Err(_) => Some(format!(
            "{tool} not installed (Debian: apt-get install {})",
            if tool == "socat" {
                "socat"
            } else {
                "srt-tools"
            }
        )),
    }
}

struct Bench {
    args: RelayBenchArgs,
    start: Instant,
}

impl Bench {
    fn seconds(&self) -> Duration {
        Duration::from_secs_f64(self.args.seconds)
    }

    /// Runs one phase of `path`: unpaced when `pace` is `None`, else each sender paced
    /// to `pace` bytes per second per viewer... of its stream (so the total delivered
    /// rate is the latency phase's target).
    fn measure(
        &self,
        rt: &tokio::runtime::Runtime,
        path: Path,
        pace: Option<f64>,
    ) -> Result<Phase> {
        let record = pace.is_some();
        match path {
            Path::Direct => rt.block_on(self.direct(pace, record)),
            Path::Camproof { viewers } => self.camproof(rt, viewers, pace, record),
            Path::Socat { buffer } => self.socat(rt, buffer, pace, record),
            Path::Srt => self.srt(rt, pace, record),
        }
    }

    async fn direct(&self, pace: Option<f64>, record: bool) -> Result<Phase> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut pairs = Vec::new();
        for _ in 0..self.args.streams {
            let tx = TcpStream::connect(addr).await?;
            let (rx, _) = listener.accept().await?;
            pairs.push((tx, vec![rx]));
        }
        self.transfer(pairs, pace, record, 1).await
    }

    fn camproof(
        &self,
        rt: &tokio::runtime::Runtime,
        viewers: u32,
        pace: Option<f64>,
        record: bool,
    ) -> Result<Phase> {
        let mut child = Command::new(&self.args.camproof)
            .args(["relay", "--listen", "127.0.0.1:0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .ctx("starting `camproof relay`")?;
        let stdout = child.stdout.take().ctx("relay stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .ctx("the relay exited before listening")?
            .ctx("reading the relay's address")?;
        let addr = first
            .rsplit(' ')
            .next()
            .filter(|_| first.starts_with("camproof relay listening on "))
            .with_ctx(|| format!("unexpected relay output {first:?}"))?
            .to_string();
        let phase = rt.block_on(async {
            let mut pairs = Vec::new();
            for s in 0..self.args.streams {
                let mut rxs = Vec::new();
                for _ in 0..viewers {
                    rxs.push(hello(&addr, RelayRole::Viewer, s).await?);
                }
                let tx = hello(&addr, RelayRole::Camera, s).await?;
                pairs.push((tx, rxs));
            }
            self.transfer(pairs, pace, record, viewers).await
        });
        drop(child.stdin.take());
        let stats = lines
            .next()
            .and_then(|l| l.ok())
            .and_then(|l| serde_json::from_str::<Value>(&l).ok());
        let cpu = reap(&child)?;
        let mut phase = phase?;
        phase.relay_cpu = Some(cpu);
        phase.relay_stats = stats;
        Ok(phase)
    }

    fn socat(
        &self,
        rt: &tokio::runtime::Runtime,
        buffer: Option<u32>,
        pace: Option<f64>,
        record: bool,
    ) -> Result<Phase> {
        let mut children = Vec::new();
        let result = rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let target = listener.local_addr()?;
            let mut pairs = Vec::new();
            for _ in 0..self.args.streams {
                let port = free_port()?;
                let mut cmd = Command::new("socat");
                if let Some(b) = buffer {
                    cmd.args(["-b", &b.to_string()]);
                }
                cmd.arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr"))
                    .arg(format!("TCP:{target}"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                children.push(cmd.spawn().ctx("starting socat")?);
                let tx = connect_retry(&format!("127.0.0.1:{port}")).await?;
                let (rx, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
                    .await
                    .ctx("socat did not connect onward")??;
                pairs.push((tx, vec![rx]));
            }
            self.transfer(pairs, pace, record, 1).await
        });
        // Each socat exits once both directions are closed.
        let mut cpu = Duration::ZERO;
        for child in &children {
            if result.is_err() {
                signal(child, libc::SIGTERM);
            }
            cpu += reap(child)?;
        }
        let mut phase = result?;
        phase.relay_cpu = Some(cpu);
        Ok(phase)
    }

    fn srt(&self, rt: &tokio::runtime::Runtime, pace: Option<f64>, record: bool) -> Result<Phase> {
        // SRT's live mode is for paced input: an unpaced UDP burst only overflows the
        // socket buffers. Its throughput phase offers the latency phase's total rate
        // per stream, twice over.
        let rate = pace.unwrap_or(2.0 * self.args.latency_gbps * 1e9 / 8.0);
        let mut children = Vec::new();
        let mut routes = Vec::new();
        for _ in 0..self.args.streams {
            let (udp_in, srt_port, udp_out) = (free_udp_port()?, free_port()?, free_udp_port()?);
            let opts = format!("passphrase={SRT_PASSPHRASE}&pbkeylen=32");
            let listener = Command::new("srt-live-transmit")
                .args(["-q", &format!("udp://127.0.0.1:{udp_in}")])
                .arg(format!("srt://127.0.0.1:{srt_port}?mode=listener&{opts}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ctx("starting srt-live-transmit (UDP → SRT)")?;
            children.push(listener);
            std::thread::sleep(Duration::from_millis(200));
            let caller = Command::new("srt-live-transmit")
                .arg("-q")
                .arg(format!("srt://127.0.0.1:{srt_port}?mode=caller&{opts}"))
                .arg(format!("udp://127.0.0.1:{udp_out}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ctx("starting srt-live-transmit (SRT → UDP)")?;
            children.push(caller);
            routes.push((udp_in, udp_out));
        }
        // Let the SRT handshakes (with key exchange) finish.
        std::thread::sleep(Duration::from_millis(500));
        let result = rt.block_on(self.udp_transfer(&routes, rate, record));
        let mut cpu = Duration::ZERO;
        for child in &children {
            signal(child, libc::SIGINT);
        }
        for child in &children {
            cpu += reap(child)?;
        }
        let mut phase = result?;
        phase.relay_cpu = Some(cpu);
        Ok(phase)
    }

    /// Streams from each sender to its receivers for `--seconds`, then closes the
    /// senders and waits for every receiver to see the end.
    async fn transfer(
        &self,
        pairs: Vec<(TcpStream, Vec<TcpStream>)>,
        pace: Option<f64>,
        record: bool,
        viewers: u32,
    ) -> Result<Phase> {
        let started = Instant::now();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        // `pace` is per viewer: each viewer receives its sender's whole rate.
        let rate = pace;
        for (stream_id, (tx, rxs)) in (0u32..).zip(pairs) {
            let gop = make_gop(stream_id)?;
            let dur = self.seconds();
            let clock = self.start;
            senders.push(tokio::spawn(send_tcp(tx, gop, rate, dur, clock)));
            for rx in rxs {
                receivers.push(tokio::spawn(recv_tcp(rx, record, clock)));
            }
        }
        let limit = self.seconds() + Duration::from_secs(30);
        let mut phase = Phase::default();
        let deadline = tokio::time::Instant::now() + limit;
        for s in senders {
            let frames = tokio::time::timeout_at(deadline, s)
                .await
                .ctx("a sender did not finish in time")???;
            phase.frames_expected += frames * u64::from(viewers);
        }
        for r in receivers {
            let got = tokio::time::timeout_at(deadline, r)
                .await
                .ctx("a receiver did not see the end in time")???;
            phase.bytes_delivered += got.bytes;
            phase.frames_received += got.frames;
            phase.latencies_us.extend(got.latencies_us);
        }
        phase.wall = started.elapsed();
        Ok(phase)
    }

    async fn udp_transfer(&self, routes: &[(u16, u16)], rate: f64, record: bool) -> Result<Phase> {
        let started = Instant::now();
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        let stop = std::sync::Arc::new(tokio::sync::Notify::new());
        for (stream_id, &(udp_in, udp_out)) in (0u32..).zip(routes) {
            let rx = UdpSocket::bind(("127.0.0.1", udp_out)).await?;
            set_rcvbuf(&rx, 8 << 20);
            let tx = UdpSocket::bind("127.0.0.1:0").await?;
            tx.connect(("127.0.0.1", udp_in)).await?;
            let gop = make_gop(stream_id)?;
            senders.push(tokio::spawn(send_udp(
                tx,
                gop,
                rate,
                self.seconds(),
                self.start,
            )));
            receivers.push(tokio::spawn(recv_udp(rx, record, self.start, stop.clone())));
        }
        let mut phase = Phase::default();
        for s in senders {
            phase.frames_expected += s.await??;
        }
        // SRT delivers after its latency window (120 ms by default): let it drain.
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop.notify_waiters();
        for r in receivers {
            let got = r.await??;
            phase.bytes_delivered += got.bytes;
            phase.frames_received += got.frames;
            phase.latencies_us.extend(got.latencies_us);
        }
        phase.wall = started.elapsed() - Duration::from_millis(800);
        Ok(phase)
    }
}

/// Connects to the relay and says hello (a bare relay takes no grant); waits for the
/// relay's status byte, and a viewer for its ready message.
async fn hello(addr: &str, role: RelayRole, stream_id: u32) -> Result<TcpStream> {
    let mut s = TcpStream::connect(addr)
        .await
        .with_ctx(|| format!("connecting to the relay at {addr}"))?;
    s.set_nodelay(true)?;
    let hello = RelayHello {
        role,
        stream_id,
        token: &[],
    };
    s.write_all(&hello.encode()).await?;
    let status = s.read_u8().await.ctx("relay status byte")?;
    if status != ADMITTED {
        return Err(BenchError::step(format!(
            "the relay refused the hello ({status})"
        )));
    }
    if role == RelayRole::Viewer {
        let mut ready = [0u8; RelayReady::LEN];
        s.read_exact(&mut ready).await.ctx("relay ready answer")?;
        if RelayReady::decode(&ready).ctx("relay ready answer")? != (RelayReady { role, stream_id })
        {
            return Err(BenchError::step("the relay is ready for another stream"));
        }
    }
    Ok(s)
}

/// One GOP of real sealed frames for `stream_id`.
fn make_gop(stream_id: u32) -> Result<Vec<Vec<u8>>> {
    let secret = PairingSecret::from_bytes([0x42; 32]);
    let mut sealer = FrameSealer::new(&secret, stream_id, 1);
    (0..GOP)
        .map(|i| {
            let len = if i == 0 {
                KEYFRAME_PAYLOAD
            } else {
                PFRAME_PAYLOAD
            };
            sealer
                .seal(Timestamp::ZERO, i == 0, Codec::H264, &vec![0xA5; len])
                .ctx("sealing the bench GOP")
        })
        .collect()
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Sends the GOP over and over for `dur`, each frame stamped with its send time;
/// paced to `rate` bytes per second if given. Returns frames sent.
async fn send_tcp(
    mut s: TcpStream,
    mut gop: Vec<Vec<u8>>,
    rate: Option<f64>,
    dur: Duration,
    clock: Instant,
) -> Result<u64> {
    s.set_nodelay(true)?;
    let begin = Instant::now();
    let mut frames = 0u64;
    let mut bytes = 0f64;
    'outer: loop {
        let elapsed = begin.elapsed();
        if elapsed >= dur {
            break;
        }
        let due = rate.map_or(f64::INFINITY, |r| r * elapsed.as_secs_f64());
        while bytes < due {
            let idx = (frames % GOP as u64) as usize;
            let frame = &mut gop[idx];
            frame[TS_OFFSET..TS_OFFSET + 8].copy_from_slice(&micros_since(clock).to_be_bytes());
            s.write_all(frame).await?;
            frames += 1;
            bytes += frame.len() as f64;
            if rate.is_none() && frames % 8 == 0 && begin.elapsed() >= dur {
                break 'outer;
            }
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    s.shutdown().await?;
    Ok(frames)
}

/// What one receiver saw.
#[derive(Debug, Default)]
struct Received {
    bytes: u64,
    frames: u64,
    latencies_us: Vec<u32>,
}

/// Finds frame boundaries in a byte stream by reading only headers.
#[derive(Debug)]
struct FrameScan {
    head: [u8; HEADER_LEN],
    head_len: usize,
    remaining: usize,
    sent_us: u64,
}

impl FrameScan {
    fn new() -> Self {
        FrameScan {
            head: [0; HEADER_LEN],
            head_len: 0,
            remaining: 0,
            sent_us: 0,
        }
    }

    /// Feeds bytes; calls `done(send time)` for each frame they complete.
    fn feed(&mut self, mut data: &[u8], mut done: impl FnMut(u64)) -> Result<()> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len());
                self.remaining -= take;
                data = &data[take..];
                if self.remaining == 0 {
                    done(self.sent_us);
                }
                continue;
            }
            let take = (HEADER_LEN - self.head_len).min(data.len());
            self.head[self.head_len..self.head_len + take].copy_from_slice(&data[..take]);
            self.head_len += take;
            data = &data[take..];
            if self.head_len == HEADER_LEN {
                let (header, total) = VideoHeader::peek(&self.head)
                    .ctx("a receiver got a malformed frame")?
                    .ctx("header incomplete")?;
                self.sent_us = header.timestamp.as_micros();
                self.remaining = total - HEADER_LEN;
                self.head_len = 0;
            }
        }
        Ok(())
    }
}

async fn recv_tcp(mut s: TcpStream, record: bool, clock: Instant) -> Result<Received> {
    let mut buf = vec![0u8; RECV_BUF];
    let mut scan = FrameScan::new();
    let mut got = Received::default();
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.bytes += n as u64;
        let now = if record { micros_since(clock) } else { 0 };
        let (frames, lat) = (&mut got.frames, &mut got.latencies_us);
        scan.feed(&buf[..n], |sent| {
            *frames += 1;
            if record {
                lat.push(u32::try_from(now.saturating_sub(sent)).unwrap_or(u32::MAX));
            }
        })?;
    }
    Ok(got)
}

/// Sends the GOP as UDP datagrams (bench header + up to 1296 frame bytes), paced.
async fn send_udp(
    s: UdpSocket,
    gop: Vec<Vec<u8>>,
    rate: f64,
    dur: Duration,
    clock: Instant,
) -> Result<u64> {
    let begin = Instant::now();
    let mut frames = 0u64;
    let mut bytes = 0f64;
    let mut dgram = [0u8; UDP_DATAGRAM];
    while begin.elapsed() < dur {
        let due = rate * begin.elapsed().as_secs_f64();
        while bytes < due {
            let frame = &gop[(frames % GOP as u64) as usize];
            let sent = micros_since(clock);
            let total = u32::try_from(frame.len()).unwrap_or(u32::MAX);
            for (i, chunk) in frame.chunks(UDP_DATAGRAM - UDP_HEAD).enumerate() {
                let off = u32::try_from(i * (UDP_DATAGRAM - UDP_HEAD)).unwrap_or(u32::MAX);
                dgram[0..4].copy_from_slice(&(frames as u32).to_be_bytes());
                dgram[4..8].copy_from_slice(&off.to_be_bytes());
                dgram[8..12].copy_from_slice(&total.to_be_bytes());
                dgram[12..20].copy_from_slice(&sent.to_be_bytes());
                dgram[UDP_HEAD..UDP_HEAD + chunk.len()].copy_from_slice(chunk);
                s.send(&dgram[..UDP_HEAD + chunk.len()]).await?;
            }
            frames += 1;
            bytes += frame.len() as f64;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(frames)
}

async fn recv_udp(
    s: UdpSocket,
    record: bool,
    clock: Instant,
    stop: std::sync::Arc<tokio::sync::Notify>,
) -> Result<Received> {
    let mut buf = [0u8; 2048];
    let mut got = Received::default();
    // (frame number, bytes of it received, its length, its send time)
    let mut cur: Option<(u32, usize, usize, u64)> = None;
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        let n = tokio::select! {
            biased;
            () = &mut stopped => break,
            r = s.recv(&mut buf) => r?,
        };
        if n < UDP_HEAD {
            continue;
        }
        let field = |i: usize| u32::from_be_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
        let (frame, total) = (field(0), field(8) as usize);
        let sent = u64::from_be_bytes(buf[12..20].try_into().unwrap_or_default());
        got.bytes += (n - UDP_HEAD) as u64;
        let entry = match cur {
            Some(c) if c.0 == frame => c,
            _ => (frame, 0, total, sent),
        };
        let have = entry.1 + (n - UDP_HEAD);
        if have >= entry.2 {
            got.frames += 1;
            if record {
                let lat = micros_since(clock).saturating_sub(entry.3);
                got.latencies_us
                    .push(u32::try_from(lat).unwrap_or(u32::MAX));
            }
            cur = None;
        } else {
            cur = Some((entry.0, have, entry.2, entry.3));
        }
    }
    Ok(got)
}

/// Connects, retrying while the peer starts listening.
async fn connect_retry(addr: &str) -> Result<TcpStream> {
    let mut tries = 0;
    loop {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) if tries < 150 => {
                let _ = e;
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(e).with_ctx(|| format!("connecting to {addr}")),
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn free_udp_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn set_rcvbuf(s: &UdpSocket, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    // SAFETY: setsockopt on a socket we own, with a pointer to a live c_int and its size.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::from_ref(&bytes).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: signalling our own child, which we have not reaped yet.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Waits for `child` to exit and returns the CPU time (user + system) it used, from its
/// own rusage.
fn reap(child: &Child) -> Result<Duration> {
    let pid = libc::pid_t::try_from(child.id()).ctx("child pid")?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child with valid pointers; std never waits for it
    // because we never call `Child::wait`.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    if r != pid {
        return Err(BenchError::step(format!(
            "wait4({pid}): {}",
            std::io::Error::last_os_error()
        )));
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    Ok(tv(ru.ru_utime) + tv(ru.ru_stime))
}

fn find(cases: &[Case], path: Path) -> Option<&Case> {
    cases.iter().find(|c| c.path == path)
}

/// Each target of issue 6 with the measured value and whether it is met.
fn targets(cases: &[Case]) -> Vec<Value> {
    let thr = |p: Path| find(cases, p).and_then(|c| c.throughput.as_ref());
    let lat = |p: Path| find(cases, p).and_then(|c| c.latency.as_ref());
    let single = thr(Path::Camproof { viewers: 1 });
    let mut out = Vec::new();
    let mut target = |name: &str, value: Option<f64>, want: &str, met: Option<bool>| {
        out.push(json!({ "target": name, "value": value, "want": want, "met": met }));
    };
    let eff = |c: Option<&Phase>| c.and_then(Phase::gb_per_cpu_s);
    let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b.max(1e-12));
    let r = ratio(eff(single), eff(thr(Path::Socat { buffer: None })));
    target(
        "single stream GB/CPU-s ÷ socat (default)",
        r,
        ">= 1.3",
        r.map(|r| r >= 1.3),
    );
    let r = ratio(
        eff(single),
        eff(thr(Path::Socat {
            buffer: Some(65536),
        })),
    );
    target(
        "single stream GB/CPU-s ÷ socat -b 65536",
        r,
        ">= 1.3",
        r.map(|r| r >= 1.3),
    );
    let r = ratio(thr(Path::Direct).map(Phase::gbps), single.map(Phase::gbps));
    target(
        "direct Gbit/s ÷ single stream Gbit/s",
        r,
        "<= 2",
        r.map(|r| r <= 2.0),
    );
    let widest = cases
        .iter()
        .filter(|c| matches!(c.path, Path::Camproof { viewers } if viewers > 1))
        .max_by_key(|c| c.path.viewers());
    if let Some(c) = widest {
        let v = eff(c.throughput.as_ref());
        target(
            &format!(
                "fan-out 1→{} GB delivered per relay CPU-s",
                c.path.viewers()
            ),
            v,
            ">= 3",
            v.map(|v| v >= 3.0),
        );
    }
    // One line per fan-out: the added p99 of a single stream at 1 Gbit/s is the target;
    // wider fan-outs show what one relay thread costs the last viewer of a keyframe.
    let base = lat(Path::Direct).and_then(|p| p.percentile(0.99));
    for c in cases
        .iter()
        .filter(|c| matches!(c.path, Path::Camproof { .. }))
    {
        let added = c
            .latency
            .as_ref()
            .and_then(|l| l.percentile(0.99))
            .zip(base)
            .map(|(w, b)| (w - b) / 1000.0);
        target(
            &format!(
                "p99 added latency at the latency phase's rate, {} (ms)",
                c.path.name()
            ),
            added,
            "< 1",
            added.map(|a| a < 1.0),
        );
    }
    let r = ratio(eff(single), eff(thr(Path::Srt)));
    target(
        "single stream GB/CPU-s ÷ srt-live-transmit",
        r,
        ">= 5",
        r.map(|r| r >= 5.0),
    );
    out
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.prec$}"))
}

fn table(args: &RelayBenchArgs, cases: &[Case], targets: &[Value]) -> String {
    let mut out = String::new();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let _ = writeln!(
 out,
        "camproof bench relay: {} stream(s), fan-out up to {}, {} s per phase, loopback, {cpus} CPUs",
        args.streams, args.viewers, args.seconds
    );
    let _ = writeln!(
 out,
        "frames: GOP of {GOP} (keyframe {} KiB, others {} KiB payload), sealed AES-256-GCM, send time in the header",
        KEYFRAME_PAYLOAD / 1024,
        PFRAME_PAYLOAD / 1024
    );
    out.push('\n');
    let _ = writeln!(
        out,
        "{:<30} {:>7} | {:<39} | paced to {} Gbit/s delivered",
        "", "", "unpaced", args.latency_gbps
    );
    let _ = writeln!(
        out,
        "{:<30} {:>7} | {:>7} {:>9} {:>9} {:>8} | {:>8} {:>8} {:>9} {:>8}",
        "case",
        "viewers",
        "Gbit/s",
        "relay CPU",
        "GB/CPU-s",
        "dropped",
        "p50 µs",
        "p99 µs",
        "+p99 µs",
        "dropped"
    );
    let base_p99 = find(cases, Path::Direct)
        .and_then(|c| c.latency.as_ref())
        .and_then(|p| p.percentile(0.99));
    for c in cases {
        let name = c.path.name();
        let viewers = c.path.viewers() * args.streams;
        if let Some(m) = &c.missing {
            let _ = writeln!(out, "{name:<30} {viewers:>7} | missing: {m}");
            continue;
        }
        let (Some(t), Some(l)) = (&c.throughput, &c.latency) else {
            continue;
        };
        let added = l.percentile(0.99).zip(base_p99).map(|(a, b)| a - b);
        let _ = writeln!(
            out,
            "{name:<30} {viewers:>7} | {:>7.2} {:>8}s {:>9} {:>8} | {:>8} {:>8} {:>9} {:>8}",
            t.gbps(),
            fmt_opt(t.relay_cpu.map(|c| c.as_secs_f64()), 2),
            fmt_opt(t.gb_per_cpu_s(), 2),
            t.dropped(),
            fmt_opt(l.percentile(0.5), 0),
            fmt_opt(l.percentile(0.99), 0),
            if c.path == Path::Direct {
                "(base)".to_string()
            } else {
                fmt_opt(added, 0)
            },
            l.dropped(),
        );
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "relay CPU: user + system seconds of the relay process(es), from wait4 rusage"
    );
    let _ = writeln!(
        out,
        "+p99: p99 minus the direct path's p99, the latency the relay adds"
    );
    out.push('\n');
    let _ = writeln!(out, "targets (issue 6), from this run:");
    for t in targets {
        let met = match t["met"].as_bool() {
            Some(true) => "met",
            Some(false) => "MISSED",
            None => "not measured",
        };
        let _ = writeln!(
            out,
            "  {:<72} {:>8} (want {}) {met}",
            t["target"].as_str().unwrap_or_default(),
            fmt_opt(t["value"].as_f64(), 2),
            t["want"].as_str().unwrap_or_default(),
        );
    }
    out
}
