//! Effects are what `update` asks the outside world to do; the [`Executor`] does it in tokio
//! tasks and reports back with [`Msg::WriteDone`]. Every write is audited (intent, then
//! result) and `--read-only` is enforced here a second time. The executor knows every write
//! in flight, so shutdown can wait for them and give each intent its result.

use crate::audit::{AuditLog, AuditRecord};
pub use crate::domain::change::Actor;
use crate::domain::change::{LocalAction, Origin, RouterChange, WriteDone, WriteRequest};
use crate::domain::{ProviderKind, RolloutKey, Weight};
use crate::msg::Msg;
use crate::providers::{Router, RouterError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
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
    /// The screen now shows this rollout, whose chart history was not kept: the metrics
    /// pollers fetch its recent history again.
    Shown(RolloutKey),
    /// Stop the session.
    Quit,
}

/// Writes and audit appends not yet finished, keyed by op (local actions get their own
/// keys above the write ids' range).
#[derive(Debug, Default)]
struct InFlight {
    writes: Mutex<BTreeMap<u64, WriteRequest>>,
    local: std::sync::atomic::AtomicUsize,
}

impl InFlight {
    fn take(&self, op: u64) -> bool {
        self.writes
            .lock()
            .map(|mut m| m.remove(&op).is_some())
            .unwrap_or(false)
    }
}

/// Runs effects off the UI task. Holds no reference to `App`.
pub struct Executor {
    routers: HashMap<ProviderKind, Arc<dyn Router>>,
    audit: Arc<AuditLog>,
    read_only: bool,
    actor: Actor,
    tx: mpsc::Sender<Msg>,
    timeout: Duration,
    webhook: Option<crate::change_event::Webhook>,
    restart_demo: Option<Arc<tokio::sync::Notify>>,
    /// The rollout whose history the screen wants, for the metrics pollers.
    shown: Arc<tokio::sync::watch::Sender<Option<RolloutKey>>>,
    in_flight: Arc<InFlight>,
    stderr: Arc<Stderr>,
}

/// Lines for stderr. While the TUI owns the terminal they wait, so they are printed after it
/// is restored; headless prints them at once.
#[derive(Debug, Default)]
pub struct Stderr {
    hold: std::sync::atomic::AtomicBool,
    held: Mutex<Vec<String>>,
}

impl Stderr {
    /// Prints `line` now, or keeps it while the terminal is held.
    pub fn say(&self, line: String) {
        if self.hold.load(std::sync::atomic::Ordering::SeqCst)
            && let Ok(mut h) = self.held.lock()
        {
            h.push(line);
            return;
        }
        eprintln!("{line}");
    }

