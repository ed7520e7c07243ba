//! Operator and autopilot commands become writes (or local state changes), and write results
//! come back here. Refusals always say why.

use crate::app::{App, Level, PendingOp, Tracked};
use crate::domain::change::{
    Command, LocalAction, OpId, Origin, RouterChange, WriteDone, WriteRequest,
};
use crate::domain::observation::MarkerKind;
use crate::domain::weight::validate_for;
use crate::domain::{Owner, Phase, Weight};
use crate::driver::{Autopilot, Outcome};
use crate::effect::Effect;

/// The command `p` means for this rollout now: pause when running, resume when paused.
pub fn command_for(t: &Tracked) -> Command {
    let paused = match &t.autopilot {
        Some(ap) => ap.paused,
        None => t.rollout.phase == Phase::Paused,
    };
    if paused {
        Command::Resume
    } else {
        Command::Pause
    }
}

/// Why `command` cannot run on `t` now, if it cannot.
pub fn refusal(app: &App, t: &Tracked, command: Command) -> Option<String> {
    if app.read_only {
        return Some("read-only mode (--read-only): no writes".into());
    }
    if app.shutdown.is_some() || app.should_quit {
        return Some("aviary is quitting: no new writes".into());
    }
    if let Err(reason) = t.rollout.capabilities.check(command.kind()) {
        return Some(reason.to_string());
    }
    if let Some(p) = &t.pending {
        return Some(format!(
            "a write is in flight ({})",
            p.command.kind().as_str()
        ));
    }
    match command {
        Command::SetWeight(w) => validate_for(t.rollout.key.provider, w).err(),
        Command::Retry => match &t.autopilot {
            Some(ap) if !matches!(ap.outcome, Some(Outcome::Aborted | Outcome::RolledBack)) => {
                Some("retry is for a rollout that was aborted or rolled back".into())
            }
            _ => None,
        },
        Command::Abort if nothing_left(t, Weight::ZERO, Phase::Aborted) => Some(format!(
            "nothing to do: the canary is already at 0% ({})",
            t.rollout.phase.label()
        )),
        Command::Promote if nothing_left(t, Weight::FULL, Phase::Succeeded) => Some(format!(
            "nothing to do: the canary already has 100% ({})",
            t.rollout.phase.label()
        )),
        Command::Advance
            if t.autopilot.is_some() && t.rollout.canary_weight() >= t.plan.max_weight =>
        {
            Some(format!(
                "already at the plan's max weight {}; promote with P",
                t.plan.max_weight
            ))
        }
        _ => None,
    }
}

/// An abort at 0 % or a promote at 100 % would write what is already there. A controller
/// still has work to do at that weight (an Argo abort at step 0 scales the canary down)
/// until it reports the phase the command leads to.
fn nothing_left(t: &Tracked, weight: Weight, phase: Phase) -> bool {
    t.rollout.canary_weight() == weight
        && (!matches!(t.rollout.owner, Owner::Controller(_)) || t.rollout.phase == phase)
}

/// What the confirm dialog should warn about beyond the weights.
pub fn confirm_note(app: &App, t: &Tracked, command: Command) -> Option<String> {
    match command {
        Command::Promote => {
            let canary = t
                .rollout
                .builds
                .iter()
                .find(|b| b.role == crate::domain::Role::Canary)?;
            let served = t.totals.get(&canary.name).map(|x| x.0).unwrap_or(0);
            (served == 0).then(|| {
                "the canary has served no requests yet: nothing shows it works".to_string()
            })
        }
        Command::Retry if t.autopilot.is_some() => Some(if app.start_paused {
            "the plan restarts from step 0, paused (--manual): p starts it".to_string()
        } else {
            "the plan restarts from step 0 and the autopilot steps again".to_string()
        }),
        Command::Retry => Some("the controller restarts the rollout".to_string()),
        _ => None,
    }
}

