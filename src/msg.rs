//! Everything `update` consumes. Workers, the terminal and the clock all speak `Msg`.

use crate::domain::change::{Command, WriteDone};
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::domain::{Rollout, RolloutKey};
use std::time::SystemTime;

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
    /// The source listed everything it can show and there is nothing: the message says
    /// what it looked for (an empty namespace must not look like one still loading).
    Empty {
        /// Who looked.
        source: SourceId,
        /// What was looked for and where.
        message: String,
    },
    /// A status line for the source (e.g. which kinds were found).
    Info {
        /// Who.
        source: SourceId,
        /// What to show.
        message: String,
    },
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
            Vec<(SystemTime, crate::domain::observation::BuildSample)>,
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
    /// A break-glass abort went out but the audit log could not record it: say so loudly.
    AuditFailed(String),
    /// A terminal key.
    Key(crossterm::event::KeyEvent),
    /// Terminal resized to (columns, rows).
    Resize(u16, u16),
    /// Leave (SIGINT, SIGTERM, end of input).
    Quit,
}
