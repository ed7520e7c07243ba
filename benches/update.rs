//! `update` throughput: how long the core takes to absorb a burst of worker messages, and one
//! autopilot tick over many rollouts. Both run on the UI task, so they bound frame latency.

use aviary::app::App;
use aviary::domain::observation::{BuildSample, LatencyHistogram, MetricsBatch, SourceId};
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn key(i: usize) -> RolloutKey {
    RolloutKey::namespaced(ProviderKind::Istio, "shop", format!("svc-{i:04}"))
}

fn app(n: usize) -> App {
    let mut app = App::new(UNIX_EPOCH + Duration::from_secs(1_000), Plan::default());
    for i in 0..n {
        let b = |role, name: &str, w: Weight| Build {
            role,
            name: name.into(),
            version: None,
            weight: w,
            selector: name.into(),
        };
        let w = Weight::from_whole((i % 50) as u8).unwrap_or(Weight::ZERO);
        let r = Rollout::new(
            key(i),
            Owner::Autopilot,
            vec![
                b(Role::Stable, "stable", w.complement()),
                b(Role::Canary, "canary", w),
            ],
        );
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Upsert {
                source: SourceId("bench".into()),
                rollout: Box::new(r),
            }),
        );
    }
    app
}

fn batch(n: usize, at: SystemTime) -> Msg {
    let mut h = LatencyHistogram::default();
    for i in 0..100 {
        h.record(10.0 + f64::from(i));
    }
    let s = BuildSample {
        period_s: 1.0,
        requests: 100,
        errors: 1,
        p50_ms: Some(50.0),
        p99_ms: Some(109.0),
        latency: Some(h),
    };
    let mut samples = BTreeMap::new();
    for i in 0..n {
        let mut builds = BTreeMap::new();
        builds.insert("stable".to_string(), s.clone());
        builds.insert("canary".to_string(), s.clone());
        samples.insert(key(i), builds);
    }
    Msg::Metrics(MetricsBatch {
        source: SourceId("bench".into()),
        at,
        samples,
    })
}

fn benches(c: &mut Criterion) {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_001);
    c.bench_function("update: metrics batch for 1,000 rollouts", |b| {
        b.iter_batched(
            || (app(1_000), batch(1_000, t0)),
            |(mut app, msg)| black_box(update(&mut app, msg)),
            BatchSize::LargeInput,
        )
    });
    // Mid-interval: every rollout is judged, none is due to move (the common tick).
    c.bench_function("update: autopilot tick over 1,000 rollouts", |b| {
        let mut a = app(1_000);
        update(&mut a, batch(1_000, t0));
        b.iter(|| black_box(update(&mut a, Msg::Tick(t0))))
    });
}

criterion_group!(update_benches, benches);
criterion_main!(update_benches);
