//! Evidence accumulated refresh by refresh (one stratum per metrics refresh), so a verdict
//! is a read of a few sums instead of a pass over the run.
//!
//! Why strata: the canary's share of traffic changes with its weight, and the baseline error
//! rate changes with load and with outages. Summing a whole run's counts and comparing them
//! with the run's *average* split turns a stable-side spike at 30 % weight into evidence
//! against the canary. Within one refresh both builds see the same seconds, so the canary's
//! share of that refresh's errors is compared with its share of that refresh's requests, and
//! the per-stratum likelihood ratios multiply into a martingale however weights and traffic
//! move. Each latency comparison uses a bound (the pooled p99 or median bucket) fixed from
//! *earlier* refreshes, so the bound never peeks at the stratum it judges.

use super::sprt::Mix;
use super::srm::SplitCheck;
use crate::domain::observation::histogram::BOUNDS_MS;
use crate::domain::observation::{BuildSample, LatencyHistogram};
use crate::domain::{Plan, Weight};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// Latency observations (both builds, earlier refreshes) before the pooled p99 is trusted
/// as the tail bound.
pub const MIN_TAIL: u64 = 200;
/// The same for the pooled median, the body bound.
pub const MIN_BODY: u64 = 50;
/// Refreshes kept for the recent-window checks (shared degradation, holds).
const RECENT: usize = 120;

/// One refresh, kept for the recent-window checks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refresh {
    /// End of the refresh.
    pub at: SystemTime,
    /// Length in seconds.
    pub period_s: f64,
    /// Canary (requests, errors).
    pub canary: (u64, u64),
    /// Stable (requests, errors).
    pub stable: (u64, u64),
    /// Canary (latency observations, slower than the p99 limit).
    pub canary_slow: (u64, u64),
    /// Stable (latency observations, slower than the p99 limit).
    pub stable_slow: (u64, u64),
    /// Per-sample p99s for sources without histograms.
    pub p99_ms: (Option<f64>, Option<f64>),
}

/// Sums over recent refreshes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recent {
    /// Seconds covered.
    pub seconds: f64,
    /// Canary (requests, errors).
    pub canary: (u64, u64),
    /// Stable (requests, errors).
    pub stable: (u64, u64),
    /// Canary (latency observations, slower than the p99 limit).
    pub canary_slow: (u64, u64),
    /// Stable (latency observations, slower than the p99 limit).
    pub stable_slow: (u64, u64),
    /// Highest per-sample p99 of each build (no-histogram sources).
    pub p99_ms: (Option<f64>, Option<f64>),
}

/// "bad" of "n" for canary and stable over the strata a test used: for the *why*.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Canary (bad, n).
    pub canary: (u64, u64),
    /// Stable (bad, n).
    pub stable: (u64, u64),
}

impl Tally {
    fn add(&mut self, cb: u64, cn: u64, sb: u64, sn: u64) {
        self.canary.0 = self.canary.0.saturating_add(cb);
        self.canary.1 = self.canary.1.saturating_add(cn);
        self.stable.0 = self.stable.0.saturating_add(sb);
        self.stable.1 = self.stable.1.saturating_add(sn);
    }
}

/// The run's sequential evidence, stratum by stratum.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Strata {
    /// Errors vs stable, per refresh.
    pub errors: Mix,
    /// Errors counted by `errors` (refreshes with both builds).
    pub errors_tally: Tally,
    /// Share slower than the earlier refreshes' pooled p99 bucket, canary vs stable.
    pub tail: Mix,
    /// Counts behind `tail`.
    pub tail_tally: Tally,
    /// The last tail bound used, ms.
    pub tail_bound_ms: Option<f64>,
    /// Share slower than the earlier refreshes' pooled median bucket, canary vs stable.
    pub body: Mix,
    /// Counts behind `body`.
    pub body_tally: Tally,
    /// The last body bound used, ms.
    pub body_bound_ms: Option<f64>,
    /// Both builds' latencies so far: where the next refresh's bounds come from.
    pooled: LatencyHistogram,
    /// Canary (requests, errors) in refreshes with no stable traffic to compare with.
    pub lone: (u64, u64),
    /// Canary (latency observations, slower than the p99 limit) in those refreshes.
    pub lone_slow: (u64, u64),
    /// All canary (requests, errors).
    pub canary: (u64, u64),
    /// Log e-value against "the canary is `regression_factor`× stable's errors or worse".
    pub promote_relative: f64,
    /// Log e-value against "the canary's error rate is at the limit or above".
    pub promote_absolute: f64,
    /// The latest refreshes.
    pub recent: VecDeque<Refresh>,
    /// Observed split against the weight set.
    pub split: SplitCheck,
}

