//! What the simulator measured: one row per scenario × rate × judge, the blast radius
//! summed per severity, and the goals checked against the numbers.

use super::RATES;
use super::rollout::RunResult;
use super::traffic::{SCENARIOS, STABLE, Scenario};
use crate::domain::Plan;
use crate::driver::Outcome;
use serde::Serialize;
use serde_json::json;
use std::io::Write;

/// Figures for one scenario at one rate under one judge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Scenario name.
    pub scenario: &'static str,
    /// Whether rolling back is the right answer.
    pub faulty: bool,
    /// Total requests per second.
    pub rps: u32,
    /// Judge name.
    pub judge: &'static str,
    /// Rollouts simulated.
    pub runs: u32,
    /// Rollouts rolled back.
    pub rolled_back: u32,
    /// Rollouts promoted.
    pub promoted: u32,
    /// Rollouts still running after the simulation's cap.
    pub undecided: u32,
    /// Mean canary-caused failed requests until the plan ended (slow scenario: canary-caused
    /// requests over the p99 limit): the blast radius.
    pub blast_mean: f64,
    /// 95th percentile of the same.
    pub blast_p95: f64,
    /// Mean seconds from the plan's start to the rollback, over rolled-back runs.
    pub rollback_s_mean: Option<f64>,
    /// Mean seconds from the plan's start to the promotion, over promoted runs.
    pub promote_s_mean: Option<f64>,
}

fn mean(xs: impl Iterator<Item = f64>) -> Option<f64> {
    let (n, sum) = xs.fold((0u64, 0.0), |(n, s), x| (n + 1, s + x));
    (n > 0).then(|| sum / n as f64)
}

