//! The small things a tryout hit: overview columns never run into each other, `/` shows
//! its prompt and count in every view, the help overlay passes the next key on, `r retry`
//! on an aborted rollout, `w` shows what the router would get as it is typed, the log pane
//! says when it is empty.

use aviary::app::{App, Modal};
use aviary::domain::observation::SourceId;
use aviary::domain::{
    ActionKind, Build, Capabilities, Controller, Owner, Phase, Plan, ProviderKind, Role, Rollout,
    RolloutKey, Weight,
};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, UNIX_EPOCH};

fn rollout(key: RolloutKey, owner: Owner, phase: Phase, canary: u8) -> Rollout {
    let c = Weight::from_whole(canary).expect("weight");
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let mut r = Rollout::new(
        key,
        owner,
        vec![
            b(Role::Stable, "stable", c.complement()),
            b(Role::Canary, "canary", c),
        ],
    );
    r.phase = phase;
    r
}

fn app() -> App {
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut app = App::new(now, Plan::default());
    app.read_only = true; // no autopilot: phases stay as given
    let rs = [
        rollout(
            RolloutKey::namespaced(
                ProviderKind::Argo,
                "payments-production",
                "checkout-frontend-v2",
            ),
            Owner::Controller(Controller::Argo),
            Phase::Aborted,
            0,
        ),
        rollout(
            RolloutKey::namespaced(ProviderKind::Flagger, "shop", "search"),
            Owner::Controller(Controller::Flagger),
            Phase::AwaitingPromotion,
            50,
        ),
        rollout(
            RolloutKey::new(ProviderKind::Haproxy, "be_app"),
            Owner::Manual,
            Phase::Progressing,
            35,
        ),
    ];
    for r in rs {
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Upsert {
                source: SourceId("kube".into()),
                rollout: Box::new(r),
            }),
        );
    }
    app.read_only = false;
    app
}

fn screen(app: &App, w: u16, h: u16) -> Vec<String> {
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| aviary::ui::render(app, &theme, f))
        .expect("draw");
    let buf = term.backend().buffer();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn press(app: &mut App, code: KeyCode) {
    update(app, Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
}

#[test]
fn overview_columns_never_run_into_each_other_at_any_width() {
    let app = app();
    for w in (40..=200).step_by(7) {
        let rows = screen(&app, w, 12);
        let header = rows.iter().find(|r| r.contains("ROLLOUT")).expect("header");
        // Every column title shown is whole and two cells from the next.
        let titles = [
            "ROLLOUT",
            "OWNER",
            "PHASE",
            "STABLE|CANARY",
            "ERR 30s C/S",
            "P99",
            "STEP",
            "AGE",
            "CHANGED",
        ];
        let shown: Vec<&str> = titles
            .iter()
            .copied()
            .filter(|t| header.contains(t))
            .collect();
        assert!(shown.len() >= if w >= 60 { 3 } else { 2 }, "{w}: {header}");
        let cut = ["STABLE|", "ERR 3", "ERR 30s"];
        for c in cut {
            if header.contains(c) {
                assert!(
                    shown.iter().any(|t| t.starts_with(c) && header.contains(t)),
                    "{w}: a cut title in {header:?}"
                );
            }
        }
        for t in &shown[1..] {
            let i = header.find(t).expect("title");
            assert!(
                header[..i].ends_with("  "),
                "{w}: {t} touches its neighbour: {header:?}"
            );
        }
        // Values are whole: the long phase name, the weight with its %.
        let body = rows.join("\n");
        assert!(body.contains("AwaitingPromotion"), "{w}:\n{body}");
        if header.contains("STABLE|CANARY") {
            assert!(
                body.contains("  35%  ") || body.contains("  35%│"),
                "{w}: weight runs into its neighbour:\n{body}"
            );
        }
        // A long name is cut with an ellipsis, never silently.
        if !body.contains("argo:payments-production/checkout-frontend-v2") {
            assert!(body.contains('…'), "{w}:\n{body}");
        }
    }
}

#[test]
fn slash_shows_prompt_text_and_count_in_the_detail_view_too() {
    let mut app = app();
    press(&mut app, KeyCode::Enter);
    assert!(app.ui.detail);
    press(&mut app, KeyCode::Char('/'));
    for c in "sea".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let rows = screen(&app, 100, 30);
    let footer = rows.last().expect("footer");
    assert!(
        footer.contains("/sea▏") && footer.contains("1 of 3 match"),
        "{footer}"
    );
    press(&mut app, KeyCode::Char('x'));
    let footer = screen(&app, 100, 30).last().cloned().expect("footer");
    assert!(footer.contains("no rollout matches"), "{footer}");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Esc); // back to the overview, filter kept
    let body = screen(&app, 100, 30).join("\n");
    assert!(
        body.contains("no rollout matches /seax (3 hidden)"),
        "{body}"
    );
}

