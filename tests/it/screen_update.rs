//! `update` keeps the screen true: the error chart and the overview read the same rolling
//! window, write events carry the audit's before/after, aviary's phase never sits beside a
//! router's stale one, drift says who wrote what, and an unchanged answer is fresh.

use aviary::app::App;
use aviary::domain::change::{Command, WriteDone, WriteOk};
use aviary::domain::observation::{BuildSample, MetricsBatch, SourceId};
use aviary::domain::{Build, Owner, Phase, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::effect::Effect;
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

fn w(p: u8) -> Weight {
    Weight::from_whole(p).expect("weight")
}

fn key() -> RolloutKey {
    RolloutKey::new(ProviderKind::Haproxy, "be")
}

fn rollout(canary: Weight) -> Rollout {
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let mut r = Rollout::new(
        key(),
        Owner::Autopilot,
        vec![
            b(Role::Stable, "stable", canary.complement()),
            b(Role::Canary, "canary", canary),
        ],
    );
    r.phase = Phase::Progressing;
    r.phase_text = "Progressing".into();
    r
}

fn upsert(app: &mut App, r: Rollout) {
    update(
        app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("haproxy".into()),
            rollout: Box::new(r),
        }),
    );
}

fn app() -> App {
    let mut app = App::new(at(0), Plan::default());
    app.start_paused = true;
    upsert(&mut app, rollout(w(20)));
    app
}

#[test]
fn the_error_chart_and_the_overview_agree_for_the_same_seconds() {
    let mut app = app();
    // A 20 % canary failing a few requests in some seconds, none in others.
    for s in 1..=90u64 {
        let mut builds = BTreeMap::new();
        let sample = |requests, errors| BuildSample {
            period_s: 1.0,
            requests,
            errors,
            ..Default::default()
        };
        builds.insert("stable".to_string(), sample(40, u64::from(s % 13 == 0)));
        let (req, err) = if s % 10 == 7 {
            (0, 0)
        } else {
            (7, [0, 3, 0, 1][s as usize % 4])
        };
        builds.insert("canary".to_string(), sample(req, err));
        let mut samples = BTreeMap::new();
        samples.insert(key(), builds);
        update(
            &mut app,
            Msg::Metrics(MetricsBatch {
                source: SourceId("haproxy".into()),
                at: at(s),
                samples,
            }),
        );
        update(&mut app, Msg::Tick(at(s)));
        let t = &app.rollouts[&key()];
        let (c, st) = aviary::ui::error_rates(&app, t);
        let chart = |b: &str| {
            aviary::ui::error_points(t, b)
                .last()
                .and_then(|(when, v)| (*when == app.now).then_some(*v))
                .flatten()
        };
        for (build, table) in [("canary", c), ("stable", st)] {
            match (chart(build), table) {
                (Some(a), Some(b)) => {
                    assert!(
                        (a - b * 100.0).abs() < 1e-9,
                        "{s}s {build}: chart {a} vs table {b}"
                    )
                }
                // No traffic in the window: the chart has a gap; the table falls back to
                // the latest sample, which then has no traffic either.
                (None, None) => {}
                other => panic!("{s}s {build}: {other:?}"),
            }
        }
    }
    // And once a window's worth of seconds is in, the chart is the rolling rate (about
    // 14 %), not one refresh's 3/7 = 43 %.
    let t = &app.rollouts[&key()];
    let max = aviary::ui::error_points(t, "canary")
        .iter()
        .filter(|(when, _)| *when >= at(30))
        .filter_map(|(_, v)| *v)
        .fold(0.0f64, f64::max);
    assert!(max < 20.0, "{max}");
}

#[test]
fn a_write_event_carries_the_audits_before_even_when_the_router_answered_first() {
    let mut app = app();
    let fx = update(
        &mut app,
        Msg::Operator {
            target: key(),
            command: Command::SetWeight(w(35)),
        },
    );
    let req = fx
        .iter()
        .find_map(|e| match e {
            Effect::Write(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a write");
    assert_eq!(req.before, w(20));
    // The router's next read shows the new weight before the write's result arrives.
    upsert(&mut app, rollout(w(35)));
    update(
        &mut app,
        Msg::WriteDone(WriteDone {
            op: req.op,
            target: key(),
            command: req.command,
            origin: req.origin,
            result: Ok(WriteOk {
                canary_weight: Some(w(35)),
                note: None,
                version: None,
            }),
        }),
    );
    let events: Vec<&str> = app.rollouts[&key()]
        .events
        .iter()
        .map(|e| e.text.as_str())
        .collect();
    assert!(
        events.iter().any(|e| e.contains("canary 20% → 35%")),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e.contains("35% → 35%")),
        "{events:?}"
    );
}

#[test]
fn aviarys_phase_never_sits_beside_the_routers() {
    let mut app = app();
    let t = app.rollouts.get_mut(&key()).expect("tracked");
    t.rollout.phase = Phase::Aborted;
    t.rollout.phase_text = "Aborted".into();
    t.rollout.set_canary_weight(w(0)); // as the abort left it
    // The router keeps reporting what it always does.
    for _ in 0..3 {
        upsert(&mut app, rollout(w(0)));
    }
    let t = &app.rollouts[&key()];
    assert_eq!(t.rollout.phase, Phase::Aborted);
    assert_eq!(t.rollout.phase_note(), None, "{:?}", t.rollout.phase_text);
    assert!(
        !t.events
            .iter()
            .any(|e| e.text.contains("phase Aborted → Progressing")),
        "{:?}",
        t.events
    );
}

#[test]
fn drift_names_expected_found_and_that_someone_else_wrote_it() {
    let mut app = app();
    upsert(&mut app, rollout(w(50)));
    let t = &app.rollouts[&key()];
    let e = t
        .events
        .iter()
        .find(|e| e.text.contains("50%"))
        .expect("a drift event");
    // What was expected, what was found, and that aviary did not write it.
    assert!(
        e.text.contains("20%")
            && (e.text.contains("outside aviary") || e.text.contains("someone else")),
        "{}",
        e.text
    );
    // A note on the source clears with an empty one (the HAProxy watch sends it when the
    // weights match again).
    for msg in [
        "HAProxy be: expected stable 204, canary 51, found 128/128",
        "",
    ] {
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Info {
                source: SourceId("haproxy".into()),
                message: msg.into(),
            }),
        );
    }
    assert_eq!(app.sources[&SourceId("haproxy".into())].info, None);
}

#[test]
fn an_unchanged_answer_is_fresh() {
    let mut app = app();
    let src = SourceId("haproxy".into());
    for s in 1..=30 {
        update(&mut app, Msg::Tick(at(s)));
        upsert(&mut app, rollout(w(20)));
        assert!(!app.is_stale(&src), "{s}s");
    }
    update(&mut app, Msg::Tick(at(40)));
    assert!(app.is_stale(&src), "ten silent seconds");
}
