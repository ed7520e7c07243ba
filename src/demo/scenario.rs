//! The three stories the demo can tell.

use clap::ValueEnum;

/// How the canary behaves compared with stable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum Scenario {
    /// The canary fails about 10 % of requests (stable about 0.1 %): the autopilot rolls back.
    #[default]
    Faulty,
    /// Both builds fail about 0.1 %: the autopilot promotes.
    Healthy,
    /// The canary's p99 is around 800 ms against about 40 ms: rolled back on latency.
    Slow,
}
