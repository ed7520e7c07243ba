//! What a rollout is, whoever drives it: the key, the builds and their weights, who owns the
//! route, and which operator actions that owner allows.

use super::{ControllerPlan, Phase, Plan, Weight};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

/// Which integration a rollout came from; part of its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// The in-process demo world.
    Demo,
    /// Argo Rollouts `Rollout`.
    Argo,
    /// Flagger `Canary`.
    Flagger,
    /// Istio `VirtualService`.
    Istio,
    /// Gateway API `HTTPRoute`.
    GatewayApi,
    /// SMI `TrafficSplit`.
    Smi,
    /// Consul `service-splitter`.
    Consul,
    /// HAProxy runtime API.
    Haproxy,
    /// An ingress-nginx canary `Ingress` (weight in its `canary-weight` annotation).
    Nginx,
    /// OpenKruise Rollouts `Rollout` (`rollouts.kruise.io`).
    Kruise,
}

impl ProviderKind {
    /// The prefix used in keys (`argo:shop/checkout`).
    pub fn prefix(self) -> &'static str {
        match self {
            ProviderKind::Demo => "demo",
            ProviderKind::Argo => "argo",
            ProviderKind::Flagger => "flagger",
            ProviderKind::Istio => "istio",
            ProviderKind::GatewayApi => "httproute",
            ProviderKind::Smi => "smi",
            ProviderKind::Consul => "consul",
            ProviderKind::Haproxy => "haproxy",
            ProviderKind::Nginx => "nginx",
            ProviderKind::Kruise => "kruise",
        }
    }
}

/// Identifies a rollout across refreshes: provider + namespace + name, and the cluster
/// (kubeconfig context) it lives on, so a write can only ever go to the cluster its row
/// came from.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RolloutKey {
    /// Where it came from.
    pub provider: ProviderKind,
    /// Kubernetes namespace, when there is one.
    pub namespace: Option<String>,
    /// Object, backend or service name.
    pub name: String,
    /// Kubeconfig context, for Kubernetes rollouts whose context is known. Not part of the
    /// printed key (the CONTEXT column and every dialog show it), so keys read like kubectl's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

impl RolloutKey {
    /// A key without a namespace (demo, HAProxy, Consul).
    pub fn new(provider: ProviderKind, name: impl Into<String>) -> Self {
        RolloutKey {
            provider,
            namespace: None,
            name: name.into(),
            context: None,
        }
    }

    /// A namespaced key (Kubernetes objects).
    pub fn namespaced(
        provider: ProviderKind,
        ns: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        RolloutKey {
            provider,
            namespace: Some(ns.into()),
            name: name.into(),
            context: None,
        }
    }

    /// The same key on the cluster named by `context`.
    pub fn on(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }
}

impl fmt::Display for RolloutKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}:{}/{}", self.provider.prefix(), ns, self.name),
            None => write!(f, "{}:{}", self.provider.prefix(), self.name),
        }
    }
}

/// A build's part in the rollout.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Role {
    /// The version serving today.
    Stable,
    /// The version being tried.
    Canary,
    /// A third destination (A/B/C splits); shown, never stepped.
    Other(String),
}

/// One version of the service and its share of traffic.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Build {
    /// Stable, canary or other.
    pub role: Role,
    /// Name as the router knows it (subset, backend, server, `build 4`).
    pub name: String,
    /// Image tag or revision, when known.
    pub version: Option<String>,
    /// Current share of traffic.
    pub weight: Weight,
    /// How the metrics layer finds this build's traffic (label value).
    pub selector: String,
}

/// A controller that owns its route and is acted on through its own API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Controller {
    /// Argo Rollouts.
    Argo,
    /// Flagger.
    Flagger,
    /// OpenKruise Rollouts.
    Kruise,
}

/// Who drives the weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Owner {
    /// A controller steps the rollout; aviary talks to the controller.
    Controller(Controller),
    /// aviary's own autopilot steps the plan on a router without a controller.
    Autopilot,
    /// aviary only watches and acts on keypresses.
    Manual,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Controller(Controller::Argo) => f.write_str("argo"),
            Owner::Controller(Controller::Flagger) => f.write_str("flagger"),
            Owner::Controller(Controller::Kruise) => f.write_str("kruise"),
            Owner::Autopilot => f.write_str("autopilot"),
            Owner::Manual => f.write_str("manual"),
        }
    }
}

/// The operator actions (the keys and what each router is asked: docs/ARCHITECTURE.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Hold stepping.
    Pause,
    /// Continue stepping.
    Resume,
    /// One step forward.
    Advance,
    /// All the way to the canary.
    Promote,
    /// Back to stable, now.
    Abort,
    /// Start over after an abort.
    Retry,
    /// An exact weight.
    SetWeight,
}

impl ActionKind {
    /// Name used in the audit log and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Pause => "pause",
            ActionKind::Resume => "resume",
            ActionKind::Advance => "advance",
            ActionKind::Promote => "promote",
            ActionKind::Abort => "abort",
            ActionKind::Retry => "retry",
            ActionKind::SetWeight => "set_weight",
        }
    }
}

