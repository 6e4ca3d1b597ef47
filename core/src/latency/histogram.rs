//! Latency histograms of HdrHistogram's design: a value is kept in a bucket whose width is a
//! fixed fraction of its size, so memory is bounded and percentiles have a stated precision.
//! [`LogLinear`] is this crate's (small enough for the page); the native runner plugs the
//! `hdrhistogram` crate in through [`Histogram`].

/// What the latency probe asks of a histogram of µs.
pub trait Histogram: Clone {
    fn empty() -> Self;
    fn record(&mut self, us: u64);
    /// Adds `other`'s counts (two intervals make a window).
    fn add(&mut self, other: &Self);
    /// The value at quantile `q` (0 < q ≤ 1): the highest value equivalent to that of the
    /// `⌈q·n⌉`-th smallest recorded (at least the first).
    fn value_at_quantile(&self, q: f64) -> u64;
    fn count(&self) -> u64;
}

/// Values below this are kept exactly; above, in 128 buckets per power of two.
const EXACT: u64 = 256;
const PER_OCTAVE: u64 = EXACT / 2;
/// The largest value told apart, µs (an hour): larger ones are counted as it.
pub const HIGHEST_US: u64 = 3_600_000_000;
const BUCKETS: usize = index(HIGHEST_US) + 1;

/// 256 exact values (µs), then 128 buckets per octave: a value is reported at most 1/128
/// (0.8 %) above what was recorded, from 0 to [`HIGHEST_US`], in 3,287 counters (26 KB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLinear {
    counts: Vec<u64>,
    total: u64,
}

const fn index(value: u64) -> usize {
    if value < EXACT {
        return value as usize;
    }
    let msb = 63 - value.leading_zeros() as u64;
    let shift = msb + 1 - EXACT.trailing_zeros() as u64;
    let top = value >> shift;
    (EXACT + (shift - 1) * PER_OCTAVE + (top - PER_OCTAVE)) as usize
}

/// The highest value that lands in bucket `index`.
fn highest(index: usize) -> u64 {
    let index = index as u64;
    if index < EXACT {
        return index;
    }
    let i = index - EXACT;
    let shift = i / PER_OCTAVE + 1;
    let top = i % PER_OCTAVE + PER_OCTAVE;
    ((top + 1) << shift) - 1
}

impl Histogram for LogLinear {
    fn empty() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    fn record(&mut self, us: u64) {
        self.counts[index(us.min(HIGHEST_US))] += 1;
        self.total += 1;
    }

    fn add(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
        self.total += other.total;
    }

    fn value_at_quantile(&self, q: f64) -> u64 {
        let wanted = ((q * self.total as f64).ceil() as u64).clamp(1, self.total.max(1));
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return highest(i);
            }
        }
        0
    }

    fn count(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_at_most_a_128th_wide() {
        let mut values: Vec<u64> = (0..5000).collect();
        let mut v = 5000u64;
        while v < HIGHEST_US {
            values.extend([v - 1, v, v + 1]);
            v = v * 9 / 7;
        }
        values.push(HIGHEST_US);
        for value in values {
            let i = index(value);
            assert!(i < BUCKETS, "{value}");
            let top = highest(i);
            assert!(top >= value, "{value} reported as {top}");
            assert!(
                (top - value) as f64 <= value as f64 / 128.0,
                "{value} reported as {top}"
            );
            assert!(
                i == 0 || highest(i - 1) < value,
                "{value} not in the lowest bucket"
            );
        }
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let h = LogLinear::empty();
        assert_eq!((h.count(), h.value_at_quantile(0.5)), (0, 0));
    }
}
