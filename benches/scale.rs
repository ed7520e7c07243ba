//! The cost of N rollouts at 1,000 and 10,000: one clock tick at rest, one object change (an
//! upsert that moves a weight), one heartbeat, a frame of the overview at 200×60, and the
//! overview's filter. Each runs on the UI task, so together they are what a quiet screen costs
//! and how fast a change reaches its row.

use aviary::app::App;
use aviary::domain::observation::SourceId;
use aviary::domain::{
    Build, Controller, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight,
};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use criterion::{Criterion, criterion_group, criterion_main};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_000_000 + ms)
}

fn source() -> SourceId {
    SourceId("kube VirtualService".into())
}

/// The stand-in API's mix: controllers and raw routers in 20 namespaces.
fn rollout(i: usize, canary: u8) -> Rollout {
    let kind = [
        ProviderKind::Argo,
        ProviderKind::Flagger,
        ProviderKind::Istio,
        ProviderKind::GatewayApi,
        ProviderKind::Smi,
    ][i % 5];
    let owner = match kind {
        ProviderKind::Argo => Owner::Controller(Controller::Argo),
        ProviderKind::Flagger => Owner::Controller(Controller::Flagger),
        _ => Owner::Manual,
    };
    let w = Weight::from_whole(canary).unwrap_or(Weight::ZERO);
    let b = |role, name: &str, w: Weight| Build {
        role,
        name: name.into(),
        version: None,
        weight: w,
        selector: name.into(),
    };
    Rollout::new(
        RolloutKey::namespaced(kind, format!("team-{:02}", i % 20), format!("svc-{i:05}")),
        owner,
        vec![
            b(Role::Stable, "stable", w.complement()),
            b(Role::Canary, "canary", w),
        ],
    )
}

fn app(n: usize) -> App {
    let mut app = App::new(at(0), Plan::default());
    app.read_only = true;
    update(&mut app, Msg::Resize(200, 60));
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: source(),
            rollouts: (0..n).map(|i| rollout(i, (i % 10 * 10) as u8)).collect(),
        }),
    );
    update(&mut app, Msg::Tick(at(100)));
    app
}

fn benches(c: &mut Criterion) {
    let theme = aviary::theme::load("dark", None).expect("theme");
    for n in [1_000, 10_000] {
        let label = if n == 1_000 { "1,000" } else { "10,000" };
        let mut a = app(n);
        let mut ms = 100;
        c.bench_function(&format!("scale: tick at rest, {label} rollouts"), |b| {
            b.iter(|| {
                ms += 200;
                black_box(update(&mut a, Msg::Tick(at(ms))))
            })
        });
        let mut step = 0u8;
        c.bench_function(
            &format!("scale: one object change, {label} rollouts"),
            |b| {
                b.iter(|| {
                    step = (step + 1) % 100;
                    let r = rollout(n / 2, step);
                    black_box(update(
                        &mut a,
                        Msg::Provider(ProviderEvent::Upsert {
                            source: source(),
                            rollout: Box::new(r),
                        }),
                    ))
                })
            },
        );
        c.bench_function(&format!("scale: heartbeat, {label} rollouts"), |b| {
            b.iter(|| {
                black_box(update(
                    &mut a,
                    Msg::Provider(ProviderEvent::Alive { source: source() }),
                ))
            })
        });
        let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
        c.bench_function(&format!("scale: frame 200x60, {label} rollouts"), |b| {
            b.iter(|| {
                // Clear first so every frame is drawn in full, not diffed to nothing.
                term.clear().expect("clear");
                term.draw(|f| aviary::ui::render(black_box(&a), &theme, f))
                    .expect("draw");
            })
        });
        // `j` with the selection at the bottom of the screen, as the app draws it: no clear,
        // so ratatui diffs against the last frame and writes what changed, which is every
        // row, since the list moves up by one.
        let keys = a.visible_keys();
        let (upper, lower) = (
            keys[keys.len() / 2].clone(),
            keys[keys.len() / 2 + 1].clone(),
        );
        let mut down = false;
        c.bench_function(
            &format!("scale: scroll one row, 200x60, {label} rollouts"),
            |b| {
                b.iter(|| {
                    down = !down;
                    a.ui.selected = Some(if down { &lower } else { &upper }.clone());
                    term.draw(|f| aviary::ui::render(black_box(&a), &theme, f))
                        .expect("draw");
                })
            },
        );
        a.ui.selected = None;
        // One keystroke into the `/` filter, through `update` as typed: alternately a `7`
        // that narrows `team-0` (half the rows) to `team-07` (a tenth), and a backspace that
        // widens it again. The sorted order is scanned once (a frame used to scope, filter
        // and sort every rollout).
        let key = |code| Msg::Key(KeyEvent::from(code));
        let (narrow, widen) = (key(KeyCode::Char('7')), key(KeyCode::Backspace));
        a.ui.filter = "team-0".into();
        a.ui.filter_editing = true;
        let mut longer = false;
        c.bench_function(&format!("scale: filter keystroke, {label} rollouts"), |b| {
            b.iter(|| {
                longer = !longer;
                let k = if longer { &narrow } else { &widen };
                black_box(update(&mut a, k.clone()));
                black_box(a.rows().len())
            })
        });
        // The same keystroke and the frame it draws, as the app draws it (diffed, no clear):
        // what typing into the filter costs on screen.
        c.bench_function(
            &format!("scale: filter keystroke and its frame, 200x60, {label} rollouts"),
            |b| {
                b.iter(|| {
                    longer = !longer;
                    let k = if longer { &narrow } else { &widen };
                    black_box(update(&mut a, k.clone()));
                    term.draw(|f| aviary::ui::render(black_box(&a), &theme, f))
                        .expect("draw");
                })
            },
        );
        a.ui.filter_editing = false;
        // Scrolled to the bottom with a filter that keeps a tenth of the rows.
        a.ui.filter = "team-07".into();
        a.refresh_rows();
        a.ui.selected = a.visible_keys().last().cloned();
        c.bench_function(
            &format!("scale: frame 200x60, filtered and scrolled, {label} rollouts"),
            |b| {
                b.iter(|| {
                    term.clear().expect("clear");
                    term.draw(|f| aviary::ui::render(black_box(&a), &theme, f))
                        .expect("draw");
                })
            },
        );
    }
}

criterion_group! {
    name = scale;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(scale);
