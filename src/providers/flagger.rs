//! Flagger `Canary`: conversion into a domain [`Rollout`], the router object Flagger generates
//! for it, and the writes for each operator action. Flagger owns the route and re-bases its
//! next step on whatever weight it finds, so aviary acts through `spec.suspend` and
//! `spec.skipAnalysis`, through the loadtester's gate API when `--flagger-loadtester` is given,
//! and — for break-glass abort only — suspends the canary and routes 100 % to the primary.

use super::kube::access::{Access, Permission};
use super::kube::fields::{SpecStatus, spec_status, unreadable};
use super::kube::kinds::{self, Kind, ObjRef};
use super::kube::patch::{self, Step};
use super::kube::split;
use crate::domain::change::Command;
use crate::domain::weight::controller_owns_route;
use crate::domain::{
    ActionKind, Build, Capabilities, Controller, Owner, Phase, ProviderKind, Role, Rollout,
    RolloutKey, Weight,
};
use kube::api::DynamicObject;
use serde::Deserialize;
use serde_json::{Value, json};

mod plan;

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Spec {
    provider: Option<String>,
    target_ref: Named,
    service: Named,
    suspend: Option<bool>,
    skip_analysis: Option<bool>,
    analysis: Option<Analysis>,
    canary_analysis: Option<Analysis>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Named {
    name: Option<String>,
    #[serde(rename = "gatewayRefs")]
    gateway_refs: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Analysis {
    threshold: Option<Value>,
    max_weight: Option<Value>,
    step_weight: Option<Value>,
    #[serde(deserialize_with = "super::kube::fields::lenient_list")]
    step_weights: Vec<Value>,
    iterations: Option<Value>,
    interval: Option<Value>,
    /// A/B routing: who goes to the canary.
    #[serde(
        rename = "match",
        deserialize_with = "super::kube::fields::lenient_list"
    )]
    matches: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Status {
    phase: Option<String>,
    canary_weight: Option<Value>,
    failed_checks: Option<Value>,
    iterations: Option<Value>,
    #[serde(deserialize_with = "super::kube::fields::lenient_list")]
    conditions: Vec<super::kube::fields::Condition>,
    last_transition_time: Option<String>,
}

type View = SpecStatus<Spec, Status>;

fn view(obj: &DynamicObject) -> Result<View, String> {
    spec_status(obj)
}

fn num(v: &Option<Value>) -> Option<f64> {
    v.as_ref().and_then(kinds::number)
}

impl SpecStatus<Spec, Status> {
    fn analysis(&self) -> Option<&Analysis> {
        self.spec
            .analysis
            .as_ref()
            .or(self.spec.canary_analysis.as_ref())
    }

    /// The service name Flagger derives its objects from.
    fn service(&self, obj: &DynamicObject) -> String {
        self.spec
            .service
            .name
            .clone()
            .or_else(|| self.spec.target_ref.name.clone())
            .unwrap_or_else(|| kinds::name(obj))
    }

    fn target(&self, obj: &DynamicObject) -> String {
        self.spec
            .target_ref
            .name
            .clone()
            .unwrap_or_else(|| kinds::name(obj))
    }

    fn provider(&self, default_mesh: &str) -> String {
        self.spec
            .provider
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                // A Canary with gatewayRefs can only be a Gateway API one.
                if self.spec.service.gateway_refs.is_some() {
                    "gatewayapi".into()
                } else {
                    default_mesh.to_string()
                }
            })
    }

    fn weight(&self) -> f64 {
        self.status
            .as_ref()
            .and_then(|s| num(&s.canary_weight))
            .unwrap_or(0.0)
    }
}

/// The router kind Flagger writes for a mesh provider (`istio`, `gatewayapi:v1`, `linkerd`…);
/// `None` for providers aviary cannot write (App Mesh, Kuma, Contour, …).
pub fn router_kind(provider: &str) -> Option<Kind> {
    let p = provider.split(':').next().unwrap_or(provider);
    match p {
        "istio" => Some(Kind::VirtualService),
        "gatewayapi" => Some(Kind::HttpRoute),
        "linkerd" | "smi" | "osm" => Some(Kind::TrafficSplit),
        "nginx" => Some(Kind::Ingress),
        _ => None,
    }
}

