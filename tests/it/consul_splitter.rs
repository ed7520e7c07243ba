//! consul-k8s `ServiceSplitter` objects (`consul.hashicorp.com/v1alpha1`) as `aviary kube`
//! reads and writes them, from the Consul docs' Kubernetes examples, consul-k8s's acceptance
//! fixture and the Argo Rollouts Consul plugin's own test resources (tests/fixtures/consul,
//! SOURCES.md).
//!
//! The plugin (`hashicorp/consul`) rewrites the ServiceSplitter named by its `serviceName` on
//! every step, so that splitter is shown under the Rollout, not as a raw route, and `w` is
//! refused there as for Argo's built-in routers. A splitter nobody drives is a raw router: `w`
//! is one JSON Patch that tests the resourceVersion and the old weights.
//!
//! The binary-level test runs the real `aviary` against `support::fake_api`, the local stand-in
//! for the Kubernetes API (no API server can run here; see its doc comment).

use crate::support;

use aviary::domain::{ActionKind, Owner, Role, Rollout, Weight};
use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use aviary::providers::kube::split;
use kube::api::DynamicObject;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use support::fake_api::FakeApi;

const PLUGIN_ROLLOUT: &str = "consul/argo-plugin/canary_rollout.yaml";
const PLUGIN_SPLITTER: &str = "consul/argo-plugin/service_splitter.yaml";
const TWO_SUBSETS: &str = "consul/config-entries/service-splitter-two-subsets.k8s.yaml";
const TWO_SERVICES: &str = "consul/config-entries/service-splitter-two-services.k8s.yaml";
const ACCEPTANCE: &str = "consul/k8s-examples/consul-k8s-acceptance-servicesplitter.yaml";

fn catalog(files: &[&str]) -> Catalog {
    let mut c = Catalog::new(Options::default(), Access::all());
    for f in files {
        for d in support::docs(f) {
            let kind = match d["kind"].as_str() {
                Some("ServiceSplitter") => Kind::ServiceSplitter,
                Some("Rollout") => Kind::Rollout,
                _ => continue,
            };
            let mut obj: DynamicObject = serde_json::from_value(d).unwrap();
            obj.metadata.resource_version = Some("7".into());
            c.apply(kind, obj);
        }
    }
    c
}

fn splitters(c: &Catalog) -> Vec<Rollout> {
    c.rollouts()
        .remove(&Kind::ServiceSplitter)
        .unwrap_or_default()
}

fn weights(r: &Rollout) -> Vec<(String, Role, f64)> {
    r.builds
        .iter()
        .map(|b| (b.name.clone(), b.role.clone(), b.weight.percent()))
        .collect()
}

#[test]
fn the_splitter_an_argo_consul_plugin_rollout_names_is_shown_under_it_and_w_is_refused() {
    let c = catalog(&[PLUGIN_ROLLOUT, PLUGIN_SPLITTER]);
    assert!(splitters(&c).is_empty(), "{:#?}", splitters(&c));
    let argo = c.rollouts().remove(&Kind::Rollout).unwrap();
    assert_eq!(argo.len(), 1);
    let r = &argo[0];
    assert_eq!(r.key.to_string(), "argo:default/static-server");
    assert_eq!(r.router, "ServiceSplitter default/static-server");
    let why = r.capabilities.check(ActionKind::SetWeight).unwrap_err();
    assert!(why.contains("controller owns this route"), "{why}");
    // Without the Rollout the same splitter is a raw route of its own.
    let c = catalog(&[PLUGIN_SPLITTER]);
    let v = splitters(&c);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].key.to_string(), "consul:default/static-server");
    assert_eq!(
        weights(&v[0]),
        vec![
            ("stable".into(), Role::Stable, 100.0),
            ("canary".into(), Role::Canary, 0.0)
        ]
    );
}

#[test]
fn unowned_splitters_are_raw_routers_with_their_weights() {
    let c = catalog(&[TWO_SUBSETS]);
    let v = splitters(&c);
    assert_eq!(v.len(), 1, "{v:#?}");
    let r = &v[0];
    assert_eq!(r.key.to_string(), "consul:default/web");
    assert_eq!(r.owner, Owner::Manual);
    assert_eq!(r.router, "ServiceSplitter default/web service web");
    assert_eq!(
        weights(r),
        vec![
            ("v1".into(), Role::Stable, 90.0),
            ("v2".into(), Role::Canary, 10.0)
        ]
    );
    assert!(r.capabilities.check(ActionKind::SetWeight).is_ok());
    // A split with no service nor subset is the splitter's own service.
    let c = catalog(&[TWO_SERVICES]);
    let v = splitters(&c);
    assert_eq!(
        weights(&v[0]),
        vec![
            ("web".into(), Role::Stable, 50.0),
            ("web-rewrite".into(), Role::Canary, 50.0)
        ]
    );
    // consul-k8s's acceptance splitter has one destination: nothing to split.
    assert!(splitters(&catalog(&[ACCEPTANCE])).is_empty());
}

fn patch(c: &Catalog, key: &str, pct: f64) -> Result<Value, String> {
    let r = splitters(c)
        .into_iter()
        .find(|r| r.key.to_string() == key)
        .unwrap();
    let (kind, obj, s) = c.split_for(&r.key).unwrap();
    split::weight_patch(
        kind,
        &obj,
        &s,
        Weight::from_percent(pct).unwrap(),
        r.version.as_deref(),
    )
}

#[test]
fn w_tests_the_version_and_old_weights_and_keeps_consuls_hundredths() {
    let c = catalog(&[TWO_SUBSETS]);
    assert_eq!(
        patch(&c, "consul:default/web", 25.0).unwrap(),
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "7"},
            {"op": "test", "path": "/spec/splits/0/weight", "value": 90},
            {"op": "test", "path": "/spec/splits/1/weight", "value": 10},
            {"op": "replace", "path": "/spec/splits/0/weight", "value": 75},
            {"op": "replace", "path": "/spec/splits/1/weight", "value": 25},
        ])
    );
    let ops = patch(&c, "consul:default/web", 12.34).unwrap();
    assert_eq!(ops[3]["value"], json!(87.66));
    assert_eq!(ops[4]["value"], json!(12.34));
}

/// The real binary watches ServiceSplitters: an unowned one is listed with its weights, the
/// one the plugin Rollout names is not listed on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_lists_unowned_splitters_and_keeps_the_plugins_under_its_rollout() {
    let api = FakeApi::start().await;
    for f in [PLUGIN_ROLLOUT, PLUGIN_SPLITTER, TWO_SUBSETS] {
        for d in support::docs(f) {
            api.insert(d);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
            .args([
                "--headless",
                "--duration",
                "3s",
                "--audit-log",
                audit.to_str().unwrap(),
                "kube",
                "--kubeconfig",
                kc.to_str().unwrap(),
            ])
            .env_remove("KUBECONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("aviary ended")
    .expect("aviary ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let last = |key: &str| {
        lines
            .iter()
            .rev()
            .find(|l| l["rollout"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no line for {key}: {lines:#?}"))
    };
    assert_eq!(
        last("consul:default/web")["weights"],
        json!({"v1": 90.0, "v2": 10.0})
    );
    last("argo:default/static-server");
    assert!(
        lines
            .iter()
            .all(|l| l["rollout"] != "consul:default/static-server"),
        "the plugin's splitter was listed on its own"
    );
}
