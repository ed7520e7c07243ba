//! What the hosted metrics services (Dynatrace, Datadog) share: both answer with
//! **per-interval** data points (a count per bucket, not a running total), so the poller
//! here turns newly completed buckets into the per-refresh [`BuildSample`]s the core
//! consumes, and reports a failed or garbled answer as [`Msg::SourceError`] so the source
//! goes stale and the autopilot holds, exactly as with Prometheus.

use super::datadog::DdClient;
use super::dynatrace::DtClient;
use super::templates::Target;
use crate::domain::RolloutKey;
use crate::domain::observation::{BuildSample, MetricsBatch, SourceId};
use crate::msg::Msg;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// `(bucket timestamp in Unix ms, value)`; `None` is the API's "no data in this bucket".
pub type Points = Vec<(i64, Option<f64>)>;

/// One signal's answer: points per value of the build dimension.
pub type BySeries = BTreeMap<String, Points>;

/// One refresh's answer for every signal, keyed by build dimension value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Answer {
    /// Requests per bucket.
    pub requests: BySeries,
    /// Failed requests per bucket (absent series: no failures).
    pub errors: BySeries,
    /// Typical latency per bucket, already in ms.
    pub p50: BySeries,
    /// p99 latency per bucket, already in ms.
    pub p99: BySeries,
}

/// Remembers the newest bucket counted per build and yields what completed since.
///
/// The newest bucket of an answer is still filling, so it is never counted; a build's first
/// answer only sets the baseline, so aviary counts exactly the traffic it watched. A refresh
/// with no newly completed bucket still yields a zero-count sample: the source answered in
/// time, so the autopilot must not think it stale, and no traffic is invented.
#[derive(Clone, Debug, Default)]
pub struct Buckets {
    seen: BTreeMap<(RolloutKey, String), i64>,
}

fn value(p: Option<f64>) -> f64 {
    p.filter(|v| v.is_finite() && *v >= 0.0).unwrap_or(0.0)
}

fn latest(points: Option<&Points>, upto: i64, ms: f64) -> Option<f64> {
    points?
        .iter()
        .filter(|(t, _)| *t <= upto)
        .filter_map(|(t, v)| v.filter(|v| v.is_finite() && *v >= 0.0).map(|v| (*t, v)))
        .max_by_key(|(t, _)| *t)
        .map(|(_, v)| v * ms)
}

impl Buckets {
    /// Samples for every build of `targets` whose series is in `answer`; `dimension` is the
    /// label key of [`Target`] builds that holds the build dimension's value.
    pub fn step(
        &mut self,
        dimension: &str,
        targets: &[Target],
        answer: &Answer,
    ) -> BTreeMap<RolloutKey, BTreeMap<String, BuildSample>> {
        let mut out: BTreeMap<RolloutKey, BTreeMap<String, BuildSample>> = BTreeMap::new();
        for t in targets {
            for b in &t.builds {
                let Some(dim) = b.labels.get(dimension) else {
                    continue;
                };
                let Some(req) = answer.requests.get(dim) else {
                    continue;
                };
                let mut stamps: Vec<i64> = req.iter().map(|(ts, _)| *ts).collect();
                stamps.sort_unstable();
                stamps.dedup();
                // The newest bucket may still be filling.
                stamps.pop();
                let Some(&newest) = stamps.last() else {
                    continue;
                };
                let id = (t.key.clone(), b.name.clone());
                // The baseline never moves back: an answer from a lagging replica whose
                // newest bucket is older would otherwise have the next one count again
                // what was counted already.
                let Some(prev) = self.seen.get(&id).copied() else {
                    self.seen.insert(id, newest);
                    continue;
                };
                self.seen.insert(id, newest.max(prev));
                let fresh = |p: &Points| -> f64 {
                    p.iter()
                        .filter(|(ts, _)| *ts > prev && *ts <= newest)
                        .map(|(_, v)| value(*v))
                        .sum()
                };
                let requests = BuildSample::count(fresh(req));
                let errors =
                    BuildSample::count(answer.errors.get(dim).map_or(0.0, fresh)).min(requests);
                let sample = BuildSample {
                    // Saturating: the API's timestamps are whatever it sent.
                    period_s: newest.saturating_sub(prev).max(0) as f64 / 1000.0,
                    requests,
                    errors,
                    p50_ms: latest(answer.p50.get(dim), newest, 1.0),
                    p99_ms: latest(answer.p99.get(dim), newest, 1.0),
                    latency: None,
                };
                out.entry(t.key.clone())
                    .or_default()
                    .insert(b.name.clone(), sample);
            }
        }
        out
    }
}

