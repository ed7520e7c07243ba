//! The autopilot: a pure decision per tick for routers that have no controller of their own.
//!
//! `update` owns the [`Autopilot`] state and feeds it samples; [`decide`] reads it and says
//! what to do next. No I/O and no clock: `now` is passed in, so tests and the simulator run
//! in simulated time.

pub mod advice;
pub mod judge;
pub mod stat;

pub use advice::{Advice, AdviceKind, Adviser};
pub use judge::{Counts, Evidence, Judge, ThresholdJudge, Verdict, Window};
pub use stat::srm::{SplitCheck, SplitMismatch};
pub use stat::{StatJudge, Strata};

use crate::domain::observation::BuildSample;
use crate::domain::{Plan, Weight};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// How a plan ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The canary reached 100 %.
    Promoted,
    /// The autopilot rolled back after failed checks.
    RolledBack,
    /// An operator aborted.
    Aborted,
}

impl Outcome {
    /// Text for JSON and the UI.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Aborted => "aborted",
        }
    }
}

/// The autopilot's memory for one rollout, owned by `App` and changed only in `update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Autopilot {
    /// Operator hold.
    pub paused: bool,
    /// Failed checks at the current plan run.
    pub failed_checks: u32,
    /// Start of the current evidence window.
    pub window_start: SystemTime,
    /// Evidence since `window_start`.
    pub window: Window,
    /// Evidence since the plan run started, never reset by checks or steps: what a
    /// sequential judge reads.
    pub run: Window,
    /// The same run refresh by refresh: the sequential tests' running sums.
    pub strata: Strata,
    /// When the plan ended, and how.
    pub outcome: Option<Outcome>,
    /// When the last metrics sample arrived.
    pub last_sample_at: Option<SystemTime>,
    /// Metrics went stale: the window restarts at the first fresh sample, and the batch that
    /// straddles the gap is not evidence (a rate over a hole undercounts).
    #[serde(default)]
    pub gap: bool,
    /// Paused because the router reported a weight aviary did not set: (router's, aviary's).
    #[serde(default)]
    pub drift: Option<(Weight, Weight)>,
}

impl Autopilot {
    /// A fresh plan run starting at `now`.
    pub fn new(now: SystemTime, paused: bool) -> Self {
        Autopilot {
            paused,
            failed_checks: 0,
            window_start: now,
            window: Window::default(),
            run: Window::default(),
            strata: Strata::default(),
            outcome: None,
            last_sample_at: None,
            gap: false,
            drift: None,
        }
    }

    /// Adds one refresh worth of samples, served while the router was told `weight` (`None`
    /// while a weight write is in flight).
    pub fn observe(
        &mut self,
        at: SystemTime,
        weight: Option<Weight>,
        plan: &Plan,
        canary: Option<&BuildSample>,
        stable: Option<&BuildSample>,
    ) {
        self.strata.observe(at, weight, plan, canary, stable);
        if let Some(c) = canary {
            self.window.canary.add(c);
            self.run.canary.add(c);
        }
        if let Some(s) = stable {
            self.window.stable.add(s);
            self.run.stable.add(s);
        }
        self.last_sample_at = Some(at);
    }

    /// The canary's observed share against the weight set, once it mismatches (a badge for
    /// the UI). Checked on every rollout with an autopilot; it holds the plan only under a
    /// judge that checks it.
    pub fn split_mismatch(&self) -> Option<SplitMismatch> {
        self.strata.split.mismatch(stat::srm::ALPHA)
    }

    /// Starts a new evidence window (after a check or a weight change).
    pub fn reset_window(&mut self, now: SystemTime) {
        self.window = Window::default();
        self.window_start = now;
    }
}

/// What the autopilot sees at one instant.
#[derive(Debug)]
pub struct Observed<'a> {
    /// Canary weight on the router now.
    pub weight: Weight,
    /// The autopilot's memory.
    pub autopilot: &'a Autopilot,
    /// The judge in use.
    pub judge: &'a dyn Judge,
    /// Samples older than this are stale: hold.
    pub stale_after: Duration,
}

/// What to do with the weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Move {
    /// Leave the weight alone.
    Hold,
    /// Step to this canary weight.
    SetWeight(Weight),
    /// Canary to 100 %: the plan is done.
    Promote,
    /// Canary to 0 %: too many failed checks.
    Rollback,
}

/// Whether this tick consumed a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Check {
    /// The window passed; start a new one.
    Passed,
    /// The window failed; count it and start a new one.
    Failed,
}

/// The autopilot's decision, with the reason shown as the rollout's *why*.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// Weight move.
    pub action: Move,
    /// Check consumed this tick, if any.
    pub check: Option<Check>,
    /// Why, in words.
    pub message: String,
}

