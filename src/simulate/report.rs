//! What the simulator measured: one row per scenario × rate × judge, the blast radius
//! summed per severity, and the goals checked against the numbers ([`goals`]).

use super::RATES;
use super::goals::Goal;
use super::rollout::{RunResult, SPLIT_HOLD_SECONDS};
use super::scenario::{Blast, SCENARIOS, Scenario, Story};
use super::traffic::STABLE;
use crate::domain::Plan;
use crate::driver::Outcome;
use serde::Serialize;
use serde_json::json;
use std::io::Write;

/// A split mismatch counts as caught in time when flagged this long after the first step.
pub const SPLIT_DEADLINE_S: u64 = 60;

/// Figures for one scenario at one rate under one judge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// Whether rolling back is the right answer.
    pub faulty: bool,
    /// Total requests per second (nominal).
    pub rps: u32,
    /// Judge name.
    pub judge: &'static str,
    /// Rollouts simulated.
    pub runs: u32,
    /// Rollouts rolled back.
    pub rolled_back: u32,
    /// Rollouts promoted.
    pub promoted: u32,
    /// Rollouts neither promoted nor rolled back: after the simulation's cap, or held by a
    /// split mismatch for [`SPLIT_HOLD_SECONDS`].
    pub undecided: u32,
    /// Mean blast radius until the plan ended: canary-caused failed requests (p99 scenario:
    /// canary-caused requests over the p99 limit; slow median: canary requests served).
    pub blast_mean: f64,
    /// 95th percentile of the same.
    pub blast_p95: f64,
    /// Mean seconds from the plan's start to the rollback, over rolled-back runs.
    pub rollback_s_mean: Option<f64>,
    /// Mean seconds from the plan's start to the promotion, over promoted runs.
    pub promote_s_mean: Option<f64>,
    /// Runs in which the sample-ratio check flagged the split.
    pub split_flagged: u32,
    /// Runs in which it did so within [`SPLIT_DEADLINE_S`] of the first step.
    pub split_in_time: u32,
    /// Mean seconds from the first step to the flag, over flagged runs.
    pub split_s_mean: Option<f64>,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = xs.fold((0u64, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| sum / n as f64)
}

impl Row {
    /// Aggregates the runs of one cell.
    pub fn from_runs(s: &Scenario, rps: u32, judge: &'static str, runs: &[RunResult]) -> Self {
        let mut blast: Vec<f64> = runs
            .iter()
            .map(|r| match s.blast {
                Blast::Errors => r.caused_errors as f64,
                Blast::OverLimit => r.caused_slow as f64,
                Blast::Served => r.canary_served as f64,
            })
            .collect();
        blast.sort_by(f64::total_cmp);
        let p95 = blast
            .get(((blast.len() as f64 * 0.95).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0);
        let count = |o: Option<Outcome>| runs.iter().filter(|r| r.outcome == o).count() as u32;
        let secs = |o: Outcome| {
            mean(
                runs.iter()
                    .filter(|r| r.outcome == Some(o))
                    .map(|r| r.seconds as f64),
            )
        };
        let split: Vec<u64> = runs
            .iter()
            .filter_map(|r| Some(r.split_at?.saturating_sub(r.first_step_at.unwrap_or(0))))
            .collect();
        Row {
            scenario: s.name,
            faulty: s.faulty,
            rps,
            judge,
            runs: runs.len() as u32,
            rolled_back: count(Some(Outcome::RolledBack)),
            promoted: count(Some(Outcome::Promoted)),
            undecided: count(None),
            blast_mean: mean(blast.iter().copied()).unwrap_or(0.0),
            blast_p95: p95,
            rollback_s_mean: secs(Outcome::RolledBack),
            promote_s_mean: secs(Outcome::Promoted),
            split_flagged: split.len() as u32,
            split_in_time: split.iter().filter(|&&s| s <= SPLIT_DEADLINE_S).count() as u32,
            split_s_mean: mean(split.iter().map(|&s| s as f64)),
        }
    }

    /// `n` as a percentage of the runs.
    pub fn rate(&self, n: u32) -> f64 {
        100.0 * f64::from(n) / f64::from(self.runs.max(1))
    }
}

/// The whole measurement.
#[derive(Clone, Debug)]
pub struct Report {
    /// Runs per row.
    pub runs: u32,
    /// Seed.
    pub seed: u64,
    /// The plan both judges ran.
    pub plan: Plan,
    /// All rows.
    pub rows: Vec<Row>,
}

fn secs(x: Option<f64>) -> String {
    x.map(|s| format!("{s:.0}s")).unwrap_or_else(|| "-".into())
}

impl Report {
    /// The row of `scenario` at `rps` under `judge`.
    pub fn row(&self, scenario: &str, rps: u32, judge: &str) -> Option<&Row> {
        self.rows
            .iter()
            .find(|r| r.scenario == scenario && r.rps == rps && r.judge == judge)
    }

    /// Mean blast radius of `scenario` summed over the rates, for `judge`.
    pub fn blast_sum(&self, scenario: &str, judge: &str) -> f64 {
        RATES
            .iter()
            .filter_map(|&r| self.row(scenario, r, judge))
            .map(|r| r.blast_mean)
            .sum()
    }

    fn pair(&self, s: &Scenario, r: u32) -> Option<(&Row, &Row)> {
        Some((
            self.row(s.name, r, "stat")?,
            self.row(s.name, r, "threshold")?,
        ))
    }