#[test]
fn help_says_how_to_close_and_passes_the_next_key_on() {
    let mut app = app();
    let first = app.ui.selected.clone();
    press(&mut app, KeyCode::Char('?'));
    let body = screen(&app, 100, 30).join("\n");
    assert!(body.contains("? or esc closes"), "{body}");
    press(&mut app, KeyCode::Char('j'));
    assert!(!app.ui.help, "still open");
    assert_ne!(app.ui.selected, first, "the j was swallowed");
    press(&mut app, KeyCode::Char('?'));
    press(&mut app, KeyCode::Esc);
    assert!(!app.ui.help && !app.ui.detail, "esc only closes help");
}

#[test]
fn an_aborted_rollout_offers_r_retry_in_the_footer() {
    let mut app = app();
    let key = app
        .visible_keys()
        .into_iter()
        .find(|k| app.rollouts[k].rollout.phase == Phase::Aborted)
        .expect("an aborted rollout");
    app.ui.selected = Some(key.clone());
    let footer = screen(&app, 120, 20).last().cloned().expect("footer");
    assert!(footer.contains(" r retry "), "{footer}");
    // Not where the owner refuses it, nor on a rollout that is not aborted.
    app.rollouts.get_mut(&key).expect("t").rollout.capabilities =
        Capabilities::all().refuse(ActionKind::Retry, "Flagger retries on a new revision");
    let footer = screen(&app, 120, 20).last().cloned().expect("footer");
    assert!(!footer.contains("retry"), "{footer}");
}

#[test]
fn w_shows_the_routers_rule_and_the_exact_weight_as_typed() {
    let mut app = app();
    let key = RolloutKey::new(ProviderKind::Haproxy, "be_app");
    app.ui.selected = Some(key.clone());
    press(&mut app, KeyCode::Char('w'));
    for c in "35".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let footer = screen(&app, 120, 20).last().cloned().expect("footer");
    assert!(
        footer.contains("HAProxy weights are 0..=256: canary 90/256 = 35.16%"),
        "{footer}"
    );
    for _ in 0..2 {
        press(&mut app, KeyCode::Backspace);
    }
    // A key that would make the text something the router cannot take is not typed: 101
    // stays 10, a third decimal is dropped, and so is a letter.
    for c in "101".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let footer = screen(&app, 120, 20).last().cloned().expect("footer");
    assert!(!footer.contains("101"), "{footer}");
    assert!(footer.contains("canary 26/256 = 10.16%"), "{footer}");
    for c in ".255x".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let Some(Modal::Prompt { input, .. }) = &app.ui.modal else {
        panic!("the prompt closed")
    };
    assert_eq!(input, "10.25");
}

#[test]
fn the_log_pane_says_when_it_is_empty() {
    let mut app = app();
    press(&mut app, KeyCode::Char('l'));
    let body = screen(&app, 100, 30).join("\n");
    assert!(body.contains("nothing logged yet"), "{body}");
}
