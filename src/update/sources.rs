//! Provider and metrics messages: keep rollouts, series and source health current.

use crate::app::{App, Level, Tracked};
use crate::domain::observation::{BuildSample, MarkerKind, MetricsBatch, Series, SourceId};
use crate::domain::{Controller, Owner, Phase, Role, Rollout, Weight};
use crate::driver::{Adviser, Autopilot};
use crate::msg::ProviderEvent;
use std::collections::{BTreeMap, VecDeque};

fn ok(app: &mut App, source: &SourceId) {
    let now = app.now;
    let s = app.sources.entry(source.clone()).or_default();
    let was_failing = s.last_error.take().is_some();
    s.repeats = 0;
    let since = s.last_ok.replace(now);
    if was_failing {
        let for_secs = since
            .and_then(|t| now.duration_since(t).ok())
            .map(|d| format!(" after {}s", d.as_secs()))
            .unwrap_or_default();
        timeline(
            app,
            source,
            Level::Info,
            format!("{source} recovered{for_secs}"),
        );
    }
}

/// Notes a source's transition on the timeline of every rollout it feeds.
fn timeline(app: &mut App, source: &SourceId, level: Level, text: String) {
    let now = app.now;
    for t in app.rollouts.values_mut() {
        if &t.source == source || t.metrics_source.as_ref() == Some(source) {
            t.event(now, level, text.clone());
        }
    }
}

/// The text of an error seen `n` times in a row: "… (12×)" after the first.
fn folded(error: &str, n: u32) -> String {
    if n > 1 {
        format!("{error} ({n}×)")
    } else {
        error.to_string()
    }
}

/// Inserts or refreshes a rollout. aviary's own autopilot state survives refreshes.
fn upsert(app: &mut App, source: SourceId, mut rollout: Rollout) {
    let now = app.now;
    let mut toast = None;
    app.nothing_found = None;
    match app.rollouts.get(&rollout.key) {
        // A new row finds its place alone too: a list of ten thousand arriving one upsert at
        // a time must not sort the table ten thousand times.
        None => app.row_moved(&rollout.key),
        Some(t) => {
            let (a, b) = (&t.rollout, &rollout);
            if a.canary_weight() != b.canary_weight()
                || a.phase != b.phase
                || a.owner != b.owner
                || a.created != b.created
            {
                app.row_moved(&rollout.key);
            }
        }
    }
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
                    toast = drift(t, now, rollout.canary_weight());
                }
            }
            if t.autopilot.is_some() {
                // The autopilot owns phase and message for its rollouts: the router's own
                // idea of a phase never shows beside it, nor makes a "phase" event.
                rollout.phase = t.rollout.phase.clone();
                rollout.phase_text = t.rollout.phase_text.clone();
                rollout.message = t.rollout.message.clone();
                rollout.step = t.rollout.step;
            }
            if t.rollout.phase != rollout.phase {
                t.last_change = now;
                t.event(
                    now,
                    Level::Info,
                    format!("phase {} → {}", t.rollout.phase, rollout.phase),
                );
            }
            if let Some(p) = &rollout.plan {
                t.plan = p.clone();
            }
            if t.adviser.is_some() && (rollout.phase.is_terminal() || rollout.phase == Phase::Idle)
            {
                // That rollout is over: the next one is judged on its own evidence.
                t.adviser = Some(Box::new(Adviser::new(now)));
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
            // OpenKruise has no metric analysis of its own: aviary's judge advises on it.
            let adviser =
                (rollout.owner == Owner::Controller(Controller::Kruise)).then(|| Adviser::new(now));
            let mut series = Series::default();
            series.push_weight(now, rollout.canary_weight());
            let mut t = Tracked {
                rollout,
                source,
                series,
                autopilot: autopilot.map(Box::new),
                adviser: adviser.map(Box::new),
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
            if t.autopilot.is_some() || t.adviser.is_some() {
                app.driven.insert(t.rollout.key.clone());
            }
            app.rollouts.insert(t.rollout.key.clone(), Box::new(t));
        }
    }
    if let Some(text) = toast {
        app.toast(Level::Warn, text);
    }
}

/// The router reports a canary weight aviary did not set (a reload, another operator, another
/// tool). aviary never fights a person: a running plan pauses at once, writes nothing, and
/// says what changed; `p` resumes from the router's weight. Returns the toast to raise.
fn drift(t: &mut Tracked, now: std::time::SystemTime, router: Weight) -> Option<String> {
    let set = t.rollout.canary_weight();
    pause_for_drift(t, now, router, set)
}

