//! Judges decide whether the canary is healthy on the evidence of one window.
//!
//! The autopilot asks a [`Judge`] for a [`Verdict`] every tick; the threshold judge answers
//! only at interval ends (Flagger's policy), a statistical judge may answer as soon as the
//! evidence is strong. Both plug in behind the same trait.

use super::stat::Strata;
use super::stat::srm::SplitMismatch;
use crate::domain::observation::LatencyHistogram;
use crate::domain::{Plan, Weight};
use serde::{Deserialize, Serialize};
use std::fmt::Debug;

/// Traffic counted for one build over a window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Latency distribution when the source has one.
    pub latency: Option<LatencyHistogram>,
    /// Highest per-sample p99 seen, for sources with no histogram (HAProxy averages).
    pub p99_max_ms: Option<f64>,
}

impl Counts {
    /// Adds one sample's counts.
    pub fn add(&mut self, s: &crate::domain::observation::BuildSample) {
        self.requests = self.requests.saturating_add(s.requests);
        self.errors = self.errors.saturating_add(s.errors);
        if let Some(h) = &s.latency {
            self.latency
                .get_or_insert_with(LatencyHistogram::default)
                .merge(h);
        }
        if let Some(p) = s.p99_ms {
            self.p99_max_ms = Some(self.p99_max_ms.map_or(p, |m: f64| m.max(p)));
        }
    }

    /// Error ratio, `None` without traffic.
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors as f64 / self.requests as f64)
    }

    /// p99 in ms: from the histogram when there is one, else the highest sample p99.
    pub fn p99_ms(&self) -> Option<f64> {
        self.latency
            .as_ref()
            .and_then(|h| h.quantile(0.99))
            .or(self.p99_max_ms)
    }
}

/// Evidence gathered since the last check, canary and stable on the same time window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Canary traffic.
    pub canary: Counts,
    /// Stable traffic.
    pub stable: Counts,
}

/// Everything a judge may read at one tick.
#[derive(Clone, Copy, Debug)]
pub struct Evidence<'a> {
    /// Since the last check (what the threshold judge reads).
    pub window: &'a Window,
    /// Since the plan run started.
    pub run: &'a Window,
    /// The run refresh by refresh (what the statistical judge reads).
    pub strata: &'a Strata,
    /// The canary's weight now.
    pub weight: Weight,
}

/// A judge's answer, with the evidence in words for the UI's *why*.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Verdict {
    /// The canary is healthy enough to take the next step.
    Pass(String),
    /// The canary is worse than allowed.
    Fail(String),
    /// Not enough evidence yet; hold.
    Inconclusive(String),
}

/// Decides on a window. `due` is true once a full interval has passed since the last check.
pub trait Judge: Send + Sync + Debug {
    /// Short name for `--judge` and the UI.
    fn name(&self) -> &'static str;
    /// The verdict on the evidence under `plan`'s limits.
    fn verdict(&self, plan: &Plan, evidence: &Evidence<'_>, due: bool) -> Verdict;
    /// Whether the evidence allows promotion (or, with `plan.evidence.every_step`, a step up):
    /// `Ok` with what it rules out, or `Err` with what is still needed. Judges without such
    /// evidence always allow it.
    fn promotion(&self, _plan: &Plan, _evidence: &Evidence<'_>) -> Result<String, String> {
        Ok(String::new())
    }
    /// A split that does not match the weight set, if this judge checks it.
    fn split_mismatch(&self, _evidence: &Evidence<'_>) -> Option<SplitMismatch> {
        None
    }
    /// A sequential judge reads all evidence since the plan run started (not just this
    /// interval), and its `Fail` is final: its test already bounds the false-alarm rate, so
    /// the driver rolls back at once instead of counting failed checks to `plan.threshold`.
    fn sequential(&self) -> bool {
        false
    }
}

/// Flagger's policy: at each interval end, fail if the canary's error rate or p99 is above
/// the plan's fixed limit.
#[derive(Clone, Copy, Debug, Default)]
pub struct ThresholdJudge;

impl Judge for ThresholdJudge {
    fn name(&self) -> &'static str {
        "threshold"
    }

    fn verdict(&self, plan: &Plan, evidence: &Evidence<'_>, due: bool) -> Verdict {
        let window = evidence.window;
        if !due {
            return Verdict::Inconclusive("waiting for the interval to end".into());
        }
        let c = &window.canary;
        let Some(rate) = c.error_rate() else {
            return Verdict::Inconclusive("no canary traffic in this interval".into());
        };
        let limit_ms = plan.max_p99.as_secs_f64() * 1000.0;
        if rate > plan.max_error_rate {
            return Verdict::Fail(format!(
                "canary error rate {:.1}% > {:.1}% ({}/{} requests)",
                rate * 100.0,
                plan.max_error_rate * 100.0,
                c.errors,
                c.requests
            ));
        }
        if let Some(p99) = c.p99_ms()
            && p99 > limit_ms
        {
            return Verdict::Fail(format!("canary p99 {p99:.0}ms > {limit_ms:.0}ms"));
        }
        let p99 = c
            .p99_ms()
            .map(|p| format!(", p99 {p:.0}ms ≤ {limit_ms:.0}ms"))
            .unwrap_or_default();
        Verdict::Pass(format!(
            "canary error rate {:.1}% ≤ {:.1}%{p99}",
            rate * 100.0,
            plan.max_error_rate * 100.0
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::BuildSample;

    fn window(req: u64, err: u64, p99: Option<f64>) -> Window {
        let mut w = Window::default();
        w.canary.add(&BuildSample {
            period_s: 5.0,
            requests: req,
            errors: err,
            p99_ms: p99,
            ..Default::default()
        });
        w
    }

    fn judge(p: &Plan, w: &Window, due: bool) -> Verdict {
        let strata = Strata::default();
        let ev = Evidence {
            window: w,
            run: w,
            strata: &strata,
            weight: Weight::ZERO,
        };
        ThresholdJudge.verdict(p, &ev, due)
    }

    #[test]
    fn threshold_judge_fails_on_error_rate_and_p99() {
        let p = Plan::default();
        assert!(
            matches!(judge(&p, &window(100, 10, Some(30.0)), true), Verdict::Fail(m) if m.contains("10.0% > 1.0%"))
        );
        assert!(
            matches!(judge(&p, &window(100, 0, Some(800.0)), true), Verdict::Fail(m) if m.contains("p99 800ms > 500ms"))
        );
        assert!(matches!(
            judge(&p, &window(100, 1, Some(30.0)), true),
            Verdict::Pass(_)
        ));
    }

    #[test]
    fn threshold_judge_waits_for_the_interval_and_for_traffic() {
        let p = Plan::default();
        assert!(matches!(
            judge(&p, &window(100, 90, None), false),
            Verdict::Inconclusive(_)
        ));
        assert!(
            matches!(judge(&p, &window(0, 0, None), true), Verdict::Inconclusive(m) if m.contains("no canary traffic"))
        );
    }
}
