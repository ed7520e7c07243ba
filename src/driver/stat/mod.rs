//! The statistical judge: canary against stable within each refresh, with tests that may be
//! looked at every tick and still keep their false-alarm rate (docs/JUDGE.md).
//!
//! Why not fixed limits: a 1 % error limit never sees a canary at 1 % when stable runs at
//! 0.5 %, and when a dependency both builds call goes bad, both break the limit and the
//! canary is not to blame. Comparing against stable in the same seconds removes the
//! baseline, a sequential test stops as soon as the evidence is strong, and the limits only
//! roll back when there is no stable to compare with.
//!
//! The checks that roll back, each on its own share of `alpha` (all read [`Strata`]):
//! - errors vs stable: the canary's share of each refresh's errors against its share of
//!   that refresh's requests;
//! - latency tail vs stable: the same for requests slower than the earlier refreshes'
//!   pooled p99 bucket; latency body: slower than their pooled median bucket;
//! - errors and p99 against the plan's limits, on refreshes with no stable traffic.
//!
//! The checks that hold: stable itself over a limit (shared degradation), the canary over
//! a limit recently while the comparison has not decided, suspicious error evidence, a
//! split that does not match the weight ([`srm`]), and promotion without evidence that the
//! canary is not a regression ([`Judge::promotion`]).

pub mod normal;
pub mod sprt;
pub mod srm;
pub mod strata;

use super::judge::{Evidence, Judge, Verdict};
use crate::domain::observation::LatencyHistogram;
use crate::domain::{Plan, StableOverLimit};
use sprt::Sprt;
use srm::SplitMismatch;
use std::time::Duration;
pub use strata::Strata;
use strata::{Recent, Tally, plug_in_rate, plug_in_risk, regression};

/// Parameters of the statistical judge; the defaults are what `aviary simulate` measures.
#[derive(Clone, Debug, PartialEq)]
pub struct StatJudge {
    /// Total false-alarm budget of the tests that roll back: an equally good canary is
    /// rolled back by them with probability ≤ `alpha` however long it is watched (Ville's
    /// inequality per test, a union bound across them). Split: errors vs stable 0.4, tail
    /// 0.2, body 0.2, each limit 0.1. A test fails when its likelihood ratio reaches
    /// 1 / its share.
    pub alpha: f64,
    /// At an interval end, hold at the current weight (do not step up) while the error test's
    /// likelihood ratio is at least this: a suspicious canary gets no more users until the
    /// evidence clears it or condemns it.
    pub hold_lr: f64,
    /// Budget of the sample-ratio check (it only holds, but a flag stops a healthy plan).
    pub split_alpha: f64,
    /// Level at which a recent window counts as "over the limit" for holds (one look, so a
    /// plain likelihood-ratio test: LR ≥ 1/level).
    pub limit_level: f64,
}

impl Default for StatJudge {
    fn default() -> Self {
        StatJudge {
            alpha: 0.01,
            hold_lr: 3.0,
            split_alpha: srm::ALPHA,
            limit_level: 0.01,
        }
    }
}

/// The tests that roll back, for their share of the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Test {
    ErrorsVsStable,
    TailVsStable,
    BodyVsStable,
    ErrorLimit,
    P99Limit,
}

