//! Time as the protocol sees it: a value passed in by the caller, never read from a clock.

use std::fmt;
use std::time::Duration;

/// Microseconds since the Unix epoch, supplied by whoever drives a state machine.
///
/// A newtype rather than `Instant` so that the simulator can seed it, a report can print
/// it, and a state machine cannot read the host's clock behind the caller's back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The Unix epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `micros` microseconds after the Unix epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Timestamp(micros)
    }

    /// A timestamp `secs` seconds after the Unix epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole seconds since the Unix epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }

    /// This timestamp moved `d` later, saturating at the end of time.
    pub fn saturating_add(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(duration_micros(d)))
    }

    /// The distance between two timestamps, whichever is later.
    pub fn abs_diff(self, other: Timestamp) -> Duration {
        Duration::from_micros(self.0.abs_diff(other.0))
    }

    /// The time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
pub(crate) fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_micros(u64::MAX - 1);
        assert_eq!(
            t.saturating_add(Duration::from_secs(1)).as_micros(),
            u64::MAX
        );
        let a = Timestamp::from_secs(10);
        let b = Timestamp::from_secs(25);
        assert_eq!(a.abs_diff(b), Duration::from_secs(15));
        assert_eq!(b.abs_diff(a), Duration::from_secs(15));
        assert_eq!(a.saturating_since(b), Duration::ZERO);
        assert_eq!(b.to_string(), "25.000000s");
    }
}
