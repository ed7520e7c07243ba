//! Synthetic traffic: per simulated second, how many requests each build got, how many
//! failed, and their latency histogram, drawn from seeded counts instead of one draw per
//! request (a 1,000 req/s rollout is hundreds of thousands of requests).
//!
//! Every failure the canary adds is drawn separately from the ones stable would have had
//! on the same requests, so the simulator can count exactly the *canary-caused* failures
//! (the blast radius) rather than estimate them.

use super::scenario::Conditions;
pub use super::scenario::{SCENARIOS, Scenario};
use crate::domain::observation::histogram::BOUNDS_MS;
use crate::domain::observation::{BuildSample, LatencyHistogram};
use crate::driver::stat::normal::normal_cdf;
use rand::Rng;

/// How one build behaves.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Behaviour {
    /// Share of requests that fail.
    pub error_rate: f64,
    /// Median latency in ms (log-normal).
    pub median_ms: f64,
    /// 99th percentile latency in ms.
    pub p99_ms: f64,
}

/// The stable build in every scenario: 0.5 % errors, median 50 ms, p99 200 ms.
pub const STABLE: Behaviour = Behaviour {
    error_rate: 0.005,
    median_ms: 50.0,
    p99_ms: 200.0,
};

/// z of the 99th percentile of the standard normal.
const Z99: f64 = 2.326_347_874_040_841;

/// A build's latency distribution as histogram bucket probabilities, laid out for drawing
/// a whole second's requests with one binomial per bucket.
#[derive(Clone, Debug)]
pub struct LatencyModel {
    /// (bucket, probability of this bucket given none of the earlier ones).
    steps: Vec<(usize, f64)>,
    /// Probability of a request slower than the SLO limit.
    pub p_slow: f64,
}

impl LatencyModel {
    /// Log-normal with the behaviour's median and p99; `slo_ms` marks "slow".
    pub fn new(b: &Behaviour, slo_ms: f64) -> Self {
        let sigma = (b.p99_ms / b.median_ms).ln() / Z99;
        let cdf = |ms: f64| normal_cdf((ms / b.median_ms).ln() / sigma);
        let mut steps = Vec::new();
        let mut prev = 0.0;
        let mut left = 1.0;
        for i in 0..=BOUNDS_MS.len() {
            let upto = BOUNDS_MS.get(i).map_or(1.0, |&ms| cdf(ms));
            let p = (upto - prev).max(0.0);
            prev = upto;
            if p < 1e-9 && i < BOUNDS_MS.len() {
                continue;
            }
            steps.push((i, if left > 0.0 { (p / left).min(1.0) } else { 1.0 }));
            left -= p;
        }
        if let Some(last) = steps.last_mut() {
            last.1 = 1.0;
        }
        LatencyModel {
            steps,
            p_slow: 1.0 - cdf(slo_ms),
        }
    }

    /// Histogram of `n` requests.
    pub fn draw(&self, rng: &mut impl Rng, n: u64) -> LatencyHistogram {
        let mut h = LatencyHistogram::default();
        let mut left = n;
        for &(i, p) in &self.steps {
            if left == 0 {
                break;
            }
            let k = binomial(rng, left, p);
            h.counts[i] += k;
            left -= k;
        }
        h
    }
}

/// One second of traffic for both builds.
#[derive(Clone, Debug, Default)]
pub struct Second {
    /// Canary sample.
    pub canary: BuildSample,
    /// Stable sample.
    pub stable: BuildSample,
    /// Canary requests that failed and would not have failed on stable.
    pub caused_errors: u64,
    /// Canary requests slower than the SLO limit that would not have been on stable.
    pub caused_slow: u64,
}

/// Draws seconds of traffic for one scenario at one rate.
#[derive(Clone, Debug)]
pub struct Traffic {
    /// What the world does meanwhile.
    pub story: super::scenario::Story,
    rps: u64,
    canary: Behaviour,
    canary_latency: LatencyModel,
    stable_latency: LatencyModel,
    slo_bucket: usize,
}

impl Traffic {
    /// The nominal request rate.
    pub fn rps(&self) -> u64 {
        self.rps
    }

    /// Traffic of `rps` requests a second (unless the story says otherwise); "slow" means
    /// above `slo_ms`.
    pub fn new(scenario: &Scenario, rps: u32, slo_ms: f64) -> Self {
        Traffic {
            story: scenario.story,
            rps: u64::from(rps),
            canary: scenario.canary,
            canary_latency: LatencyModel::new(&scenario.canary, slo_ms),
            stable_latency: LatencyModel::new(&STABLE, slo_ms),
            slo_bucket: BOUNDS_MS
                .iter()
                .position(|b| *b >= slo_ms)
                .unwrap_or(BOUNDS_MS.len()),
        }
    }