fn write(
    app: &mut App,
    key: &crate::domain::RolloutKey,
    command: Command,
    origin: Origin,
    change: RouterChange,
    requested: Option<Weight>,
) -> Vec<Effect> {
    let op = OpId(app.next_op);
    app.next_op += 1;
    let now = app.now;
    let Some(t) = app.rollouts.get_mut(key) else {
        return Vec::new();
    };
    t.pending = Some(PendingOp {
        op,
        command,
        origin,
        before: t.rollout.canary_weight(),
        requested,
        issued_at: now,
    });
    vec![Effect::Write(WriteRequest {
        op,
        target: key.clone(),
        command,
        origin,
        before: t.rollout.canary_weight(),
        requested,
        change,
        expected_version: t.rollout.version.clone(),
        builds: crate::domain::change::BuildNames {
            stable: build_name(&t.rollout, crate::domain::Role::Stable),
            canary: build_name(&t.rollout, crate::domain::Role::Canary),
        },
    })]
}

/// A build's version when known, else its name, for change events.
fn build_name(r: &crate::domain::Rollout, role: crate::domain::Role) -> Option<String> {
    let b = r.builds.iter().find(|b| b.role == role)?;
    Some(b.version.clone().unwrap_or_else(|| b.name.clone()))
}

/// Carries out a command on a rollout, or refuses it with a toast saying why.
pub fn operator(
    app: &mut App,
    key: &crate::domain::RolloutKey,
    command: Command,
    origin: Origin,
) -> Vec<Effect> {
    // A command can change a phase (pause, resume, an autopilot's abort).
    app.row_moved(key);
    let Some(t) = app.rollouts.get(key) else {
        app.toast(Level::Warn, format!("{key}: no such rollout"));
        return Vec::new();
    };
    if let Some(why) = refusal(app, t, command) {
        let text = format!("{} refused on {key}: {why}", command.kind().as_str());
        app.toast(Level::Warn, text.clone());
        let now = app.now;
        if let Some(t) = app.rollouts.get_mut(key) {
            t.event(now, Level::Warn, text);
        }
        return Vec::new();
    }
    let now = app.now;
    let weight = t.rollout.canary_weight();
    let owner = t.rollout.owner;
    let plan = t.plan.clone();
    if owner != Owner::Autopilot {
        let change = match command {
            Command::SetWeight(w) => RouterChange::CanaryWeight(w),
            c if matches!(owner, Owner::Controller(_)) => RouterChange::Controller(c),
            Command::Abort => RouterChange::CanaryWeight(Weight::ZERO),
            Command::Promote => RouterChange::CanaryWeight(Weight::FULL),
            Command::Advance => {
                RouterChange::CanaryWeight(weight.saturating_add(plan.step, Weight::FULL))
            }
            c => {
                app.toast(
                    Level::Warn,
                    format!("{} needs a controller or the autopilot", c.kind().as_str()),
                );
                return Vec::new();
            }
        };
        let requested = match &change {
            RouterChange::CanaryWeight(w) => Some(*w),
            RouterChange::Controller(Command::Abort) => Some(Weight::ZERO),
            RouterChange::Controller(Command::Promote) => Some(Weight::FULL),
            RouterChange::Controller(_) => None,
        };
        return write(app, key, command, origin, change, requested);
    }
    // Autopilot-owned: some commands only change aviary's own plan state.
    let start_paused = app.start_paused;
    let Some(t) = app.rollouts.get_mut(key) else {
        return Vec::new();
    };
    match command {
        Command::Pause | Command::Resume => {
            let paused = command == Command::Pause;
            let mut drift = None;
            if let Some(ap) = t.autopilot.as_mut() {
                ap.paused = paused;
                ap.reset_window(now);
                if !paused {
                    drift = ap.drift.take();
                }
            }
            if t.autopilot.as_ref().is_some_and(|ap| ap.outcome.is_none()) {
                t.rollout.phase = if paused {
                    Phase::Paused
                } else {
                    Phase::Progressing
                };
                t.rollout.phase_text = t.rollout.phase.label().into();
            }
            t.rollout.message = if paused {
                "paused by operator; weights unchanged".into()
            } else if drift.is_some() {
                format!("resumed by operator from the router's weight {weight}")
            } else {
                "resumed by operator".into()
            };
            t.last_change = now;
            let text = if paused { "paused" } else { "resumed" };
            t.series.mark(now, MarkerKind::Operator, text);
            let from = if drift.is_some() {
                " from the router's weight"
            } else {
                ""
            };
            t.event(
                now,
                Level::Info,
                format!("operator {text} the autopilot{from} at {weight}"),
            );
            if drift.is_some() {
                app.toast(
                    Level::Info,
                    format!("{key}: resumed from the router's weight {weight}"),
                );
            }
            vec![Effect::Audit(LocalAction {
                target: key.clone(),
                command,
                weight,
                note: format!("autopilot {text}; no router write"),
            })]
        }
        Command::Retry => {
            // `--manual` means a person takes every step: a retry must not switch that off.
            let paused = start_paused;
            t.autopilot = Some(Box::new(Autopilot::new(now, paused)));
            t.rollout.phase = if paused {
                Phase::Paused
            } else {
                Phase::Progressing
            };
            t.rollout.phase_text = t.rollout.phase.label().into();
            t.rollout.message = if paused {
                "retry: plan restarts from step 0, paused (--manual); p starts it".into()
            } else {
                "retry: plan restarts from step 0".into()
            };
            t.rollout.step = Some((0, plan.steps().len() as u32));
            t.last_change = now;
            t.series.mark(now, MarkerKind::Operator, "retry");
            t.event(now, Level::Info, "operator restarted the plan");
            let mut fx = vec![Effect::Audit(LocalAction {
                target: key.clone(),
                command,
                weight,
                note: "plan restarted from step 0".into(),
            })];
            if weight != Weight::ZERO {
                fx.extend(write(
                    app,
                    key,
                    command,
                    origin,
                    RouterChange::CanaryWeight(Weight::ZERO),
                    Some(Weight::ZERO),
                ));
            }
            fx
        }
        Command::Advance | Command::Promote | Command::Abort | Command::SetWeight(_) => {
            let to = match command {
                Command::Advance => weight.saturating_add(plan.step, plan.max_weight),
                Command::Promote => Weight::FULL,
                Command::SetWeight(w) => w,
                _ => Weight::ZERO,
            };
            write(
                app,
                key,
                command,
                origin,
                RouterChange::CanaryWeight(to),
                Some(to),
            )
        }
    }
}

