//! The fleet `aviary demo` starts by default: four services, each with its own stable and
//! canary builds, its own weighted router and its own load, and each a different fate, so
//! the overview has something to sort and the room sees every ending in one story.

use super::builds::BuildSpec;
use super::scenario::{Fate, Pace, Scenario};
use crate::domain::{Plan, Weight};
use std::time::Duration;

/// One service of the demo world.
#[derive(Clone, Debug)]
pub struct Service {
    /// Its name, the rollout's key (`demo:checkout`).
    pub name: String,
    /// How its story ends.
    pub fate: Fate,
    /// The build serving today.
    pub stable: BuildSpec,
    /// The build being tried.
    pub canary: BuildSpec,
    /// The autopilot's plan; for [`Fate::ByHand`] the pipeline's cadence and step.
    pub plan: Plan,
    /// Where a [`Fate::ByHand`] pipeline stops and waits for a human (its plan's max).
    pub hold_at: Weight,
}

fn w(pct: u8) -> Weight {
    Weight::from_whole(pct).unwrap_or(Weight::ZERO)
}

fn versions(
    mut s: BuildSpec,
    mut c: BuildSpec,
    stable: &str,
    canary: &str,
) -> (BuildSpec, BuildSpec) {
    s.version = stable.into();
    c.version = canary.into();
    (s, c)
}

impl Service {
    fn new(name: &str, fate: Fate, v: (&str, &str), plan: Plan) -> Self {
        let (stable, canary) = versions(
            BuildSpec::stable(Scenario::Healthy),
            BuildSpec::canary_for(fate),
            v.0,
            v.1,
        );
        Service {
            name: name.into(),
            fate,
            stable,
            canary,
            hold_at: if fate == Fate::ByHand {
                plan.max_weight
            } else {
                w(30)
            },
            plan,
        }
    }

    /// The one service of `--scenario NAME`: `checkout`, with the plan as given.
    pub fn single(s: Scenario, plan: Plan) -> Self {
        Self::new("checkout", Fate::of(s), ("v1.4.2", "v1.5.0"), plan)
    }
}

/// The fleet at `pace`. `tune` applies the plan flags the user gave explicitly, so
/// `--interval 1s` still means one second for every service.
pub fn fleet(base: &Plan, pace: Pace, tune: impl Fn(Plan) -> Plan) -> Vec<Service> {
    let plan = |step: u8, max: u8, secs: u64| {
        tune(Plan {
            step: w(step),
            max_weight: w(max),
            interval: pace.scale(Duration::from_secs(secs)),
            ..base.clone()
        })
    };
    vec![
        // Climbs 10 → 20 → 30 %; the fault surfaces from 25 %, so the fall follows the climb
        // (rolled back about 40 s in).
        Service::new(
            "checkout",
            Fate::FailsAfterClimb,
            ("v1.4.2", "v1.5.0"),
            plan(10, 50, 10),
        ),
        // Four long steps, then promoted: the happy ending, about 75 s in.
        Service::new(
            "payments",
            Fate::Promotes,
            ("v2.3.0", "v2.4.0"),
            plan(20, 80, 15),
        ),
        // Slows down from 20 %; rolled back on p99 about 35 s in.
        Service::new(
            "search",
            Fate::Slow,
            ("v0.9.1", "v0.10.0"),
            plan(10, 50, 12),
        ),
        // A release pipeline steps it to 30 % and waits: the one that needs a human.
        Service::new(
            "inventory",
            Fate::ByHand,
            ("v3.1.0", "v3.2.0"),
            plan(10, 30, 10),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_has_every_fate_and_distinct_versions() {
        let f = fleet(&Plan::default(), Pace::Presenter, |p| p);
        let fates: Vec<Fate> = f.iter().map(|s| s.fate).collect();
        for fate in [
            Fate::FailsAfterClimb,
            Fate::Promotes,
            Fate::Slow,
            Fate::ByHand,
        ] {
            assert!(fates.contains(&fate), "{fate:?}");
        }
        for s in &f {
            assert_ne!(s.stable.version, s.canary.version);
            assert!(s.plan.validate().is_ok(), "{}", s.name);
        }
        let fast = fleet(&Plan::default(), Pace::Fast, |p| p);
        assert_eq!(fast[0].plan.interval * 4, f[0].plan.interval);
    }
}
