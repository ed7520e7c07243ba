//! Safe writes in `update`: a confirmation is bound to what its dialog showed, every write
//! asks first and nothing is a no-op, the autopilot yields to outside changes and to stale
//! gaps, and quitting with a canary mid-way asks. Pure: time moves only through `Msg::Tick`.

use aviary::app::{App, Modal};
use aviary::domain::change::{Command, WriteDone, WriteOk};
use aviary::domain::observation::{BuildSample, MetricsBatch, SourceId};
use aviary::domain::{
    Build, Controller, Owner, Phase, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight,
};
use aviary::effect::Effect;
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn t(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
}

fn w(p: u8) -> Weight {
    Weight::from_whole(p).expect("weight")
}

fn rollout(kind: ProviderKind, owner: Owner, canary: Weight) -> Rollout {
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let mut r = Rollout::new(
        RolloutKey::new(kind, "checkout"),
        owner,
        vec![
            b(Role::Stable, "stable", canary.complement()),
            b(Role::Canary, "canary", canary),
        ],
    );
    r.phase = Phase::Progressing;
    r.version = Some("100".into());
    r
}

fn upsert(app: &mut App, r: Rollout) -> Vec<Effect> {
    update(
        app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("test".into()),
            rollout: Box::new(r),
        }),
    )
}

fn app_with(kind: ProviderKind, owner: Owner, canary: Weight) -> App {
    let mut app = App::new(t(0), Plan::default());
    upsert(&mut app, rollout(kind, owner, canary));
    app
}