fn quantile_bucket(h: &LatencyHistogram, q: f64) -> Option<usize> {
    let n = h.total();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as u64).max(1);
    let mut seen = 0;
    h.counts.iter().position(|&k| {
        seen += k;
        seen >= rank
    })
}

/// Observations in buckets above bucket `i`.
pub fn above(h: &LatencyHistogram, i: usize) -> u64 {
    h.counts.iter().skip(i + 1).sum()
}

/// Index of the first bucket whose upper bound is at least `limit_ms`, if any.
pub fn bucket_at_or_above(limit_ms: f64) -> Option<usize> {
    BOUNDS_MS.iter().position(|b| *b >= limit_ms)
}

/// The regression promotion must rule out: (relative risk vs stable, absolute error rate).
pub fn regression(plan: &Plan) -> (f64, f64) {
    (
        plan.evidence.regression_factor.max(1.1),
        plan.max_error_rate,
    )
}

/// The plug-in alternative of the relative promotion test: the canary's relative risk so
/// far (smoothed), kept below the regression so the test bets on "fine".
pub fn plug_in_risk(t: &Tally, factor: f64) -> f64 {
    let c = (t.canary.0 as f64 + 0.5) / (t.canary.1 as f64 + 1.0);
    let s = (t.stable.0 as f64 + 0.5) / (t.stable.1 as f64 + 1.0);
    (c / s).clamp(0.25, factor / 1.5)
}

/// The plug-in alternative of the absolute promotion test: the canary's error rate so far.
pub fn plug_in_rate(canary: (u64, u64), limit: f64) -> f64 {
    ((canary.1 as f64 + 0.5) / (canary.0 as f64 + 1.0)).clamp(limit / 20.0, limit / 1.5)
}

impl Strata {
    /// Adds one refresh: what each build served while the router was told `weight` (`None`
    /// while a weight write is in flight: the split is then unknown and not checked).
    pub fn observe(
        &mut self,
        at: SystemTime,
        weight: Option<Weight>,
        plan: &Plan,
        canary: Option<&BuildSample>,
        stable: Option<&BuildSample>,
    ) {
        let counts =
            |s: Option<&BuildSample>| s.map_or((0, 0), |s| (s.requests, s.errors.min(s.requests)));
        let ((nc, ec), (ns, es)) = (counts(canary), counts(stable));
        match weight {
            Some(w) => self.split.observe(w, nc, ns),
            None => self.split.unsettled(),
        }
        let (factor, limit) = regression(plan);
        if nc > 0 && ns > 0 {
            self.errors.add_two_sample(ec, nc, es, ns);
            // Relative promotion evidence: likelihood of the plug-in risk k1 against the
            // regression K, conditional on this refresh's errors; a martingale (≤ 1 in
            // expectation) for a canary at K× or worse, so Ville bounds false promotions.
            let k1 = plug_in_risk(&self.errors_tally, factor);
            let th = nc as f64 / (nc + ns) as f64;
            let m = (ec + es) as f64;
            self.promote_relative += ec as f64 * (k1 / factor).ln()
                - m * (((k1 - 1.0) * th).ln_1p() - ((factor - 1.0) * th).ln_1p());
            self.errors_tally.add(ec, nc, es, ns);
        } else if nc > 0 {
            self.lone.0 = self.lone.0.saturating_add(nc);
            self.lone.1 = self.lone.1.saturating_add(ec);
        }
        if nc > 0 && limit > 0.0 && limit < 1.0 {
            // Absolute promotion evidence: binomial likelihood of the plug-in rate against
            // the limit; a martingale for a canary at the limit or above.
            let p1 = plug_in_rate(self.canary, limit);
            self.promote_absolute += ec as f64 * (p1 / limit).ln()
                + (nc - ec) as f64 * ((1.0 - p1) / (1.0 - limit)).ln();
        }
        self.canary.0 = self.canary.0.saturating_add(nc);
        self.canary.1 = self.canary.1.saturating_add(ec);

        let hist = |s: Option<&BuildSample>| {
            s.and_then(|s| s.latency.as_ref())
                .filter(|h| h.total() > 0)
                .cloned()
        };
        let (hc, hs) = (hist(canary), hist(stable));
        let limit_bucket = bucket_at_or_above(plan.max_p99.as_secs_f64() * 1000.0);
        let slow = |h: &Option<LatencyHistogram>| {
            h.as_ref().map_or((0, 0), |h| {
                (h.total(), limit_bucket.map_or(0, |i| above(h, i)))
            })
        };
        let (canary_slow, stable_slow) = (slow(&hc), slow(&hs));
        if let (Some(hc), Some(hs)) = (&hc, &hs) {
            let n = self.pooled.total();
            for (q, min, mix, tally, bound) in [
                (
                    0.99,
                    MIN_TAIL,
                    &mut self.tail,
                    &mut self.tail_tally,
                    &mut self.tail_bound_ms,
                ),
                (
                    0.5,
                    MIN_BODY,
                    &mut self.body,
                    &mut self.body_tally,
                    &mut self.body_bound_ms,
                ),
            ] {
                if n < min {
                    continue;
                }
                if let Some(i) = quantile_bucket(&self.pooled, q).filter(|&i| i < BOUNDS_MS.len()) {
                    let (cb, sb) = (above(hc, i), above(hs, i));
                    mix.add_two_sample(cb, hc.total(), sb, hs.total());
                    tally.add(cb, hc.total(), sb, hs.total());
                    *bound = Some(BOUNDS_MS[i]);
                }
            }
        } else if hs.is_none() {
            self.lone_slow.0 = self.lone_slow.0.saturating_add(canary_slow.0);
            self.lone_slow.1 = self.lone_slow.1.saturating_add(canary_slow.1);
        }
        for h in [&hc, &hs].into_iter().flatten() {
            self.pooled.merge(h);
        }
        self.recent.push_back(Refresh {
            at,
            period_s: canary.or(stable).map_or(0.0, |s| s.period_s),
            canary: (nc, ec),
            stable: (ns, es),
            canary_slow,
            stable_slow,
            p99_ms: (canary.and_then(|s| s.p99_ms), stable.and_then(|s| s.p99_ms)),
        });
        while self.recent.len() > RECENT {
            self.recent.pop_front();
        }
    }

