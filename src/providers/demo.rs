//! The demo world as a provider: one rollout per service, writes go to that service's
//! in-process proxy, metrics come from the proxies' per-build counters once a second, the
//! by-hand service's pipeline steps its own router, and a caption narrates the story.

use super::{Router, RouterError};
use crate::demo::story::{Pipeline, Watch, opening};
use crate::demo::{DemoWorld, Fate, RouterHandle};
use crate::domain::change::{RouterChange, WriteOk, WriteRequest};
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::domain::{
    ActionKind, Build, Capabilities, Owner, Phase, ProviderKind, Role, Rollout, RolloutKey,
};
use crate::msg::{Msg, ProviderEvent};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{Notify, mpsc};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The demo's source id.
pub fn source() -> SourceId {
    SourceId("demo".into())
}

/// The single-rollout demo's key (`demo:checkout`).
pub fn key() -> RolloutKey {
    key_of("checkout")
}

/// A demo service's rollout key.
pub fn key_of(service: &str) -> RolloutKey {
    RolloutKey::new(ProviderKind::Demo, service)
}

/// A service's rollout as the provider reports it, weights read back from its router.
pub fn rollout(world: &DemoWorld) -> Rollout {
    let s = &world.service;
    let build = |role, name: &str, w| Build {
        role,
        name: name.to_string(),
        version: None,
        weight: w,
        selector: name.to_string(),
    };
    let canary = world.router.canary();
    let by_hand = s.fate == Fate::ByHand;
    let mut r = Rollout::new(
        key_of(&s.name),
        if by_hand {
            Owner::Manual
        } else {
            Owner::Autopilot
        },
        vec![
            build(Role::Stable, &s.stable.version, canary.complement()),
            build(Role::Canary, &s.canary.version, canary),
        ],
    );
    r.phase = Phase::Progressing;
    r.phase_text = r.phase.label().into();
    r.router = format!("http://{}", world.router_addr);
    r.plan = Some(s.plan.clone());
    if by_hand {
        let why = "the release pipeline steps this one; promote (P) or abort (A)";
        r.capabilities = Capabilities::all()
            .refuse(ActionKind::Pause, why)
            .refuse(ActionKind::Resume, why)
            .refuse(ActionKind::Retry, why);
    }
    r
}

/// Writes go straight to the target service's proxy; the read-back is the proxy's own value.
pub struct DemoRouter(BTreeMap<RolloutKey, RouterHandle>);

impl DemoRouter {
    /// One router per service of `worlds`.
    pub fn new(worlds: &[DemoWorld]) -> Self {
        DemoRouter(
            worlds
                .iter()
                .map(|w| (key_of(&w.service.name), w.router.clone()))
                .collect(),
        )
    }

    /// The single-rollout demo's router.
    pub fn single(h: RouterHandle) -> Self {
        DemoRouter([(key(), h)].into_iter().collect())
    }
}

#[async_trait]
impl Router for DemoRouter {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        let Some(h) = self.0.get(&req.target) else {
            return Err(RouterError::Refused(format!(
                "no demo service {}",
                req.target
            )));
        };
        match &req.change {
            RouterChange::CanaryWeight(w) => {
                h.set_canary(*w);
                Ok(WriteOk {
                    canary_weight: Some(h.canary()),
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

/// The narrator and pipeline state of one story run.
struct Story {
    watch: Vec<Watch>,
    pipes: Vec<Pipeline>,
    shown: Vec<(Phase, String, crate::domain::Weight)>,
}

impl Story {
    fn new(n: usize) -> Self {
        Story {
            watch: vec![Watch::default(); n],
            pipes: vec![Pipeline::default(); n],
            shown: Vec::new(),
        }
    }
}

async fn announce(worlds: &[DemoWorld], tx: &mpsc::Sender<Msg>) -> bool {
    for w in worlds {
        let ev = ProviderEvent::Upsert {
            source: source(),
            rollout: Box::new(rollout(w)),
        };
        if tx.send(Msg::Provider(ev)).await.is_err() {
            return false;
        }
    }
    caption(
        tx,
        opening(&worlds.iter().map(|w| w.service.clone()).collect::<Vec<_>>()),
    )
    .await
}

async fn caption(tx: &mpsc::Sender<Msg>, message: String) -> bool {
    let ev = ProviderEvent::Info {
        source: source(),
        message,
    };
    tx.send(Msg::Provider(ev)).await.is_ok()
}

/// Back to the first second: every router at 0 %, the rollouts forgotten and announced
/// again, so aviary's autopilots start over exactly as at launch.
async fn restart(worlds: &[DemoWorld], tx: &mpsc::Sender<Msg>) -> bool {
    for w in worlds {
        let ev = ProviderEvent::Delete {
            source: source(),
            key: key_of(&w.service.name),
        };
        if tx.send(Msg::Provider(ev)).await.is_err() {
            return false;
        }
    }
    // A write already in flight lands within microseconds; wait it out before resetting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for w in worlds {
        w.router.set_canary(crate::domain::Weight::ZERO);
        let _ = w.router.take();
    }
    announce(worlds, tx).await
}

/// Announces every service, then once a second sends one metrics batch for all of them,
/// steps the by-hand pipeline and narrates, until `cancel`. `restart` starts the story over.
pub async fn run(
    worlds: Vec<DemoWorld>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
    restart_story: Arc<Notify>,
) {
    if !announce(&worlds, &tx).await {
        return;
    }
    for w in &worlds {
        let _ = w.router.take();
    }
    let mut story = Story::new(worlds.len());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = restart_story.notified() => {
                if !restart(&worlds, &tx).await {
                    return;
                }
                story = Story::new(worlds.len());
                tick.reset();
            }
            _ = tick.tick() => {
                if !second(&worlds, &mut story, &tx).await {
                    return;
                }
            }
        }
    }
}

async fn second(worlds: &[DemoWorld], story: &mut Story, tx: &mpsc::Sender<Msg>) -> bool {
    let mut samples = BTreeMap::new();
    let mut captions = Vec::new();
    let mut upserts = Vec::new();
    story.shown.resize(
        worlds.len(),
        (Phase::Idle, String::new(), crate::domain::Weight::ZERO),
    );
    for (i, w) in worlds.iter().enumerate() {
        let s = &w.service;
        if s.fate == Fate::ByHand {
            let v = story.pipes[i].tick(s, Duration::from_secs(1), w.router.canary());
            if let Some(to) = v.step_to {
                w.router.set_canary(to);
            }
            let now = (v.phase.clone(), v.message.clone(), w.router.canary());
            if story.shown[i] != now {
                let mut r = rollout(w);
                r.phase = v.phase;
                r.phase_text = r.phase.label().into();
                r.message = v.message;
                story.shown[i] = now;
                upserts.push(r);
            }
        }
        let c = w.router.take();
        let mut builds = BTreeMap::new();
        builds.insert(s.stable.version.clone(), c.stable.clone());
        builds.insert(s.canary.version.clone(), c.canary.clone());
        samples.insert(key_of(&s.name), builds);
        if let Some(text) = story.watch[i].observe(s, w.router.canary(), c) {
            captions.push(text);
        }
    }
    for r in upserts {
        let ev = ProviderEvent::Upsert {
            source: source(),
            rollout: Box::new(r),
        };
        if tx.send(Msg::Provider(ev)).await.is_err() {
            return false;
        }
    }
    let batch = MetricsBatch {
        source: source(),
        at: SystemTime::now(),
        samples,
    };
    if tx.send(Msg::Metrics(batch)).await.is_err() {
        return false;
    }
    for c in captions {
        if !caption(tx, c).await {
            return false;
        }
    }
    true
}
