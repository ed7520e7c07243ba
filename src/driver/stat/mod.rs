//! The statistical judge: canary against stable on the same traffic window, with tests that
//! may be looked at every tick and still keep their false-alarm rate (docs/JUDGE.md).
//!
//! Why not fixed limits: a 1 % error limit never sees a canary at 1 % when stable runs at
//! 0.5 %, and counting N failed intervals lets a 20 % canary hurt users for N intervals.
//! Comparing against stable on the same window removes the baseline (a bad hour hits both
//! builds), and a sequential test stops as soon as the evidence is strong.
//!
//! The checks, each a Fail on its own:
//! - errors vs stable: mixture SPRT on the two error proportions ([`sprt::two_sample`]);
//! - errors vs the plan's max error rate ([`sprt::one_sample`]), for when stable is bad too
//!   or missing;
//! - latency tail vs stable: share of requests slower than the window's p99 bucket, canary
//!   against stable, same SPRT;
//! - latency tail vs the plan's max p99: share of canary requests above the limit against
//!   1 % (p99 ≤ limit ⇔ at most 1 % slower);
//! - latency body: Mann-Whitney U on the two histograms ([`rank::grouped`]), with an effect
//!   size floor so a 1 ms shift at 1,000 req/s is not a regression.

pub mod rank;
pub mod sprt;

use super::judge::{Counts, Judge, Verdict, Window};
use crate::domain::Plan;
use crate::domain::observation::{LatencyHistogram, histogram::BOUNDS_MS};
use sprt::Sprt;

/// Parameters of the statistical judge; the defaults are what `aviary simulate` measures.
#[derive(Clone, Debug, PartialEq)]
pub struct StatJudge {
    /// Total false-alarm budget of the sequential tests: an equally good canary is rolled
    /// back by them with probability ≤ `alpha` however long it is watched (Ville's
    /// inequality per test, a union bound across them). Split: errors vs stable ½, latency
    /// tail vs stable ¼, the error limit ⅛, the p99 limit ⅛. A test fails when its
    /// likelihood ratio reaches 1 / its share.
    pub alpha: f64,
    /// At an interval end, hold at the current weight (do not step up) while an error
    /// test's likelihood ratio is at least this: a suspicious canary gets no more users
    /// until the evidence clears it or condemns it.
    pub hold_lr: f64,
    /// Mann-Whitney z a latency shift needs to fail (4.0 ≈ one-sided p 3e-5, strict because
    /// the rank test is looked at every tick).
    pub rank_z: f64,
    /// Smallest probability that a canary request is slower than a stable one that counts
    /// as a regression (0.5 = no difference).
    pub rank_effect: f64,
    /// Fewest latency observations (both builds) before the window's p99 is used as the
    /// tail bound.
    pub min_tail_observations: u64,
}

impl Default for StatJudge {
    fn default() -> Self {
        StatJudge {
            alpha: 0.01,
            hold_lr: 3.0,
            rank_z: 4.0,
            rank_effect: 0.6,
            min_tail_observations: 200,
        }
    }
}

/// The sequential tests, for their share of the false-alarm budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    ErrorsVsStable,
    TailVsStable,
    ErrorLimit,
    P99Limit,
}

/// One test's outcome, in words.
struct Finding {
    fail: bool,
    text: String,
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

fn ratio(bad: u64, n: u64) -> String {
    if n == 0 {
        "0/0".into()
    } else {
        format!("{bad}/{n} ({})", pct(bad as f64 / n as f64))
    }
}

/// A likelihood ratio for people: 3.2, 140, 2.1e4.
fn lr_text(lr: f64) -> String {
    if lr < 10.0 {
        format!("{lr:.1}")
    } else if lr < 10_000.0 {
        format!("{lr:.0}")
    } else {
        format!("{lr:.1e}")
    }
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.0}ms")).unwrap_or_else(|| "?".into())
}

/// Index of the first bucket whose upper bound is at least `limit_ms`, if any.
fn bucket_at_or_above(limit_ms: f64) -> Option<usize> {
    BOUNDS_MS.iter().position(|b| *b >= limit_ms)
}

