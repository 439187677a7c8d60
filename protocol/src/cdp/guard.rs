//! Server-side replay protection shared by all connections of one endpoint: the
//! handshake nonce cache and the single-use resumption ticket store.

use std::collections::{BTreeMap, BTreeSet};

use zeroize::Zeroizing;

use crate::cdp::messages::{RANDOM_LEN, TICKET_ID_LEN};
use crate::pki::PeerIdentity;
use crate::Timestamp;

/// Who proved possession of a key when a handshake random is remembered: the cache
/// keeps the two apart so that one kind can never crowd out the other (CDP-NONCE-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NonceClass {
    /// A device: a ClientAuth signature under a certificate of the platform's root, or a
    /// resumption binder under a ticket's secret.
    Device,
    /// An app: the first record that opened under the session's keys (apps have no
    /// certificate, so anyone can be one).
    App,
}

/// One class's randoms, each until its expiry.
#[derive(Debug, Clone, Default)]
struct Partition {
    capacity: usize,
    seen: BTreeMap<[u8; RANDOM_LEN], Timestamp>,
    by_expiry: BTreeSet<(Timestamp, [u8; RANDOM_LEN])>,
}

impl Partition {
    fn new(capacity: usize) -> Self {
        Partition {
            capacity: capacity.max(1),
            ..Partition::default()
        }
    }

    /// Forgets the randoms whose expiry has passed. A random is kept through its expiry
    /// instant: the skew check accepts a hello whose timestamp is exactly the window away,
    /// so forgetting it at that instant would let one replay through.
    fn purge(&mut self, now: Timestamp) {
        while let Some(&(expires, random)) = self.by_expiry.first() {
            if expires >= now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&random);
        }
    }

    fn insert(&mut self, random: &[u8; RANDOM_LEN], expires: Timestamp) {
        self.seen.insert(*random, expires);
        self.by_expiry.insert((expires, *random));
    }

    /// Forgets the entry closest to expiry.
    fn evict_oldest(&mut self) {
        if let Some((_, random)) = self.by_expiry.pop_first() {
            self.seen.remove(&random);
        }
    }
}

/// Remembers handshake randoms until their timestamps leave the skew window.
///
/// Only randoms of handshakes whose client proved possession of a key are remembered
/// (CDP-NONCE-01): a hello is merely looked up ([`NonceCache::is_remembered`]), and
/// remembered with [`NonceCache::check_and_insert`] once proven, so a peer without
/// credentials can fill nothing. Device and app randoms live in separate partitions.
/// Bounded: a full device partition refuses new device handshakes (fails closed) rather
/// than forgetting a random that could still be replayed; a full app partition forgets
/// its entry closest to expiry instead, since anyone can open an app session (CDP-NONCE-03).
#[derive(Debug, Clone)]
pub struct NonceCache {
    device: Partition,
    app: Partition,
    evicted: u64,
}

/// What the nonce cache says about a handshake random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceVerdict {
    /// First time seen; now remembered.
    Fresh,
    /// Seen before and not yet expired: a replay.
    Replayed,
    /// The partition is full of live entries.
    Full,
}

impl NonceCache {
    /// A cache holding at most `capacity` live device randoms and as many app randoms.
    pub fn new(capacity: usize) -> Self {
        Self::with_capacities(capacity, capacity)
    }

    /// A cache holding at most `device` live device randoms and `app` app randoms.
    pub fn with_capacities(device: usize, app: usize) -> Self {
        NonceCache {
            device: Partition::new(device),
            app: Partition::new(app),
            evicted: 0,
        }
    }

    /// Number of randoms remembered, both classes together.
    pub fn len(&self) -> usize {
        self.device.seen.len() + self.app.seen.len()
    }

