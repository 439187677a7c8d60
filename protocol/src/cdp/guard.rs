//! Server-side replay protection shared by all connections of one endpoint: the
//! handshake nonce cache and the single-use resumption ticket store.

use std::collections::{BTreeMap, BTreeSet};

use zeroize::Zeroizing;

use crate::cdp::messages::{RANDOM_LEN, TICKET_ID_LEN};
use crate::pki::PeerIdentity;
use crate::Timestamp;

/// Remembers handshake randoms until their timestamps leave the skew window.
///
/// Bounded: when full of unexpired entries it refuses new handshakes (fails closed)
/// rather than forgetting a random that could still be replayed.
#[derive(Debug, Clone)]
pub struct NonceCache {
    capacity: usize,
    seen: BTreeMap<[u8; RANDOM_LEN], Timestamp>,
    by_expiry: BTreeSet<(Timestamp, [u8; RANDOM_LEN])>,
}

/// What the nonce cache says about a handshake random.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceVerdict {
    /// First time seen; now remembered.
    Fresh,
    /// Seen before and not yet expired: a replay.
    Replayed,
    /// The cache is full of live entries.
    Full,
}

impl NonceCache {
    /// A cache holding at most `capacity` live randoms.
    pub fn new(capacity: usize) -> Self {
        NonceCache {
            capacity: capacity.max(1),
            seen: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Number of randoms remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Checks `random` and remembers it until `expires`.
    pub fn check_and_insert(
        &mut self,
        random: &[u8; RANDOM_LEN],
        expires: Timestamp,
        now: Timestamp,
    ) -> NonceVerdict {
        self.purge(now);
        if self.seen.contains_key(random) {
            return NonceVerdict::Replayed;
        }
        if self.seen.len() >= self.capacity {
            return NonceVerdict::Full;
        }
        self.seen.insert(*random, expires);
        self.by_expiry.insert((expires, *random));
        NonceVerdict::Fresh
    }

    fn purge(&mut self, now: Timestamp) {
        while let Some(&(expires, random)) = self.by_expiry.first() {
            if expires > now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&random);
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

    /// CDP-HS-06: the nonce cache refuses a repeated random until it expires, and fails
    /// closed when full.
    #[test]
    fn cdp_hs_06_nonce_cache() {
        let mut c = NonceCache::new(2);
        assert_eq!(
            c.check_and_insert(&[1; 32], t(60), t(0)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(&[1; 32], t(60), t(10)),
            NonceVerdict::Replayed
        );
        assert_eq!(
            c.check_and_insert(&[2; 32], t(70), t(10)),
            NonceVerdict::Fresh
        );
        assert_eq!(
            c.check_and_insert(&[3; 32], t(70), t(10)),
            NonceVerdict::Full
        );
        // After the first expires there is room again, and the first is forgotten.
        assert_eq!(
            c.check_and_insert(&[3; 32], t(90), t(61)),
            NonceVerdict::Fresh
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.check_and_insert(&[1; 32], t(100), t(71)),
            NonceVerdict::Fresh
        );
    }

    /// CDP-RES-02: a ticket is redeemed at most once and never after it expires.
    #[test]
    fn cdp_res_02_ticket_single_use() {
        let peer = PeerIdentity {
            subject: "CAM".into(),
            serial: 1,
            issuer: "v".into(),
        };
        let entry = |exp| TicketEntry {
            secret: Zeroizing::new([9; 32]),
            peer: peer.clone(),
            expires: t(exp),
        };
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
}
