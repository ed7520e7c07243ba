//! `aviary kube`: the cluster world (Argo Rollouts, Flagger, Istio, Gateway API, SMI).

use crate::cli::{GlobalArgs, KubeArgs};
use crate::domain::Plan;
use crate::domain::observation::SourceId;
use crate::metrics::templates::DataPlane;
use crate::msg::{Msg, ProviderEvent};
use color_eyre::eyre::{Result, WrapErr};
use std::sync::Arc;
use std::time::Duration;

/// `aviary kube`: connects like kubectl (local config only, so the first frame does not wait
/// for the API server), then watches and steers the cluster's rollouts.
pub async fn kube(args: KubeArgs, global: GlobalArgs, base_plan: Plan) -> Result<()> {
    use crate::providers::kube as k;
    // Flags are checked before any connection is made.
    args.plan
        .resolve(&base_plan)
        .wrap_err("invalid plan flags")?;
    let conn = k::connect(&k::Connect {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
        all_namespaces: args.all_namespaces,
    })
    .await
    .map_err(|e| color_eyre::eyre::eyre!(e))?;
    let mut session = super::session(&args.plan, &global, &base_plan)?;
    let opts = k::catalog::Options {
        raw_owner: if args.autopilot {
            crate::domain::Owner::Autopilot
        } else {
            crate::domain::Owner::Manual
        },
        default_mesh: k::flagger_provider(args.metrics.mesh.unwrap_or_default()).into(),
        loadtester: args.flagger_loadtester.is_some(),
    };
    let shared = Arc::new(k::Shared::new(
        conn.client.clone(),
        opts,
        args.flagger_loadtester.clone(),
        session.executor.actor(),
    ));
    for kind in k::kinds::Kind::ALL {
        session.add_router(
            kind.provider(),
            Arc::new(k::router::KubeRouter(shared.clone())),
        );
    }
    let metrics = super::metrics::start(
        &args.metrics,
        DataPlane::default(),
        Vec::new(),
        Duration::from_secs(1),
        &session,
    )
    .await?;
    if metrics.is_none() {
        let _ = session.tx.try_send(Msg::Provider(ProviderEvent::Info {
            source: SourceId("metrics".into()),
            message: "no metrics source: pass --prometheus URL, --dynatrace URL or --datadog SITE to see per-build traffic".into(),
        }));
    }
    tokio::spawn(k::watch::run(
        shared.clone(),
        conn.namespace.clone(),
        conn.url.clone(),
        metrics,
        session.tx.clone(),
        session.cancel.clone(),
    ));
    super::frontend(session, &global).await?;
    // A headless run that never reached the cluster printed nothing useful: a script must
    // see that as a failure, not as "no rollouts".
    if global.headless && !shared.reached.load(std::sync::atomic::Ordering::SeqCst) {
        let why = shared
            .last_failure
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_else(|| format!("Kubernetes API at {} did not answer in time", conn.url));
        return Err(super::Exit {
            code: k::NEVER_REACHED,
            message: format!("{why}; nothing was listed"),
        }
        .into());
    }
    Ok(())
}
