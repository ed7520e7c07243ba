//! The judge's cost and the blast-radius simulation's speed.
//!
//! - `verdict/*`: one statistical verdict on a realistic run (60 refreshes, 30,000 requests,
//!   histograms), as the autopilot asks every tick per rollout; the promotion evidence; the
//!   threshold judge for comparison; `observe/*`: adding one refresh to the strata.
//! - `simulate/*`: one whole simulated rollout through the real `update` loop, and a small
//!   `aviary simulate` batch (10 runs per row = 720 rollouts), which bounds how long
//!   `aviary simulate --runs 1000` takes (100× this batch, spread over the cores).

use aviary::domain::observation::{BuildSample, LatencyHistogram};
use aviary::domain::{Plan, Weight};
use aviary::driver::{Counts, Evidence, Judge, StatJudge, Strata, ThresholdJudge, Window};
use aviary::simulate::traffic::{SCENARIOS, Traffic};
use aviary::simulate::{baseline_plan, rollout, simulate};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;

fn sample(requests: u64, errors: u64, median_ms: f64) -> BuildSample {
    let mut h = LatencyHistogram::default();
    for i in 0..requests {
        // A spread of latencies around the median, deterministic.
        h.record(median_ms * (0.5 + (i % 97) as f64 / 48.0));
    }
    BuildSample {
        period_s: 1.0,
        requests,
        errors,
        latency: Some(h),
        ..Default::default()
    }
}

/// 60 refreshes of 500 requests at 10 %: 30,000 requests in the run, 3,000 on the canary.
fn run() -> (Window, Strata) {
    let plan = Plan::default();
    let weight = Weight::from_whole(10).unwrap_or(Weight::ZERO);
    let t0 = std::time::UNIX_EPOCH;
    let (mut window, mut strata) = (Window::default(), Strata::default());
    let (mut canary, mut stable) = (Counts::default(), Counts::default());
    for s in 0..60u64 {
        let c = sample(50, u64::from(s % 4 == 0), 52.0);
        let st = sample(450, 2 + s % 2, 50.0);
        canary.add(&c);
        stable.add(&st);
        let at = t0 + std::time::Duration::from_secs(s + 1);
        strata.observe(at, Some(weight), &plan, Some(&c), Some(&st));
    }
    window.canary = canary;
    window.stable = stable;
    (window, strata)
}

fn verdict(c: &mut Criterion) {
    let plan = Plan::default();
    let (window, strata) = run();
    let ev = Evidence {
        window: &window,
        run: &window,
        strata: &strata,
        weight: Weight::from_whole(10).unwrap_or(Weight::ZERO),
    };
    let stat = StatJudge::default();
    c.bench_function("verdict/stat", |b| {
        b.iter(|| stat.verdict(black_box(&plan), black_box(&ev), true))
    });
    c.bench_function("verdict/stat promotion evidence", |b| {
        b.iter(|| stat.promotion(black_box(&plan), black_box(&ev)))
    });
    c.bench_function("verdict/threshold", |b| {
        b.iter(|| ThresholdJudge.verdict(black_box(&plan), black_box(&ev), true))
    });
    let (c1, s1) = (sample(50, 1, 52.0), sample(450, 2, 50.0));
    c.bench_function("observe/one refresh into the strata", |b| {
        b.iter_batched(
            || strata.clone(),
            |mut st| {
                st.observe(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(61),
                    Some(ev.weight),
                    &plan,
                    Some(&c1),
                    Some(&s1),
                );
                st
            },
            criterion::BatchSize::SmallInput,
        )
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
    g.bench_function("batch of 720 rollouts (--runs 10), 1 thread", |b| {
        b.iter(|| simulate(black_box(10), 1, 1))
    });
    g.finish();
}

criterion_group!(benches, verdict, simulation);
criterion_main!(benches);
