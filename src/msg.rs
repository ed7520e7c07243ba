//! Everything `update` consumes. Workers, the terminal and the clock all speak `Msg`.

use crate::domain::{ActionKind, Rollout, RolloutKey, Weight};
use crate::metrics::{MetricsBatch, SourceId};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// An operator or autopilot command on one rollout (DESIGN §4).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Hold stepping.
    Pause,
    /// Continue stepping.
    Resume,
    /// One step forward.
    Advance,
    /// Canary to 100 %.
    Promote,
    /// Canary to 0 %, now.
    Abort,
    /// Start the plan over after an abort.
    Retry,
    /// An exact canary weight.
    SetWeight(Weight),
}

impl Command {
    /// The action this command performs, for capabilities and the audit log.
    pub fn kind(self) -> ActionKind {
        match self {
            Command::Pause => ActionKind::Pause,
            Command::Resume => ActionKind::Resume,
            Command::Advance => ActionKind::Advance,
            Command::Promote => ActionKind::Promote,
            Command::Abort => ActionKind::Abort,
            Command::Retry => ActionKind::Retry,
            Command::SetWeight(_) => ActionKind::SetWeight,
        }
    }
}

/// Who asked for a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// A person pressed a key.
    Operator,
    /// aviary's autopilot decided.
    Autopilot,
}

/// Identifies one write from intent to result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OpId(pub u64);

/// What a provider tells the app about the rollouts it watches.
#[derive(Clone, Debug, PartialEq)]
pub enum ProviderEvent {
    /// A rollout appeared or changed.
    Upsert {
        /// Who saw it.
        source: SourceId,
        /// As converted by the provider.
        rollout: Box<Rollout>,
    },
    /// A rollout is gone.
    Delete {
        /// Who saw it go.
        source: SourceId,
        /// Which.
        key: RolloutKey,
    },
    /// A full re-list: replaces everything this source had.
    Restarted {
        /// Who re-listed.
        source: SourceId,
        /// All current rollouts of the source.
        rollouts: Vec<Rollout>,
    },
    /// A status line for the source (e.g. which kinds were found).
    Info {
        /// Who.
        source: SourceId,
        /// What to show.
        message: String,
    },
}

/// The router's answer to a successful write.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct WriteOk {
    /// Canary weight read back after the write, when the router can say.
    pub canary_weight: Option<Weight>,
    /// Anything the operator should know (rounding, controller will reconcile).
    pub note: Option<String>,
    /// New object version, when the router has one.
    pub version: Option<String>,
}

/// The end of one write, reported by the executor.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteDone {
    /// Which write.
    pub op: OpId,
    /// On what.
    pub target: RolloutKey,
    /// What was asked.
    pub command: Command,
    /// Who asked.
    pub origin: Origin,
    /// How it ended.
    pub result: Result<WriteOk, String>,
}

/// Messages into `update`.
#[derive(Clone, Debug)]
pub enum Msg {
    /// The clock: sets `app.now` and runs the autopilot.
    Tick(SystemTime),
    /// Rollout changes from a provider.
    Provider(ProviderEvent),
    /// Per-build samples from a metrics source.
    Metrics(MetricsBatch),
    /// Past samples for the charts (Prometheus `query_range` when a rollout first appears).
    /// History only: never counted in totals nor fed to the autopilot.
    History {
        /// Who measured.
        source: SourceId,
        /// Per rollout and build, oldest first.
        points: std::collections::BTreeMap<
            (RolloutKey, String),
            Vec<(SystemTime, crate::metrics::BuildSample)>,
        >,
    },
    /// A source failed; its data is now stale.
    SourceError {
        /// Which source.
        source: SourceId,
        /// What went wrong, for the badge's tooltip and the log.
        error: String,
    },
    /// A confirmed operator command (the TUI sends this after its dialog).
    Operator {
        /// On which rollout.
        target: RolloutKey,
        /// What to do.
        command: Command,
    },
    /// A write finished.
    WriteDone(WriteDone),
    /// A terminal key.
    Key(crossterm::event::KeyEvent),
    /// Terminal resized to (columns, rows).
    Resize(u16, u16),
    /// Leave (SIGINT, SIGTERM, end of input).
    Quit,
}
