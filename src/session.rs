//! A session wires the pure core to the world: the message channel, the executor and the
//! cancellation token every worker shares. The TUI and headless mode both drive one, and
//! both leave through the same door: [`Session::shutdown`].

use crate::app::App;
use crate::audit::AuditLog;
use crate::domain::change::WriteRequest;
use crate::domain::{ProviderKind, Role, Rollout};
use crate::effect::{Effect, Executor};
use crate::msg::Msg;
use crate::providers::Router;
use crate::update::update;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Capacity of the worker → app channel; workers wait when it is full, the UI never does.
pub const CHANNEL: usize = 1024;

/// How long quitting waits for writes in flight before giving up on them (each then gets a
/// result line saying its outcome is unknown).
pub const DRAIN: Duration = Duration::from_secs(5);

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
    /// Effects started so far: a tick that started one (a write) changed something to draw.
    effects_run: u64,
    /// No terminal UI: workers may warn on stderr at any time (under the TUI their warnings
    /// go to the log pane instead, since a line on stderr would tear the screen).
    pub headless: bool,
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
            effects_run: 0,
            headless: false,
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
        let effects = update(&mut self.app, msg);
        self.effects_run += effects.len() as u64;
        for e in effects {
            match e {
                Effect::Quit => quit = true,
                other => self.executor.run(other),
            }
        }
        quit || self.app.should_quit
    }

    /// How many effects `dispatch` has started.
    pub fn effects_run(&self) -> u64 {
        self.effects_run
    }

    /// No write in flight anywhere: every intent has its result and `update` has seen it.
    pub fn settled(&self) -> bool {
        self.executor.in_flight() == 0 && self.app.rollouts.values().all(|t| t.pending.is_none())
    }

    /// The one way out: stop the workers, start no new write, wait up to [`DRAIN`] for the
    /// writes in flight (calling `show` about ten times a second so a screen can say what it
    /// waits for), give any write still unanswered its result line, and return the lines
    /// for stderr once the terminal is back.
    pub async fn shutdown(&mut self, mut show: impl FnMut(&App)) -> Vec<String> {
        self.cancel.cancel();
        self.app.should_quit = true;
        self.app.shutdown = Some(SystemTime::now().max(self.app.now) + DRAIN);
        let deadline = Instant::now() + DRAIN;
        let mut frame = tokio::time::interval(Duration::from_millis(100));
        while !self.settled() && Instant::now() < deadline {
            tokio::select! {
                m = self.rx.recv() => match m {
                    Some(m) => { self.dispatch(m); }
                    None => break,
                },
                _ = frame.tick() => {
                    self.dispatch(Msg::Tick(SystemTime::now()));
                    show(&self.app);
                }
            }
        }
        // Results that arrived with the last write.
        while let Ok(m) = self.rx.try_recv() {
            self.dispatch(m);
        }
        let abandoned = self.executor.abandon();
        farewell(&self.app, &abandoned, self.executor.stderr().release())
    }

    /// Uses `actor` for audit lines and change events from now on (the Kubernetes identity
    /// arrives after the session is built).
    pub fn set_actor(&mut self, actor: String) {
        self.executor.set_actor(actor);
    }
}

/// What the shell should show after aviary is gone: held messages, writes that never
/// answered, and every canary left mid-way with how to put it back.
pub fn farewell(app: &App, abandoned: &[WriteRequest], held: Vec<String>) -> Vec<String> {
    let mut lines = held;
    for req in abandoned {
        lines.push(format!(
            "aviary: {} on {} had no answer from the router within {}s; its outcome is unknown (audit: result error). Check the router before acting.",
            req.command.kind().as_str(),
            req.target,
            DRAIN.as_secs()
        ));
    }
    for (key, _) in app.midway() {
        if let Some(t) = app.rollouts.get(&key) {
            lines.push(left_at(&t.rollout));
        }
    }
    lines
}

/// One line for a canary left between 0 % and 100 %: its weight and how to undo it.
pub fn left_at(r: &Rollout) -> String {
    let w = r.canary_weight();
    let name = |role| {
        r.builds
            .iter()
            .find(|b| b.role == role)
            .map(|b| b.name.clone())
            .unwrap_or_default()
    };
    let (stable, canary) = (name(Role::Stable), name(Role::Canary));
    let head = format!(
        "aviary: {} left at canary {w} (stable {}); no plan runs it now.",
        r.key,
        w.complement()
    );
    match r.key.provider {
        ProviderKind::Haproxy => {
            // `router` reads "HAProxy <socket> backend <name>".
            let socket = r
                .router
                .strip_prefix("HAProxy ")
                .and_then(|s| s.split(" backend ").next())
                .unwrap_or("<admin socket>");
            let b = &r.key.name;
            format!(
                "{head} To put it back: `aviary haproxy --socket {socket} --backend {b} --stable {stable} --canary {canary}`, then A; or on the runtime API: echo \"set server {b}/{canary} weight 0; set server {b}/{stable} weight 256\" | socat stdio {socket}"
            )
        }
        ProviderKind::Consul => format!(
            "{head} To put it back: `aviary consul --service {} …`, then A; or write the service-splitter with the canary at 0",
            r.key.name
        ),
        _ => format!(
            "{head} To put it back: run aviary on it again and press A (canary → 0%), or set the router's canary weight to 0 ({})",
            r.router
        ),
    }
}

/// The person behind operator actions, for the audit log: the OS user of the process's uid
/// (read from `/etc/passwd`, since `$USER` can be unset or say anything), falling back to
/// `uid N`; `$USER` is added when it disagrees. Never "unknown".
pub fn actor() -> String {
    let uid = uid();
    let name = uid.and_then(|u| {
        std::fs::read_to_string("/etc/passwd")
            .ok()
            .and_then(|p| user_for(&p, u))
    });
    let env = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty());
    let base = match (name, uid) {
        (Some(n), _) => n,
        (None, Some(u)) => format!("uid {u}"),
        (None, None) => env.clone().unwrap_or_else(|| "uid ?".into()),
    };
    match env {
        Some(e) if e != base && !base.starts_with("uid ") => format!("{base} (USER={e})"),
        Some(e) if base.starts_with("uid ") => format!("{base} (USER={e})"),
        _ => base,
    }
}

/// The process's uid: the owner of `/proc/self` (no `unsafe` needed for `getuid`).
fn uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// The user name for `uid` in a passwd file's text.
pub fn user_for(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let _pw = f.next()?;
        let id: u32 = f.next()?.trim().parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines_give_the_uid_s_name() {
        let p = "root:x:0:0:root:/root:/bin/bash\n# comment\nops:x:1000:1000::/home/ops:/bin/sh\n";
        assert_eq!(user_for(p, 1000).as_deref(), Some("ops"));
        assert_eq!(user_for(p, 0).as_deref(), Some("root"));
        assert_eq!(user_for(p, 7), None);
    }

    #[test]
    fn the_actor_is_never_unknown() {
        let a = actor();
        assert!(!a.is_empty() && a != "unknown", "{a}");
    }
}