/// Observations in buckets above bucket `i`.
fn above(h: &LatencyHistogram, i: usize) -> u64 {
    h.counts.iter().skip(i + 1).sum()
}

impl StatJudge {
    /// This test's share of the false-alarm budget.
    fn alpha(&self, test: Test) -> f64 {
        self.alpha
            * match test {
                Test::ErrorsVsStable => 0.5,
                Test::TailVsStable => 0.25,
                Test::ErrorLimit | Test::P99Limit => 0.125,
            }
    }

    /// The likelihood ratio at which `test` fails, for the *why*.
    fn needed(&self, test: Test) -> String {
        lr_text(1.0 / self.alpha(test))
    }

    fn errors(&self, plan: &Plan, c: &Counts, s: &Counts, out: &mut Vec<Finding>) -> f64 {
        let mut worst = f64::NEG_INFINITY;
        let line = format!(
            "canary errors {} vs stable {}",
            ratio(c.errors, c.requests),
            ratio(s.errors, s.requests)
        );
        match sprt::two_sample(c.errors, c.requests, s.errors, s.requests) {
            Some(t) => {
                worst = worst.max(t.log_lr);
                out.push(self.finding(&t, Test::ErrorsVsStable, line, true));
            }
            None => out.push(Finding {
                fail: false,
                text: format!("{line}: no stable traffic to compare, judged on the limit"),
            }),
        }
        if let Some(t) = sprt::one_sample(c.errors, c.requests, plan.max_error_rate) {
            worst = worst.max(t.log_lr);
            if t.rejects(self.alpha(Test::ErrorLimit)) {
                out.push(Finding {
                    fail: true,
                    text: format!(
                        "canary errors {} above the {} limit: likelihood ratio {} ≥ {}",
                        ratio(c.errors, c.requests),
                        pct(plan.max_error_rate),
                        lr_text(t.lr()),
                        self.needed(Test::ErrorLimit)
                    ),
                });
            }
        }
        worst
    }

    fn finding(&self, t: &Sprt, test: Test, line: String, always: bool) -> Finding {
        if t.rejects(self.alpha(test)) {
            Finding {
                fail: true,
                text: format!(
                    "{line}: likelihood ratio {} ≥ {} (p ≤ {:.1e}), about {}× stable",
                    lr_text(t.lr()),
                    self.needed(test),
                    t.p_value(),
                    t.best_risk
                ),
            }
        } else {
            Finding {
                fail: false,
                text: if always {
                    format!("{line}, LR {}", lr_text(t.lr()))
                } else {
                    String::new()
                },
            }
        }
    }

