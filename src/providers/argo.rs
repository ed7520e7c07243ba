//! Argo Rollouts `Rollout`: conversion into a domain [`Rollout`], the router objects it claims,
//! and the patches for each operator action. Argo owns the route, so aviary never writes
//! weights here; it asks the controller the way `kubectl argo rollouts` does: `spec.paused`
//! on the object, and `abort`, `pauseConditions`, `currentStepIndex`, `promoteFull` on the
//! `status` subresource (Rollouts v0.10+ serve status as a subresource).

use super::kube::access::{Access, Permission};
use super::kube::fields::{Condition, SpecStatus, lenient_list, spec_status, unreadable};
use super::kube::kinds::{self, Kind, ObjRef};
use crate::domain::weight::controller_owns_route;
use crate::domain::{
    ActionKind, Build, Capabilities, Controller, Owner, Phase, Role, Rollout, RolloutKey, Weight,
};
use kube::api::DynamicObject;

mod plan;
mod writes;

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
pub use writes::patches;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    paused: Option<bool>,
    strategy: Strategy,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Strategy {
    canary: Option<CanaryStrategy>,
    blue_green: Option<BlueGreen>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CanaryStrategy {
    canary_service: Option<String>,
    stable_service: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    steps: Vec<Value>,
    traffic_routing: Option<TrafficRouting>,
    /// Background analysis (`templates[]`, or v0.x `templateName`).
    analysis: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct BlueGreen {
    active_service: Option<String>,
    preview_service: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TrafficRouting {
    istio: Option<IstioRouting>,
    smi: Option<SmiRouting>,
    nginx: Option<Value>,
    plugins: BTreeMap<String, Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct IstioRouting {
    virtual_service: Option<VsRef>,
    virtual_services: Vec<VsRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VsRef {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct SmiRouting {
    traffic_split_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    abort: Option<bool>,
    phase: Option<String>,
    message: Option<String>,
    current_step_index: Option<Value>,
    current_pod_hash: Option<String>,
    #[serde(rename = "stableRS")]
    stable_rs: Option<String>,
    #[serde(deserialize_with = "lenient_list")]
    pause_conditions: Vec<PauseCondition>,
    canary: CanaryStatus,
    #[serde(deserialize_with = "lenient_list")]
    conditions: Vec<Condition>,
    /// An integer since v1.0 (a hash before): compared with `metadata.generation`.
    observed_generation: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
struct PauseCondition {
    reason: String,
    start_time: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
#[serde(rename_all = "camelCase")]
struct CanaryStatus {
    weights: Option<Weights>,
    /// Where v0.9 kept the stable hash.
    #[serde(rename = "stableRS")]
    stable_rs: Option<String>,
    current_step_analysis_run: Option<String>,
    current_step_analysis_run_status: Option<Value>,
    current_background_analysis_run: Option<String>,
    current_background_analysis_run_status: Option<Value>,
    current_experiment: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Weights {
    canary: WeightDest,
    stable: WeightDest,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct WeightDest {
    weight: Option<Value>,
}

/// What the converter and the patch builder both need to know about a Rollout.
type View = SpecStatus<Spec, Status>;

fn view(obj: &DynamicObject) -> Result<View, String> {
    spec_status(obj)
}

impl SpecStatus<Spec, Status> {
    fn steps(&self) -> &[Value] {
        self.spec
            .strategy
            .canary
            .as_ref()
            .map(|c| c.steps.as_slice())
            .unwrap_or(&[])
    }

    fn step_index(&self) -> Option<usize> {
        let s = self.status.as_ref()?;
        let i = s.current_step_index.as_ref().and_then(kinds::number)?;
        Some((i.max(0.0) as usize).min(self.steps().len()))
    }

    /// `status.abort`, or (v0.9, where `abort` may be null) a `RolloutAborted` condition.
    fn aborted(&self) -> bool {
        let Some(s) = &self.status else { return false };
        match s.abort {
            Some(a) => a,
            None => s.conditions.iter().any(|c| {
                c.type_ == "Progressing"
                    && c.status == "False"
                    && c.reason.as_deref() == Some("RolloutAborted")
            }),
        }
    }

    fn paused(&self) -> bool {
        self.spec.paused == Some(true)
    }

    fn pause_reasons(&self) -> Vec<String> {
        self.status
            .as_ref()
            .map(|s| {
                s.pause_conditions
                    .iter()
                    .map(|p| p.reason.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn stable_hash(&self) -> Option<&str> {
        let s = self.status.as_ref()?;
        s.stable_rs.as_deref().or(s.canary.stable_rs.as_deref())
    }

    fn current_hash(&self) -> Option<&str> {
        self.status.as_ref()?.current_pod_hash.as_deref()
    }

    /// True while a new revision is being rolled out (canary pods differ from stable).
    fn in_flight(&self) -> bool {
        match (self.stable_hash(), self.current_hash()) {
            (Some(s), Some(c)) => s != c,
            _ => false,
        }
    }

    /// The `setWeight` in force at step `idx` (Argo's rule: the last one at or before it;
    /// past the last step the canary has everything).
    fn set_weight_at(&self, idx: usize) -> Option<f64> {
        let steps = self.steps();
        if idx >= steps.len() {
            return (!steps.is_empty()).then_some(100.0);
        }
        steps[..=idx]
            .iter()
            .rev()
            .find_map(|s| s.get("setWeight").and_then(kinds::number))
    }
}

/// Router objects this Rollout drives (its `trafficRouting` references), so they are shown
/// under it and not as separate raw routes.
pub fn claims(obj: &DynamicObject) -> Vec<ObjRef> {
    let ns = kinds::namespace(obj);
    let name = kinds::name(obj);
    let Ok(v) = view(obj) else {
        return Vec::new();
    };
    let Some(tr) = v
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.traffic_routing.as_ref())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut vs = |n: &str| {
        // Argo accepts `name` or `name.namespace`.
        out.push(ObjRef::new(Kind::VirtualService, ns.clone(), n));
        if let Some((n2, ns2)) = n.split_once('.') {
            out.push(ObjRef::new(Kind::VirtualService, ns2, n2));
        }
    };
    if let Some(istio) = &tr.istio {
        istio
            .virtual_service
            .iter()
            .chain(&istio.virtual_services)
            .for_each(|r| vs(&r.name));
    }
    if let Some(smi) = &tr.smi {
        let split = smi
            .traffic_split_name
            .clone()
            .unwrap_or_else(|| name.clone());
        out.push(ObjRef::new(Kind::TrafficSplit, ns.clone(), split));
    }
    if let Some(nginx) = &tr.nginx {
        // Argo generates `<rollout>-<stableIngress>-canary` beside each stable Ingress and
        // rewrites its canary-weight on every step.
        let stable = nginx
            .get("stableIngress")
            .and_then(Value::as_str)
            .into_iter()
            .chain(
                nginx
                    .get("stableIngresses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str),
            );
        for s in stable {
            out.push(ObjRef::new(
                Kind::Ingress,
                ns.clone(),
                format!("{name}-{s}-canary"),
            ));
        }
    }
    for (plugin, cfg) in &tr.plugins {
        // The Consul plugin (`hashicorp/consul`) reads and updates the consul-k8s
        // ServiceSplitter named by `serviceName`, in the Rollout's namespace, on every step.
        if plugin.ends_with("consul") {
            if let Some(svc) = cfg.get("serviceName").and_then(Value::as_str) {
                out.push(ObjRef::new(Kind::ServiceSplitter, ns.clone(), svc));
            }
            continue;
        }
        if !plugin.ends_with("gatewayAPI") {
            continue;
        }
        let route_ns = cfg
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or(&ns)
            .to_string();
        if let Some(r) = cfg.get("httpRoute").and_then(Value::as_str) {
            out.push(ObjRef::new(Kind::HttpRoute, route_ns.clone(), r));
        }
        for r in cfg
            .get("httpRoutes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = r.get("name").and_then(Value::as_str) {
                out.push(ObjRef::new(Kind::HttpRoute, route_ns.clone(), n));
            }
        }
    }
    out
}

fn router_text(v: &View, claims: &[ObjRef]) -> String {
    let tr = v
        .spec
        .strategy
        .canary
        .as_ref()
        .and_then(|c| c.traffic_routing.as_ref());
    match (claims.first(), tr) {
        (Some(c), _) => c.to_string(),
        (None, Some(tr)) if tr.nginx.is_some() => "ingress-nginx canary Ingress".into(),
        (None, Some(tr)) => match tr.plugins.iter().next() {
            Some((name, _)) => format!("traffic router plugin {name}"),
            None => "traffic router plugin".into(),
        },
        (None, None) if v.spec.strategy.blue_green.is_some() => "blue-green services".into(),
        (None, None) => "no traffic router: weight by replica count".into(),
    }
}

/// Maps Argo's phase (and, for pre-1.0 objects without one, its flags) onto [`Phase`].
fn phase(v: &View) -> Phase {
    let Some(s) = &v.status else {
        return Phase::Unknown("no status yet".into());
    };
    if v.aborted() {
        return Phase::Aborted;
    }
    let blue_green_pause = v.pause_reasons().iter().any(|r| r == "BlueGreenPause");
    match s.phase.as_deref() {
        Some("Paused") if blue_green_pause => Phase::AwaitingPromotion,
        Some("Paused") => Phase::Paused,
        Some("Progressing") => Phase::Progressing,
        Some("Degraded") => Phase::Failed,
        Some("Healthy") => {
            if !v.steps().is_empty() && v.step_index() == Some(v.steps().len()) {
                Phase::Succeeded
            } else {
                Phase::Idle
            }
        }
        Some(other) => Phase::Unknown(other.to_string()),
        // Argo's own order (CalculateRolloutPhase): a timed-out or invalid rollout is
        // Degraded even while a pause condition is still set.
        None => {
            if s.conditions.iter().any(|c| {
                c.reason.as_deref() == Some("ProgressDeadlineExceeded")
                    || c.reason.as_deref() == Some("InvalidSpec")
            }) {
                Phase::Failed
            } else if v.paused() || !v.pause_reasons().is_empty() {
                Phase::Paused
            } else if v.in_flight() {
                Phase::Progressing
            } else if !v.steps().is_empty() && v.step_index() == Some(v.steps().len()) {
                Phase::Succeeded
            } else {
                Phase::Idle
            }
        }
    }
}

fn message(v: &View) -> String {
    let Some(s) = &v.status else {
        return "the controller has not reported a status yet".into();
    };
    let cond = |t: &str| s.conditions.iter().find(|c| c.type_ == t);
    if v.aborted() {
        if let Some(m) = s.message.as_deref().filter(|m| !m.is_empty()) {
            return m.to_string();
        }
        if let Some(m) = cond("Progressing").and_then(|c| c.message.clone()) {
            return m;
        }
        return "aborted".into();
    }
    if let Some(m) = cond("InvalidSpec").and_then(|c| c.message.clone()) {
        return format!("InvalidSpec: {m}");
    }
    let mut parts = Vec::new();
    if let Some(m) = s.message.as_deref().filter(|m| !m.is_empty()) {
        parts.push(m.to_string());
    }
    if v.paused() {
        parts.push("paused by spec.paused".into());
    }
    let reasons = v.pause_reasons();
    if !reasons.is_empty() && !parts.iter().any(|p| reasons.contains(p)) {
        parts.push(format!("paused: {}", reasons.join(", ")));
    }
    if parts.is_empty()
        && let Some(c) = cond("Progressing")
        && c.status == "False"
    {
        parts.push(c.message.clone().unwrap_or_default());
    }
    parts.join("; ")
}

fn last_transition(v: &View) -> Option<std::time::SystemTime> {
    v.status
        .as_ref()?
        .conditions
        .iter()
        .filter_map(|c| c.last_transition_time.as_deref().and_then(kinds::timestamp))
        .max()
}

/// Which actions Argo allows now, and what RBAC allows.
fn capabilities(v: &View, access: &Access) -> Capabilities {
    let mut caps = Capabilities::all().refuse(
        ActionKind::SetWeight,
        controller_owns_route("Argo Rollouts"),
    );
    let spec = Permission::patch(Kind::Rollout, None);
    let status = Permission::patch(Kind::Rollout, Some("status"));
    let need: [(ActionKind, Vec<Permission>); 6] = [
        (ActionKind::Pause, vec![spec.clone()]),
        (ActionKind::Resume, vec![spec.clone(), status.clone()]),
        (ActionKind::Advance, vec![spec.clone(), status.clone()]),
        (ActionKind::Promote, vec![spec, status.clone()]),
        (ActionKind::Abort, vec![status.clone()]),
        (ActionKind::Retry, vec![status]),
    ];
    for (a, ps) in need {
        if let Err(why) = access.check_all(&ps) {
            caps = caps.refuse(a, why);
        }
    }
    if v.status.is_none() {
        for a in [ActionKind::Advance, ActionKind::Promote, ActionKind::Abort] {
            caps = caps.refuse(a, "the controller has not reconciled this Rollout yet");
        }
    }
    if !v.aborted() {
        caps = caps.refuse(
            ActionKind::Retry,
            "nothing to retry: the rollout is not aborted",
        );
    }
    caps
}

/// Converts one Rollout. Never fails: an object aviary cannot read becomes a row that says so.
pub fn rollout(obj: &DynamicObject, claims: &[ObjRef], access: &Access) -> Rollout {
    let ns = kinds::namespace(obj);
    let name = kinds::name(obj);
    let key = RolloutKey::namespaced(crate::domain::ProviderKind::Argo, ns, name.clone());
    let owner = Owner::Controller(Controller::Argo);
    let v = match view(obj) {
        Ok(v) => v,
        Err(e) => {
            let mut r = unreadable(key, owner, "Rollout", &e, obj);
            r.capabilities = [
                ActionKind::Pause,
                ActionKind::Resume,
                ActionKind::Advance,
                ActionKind::Promote,
                ActionKind::Abort,
                ActionKind::Retry,
                ActionKind::SetWeight,
            ]
            .into_iter()
            .fold(Capabilities::all(), |c, a| {
                c.refuse(a, "aviary cannot read this Rollout")
            });
            return r;
        }
    };
    let canary = v.spec.strategy.canary.as_ref();
    let build = |role: Role, name: String, hash: Option<&str>, w: f64| Build {
        selector: hash
            .map(|h| format!("{}-{h}", kinds::name(obj)))
            .unwrap_or_else(|| name.clone()),
        role,
        name,
        version: hash.map(str::to_string),
        weight: Weight::from_percent(w.clamp(0.0, 100.0)).unwrap_or(Weight::ZERO),
    };
    let (stable_w, canary_w, desired) = if let Some(bg) = &v.spec.strategy.blue_green {
        let _ = bg;
        (100.0, 0.0, None)
    } else if let Some(w) = v.status.as_ref().and_then(|s| s.canary.weights.as_ref()) {
        let c = w
            .canary
            .weight
            .as_ref()
            .and_then(kinds::number)
            .unwrap_or(0.0);
        let s = w
            .stable
            .weight
            .as_ref()
            .and_then(kinds::number)
            .unwrap_or(0.0);
        (s, c, v.step_index().and_then(|i| v.set_weight_at(i)))
    } else if v.status.is_none() || v.aborted() || !v.in_flight() {
        (100.0, 0.0, None)
    } else {
        let c = v
            .step_index()
            .and_then(|i| v.set_weight_at(i))
            .unwrap_or(0.0);
        (100.0 - c, c, Some(c))
    };
    let (stable_name, canary_name) = match (&v.spec.strategy.blue_green, canary) {
        (Some(bg), _) => (
            bg.active_service.clone().unwrap_or_else(|| "active".into()),
            bg.preview_service
                .clone()
                .unwrap_or_else(|| "preview".into()),
        ),
        (None, Some(c)) => (
            c.stable_service.clone().unwrap_or_else(|| "stable".into()),
            c.canary_service.clone().unwrap_or_else(|| "canary".into()),
        ),
        (None, None) => ("stable".into(), "canary".into()),
    };
    let builds = vec![
        build(Role::Stable, stable_name, v.stable_hash(), stable_w),
        build(Role::Canary, canary_name, v.current_hash(), canary_w),
    ];
    let mut r = Rollout::new(key, owner, builds);
    r.phase = phase(&v);
    r.phase_text = v
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if v.aborted() && !r.phase_text.contains("Abort") {
        r.phase_text = if r.phase_text.is_empty() {
            "Aborted".into()
        } else {
            format!("{} (aborted)", r.phase_text)
        };
    }
    r.desired_weight = desired.and_then(|d| Weight::from_percent(d.clamp(0.0, 100.0)).ok());
    if !v.steps().is_empty() {
        r.step = Some((v.step_index().unwrap_or(0) as u32, v.steps().len() as u32));
    }
    r.last_transition = last_transition(&v);
    r.message = message(&v);
    r.controller_plan = Some(plan::plan(&v));
    // A spec the controller has not seen yet: whatever the status says is about the old one.
    let seen = v
        .status
        .as_ref()
        .and_then(|s| s.observed_generation.as_ref())
        .and_then(Value::as_str)
        .and_then(|g| g.parse::<i64>().ok())
        .or_else(|| {
            v.status
                .as_ref()
                .and_then(|s| s.observed_generation.as_ref())
                .and_then(Value::as_i64)
        });
    if let (Some(seen), Some(generation)) = (seen, obj.metadata.generation)
        && seen < generation
        && !v.aborted()
    {
        r.phase = Phase::Progressing;
        r.message = format!(
            "waiting for the controller to observe generation {generation} (it has seen {seen})"
        );
    }
    r.router = router_text(&v, claims);
    r.capabilities = capabilities(&v, access);
    r.version = kinds::resource_version(obj);
    r
}
