//! What the poller measures, kept in step with the rollouts a provider reports: one target
//! per rollout, one label match per build.

use crate::domain::Rollout;
use crate::metrics::templates::{BuildTarget, Target};
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
    pub fn update<'a>(&self, rollouts: impl IntoIterator<Item = &'a Rollout>) {
        let targets: Vec<Target> = rollouts
            .into_iter()
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
