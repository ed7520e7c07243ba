//! Every operator action on every kind sends exactly the request the real API expects: method,
//! path (including `/status`), content type and body, checked against the fixture objects.
//!
//! The server is `support::fake_api`, a local stand-in (no Kubernetes API server can run
//! here, see its doc comment); the client, watchers and router are aviary's real ones.

use crate::support;

use aviary::domain::change::{Command, OpId, Origin, RouterChange, WriteRequest};
use aviary::domain::{ActionKind, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::kube::access::{Access, Permission};
use aviary::providers::kube::catalog::Options;
use aviary::providers::kube::kinds::Kind;
use aviary::providers::kube::router::KubeRouter;
use aviary::providers::kube::{Shared, watch};
use aviary::providers::{Router, RouterError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::fake_api::{FakeApi, Recorded};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

struct World {
    api: FakeApi,
    router: KubeRouter,
    rx: mpsc::Receiver<Msg>,
    rollouts: BTreeMap<RolloutKey, Rollout>,
    errors: Vec<(String, String)>,
    cancel: CancellationToken,
}

impl Drop for World {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn doc(rel: &str, kind: &str) -> Value {
    support::docs(rel)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{rel}: no {kind}"))
}

async fn world(
    objs: Vec<Value>,
    opts: Options,
    loadtester: bool,
    setup: impl FnOnce(&FakeApi),
) -> World {
    aviary::install_crypto_provider();
    let api = FakeApi::start().await;
    setup(&api);
    for o in objs {
        api.insert(o);
    }
    let config = kube::Config::new(api.url().parse().unwrap());
    let client = kube::Client::try_from(config).unwrap();
    let lt = loadtester.then(|| api.url());
    let shared = Arc::new(Shared::new(client, opts, lt, "tester".into()));
    let (tx, rx) = mpsc::channel(1024);
    let cancel = CancellationToken::new();
    tokio::spawn(watch::run(
        shared.clone(),
        None,
        api.url(),
        None,
        tx,
        cancel.clone(),
    ));
    let mut w = World {
        router: KubeRouter(shared),
        api,
        rx,
        rollouts: BTreeMap::new(),
        errors: Vec::new(),
        cancel,
    };
    w.settle().await;
    w
}

impl World {
    /// Applies provider messages until nothing has changed for a moment. The provider's
    /// once-a-second heartbeat (a `Restarted` with the same rollouts) is not a change.
    async fn settle(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut quiet_since = tokio::time::Instant::now();
        let mut seen_any = !self.rollouts.is_empty();
        while tokio::time::Instant::now() < deadline {
            if seen_any && quiet_since.elapsed() > Duration::from_millis(800) {
                return;
            }
            let Ok(Some(msg)) =
                tokio::time::timeout(Duration::from_millis(200), self.rx.recv()).await
            else {
                continue;
            };
            let before = self.rollouts.clone();
            if let Msg::SourceError { source, error } = &msg {
                self.errors.push((source.to_string(), error.clone()));
            }
            if let Msg::Provider(ev) = msg {
                match ev {
                    ProviderEvent::Upsert { rollout, .. } => {
                        self.rollouts.insert(rollout.key.clone(), *rollout);
                    }
                    ProviderEvent::Restarted { rollouts, .. } => {
                        seen_any = true;
                        for r in rollouts {
                            self.rollouts.insert(r.key.clone(), r);
                        }
                    }
                    ProviderEvent::Delete { key, .. } => {
                        self.rollouts.remove(&key);
                    }
                    ProviderEvent::Info { .. }
                    | ProviderEvent::Empty { .. }
                    | ProviderEvent::Alive { .. } => {}
                }
            }
            if self.rollouts != before {
                seen_any = true;
                quiet_since = tokio::time::Instant::now();
            }
        }
    }

    fn rollout(&self, key: &str) -> &Rollout {
        self.rollouts
            .values()
            .find(|r| r.key.to_string() == key)
            .unwrap_or_else(|| {
                panic!(
                    "{key} not seen; have {:?}",
                    self.rollouts.keys().collect::<Vec<_>>()
                )
            })
    }

    async fn act(
        &mut self,
        key: &str,
        command: Command,
    ) -> Result<aviary::domain::change::WriteOk, RouterError> {
        let r = self.rollout(key).clone();
        let change = match (r.owner, command) {
            (aviary::domain::Owner::Controller(_), c) => RouterChange::Controller(c),
            (_, Command::SetWeight(w)) => RouterChange::CanaryWeight(w),
            (_, Command::Abort) => RouterChange::CanaryWeight(Weight::ZERO),
            (_, Command::Promote) => RouterChange::CanaryWeight(Weight::FULL),
            (_, c) => RouterChange::Controller(c),
        };
        let req = WriteRequest {
            op: OpId(1),
            target: r.key.clone(),
            command,
            origin: Origin::Operator,
            before: r.canary_weight(),
            requested: match change {
                RouterChange::CanaryWeight(w) => Some(w),
                _ => None,
            },
            change,
            expected_version: r.version.clone(),
            builds: Default::default(),
        };
        self.api.clear_requests();
        let out = self.router.apply(&req).await;
        self.settle().await;
        out
    }
}

fn w(p: u8) -> Weight {
    Weight::from_whole(p).unwrap()
}

/// Asserts one recorded write: method, path, query, content type and body.
fn assert_write(r: &Recorded, method: &str, path: &str, content_type: &str, body: Value) {
    assert_eq!(r.method, method, "{r:#?}");
    assert_eq!(r.path, path, "{r:#?}");
    if method == "PATCH" {
        assert_eq!(r.query, "&fieldManager=aviary", "{r:#?}");
    }
    assert_eq!(r.content_type, content_type, "{r:#?}");
    assert_eq!(r.body, body, "{r:#?}");
}

/// The Event aviary records on the object after the write.
fn assert_event(r: &Recorded, ns: &str, kind: &str, name: &str, reason: &str, type_: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/apis/events.k8s.io/v1/namespaces/{ns}/events")
    );
    assert_eq!(r.body["reason"], reason, "{r:#?}");
    assert_eq!(r.body["type"], type_, "{r:#?}");
    assert_eq!(r.body["regarding"]["kind"], kind);
    assert_eq!(r.body["regarding"]["name"], name);
    assert_eq!(r.body["reportingController"], "aviary.dev/aviary");
    assert!(
        r.body["note"].as_str().unwrap().starts_with("aviary "),
        "{r:#?}"
    );
}

const MERGE: &str = "application/merge-patch+json";
const JSONP: &str = "application/json-patch+json";
const PAUSED: &str = "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml";
const ARGO: &str = "/apis/argoproj.io/v1alpha1/namespaces/rollouts-demo/rollouts/rollouts-demo";

#[tokio::test]
async fn argo_actions_patch_spec_or_the_status_subresource() {
    let mut wd = world(
        vec![doc(PAUSED, "Rollout")],
        Options::default(),
        false,
        |_| {},
    )
    .await;
    let key = "argo:rollouts-demo/rollouts-demo";
    let rv = wd.rollout(key).version.clone().unwrap();

    wd.act(key, Command::Advance).await.unwrap();
    let ws = wd.api.writes();
    assert_eq!(ws.len(), 2, "{ws:#?}");
    assert_write(
        &ws[0],
        "PATCH",
        &format!("{ARGO}/status"),
        MERGE,
        json!({"status": {"pauseConditions": null}, "metadata": {"resourceVersion": rv}}),
    );
    assert_event(
        &ws[1],
        "rollouts-demo",
        "Rollout",
        "rollouts-demo",
        "AviaryAdvance",
        "Normal",
    );

    wd.act(key, Command::Pause).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        ARGO,
        MERGE,
        json!({"spec": {"paused": true}}),
    );
    assert_event(
        &ws[1],
        "rollouts-demo",
        "Rollout",
        "rollouts-demo",
        "AviaryPause",
        "Normal",
    );

    wd.act(key, Command::Resume).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        ARGO,
        MERGE,
        json!({"spec": {"paused": false}}),
    );
    assert_event(
        &ws[1],
        "rollouts-demo",
        "Rollout",
        "rollouts-demo",
        "AviaryResume",
        "Normal",
    );

    let ok = wd.act(key, Command::Promote).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        &format!("{ARGO}/status"),
        MERGE,
        json!({"status": {"promoteFull": true}}),
    );
    assert!(ok.note.unwrap().contains("promote fully"));

    wd.act(key, Command::Abort).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        &format!("{ARGO}/status"),
        MERGE,
        json!({"status": {"abort": true}}),
    );
    assert_event(
        &ws[1],
        "rollouts-demo",
        "Rollout",
        "rollouts-demo",
        "AviaryAbort",
        "Normal",
    );
    let note = ws[1].body["note"].as_str().unwrap();
    assert!(
        note.contains("aviary abort on argo:rollouts-demo/rollouts-demo: canary 21%"),
        "{note}"
    );
    assert!(note.contains("Undo: retry the rollout"), "{note}");
    // The fake now holds status.abort, so the watch reports it aborted and retry is offered.
    assert_eq!(wd.rollout(key).phase, aviary::domain::Phase::Aborted);
    assert!(
        wd.rollout(key)
            .capabilities
            .check(ActionKind::Retry)
            .is_ok()
    );

    wd.act(key, Command::Retry).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        &format!("{ARGO}/status"),
        MERGE,
        json!({"status": {"abort": false}}),
    );
    assert_event(
        &ws[1],
        "rollouts-demo",
        "Rollout",
        "rollouts-demo",
        "AviaryRetry",
        "Normal",
    );

    let err = wd.act(key, Command::SetWeight(w(30))).await.unwrap_err();
    assert!(
        err.to_string().contains("controller owns this route"),
        "{err}"
    );
    assert!(wd.api.writes().is_empty());
}