    /// Number of randoms of one class remembered.
    pub fn len_of(&self, class: NonceClass) -> usize {
        self.partition(class).seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// App randoms forgotten before their expiry to make room for newer ones.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Whether `random` is remembered (of either class) and not yet expired at `now`.
    pub fn is_remembered(&mut self, random: &[u8; RANDOM_LEN], now: Timestamp) -> bool {
        self.device.purge(now);
        self.app.purge(now);
        self.device.seen.contains_key(random) || self.app.seen.contains_key(random)
    }

    /// Checks `random` against both classes and, if it is new, remembers it as `class`
    /// until `expires`: one atomic step, so of two copies of one hello only the first to
    /// prove possession gets [`NonceVerdict::Fresh`].
    pub fn check_and_insert(
        &mut self,
        class: NonceClass,
        random: &[u8; RANDOM_LEN],
        expires: Timestamp,
        now: Timestamp,
    ) -> NonceVerdict {
        if self.is_remembered(random, now) {
            return NonceVerdict::Replayed;
        }
        let evicted = &mut self.evicted;
        let part = match class {
            NonceClass::Device => &mut self.device,
            NonceClass::App => &mut self.app,
        };
        if part.seen.len() >= part.capacity {
            match class {
                NonceClass::Device => return NonceVerdict::Full,
                NonceClass::App => {
                    part.evict_oldest();
                    *evicted += 1;
                }
            }
        }
        part.insert(random, expires);
        NonceVerdict::Fresh
    }

    fn partition(&self, class: NonceClass) -> &Partition {
        match class {
            NonceClass::Device => &self.device,
            NonceClass::App => &self.app,
        }
    }
}

/// A resumption ticket as the platform remembers it.
#[derive(Clone)]
pub(crate) struct TicketEntry {
    pub secret: Zeroizing<[u8; 32]>,
    pub peer: PeerIdentity,
    pub expires: Timestamp,
}

/// Issued resumption tickets; each can be redeemed once.
///
/// Bounded: when full, the ticket closest to expiry is dropped (its holder falls back to
/// a full handshake, which costs time but never security).
pub struct TicketStore {
    capacity: usize,
    tickets: BTreeMap<[u8; TICKET_ID_LEN], TicketEntry>,
}

impl std::fmt::Debug for TicketStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketStore")
            .field("capacity", &self.capacity)
            .field("tickets", &self.tickets.len())
            .finish()
    }
}

impl TicketStore {
    /// A store holding at most `capacity` tickets.
    pub fn new(capacity: usize) -> Self {
        TicketStore {
            capacity: capacity.max(1),
            tickets: BTreeMap::new(),
        }
    }

    /// Number of outstanding tickets.
    pub fn len(&self) -> usize {
        self.tickets.len()
    }

    /// Whether no ticket is outstanding.
    pub fn is_empty(&self) -> bool {
        self.tickets.is_empty()
    }

    pub(crate) fn insert(&mut self, id: [u8; TICKET_ID_LEN], entry: TicketEntry, now: Timestamp) {
        self.tickets.retain(|_, t| t.expires > now);
        if self.tickets.len() >= self.capacity {
            if let Some(oldest) = self
                .tickets
                .iter()
                .min_by_key(|(id, t)| (t.expires, **id))
                .map(|(id, _)| *id)
            {
                self.tickets.remove(&oldest);
            }
        }
        self.tickets.insert(id, entry);
    }

    /// Removes and returns the ticket: a ticket is single-use whether or not the
    /// redemption then succeeds.
    pub(crate) fn redeem(
        &mut self,
        id: &[u8; TICKET_ID_LEN],
        now: Timestamp,
    ) -> Option<TicketEntry> {
        self.tickets.remove(id).filter(|t| t.expires > now)
    }

