//! Every fixture object (public, unchanged copies under `tests/fixtures/`) converts into the
//! domain rollout an operator should see: key, owner, phase (and the controller's own text),
//! builds with weights, step i/N, message. Odd objects (no status, unknown fields, unknown
//! phases, wrong types) never panic and say what they could not read.

use crate::support;

use aviary::domain::{ActionKind, Controller, Owner, Phase, Role, Rollout};
use aviary::providers::kube::access::{Access, Permission};
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use kube::api::DynamicObject;

fn catalog(objs: &[(Kind, DynamicObject)]) -> Catalog {
    let mut c = Catalog::new(Options::default(), Access::all());
    for (k, o) in objs {
        c.apply(*k, o.clone());
    }
    c
}

fn all(c: &Catalog) -> Vec<Rollout> {
    c.rollouts().into_values().flatten().collect()
}

fn one(rel: &str, kind: Kind) -> Rollout {
    let c = catalog(&[(kind, support::object(rel, kind.name()))]);
    let mut v = all(&c);
    assert_eq!(v.len(), 1, "{rel}: {v:#?}");
    v.remove(0)
}

/// (stable name, stable %, canary name, canary %)
fn weights(r: &Rollout) -> (String, f64, String, f64) {
    let s = r.stable().expect("stable build");
    let c = r.canary().expect("canary build");
    (
        s.name.clone(),
        s.weight.percent(),
        c.name.clone(),
        c.weight.percent(),
    )
}