/// Pauses a running plan because the router holds `router` where aviary set `set`.
pub(super) fn pause_for_drift(
    t: &mut Tracked,
    now: std::time::SystemTime,
    router: Weight,
    set: Weight,
) -> Option<String> {
    let what = format!("canary {router} on the router, aviary set {set}: changed outside aviary");
    let Some(ap) = t.autopilot.as_mut().filter(|ap| ap.outcome.is_none()) else {
        // No plan to pause: say what was expected, what was found, and who it was not.
        t.event(
            now,
            Level::Warn,
            format!("expected canary {set}, found {router}: someone else wrote the route"),
        );
        return None;
    };
    let text = format!("{what} — paused; p resumes from the router's weight");
    ap.paused = true;
    ap.drift = Some((router, set));
    ap.reset_window(now);
    t.rollout.phase = Phase::Paused;
    t.rollout.phase_text = "changed outside aviary".into();
    t.rollout.message = text.clone();
    t.series.mark(now, MarkerKind::Operator, "outside");
    t.event(now, Level::Warn, text.clone());
    tracing::warn!(target = %t.rollout.key, "{text}");
    Some(format!("{}: {text}", t.rollout.key))
}

/// How much history a rollout nobody looks at keeps: the overview's error window and one
/// refresh to spare.
const HISTORY_FLOOR: std::time::Duration = crate::domain::observation::series::ERROR_WINDOW
    .saturating_add(std::time::Duration::from_secs(5));

/// Applies a provider event.
pub fn provider(app: &mut App, ev: ProviderEvent) {
    match ev {
        ProviderEvent::Upsert { source, rollout } => {
            ok(app, &source);
            upsert(app, source, *rollout);
        }
        ProviderEvent::Delete { source, key } => {
            ok(app, &source);
            app.rows_moved();
            app.rollouts.remove(&key);
            if app.ui.selected.as_ref() == Some(&key) {
                app.ui.selected = app.sorted_keys().into_iter().next();
            }
        }
        ProviderEvent::Alive { source } => ok(app, &source),
        ProviderEvent::Restarted { source, rollouts } => {
            ok(app, &source);
            let keep: std::collections::BTreeSet<_> =
                rollouts.iter().map(|r| r.key.clone()).collect();
            let before = app.rollouts.len();
            app.rollouts
                .retain(|k, t| t.source != source || keep.contains(k));
            if app.rollouts.len() != before {
                app.rows_moved();
            }
            for r in rollouts {
                upsert(app, source.clone(), r);
            }
        }
        ProviderEvent::Empty { source, message } => {
            ok(app, &source);
            if app.rollouts.is_empty() {
                app.nothing_found = Some(message);
            }
        }
        ProviderEvent::Info { source, message } => {
            // An empty note clears the last one (a drift that is over).
            app.sources.entry(source).or_default().info = (!message.is_empty()).then_some(message);
        }
    }
}