#[tokio::test]
async fn argo_advance_mid_step_skips_to_the_next_and_unpauses_a_user_pause() {
    let mid = doc(
        "argo-rollouts/objects/argo-cd-testdata/canary/progressing_setWeightStep.yaml",
        "Rollout",
    );
    let user = doc(
        "argo-rollouts/objects/argo-cd-testdata/suspended_userPause.yaml",
        "Rollout",
    );
    let mut user = user;
    user["metadata"]["name"] = "user-paused".into();
    let mut wd = world(vec![mid, user], Options::default(), false, |_| {}).await;
    let rv = wd
        .rollout("argo:default/example-rollout-canary")
        .version
        .clone()
        .unwrap();
    wd.act("argo:default/example-rollout-canary", Command::Advance)
        .await
        .unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/example-rollout-canary/status",
        MERGE,
        json!({"status": {"pauseConditions": null, "currentStepIndex": 4}, "metadata": {"resourceVersion": rv}}),
    );
    wd.act("argo:default/user-paused", Command::Resume)
        .await
        .unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/user-paused",
        MERGE,
        json!({"spec": {"paused": false}}),
    );
}

#[tokio::test]
async fn argo_advance_on_a_stale_view_is_a_conflict_and_nothing_is_retried() {
    let mut wd = world(
        vec![doc(PAUSED, "Rollout")],
        Options::default(),
        false,
        |_| {},
    )
    .await;
    let key = "argo:rollouts-demo/rollouts-demo";
    // The controller moved on; its watch event has not reached aviary yet.
    wd.api
        .modify_silently("rollouts", "rollouts-demo", "rollouts-demo", |o| {
            o["status"]["currentStepIndex"] = 2.into();
            o["status"]["pauseConditions"] = Value::Null;
        });
    let before = wd
        .api
        .object("rollouts", "rollouts-demo", "rollouts-demo")
        .unwrap();
    let err = wd.act(key, Command::Advance).await.unwrap_err();
    assert!(matches!(err, RouterError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("409 Conflict"), "{err}");
    assert!(err.to_string().contains("nothing retried"), "{err}");
    assert_eq!(
        wd.api
            .object("rollouts", "rollouts-demo", "rollouts-demo")
            .unwrap(),
        before
    );
    let ws = wd.api.writes();
    // One PATCH (refused), no second attempt, and a Warning event saying so.
    assert_eq!(
        ws.iter().filter(|r| r.method == "PATCH").count(),
        1,
        "{ws:#?}"
    );
    assert_event(
        ws.last().unwrap(),
        "rollouts-demo",
        "Rollout",
        "rollouts-demo",
        "AviaryAdvance",
        "Warning",
    );
    // The object was re-read: the operator's view now shows step 2.
    assert_eq!(wd.rollout(key).step, Some((2, 8)));
}

fn flagger_objects() -> Vec<Value> {
    let canary = doc(
        "flagger/status/canary-istio-progressing.assembled.yaml",
        "Canary",
    );
    // Flagger names its VirtualService after the Canary's service (podinfo in test); the
    // fixture's generated VS is named `backend`, so the in-memory copy is renamed and set to
    // the canary's current 90/10.
    let mut vs = doc(
        "istio/examples/flagger-generated-virtualservice-backend.yaml",
        "VirtualService",
    );
    vs["metadata"]["name"] = "podinfo".into();
    vs["metadata"]["ownerReferences"][0]["name"] = "podinfo".into();
    vs["spec"]["http"][0]["route"][0]["weight"] = 90.into();
    vs["spec"]["http"][0]["route"][1]["weight"] = 10.into();
    vec![canary, vs]
}

const CANARY: &str = "/apis/flagger.app/v1beta1/namespaces/test/canaries/podinfo";

#[tokio::test]
async fn flagger_actions_use_suspend_skip_analysis_and_break_glass() {
    let mut wd = world(flagger_objects(), Options::default(), false, |_| {}).await;
    let key = "flagger:test/podinfo";
    // The generated VS is shown under its Canary, not as a raw route.
    assert_eq!(
        wd.rollouts.len(),
        1,
        "{:?}",
        wd.rollouts.keys().collect::<Vec<_>>()
    );

    wd.act(key, Command::Pause).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        CANARY,
        MERGE,
        json!({"spec": {"suspend": true}}),
    );
    assert_event(&ws[1], "test", "Canary", "podinfo", "AviaryPause", "Normal");

    wd.act(key, Command::Resume).await.unwrap();
    assert_write(
        &wd.api.writes()[0],
        "PATCH",
        CANARY,
        MERGE,
        json!({"spec": {"suspend": false}}),
    );

    wd.act(key, Command::Promote).await.unwrap();
    assert_write(
        &wd.api.writes()[0],
        "PATCH",
        CANARY,
        MERGE,
        json!({"spec": {"skipAnalysis": true}}),
    );

    let err = wd.act(key, Command::Advance).await.unwrap_err();
    assert!(err.to_string().contains("--flagger-loadtester"), "{err}");

    wd.act(key, Command::Abort).await.unwrap();
    let ws = wd.api.writes();
    assert_eq!(ws.len(), 3, "{ws:#?}");
    assert_write(
        &ws[0],
        "PATCH",
        CANARY,
        MERGE,
        json!({"spec": {"suspend": true}}),
    );
    assert_write(
        &ws[1],
        "PATCH",
        "/apis/networking.istio.io/v1/namespaces/test/virtualservices/podinfo",
        JSONP,
        json!([
            {"op": "test", "path": "/spec/http/0/route/0/weight", "value": 90},
            {"op": "test", "path": "/spec/http/0/route/1/weight", "value": 10},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 0},
        ]),
    );
    assert_event(&ws[2], "test", "Canary", "podinfo", "AviaryAbort", "Normal");
    let vs = wd.api.object("virtualservices", "test", "podinfo").unwrap();
    assert_eq!(vs["spec"]["http"][0]["route"][0]["weight"], 100);
    assert_eq!(vs["spec"]["http"][0]["route"][1]["weight"], 0);
    assert_eq!(
        vs["spec"]["http"][0]["route"][0]["destination"]["host"],
        "podinfo-primary"
    );

    let err = wd.act(key, Command::Retry).await.unwrap_err();
    assert!(err.to_string().contains("new revision"), "{err}");
}

