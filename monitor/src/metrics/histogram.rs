//! A lock-free fixed-bucket histogram of seconds: what the operation and pipeline records update on the hot path
//! and the exposition reads at each scrape.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A fixed-bucket histogram of seconds, updated with a few relaxed atomic adds (no lock, no allocation).
#[derive(Debug)]
pub(crate) struct AtomicHistogram {
    bounds: &'static [f64],
    /// One per bound, plus +Inf last.
    buckets: Box<[AtomicU64]>,
    /// Sum of observations in nanoseconds: integer adds stay lock-free; 2^64 ns is 584 years.
    sum_ns: AtomicU64,
}

impl AtomicHistogram {
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_ns: AtomicU64::new(0),
        }
    }

    /// Records one observation in seconds (negative or NaN counts as 0).
    pub(crate) fn observe(&self, secs: f64) {
        let secs = if secs.is_finite() && secs > 0.0 {
            secs
        } else {
            0.0
        };
        let i = self
            .bounds
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add((secs * 1e9) as u64, Relaxed);
    }

    /// (sum seconds, count, per-bucket counts with +Inf last). The count is the sum of the buckets, so the
    /// exposition stays consistent under concurrent observations.
    pub(crate) fn read(&self) -> HistogramData {
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut count = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Relaxed);
            count += n;
            buckets.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), n));
        }
        HistogramData {
            sum: self.sum_ns.load(Relaxed) as f64 / 1e9,
            count,
            buckets,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct HistogramData {
    pub(crate) sum: f64,
    pub(crate) count: u64,
    /// (upper bound, count) with +Inf last.
    pub(crate) buckets: Vec<(f64, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_histogram_buckets() {
        let h = AtomicHistogram::new(&[0.01, 0.1]);
        for v in [0.005, 0.01, 0.05, 1.0, f64::NAN, -1.0] {
            h.observe(v);
        }
        let d = h.read();
        assert_eq!(d.count, 6);
        assert_eq!(d.buckets, vec![(0.01, 4), (0.1, 1), (f64::INFINITY, 1)]);
        assert!((d.sum - 1.065).abs() < 1e-9);
    }
}
