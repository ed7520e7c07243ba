//! The demo world as a provider: one autopilot rollout, writes go to the in-process proxy,
//! metrics come from the proxy's per-build counters once a second.

use super::{Router, RouterError};
use crate::demo::{CANARY, DemoWorld, RouterHandle, STABLE};
use crate::domain::change::{RouterChange, WriteOk, WriteRequest};
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::domain::{Build, Owner, Phase, ProviderKind, Role, Rollout, RolloutKey};
use crate::msg::{Msg, ProviderEvent};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The demo's source id.
pub fn source() -> SourceId {
    SourceId("demo".into())
}

/// The demo rollout's key.
pub fn key() -> RolloutKey {
    RolloutKey::new(ProviderKind::Demo, "checkout")
}

/// The demo rollout as the provider reports it at start: 100 % on build 1.
pub fn rollout(world: &DemoWorld) -> Rollout {
    let build = |role, name: &str, version: &str, w| Build {
        role,
        name: name.to_string(),
        version: Some(version.to_string()),
        weight: w,
        selector: name.to_string(),
    };
    let canary = world.router.canary();
    let mut r = Rollout::new(
        key(),
        Owner::Autopilot,
        vec![
            build(Role::Stable, STABLE, "v1.0.0", canary.complement()),
            build(Role::Canary, CANARY, "v1.1.0", canary),
        ],
    );
    r.phase = Phase::Progressing;
    r.router = format!("http://{}", world.router_addr);
    r
}

/// Writes go straight to the proxy's weight; the read-back is the proxy's own value.
pub struct DemoRouter(pub RouterHandle);

#[async_trait]
impl Router for DemoRouter {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        match &req.change {
            RouterChange::CanaryWeight(w) => {
                self.0.set_canary(*w);
                Ok(WriteOk {
                    canary_weight: Some(self.0.canary()),
                    note: None,
                    version: None,
                })
            }
            RouterChange::Controller(_) => Err(RouterError::Refused(
                "the demo router has no controller".into(),
            )),
        }
    }
}

/// Announces the rollout, then sends one metrics batch a second until `cancel`.
pub async fn run(
    world_rollout: Rollout,
    router: RouterHandle,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let _ = tx
        .send(Msg::Provider(ProviderEvent::Upsert {
            source: source(),
            rollout: Box::new(world_rollout),
        }))
        .await;
    let _ = router.take();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                let c = router.take();
                let mut builds = BTreeMap::new();
                builds.insert(STABLE.to_string(), c.stable);
                builds.insert(CANARY.to_string(), c.canary);
                let mut samples = BTreeMap::new();
                samples.insert(key(), builds);
                let batch = MetricsBatch { source: source(), at: SystemTime::now(), samples };
                if tx.send(Msg::Metrics(batch)).await.is_err() {
                    return;
                }
            }
        }
    }
}