    /// Sums over the refreshes of the last `span`.
    pub fn recent(&self, span: Duration) -> Recent {
        let mut r = Recent::default();
        let Some(last) = self.recent.back().map(|x| x.at) else {
            return r;
        };
        let from = last.checked_sub(span).unwrap_or(last);
        let add = |a: &mut (u64, u64), b: (u64, u64)| {
            a.0 += b.0;
            a.1 += b.1;
        };
        let max = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => Some(x.max(y)),
            (x, y) => x.or(y),
        };
        for x in self.recent.iter().rev().take_while(|x| x.at > from) {
            r.seconds += x.period_s;
            add(&mut r.canary, x.canary);
            add(&mut r.stable, x.stable);
            add(&mut r.canary_slow, x.canary_slow);
            add(&mut r.stable_slow, x.stable_slow);
            r.p99_ms = (max(r.p99_ms.0, x.p99_ms.0), max(r.p99_ms.1, x.p99_ms.1));
        }
        r
    }

    /// Log of the promotion e-value: the average of the relative and the absolute ones, each
    /// a supermartingale for a canary at the regression, so their mean is too.
    pub fn promotion_log_e(&self) -> f64 {
        let (a, b) = (self.promote_relative, self.promote_absolute);
        let m = a.max(b);
        m + ((a - m).exp() + (b - m).exp()).ln() - std::f64::consts::LN_2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    fn sample(req: u64, err: u64, lat: &[(f64, u64)]) -> BuildSample {
        let mut h = LatencyHistogram::default();
        for &(ms, n) in lat {
            for _ in 0..n {
                h.record(ms);
            }
        }
        BuildSample {
            period_s: 1.0,
            requests: req,
            errors: err,
            latency: (h.total() > 0).then_some(h),
            ..Default::default()
        }
    }

    fn w(p: u8) -> Weight {
        Weight::from_whole(p).unwrap()
    }

    #[test]
    fn errors_are_compared_within_each_refresh_by_hand() {
        // Refresh 1 at 10 %: canary 1/100, stable 9/900 (θ0 = 0.1, m = 10).
        // Refresh 2 at 50 %: canary 5/500, stable 5/500 (θ0 = 0.5, m = 10).
        let plan = Plan::default();
        let mut s = Strata::default();
        s.observe(
            t(1),
            Some(w(10)),
            &plan,
            Some(&sample(100, 1, &[])),
            Some(&sample(900, 9, &[])),
        );
        s.observe(
            t(2),
            Some(w(50)),
            &plan,
            Some(&sample(500, 5, &[])),
            Some(&sample(500, 5, &[])),
        );
        for (i, k) in super::super::sprt::RISKS.iter().enumerate() {
            let want = 1.0 * k.ln() - 10.0 * (1.0 + (k - 1.0) * 0.1f64).ln() + 5.0 * k.ln()
                - 10.0 * (1.0 + (k - 1.0) * 0.5f64).ln();
            assert!((s.errors.log_lr_at(i) - want).abs() < 1e-9, "k {k}");
        }
        // The pooled view (6/600 vs 14/1400, θ0 = 0.3) would give another number: the
        // strata are not summed first.
        let pooled = super::super::sprt::two_sample(6, 600, 14, 1400)
            .unwrap()
            .log_lr;
        assert!((s.errors.sprt().log_lr - pooled).abs() > 0.1);
        assert_eq!(s.errors_tally.canary, (6, 600));
        assert_eq!(s.errors.strata, 2);
    }

    #[test]
    fn a_shared_spike_at_high_weight_is_not_evidence_against_the_canary() {
        // Clean at 10 %, then both builds fail 20 % while the canary holds 50 %: per refresh
        // the canary is exactly as good, but against the run's average split (23 %) half
        // the errors look like the canary's.
        let plan = Plan::default();
        let mut s = Strata::default();
        for i in 0..20 {
            s.observe(
                t(i),
                Some(w(10)),
                &plan,
                Some(&sample(100, 0, &[])),
                Some(&sample(900, 0, &[])),
            );
        }
        for i in 20..30 {
            s.observe(
                t(i),
                Some(w(50)),
                &plan,
                Some(&sample(500, 100, &[])),
                Some(&sample(500, 100, &[])),
            );
        }
        assert!(s.errors.sprt().log_lr < 0.0, "{:?}", s.errors.sprt());
        let pooled = super::super::sprt::two_sample(1000, 7000, 1000, 23000).unwrap();
        assert!(
            pooled.rejects(1e-6),
            "the pooled view blames the canary: {pooled:?}"
        );
    }

    #[test]
    fn latency_bounds_come_from_earlier_refreshes() {
        let plan = Plan::default();
        let mut s = Strata::default();
        let fast = [(12.0, 90), (30.0, 10)];
        // First refresh: nothing earlier, no bound, no tail or body stratum.
        s.observe(
            t(1),
            Some(w(10)),
            &plan,
            Some(&sample(100, 0, &fast)),
            Some(&sample(100, 0, &fast)),
        );
        assert_eq!((s.body.strata, s.tail.strata), (0, 0));
        // Second: 200 earlier observations, median bucket 12.5 ms, p99 bucket 32 ms.
        s.observe(
            t(2),
            Some(w(10)),
            &plan,
            Some(&sample(100, 0, &[(12.0, 40), (30.0, 40), (300.0, 20)])),
            Some(&sample(100, 0, &fast)),
        );
        assert_eq!(s.body_bound_ms, Some(12.5));
        assert_eq!(s.tail_bound_ms, Some(32.0));
        assert_eq!(s.body_tally.canary, (60, 100));
        assert_eq!(s.body_tally.stable, (10, 100));
        assert_eq!(s.tail_tally.canary, (20, 100));
        assert_eq!(s.tail_tally.stable, (0, 100));
    }

    #[test]
    fn lone_refreshes_and_the_recent_window() {
        let plan = Plan::default();
        let mut s = Strata::default();
        s.observe(
            t(1),
            Some(w(10)),
            &plan,
            Some(&sample(50, 5, &[(600.0, 50)])),
            None,
        );
        s.observe(
            t(2),
            Some(w(10)),
            &plan,
            Some(&sample(50, 1, &[])),
            Some(&sample(450, 9, &[])),
        );
        assert_eq!(s.lone, (50, 5));
        assert_eq!(s.lone_slow, (50, 50));
        assert_eq!(s.canary, (100, 6));
        let r = s.recent(Duration::from_secs(1));
        assert_eq!((r.canary, r.stable), ((50, 1), (450, 9)));
        let r = s.recent(Duration::from_secs(5));
        assert_eq!((r.canary, r.seconds), ((100, 6), 2.0));
    }

    #[test]
    fn promotion_evidence_by_hand() {
        // One refresh at 50 %: canary 0/1000, stable 5/1000, first refresh (plug-ins from
        // nothing: k1 = 1, p1 = 0.5 clamped to 1 % / 1.5).
        let plan = Plan::default();
        let mut s = Strata::default();
        s.observe(
            t(1),
            Some(w(50)),
            &plan,
            Some(&sample(1000, 0, &[])),
            Some(&sample(1000, 5, &[])),
        );
        let rel = -5.0 * ((1.0f64 + 0.0 * 0.5).ln() - (1.0f64 + 3.0 * 0.5).ln());
        assert!(
            (s.promote_relative - rel).abs() < 1e-9,
            "{}",
            s.promote_relative
        );
        let p1 = 0.01 / 1.5;
        let abs = 1000.0 * ((1.0 - p1) / 0.99f64).ln();
        assert!((s.promote_absolute - abs).abs() < 1e-9);
        let e = ((rel.exp() + abs.exp()) / 2.0).ln();
        assert!((s.promotion_log_e() - e).abs() < 1e-9);
    }
}