#[tokio::test]
async fn flagger_gates_go_to_the_loadtester() {
    let opts = Options {
        loadtester: true,
        ..Options::default()
    };
    let mut wd = world(flagger_objects(), opts, true, |_| {}).await;
    let key = "flagger:test/podinfo";
    assert!(
        wd.rollout(key)
            .capabilities
            .check(ActionKind::Advance)
            .is_ok()
    );
    wd.act(key, Command::Advance).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "POST",
        "/gate/open",
        "application/json",
        json!({"name": "podinfo", "namespace": "test"}),
    );
    // The loadtester keeps a gate open; once Flagger has taken its step, aviary closes it.
    assert_eq!(wd.api.gates().len(), 1);
    wd.api.modify("canaries", "test", "podinfo", |o| {
        o["status"]["canaryWeight"] = 15.into()
    });
    wd.settle().await;
    let gates = wd.api.gates();
    assert_eq!(gates.len(), 2, "{gates:#?}");
    assert_eq!(
        gates[1],
        (
            "/gate/close".to_string(),
            json!({"name": "podinfo", "namespace": "test"})
        )
    );
    wd.act(key, Command::Abort).await.unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "POST",
        "/rollback/open",
        "application/json",
        json!({"name": "podinfo", "namespace": "test"}),
    );
    assert_write(
        &ws[1],
        "PATCH",
        CANARY,
        MERGE,
        json!({"spec": {"suspend": true}}),
    );
    assert_eq!(ws[2].content_type, JSONP);
    let gates = wd.api.gates();
    assert_eq!(gates.len(), 3, "{gates:#?}");
}