    fn latency(&self, plan: &Plan, c: &Counts, s: &Counts, out: &mut Vec<Finding>) {
        let limit_ms = plan.max_p99.as_secs_f64() * 1000.0;
        let Some(hc) = c.latency.as_ref().filter(|h| h.total() > 0) else {
            // No histogram (HAProxy averages): only the fixed limit can be checked.
            if let Some(p99) = c.p99_max_ms
                && p99 > limit_ms
            {
                out.push(Finding {
                    fail: true,
                    text: format!(
                        "canary p99 {p99:.0}ms > {limit_ms:.0}ms (fixed-limit check: this \
                         source has no latency histogram)"
                    ),
                });
            }
            return;
        };
        let nc = hc.total();
        let p99s = format!(
            "canary p99 {} vs stable {}",
            ms(hc.quantile(0.99)),
            ms(s.latency.as_ref().and_then(|h| h.quantile(0.99)))
        );
        // Above the plan's limit: at most 1 % may be, by definition of p99.
        if let Some(i) = bucket_at_or_above(limit_ms)
            && let Some(t) = sprt::one_sample(above(hc, i), nc, 0.01)
            && t.rejects(self.alpha(Test::P99Limit))
        {
            out.push(Finding {
                fail: true,
                text: format!(
                    "{p99s}: {} of canary requests slower than the {limit_ms:.0}ms limit \
                     (p99 allows 1%), likelihood ratio {} ≥ {}",
                    pct(above(hc, i) as f64 / nc as f64),
                    lr_text(t.lr()),
                    self.needed(Test::P99Limit)
                ),
            });
        }
        let Some(hs) = s.latency.as_ref().filter(|h| h.total() > 0) else {
            return;
        };
        let ns = hs.total();
        // Tail: share slower than the pooled p99 bucket. Pooling keeps the two builds
        // exchangeable when they are equally good, so the conditional test stays fair.
        let mut pooled = hc.clone();
        pooled.merge(hs);
        let n = pooled.total();
        if n >= self.min_tail_observations {
            let rank = (0.99 * n as f64).ceil() as u64;
            let mut seen = 0;
            let bound = pooled.counts.iter().position(|&k| {
                seen += k;
                seen >= rank
            });
            if let Some(i) = bound.filter(|&i| i < BOUNDS_MS.len())
                && let Some(t) = sprt::two_sample(above(hc, i), nc, above(hs, i), ns)
            {
                let line = format!(
                    "{p99s}: slower than {:.0}ms canary {} vs stable {}",
                    BOUNDS_MS[i],
                    ratio(above(hc, i), nc),
                    ratio(above(hs, i), ns)
                );
                let f = self.finding(&t, Test::TailVsStable, line, false);
                if f.fail {
                    out.push(f);
                }
            }
        }
        // Body: ranks.
        if let Some(r) = rank::grouped(&hc.counts, &hs.counts) {
            let fail = r.z >= self.rank_z && r.p_slower() >= self.rank_effect;
            out.push(Finding {
                fail,
                text: if fail {
                    format!(
                        "{p99s}, p50 {} vs {}: a canary request is slower than a stable one \
                         {:.0}% of the time (Mann-Whitney z {:.1} ≥ {:.1}, p {:.1e})",
                        ms(hc.quantile(0.5)),
                        ms(hs.quantile(0.5)),
                        r.p_slower() * 100.0,
                        r.z,
                        self.rank_z,
                        r.p_value()
                    )
                } else {
                    format!("{p99s}, Mann-Whitney p {:.2}", r.p_value())
                },
            });
        }
    }
}