/// Applies a write's result. A failed write is shown and recorded; the autopilot pauses
/// rather than trying again into another state.
pub fn write_done(app: &mut App, done: WriteDone) {
    // A result sets a weight or a phase.
    app.row_moved(&done.target);
    let now = app.now;
    let Some(t) = app.rollouts.get_mut(&done.target) else {
        return;
    };
    let pending = match t.pending.take() {
        Some(p) if p.op == done.op => p,
        other => {
            t.pending = other;
            return;
        }
    };
    let who = match done.origin {
        Origin::Operator => "operator",
        Origin::Autopilot => "autopilot",
    };
    let what = done.command.kind().as_str();
    match done.result {
        Ok(ok) => {
            let ok_weight = ok.canary_weight;
            // The audit's `before`, not what the router reported meanwhile.
            let before = pending.before;
            if let Some(w) = ok.canary_weight.or(pending.requested) {
                t.rollout.set_canary_weight(w);
            }
            if let Some(v) = ok.version {
                t.rollout.version = Some(v);
            }
            let after = t.rollout.canary_weight();
            // The read-back disagrees with what the autopilot just wrote: someone changed
            // the router between the write and the read (rounding aside). Yield to them.
            let outside = match (done.origin, pending.requested, ok_weight) {
                (Origin::Autopilot, Some(r), Some(w)) => {
                    (i32::from(r.basis_points()) - i32::from(w.basis_points())).abs() > 50
                }
                _ => false,
            }
            .then_some(pending.requested)
            .flatten();
            t.series.push_weight(now, after);
            t.last_change = now;
            let kind = match (done.origin, done.command) {
                (_, Command::Abort) => MarkerKind::Rollback,
                (Origin::Autopilot, _) => MarkerKind::Step,
                (Origin::Operator, _) => MarkerKind::Operator,
            };
            let label = match done.command {
                Command::Abort => "abort".to_string(),
                _ => format!("{after}"),
            };
            t.series.mark(now, kind, label);
            let note = ok.note.map(|n| format!(" ({n})")).unwrap_or_default();
            t.event(
                now,
                Level::Info,
                format!("{who} {what}: canary {before} → {after}{note}"),
            );
            let plan = t.plan.clone();
            let steps = plan.steps().len() as u32;
            if t.autopilot.is_some() {
                // Controllers number their own steps; only the autopilot's plan is ours.
                t.rollout.step = Some((plan.step_index(after) as u32, steps));
            }
            if let Some(ap) = t.autopilot.as_mut() {
                ap.reset_window(now);
                match done.command {
                    Command::Abort if done.origin == Origin::Autopilot => {
                        ap.outcome = Some(Outcome::RolledBack);
                        t.rollout.phase = Phase::Aborted;
                    }
                    Command::Abort => {
                        ap.outcome = Some(Outcome::Aborted);
                        ap.paused = true;
                        t.rollout.phase = Phase::Aborted;
                        t.rollout.message = format!("aborted by operator at {before}; canary 0%");
                    }
                    Command::Promote => {
                        ap.outcome = Some(Outcome::Promoted);
                        t.rollout.phase = Phase::Succeeded;
                        if done.origin == Origin::Operator {
                            t.rollout.message = "promoted by operator".into();
                        }
                    }
                    Command::SetWeight(_) | Command::Advance if done.origin == Origin::Operator => {
                        t.rollout.message = format!("operator set canary to {after}");
                    }
                    _ => {}
                }
                t.rollout.phase_text = t.rollout.phase.label().into();
            }
            if let Some(set) = outside
                && let Some(text) = super::sources::pause_for_drift(t, now, after, set)
            {
                app.toast(Level::Warn, text);
                return;
            }
            match (done.origin, done.command) {
                (Origin::Operator, _) => app.toast(
                    Level::Info,
                    format!("{what} done on {}: canary {before} → {after}", done.target),
                ),
                (Origin::Autopilot, Command::Abort) => app.toast(
                    Level::Error,
                    format!(
                        "autopilot rolled back {}: canary {before} → {after}",
                        done.target
                    ),
                ),
                (Origin::Autopilot, Command::Promote) => app.toast(
                    Level::Info,
                    format!("autopilot promoted {}: canary {after}", done.target),
                ),
                _ => {}
            }
        }
        Err(e) => {
            let text = format!("{who} {what} failed on {}: {e}", done.target);
            t.event(now, Level::Error, text.clone());
            t.rollout.message = text.clone();
            if let Some(ap) = t.autopilot.as_mut() {
                ap.paused = true;
                t.rollout.phase = Phase::Paused;
                t.rollout.phase_text = "write failed".into();
                t.rollout.message = format!("{text}; autopilot paused, nothing retried");
            }
            app.toast(Level::Error, text);
        }
    }
}

/// A write the autopilot decided on; no capability check (the autopilot only ever sets
/// the canary weight on routers it owns), but never in read-only mode.
pub fn autopilot_write(
    app: &mut App,
    key: &crate::domain::RolloutKey,
    command: Command,
    requested: Weight,
) -> Vec<Effect> {
    if app.read_only {
        return Vec::new();
    }
    app.row_moved(key);
    write(
        app,
        key,
        command,
        Origin::Autopilot,
        RouterChange::CanaryWeight(requested),
        Some(requested),
    )
}
