//! On each tick, ask the driver what each autopilot rollout should do, and what the judge
//! advises on the rollouts it only advises on (never a write for those).

use crate::app::{App, Level, SourceStatus};
use crate::domain::Weight;
use crate::domain::change::Command;
use crate::domain::observation::MarkerKind;
use crate::domain::observation::SourceId;
use crate::driver::{Autopilot, Check, Move, Observed, decide};
use crate::effect::Effect;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Fail safe: a metrics source that just failed holds the plan now, not once its last
/// sample has aged past `stale_after` (the evidence may be from a dying source).
fn stale(
    sources: &BTreeMap<SourceId, SourceStatus>,
    now: SystemTime,
    stale_after: Duration,
    metrics_source: Option<&SourceId>,
    ap: &Autopilot,
) -> Option<String> {
    match metrics_source
        .and_then(|s| sources.get(s))
        .and_then(|s| s.last_error.as_ref())
    {
        Some(err) => Some(format!("holding: metrics stale ({err})")),
        None => ap
            .last_sample_at
            .map(|at| now.duration_since(at).unwrap_or_default())
            .filter(|age| *age > stale_after)
            .map(|age| format!("holding: metrics stale ({:.0}s old)", age.as_secs_f64())),
    }
}

/// Asks the judge about every rollout it advises on, once metrics have reached it (without
/// them there is nothing to say). Only the advice changes: no effect is returned, so nothing
/// here can write.
fn advise(app: &mut App) {
    let (now, stale_after) = (app.now, app.stale_after);
    for key in &app.driven {
        let Some(t) = app.rollouts.get_mut(key) else {
            continue;
        };
        let (Some(a), Some(source)) = (t.adviser.as_mut(), t.metrics_source.as_ref()) else {
            continue;
        };
        let weight = t.rollout.canary_weight();
        match stale(&app.sources, now, stale_after, Some(source), &a.memory) {
            Some(why) => a.stale(why.replacen("holding", "no verdict", 1), now),
            None => a.advise(&t.plan, app.judge.as_ref(), weight, stale_after, now),
        }
    }
}

/// Runs `decide` for every autopilot rollout with no write in flight.
pub fn tick(app: &mut App) -> Vec<Effect> {
    if app.should_quit || app.shutdown.is_some() {
        // Shutting down: writes in flight drain, nothing new starts.
        return Vec::new();
    }
    let rollouts = &app.rollouts;
    app.driven.retain(|k| rollouts.contains_key(k));
    advise(app);
    let now = app.now;
    let mut effects = Vec::new();
    // Only plans that can move this tick: most rollouts have a controller (or a finished or
    // paused plan) and are not even visited.
    let keys: Vec<_> = app
        .driven
        .iter()
        .filter(|k| {
            app.rollouts.get(*k).is_some_and(|t| {
                t.pending.is_none()
                    && t.autopilot
                        .as_ref()
                        .is_some_and(|ap| ap.outcome.is_none() && !ap.paused)
            })
        })
        .cloned()
        .collect();
    for key in keys {
        let Some(t) = app.rollouts.get_mut(&key) else {
            continue;
        };
        if t.pending.is_some() {
            continue;
        }
        let Some(ap) = t.autopilot.as_ref() else {
            continue;
        };
        if ap.outcome.is_some() || ap.paused {
            // Finished or paused plans keep their last *why* (the rollback reason, the
            // failed write, the operator's pause).
            continue;
        }
        if let Some(why) = stale(
            &app.sources,
            now,
            app.stale_after,
            t.metrics_source.as_ref(),
            ap,
        ) {
            // After any gap a step needs a full interval of fresh samples: the window
            // restarts at the first fresh batch, which itself is not counted.
            if let Some(ap) = t.autopilot.as_mut() {
                ap.gap = true;
                ap.reset_window(now);
            }
            t.rollout.message = format!("{why}; the interval restarts when fresh samples return");
            continue;
        }
        let decision = decide(
            &t.plan,
            &Observed {
                weight: t.rollout.canary_weight(),
                autopilot: ap,
                judge: app.judge.as_ref(),
                stale_after: app.stale_after,
            },
            now,
        );
        let Some(ap) = t.autopilot.as_mut() else {
            continue;
        };
        match decision.check {
            Some(Check::Failed) => {
                ap.failed_checks += 1;
                ap.reset_window(now);
                t.series.mark(
                    now,
                    MarkerKind::CheckFailed,
                    format!("✗{}", ap.failed_checks),
                );
                if decision.action != Move::Rollback {
                    t.event(now, Level::Warn, decision.message.clone());
                }
            }
            Some(Check::Passed) => ap.reset_window(now),
            None => {}
        }
        t.rollout.message = decision.message.clone();
        let command = match decision.action {
            Move::Hold => None,
            Move::SetWeight(w) => Some(Command::SetWeight(w)),
            Move::Promote => Some(Command::Promote),
            Move::Rollback => Some(Command::Abort),
        };
        if let Some(command) = command {
            if matches!(command, Command::Abort) {
                t.event(now, Level::Error, decision.message.clone());
            }
            let requested = match command {
                Command::SetWeight(w) => w,
                Command::Promote => Weight::FULL,
                _ => Weight::ZERO,
            };
            effects.extend(super::operator::autopilot_write(
                app, &key, command, requested,
            ));
        }
    }
    effects
}
