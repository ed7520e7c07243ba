//! Mixture sequential probability ratio tests on counts of "bad" requests (errors, or
//! requests slower than a bound).
//!
//! Why a mixture SPRT: the autopilot looks at the evidence every tick, so a fixed-sample test
//! (a z-test at 95 %) would raise false alarms again and again. A likelihood ratio is a
//! martingale under the null hypothesis, so by Ville's inequality the chance it *ever*
//! reaches `1/α` is at most `α`, however often it is looked at. Averaging the ratio over a
//! few alternatives (how much worse the canary might be) keeps that guarantee and spares us
//! from guessing the size of the regression in advance.

/// How many times worse than the reference the canary might be; the mixture bets equally on
/// each. From "half as bad again" (hard to see, slow to prove) to "thirty times as bad".
pub const RISKS: [f64; 6] = [1.5, 2.0, 3.0, 5.0, 10.0, 30.0];

use serde::{Deserialize, Serialize};

/// The weight of evidence that the canary is worse than its reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sprt {
    /// Natural log of the mixture likelihood ratio (worse vs. the same).
    pub log_lr: f64,
    /// The relative risk whose own likelihood ratio is largest: "looks about k× worse".
    pub best_risk: f64,
}

impl Sprt {
    /// The mixture likelihood ratio.
    pub fn lr(&self) -> f64 {
        self.log_lr.exp()
    }

    /// Always-valid p-value: under "no worse", the chance the ratio ever reached its current
    /// value is at most `1/LR`.
    pub fn p_value(&self) -> f64 {
        (-self.log_lr).exp().min(1.0)
    }

    /// True when the ratio has reached `1/alpha`.
    pub fn rejects(&self, alpha: f64) -> bool {
        alpha > 0.0 && self.log_lr >= -alpha.ln()
    }
}

/// Averages per-alternative log likelihood ratios without overflow (log-mean-exp).
fn mixture(parts: &[(f64, f64)]) -> Option<Sprt> {
    let (best_risk, max) =
        parts
            .iter()
            .copied()
            .fold(None, |acc: Option<(f64, f64)>, (k, ll)| match acc {
                Some((_, m)) if m >= ll => acc,
                _ => Some((k, ll)),
            })?;
    let sum: f64 = parts.iter().map(|(_, ll)| (ll - max).exp()).sum();
    Some(Sprt {
        log_lr: max + (sum / parts.len() as f64).ln(),
        best_risk,
    })
}

/// Per-alternative log likelihood ratios summed over strata (refreshes), mixed only when
/// read.
///
/// Why not a product of per-stratum mixtures: that bets on a *new* `k` every second, which
/// is not the hypothesis "the canary is k× worse". The product over strata of one `k`'s
/// ratio is a martingale for each `k`, and so is their average: keep one running sum per
/// `k` and average at the end.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mix {
    ll: [f64; RISKS.len()],
    /// Strata that carried information (both builds had requests).
    pub strata: u32,
}

impl Mix {
    /// Adds one stratum of the two-sample test: `canary_bad` of `canary_n` against
    /// `ref_bad` of `ref_n`, in the same refresh. A stratum where either build had no
    /// requests carries no information and is skipped.
    pub fn add_two_sample(&mut self, canary_bad: u64, canary_n: u64, ref_bad: u64, ref_n: u64) {
        if canary_n == 0 || ref_n == 0 {
            return;
        }
        let ec = canary_bad.min(canary_n) as f64;
        let m = ec + ref_bad.min(ref_n) as f64;
        if m == 0.0 {
            return;
        }
        let theta0 = canary_n as f64 / (canary_n + ref_n) as f64;
        for (ll, k) in self.ll.iter_mut().zip(RISKS) {
            *ll += ec * k.ln() - m * ((k - 1.0) * theta0).ln_1p();
        }
        self.strata += 1;
    }

    /// The mixture over [`RISKS`] of the summed ratios.
    pub fn sprt(&self) -> Sprt {
        let parts: Vec<(f64, f64)> = RISKS.iter().copied().zip(self.ll).collect();
        mixture(&parts).unwrap_or(Sprt {
            log_lr: 0.0,
            best_risk: 1.0,
        })
    }

    /// Log likelihood ratio of one alternative `RISKS[i]` against "the same".
    pub fn log_lr_at(&self, i: usize) -> f64 {
        self.ll.get(i).copied().unwrap_or(0.0)
    }
}

/// Canary against a reference build on the same window.
///
/// Conditional on the bad requests seen in both builds, each one belongs to the canary with
/// probability `θ0 = n_c / (n_c + n_r)` when both builds are equally good, and with
/// `kθ0 / (kθ0 + 1 − θ0)` when the canary is `k` times worse. Conditioning removes the
/// (unknown) baseline rate, so no prior on it is needed and a stable with zero errors is
/// fine. `None` when either build has no requests (nothing to compare).
pub fn two_sample(canary_bad: u64, canary_n: u64, ref_bad: u64, ref_n: u64) -> Option<Sprt> {
    if canary_n == 0 || ref_n == 0 {
        return None;
    }
    let ec = canary_bad.min(canary_n) as f64;
    let er = ref_bad.min(ref_n) as f64;
    let theta0 = canary_n as f64 / (canary_n + ref_n) as f64;
    let parts: Vec<(f64, f64)> = RISKS
        .iter()
        .map(|&k| (k, ec * k.ln() - (ec + er) * (1.0 + (k - 1.0) * theta0).ln()))
        .collect();
    mixture(&parts)
}

