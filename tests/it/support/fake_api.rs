//! A local stand-in for the Kubernetes API server, for the kinds aviary watches.
//!
//! Why not a real API server: none can run here. Debian and the package registries offer no
//! kube-apiserver, k3s, kind, kwok or envtest that works without Docker or downloads
//! (none is packaged for this machine and none can be downloaded). So the kube tests run the real `kube` client (and the real `aviary` binary)
//! against this axum server on 127.0.0.1:0, which serves the fixture objects and implements
//! the parts of the API contract aviary relies on, the way the API server does:
//! - discovery (`/apis`, `/apis/{group}/{version}`) for the kinds marked installed;
//! - list with a collection `resourceVersion`, and watch from a `resourceVersion` with
//!   ADDED/MODIFIED/DELETED events, BOOKMARKs, and `410 Expired` for versions compacted away;
//! - PATCH as merge patch (`409 Conflict` when `metadata.resourceVersion` is stale) or JSON
//!   Patch (`422` when a `test` op fails, as the real server answers), on the object or its
//!   `/status` subresource (each only changes its own part, as for CRDs with a status
//!   subresource);
//! - `SelfSubjectAccessReview` answers from a deny list; Events are stored;
//! - Flagger loadtester gate endpoints (`/gate/open`, `/rollback/open`) on the same port.
//!
//! Every request is recorded (method, path, query, content type, body) for assertions.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// One kind the fake serves.
#[derive(Clone, Debug)]
pub struct KindInfo {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// `plural.group`: unique where a plural is not (Argo's and OpenKruise's `rollouts`).
    pub id: &'static str,
}

pub const KINDS: [KindInfo; 8] = [
    KindInfo {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "Rollout",
        plural: "rollouts",
        id: "rollouts.argoproj.io",
    },
    KindInfo {
        group: "flagger.app",
        version: "v1beta1",
        kind: "Canary",
        plural: "canaries",
        id: "canaries.flagger.app",
    },
    KindInfo {
        group: "networking.istio.io",
        version: "v1",
        kind: "VirtualService",
        plural: "virtualservices",
        id: "virtualservices.networking.istio.io",
    },
    KindInfo {
        group: "gateway.networking.k8s.io",
        version: "v1",
        kind: "HTTPRoute",
        plural: "httproutes",
        id: "httproutes.gateway.networking.k8s.io",
    },
    KindInfo {
        group: "split.smi-spec.io",
        version: "v1alpha4",
        kind: "TrafficSplit",
        plural: "trafficsplits",
        id: "trafficsplits.split.smi-spec.io",
    },
    KindInfo {
        group: "networking.k8s.io",
        version: "v1",
        kind: "Ingress",
        plural: "ingresses",
        id: "ingresses.networking.k8s.io",
    },
    KindInfo {
        group: "rollouts.kruise.io",
        version: "v1beta1",
        kind: "Rollout",
        plural: "rollouts",
        id: "rollouts.rollouts.kruise.io",
    },
    KindInfo {
        group: "consul.hashicorp.com",
        version: "v1alpha1",
        kind: "ServiceSplitter",
        plural: "servicesplitters",
        id: "servicesplitters.consul.hashicorp.com",
    },
];

/// The served kind of an object: its `kind`, and its apiVersion's group where two groups
/// share a kind name (Argo's and OpenKruise's `Rollout`); the first match without one.
fn kind_of(kind: &str, api_version: Option<&str>) -> Option<&'static KindInfo> {
    let group = api_version.and_then(|v| v.rsplit_once('/').map(|(g, _)| g));
    KINDS
        .iter()
        .find(|k| k.kind == kind && group.is_none_or(|g| g == k.group))
}

/// A served kind by plural, in `group` when given (else the first with that plural).
fn kind_by_plural_in(group: Option<&str>, plural: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.plural == plural && group.is_none_or(|g| g == k.group))
}

fn kind_by_plural(plural: &str) -> Option<&'static KindInfo> {
    kind_by_plural_in(None, plural)
}

/// A request as the fake received it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
}

#[derive(Clone, Debug)]
struct WatchEvent {
    rv: u64,
    plural: &'static str,
    namespace: String,
    kind: &'static str,
    object: Value,
}

