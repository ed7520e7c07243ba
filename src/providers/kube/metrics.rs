//! Per-build traffic for cluster rollouts comes from Prometheus through the metrics layer
//! (`crate::metrics::poller`): this module starts that poller for `--prometheus URL` and
//! keeps its list of targets in step with the rollouts the provider reports. Without
//! `--prometheus`, the status line says there is no metrics source.

use crate::cli::KubeArgs;
use crate::domain::Rollout;
use crate::domain::observation::SourceId;
use crate::metrics::poller::{PromSource, check_reachable};
use crate::metrics::prometheus::PromClient;
use crate::metrics::templates::{BuildTarget, Target, Template};
use crate::msg::{Msg, ProviderEvent};
use crate::session::Session;
use color_eyre::eyre::{Result, eyre};
use std::time::Duration;
use tokio::sync::watch;

/// The poller's target list and the label that tells builds apart.
pub struct Targets {
    /// Updated by the provider as rollouts come and go.
    pub tx: watch::Sender<Vec<Target>>,
    /// The data plane's build label (`destination_workload` for Istio).
    pub label: String,
}

impl Targets {
    /// Points the poller at every build of `rollouts`, matched by its selector.
    pub fn update(&self, rollouts: &[Rollout]) {
        let targets: Vec<Target> = rollouts
            .iter()
            .map(|r| Target {
                key: r.key.clone(),
                builds: r
                    .builds
                    .iter()
                    .map(|b| BuildTarget {
                        name: b.name.clone(),
                        labels: [(self.label.clone(), b.selector.clone())]
                            .into_iter()
                            .collect(),
                    })
                    .collect(),
            })
            .collect();
        self.tx.send_if_modified(|cur| {
            if *cur == targets {
                false
            } else {
                *cur = targets;
                true
            }
        });
    }
}

/// Starts the Prometheus poller when `--prometheus` was given. A URL that does not answer is
/// an error now, before the screen starts, not a stale badge forever.
pub async fn start(args: &KubeArgs, session: &Session) -> Result<Option<Targets>> {
    let source = SourceId("metrics".into());
    let Some(url) = &args.prometheus else {
        let _ = session.tx.try_send(Msg::Provider(ProviderEvent::Info {
            source,
            message: "no metrics source: pass --prometheus URL to see per-build traffic".into(),
        }));
        return Ok(None);
    };
    let client = PromClient::new(url, Duration::from_secs(5)).map_err(|e| eyre!("{e}"))?;
    check_reachable(&client)
        .await
        .map_err(|e| eyre!("--prometheus {url}: {e}"))?;
    let template = Template::builtin(args.mesh)
        .ok_or_else(|| eyre!("--mesh {:?} has no built-in query template", args.mesh))?;
    let label = template
        .build_labels
        .first()
        .cloned()
        .ok_or_else(|| eyre!("the query template names no build label"))?;
    let (tx, rx) = watch::channel(Vec::new());
    let poller = PromSource {
        client,
        template,
        targets: rx,
        source: SourceId("prometheus".into()),
        refresh: Duration::from_secs(1),
    };
    tokio::spawn(poller.run(session.tx.clone(), session.cancel.clone()));
    Ok(Some(Targets { tx, label }))
}
