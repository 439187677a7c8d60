//! Frame latencies counted per value, so the memory they take is bounded by the range of
//! values seen, not by the number of frames.

/// Significant decimal digits a recorded latency keeps: values with at most this many
/// are counted exactly (every simulated latency is a whole number of millisecond ticks,
/// so below 10 s it is exact); longer ones are rounded up, off by less than 0.1%, so a
/// value above a round bucket bound never lands on it.
pub const SIGNIFICANT_DIGITS: u32 = 4;

/// Slots of one decade: values below 10,000 µs have one slot each; in each decade above,
/// a slot is one step of [`SIGNIFICANT_DIGITS`] (slots below 1,000 stay unused there).
const SLOTS: usize = 10_000;

/// Latencies in microseconds, as counts per value.
///
/// A counter of a long-running service (`camproof serve`) records one sample per video
/// frame; a list of samples would grow by 8 bytes a frame forever. Here each decade of
/// values seen is one table of counts (80 KB), allocated at its first sample: the memory
/// is set by the range of latencies, not by the traffic, and stops growing once the
/// range is seen.
#[derive(Clone, Default)]
pub struct Latencies {
    /// `decades[d][m]` counts the value `m × 10^d` (empty: nothing in that decade yet).
    decades: Vec<Vec<u64>>,
    total: u64,
}

/// `us` kept to [`SIGNIFICANT_DIGITS`], rounded up.
pub fn quantize(us: u64) -> u64 {
    let (d, m) = slot(us);
    match 10u64.checked_pow(d) {
        Some(unit) => unit.saturating_mul(m as u64),
        None => u64::MAX,
    }
}

/// The decade and slot of `us` once rounded up to [`SIGNIFICANT_DIGITS`].
fn slot(us: u64) -> (u32, usize) {
    let mut d = 0u32;
    let mut unit = 1u64;
    while us / unit >= SLOTS as u64 {
        d += 1;
        unit *= 10;
    }
    let mut m = us / unit + u64::from(us % unit != 0);
    if m == SLOTS as u64 {
        // 9,999.x rounds up into the next decade's first slot.
        d += 1;
        m = SLOTS as u64 / 10;
    }
    (d, m as usize)
}

impl Latencies {
    /// Counts one latency of `us` microseconds.
    pub fn record(&mut self, us: u64) {
        let (d, m) = slot(us);
        self.add(d as usize, m, 1);
    }

    fn add(&mut self, d: usize, m: usize, n: u64) {
        if self.decades.len() <= d {
            self.decades.resize_with(d + 1, Vec::new);
        }
        let decade = &mut self.decades[d];
        if decade.is_empty() {
            decade.resize(SLOTS, 0);
        }
        decade[m] += n;
        self.total += n;
    }

    /// How many latencies were counted.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was counted.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Each value counted (rounded to [`SIGNIFICANT_DIGITS`]), smallest first, with how
    /// many times.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.decades.iter().enumerate().flat_map(|(d, counts)| {
            let unit = 10u64.checked_pow(d as u32).unwrap_or(u64::MAX);
            counts
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(move |(m, n)| (unit.saturating_mul(m as u64), *n))
        })
    }

    /// Adds every latency `other` counted.
    pub fn merge(&mut self, other: &Latencies) {
        for (d, counts) in other.decades.iter().enumerate() {
            for (m, n) in counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                self.add(d, m, *n);
            }
        }
    }

    /// What was counted since `earlier`, a past copy of these counts.
    pub fn since(&self, earlier: &Latencies) -> Latencies {
        let mut new = Latencies::default();
        for (d, counts) in self.decades.iter().enumerate() {
            let before = earlier.decades.get(d).map(Vec::as_slice).unwrap_or(&[]);
            for (m, n) in counts.iter().enumerate() {
                let added = n.saturating_sub(before.get(m).copied().unwrap_or(0));
                if added > 0 {
                    new.add(d, m, added);
                }
            }
        }
        new
    }

    /// The `p`th percentile (nearest rank) in microseconds; `None` when empty.
    pub fn percentile(&self, p: u64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = (p.min(100) * self.total).div_ceil(100).max(1);
        let mut seen = 0;
        let mut last = None;
        for (us, n) in self.iter() {
            seen += n;
            last = Some(us);
            if seen >= rank {
                break;
            }
        }
        last
    }
}

impl PartialEq for Latencies {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && self.iter().eq(other.iter())
    }
}

impl Eq for Latencies {}

impl std::fmt::Debug for Latencies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The tables are mostly zeros: show what they say, not what they hold.
        f.debug_struct("Latencies")
            .field("count", &self.total)
            .field("p50_us", &self.percentile(50))
            .field("p99_us", &self.percentile(99))
            .finish()
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
    fn a_million_frames_take_one_table_per_decade() {
        let mut l = Latencies::default();
        for i in 0..1_000_000u64 {
            l.record(20_000 + (i % 7) * 1_000 + i % 3);
        }
        assert_eq!(l.len(), 1_000_000);
        assert_eq!(
            l.iter().count(),
            14,
            "{:?}",
            l.iter().take(20).collect::<Vec<_>>()
        );
        assert_eq!(l.decades.iter().filter(|d| !d.is_empty()).count(), 1);
        assert_eq!(l.decades.iter().map(Vec::capacity).sum::<usize>(), SLOTS);
    }

    #[test]
    fn counts_compare_by_what_they_counted() {
        let a: Latencies = [5, 50_000].into_iter().collect();
        let b: Latencies = [50_000, 5, 1_000_000].into_iter().collect();
        assert_ne!(a, b);
        // `since` may allocate a decade it adds nothing to.
        assert_eq!(b.since(&[1_000_000].into_iter().collect()), a);
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
