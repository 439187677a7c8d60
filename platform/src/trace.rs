//! The run's ordered event trace and its hash: same seed, same trace, byte for byte.

use std::cell::RefCell;
use std::rc::Rc;

use camproof_protocol::Timestamp;
use sha2::{Digest, Sha256};

/// A shared, append-only event trace (single-threaded: the simulation runs on one thread).
#[derive(Debug, Clone, Default)]
pub struct Trace {
    inner: Rc<RefCell<TraceInner>>,
}

#[derive(Debug, Default)]
struct TraceInner {
    hash: Sha256,
    events: u64,
    kept: Vec<String>,
    keep: usize,
}

impl Trace {
    /// A trace that hashes every event and keeps the first `keep` for reports.
    pub fn new(keep: usize) -> Self {
        Trace {
            inner: Rc::new(RefCell::new(TraceInner {
                keep,
                ..TraceInner::default()
            })),
        }
    }

    /// Appends one event that happened at `at`.
    pub fn record(&self, at: Timestamp, event: String) {
        let event = format!("{at} {event}");
        let mut t = self.inner.borrow_mut();
        t.hash.update(event.as_bytes());
        t.hash.update([b'\n']);
        t.events += 1;
        if t.kept.len() < t.keep {
            t.kept.push(event);
        }
    }

    /// Number of events recorded.
    pub fn len(&self) -> u64 {
        self.inner.borrow().events
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first events, as kept for reports.
    pub fn kept(&self) -> Vec<String> {
        self.inner.borrow().kept.clone()
    }

    /// SHA-256 over every event so far, in order, as hex.
    pub fn hash_hex(&self) -> String {
        let digest = self.inner.borrow().hash.clone().finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_content_and_order() {
        let t = Timestamp::from_secs(1);
        let a = Trace::new(1);
        a.record(t, "x".into());
        a.record(t, "y".into());
        let b = Trace::new(1);
        b.record(t, "y".into());
        b.record(t, "x".into());
        assert_ne!(a.hash_hex(), b.hash_hex());
        let c = Trace::new(0);
        c.record(t, "x".into());
        c.record(t, "y".into());
        assert_eq!(a.hash_hex(), c.hash_hex());
        let d = Trace::new(0);
        d.record(Timestamp::from_secs(2), "x".into());
        d.record(t, "y".into());
        assert_ne!(a.hash_hex(), d.hash_hex(), "the time is part of the event");
        assert_eq!(a.kept(), ["1.000000s x"]);
        assert_eq!(a.len(), 2);
    }
}
