//! Provider and metrics messages: keep rollouts, series and source health current.

use crate::app::{App, Level, Tracked};
use crate::domain::observation::{MarkerKind, MetricsBatch, Series, SourceId};
use crate::domain::{Owner, Phase, Role, Rollout};
use crate::driver::Autopilot;
use crate::msg::ProviderEvent;
use std::collections::{BTreeMap, VecDeque};

fn ok(app: &mut App, source: &SourceId) {
    let now = app.now;
    let s = app.sources.entry(source.clone()).or_default();
    s.last_ok = Some(now);
    s.last_error = None;
}

/// Inserts or refreshes a rollout. aviary's own autopilot state survives refreshes.
fn upsert(app: &mut App, source: SourceId, mut rollout: Rollout) {
    let now = app.now;
    match app.rollouts.get_mut(&rollout.key) {
        Some(t) => {
            if t.rollout.canary_weight() != rollout.canary_weight() {
                t.series.push_weight(now, rollout.canary_weight());
                t.last_change = now;
                if rollout.owner != Owner::Autopilot {
                    t.series.mark(
                        now,
                        MarkerKind::Step,
                        format!("→ {}", rollout.canary_weight()),
                    );
                    t.event(
                        now,
                        Level::Info,
                        format!("weight now {}", rollout.canary_weight()),
                    );
                } else if t.pending.is_none() {
                    // aviary owns these weights: a change it did not make (an HAProxy reload,
                    // a hand edit) is worth a warning, and the plan continues from the truth.
                    t.event(
                        now,
                        Level::Warn,
                        format!(
                            "router now reports canary {} but aviary last set {}: changed outside aviary",
                            rollout.canary_weight(),
                            t.rollout.canary_weight()
                        ),
                    );
                }
            }
            if t.rollout.phase != rollout.phase {
                t.last_change = now;
                t.event(
                    now,
                    Level::Info,
                    format!("phase {} → {}", t.rollout.phase, rollout.phase),
                );
            }
            if t.autopilot.is_some() {
                // The autopilot owns phase and message for its rollouts.
                rollout.phase = t.rollout.phase.clone();
                rollout.message = t.rollout.message.clone();
                rollout.step = t.rollout.step;
            }
            if let Some(p) = &rollout.plan {
                t.plan = p.clone();
            }
            t.rollout = rollout;
            t.source = source;
        }
        None => {
            let plan = rollout
                .plan
                .clone()
                .unwrap_or_else(|| app.default_plan.clone());
            let autopilot = (rollout.owner == Owner::Autopilot && !app.read_only)
                .then(|| Autopilot::new(now, app.start_paused));
            if let Some(ap) = &autopilot {
                rollout.phase = if ap.paused {
                    Phase::Paused
                } else {
                    Phase::Progressing
                };
                rollout.phase_text = rollout.phase.label().to_string();
                rollout.step = Some((
                    plan.step_index(rollout.canary_weight()) as u32,
                    plan.steps().len() as u32,
                ));
                if rollout.plan.is_none() {
                    rollout.plan = Some(plan.clone());
                }
            }
            let mut series = Series::default();
            series.push_weight(now, rollout.canary_weight());
            let mut t = Tracked {
                rollout,
                source,
                series,
                autopilot,
                plan,
                pending: None,
                events: VecDeque::new(),
                latest: BTreeMap::new(),
                metrics_source: None,
                totals: BTreeMap::new(),
                last_change: now,
            };
            t.event(
                now,
                Level::Info,
                format!("watching; owner {}", t.rollout.owner),
            );
            if app.ui.selected.is_none() {
                app.ui.selected = Some(t.rollout.key.clone());
            }
            app.rollouts.insert(t.rollout.key.clone(), t);
        }
    }
}

/// Applies a provider event.
pub fn provider(app: &mut App, ev: ProviderEvent) {
    match ev {
        ProviderEvent::Upsert { source, rollout } => {
            ok(app, &source);
            upsert(app, source, *rollout);
        }
        ProviderEvent::Delete { source, key } => {
            ok(app, &source);
            app.rollouts.remove(&key);
            if app.ui.selected.as_ref() == Some(&key) {
                app.ui.selected = app.sorted_keys().into_iter().next();
            }
        }
        ProviderEvent::Restarted { source, rollouts } => {
            ok(app, &source);
            let keep: Vec<_> = rollouts.iter().map(|r| r.key.clone()).collect();
            app.rollouts
                .retain(|k, t| t.source != source || keep.contains(k));
            for r in rollouts {
                upsert(app, source.clone(), r);
            }
        }
        ProviderEvent::Info { source, message } => {
            app.sources.entry(source).or_default().info = Some(message);
        }
    }
}

/// Appends a metrics batch to series, totals and autopilot windows.
pub fn metrics(app: &mut App, batch: MetricsBatch) {
    ok(app, &batch.source);
    for (key, builds) in batch.samples {
        let Some(t) = app.rollouts.get_mut(&key) else {
            continue;
        };
        t.metrics_source = Some(batch.source.clone());
        for (name, s) in &builds {
            t.series.push(name, batch.at, s);
            let tot = t.totals.entry(name.clone()).or_default();
            tot.0 += s.requests;
            tot.1 += s.errors;
            t.latest.insert(name.clone(), s.clone());
        }
        t.series.push_weight(batch.at, t.rollout.canary_weight());
        let name_of = |role: Role| {
            t.rollout
                .builds
                .iter()
                .find(|b| b.role == role)
                .map(|b| b.name.clone())
        };
        let canary = name_of(Role::Canary).and_then(|n| builds.get(&n));
        let stable = name_of(Role::Stable).and_then(|n| builds.get(&n));
        // While a weight write is in flight the router's split is unknown: not checked.
        let weight = t.pending.is_none().then(|| t.rollout.canary_weight());
        if let Some(ap) = t.autopilot.as_mut() {
            ap.observe(batch.at, weight, &t.plan, canary, stable);
        }
    }
}

/// Marks a source stale with its error.
pub fn error(app: &mut App, source: SourceId, error: String) {
    tracing::warn!(source = %source, "{error}");
    let s = app.sources.entry(source).or_default();
    s.last_error = Some(error);
}

/// Adds past samples in front of the live ones, for the charts only.
pub fn history(
    app: &mut App,
    points: BTreeMap<
        (crate::domain::RolloutKey, String),
        Vec<(
            std::time::SystemTime,
            crate::domain::observation::BuildSample,
        )>,
    >,
) {
    for ((key, build), pts) in points {
        if let Some(t) = app.rollouts.get_mut(&key) {
            t.series.backfill(&build, &pts);
        }
    }
}
