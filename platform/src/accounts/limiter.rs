//! Failure counting with sliding windows and lockout, in bounded memory.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use camproof_protocol::time::Timestamp;

/// How many failures a key may have in a window before it is locked, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures allowed within `window`; the one that reaches this number locks the key.
    pub max_failures: u32,
    /// Length of the sliding window in which failures are counted.
    pub window: Duration,
    /// How long a key stays locked once it reaches `max_failures`.
    pub lockout: Duration,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The most recent failures, at most `max_failures` of them (older ones cannot matter).
    failures: VecDeque<Timestamp>,
    locked_until: Timestamp,
    last_seen: Timestamp,
}

/// Counts failures per key (an account, a source address) and refuses a key that had too
/// many in a sliding window.
///
/// Guarantee: whatever the policy, no more than `max_failures` failures of one key are
/// accepted in any window of length `window` (a key is refused while its window is full,
/// and for `lockout` after it fills). Memory is bounded by `capacity` keys; when full, the
/// key seen least recently is forgotten. Time only moves through the `now` arguments.
#[derive(Debug, Clone)]
pub struct FailureLimiter<K: Ord + Clone> {
    policy: LockoutPolicy,
    capacity: usize,
    entries: BTreeMap<K, Entry>,
    by_age: BTreeSet<(Timestamp, K)>,
}

impl<K: Ord + Clone> FailureLimiter<K> {
    /// An empty limiter that tracks at most `capacity` keys (at least one).
    pub fn new(policy: LockoutPolicy, capacity: usize) -> Self {
        FailureLimiter {
            policy,
            capacity: capacity.max(1),
            entries: BTreeMap::new(),
            by_age: BTreeSet::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    /// `Ok` if `key` may try now, or `Err(until)`: the time it may try again.
    pub fn check(&self, key: &K, now: Timestamp) -> Result<(), Timestamp> {
        let Some(entry) = self.entries.get(key) else {
            return Ok(());
        };
        let mut until = entry.locked_until;
        if let Some(full_until) = self.window_full_until(entry, now) {
            until = until.max(full_until);
        }
        if until > now {
            Err(until)
        } else {
            Ok(())
        }
    }

    /// Counts a failure of `key` at `now`; returns `Some(until)` if the key is now locked.
    pub fn record_failure(&mut self, key: K, now: Timestamp) -> Option<Timestamp> {
        let max = self.policy.max_failures.max(1) as usize;
        if !self.entries.contains_key(&key) {
            while self.entries.len() >= self.capacity {
                let Some((_, oldest)) = self.by_age.pop_first() else {
                    break;
                };
                self.entries.remove(&oldest);
            }
            self.entries.insert(
                key.clone(),
                Entry {
                    failures: VecDeque::with_capacity(max),
                    locked_until: Timestamp::ZERO,
                    last_seen: now,
                },
            );
        } else if let Some(entry) = self.entries.get(&key) {
            self.by_age.remove(&(entry.last_seen, key.clone()));
        }
        let window = self.policy.window;
        let lockout = self.policy.lockout;
        let entry = self.entries.get_mut(&key)?;
        entry.failures.push_back(now);
        while entry.failures.len() > max {
            entry.failures.pop_front();
        }
        entry.last_seen = entry.last_seen.max(now);
        self.by_age.insert((entry.last_seen, key.clone()));
        let in_window = entry
            .failures
            .iter()
            .filter(|t| t.saturating_add(window) > now)
            .count();
        if in_window >= max {
            entry.locked_until = entry.locked_until.max(now.saturating_add(lockout));
        }
        self.check(&key, now).err()
    }

    /// Forgets `key`'s failures (after a success, or when the key's owner is erased).
    pub fn clear(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_age.remove(&(entry.last_seen, key.clone()));
        }
    }

    /// Forgets every key for which `keep` is false (the keys of an erased account).
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        let gone: Vec<K> = self.entries.keys().filter(|k| !keep(k)).cloned().collect();
        for key in gone {
            self.clear(&key);
        }
    }

