//! Effects are what `update` asks the outside world to do; the [`Executor`] does it in tokio
//! tasks and reports back with [`Msg::WriteDone`]. Every write is audited (intent, then
//! result) and `--read-only` is enforced here a second time.

use crate::audit::{AuditLog, AuditRecord};
use crate::domain::change::{LocalAction, Origin, RouterChange, WriteDone, WriteRequest};
use crate::domain::{ProviderKind, Weight};
use crate::msg::Msg;
use crate::providers::{Router, RouterError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;

/// Side effects requested by `update`.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Write to a router, audited.
    Write(WriteRequest),
    /// Record an operator action that needed no router write.
    Audit(LocalAction),
    /// Start the demo's story over (the demo world listens; nothing else does).
    RestartDemo,
    /// Stop the session.
    Quit,
}

/// Runs effects off the UI task. Holds no reference to `App`.
pub struct Executor {
    routers: HashMap<ProviderKind, Arc<dyn Router>>,
    audit: Arc<AuditLog>,
    read_only: bool,
    actor: String,
    tx: mpsc::Sender<Msg>,
    timeout: Duration,
    webhook: Option<crate::change_event::Webhook>,
    restart_demo: Option<Arc<tokio::sync::Notify>>,
}

impl Executor {
    /// An executor writing through `routers`, auditing to `audit`, reporting on `tx`.
    pub fn new(
        audit: Arc<AuditLog>,
        read_only: bool,
        actor: String,
        tx: mpsc::Sender<Msg>,
    ) -> Self {
        Executor {
            routers: HashMap::new(),
            audit,
            read_only,
            actor,
            tx,
            timeout: Duration::from_secs(15),
            webhook: None,
            restart_demo: None,
        }
    }

    /// Registers the router for one provider kind.
    pub fn with_router(mut self, kind: ProviderKind, router: Arc<dyn Router>) -> Self {
        self.routers.insert(kind, router);
        self
    }

    /// Posts a [`crate::domain::change::ChangeEvent`] for every write to this webhook.
    pub fn set_webhook(&mut self, hook: crate::change_event::Webhook) {
        self.webhook = Some(hook);
    }

    /// Where `RestartDemo` goes: the demo world's story task.
    pub fn set_restart_demo(&mut self, n: Arc<tokio::sync::Notify>) {
        self.restart_demo = Some(n);
    }

    /// Registers the router for one provider kind in place.
    pub fn add_router(&mut self, kind: ProviderKind, router: Arc<dyn Router>) {
        self.routers.insert(kind, router);
    }

    /// Starts the effect; never waits for it. `Quit` is handled by the loop, not here.
    pub fn run(&self, effect: Effect) {
        match effect {
            Effect::RestartDemo => {
                if let Some(n) = &self.restart_demo {
                    n.notify_one();
                }
            }
            Effect::Write(req) => {
                let router = self.routers.get(&req.target.provider).cloned();
                let audit = self.audit.clone();
                let tx = self.tx.clone();
                let actor = self.actor.clone();
                let read_only = self.read_only;
                let timeout = self.timeout;
                let webhook = self.webhook.clone();
                tokio::spawn(async move {
                    let done =
                        execute(req.clone(), router, audit, &actor, read_only, timeout).await;
                    if let Some(hook) = webhook {
                        let (after, err) = match &done.result {
                            Ok(ok) => (
                                ok.canary_weight.or(req.requested).map(Weight::percent),
                                None,
                            ),
                            Err(e) => (None, Some(e.clone())),
                        };
                        hook.post(&crate::domain::change::ChangeEvent::new(
                            &req,
                            &actor,
                            SystemTime::now(),
                            after,
                            err,
                        ))
                        .await;
                    }
                    let _ = tx.send(Msg::WriteDone(done)).await;
                });
            }
            Effect::Audit(action) => {
                let audit = self.audit.clone();
                let actor = self.actor.clone();
                tokio::task::spawn_blocking(move || {
                    let rec = AuditRecord {
                        ts: AuditRecord::timestamp(SystemTime::now()),
                        actor,
                        target: action.target.to_string(),
                        action: action.command.kind().as_str().into(),
                        origin: "operator".into(),
                        stage: "result".into(),
                        op: 0,
                        before: Some(action.weight.percent()),
                        requested: None,
                        result: Some("ok".into()),
                        error: None,
                        latency_ms: Some(0),
                        note: Some(action.note),
                    };
                    if let Err(e) = audit.append(&rec) {
                        tracing::error!("{e}");
                    }
                });
            }
            Effect::Quit => {}
        }
    }
}

fn record(req: &WriteRequest, actor: &str, stage: &str) -> AuditRecord {
    AuditRecord {
        ts: AuditRecord::timestamp(SystemTime::now()),
        actor: actor.to_string(),
        target: req.target.to_string(),
        action: req.command.kind().as_str().into(),
        origin: match req.origin {
            Origin::Operator => "operator".into(),
            Origin::Autopilot => "autopilot".into(),
        },
        stage: stage.into(),
        op: req.op.0,
        before: Some(req.before.percent()),
        requested: req.requested.map(Weight::percent),
        result: None,
        error: None,
        latency_ms: None,
        note: Some(match &req.change {
            RouterChange::CanaryWeight(w) => format!("router: canary weight {w}"),
            RouterChange::Controller(c) => format!("controller: {}", c.kind().as_str()),
        }),
    }
}

/// Appends (write, flush, fsync) on the blocking pool, so a slow disk never stalls the async
/// workers that carry router writes and provider watches.
async fn append(audit: &Arc<AuditLog>, rec: AuditRecord) -> Result<(), String> {
    let audit = audit.clone();
    match tokio::task::spawn_blocking(move || audit.append(&rec)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("audit task: {e}")),
    }
}

/// Audit intent → write → audit result. The write is skipped if the intent cannot be
/// recorded: an unaudited write is worse than a refused one.
async fn execute(
    req: WriteRequest,
    router: Option<Arc<dyn Router>>,
    audit: Arc<AuditLog>,
    actor: &str,
    read_only: bool,
    timeout: Duration,
) -> WriteDone {
    let started = Instant::now();
    let intent = record(&req, actor, "intent");
    let result: Result<crate::domain::change::WriteOk, RouterError> =
        if let Err(e) = append(&audit, intent).await {
            Err(RouterError::Refused(format!("not written: {e}")))
        } else if read_only {
            Err(RouterError::Refused("read-only mode: no writes".into()))
        } else if let Some(router) = router {
            match tokio::time::timeout(timeout, router.apply(&req)).await {
                Ok(r) => r,
                Err(_) => Err(RouterError::Failed(format!(
                    "no answer within {}s; the router's state is unknown, re-read before acting",
                    timeout.as_secs()
                ))),
            }
        } else {
            Err(RouterError::Refused(format!(
                "no router for {}",
                req.target.provider.prefix()
            )))
        };
    let mut rec = record(&req, actor, "result");
    rec.latency_ms = Some(started.elapsed().as_millis() as u64);
    match &result {
        Ok(ok) => {
            rec.result = Some("ok".into());
            if let Some(n) = &ok.note {
                rec.note = Some(n.clone());
            }
        }
        Err(e) => {
            rec.result = Some("error".into());
            rec.error = Some(e.to_string());
        }
    }
    if let Err(e) = append(&audit, rec).await {
        tracing::error!("{e}");
    }
    WriteDone {
        op: req.op,
        target: req.target,
        command: req.command,
        origin: req.origin,
        result: result.map_err(|e| e.to_string()),
    }
}
