//! The relay on a network: a thin socket driver around the pure [`relay`](crate::relay)
//! core.
//!
//! [`RelayNode`] accepts connections from any [`Net`] listener (tokio on real sockets,
//! turmoil in the simulator: one code path), reads each connection's [`RelayHello`], answers
//! [`ADMITTED`], then
//! runs one task per connection:
//!
//! - a **camera** task reads up to 256 KiB at a time into page-aligned, pooled buffers, cuts
//!   frames out of each read with a [`Deframer`] (a frame is a slice of the read buffer,
//!   shared by every viewer queue through [`Bytes`]; nothing is copied per viewer), hands
//!   them to the core and wakes the stream's viewers. It never waits for a viewer.
//! - a **viewer** task takes a batch of queued frames from the core and writes it with
//!   one vectored write. A viewer that does not read loses frames to the core's
//!   keyframe-aware drop policy; one whose socket accepts nothing for `max_age` is
//!   disconnected, so no frame is held longer than the limit.
//!
//! Read buffers are zeroed when the last frame in them is released, then reused.
//!
//! All accounting (frames, bytes, drops, queue depth) is the core's [`RelayStats`].
//!
//! Futures here are not `Send`: run them on a current-thread runtime inside a
//! `LocalSet` (as turmoil does).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::{self, IoSlice};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

use camproof_net::admission::write_within;
use camproof_net::{
    Admission, AdmissionLimits, Clock, Counted, Listener, Net, SystemClock, TokioNet,
};
use camproof_protocol::relay::{
    RelayHello, RelayReady, RelayRole, RelayWireError, ADMITTED, HELLO_HEAD_LEN, MAX_TOKEN_LEN,
};

use crate::relay::{
    wipe, zeroizing_bytes, Deframer, Relay, RelayConfig, RelayError, RelayStats, SealedFrame,
    ViewerId,
};

/// Bytes asked for by each socket read: never tokio's 8 KiB default copy buffer, and
/// more than 64 KiB: on loopback, 256 KiB reads cut the relay's CPU per byte by 40%
/// against 64 KiB reads (docs/relay.md), since each read costs a TCP round of ACKs and
/// wake-ups as well as the copy.
pub const READ_SIZE: usize = 256 * 1024;
/// Alignment of every read buffer: a page.
pub const READ_ALIGN: usize = 4096;
/// Reads shorter than this are copied out so that a frame queued for a slow viewer does
/// not pin a mostly empty read buffer (reads are short only when the relay keeps up, so
/// the copy costs nothing that matters).
const SMALL_READ: usize = 32 * 1024;
/// Most read buffers kept for reuse (8 MiB).
const POOL_MAX: usize = 32;
/// Most frames and bytes a viewer task writes with one vectored write.
const BATCH_FRAMES: usize = 256;
const BATCH_BYTES: usize = 1024 * 1024;
/// Most slices handed to one `writev` (Linux's IOV_MAX is 1024).
const IOV_MAX: usize = 512;

