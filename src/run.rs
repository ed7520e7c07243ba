//! Runs a subcommand: builds the world and the session, then hands them to the headless
//! loop or the TUI.

use crate::app::App;
use crate::audit::AuditLog;
use crate::cli::{DemoArgs, GlobalArgs, PlanArgs};
use crate::demo::{DemoWorld, Fate, Service, fleet};
use crate::domain::{Plan, ProviderKind};
use crate::providers::demo::{self as demo_provider, DemoRouter};
use crate::session::{Session, actor};
use color_eyre::eyre::{Result, WrapErr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

mod kube;
mod metrics;
mod offcluster;
pub mod replay;
pub use kube::kube;
pub use offcluster::{consul, consul_session, haproxy, haproxy_session};
pub use replay::replay;

/// An error that ends the process with its own exit status (documented in the README),
/// for outcomes a script must tell apart from a usage error (status 1).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// The process exit status.
    pub code: u8,
    /// What happened, printed as the error.
    pub message: String,
}

/// Where the audit log goes: `--audit-log`, else `<data dir>/audit.jsonl`.
pub fn audit_path(global: &GlobalArgs) -> PathBuf {
    global.audit_log.clone().unwrap_or_else(|| {
        directories::ProjectDirs::from("dev", "aviary", "aviary")
            .map(|d| d.data_dir().join("audit.jsonl"))
            .unwrap_or_else(|| PathBuf::from("aviary-audit.jsonl"))
    })
}

/// The app and session every subcommand shares: plan (flags over config), judge,
/// read-only, the audit log and the change-event webhook.
pub fn session(args: &PlanArgs, global: &GlobalArgs, base: &Plan) -> Result<Session> {
    let plan = args.resolve(base).wrap_err("invalid plan flags")?;
    let audit = Arc::new(AuditLog::open(&audit_path(global))?);
    let mut app = App::new(SystemTime::now(), plan);
    app.read_only = global.read_only;
    app.judge = args.judge.judge();
    let mut session = Session::new(app, audit, actor());
    session.headless = global.headless;
    if let Some(url) = &global.event_webhook {
        let hook = crate::change_event::Webhook::from_flags(
            url,
            global.event_format,
            global.event_token_file.as_deref(),
        )
        .map_err(|e| color_eyre::eyre::eyre!(e))?;
        session.executor.set_webhook(hook);
    }
    Ok(session)
}

/// Plan flags the user typed win over a service's own plan (the fleet gives each service
/// its own cadence; `--interval 1s` still means one second for all of them).
fn explicit(args: &PlanArgs, mut p: Plan) -> Plan {
    if let Some(v) = args.step {
        p.step = v;
    }
    if let Some(v) = args.max_weight {
        p.max_weight = v;
    }
    if let Some(v) = args.interval {
        p.interval = v;
    }
    if let Some(v) = args.threshold {
        p.threshold = v;
    }
    if let Some(v) = args.max_error_rate {
        p.max_error_rate = v.percent() / 100.0;
    }
    if let Some(v) = args.max_p99 {
        p.max_p99 = v;
    }
    p
}

/// The services of this demo: the fleet, or the one rollout of `--scenario`.
fn services(args: &DemoArgs, base: &Plan) -> Result<Vec<Service>> {
    let resolved = args.plan.resolve(base).wrap_err("invalid plan flags")?;
    let list = match args.scenario {
        Some(s) => {
            let mut plan = resolved;
            if args.plan.interval.is_none() {
                plan.interval = args.pace.scale(std::time::Duration::from_secs(8));
            }
            vec![Service::single(s, plan)]
        }
        None => fleet(&resolved, args.pace, |p| explicit(&args.plan, p)),
    };
    for s in &list {
        s.plan
            .validate()
            .wrap_err_with(|| format!("invalid plan flags for demo service {}", s.name))?;
    }
    Ok(list)
}