/// Canary against a fixed limit `p0` (the plan's max error rate, or 1 % for "p99 ≤ limit").
///
/// Binomial likelihood of `bad` out of `n` at `k·p0` against `p0`, for each `k` with
/// `k·p0 < 1`. `None` with no requests or a limit outside (0, 1).
pub fn one_sample(bad: u64, n: u64, p0: f64) -> Option<Sprt> {
    if n == 0 || !(p0 > 0.0 && p0 < 1.0) {
        return None;
    }
    let e = bad.min(n) as f64;
    let ok = n as f64 - e;
    let parts: Vec<(f64, f64)> = RISKS
        .iter()
        .filter(|&&k| k * p0 < 1.0)
        .map(|&k| (k, e * k.ln() + ok * ((1.0 - k * p0) / (1.0 - p0)).ln()))
        .collect();
    mixture(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn two_sample_matches_the_hand_computed_ratio() {
        // 10 canary errors in 100, 10 stable errors in 900: θ0 = 0.1.
        // ll_k = 10 ln k − 20 ln(1 + 0.1(k − 1)).
        let s = two_sample(10, 100, 10, 900).unwrap();
        let want: Vec<f64> = RISKS
            .iter()
            .map(|k| (10.0 * k.ln() - 20.0 * (1.0 + 0.1 * (k - 1.0)).ln()).exp())
            .collect();
        let mean = want.iter().sum::<f64>() / want.len() as f64;
        assert!(close(s.lr(), mean, 1e-9 * mean), "{} vs {mean}", s.lr());
        // Canary 10 % against stable 1.1 %: k = 10 fits best (10 ln 10 − 20 ln 1.9 = 10.19).
        assert_eq!(s.best_risk, 10.0);
        // Same rate in both builds: evidence against harm (LR < 1).
        assert!(two_sample(1, 100, 9, 900).unwrap().lr() < 1.0);
    }

    #[test]
    fn two_sample_edge_cases() {
        // Zero errors anywhere: no evidence either way.
        assert!(close(
            two_sample(0, 500, 0, 500).unwrap().log_lr,
            0.0,
            1e-12
        ));
        // One build missing: nothing to compare.
        assert_eq!(two_sample(3, 0, 1, 10), None);
        assert_eq!(two_sample(3, 10, 0, 0), None);
        // All canary requests fail while stable is clean: overwhelming.
        assert!(two_sample(200, 200, 0, 1800).unwrap().rejects(1e-6));
        // Both builds fail everything: the canary is not worse.
        assert!(two_sample(200, 200, 1800, 1800).unwrap().lr() < 1.0);
        // Impossible counts (more errors than requests) are clamped, not trusted.
        assert_eq!(two_sample(50, 10, 0, 90), two_sample(10, 10, 0, 90));
    }

    #[test]
    fn one_sample_matches_the_binomial_ratio() {
        // 5 errors in 100 against a 1 % limit: ll_k = 5 ln k + 95 ln((1 − 0.01k)/0.99).
        let s = one_sample(5, 100, 0.01).unwrap();
        let want: Vec<f64> = RISKS
            .iter()
            .map(|k| (5.0 * k.ln() + 95.0 * ((1.0 - 0.01 * k) / 0.99).ln()).exp())
            .collect();
        let mean = want.iter().sum::<f64>() / want.len() as f64;
        assert!(close(s.lr(), mean, 1e-9 * mean));
        assert_eq!(s.best_risk, 5.0);
        // At a 40 % limit only k = 1.5 and 2 are possible (k·p0 < 1).
        let s = one_sample(100, 100, 0.4).unwrap();
        assert!(close(s.best_risk, 2.0, 0.0));
        assert_eq!(one_sample(1, 0, 0.01), None);
        assert_eq!(one_sample(1, 10, 0.0), None);
        assert!(one_sample(0, 10_000, 0.01).unwrap().lr() < 1e-10);
    }

    /// Ville's bound in practice: watching every second for 20 minutes, two equally good
    /// builds rarely reach LR 100 (the bound says at most 1 %).
    #[test]
    fn continuous_monitoring_keeps_the_false_alarm_rate_under_alpha() {
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let runs = 400;
        let mut alarms = 0;
        for _ in 0..runs {
            let (mut ec, mut nc, mut es, mut ns) = (0u64, 0u64, 0u64, 0u64);
            for _ in 0..1200 {
                for _ in 0..10 {
                    let canary = rng.random_bool(0.2);
                    let err = rng.random_bool(0.02);
                    if canary {
                        nc += 1;
                        ec += u64::from(err);
                    } else {
                        ns += 1;
                        es += u64::from(err);
                    }
                }
                if two_sample(ec, nc, es, ns).is_some_and(|s| s.rejects(0.01)) {
                    alarms += 1;
                    break;
                }
            }
        }
        assert!(alarms <= runs / 100, "{alarms} false alarms in {runs}");
    }
}