struct Case {
    file: &'static str,
    kind: Kind,
    key: &'static str,
    phase: Phase,
    phase_text: &'static str,
    stable: (&'static str, f64),
    canary: (&'static str, f64),
    step: Option<(u32, u32)>,
    message: &'static str,
}

fn check(c: &Case) {
    let r = one(c.file, c.kind);
    assert_eq!(r.key.to_string(), c.key, "{}", c.file);
    assert_eq!(r.phase, c.phase, "{}", c.file);
    assert_eq!(r.phase_text, c.phase_text, "{}", c.file);
    assert_eq!(
        weights(&r),
        (
            c.stable.0.to_string(),
            c.stable.1,
            c.canary.0.to_string(),
            c.canary.1
        ),
        "{}",
        c.file
    );
    assert_eq!(r.step, c.step, "{}", c.file);
    assert!(
        r.message.contains(c.message),
        "{}: message {:?} lacks {:?}",
        c.file,
        r.message,
        c.message
    );
    let owner = match c.kind {
        Kind::Rollout => Owner::Controller(Controller::Argo),
        Kind::Canary => Owner::Controller(Controller::Flagger),
        _ => Owner::Manual,
    };
    assert_eq!(r.owner, owner, "{}", c.file);
}

#[test]
fn argo_rollouts_with_status() {
    use Phase::*;
    let cases = [
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
            kind: Kind::Rollout,
            key: "argo:rollouts-demo/rollouts-demo",
            phase: Paused,
            phase_text: "Paused",
            stable: ("rollouts-demo-stable", 79.0),
            canary: ("rollouts-demo-desired", 21.0),
            step: Some((1, 8)),
            message: "CanaryPauseStep",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/canary/canary-rollout5.yaml",
            kind: Kind::Rollout,
            key: "argo:jesse-test/canary-demo-weights",
            phase: Failed,
            phase_text: "",
            stable: ("canary-demo-stable", 60.0),
            canary: ("canary-demo-preview", 20.0),
            step: Some((0, 8)),
            message: "timed out progressing",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/rollout-aborted/rollout.yaml",
            kind: Kind::Rollout,
            key: "argo:default/rollout-background-analysis",
            phase: Aborted,
            phase_text: "Aborted",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((0, 2)),
            message: "metric \"web\" assessed Failed",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/actions/aborted_rollout.yaml",
            kind: Kind::Rollout,
            key: "argo:argocd-e2e/basic",
            phase: Aborted,
            phase_text: "Aborted",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((0, 2)),
            message: "Rollout is aborted",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/actions/has_pause_condition_rollout.yaml",
            kind: Kind::Rollout,
            key: "argo:default/canary-demo",
            phase: Paused,
            phase_text: "",
            stable: ("stable", 60.0),
            canary: ("canary-demo-preview", 40.0),
            step: Some((1, 6)),
            message: "paused: CanaryPauseStep",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/actions/has_pause_condition_rollout_aborted.yaml",
            kind: Kind::Rollout,
            key: "argo:default/canary-demo",
            phase: Aborted,
            phase_text: "Aborted",
            stable: ("stable", 100.0),
            canary: ("canary-demo-preview", 0.0),
            step: Some((1, 6)),
            message: "aborted",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/actions/rollout-step1.yaml",
            kind: Kind::Rollout,
            key: "argo:rollout-test-custom-actions/rollouts-demo",
            phase: Paused,
            phase_text: "Paused",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((0, 2)),
            message: "CanaryPauseStep",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/actions/rollout-step1-after-skip-current-step.yaml",
            kind: Kind::Rollout,
            key: "argo:rollout-test-custom-actions/rollouts-demo",
            phase: Paused,
            phase_text: "Paused",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((1, 2)),
            message: "CanaryPauseStep",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/actions/v0.9_promote-full_rollout.yaml",
            kind: Kind::Rollout,
            key: "argo:default/rollout-canary",
            phase: Aborted,
            phase_text: "Aborted",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((2, 2)),
            message: "Rollout is aborted",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/bluegreen/healthy_servingActiveService.yaml",
            kind: Kind::Rollout,
            key: "argo:default/ks-guestbook-ui",
            phase: Idle,
            phase_text: "",
            stable: ("ks-guestbook-ui-active", 100.0),
            canary: ("ks-guestbook-ui-preview", 0.0),
            step: None,
            message: "",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/canary/healthy_executedAllSteps.yaml",
            kind: Kind::Rollout,
            key: "argo:default/guestbook-canary",
            phase: Succeeded,
            phase_text: "",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((4, 4)),
            message: "",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/canary/progressing_setWeightStep.yaml",
            kind: Kind::Rollout,
            key: "argo:default/example-rollout-canary",
            phase: Progressing,
            phase_text: "",
            stable: ("stable", 60.0),
            canary: ("canary", 40.0),
            step: Some((3, 4)),
            message: "",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/degraded_abortedRollout.yaml",
            kind: Kind::Rollout,
            key: "argo:default/canary-demo",
            phase: Aborted,
            phase_text: "Aborted",
            stable: ("stable", 100.0),
            canary: ("canary-demo-preview", 0.0),
            step: Some((0, 6)),
            message: "Rollout is aborted",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/degraded_invalidSpec.yaml",
            kind: Kind::Rollout,
            key: "argo:argocd-e2e/basic",
            phase: Failed,
            phase_text: "",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: None,
            message: "InvalidSpec: The Rollout \"basic\" is invalid",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/degraded_rolloutTimeout.yaml",
            kind: Kind::Rollout,
            key: "argo:default/guestbook-bluegreen-helm-guestbook",
            phase: Failed,
            phase_text: "",
            stable: ("guestbook-bluegreen-helm-guestbook", 100.0),
            canary: ("guestbook-bluegreen-helm-guestbook-preview", 0.0),
            step: None,
            message: "has timed out progressing",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/degraded_statusPhaseMessage.yaml",
            kind: Kind::Rollout,
            key: "argo:argocd-e2e/basic",
            phase: Failed,
            phase_text: "Degraded",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((2, 2)),
            message: "InvalidSpec",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/healthy_newWorkloadGeneration.yaml",
            kind: Kind::Rollout,
            key: "argo:default/rollout-ref-deployment",
            phase: Succeeded,
            phase_text: "Healthy",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((2, 2)),
            message: "",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/progressing_newGeneration.yaml",
            kind: Kind::Rollout,
            key: "argo:argocd-e2e/basic",
            // generation 2, observedGeneration 1: the status is about the old spec.
            phase: Progressing,
            phase_text: "",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((2, 2)),
            message: "waiting for the controller to observe generation 2",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/suspended_controllerPause.yaml",
            kind: Kind::Rollout,
            key: "argo:default/canary-demo",
            phase: Paused,
            phase_text: "",
            stable: ("stable", 80.0),
            canary: ("canary-demo-preview", 20.0),
            step: Some((1, 2)),
            message: "paused: CanaryPauseStep",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/suspended_userPause.yaml",
            kind: Kind::Rollout,
            key: "argo:default/example-rollout-canary",
            phase: Paused,
            phase_text: "",
            stable: ("stable", 80.0),
            canary: ("canary", 20.0),
            step: Some((1, 2)),
            message: "paused by spec.paused",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/blue-green/bluegreen-rollout.yaml",
            kind: Kind::Rollout,
            key: "argo:jesse-test/bluegreen-demo",
            phase: Paused,
            phase_text: "",
            stable: ("bluegreen-demo", 100.0),
            canary: ("bluegreen-demo-preview", 0.0),
            step: None,
            message: "paused: BlueGreenPause",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/canary/canary-rollout.yaml",
            kind: Kind::Rollout,
            key: "argo:jesse-test/canary-demo",
            phase: Failed,
            phase_text: "",
            stable: ("stable", 80.0),
            canary: ("canary-demo-preview", 20.0),
            step: Some((0, 8)),
            message: "timed out progressing",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/canary/canary-rollout4.yaml",
            kind: Kind::Rollout,
            key: "argo:jesse-test/canary-demo-pingpong",
            phase: Failed,
            phase_text: "",
            stable: ("stable", 80.0),
            canary: ("canary", 20.0),
            step: Some((0, 8)),
            message: "timed out progressing",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/experiment-analysis/rollout-experiment-analysis.yaml",
            kind: Kind::Rollout,
            key: "argo:jesse-test/rollout-experiment-analysis",
            // Argo checks the progress deadline before pause conditions.
            phase: Failed,
            phase_text: "",
            stable: ("stable", 75.0),
            canary: ("canary", 25.0),
            step: Some((1, 2)),
            message: "paused: InconclusiveAnalysisRun",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/experiment-step/canary-demo.yaml",
            kind: Kind::Rollout,
            key: "argo:jesse-test/canary-demo",
            phase: Progressing,
            phase_text: "",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((0, 1)),
            message: "",
        },
        Case {
            file: "argo-rollouts/objects/info-testdata/rollout-invalid/rollout-invalid.yaml",
            kind: Kind::Rollout,
            key: "argo:default/rollout-invalid",
            phase: Failed,
            phase_text: "",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: None,
            message: "`selector` does not match template `labels`",
        },
        Case {
            file: "argo-rollouts/objects/argo-cd-testdata/newRolloutWithoutStatus.yaml",
            kind: Kind::Rollout,
            key: "argo:argocd-e2e/basic",
            phase: Unknown("no status yet".into()),
            phase_text: "",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: Some((0, 2)),
            message: "has not reported a status",
        },
    ];
    for c in &cases {
        check(c);
    }
}

#[test]
fn argo_versions_hashes_and_refusals() {
    let r = one(
        "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
        Kind::Rollout,
    );
    assert_eq!(r.version.as_deref(), Some("4838641"));
    assert_eq!(r.stable().unwrap().version.as_deref(), Some("77f4f8ff97"));
    assert_eq!(r.canary().unwrap().version.as_deref(), Some("8566c77b97"));
    assert_eq!(r.canary().unwrap().selector, "rollouts-demo-8566c77b97");
    assert_eq!(r.desired_weight.unwrap().percent(), 21.0);
    assert!(
        r.capabilities
            .check(ActionKind::SetWeight)
            .unwrap_err()
            .contains("controller owns this route")
    );
    assert!(r.capabilities.check(ActionKind::Abort).is_ok());
    assert!(r.capabilities.check(ActionKind::Retry).is_err());
    assert!(r.last_transition.is_some());
}

#[test]
fn flagger_canaries() {
    use Phase::*;
    let cases = [
        Case {
            file: "flagger/status/canary-istio-progressing.assembled.yaml",
            kind: Kind::Canary,
            key: "flagger:test/podinfo",
            phase: Progressing,
            phase_text: "Progressing",
            stable: ("podinfo-primary", 90.0),
            canary: ("podinfo-canary", 10.0),
            step: Some((2, 10)),
            message: "New revision detected",
        },
        Case {
            file: "flagger/status/progressing.yaml",
            kind: Kind::Canary,
            key: "flagger:default/podinfo",
            phase: Progressing,
            phase_text: "Progressing",
            stable: ("podinfo-primary", 90.0),
            canary: ("podinfo-canary", 10.0),
            step: None,
            message: "progressing canary analysis",
        },
        Case {
            file: "flagger/status/failed.yaml",
            kind: Kind::Canary,
            key: "flagger:default/podinfo",
            phase: Failed,
            phase_text: "Failed",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: None,
            message: "Canary analysis failed",
        },
        Case {
            file: "flagger/status/finalising.yaml",
            kind: Kind::Canary,
            key: "flagger:default/podinfo",
            phase: Promoting,
            phase_text: "Finalising",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: None,
            message: "routing all traffic to primary",
        },
        Case {
            file: "flagger/status/initialized.yaml",
            kind: Kind::Canary,
            key: "flagger:default/podinfo",
            phase: Idle,
            phase_text: "Initialized",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: None,
            message: "Installation successful",
        },
        Case {
            file: "flagger/status/promoting.yaml",
            kind: Kind::Canary,
            key: "flagger:default/podinfo",
            phase: Promoting,
            phase_text: "Promoting",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: None,
            message: "starting primary rolling update",
        },
        Case {
            file: "flagger/status/succeeded.yaml",
            kind: Kind::Canary,
            key: "flagger:default/podinfo",
            phase: Succeeded,
            phase_text: "Succeeded",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: None,
            message: "promotion finished",
        },
        Case {
            file: "flagger/examples/canary-istio.yaml",
            kind: Kind::Canary,
            key: "flagger:test/podinfo",
            phase: Unknown("no status yet".into()),
            phase_text: "",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: Some((0, 10)),
            message: "has not reported a status",
        },
        Case {
            file: "flagger/examples/canary-linkerd-stepweights.yaml",
            kind: Kind::Canary,
            key: "flagger:test/podinfo",
            phase: Unknown("no status yet".into()),
            phase_text: "",
            stable: ("podinfo-primary", 100.0),
            canary: ("podinfo-canary", 0.0),
            step: Some((0, 11)),
            message: "",
        },
    ];
    for c in &cases {
        check(c);
    }
    // Router objects Flagger generates, by provider (and `gatewayRefs`).
    let r = one("flagger/examples/canary-gatewayapi.yaml", Kind::Canary);
    assert_eq!(r.router, "HTTPRoute test/podinfo");
    let r = one("flagger/examples/canary-linkerd.yaml", Kind::Canary);
    assert_eq!(r.router, "TrafficSplit test/podinfo");
    // ingress-nginx: Flagger writes the canary Ingress it generates, `<ingressRef>-canary`;
    // break-glass abort can route it to the primary (canary-weight 0).
    let r = one("flagger/examples/canary-nginx.yaml", Kind::Canary);
    assert_eq!(r.router, "Ingress test/podinfo-canary");
    assert!(r.capabilities.check(ActionKind::Abort).is_ok());
    let r = one(
        "flagger/status/canary-istio-progressing.assembled.yaml",
        Kind::Canary,
    );
    assert!(
        r.capabilities
            .check(ActionKind::Advance)
            .unwrap_err()
            .contains("--flagger-loadtester")
    );
    assert!(
        r.capabilities
            .check(ActionKind::SetWeight)
            .unwrap_err()
            .contains("controller owns this route")
    );
    assert!(r.capabilities.check(ActionKind::Abort).is_ok());
    assert_eq!(r.version.as_deref(), Some("2268395"));
}

#[test]
fn flagger_status_fragment_without_phase_reads_the_condition() {
    let mut v =
        support::docs("flagger/status/docs-how-it-works-succeeded.status-fragment.yaml").remove(0);
    v["apiVersion"] = "flagger.app/v1beta1".into();
    v["kind"] = "Canary".into();
    v["metadata"] = serde_json::json!({"name": "podinfo", "namespace": "test"});
    let o: DynamicObject = serde_json::from_value(v).unwrap();
    let r = all(&catalog(&[(Kind::Canary, o)])).remove(0);
    assert_eq!(r.phase, Phase::Succeeded);
    assert_eq!(r.phase_text, "");
    assert!(r.message.contains("promotion finished"));
}

#[test]
fn raw_routers_split_by_weight() {
    use Phase::Idle;
    let cases = [
        Case {
            file: "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
            kind: Kind::VirtualService,
            key: "istio:default/reviews",
            phase: Idle,
            phase_text: "weighted",
            stable: ("v1", 80.0),
            canary: ("v2", 20.0),
            step: None,
            message: "no controller",
        },
        Case {
            file: "istio/examples/bookinfo-virtual-service-reviews-90-10.yaml",
            kind: Kind::VirtualService,
            key: "istio:default/reviews",
            phase: Idle,
            phase_text: "weighted",
            stable: ("v1", 90.0),
            canary: ("v2", 10.0),
            step: None,
            message: "",
        },
        Case {
            file: "istio/examples/bookinfo-virtual-service-reviews-50-v3.yaml",
            kind: Kind::VirtualService,
            key: "istio:default/reviews",
            phase: Idle,
            phase_text: "weighted",
            stable: ("v1", 50.0),
            canary: ("v3", 50.0),
            step: None,
            message: "",
        },
        Case {
            file: "istio/examples/bookinfo-virtual-service-reviews-v2-v3.yaml",
            kind: Kind::VirtualService,
            key: "istio:default/reviews",
            phase: Idle,
            phase_text: "weighted",
            stable: ("v2", 50.0),
            canary: ("v3", 50.0),
            step: None,
            message: "",
        },
        Case {
            file: "istio/examples/argo-rollouts-docs-virtualservice-subset.yaml",
            kind: Kind::VirtualService,
            key: "istio:default/rollout-vsvc",
            phase: Idle,
            phase_text: "weighted",
            stable: ("stable", 100.0),
            canary: ("canary", 0.0),
            step: None,
            message: "",
        },
        Case {
            file: "istio/examples/argo-rollouts-docs-virtualservice-host.yaml",
            kind: Kind::VirtualService,
            key: "istio:default/rollout-vsvc",
            phase: Idle,
            phase_text: "weighted",
            stable: ("stable-svc", 100.0),
            canary: ("canary-svc", 0.0),
            step: None,
            message: "",
        },
        Case {
            file: "gateway-api/examples/simple-split.yaml",
            kind: Kind::HttpRoute,
            key: "httproute:default/simple-split",
            phase: Idle,
            phase_text: "weighted",
            stable: ("foo-v1", 90.0),
            canary: ("foo-v2", 10.0),
            step: None,
            message: "",
        },
        Case {
            file: "gateway-api/examples/traffic-split-2.yaml",
            kind: Kind::HttpRoute,
            key: "httproute:default/foo-route",
            phase: Idle,
            phase_text: "weighted",
            stable: ("foo-v1", 90.0),
            canary: ("foo-v2", 10.0),
            step: None,
            message: "",
        },
        Case {
            file: "gateway-api/examples/traffic-split-3.yaml",
            kind: Kind::HttpRoute,
            key: "httproute:default/foo-route",
            phase: Idle,
            phase_text: "weighted",
            stable: ("foo-v1", 0.0),
            canary: ("foo-v2", 100.0),
            step: None,
            message: "",
        },
        Case {
            file: "argo-rollouts/examples/rollout-plugin-gatewayapi-httproute.yaml",
            kind: Kind::HttpRoute,
            key: "httproute:default/argo-rollouts-http-route",
            phase: Idle,
            phase_text: "weighted",
            stable: ("argo-rollouts-stable-service", 50.0),
            canary: ("argo-rollouts-canary-service", 50.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/argo-rollouts-docs-trafficsplit.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/rollout-example-traffic-split",
            phase: Idle,
            phase_text: "weighted",
            stable: ("stable-svc", 95.0),
            canary: ("canary-svc", 5.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/argo-rollouts-generated-trafficsplit-0.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/rollouts-demo",
            phase: Idle,
            phase_text: "weighted",
            stable: ("rollouts-demo-stable", 100.0),
            canary: ("rollouts-demo-canary", 0.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/argo-rollouts-generated-trafficsplit-5.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/rollouts-demo",
            phase: Idle,
            phase_text: "weighted",
            stable: ("rollouts-demo-stable", 95.0),
            canary: ("rollouts-demo-canary", 5.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/spec-v1alpha1-trafficsplit-rollout.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/foobar-rollout",
            phase: Idle,
            phase_text: "weighted",
            stable: ("foobar-v1", 100.0),
            canary: ("foobar-v2", 0.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/spec-v1alpha2-trafficsplit.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/my-trafficsplit",
            phase: Idle,
            phase_text: "weighted",
            stable: ("my-website-v1", 50.0),
            canary: ("my-website-v2", 50.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/spec-v1alpha4-trafficsplit-canary.no-apiversion.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/canary",
            phase: Idle,
            phase_text: "weighted",
            stable: ("website-v1", 90.0),
            canary: ("website-v2", 10.0),
            step: None,
            message: "",
        },
        Case {
            file: "smi/examples/spec-v1alpha4-trafficsplit-abtest-httproutegroup.no-apiversion.yaml",
            kind: Kind::TrafficSplit,
            key: "smi:default/ab-test",
            phase: Idle,
            phase_text: "weighted",
            stable: ("website-v1", 0.0),
            canary: ("website-v2", 100.0),
            step: None,
            message: "",
        },
    ];
    for c in &cases {
        check(c);
    }
    // Raw routers are Manual by default: weight keys work, stepping keys say why not.
    let r = one(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        Kind::VirtualService,
    );
    assert!(r.capabilities.check(ActionKind::SetWeight).is_ok());
    assert!(
        r.capabilities
            .check(ActionKind::Pause)
            .unwrap_err()
            .contains("--autopilot")
    );
    assert_eq!(r.router, "VirtualService default/reviews http[0]");
}

#[test]
fn smi_quantities_and_three_way_splits() {
    let r = one(
        "smi/examples/spec-v1alpha1-trafficsplit-quantity-weights.yaml",
        Kind::TrafficSplit,
    );
    // 10m : 100m : 1500m of 1610m.
    let w: Vec<(Role, f64)> = r
        .builds
        .iter()
        .map(|b| (b.role.clone(), b.weight.percent()))
        .collect();
    assert_eq!(
        w,
        vec![
            (Role::Stable, 0.62),
            (Role::Canary, 6.21),
            (Role::Other("three".into()), 93.17)
        ]
    );
    assert!(
        r.capabilities
            .check(ActionKind::SetWeight)
            .unwrap_err()
            .contains("not a two-way split")
    );
}

#[test]
fn single_destination_and_header_routes_are_not_rollouts() {
    for f in [
        "istio/examples/bookinfo-virtual-service-all-v1.yaml",
        "istio/examples/bookinfo-virtual-service-reviews-jason-v2-v3.yaml",
        "gateway-api/examples/simple-gateway-httproute.yaml",
        "gateway-api/examples/traffic-split-1.yaml",
    ] {
        let kind = if f.starts_with("istio") {
            Kind::VirtualService
        } else {
            Kind::HttpRoute
        };
        let objs: Vec<_> = support::objects(f, kind.name())
            .into_iter()
            .map(|o| (kind, o))
            .collect();
        assert!(!objs.is_empty(), "{f}");
        assert!(all(&catalog(&objs)).is_empty(), "{f}");
    }
}

#[test]
fn gateway_api_status_objects_parse() {
    for f in [
        "gateway-api/objects/argo-cd-httproute-degraded_accepted.yaml",
        "gateway-api/objects/argo-cd-httproute-degraded_resolved_refs.yaml",
        "gateway-api/objects/argo-cd-httproute-healthy.yaml",
        "gateway-api/objects/argo-cd-httproute-healthy_multiple_generations.yaml",
        "gateway-api/objects/argo-cd-httproute-progressing.yaml",
    ] {
        let objs: Vec<_> = support::objects(f, "HTTPRoute")
            .into_iter()
            .map(|o| (Kind::HttpRoute, o))
            .collect();
        assert_eq!(objs.len(), 1, "{f}");
        // Single-backend rules: watched, not a split; must not panic.
        let _ = all(&catalog(&objs));
    }
}

#[test]
fn routers_owned_by_a_controller_are_shown_under_it() {
    // The Argo example: Service + VS + DestinationRule + Rollout; only the Rollout shows.
    let f = "argo-rollouts/examples/rollout-istio-subset-split.yaml";
    let c = catalog(&[
        (Kind::VirtualService, support::object(f, "VirtualService")),
        (Kind::Rollout, support::object(f, "Rollout")),
    ]);
    let rs = all(&c);
    assert_eq!(rs.len(), 1, "{rs:#?}");
    assert_eq!(rs[0].key.to_string(), "argo:default/istio-subset-split");
    assert_eq!(
        rs[0].router,
        "VirtualService default/istio-subset-split-vsvc"
    );
    // The same VS without its Rollout is a raw route again.
    let c = catalog(&[(Kind::VirtualService, support::object(f, "VirtualService"))]);
    assert_eq!(
        all(&c)[0].key.to_string(),
        "istio:default/istio-subset-split-vsvc"
    );

    // SMI: trafficSplitName; Gateway API plugin: httpRoute.
    let c = catalog(&[
        (
            Kind::Rollout,
            support::object(
                "argo-rollouts/objects/info-testdata/canary/canary-rollout5.yaml",
                "Rollout",
            ),
        ),
        (
            Kind::HttpRoute,
            support::object(
                "argo-rollouts/examples/rollout-plugin-gatewayapi-httproute.yaml",
                "HTTPRoute",
            ),
        ),
        (
            Kind::Rollout,
            support::object(
                "argo-rollouts/examples/rollout-plugin-gatewayapi.yaml",
                "Rollout",
            ),
        ),
    ]);
    assert!(
        all(&c)
            .iter()
            .all(|r| r.key.provider == aviary::domain::ProviderKind::Argo)
    );

    // Flagger's generated VS carries an ownerReference to its Canary.
    let c = catalog(&[(
        Kind::VirtualService,
        support::object(
            "istio/examples/flagger-generated-virtualservice-frontend.yaml",
            "VirtualService",
        ),
    )]);
    assert!(all(&c).is_empty());
    // Flagger's backend VS has no ownerReference but is named after the Canary's service.
    let backend = support::object(
        "istio/examples/flagger-generated-virtualservice-backend.yaml",
        "VirtualService",
    );
    let canary = support::object("flagger/examples/canary-istio.yaml", "Canary");
    let mut backend_in_test = backend.clone();
    backend_in_test.metadata.namespace = Some("test".into());
    backend_in_test.metadata.name = Some("podinfo".into());
    let c = catalog(&[
        (Kind::VirtualService, backend_in_test),
        (Kind::Canary, canary),
    ]);
    let rs = all(&c);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].key.to_string(), "flagger:test/podinfo");
}

#[test]
fn rbac_denials_refuse_actions_with_the_reason() {
    let mut access = Access::all();
    access.deny(Permission::patch(Kind::Rollout, Some("status")), "");
    access.deny(
        Permission::patch(Kind::VirtualService, None),
        "no RBAC policy matched",
    );
    let mut c = Catalog::new(Options::default(), access);
    c.apply(
        Kind::Rollout,
        support::object(
            "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
            "Rollout",
        ),
    );
    c.apply(
        Kind::VirtualService,
        support::object(
            "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
            "VirtualService",
        ),
    );
    let rs = c.rollouts();
    let argo = &rs[&Kind::Rollout][0];
    assert_eq!(
        argo.capabilities.check(ActionKind::Abort).unwrap_err(),
        "forbidden by RBAC: cannot patch rollouts/status.argoproj.io"
    );
    assert!(argo.capabilities.check(ActionKind::Pause).is_ok());
    let vs = &rs[&Kind::VirtualService][0];
    assert_eq!(
        vs.capabilities.check(ActionKind::SetWeight).unwrap_err(),
        "forbidden by RBAC: cannot patch virtualservices.networking.istio.io (no RBAC policy matched)"
    );
}

#[test]
fn autopilot_opt_in_owns_raw_routers() {
    let mut c = Catalog::new(
        Options {
            raw_owner: Owner::Autopilot,
            ..Options::default()
        },
        Access::all(),
    );
    c.apply(
        Kind::HttpRoute,
        support::object("gateway-api/examples/simple-split.yaml", "HTTPRoute"),
    );
    let r = all(&c).remove(0);
    assert_eq!(r.owner, Owner::Autopilot);
    assert!(r.capabilities.check(ActionKind::Pause).is_ok());
}

fn obj(v: serde_json::Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

#[test]
fn odd_objects_never_panic() {
    use serde_json::json;
    let odd = [
        (
            Kind::Rollout,
            json!({"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"x","namespace":"n"},"status":{"phase":"Exploding","futureField":{"a":1}}}),
        ),
        (
            Kind::Rollout,
            json!({"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"y"},"spec":"not an object"}),
        ),
        (
            Kind::Rollout,
            json!({"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"z"},"spec":{"strategy":{"canary":{"steps":[{"setWeight":"abc"},{"pause":1}]}}},"status":{"currentStepIndex":-3,"canary":{"weights":{"canary":{"weight":"much"}}}}}),
        ),
        (
            Kind::Canary,
            json!({"apiVersion":"flagger.app/v1beta1","kind":"Canary","metadata":{"name":"c"},"status":{"phase":"Quantum","canaryWeight":250}}),
        ),
        (
            Kind::Canary,
            json!({"apiVersion":"flagger.app/v1beta1","kind":"Canary","metadata":{"name":"d"},"spec":{"analysis":{"stepWeight":0,"maxWeight":50}}}),
        ),
        (
            Kind::VirtualService,
            json!({"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"v"},"spec":{"http":[{"route":[{"destination":{}},{"weight":"x"}]}, "junk"]}}),
        ),
        (
            Kind::HttpRoute,
            json!({"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"h"},"spec":{"rules":{"not":"a list"}}}),
        ),
        (
            Kind::TrafficSplit,
            json!({"apiVersion":"split.smi-spec.io/v1alpha1","kind":"TrafficSplit","metadata":{"name":"t"},"spec":{"backends":[{"service":"a","weight":"-5"},{"service":"b","weight":"0m"}]}}),
        ),
    ];
    let objs: Vec<_> = odd.into_iter().map(|(k, v)| (k, obj(v))).collect();
    let rs = all(&catalog(&objs));
    let by = |k: &str| {
        rs.iter()
            .find(|r| r.key.to_string() == k)
            .unwrap_or_else(|| panic!("{k}: {rs:#?}"))
    };
    assert_eq!(by("argo:n/x").phase, Phase::Unknown("Exploding".into()));
    assert_eq!(by("argo:n/x").phase_text, "Exploding");
    assert!(
        by("argo:default/y")
            .message
            .contains("cannot read this Rollout")
    );
    assert_eq!(
        by("argo:default/z").canary_weight(),
        aviary::domain::Weight::ZERO
    );
    assert_eq!(
        by("flagger:default/c").phase,
        Phase::Unknown("Quantum".into())
    );
    assert_eq!(by("flagger:default/c").canary_weight().percent(), 100.0);
    assert!(by("smi:default/t").message.contains("every weight is 0"));
}

#[test]
fn objects_with_several_weighted_routes_give_one_rollout_each() {
    use aviary::domain::Weight;
    use aviary::providers::kube::split;
    let vs = obj(serde_json::json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "shop", "namespace": "web", "resourceVersion": "7"},
        "spec": {"http": [
            {"name": "api", "route": [
                {"destination": {"host": "api", "subset": "v1"}, "weight": 70},
                {"destination": {"host": "api", "subset": "v2"}, "weight": 30}]},
            {"route": [{"destination": {"host": "static"}}]},
            {"route": [
                {"destination": {"host": "web-stable"}, "weight": 100},
                {"destination": {"host": "web-canary"}}]}
        ]}
    }));
    let c = catalog(&[(Kind::VirtualService, vs)]);
    let keys: Vec<String> = all(&c).iter().map(|r| r.key.to_string()).collect();
    assert_eq!(keys, vec!["istio:web/shop#api", "istio:web/shop#2"]);
    let key = all(&c)
        .into_iter()
        .find(|r| r.key.name == "shop#2")
        .unwrap()
        .key;
    let (kind, o, s) = c.split_for(&key).unwrap();
    let patch =
        split::weight_patch(kind, &o, &s, Weight::from_whole(10).unwrap(), Some("7")).unwrap();
    assert_eq!(
        patch,
        serde_json::json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "test", "path": "/spec/http/2/route/0/weight", "value": 100},
            {"op": "replace", "path": "/spec/http/2/route/0/weight", "value": 90},
            {"op": "add", "path": "/spec/http/2/route/1/weight", "value": 10},
        ])
    );
}

/// `spec: null` and `status: null` (an object written before its first reconcile, or by a
/// tool that nulls what it does not set) read the same way for both controllers: shown, not
/// an error that hides the row.
#[test]
fn null_spec_and_status_read_alike_for_argo_and_flagger() {
    for kind in [Kind::Rollout, Kind::Canary] {
        let (api, plural) = match kind {
            Kind::Rollout => ("argoproj.io/v1alpha1", "Rollout"),
            _ => ("flagger.app/v1beta1", "Canary"),
        };
        let obj: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": api, "kind": plural,
            "metadata": {"name": "web", "namespace": "shop", "resourceVersion": "1"},
            "spec": null, "status": null
        }))
        .unwrap();
        let c = catalog(&[(kind, obj)]);
        let v = all(&c);
        assert_eq!(v.len(), 1, "{plural}: {v:#?}");
        assert!(
            !v[0].message.contains("spec:"),
            "{plural}: {}",
            v[0].message
        );
    }
}

/// The router refuses on its own what the screen refuses: a weight on a three-way split (the
/// SMI fixture's third backend would keep its share, so the canary would not get what was
/// asked) and an `add` into a destination that is not an object.
#[test]
fn weight_patches_refuse_three_way_splits_and_non_object_destinations() {
    use aviary::domain::Weight;
    use aviary::providers::kube::split;
    let w = Weight::from_whole(1).unwrap();
    let three = support::object(
        "smi/examples/spec-v1alpha1-trafficsplit-quantity-weights.yaml",
        "TrafficSplit",
    );
    let c = catalog(&[(Kind::TrafficSplit, three)]);
    let key = all(&c)[0].key.clone();
    let (kind, o, s) = c.split_for(&key).unwrap();
    let e = split::weight_patch(kind, &o, &s, w, None).unwrap_err();
    assert!(
        e.contains("not a two-way split") && e.contains("three"),
        "{e}"
    );

    let vs = obj(serde_json::json!({
        "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
        "metadata": {"name": "shop", "namespace": "web", "resourceVersion": "7"},
        "spec": {"http": [{"route": [
            {"destination": {"host": "web-stable"}, "weight": 100},
            [null, null]]}]}
    }));
    let c = catalog(&[(Kind::VirtualService, vs)]);
    let r = all(&c)
        .into_iter()
        .next()
        .expect("the route is still shown");
    let (kind, o, s) = c.split_for(&r.key).unwrap();
    let e = split::weight_patch(kind, &o, &s, w, Some("7")).unwrap_err();
    assert!(e.contains("is not an object"), "{e}");
}
