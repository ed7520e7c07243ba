//! A fixed-bucket latency histogram: cheap to merge across seconds and builds, enough to
//! estimate percentiles and to rank-compare two builds' latencies.

use serde::{Deserialize, Serialize};

/// Upper bounds of the buckets in ms (the last bucket is everything above).
/// Log-spaced ~×1.25 so a percentile estimate is within ~12 %.
pub const BOUNDS_MS: [f64; 40] = [
    1.0, 1.25, 1.6, 2.0, 2.5, 3.2, 4.0, 5.0, 6.3, 8.0, 10.0, 12.5, 16.0, 20.0, 25.0, 32.0, 40.0,
    50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 320.0, 400.0, 500.0, 630.0, 800.0, 1000.0,
    1250.0, 1600.0, 2000.0, 2500.0, 3200.0, 4000.0, 5000.0, 10000.0, 30000.0,
];

/// Counts per bucket of [`BOUNDS_MS`], plus an overflow bucket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyHistogram {
    /// `counts[i]` counts values `<= BOUNDS_MS[i]` and above the previous bound;
    /// the last entry counts values above the last bound.
    pub counts: Vec<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: vec![0; BOUNDS_MS.len() + 1],
        }
    }
}

impl LatencyHistogram {
    /// Records one observation.
    pub fn record(&mut self, ms: f64) {
        let i = BOUNDS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BOUNDS_MS.len());
        self.counts[i] += 1;
    }

    /// Adds another histogram's counts.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// Number of observations.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Estimated `q` quantile (0..=1) in ms, interpolating inside the bucket; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * total as f64).max(1.0);
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let next = seen + c as f64;
            if next >= rank {
                let lo = if i == 0 { 0.0 } else { BOUNDS_MS[i - 1] };
                let hi = BOUNDS_MS.get(i).copied().unwrap_or(lo * 2.0);
                let frac = (rank - seen) / c as f64;
                return Some(lo + (hi - lo) * frac);
            }
            seen = next;
        }
        BOUNDS_MS.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_land_in_the_right_bucket() {
        let mut h = LatencyHistogram::default();
        for _ in 0..99 {
            h.record(20.0);
        }
        h.record(800.0);
        let p50 = h.quantile(0.5).unwrap();
        assert!((16.0..=20.0).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99).unwrap();
        assert!(p99 <= 20.0, "{p99}");
        let max = h.quantile(1.0).unwrap();
        assert!((630.0..=800.0).contains(&max), "{max}");
        assert_eq!(LatencyHistogram::default().quantile(0.99), None);
    }
}
