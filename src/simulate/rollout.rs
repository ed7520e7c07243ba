//! One simulated rollout through the real core: the same `update` the TUI and headless mode
//! run (provider event, metrics batches, ticks, write results), with the router and the
//! clock replaced by this loop. No sockets, no sleeping: one loop turn is one second.

use super::scenario::Storyline;
use super::traffic::Traffic;
use crate::app::App;
use crate::domain::change::{RouterChange, WriteDone, WriteOk};
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use crate::driver::{Judge, Outcome};
use crate::effect::Effect;
use crate::msg::{Msg, ProviderEvent};
use crate::update::update;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A run that has not ended after this long is reported as undecided.
pub const MAX_SECONDS: u64 = 1800;

/// How one simulated rollout ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunResult {
    /// Promoted, rolled back, or `None` when undecided after [`MAX_SECONDS`].
    pub outcome: Option<Outcome>,
    /// Seconds from the plan's start to the end (or to the cap).
    pub seconds: u64,
    /// Canary-caused failed requests until the end: the blast radius.
    pub caused_errors: u64,
    /// Canary-caused requests over the latency limit until the end.
    pub caused_slow: u64,
    /// Canary requests served until the end.
    pub canary_served: u64,
    /// Second of the plan's first step (the canary's first traffic).
    pub first_step_at: Option<u64>,
    /// Second the sample-ratio check first flagged the split.
    pub split_at: Option<u64>,
}

/// A plan held by a split mismatch this long is not going anywhere: the run ends there
/// (undecided), which the report counts as held.
pub const SPLIT_HOLD_SECONDS: u64 = 60;

const CANARY: &str = "canary";
const STABLE: &str = "stable";

fn rollout(key: &RolloutKey) -> Rollout {
    let build = |role, name: &str, weight| Build {
        role,
        name: name.to_string(),
        version: None,
        weight,
        selector: name.to_string(),
    };
    Rollout::new(
        key.clone(),
        Owner::Autopilot,
        vec![
            build(Role::Stable, STABLE, Weight::FULL),
            build(Role::Canary, CANARY, Weight::ZERO),
        ],
    )
}

/// Seed of second `sec` of run `run`: both judges draw the same numbers for the same
/// second, so they meet identical traffic for as long as their weights agree.
fn second_seed(seed: u64, sec: u64) -> u64 {
    crate::demo::mix(seed ^ crate::demo::mix(sec))
}

/// Runs one rollout of `plan` under `judge` on `traffic`, seeded by `seed`.
pub fn run(plan: &Plan, judge: Arc<dyn Judge>, traffic: &Traffic, seed: u64) -> RunResult {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let at = |sec: u64| t0 + Duration::from_secs(sec);
    let mut app = App::new(t0, plan.clone());
    app.judge = judge;
    let source = SourceId("simulate".into());
    let key = RolloutKey::new(ProviderKind::Demo, "simulated");
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Upsert {
            source: source.clone(),
            rollout: Box::new(rollout(&key)),
        }),
    );
    let mut weight = Weight::ZERO;
    let mut result = RunResult::default();
    let mut story = Storyline::new(traffic.story, seed);
    let holds_on_split = app.judge.sequential();
    for sec in 1..=MAX_SECONDS {
        let now: SystemTime = at(sec);
        let mut rng = ChaCha8Rng::seed_from_u64(second_seed(seed, sec));
        let conditions = story.at(&mut rng, sec, weight.percent() / 100.0, traffic.rps());
        let s = traffic.second(&mut rng, &conditions);
        result.caused_errors += s.caused_errors;
        result.caused_slow += s.caused_slow;
        result.canary_served += s.canary.requests;
        let mut builds = BTreeMap::new();
        builds.insert(CANARY.to_string(), s.canary);
        builds.insert(STABLE.to_string(), s.stable);
        let mut samples = BTreeMap::new();
        samples.insert(key.clone(), builds);
        update(
            &mut app,
            Msg::Metrics(MetricsBatch {
                source: source.clone(),
                at: now,
                samples,
            }),
        );
        for effect in update(&mut app, Msg::Tick(now)) {
            let Effect::Write(req) = effect else {
                continue;
            };
            // The simulated router applies every write at once and reads it back.
            if let RouterChange::CanaryWeight(w) = req.change {
                weight = w;
            }
            update(
                &mut app,
                Msg::WriteDone(WriteDone {
                    op: req.op,
                    target: req.target,
                    command: req.command,
                    origin: req.origin,
                    result: Ok(WriteOk {
                        canary_weight: Some(weight),
                        note: None,
                        version: None,
                    }),
                }),
            );
        }
        result.seconds = sec;
        if result.first_step_at.is_none() && weight > Weight::ZERO {
            result.first_step_at = Some(sec);
        }
        let ap = app.rollouts.get(&key).and_then(|t| t.autopilot.as_ref());
        if result.split_at.is_none() && ap.is_some_and(|ap| ap.split_mismatch().is_some()) {
            result.split_at = Some(sec);
        }
        let outcome = ap.and_then(|ap| ap.outcome);
        if outcome.is_some() {
            result.outcome = outcome;
            break;
        }
        if holds_on_split
            && result
                .split_at
                .is_some_and(|t| sec >= t + SPLIT_HOLD_SECONDS)
        {
            break;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::{StatJudge, ThresholdJudge};
    use crate::simulate::traffic::SCENARIOS;

    #[test]
    fn a_healthy_rollout_promotes_on_schedule_and_a_bad_one_rolls_back() {
        let plan = Plan::default(); // step 10 to 50 every 5 s
        let healthy = Traffic::new(&SCENARIOS[0], 1000, 500.0);
        let r = run(&plan, Arc::new(ThresholdJudge), &healthy, 1);
        assert_eq!(r.outcome, Some(Outcome::Promoted));
        // First step at 5 s, 10→50 in four more intervals, promote at the fifth: 30 s.
        assert_eq!(r.seconds, 30);
        assert_eq!(r.caused_errors, 0);
        let bad = Traffic::new(&SCENARIOS[4], 1000, 500.0);
        let t = run(&plan, Arc::new(ThresholdJudge), &bad, 1);
        assert_eq!(t.outcome, Some(Outcome::RolledBack));
        // Three failed checks at 10 %: 10, 15, 20 s.
        assert_eq!(t.seconds, 20);
        let s = run(&plan, Arc::new(StatJudge::default()), &bad, 1);
        assert_eq!(s.outcome, Some(Outcome::RolledBack));
        assert!(s.seconds <= 7, "{s:?}");
        assert!(s.caused_errors * 5 < t.caused_errors, "{s:?} vs {t:?}");
    }

    #[test]
    fn the_same_seed_replays_the_same_run() {
        let plan = Plan::default();
        let traffic = Traffic::new(&SCENARIOS[2], 100, 500.0);
        let a = run(&plan, Arc::new(StatJudge::default()), &traffic, 77);
        let b = run(&plan, Arc::new(StatJudge::default()), &traffic, 77);
        assert_eq!(a, b);
    }
}
