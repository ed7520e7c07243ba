//! Carries out writes on a cluster: builds the steps from the freshest copy of the object in the
//! provider's catalog, sends them in order, records a Kubernetes Event, and reports. A 409, or
//! a JSON Patch whose `test` failed (the API server answers 422), is a conflict: the object is
//! re-read so the operator sees what changed, and nothing is retried.

use super::catalog::Catalog;
use super::kinds::{self, Kind, ObjRef};
use super::patch::{Body, PatchReq, Step};
use super::{Shared, events};
use crate::domain::Weight;
use crate::domain::change::{Command, RouterChange, WriteOk, WriteRequest};
use crate::domain::weight::CONTROLLER_OWNS_ROUTE;
use crate::providers::{Router, RouterError, argo, flagger};
use async_trait::async_trait;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use std::sync::Arc;

/// The [`Router`] for every kind aviary watches on a cluster.
#[derive(Clone)]
pub struct KubeRouter(pub Arc<Shared>);

/// Builds the steps of a write from the catalog (no I/O).
pub fn plan(shared: &Shared, req: &WriteRequest) -> Result<(ObjRef, Vec<Step>), RouterError> {
    let cat = shared
        .catalog
        .lock()
        .map_err(|_| RouterError::Failed("internal: catalog lock poisoned".into()))?;
    plan_in(&cat, shared.loadtester.is_some(), req)
}

/// [`plan`] on a catalog: what a write would send, for any object the watch can hold
/// (public so property tests can plan writes against objects no cluster would serve).
pub fn plan_in(
    cat: &Catalog,
    loadtester: bool,
    req: &WriteRequest,
) -> Result<(ObjRef, Vec<Step>), RouterError> {
    let (kind, obj) = cat.object_for(&req.target).ok_or_else(|| {
        RouterError::Failed(format!(
            "{} is not in the cluster (deleted, or not listed yet)",
            req.target
        ))
    })?;
    let obj = &obj;
    let main = ObjRef::of(kind, obj);
    let expected = req.expected_version.as_deref();
    let steps = match (kind, &req.change) {
        (Kind::Rollout, RouterChange::Controller(c)) => {
            argo::patches(obj, *c, expected.filter(|_| *c == Command::Advance))
        }
        (Kind::Canary, RouterChange::Controller(c)) => {
            let router = flagger::claims(obj, &cat.opts.default_mesh)
                .first()
                .and_then(|r| cat.get(r));
            flagger::steps(obj, *c, &cat.opts.default_mesh, router.as_ref(), loadtester)
        }
        (Kind::KruiseRollout, RouterChange::Controller(c)) => crate::providers::kruise::patches(
            obj,
            *c,
            expected.filter(|_| matches!(c, Command::Advance | Command::Promote)),
        ),
        (Kind::Rollout | Kind::Canary | Kind::KruiseRollout, RouterChange::CanaryWeight(_)) => {
            Err(CONTROLLER_OWNS_ROUTE.into())
        }
        (_, RouterChange::Controller(c)) => Err(format!(
            "{} needs a controller; this route has none",
            c.kind().as_str()
        )),
        (_, RouterChange::CanaryWeight(w)) => {
            let (kind, obj, s) = cat
                .split_for(&req.target)
                .ok_or_else(|| RouterError::Failed(format!("{}: the split is gone", req.target)))?;
            let ops = if kind == Kind::Ingress {
                crate::providers::nginx::weight_patch(&obj, &s, *w, expected)
            } else {
                super::split::weight_patch(kind, &obj, &s, *w, expected)
            };
            ops.map(|ops| {
                vec![super::patch::json_patch(
                    ObjRef::of(kind, &obj),
                    ops,
                    format!("set the canary to {w}"),
                )]
            })
        }
    }
    .map_err(RouterError::Refused)?;
    Ok((main, steps))
}

fn is_conflict(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            s.code == 409 || (s.code == 422 && s.message.to_ascii_lowercase().contains("test"))
        }
        _ => false,
    }
}

fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!("forbidden by RBAC: {}", s.message),
        kube::Error::Api(s) => format!("HTTP {} {}: {}", s.code, s.reason, s.message),
        other => other.to_string(),
    }
}

impl KubeRouter {
    fn api(&self, r: &ObjRef) -> Api<DynamicObject> {
        let ar = self.0.resource(r.kind);
        Api::namespaced_with(self.0.client.clone(), &r.namespace, &ar)
    }

    async fn send(&self, p: &PatchReq) -> Result<DynamicObject, kube::Error> {
        let api = self.api(&p.target);
        let pp = PatchParams {
            field_manager: Some("aviary".into()),
            ..PatchParams::default()
        };
        let name = &p.target.name;
        match (&p.body, p.status) {
            (Body::Merge(v), true) => api.patch_status(name, &pp, &Patch::Merge(v)).await,
            (Body::Merge(v), false) => api.patch(name, &pp, &Patch::Merge(v)).await,
            (Body::Json(v), status) => {
                let ops: json_patch::Patch =
                    serde_json::from_value(v.clone()).map_err(kube::Error::SerdeError)?;
                let patch = Patch::Json::<()>(ops);
                if status {
                    api.patch_status(name, &pp, &patch).await
                } else {
                    api.patch(name, &pp, &patch).await
                }
            }
        }
    }

    async fn gate(&self, path: &str, name: &str, namespace: &str) -> Result<(), String> {
        gate_call(&self.0, path, name, namespace).await
    }

    /// Re-reads an object after a conflict and hands it to the catalog, so the operator's view
    /// catches up; returns what the object says now.
    async fn reread(&self, r: &ObjRef) -> String {
        match self.api(r).get(&r.name).await {
            Ok(obj) => {
                let rv = kinds::resource_version(&obj).unwrap_or_default();
                self.0.store(r.kind, obj);
                format!("re-read {r} at resourceVersion {rv}")
            }
            Err(e) => format!("re-reading {r} failed: {}", describe(&e)),
        }
    }

    async fn run(&self, req: &WriteRequest) -> (Result<WriteOk, RouterError>, Option<ObjRef>) {
        let (main, steps) = match plan(&self.0, req) {
            Ok(x) => x,
            Err(e) => return (Err(e), None),
        };
        let mut done: Vec<String> = Vec::new();
        let mut ok = WriteOk::default();
        for step in &steps {
            let result = match step {
                Step::Gate {
                    path,
                    name,
                    namespace,
                    ..
                } => {
                    let r = self.gate(path, name, namespace).await;
                    if r.is_ok() && *path == "/gate/open" {
                        let canary = ObjRef::new(Kind::Canary, namespace.clone(), name.clone());
                        let weight = self
                            .0
                            .catalog
                            .lock()
                            .ok()
                            .and_then(|c| c.get(&canary).map(|o| canary_weight(&o)));
                        if let (Some(w), Ok(mut g)) = (weight, self.0.open_gates.lock()) {
                            g.insert(canary, w);
                        }
                    }
                    r.map_err(RouterError::Failed)
                }
                Step::Patch(p) => match self.send(p).await {
                    Ok(obj) => {
                        if p.target == main {
                            ok.version = kinds::resource_version(&obj);
                        }
                        if let RouterChange::CanaryWeight(_) = req.change
                            && let Some(s) = self.read_back(p.target.kind, &obj, req)
                        {
                            ok.canary_weight = Some(s);
                        }
                        self.0.store(p.target.kind, obj);
                        Ok(())
                    }
                    Err(e) if is_conflict(&e) => {
                        let again = self.reread(&p.target).await;
                        Err(RouterError::Conflict(format!(
                            "{} on {}: {} changed since you saw it ({}); {again}",
                            step.what(),
                            p.target,
                            p.target.kind,
                            describe(&e)
                        )))
                    }
                    Err(e) => Err(match &e {
                        kube::Error::Api(s) if s.code == 403 => RouterError::Refused(describe(&e)),
                        _ => RouterError::Failed(format!(
                            "{} on {}: {}",
                            step.what(),
                            p.target,
                            describe(&e)
                        )),
                    }),
                },
            };
            if let Err(e) = result {
                let e = if done.is_empty() {
                    e
                } else {
                    let prefix = format!("done: {}; then failed: ", done.join(", "));
                    match e {
                        RouterError::Conflict(m) => RouterError::Conflict(prefix + &m),
                        RouterError::Refused(m) => RouterError::Refused(prefix + &m),
                        RouterError::Failed(m) => RouterError::Failed(prefix + &m),
                    }
                };
                return (Err(e), Some(main));
            }
            done.push(step.what().to_string());
        }
        ok.note = Some(match &req.change {
            RouterChange::Controller(_) => format!(
                "{}; the controller carries it out at its next reconcile",
                done.join(", ")
            ),
            RouterChange::CanaryWeight(_) => done.join(", "),
        });
        (Ok(ok), Some(main))
    }

