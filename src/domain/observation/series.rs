//! Ring buffers of per-build samples, weights and markers for the detail charts.

use super::BuildSample;
use crate::domain::Weight;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

/// The rolling window error rates are read over, in the table and on the chart alike, so
/// the two always agree for the same seconds.
pub const ERROR_WINDOW: Duration = Duration::from_secs(30);

/// One chart point for one build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// When it was measured.
    pub at: SystemTime,
    /// Requests per second.
    pub rps: f64,
    /// Error ratio, `None` with no traffic.
    pub error_rate: Option<f64>,
    /// p99 latency in ms, when known.
    pub p99_ms: Option<f64>,
}

/// What a marker on the time axis stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarkerKind {
    /// The autopilot or controller moved the weight.
    Step,
    /// An operator action (pause, abort, …).
    Operator,
    /// A failed check.
    CheckFailed,
    /// A rollback.
    Rollback,
}

/// A labelled instant on the charts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    /// When.
    pub at: SystemTime,
    /// Kind, for colour.
    pub kind: MarkerKind,
    /// Short label.
    pub label: String,
}

/// History of one rollout: points per build, the canary weight over time, and markers.
/// Capacity-bounded so a day-long session does not grow without limit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Series {
    /// Max points kept per build.
    pub capacity: usize,
    /// Points per build name, oldest first.
    pub builds: BTreeMap<String, VecDeque<Point>>,
    /// Canary weight at each instant it was observed.
    pub weights: VecDeque<(SystemTime, Weight)>,
    /// Step and action markers.
    pub markers: VecDeque<Marker>,
}

impl Default for Series {
    fn default() -> Self {
        Series::with_capacity(3600)
    }
}

impl Series {
    /// Empty series keeping `capacity` points per build (3600 = one hour at 1 s).
    pub fn with_capacity(capacity: usize) -> Self {
        Series {
            capacity,
            builds: BTreeMap::new(),
            weights: VecDeque::new(),
            markers: VecDeque::new(),
        }
    }

    /// Appends one sample for a build.
    pub fn push(&mut self, build: &str, at: SystemTime, s: &BuildSample) {
        let q = self.builds.entry(build.to_string()).or_default();
        q.push_back(Point {
            at,
            rps: s.rps(),
            error_rate: s.error_rate(),
            p99_ms: s.p99_ms,
        });
        while q.len() > self.capacity {
            q.pop_front();
        }
    }

    /// Drops every build's points older than `at`: a rollout nobody looks at and nothing
    /// judges keeps only what its overview row reads (the error window), not an hour.
    pub fn forget_before(&mut self, at: SystemTime) {
        for q in self.builds.values_mut() {
            while q.front().is_some_and(|p| p.at < at) {
                q.pop_front();
            }
        }
    }

    /// Puts past samples in front of the live ones (only those older than the oldest point
    /// held), keeping time order and the capacity.
    pub fn backfill(&mut self, build: &str, past: &[(SystemTime, BuildSample)]) {
        let q = self.builds.entry(build.to_string()).or_default();
        let oldest = q.front().map(|p| p.at);
        let older: Vec<Point> = past
            .iter()
            .filter(|(at, _)| oldest.is_none_or(|o| *at < o))
            .map(|(at, s)| Point {
                at: *at,
                rps: s.rps(),
                error_rate: s.error_rate(),
                p99_ms: s.p99_ms,
            })
            .collect();
        for p in older.into_iter().rev() {
            if q.len() >= self.capacity {
                break;
            }
            q.push_front(p);
        }
    }

    /// Records the canary weight now (skips repeats).
    pub fn push_weight(&mut self, at: SystemTime, w: Weight) {
        if self.weights.back().map(|(_, last)| *last) != Some(w) || self.weights.is_empty() {
            self.weights.push_back((at, w));
        }
        while self.weights.len() > self.capacity {
            self.weights.pop_front();
        }
    }

    /// Adds a marker.
    pub fn mark(&mut self, at: SystemTime, kind: MarkerKind, label: impl Into<String>) {
        self.markers.push_back(Marker {
            at,
            kind,
            label: label.into(),
        });
        while self.markers.len() > 256 {
            self.markers.pop_front();
        }
    }

    /// Latest point of a build.
    pub fn last(&self, build: &str) -> Option<&Point> {
        self.builds.get(build).and_then(|q| q.back())
    }

