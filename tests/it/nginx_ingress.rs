//! ingress-nginx canary Ingresses as aviary reads and writes them, from the fixture objects
//! (the upstream docs' primary + canary pair, Argo's generated canary, and a header/cookie
//! canary built from the documented annotations): the rollout shown, the exact JSON Patch a
//! `w` sends, and the refusals.

use crate::support;

use aviary::domain::{ActionKind, Owner, Role, Rollout, Weight};
use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use aviary::providers::nginx;
use kube::api::DynamicObject;
use serde_json::json;

fn catalog(files: &[&str]) -> Catalog {
    let mut c = Catalog::new(Options::default(), Access::all());
    for f in files {
        for d in support::docs(f) {
            let kind = match d["kind"].as_str() {
                Some("Ingress") => Kind::Ingress,
                Some("Rollout") => Kind::Rollout,
                _ => continue,
            };
            let mut obj: DynamicObject = serde_json::from_value(d).unwrap();
            if obj.metadata.resource_version.is_none() {
                obj.metadata.resource_version = Some("7".into());
            }
            c.apply(kind, obj);
        }
    }
    c
}

fn ingress_rollouts(c: &Catalog) -> Vec<Rollout> {
    c.rollouts().remove(&Kind::Ingress).unwrap_or_default()
}

const DOCS: [&str; 2] = [
    "ingress-nginx/examples/docs-canary-main-ingress.yaml",
    "ingress-nginx/examples/docs-canary-weighted-ingress.yaml",
];

#[test]
fn the_docs_pair_is_one_rollout_at_fifty_percent() {
    let c = catalog(&DOCS);
    let v = ingress_rollouts(&c);
    assert_eq!(v.len(), 1, "{v:#?}");
    let r = &v[0];
    assert_eq!(r.key.to_string(), "nginx:default/canary");
    assert_eq!(r.owner, Owner::Manual);
    let s = r.stable().unwrap();
    let k = r.canary().unwrap();
    assert_eq!((s.name.as_str(), s.weight.percent()), ("production", 50.0));
    assert_eq!((k.name.as_str(), k.weight.percent()), ("canary", 50.0));
    assert_eq!(s.role, Role::Stable);
    assert!(r.router.contains("Ingress default/canary"), "{}", r.router);
    assert!(r.capabilities.check(ActionKind::SetWeight).is_ok());
}

#[test]
fn header_and_cookie_routing_are_shown_and_the_total_is_honoured() {
    let c = catalog(&["ingress-nginx/aviary/header-canary.yaml"]);
    let v = ingress_rollouts(&c);
    assert_eq!(v.len(), 1, "{v:#?}");
    let r = &v[0];
    assert_eq!(r.canary().unwrap().weight.percent(), 12.5);
    assert_eq!(r.stable().unwrap().name, "shop-v1");
    assert!(
        r.message.contains("header X-Canary: always")
            && r.message.contains("cookie canary: always"),
        "{}",
        r.message
    );
}

#[test]
fn a_canary_generated_by_argo_stays_under_its_rollout() {
    let c = catalog(&[
        "argo-rollouts/examples/rollout-nginx.yaml",
        "argo-rollouts/examples/generated-nginx-canary-ingress.yaml",
    ]);
    assert!(
        ingress_rollouts(&c).is_empty(),
        "{:#?}",
        ingress_rollouts(&c)
    );
    let argo = c.rollouts().remove(&Kind::Rollout).unwrap();
    assert_eq!(argo.len(), 1);
    assert!(
        argo[0]
            .router
            .contains("rollouts-demo-rollouts-demo-stable-canary"),
        "{}",
        argo[0].router
    );
}

fn set_weight(c: &Catalog, key: &str, pct: f64) -> Result<serde_json::Value, String> {
    let r = ingress_rollouts(c)
        .into_iter()
        .find(|r| r.key.to_string() == key)
        .unwrap();
    let (_, obj, s) = c.split_for(&r.key).unwrap();
    let w = Weight::from_percent(pct).unwrap();
    nginx::weight_patch(&obj, &s, w, r.version.as_deref())
}

#[test]
fn a_weight_write_touches_only_the_canary_weight_annotation() {
    let c = catalog(&DOCS);
    let ops = set_weight(&c, "nginx:default/canary", 20.0).unwrap();
    let p = "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight";
    assert_eq!(
        ops,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "test", "path": p, "value": "50"},
            {"op": "replace", "path": p, "value": "20"},
        ])
    );
    // Out of 1000, 12.5 % is exactly 125.
    let c = catalog(&["ingress-nginx/aviary/header-canary.yaml"]);
    let ops = set_weight(&c, "nginx:shop/shop-canary", 30.0).unwrap();
    assert_eq!(ops[2]["value"], "300");
    assert_eq!(ops[0]["value"], "41");
}

#[test]
fn a_weight_the_annotation_cannot_hold_is_refused_before_any_dialog() {
    let e = aviary::domain::weight::validate_for(
        aviary::domain::ProviderKind::Nginx,
        Weight::from_percent(12.5).unwrap(),
    )
    .unwrap_err();
    assert!(e.contains("ingress-nginx"), "{e}");
    let c = catalog(&DOCS);
    assert!(set_weight(&c, "nginx:default/canary", 12.5).is_err());
}