    fn read_back(&self, kind: Kind, obj: &DynamicObject, req: &WriteRequest) -> Option<Weight> {
        let splits = super::catalog::splits_of(kind, obj);
        super::split::find(&splits, &kinds::name(obj), &req.target.name)
            .map(super::split::canary_share)
    }
}

/// POSTs `{"name","namespace"}` to the Flagger loadtester's gate API.
async fn gate_call(shared: &Shared, path: &str, name: &str, namespace: &str) -> Result<(), String> {
    let base = shared
        .loadtester
        .as_deref()
        .ok_or("no --flagger-loadtester URL")?;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let resp = shared
        .http()
        .post(&url)
        .json(&serde_json::json!({"name": name, "namespace": namespace}))
        .send()
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url}: HTTP {}", resp.status()))
    }
}

fn canary_weight(obj: &DynamicObject) -> f64 {
    obj.data
        .pointer("/status/canaryWeight")
        .and_then(kinds::number)
        .unwrap_or(0.0)
}

/// Closes the `confirm-traffic-increase` gates aviary opened once Flagger has moved the
/// weight (or the Canary is gone), so one `n` is one step. Called by the provider after each
/// watch event; cheap when no gate is open.
pub async fn close_stepped_gates(shared: &Shared) {
    let due: Vec<ObjRef> = {
        let (Ok(gates), Ok(cat)) = (shared.open_gates.lock(), shared.catalog.lock()) else {
            return;
        };
        gates
            .iter()
            .filter(|(r, w)| cat.get(r).is_none_or(|o| canary_weight(&o) != **w))
            .map(|(r, _)| r.clone())
            .collect()
    };
    for r in due {
        if let Ok(mut g) = shared.open_gates.lock() {
            g.remove(&r);
        }
        if let Err(e) = gate_call(shared, "/gate/close", &r.name, &r.namespace).await {
            tracing::warn!("closing the confirm-traffic-increase gate of {r}: {e}");
        }
    }
}

#[async_trait]
impl Router for KubeRouter {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        let (result, main) = self.run(req).await;
        // Record the write on the object, whatever happened, when aviary knows the object.
        let Some(main) = main else {
            return result;
        };
        let obj = match self.0.catalog.lock() {
            Ok(c) => c.get(&main),
            Err(_) => None,
        };
        let Some(obj) = obj else {
            return result;
        };
        let (after, err) = match &result {
            Ok(ok) => (
                ok.canary_weight.or(req.requested).map(Weight::percent),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        };
        let ev = events::build(main.kind, &obj, req, &self.0.actor.get(), after, err);
        let posted = events::post(&self.0.client, &ev).await;
        match (result, posted) {
            (Ok(mut ok), Err(e)) => {
                ok.note = Some(match ok.note {
                    Some(n) => format!("{n}; {e}"),
                    None => e,
                });
                Ok(ok)
            }
            (r, _) => r,
        }
    }
}
