//! OpenKruise Rollouts as aviary reads them and steers them, from fixtures written from the
//! project's published v1beta1 API and docs (tests/fixtures/openkruise/SOURCES.md): the
//! rollout shown (phase, step, weight, plan), the approval patch its own tooling sends, and
//! the refusals.

use crate::support;

use aviary::domain::change::Command;
use aviary::domain::{ActionKind, Controller, Owner, Phase, Rollout};
use aviary::providers::kruise;
use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use aviary::providers::kube::patch::{Body, Step};
use kube::api::DynamicObject;
use serde_json::json;

fn object(rel: &str) -> DynamicObject {
    let mut o = support::object(rel, "Rollout");
    o.metadata.resource_version = Some("12".into());
    o
}

fn one(rel: &str) -> Rollout {
    let mut c = Catalog::new(Options::default(), Access::all());
    c.apply(Kind::KruiseRollout, object(rel));
    let mut v = c.rollouts().remove(&Kind::KruiseRollout).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

#[test]
fn a_paused_step_waits_for_a_human_with_its_traffic() {
    let r = one("openkruise/rollout-paused-step.yaml");
    assert_eq!(r.key.to_string(), "kruise:default/rollouts-demo");
    assert_eq!(r.owner, Owner::Controller(Controller::Kruise));
    assert_eq!(r.phase, Phase::AwaitingPromotion);
    assert_eq!(r.phase_text, "Progressing · StepPaused");
    assert_eq!(r.step, Some((1, 3)));
    assert_eq!(r.canary().unwrap().weight.percent(), 20.0);
    assert_eq!(r.stable().unwrap().name, "workload-demo");
    assert!(
        r.message
            .starts_with("step 1: traffic 20%, replicas 1, pause until approved"),
        "{}",
        r.message
    );
    assert!(r.message.contains("canary pods 1/1 ready"), "{}", r.message);
    assert_eq!(r.router, "Ingress default/ingress-demo-canary");
    assert!(r.capabilities.check(ActionKind::Advance).is_ok());
    assert!(r.capabilities.check(ActionKind::Promote).is_ok());
    let abort = r.capabilities.check(ActionKind::Abort).unwrap_err();
    assert!(
        abort.contains("no abort") && abort.contains("rollout undo"),
        "{abort}"
    );
    assert!(
        r.capabilities
            .check(ActionKind::SetWeight)
            .unwrap_err()
            .contains("controller owns this route")
    );
    assert_eq!(
        kruise::plan_lines(&object("openkruise/rollout-paused-step.yaml")),
        vec![
            "traffic 20%, replicas 1, pause until approved",
            "traffic 50%, replicas 50%, pause 60s",
            "traffic 100%, replicas 100%",
        ]
    );
}

#[test]
fn an_ab_step_names_its_match_and_cannot_be_approved_before_it_pauses() {
    let r = one("openkruise/rollout-ab-headers.yaml");
    assert_eq!(r.phase, Phase::Progressing);
    assert!(
        r.message.contains("match user-agent=Andriod"),
        "{}",
        r.message
    );
    assert_eq!(r.router, "HTTPRoute default/http-route-demo");
    let why = r.capabilities.check(ActionKind::Advance).unwrap_err();
    assert!(why.contains("StepTrafficRouting"), "{why}");
    let e = kruise::patches(
        &object("openkruise/rollout-ab-headers.yaml"),
        Command::Advance,
        None,
    )
    .unwrap_err();
    assert!(e.contains("paused step"), "{e}");
}

#[test]
fn a_finished_rollout_reads_succeeded_with_no_canary_traffic() {
    let r = one("openkruise/rollout-healthy.yaml");
    assert_eq!(r.phase, Phase::Succeeded);
    assert_eq!(r.canary_weight().percent(), 0.0);
    assert_eq!(r.step, Some((2, 2)));
}

fn body(s: &Step) -> (bool, serde_json::Value) {
    match s {
        Step::Patch(p) => match &p.body {
            Body::Merge(v) => (p.status, v.clone()),
            Body::Json(v) => panic!("json patch {v}"),
        },
        Step::Gate { .. } => panic!("gate"),
    }
}

#[test]
fn approve_and_promote_patch_the_step_state_on_the_status_subresource() {
    let obj = object("openkruise/rollout-paused-step.yaml");
    let n = kruise::patches(&obj, Command::Advance, Some("12")).unwrap();
    assert_eq!(
        body(&n[0]),
        (
            true,
            json!({"status": {"canaryStatus": {"currentStepState": "StepReady"}},
                   "metadata": {"resourceVersion": "12"}})
        )
    );
    let p = kruise::patches(&obj, Command::Promote, Some("12")).unwrap();
    assert_eq!(
        body(&p[0]).1["status"]["canaryStatus"],
        json!({"currentStepState": "StepReady", "nextStepIndex": 3})
    );
    let pause = kruise::patches(&obj, Command::Pause, None).unwrap();
    assert_eq!(
        body(&pause[0]),
        (false, json!({"spec": {"strategy": {"paused": true}}}))
    );
    assert!(kruise::patches(&obj, Command::Abort, None).is_err());
}

/// An Ingress OpenKruise generated (`<ingress>-canary`) is shown under its Rollout, not as a
/// raw canary of its own.
#[test]
fn its_canary_ingress_stays_under_it() {
    let mut c = Catalog::new(Options::default(), Access::all());
    c.apply(
        Kind::KruiseRollout,
        object("openkruise/rollout-paused-step.yaml"),
    );
    let ing: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": "ingress-demo-canary", "namespace": "default", "resourceVersion": "3",
            "annotations": {"nginx.ingress.kubernetes.io/canary": "true",
                            "nginx.ingress.kubernetes.io/canary-weight": "20"}},
        "spec": {"rules": [{"host": "demo", "http": {"paths": [{"path": "/",
            "backend": {"service": {"name": "service-demo-canary"}}}]}}]}
    }))
    .unwrap();
    c.apply(Kind::Ingress, ing);
    assert!(c.rollouts().remove(&Kind::Ingress).unwrap().is_empty());
}