/// The hosted service behind a [`SaasSource`].
#[derive(Clone, Debug)]
pub enum Service {
    /// Dynatrace Metrics API v2.
    Dynatrace(DtClient),
    /// Datadog metrics query API v1.
    Datadog(DdClient),
}

impl Service {
    /// One refresh: every signal for every build of `targets`, in one request.
    pub async fn read(&self, targets: &[Target]) -> Result<Answer, String> {
        match self {
            Service::Dynatrace(c) => c.read(targets).await,
            Service::Datadog(c) => c.read(targets).await,
        }
    }

    /// The build dimension (Dynatrace dimension key, Datadog tag key).
    pub fn dimension(&self) -> &str {
        match self {
            Service::Dynatrace(c) => c.dimension(),
            Service::Datadog(c) => c.dimension(),
        }
    }

    /// The service's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Service::Dynatrace(_) => "Dynatrace",
            Service::Datadog(_) => "Datadog",
        }
    }
}

/// A hosted metrics source: one request every `refresh` for whatever targets are visible.
pub struct SaasSource {
    /// The service.
    pub service: Service,
    /// Rollouts to measure.
    pub targets: watch::Receiver<Vec<Target>>,
    /// Name for the stale badge.
    pub source: SourceId,
    /// Time between requests.
    pub refresh: Duration,
}

