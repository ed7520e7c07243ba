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
    let Some(t) = app.rollouts.get_mut(key) else {
        return Vec::new();
    };
    match command {
        Command::Pause | Command::Resume => {
            let paused = command == Command::Pause;
            if let Some(ap) = t.autopilot.as_mut() {
                ap.paused = paused;
                ap.reset_window(now);
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
            } else {
                "resumed by operator".into()
            };
            t.last_change = now;
            let text = if paused { "paused" } else { "resumed" };
            t.series.mark(now, MarkerKind::Operator, text);
            t.event(
                now,
                Level::Info,
                format!("operator {text} the autopilot at {weight}"),
            );
            vec![Effect::Audit(LocalAction {
                target: key.clone(),
                command,
                weight,
                note: format!("autopilot {text}; no router write"),
            })]
        }
        Command::Retry => {
            t.autopilot = Some(Autopilot::new(now, false));
            t.rollout.phase = Phase::Progressing;
            t.rollout.phase_text = t.rollout.phase.label().into();
            t.rollout.message = "retry: plan restarts from step 0".into();
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
            let before = t.rollout.canary_weight();
            if let Some(w) = ok.canary_weight.or(pending.requested) {
                t.rollout.set_canary_weight(w);
            }
            if let Some(v) = ok.version {
                t.rollout.version = Some(v);
            }
            let after = t.rollout.canary_weight();
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
                t.rollout.phase_text = "Paused (write failed)".into();
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
    write(
        app,
        key,
        command,
        Origin::Autopilot,
        RouterChange::CanaryWeight(requested),
        Some(requested),
    )
}
