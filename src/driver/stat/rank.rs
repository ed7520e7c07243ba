//! The Mann-Whitney U rank test, on raw samples or on histogram buckets (grouped data, where
//! every value in a bucket is a tie), with the usual tie-corrected normal approximation.
//!
//! Why a rank test: latencies are skewed and heavy-tailed, so comparing means or a single
//! percentile is noisy; ranks ask "is a canary request usually slower than a stable one?"
//! and need no assumption about the distribution (Kayenta's judge uses the same test).

/// The result of comparing canary latencies against stable latencies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RankTest {
    /// U for the canary: pairs (canary, stable) where the canary is slower, ties counting ½.
    pub u: f64,
    /// Canary observations.
    pub n_canary: u64,
    /// Stable observations.
    pub n_stable: u64,
    /// Normal score of `u`, tie-corrected, with a continuity correction of ½ toward zero.
    /// Positive when the canary is slower.
    pub z: f64,
}

impl RankTest {
    /// Probability that a random canary request is slower than a random stable one (ties
    /// count ½): 0.5 means no difference. The effect size, independent of traffic volume.
    pub fn p_slower(&self) -> f64 {
        self.u / (self.n_canary as f64 * self.n_stable as f64)
    }

    /// One-sided p-value for "the canary is slower".
    pub fn p_value(&self) -> f64 {
        normal_sf(self.z)
    }

    /// Two-sided p-value, as textbooks and scipy report it.
    pub fn p_two_sided(&self) -> f64 {
        (2.0 * normal_sf(self.z.abs())).min(1.0)
    }
}

/// Mann-Whitney U over two histograms with the same ordered buckets. `None` when either
/// side has no observations.
pub fn grouped(canary: &[u64], stable: &[u64]) -> Option<RankTest> {
    let n1: u64 = canary.iter().sum();
    let n2: u64 = stable.iter().sum();
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let mut below = 0.0; // stable observations in lower buckets
    let mut u = 0.0;
    let mut ties = 0.0; // Σ (t³ − t) over tie groups
    for i in 0..canary.len().max(stable.len()) {
        let c = canary.get(i).copied().unwrap_or(0) as f64;
        let s = stable.get(i).copied().unwrap_or(0) as f64;
        u += c * (below + s / 2.0);
        below += s;
        let t = c + s;
        ties += t * t * t - t;
    }
    let (a, b) = (n1 as f64, n2 as f64);
    let n = a + b;
    let mean = a * b / 2.0;
    let var = a * b / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    let d = u - mean;
    let corrected = d.signum() * (d.abs() - 0.5).max(0.0);
    let z = if var > 0.0 {
        corrected / var.sqrt()
    } else {
        0.0 // every observation tied: no evidence either way
    };
    Some(RankTest {
        u,
        n_canary: n1,
        n_stable: n2,
        z,
    })
}

/// Mann-Whitney U over raw samples (canary, stable); equal values are ties.
pub fn samples(canary: &[f64], stable: &[f64]) -> Option<RankTest> {
    let mut values: Vec<f64> = canary.iter().chain(stable).copied().collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let count = |xs: &[f64]| {
        let mut v = vec![0u64; values.len()];
        for x in xs {
            if let Ok(i) = values.binary_search_by(|p| p.total_cmp(x)) {
                v[i] += 1;
            }
        }
        v
    };
    grouped(&count(canary), &count(stable))
}

/// Upper tail of the standard normal, `P(Z > z)`.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal CDF, `P(Z ≤ z)`.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function; Chebyshev-fitted rational approximation with relative error
/// below 1.2e-7 everywhere, plenty for p-values and bucket probabilities.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let poly = C.iter().rev().fold(0.0, |acc, c| c + t * acc);
    let r = t * (-z * z + poly).exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn textbook_example_without_ties() {
        // scipy.stats.mannwhitneyu's documented example (Conover): males vs females,
        // U1 = 17, asymptotic two-sided p = 0.11134688653314041.
        let r = samples(&[19.0, 22.0, 16.0, 29.0, 24.0], &[20.0, 11.0, 17.0, 12.0]).unwrap();
        assert_eq!(r.u, 17.0);
        assert!(close(r.z, 1.592_168_332_809_065_7, 1e-9), "{}", r.z);
        assert!(close(r.p_two_sided(), 0.111_346_886_533_140_41, 1e-7));
        assert!(close(r.p_slower(), 17.0 / 20.0, 1e-12));
    }

    #[test]
    fn ties_use_mid_ranks_and_the_tie_corrected_variance() {
        // Values 1 2 2 3 vs 2 3 4: U = 0 + ½ + ½ + (1 + ½) = 2.5; ties {2:3, 3:2} give
        // var = 12/12 · (8 − 30/42) = 7.2857, z = (2.5 − 6 + 0.5)/√7.2857 = −1.11144.
        let r = samples(&[1.0, 2.0, 2.0, 3.0], &[2.0, 3.0, 4.0]).unwrap();
        assert_eq!(r.u, 2.5);
        assert!(close(r.z, -1.111_437_860_452_422_7, 1e-9), "{}", r.z);
        assert!(close(r.p_two_sided(), 0.266_379_923_342_482_6, 1e-7));
        assert!(close(r.p_value(), 0.866_810_038_328_758_7, 1e-7));
    }

    #[test]
    fn histograms_give_the_same_answer_as_the_samples_they_count() {
        let canary = [0, 2, 5, 3, 1];
        let stable = [4, 6, 3, 1, 0];
        let expand = |h: &[u64]| -> Vec<f64> {
            h.iter()
                .enumerate()
                .flat_map(|(i, &c)| std::iter::repeat_n(i as f64, c as usize))
                .collect()
        };
        let g = grouped(&canary, &stable).unwrap();
        let s = samples(&expand(&canary), &expand(&stable)).unwrap();
        assert_eq!(g, s);
        assert!(g.z > 2.0 && g.p_slower() > 0.7, "{g:?}");
    }

    #[test]
    fn edge_cases() {
        assert_eq!(grouped(&[0, 0], &[3, 4]), None);
        assert_eq!(grouped(&[1, 0], &[]), None);
        // Everything in one bucket: all tied, no evidence, no NaN.
        let r = grouped(&[0, 50, 0], &[0, 70, 0]).unwrap();
        assert_eq!(r.z, 0.0);
        assert_eq!(r.p_slower(), 0.5);
        // One observation each.
        let r = grouped(&[0, 1], &[1, 0]).unwrap();
        assert_eq!(r.p_slower(), 1.0);
        assert!(r.z.is_finite());
    }

    #[test]
    fn normal_tails_match_tables() {
        assert!(close(normal_cdf(0.0), 0.5, 1e-7));
        assert!(close(normal_cdf(1.959_963_985), 0.975, 1e-7));
        assert!(close(normal_sf(2.326_347_874), 0.01, 1e-8));
        assert!(close(normal_sf(-1.0), 0.841_344_746_068_542_9, 1e-7));
        assert!(close(normal_sf(6.0), 9.865_876_450_377e-10, 1e-15));
    }
}