    /// The side-by-side table.
    pub fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let p = &self.plan;
        writeln!(
            out,
            "aviary simulate --runs {} --seed {}: {} rollouts per row and judge, simulated time",
            self.runs, self.seed, self.runs
        )?;
        writeln!(
            out,
            "plan (Flagger baseline): interval {}s, step {}, max {}, threshold {}, max error {:.0}%, max p99 {}ms",
            p.interval.as_secs(),
            p.step,
            p.max_weight,
            p.threshold,
            p.max_error_rate * 100.0,
            p.max_p99.as_millis()
        )?;
        writeln!(
            out,
            "stable: {:.1}% errors, p50 {:.0}ms, p99 {:.0}ms; blast = canary-caused failed requests until the plan ended",
            STABLE.error_rate * 100.0,
            STABLE.median_ms,
            STABLE.p99_ms
        )?;
        writeln!(
            out,
            "(slow p99×3: canary-caused requests over {}ms; slow median: canary requests served); times from the plan's start\n",
            p.max_p99.as_millis()
        )?;
        writeln!(
            out,
            "{:<15} {:>5} │ {:>35} │ {:>35}",
            "", "", "stat", "threshold"
        )?;
        writeln!(
            out,
            "{:<15} {:>5} │ {:>7} {:>7} {:>6} {:>6} {:>6} │ {:>7} {:>7} {:>6} {:>6} {:>6}",
            "faulty canary",
            "req/s",
            "caught",
            "blast",
            "p95",
            "time",
            "prom",
            "caught",
            "blast",
            "p95",
            "time",
            "prom"
        )?;
        for s in SCENARIOS.iter().filter(|s| s.faulty) {
            for &r in &RATES {
                let Some((a, b)) = self.pair(s, r) else {
                    continue;
                };
                let cols = |x: &Row| {
                    format!(
                        "{:>6.1}% {:>7.1} {:>6.0} {:>6} {:>5.1}%",
                        x.rate(x.rolled_back),
                        x.blast_mean,
                        x.blast_p95,
                        secs(x.rollback_s_mean),
                        x.rate(x.promoted)
                    )
                };
                writeln!(out, "{:<15} {:>5} │ {} │ {}", s.name, r, cols(a), cols(b))?;
            }
        }
        writeln!(
            out,
            "\n{:<15} {:>5} │ {:>11} {:>8} {:>6} {:>7} │ {:>11} {:>8} {:>6} {:>7}",
            "healthy canary",
            "req/s",
            "false rb",
            "promote",
            "held",
            "split",
            "false rb",
            "promote",
            "held",
            "split"
        )?;
        for s in SCENARIOS.iter().filter(|s| !s.faulty) {
            for &r in &RATES {
                let Some((a, b)) = self.pair(s, r) else {
                    continue;
                };
                let cols = |x: &Row| {
                    format!(
                        "{:>10.1}% {:>8} {:>5.1}% {:>6.1}%",
                        x.rate(x.rolled_back),
                        secs(x.promote_s_mean),
                        x.rate(x.undecided),
                        x.rate(x.split_flagged)
                    )
                };
                writeln!(out, "{:<15} {:>5} │ {} │ {}", s.name, r, cols(a), cols(b))?;
            }
        }
        writeln!(
            out,
            "(false rb = rolled back; held = neither promoted nor rolled back, a split mismatch holds \
             the stat judge {SPLIT_HOLD_SECONDS}s before the run ends; split = sample-ratio check flagged, \
             the threshold judge ignores it)"
        )?;
        for s in SCENARIOS.iter().filter(|s| s.story == Story::HalfRouter) {
            let cells: Vec<String> = RATES
                .iter()
                .filter_map(|&r| {
                    let x = self.row(s.name, r, "stat")?;
                    Some(format!(
                        "{r}/s {:.1}% (mean {})",
                        x.rate(x.split_in_time),
                        secs(x.split_s_mean)
                    ))
                })
                .collect();
            writeln!(
                out,
                "{}: split flagged within {SPLIT_DEADLINE_S}s of the first step: {}",
                s.name,
                cells.join(", ")
            )?;
        }
        writeln!(
            out,
            "\n{:<20} {:>10} {:>10} {:>7}",
            "blast, sum of rates", "stat", "threshold", "ratio"
        )?;
        for s in SCENARIOS.iter().filter(|s| s.faulty) {
            let (a, b) = (
                self.blast_sum(s.name, "stat"),
                self.blast_sum(s.name, "threshold"),
            );
            let ratio = if b > 0.0 {
                format!("{:.3}", a / b)
            } else {
                "-".into()
            };
            writeln!(out, "{:<20} {:>10.1} {:>10.1} {:>7}", s.name, a, b, ratio)?;
        }
        writeln!(out, "\ngoals:")?;
        for g in self.goals() {
            let mark = if g.met { "met" } else { "NOT met" };
            writeln!(out, "  [{mark}] {}: {}", g.goal, g.measured)?;
        }
        Ok(())
    }

    /// The same figures as one JSON document.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let severities: Vec<_> = SCENARIOS
            .iter()
            .filter(|s| s.faulty)
            .map(|s| {
                json!({
                    "scenario": s.name,
                    "stat": self.blast_sum(s.name, "stat"),
                    "threshold": self.blast_sum(s.name, "threshold"),
                })
            })
            .collect();
        let goals: Vec<Goal> = self.goals();
        let doc = json!({
            "runs": self.runs,
            "seed": self.seed,
            "plan": self.plan,
            "stable": {
                "error_rate": STABLE.error_rate,
                "p50_ms": STABLE.median_ms,
                "p99_ms": STABLE.p99_ms,
            },
            "rows": self.rows,
            "blast_sum_over_rates": severities,
            "goals": goals,
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}
