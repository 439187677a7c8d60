//! Admission control for a listener: who may hold a connection, for how long before it
//! is authenticated, and what an accept error means.
//!
//! One [`Admission`] guards one listener. [`Admission::accept`] wraps the listener's
//! `accept`: it never ends on an accept error (running out of descriptors, an aborted
//! connection: all temporary, logged and retried with a backoff of 10 ms doubling to
//! 1 s), and it closes at once a connection over the overall or the per-address cap,
//! counting it. A connection it admits comes with a [`Permit`] that its task holds; the
//! slot is free again when the permit is dropped.
//!
//! The other limits ([`AdmissionLimits::handshake_deadline`],
//! [`AdmissionLimits::preauth_bytes`], [`AdmissionLimits::write_timeout`]) are applied by
//! the connection's own driver, which knows when its peer is authenticated;
//! [`write_within`] is the write with a deadline they share.
//!
//! Time comes from `tokio::time`, which turmoil drives in a simulation: the same code
//! runs on real sockets and in the simulator.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::Listener;

/// First pause after a failed accept; doubled after each further failure.
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
/// Longest pause between two accepts that fail.
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one refusal or accept-error warning per listener in this long (the others
/// are counted and reported with the next warning).
pub const LOG_EVERY: Duration = Duration::from_secs(1);

/// The limits a listener enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Connections open at once, all peers together (default 20,000).
    pub max_connections: usize,
    /// Connections open at once from one IP address (default 1,000; a NAT'd customer
    /// network is one address).
    pub max_per_source: usize,
    /// Time from accept until the peer is authenticated (or, at a relay, admitted)
    /// (default 10 s); the connection is closed when it runs out.
    pub handshake_deadline: Duration,
    /// Bytes a peer may send before it is authenticated (default 16 KiB; a camera's
    /// whole handshake is a few KiB).
    pub preauth_bytes: usize,
    /// Longest wait for one write to a peer that does not read (default 10 s).
    pub write_timeout: Duration,
    /// Planted defect for negative tests (`false` in the reference platform): an accept
    /// error ends the accept loop, as it did before admission control.
    pub stop_on_accept_error: bool,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        AdmissionLimits {
            max_connections: 20_000,
            max_per_source: 1_000,
            handshake_deadline: Duration::from_secs(10),
            preauth_bytes: 16 * 1024,
            write_timeout: Duration::from_secs(10),
            stop_on_accept_error: false,
        }
    }
}

/// Why a connection was closed at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// [`AdmissionLimits::max_connections`] are open.
    Full,
    /// [`AdmissionLimits::max_per_source`] are open from the peer's address.
    SourceFull,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Full => "too many connections",
            Refusal::SourceFull => "too many connections from this address",
        })
    }
}

/// What an [`Admission`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AdmissionStats {
    /// Connections open now.
    pub open: usize,
    /// Connections closed at accept because a cap was reached.
    pub refused: u64,
    /// Accepts that failed (and were retried).
    pub accept_errors: u64,
}

#[derive(Debug, Default)]
struct State {
    stats: AdmissionStats,
    /// Open connections per address; an address leaves the map with its last one
    /// (a `BTreeMap`: nothing here may depend on a random hasher).
    per_source: BTreeMap<IpAddr, usize>,
    /// When the last warning was logged, and how many were held back since.
    last_log: Option<tokio::time::Instant>,
    held_back: u64,
}

/// Something an [`Admission`] counted, as told to its observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A connection was closed at accept.
    Refused(Refusal),
    /// An accept failed (and will be retried).
    AcceptError,
}

/// Told each refusal and each failed accept.
type Observer = Rc<dyn Fn(Counted)>;

