//! Plans: the progressive plan aviary's autopilot drives on routers that have no controller,
//! and the plan a controller (Argo, Flagger) owns, carried verbatim for the screen.

use super::weight::Weight;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Step weight, ceiling, cadence and the limits a canary must stay under.
///
/// The defaults tell the demo's story on a projector in about a minute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Weight added per successful interval.
    pub step: Weight,
    /// Highest weight reached by stepping; passing checks there promote to 100 %.
    pub max_weight: Weight,
    /// Time between checks.
    #[serde(with = "humantime_serde_compat")]
    pub interval: Duration,
    /// Failed checks that trigger a rollback.
    pub threshold: u32,
    /// Highest tolerated canary error ratio (0.01 = 1 %).
    pub max_error_rate: f64,
    /// Highest tolerated canary p99 latency.
    #[serde(with = "humantime_serde_compat")]
    pub max_p99: Duration,
    /// What the statistical judge needs before promoting, and what it does when stable itself
    /// breaks a limit.
    #[serde(default)]
    pub evidence: EvidencePolicy,
}

/// What a statistical judge does when stable itself is over a fixed limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StableOverLimit {
    /// Hold at the current weight and say why: the canary is not to blame, but no step up
    /// while users already suffer.
    #[default]
    Hold,
    /// Keep judging the canary against stable and step as usual.
    Proceed,
    /// Treat it as a failure and roll the canary back.
    Rollback,
}

/// Evidence a statistical judge needs before giving the canary more traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvidencePolicy {
    /// Promote only once a canary error rate at or above the larger of this many times
    /// stable's and the error limit is ruled out.
    pub regression_factor: f64,
    /// Confidence of that ruling out: a canary at the regression is promoted with
    /// probability at most `1 - confidence`.
    pub confidence: f64,
    /// Ask for the same evidence before every step up, not only before promotion.
    pub every_step: bool,
    /// Stable itself over a limit.
    pub stable_over_limit: StableOverLimit,
}

impl Default for EvidencePolicy {
    fn default() -> Self {
        EvidencePolicy {
            regression_factor: 4.0,
            confidence: 0.95,
            every_step: false,
            stable_over_limit: StableOverLimit::Hold,
        }
    }
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            step: Weight::from_whole(10).unwrap_or(Weight::ZERO),
            max_weight: Weight::from_whole(50).unwrap_or(Weight::ZERO),
            interval: Duration::from_secs(5),
            threshold: 3,
            max_error_rate: 0.01,
            max_p99: Duration::from_millis(500),
            evidence: EvidencePolicy::default(),
        }
    }
}

/// Why a plan was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// A zero step would never move.
    #[error("step must be above 0 %")]
    ZeroStep,
    /// Max below step can never be reached.
    #[error("max weight {max} is below the step {step}")]
    MaxBelowStep {
        /// Max weight.
        max: Weight,
        /// Step.
        step: Weight,
    },
    /// Zero interval would spin.
    #[error("interval must be at least 100ms")]
    ShortInterval,
    /// Zero threshold would roll back without a failure.
    #[error("threshold must be at least 1")]
    ZeroThreshold,
    /// Error rate outside 0..=1.
    #[error("max error rate must be within 0..=100 %")]
    ErrorRate,
}

impl Plan {
    /// Checks the plan can make progress.
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.step == Weight::ZERO {
            return Err(PlanError::ZeroStep);
        }
        if self.max_weight < self.step {
            return Err(PlanError::MaxBelowStep {
                max: self.max_weight,
                step: self.step,
            });
        }
        if self.interval < Duration::from_millis(100) {
            return Err(PlanError::ShortInterval);
        }
        if self.threshold == 0 {
            return Err(PlanError::ZeroThreshold);
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err(PlanError::ErrorRate);
        }
        Ok(())
    }

    /// The weights the plan visits, in order (e.g. 10, 20, 30, 40, 50).
    pub fn steps(&self) -> Vec<Weight> {
        let mut out = Vec::new();
        let mut w = Weight::ZERO;
        while w < self.max_weight {
            w = w.saturating_add(self.step, self.max_weight);
            out.push(w);
        }
        out
    }

    /// Index (1-based) of the step at `weight`, or 0 before the first.
    pub fn step_index(&self, weight: Weight) -> usize {
        self.steps().iter().take_while(|s| **s <= weight).count()
    }
}

/// The plan as the controller that owns the rollout wrote it (Argo's `steps`, Flagger's
/// `analysis`), carried verbatim so the screen never shows aviary's defaults in its place.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ControllerPlan {
    /// Each step in the owner's words ("setWeight 20", "pause until promoted").
    pub steps: Vec<String>,
    /// Index into `steps` of the step in force, when the owner says.
    pub current: Option<usize>,
    /// When the current timed pause ends (Argo `pauseConditions[].startTime` + duration).
    #[serde(default)]
    pub pause_until: Option<std::time::SystemTime>,
    /// Settings and counters in the owner's field names (`interval 1m`, `failedChecks 2/5`,
    /// `match x-canary=insider`), in the order they are shown.
    pub facts: Vec<(String, String)>,
    /// Analysis runs and their phase (`background random-fail: Failed — metric "web" …`).
    pub analysis: Vec<String>,
    /// The owner's latest word on it: abort or degraded message, last condition message.
    pub status: Option<String>,
}

impl ControllerPlan {
    /// The value of a fact by its field name.
    pub fn fact(&self, name: &str) -> Option<&str> {
        self.facts
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Time left in a timed pause at `now` (zero once it has passed), `None` when the
    /// current step is not a timed pause.
    pub fn pause_left(&self, now: std::time::SystemTime) -> Option<Duration> {
        self.pause_until
            .map(|u| u.duration_since(now).unwrap_or_default())
    }
}

/// serde for `Duration` as humantime text ("5s"), kept local to avoid one more crate.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_steps_10_to_50() {
        let p = Plan::default();
        p.validate().unwrap();
        let steps: Vec<f64> = p.steps().iter().map(|w| w.percent()).collect();
        assert_eq!(steps, vec![10.0, 20.0, 30.0, 40.0, 50.0]);
        assert_eq!(p.step_index(Weight::from_whole(30).unwrap()), 3);
        assert_eq!(p.step_index(Weight::ZERO), 0);
    }

    #[test]
    fn uneven_step_is_capped_at_max() {
        let p = Plan {
            step: Weight::from_whole(15).unwrap(),
            max_weight: Weight::from_whole(40).unwrap(),
            ..Plan::default()
        };
        let steps: Vec<f64> = p.steps().iter().map(|w| w.percent()).collect();
        assert_eq!(steps, vec![15.0, 30.0, 40.0]);
    }

    #[test]
    fn impossible_plans_are_refused() {
        let bad = Plan {
            step: Weight::ZERO,
            ..Plan::default()
        };
        assert_eq!(bad.validate(), Err(PlanError::ZeroStep));
        let bad = Plan {
            threshold: 0,
            ..Plan::default()
        };
        assert_eq!(bad.validate(), Err(PlanError::ZeroThreshold));
    }
}