    /// A build's error ratio over the points measured at or after `since`, weighted by
    /// request rate (so with equal periods it is errors / requests over the window).
    ///
    /// Why: one refresh of a 10 % canary holds a handful of requests, so its own error rate
    /// flickers between 0 % and tens of percent; a table that shows "0.0 %" for a failing
    /// canary most seconds misleads the person deciding whether to act. `None` when the
    /// window saw no traffic for the build.
    pub fn error_rate_since(&self, build: &str, since: SystemTime) -> Option<f64> {
        let q = self.builds.get(build)?;
        let (mut requests, mut errors) = (0.0, 0.0);
        for p in q.iter().rev().take_while(|p| p.at >= since) {
            if let Some(e) = p.error_rate {
                requests += p.rps;
                errors += p.rps * e;
            }
        }
        (requests > 0.0).then(|| errors / requests)
    }

    /// At each of a build's points, its error ratio over the `window` ending there (the
    /// same sum as [`Series::error_rate_since`] from that point's `at - window`); `None`
    /// where the window saw no traffic. One pass, so a long history stays cheap to draw.
    pub fn rolling_error_rate(
        &self,
        build: &str,
        window: Duration,
    ) -> Vec<(SystemTime, Option<f64>)> {
        let Some(q) = self.builds.get(build) else {
            return Vec::new();
        };
        let pts: Vec<&Point> = q.iter().collect();
        let (mut requests, mut errors, mut first) = (0.0, 0.0, 0usize);
        let mut out = Vec::with_capacity(pts.len());
        for (i, p) in pts.iter().enumerate() {
            if let Some(e) = p.error_rate {
                requests += p.rps;
                errors += p.rps * e;
            }
            let since = p.at.checked_sub(window).unwrap_or(p.at);
            while first < i && pts[first].at < since {
                if let Some(e) = pts[first].error_rate {
                    requests -= pts[first].rps;
                    errors -= pts[first].rps * e;
                }
                first += 1;
            }
            out.push((
                p.at,
                (requests > 1e-12).then(|| (errors / requests).max(0.0)),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn error_rate_since_sums_the_window_not_the_last_point() {
        let mut s = Series::with_capacity(10);
        let at = |i| UNIX_EPOCH + Duration::from_secs(i);
        let sample = |requests, errors| BuildSample {
            period_s: 1.0,
            requests,
            errors,
            ..Default::default()
        };
        s.push("c", at(1), &sample(100, 100)); // outside the window
        s.push("c", at(5), &sample(6, 1));
        s.push("c", at(6), &sample(4, 0));
        s.push("c", at(7), &sample(0, 0)); // no traffic: no weight
        s.push("c", at(8), &sample(10, 1));
        let r = s.error_rate_since("c", at(5)).unwrap_or(f64::NAN);
        assert!((r - 2.0 / 20.0).abs() < 1e-12, "{r}");
        assert_eq!(s.error_rate_since("c", at(9)), None);
        assert_eq!(s.error_rate_since("missing", at(0)), None);
    }

    #[test]
    fn backfill_goes_in_front_in_time_order() {
        let mut s = Series::with_capacity(10);
        let at = |i| UNIX_EPOCH + Duration::from_secs(i);
        let sample = |r| BuildSample {
            period_s: 1.0,
            requests: r,
            ..Default::default()
        };
        s.push("b", at(10), &sample(10));
        s.backfill(
            "b",
            &[(at(8), sample(8)), (at(9), sample(9)), (at(10), sample(99))],
        );
        let rps: Vec<f64> = s.builds["b"].iter().map(|p| p.rps).collect();
        assert_eq!(rps, vec![8.0, 9.0, 10.0]);
    }

    #[test]
    fn ring_buffer_drops_the_oldest() {
        let mut s = Series::with_capacity(3);
        for i in 0..5 {
            let at = UNIX_EPOCH + Duration::from_secs(i);
            s.push(
                "build 1",
                at,
                &BuildSample {
                    period_s: 1.0,
                    requests: i,
                    ..Default::default()
                },
            );
        }
        let q = &s.builds["build 1"];
        assert_eq!(q.len(), 3);
        assert_eq!(q.front().unwrap().rps, 2.0);
    }
}
