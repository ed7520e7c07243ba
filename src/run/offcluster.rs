//! Runners for the routers outside Kubernetes (HAProxy, Consul): validate the target before
//! any screen appears, build the session, start the provider and metrics tasks.

use super::audit_path;
use crate::cli::{ConsulArgs, GlobalArgs, HaproxyArgs, PlanArgs};
use crate::domain::observation::SourceId;
use crate::domain::{Plan, ProviderKind};
use crate::metrics::poller::{PromSource, check_reachable};
use crate::metrics::prometheus::PromClient;
use crate::metrics::templates::{DataPlane, Target, Template};
use crate::providers::consul::{self, Consul, ConsulClient, ConsulRouter};
use crate::providers::haproxy::{self, ApiAddr, Haproxy, HaproxyClient, HaproxyRouter};
use crate::session::Session;
use color_eyre::eyre::{Result, eyre};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The shared session, with staleness scaled to this source's refresh.
fn session(
    args: &PlanArgs,
    global: &GlobalArgs,
    base: &Plan,
    refresh: Duration,
) -> Result<Session> {
    let mut session = super::session(args, global, base)?;
    // Metrics older than three refreshes make the autopilot hold (never less than the core's
    // default), so one slow answer does not stop a plan but a dead source does.
    session.app.stale_after = session.app.stale_after.max(refresh * 3);
    Ok(session)
}

/// Starts the Prometheus poller for `target` when `--prometheus` was given. An unreachable
/// server is a warning, not an error: break-glass abort must work without metrics.
async fn prometheus(
    session: &Session,
    url: &str,
    token_file: Option<&Path>,
    template_file: Option<&Path>,
    plane: DataPlane,
    target: Target,
    refresh: Duration,
) -> Result<()> {
    let mut client = PromClient::new(url, Duration::from_secs(5).min(refresh * 4))
        .map_err(|e| eyre!("--prometheus {url}: {e}"))?;
    if let Some(f) = token_file {
        client = client.with_token_file(f).map_err(|e| eyre!(e))?;
    }
    let template = match template_file {
        Some(f) => Template::load(f).map_err(|e| eyre!(e))?,
        None => Template::builtin(plane).ok_or_else(|| eyre!("no built-in template"))?,
    };
    if let Err(e) = check_reachable(&client).await {
        eprintln!(
            "aviary: warning: {e}; metrics stay stale and the autopilot holds until it answers"
        );
    }
    let (keep, targets) = tokio::sync::watch::channel(vec![target]);
    let src = PromSource {
        client,
        template,
        targets,
        source: SourceId(format!("prometheus {url}")),
        refresh,
    };
    let (tx, cancel) = (session.tx.clone(), session.cancel.clone());
    tokio::spawn(async move {
        let _keep = keep;
        src.run(tx, cancel).await;
    });
    Ok(())
}

/// Validates the HAProxy target and builds a running session for it (tests drive this
/// directly; [`haproxy`] hands it to the frontend).
pub async fn haproxy_session(
    args: &HaproxyArgs,
    global: &GlobalArgs,
    base: &Plan,
) -> Result<Session> {
    let client = HaproxyClient::new(ApiAddr::parse(&args.socket));
    let (hp, initial) = Haproxy::connect(
        client,
        &args.backend,
        &args.stable,
        &args.canary,
        global.read_only,
    )
    .await
    .map_err(|e| eyre!(e))?;
    let mut session = session(&args.plan, global, base, args.refresh)?;
    session.add_router(ProviderKind::Haproxy, Arc::new(HaproxyRouter(hp.clone())));
    if let Some(url) = &args.prometheus {
        prometheus(
            &session,
            url,
            args.prometheus_token_file.as_deref(),
            args.prometheus_template.as_deref(),
            DataPlane::Haproxy,
            hp.target(),
            args.refresh,
        )
        .await?;
    }
    let watch = haproxy::Watch {
        haproxy: hp,
        initial,
        refresh: args.refresh,
        stats: args.prometheus.is_none(),
        source: SourceId(format!("haproxy {}", args.socket)),
    };
    tokio::spawn(haproxy::run(
        watch,
        session.tx.clone(),
        session.cancel.clone(),
    ));
    Ok(session)
}

/// `aviary haproxy`.
pub async fn haproxy(args: HaproxyArgs, global: GlobalArgs, base: Plan) -> Result<()> {
    let session = haproxy_session(&args, &global, &base).await?;
    eprintln!(
        "aviary haproxy: backend {} on {} (stable {}, canary {}); metrics from {}; audit log {}",
        args.backend,
        args.socket,
        args.stable,
        args.canary,
        args.prometheus.as_deref().unwrap_or("show stat"),
        audit_path(&global).display()
    );
    super::frontend(session, &global).await
}

/// Validates the Consul service and builds a running session for it.
pub async fn consul_session(
    args: &ConsulArgs,
    global: &GlobalArgs,
    base: &Plan,
) -> Result<Session> {
    let token = consul::token(args.token_file.as_deref()).map_err(|e| eyre!(e))?;
    let client = ConsulClient::new(&args.addr, token).map_err(|e| eyre!(e))?;
    let mut session = session(&args.plan, global, base, args.refresh)?;
    let (c, first) = Consul::connect(
        client,
        &args.service,
        args.stable.as_deref(),
        args.canary.as_deref(),
        session.tx.clone(),
    )
    .await
    .map_err(|e| eyre!(e))?;
    session.add_router(ProviderKind::Consul, Arc::new(ConsulRouter(c.clone())));
    match &args.prometheus {
        Some(url) => {
            prometheus(
                &session,
                url,
                args.prometheus_token_file.as_deref(),
                args.prometheus_template.as_deref(),
                DataPlane::Consul,
                c.target(),
                args.refresh,
            )
            .await?
        }
        None => eprintln!(
            "aviary consul: no --prometheus: without metrics the autopilot takes at most the first step, then holds; step with n, promote with P, abort with A"
        ),
    }
    tokio::spawn(consul::run(c, first, args.refresh, session.cancel.clone()));
    Ok(session)
}

/// `aviary consul`.
pub async fn consul(args: ConsulArgs, global: GlobalArgs, base: Plan) -> Result<()> {
    let session = consul_session(&args, &global, &base).await?;
    eprintln!(
        "aviary consul: service-splitter/{} on {}; audit log {}",
        args.service,
        args.addr,
        audit_path(&global).display()
    );
    super::frontend(session, &global).await
}
