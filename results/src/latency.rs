//! Frame latencies counted per value, so the memory they take is bounded by the range of
//! values seen, not by the number of frames.

use std::collections::BTreeMap;

/// Significant decimal digits a recorded latency keeps: values with at most this many
/// are counted exactly (every simulated latency is a whole number of millisecond ticks,
/// so below 10 s it is exact); longer ones are rounded up, off by less than 0.1%, so a
/// value above a round bucket bound never lands on it.
pub const SIGNIFICANT_DIGITS: u32 = 4;

/// Latencies in microseconds, as counts per value.
///
/// A counter of a long-running service (`camproof serve`) records one sample per video
/// frame; a list of samples would grow by 8 bytes a frame forever. Here each distinct
/// value (kept to [`SIGNIFICANT_DIGITS`]) is one map entry: at most 9,000 per decade.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latencies {
    counts: BTreeMap<u64, u64>,
    total: u64,
}

/// `us` kept to [`SIGNIFICANT_DIGITS`], rounded up.
pub fn quantize(us: u64) -> u64 {
    let limit = 10u64.pow(SIGNIFICANT_DIGITS);
    let mut unit = 1u64;
    while us / unit >= limit {
        unit *= 10;
    }
    match us % unit {
        0 => us,
        rest => (us - rest).saturating_add(unit),
    }
}

impl Latencies {
    /// Counts one latency of `us` microseconds.
    pub fn record(&mut self, us: u64) {
        *self.counts.entry(quantize(us)).or_default() += 1;
        self.total += 1;
    }

    /// How many latencies were counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Each value counted, smallest first, with how many times.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.counts.iter().map(|(us, n)| (*us, *n))
    }

    /// Adds every latency `other` counted.
    pub fn merge(&mut self, other: &Latencies) {
        for (us, n) in other.iter() {
            *self.counts.entry(us).or_default() += n;
        }
        self.total += other.total;
    }

    /// What was counted since `earlier`, a past copy of these counts.
    pub fn since(&self, earlier: &Latencies) -> Latencies {
        let mut counts = BTreeMap::new();
        let mut total = 0;
        for (us, n) in self.iter() {
            let before = earlier.counts.get(&us).copied().unwrap_or(0);
            let new = n.saturating_sub(before);
            if new > 0 {
                counts.insert(us, new);
                total += new;
            }
        }
        Latencies { counts, total }
    }

    /// The `p`th percentile (nearest rank) in microseconds; `None` when empty.
    pub fn percentile(&self, p: u64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = (p.min(100) * self.total).div_ceil(100).max(1);
        let mut seen = 0;
        for (us, n) in self.iter() {
            seen += n;
            if seen >= rank {
                return Some(us);
            }
        }
        self.counts.keys().next_back().copied()
    }
}

impl FromIterator<u64> for Latencies {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        let mut l = Latencies::default();
        for us in iter {
            l.record(us);
        }
        l
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_values_are_exact_and_long_ones_round_up() {
        assert_eq!(quantize(0), 0);
        assert_eq!(quantize(9_999), 9_999);
        assert_eq!(quantize(23_000), 23_000);
        assert_eq!(quantize(12_345), 12_350);
        assert_eq!(quantize(10_000_001), 10_010_000);
        assert_eq!(quantize(9_999_999), 10_000_000);
        assert_eq!(quantize(u64::MAX), u64::MAX);
    }

    proptest! {
        /// Rounding keeps a value on the same side of every bound with one significant
        /// digit (the report's latency buckets), and within 0.1% above it.
        #[test]
        fn rounding_keeps_bucket_sides(us in any::<u64>(), digit in 1u64..10, exp in 0u32..19) {
            let q = quantize(us);
            prop_assert!(q >= us);
            prop_assert!(q - us <= us / 1_000 + 1);
            if let Some(bound) = digit.checked_mul(10u64.pow(exp)) {
                prop_assert_eq!(us <= bound, q <= bound);
            }
        }
    }

    #[test]
    fn nearest_rank_percentiles() {
        let l: Latencies = (1..=100).collect();
        assert_eq!(l.percentile(50), Some(50));
        assert_eq!(l.percentile(99), Some(99));
        assert_eq!(l.percentile(100), Some(100));
        assert_eq!(
            [7].into_iter().collect::<Latencies>().percentile(99),
            Some(7)
        );
        assert_eq!(Latencies::default().percentile(50), None);
    }

    #[test]
    fn a_million_frames_of_a_few_latencies_take_a_few_entries() {
        let mut l = Latencies::default();
        for i in 0..1_000_000u64 {
            l.record(20_000 + (i % 7) * 1_000);
        }
        assert_eq!(l.len(), 1_000_000);
        assert_eq!(l.iter().count(), 7);
    }

    #[test]
    fn since_counts_only_the_new_samples() {
        let mut l: Latencies = [1_000, 2_000].into_iter().collect();
        let before = l.clone();
        l.record(2_000);
        l.record(5_000);
        let new = l.since(&before);
        assert_eq!(new.len(), 2);
        assert_eq!(new.iter().collect::<Vec<_>>(), vec![(2_000, 1), (5_000, 1)]);
    }

    proptest! {
        /// For values of at most four significant digits the counts give the same
        /// percentiles as the sorted list of samples.
        #[test]
        fn percentiles_match_the_sorted_samples(
            mut v in proptest::collection::vec(0u64..10_000, 1..200),
            p in 1u64..=100,
        ) {
            let l: Latencies = v.iter().copied().collect();
            v.sort_unstable();
            let rank = (p * v.len() as u64).div_ceil(100).max(1) as usize;
            prop_assert_eq!(l.percentile(p), Some(v[rank - 1]));
            prop_assert_eq!(l.len(), v.len() as u64);
        }

        /// Merging two counts is counting both lists.
        #[test]
        fn merge_is_counting_both(
            a in proptest::collection::vec(any::<u64>(), 0..50),
            b in proptest::collection::vec(any::<u64>(), 0..50),
        ) {
            let mut merged: Latencies = a.iter().copied().collect();
            merged.merge(&b.iter().copied().collect());
            let both: Latencies = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(merged, both);
        }
    }
}