/// Options that come from the command line rather than the object.
#[derive(Clone, Debug)]
pub struct FlaggerCtx<'a> {
    /// Flagger's mesh provider when the Canary names none (`--mesh`, default istio).
    pub default_mesh: &'a str,
    /// `--flagger-loadtester URL` was given.
    pub loadtester: bool,
    /// RBAC answers.
    pub access: &'a Access,
}

/// The router object Flagger generates for this Canary (named after its service).
pub fn claims(obj: &DynamicObject, default_mesh: &str) -> Vec<ObjRef> {
    let Ok(v) = view(obj) else {
        return Vec::new();
    };
    router_kind(&v.provider(default_mesh))
        .map(|k| {
            vec![ObjRef::new(
                k,
                kinds::namespace(obj),
                router_name(k, &v, obj),
            )]
        })
        .unwrap_or_default()
}

/// The name of the router object Flagger writes: the mesh route is named after the service;
/// for ingress-nginx it is the canary Ingress Flagger generates, `<ingressRef>-canary`.
fn router_name(kind: Kind, v: &View, obj: &DynamicObject) -> String {
    match (
        kind,
        obj.data
            .pointer("/spec/ingressRef/name")
            .and_then(Value::as_str),
    ) {
        (Kind::Ingress, Some(ingress)) => format!("{ingress}-canary"),
        _ => v.service(obj),
    }
}

fn phase(v: &View) -> Phase {
    if v.spec.suspend == Some(true) {
        return Phase::Paused;
    }
    let Some(s) = &v.status else {
        return Phase::Unknown("no status yet".into());
    };
    match s.phase.as_deref() {
        Some("Initializing" | "Initialized" | "Terminating" | "Terminated") => Phase::Idle,
        Some("Waiting") => Phase::Paused,
        Some("Progressing") => Phase::Progressing,
        Some("WaitingPromotion") => Phase::AwaitingPromotion,
        Some("Promoting" | "Finalising") => Phase::Promoting,
        Some("Succeeded") => Phase::Succeeded,
        Some("Failed") => Phase::Failed,
        Some(other) => Phase::Unknown(other.to_string()),
        // The docs' status fragment has no phase; its Promoted condition still tells.
        None => match s
            .conditions
            .iter()
            .find(|c| c.type_ == "Promoted")
            .and_then(|c| c.reason.as_deref())
        {
            Some("Succeeded") => Phase::Succeeded,
            Some("Failed") => Phase::Failed,
            Some("Progressing") => Phase::Progressing,
            Some("Initialized") => Phase::Idle,
            _ => Phase::Unknown(String::new()),
        },
    }
}

/// Step i/N: explicit `stepWeights`, A/B `iterations`, or `stepWeight` up to `maxWeight`.
fn step(v: &View) -> Option<(u32, u32)> {
    let a = v.analysis()?;
    let w = v.weight();
    if !a.step_weights.is_empty() {
        let ws: Vec<f64> = a.step_weights.iter().filter_map(kinds::number).collect();
        let done = ws.iter().filter(|s| **s <= w && w > 0.0).count();
        return Some((done as u32, ws.len() as u32));
    }
    if let Some(n) = num(&a.iterations).filter(|n| *n > 0.0) {
        let i = v
            .status
            .as_ref()
            .and_then(|s| num(&s.iterations))
            .unwrap_or(0.0);
        return Some((i as u32, n as u32));
    }
    let step = num(&a.step_weight).filter(|s| *s > 0.0)?;
    let max = num(&a.max_weight).unwrap_or(100.0);
    Some(((w / step).floor() as u32, (max / step).ceil() as u32))
}