impl SaasSource {
    /// The message one refresh produces (public so tests can drive single refreshes).
    pub async fn refresh_once(&self, buckets: &mut Buckets, targets: &[Target]) -> Msg {
        match self.service.read(targets).await {
            Ok(a) if a.requests.is_empty() => Msg::SourceError {
                source: self.source.clone(),
                error: format!(
                    "{} has no request series for {} (build {} {}): no traffic yet, or the template does not match",
                    self.service.name(),
                    targets
                        .iter()
                        .map(|t| t.key.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    self.service.dimension(),
                    targets
                        .iter()
                        .flat_map(|t| &t.builds)
                        .filter_map(|b| b.labels.get(self.service.dimension()).cloned())
                        .collect::<Vec<_>>()
                        .join("|"),
                ),
            },
            Ok(a) => Msg::Metrics(MetricsBatch {
                source: self.source.clone(),
                at: SystemTime::now(),
                samples: buckets.step(self.service.dimension(), targets, &a),
            }),
            Err(error) => Msg::SourceError {
                source: self.source.clone(),
                error,
            },
        }
    }

    /// Polls until `cancel` or until the app hangs up.
    pub async fn run(self, tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
        let mut buckets = Buckets::default();
        let mut tick = tokio::time::interval(self.refresh);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let targets = self.targets.borrow().clone();
            if targets.is_empty() {
                continue;
            }
            let msg = self.refresh_once(&mut buckets, &targets).await;
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// The start of an answer that is not the API's JSON, for a message: short, one line.
pub fn snippet(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut s: String = one.chars().take(120).collect();
    if one.chars().count() > 120 {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderKind;
    use crate::metrics::templates::BuildTarget;

    fn target() -> Vec<Target> {
        let b = |n: &str| BuildTarget {
            name: n.into(),
            labels: [("version".to_string(), format!("v-{n}"))].into(),
        };
        vec![Target {
            key: RolloutKey::new(ProviderKind::Haproxy, "be"),
            builds: vec![b("stable"), b("canary")],
        }]
    }

    fn pts(v: &[(i64, f64)]) -> Points {
        v.iter().map(|(t, x)| (*t, Some(*x))).collect()
    }

    #[test]
    fn completed_buckets_count_once_and_the_filling_one_waits() {
        let mut b = Buckets::default();
        let mut a = Answer::default();
        a.requests
            .insert("v-canary".into(), pts(&[(0, 10.0), (60_000, 20.0)]));
        assert!(b.step("version", &target(), &a).is_empty(), "baseline");
        a.requests.insert(
            "v-canary".into(),
            pts(&[(0, 10.0), (60_000, 20.0), (120_000, 30.0), (180_000, 5.0)]),
        );
        a.errors.insert(
            "v-canary".into(),
            pts(&[(0, 9.0), (60_000, 1.0), (120_000, 4.0)]),
        );
        a.p99.insert(
            "v-canary".into(),
            pts(&[(120_000, 250.0), (180_000, 900.0)]),
        );
        let out = b.step("version", &target(), &a);
        let s = &out[&target()[0].key]["canary"];
        // Bucket 0 was the baseline; 60 000 (filling then) and 120 000 completed since;
        // 180 000 is filling now.
        assert_eq!((s.requests, s.errors, s.period_s), (50, 5, 120.0));
        assert_eq!(s.p99_ms, Some(250.0));
        // The same answer again: the source is alive, nothing new happened.
        let out = b.step("version", &target(), &a);
        let s = &out[&target()[0].key]["canary"];
        assert_eq!((s.requests, s.errors, s.period_s), (0, 0, 0.0));
    }

    #[test]
    fn nulls_and_garbage_values_are_no_traffic_not_errors() {
        let mut b = Buckets::default();
        let mut a = Answer::default();
        a.requests
            .insert("v-stable".into(), pts(&[(0, 1.0), (1, 1.0)]));
        b.step("version", &target(), &a);
        a.requests.insert(
            "v-stable".into(),
            vec![
                (0, Some(1.0)),
                (1, Some(1.0)),
                (2, None),
                (3, Some(f64::NAN)),
                (4, Some(7.0)),
                (5, None),
            ],
        );
        let out = b.step("version", &target(), &a);
        // Buckets 1..=4 are new and complete: 1 + nothing + nothing + 7.
        assert_eq!(out[&target()[0].key]["stable"].requests, 8);
    }

    #[test]
    fn a_lagging_answer_never_counts_a_bucket_twice() {
        let mut b = Buckets::default();
        let mut a = Answer::default();
        let full = pts(&[(0, 1.0), (60_000, 10.0), (120_000, 20.0), (180_000, 0.0)]);
        let lagging = pts(&[(0, 1.0), (60_000, 10.0)]);
        a.requests.insert("v-canary".into(), full.clone());
        b.step("version", &target(), &a);
        a.requests.insert("v-canary".into(), lagging);
        let out = b.step("version", &target(), &a);
        assert_eq!(out[&target()[0].key]["canary"].requests, 0);
        a.requests.insert("v-canary".into(), full);
        let out = b.step("version", &target(), &a);
        let s = &out[&target()[0].key]["canary"];
        assert_eq!(
            (s.requests, s.period_s),
            (0, 0.0),
            "120 000 was counted before"
        );
    }

    #[test]
    fn timestamps_at_the_ends_of_i64_are_a_long_period_not_an_overflow() {
        let mut b = Buckets::default();
        let mut a = Answer::default();
        a.requests
            .insert("v-canary".into(), pts(&[(i64::MIN, 1.0), (0, 1.0)]));
        b.step("version", &target(), &a);
        a.requests.insert(
            "v-canary".into(),
            pts(&[(i64::MIN, 1.0), (i64::MAX - 1, 3.0), (i64::MAX, 1.0)]),
        );
        let out = b.step("version", &target(), &a);
        let s = &out[&target()[0].key]["canary"];
        assert_eq!(s.requests, 3);
        assert!(s.period_s.is_finite() && s.period_s > 0.0);
    }
}
