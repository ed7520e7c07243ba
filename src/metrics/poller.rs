//! Pollers turn cumulative counters (Prometheus totals, HAProxy's `show stat`) into the
//! per-refresh [`BuildSample`]s the core consumes, and report failures as
//! [`Msg::SourceError`] so the source goes stale and the autopilot holds.

use super::prometheus::{PromClient, PromError, Sample};
use super::templates::{Target, Template, by_build};
use crate::domain::RolloutKey;
use crate::domain::observation::{BuildSample, MetricsBatch, SourceId};
use crate::msg::Msg;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How much history a newly seen rollout's charts get.
pub const HISTORY: Duration = Duration::from_secs(600);

/// One build's cumulative counters at one instant, as a source reads them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    /// Requests since the counter started.
    pub requests: f64,
    /// Failed requests since the counter started; `None` when the source had no series for
    /// them (an exporter that creates the 5xx series on the first 5xx): no new failures.
    pub errors: Option<f64>,
    /// Typical latency now, in ms.
    pub p50_ms: Option<f64>,
    /// p99 latency now, in ms.
    pub p99_ms: Option<f64>,
}

/// Remembers the previous totals per build and yields the counts in between.
///
/// A build's first reading only sets the baseline (no sample), so aviary counts exactly the
/// traffic it watched. A total that went down is a counter reset (a restart or reload): the
/// new total is the count since then, as Prometheus' `increase()` treats it.
#[derive(Clone, Debug, Default)]
pub struct Deltas {
    prev: BTreeMap<(RolloutKey, String), (SystemTime, f64, f64)>,
}

fn increase(prev: f64, now: f64) -> f64 {
    if now >= prev { now - prev } else { now }
}

fn finite(x: Option<f64>) -> Option<f64> {
    x.filter(|v| v.is_finite() && *v >= 0.0)
}

impl Deltas {
    /// Samples for every build whose totals were read now. A build missing from `totals`, or
    /// whose request total is not a finite number, gets no sample: no data, never zero.
    pub fn step(
        &mut self,
        at: SystemTime,
        totals: BTreeMap<(RolloutKey, String), Totals>,
    ) -> BTreeMap<RolloutKey, BTreeMap<String, BuildSample>> {
        let mut out: BTreeMap<RolloutKey, BTreeMap<String, BuildSample>> = BTreeMap::new();
        for (id, t) in totals {
            let Some(req) = finite(Some(t.requests)) else {
                continue;
            };
            let prev = self.prev.get(&id).copied();
            let err = finite(t.errors).unwrap_or(prev.map_or(0.0, |p| p.2));
            self.prev.insert(id.clone(), (at, req, err));
            let Some((then, preq, perr)) = prev else {
                continue;
            };
            let requests = BuildSample::count(increase(preq, req));
            // Counters are scraped together but not atomically; never report more failures
            // than requests in one period.
            let errors = BuildSample::count(increase(perr, err)).min(requests);
            let sample = BuildSample {
                period_s: at.duration_since(then).unwrap_or_default().as_secs_f64(),
                requests,
                errors,
                p50_ms: finite(t.p50_ms),
                p99_ms: finite(t.p99_ms),
                latency: None,
            };
            out.entry(id.0).or_default().insert(id.1, sample);
        }
        out
    }
}

/// Reads one refresh worth of totals from Prometheus: one query per signal for all targets,
/// at the server's now (or at `at`, for tests over recorded data).
pub async fn read_totals(
    client: &PromClient,
    template: &Template,
    targets: &[Target],
    at: Option<SystemTime>,
) -> Result<BTreeMap<(RolloutKey, String), Totals>, String> {
    let run = |name: &'static str, q: Option<&String>| {
        let q = q.map(|q| template.render(q, targets));
        async move {
            let ask = |q: String| async move {
                match at {
                    Some(t) => client.query_at(&q, t).await,
                    None => client.query(&q).await,
                }
            };
            match q {
                None => Ok(None),
                Some(q) => match ask(q).await.and_then(|a| {
                    for w in &a.warnings {
                        tracing::warn!("Prometheus warning for {name}: {w}");
                    }
                    a.into_vector()
                }) {
                    Ok(v) => Ok(Some(v)),
                    Err(e) => Err(format!("{name} query failed: {e}")),
                },
            }
        }
    };
    let (req, err, p50, p99) = tokio::join!(
        run("requests", Some(&template.requests)),
        run("errors", Some(&template.errors)),
        run("p50", template.p50.as_ref()),
        run("p99", template.p99.as_ref()),
    );
    let req = req?.unwrap_or_default();
    let err = err?.unwrap_or_default();
    Ok(combine(template, targets, &req, &err, p50?, p99?))
}

