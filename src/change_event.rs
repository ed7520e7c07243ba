//! Change events: every write aviary makes is announced with its backout plan (seed 000).
//! The executor posts one JSON [`ChangeEvent`] per write to `--event-webhook URL` when given;
//! the Kubernetes provider also records the same text as a Kubernetes `Event`.

use crate::effect::{RouterChange, WriteRequest};
use crate::msg::Origin;
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

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
}

impl ChangeEvent {
    /// Builds the event for a finished write.
    pub fn new(req: &WriteRequest, actor: &str, after: Option<f64>, error: Option<String>) -> Self {
        let action = req.command.kind().as_str().to_string();
        let before = req.before.percent();
        let undo = match &req.change {
            RouterChange::CanaryWeight(_) => format!(
                "set the canary of {} back to {before}% (aviary: select it, press w, type {before})",
                req.target
            ),
            RouterChange::Controller(c) => match c {
                crate::msg::Command::Pause => "resume (aviary: p)".to_string(),
                crate::msg::Command::Resume => "pause (aviary: p)".to_string(),
                crate::msg::Command::Abort => "retry the rollout (aviary: r)".to_string(),
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
            ts: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
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
        }
    }
}

/// Posts change events to a webhook; failures are logged, never block or undo the write.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: String,
    client: reqwest::Client,
}

impl Webhook {
    /// A poster for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        crate::install_crypto_provider();
        Webhook {
            url: url.into(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends the event as JSON.
    pub async fn post(&self, ev: &ChangeEvent) {
        match self.client.post(&self.url).json(ev).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!("event webhook {}: HTTP {}", self.url, r.status()),
            Err(e) => tracing::warn!("event webhook {}: {e}", self.url),
        }
    }
}