    /// Number of keys tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// If the window holds `max_failures` failures at `now`, when the oldest leaves it.
    fn window_full_until(&self, entry: &Entry, now: Timestamp) -> Option<Timestamp> {
        let max = self.policy.max_failures.max(1) as usize;
        if entry.failures.len() < max {
            return None;
        }
        let oldest_counted = entry.failures[entry.failures.len() - max];
        let leaves = oldest_counted.saturating_add(self.policy.window);
        (leaves > now).then_some(leaves)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(max: u32, window_s: u64, lockout_s: u64) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: max,
            window: Duration::from_secs(window_s),
            lockout: Duration::from_secs(lockout_s),
        }
    }

    #[test]
    fn locks_on_the_nth_failure_and_unlocks_after_lockout() {
        let mut l = FailureLimiter::new(policy(5, 900, 900), 10);
        let t = |s: u64| Timestamp::from_secs(1_000 + s);
        for i in 0..4 {
            assert_eq!(l.check(&"alice", t(i)), Ok(()));
            assert_eq!(l.record_failure("alice", t(i)), None);
        }
        assert_eq!(l.record_failure("alice", t(4)), Some(t(904)));
        assert_eq!(l.check(&"alice", t(500)), Err(t(904)));
        assert_eq!(
            l.check(&"bob", t(500)),
            Ok(()),
            "other keys are not affected"
        );
        assert_eq!(l.check(&"alice", t(904)), Ok(()));
    }

    #[test]
    fn old_failures_slide_out_of_the_window() {
        let mut l = FailureLimiter::new(policy(3, 60, 60), 10);
        l.record_failure(1, Timestamp::from_secs(0));
        l.record_failure(1, Timestamp::from_secs(30));
        // The first failure has left the window by t=61: two in window, no lock.
        assert_eq!(l.record_failure(1, Timestamp::from_secs(61)), None);
        assert!(l.record_failure(1, Timestamp::from_secs(62)).is_some());
    }

    #[test]
    fn a_short_lockout_still_keeps_the_window_bound() {
        // Lockout shorter than the window: the key stays refused until the window drains.
        let mut l = FailureLimiter::new(policy(2, 100, 10), 10);
        l.record_failure(7, Timestamp::from_secs(0));
        l.record_failure(7, Timestamp::from_secs(1));
        assert_eq!(
            l.check(&7, Timestamp::from_secs(20)),
            Err(Timestamp::from_secs(100))
        );
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_key_is_evicted() {
        let mut l = FailureLimiter::new(policy(5, 60, 60), 3);
        for k in 0..10u32 {
            l.record_failure(k, Timestamp::from_secs(u64::from(k)));
        }
        assert_eq!(l.len(), 3);
        assert!(l.entries.contains_key(&9) && !l.entries.contains_key(&0));
        // Touching a key makes it young again.
        l.record_failure(7, Timestamp::from_secs(20));
        l.record_failure(100, Timestamp::from_secs(21));
        assert!(l.entries.contains_key(&7) && !l.entries.contains_key(&8));
        l.clear(&7);
        assert_eq!(l.len(), 2);
        assert_eq!(l.by_age.len(), 2);
    }

    proptest! {
        /// Whatever the timing and the policy, no window holds more than `max` accepted
        /// failures of one key.
        #[test]
        fn never_more_than_max_failures_accepted_per_window(
            max in 1u32..8,
            window_s in 1u64..600,
            lockout_s in 0u64..900,
            gaps in proptest::collection::vec(0u64..120_000_000, 1..300),
        ) {
            let p = policy(max, window_s, lockout_s);
            let mut l = FailureLimiter::new(p, 4);
            let mut now = Timestamp::from_secs(1_000);
            let mut accepted = Vec::new();
            for gap in gaps {
                now = Timestamp::from_micros(now.as_micros() + gap);
                if l.check(&"victim", now).is_ok() {
                    accepted.push(now);
                    l.record_failure("victim", now);
                }
            }
            for (i, t) in accepted.iter().enumerate() {
                let in_window = accepted[..=i]
                    .iter()
                    .filter(|a| a.saturating_add(p.window) > *t)
                    .count();
                prop_assert!(in_window <= max as usize, "{in_window} failures in the window ending {t}");
            }
        }
    }
}
