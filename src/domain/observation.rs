//! Observations: what a metrics source measured, as plain data. The pollers in `metrics/`,
//! the demo's counters and HAProxy's `show stat` all produce these; the judge, the core and the
//! UI read them without knowing which client made them.

pub mod histogram;
pub mod series;

pub use histogram::LatencyHistogram;
pub use series::{Marker, MarkerKind, Point, Series};

use crate::domain::RolloutKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// Names a source of data (a provider or a metrics poller) for staleness badges.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SourceId(pub String);

impl std::fmt::Display for SourceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One build's traffic over one refresh period.
///
/// Counts are for the period (not cumulative), so a judge can sum windows; totals are kept
/// alongside because headless output and the summary report them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildSample {
    /// Length of the period in seconds.
    pub period_s: f64,
    /// Requests in the period.
    pub requests: u64,
    /// Failed requests (5xx) in the period.
    pub errors: u64,
    /// Median latency in ms, when the source knows it.
    pub p50_ms: Option<f64>,
    /// 99th percentile latency in ms, when the source knows it.
    pub p99_ms: Option<f64>,
    /// The period's latency distribution, when the source has one (demo, Prometheus buckets).
    pub latency: Option<LatencyHistogram>,
}

impl BuildSample {
    /// The most requests one period may report: 2^53, the largest count an `f64` holds
    /// exactly. A source answering more (a counter reset read as 1e30, a hostile endpoint)
    /// is capped (by [`Self::count`] at the sources, [`Self::cap`] where batches enter the
    /// app), so the judge's sums cannot overflow.
    pub const MAX_COUNT: u64 = 1 << 53;

    /// A measured, possibly fractional count as a period's count: rounded, never negative,
    /// never above [`Self::MAX_COUNT`]; NaN reads as 0.
    pub fn count(x: f64) -> u64 {
        if x.is_nan() || x <= 0.0 {
            return 0;
        }
        (x.round() as u64).min(Self::MAX_COUNT)
    }

    /// Counts as the core may sum them: requests at most [`Self::MAX_COUNT`], errors at most
    /// requests, whichever source or recording the sample came from.
    pub fn cap(&mut self) {
        self.requests = self.requests.min(Self::MAX_COUNT);
        self.errors = self.errors.min(self.requests);
    }

    /// Requests per second.
    pub fn rps(&self) -> f64 {
        if self.period_s > 0.0 {
            self.requests as f64 / self.period_s
        } else {
            0.0
        }
    }

    /// Error ratio, or `None` with no traffic (never 0/0 = NaN).
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }
}

/// All builds of all rollouts a source measured at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsBatch {
    /// Who measured.
    pub source: SourceId,
    /// End of the period.
    pub at: SystemTime,
    /// Per rollout, per build name.
    #[serde(with = "super::pairs")]
    pub samples: BTreeMap<RolloutKey, BTreeMap<String, BuildSample>>,
}
