//! A session wires the pure core to the world: the message channel, the executor and the
//! cancellation token every worker shares. The TUI and headless mode both drive one.

use crate::app::App;
use crate::audit::AuditLog;
use crate::domain::ProviderKind;
use crate::effect::{Effect, Executor};
use crate::msg::Msg;
use crate::providers::Router;
use crate::update::update;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Capacity of the worker → app channel; workers wait when it is full, the UI never does.
pub const CHANNEL: usize = 1024;

/// The core plus its plumbing.
pub struct Session {
    /// State.
    pub app: App,
    /// Give clones to workers.
    pub tx: mpsc::Sender<Msg>,
    /// The app's inbox.
    pub rx: mpsc::Receiver<Msg>,
    /// Runs effects.
    pub executor: Executor,
    /// Cancelled on quit; every worker watches it.
    pub cancel: CancellationToken,
    /// `--record FILE`: every message that enters `update` is appended here.
    pub recorder: Option<crate::record::Recorder>,
}

impl Session {
    /// A session over `app`, auditing to `audit`.
    pub fn new(app: App, audit: Arc<AuditLog>, actor: String) -> Self {
        let (tx, rx) = mpsc::channel(CHANNEL);
        let executor = Executor::new(audit, app.read_only, actor, tx.clone());
        Session {
            app,
            tx,
            rx,
            executor,
            cancel: CancellationToken::new(),
            recorder: None,
        }
    }

    /// Registers the router that carries out writes for `kind`.
    pub fn add_router(&mut self, kind: ProviderKind, router: Arc<dyn Router>) {
        self.executor.add_router(kind, router);
    }

    /// Feeds one message through `update` and starts its effects. Returns true on quit.
    pub fn dispatch(&mut self, msg: Msg) -> bool {
        if let Some(r) = self.recorder.as_mut() {
            r.record(&msg);
        }
        let mut quit = false;
        for e in update(&mut self.app, msg) {
            match e {
                Effect::Quit => quit = true,
                other => self.executor.run(other),
            }
        }
        quit || self.app.should_quit
    }
}

/// The person or service account behind operator actions, for the audit log.
pub fn actor() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