/// Joins the per-signal answers into per-build totals (public for the fixture tests).
pub fn combine(
    template: &Template,
    targets: &[Target],
    requests: &[Sample],
    errors: &[Sample],
    p50: Option<Vec<Sample>>,
    p99: Option<Vec<Sample>>,
) -> BTreeMap<(RolloutKey, String), Totals> {
    let err = by_build(errors, targets);
    let p50 = p50.map(|v| by_build(&v, targets)).unwrap_or_default();
    let p99 = p99.map(|v| by_build(&v, targets)).unwrap_or_default();
    by_build(requests, targets)
        .into_iter()
        .map(|(id, requests)| {
            let ms = |m: &BTreeMap<_, f64>| m.get(&id).map(|v| v * template.latency_to_ms);
            let t = Totals {
                requests,
                errors: err.get(&id).copied(),
                p50_ms: ms(&p50),
                p99_ms: ms(&p99),
            };
            (id, t)
        })
        .collect()
}

/// The Prometheus metrics source: one refresh every `refresh` for whatever targets are
/// visible now (providers update the watch as rollouts come and go).
pub struct PromSource {
    /// The server.
    pub client: PromClient,
    /// The data plane's queries.
    pub template: Template,
    /// Rollouts to measure.
    pub targets: watch::Receiver<Vec<Target>>,
    /// Name for the stale badge.
    pub source: SourceId,
    /// Time between refreshes.
    pub refresh: Duration,
    /// The rollout the screen shows: its history was not kept while nobody looked, so it is
    /// fetched again (as for a rollout seen for the first time).
    pub shown: watch::Receiver<Option<RolloutKey>>,
}

impl PromSource {
    /// Polls until `cancel` or until the app hangs up.
    pub async fn run(mut self, tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
        let mut deltas = Deltas::default();
        let mut backfilled: std::collections::BTreeSet<RolloutKey> = Default::default();
        let mut tick = tokio::time::interval(self.refresh);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
                Ok(()) = self.shown.changed() => {
                    if let Some(k) = self.shown.borrow_and_update().as_ref() {
                        backfilled.remove(k);
                    }
                    continue;
                }
            }
            let targets = self.targets.borrow().clone();
            if targets.is_empty() {
                continue;
            }
            // A rollout seen for the first time gets the last minutes of history on its
            // charts, from the same templates; live refreshes carry on meanwhile.
            let new: Vec<Target> = targets
                .iter()
                .filter(|t| !backfilled.contains(&t.key))
                .cloned()
                .collect();
            if !new.is_empty() {
                backfilled.extend(new.iter().map(|t| t.key.clone()));
                let (client, template, source, tx) = (
                    self.client.clone(),
                    self.template.clone(),
                    self.source.clone(),
                    tx.clone(),
                );
                let step = self.refresh.max(Duration::from_secs(1));
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    let end = SystemTime::now();
                    let start = end - HISTORY;
                    let points = tokio::select! {
                        _ = cancel.cancelled() => return,
                        p = backfill(&client, &template, &new, start, end, step) => p,
                    };
                    match points {
                        Ok(points) if !points.is_empty() => {
                            let _ = tx.send(Msg::History { source, points }).await;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("chart history: {e}"),
                    }
                });
            }
            // A hanging server must not hold the exit past `--duration` or `q`.
            let totals = tokio::select! {
                _ = cancel.cancelled() => return,
                t = read_totals(&self.client, &self.template, &targets, None) => t,
            };
            let msg = match totals {
                Ok(totals) if totals.is_empty() => Msg::SourceError {
                    source: self.source.clone(),
                    error: no_series(&self.template, &targets),
                },
                Ok(totals) => {
                    let at = SystemTime::now();
                    Msg::Metrics(MetricsBatch {
                        source: self.source.clone(),
                        at,
                        samples: deltas.step(at, totals),
                    })
                }
                Err(error) => Msg::SourceError {
                    source: self.source.clone(),
                    error,
                },
            };
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    }
}

/// Why a refresh with no series for any build is an error, in words: the usual causes are a
/// target not (yet) scraped or a template whose labels do not match.
fn no_series(template: &Template, targets: &[Target]) -> String {
    let keys: Vec<String> = targets.iter().map(|t| t.key.to_string()).collect();
    format!(
        "Prometheus has no request series for {} (selector {{{}}}): not scraped yet, or the template's labels do not match",
        keys.join(", "),
        template.filter(targets)
    )
}

