//! One code path, two networks: the [`Net`] and [`Clock`] seams.
//!
//! Platform and device code are generic over these traits and never name a socket or
//! clock type themselves. [`SimNet`]/[`SimClock`] run inside turmoil (deterministic,
//! simulated time); [`TokioNet`]/[`SystemClock`] run on real sockets. Both live in the
//! same binary: no cargo feature switches the network.
//!
//! Futures here are not `Send`: everything runs on one thread (turmoil's `LocalSet`, or
//! a current-thread runtime with a `LocalSet` on real sockets), spawned with
//! `tokio::task::spawn_local`.
//!
//! ```
//! use camproof_net::{Clock, Net, SimClock, SimNet};
//!
//! // Code that takes a `Net` and a `Clock` runs unchanged on `TokioNet`/`SystemClock`.
//! async fn greet<N: Net, C: Clock>(net: N, clock: C) -> std::io::Result<u64> {
//!     use tokio::io::AsyncWriteExt;
//!     let mut s = net.connect("server:7000").await?;
//!     s.write_all(b"hello").await?;
//!     Ok(clock.now().as_secs())
//! }
//!
//! let mut sim = turmoil::Builder::new().build();
//! sim.host("server", || async {
//!     let l = SimNet.bind("0.0.0.0:7000").await?;
//!     let _ = camproof_net::Listener::accept(&l).await?;
//!     Ok(())
//! });
//! sim.client("client", async {
//!     greet(SimNet, SimClock).await?;
//!     Ok(())
//! });
//! sim.run().unwrap();
//! ```
#![deny(missing_docs)]
#![allow(async_fn_in_trait)]

use std::io;
use std::net::SocketAddr;

use camproof_protocol::Timestamp;

pub mod admission;
pub use admission::{Admission, AdmissionLimits, AdmissionStats, Counted, Permit, Refusal};
use tokio::io::{AsyncRead, AsyncWrite};

/// A network that can open and accept TCP connections.
pub trait Net: Clone + 'static {
    /// A connected byte stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    /// A bound listener.
    type Listener: Listener<Stream = Self::Stream>;

    /// Connects to `addr` (`"host:port"`).
    async fn connect(&self, addr: &str) -> io::Result<Self::Stream>;

    /// Binds a listener on `addr` (`"host:port"`, `0.0.0.0:port` for every interface).
    async fn bind(&self, addr: &str) -> io::Result<Self::Listener>;
}

/// A bound TCP listener.
pub trait Listener: 'static {
    /// The streams it accepts.
    type Stream;

    /// Waits for the next connection.
    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)>;

    /// The address actually bound (useful after binding port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// The time as platform and device code see it.
pub trait Clock: Clone + 'static {
    /// Now, as microseconds since the Unix epoch.
    fn now(&self) -> Timestamp;
}

/// Real sockets through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNet;

impl Net for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        // Small control messages must not wait for Nagle.
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn bind(&self, addr: &str) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(addr).await
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// The simulated network of the current turmoil simulation.
///
/// Its listeners count the connections they accepted per host, so that a host can be
/// given a descriptor budget ([`sim_fd::set_limit`]): past it, `accept` fails as a
/// process out of file descriptors does (EMFILE) and the connection waits in the
/// listener's queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimNet;

impl Net for SimNet {
    type Stream = SimStream;
    type Listener = SimListener;

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let inner = turmoil::net::TcpStream::connect(addr).await?;
        Ok(SimStream { inner, _fd: None })
    }

    async fn bind(&self, addr: &str) -> io::Result<Self::Listener> {
        Ok(SimListener {
            inner: turmoil::net::TcpListener::bind(addr).await?,
            pending: std::cell::RefCell::new(None),
        })
    }
}

/// A simulated TCP connection; an accepted one holds one of its host's descriptors.
#[derive(Debug)]
pub struct SimStream {
    inner: turmoil::net::TcpStream,
    _fd: Option<sim_fd::Slot>,
}