/// Why a relay connection ended in error.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum RelayNetError {
    /// The socket failed.
    #[error("relay socket: {0}")]
    Io(#[from] io::Error),
    /// The peer's hello does not parse.
    #[error("relay peer: {0}")]
    Hello(#[from] RelayWireError),
    /// The peer sent a frame the relay refuses.
    #[error("relay peer: {0}")]
    Peer(#[from] RelayError),
    /// A second camera tried to publish a stream that already has one.
    #[error("stream {0} already has a camera")]
    StreamBusy(u32),
    /// A camera sent a frame of another stream than the one it announced.
    #[error("camera of stream {announced} sent a frame of stream {got}")]
    WrongStream {
        /// The stream in the camera's hello.
        announced: u32,
        /// The stream the frame header names.
        got: u32,
    },
}

/// Connection counters of the driver (frame counters are the core's [`RelayStats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Cameras that connected.
    pub cameras: u64,
    /// Viewers that connected.
    pub viewers: u64,
    /// Connections closed because of a bad hello, a malformed frame or a busy stream.
    pub refused: u64,
    /// Viewers disconnected because their socket accepted nothing for `max_age`.
    pub viewers_timed_out: u64,
    /// Socket reads by camera tasks.
    pub reads: u64,
    /// Vectored writes by viewer tasks.
    pub writes: u64,
}

/// A pool of page-aligned read buffers; each comes back zeroed.
#[derive(Debug, Clone, Default)]
struct BufPool(Arc<Mutex<Vec<Box<[u8]>>>>);

impl BufPool {
    fn take(&self) -> ReadBuffer {
        let mem = self
            .0
            .lock()
            .ok()
            .and_then(|mut v| v.pop())
            .unwrap_or_else(|| vec![0u8; READ_SIZE + READ_ALIGN].into_boxed_slice());
        ReadBuffer::new(mem)
    }

    fn give(&self, mem: Box<[u8]>) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < POOL_MAX {
                v.push(mem);
            }
        }
    }
}

/// A zeroed buffer with a page-aligned window of [`READ_SIZE`] bytes to read into.
#[derive(Debug)]
struct ReadBuffer {
    mem: Box<[u8]>,
    off: usize,
}

impl ReadBuffer {
    fn new(mem: Box<[u8]>) -> Self {
        // `align_offset` may decline (usize::MAX) in theory; then read unaligned.
        let off = match mem.as_ptr().align_offset(READ_ALIGN) {
            o if o <= READ_ALIGN && o + READ_SIZE <= mem.len() => o,
            _ => 0,
        };
        ReadBuffer { mem, off }
    }

    fn window(&mut self) -> &mut [u8] {
        let end = (self.off + READ_SIZE).min(self.mem.len());
        &mut self.mem[self.off..end]
    }
}

/// The owner behind the [`Bytes`] of one read: zeroes what was read and returns the
/// buffer to the pool when the last frame in it is released.
struct FilledBuffer {
    mem: Box<[u8]>,
    off: usize,
    len: usize,
    pool: BufPool,
}

impl AsRef<[u8]> for FilledBuffer {
    fn as_ref(&self) -> &[u8] {
        self.mem
            .get(self.off..self.off + self.len)
            .unwrap_or_default()
    }
}

impl Drop for FilledBuffer {
    fn drop(&mut self) {
        let mut mem = std::mem::take(&mut self.mem);
        if let Some(used) = mem.get_mut(self.off..self.off + self.len) {
            wipe(used);
        }
        self.pool.give(mem);
    }
}

/// One viewer's wake-up: the camera task notifies it after each read.
#[derive(Debug, Default)]
struct ViewerSignal {
    notify: Notify,
}

#[derive(Debug, Default)]
struct StreamSlot {
    has_camera: bool,
    /// Set when the camera leaves: viewers drain their queues and close.
    ended: bool,
    viewers: BTreeMap<ViewerId, Rc<ViewerSignal>>,
}

/// Called with the core's counters whenever they change (frames in or out).
type StatsHook = Box<dyn Fn(&RelayStats)>;

struct Shared<C> {
    relay: RefCell<Relay>,
    hook: RefCell<Option<StatsHook>>,
    streams: RefCell<BTreeMap<u32, StreamSlot>>,
    driver: Cell<DriverStats>,
    clock: C,
    pool: BufPool,
    admission: Cell<AdmissionLimits>,
}

/// The relay on a network: accepts cameras and viewers and forwards sealed frames.
///
/// Cheap to clone (a handle). Run [`serve`](Self::serve) with a listener, or hand
/// single connections to [`handle_connection`](Self::handle_connection).
pub struct RelayNode<C: Clock> {
    shared: Rc<Shared<C>>,
}

impl<C: Clock> Clone for RelayNode<C> {
    fn clone(&self) -> Self {
        RelayNode {
            shared: self.shared.clone(),
        }
    }
}

