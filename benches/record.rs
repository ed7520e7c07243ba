//! Recording overhead: what `--record` adds to each message on the UI task, measured on the
//! heaviest message aviary sees — one metrics batch for 1,000 rollouts — next to what
//! `update` itself spends on that batch. Both run on the same task, so the ratio is the
//! share of frame time recording costs.

use aviary::app::App;
use aviary::domain::observation::{BuildSample, LatencyHistogram, MetricsBatch, SourceId};
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::record::Recorder;
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
    let msg = batch(1_000, t0);
    let line = serde_json::to_string(&msg).map(|s| s.len()).unwrap_or(0);
    eprintln!("one recorded batch for 1,000 rollouts: {line} bytes of JSON");
    c.bench_function("record: metrics batch for 1,000 rollouts", |b| {
        let base = app(0);
        // /dev/null: the cost on the UI task is encoding and the buffered write; the page
        // cache takes the bytes either way, and a real file would grow by gigabytes here.
        let mut r = Recorder::create(std::path::Path::new("/dev/null"), &base).expect("recorder");
        b.iter(|| r.record(black_box(&msg)));
    });
    c.bench_function("update: the same batch, for comparison", |b| {
        b.iter_batched(
            || (app(1_000), batch(1_000, t0)),
            |(mut app, msg)| black_box(update(&mut app, msg)),
            BatchSize::LargeInput,
        )
    });
}

criterion_group! {
    name = record_benches;
    config = Criterion::default().sample_size(20);
    targets = benches
}
criterion_main!(record_benches);
