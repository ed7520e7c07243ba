//! The domain: rollouts, weights, phases, plans, the write vocabulary and observations, free
//! of any router's wire format. It imports no other part of aviary.

pub mod change;
pub mod observation;
pub mod pairs;
pub mod phase;
pub mod plan;
pub mod rollout;
pub mod weight;

pub use phase::Phase;
pub use plan::{ControllerPlan, EvidencePolicy, Plan, PlanError, StableOverLimit};
pub use rollout::{
    ActionKind, Build, Capabilities, Controller, Owner, ProviderKind, Role, Rollout, RolloutKey,
};
pub use weight::{Weight, WeightError};