impl Judge for StatJudge {
    fn name(&self) -> &'static str {
        "stat"
    }

    fn sequential(&self) -> bool {
        true
    }

    fn verdict(&self, plan: &Plan, window: &Window, due: bool) -> Verdict {
        let (c, s) = (&window.canary, &window.stable);
        if c.requests == 0 {
            return Verdict::Inconclusive("no canary traffic yet".into());
        }
        let mut findings = Vec::new();
        // Only the error tests decide a hold: their ratios fall steadily when the canary is
        // fine, while the tail test's bound moves with the data and can hover.
        let suspicion = self.errors(plan, c, s, &mut findings);
        self.latency(plan, c, s, &mut findings);
        let failed: Vec<&str> = findings
            .iter()
            .filter(|f| f.fail)
            .map(|f| f.text.as_str())
            .collect();
        if !failed.is_empty() {
            return Verdict::Fail(failed.join("; "));
        }
        let summary: Vec<&str> = findings
            .iter()
            .map(|f| f.text.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        let summary = summary.join("; ");
        if due && suspicion >= self.hold_lr.ln() {
            return Verdict::Inconclusive(format!(
                "errors suspicious (LR {} ≥ {}), not stepping up: {summary}",
                lr_text(suspicion.exp()),
                lr_text(self.hold_lr)
            ));
        }
        Verdict::Pass(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::BuildSample;

    fn counts(req: u64, err: u64, latencies: &[(f64, u64)]) -> Counts {
        let mut h = LatencyHistogram::default();
        for &(ms, n) in latencies {
            for _ in 0..n {
                h.record(ms);
            }
        }
        let mut c = Counts::default();
        c.add(&BuildSample {
            period_s: 1.0,
            requests: req,
            errors: err,
            latency: (h.total() > 0).then_some(h),
            ..Default::default()
        });
        c
    }

    fn window(canary: Counts, stable: Counts) -> Window {
        Window { canary, stable }
    }

    fn fast(n: u64) -> Vec<(f64, u64)> {
        vec![(12.0, n * 9 / 10), (30.0, n - n * 9 / 10)]
    }

    #[test]
    fn a_ten_percent_canary_fails_before_the_interval_ends() {
        let j = StatJudge::default();
        let w = window(counts(100, 10, &fast(100)), counts(900, 1, &fast(900)));
        match j.verdict(&Plan::default(), &w, false) {
            Verdict::Fail(m) => {
                assert!(
                    m.contains("canary errors 10/100 (10.0%) vs stable 1/900 (0.11%)"),
                    "{m}"
                );
                assert!(m.contains("likelihood ratio"), "{m}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn an_equal_canary_passes_with_its_evidence() {
        let j = StatJudge::default();
        let w = window(counts(500, 2, &fast(500)), counts(4500, 20, &fast(4500)));
        match j.verdict(&Plan::default(), &w, true) {
            Verdict::Pass(m) => {
                assert!(
                    m.contains("canary errors 2/500 (0.40%) vs stable 20/4500 (0.44%)"),
                    "{m}"
                );
                assert!(m.contains("Mann-Whitney"), "{m}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn twice_the_stable_error_rate_fails_once_the_evidence_is_strong() {
        // 1 % canary vs 0.5 % stable: under a 1 % limit, never seen by the threshold judge.
        let j = StatJudge::default();
        let p = Plan::default();
        let small = window(counts(1000, 10, &[]), counts(9000, 45, &[]));
        assert!(!matches!(j.verdict(&p, &small, true), Verdict::Fail(_)));
        let big = window(counts(10_000, 100, &[]), counts(90_000, 450, &[]));
        assert!(matches!(j.verdict(&p, &big, true), Verdict::Fail(m) if m.contains("about 2×")));
    }

    #[test]
    fn edge_cases_zero_traffic_zero_errors_all_errors_and_a_missing_build() {
        let j = StatJudge::default();
        let p = Plan::default();
        assert!(matches!(
            j.verdict(&p, &window(Counts::default(), counts(100, 0, &[])), true),
            Verdict::Inconclusive(m) if m.contains("no canary traffic")
        ));
        assert!(matches!(
            j.verdict(&p, &window(counts(300, 0, &[]), counts(2700, 0, &[])), true),
            Verdict::Pass(_)
        ));
        assert!(matches!(
            j.verdict(&p, &window(counts(20, 20, &[]), counts(180, 0, &[])), false),
            Verdict::Fail(_)
        ));
        // No stable build: still judged against the plan's limit, and says so.
        let lone = window(counts(200, 1, &[]), Counts::default());
        assert!(matches!(
            j.verdict(&p, &lone, true),
            Verdict::Pass(m) if m.contains("no stable traffic")
        ));
        let lone_bad = window(counts(200, 30, &[]), Counts::default());
        assert!(matches!(
            j.verdict(&p, &lone_bad, true),
            Verdict::Fail(m) if m.contains("above the 1.0% limit")
        ));
    }

    #[test]
    fn a_slow_canary_fails_on_p99_and_ranks() {
        let j = StatJudge::default();
        let w = window(
            counts(100, 0, &[(300.0, 80), (800.0, 20)]),
            counts(900, 0, &fast(900)),
        );
        match j.verdict(&Plan::default(), &w, false) {
            Verdict::Fail(m) => {
                assert!(m.contains("canary p99"), "{m}");
                assert!(m.contains("500ms limit"), "{m}");
                assert!(m.contains("Mann-Whitney"), "{m}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_suspicious_canary_is_held_at_the_interval_end() {
        let j = StatJudge::default();
        // 5 canary errors in 100 vs 0.4 % stable: LR about 100, above 20, below 1000.
        let w = window(counts(100, 5, &[]), counts(900, 4, &[]));
        assert!(matches!(
            j.verdict(&Plan::default(), &w, true),
            Verdict::Inconclusive(m) if m.contains("suspicious")
        ));
        assert!(matches!(
            j.verdict(&Plan::default(), &w, false),
            Verdict::Pass(_)
        ));
    }
}
