//! A customer site's router, taken over by an attacker. A rogue-firmware attacker
//! answers the platform's gateway names with a host of its own for a while (a DNS
//! hijack), and the router resets every connection through it when the attacker takes
//! it and when it is given back. A replay attacker stays on the path instead and alters
//! the records of live gateway sessions ([`crate::onpath`]).
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

use camproof_net::{Clock, Net, SimClock, SimNet};
use camproof_protocol::Timestamp;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::onpath::{Conn, OnPath, OnPathStats};

/// A rogue host that answers for the gateways' names from `from` to `until`.
#[derive(Debug)]
struct Hijack {
    rogue: String,
    from: Timestamp,
    until: Timestamp,
}

/// Who holds a site's router: where it sends the gateways' names, and who alters what
/// passes through it.
#[derive(Debug)]
pub struct SiteRouter {
    /// Names that start with this prefix are the platform's gateways (`"gw-"`).
    prefix: String,
    /// The gateways' CDP/1 port (an on-path attacker alters sessions there only).
    session_port: u16,
    /// A rogue-firmware attacker's DNS hijack.
    hijack: Option<Hijack>,
    /// A replay attacker on the path of gateway sessions.
    onpath: Option<RefCell<OnPath>>,
    /// Bumped at each takeover and hand-back: older connections are reset.
    generation: Cell<u64>,
    /// Readers waiting on a connection, woken when the router resets it.
    waiting: RefCell<BTreeMap<u64, Waker>>,
    next_id: Cell<u64>,
    /// Connections the router sent to the attacker's host.
    redirected: Cell<u64>,
}

impl SiteRouter {
    /// An honest router; `prefix` starts the platform's gateway names, whose CDP/1
    /// sessions are on `session_port`.
    pub fn new(prefix: &str, session_port: u16) -> Self {
        SiteRouter {
            prefix: prefix.to_owned(),
            session_port,
            hijack: None,
            onpath: None,
            generation: Cell::new(0),
            waiting: RefCell::new(BTreeMap::new()),
            next_id: Cell::new(0),
            redirected: Cell::new(0),
        }
    }

    /// The router sends the gateways' names to `rogue` from `from` to `until`.
    pub fn hijacked_by(mut self, rogue: &str, from: Timestamp, until: Timestamp) -> Self {
        self.hijack = Some(Hijack {
            rogue: rogue.to_owned(),
            from,
            until,
        });
        self
    }

    /// The router passes gateway sessions through `attacker`, who alters their records.
    pub fn tampered_by(mut self, attacker: OnPath) -> Self {
        self.onpath = Some(RefCell::new(attacker));
        self
    }

    /// Whether a rogue host answers for the gateways' names at `now`.
    pub fn hijacked(&self, now: Timestamp) -> bool {
        self.hijack
            .as_ref()
            .is_some_and(|h| h.from <= now && now < h.until)
    }

    /// Whether an attacker holds the router at all.
    pub fn is_taken(&self) -> bool {
        self.hijack.is_some() || self.onpath.is_some()
    }

    /// What the on-path attacker counted, if there is one.
    pub fn onpath_stats(&self) -> Option<OnPathStats> {
        self.onpath.as_ref().map(|p| p.borrow().stats().clone())
    }

    /// Connections made to the attacker's host so far.
    pub fn redirected(&self) -> u64 {
        self.redirected.get()
    }

    /// Where a connection to `addr` goes at `now`, and whether that is the attacker.
    fn route(&self, addr: &str, now: Timestamp) -> (String, bool) {
        match (addr.rsplit_once(':'), &self.hijack) {
            (Some((host, port)), Some(h)) if self.hijacked(now) && self.is_gateway(host) => {
                (format!("{}:{port}", h.rogue), true)
            }
            _ => (addr.to_owned(), false),
        }
    }

    fn is_gateway(&self, host: &str) -> bool {
        host.starts_with(&self.prefix)
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
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
        let Some((from, until)) = self.hijack.as_ref().map(|h| (h.from, h.until)) else {
            return;
        };
        for at in [from, until] {
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
        let id = self.router.next_id();
        // Gateway sessions only: the relay on the gateways' hosts speaks another protocol.
        let to_gateway = addr.rsplit_once(':').is_some_and(|(host, port)| {
            self.router.is_gateway(host) && port.parse() == Ok(self.router.session_port)
        });
        let onpath = (self.router.onpath.is_some() && to_gateway && !hijacked)
            .then(|| Conn::new(id, addr, SimClock.now()));
        Ok(RoutedStream {
            inner,
            router: self.router.clone(),
            generation,
            id,
            onpath,
            gateway_done: false,
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
    inner: camproof_net::SimListener,
    router: Rc<SiteRouter>,
}

impl camproof_net::Listener for RoutedListener {
    type Stream = RoutedStream;

    async fn accept(&self) -> io::Result<(Self::Stream, std::net::SocketAddr)> {
        let (inner, peer) = self.inner.accept().await?;
        let stream = RoutedStream {
            inner,
            router: self.router.clone(),
            generation: self.router.generation.get(),
            id: self.router.next_id(),
            onpath: None,
            gateway_done: false,
        };
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection through the router: reset when the router is taken or given back, and
/// altered on the way if an attacker is on the path.
#[derive(Debug)]
pub struct RoutedStream {
    inner: camproof_net::SimStream,
    router: Rc<SiteRouter>,
    generation: u64,
    id: u64,
    /// The on-path attacker's view of this gateway session.
    onpath: Option<Conn>,
    /// The gateway closed its side (the camera gets the end once it read the rest).
    gateway_done: bool,
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

    /// Reads through the on-path attacker: whole frames from the gateway, altered or not.
    fn poll_read_onpath(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let (Some(conn), Some(path)) = (&mut self.onpath, &self.router.onpath) else {
            return Pin::new(&mut self.inner).poll_read(cx, buf);
        };
        loop {
            if conn.has_output() {
                conn.read_into(buf);
                return Poll::Ready(Ok(()));
            }
            if self.gateway_done {
                return Poll::Ready(Ok(()));
            }
            let mut space = [0u8; 8 * 1024];
            let mut part = ReadBuf::new(&mut space);
            match Pin::new(&mut self.inner).poll_read(cx, &mut part) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    conn.gateway_closed(&mut path.borrow_mut(), SimClock.now());
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(())) if part.filled().is_empty() => {
                    self.gateway_done = true;
                    conn.gateway_closed(&mut path.borrow_mut(), SimClock.now());
                }
                Poll::Ready(Ok(())) => {
                    conn.from_gateway(part.filled(), &mut path.borrow_mut(), SimClock.now());
                }
            }
        }
    }
}

impl Drop for RoutedStream {
    fn drop(&mut self) {
        self.router.waiting.borrow_mut().remove(&self.id);
        if let (Some(conn), Some(path)) = (&mut self.onpath, &self.router.onpath) {
            let reset = self.router.generation.get() != self.generation;
            conn.dropped(reset, &mut path.borrow_mut(), SimClock.now());
        }
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
        let polled = this.poll_read_onpath(cx, buf);
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
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let (Poll::Ready(Ok(n)), Some(conn), Some(path)) =
            (&polled, &mut this.onpath, &this.router.onpath)
        {
            conn.from_camera(&buf[..*n], &mut path.borrow_mut(), SimClock.now());
        }
        polled
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
        let router = SiteRouter::new("gw-", 7443).hijacked_by("atk-rogue-1", at(100), at(200));
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
        let router = SiteRouter::new("gw-", 7443).hijacked_by("atk-rogue-1", at(0), at(1));
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
