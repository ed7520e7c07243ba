//! Headless mode: the same core without a terminal, printing JSON lines: one
//! per rollout per second, then a `summary` line per rollout.

use crate::app::{App, Tracked};
use crate::domain::Role;
use crate::msg::Msg;
use crate::session::Session;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};
use tokio::time::MissedTickBehavior;

/// How often the core ticks in headless mode.
const TICK: Duration = Duration::from_millis(250);

/// How much of a second's lines is handed to stdout at once: a few hundred lines.
const LINES_BUFFER: usize = 64 * 1024;

/// One progress line for one rollout.
pub fn line(app: &App, t: &Tracked) -> Value {
    let secs = app
        .now
        .duration_since(app.started)
        .unwrap_or_default()
        .as_secs_f64();
    let mut weights = Map::new();
    let mut builds = Map::new();
    for b in &t.rollout.builds {
        weights.insert(b.name.clone(), json!(b.weight.percent()));
        let latest = t.latest.get(&b.name);
        let (req, err) = t.totals.get(&b.name).copied().unwrap_or_default();
        builds.insert(
            b.name.clone(),
            json!({
                "rps": latest.map(|s| round(s.rps(), 2)),
                "error_rate": latest.and_then(|s| s.error_rate()).map(|r| round(r, 4)),
                "p99_ms": latest.and_then(|s| s.p99_ms).map(|p| round(p, 1)),
                "requests": req,
                "errors": err,
            }),
        );
    }
    json!({
        "t": round(secs, 1),
        "rollout": t.rollout.key.to_string(),
        "context": t.rollout.key.context,
        "phase": t.rollout.phase.label(),
        "weights": weights,
        "builds": builds,
        "step": t.rollout.step.map(|s| s.0).unwrap_or(0),
        "message": t.rollout.message,
        // The source whose data is stale for this rollout (its provider or its metrics), so
        // a pipeline reading these lines knows when the numbers stopped being current.
        "stale": app.stale_source(t).map(|s| s.to_string()),
    })
}

/// The end-of-run line for one rollout.
pub fn summary(app: &App, t: &Tracked) -> Value {
    // aviary's own plan ends in the autopilot's outcome (a plan held by a person, a failed
    // write or a change made outside aviary is "paused"); any other owner says it itself.
    let outcome = match &t.autopilot {
        Some(ap) => match ap.outcome {
            Some(o) => o.as_str(),
            None if ap.paused => "paused",
            None => "in_progress",
        },
        None => t.rollout.phase.outcome(),
    };
    let canary = t
        .rollout
        .builds
        .iter()
        .find(|b| b.role == Role::Canary)
        .map(|b| b.name.clone());
    let requests: u64 = t.totals.values().map(|x| x.0).sum();
    let failed: u64 = t.totals.values().map(|x| x.1).sum();
    let canary_failed = canary
        .and_then(|c| t.totals.get(&c))
        .map(|x| x.1)
        .unwrap_or(0);
    json!({"summary": {
        "rollout": t.rollout.key.to_string(),
        "context": t.rollout.key.context,
        "outcome": outcome,
        "canary_weight": t.rollout.canary_weight().percent(),
        "requests": requests,
        "failed_requests": failed,
        "canary_failed_requests": canary_failed,
        "duration_s": round(app.now.duration_since(app.started).unwrap_or_default().as_secs_f64(), 1),
        "message": t.rollout.message,
    }})
}

fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}

/// Exit code of a headless run that found nothing to watch (an empty namespace): not a
/// failure of aviary, and not a success a script should take as "all promoted".
pub const EXIT_NOTHING_TO_WATCH: u8 = 3;

/// A headless run that saw nothing to watch; the message says what was looked for.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NothingToWatch(pub String);

fn finished(app: &App) -> bool {
    if app.rollouts.is_empty() && app.nothing_found.is_some() {
        return true;
    }
    !app.rollouts.is_empty()
        && app.rollouts.values().all(|t| {
            t.pending.is_none() && t.autopilot.as_ref().is_some_and(|ap| ap.outcome.is_some())
        })
}