impl<C: Clock> std::fmt::Debug for RelayNode<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayNode")
            .field("stats", &self.stats())
            .field("driver", &self.driver_stats())
            .finish_non_exhaustive()
    }
}

impl<C: Clock> RelayNode<C> {
    /// A relay with these limits, reading time from `clock`.
    pub fn new(config: RelayConfig, clock: C) -> Self {
        RelayNode {
            shared: Rc::new(Shared {
                relay: RefCell::new(Relay::new(config)),
                hook: RefCell::new(None),
                streams: RefCell::new(BTreeMap::new()),
                driver: Cell::new(DriverStats::default()),
                clock,
                pool: BufPool::default(),
                admission: Cell::new(AdmissionLimits::default()),
            }),
        }
    }

    /// Sets the limits [`serve`](Self::serve) admits connections with (caps, hello
    /// deadline, write timeout); [`AdmissionLimits::default`] until then.
    pub fn set_admission(&self, limits: AdmissionLimits) {
        self.shared.admission.set(limits);
    }

    /// The core's counters: frames, bytes, drops, queue depth.
    pub fn stats(&self) -> RelayStats {
        self.shared.relay.borrow().stats()
    }

    /// Calls `hook` with the core's counters after every change (a camera read's frames
    /// queued, a viewer's batch taken), so an observer sees them live.
    pub fn on_stats(&self, hook: impl Fn(&RelayStats) + 'static) {
        *self.shared.hook.borrow_mut() = Some(Box::new(hook));
    }

    fn report(&self) {
        if let Some(hook) = self.shared.hook.borrow().as_ref() {
            hook(&self.shared.relay.borrow().stats());
        }
    }

