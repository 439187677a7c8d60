//! A customer site's router, taken over by an attacker: for a while it answers the
//! platform's gateway names with a host of the attacker's (a DNS hijack), and it resets
//! every connection through it when the attacker takes it and when it is given back.
//!
//! Only the cameras of a site go through its router: viewers are phones on the mobile
//! network. The router is a [`Net`] wrapper, so camera code does not know it is there.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use camproof_platform::net::{Clock, Net, SimClock, SimNet};
use camproof_protocol::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// When the attacker holds a site's router and where it sends the gateways' names.
#[derive(Debug)]
pub struct SiteRouter {
    /// Names that start with this prefix are hijacked (`"gw-"`).
    prefix: String,
    /// The attacker's host that answers for them.
    rogue: String,
    /// The attacker holds the router from `from` to `until` (simulated wall time).
    from: Timestamp,
    until: Timestamp,
    /// Bumped at each takeover and hand-back: older connections are reset.
    generation: Cell<u64>,
    /// Readers waiting on a connection, woken when the router resets it.
    waiting: RefCell<BTreeMap<u64, Waker>>,
    next_id: Cell<u64>,
    /// Connections the router sent to the attacker's host.
    redirected: Cell<u64>,
}

impl SiteRouter {
    /// A router that sends names starting with `prefix` to `rogue` from `from` to `until`.
    pub fn new(prefix: &str, rogue: &str, from: Timestamp, until: Timestamp) -> Rc<Self> {
        Rc::new(SiteRouter {
            prefix: prefix.to_owned(),
            rogue: rogue.to_owned(),
            from,
            until,
            generation: Cell::new(0),
            waiting: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(0),
            redirected: Cell::new(0),
        })
    }

    /// Whether the attacker holds the router at `now`.
    pub fn hijacked(&self, now: Timestamp) -> bool {
        self.from <= now && now < self.until
    }

    /// Connections made to the attacker's host so far.
    pub fn redirected(&self) -> u64 {
        self.redirected.get()
    }

    /// Where a connection to `addr` goes at `now`, and whether that is the attacker.
    fn route(&self, addr: &str, now: Timestamp) -> (String, bool) {
        match addr.rsplit_once(':') {
            Some((host, port)) if self.hijacked(now) && host.starts_with(&self.prefix) => {
                (format!("{}:{port}", self.rogue), true)
            }
            _ => (addr.to_owned(), false),
        }
    }

    /// Resets every connection through the router (it reboots under new management).
    pub fn reset_all(&self) {
        self.generation.set(self.generation.get() + 1);
        let waiting = std::mem::take(&mut *self.waiting.borrow_mut());
        for waker in waiting.into_values() {
            waker.wake();
        }
    }

    /// The router's own software: resets everything at the takeover and the hand-back.
    /// Run it on the site host (a restarted site runs it again; past times are skipped).
    pub async fn run(self: Rc<Self>) {
        for at in [self.from, self.until] {
            let now = SimClock.now();
            if now >= at {
                continue;
            }
            tokio::time::sleep(Duration::from_micros(at.as_micros() - now.as_micros())).await;
            self.reset_all();
        }
    }
}

/// The simulated network as seen from behind a [`SiteRouter`].
#[derive(Debug, Clone)]
pub struct RoutedNet {
    router: Rc<SiteRouter>,
}

impl RoutedNet {
    /// The network behind `router`.
    pub fn new(router: Rc<SiteRouter>) -> Self {
        RoutedNet { router }
    }
}

impl Net for RoutedNet {
    type Stream = RoutedStream;
    type Listener = RoutedListener;

    async fn connect(&self, addr: &str) -> io::Result<Self::Stream> {
        let (target, hijacked) = self.router.route(addr, SimClock.now());
        let generation = self.router.generation.get();
        let inner = SimNet.connect(&target).await?;
        if hijacked {
            self.router.redirected.set(self.router.redirected.get() + 1);
        }
        let id = self.router.next_id.get();
        self.router.next_id.set(id + 1);
        Ok(RoutedStream {
            inner,
            router: self.router.clone(),
            generation,
            id,
        })
    }

    async fn bind(&self, addr: &str) -> io::Result<Self::Listener> {
        Ok(RoutedListener {
            inner: SimNet.bind(addr).await?,
            router: self.router.clone(),
        })
    }
}

/// A listener behind the router (nothing at a site listens today; here for [`Net`]).
pub struct RoutedListener {
    inner: turmoil::net::TcpListener,
    router: Rc<SiteRouter>,
}

impl camproof_platform::net::Listener for RoutedListener {
    type Stream = RoutedStream;

    async fn accept(&self) -> io::Result<(Self::Stream, std::net::SocketAddr)> {
        let (inner, peer) = self.inner.accept().await?;
        let id = self.router.next_id.get();
        self.router.next_id.set(id + 1);
        let stream = RoutedStream {
            inner,
            router: self.router.clone(),
            generation: self.router.generation.get(),
            id,
        };
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection through the router: reset when the router is taken or given back.
#[derive(Debug)]
pub struct RoutedStream {
    inner: turmoil::net::TcpStream,
    router: Rc<SiteRouter>,
    generation: u64,
    id: u64,
}

impl RoutedStream {
    fn check(&self) -> io::Result<()> {
        if self.router.generation.get() == self.generation {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "reset by the site's router",
            ))
        }
    }
}

impl Drop for RoutedStream {
    fn drop(&mut self) {
        self.router.waiting.borrow_mut().remove(&self.id);
    }
}

impl AsyncRead for RoutedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if polled.is_pending() {
            this.router
                .waiting
                .borrow_mut()
                .insert(this.id, cx.waker().clone());
        }
        polled
    }
}

impl AsyncWrite for RoutedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    #[test]
    fn only_gateway_names_are_hijacked_and_only_while_held() {
        let router = SiteRouter::new("gw-", "atk-rogue-1", at(100), at(200));
        let to = |addr: &str, t: u64| router.route(addr, at(t));
        assert_eq!(to("gw-apac-1:7443", 99), ("gw-apac-1:7443".into(), false));
        assert_eq!(to("gw-apac-1:7443", 100), ("atk-rogue-1:7443".into(), true));
        assert_eq!(to("gw-apac-2:7444", 150), ("atk-rogue-1:7444".into(), true));
        assert_eq!(
            to("relay.example:7443", 150),
            ("relay.example:7443".into(), false)
        );
        assert_eq!(to("gw-apac-1:7443", 200), ("gw-apac-1:7443".into(), false));
    }

    #[test]
    fn a_reset_wakes_every_waiting_reader() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        use std::task::Wake;

        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let router = SiteRouter::new("gw-", "atk-rogue-1", at(0), at(1));
        let count = Arc::new(Count(AtomicUsize::new(0)));
        for id in 0..3 {
            router
                .waiting
                .borrow_mut()
                .insert(id, Waker::from(count.clone()));
        }
        router.reset_all();
        assert_eq!(count.0.load(Ordering::Relaxed), 3);
        assert!(router.waiting.borrow().is_empty());
        assert_eq!(router.generation.get(), 1);
    }
}