struct Inner {
    objects: BTreeMap<(&'static str, String, String), Value>,
    rv: u64,
    history: Vec<WatchEvent>,
    /// Watches from a resourceVersion below this get 410 Expired.
    compacted_below: u64,
    installed: BTreeSet<&'static str>,
    denied: BTreeSet<(String, String, String)>,
    forbidden_lists: BTreeSet<String>,
    requests: Vec<Recorded>,
    events: Vec<Value>,
    gates: Vec<(String, Value)>,
    /// How often an idle watch gets a BOOKMARK.
    bookmark_every: Duration,
}

/// The fake API server. Cheap to clone; all clones share state.
#[derive(Clone)]
pub struct FakeApi {
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<WatchEvent>,
    drop_watches: broadcast::Sender<()>,
    pub addr: SocketAddr,
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn json_response(v: &Value) -> Response {
    ([("content-type", "application/json")], v.to_string()).into_response()
}

impl FakeApi {
    /// Sets how often an idle watch gets a BOOKMARK: half a second by default, so tests see
    /// one soon; kube-apiserver sends one about once a minute, which the scale harness uses.
    pub fn bookmark_every(&self, period: Duration) {
        self.inner.lock().unwrap().bookmark_every = period;
    }

    /// Starts the server on 127.0.0.1:0 with every kind installed.
    pub async fn start() -> FakeApi {
        let (events, _) = broadcast::channel(1024);
        let (drop_watches, _) = broadcast::channel(16);
        let inner = Arc::new(Mutex::new(Inner {
            objects: BTreeMap::new(),
            rv: 1000,
            history: Vec::new(),
            compacted_below: 0,
            installed: KINDS.iter().map(|k| k.kind).collect(),
            denied: BTreeSet::new(),
            forbidden_lists: BTreeSet::new(),
            requests: Vec::new(),
            events: Vec::new(),
            gates: Vec::new(),
            bookmark_every: Duration::from_millis(500),
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let api = FakeApi {
            inner,
            events,
            drop_watches,
            addr,
        };
        let app = Router::new().fallback(handle).with_state(api.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        api
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this server, as a YAML string.
    pub fn kubeconfig(&self, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n    namespace: {namespace}\ncurrent-context: fake\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
            self.url()
        )
    }

    /// Marks only these kinds as installed (discovery hides the others).
    pub fn set_installed(&self, kinds: &[&'static str]) {
        self.inner.lock().unwrap().installed = kinds.iter().copied().collect();
    }

    /// Makes SelfSubjectAccessReview deny `verb` on `resource` (e.g. `rollouts/status`).
    pub fn deny(&self, verb: &str, group: &str, resource: &str) {
        self.inner
            .lock()
            .unwrap()
            .denied
            .insert((verb.into(), group.into(), resource.into()));
    }

    /// Answers list and watch of `plural` with 403, as RBAC without `list` would.
    pub fn forbid_list(&self, plural: &str) {
        self.inner
            .lock()
            .unwrap()
            .forbidden_lists
            .insert(plural.to_string());
    }

    fn next_rv(inner: &mut Inner) -> u64 {
        inner.rv += 1;
        inner.rv
    }

    /// Adds an object (namespace `default` when it has none); the fake assigns its
    /// resourceVersion and uid. Returns its (namespace, name).
    pub fn insert(&self, mut obj: Value) -> (String, String) {
        let kind = obj["kind"]
            .as_str()
            .and_then(|k| kind_of(k, obj["apiVersion"].as_str()))
            .expect("a served kind");
        let mut inner = self.inner.lock().unwrap();
        let rv = Self::next_rv(&mut inner);
        if obj["metadata"]["namespace"].is_null() {
            obj["metadata"]["namespace"] = "default".into();
        }
        if obj["apiVersion"].is_null() {
            obj["apiVersion"] = format!("{}/{}", kind.group, kind.version).into();
        }
        obj["metadata"]["resourceVersion"] = rv.to_string().into();
        if obj["metadata"]["uid"].is_null() {
            obj["metadata"]["uid"] = format!("uid-{rv}").into();
        }
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        inner
            .objects
            .insert((kind.id, ns.clone(), name.clone()), obj.clone());
        let ev = WatchEvent {
            rv,
            plural: kind.id,
            namespace: ns.clone(),
            kind: "ADDED",
            object: obj,
        };
        inner.history.push(ev.clone());
        drop(inner);
        let _ = self.events.send(ev);
        (ns, name)
    }

    /// Current copy of an object.
    pub fn object(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        self.object_in(kind_by_plural(plural)?.group, plural, ns, name)
    }

    /// Current copy of an object of `plural` in API group `group`.
    pub fn object_in(&self, group: &str, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let kind = kind_by_plural_in(Some(group), plural)?;
        self.inner
            .lock()
            .unwrap()
            .objects
            .get(&(kind.id, ns.to_string(), name.to_string()))
            .cloned()
    }

    fn change(&self, plural: &str, ns: &str, name: &str, notify: bool, f: impl FnOnce(&mut Value)) {
        let kind = kind_by_plural(plural).expect("served kind");
        let mut inner = self.inner.lock().unwrap();
        let rv = Self::next_rv(&mut inner);
        let key = (kind.id, ns.to_string(), name.to_string());
        let Some(obj) = inner.objects.get_mut(&key) else {
            panic!("no {plural} {ns}/{name}")
        };
        f(obj);
        obj["metadata"]["resourceVersion"] = rv.to_string().into();
        let obj = obj.clone();
        let ev = WatchEvent {
            rv,
            plural: kind.id,
            namespace: ns.into(),
            kind: "MODIFIED",
            object: obj,
        };
        inner.history.push(ev.clone());
        drop(inner);
        if notify {
            let _ = self.events.send(ev);
        }
    }

    /// Changes an object as another client would; watchers see a MODIFIED event.
    pub fn modify(&self, plural: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        self.change(plural, ns, name, true, f)
    }

    /// Changes an object whose watch event has not reached anyone yet (it is still "in
    /// flight"): a client acting on its older copy now holds a stale resourceVersion.
    pub fn modify_silently(&self, plural: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        self.change(plural, ns, name, false, f)
    }

    /// Closes every open watch, as a load balancer or API server restart would.
    pub fn drop_watches(&self) {
        let _ = self.drop_watches.send(());
    }

    /// Forgets history below the current version: watches resuming from older versions
    /// get `410 Expired` and must re-list.
    pub fn compact(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.compacted_below = inner.rv + 1;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Requests other than reads (PATCH, POST), in order.
    pub fn writes(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with("selfsubjectaccessreviews"))
            .collect()
    }

    pub fn clear_requests(&self) {
        self.inner.lock().unwrap().requests.clear();
    }

    pub fn events(&self) -> Vec<Value> {
        self.inner.lock().unwrap().events.clone()
    }

    pub fn gates(&self) -> Vec<(String, Value)> {
        self.inner.lock().unwrap().gates.clone()
    }
}

/// `/apis/{group}/{version}[/namespaces/{ns}]/{plural}[/{name}[/status]]`
struct Path {
    kind: &'static KindInfo,
    namespace: Option<String>,
    name: Option<String>,
    status: bool,
}

fn parse_path(path: &str) -> Option<Path> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if parts.len() < 4 || parts[0] != "apis" {
        return None;
    }
    let rest = &parts[3..];
    let (namespace, rest) = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let kind = kind_by_plural_in(Some(parts[1]), rest.first()?)?;
    Some(Path {
        kind,
        namespace,
        name: rest.get(1).map(|s| s.to_string()),
        status: rest.get(2) == Some(&"status"),
    })
}

fn query_map(q: &str) -> BTreeMap<String, String> {
    q.split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn handle(State(api): State<FakeApi>, req: Request) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let headers: HeaderMap = req.headers().clone();
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes: Bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    api.inner.lock().unwrap().requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: body.clone(),
    });
    let q = query_map(&query);
    match (method.clone(), path.as_str()) {
        (Method::GET, "/api") => json_response(
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        (Method::GET, "/apis") => {
            let installed = api.inner.lock().unwrap().installed.clone();
            let groups: Vec<Value> = KINDS
                .iter()
                .filter(|k| installed.contains(k.kind))
                .map(|k| {
                    let gv = json!({"groupVersion": format!("{}/{}", k.group, k.version), "version": k.version});
                    json!({"name": k.group, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            json_response(&json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        (Method::POST, "/apis/authentication.k8s.io/v1/selfsubjectreviews") => {
            // `kubectl auth whoami`: the identity the test's kubeconfig authenticates as.
            let mut out = body.clone();
            out["status"] = json!({"userInfo": {"username": "system:serviceaccount:ops:deployer", "groups": ["system:authenticated"]}});
            (
                StatusCode::CREATED,
                [("content-type", "application/json")],
                out.to_string(),
            )
                .into_response()
        }
        (Method::POST, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews") => {
            let ra = &body["spec"]["resourceAttributes"];
            let s = |k: &str| ra[k].as_str().unwrap_or("").to_string();
            let resource = if s("subresource").is_empty() {
                s("resource")
            } else {
                format!("{}/{}", s("resource"), s("subresource"))
            };
            let denied =
                api.inner
                    .lock()
                    .unwrap()
                    .denied
                    .contains(&(s("verb"), s("group"), resource));
            let mut out = body.clone();
            out["status"] = if denied {
                json!({"allowed": false, "reason": "denied by the test's RBAC"})
            } else {
                json!({"allowed": true})
            };
            (
                StatusCode::CREATED,
                [("content-type", "application/json")],
                out.to_string(),
            )
                .into_response()
        }
        (Method::POST, p)
            if p.starts_with("/apis/events.k8s.io/v1/namespaces/") && p.ends_with("/events") =>
        {
            api.inner.lock().unwrap().events.push(body.clone());
            (
                StatusCode::CREATED,
                [("content-type", "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        (
            Method::POST,
            p @ ("/gate/open" | "/gate/close" | "/rollback/open" | "/rollback/close"),
        ) => {
            api.inner.lock().unwrap().gates.push((p.to_string(), body));
            (StatusCode::ACCEPTED, "").into_response()
        }
        (Method::GET, p) if p.starts_with("/apis/") && p.split('/').count() == 4 => {
            // /apis/{group}/{version}
            let parts: Vec<&str> = p.split('/').collect();
            let installed = api.inner.lock().unwrap().installed.clone();
            let resources: Vec<Value> = KINDS
                .iter()
                .filter(|k| k.group == parts[2] && k.version == parts[3] && installed.contains(k.kind))
                .flat_map(|k| {
                    let verbs = json!(["delete", "get", "list", "patch", "update", "watch"]);
                    vec![
                        json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": true, "kind": k.kind, "verbs": verbs}),
                        json!({"name": format!("{}/status", k.plural), "singularName": "", "namespaced": true, "kind": k.kind, "verbs": ["get", "patch", "update"]}),
                    ]
                })
                .collect();
            if resources.is_empty() {
                return status(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
            json_response(
                &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": format!("{}/{}", parts[2], parts[3]), "resources": resources}),
            )
        }
        (m, p) => match parse_path(p) {
            Some(path)
                if m == Method::GET
                    && path.name.is_none()
                    && api
                        .inner
                        .lock()
                        .unwrap()
                        .forbidden_lists
                        .contains(path.kind.plural) =>
            {
                status(
                    403,
                    "Forbidden",
                    &format!(
                        "{}.{} is forbidden: User \"tester\" cannot list resource \"{}\" in API group \"{}\" at the cluster scope",
                        path.kind.plural, path.kind.group, path.kind.plural, path.kind.group
                    ),
                )
            }
            Some(path)
                if m == Method::GET
                    && path.name.is_none()
                    && q.get("watch").map(String::as_str) == Some("true") =>
            {
                watch(api, path, q)
            }
            Some(path) if m == Method::GET && path.name.is_none() => list(&api, &path),
            Some(path) if m == Method::GET => get(&api, &path),
            Some(path) if m == Method::PATCH && path.name.is_some() => {
                patch(&api, &path, &content_type, body)
            }
            _ => status(404, "NotFound", &format!("no route for {m} {p}")),
        },
    }
}

fn matches(path: &Path, id: &str, ns: &str) -> bool {
    path.kind.id == id && path.namespace.as_deref().is_none_or(|n| n == ns)
}

fn list(api: &FakeApi, path: &Path) -> Response {
    let inner = api.inner.lock().unwrap();
    let items: Vec<Value> = inner
        .objects
        .iter()
        .filter(|((p, ns, _), _)| matches(path, p, ns))
        .map(|(_, o)| o.clone())
        .collect();
    json_response(&json!({
        "apiVersion": format!("{}/{}", path.kind.group, path.kind.version),
        "kind": format!("{}List", path.kind.kind),
        "metadata": {"resourceVersion": inner.rv.to_string()},
        "items": items,
    }))
}

fn get(api: &FakeApi, path: &Path) -> Response {
    let ns = path.namespace.clone().unwrap_or_default();
    let name = path.name.clone().unwrap_or_default();
    match api.object_in(path.kind.group, path.kind.plural, &ns, &name) {
        Some(o) => json_response(&o),
        None => status(
            404,
            "NotFound",
            &format!(
                "{}.{} \"{name}\" not found",
                path.kind.plural, path.kind.group
            ),
        ),
    }
}

fn patch(api: &FakeApi, path: &Path, content_type: &str, body: Value) -> Response {
    let ns = path.namespace.clone().unwrap_or_default();
    let name = path.name.clone().unwrap_or_default();
    let key = (path.kind.id, ns.clone(), name.clone());
    let mut inner = api.inner.lock().unwrap();
    let Some(current) = inner.objects.get(&key).cloned() else {
        return status(
            404,
            "NotFound",
            &format!(
                "{}.{} \"{name}\" not found",
                path.kind.plural, path.kind.group
            ),
        );
    };
    let mut patched = current.clone();
    let conflict = || {
        status(
            409,
            "Conflict",
            &format!(
                "Operation cannot be fulfilled on {}.{} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                path.kind.plural, path.kind.group
            ),
        )
    };
    match content_type {
        "application/merge-patch+json" => {
            if let Some(rv) = body["metadata"]["resourceVersion"].as_str()
                && Some(rv) != current["metadata"]["resourceVersion"].as_str()
            {
                return conflict();
            }
            json_patch::merge(&mut patched, &body);
        }
        "application/json-patch+json" => {
            let ops: json_patch::Patch = match serde_json::from_value(body) {
                Ok(p) => p,
                Err(e) => return status(400, "BadRequest", &e.to_string()),
            };
            if let Err(e) = json_patch::patch(&mut patched, &ops) {
                // The real API server answers a failed patch with 422, worded by the Go
                // json-patch library it uses.
                let message = match e.kind {
                    json_patch::PatchErrorKind::TestFailed => {
                        format!("testing value {} failed: test failed", e.path)
                    }
                    _ => e.to_string(),
                };
                return status(422, "", &message);
            }
        }
        other => {
            return status(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got {other})"
                ),
            );
        }
    }
    // CRDs with a status subresource: the object ignores status, /status ignores the rest.
    let mut result = if path.status {
        let mut r = current.clone();
        r["status"] = patched["status"].clone();
        r
    } else {
        let mut r = patched;
        match current.get("status") {
            Some(s) => r["status"] = s.clone(),
            None => {
                if let Some(m) = r.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        r
    };
    let rv = FakeApi::next_rv(&mut inner);
    result["metadata"]["resourceVersion"] = rv.to_string().into();
    inner.objects.insert(key, result.clone());
    let ev = WatchEvent {
        rv,
        plural: path.kind.id,
        namespace: ns,
        kind: "MODIFIED",
        object: result.clone(),
    };
    inner.history.push(ev.clone());
    drop(inner);
    let _ = api.events.send(ev);
    json_response(&result)
}

fn watch(api: FakeApi, path: Path, q: BTreeMap<String, String>) -> Response {
    let from: u64 = q
        .get("resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let bookmarks = q.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let mut live = api.events.subscribe();
    let mut dropped = api.drop_watches.subscribe();
    let (backlog, expired, current, period) = {
        let inner = api.inner.lock().unwrap();
        let expired = from != 0 && from < inner.compacted_below;
        let backlog: Vec<WatchEvent> = inner
            .history
            .iter()
            .filter(|e| e.rv > from && matches(&path, e.plural, &e.namespace))
            .cloned()
            .collect();
        (backlog, expired, inner.rv, inner.bookmark_every)
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let line = |v: Value| Ok(Bytes::from(format!("{v}\n")));
        if expired {
            let e = json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": format!("too old resource version: {from} ({current})"), "reason": "Expired", "code": 410}});
            let _ = tx.send(line(e)).await;
            return;
        }
        let mut last = from.max(backlog.last().map(|e| e.rv).unwrap_or(0));
        for e in backlog {
            if tx
                .send(line(json!({"type": e.kind, "object": e.object})))
                .await
                .is_err()
            {
                return;
            }
        }
        let mut tick = tokio::time::interval(period);
        loop {
            tokio::select! {
                _ = dropped.recv() => return,
                _ = tick.tick() => {
                    if bookmarks {
                        let rv = last;
                        let bm = json!({"type": "BOOKMARK", "object": {"kind": path.kind.kind, "apiVersion": format!("{}/{}", path.kind.group, path.kind.version), "metadata": {"resourceVersion": rv.to_string()}}});
                        if tx.send(line(bm)).await.is_err() { return; }
                    }
                }
                ev = live.recv() => {
                    let Ok(e) = ev else { return };
                    if e.rv <= last || !matches(&path, e.plural, &e.namespace) { continue; }
                    last = e.rv;
                    if tx.send(line(json!({"type": e.kind, "object": e.object}))).await.is_err() { return; }
                }
            }
        }
    });
    let stream = tokio_stream_from(rx);
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| status(500, "InternalError", "stream"))
}

fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) }).boxed()
}