impl SimStream {
    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The remote address of the connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A simulated TCP listener that honours its host's descriptor budget.
pub struct SimListener {
    inner: turmoil::net::TcpListener,
    /// A connection taken from turmoil while the host was out of descriptors: it stays
    /// queued here, as an unaccepted connection stays in a real listener's backlog.
    pending: std::cell::RefCell<Option<(turmoil::net::TcpStream, SocketAddr)>>,
}

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimListener")
            .field("local_addr", &self.inner.local_addr().ok())
            .finish_non_exhaustive()
    }
}

impl Listener for SimListener {
    type Stream = SimStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        SimListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        SimListener::local_addr(self)
    }
}

impl SimListener {
    /// Waits for the next connection; fails (EMFILE) while the host's descriptor budget
    /// is spent, keeping the connection queued.
    pub async fn accept(&self) -> io::Result<(SimStream, SocketAddr)> {
        let queued = self.pending.borrow_mut().take();
        let (stream, peer) = match queued {
            Some(queued) => queued,
            None => self.inner.accept().await?,
        };
        let host = stream.local_addr()?.ip();
        match sim_fd::take(host) {
            Some(slot) => Ok((
                SimStream {
                    inner: stream,
                    _fd: Some(slot),
                },
                peer,
            )),
            None => {
                *self.pending.borrow_mut() = Some((stream, peer));
                Err(io::Error::other(
                    "too many open files (the host's simulated descriptor limit)",
                ))
            }
        }
    }

    /// The address bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A bare turmoil listener (no descriptor budget), for tests that bind one directly.
impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        turmoil::net::TcpListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        turmoil::net::TcpListener::local_addr(self)
    }
}

/// Simulated file-descriptor budgets of hosts (the `fd_limit` fault).
///
/// Per thread (a simulation runs on one): [`reset`] it when a new simulation starts.
pub mod sim_fd {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    #[derive(Debug, Default, Clone, Copy)]
    struct Budget {
        limit: Option<usize>,
        open: usize,
    }

    thread_local! {
        static BUDGETS: RefCell<BTreeMap<IpAddr, Budget>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// One accepted connection's descriptor; dropping it gives it back to its host.
    #[derive(Debug)]
    pub struct Slot(IpAddr);

    impl Drop for Slot {
        fn drop(&mut self) {
            BUDGETS.with(|b| {
                if let Some(budget) = b.borrow_mut().get_mut(&self.0) {
                    budget.open = budget.open.saturating_sub(1);
                }
            });
        }
    }

    /// Forgets every budget and count (a new simulation).
    pub fn reset() {
        BUDGETS.with(|b| b.borrow_mut().clear());
    }

    /// Lets `host` hold at most `limit` accepted connections (`None`: no limit).
    pub fn set_limit(host: IpAddr, limit: Option<usize>) {
        BUDGETS.with(|b| b.borrow_mut().entry(host).or_default().limit = limit);
    }

    /// Accepted connections `host` holds now.
    pub fn open(host: IpAddr) -> usize {
        BUDGETS.with(|b| b.borrow().get(&host).map_or(0, |budget| budget.open))
    }

    /// A descriptor of `host` for a new connection, `None` if its budget is spent.
    pub(crate) fn take(host: IpAddr) -> Option<Slot> {
        BUDGETS.with(|b| {
            let mut budgets = b.borrow_mut();
            let budget = budgets.entry(host).or_default();
            if budget.limit.is_some_and(|limit| budget.open >= limit) {
                return None;
            }
            budget.open += 1;
            Some(Slot(host))
        })
    }
}

/// The host's wall clock (real-socket runs only).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one place real runs read the OS clock.
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }
}

/// The simulated wall clock: turmoil's epoch plus simulated elapsed time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimClock;

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        // Outside a running simulation there is no simulated time; the epoch is the
        // honest answer rather than the host's clock.
        let since = turmoil::since_epoch().unwrap_or_default();
        Timestamp::from_micros(u64::try_from(since.as_micros()).unwrap_or(u64::MAX))
    }
}