#[tokio::test]
async fn raw_routers_write_weights_with_test_and_replace() {
    let vs = doc(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    );
    let route = doc("gateway-api/examples/simple-split.yaml", "HTTPRoute");
    let split4 = doc(
        "smi/examples/spec-v1alpha4-trafficsplit-canary.no-apiversion.yaml",
        "TrafficSplit",
    );
    let split1 = doc(
        "smi/examples/argo-rollouts-generated-trafficsplit-5.yaml",
        "TrafficSplit",
    );
    let mut wd = world(
        vec![vs, route, split4, split1],
        Options::default(),
        false,
        |_| {},
    )
    .await;

    let rv = wd.rollout("istio:default/reviews").version.clone().unwrap();
    let ok = wd
        .act("istio:default/reviews", Command::SetWeight(w(30)))
        .await
        .unwrap();
    assert_eq!(ok.canary_weight, Some(w(30)));
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        "/apis/networking.istio.io/v1/namespaces/default/virtualservices/reviews",
        JSONP,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": "/spec/http/0/route/0/weight", "value": 80},
            {"op": "test", "path": "/spec/http/0/route/1/weight", "value": 20},
            {"op": "replace", "path": "/spec/http/0/route/0/weight", "value": 70},
            {"op": "replace", "path": "/spec/http/0/route/1/weight", "value": 30},
        ]),
    );
    assert_event(
        &ws[1],
        "default",
        "VirtualService",
        "reviews",
        "AviarySetWeight",
        "Normal",
    );
    assert_eq!(wd.rollout("istio:default/reviews").canary_weight(), w(30));

    let rv = wd
        .rollout("httproute:default/simple-split")
        .version
        .clone()
        .unwrap();
    wd.act("httproute:default/simple-split", Command::Abort)
        .await
        .unwrap();
    assert_write(
        &wd.api.writes()[0],
        "PATCH",
        "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/simple-split",
        JSONP,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": "/spec/rules/0/backendRefs/0/weight", "value": 90},
            {"op": "test", "path": "/spec/rules/0/backendRefs/1/weight", "value": 10},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 0},
        ]),
    );

    let rv = wd.rollout("smi:default/canary").version.clone().unwrap();
    wd.act("smi:default/canary", Command::Promote)
        .await
        .unwrap();
    assert_write(
        &wd.api.writes()[0],
        "PATCH",
        "/apis/split.smi-spec.io/v1alpha4/namespaces/default/trafficsplits/canary",
        JSONP,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": "/spec/backends/0/weight", "value": 90},
            {"op": "test", "path": "/spec/backends/1/weight", "value": 10},
            {"op": "replace", "path": "/spec/backends/0/weight", "value": 0},
            {"op": "replace", "path": "/spec/backends/1/weight", "value": 100},
        ]),
    );

    // v1alpha1 stores quantities as strings; the canary is listed first there.
    let rv = wd
        .rollout("smi:default/rollouts-demo")
        .version
        .clone()
        .unwrap();
    wd.act("smi:default/rollouts-demo", Command::SetWeight(w(10)))
        .await
        .unwrap();
    assert_write(
        &wd.api.writes()[0],
        "PATCH",
        "/apis/split.smi-spec.io/v1alpha4/namespaces/default/trafficsplits/rollouts-demo",
        JSONP,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": "/spec/backends/0/weight", "value": "5"},
            {"op": "test", "path": "/spec/backends/1/weight", "value": "95"},
            {"op": "replace", "path": "/spec/backends/0/weight", "value": "100m"},
            {"op": "replace", "path": "/spec/backends/1/weight", "value": "900m"},
        ]),
    );
    assert_eq!(
        wd.rollout("smi:default/rollouts-demo").canary_weight(),
        w(10)
    );

    // Manual raw routers have no plan to pause.
    let err = wd
        .act("istio:default/reviews", Command::Pause)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("needs a controller"), "{err}");
}