/// Which actions this rollout's owner allows; a refused action carries its reason
/// ("controller owns this route", "forbidden by RBAC") so the UI can say why.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Refused actions and why. Absent means allowed.
    pub refused: BTreeMap<ActionKind, String>,
}

impl Capabilities {
    /// Everything allowed.
    pub fn all() -> Self {
        Self::default()
    }

    /// Refuses `action` with `reason`.
    pub fn refuse(mut self, action: ActionKind, reason: impl Into<String>) -> Self {
        self.refused.insert(action, reason.into());
        self
    }

    /// `Err(reason)` if the action is refused.
    pub fn check(&self, action: ActionKind) -> Result<(), &str> {
        match self.refused.get(&action) {
            Some(r) => Err(r.as_str()),
            None => Ok(()),
        }
    }
}

/// A rollout as every screen and the autopilot see it, converted by its provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    /// Identity.
    pub key: RolloutKey,
    /// Who drives the weights.
    pub owner: Owner,
    /// Builds with their current weights (stable first).
    pub builds: Vec<Build>,
    /// Canary weight the owner is heading to, when it says.
    pub desired_weight: Option<Weight>,
    /// Normalised phase.
    pub phase: Phase,
    /// The owner's own phase text, verbatim.
    pub phase_text: String,
    /// aviary's step plan, for rollouts aviary drives.
    pub plan: Option<Plan>,
    /// The owning controller's plan, verbatim, for rollouts a controller drives.
    #[serde(default)]
    pub controller_plan: Option<ControllerPlan>,
    /// Current step (1-based) and total steps, when known.
    pub step: Option<(u32, u32)>,
    /// When the phase or weight last changed.
    pub last_transition: Option<SystemTime>,
    /// When the object was created (`metadata.creationTimestamp`), where the router has
    /// objects: the overview's AGE, as in kubectl and k9s.
    #[serde(default)]
    pub created: Option<SystemTime>,
    /// The *why*: the controller's message, the failing check, the abort reason.
    pub message: String,
    /// Router address or object (`127.0.0.1:8080`, `VirtualService shop/reviews`).
    pub router: String,
    /// What the operator may do.
    pub capabilities: Capabilities,
    /// Opaque version for optimistic concurrency (resourceVersion, ModifyIndex).
    pub version: Option<String>,
}

impl Rollout {
    /// The canary build, if any.
    pub fn canary(&self) -> Option<&Build> {
        self.builds.iter().find(|b| b.role == Role::Canary)
    }

    /// The stable build, if any.
    pub fn stable(&self) -> Option<&Build> {
        self.builds.iter().find(|b| b.role == Role::Stable)
    }

    /// The canary's current weight (0 when there is no canary).
    pub fn canary_weight(&self) -> Weight {
        self.canary().map(|b| b.weight).unwrap_or(Weight::ZERO)
    }

    /// Sets stable/canary weights from a canary share, leaving other builds alone.
    pub fn set_canary_weight(&mut self, canary: Weight) {
        for b in &mut self.builds {
            match b.role {
                Role::Canary => b.weight = canary,
                Role::Stable => b.weight = canary.complement(),
                Role::Other(_) => {}
            }
        }
    }

    /// What to show beside the phase, if anything: the part of the owner's own text the
    /// label does not already say (`(write failed)`), or a controller's differing phase
    /// (`argo: Degraded`). For aviary's rollouts the text is aviary's own (`update` never
    /// lets a router's stale phase text in), so it never contradicts the phase.
    pub fn phase_note(&self) -> Option<String> {
        let label = self.phase.label();
        let text = self.phase_text.trim();
        if text.is_empty() || text == label {
            return None;
        }
        if let Some(rest) = text.strip_prefix(label) {
            return Some(rest.trim().to_string()).filter(|r| !r.is_empty());
        }
        match self.owner {
            Owner::Controller(_) => Some(format!("{}: {text}", self.owner)),
            // aviary's own note (`write failed`); `update` keeps router text out of it.
            Owner::Autopilot | Owner::Manual => Some(format!("({text})")),
        }
    }

    /// A rollout with the given builds, all defaults otherwise; providers fill the rest.
    pub fn new(key: RolloutKey, owner: Owner, builds: Vec<Build>) -> Self {
        Rollout {
            key,
            owner,
            builds,
            desired_weight: None,
            phase: Phase::Idle,
            phase_text: String::new(),
            plan: None,
            controller_plan: None,
            step: None,
            last_transition: None,
            created: None,
            message: String::new(),
            router: String::new(),
            capabilities: Capabilities::all(),
            version: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_like_kubectl_paths() {
        let k = RolloutKey::namespaced(ProviderKind::Argo, "shop", "checkout");
        assert_eq!(k.to_string(), "argo:shop/checkout");
        assert_eq!(
            RolloutKey::new(ProviderKind::Haproxy, "be_app").to_string(),
            "haproxy:be_app"
        );
    }

    #[test]
    fn refused_actions_carry_their_reason() {
        let c = Capabilities::all().refuse(ActionKind::SetWeight, "controller owns this route");
        assert_eq!(
            c.check(ActionKind::SetWeight),
            Err("controller owns this route")
        );
        assert!(c.check(ActionKind::Abort).is_ok());
    }
}
