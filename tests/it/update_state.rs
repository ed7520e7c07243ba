//! `update` as a state machine: feed messages, assert on the app and on the effects. No I/O,
//! no clock: time moves only through `Msg::Tick`.

use aviary::app::App;
use aviary::domain::change::{Command, Origin, RouterChange, WriteDone, WriteOk};
use aviary::domain::observation::{BuildSample, MetricsBatch, SourceId};
use aviary::domain::{Build, Owner, Phase, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::driver::Outcome;
use aviary::effect::Effect;
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn t(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
}

fn w(p: u8) -> Weight {
    Weight::from_whole(p).expect("weight")
}

fn key(kind: ProviderKind) -> RolloutKey {
    RolloutKey::new(kind, "checkout")
}

fn rollout(kind: ProviderKind, canary: Weight) -> Rollout {
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let owner = if kind == ProviderKind::Istio {
        Owner::Manual
    } else {
        Owner::Autopilot
    };
    Rollout::new(
        key(kind),
        owner,
        vec![
            b(Role::Stable, "stable", canary.complement()),
            b(Role::Canary, "canary", canary),
        ],
    )
}

fn app_with(kind: ProviderKind, canary: Weight) -> App {
    let mut app = App::new(t(0), Plan::default());
    let fx = update(
        &mut app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("test".into()),
            rollout: Box::new(rollout(kind, canary)),
        }),
    );
    assert!(fx.is_empty());
    app
}

fn metrics(at: SystemTime, canary: (u64, u64), stable: (u64, u64)) -> Msg {
    let s = |(requests, errors)| BuildSample {
        period_s: 1.0,
        requests,
        errors,
        p99_ms: Some(30.0),
        ..Default::default()
    };
    let mut builds = BTreeMap::new();
    builds.insert("canary".to_string(), s(canary));
    builds.insert("stable".to_string(), s(stable));
    let mut samples = BTreeMap::new();
    samples.insert(key(ProviderKind::Demo), builds);
    Msg::Metrics(MetricsBatch {
        source: SourceId("test".into()),
        at,
        samples,
    })
}

fn writes(fx: &[Effect]) -> Vec<(Command, Origin, RouterChange)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Write(r) => Some((r.command, r.origin, r.change.clone())),
            _ => None,
        })
        .collect()
}

fn done(app: &App, k: &RolloutKey, result: Result<WriteOk, String>) -> Msg {
    let p = app.rollouts[k].pending.clone().expect("a write in flight");
    Msg::WriteDone(WriteDone {
        op: p.op,
        target: k.clone(),
        command: p.command,
        origin: p.origin,
        result,
    })
}

#[test]
fn read_only_refuses_every_command_and_never_writes() {
    let mut app = App::new(t(0), Plan::default());
    app.read_only = true;
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("test".into()),
            rollout: Box::new(rollout(ProviderKind::Demo, w(30))),
        }),
    );
    let k = key(ProviderKind::Demo);
    for c in [
        Command::Abort,
        Command::Promote,
        Command::Pause,
        Command::SetWeight(w(10)),
    ] {
        let fx = update(
            &mut app,
            Msg::Operator {
                target: k.clone(),
                command: c,
            },
        );
        assert!(fx.is_empty(), "{c:?} produced {fx:?}");
        assert!(
            app.toast
                .as_ref()
                .is_some_and(|t| t.text.contains("read-only"))
        );
    }
    // The autopilot does not run either: ticks long past many intervals write nothing.
    for s in 1..60 {
        assert!(update(&mut app, Msg::Tick(t(s))).is_empty());
    }
}

#[test]
fn operator_abort_writes_zero_once_and_refuses_while_in_flight() {
    let mut app = app_with(ProviderKind::Demo, w(30));
    let k = key(ProviderKind::Demo);
    let fx = update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Abort,
        },
    );
    assert_eq!(
        writes(&fx),
        vec![(
            Command::Abort,
            Origin::Operator,
            RouterChange::CanaryWeight(Weight::ZERO)
        )]
    );
    let again = update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Promote,
        },
    );
    assert!(again.is_empty());
    assert!(
        app.toast
            .as_ref()
            .is_some_and(|t| t.text.contains("in flight"))
    );
    let ok = done(
        &app,
        &k,
        Ok(WriteOk {
            canary_weight: Some(Weight::ZERO),
            ..Default::default()
        }),
    );
    update(&mut app, ok);
    let tr = &app.rollouts[&k];
    assert_eq!(tr.rollout.canary_weight(), Weight::ZERO);
    assert_eq!(tr.rollout.phase, Phase::Aborted);
    assert_eq!(
        tr.autopilot.as_ref().and_then(|a| a.outcome),
        Some(Outcome::Aborted)
    );
    // An aborted plan stays down: no autopilot writes afterwards.
    for s in 1..30 {
        assert!(writes(&update(&mut app, Msg::Tick(t(s)))).is_empty());
    }
}