impl Decision {
    fn hold(message: impl Into<String>) -> Self {
        Decision {
            action: Move::Hold,
            check: None,
            message: message.into(),
        }
    }
}

/// The autopilot's rule: advance by `step` each `interval` while checks pass,
/// count failed checks, roll back at `threshold`, promote from `max_weight`; hold on
/// missing or stale metrics and say why. A sequential judge (the statistical one) is asked
/// about the whole run's evidence and its first `Fail` rolls back at once.
pub fn decide(plan: &Plan, obs: &Observed<'_>, now: SystemTime) -> Decision {
    let ap = obs.autopilot;
    if let Some(outcome) = ap.outcome {
        return Decision::hold(format!("plan finished: {}", outcome.as_str()));
    }
    if ap.paused {
        return Decision::hold("paused by operator");
    }
    let elapsed = now.duration_since(ap.window_start).unwrap_or_default();
    let due = elapsed >= plan.interval;
    match ap.last_sample_at {
        None => return Decision::hold("holding: no metrics yet"),
        Some(at) => {
            let age = now.duration_since(at).unwrap_or_default();
            if age > obs.stale_after {
                return Decision::hold(format!(
                    "holding: metrics stale ({:.0}s old)",
                    age.as_secs_f64()
                ));
            }
        }
    }
    if obs.weight == Weight::ZERO {
        // No canary traffic exists to judge before the first step; take it on schedule, but
        // only while metrics flow, so a plan never moves live traffic with nothing watching.
        return if due {
            Decision {
                action: Move::SetWeight(obs.weight.saturating_add(plan.step, plan.max_weight)),
                check: Some(Check::Passed),
                message: format!("starting the plan: first step to {}", plan.step),
            }
        } else {
            Decision::hold(format!(
                "first step in {:.0}s",
                (plan.interval - elapsed).as_secs_f64().ceil()
            ))
        };
    }
    let sequential = obs.judge.sequential();
    let ev = Evidence {
        window: if sequential { &ap.run } else { &ap.window },
        run: &ap.run,
        strata: &ap.strata,
        weight: obs.weight,
    };
    let verdict = obs.judge.verdict(plan, &ev, due);
    let next_check = || (plan.interval - elapsed).as_secs_f64().ceil();
    if !matches!(verdict, Verdict::Fail(_))
        && let Some(m) = obs.judge.split_mismatch(&ev)
    {
        // Every comparison assumes the router splits as told; a failing canary still rolls
        // back, anything else waits for the split to be fixed.
        return Decision::hold(format!(
            "holding at {}: split mismatch: {}, likelihood ratio {}; check the router",
            obs.weight,
            m.text,
            stat::lr_text(m.lr)
        ));
    }
    match verdict {
        Verdict::Fail(evidence) if sequential => Decision {
            action: Move::Rollback,
            check: Some(Check::Failed),
            message: format!("rolled back: {evidence}"),
        },
        Verdict::Fail(evidence) => {
            let failed = ap.failed_checks + 1;
            if failed >= plan.threshold {
                Decision {
                    action: Move::Rollback,
                    check: Some(Check::Failed),
                    message: format!(
                        "rolled back: check failed {failed}/{}: {evidence}",
                        plan.threshold
                    ),
                }
            } else {
                Decision {
                    action: Move::Hold,
                    check: Some(Check::Failed),
                    message: format!("check failed {failed}/{}: {evidence}", plan.threshold),
                }
            }
        }
        Verdict::Pass(evidence) if due => {
            let promote = obs.weight >= plan.max_weight;
            let gate = if promote || plan.evidence.every_step {
                obs.judge.promotion(plan, &ev)
            } else {
                Ok(String::new())
            };
            let proof = match gate {
                // No check consumed: the window stays due, so it is asked again every tick.
                Err(need) => {
                    return Decision::hold(format!(
                        "holding at {}: {need}; {evidence}",
                        obs.weight
                    ));
                }
                Ok(p) if p.is_empty() => String::new(),
                Ok(p) => format!("; {p}"),
            };
            if promote {
                Decision {
                    action: Move::Promote,
                    check: Some(Check::Passed),
                    message: format!("promoted: {evidence}{proof}"),
                }
            } else {
                let next = obs.weight.saturating_add(plan.step, plan.max_weight);
                Decision {
                    action: Move::SetWeight(next),
                    check: Some(Check::Passed),
                    message: format!("step to {next}: {evidence}{proof}"),
                }
            }
        }
        Verdict::Pass(evidence) => Decision::hold(format!(
            "no verdict yet, next check in {:.0}s: {evidence}",
            next_check()
        )),
        Verdict::Inconclusive(why) if due => Decision::hold(format!("holding: {why}")),
        Verdict::Inconclusive(why) if sequential => {
            Decision::hold(format!("next check in {:.0}s: {why}", next_check()))
        }
        Verdict::Inconclusive(_) => Decision::hold(format!("next check in {:.0}s", next_check())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn w(p: u8) -> Weight {
        Weight::from_whole(p).unwrap()
    }

    fn sample(req: u64, err: u64) -> BuildSample {
        BuildSample {
            period_s: 1.0,
            requests: req,
            errors: err,
            p99_ms: Some(30.0),
            ..Default::default()
        }
    }

    fn obs<'a>(weight: Weight, ap: &'a Autopilot) -> Observed<'a> {
        Observed {
            weight,
            autopilot: ap,
            judge: &ThresholdJudge,
            stale_after: Duration::from_secs(3),
        }
    }

    #[test]
    fn first_step_waits_one_interval_and_needs_live_metrics() {
        let plan = Plan::default();
        let mut ap = Autopilot::new(t(0), false);
        let d = decide(&plan, &obs(Weight::ZERO, &ap), t(5));
        assert_eq!(d.action, Move::Hold, "no metrics: never move live traffic");
        assert!(d.message.contains("no metrics"), "{}", d.message);
        ap.observe(t(4), Some(w(10)), &plan, None, Some(&sample(100, 0)));
        assert_eq!(
            decide(&plan, &obs(Weight::ZERO, &ap), t(1)).action,
            Move::Hold
        );
        assert_eq!(
            decide(&plan, &obs(Weight::ZERO, &ap), t(5)).action,
            Move::SetWeight(w(10))
        );
    }

    #[test]
    fn passing_check_advances_by_one_step_and_promotes_from_max() {
        let plan = Plan::default();
        let mut ap = Autopilot::new(t(0), false);
        ap.observe(
            t(5),
            Some(w(10)),
            &plan,
            Some(&sample(100, 0)),
            Some(&sample(900, 0)),
        );
        assert_eq!(decide(&plan, &obs(w(10), &ap), t(3)).action, Move::Hold);
        let d = decide(&plan, &obs(w(10), &ap), t(5));
        assert_eq!(d.action, Move::SetWeight(w(20)));
        assert_eq!(d.check, Some(Check::Passed));
        assert_eq!(decide(&plan, &obs(w(50), &ap), t(5)).action, Move::Promote);
    }

    #[test]
    fn failed_checks_hold_then_roll_back_at_threshold() {
        let plan = Plan::default();
        let mut ap = Autopilot::new(t(0), false);
        ap.observe(t(5), Some(w(10)), &plan, Some(&sample(100, 10)), None);
        let d = decide(&plan, &obs(w(20), &ap), t(5));
        assert_eq!((d.action, d.check), (Move::Hold, Some(Check::Failed)));
        assert!(d.message.contains("check failed 1/3"), "{}", d.message);
        ap.failed_checks = 2;
        let d = decide(&plan, &obs(w(20), &ap), t(5));
        assert_eq!(d.action, Move::Rollback);
        assert!(
            d.message.contains("error rate 10.0% > 1.0%"),
            "{}",
            d.message
        );
    }

    #[test]
    fn stale_or_missing_metrics_hold_and_say_why() {
        let plan = Plan::default();
        let ap = Autopilot::new(t(0), false);
        let d = decide(&plan, &obs(w(10), &ap), t(10));
        assert_eq!(d.action, Move::Hold);
        assert!(d.message.contains("no metrics"));
        let mut ap = Autopilot::new(t(0), false);
        ap.observe(t(1), Some(w(10)), &plan, Some(&sample(100, 0)), None);
        let d = decide(&plan, &obs(w(10), &ap), t(10));
        assert_eq!(d.action, Move::Hold);
        assert!(d.message.contains("stale"), "{}", d.message);
    }

    fn stat_obs<'a>(weight: Weight, ap: &'a Autopilot, judge: &'a StatJudge) -> Observed<'a> {
        Observed {
            weight,
            autopilot: ap,
            judge,
            stale_after: Duration::from_secs(3),
        }
    }

    #[test]
    fn a_sequential_fail_rolls_back_at_once_mid_interval() {
        let plan = Plan::default();
        let judge = StatJudge::default();
        let mut ap = Autopilot::new(t(0), false);
        ap.observe(
            t(2),
            Some(w(10)),
            &plan,
            Some(&sample(100, 12)),
            Some(&sample(900, 1)),
        );
        let d = decide(&plan, &stat_obs(w(10), &ap, &judge), t(2));
        assert_eq!((d.action, d.check), (Move::Rollback, Some(Check::Failed)));
        assert!(
            d.message.starts_with("rolled back: errors: canary 12/100"),
            "{}",
            d.message
        );
    }

    #[test]
    fn the_sequential_judge_reads_the_whole_run_across_window_resets() {
        let plan = Plan::default();
        let judge = StatJudge::default();
        let mut ap = Autopilot::new(t(0), false);
        // Each interval alone is too small to condemn a 3 % canary against 0.3 % stable...
        for i in 1..=6 {
            ap.observe(
                t(5 * i),
                Some(w(10)),
                &plan,
                Some(&sample(100, 3)),
                Some(&sample(900, 3)),
            );
            let d = decide(&plan, &stat_obs(w(10), &ap, &judge), t(5 * i));
            if d.action == Move::Rollback {
                // ...but together they are: rolled back within the run, not at interval 1.
                assert!(i > 1, "{}", d.message);
                assert_eq!(ap.run.canary.requests, 100 * i);
                return;
            }
            ap.reset_window(t(5 * i));
        }
        panic!("never rolled back");
    }

    #[test]
    fn the_sequential_judge_steps_on_schedule_and_shows_its_evidence() {
        let plan = Plan::default();
        let judge = StatJudge::default();
        let mut ap = Autopilot::new(t(0), false);
        ap.observe(
            t(3),
            Some(w(10)),
            &plan,
            Some(&sample(100, 0)),
            Some(&sample(900, 1)),
        );
        let d = decide(&plan, &stat_obs(w(10), &ap, &judge), t(3));
        assert_eq!(d.action, Move::Hold);
        assert!(d.message.contains("no verdict yet"), "{}", d.message);
        assert!(d.message.contains("canary errors 0/100"), "{}", d.message);
        let d = decide(&plan, &stat_obs(w(10), &ap, &judge), t(5));
        assert_eq!(d.action, Move::SetWeight(w(20)));
        assert!(d.message.starts_with("step to 20"), "{}", d.message);
    }

    #[test]
    fn a_split_mismatch_holds_with_the_split_in_the_why() {
        let plan = Plan::default();
        let judge = StatJudge::default();
        let mut ap = Autopilot::new(t(0), false);
        for i in 1..=10 {
            ap.observe(
                t(i),
                Some(w(30)),
                &plan,
                Some(&sample(15, 0)),
                Some(&sample(85, 0)),
            );
        }
        assert!(ap.split_mismatch().is_some(), "a badge for the UI");
        let d = decide(&plan, &stat_obs(w(30), &ap, &judge), t(10));
        assert_eq!(d.action, Move::Hold);
        assert!(
            d.message.starts_with(
                "holding at 30%: split mismatch: canary served 15.0% of requests at weight 30% (135/900)"
            ),
            "{}",
            d.message
        );
        // The threshold judge (Flagger's policy) does not hold on it.
        assert_eq!(
            decide(&plan, &obs(w(30), &ap), t(10)).action,
            Move::SetWeight(w(40))
        );
    }

    #[test]
    fn promotion_waits_for_evidence_and_says_how_much_more() {
        let plan = Plan::default();
        let judge = StatJudge::default();
        let mut ap = Autopilot::new(t(0), false);
        ap.observe(
            t(4),
            Some(w(50)),
            &plan,
            Some(&sample(50, 0)),
            Some(&sample(50, 0)),
        );
        ap.observe(
            t(5),
            Some(w(50)),
            &plan,
            Some(&sample(50, 0)),
            Some(&sample(50, 0)),
        );
        let d = decide(&plan, &stat_obs(w(50), &ap, &judge), t(5));
        assert_eq!((d.action.clone(), d.check), (Move::Hold, None));
        assert!(
            d.message.starts_with("holding at 50%: need ~"),
            "{}",
            d.message
        );
        for i in 6..=60 {
            ap.observe(
                t(i),
                Some(w(50)),
                &plan,
                Some(&sample(50, 0)),
                Some(&sample(50, 0)),
            );
        }
        let d = decide(&plan, &stat_obs(w(50), &ap, &judge), t(60));
        assert_eq!(d.action, Move::Promote, "{}", d.message);
        assert!(
            d.message.contains("rules out 4× stable's errors"),
            "{}",
            d.message
        );
    }

    #[test]
    fn paused_and_finished_plans_never_move() {
        let plan = Plan::default();
        let mut ap = Autopilot::new(t(0), true);
        ap.observe(t(5), Some(w(10)), &plan, Some(&sample(100, 0)), None);
        assert_eq!(decide(&plan, &obs(w(10), &ap), t(5)).action, Move::Hold);
        ap.paused = false;
        ap.outcome = Some(Outcome::RolledBack);
        assert_eq!(
            decide(&plan, &obs(Weight::ZERO, &ap), t(50)).action,
            Move::Hold
        );
    }
}
