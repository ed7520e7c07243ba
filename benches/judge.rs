//! The judge's cost and the blast-radius simulation's speed.
//!
//! - `verdict/*`: one statistical verdict on a realistic run window (errors, histograms), as
//!   the autopilot asks every tick per rollout; the threshold judge for comparison.
//! - `simulate/*`: one whole simulated rollout through the real `update` loop, and a small
//!   `aviary simulate` batch (10 runs per row = 360 rollouts), which bounds how long
//!   `aviary simulate --runs 1000` takes (100× this batch, spread over the cores).

use aviary::domain::Plan;
use aviary::domain::observation::{BuildSample, LatencyHistogram};
use aviary::driver::{Counts, Judge, StatJudge, ThresholdJudge, Window};
use aviary::simulate::traffic::{SCENARIOS, Traffic};
use aviary::simulate::{baseline_plan, rollout, simulate};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn counts(requests: u64, errors: u64, median_ms: f64) -> Counts {
    let mut h = LatencyHistogram::default();
    for i in 0..requests {
        // A spread of latencies around the median, deterministic.
        h.record(median_ms * (0.5 + (i % 97) as f64 / 48.0));
    }
    let mut c = Counts::default();
    c.add(&BuildSample {
        period_s: 60.0,
        requests,
        errors,
        latency: Some(h),
        ..Default::default()
    });
    c
}

fn verdict(c: &mut Criterion) {
    let plan = Plan::default();
    let window = Window {
        canary: counts(3_000, 17, 52.0),
        stable: counts(27_000, 130, 50.0),
    };
    let stat = StatJudge::default();
    c.bench_function("verdict/stat", |b| {
        b.iter(|| stat.verdict(black_box(&plan), black_box(&window), true))
    });
    c.bench_function("verdict/threshold", |b| {
        b.iter(|| ThresholdJudge.verdict(black_box(&plan), black_box(&window), true))
    });
}

fn simulation(c: &mut Criterion) {
    let plan = baseline_plan();
    let healthy = Traffic::new(&SCENARIOS[0], 1000, 500.0);
    let judge: Arc<dyn Judge> = Arc::new(StatJudge::default());
    c.bench_function("simulate/one healthy rollout, 1000 req/s, stat", |b| {
        b.iter(|| rollout::run(&plan, judge.clone(), black_box(&healthy), 1))
    });
    let mut g = c.benchmark_group("simulate");
    g.sample_size(10);
    g.bench_function("batch of 360 rollouts (--runs 10), 1 thread", |b| {
        b.iter(|| simulate(black_box(10), 1, 1))
    });
    g.finish();
}

criterion_group!(benches, verdict, simulation);
criterion_main!(benches);
