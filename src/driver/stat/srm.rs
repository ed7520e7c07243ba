//! Sample-ratio check: does the canary get the share of requests its weight says?
//!
//! Why: every comparison the judge makes assumes the router splits requests as told. A
//! router that ignores its weights, sticky sessions, a broken mesh or a metrics query that
//! matches the wrong pods all show up first as a split that does not match the weight, and
//! any verdict on such data is about the wrong thing. So a mismatch holds the plan.
//!
//! The test is sequential like the others: in each refresh the canary's request count is
//! binomial in the refresh's total at the weight set; the alternatives shift the odds of a
//! request landing on the canary by `e^δ` for a few `δ` either side. One running sum per
//! `δ`, averaged when read, is a martingale for an honest router however the weight moves.
//! Refreshes in which the weight changed are skipped: their requests straddle two weights.

use crate::domain::Weight;
use serde::{Deserialize, Serialize};

/// Log-odds shifts the mixture bets on: from "e² times the odds" to "e⁻² times", so a
/// router delivering half (δ ≈ −0.7) or double the weight is caught quickly.
pub const SHIFTS: [f64; 8] = [-2.0, -1.0, -0.5, -0.25, 0.25, 0.5, 1.0, 2.0];

/// Default false-alarm budget: strict, because a flag holds a healthy plan.
pub const ALPHA: f64 = 0.0005;

/// The running evidence of a split mismatch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitCheck {
    ll: [f64; SHIFTS.len()],
    last_weight: Option<Weight>,
    /// Requests in the refreshes counted at the current weight, and the canary's of them.
    at_weight: (u64, u64),
    /// Refreshes counted.
    pub strata: u32,
}

/// A flagged mismatch, for the *why* and the UI's badge.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitMismatch {
    /// Canary share observed at the current weight (0..=1).
    pub observed: f64,
    /// The weight set.
    pub weight: Weight,
    /// Mixture likelihood ratio of "the split is off" against "as set".
    pub lr: f64,
    /// In words: "canary served 4.8% of requests at weight 30% (48/1000)".
    pub text: String,
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl SplitCheck {
    /// Adds one refresh: `canary` and `stable` requests served while the router was told
    /// `weight`.
    pub fn observe(&mut self, weight: Weight, canary: u64, stable: u64) {
        let steady = self.last_weight == Some(weight);
        if !steady {
            self.at_weight = (0, 0);
        }
        self.last_weight = Some(weight);
        let w = weight.percent() / 100.0;
        let n = canary + stable;
        // At 0 % and 100 % the split is not random; a weight change makes the refresh a mix.
        if !steady || n == 0 || w <= 0.0 || w >= 1.0 {
            return;
        }
        let (c, s) = (canary as f64, stable as f64);
        let lw = logit(w);
        for (ll, d) in self.ll.iter_mut().zip(SHIFTS) {
            let w1 = logistic(lw + d);
            *ll += c * (w1 / w).ln() + s * ((1.0 - w1) / (1.0 - w)).ln();
        }
        self.at_weight.0 = self.at_weight.0.saturating_add(n);
        self.at_weight.1 = self.at_weight.1.saturating_add(canary);
        self.strata += 1;
    }

    /// The weight is in flux (a write in flight): the next refresh starts a new steady
    /// stretch, so neither this one nor the first after it is counted.
    pub fn unsettled(&mut self) {
        self.last_weight = None;
        self.at_weight = (0, 0);
    }

    /// Log of the mixture likelihood ratio (log-mean-exp of the per-shift sums).
    pub fn log_lr(&self) -> f64 {
        let max = self.ll.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = self.ll.iter().map(|l| (l - max).exp()).sum();
        max + (sum / SHIFTS.len() as f64).ln()
    }

    /// The mismatch, once the evidence reaches `1/alpha`.
    pub fn mismatch(&self, alpha: f64) -> Option<SplitMismatch> {
        let log_lr = self.log_lr();
        if !(alpha > 0.0 && log_lr >= -alpha.ln()) {
            return None;
        }
        let weight = self.last_weight?;
        let (n, c) = self.at_weight;
        let observed = if n > 0 { c as f64 / n as f64 } else { 0.0 };
        Some(SplitMismatch {
            observed,
            weight,
            lr: log_lr.exp(),
            text: format!(
                "canary served {:.1}% of requests at weight {weight} ({c}/{n})",
                observed * 100.0
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(p: u8) -> Weight {
        Weight::from_whole(p).unwrap()
    }

    #[test]
    fn per_stratum_arithmetic_by_hand() {
        // One steady refresh at 20 %: 30 of 100 on the canary.
        let mut s = SplitCheck::default();
        s.observe(w(20), 25, 75); // first refresh at a weight: skipped
        assert_eq!(s.strata, 0);
        s.observe(w(20), 30, 70);
        assert_eq!(s.strata, 1);
        let want: f64 = SHIFTS
            .iter()
            .map(|d| {
                let w1 = 1.0 / (1.0 + (-((0.25f64).ln() + d)).exp());
                (30.0 * (w1 / 0.2).ln() + 70.0 * ((1.0 - w1) / 0.8).ln()).exp()
            })
            .sum::<f64>()
            / SHIFTS.len() as f64;
        assert!(
            (s.log_lr() - want.ln()).abs() < 1e-9,
            "{} vs {}",
            s.log_lr(),
            want.ln()
        );
        // A weight change restarts the "at this weight" count and skips the mixed refresh.
        s.observe(w(30), 30, 70);
        assert_eq!((s.strata, s.at_weight), (1, (0, 0)));
        // A write in flight: the refresh after it is skipped too.
        s.observe(w(30), 30, 70);
        s.unsettled();
        s.observe(w(30), 30, 70);
        assert_eq!(s.strata, 2);
        s.observe(w(30), 30, 70);
        assert_eq!(s.strata, 3);
        // 0 % and 100 % carry no information.
        let mut z = SplitCheck::default();
        z.observe(Weight::ZERO, 0, 100);
        z.observe(Weight::ZERO, 0, 100);
        assert_eq!(z.strata, 0);
    }
}