    /// A copy of the ticket, left in the store (only a flawed endpoint does this).
    pub(crate) fn peek(&self, id: &[u8; TICKET_ID_LEN], now: Timestamp) -> Option<TicketEntry> {
        self.tickets.get(id).filter(|t| t.expires > now).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> Timestamp {
        Timestamp::from_secs(s)
    }

    /// CDP-HS-06: the nonce cache refuses a repeated random until it expires, and its
    /// device partition fails closed when full.
    #[test]
    fn cdp_hs_06_nonce_cache() {
        let mut c = NonceCache::new(2);
        let dev = NonceClass::Device;
        assert_eq!(
            c.check_and_insert(dev, &[1; 32], t(60), t(0)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(dev, &[1; 32], t(60), t(10)),
            NonceVerdict::Replayed
        );
        assert_eq!(
            c.check_and_insert(dev, &[2; 32], t(70), t(10)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(dev, &[3; 32], t(70), t(10)),
            NonceVerdict::Full
        );
        // After the first expires there is room again, and the first is forgotten.
        assert_eq!(
            c.check_and_insert(dev, &[3; 32], t(90), t(61)),
            NonceVerdict::Fresh
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check_and_insert(dev, &[1; 32], t(100), t(71)),
            NonceVerdict::Fresh
        );
    }

    /// CDP-NONCE-01: looking a random up remembers nothing.
    #[test]
    fn cdp_nonce_01_lookup_remembers_nothing() {
        let mut c = NonceCache::new(1);
        for i in 0..100u8 {
            assert!(!c.is_remembered(&[i; 32], t(0)));
        }
        assert!(c.is_empty());
        assert_eq!(
            c.check_and_insert(NonceClass::Device, &[7; 32], t(60), t(0)),
            NonceVerdict::Fresh
        );
        assert!(c.is_remembered(&[7; 32], t(60)));
        assert!(!c.is_remembered(&[7; 32], Timestamp::from_micros(60_000_001)));
    }

    /// CDP-NONCE-03: app randoms never take a device's room, a full app partition forgets
    /// its oldest entry, and a random remembered in one class is a replay in the other.
    #[test]
    fn cdp_nonce_03_partitions() {
        let mut c = NonceCache::with_capacities(2, 3);
        for i in 0..50u8 {
            assert_eq!(
                c.check_and_insert(NonceClass::App, &[i; 32], t(60 + u64::from(i)), t(0)),
                NonceVerdict::Fresh
            );
        }
        assert_eq!(c.len_of(NonceClass::App), 3);
        assert_eq!(c.evicted(), 47);
        // The newest app randoms are kept; the oldest went first.
        assert!(c.is_remembered(&[49; 32], t(1)));
        assert!(!c.is_remembered(&[0; 32], t(1)));
        assert_eq!(
            c.check_and_insert(NonceClass::Device, &[200; 32], t(60), t(1)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(NonceClass::Device, &[49; 32], t(60), t(1)),
            NonceVerdict::Replayed
        );
        assert_eq!(
            c.check_and_insert(NonceClass::App, &[200; 32], t(60), t(1)),
            NonceVerdict::Replayed
        );
        assert_eq!(c.len_of(NonceClass::Device), 1);
    }

    /// CDP-RES-02: a ticket is redeemed at most once and never after it expires.
    #[test]
    fn cdp_res_02_ticket_single_use() {
        let entry = |exp| entry(t(exp));
        let mut s = TicketStore::new(2);
        s.insert([1; 16], entry(100), t(0));
        assert!(s.redeem(&[1; 16], t(1)).is_some());
        assert!(s.redeem(&[1; 16], t(2)).is_none());
        s.insert([2; 16], entry(100), t(0));
        assert!(
            s.redeem(&[2; 16], t(100)).is_none(),
            "expired ticket redeemed"
        );
        // Capacity: the ticket closest to expiry makes room.
        s.insert([3; 16], entry(50), t(0));
        s.insert([4; 16], entry(80), t(0));
        s.insert([5; 16], entry(90), t(0));
        assert_eq!(s.len(), 2);
        assert!(s.redeem(&[3; 16], t(1)).is_none());
        assert!(s.redeem(&[5; 16], t(1)).is_some());
    }

    fn us(micros: u64) -> Timestamp {
        Timestamp::from_micros(micros)
    }

    fn entry(expires: Timestamp) -> TicketEntry {
        TicketEntry {
            secret: Zeroizing::new([9; 32]),
            peer: PeerIdentity {
                subject: "CAM".into(),
                serial: 1,
                issuer: "v".into(),
            },
            expires,
        }
    }

    /// CDP-RES-04: a ticket is valid up to, not at, its expiry, whether it is redeemed or
    /// (by a flawed endpoint) peeked at; a peek leaves it in place.
    #[test]
    fn cdp_res_04_ticket_expiry_boundary() {
        let expires = us(100_000_000);
        for (now, valid) in [
            (us(99_999_999), true),
            (us(100_000_000), false),
            (us(100_000_001), false),
        ] {
            let mut s = TicketStore::new(4);
            assert!(s.is_empty());
            s.insert([1; 16], entry(expires), us(0));
            assert!(!s.is_empty());
            assert_eq!(s.peek(&[1; 16], now).is_some(), valid, "peek at {now:?}");
            assert_eq!(s.len(), 1, "a peek removed the ticket");
            assert_eq!(
                s.redeem(&[1; 16], now).is_some(),
                valid,
                "redeem at {now:?}"
            );
            assert!(s.is_empty(), "a redemption left the ticket");
        }
    }

    /// CDP-RES-04: inserting a ticket forgets those expired by then, and only those.
    #[test]
    fn cdp_res_04_insert_forgets_expired_tickets() {
        let mut s = TicketStore::new(10);
        s.insert([1; 16], entry(us(10)), us(0));
        s.insert([2; 16], entry(us(20)), us(0));
        // At 10 the first has expired (valid up to, not at, its expiry); the second lives.
        s.insert([3; 16], entry(us(30)), us(10));
        assert_eq!(s.len(), 2);
        assert!(s.redeem(&[1; 16], us(0)).is_none(), "expired ticket kept");
        assert!(
            s.redeem(&[2; 16], us(11)).is_some(),
            "live ticket forgotten"
        );
        assert!(s.redeem(&[3; 16], us(11)).is_some());
    }

    /// CDP-RES-02: a full store makes room by dropping the ticket closest to expiry, never
    /// a newer one, and never grows past its capacity.
    #[test]
    fn cdp_res_02_full_store_drops_the_oldest() {
        let mut s = TicketStore::new(2);
        s.insert([1; 16], entry(us(90)), us(0));
        s.insert([2; 16], entry(us(50)), us(0));
        assert_eq!(s.len(), 2, "dropped a ticket below capacity");
        s.insert([3; 16], entry(us(80)), us(0));
        assert_eq!(s.len(), 2);
        assert!(s.redeem(&[2; 16], us(1)).is_none(), "the oldest was kept");
        assert!(s.redeem(&[1; 16], us(1)).is_some());
        assert!(s.redeem(&[3; 16], us(1)).is_some());
    }

    /// CDP-HS-06: a random is remembered through its expiry instant and forgotten just
    /// after it (the skew check accepts a timestamp exactly the window away).
    #[test]
    fn cdp_hs_06_nonce_expiry_boundary() {
        for (class, now, replayed) in [
            (NonceClass::Device, us(59_999_999), true),
            (NonceClass::Device, us(60_000_000), true),
            (NonceClass::Device, us(60_000_001), false),
            (NonceClass::App, us(60_000_000), true),
            (NonceClass::App, us(60_000_001), false),
        ] {
            let mut c = NonceCache::new(4);
            assert_eq!(
                c.check_and_insert(class, &[1; 32], us(60_000_000), us(0)),
                NonceVerdict::Fresh
            );
            assert_eq!(
                c.is_remembered(&[1; 32], now),
                replayed,
                "{class:?} at {now:?}"
            );
            let verdict = c.check_and_insert(class, &[1; 32], us(120_000_000), now);
            let expected = if replayed {
                NonceVerdict::Replayed
            } else {
                NonceVerdict::Fresh
            };
            assert_eq!(verdict, expected, "{class:?} at {now:?}");
        }
    }

    /// CDP-NONCE-03: a full app partition forgets its entry closest to expiry and counts
    /// it; a full device partition refuses instead.
    #[test]
    fn cdp_nonce_03_full_partitions() {
        let mut c = NonceCache::with_capacities(1, 2);
        let app = NonceClass::App;
        assert_eq!(
            c.check_and_insert(app, &[1; 32], us(90), us(0)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(app, &[2; 32], us(50), us(0)),
            NonceVerdict::Fresh
        );
        assert_eq!(c.evicted(), 0, "evicted below capacity");
        assert_eq!(
            c.check_and_insert(app, &[3; 32], us(80), us(0)),
            NonceVerdict::Fresh
        );
        assert_eq!(c.evicted(), 1);
        assert_eq!(c.len_of(app), 2);
        assert!(!c.is_remembered(&[2; 32], us(1)), "the oldest was kept");
        assert!(c.is_remembered(&[1; 32], us(1)));
        assert!(c.is_remembered(&[3; 32], us(1)));
        let dev = NonceClass::Device;
        assert_eq!(
            c.check_and_insert(dev, &[4; 32], us(90), us(0)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(dev, &[5; 32], us(90), us(0)),
            NonceVerdict::Full
        );
        assert_eq!(c.len_of(dev), 1);
        assert_eq!(c.len(), 3);
        assert!(!c.is_empty());
    }
}