#[tokio::test]
async fn a_raw_write_on_a_stale_object_fails_its_test_and_changes_nothing() {
    let vs = doc(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    );
    let mut wd = world(vec![vs], Options::default(), false, |_| {}).await;
    wd.api
        .modify_silently("virtualservices", "default", "reviews", |o| {
            o["spec"]["http"][0]["route"][0]["weight"] = 60.into();
            o["spec"]["http"][0]["route"][1]["weight"] = 40.into();
        });
    let before = wd
        .api
        .object("virtualservices", "default", "reviews")
        .unwrap();
    let err = wd
        .act("istio:default/reviews", Command::SetWeight(w(30)))
        .await
        .unwrap_err();
    assert!(matches!(err, RouterError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("HTTP 422"), "{err}");
    assert_eq!(
        wd.api
            .object("virtualservices", "default", "reviews")
            .unwrap(),
        before
    );
    assert_eq!(
        wd.api
            .writes()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        1
    );
    // Re-read: the operator now sees 60/40.
    assert_eq!(wd.rollout("istio:default/reviews").canary_weight(), w(40));
}

#[tokio::test]
async fn rbac_answers_decide_which_actions_are_offered() {
    let vs = doc(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    );
    let wd = world(
        vec![doc(PAUSED, "Rollout"), vs],
        Options::default(),
        false,
        |api| {
            api.deny("patch", "argoproj.io", "rollouts/status");
            api.deny("patch", "networking.istio.io", "virtualservices");
        },
    )
    .await;
    let argo = wd.rollout("argo:rollouts-demo/rollouts-demo");
    assert_eq!(
        argo.capabilities.check(ActionKind::Abort).unwrap_err(),
        "forbidden by RBAC: cannot patch rollouts/status.argoproj.io (denied by the test's RBAC)"
    );
    assert!(argo.capabilities.check(ActionKind::Pause).is_ok());
    let vs = wd.rollout("istio:default/reviews");
    assert!(
        vs.capabilities
            .check(ActionKind::SetWeight)
            .unwrap_err()
            .starts_with("forbidden by RBAC")
    );
    // One review per kind and verb, plus events.
    let reviews: Vec<_> = wd
        .api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("selfsubjectaccessreviews"))
        .map(|r| r.body["spec"]["resourceAttributes"].clone())
        .collect();
    assert!(reviews.contains(&json!({"group": "argoproj.io", "resource": "rollouts", "subresource": "status", "verb": "patch"})), "{reviews:#?}");
    assert!(
        reviews
            .contains(&json!({"group": "events.k8s.io", "resource": "events", "verb": "create"})),
        "{reviews:#?}"
    );
    let _ = Access::all();
    let _ = Permission::create_events();
    let _ = Kind::Rollout;
}