    /// Drops frames older than `max_age` every quarter of it, forever.
    pub async fn expire_periodically(&self) {
        let max_age = self.shared.relay.borrow().config().max_age;
        let period = (max_age / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
        loop {
            tokio::time::sleep(period).await;
            let now = self.shared.clock.now();
            self.shared.relay.borrow_mut().expire(now);
            self.report();
        }
    }

    /// The driver's connection counters.
    pub fn driver_stats(&self) -> DriverStats {
        self.shared.driver.get()
    }

    fn bump(&self, f: impl FnOnce(&mut DriverStats)) {
        let mut s = self.shared.driver.get();
        f(&mut s);
        self.shared.driver.set(s);
    }

    /// Accepts connections forever, each on its own local task, and expires old frames
    /// every quarter of `max_age`. Returns only if accepting fails.
    pub async fn serve<L>(&self, listener: L) -> io::Result<()>
    where
        L: Listener,
        L::Stream: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        let expiry = self.expire_periodically();
        let node = self.clone();
        let admission =
            Admission::new("relay", self.shared.admission.get()).observe(move |counted| {
                if let Counted::Refused(_) = counted {
                    node.bump(|s| s.refused += 1);
                }
            });
        let accept = async {
            loop {
                let (stream, peer, permit) = match admission.accept(&listener).await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed: the relay stops");
                        return Err(e);
                    }
                };
                tracing::debug!(%peer, "accepted connection");
                let node = self.clone();
                tokio::task::spawn_local(async move {
                    let _permit = permit;
                    // A misbehaving peer ends its own connection only; the counters say so.
                    match node.handle_connection(stream, peer).await {
                        Ok(()) => tracing::info!(%peer, "disconnected"),
                        Err(RelayNetError::Io(e)) => {
                            tracing::info!(%peer, reason = %e, "disconnected")
                        }
                        Err(e) => tracing::warn!(%peer, error = %e, "refused"),
                    }
                });
            }
        };
        tokio::select! {
            biased;
            r = accept => r,
            () = expiry => Ok(()),
        }
    }

    /// Serves `listener` as [`serve`](Self::serve) does until `stop` resolves (or
    /// accepting fails).
    pub async fn serve_until<L>(
        &self,
        listener: L,
        stop: impl Future<Output = ()>,
    ) -> io::Result<()>
    where
        L: Listener,
        L::Stream: AsyncRead + AsyncWrite + Unpin + 'static,
    {
        tokio::select! {
            biased;
            r = self.serve(listener) => r,
            () = stop => Ok(()),
        }
    }

    /// Every counter, the core's and the driver's, as one flat JSON object (the line
    /// `camproof relay` prints when it stops, which `camproof bench relay` reads).
    pub fn stats_json(&self) -> serde_json::Value {
        let s = self.stats();
        let d = self.driver_stats();
        serde_json::json!({
            "frames_in": s.frames_in,
            "bytes_in": s.bytes_in,
            "frames_out": s.frames_out,
            "bytes_out": s.bytes_out,
            "dropped_overflow": s.dropped_overflow,
            "dropped_expired": s.dropped_expired,
            "skipped_to_keyframe": s.skipped_to_keyframe,
            "peak_queued_bytes": s.peak_queued_bytes,
            "cameras": d.cameras,
            "viewers": d.viewers,
            "refused": d.refused,
            "viewers_timed_out": d.viewers_timed_out,
            "reads": d.reads,
            "writes": d.writes,
        })
    }

    /// Serves one connection: reads its hello (a bare node checks no grant: the token is
    /// read and ignored), answers [`ADMITTED`], then runs it as a camera or a viewer
    /// until it closes (a viewer also when its stream's camera leaves).
    pub async fn handle_connection<S>(
        &self,
        mut stream: S,
        peer: std::net::SocketAddr,
    ) -> Result<(), RelayNetError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let limits = self.shared.admission.get();
        let hello = async {
            let mut head = [0u8; HELLO_HEAD_LEN];
            // Exactly the hello: frames that follow stay in the socket for the aligned reads.
            stream.read_exact(&mut head).await?;
            let head = match RelayHello::decode_head(&head) {
                Ok(h) => h,
                Err(e) => {
                    self.bump(|s| s.refused += 1);
                    return Err(e.into());
                }
            };
            let mut token = [0u8; MAX_TOKEN_LEN];
            stream.read_exact(&mut token[..head.token_len]).await?;
            Ok::<_, RelayNetError>(head)
        };
        let head = tokio::time::timeout(limits.handshake_deadline, hello)
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    "relay hello not complete within the admission deadline",
                )
            })??;
        write_within(&mut stream, &[ADMITTED], limits.write_timeout).await?;
        let (role, stream_id) = (head.role, head.stream_id);
        tracing::info!(%peer, ?role, stream = stream_id, "admitted");
        self.serve_admitted(stream, role, stream_id).await
    }

    /// Runs a connection whose hello was read (and, by a front such as the platform's
    /// grant-checking relay service, admitted) as a camera or a viewer of `stream_id`
    /// until it closes.
    pub async fn serve_admitted<S>(
        &self,
        stream: S,
        role: RelayRole,
        stream_id: u32,
    ) -> Result<(), RelayNetError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let result = match role {
            RelayRole::Camera => self.run_camera(stream, stream_id).await,
            RelayRole::Viewer => self.run_viewer(stream, stream_id).await,
        };
        if matches!(
            result,
            Err(RelayNetError::Peer(_)
                | RelayNetError::StreamBusy(_)
                | RelayNetError::WrongStream { .. })
        ) {
            self.bump(|s| s.refused += 1);
        }
        result
    }

    /// Runs `f` on the stream's slot (created if missing; removed once it has neither
    /// camera nor viewers).
    fn with_slot<R>(&self, stream_id: u32, f: impl FnOnce(&mut StreamSlot) -> R) -> R {
        let mut streams = self.shared.streams.borrow_mut();
        let slot = streams.entry(stream_id).or_default();
        let r = f(slot);
        if !slot.has_camera && slot.viewers.is_empty() {
            streams.remove(&stream_id);
        }
        r
    }

    async fn run_camera<S>(&self, mut stream: S, id: u32) -> Result<(), RelayNetError>
    where
        S: AsyncRead + Unpin,
    {
        let busy = self.with_slot(id, |s| {
            let busy = s.has_camera;
            s.has_camera = true;
            s.ended = false;
            busy
        });
        if busy {
            return Err(RelayNetError::StreamBusy(id));
        }
        self.bump(|s| s.cameras += 1);
        let result = self.camera_loop(&mut stream, id).await;
        // The stream ends: viewers drain what is queued, then close.
        self.with_slot(id, |s| {
            s.has_camera = false;
            s.ended = true;
        });
        self.wake_viewers(id);
        result
    }

    async fn camera_loop<S>(&self, stream: &mut S, id: u32) -> Result<(), RelayNetError>
    where
        S: AsyncRead + Unpin,
    {
        let pool = &self.shared.pool;
        let mut deframer = Deframer::new();
        let mut frames: Vec<SealedFrame> = Vec::new();
        let mut buf = pool.take();
        loop {
            let n = stream.read(buf.window()).await?;
            if n == 0 {
                return Ok(());
            }
            self.bump(|s| s.reads += 1);
            let data = if n < SMALL_READ {
                let window = buf.window();
                let copy = zeroizing_bytes(window[..n].to_vec());
                wipe(&mut window[..n]);
                copy
            } else {
                let filled = std::mem::replace(&mut buf, pool.take());
                Bytes::from_owner(FilledBuffer {
                    mem: filled.mem,
                    off: filled.off,
                    len: n,
                    pool: pool.clone(),
                })
            };
            let now = self.shared.clock.now();
            deframer.handle_bytes(now, data, &mut frames)?;
            if frames.is_empty() {
                continue;
            }
            {
                let mut relay = self.shared.relay.borrow_mut();
                for frame in frames.drain(..) {
                    let got = frame.header().stream_id;
                    if got != id {
                        return Err(RelayNetError::WrongStream { announced: id, got });
                    }
                    relay.handle_sealed(frame);
                }
            }
            self.report();
            self.wake_viewers(id);
            // Let the viewers write what this read brought before reading more: on one
            // thread, a camera that keeps reading would fill every queue to overflow.
            tokio::task::yield_now().await;
        }
    }

    fn wake_viewers(&self, id: u32) {
        if let Some(slot) = self.shared.streams.borrow().get(&id) {
            for signal in slot.viewers.values() {
                signal.notify.notify_one();
            }
        }
    }

    async fn run_viewer<S>(&self, mut stream: S, id: u32) -> Result<(), RelayNetError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let viewer = self.shared.relay.borrow_mut().subscribe(id);
        let signal = Rc::new(ViewerSignal::default());
        self.with_slot(id, |s| {
            s.viewers.insert(viewer, signal.clone());
        });
        self.bump(|s| s.viewers += 1);
        let result = self.viewer_loop(&mut stream, id, viewer, &signal).await;
        self.with_slot(id, |s| {
            s.viewers.remove(&viewer);
        });
        // Unknown only if already gone; nothing to release then.
        let _ = self.shared.relay.borrow_mut().unsubscribe(viewer);
        let _ = stream.shutdown().await;
        result
    }

    async fn viewer_loop<S>(
        &self,
        stream: &mut S,
        id: u32,
        viewer: ViewerId,
        signal: &ViewerSignal,
    ) -> Result<(), RelayNetError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let ready = RelayReady {
            role: RelayRole::Viewer,
            stream_id: id,
        };
        stream.write_all(&ready.encode()).await?;
        stream.flush().await?;
        let max_age = self.shared.relay.borrow().config().max_age;
        let mut batch: Vec<Rc<SealedFrame>> = Vec::with_capacity(BATCH_FRAMES);
        let mut probe = [0u8; 64];
        loop {
            batch.clear();
            let now = self.shared.clock.now();
            self.shared.relay.borrow_mut().poll_batch(
                viewer,
                now,
                BATCH_FRAMES,
                BATCH_BYTES,
                &mut batch,
            )?;
            if batch.is_empty() {
                let ended = self
                    .shared
                    .streams
                    .borrow()
                    .get(&id)
                    .is_none_or(|s| s.ended);
                if ended {
                    return Ok(());
                }
                // Idle: wait for frames, and notice a viewer that hangs up meanwhile.
                tokio::select! {
                    biased;
                    () = signal.notify.notified() => {}
                    r = stream.read(&mut probe) => match r {
                        Ok(0) | Err(_) => return Ok(()),
                        Ok(_) => {} // Viewers have nothing to say; ignore it.
                    },
                }
                continue;
            }
            self.report();
            match tokio::time::timeout(max_age, write_frames(stream, &batch)).await {
                Ok(Ok(())) => self.bump(|s| s.writes += 1),
                Ok(Err(e)) => return Err(e.into()),
                Err(_) => {
                    self.bump(|s| s.viewers_timed_out += 1);
                    return Ok(());
                }
            }
        }
    }
}

