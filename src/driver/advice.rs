//! The judge as an adviser, for rollouts whose controller has no metric analysis of its own
//! (OpenKruise Rollouts). The controller drives; aviary gathers the same evidence its
//! autopilot would, asks [`decide`] what it would do, and turns the answer into words for
//! the operator. Nothing here can write: an [`Advice`] is data for the screen, never a move.

use super::{Autopilot, Check, Judge, Move, Observed, decide};
use crate::domain::{Plan, Weight};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// What the judge would do if it drove the rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdviceKind {
    /// It would roll back: the canary is worse than stable or over the plan's limits.
    Abort,
    /// The last check passed: it would take the next step.
    Proceed,
    /// No verdict yet (no traffic, too little evidence, stale metrics).
    Wait,
}

impl AdviceKind {
    /// The badge's word, `None` where there is nothing to flag.
    pub fn badge(self) -> Option<&'static str> {
        match self {
            AdviceKind::Abort => Some("judge: abort"),
            AdviceKind::Proceed => Some("judge: ok"),
            AdviceKind::Wait => None,
        }
    }
}

/// The judge's advice with its why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// What the judge would do.
    pub kind: AdviceKind,
    /// Why, in words: the evidence the verdict rests on.
    pub why: String,
}

/// The adviser's memory for one rollout: the evidence an autopilot would hold, and the last
/// advice. Owned by `App`, changed only in `update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Adviser {
    /// Evidence, windows and failed checks, exactly as the autopilot keeps them.
    pub memory: Autopilot,
    /// The advice in force.
    pub advice: Option<Advice>,
}

/// "canary errors 4.1% vs stable 0.3%" over the run so far, when both builds had traffic.
fn comparison(ap: &Autopilot) -> Option<String> {
    let c = ap.run.canary.error_rate()?;
    let s = ap.run.stable.error_rate()?;
    Some(format!(
        "canary errors {:.1}% vs stable {:.1}%",
        c * 100.0,
        s * 100.0
    ))
}

/// The evidence part of a decision's message ("rolled back: X" → "X").
fn evidence(message: &str) -> &str {
    message.split_once(": ").map_or(message, |(_, e)| e)
}

impl Adviser {
    /// A fresh adviser starting at `now`.
    pub fn new(now: SystemTime) -> Self {
        Adviser {
            memory: Autopilot::new(now, false),
            advice: None,
        }
    }

    /// Asks the judge at `now`, with the canary at `weight`. The advice changes only when a
    /// check is taken (or the judge would roll back), so it does not flicker between checks;
    /// an abort stands until the rollout ends and the adviser is dropped.
    pub fn advise(
        &mut self,
        plan: &Plan,
        judge: &dyn Judge,
        weight: Weight,
        stale_after: Duration,
        now: SystemTime,
    ) {
        if self
            .advice
            .as_ref()
            .is_some_and(|a| a.kind == AdviceKind::Abort)
        {
            return;
        }
        if weight == Weight::ZERO {
            // The autopilot would take a first step here; an adviser has nothing to judge.
            self.wait("no canary traffic to judge yet".into());
            return;
        }
        let d = decide(
            plan,
            &Observed {
                weight,
                autopilot: &self.memory,
                judge,
                stale_after,
            },
            now,
        );
        match d.check {
            Some(Check::Failed) => {
                self.memory.failed_checks += 1;
                self.memory.reset_window(now);
            }
            Some(Check::Passed) => self.memory.reset_window(now),
            None => {}
        }
        let with_numbers = |e: &str| match comparison(&self.memory) {
            Some(c) => format!("{c}; {e}"),
            None => e.to_string(),
        };
        match d.action {
            Move::Rollback => {
                self.advice = Some(Advice {
                    kind: AdviceKind::Abort,
                    why: with_numbers(evidence(&d.message)),
                });
            }
            Move::SetWeight(_) | Move::Promote => {
                self.advice = Some(Advice {
                    kind: AdviceKind::Proceed,
                    why: with_numbers(evidence(&d.message)),
                });
            }
            Move::Hold if d.check == Some(Check::Failed) => {
                // A failed check short of the threshold: no longer "ok", not yet "abort".
                self.advice = Some(Advice {
                    kind: AdviceKind::Wait,
                    why: d.message,
                });
            }
            // An adviser holds nothing: "holding at 20%: need …" reads "no verdict at 20%: …".
            Move::Hold => self.wait(match d.message.strip_prefix("holding") {
                Some(rest) => format!("no verdict{rest}"),
                None => d.message,
            }),
        }
    }

    /// Metrics went stale: the evidence window restarts when fresh samples return (as the
    /// autopilot's does), and an "ok" from before the gap no longer stands. An abort does: its
    /// evidence was real.
    pub fn stale(&mut self, why: String, now: SystemTime) {
        self.memory.gap = true;
        self.memory.reset_window(now);
        if self
            .advice
            .as_ref()
            .is_none_or(|a| a.kind != AdviceKind::Abort)
        {
            self.advice = Some(Advice {
                kind: AdviceKind::Wait,
                why,
            });
        }
    }

    /// Says why there is no verdict, unless a verdict from the last check stands.
    fn wait(&mut self, why: String) {
        if self
            .advice
            .as_ref()
            .is_none_or(|a| a.kind == AdviceKind::Wait)
        {
            self.advice = Some(Advice {
                kind: AdviceKind::Wait,
                why,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::observation::BuildSample;
    use crate::driver::ThresholdJudge;
    use std::time::UNIX_EPOCH;

    fn t(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn sample(req: u64, err: u64) -> BuildSample {
        BuildSample {
            period_s: 1.0,
            requests: req,
            errors: err,
            ..Default::default()
        }
    }

    const STALE: Duration = Duration::from_secs(3);

    #[test]
    fn a_failing_canary_is_advised_abort_after_the_plans_threshold() {
        let plan = Plan::default();
        let w = Weight::from_whole(20).unwrap();
        let mut a = Adviser::new(t(0));
        for i in 1..=20 {
            a.memory.observe(
                t(i),
                Some(w),
                &plan,
                Some(&sample(1000, 41)),
                Some(&sample(4000, 12)),
            );
            a.advise(&plan, &ThresholdJudge, w, STALE, t(i));
        }
        let advice = a.advice.unwrap();
        assert_eq!(advice.kind, AdviceKind::Abort);
        assert!(
            advice
                .why
                .starts_with("canary errors 4.1% vs stable 0.3%; check failed 3/3"),
            "{}",
            advice.why
        );
    }

    #[test]
    fn a_healthy_canary_is_ok_between_checks_and_no_traffic_is_no_verdict() {
        let plan = Plan::default();
        let w = Weight::from_whole(20).unwrap();
        let mut a = Adviser::new(t(0));
        a.advise(&plan, &ThresholdJudge, Weight::ZERO, STALE, t(1));
        assert_eq!(a.advice.as_ref().unwrap().kind, AdviceKind::Wait);
        for i in 1..=7 {
            a.memory.observe(
                t(i),
                Some(w),
                &plan,
                Some(&sample(100, 0)),
                Some(&sample(400, 1)),
            );
            a.advise(&plan, &ThresholdJudge, w, STALE, t(i));
        }
        // The check at 5 s passed; at 7 s the next one is not due and the "ok" stands.
        let advice = a.advice.unwrap();
        assert_eq!(advice.kind, AdviceKind::Proceed, "{}", advice.why);
        assert!(advice.why.contains("≤ 1.0%"), "{}", advice.why);
    }
}