#[tokio::test]
async fn kinds_not_installed_are_skipped_and_named() {
    aviary::install_crypto_provider();
    let api = FakeApi::start().await;
    api.set_installed(&["Rollout"]);
    api.insert(doc(PAUSED, "Rollout"));
    let client = kube::Client::try_from(kube::Config::new(api.url().parse().unwrap())).unwrap();
    let shared = Arc::new(Shared::new(client, Options::default(), None, "t".into()));
    let (tx, mut rx) = mpsc::channel(64);
    let cancel = CancellationToken::new();
    tokio::spawn(watch::run(
        shared,
        None,
        api.url(),
        None,
        tx,
        cancel.clone(),
    ));
    let mut infos: Vec<String> = Vec::new();
    while !infos.iter().any(|m| m.contains("found")) {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Msg::Provider(ProviderEvent::Info { message, .. }))) => infos.push(message),
            Ok(Some(_)) => {}
            _ => panic!("no status line; got {infos:?}"),
        }
    }
    cancel.cancel();
    let found = infos
        .iter()
        .find(|m| m.contains("found"))
        .expect("a status line");
    assert!(found.contains("Rollout (argoproj.io/v1alpha1)"), "{found}");
    assert!(
        found.contains("not installed: Canary, VirtualService, HTTPRoute, TrafficSplit"),
        "{found}"
    );
}