fn message(v: &View) -> String {
    let mut parts = Vec::new();
    if v.spec.suspend == Some(true) {
        parts.push("suspended (spec.suspend)".to_string());
    }
    if v.spec.skip_analysis == Some(true) {
        parts.push("skipAnalysis: promotes without checks".into());
    }
    match &v.status {
        None => parts.push("Flagger has not reported a status yet".into()),
        Some(s) => {
            if let Some(m) = s
                .conditions
                .iter()
                .find(|c| c.type_ == "Promoted")
                .and_then(|c| c.message.clone())
            {
                parts.push(m);
            }
            let failed = num(&s.failed_checks).unwrap_or(0.0);
            if failed > 0.0 {
                let threshold = v
                    .analysis()
                    .and_then(|a| num(&a.threshold))
                    .map(|t| format!("/{t}"))
                    .unwrap_or_default();
                parts.push(format!("failed checks {failed}{threshold}"));
            }
        }
    }
    parts.join("; ")
}

fn capabilities(v: &View, router: Option<Kind>, ctx: &FlaggerCtx) -> Capabilities {
    let mut caps = Capabilities::all()
        .refuse(ActionKind::SetWeight, controller_owns_route("Flagger"))
        .refuse(
            ActionKind::Retry,
            "Flagger retries on a new revision: change the target workload",
        );
    let canary = Permission::patch(Kind::Canary, None);
    for a in [ActionKind::Pause, ActionKind::Resume, ActionKind::Promote] {
        if let Err(why) = ctx.access.check(&canary) {
            caps = caps.refuse(a, why);
        }
    }
    if !ctx.loadtester {
        caps = caps.refuse(
            ActionKind::Advance,
            "Flagger advances through its confirm-traffic-increase gate: start aviary with --flagger-loadtester URL",
        );
    }
    let abort = match router {
        Some(k) => ctx.access.check_all(&[canary, Permission::patch(k, None)]),
        None if ctx.loadtester => Ok(()),
        None => Err(format!(
            "break-glass abort routes 100 % to the primary, and aviary cannot write {} routes; \
             give --flagger-loadtester URL to abort through Flagger's rollback gate",
            v.provider("istio")
        )),
    };
    if let Err(why) = abort {
        caps = caps.refuse(ActionKind::Abort, why);
    }
    caps
}

/// Converts one Canary. Never fails: an unreadable object becomes a row saying so.
pub fn rollout(obj: &DynamicObject, ctx: &FlaggerCtx) -> Rollout {
    let key = RolloutKey::namespaced(
        ProviderKind::Flagger,
        kinds::namespace(obj),
        kinds::name(obj),
    );
    let owner = Owner::Controller(Controller::Flagger);
    let v = match view(obj) {
        Ok(v) => v,
        Err(e) => return unreadable(key, owner, "Canary", &e, obj),
    };
    let svc = v.service(obj);
    let target = v.target(obj);
    let w = v.weight().clamp(0.0, 100.0);
    let weight = Weight::from_percent(w).unwrap_or(Weight::ZERO);
    let builds = vec![
        Build {
            role: Role::Stable,
            name: format!("{svc}-primary"),
            version: None,
            weight: weight.complement(),
            selector: format!("{target}-primary"),
        },
        Build {
            role: Role::Canary,
            name: format!("{svc}-canary"),
            version: None,
            weight,
            selector: target,
        },
    ];
    let provider = v.provider(ctx.default_mesh);
    let router = router_kind(&provider);
    let mut r = Rollout::new(key, owner, builds);
    r.phase = phase(&v);
    r.phase_text = v
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    if v.spec.suspend == Some(true) {
        r.phase_text = format!("{} (suspended)", r.phase_text).trim().to_string();
    }
    r.step = step(&v);
    r.desired_weight = v
        .analysis()
        .and_then(|a| num(&a.max_weight))
        .and_then(|m| Weight::from_percent(m.clamp(0.0, 100.0)).ok());
    r.last_transition = v
        .status
        .as_ref()
        .and_then(|s| s.last_transition_time.as_deref())
        .and_then(kinds::timestamp);
    r.message = message(&v);
    r.controller_plan = Some(plan::plan(&v));
    r.router = match router {
        Some(k) => format!("{k} {}/{}", kinds::namespace(obj), router_name(k, &v, obj)),
        None => format!("{provider} (Flagger provider)"),
    };
    r.capabilities = capabilities(&v, router, ctx);
    r.version = kinds::resource_version(obj);
    r
}

