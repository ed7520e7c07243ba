//! Where a rollout is in its life, normalised across controllers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A rollout's phase. Each controller's own phase text is mapped onto these and kept
/// verbatim in [`crate::domain::Rollout::phase_text`] so nothing the controller said is lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    /// Nothing is rolling out.
    Idle,
    /// Weight is moving toward the canary.
    Progressing,
    /// Stepping is on hold (operator or controller pause).
    Paused,
    /// The plan reached its last step and waits for a promote.
    AwaitingPromotion,
    /// The canary is being made the new stable.
    Promoting,
    /// The canary won and serves all traffic.
    Succeeded,
    /// An operator or the autopilot rolled back to stable.
    Aborted,
    /// The controller reports failure (analysis failed, invalid spec).
    Failed,
    /// A phase aviary does not know; shown as the controller wrote it.
    Unknown(String),
}

impl Phase {
    /// Sort rank for "needs a human first": lower is more urgent. A controller's failure
    /// and a plan blocked on a promote both wait for someone; a rollback already sent the
    /// canary back to 0 %, so it is safe and comes after them.
    pub fn urgency(&self) -> u8 {
        match self {
            Phase::Failed | Phase::AwaitingPromotion => 0,
            Phase::Paused => 1,
            Phase::Aborted => 2,
            Phase::Progressing | Phase::Promoting => 3,
            Phase::Unknown(_) => 4,
            Phase::Idle | Phase::Succeeded => 5,
        }
    }

    /// True when no further automatic change will happen.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Aborted | Phase::Failed)
    }

    /// The headless summary's `outcome` for a rollout its owner drives, read from the
    /// owner's phase: an aborted Argo Rollout is `aborted`, a succeeded one `promoted`.
    pub fn outcome(&self) -> &'static str {
        match self {
            Phase::Aborted => "aborted",
            Phase::Succeeded => "promoted",
            Phase::Failed => "failed",
            Phase::Paused | Phase::AwaitingPromotion => "paused",
            Phase::Idle | Phase::Progressing | Phase::Promoting | Phase::Unknown(_) => {
                "in_progress"
            }
        }
    }

    /// Short label for tables and JSON.
    pub fn label(&self) -> &str {
        match self {
            Phase::Idle => "Idle",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::AwaitingPromotion => "AwaitingPromotion",
            Phase::Promoting => "Promoting",
            Phase::Succeeded => "Succeeded",
            Phase::Aborted => "Aborted",
            Phase::Failed => "Failed",
            Phase::Unknown(s) => s.as_str(),
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_or_awaiting_sorts_before_paused_before_aborted_before_idle() {
        assert!(Phase::Failed.urgency() < Phase::Paused.urgency());
        assert!(Phase::AwaitingPromotion.urgency() < Phase::Paused.urgency());
        assert!(Phase::Paused.urgency() < Phase::Aborted.urgency());
        assert!(Phase::Aborted.urgency() < Phase::Progressing.urgency());
        assert!(Phase::Progressing.urgency() < Phase::Idle.urgency());
    }
}
