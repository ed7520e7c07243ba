//! Full-frame render cost at 200×60: the overview with 1,000 rollouts, and the detail view of
//! a rollout carrying one hour of 1-second history per build. Target: ≤ 1 ms median a frame.

use aviary::app::App;
use aviary::domain::observation::{
    BuildSample, LatencyHistogram, MarkerKind, MetricsBatch, SourceId,
};
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const HOUR: u64 = 3_600;

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

fn key(i: usize) -> RolloutKey {
    RolloutKey::namespaced(
        ProviderKind::Istio,
        format!("team-{}", i % 17),
        format!("svc-{i:04}"),
    )
}

fn rollout(i: usize) -> Rollout {
    let w = Weight::from_whole((i % 51) as u8).unwrap_or(Weight::ZERO);
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: Some("v1".into()),
        weight,
        selector: name.into(),
    };
    let mut r = Rollout::new(
        key(i),
        Owner::Autopilot,
        vec![
            b(Role::Stable, "stable", w.complement()),
            b(Role::Canary, "canary", w),
        ],
    );
    r.router = format!("VirtualService team/svc-{i:04}");
    r
}

fn sample(req: u64, err: u64) -> BuildSample {
    let mut h = LatencyHistogram::default();
    h.record(20.0);
    h.record(45.0);
    BuildSample {
        period_s: 1.0,
        requests: req,
        errors: err,
        p50_ms: Some(20.0),
        p99_ms: Some(45.0),
        latency: Some(h),
    }
}

/// 1,000 rollouts, one metrics refresh each, and an hour of history on the first.
fn app() -> App {
    let mut app = App::new(at(0), Plan::default());
    app.start_paused = true;
    for i in 0..1_000 {
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Upsert {
                source: SourceId("bench".into()),
                rollout: Box::new(rollout(i)),
            }),
        );
    }
    let mut samples = BTreeMap::new();
    for i in 0..1_000 {
        let mut b = BTreeMap::new();
        b.insert("stable".to_string(), sample(90, 0));
        b.insert("canary".to_string(), sample(10, 1));
        samples.insert(key(i), b);
    }
    update(
        &mut app,
        Msg::Metrics(MetricsBatch {
            source: SourceId("bench".into()),
            at: at(1),
            samples,
        }),
    );
    let first = key(0);
    let t = app.rollouts.get_mut(&first).expect("rollout 0");
    for s in 0..HOUR {
        t.series.push("stable", at(s), &sample(90 + s % 7, s % 3));
        t.series.push("canary", at(s), &sample(10 + s % 5, s % 2));
        if s % 300 == 0 {
            let w = Weight::from_whole(((s / 300) % 6 * 10) as u8).unwrap_or(Weight::ZERO);
            t.series.push_weight(at(s), w);
            t.series.mark(at(s), MarkerKind::Step, format!("{w}"));
        }
    }
    update(&mut app, Msg::Tick(at(HOUR)));
    app.ui.selected = Some(first);
    app
}

fn benches(c: &mut Criterion) {
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(200, 60)).expect("terminal");
    let mut a = app();
    a.ui.detail = false;
    c.bench_function("render 200x60: overview, 1,000 rollouts", |b| {
        b.iter(|| {
            // Clear first so every frame is drawn and sent in full, not diffed to nothing.
            term.clear().expect("clear");
            term.draw(|f| aviary::ui::render(black_box(&a), &theme, f))
                .expect("draw");
        })
    });
    a.ui.detail = true;
    c.bench_function("render 200x60: detail, 1 h of 1 s history", |b| {
        b.iter(|| {
            // Clear first so every frame is drawn and sent in full, not diffed to nothing.
            term.clear().expect("clear");
            term.draw(|f| aviary::ui::render(black_box(&a), &theme, f))
                .expect("draw");
        })
    });
}

criterion_group!(render, benches);
criterion_main!(render);
