//! `aviary kube`: the cluster world (Argo Rollouts, Flagger, Istio, Gateway API, SMI), on one
//! cluster or several kubeconfig contexts at once.

use crate::cli::{GlobalArgs, KubeArgs};
use crate::config::ContextFile;
use crate::domain::Plan;
use crate::domain::change::{WriteOk, WriteRequest};
use crate::domain::observation::SourceId;
use crate::metrics::templates::DataPlane;
use crate::msg::{Msg, ProviderEvent};
use crate::providers::kube::router::KubeRouter;
use crate::providers::{Router, RouterError};
use async_trait::async_trait;
use color_eyre::eyre::{Result, WrapErr};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Sends each write to the cluster its rollout came from, and never to another: a key whose
/// context has no connection is refused.
struct ByContext(BTreeMap<Option<String>, KubeRouter>);

#[async_trait]
impl Router for ByContext {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        match self.0.get(&req.target.context) {
            Some(r) => r.apply(req).await,
            None => Err(RouterError::Failed(format!(
                "{}: no connection to context {}",
                req.target,
                req.target.context.as_deref().unwrap_or("(in-cluster)")
            ))),
        }
    }
}

/// The contexts to watch: `--all-contexts`, the `--context` flags, or the current one
/// (`None`: the kubeconfig's current context, or the in-cluster config).
fn contexts(args: &KubeArgs) -> Result<Vec<Option<String>>> {
    if args.all_contexts {
        let names = crate::providers::kube::all_contexts(args.kubeconfig.as_deref())
            .map_err(|e| color_eyre::eyre::eyre!(e))?;
        return Ok(names.into_iter().map(Some).collect());
    }
    if args.context.is_empty() {
        return Ok(vec![None]);
    }
    let mut v: Vec<Option<String>> = Vec::new();
    for c in &args.context {
        if !v.contains(&Some(c.clone())) {
            v.push(Some(c.clone()));
        }
    }
    Ok(v)
}

/// `aviary kube`: connects like kubectl (local config only, so the first frame does not wait
/// for the API server), then watches and steers each cluster's rollouts. Each context has
/// its own connection, RBAC review, sources and metrics, so one that does not answer goes
/// stale without holding back the others.
pub async fn kube(
    args: KubeArgs,
    global: GlobalArgs,
    base_plan: Plan,
    per_context: BTreeMap<String, ContextFile>,
) -> Result<()> {
    use crate::providers::kube as k;
    // Flags are checked before any connection is made.
    args.plan
        .resolve(&base_plan)
        .wrap_err("invalid plan flags")?;
    let wanted = contexts(&args)?;
    let labelled = wanted.len() > 1;
    let mut conns = Vec::new();
    for context in &wanted {
        let conn = k::connect(&k::Connect {
            kubeconfig: args.kubeconfig.clone(),
            context: context.clone(),
            namespace: args.namespace.clone(),
            all_namespaces: args.all_namespaces,
        })
        .await
        .map_err(|e| match context {
            Some(c) if labelled => color_eyre::eyre::eyre!("context {c}: {e}"),
            _ => color_eyre::eyre::eyre!(e),
        })?;
        conns.push(conn);
    }
    let mut session = super::session(&args.plan, &global, &base_plan)?;
    let mut routers = BTreeMap::new();
    let mut clusters = Vec::new();
    let mut any_metrics = false;
    for conn in conns {
        let opts = k::catalog::Options {
            raw_owner: if args.autopilot {
                crate::domain::Owner::Autopilot
            } else {
                crate::domain::Owner::Manual
            },
            default_mesh: k::flagger_provider(args.metrics.mesh.unwrap_or_default()).into(),
            loadtester: args.flagger_loadtester.is_some(),
            context: None,
        };
        let shared = Arc::new(
            k::Shared::new(
                conn.client.clone(),
                opts,
                args.flagger_loadtester.clone(),
                session.executor.actor(),
            )
            .on_context(conn.context.clone(), labelled),
        );
        routers.insert(conn.context.clone(), KubeRouter(shared.clone()));
        // A context's own Prometheus (config file) over `--prometheus`.
        let mut prom = args.metrics.clone();
        if let Some(url) = conn
            .context
            .as_ref()
            .and_then(|c| per_context.get(c))
            .and_then(|c| c.prometheus.clone())
        {
            prom.prometheus = Some(url);
            prom.saas = Default::default();
        }
        let metrics = super::metrics::start(
            &prom,
            DataPlane::default(),
            Vec::new(),
            Duration::from_secs(1),
            &session,
        )
        .await?;
        any_metrics |= metrics.is_some();
        tokio::spawn(k::watch::run(
            shared.clone(),
            conn.namespace.clone(),
            conn.url.clone(),
            metrics,
            session.tx.clone(),
            session.cancel.clone(),
        ));
        clusters.push((conn, shared));
    }
    let router: Arc<dyn Router> = Arc::new(ByContext(routers));
    for kind in k::kinds::Kind::ALL {
        session.add_router(kind.provider(), router.clone());
    }
    if !any_metrics {
        let _ = session.tx.try_send(Msg::Provider(ProviderEvent::Info {
            source: SourceId("metrics".into()),
            message: "no metrics source: pass --prometheus URL, --dynatrace URL or --datadog SITE to see per-build traffic".into(),
        }));
    }
    super::frontend(session, &global).await?;
    // A headless run that never reached a cluster printed nothing useful for it: a script
    // must see that as a failure, not as "no rollouts".
    if global.headless {
        let unreached: Vec<String> = clusters
            .iter()
            .filter(|(_, s)| !s.reached.load(std::sync::atomic::Ordering::SeqCst))
            .map(|(conn, shared)| {
                let why = shared
                    .last_failure
                    .lock()
                    .ok()
                    .and_then(|f| f.clone())
                    .unwrap_or_else(|| {
                        format!("Kubernetes API at {} did not answer in time", conn.url)
                    });
                match &conn.context {
                    Some(c) if labelled => format!("context {c}: {why}"),
                    _ => why,
                }
            })
            .collect();
        if !unreached.is_empty() {
            return Err(super::Exit {
                code: k::NEVER_REACHED,
                message: format!("{}; nothing was listed there", unreached.join("; ")),
            }
            .into());
        }
    }
    Ok(())
}