/// `aviary demo`.
pub async fn demo(args: DemoArgs, mut global: GlobalArgs, base_plan: Plan) -> Result<()> {
    if let Some(w) = args.listen_warning() {
        eprintln!("aviary: {w}");
    }
    let mut session = session(&args.plan, &global, &base_plan)?;
    session.app.start_paused = args.manual;
    let list = services(&args, &base_plan)?;
    // One rollout: open straight onto its charts so the story plays without a keypress.
    session.app.ui.detail = list.len() == 1;
    if global.headless && global.duration.is_none() && list.iter().any(|s| s.fate == Fate::ByHand) {
        // The by-hand service waits for a human, who is not there headless: end after the
        // story instead of waiting forever.
        global.duration = Some(args.pace.scale(std::time::Duration::from_secs(100)));
    }
    let mut worlds = Vec::new();
    for (i, svc) in list.into_iter().enumerate() {
        let mut listen = args.listen;
        if listen.port() != 0 {
            listen.set_port(listen.port().saturating_add(i as u16));
        }
        let seed = if i == 0 {
            args.seed
        } else {
            args.seed ^ crate::demo::mix(i as u64)
        };
        let name = svc.name.clone();
        let w = DemoWorld::start_service(svc, seed, args.rps, listen, session.cancel.clone())
            .await
            .wrap_err_with(|| format!("could not start the demo router for {name} on {listen}"))?;
        eprintln!(
            "aviary demo: {name} router on http://{} ({} stable {}, {} canary {})",
            w.router_addr,
            w.service.stable.version,
            w.stable_addr,
            w.service.canary.version,
            w.canary_addr,
        );
        worlds.push(w);
    }
    eprintln!("aviary demo: audit log {}", audit_path(&global).display());
    session.add_router(ProviderKind::Demo, Arc::new(DemoRouter::new(&worlds)));
    let restart = Arc::new(tokio::sync::Notify::new());
    session.executor.set_restart_demo(restart.clone());
    tokio::spawn(demo_provider::run(
        worlds,
        session.tx.clone(),
        session.cancel.clone(),
        restart,
    ));
    frontend(session, &global).await
}

/// Runs a ready session: JSON lines with `--headless`, else the control room. Every
/// subcommand ends here, so all of them get the same screen and keys.
pub async fn frontend(mut session: Session, global: &GlobalArgs) -> Result<()> {
    if let Some(path) = &global.record {
        // Created here, when the app is fully configured and before its first message.
        let r = crate::record::Recorder::create(path, &session.app)
            .wrap_err_with(|| format!("could not create the recording {}", path.display()))?;
        session.recorder = Some(r);
    }
    if global.headless {
        let mut out = std::io::stdout();
        crate::headless::run(session, global.duration, &mut out).await?;
        return Ok(());
    }
    let settings = crate::settings::Settings::load(global)?;
    session.app.ui.keymap = settings.keymap.clone();
    if settings.themes.is_empty() {
        return Err(color_eyre::eyre::eyre!("no theme could be loaded"));
    }
    crate::event_loop::run(session, settings.themes, settings.fps, !global.no_mouse).await?;
    Ok(())
}

/// Refuses to start the control room without a terminal to draw on: stdout must be one (a
/// TUI written into a file or pipe is escape codes), and the controlling terminal must open
/// (crossterm reads keys from it). Says what to do instead.
pub fn require_terminal() -> Result<()> {
    use std::io::IsTerminal;
    let why = if !std::io::stdout().is_terminal() {
        Some("standard output is not a terminal".to_string())
    } else {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .err()
            .map(|e| format!("there is no controlling terminal (/dev/tty: {e})"))
    };
    match why {
        None => Ok(()),
        Some(why) => Err(color_eyre::eyre::eyre!(
            "no terminal: {why}. The control room needs one; for one JSON line per rollout per second without a terminal, add --headless"
        )),
    }
}