    /// One second under `c`: its request rate, the canary's share, both error rates.
    pub fn second(&self, rng: &mut impl Rng, c: &Conditions) -> Second {
        let rps = c.rps.unwrap_or(self.rps);
        let nc = binomial(rng, rps, c.share);
        let ns = rps - nc;
        let stable_p = c.stable_error.unwrap_or(STABLE.error_rate);
        let canary_p = c.canary_error.unwrap_or(self.canary.error_rate);
        // Canary requests that fail anyway (stable would have failed them too), then the
        // extra ones the canary adds among the rest.
        let base = binomial(rng, nc, stable_p);
        let extra_p = ((canary_p - stable_p) / (1.0 - stable_p)).clamp(0.0, 1.0);
        let caused_errors = binomial(rng, nc - base, extra_p);
        let stable_errors = binomial(rng, ns, stable_p);
        let hc = self.canary_latency.draw(rng, nc);
        let hs = self.stable_latency.draw(rng, ns);
        let slow: u64 = hc.counts.iter().skip(self.slo_bucket + 1).sum();
        let (pc, ps) = (self.canary_latency.p_slow, self.stable_latency.p_slow);
        let caused_slow = if pc > ps {
            binomial(rng, slow, 1.0 - ps / pc)
        } else {
            0
        };
        let sample = |requests, errors, h: LatencyHistogram| BuildSample {
            period_s: 1.0,
            requests,
            errors,
            p50_ms: None,
            p99_ms: None,
            latency: Some(h),
        };
        Second {
            canary: sample(nc, base + caused_errors, hc),
            stable: sample(ns, stable_errors, hs),
            caused_errors,
            caused_slow,
        }
    }
}

/// A binomial draw: exact inversion for small means, the normal approximation (continuity
/// corrected) once the mean is 20 or more, where it is within a fraction of a request.
pub fn binomial(rng: &mut impl Rng, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(rng, n, 1.0 - p);
    }
    let mean = n as f64 * p;
    if mean < 20.0 {
        let q = 1.0 - p;
        let r = p / q;
        let mut pmf = (n as f64 * q.ln()).exp();
        let mut cdf = pmf;
        let u: f64 = rng.random();
        let mut k = 0;
        while u > cdf && k < n && pmf > 0.0 {
            pmf *= r * (n - k) as f64 / (k + 1) as f64;
            k += 1;
            cdf += pmf;
        }
        k
    } else {
        let sd = (mean * (1.0 - p)).sqrt();
        (mean + sd * standard_normal(rng) + 0.5)
            .floor()
            .clamp(0.0, n as f64) as u64
    }
}

/// Box-Muller.
fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn binomial_draws_have_the_right_mean_and_spread() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (n, p) in [(50u64, 0.01), (1000, 0.005), (1000, 0.2), (30, 0.9)] {
            let draws: Vec<f64> = (0..20_000)
                .map(|_| binomial(&mut rng, n, p) as f64)
                .collect();
            let mean = draws.iter().sum::<f64>() / draws.len() as f64;
            let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / draws.len() as f64;
            let (m, v) = (n as f64 * p, n as f64 * p * (1.0 - p));
            assert!(
                (mean - m).abs() < 0.05 * m.max(1.0),
                "n {n} p {p}: mean {mean}"
            );
            assert!((var - v).abs() < 0.1 * v.max(1.0), "n {n} p {p}: var {var}");
        }
        assert_eq!(binomial(&mut rng, 0, 0.5), 0);
        assert_eq!(binomial(&mut rng, 7, 1.0), 7);
    }

    #[test]
    fn latency_model_reproduces_median_and_p99() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let slow = LatencyModel::new(&SCENARIOS[5].canary, 500.0);
        let h = slow.draw(&mut rng, 200_000);
        assert_eq!(h.total(), 200_000);
        let p50 = h.quantile(0.5).unwrap_or(0.0);
        let p99 = h.quantile(0.99).unwrap_or(0.0);
        assert!((40.0..63.0).contains(&p50), "{p50}");
        assert!((500.0..=800.0).contains(&p99), "{p99}");
        assert!((0.01..0.02).contains(&slow.p_slow), "{}", slow.p_slow);
    }

    #[test]
    fn caused_errors_are_the_canarys_excess_only() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let t = Traffic::new(&SCENARIOS[4], 1000, 500.0);
        let (mut nc, mut caused, mut errs) = (0, 0, 0);
        for _ in 0..200 {
            let s = t.second(&mut rng, &Conditions::steady(0.5));
            nc += s.canary.requests;
            caused += s.caused_errors;
            errs += s.canary.errors;
        }
        let rate = caused as f64 / nc as f64;
        assert!((0.19..0.20).contains(&rate), "{rate}");
        assert!(errs > caused);
        let healthy = Traffic::new(&SCENARIOS[0], 1000, 500.0);
        assert_eq!(
            healthy
                .second(&mut rng, &Conditions::steady(0.5))
                .caused_errors,
            0
        );
    }
}