#[tokio::test]
async fn a_watch_error_marks_its_kind_stale_and_the_watch_recovers() {
    let vs = doc(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    );
    let mut wd = world(vec![vs], Options::default(), false, |_| {}).await;
    // History compacted and the connection dropped: the resumed watch gets 410 Expired.
    wd.api.compact();
    wd.api.drop_watches();
    let source = Kind::VirtualService.source();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut error = None;
    let mut recovered = false;
    while tokio::time::Instant::now() < deadline && !recovered {
        let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), wd.rx.recv()).await
        else {
            continue;
        };
        match msg {
            Msg::SourceError {
                source: s,
                error: e,
            } if s == source => error = Some(e),
            Msg::Provider(ProviderEvent::Restarted { source: s, .. })
                if s == source && error.is_some() =>
            {
                recovered = true;
            }
            _ => {}
        }
    }
    let error = error.expect("a SourceError for the VirtualService watch");
    assert!(
        error.contains("410") || error.contains("too old resource version"),
        "{error}"
    );
    assert!(error.contains("restarting"), "{error}");
    assert!(recovered, "the watch did not come back");
    // And it sees changes again.
    wd.api.modify("virtualservices", "default", "reviews", |o| {
        o["spec"]["http"][0]["route"][0]["weight"] = 50.into();
        o["spec"]["http"][0]["route"][1]["weight"] = 50.into();
    });
    wd.settle().await;
    assert_eq!(wd.rollout("istio:default/reviews").canary_weight(), w(50));
}

