//! The judge's goals, checked against a [`Report`]: the second edition's acceptance figures,
//! and the first edition's that must still hold.

use super::RATES;
use super::report::{Report, Row};
use super::scenario::{SCENARIOS, Scenario, Story};
use serde::Serialize;

/// One goal, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Goal {
    /// The goal in words.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met or not.
    pub met: bool,
}

/// The stationary error severities the blast-radius goal sums over (first edition).
const SEVERITIES: [&str; 4] = ["errors 1%", "errors 2%", "errors 5%", "errors 20%"];

fn healthy() -> impl Iterator<Item = &'static Scenario> {
    SCENARIOS.iter().filter(|s| !s.faulty)
}

impl Report {
    fn per_rate(&self, scenario: &str, judge: &str, f: impl Fn(&Row) -> f64) -> Vec<(u32, f64)> {
        RATES
            .iter()
            .filter_map(|&r| Some((r, f(self.row(scenario, r, judge)?))))
            .collect()
    }

    fn worst(xs: &[(u32, f64)]) -> f64 {
        xs.iter().map(|x| x.1).fold(0.0, f64::max)
    }

    fn listed(xs: &[(u32, f64)]) -> String {
        xs.iter()
            .map(|(r, x)| format!("{r}/s {x:.1}%"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The goals, checked against this report.
    pub fn goals(&self) -> Vec<Goal> {
        let mut goals = Vec::new();
        let rb = |r: &Row| r.rate(r.rolled_back);

        let stat = self.per_rate("shared outage", "stat", rb);
        let thr = self.per_rate("shared outage", "threshold", rb);
        goals.push(Goal {
            goal: "shared outage: healthy canaries rolled back ≤ 1 % at every rate".into(),
            measured: format!(
                "stat {} (threshold {})",
                Self::listed(&stat),
                Self::listed(&thr)
            ),
            met: !stat.is_empty() && Self::worst(&stat) <= 1.0,
        });

        let prom = self.per_rate("errors 2%", "stat", |r| r.rate(r.promoted));
        let prom_t = self.per_rate("errors 2%", "threshold", |r| r.rate(r.promoted));
        goals.push(Goal {
            goal: "a canary at 4× stable's errors (2 %) promoted ≤ 2 % at every rate".into(),
            measured: format!(
                "stat {} (threshold {})",
                Self::listed(&prom),
                Self::listed(&prom_t)
            ),
            met: !prom.is_empty() && Self::worst(&prom) <= 2.0,
        });

        let (mut a, mut b) = (0.0, 0.0);
        let mut worst = (0.0f64, "");
        for s in SEVERITIES {
            let (x, y) = (self.blast_sum(s, "stat"), self.blast_sum(s, "threshold"));
            a += x;
            b += y;
            let ratio = if y > 0.0 { x / y } else { 1.0 };
            if ratio > worst.0 {
                worst = (ratio, s);
            }
        }
        let total = if b > 0.0 { a / b } else { 1.0 };
        let fa = "5% above 30%";
        let (fx, fy) = (self.blast_sum(fa, "stat"), self.blast_sum(fa, "threshold"));
        goals.push(Goal {
            goal: "blast radius summed over error severities (1, 2, 5, 20 %) ≤ 1/3 of threshold's"
                .into(),
            measured: format!(
                "{a:.0} vs {b:.0} failed requests: {total:.3}× (with \"{fa}\": {:.0} vs {:.0}, {:.3}×)",
                a + fx,
                b + fy,
                (a + fx) / (b + fy).max(1e-9)
            ),
            met: total <= 1.0 / 3.0,
        });

        let mut cells = Vec::new();
        let mut worst_rb = 0.0f64;
        for s in healthy() {
            let xs = self.per_rate(s.name, "stat", rb);
            worst_rb = worst_rb.max(Self::worst(&xs));
            cells.push(format!("{} worst {:.1}%", s.name, Self::worst(&xs)));
        }
        goals.push(Goal {
            goal: "false rollbacks on healthy canaries ≤ 1 % at every rate, every healthy story"
                .into(),
            measured: cells.join("; "),
            met: worst_rb <= 1.0,
        });

        let ttp: Vec<(u32, f64)> = RATES
            .iter()
            .filter_map(|&r| {
                let s = self.row("healthy", r, "stat")?.promote_s_mean?;
                let t = self.row("healthy", r, "threshold")?.promote_s_mean?;
                Some((r, s / t))
            })
            .collect();
        let worst_ttp = Self::worst(&ttp);
        goals.push(Goal {
            goal: "healthy time to promote ≤ 1.5× threshold's at every rate".into(),
            measured: ttp
                .iter()
                .map(|(r, x)| format!("{r}/s {x:.2}×"))
                .collect::<Vec<_>>()
                .join(", "),
            met: !ttp.is_empty() && worst_ttp <= 1.5,
        });

        let half = SCENARIOS.iter().find(|s| s.story == Story::HalfRouter);
        if let Some(h) = half {
            let xs = self.per_rate(h.name, "stat", |r| r.rate(r.split_in_time));
            let at100 = xs.iter().find(|x| x.0 == 100).map_or(0.0, |x| x.1);
            goals.push(Goal {
                goal:
                    "a router delivering half the weight flagged within 60 s at 100 req/s in ≥ 95 %"
                        .into(),
                measured: Self::listed(&xs),
                met: at100 >= 95.0,
            });
        }
        let (mut flagged, mut runs) = (0u32, 0u32);
        for s in SCENARIOS.iter().filter(|s| s.story != Story::HalfRouter) {
            for &r in &RATES {
                if let Some(x) = self.row(s.name, r, "stat") {
                    flagged += x.split_flagged;
                    runs += x.runs;
                }
            }
        }
        let honest = 100.0 * f64::from(flagged) / f64::from(runs.max(1));
        goals.push(Goal {
            goal: "an honest router flagged ≤ 0.1 %".into(),
            measured: format!("{flagged} of {runs} stat runs ({honest:.3}%)"),
            met: runs > 0 && honest <= 0.1,
        });

        goals.push(Goal {
            goal: "(first edition) no single severity worse than threshold by more than 10 %"
                .into(),
            measured: format!("worst: {} at {:.2}×", worst.1, worst.0),
            met: worst.0 <= 1.1,
        });
        let top = RATES.iter().max().copied().unwrap_or(0);
        let caught = self.per_rate("errors 1%", "stat", rb);
        goals.push(Goal {
            goal: format!(
                "(first edition) rolls back the 1 % canary (stable 0.5 %, limit 1 %) ≥ 95 % at {top}/s"
            ),
            measured: Self::listed(&caught),
            met: caught.iter().any(|x| x.0 == top && x.1 >= 95.0),
        });
        goals
    }
}
