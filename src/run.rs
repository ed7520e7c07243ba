//! Runs a subcommand: builds the world and the session, then hands them to the headless
//! loop or the TUI.

use crate::app::App;
use crate::audit::AuditLog;
use crate::cli::{DemoArgs, GlobalArgs, PlanArgs};
use crate::demo::{DemoOptions, DemoWorld};
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
pub use kube::kube;
pub use offcluster::{consul, consul_session, haproxy, haproxy_session};

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

/// `aviary demo`.
pub async fn demo(args: DemoArgs, global: GlobalArgs, base_plan: Plan) -> Result<()> {
    if let Some(w) = args.listen_warning() {
        eprintln!("aviary: {w}");
    }
    let mut session = session(&args.plan, &global, &base_plan)?;
    session.app.start_paused = args.manual;
    // One rollout: open straight onto its charts so the story plays without a keypress.
    session.app.ui.detail = true;
    let world = DemoWorld::start(
        &DemoOptions {
            scenario: args.scenario,
            seed: args.seed,
            rps: args.rps,
            listen: args.listen,
        },
        session.cancel.clone(),
    )
    .await
    .wrap_err_with(|| format!("could not start the demo router on {}", args.listen))?;
    eprintln!(
        "aviary demo: router on http://{} (stable {}, canary {}); audit log {}",
        world.router_addr,
        world.stable_addr,
        world.canary_addr,
        audit_path(&global).display()
    );
    session.add_router(
        ProviderKind::Demo,
        Arc::new(DemoRouter(world.router.clone())),
    );
    tokio::spawn(demo_provider::run(
        demo_provider::rollout(&world),
        world.router.clone(),
        session.tx.clone(),
        session.cancel.clone(),
    ));
    frontend(session, &global).await
}

/// Runs a ready session: JSON lines with `--headless`, else the control room. Every
/// subcommand ends here, so all of them get the same screen and keys.
pub async fn frontend(mut session: Session, global: &GlobalArgs) -> Result<()> {
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
    crate::event_loop::run(session, settings.themes, settings.fps).await?;
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