#[tokio::test]
async fn a_kind_the_user_cannot_list_is_stale_and_the_others_still_show() {
    let vs = doc(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    );
    let split = doc(
        "smi/examples/spec-v1alpha4-trafficsplit-canary.no-apiversion.yaml",
        "TrafficSplit",
    );
    let wd = world(vec![vs, split], Options::default(), false, |api| {
        api.forbid_list("trafficsplits")
    })
    .await;
    assert!(wd.rollouts.contains_key(&RolloutKey::namespaced(
        aviary::domain::ProviderKind::Istio,
        "default",
        "reviews"
    )));
    assert!(
        !wd.rollouts
            .keys()
            .any(|k| k.provider == aviary::domain::ProviderKind::Smi)
    );
}

/// ingress-nginx: `w` on a canary Ingress is one JSON Patch on its `canary-weight`
/// annotation (a string), guarded by the resourceVersion and the old value; the primary
/// Ingress is never written; the new weight reads back from the watch.
#[tokio::test]
async fn nginx_canary_weight_is_one_annotation_patch() {
    let primary = doc(
        "ingress-nginx/examples/docs-canary-main-ingress.yaml",
        "Ingress",
    );
    let canary = doc(
        "ingress-nginx/examples/docs-canary-weighted-ingress.yaml",
        "Ingress",
    );
    let mut wd = world(vec![primary, canary], Options::default(), false, |_| {}).await;
    let r = wd.rollout("nginx:default/canary");
    assert_eq!(r.canary_weight(), w(50));
    assert_eq!(r.stable().unwrap().name, "production");
    let rv = r.version.clone().unwrap();
    let ok = wd
        .act("nginx:default/canary", Command::SetWeight(w(20)))
        .await
        .unwrap();
    assert_eq!(ok.canary_weight, Some(w(20)));
    let ws = wd.api.writes();
    let p = "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight";
    assert_write(
        &ws[0],
        "PATCH",
        "/apis/networking.k8s.io/v1/namespaces/default/ingresses/canary",
        JSONP,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": p, "value": "50"},
            {"op": "replace", "path": p, "value": "20"},
        ]),
    );
    assert!(
        ws.iter()
            .all(|r| !r.path.ends_with("/ingresses/production")),
        "{ws:#?}"
    );
    assert_eq!(wd.rollout("nginx:default/canary").canary_weight(), w(20));
}

/// OpenKruise: `n` on a Rollout paused at a step sends the approval its own tooling sends — a
/// merge patch of `currentStepState: StepReady` on the `/status` subresource of
/// `rollouts.kruise.io`, guarded by the resourceVersion the operator saw — and never touches
/// Argo's `rollouts` of the same name.
#[tokio::test]
async fn kruise_advance_approves_the_paused_step() {
    let kr = doc("openkruise/rollout-paused-step.yaml", "Rollout");
    let mut wd = world(vec![kr], Options::default(), false, |_| {}).await;
    let r = wd.rollout("kruise:default/rollouts-demo");
    assert_eq!(r.step, Some((1, 3)));
    let rv = r.version.clone().unwrap();
    wd.act("kruise:default/rollouts-demo", Command::Advance)
        .await
        .unwrap();
    let ws = wd.api.writes();
    assert_write(
        &ws[0],
        "PATCH",
        "/apis/rollouts.kruise.io/v1beta1/namespaces/default/rollouts/rollouts-demo/status",
        MERGE,
        json!({"status": {"canaryStatus": {"currentStepState": "StepReady"}},
               "metadata": {"resourceVersion": rv}}),
    );
    let now = wd
        .api
        .object_in("rollouts.kruise.io", "rollouts", "default", "rollouts-demo")
        .unwrap();
    assert_eq!(
        now["status"]["canaryStatus"]["currentStepState"],
        "StepReady"
    );
    assert!(
        wd.api
            .object_in("argoproj.io", "rollouts", "default", "rollouts-demo")
            .is_none()
    );
    // A second approval on the same view is refused: the step is no longer paused.
    let e = wd
        .act("kruise:default/rollouts-demo", Command::Advance)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("paused step"), "{e}");
}