/// Writes every byte of `batch` with as few vectored writes as the socket allows.
async fn write_frames<S>(stream: &mut S, batch: &[Rc<SealedFrame>]) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let mut slices: Vec<&[u8]> = batch
        .iter()
        .flat_map(|f| f.parts().iter().map(|b| &b[..]))
        .filter(|s| !s.is_empty())
        .collect();
    let mut first = 0;
    let mut iov: Vec<IoSlice<'_>> = Vec::with_capacity(slices.len().min(IOV_MAX));
    while first < slices.len() {
        iov.clear();
        iov.extend(
            slices[first..]
                .iter()
                .take(IOV_MAX)
                .map(|s| IoSlice::new(s)),
        );
        let mut n = stream.write_vectored(&iov).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && first < slices.len() {
            let len = slices[first].len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                slices[first] = &slices[first][n..];
                n = 0;
            }
        }
    }
    stream.flush().await
}

/// Why [`run_standalone`] stopped early.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StandaloneError {
    /// The tokio runtime could not start.
    #[error("starting the runtime")]
    Runtime(#[source] io::Error),
    /// The address could not be bound.
    #[error("binding {addr}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: io::Error,
    },
    /// The bound address could not be read.
    #[error("reading the bound address")]
    LocalAddr(#[source] io::Error),
    /// `on_listening` failed (printing the address).
    #[error(transparent)]
    Announce(io::Error),
    /// Accepting a connection failed.
    #[error("accepting connections")]
    Accept(#[source] io::Error),
}

/// A relay alone on real sockets (`camproof relay`): binds `listen`, hands the bound
/// address to `on_listening`, relays until `duration` has passed or `stop` resolves,
/// then returns [`RelayNode::stats_json`]. Runs its own current-thread runtime (one
/// core, no locks between tasks); reads the system clock, so never in the simulator.
pub fn run_standalone(
    listen: &str,
    config: RelayConfig,
    admission: AdmissionLimits,
    duration: Option<Duration>,
    stop: impl Future<Output = ()>,
    on_listening: impl FnOnce(std::net::SocketAddr) -> io::Result<()>,
) -> Result<serde_json::Value, StandaloneError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(StandaloneError::Runtime)?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = TokioNet
            .bind(listen)
            .await
            .map_err(|source| StandaloneError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(StandaloneError::LocalAddr)?;
        on_listening(addr).map_err(StandaloneError::Announce)?;
        tracing::info!(%addr, "relay listening");
        let node = RelayNode::new(config, SystemClock);
        node.set_admission(admission);
        let stop = async move {
            match duration {
                Some(d) => {
                    tokio::select! {
                        biased;
                        () = stop => {}
                        () = tokio::time::sleep(d) => {}
                    }
                }
                None => stop.await,
            }
        };
        node.serve_until(listener, stop)
            .await
            .map_err(StandaloneError::Accept)?;
        Ok(node.stats_json())
    })
}

#[cfg(test)]
mod tests;