fn pct(x: f64) -> String {
    let p = x * 100.0;
    if p != 0.0 && p.abs() < 1.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

fn ratio((bad, n): (u64, u64)) -> String {
    if n == 0 {
        "0/0".into()
    } else {
        format!("{bad}/{n} ({})", pct(bad as f64 / n as f64))
    }
}

fn rate((n, bad): (u64, u64)) -> f64 {
    if n == 0 { 0.0 } else { bad as f64 / n as f64 }
}

/// A likelihood ratio for people: 3.2, 140, 2.1e4 (and "> 1e300" past f64's range).
pub fn lr_text(lr: f64) -> String {
    if !lr.is_finite() {
        "> 1e300".into()
    } else if lr < 10.0 {
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

/// Two significant digits: 240, 1,200, 35,000.
fn about(x: f64) -> String {
    let x = x.max(1.0);
    let mag = 10f64.powi((x.log10().floor() as i32 - 1).max(0));
    let r = ((x / mag).round() * mag) as u64;
    let s = r.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn quantile(h: &Option<LatencyHistogram>, q: f64) -> Option<f64> {
    h.as_ref().and_then(|h| h.quantile(q))
}

impl StatJudge {
    fn alpha(&self, test: Test) -> f64 {
        self.alpha
            * match test {
                Test::ErrorsVsStable => 0.4,
                Test::TailVsStable | Test::BodyVsStable => 0.2,
                Test::ErrorLimit | Test::P99Limit => 0.1,
            }
    }

    fn needed(&self, test: Test) -> String {
        lr_text(1.0 / self.alpha(test))
    }

    /// "likelihood ratio 1453 ≥ 250 (p ≤ 6.9e-4), about 30× stable".
    fn proof(&self, t: &Sprt, test: Test, vs_stable: bool) -> String {
        let mut s = format!(
            "likelihood ratio {} ≥ {} (p ≤ {:.1e})",
            lr_text(t.lr()),
            self.needed(test),
            t.p_value()
        );
        if vs_stable {
            s.push_str(&format!(", about {}× stable", t.best_risk));
        }
        s
    }

    /// A vs-stable comparison, when its test rejects.
    fn compared(&self, mix: &sprt::Mix, tally: &Tally, test: Test, what: &str) -> Option<String> {
        let t = mix.sprt();
        t.rejects(self.alpha(test)).then(|| {
            format!(
                "{what} canary {} vs stable {} in the same seconds: {}",
                ratio(tally.canary),
                ratio(tally.stable),
                self.proof(&t, test, true)
            )
        })
    }

    /// Against a fixed limit on refreshes with no stable traffic, when it rejects.
    fn lone(&self, (n, bad): (u64, u64), p0: f64, test: Test, what: String) -> Option<String> {
        let t = sprt::one_sample(bad, n, p0)?;
        t.rejects(self.alpha(test)).then(|| {
            format!(
                "no stable traffic to compare with: canary {what} {}: {}",
                ratio((bad, n)),
                self.proof(&t, test, false)
            )
        })
    }

    fn over(&self, (n, bad): (u64, u64), p0: f64) -> bool {
        sprt::one_sample(bad, n, p0).is_some_and(|t| t.rejects(self.limit_level))
    }

    fn failures(&self, plan: &Plan, ev: &Evidence<'_>, recent: &Recent) -> Vec<String> {
        let st = ev.strata;
        let (hc, hs) = (&ev.run.canary.latency, &ev.run.stable.latency);
        let limit_ms = plan.max_p99.as_secs_f64() * 1000.0;
        let mut out = Vec::new();
        out.extend(self.compared(
            &st.errors,
            &st.errors_tally,
            Test::ErrorsVsStable,
            "errors:",
        ));
        out.extend(self.lone(
            st.lone,
            plan.max_error_rate,
            Test::ErrorLimit,
            format!("errors above the {} limit", pct(plan.max_error_rate)),
        ));
        let p99s = format!(
            "canary p99 {} vs stable {}",
            ms(quantile(hc, 0.99)),
            ms(quantile(hs, 0.99))
        );
        if let Some(w) = self.compared(&st.tail, &st.tail_tally, Test::TailVsStable, "") {
            out.push(format!(
                "{p99s}: slower than {}: {}",
                ms(st.tail_bound_ms),
                w.trim_start()
            ));
        }
        if let Some(w) = self.compared(&st.body, &st.body_tally, Test::BodyVsStable, "") {
            out.push(format!(
                "canary p50 {} vs stable {} (p99 {} vs {}): slower than {}: {}",
                ms(quantile(hc, 0.5)),
                ms(quantile(hs, 0.5)),
                ms(quantile(hc, 0.99)),
                ms(quantile(hs, 0.99)),
                ms(st.body_bound_ms),
                w.trim_start()
            ));
        }
        out.extend(self.lone(
            st.lone_slow,
            0.01,
            Test::P99Limit,
            format!("requests slower than the {limit_ms:.0}ms limit (p99 allows 1%)"),
        ));
        // A source without histograms (HAProxy averages) only has per-sample p99s: the fixed
        // limit, and only when stable is not over it too.
        if hc.as_ref().is_none_or(|h| h.total() == 0)
            && let (Some(c), s) = recent.p99_ms
            && c > limit_ms
            && s.is_none_or(|s| s <= limit_ms)
        {
            out.push(format!(
                "canary p99 {c:.0}ms > {limit_ms:.0}ms, stable {} (fixed-limit check: this \
                 source has no latency histogram)",
                ms(s)
            ));
        }
        out
    }

    /// Stable itself over a limit in the recent window: the canary is not to blame.
    fn shared(&self, plan: &Plan, ev: &Evidence<'_>, r: &Recent) -> Option<String> {
        let span = format!("over the last {:.0}s", r.seconds);
        let at = format!("not the canary; holding at {}", ev.weight);
        if self.over(r.stable, plan.max_error_rate) {
            let (c, s) = (pct(rate(r.canary)), pct(rate(r.stable)));
            return Some(if self.over(r.canary, plan.max_error_rate) {
                format!("both builds failing alike (canary {c} vs stable {s} {span}): {at}")
            } else {
                format!(
                    "stable itself over the {} error limit (stable {s}, canary {c} {span}): {at}",
                    pct(plan.max_error_rate)
                )
            });
        }
        if self.over(r.stable_slow, 0.01) {
            let limit = plan.max_p99.as_millis();
            let (c, s) = (pct(rate(r.canary_slow)), pct(rate(r.stable_slow)));
            return Some(format!(
                "both builds slow (slower than {limit}ms: canary {c} vs stable {s} {span}, \
                 p99 allows 1%): {at}"
            ));
        }
        None
    }

    fn summary(&self, ev: &Evidence<'_>) -> String {
        let st = ev.strata;
        let mut s = format!(
            "canary errors {} vs stable {}",
            ratio(st.errors_tally.canary),
            ratio(st.errors_tally.stable)
        );
        if st.errors.strata > 0 {
            s.push_str(&format!(", LR {}", lr_text(st.errors.sprt().lr())));
        } else if st.errors_tally.stable.1 == 0 {
            s = format!(
                "canary errors {}: no stable traffic to compare, judged on the limit",
                ratio((st.lone.1, st.lone.0))
            );
        }
        let (hc, hs) = (&ev.run.canary.latency, &ev.run.stable.latency);
        if hc.is_some() {
            s.push_str(&format!(
                "; canary p99 {} vs stable {}, p50 {} vs {}",
                ms(quantile(hc, 0.99)),
                ms(quantile(hs, 0.99)),
                ms(quantile(hc, 0.5)),
                ms(quantile(hs, 0.5))
            ));
        }
        s
    }

    /// Canary requests still needed for the promotion evidence, and what they rule out.
    fn still_needed(&self, plan: &Plan, ev: &Evidence<'_>, alpha: f64) -> String {
        let st = ev.strata;
        let (factor, limit) = regression(plan);
        let target = (2.0 / alpha).ln();
        let r = st.recent(plan.interval.max(Duration::from_secs(10)));
        let t = &st.errors_tally;
        let smooth = |(bad, n): (u64, u64)| (bad as f64 + 0.5) / (n as f64 + 1.0);
        let (c, s) = (smooth(t.canary), smooth(t.stable));
        let th = if r.canary.0 + r.stable.0 > 0 {
            r.canary.0 as f64 / (r.canary.0 + r.stable.0) as f64
        } else {
            ev.weight.percent() / 100.0
        };
        let mut options = Vec::new();
        if th > 0.0 && th < 1.0 {
            let k1 = plug_in_risk(t, factor);
            let m = c + s * (1.0 - th) / th;
            let drift = c * (k1 / factor).ln()
                - m * (((k1 - 1.0) * th).ln_1p() - ((factor - 1.0) * th).ln_1p());
            options.push((
                (target - st.promote_relative) / drift,
                drift,
                format!("{factor}× stable's errors"),
            ));
        }
        if limit > 0.0 && limit < 1.0 {
            let p = smooth((st.canary.1, st.canary.0));
            let p1 = plug_in_rate(st.canary, limit);
            let drift = p * (p1 / limit).ln() + (1.0 - p) * ((1.0 - p1) / (1.0 - limit)).ln();
            options.push((
                (target - st.promote_absolute) / drift,
                drift,
                format!("errors at the {} limit", pct(limit)),
            ));
        }
        let best = options
            .into_iter()
            .filter(|(n, d, _)| *d > 0.0 && n.is_finite())
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((n, _, what)) => {
                let rps = if r.seconds > 0.0 {
                    r.canary.0 as f64 / r.seconds
                } else {
                    0.0
                };
                let time = if rps > 0.0 {
                    format!(" (~{} s at this weight)", about(n / rps))
                } else {
                    String::new()
                };
                format!(
                    "need ~{} more canary requests{time} to rule out {what}",
                    about(n)
                )
            }
            None => format!(
                "canary errors {} vs stable {} do not yet rule out {factor}× stable's errors \
                 or the {} limit",
                ratio(t.canary),
                ratio(t.stable),
                pct(limit)
            ),
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

    fn verdict(&self, plan: &Plan, ev: &Evidence<'_>, due: bool) -> Verdict {
        let st = ev.strata;
        if st.canary.0 == 0 {
            return Verdict::Inconclusive("no canary traffic yet".into());
        }
        let recent = st.recent(plan.interval.max(Duration::from_secs(10)));
        let failed = self.failures(plan, ev, &recent);
        if !failed.is_empty() {
            return Verdict::Fail(failed.join("; "));
        }
        if let Some(why) = self.shared(plan, ev, &recent) {
            match plan.evidence.stable_over_limit {
                StableOverLimit::Hold => return Verdict::Inconclusive(why),
                StableOverLimit::Rollback => {
                    return Verdict::Fail(
                        why.replace("not the canary; holding", "policy: roll back"),
                    );
                }
                StableOverLimit::Proceed => {}
            }
        }
        let summary = self.summary(ev);
        if self.over(recent.canary, plan.max_error_rate) {
            return Verdict::Inconclusive(format!(
                "canary errors {} over the last {:.0}s, over the {} limit (stable {}): \
                 holding at {} until the comparison with stable decides",
                ratio((recent.canary.1, recent.canary.0)),
                recent.seconds,
                pct(plan.max_error_rate),
                pct(rate(recent.stable)),
                ev.weight
            ));
        }
        let suspicion = st.errors.sprt().log_lr;
        if due && suspicion >= self.hold_lr.ln() {
            return Verdict::Inconclusive(format!(
                "errors suspicious (LR {} ≥ {}), not stepping up: {summary}",
                lr_text(suspicion.exp()),
                lr_text(self.hold_lr)
            ));
        }
        Verdict::Pass(summary)
    }

    fn promotion(&self, plan: &Plan, ev: &Evidence<'_>) -> Result<String, String> {
        let alpha = (1.0 - plan.evidence.confidence).clamp(1e-9, 0.5);
        let e = ev.strata.promotion_log_e();
        let (factor, limit) = regression(plan);
        if e >= -alpha.ln() {
            Ok(format!(
                "rules out {factor}× stable's errors or the {} limit (e-value {} ≥ {})",
                pct(limit),
                lr_text(e.exp()),
                lr_text(1.0 / alpha)
            ))
        } else {
            Err(self.still_needed(plan, ev, alpha))
        }
    }

    fn split_mismatch(&self, ev: &Evidence<'_>) -> Option<SplitMismatch> {
        ev.strata.split.mismatch(self.split_alpha)
    }
}

#[cfg(test)]
mod tests;