impl Row {
    /// Aggregates the runs of one cell.
    pub fn from_runs(s: &Scenario, rps: u32, judge: &'static str, runs: &[RunResult]) -> Self {
        let slow = s.canary.p99_ms > STABLE.p99_ms;
        let mut blast: Vec<f64> = runs
            .iter()
            .map(|r| {
                if slow {
                    r.caused_slow as f64
                } else {
                    r.caused_errors as f64
                }
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
        }
    }

    fn rate(&self, n: u32) -> f64 {
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

/// One goal of issue 4, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Goal {
    /// The goal in words.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met or not.
    pub met: bool,
}

fn secs(x: Option<f64>) -> String {
    x.map(|s| format!("{s:.0}s")).unwrap_or_else(|| "-".into())
}

impl Report {
    fn row(&self, scenario: &str, rps: u32, judge: &str) -> Option<&Row> {
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

    fn error_severities() -> impl Iterator<Item = &'static Scenario> {
        SCENARIOS
            .iter()
            .filter(|s| s.faulty && s.canary.p99_ms <= STABLE.p99_ms)
    }

    /// The goals, checked against this report.
    pub fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        let (mut stat, mut thr) = (0.0, 0.0);
        let mut worst = (0.0f64, "");
        for s in Self::error_severities() {
            let (a, b) = (
                self.blast_sum(s.name, "stat"),
                self.blast_sum(s.name, "threshold"),
            );
            stat += a;
            thr += b;
            let ratio = if b > 0.0 { a / b } else { 1.0 };
            if ratio > worst.0 {
                worst = (ratio, s.name);
            }
        }
        let total = if thr > 0.0 { stat / thr } else { 1.0 };
        goals.push(Goal {
            goal: "blast radius summed over error severities ≤ 1/3 of threshold's".into(),
            measured: format!("{stat:.0} vs {thr:.0} failed requests: {total:.3}×"),
            met: total <= 1.0 / 3.0,
        });
        goals.push(Goal {
            goal: "no single severity worse than threshold by more than 10 %".into(),
            measured: format!("worst: {} at {:.2}×", worst.1, worst.0),
            met: worst.0 <= 1.1,
        });
        let healthy: Vec<(&Row, &Row)> = RATES
            .iter()
            .filter_map(|&r| {
                Some((
                    self.row("healthy", r, "stat")?,
                    self.row("healthy", r, "threshold")?,
                ))
            })
            .collect();
        let false_rb = healthy
            .iter()
            .map(|(s, _)| s.rate(s.rolled_back))
            .fold(0.0, f64::max);
        goals.push(Goal {
            goal: "false rollbacks on healthy canaries ≤ 1 % (every rate)".into(),
            measured: format!("worst {false_rb:.1}%"),
            met: false_rb <= 1.0,
        });
        let ttp = healthy
            .iter()
            .filter_map(|(s, t)| Some(s.promote_s_mean? / t.promote_s_mean?))
            .fold(0.0, f64::max);
        goals.push(Goal {
            goal: "healthy time to promote ≤ 1.2× threshold's (every rate)".into(),
            measured: format!("worst {ttp:.2}×"),
            met: ttp > 0.0 && ttp <= 1.2,
        });
        let one: Vec<String> = RATES
            .iter()
            .filter_map(|&r| {
                let s = self.row("errors 1%", r, "stat")?;
                let t = self.row("errors 1%", r, "threshold")?;
                let h = self.row("healthy", r, "threshold")?;
                Some(format!(
                    "{r}/s: {:.0}% vs {:.0}% (threshold also rolls back {:.0}% of healthy)",
                    s.rate(s.rolled_back),
                    t.rate(t.rolled_back),
                    h.rate(h.rolled_back)
                ))
            })
            .collect();
        let top = RATES.iter().max().copied().unwrap_or(0);
        let caught = self
            .row("errors 1%", top, "stat")
            .is_some_and(|s| s.rate(s.rolled_back) >= 95.0);
        goals.push(Goal {
            goal: format!(
                "rolls back the 1 % canary (stable 0.5 %, limit 1 %) ≥ 95 % of the time at {top}/s"
            ),
            measured: one.join("; "),
            met: caught,
        });
        goals
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
            "(slow p99×3: canary-caused requests over {}ms); times from the plan's start\n",
            p.max_p99.as_millis()
        )?;
        writeln!(
            out,
            "{:<12} {:>5} │ {:>28} │ {:>28}",
            "", "", "stat", "threshold"
        )?;
        writeln!(
            out,
            "{:<12} {:>5} │ {:>7} {:>7} {:>6} {:>6} │ {:>7} {:>7} {:>6} {:>6}",
            "scenario", "req/s", "caught", "blast", "p95", "time", "caught", "blast", "p95", "time"
        )?;
        for s in SCENARIOS.iter().filter(|s| s.faulty) {
            for &r in &RATES {
                let (Some(a), Some(b)) = (
                    self.row(s.name, r, "stat"),
                    self.row(s.name, r, "threshold"),
                ) else {
                    continue;
                };
                let cols = |x: &Row| {
                    format!(
                        "{:>6.1}% {:>7.1} {:>6.0} {:>6}",
                        x.rate(x.rolled_back),
                        x.blast_mean,
                        x.blast_p95,
                        secs(x.rollback_s_mean)
                    )
                };
                writeln!(out, "{:<12} {:>5} │ {} │ {}", s.name, r, cols(a), cols(b))?;
            }
        }
        writeln!(
            out,
            "\n{:<12} {:>5} │ {:>15} {:>12} │ {:>15} {:>12}",
            "healthy", "req/s", "false rollback", "promote", "false rollback", "promote"
        )?;
        for &r in &RATES {
            let (Some(a), Some(b)) = (
                self.row("healthy", r, "stat"),
                self.row("healthy", r, "threshold"),
            ) else {
                continue;
            };
            let cols = |x: &Row| {
                format!(
                    "{:>14.1}% {:>12}",
                    x.rate(x.rolled_back),
                    secs(x.promote_s_mean)
                )
            };
            writeln!(out, "{:<12} {:>5} │ {} │ {}", "", r, cols(a), cols(b))?;
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
        writeln!(out, "\ngoals (issue 4):")?;
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
            "goals": self.goals(),
        });
        serde_json::to_writer_pretty(&mut *out, &doc)?;
        writeln!(out)
    }
}