/// Admission control of one listener (cheap to clone: a handle).
#[derive(Clone)]
pub struct Admission {
    name: Rc<str>,
    limits: AdmissionLimits,
    state: Rc<RefCell<State>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission")
            .field("name", &self.name)
            .field("limits", &self.limits)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// A connection's place under the caps; dropping it frees the place.
#[derive(Debug)]
pub struct Permit {
    state: Rc<RefCell<State>>,
    source: IpAddr,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.state.borrow_mut();
        state.stats.open = state.stats.open.saturating_sub(1);
        if let Some(n) = state.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                state.per_source.remove(&self.source);
            }
        }
    }
}

impl Admission {
    /// Admission control for the listener called `name` (in logs) with `limits`.
    pub fn new(name: impl Into<String>, limits: AdmissionLimits) -> Self {
        Admission {
            name: Rc::from(name.into()),
            limits,
            state: Rc::default(),
            observer: None,
        }
    }

    /// Tells `observer` each refusal and each failed accept (so a service's own
    /// counters, which may outlive this admission, follow them).
    pub fn observe(mut self, observer: impl Fn(Counted) + 'static) -> Self {
        self.observer = Some(Rc::new(observer));
        self
    }

    fn notify(&self, what: Counted) {
        if let Some(observer) = &self.observer {
            observer(what);
        }
    }

    /// The limits enforced.
    pub fn limits(&self) -> &AdmissionLimits {
        &self.limits
    }

    /// The counters now.
    pub fn stats(&self) -> AdmissionStats {
        self.state.borrow().stats
    }

    /// A place for a connection from `peer`, or why there is none (counted as refused).
    pub fn admit(&self, peer: SocketAddr) -> Result<Permit, Refusal> {
        let mut state = self.state.borrow_mut();
        let from_source = state.per_source.get(&peer.ip()).copied().unwrap_or(0);
        let refusal = if state.stats.open >= self.limits.max_connections {
            Some(Refusal::Full)
        } else if from_source >= self.limits.max_per_source {
            Some(Refusal::SourceFull)
        } else {
            None
        };
        if let Some(why) = refusal {
            state.stats.refused += 1;
            return Err(why);
        }
        state.stats.open += 1;
        state.per_source.insert(peer.ip(), from_source + 1);
        Ok(Permit {
            state: self.state.clone(),
            source: peer.ip(),
        })
    }

