//! The stories the simulator tells: a canary's behaviour against stable, and what the world
//! does meanwhile (outages both builds share, traffic that ramps and dips, bursts of
//! errors, a fault that appears only at high weight, a router that ignores its weights).
//!
//! Why these: stationary traffic flatters every judge. These are the cases that rolled back
//! healthy canaries or promoted bad ones against a real router.

use super::traffic::{Behaviour, STABLE};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What the world does during the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Story {
    /// Nothing: stationary traffic.
    Steady,
    /// Once the canary holds ≥ 30 %, after 0–15 s, both builds fail 20–40 % for 10–30 s.
    SharedOutage,
    /// Traffic swings ±50 % over 5 minutes and dips to 30 % for 15 s every 2 minutes;
    /// both builds' error rate grows with the square of the load.
    Ramp,
    /// Each second starts a 1–5 s burst with probability 3 %: both builds fail 10 %.
    Bursts,
    /// The canary fails at `error_rate` only while it holds at least `share`.
    FaultAbove {
        /// Canary share from which the fault shows.
        share: f64,
        /// Canary error rate then.
        error_rate: f64,
    },
    /// The router delivers half the weight it was set to.
    HalfRouter,
}

/// How rolling back or promoting is scored, and what the blast radius counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blast {
    /// Canary-caused failed requests.
    Errors,
    /// Canary-caused requests over the p99 limit.
    OverLimit,
    /// Canary requests served (each one slower than on stable).
    Served,
}

/// One simulated story: the canary's behaviour against [`STABLE`], and the world's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scenario {
    /// Name in the table and the JSON.
    pub name: &'static str,
    /// The canary.
    pub canary: Behaviour,
    /// False when the canary is as good as stable (rolling it back is a false alarm).
    pub faulty: bool,
    /// What happens around it.
    pub story: Story,
    /// What the blast radius counts.
    pub blast: Blast,
}

const fn steady(name: &'static str, canary: Behaviour, faulty: bool, blast: Blast) -> Scenario {
    Scenario {
        name,
        canary,
        faulty,
        story: Story::Steady,
        blast,
    }
}

const fn healthy(name: &'static str, story: Story) -> Scenario {
    Scenario {
        name,
        canary: STABLE,
        faulty: false,
        story,
        blast: Blast::Errors,
    }
}

const fn errors(name: &'static str, error_rate: f64) -> Scenario {
    steady(
        name,
        Behaviour {
            error_rate,
            ..STABLE
        },
        true,
        Blast::Errors,
    )
}

/// Every scenario, in table order. The first six are the stationary ones of the first
/// edition (healthy; errors 1, 2, 5, 20 %; a p99 three times stable's at the same median).
pub const SCENARIOS: [Scenario; 12] = [
    healthy("healthy", Story::Steady),
    errors("errors 1%", 0.01),
    errors("errors 2%", 0.02),
    errors("errors 5%", 0.05),
    errors("errors 20%", 0.20),
    steady(
        "slow p99×3",
        Behaviour {
            p99_ms: 600.0,
            ..STABLE
        },
        true,
        Blast::OverLimit,
    ),
    healthy("shared outage", Story::SharedOutage),
    healthy("ramp+dips", Story::Ramp),
    healthy("bursts", Story::Bursts),
    Scenario {
        name: "5% above 30%",
        canary: STABLE,
        faulty: true,
        story: Story::FaultAbove {
            share: 0.3,
            error_rate: 0.05,
        },
        blast: Blast::Errors,
    },
    healthy("router ½ weight", Story::HalfRouter),
    steady(
        "slow median",
        Behaviour {
            median_ms: 80.0,
            ..STABLE
        },
        true,
        Blast::Served,
    ),
];

/// One second of the world: overrides of the traffic's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Conditions {
    /// Requests this second, if not the traffic's rate.
    pub rps: Option<u64>,
    /// Share of requests the router sends to the canary.
    pub share: f64,
    /// Stable's error rate, if not [`STABLE`]'s.
    pub stable_error: Option<f64>,
    /// The canary's error rate, if not its behaviour's.
    pub canary_error: Option<f64>,
}

impl Conditions {
    /// Nothing unusual, `share` on the canary.
    pub fn steady(share: f64) -> Self {
        Conditions {
            share,
            ..Default::default()
        }
    }
}

