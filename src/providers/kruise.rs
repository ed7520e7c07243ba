//! OpenKruise Rollouts (`rollouts.kruise.io` `Rollout`): a controller that steps a workload
//! through canary batches (`traffic`, `replicas`, `pause`, `matches`) and waits at a paused
//! step until someone approves it. aviary shows its steps and state and maps the keys onto what
//! the project's own tooling does:
//!
//! - `n` approves the paused step: a merge patch of `status.canaryStatus.currentStepState` to
//!   `StepReady` on the status subresource, as `kubectl-kruise rollout approve` does, and only
//!   while the state is `StepPaused` (the same rule that tool enforces);
//! - `P` approves and jumps to the last step (`nextStepIndex`, which the API documents as
//!   patchable for batch jumps);
//! - `p` sets `spec.strategy.paused`;
//! - `A` is refused with what to do instead: OpenKruise has no abort on the Rollout; it rolls
//!   back when the workload is reverted to its stable revision.
//!
//! OpenKruise has no metric analysis of its own: aviary's judge advises on it (a badge and a
//! why, see `driver::advice`) and never acts unasked.

use super::kube::access::{Access, Permission};
use super::kube::fields::{Condition, SpecStatus, lenient_list, spec_status, unreadable};
use super::kube::kinds::{self, Kind, ObjRef};
use super::kube::patch::{self, Step};
use crate::domain::change::Command;
use crate::domain::weight::controller_owns_route;
use crate::domain::{
    ActionKind, Build, Capabilities, Controller, ControllerPlan, Owner, Phase, ProviderKind, Role,
    Rollout, RolloutKey, Weight,
};
use kube::api::DynamicObject;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    workload_ref: WorkloadRef,
    strategy: Strategy,
    disabled: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct WorkloadRef {
    kind: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Strategy {
    paused: bool,
    canary: Option<Canary>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Canary {
    steps: Vec<CanaryStep>,
    traffic_routings: Vec<TrafficRoutingRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CanaryStep {
    traffic: Option<String>,
    replicas: Option<Value>,
    pause: Option<Pause>,
    matches: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Pause {
    duration: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct TrafficRoutingRef {
    ingress: Option<NamedRef>,
    gateway: Option<GatewayRef>,
    custom_network_refs: Vec<CustomRef>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NamedRef {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct GatewayRef {
    http_route_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CustomRef {
    kind: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    phase: Option<String>,
    message: Option<String>,
    canary_status: Option<CanaryStatus>,
    #[serde(deserialize_with = "lenient_list")]
    conditions: Vec<Condition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CanaryStatus {
    current_step_index: Option<i64>,
    current_step_state: Option<String>,
    canary_replicas: Option<i64>,
    canary_ready_replicas: Option<i64>,
}

type View = SpecStatus<Spec, Status>;

impl SpecStatus<Spec, Status> {
    fn steps(&self) -> &[CanaryStep] {
        self.spec
            .strategy
            .canary
            .as_ref()
            .map(|c| c.steps.as_slice())
            .unwrap_or(&[])
    }

    fn canary_status(&self) -> Option<&CanaryStatus> {
        self.status.as_ref()?.canary_status.as_ref()
    }

    /// 1-based, as OpenKruise counts; 0 before the first step.
    fn step_index(&self) -> usize {
        self.canary_status()
            .and_then(|c| c.current_step_index)
            .unwrap_or(0)
            .max(0) as usize
    }

    fn state(&self) -> &str {
        self.canary_status()
            .and_then(|c| c.current_step_state.as_deref())
            .unwrap_or("")
    }

    fn phase_text(&self) -> &str {
        self.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("")
    }
}

/// Router objects this Rollout rewrites: the canary Ingress OpenKruise generates beside the
/// named one (`<ingress>-canary`), the HTTPRoute it names, and custom network objects of the
/// kinds aviary knows (a VirtualService).
pub fn claims(obj: &DynamicObject) -> Vec<ObjRef> {
    let ns = kinds::namespace(obj);
    let Ok(v) = spec_status::<Spec, Status>(obj) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for tr in v
        .spec
        .strategy
        .canary
        .iter()
        .flat_map(|c| &c.traffic_routings)
    {
        if let Some(i) = &tr.ingress {
            out.push(ObjRef::new(
                Kind::Ingress,
                ns.clone(),
                format!("{}-canary", i.name),
            ));
        }
        if let Some(r) = tr.gateway.as_ref().and_then(|g| g.http_route_name.clone()) {
            out.push(ObjRef::new(Kind::HttpRoute, ns.clone(), r));
        }
        for c in &tr.custom_network_refs {
            if c.kind == "VirtualService" {
                out.push(ObjRef::new(
                    Kind::VirtualService,
                    ns.clone(),
                    c.name.clone(),
                ));
            }
        }
    }
    out
}

fn percent(text: &str) -> Option<f64> {
    text.trim().trim_end_matches('%').trim().parse().ok()
}

/// One step as the operator reads it: `traffic 20%, replicas 1, pause until approved`.
fn describe(s: &CanaryStep) -> String {
    let mut parts = Vec::new();
    if !s.matches.is_empty() {
        let headers: Vec<String> = s
            .matches
            .iter()
            .flat_map(|m| m["headers"].as_array().cloned().unwrap_or_default())
            .map(|h| {
                format!(
                    "{}={}",
                    h["name"].as_str().unwrap_or("?"),
                    h["value"].as_str().unwrap_or("?")
                )
            })
            .collect();
        parts.push(format!("match {}", headers.join(" & ")));
    }
    if let Some(t) = &s.traffic {
        parts.push(format!("traffic {t}"));
    }
    if let Some(r) = &s.replicas {
        let r = r
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| r.to_string());
        parts.push(format!("replicas {r}"));
    }
    match &s.pause {
        Some(Pause { duration: Some(d) }) => parts.push(format!("pause {d}s")),
        Some(Pause { duration: None }) => parts.push("pause until approved".into()),
        None => {}
    }
    parts.join(", ")
}

fn phase(v: &View) -> Phase {
    if v.spec.strategy.paused {
        return Phase::Paused;
    }
    match (v.phase_text(), v.state()) {
        ("", _) => Phase::Unknown("no status yet".into()),
        ("Healthy", "Completed") => Phase::Succeeded,
        ("Healthy" | "Initial" | "Disabled" | "Disabling" | "Terminating", _) => Phase::Idle,
        ("Progressing", "StepPaused") => {
            let waiting = v
                .steps()
                .get(v.step_index().saturating_sub(1))
                .is_some_and(|s| matches!(s.pause, Some(Pause { duration: None })));
            if waiting {
                Phase::AwaitingPromotion
            } else {
                Phase::Progressing
            }
        }
        ("Progressing", _) => Phase::Progressing,
        (other, _) => Phase::Unknown(other.to_string()),
    }
}

/// The canary's traffic share now: the current step's `traffic` once that step has routed
/// traffic, 0 before and after a rollout (OpenKruise restores native balancing when done).
fn canary_weight(v: &View) -> Weight {
    let routed = matches!(
        v.state(),
        "StepTrafficRouting" | "StepMetricsAnalysis" | "StepPaused" | "StepReady"
    );
    let i = v.step_index();
    if !routed || i == 0 || v.phase_text() != "Progressing" {
        return Weight::ZERO;
    }
    v.steps()
        .get(i - 1)
        .and_then(|s| s.traffic.as_deref())
        .and_then(percent)
        .and_then(|p| Weight::from_percent(p.clamp(0.0, 100.0)).ok())
        .unwrap_or(Weight::ZERO)
}

fn capabilities(v: &View, access: &Access) -> Capabilities {
    let mut caps = Capabilities::all()
        .refuse(ActionKind::SetWeight, controller_owns_route("OpenKruise Rollouts"))
        .refuse(
            ActionKind::Abort,
            "OpenKruise has no abort on the Rollout: it rolls back when the workload is reverted (kubectl-kruise rollout undo)",
        )
        .refuse(
            ActionKind::Retry,
            "OpenKruise starts again on a new workload revision",
        );
    if v.state() != "StepPaused" {
        let why = format!(
            "OpenKruise approves only a paused step; this one is {}",
            if v.state().is_empty() {
                "not started"
            } else {
                v.state()
            }
        );
        caps = caps
            .refuse(ActionKind::Advance, why.clone())
            .refuse(ActionKind::Promote, why);
    }
    let spec = Permission::patch(Kind::KruiseRollout, None);
    let status = Permission::patch(Kind::KruiseRollout, Some("status"));
    for (a, need) in [
        (ActionKind::Pause, &spec),
        (ActionKind::Resume, &spec),
        (ActionKind::Advance, &status),
        (ActionKind::Promote, &status),
    ] {
        if caps.check(a).is_ok()
            && let Err(why) = access.check(need)
        {
            caps = caps.refuse(a, why);
        }
    }
    caps
}

/// Converts one OpenKruise Rollout. Never fails: an unreadable object is a row that says so.
pub fn rollout(obj: &DynamicObject, claims: &[ObjRef], access: &Access) -> Rollout {
    let ns = kinds::namespace(obj);
    let key = RolloutKey::namespaced(ProviderKind::Kruise, ns.clone(), kinds::name(obj));
    let owner = Owner::Controller(Controller::Kruise);
    let v: View = match spec_status(obj) {
        Ok(v) => v,
        Err(e) => return unreadable(key, owner, "OpenKruise Rollout", &e, obj),
    };
    let workload = v.spec.workload_ref.name.clone();
    let weight = canary_weight(&v);
    let builds = vec![
        Build {
            role: Role::Stable,
            name: workload.clone(),
            version: None,
            weight: weight.complement(),
            selector: workload.clone(),
        },
        Build {
            role: Role::Canary,
            name: format!("{workload}-canary"),
            version: None,
            weight,
            selector: format!("{workload}-canary"),
        },
    ];
    let mut r = Rollout::new(key, owner, builds);
    r.phase = phase(&v);
    r.phase_text = [v.phase_text(), v.state()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" · ");
    let total = v.steps().len() as u32;
    r.step = (total > 0).then(|| ((v.step_index() as u32).min(total), total));
    let current = v
        .steps()
        .get(v.step_index().saturating_sub(1))
        .filter(|_| v.step_index() > 0)
        .map(describe);
    let said = v
        .status
        .as_ref()
        .and_then(|s| s.message.clone())
        .unwrap_or_default();
    let replicas = v.canary_status().and_then(|c| {
        Some(format!(
            "canary pods {}/{} ready",
            c.canary_ready_replicas?, c.canary_replicas?
        ))
    });
    r.message = [
        current.map(|c| format!("step {}: {c}", v.step_index())),
        (!said.is_empty()).then_some(said),
        replicas,
        v.spec.disabled.then(|| "disabled".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join("; ");
    r.last_transition = v.status.as_ref().and_then(|s| {
        s.conditions
            .iter()
            .filter_map(|c| c.last_transition_time.as_deref())
            .filter_map(kinds::timestamp)
            .max()
    });
    r.router = match claims.first() {
        Some(c) => c.to_string(),
        None => format!("{} {ns}/{workload}", v.spec.workload_ref.kind),
    };
    r.controller_plan = Some(ControllerPlan {
        steps: v.steps().iter().map(describe).collect(),
        current: v.step_index().checked_sub(1),
        facts: [("currentStepState", v.state())]
            .into_iter()
            .filter(|(_, s)| !s.is_empty())
            .map(|(k, s)| (k.to_string(), s.to_string()))
            .collect(),
        ..ControllerPlan::default()
    });
    r.capabilities = capabilities(&v, access);
    r.version = kinds::resource_version(obj);
    r
}

/// Every step of the plan, in words, for the detail view and tests.
pub fn plan_lines(obj: &DynamicObject) -> Vec<String> {
    spec_status::<Spec, Status>(obj)
        .map(|v| v.steps().iter().map(describe).collect())
        .unwrap_or_default()
}

/// The patches for `command`. `expected_version` guards the approval: a merge patch that
/// carries `metadata.resourceVersion` is refused with 409 when the object moved on, so an
/// approval never lands on a step the operator did not see.
pub fn patches(
    obj: &DynamicObject,
    command: Command,
    expected_version: Option<&str>,
) -> Result<Vec<Step>, String> {
    let v: View = spec_status(obj)?;
    let target = ObjRef::of(Kind::KruiseRollout, obj);
    let guarded = |mut body: Value| {
        if let Some(rv) = expected_version {
            body["metadata"] = json!({"resourceVersion": rv});
        }
        body
    };
    let paused_step = || {
        if v.state() == "StepPaused" {
            Ok(())
        } else {
            Err(format!(
                "OpenKruise approves only a paused step; this one is {:?}",
                v.state()
            ))
        }
    };
    Ok(match command {
        Command::Pause => vec![patch::merge(
            target,
            json!({"spec": {"strategy": {"paused": true}}}),
            "pause (spec.strategy.paused=true)",
        )],
        Command::Resume => vec![patch::merge(
            target,
            json!({"spec": {"strategy": {"paused": false}}}),
            "resume (spec.strategy.paused=false)",
        )],
        Command::Advance => {
            paused_step()?;
            vec![patch::merge_status(
                target,
                guarded(json!({"status": {"canaryStatus": {"currentStepState": "StepReady"}}})),
                "approve the paused step (currentStepState=StepReady)",
            )]
        }
        Command::Promote => {
            paused_step()?;
            let last = v.steps().len();
            vec![patch::merge_status(
                target,
                guarded(json!({"status": {"canaryStatus": {
                    "currentStepState": "StepReady",
                    "nextStepIndex": last,
                }}})),
                format!("approve and jump to the last step ({last})"),
            )]
        }
        Command::Abort => {
            return Err(
                "OpenKruise has no abort on the Rollout: revert the workload (kubectl-kruise rollout undo)"
                    .into(),
            );
        }
        Command::Retry => return Err("OpenKruise starts again on a new workload revision".into()),
        Command::SetWeight(_) => return Err(controller_owns_route("OpenKruise Rollouts")),
    })
}