#[test]
fn pause_is_audited_without_a_router_write_and_holds_the_weight() {
    let mut app = app_with(ProviderKind::Demo, w(20));
    let k = key(ProviderKind::Demo);
    let fx = update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Pause,
        },
    );
    assert!(writes(&fx).is_empty());
    assert!(matches!(fx.as_slice(), [Effect::Audit(a)] if a.command == Command::Pause));
    assert_eq!(app.rollouts[&k].rollout.phase, Phase::Paused);
    for s in 1..=12 {
        update(&mut app, metrics(t(s), (20, 0), (80, 0)));
        assert!(
            writes(&update(&mut app, Msg::Tick(t(s)))).is_empty(),
            "wrote while paused at {s}s"
        );
    }
    let fx = update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Resume,
        },
    );
    assert!(writes(&fx).is_empty());
    assert_eq!(app.rollouts[&k].rollout.phase, Phase::Progressing);
}

#[test]
fn advance_moves_exactly_one_step_and_stops_at_max() {
    let mut app = app_with(ProviderKind::Demo, w(20));
    let k = key(ProviderKind::Demo);
    let fx = update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Advance,
        },
    );
    assert_eq!(writes(&fx)[0].2, RouterChange::CanaryWeight(w(30)));
    let msg = done(&app, &k, Ok(WriteOk::default()));
    update(&mut app, msg);
    assert_eq!(app.rollouts[&k].rollout.canary_weight(), w(30));
    assert_eq!(app.rollouts[&k].rollout.step, Some((3, 5)));

    let mut app = app_with(ProviderKind::Demo, w(50));
    let fx = update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Advance,
        },
    );
    assert!(fx.is_empty());
    assert!(
        app.toast
            .as_ref()
            .is_some_and(|t| t.text.contains("max weight"))
    );
}

#[test]
fn autopilot_steps_on_passing_checks_and_rolls_back_after_threshold_failures() {
    let mut app = app_with(ProviderKind::Demo, Weight::ZERO);
    let k = key(ProviderKind::Demo);
    // No metrics, no first step; then the first step after one interval.
    assert!(writes(&update(&mut app, Msg::Tick(t(3)))).is_empty());
    update(&mut app, metrics(t(3), (0, 0), (100, 0)));
    assert!(writes(&update(&mut app, Msg::Tick(t(4)))).is_empty());
    let fx = update(&mut app, Msg::Tick(t(5)));
    assert_eq!(
        writes(&fx),
        vec![(
            Command::SetWeight(w(10)),
            Origin::Autopilot,
            RouterChange::CanaryWeight(w(10))
        )]
    );
    let msg = done(&app, &k, Ok(WriteOk::default()));
    update(&mut app, msg);
    // A badly failing canary: three failed checks, then a rollback write to 0.
    let mut rollback = None;
    for s in 6..40 {
        update(&mut app, metrics(t(s), (10, 3), (90, 0)));
        let fx = update(&mut app, Msg::Tick(t(s)));
        if let Some(wr) = writes(&fx).into_iter().next() {
            rollback = Some((s, wr));
            break;
        }
    }
    let (at, wr) = rollback.expect("a rollback");
    assert_eq!(
        wr,
        (
            Command::Abort,
            Origin::Autopilot,
            RouterChange::CanaryWeight(Weight::ZERO)
        )
    );
    assert!(at <= 25, "rolled back only at {at}s");
    assert!(
        app.rollouts[&k].rollout.message.contains("rolled back"),
        "{}",
        app.rollouts[&k].rollout.message
    );
    let msg = done(&app, &k, Ok(WriteOk::default()));
    update(&mut app, msg);
    let tr = &app.rollouts[&k];
    assert_eq!(
        tr.autopilot.as_ref().and_then(|a| a.outcome),
        Some(Outcome::RolledBack)
    );
    assert_eq!(tr.rollout.canary_weight(), Weight::ZERO);
    // Retry restarts the plan from step 0.
    update(
        &mut app,
        Msg::Operator {
            target: k.clone(),
            command: Command::Retry,
        },
    );
    assert_eq!(
        app.rollouts[&k].autopilot.as_ref().and_then(|a| a.outcome),
        None
    );
    assert_eq!(app.rollouts[&k].rollout.step, Some((0, 5)));
}

