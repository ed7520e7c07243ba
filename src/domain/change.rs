//! The write vocabulary: what an operator or the autopilot asks for, how it travels to a
//! router, what comes back, and the words a change event uses to announce it. `update`
//! builds these, the executor carries them, providers apply them; none of those parts owns
//! them, so all of them import them from here.

use crate::domain::{ActionKind, RolloutKey, Weight};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// An operator or autopilot command on one rollout.
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

/// What the router is asked to change.
#[derive(Clone, Debug, PartialEq)]
pub enum RouterChange {
    /// Autopilot routers: set the canary's share (stable gets the rest).
    CanaryWeight(Weight),
    /// Controller-owned rollouts: ask the controller to carry out the command.
    Controller(Command),
}

/// One router write, from `update` to the executor.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteRequest {
    /// Links audit lines and the result.
    pub op: OpId,
    /// The rollout.
    pub target: RolloutKey,
    /// The operator or autopilot command behind it.
    pub command: Command,
    /// Who asked.
    pub origin: Origin,
    /// Canary weight before.
    pub before: Weight,
    /// Canary weight asked for, when the command is about a weight.
    pub requested: Option<Weight>,
    /// The change itself.
    pub change: RouterChange,
    /// Version the change was computed from (resourceVersion, ModifyIndex).
    pub expected_version: Option<String>,
    /// The stable and canary builds (version when known, else name), for change events.
    pub builds: BuildNames,
}

/// The two builds a write is about, as a change event names them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BuildNames {
    /// The stable build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<String>,
    /// The canary build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
}

/// An action that does not touch any router but still belongs in the audit trail
/// (pausing aviary's own autopilot, for example).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalAction {
    /// The rollout.
    pub target: RolloutKey,
    /// What was done.
    pub command: Command,
    /// Canary weight at the time.
    pub weight: Weight,
    /// In words.
    pub note: String,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// What was changed, from what to what, and how to undo it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// RFC 3339 time of the result.
    pub ts: String,
    /// Who (the audit actor).
    pub actor: String,
    /// Rollout key.
    pub target: String,
    /// `abort`, `set_weight`, …
    pub action: String,
    /// `operator` or `autopilot`.
    pub origin: String,
    /// Canary weight before, in percent.
    pub before: f64,
    /// Canary weight after (read back when the router can say), in percent.
    pub after: Option<f64>,
    /// `ok` or `error`.
    pub result: String,
    /// Error text, when it failed.
    pub error: Option<String>,
    /// How to back this change out, in words a person can act on.
    pub undo: String,
    /// One-line summary (also the Kubernetes Event message).
    pub message: String,
    /// The builds involved, when the rollout names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builds: Option<BuildNames>,
}

impl ChangeEvent {
    /// Builds the event for a finished write.
    pub fn new(
        req: &WriteRequest,
        actor: &str,
        at: SystemTime,
        after: Option<f64>,
        error: Option<String>,
    ) -> Self {
        let action = req.command.kind().as_str().to_string();
        let before = req.before.percent();
        let undo = match &req.change {
            RouterChange::CanaryWeight(_) => format!(
                "set the canary of {} back to {before}% (aviary: select it, press w, type {before})",
                req.target
            ),
            RouterChange::Controller(c) => match c {
                Command::Pause => "resume (aviary: p)".to_string(),
                Command::Resume => "pause (aviary: p)".to_string(),
                Command::Abort => "retry the rollout (aviary: r)".to_string(),
                _ => format!(
                    "abort to return all traffic to stable (aviary: A); canary was {before}%"
                ),
            },
        };
        let after_txt = after
            .map(|a| format!("{a}%"))
            .unwrap_or_else(|| "unchanged".into());
        let message = match &error {
            None => format!(
                "aviary {action} on {}: canary {before}% → {after_txt}. Undo: {undo}",
                req.target
            ),
            Some(e) => format!(
                "aviary {action} on {} FAILED ({e}); canary still {before}%",
                req.target
            ),
        };
        ChangeEvent {
            ts: humantime::format_rfc3339_millis(at).to_string(),
            actor: actor.to_string(),
            target: req.target.to_string(),
            action,
            origin: match req.origin {
                Origin::Operator => "operator".into(),
                Origin::Autopilot => "autopilot".into(),
            },
            before,
            after,
            result: if error.is_none() {
                "ok".into()
            } else {
                "error".into()
            },
            error,
            undo,
            message,
            builds: (req.builds != BuildNames::default()).then(|| req.builds.clone()),
        }
    }
}

/// Who acts, shared by the executor (audit lines, webhook) and the Kubernetes router
/// (Events), so an identity learnt after startup reaches all of them at once.
#[derive(Clone, Debug)]
pub struct Actor {
    os: String,
    now: std::sync::Arc<std::sync::RwLock<String>>,
}

impl Actor {
    /// An actor named `os` (the OS user).
    pub fn new(os: impl Into<String>) -> Self {
        let os = os.into();
        Actor {
            now: std::sync::Arc::new(std::sync::RwLock::new(os.clone())),
            os,
        }
    }

    /// The name to write now.
    pub fn get(&self) -> String {
        self.now
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|_| self.os.clone())
    }

    /// Adds the identity the Kubernetes API server reports.
    pub fn set_kube(&self, who: &str) {
        if let Ok(mut s) = self.now.write() {
            *s = format!("{} as {who}", self.os);
        }
    }
}

impl From<String> for Actor {
    fn from(s: String) -> Self {
        Actor::new(s)
    }
}

impl From<&str> for Actor {
    fn from(s: &str) -> Self {
        Actor::new(s)
    }
}
