//! The overview's CONTEXT and NAMESPACE columns: absent with one cluster and one namespace
//! (the board reads as before), present with several, at 80×24 and 200×60; AGE appears
//! where rollouts have a creation time. A frozen clock keeps the snapshots deterministic.

use aviary::app::App;
use aviary::domain::observation::SourceId;
use aviary::domain::{Build, Owner, Phase, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

fn rollout(ctx: &str, ns: &str, name: &str, phase: Phase, canary: u8) -> Rollout {
    let c = Weight::from_whole(canary).expect("weight");
    let b = |role, n: &str, weight| Build {
        role,
        name: n.into(),
        version: None,
        weight,
        selector: n.into(),
    };
    let key = RolloutKey::namespaced(ProviderKind::Argo, ns, name).on(ctx);
    let mut r = Rollout::new(
        key,
        Owner::Controller(aviary::domain::Controller::Argo),
        vec![
            b(Role::Stable, "stable", c.complement()),
            b(Role::Canary, "canary", c),
        ],
    );
    r.phase = phase;
    r.created = Some(at(0));
    r
}

fn board(rows: &[Rollout]) -> App {
    let mut app = App::new(at(3 * 3600 + 120), Plan::default());
    for r in rows {
        let ctx = r.key.context.clone().unwrap_or_default();
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Upsert {
                source: SourceId(format!("kube@{ctx} Rollout")),
                rollout: Box::new(r.clone()),
            }),
        );
    }
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: SourceId("kube@prod-us Rollout".into()),
            rollouts: rows
                .iter()
                .filter(|r| r.key.context.as_deref() == Some("prod-us"))
                .cloned()
                .collect(),
        }),
    );
    update(&mut app, Msg::Tick(at(3 * 3600 + 121)));
    app
}

fn snap(name: &str, app: &App) {
    let theme = aviary::theme::load("dark", None).expect("theme");
    for (w, h) in [(80, 24), (200, 60)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| aviary::ui::render(app, &theme, f))
            .expect("draw");
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), term.backend());
    }
}

#[test]
fn one_cluster_one_namespace_has_neither_column() {
    let app = board(&[
        rollout("prod-us", "shop", "checkout", Phase::Paused, 20),
        rollout("prod-us", "shop", "cart", Phase::Progressing, 50),
    ]);
    snap("columns_single", &app);
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    term.draw(|f| aviary::ui::render(&app, &theme, f))
        .expect("draw");
    let text = format!("{}", term.backend());
    assert!(
        !text.contains("CONTEXT") && !text.contains("NAMESPACE"),
        "{text}"
    );
}

#[test]
fn several_clusters_and_namespaces_show_both_columns() {
    let app = board(&[
        rollout("prod-us", "shop", "checkout", Phase::Paused, 20),
        rollout("prod-eu", "shop", "checkout", Phase::Failed, 0),
        rollout("staging", "pay", "ledger", Phase::Progressing, 50),
    ]);
    snap("columns_multi", &app);
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    term.draw(|f| aviary::ui::render(&app, &theme, f))
        .expect("draw");
    let text = format!("{}", term.backend());
    assert!(
        text.contains("CONTEXT") && text.contains("NAMESPACE"),
        "{text}"
    );
    assert!(text.contains("prod-eu") && text.contains("3h"), "{text}");
}
