//! The replay player against a hand-made recording: seeking forward and back lands on the
//! same state as playing straight through, the operator's keys act on the operator's view
//! (not the viewer's), and the effects `update` returns are dropped, never executed.

use aviary::app::App;
use aviary::domain::change::{Command, OpId, Origin, WriteDone, WriteOk};
use aviary::domain::observation::SourceId;
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::record::{Entry, Reader, Recorder};
use aviary::run::replay::{Player, headless};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn key(name: &str) -> RolloutKey {
    RolloutKey::new(ProviderKind::Demo, name)
}

fn rollout(name: &str) -> Rollout {
    let b = |role, n: &str, w: Weight| Build {
        role,
        name: n.into(),
        version: None,
        weight: w,
        selector: n.into(),
    };
    let w = Weight::from_whole(30).expect("w");
    Rollout::new(
        key(name),
        Owner::Manual,
        vec![
            b(Role::Stable, "v1", w.complement()),
            b(Role::Canary, "v2", w),
        ],
    )
}

fn recording() -> aviary::record::Recording {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("r.jsonl");
    let app = App::new(t0, Plan::default());
    let mut r = Recorder::create(&f, &app).expect("recorder");
    let mut t = 0;
    let mut put = |msg: Msg| {
        t += 500;
        r.write_entry(&Entry { t_ms: t, msg }).expect("write");
    };
    for n in ["a", "b"] {
        put(Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("demo".into()),
            rollout: Box::new(rollout(n)),
        }));
    }
    for i in 1..=4 {
        put(Msg::Tick(t0 + Duration::from_secs(i)));
    }
    // The operator aborts `a` (selected first): A, y; the router answers.
    let k = |c| {
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char(c),
        ))
    };
    put(k('A'));
    put(k('y'));
    put(Msg::WriteDone(WriteDone {
        op: OpId(1),
        target: key("a"),
        command: Command::Abort,
        origin: Origin::Operator,
        result: Ok(WriteOk {
            canary_weight: Some(Weight::ZERO),
            ..WriteOk::default()
        }),
    }));
    for i in 5..=8 {
        put(Msg::Tick(t0 + Duration::from_secs(i)));
    }
    r.flush().expect("flush");
    drop(r);
    Reader::open(&f).expect("readable")
}

#[test]
fn seeking_lands_on_the_same_state_as_playing_through() {
    let mut straight = Player::new(recording());
    straight.play_until(u64::MAX);
    let a = &straight.app.rollouts[&key("a")];
    assert_eq!(
        a.rollout.canary_weight(),
        Weight::ZERO,
        "the abort replayed"
    );
    assert_eq!(
        straight.app.rollouts[&key("b")].rollout.canary_weight(),
        Weight::from_whole(30).expect("w")
    );

    let mut p = Player::new(recording());
    let marker = p.next_marker().expect("the write result is a marker");
    p.seek(marker);
    assert_eq!(
        p.app.rollouts[&key("a")].rollout.canary_weight(),
        Weight::ZERO
    );
    p.play_until(u64::MAX);
    p.seek(2); // back to just after the two upserts: rebuilt from the start
    assert_eq!(
        p.app.rollouts[&key("a")].rollout.canary_weight(),
        Weight::from_whole(30).expect("w")
    );
    p.seek(usize::MAX);
    assert_eq!(p.app.now, straight.app.now);
    assert_eq!(
        format!("{:?}", p.app.rollouts[&key("a")].events),
        format!("{:?}", straight.app.rollouts[&key("a")].events)
    );
}

#[test]
fn the_viewer_moving_does_not_change_what_the_operator_aborted() {
    let mut p = Player::new(recording());
    p.play_until(500 * 6); // upserts and ticks
    // The viewer selects `b`; the operator's recorded `A` `y` still aborts `a`.
    p.detach();
    let _ = aviary::update::update(
        &mut p.app,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Down,
        )),
    );
    assert_eq!(p.app.ui.selected, Some(key("b")));
    p.play_until(u64::MAX);
    assert_eq!(
        p.app.rollouts[&key("a")].rollout.canary_weight(),
        Weight::ZERO
    );
    assert_eq!(
        p.app.rollouts[&key("b")].rollout.canary_weight(),
        Weight::from_whole(30).expect("w")
    );
    assert_eq!(
        p.app.ui.selected,
        Some(key("b")),
        "the viewer's selection stays"
    );
    assert!(!p.app.should_quit);
}

#[test]
fn headless_replay_prints_a_line_per_rollout_per_second_and_summaries() {
    let mut out = Vec::new();
    headless(recording(), &mut out).expect("replay");
    let text = String::from_utf8(out).expect("utf-8");
    let lines: Vec<&str> = text.lines().collect();
    // Ticks at 1..=8 s: one line per rollout per second, then one summary each.
    assert_eq!(lines.len(), 8 * 2 + 2, "{text}");
    assert!(lines[0].contains("\"t\":1.0"), "{}", lines[0]);
    assert!(lines.last().is_some_and(|l| l.contains("summary")));
    let _ = SystemTime::now();
}

#[test]
fn a_recorded_write_this_core_never_asked_for_still_lands_and_is_counted() {
    let mut rec = recording();
    // As if another build's autopilot had set `b` to 0 % (op 7, which this core never issued).
    let at = rec.entries.len() - 1;
    rec.entries.insert(
        at,
        Entry {
            t_ms: rec.entries[at].t_ms,
            msg: Msg::WriteDone(WriteDone {
                op: OpId(7),
                target: key("b"),
                command: Command::SetWeight(Weight::ZERO),
                origin: Origin::Autopilot,
                result: Ok(WriteOk {
                    canary_weight: Some(Weight::ZERO),
                    ..WriteOk::default()
                }),
            }),
        },
    );
    let mut p = Player::new(rec);
    p.play_until(u64::MAX);
    assert_eq!(
        p.app.rollouts[&key("b")].rollout.canary_weight(),
        Weight::ZERO
    );
    assert!(p.app.rollouts[&key("b")].pending.is_none());
    assert_eq!(p.diverged(), 1);
    let mut same = Player::new(recording());
    same.play_until(u64::MAX);
    assert_eq!(same.diverged(), 0);
}