/// Runs `session` until every plan has ended, `duration` has passed, or SIGINT/SIGTERM,
/// writing JSON lines to `out`.
pub async fn run(
    mut session: Session,
    duration: Option<Duration>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut printer = Printer::default();
    let mut quit = false;
    let mut signals = crate::event_loop::Signals::new()?;
    let mut drift_said = std::collections::BTreeSet::new();
    while !quit {
        tokio::select! {
            _ = tick.tick() => {
                quit |= session.dispatch(Msg::Tick(SystemTime::now()));
                printer.after_tick(&session.app, out)?;
                if duration.is_some_and(|d| started.elapsed() >= d) || finished(&session.app) {
                    quit = true;
                }
            }
            msg = session.rx.recv() => match msg {
                Some(m) => {
                    quit |= session.dispatch(m);
                    say_drift(&session.app, &mut drift_said, out)?;
                }
                None => quit = true,
            },
            _ = signals.recv() => quit = true,
        }
    }
    // Same way out as the TUI: writes in flight drain and get their results.
    let lines = session.shutdown(|_| {}).await;
    summaries(&session.app, out)?;
    for l in lines {
        eprintln!("{l}");
    }
    match (&session.app.nothing_found, session.app.rollouts.is_empty()) {
        (Some(why), true) => Err(std::io::Error::other(NothingToWatch(why.clone()))),
        _ => Ok(()),
    }
}

/// When the progress lines are printed: after the first tick of each new second of the
/// app's own clock. A function of the messages alone, so a replay prints the same lines.
#[derive(Debug)]
pub struct Printer {
    next: Duration,
}

impl Default for Printer {
    fn default() -> Self {
        Printer {
            next: Duration::from_secs(1),
        }
    }
}

impl Printer {
    /// Call after each `Msg::Tick`: prints one line per rollout when a second has passed.
    pub fn after_tick(&mut self, app: &App, out: &mut dyn Write) -> std::io::Result<()> {
        if app.now.duration_since(app.started).unwrap_or_default() >= self.next {
            self.next += Duration::from_secs(1);
            // Buffered: stdout writes each line by itself, and ten thousand rollouts make ten
            // thousand lines a second.
            let mut out = std::io::BufWriter::with_capacity(LINES_BUFFER, out);
            for t in app.rollouts.values() {
                writeln!(out, "{}", line(app, t))?;
            }
            out.flush()?;
        }
        Ok(())
    }
}

/// The end-of-run lines, one per rollout.
pub fn summaries(app: &App, out: &mut dyn Write) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(LINES_BUFFER, out);
    for t in app.rollouts.values() {
        writeln!(out, "{}", summary(app, t))?;
    }
    out.flush()
}

/// Prints a `drift` line the moment the autopilot pauses for a change made outside aviary,
/// so a pipeline's log says why the plan stopped. Runs after every message, so it visits
/// only the driven rollouts (only an autopilot holds for drift) and `said`, the rollouts whose
/// drift is already printed: at ten thousand controller-run rollouts it costs nothing.
fn say_drift(
    app: &App,
    said: &mut std::collections::BTreeSet<crate::domain::RolloutKey>,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let drift = |key: &crate::domain::RolloutKey| {
        app.rollouts
            .get(key)
            .and_then(|t| t.autopilot.as_ref())
            .and_then(|ap| ap.drift)
    };
    // A drift that ended (resumed, the plan gone) is said again when it comes back.
    said.retain(|key| drift(key).is_some());
    for key in &app.driven {
        let (Some(t), Some((router, set))) = (app.rollouts.get(key), drift(key)) else {
            continue;
        };
        if said.contains(key) {
            continue;
        }
        writeln!(
            out,
            "{}",
            json!({
                "t": round(app.now.duration_since(app.started).unwrap_or_default().as_secs_f64(), 1),
                "rollout": t.rollout.key.to_string(),
                "context": t.rollout.key.context,
                "drift": {"router": router.percent(), "aviary_set": set.percent()},
                "paused": true,
                "message": t.rollout.message,
            })
        )?;
        out.flush()?;
        said.insert(key.clone());
    }
    Ok(())
}