/// Simulated time for log lines: where in a simulation an event happened.
///
/// Log timestamps must not read a clock inside a simulation (determinism, and the wall
/// clock says nothing about simulated events). Inside a turmoil host the simulation
/// knows its time; the world's own step (faults, checks) runs between host turns, so it
/// says its time with [`in_world`](log_time::in_world).
pub mod log_time {
    use std::cell::Cell;
    use std::time::Duration;

    thread_local! {
        /// The simulated time the world's step set on this thread, if any.
        static WORLD: Cell<Option<Duration>> = const { Cell::new(None) };
    }

    /// The simulated time since the start of the simulation running on this thread, or
    /// `None` outside a simulation. Reads no clock.
    pub fn sim_elapsed() -> Option<Duration> {
        turmoil::sim_elapsed().or_else(|| WORLD.with(Cell::get))
    }

    /// Runs `f` with [`sim_elapsed`] answering `elapsed` (unless a turmoil host is
    /// running, whose own time wins), for events a simulation's driver logs between
    /// host turns.
    pub fn in_world<R>(elapsed: Duration, f: impl FnOnce() -> R) -> R {
        /// Puts the previous value back even if `f` panics.
        struct Restore(Option<Duration>);
        impl Drop for Restore {
            fn drop(&mut self) {
                WORLD.with(|w| w.set(self.0));
            }
        }
        let _restore = Restore(WORLD.with(|w| w.replace(Some(elapsed))));
        f()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn log_time_is_the_simulation_s_inside_one_and_none_outside() {
        use std::time::Duration;
        assert_eq!(log_time::sim_elapsed(), None);
        let at = log_time::in_world(Duration::from_secs(7), log_time::sim_elapsed);
        assert_eq!(at, Some(Duration::from_secs(7)));
        // Nested calls restore the outer value, and the thread is clear afterwards.
        log_time::in_world(Duration::from_secs(1), || {
            log_time::in_world(Duration::from_secs(2), || {});
            assert_eq!(log_time::sim_elapsed(), Some(Duration::from_secs(1)));
        });
        assert_eq!(log_time::sim_elapsed(), None);
        let mut sim = turmoil::Builder::new().build();
        sim.client("client", async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let at = log_time::sim_elapsed().expect("inside a host");
            assert!(at >= Duration::from_secs(3), "{at:?}");
            Ok(())
        });
        sim.run().expect("simulation");
    }

    /// Accepts one connection and returns the four bytes it carried.
    async fn accept_ping<L: Listener>(listener: &L) -> io::Result<[u8; 4]>
    where
        L::Stream: AsyncReadExt + Unpin,
    {
        let (mut server, _peer) = listener.accept().await?;
        let mut got = [0u8; 4];
        server.read_exact(&mut got).await?;
        Ok(got)
    }

    /// Connects to `addr` and sends four bytes.
    async fn send_ping<N: Net>(net: N, addr: &str) -> io::Result<()> {
        let mut client = net.connect(addr).await?;
        client.write_all(b"ping").await?;
        client.flush().await
    }

    #[test]
    fn sim_net_carries_bytes_and_sim_clock_follows_the_simulation() {
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let mut sim = turmoil::Builder::new().epoch(epoch).build();
        sim.host("server", || async {
            let listener = SimNet.bind("0.0.0.0:7000").await?;
            assert_eq!(listener.local_addr()?.port(), 7000);
            assert_eq!(&accept_ping(&listener).await?, b"ping");
            Ok(())
        });
        sim.client("client", async {
            send_ping(SimNet, "server:7000").await?;
            assert!(SimClock.now().as_secs() >= 1_800_000_000);
            Ok(())
        });
        sim.run().expect("simulation");
    }

    #[test]
    fn sim_clock_outside_a_simulation_is_the_epoch() {
        assert_eq!(SimClock.now(), Timestamp::from_micros(0));
    }

    #[test]
    fn tokio_net_carries_bytes_on_loopback() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let listener = TokioNet.bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr").to_string();
            let (got, sent) = tokio::join!(accept_ping(&listener), send_ping(TokioNet, &addr));
            sent.expect("send");
            assert_eq!(&got.expect("accept"), b"ping");
            assert!(SystemClock.now().as_secs() > 1_600_000_000);
        });
    }
}
