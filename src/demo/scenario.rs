//! The stories the demo can tell: one rollout (`--scenario`), or the fleet, at a pace.

use clap::ValueEnum;

/// How the canary behaves compared with stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Scenario {
    /// The canary fails about 12 % of requests (stable about 0.1 %) once it holds 25 % of
    /// the traffic: the weight climbs, then the autopilot rolls back.
    #[default]
    Faulty,
    /// Both builds fail about 0.1 %: the autopilot promotes.
    Healthy,
    /// The canary's p99 is around 800 ms against about 40 ms: rolled back on latency.
    Slow,
}

/// How fast the story is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Pace {
    /// About 90 s for the fleet: each step dwells long enough to read from the back of a room.
    #[default]
    Presenter,
    /// Four times faster, for tests and rehearsals.
    Fast,
}

impl Pace {
    /// Scales a presenter-pace duration.
    pub fn scale(self, d: std::time::Duration) -> std::time::Duration {
        match self {
            Pace::Presenter => d,
            Pace::Fast => d / 4,
        }
    }
}

/// What happens to one service of the fleet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Healthy at first, fails under load: climbs, then rolls back.
    FailsAfterClimb,
    /// Healthy: climbs and promotes.
    Promotes,
    /// Slow from the first request: rolled back on latency.
    Slow,
    /// Stepped by a release pipeline, not aviary, which stops at a weight and waits for a
    /// human to promote.
    ByHand,
}

impl Fate {
    /// The single-rollout story for a scenario.
    pub fn of(s: Scenario) -> Fate {
        match s {
            Scenario::Faulty => Fate::FailsAfterClimb,
            Scenario::Healthy => Fate::Promotes,
            Scenario::Slow => Fate::Slow,
        }
    }
}