/// A story as it unfolds in one run: its random parameters are drawn once per run (the
/// same for both judges), its per-second events from that second's stream.
#[derive(Clone, Debug)]
pub struct Storyline {
    story: Story,
    /// Shared outage: (delay after 30 % is reached, length, error rate).
    outage: (u64, u64, f64),
    onset: Option<u64>,
    /// Ramp phase, radians.
    phase: f64,
    burst_until: u64,
}

impl Storyline {
    /// The story for the run seeded by `seed`.
    pub fn new(story: Story, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_0f57_0e1e_5000);
        Storyline {
            story,
            outage: (
                rng.random_range(0..=15),
                rng.random_range(10..=30),
                rng.random_range(0.2..=0.4),
            ),
            onset: None,
            phase: rng.random_range(0.0..std::f64::consts::TAU),
            burst_until: 0,
        }
    }

    /// Second `sec` with the router set to `weight` (0..=1); `rps` is the nominal rate.
    pub fn at(&mut self, rng: &mut impl Rng, sec: u64, weight: f64, rps: u64) -> Conditions {
        let mut c = Conditions::steady(weight);
        match self.story {
            Story::Steady => {}
            Story::SharedOutage => {
                if self.onset.is_none() && weight >= 0.3 {
                    self.onset = Some(sec + self.outage.0);
                }
                if let Some(on) = self.onset
                    && sec >= on
                    && sec < on + self.outage.1
                {
                    c.stable_error = Some(self.outage.2);
                    c.canary_error = Some(self.outage.2);
                }
            }
            Story::Ramp => {
                let t = sec as f64;
                let mut load = 1.0 + 0.5 * (std::f64::consts::TAU * t / 300.0 + self.phase).sin();
                if sec % 120 >= 60 && sec % 120 < 75 {
                    load *= 0.3;
                }
                c.rps = Some(((rps as f64 * load).round() as u64).max(1));
                let p = (STABLE.error_rate * load * load).min(0.5);
                c.stable_error = Some(p);
                c.canary_error = Some(p);
            }
            Story::Bursts => {
                if sec >= self.burst_until && rng.random_bool(0.03) {
                    self.burst_until = sec + rng.random_range(1..=5);
                }
                if sec < self.burst_until {
                    c.stable_error = Some(0.10);
                    c.canary_error = Some(0.10);
                }
            }
            Story::FaultAbove { share, error_rate } => {
                if weight + 1e-9 >= share {
                    c.canary_error = Some(error_rate);
                }
            }
            Story::HalfRouter => c.share = weight / 2.0,
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_outage_starts_only_at_high_weight_and_ends() {
        let mut s = Storyline::new(Story::SharedOutage, 1);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for sec in 0..100 {
            assert_eq!(s.at(&mut rng, sec, 0.2, 100).stable_error, None);
        }
        let failing: Vec<u64> = (100..200)
            .filter(|&sec| s.at(&mut rng, sec, 0.3, 100).stable_error.is_some())
            .collect();
        assert!((10..=30).contains(&failing.len()), "{failing:?}");
        assert!(failing[0] <= 115);
        let c = s.at(&mut rng, failing[0], 0.3, 100);
        assert_eq!(c.stable_error, c.canary_error);
        assert!((0.2..=0.4).contains(&c.stable_error.unwrap_or(0.0)));
    }

    #[test]
    fn ramps_bursts_faults_and_routers() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut ramp = Storyline::new(Story::Ramp, 3);
        let rates: Vec<u64> = (0..300)
            .filter_map(|s| ramp.at(&mut rng, s, 0.1, 100).rps)
            .collect();
        assert!(rates.iter().min() < Some(&20) && rates.iter().max() > Some(&140));
        let mut bursts = Storyline::new(Story::Bursts, 4);
        let hit = (0..1000)
            .filter(|&s| bursts.at(&mut rng, s, 0.1, 100).stable_error.is_some())
            .count();
        assert!((40..160).contains(&hit), "{hit}");
        let mut f = Storyline::new(
            Story::FaultAbove {
                share: 0.3,
                error_rate: 0.05,
            },
            5,
        );
        assert_eq!(f.at(&mut rng, 1, 0.25, 100).canary_error, None);
        assert_eq!(f.at(&mut rng, 2, 0.30, 100).canary_error, Some(0.05));
        let mut h = Storyline::new(Story::HalfRouter, 6);
        assert_eq!(h.at(&mut rng, 1, 0.3, 100).share, 0.15);
    }
}
