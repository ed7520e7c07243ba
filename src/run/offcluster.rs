//! Runners for the routers outside Kubernetes (HAProxy, Consul): validate the target before
//! any screen appears, build the session, start the provider and metrics tasks.

use super::audit_path;
use crate::cli::{ConsulArgs, GlobalArgs, HaproxyArgs, PlanArgs, PromArgs};
use crate::domain::observation::SourceId;
use crate::domain::{Plan, ProviderKind};
use crate::metrics::templates::{DataPlane, Target};
use crate::providers::consul::{self, Consul, ConsulClient, ConsulRouter};
use crate::providers::haproxy::{self, ApiAddr, Haproxy, HaproxyClient, HaproxyRouter};
use crate::session::Session;
use color_eyre::eyre::{Result, eyre};
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

/// Starts the metrics poller for one fixed target and keeps its target list alive for the
/// session (a dropped list would leave the poller measuring nothing).
async fn metrics(
    session: &Session,
    args: &PromArgs,
    plane: DataPlane,
    target: Target,
    refresh: Duration,
) -> Result<()> {
    if let Some(targets) =
        super::metrics::start(args, plane, vec![target], refresh, session).await?
    {
        let cancel = session.cancel.clone();
        tokio::spawn(async move {
            cancel.cancelled().await;
            drop(targets);
        });
    }
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
    metrics(
        &session,
        &args.metrics,
        DataPlane::Haproxy,
        hp.target(),
        args.refresh,
    )
    .await?;
    let watch = haproxy::Watch {
        haproxy: hp,
        initial,
        refresh: args.refresh,
        stats: !args.metrics.any(),
        source: SourceId(format!("haproxy {}", args.socket)),
    };
    tokio::spawn(haproxy::run(
        watch,
        session.tx.clone(),
        session.cancel.clone(),
    ));
    Ok(session)
}

/// Where metrics come from, for the start line.
fn metrics_name(m: &PromArgs) -> &str {
    m.prometheus
        .as_deref()
        .or(m.saas.dynatrace.as_deref())
        .or(m.saas.datadog.as_deref())
        .unwrap_or("show stat")
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
        metrics_name(&args.metrics),
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
    if args.metrics.any() {
        metrics(
            &session,
            &args.metrics,
            DataPlane::Consul,
            c.target(),
            args.refresh,
        )
        .await?
    } else {
        eprintln!(
            "aviary consul: no metrics source (--prometheus, --dynatrace or --datadog): without metrics the autopilot takes at most the first step, then holds; step with n, promote with P, abort with A"
        )
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