#[test]
fn stale_metrics_hold_the_autopilot_and_say_why() {
    let mut app = app_with(ProviderKind::Demo, w(10));
    let k = key(ProviderKind::Demo);
    update(&mut app, metrics(t(1), (10, 0), (90, 0)));
    for s in 2..30 {
        assert!(
            writes(&update(&mut app, Msg::Tick(t(s)))).is_empty(),
            "advanced on stale data at {s}s"
        );
    }
    assert!(
        app.rollouts[&k].rollout.message.contains("stale"),
        "{}",
        app.rollouts[&k].rollout.message
    );
}

#[test]
fn failed_write_is_reported_and_never_retried() {
    let mut app = app_with(ProviderKind::Demo, Weight::ZERO);
    let k = key(ProviderKind::Demo);
    update(&mut app, metrics(t(4), (0, 0), (100, 0)));
    assert_eq!(writes(&update(&mut app, Msg::Tick(t(5)))).len(), 1);
    let msg = done(&app, &k, Err("connection refused".into()));
    update(&mut app, msg);
    let tr = &app.rollouts[&k];
    assert_eq!(
        tr.rollout.canary_weight(),
        Weight::ZERO,
        "weight must stay as the router had it"
    );
    assert!(
        tr.rollout.message.contains("connection refused")
            && tr.rollout.message.contains("nothing retried")
    );
    assert!(
        app.toast
            .as_ref()
            .is_some_and(|t| t.text.contains("failed"))
    );
    for s in 6..40 {
        update(&mut app, metrics(t(s), (10, 0), (90, 0)));
        assert!(
            writes(&update(&mut app, Msg::Tick(t(s)))).is_empty(),
            "retried at {s}s"
        );
    }
}

#[test]
fn set_weight_is_validated_for_the_router_before_any_write() {
    let mut app = app_with(ProviderKind::Istio, w(10));
    let k = key(ProviderKind::Istio);
    let half = Weight::from_percent(12.5).expect("weight");
    assert!(
        update(
            &mut app,
            Msg::Operator {
                target: k.clone(),
                command: Command::SetWeight(half)
            }
        )
        .is_empty()
    );
    assert!(app.toast.as_ref().is_some_and(|t| t.text.contains("Istio")));
    let fx = update(
        &mut app,
        Msg::Operator {
            target: k,
            command: Command::SetWeight(w(15)),
        },
    );
    assert_eq!(writes(&fx)[0].2, RouterChange::CanaryWeight(w(15)));
}

#[test]
fn restart_replaces_a_sources_rollouts() {
    let mut app = app_with(ProviderKind::Demo, w(10));
    let other = Rollout::new(
        RolloutKey::new(ProviderKind::Demo, "search"),
        Owner::Manual,
        vec![],
    );
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: SourceId("test".into()),
            rollouts: vec![other.clone()],
        }),
    );
    assert_eq!(
        app.rollouts.keys().cloned().collect::<Vec<_>>(),
        vec![other.key]
    );
}

#[test]
fn source_errors_mark_data_stale() {
    let mut app = app_with(ProviderKind::Demo, w(10));
    let src = SourceId("test".into());
    assert!(!app.is_stale(&src));
    update(
        &mut app,
        Msg::SourceError {
            source: src.clone(),
            error: "connection refused".into(),
        },
    );
    assert!(app.is_stale(&src));
    update(&mut app, metrics(t(1), (1, 0), (9, 0)));
    update(&mut app, Msg::Tick(t(1)));
    assert!(!app.is_stale(&src));
    update(&mut app, Msg::Tick(t(10)));
    assert!(app.is_stale(&src), "no answer for 9s must read as stale");
}

#[test]
fn history_fills_the_charts_but_never_the_totals_or_the_judge() {
    let mut app = app_with(ProviderKind::Demo, w(10));
    let k = key(ProviderKind::Demo);
    let past = |s: u64| {
        (
            t(s),
            BuildSample {
                period_s: 1.0,
                requests: 10,
                errors: 5,
                ..Default::default()
            },
        )
    };
    let mut points = BTreeMap::new();
    points.insert(
        (k.clone(), "canary".to_string()),
        vec![past(1), past(2), past(3)],
    );
    update(
        &mut app,
        Msg::History {
            source: SourceId("prom".into()),
            points,
        },
    );
    let tr = &app.rollouts[&k];
    assert_eq!(tr.series.builds["canary"].len(), 3);
    assert!(
        tr.totals.is_empty(),
        "history must not count as traffic aviary watched"
    );
    assert_eq!(
        tr.autopilot.as_ref().map(|a| a.window.canary.requests),
        Some(0)
    );
}
