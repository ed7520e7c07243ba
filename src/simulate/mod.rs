//! `aviary simulate`: many seeded rollouts of synthetic traffic through the real core, for
//! both judges on identical traffic, to measure what each lets through (docs/JUDGE.md).
//!
//! Why: "the statistical judge is better" is a claim about rates over many rollouts (how
//! many users a bad canary hurts, how often a good one is thrown away), which no single
//! demo run can show. Simulated time makes thousands of rollouts take seconds.

pub mod goals;
pub mod report;
pub mod rollout;
pub mod scenario;
pub mod traffic;

use crate::cli::{JudgeKind, SimulateArgs};
use crate::domain::{Plan, Weight};
use report::{Report, Row};
use rollout::RunResult;
use scenario::SCENARIOS;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use traffic::Traffic;

/// Total request rates simulated, requests per second.
pub const RATES: [u32; 3] = [20, 100, 1000];

/// The judges compared, in table order.
pub const JUDGES: [JudgeKind; 2] = [JudgeKind::Stat, JudgeKind::Threshold];

/// Flagger's seed configuration, the baseline both judges run: `interval: 15s`,
/// `threshold: 5`, `stepWeight: 5`, `maxWeight: 50`, success rate ≥ 99 %, p99 ≤ 500 ms.
pub fn baseline_plan() -> Plan {
    Plan {
        step: Weight::from_whole(5).unwrap_or(Weight::ZERO),
        max_weight: Weight::from_whole(50).unwrap_or(Weight::ZERO),
        interval: Duration::from_secs(15),
        threshold: 5,
        max_error_rate: 0.01,
        max_p99: Duration::from_millis(500),
        evidence: Default::default(),
    }
}

/// One table row's worth of rollouts.
#[derive(Clone, Copy, Debug)]
struct Cell {
    scenario: usize,
    rate: usize,
    judge: usize,
}

/// Seed of run `run` at rate index `rate`: shared by every scenario and both judges.
fn run_seed(seed: u64, rate: usize, run: u32) -> u64 {
    crate::demo::mix(seed ^ crate::demo::mix((rate as u64) << 32 | u64::from(run)))
}

/// Runs `runs` rollouts per scenario × rate × judge on `threads` threads.
pub fn simulate(runs: u32, seed: u64, threads: usize) -> Report {
    let plan = baseline_plan();
    let slo_ms = plan.max_p99.as_secs_f64() * 1000.0;
    let mut cells = Vec::new();
    for scenario in 0..SCENARIOS.len() {
        for rate in 0..RATES.len() {
            for judge in 0..JUDGES.len() {
                cells.push(Cell {
                    scenario,
                    rate,
                    judge,
                });
            }
        }
    }
    let traffic: Vec<Vec<Traffic>> = SCENARIOS
        .iter()
        .map(|s| RATES.iter().map(|&r| Traffic::new(s, r, slo_ms)).collect())
        .collect();
    let judges: Vec<_> = JUDGES.iter().map(|j| j.judge()).collect();
    let jobs = cells.len() * runs as usize;
    let next = AtomicUsize::new(0);
    let results = Mutex::new(vec![vec![RunResult::default(); runs as usize]; cells.len()]);
    const CHUNK: usize = 32;
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut local = Vec::new();
                loop {
                    let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                    if start >= jobs {
                        break;
                    }
                    for job in start..(start + CHUNK).min(jobs) {
                        let (c, run) = (job / runs as usize, (job % runs as usize) as u32);
                        let cell = cells[c];
                        let r = rollout::run(
                            &plan,
                            judges[cell.judge].clone(),
                            &traffic[cell.scenario][cell.rate],
                            run_seed(seed, cell.rate, run),
                        );
                        local.push((c, run as usize, r));
                    }
                }
                if let Ok(mut all) = results.lock() {
                    for (c, run, r) in local {
                        all[c][run] = r;
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    let rows = cells
        .iter()
        .zip(&results)
        .map(|(cell, rs)| {
            let s = &SCENARIOS[cell.scenario];
            Row::from_runs(s, RATES[cell.rate], JUDGES[cell.judge].judge().name(), rs)
        })
        .collect();
    Report {
        runs,
        seed,
        plan,
        rows,
    }
}

/// `aviary simulate`: prints the table (or JSON) to stdout, the timing to stderr.
pub fn main(args: &SimulateArgs) -> std::io::Result<()> {
    let threads = args.threads.map_or_else(
        || {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        },
        |n| n as usize,
    );
    let started = Instant::now();
    let report = simulate(args.runs, args.seed, threads);
    let elapsed = started.elapsed();
    let mut out = std::io::stdout().lock();
    if args.json {
        report.write_json(&mut out)?;
    } else {
        report.write_table(&mut out)?;
    }
    eprintln!(
        "aviary simulate: {} rollouts in {:.1}s on {threads} thread(s)",
        report.rows.len() * args.runs as usize,
        elapsed.as_secs_f64()
    );
    Ok(())
}