/// The JSON Patch that routes everything to the primary on Flagger's router object, `test`ing
/// the weights it holds now so a concurrent Flagger step turns into a conflict.
pub fn primary_only(kind: Kind, router: &DynamicObject) -> Result<Value, String> {
    let splits = super::kube::catalog::splits_of(kind, router);
    let mut ops = Vec::new();
    for s in &splits {
        let patch = if kind == Kind::Ingress {
            super::nginx::weight_patch(router, s, Weight::ZERO, None)
        } else {
            split::weight_patch(kind, router, s, Weight::ZERO, None)
        };
        if let Ok(Value::Array(v)) = patch {
            ops.extend(v);
        }
    }
    if ops.is_empty() {
        return Err(format!(
            "{} has no primary/canary split to route",
            ObjRef::of(kind, router)
        ));
    }
    // Tests first, so nothing is replaced unless every old weight still holds.
    ops.sort_by_key(|op| op.get("op").and_then(Value::as_str) != Some("test"));
    Ok(Value::Array(ops))
}

/// The steps for `command` on this Canary. `router` is Flagger's router object when aviary
/// has it (break-glass abort writes it); `loadtester` says whether gates can be opened.
pub fn steps(
    obj: &DynamicObject,
    command: Command,
    default_mesh: &str,
    router: Option<&DynamicObject>,
    loadtester: bool,
) -> Result<Vec<Step>, String> {
    let v = view(obj).map_err(|e| format!("cannot read the Canary: {e}"))?;
    let target = ObjRef::of(Kind::Canary, obj);
    let gate = |path: &'static str, what: &str| Step::Gate {
        path,
        name: kinds::name(obj),
        namespace: kinds::namespace(obj),
        what: what.to_string(),
    };
    let suspend = |on: bool| {
        patch::merge(
            target.clone(),
            json!({"spec": {"suspend": on}}),
            format!("spec.suspend={on}"),
        )
    };
    match command {
        Command::Pause => Ok(vec![suspend(true)]),
        Command::Resume => Ok(vec![suspend(false)]),
        Command::Advance if loadtester => Ok(vec![gate(
            "/gate/open",
            "open the confirm-traffic-increase gate",
        )]),
        Command::Advance => {
            Err("needs --flagger-loadtester URL (Flagger advances through its gate)".into())
        }
        Command::Promote => Ok(vec![patch::merge(
            target,
            json!({"spec": {"skipAnalysis": true}}),
            "spec.skipAnalysis=true",
        )]),
        Command::Abort => {
            let kind = router_kind(&v.provider(default_mesh));
            let mut out = Vec::new();
            if loadtester {
                out.push(gate("/rollback/open", "open the rollback gate"));
            }
            match (kind, router) {
                (Some(k), Some(r)) => {
                    out.push(suspend(true));
                    out.push(patch::json_patch(
                        ObjRef::of(k, r),
                        primary_only(k, r)?,
                        "route 100 % to the primary",
                    ));
                }
                (Some(k), None) if !loadtester => {
                    return Err(format!(
                        "{k} {}/{} not found: cannot route to the primary",
                        kinds::namespace(obj),
                        router_name(k, &v, obj)
                    ));
                }
                _ if out.is_empty() => {
                    return Err(
                        "aviary cannot write this provider's routes; give --flagger-loadtester URL"
                            .into(),
                    );
                }
                _ => {}
            }
            Ok(out)
        }
        Command::Retry => Err("Flagger retries on a new revision".into()),
        Command::SetWeight(_) => Err(controller_owns_route("Flagger")),
    }
}