    /// Holds lines from now on (the TUI is about to own the terminal).
    pub fn hold(&self) {
        self.hold.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops holding and returns what was held.
    pub fn release(&self) -> Vec<String> {
        self.hold.store(false, std::sync::atomic::Ordering::SeqCst);
        self.held
            .lock()
            .map(|mut h| std::mem::take(&mut *h))
            .unwrap_or_default()
    }
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
            actor: Actor::new(actor),
            tx,
            timeout: Duration::from_secs(15),
            webhook: None,
            restart_demo: None,
            shown: Arc::new(tokio::sync::watch::Sender::new(None)),
            in_flight: Arc::new(InFlight::default()),
            stderr: Arc::new(Stderr::default()),
        }
    }

    /// Where this executor's stderr lines go (the TUI holds them until it restores).
    pub fn stderr(&self) -> Arc<Stderr> {
        self.stderr.clone()
    }

    /// The actor written into audit lines and change events from now on.
    pub fn set_actor(&mut self, actor: String) {
        self.actor = Actor::new(actor);
    }

    /// Who the audit lines name; share it with routers that record the actor too.
    pub fn actor(&self) -> Actor {
        self.actor.clone()
    }

    /// Router writes still waiting for their result line, plus pending local audit lines.
    pub fn in_flight(&self) -> usize {
        let writes = self.in_flight.writes.lock().map(|m| m.len()).unwrap_or(0);
        writes
            + self
                .in_flight
                .local
                .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Gives every write still without an answer its result line ("aviary quit before the
    /// router answered") and returns them, so no intent is left without a result. A write
    /// that answers later finds its entry gone and writes nothing more.
    pub fn abandon(&self) -> Vec<WriteRequest> {
        let left: Vec<WriteRequest> = self
            .in_flight
            .writes
            .lock()
            .map(|mut m| std::mem::take(&mut *m).into_values().collect())
            .unwrap_or_default();
        for req in &left {
            let mut rec = record(req, &self.actor.get(), "result");
            rec.result = Some("error".into());
            rec.error = Some(
                "aviary quit before the router answered; the router's state is unknown".into(),
            );
            if let Err(e) = self.audit.append(&rec) {
                self.stderr
                    .say(format!("aviary: {e}; record: {}", json(&rec)));
            }
        }
        left
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

    /// Tells a metrics poller which rollout the screen shows (see [`Effect::Shown`]).
    pub fn shown(&self) -> tokio::sync::watch::Receiver<Option<RolloutKey>> {
        self.shown.subscribe()
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
            Effect::Shown(key) => {
                self.shown.send_replace(Some(key));
            }
            Effect::Write(req) => {
                let router = self.routers.get(&req.target.provider).cloned();
                let tx = self.tx.clone();
                let actor = self.actor.get();
                let webhook = self.webhook.clone();
                if let Ok(mut m) = self.in_flight.writes.lock() {
                    m.insert(req.op.0, req.clone());
                }
                let ctx = Ctx {
                    audit: self.audit.clone(),
                    actor: actor.clone(),
                    read_only: self.read_only,
                    timeout: self.timeout,
                    in_flight: self.in_flight.clone(),
                    stderr: self.stderr.clone(),
                    tx: tx.clone(),
                };
                tokio::spawn(async move {
                    let done = execute(req.clone(), router, &ctx).await;
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
                let actor = self.actor.get();
                let in_flight = self.in_flight.clone();
                in_flight
                    .local
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
                    in_flight
                        .local
                        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
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

/// What one write task needs from the executor.
struct Ctx {
    audit: Arc<AuditLog>,
    actor: String,
    read_only: bool,
    timeout: Duration,
    in_flight: Arc<InFlight>,
    stderr: Arc<Stderr>,
    tx: mpsc::Sender<Msg>,
}

fn json(rec: &AuditRecord) -> String {
    serde_json::to_string(rec).unwrap_or_default()
}

/// An abort to stable is break-glass: it must go out even when the audit disk is full.
fn break_glass(req: &WriteRequest) -> bool {
    matches!(req.command, crate::domain::change::Command::Abort)
        && match &req.change {
            RouterChange::CanaryWeight(w) => *w == Weight::ZERO,
            RouterChange::Controller(_) => true,
        }
}

/// Keeps a record the audit log refused: on stderr, and in the fallback file if that works.
/// Returns where it went, for the on-screen warning.
fn keep_elsewhere(ctx: &Ctx, rec: &AuditRecord, error: &str) -> String {
    let line = json(rec);
    ctx.stderr.say(format!(
        "aviary: AUDIT LOG FAILED ({error}); record: {line}"
    ));
    let fallback = crate::audit::fallback_path(ctx.audit.path())
        .and_then(|p| AuditLog::open(&p).ok())
        .filter(|f| f.append(rec).is_ok())
        .map(|f| f.path().display().to_string());
    match fallback {
        Some(p) => format!("stderr and {p}"),
        None => "stderr".to_string(),
    }
}

/// Audit intent → write → audit result. The write is skipped if the intent cannot be
/// recorded (an unaudited write is worse than a refused one), except an abort to stable:
/// break-glass beats bookkeeping, and the record goes to stderr instead, loudly.
async fn execute(req: WriteRequest, router: Option<Arc<dyn Router>>, ctx: &Ctx) -> WriteDone {
    let started = Instant::now();
    let intent = record(&req, &ctx.actor, "intent");
    let mut unaudited = None;
    let refused = match append(&ctx.audit, intent.clone()).await {
        Ok(()) => None,
        Err(e) if break_glass(&req) => {
            let went = keep_elsewhere(ctx, &intent, &e);
            let _ = ctx
                .tx
                .send(Msg::AuditFailed(format!(
                    "AUDIT LOG FAILED ({e}): the abort on {} went out unaudited; its record is on {went}",
                    req.target
                )))
                .await;
            unaudited = Some(e);
            None
        }
        Err(e) => Some(RouterError::Refused(format!(
            "not written: the audit log cannot be written ({e}); only an abort goes out unaudited"
        ))),
    };
    let result: Result<crate::domain::change::WriteOk, RouterError> = if let Some(r) = refused {
        Err(r)
    } else if ctx.read_only {
        Err(RouterError::Refused("read-only mode: no writes".into()))
    } else if let Some(router) = router {
        match tokio::time::timeout(ctx.timeout, router.apply(&req)).await {
            Ok(r) => r,
            Err(_) => Err(RouterError::Failed(format!(
                "no answer within {}s; the router's state is unknown, re-read before acting",
                ctx.timeout.as_secs()
            ))),
        }
    } else {
        Err(RouterError::Refused(format!(
            "no router for {}",
            req.target.provider.prefix()
        )))
    };
    let mut rec = record(&req, &ctx.actor, "result");
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
    // Shutdown may have given up on this write and recorded its result already.
    if ctx
        .in_flight
        .writes
        .lock()
        .is_ok_and(|m| m.contains_key(&req.op.0))
    {
        match append(&ctx.audit, rec.clone()).await {
            Ok(()) => {}
            Err(e) if unaudited.is_some() => {
                keep_elsewhere(ctx, &rec, &e);
            }
            Err(e) => tracing::error!("{e}"),
        }
        ctx.in_flight.take(req.op.0);
    }
    WriteDone {
        op: req.op,
        target: req.target,
        command: req.command,
        origin: req.origin,
        result: result.map_err(|e| e.to_string()),
    }
}