    /// The next admitted connection, with its permit. Connections over a cap are closed
    /// and counted; accept errors are logged and retried after a backoff. Returns an
    /// error only with the planted [`AdmissionLimits::stop_on_accept_error`].
    pub async fn accept<L: Listener>(
        &self,
        listener: &L,
    ) -> io::Result<(L::Stream, SocketAddr, Permit)> {
        let mut backoff = ACCEPT_BACKOFF_MIN;
        loop {
            match listener.accept().await {
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    match self.admit(peer) {
                        Ok(permit) => return Ok((stream, peer, permit)),
                        Err(why) => {
                            self.notify(Counted::Refused(why));
                            // Closing at once costs the peer a reconnect, us nothing more.
                            drop(stream);
                            if let Some(held_back) = self.may_log() {
                                tracing::warn!(listener = %self.name, %peer, reason = %why, held_back, "connection refused");
                            }
                        }
                    }
                }
                Err(e) => {
                    self.state.borrow_mut().stats.accept_errors += 1;
                    self.notify(Counted::AcceptError);
                    if self.limits.stop_on_accept_error {
                        return Err(e);
                    }
                    if let Some(held_back) = self.may_log() {
                        tracing::warn!(listener = %self.name, error = %e, retry_in = ?backoff, held_back, "accept failed; retrying");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }

    /// Whether a warning may be logged now; if so, how many were held back before it.
    fn may_log(&self) -> Option<u64> {
        let now = tokio::time::Instant::now();
        let mut state = self.state.borrow_mut();
        match state.last_log {
            Some(last) if now.saturating_duration_since(last) < LOG_EVERY => {
                state.held_back += 1;
                None
            }
            _ => {
                state.last_log = Some(now);
                Some(std::mem::take(&mut state.held_back))
            }
        }
    }
}

/// Writes all of `bytes` to `stream` and flushes, failing with `TimedOut` if that takes
/// longer than `limit` (a peer that does not read).
pub async fn write_within<S: AsyncWrite + Unpin>(
    stream: &mut S,
    bytes: &[u8],
    limit: Duration,
) -> io::Result<()> {
    let write = async {
        stream.write_all(bytes).await?;
        stream.flush().await
    };
    match tokio::time::timeout(limit, write).await {
        Ok(done) => done,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "write timed out: the peer does not read",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Net, SimNet};
    use tokio::io::AsyncReadExt;

    /// Whether the server closed `stream` (a read sees the end, or a reset).
    async fn closed_by_server(stream: &mut crate::SimStream) -> bool {
        let mut byte = [0u8; 1];
        !matches!(stream.read(&mut byte).await, Ok(n) if n > 0)
    }

    /// A server on `server:7000` admitting with `limits`; each admitted connection gets
    /// one byte and is held open until the simulation ends.
    fn server(sim: &mut turmoil::Sim<'_>, limits: AdmissionLimits) {
        sim.host("server", move || async move {
            let listener = SimNet.bind("0.0.0.0:7000").await?;
            let admission = Admission::new("test", limits);
            let mut held = Vec::new();
            loop {
                let (mut stream, _peer, permit) = admission.accept(&listener).await?;
                write_within(&mut stream, b"!", limits.write_timeout).await?;
                held.push((stream, permit));
            }
        });
    }

    #[test]
    fn connections_over_the_overall_cap_are_closed() {
        let mut sim = turmoil::Builder::new().build();
        let limits = AdmissionLimits {
            max_connections: 2,
            ..AdmissionLimits::default()
        };
        server(&mut sim, limits);
        for (i, admitted) in [true, true, false].into_iter().enumerate() {
            sim.client(format!("client{i}"), async move {
                // One after the other, so the order of admission is fixed.
                tokio::time::sleep(Duration::from_millis(100 * i as u64)).await;
                let mut s = SimNet.connect("server:7000").await?;
                assert_eq!(closed_by_server(&mut s).await, !admitted, "client {i}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Ok(())
            });
        }
        sim.run().expect("simulation");
    }

    #[test]
    fn one_address_is_capped_and_others_still_get_in() {
        let mut sim = turmoil::Builder::new().build();
        let limits = AdmissionLimits {
            max_per_source: 2,
            ..AdmissionLimits::default()
        };
        server(&mut sim, limits);
        sim.client("flood", async {
            let mut held = Vec::new();
            for i in 0..3 {
                let mut s = SimNet.connect("server:7000").await?;
                assert_eq!(closed_by_server(&mut s).await, i == 2, "connection {i}");
                held.push(s);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(())
        });
        sim.client("camera", async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut s = SimNet.connect("server:7000").await?;
            assert!(!closed_by_server(&mut s).await);
            Ok(())
        });
        sim.run().expect("simulation");
    }

    #[test]
    fn a_dropped_permit_frees_its_place() {
        let limits = AdmissionLimits {
            max_connections: 3,
            max_per_source: 1,
            ..AdmissionLimits::default()
        };
        let admission = Admission::new("test", limits);
        let a = SocketAddr::from(([192, 0, 2, 1], 1));
        let b = SocketAddr::from(([192, 0, 2, 2], 1));
        let first = admission.admit(a).expect("room");
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::SourceFull);
        let _other = admission.admit(b).expect("another address");
        drop(first);
        let _again = admission.admit(a).expect("its place is free again");
        let _c = admission.admit(SocketAddr::from(([192, 0, 2, 3], 1)));
        assert_eq!(
            admission
                .admit(SocketAddr::from(([192, 0, 2, 4], 1)))
                .unwrap_err(),
            Refusal::Full
        );
        let stats = admission.stats();
        assert_eq!((stats.open, stats.refused), (3, 2));
    }

    /// A listener whose first `failures` accepts fail, then hands out `()` forever.
    struct Flaky {
        failures: std::cell::Cell<u32>,
    }

    impl Listener for Flaky {
        type Stream = ();

        async fn accept(&self) -> io::Result<((), SocketAddr)> {
            if self.failures.get() > 0 {
                self.failures.set(self.failures.get() - 1);
                return Err(io::Error::other("too many open files"));
            }
            Ok(((), SocketAddr::from(([192, 0, 2, 1], 4000))))
        }

        fn local_addr(&self) -> io::Result<SocketAddr> {
            Ok(SocketAddr::from(([0, 0, 0, 0], 7000)))
        }
    }

    #[test]
    fn accept_errors_are_retried_with_a_backoff_and_counted() {
        let mut sim = turmoil::Builder::new().build();
        sim.client("server", async {
            let admission = Admission::new("test", AdmissionLimits::default());
            let listener = Flaky {
                failures: std::cell::Cell::new(12),
            };
            let start = tokio::time::Instant::now();
            let (_, peer, _permit) = admission.accept(&listener).await?;
            assert_eq!(peer.port(), 4000);
            let stats = admission.stats();
            assert_eq!((stats.accept_errors, stats.open), (12, 1));
            // 10+20+...+640 ms, then 1 s for each of the last five: it backed off, and
            // never more than a second at a time.
            let waited = start.elapsed();
            assert_eq!(waited, Duration::from_millis(1270 + 5000));
            Ok(())
        });
        sim.run().expect("simulation");
    }

    #[test]
    fn the_planted_bug_ends_the_accept_loop_at_the_first_error() {
        let mut sim = turmoil::Builder::new().build();
        sim.client("server", async {
            let limits = AdmissionLimits {
                stop_on_accept_error: true,
                ..AdmissionLimits::default()
            };
            let admission = Admission::new("test", limits);
            let listener = Flaky {
                failures: std::cell::Cell::new(1),
            };
            assert!(admission.accept(&listener).await.is_err());
            Ok(())
        });
        sim.run().expect("simulation");
    }

    #[test]
    fn a_host_out_of_descriptors_keeps_the_connection_queued_until_one_is_free() {
        let mut sim = turmoil::Builder::new().build();
        sim.host("server", || async {
            crate::sim_fd::set_limit(turmoil::lookup("server"), Some(1));
            let listener = SimNet.bind("0.0.0.0:7000").await?;
            let (first, _) = crate::Listener::accept(&listener).await?;
            // The second connection waits: accept fails as EMFILE does.
            assert!(crate::Listener::accept(&listener).await.is_err());
            assert_eq!(crate::sim_fd::open(turmoil::lookup("server")), 1);
            drop(first);
            // A descriptor is free: the queued connection is accepted, through the
            // admission's retries.
            let admission = Admission::new("test", AdmissionLimits::default());
            let (mut second, _, _permit) = admission.accept(&listener).await?;
            write_within(&mut second, b"!", Duration::from_secs(1)).await?;
            assert_eq!(admission.stats().accept_errors, 0);
            futures_pending().await;
            Ok(())
        });
        sim.client("client", async {
            let _first = SimNet.connect("server:7000").await?;
            let mut second = SimNet.connect("server:7000").await?;
            let mut byte = [0u8; 1];
            second.read_exact(&mut byte).await?;
            Ok(())
        });
        sim.run().expect("simulation");
        crate::sim_fd::reset();
    }

    /// Never resolves (a server that keeps running until the simulation ends).
    async fn futures_pending() {
        std::future::pending::<()>().await;
    }

    #[test]
    fn a_write_to_a_peer_that_does_not_read_times_out() {
        let mut sim = turmoil::Builder::new().build();
        sim.client("writer", async {
            let (mut ours, _theirs) = tokio::io::duplex(64);
            let e = write_within(&mut ours, &[0u8; 1024], Duration::from_secs(3))
                .await
                .expect_err("the peer never reads");
            assert_eq!(e.kind(), io::ErrorKind::TimedOut);
            Ok(())
        });
        sim.run().expect("simulation");
    }
}