/// Per-build samples between `start` and `end`, one per `step`, from `query_range` on the
/// same templates: the history a chart shows when a rollout is opened. Never fed to the
/// autopilot (it judges only what it watched live).
pub async fn backfill(
    client: &PromClient,
    template: &Template,
    targets: &[Target],
    start: SystemTime,
    end: SystemTime,
    step: Duration,
) -> Result<BTreeMap<(RolloutKey, String), Vec<(SystemTime, BuildSample)>>, String> {
    use super::prometheus::QueryData;
    let range = |name: &'static str, q: Option<&String>| {
        let q = q.map(|q| template.render(q, targets));
        async move {
            let Some(q) = q else {
                return Ok(Vec::new());
            };
            match client.query_range(&q, start, end, step).await {
                Ok(a) => match a.data {
                    QueryData::Matrix(m) => Ok(m),
                    _ => Err(format!("{name} range query: expected a matrix")),
                },
                Err(e) => Err(format!("{name} range query failed: {e}")),
            }
        }
    };
    let (req, err, p50, p99) = tokio::join!(
        range("requests", Some(&template.requests)),
        range("errors", Some(&template.errors)),
        range("p50", template.p50.as_ref()),
        range("p99", template.p99.as_ref()),
    );
    let (req, err, p50, p99) = (req?, err?, p50?, p99?);
    // Re-use the live path: each step is one "refresh" of instant answers.
    let mut steps: BTreeMap<i64, [Vec<Sample>; 4]> = BTreeMap::new();
    for (i, m) in [req, err, p50, p99].into_iter().enumerate() {
        for series in m {
            for (ts, v) in series.points {
                let slot = steps.entry((ts * 1000.0).round() as i64).or_default();
                slot[i].push(Sample {
                    labels: series.labels.clone(),
                    ts,
                    value: v,
                });
            }
        }
    }
    let mut deltas = Deltas::default();
    let mut out: BTreeMap<(RolloutKey, String), Vec<(SystemTime, BuildSample)>> = BTreeMap::new();
    for (ms, [req, err, p50, p99]) in steps {
        let at = std::time::UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
        let totals = combine(template, targets, &req, &err, Some(p50), Some(p99));
        for (key, builds) in deltas.step(at, totals) {
            for (b, s) in builds {
                out.entry((key.clone(), b)).or_default().push((at, s));
            }
        }
    }
    Ok(out)
}

/// Checks once at startup that Prometheus answers at all, so a wrong `--prometheus` URL is
/// named on screen (and in the log) at once, not only as a badge that never turns fresh.
pub async fn check_reachable(client: &PromClient) -> Result<(), PromError> {
    client.query("vector(1)").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderKind;
    use std::time::UNIX_EPOCH;

    fn id(b: &str) -> (RolloutKey, String) {
        (RolloutKey::new(ProviderKind::Haproxy, "be"), b.into())
    }

    fn tot(req: f64, err: Option<f64>) -> Totals {
        Totals {
            requests: req,
            errors: err,
            ..Default::default()
        }
    }

    #[test]
    fn first_reading_is_a_baseline_then_deltas_follow() {
        let mut d = Deltas::default();
        let t0 = UNIX_EPOCH + Duration::from_secs(100);
        assert!(
            d.step(t0, [(id("c"), tot(50.0, Some(5.0)))].into())
                .is_empty()
        );
        let out = d.step(
            t0 + Duration::from_secs(2),
            [(id("c"), tot(70.0, Some(9.0)))].into(),
        );
        let s = &out[&id("c").0]["c"];
        assert_eq!((s.requests, s.errors, s.period_s), (20, 4, 2.0));
    }

    #[test]
    fn missing_error_series_with_traffic_means_no_new_errors() {
        let mut d = Deltas::default();
        let t0 = UNIX_EPOCH;
        d.step(t0, [(id("c"), tot(10.0, None))].into());
        let out = d.step(
            t0 + Duration::from_secs(1),
            [(id("c"), tot(30.0, None))].into(),
        );
        let s = &out[&id("c").0]["c"];
        assert_eq!((s.requests, s.errors), (20, 0));
        assert_eq!(s.error_rate(), Some(0.0));
    }

    #[test]
    fn counter_resets_and_nan_are_handled() {
        let mut d = Deltas::default();
        let t0 = UNIX_EPOCH;
        d.step(t0, [(id("c"), tot(100.0, Some(10.0)))].into());
        let out = d.step(
            t0 + Duration::from_secs(1),
            [(id("c"), tot(7.0, Some(1.0)))].into(),
        );
        assert_eq!(out[&id("c").0]["c"].requests, 7);
        let out = d.step(
            t0 + Duration::from_secs(2),
            [(id("c"), tot(f64::NAN, None))].into(),
        );
        assert!(out.is_empty(), "NaN requests are no data, not zero");
    }

    #[test]
    fn an_absurd_counter_is_capped() {
        let mut d = Deltas::default();
        let t0 = UNIX_EPOCH;
        d.step(t0, [(id("c"), tot(0.0, Some(0.0)))].into());
        let out = d.step(
            t0 + Duration::from_secs(1),
            [(id("c"), tot(1e30, Some(1e30)))].into(),
        );
        let s = &out[&id("c").0]["c"];
        assert_eq!(
            (s.requests, s.errors),
            (BuildSample::MAX_COUNT, BuildSample::MAX_COUNT)
        );
    }
}
