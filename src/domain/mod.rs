//! The domain: rollouts, weights, phases and plans, free of any router's wire format.

pub mod phase;
pub mod plan;
pub mod rollout;
pub mod weight;

pub use phase::Phase;
pub use plan::{EvidencePolicy, Plan, PlanError, StableOverLimit};
pub use rollout::{
    ActionKind, Build, Capabilities, Controller, Owner, ProviderKind, Role, Rollout, RolloutKey,
};
pub use weight::{Weight, WeightError};