fn argo() -> Owner {
    Owner::Controller(Controller::Argo)
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    let m = if matches!(code, KeyCode::Char(c) if c.is_ascii_uppercase()) {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    update(app, Msg::Key(KeyEvent::new(code, m)))
}

fn type_text(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn writes(fx: &[Effect]) -> Vec<&aviary::domain::change::WriteRequest> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Write(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn toast(app: &App) -> String {
    app.toast
        .as_ref()
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

fn metrics(key: &RolloutKey, at: SystemTime, canary: (u64, u64), stable: (u64, u64)) -> Msg {
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
    samples.insert(key.clone(), builds);
    Msg::Metrics(MetricsBatch {
        source: SourceId("metrics".into()),
        at,
        samples,
    })
}

fn finish(app: &mut App, key: &RolloutKey, canary: Option<Weight>) {
    let p = app.rollouts[key]
        .pending
        .clone()
        .expect("a write in flight");
    update(
        app,
        Msg::WriteDone(WriteDone {
            op: p.op,
            target: key.clone(),
            command: p.command,
            origin: p.origin,
            result: Ok(WriteOk {
                canary_weight: canary,
                ..Default::default()
            }),
        }),
    );
}

/// The dialogs: the key that opens one and what to type before `y`.
const DIALOGS: [(&str, KeyCode, &str); 4] = [
    ("abort", KeyCode::Char('A'), ""),
    ("promote", KeyCode::Char('P'), ""),
    ("set weight", KeyCode::Char('w'), "35"),
    ("retry", KeyCode::Char('r'), ""),
];

/// The rollout each dialog is tried on: `w` on a mesh route aviary sets by hand (a
/// controller owns its route), the others on an Argo Rollout.
fn subject(code: KeyCode) -> (ProviderKind, Owner) {
    if code == KeyCode::Char('w') {
        (ProviderKind::Istio, Owner::Manual)
    } else {
        (ProviderKind::Argo, argo())
    }
}

fn open(app: &mut App, code: KeyCode, typed: &str) {
    assert!(
        press(app, code).is_empty(),
        "opening a dialog writes nothing"
    );
    if !typed.is_empty() {
        type_text(app, typed);
        press(app, KeyCode::Enter);
    }
    assert!(
        matches!(app.ui.modal, Some(Modal::Confirm(_))),
        "no confirm dialog after {code:?}: {:?} / {}",
        app.ui.modal,
        toast(app)
    );
}

#[test]
fn every_dialog_writes_what_it_showed_when_nothing_changed() {
    for (name, code, typed) in DIALOGS {
        let (kind, owner) = subject(code);
        let mut app = app_with(kind, owner, w(20));
        open(&mut app, code, typed);
        let fx = press(&mut app, KeyCode::Char('y'));
        let ws = writes(&fx);
        assert_eq!(ws.len(), 1, "{name}: {fx:?}");
        assert_eq!(ws[0].before, w(20), "{name}");
        assert_eq!(ws[0].expected_version.as_deref(), Some("100"), "{name}");
    }
}

#[test]
fn every_dialog_refuses_y_after_any_change_underneath() {
    type Change = fn(&mut Rollout);
    let changes: [(&str, Change, &str); 3] = [
        (
            "weight",
            |r| {
                r.builds[0].weight = w(50);
                r.builds[1].weight = w(50);
            },
            "canary 20% → 50%",
        ),
        (
            "phase",
            |r| r.phase = Phase::Paused,
            "phase Progressing → Paused",
        ),
        (
            "version",
            |r| r.version = Some("101".into()),
            "the object was updated",
        ),
    ];
    for (name, code, typed) in DIALOGS {
        for (what, change, says) in changes {
            let (kind, owner) = subject(code);
            let mut app = app_with(kind, owner, w(20));
            open(&mut app, code, typed);
            let mut r = rollout(kind, owner, w(20));
            change(&mut r);
            upsert(&mut app, r);
            let fx = press(&mut app, KeyCode::Char('y'));
            assert!(
                writes(&fx).is_empty(),
                "{name} after a {what} change wrote: {fx:?}"
            );
            let text = toast(&app);
            assert!(
                text.contains("changed since you looked") && text.contains(says),
                "{name} × {what}: {text}"
            );
            let key = if code == KeyCode::Char('w') {
                "w"
            } else {
                match code {
                    KeyCode::Char('A') => "A",
                    KeyCode::Char('P') => "P",
                    _ => "r",
                }
            };
            assert!(
                text.contains(&format!("press {key} again")),
                "{name}: {text}"
            );
            assert!(app.ui.modal.is_none());
        }
    }
}

#[test]
fn the_autopilot_moving_under_an_open_abort_dialog_cancels_the_abort() {
    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, Weight::ZERO);
    let k = RolloutKey::new(ProviderKind::Demo, "checkout");
    update(&mut app, metrics(&k, t(4), (0, 0), (100, 0)));
    let fx = update(&mut app, Msg::Tick(t(5)));
    assert_eq!(writes(&fx).len(), 1, "the first step");
    finish(&mut app, &k, Some(w(10)));
    open(&mut app, KeyCode::Char('A'), "");
    // The autopilot keeps going while the dialog is open.
    let mut stepped = false;
    for s in 6..30 {
        update(&mut app, metrics(&k, t(s), (10, 0), (90, 0)));
        let fx = update(&mut app, Msg::Tick(t(s)));
        if !writes(&fx).is_empty() {
            finish(&mut app, &k, Some(w(20)));
            stepped = true;
            break;
        }
    }
    assert!(stepped, "the autopilot never stepped");
    let fx = press(&mut app, KeyCode::Char('y'));
    assert!(writes(&fx).is_empty(), "{fx:?}");
    assert!(
        toast(&app).contains("changed since you looked (canary 10% → 20%): press A again"),
        "{}",
        toast(&app)
    );
}

#[test]
fn nothing_to_do_is_said_not_confirmed() {
    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, Weight::ZERO);
    assert!(press(&mut app, KeyCode::Char('A')).is_empty());
    assert!(app.ui.modal.is_none());
    assert!(toast(&app).contains("nothing to do"), "{}", toast(&app));

    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, Weight::FULL);
    assert!(press(&mut app, KeyCode::Char('P')).is_empty());
    assert!(app.ui.modal.is_none());
    assert!(toast(&app).contains("nothing to do"), "{}", toast(&app));

    // A controller still has work at 0 % until it reports Aborted.
    let mut app = app_with(ProviderKind::Argo, argo(), Weight::ZERO);
    press(&mut app, KeyCode::Char('A'));
    assert!(matches!(app.ui.modal, Some(Modal::Confirm(_))));
    let mut app = app_with(ProviderKind::Argo, argo(), Weight::ZERO);
    let mut r = rollout(ProviderKind::Argo, argo(), Weight::ZERO);
    r.phase = Phase::Aborted;
    upsert(&mut app, r);
    press(&mut app, KeyCode::Char('A'));
    assert!(app.ui.modal.is_none(), "{:?}", app.ui.modal);
    assert!(toast(&app).contains("nothing to do"), "{}", toast(&app));

    // Typing the weight it already has.
    let mut app = app_with(ProviderKind::Istio, Owner::Manual, w(30));
    press(&mut app, KeyCode::Char('w'));
    type_text(&mut app, "30");
    press(&mut app, KeyCode::Enter);
    match &app.ui.modal {
        Some(Modal::Prompt { error: Some(e), .. }) => {
            assert!(e.contains("already at 30%"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn promote_of_a_canary_that_served_nothing_says_so() {
    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, w(10));
    press(&mut app, KeyCode::Char('P'));
    match &app.ui.modal {
        Some(Modal::Confirm(c)) => assert!(
            c.note
                .as_deref()
                .is_some_and(|n| n.contains("served no requests")),
            "{c:?}"
        ),
        other => panic!("{other:?}"),
    }
    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, w(10));
    let k = RolloutKey::new(ProviderKind::Demo, "checkout");
    update(&mut app, metrics(&k, t(1), (5, 0), (45, 0)));
    press(&mut app, KeyCode::Char('P'));
    match &app.ui.modal {
        Some(Modal::Confirm(c)) => assert_eq!(c.note, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn retry_asks_first_and_stays_paused_under_manual() {
    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, w(20));
    app.start_paused = true;
    let k = RolloutKey::new(ProviderKind::Demo, "checkout");
    press(&mut app, KeyCode::Char('A'));
    let fx = press(&mut app, KeyCode::Char('y'));
    assert_eq!(writes(&fx).len(), 1);
    finish(&mut app, &k, Some(Weight::ZERO));
    assert_eq!(app.rollouts[&k].rollout.phase, Phase::Aborted);
    // `r` opens a dialog; nothing happens until `y`.
    assert!(press(&mut app, KeyCode::Char('r')).is_empty());
    match &app.ui.modal {
        Some(Modal::Confirm(c)) => {
            assert_eq!(c.command, Command::Retry);
            assert!(c.note.as_deref().is_some_and(|n| n.contains("paused")));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        app.rollouts[&k]
            .autopilot
            .as_ref()
            .unwrap()
            .outcome
            .is_some()
    );
    press(&mut app, KeyCode::Char('y'));
    let ap = app.rollouts[&k].autopilot.clone().unwrap();
    assert!(ap.paused && ap.outcome.is_none(), "{ap:?}");
    assert_eq!(app.rollouts[&k].rollout.phase, Phase::Paused);
    // Healthy metrics for a long time: a paused plan never steps by itself.
    for s in 10..60 {
        update(&mut app, metrics(&k, t(s), (0, 0), (100, 0)));
        assert!(writes(&update(&mut app, Msg::Tick(t(s)))).is_empty(), "{s}");
    }
}

/// A demo-kind rollout's autopilot at 20 %, as aviary set it.
fn at_twenty() -> (App, RolloutKey) {
    let mut app = app_with(ProviderKind::Haproxy, Owner::Autopilot, Weight::ZERO);
    let k = RolloutKey::new(ProviderKind::Haproxy, "checkout");
    let mut s = 1;
    while app.rollouts[&k].rollout.canary_weight() < w(20) {
        update(&mut app, metrics(&k, t(s), (10, 0), (90, 0)));
        let fx = update(&mut app, Msg::Tick(t(s)));
        if let Some(r) = writes(&fx).first() {
            let to = r.requested;
            finish(&mut app, &k, to);
        }
        s += 1;
        assert!(s < 100, "never reached 20%");
    }
    app.now = t(s);
    (app, k)
}

#[test]
fn drift_pauses_the_autopilot_at_once_and_p_resumes_from_the_router() {
    let (mut app, k) = at_twenty();
    let start = app.now.duration_since(t(0)).unwrap().as_secs();
    // HAProxy restarted: the runtime weight is back to the config's 0.
    upsert(
        &mut app,
        rollout(ProviderKind::Haproxy, Owner::Autopilot, Weight::ZERO),
    );
    let tr = &app.rollouts[&k];
    assert!(tr.autopilot.as_ref().unwrap().paused);
    assert_eq!(tr.rollout.phase, Phase::Paused);
    assert_eq!(
        tr.rollout.message,
        "canary 0% on the router, aviary set 20%: changed outside aviary — paused; p resumes from the router's weight"
    );
    assert!(toast(&app).contains("changed outside aviary"));
    for s in start..start + 60 {
        update(&mut app, metrics(&k, t(s), (0, 0), (100, 0)));
        let fx = update(&mut app, Msg::Tick(t(s)));
        assert!(writes(&fx).is_empty(), "wrote after drift at {s}: {fx:?}");
    }
    // `p` resumes from the router's weight, and the next write starts from it.
    press(&mut app, KeyCode::Char('p'));
    assert!(
        app.rollouts[&k]
            .rollout
            .message
            .contains("from the router's weight 0%"),
        "{}",
        app.rollouts[&k].rollout.message
    );
    let mut first = None;
    for s in start + 60..start + 80 {
        update(&mut app, metrics(&k, t(s), (0, 0), (100, 0)));
        let fx = update(&mut app, Msg::Tick(t(s)));
        if let Some(r) = writes(&fx).first() {
            first = Some((r.before, r.requested));
            break;
        }
    }
    assert_eq!(first, Some((Weight::ZERO, Some(w(10)))));
}

#[test]
fn after_a_stale_gap_a_step_needs_a_full_fresh_interval() {
    let (mut app, k) = at_twenty();
    let s0 = app.now.duration_since(t(0)).unwrap().as_secs();
    // Metrics stop for 30 s.
    for s in s0..s0 + 30 {
        update(
            &mut app,
            Msg::SourceError {
                source: SourceId("metrics".into()),
                error: "connection refused".into(),
            },
        );
        assert!(writes(&update(&mut app, Msg::Tick(t(s)))).is_empty());
    }
    let back = s0 + 30;
    // Back: healthy samples every second. Plan interval is 5 s: no step before the first
    // fresh batch + 5 s (the first batch after the gap is not evidence).
    let mut step_at = None;
    for s in back..back + 20 {
        update(&mut app, metrics(&k, t(s), (20, 0), (80, 0)));
        if !writes(&update(&mut app, Msg::Tick(t(s)))).is_empty() {
            step_at = Some(s);
            break;
        }
    }
    let at = step_at.expect("a step once fresh samples return");
    assert!(at >= back + 5, "stepped {}s after the gap", at - back);
}

#[test]
fn quitting_with_a_canary_midway_asks_first() {
    let mut app = app_with(ProviderKind::Haproxy, Owner::Autopilot, w(33));
    let fx = press(&mut app, KeyCode::Char('q'));
    assert!(!fx.contains(&Effect::Quit), "{fx:?}");
    assert!(matches!(app.ui.modal, Some(Modal::Quit { .. })));
    press(&mut app, KeyCode::Esc);
    assert!(app.ui.modal.is_none() && !app.should_quit);
    press(&mut app, KeyCode::Char('q'));
    let fx = press(&mut app, KeyCode::Char('y'));
    assert!(fx.contains(&Effect::Quit));
    // The demo's router dies with aviary: nothing is left mid-way, no question.
    let mut app = app_with(ProviderKind::Demo, Owner::Autopilot, w(33));
    assert!(press(&mut app, KeyCode::Char('q')).contains(&Effect::Quit));
    // Nothing new starts once quitting.
    let mut app = app_with(ProviderKind::Argo, argo(), w(33));
    app.should_quit = true;
    press(&mut app, KeyCode::Char('A'));
    assert!(app.ui.modal.is_none());
}

fn screen(app: &App, w: u16, h: u16) -> String {
    let theme = aviary::theme::load("dark", None).unwrap();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).unwrap();
    term.draw(|f| aviary::ui::render(app, &theme, f)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_quit_question_and_the_audit_warning_fit_80x24() {
    let mut app = app_with(ProviderKind::Haproxy, Owner::Autopilot, w(33));
    app.ui.size = (80, 24);
    press(&mut app, KeyCode::Char('q'));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("Quit with a canary mid-way?") && s.contains("haproxy:checkout  canary 33%"),
        "{s}"
    );
    assert!(s.contains("quit anyway"), "{s}");
    press(&mut app, KeyCode::Esc);
    update(
        &mut app,
        Msg::AuditFailed("AUDIT LOG FAILED (disk full): the abort went out unaudited".into()),
    );
    let s = screen(&app, 80, 24);
    assert!(s.contains("⚠ AUDIT LOG FAILED"), "{s}");
}

#[test]
fn a_read_back_that_disagrees_with_an_autopilot_write_pauses_the_plan() {
    let mut app = app_with(ProviderKind::Haproxy, Owner::Autopilot, Weight::ZERO);
    let k = RolloutKey::new(ProviderKind::Haproxy, "checkout");
    update(&mut app, metrics(&k, t(4), (0, 0), (100, 0)));
    let fx = update(&mut app, Msg::Tick(t(5)));
    assert_eq!(writes(&fx)[0].requested, Some(w(10)));
    // Someone set the canary to 0 between the write and its read-back.
    finish(&mut app, &k, Some(Weight::ZERO));
    let tr = &app.rollouts[&k];
    assert!(tr.autopilot.as_ref().unwrap().paused);
    assert!(
        tr.rollout
            .message
            .starts_with("canary 0% on the router, aviary set 10%: changed outside aviary"),
        "{}",
        tr.rollout.message
    );
    for s in 6..30 {
        update(&mut app, metrics(&k, t(s), (0, 0), (100, 0)));
        assert!(writes(&update(&mut app, Msg::Tick(t(s)))).is_empty());
    }
    // Rounding is not a change: HAProxy's 26/256 for 10 % reads back as 10.16 %.
    let mut app = app_with(ProviderKind::Haproxy, Owner::Autopilot, Weight::ZERO);
    update(&mut app, metrics(&k, t(4), (0, 0), (100, 0)));
    update(&mut app, Msg::Tick(t(5)));
    finish(&mut app, &k, Some(Weight::from_percent(10.16).unwrap()));
    assert!(!app.rollouts[&k].autopilot.as_ref().unwrap().paused);
}