/// Appends a metrics batch to series, totals and autopilot windows.
pub fn metrics(app: &mut App, batch: MetricsBatch) {
    ok(app, &batch.source);
    let selected = app.ui.selected.clone();
    for (key, mut builds) in batch.samples {
        let Some(t) = app.rollouts.get_mut(&key) else {
            continue;
        };
        // Every batch enters here, a recording's too: no sum past this point can overflow.
        builds.values_mut().for_each(BuildSample::cap);
        // Chart history is kept where it is shown or judged; every other rollout keeps the
        // error window its overview row reads (an hour of a thousand rollouts would be
        // hundreds of MB). Opening one fetches its history again (`Effect::Shown`).
        if !t.keeps_history() && selected.as_ref() != Some(&key) {
            t.series
                .forget_before(batch.at.checked_sub(HISTORY_FLOOR).unwrap_or(batch.at));
        }
        t.metrics_source = Some(batch.source.clone());
        for (name, s) in &builds {
            t.series.push(name, batch.at, s);
            let tot = t.totals.entry(name.clone()).or_default();
            // Saturating: a session's totals are sums of capped periods, but a long one
            // against a source stuck at the cap must still read as "a lot", not wrap.
            tot.0 = tot.0.saturating_add(s.requests);
            tot.1 = tot.1.saturating_add(s.errors);
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
        let adviser = t.adviser.as_mut().map(|a| &mut a.memory);
        for ap in t.autopilot.as_deref_mut().into_iter().chain(adviser) {
            if ap.gap {
                // The first batch after a stale period may cover the hole (a rate over
                // missing scrapes undercounts): it only restarts the window.
                ap.gap = false;
                ap.reset_window(batch.at);
                ap.last_sample_at = Some(batch.at);
            } else {
                ap.observe(batch.at, weight, &t.plan, canary, stable);
            }
        }
    }
}

/// Marks a source stale with its error. The same error again is folded into a count
/// ("… (12×)") instead of a new log line a second during an outage; the log gets it again at
/// 10×, 100×, …; the first failure goes on the timeline as the source going stale.
pub fn error(app: &mut App, source: SourceId, error: String) {
    let s = app.sources.entry(source.clone()).or_default();
    let first = s.last_error.is_none();
    let repeat = s.last_error.as_deref() == Some(folded(&error, s.repeats).as_str());
    s.repeats = if repeat { s.repeats + 1 } else { 1 };
    s.last_error = Some(folded(&error, s.repeats));
    let n = s.repeats;
    if n == 1 || (n >= 10 && 10u32.pow(n.ilog10()) == n) {
        tracing::warn!(source = %source, "{}", folded(&error, n));
    }
    if first {
        timeline(
            app,
            &source,
            Level::Warn,
            format!("{source} stale: {error}"),
        );
    }
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

#[cfg(test)]
mod tests {
    use crate::app::App;
    use crate::domain::observation::{BuildSample, MetricsBatch, SourceId};
    use crate::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
    use crate::effect::Effect;
    use crate::msg::{Msg, ProviderEvent};
    use crate::update::update;
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    fn rollout(name: &str) -> Rollout {
        let b = |role, n: &str, w: u8| Build {
            role,
            name: n.into(),
            version: None,
            weight: Weight::from_whole(w).unwrap_or(Weight::ZERO),
            selector: n.into(),
        };
        Rollout::new(
            RolloutKey::namespaced(ProviderKind::Istio, "shop", name),
            Owner::Manual,
            vec![b(Role::Stable, "stable", 90), b(Role::Canary, "canary", 10)],
        )
    }

    #[test]
    fn history_is_kept_where_shown_and_fetched_again_when_opened() {
        let mut app = App::new(at(0), Plan::default());
        update(&mut app, Msg::Resize(120, 30));
        let routes = SourceId("kube VirtualService".into());
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Restarted {
                source: routes,
                rollouts: vec![rollout("a"), rollout("b")],
            }),
        );
        let (a, b) = (rollout("a").key, rollout("b").key);
        assert_eq!(app.ui.selected.as_ref(), Some(&a));
        let sample = BuildSample {
            period_s: 1.0,
            requests: 10,
            ..Default::default()
        };
        let builds: BTreeMap<String, BuildSample> = [("stable", &sample), ("canary", &sample)]
            .into_iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect();
        for s in 1..=600 {
            update(&mut app, Msg::Tick(at(s)));
            update(
                &mut app,
                Msg::Metrics(MetricsBatch {
                    source: SourceId("prometheus".into()),
                    at: at(s),
                    samples: [(a.clone(), builds.clone()), (b.clone(), builds.clone())]
                        .into_iter()
                        .collect(),
                }),
            );
        }
        let points = |app: &App, k: &RolloutKey| app.rollouts[k].series.builds["canary"].len();
        assert_eq!(
            points(&app, &a),
            600,
            "the selected rollout keeps its history"
        );
        assert!(
            points(&app, &b) <= 36,
            "a rollout nobody looks at keeps its error window: {}",
            points(&app, &b)
        );
        let effects = update(
            &mut app,
            Msg::Key(crossterm::event::KeyEvent::from(
                crossterm::event::KeyCode::Down,
            )),
        );
        assert_eq!(app.ui.selected.as_ref(), Some(&b));
        assert!(
            effects.contains(&Effect::Shown(b.clone())),
            "opening it asks for its history again: {effects:?}"
        );
    }

    /// A recording (or any source) can carry counts no source measures: they are capped where
    /// batches enter, so the judge's sums and the totals never overflow.
    #[test]
    fn absurd_counts_are_capped_where_batches_enter() {
        let mut app = App::new(at(0), Plan::default());
        let mut r = rollout("a");
        r.owner = Owner::Autopilot;
        let key = r.key.clone();
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Restarted {
                source: SourceId("kube VirtualService".into()),
                rollouts: vec![r],
            }),
        );
        assert!(
            app.rollouts[&key].autopilot.is_some(),
            "the judge is exercised"
        );
        let huge = BuildSample {
            period_s: 1.0,
            requests: u64::MAX,
            errors: u64::MAX,
            ..Default::default()
        };
        for s in 1..=3 {
            let builds: BTreeMap<String, BuildSample> = [("stable", &huge), ("canary", &huge)]
                .into_iter()
                .map(|(n, s)| (n.to_string(), s.clone()))
                .collect();
            update(&mut app, Msg::Tick(at(s)));
            update(
                &mut app,
                Msg::Metrics(MetricsBatch {
                    source: SourceId("recording".into()),
                    at: at(s),
                    samples: [(key.clone(), builds)].into(),
                }),
            );
        }
        let t = &app.rollouts[&key];
        assert_eq!(t.totals["canary"].0, 3 * BuildSample::MAX_COUNT);
        assert_eq!(t.latest["canary"].requests, BuildSample::MAX_COUNT);
    }
}
