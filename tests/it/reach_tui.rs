//! ingress-nginx and OpenKruise the way a person drives them: the real `aviary kube` binary
//! in its TUI inside tmux (private `-L` socket), against the local Kubernetes API stand-in
//! (`support::fake_api`; no real API server can run here, see its doc comment) serving the
//! docs' primary + canary Ingress pair and an OpenKruise Rollout paused at its first step.
//!
//! The rows must show the weights the objects hold; `w 20 Enter y` on the nginx canary must
//! send one JSON Patch on its `canary-weight` annotation guarded by a `test` on the
//! resourceVersion the screen showed; `n` on the OpenKruise Rollout must send the approval
//! `kubectl-kruise rollout approve` sends (a merge patch of `currentStepState: StepReady` on
//! the `/status` subresource, carrying that resourceVersion). Both are audited. Argo's Consul
//! plugin: `w` on its Rollout is refused and sends nothing; `w` on a consul-k8s ServiceSplitter
//! nobody drives sends its JSON Patch.

use crate::support;

use serde_json::{Value, json};
use std::time::Duration;
use support::fake_api::{FakeApi, Recorded};
use support::servers::{have, wait_until};
use support::tmux::Tmux;

fn doc(rel: &str, kind: &str) -> Value {
    support::docs(rel)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{rel}: no {kind}"))
}

/// The screen line of the row whose rollout key is `key`.
fn row<'a>(screen: &'a str, key: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(key))
}

/// The PATCH requests the stand-in received, in order.
fn patches(api: &FakeApi) -> Vec<Recorded> {
    api.writes()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect()
}

fn wait_patches(api: &FakeApi, n: usize, what: &str) -> Vec<Recorded> {
    let api2 = api.clone();
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(15), what, || patches(&api2).len() >= n)
    });
    patches(api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn w_on_the_nginx_canary_and_n_on_the_kruise_rollout_send_their_patches() {
    if !have("tmux") {
        return;
    }
    let api = FakeApi::start().await;
    api.insert(doc(
        "ingress-nginx/examples/docs-canary-main-ingress.yaml",
        "Ingress",
    ));
    api.insert(doc(
        "ingress-nginx/examples/docs-canary-weighted-ingress.yaml",
        "Ingress",
    ));
    api.insert(doc("openkruise/rollout-paused-step.yaml", "Rollout"));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} --fps 20 kube --kubeconfig {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display(),
        kc.display()
    );
    let tmux = Tmux::shell("reach", 140, 36, &cmd);
    // Listed with the weights the objects hold: the annotation's 50, the paused step's 20%.
    tmux.wait("both rows with their weights", 30, |s| {
        row(s, "nginx:default/canary").is_some_and(|l| l.contains("50%"))
            && row(s, "kruise:default/rollouts-demo")
                .is_some_and(|l| l.contains("20%") && l.contains("Awaiting"))
    });
    api.clear_requests();

    // `w` on the nginx canary: select it with the filter, type the weight, confirm.
    let ingress_rv = api
        .object_in("networking.k8s.io", "ingresses", "default", "canary")
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    tmux.keys("/");
    for k in ["n", "g", "i", "n", "x", "Enter"] {
        tmux.keys(k);
    }
    tmux.wait("only the nginx row", 10, |s| {
        row(s, "nginx:default/canary").is_some() && row(s, "kruise:").is_none()
    });
    tmux.keys("w");
    tmux.wait("the weight prompt", 10, |s| s.contains("Set weight"));
    for k in ["2", "0", "Enter"] {
        tmux.keys(k);
    }
    tmux.wait("the confirm dialog", 10, |s| {
        s.contains("Confirm set weight")
    });
    tmux.keys("y");
    let ps = wait_patches(&api, 1, "the canary-weight patch");
    let p = "/metadata/annotations/nginx.ingress.kubernetes.io~1canary-weight";
    assert_eq!(ps.len(), 1, "{ps:#?}");
    assert_eq!(
        ps[0].path,
        "/apis/networking.k8s.io/v1/namespaces/default/ingresses/canary"
    );
    assert_eq!(ps[0].content_type, "application/json-patch+json");
    assert_eq!(
        ps[0].body,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": ingress_rv},
            {"op": "test", "path": p, "value": "50"},
            {"op": "replace", "path": p, "value": "20"},
        ])
    );
    tmux.wait("the nginx row at its new weight", 15, |s| {
        row(s, "nginx:default/canary").is_some_and(|l| l.contains("20%"))
    });

    // `n` on the OpenKruise Rollout: approve its paused step.
    let kruise_rv = api
        .object_in("rollouts.kruise.io", "rollouts", "default", "rollouts-demo")
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    // Back into the filter (an Escape right before `/` would read as Alt-/): rub out "nginx".
    tmux.keys("/");
    for _ in 0..5 {
        tmux.keys("BSpace");
    }
    for k in ["k", "r", "u", "i", "s", "e", "Enter"] {
        tmux.keys(k);
    }
    tmux.wait("only the kruise row", 10, |s| {
        row(s, "kruise:default/rollouts-demo").is_some() && row(s, "nginx:").is_none()
    });
    tmux.keys("n");
    let ps = wait_patches(&api, 2, "the step-state approval");
    assert_eq!(ps.len(), 2, "{ps:#?}");
    assert_eq!(
        ps[1].path,
        "/apis/rollouts.kruise.io/v1beta1/namespaces/default/rollouts/rollouts-demo/status"
    );
    assert_eq!(ps[1].content_type, "application/merge-patch+json");
    assert_eq!(
        ps[1].body,
        json!({"status": {"canaryStatus": {"currentStepState": "StepReady"}},
               "metadata": {"resourceVersion": kruise_rv}})
    );
    // The stand-in applied it; the row leaves "awaiting" (the controller would go on from here).
    tmux.wait("the kruise row past its pause", 15, |s| {
        row(s, "kruise:default/rollouts-demo").is_some_and(|l| !l.contains("Awaiting"))
    });
    let log = std::fs::read_to_string(&audit).unwrap();
    for (target, action) in [
        ("nginx:default/canary", "set_weight"),
        ("kruise:default/rollouts-demo", "advance"),
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("\"target\":\"{target}\""))
                    && l.contains(&format!("\"action\":\"{action}\""))
                    && l.contains("\"result\":\"ok\"")),
            "{target} {action}:\n{log}"
        );
    }
    tmux.keys("q");
    tmux.wait("aviary to exit", 10, |s| !s.contains("kruise:default"));
}

/// Argo's Consul plugin, driven as a person would: the Rollout is listed and the
/// ServiceSplitter it names is not (it is under the Rollout); `w` on the Rollout is refused on
/// screen with nothing sent; `w 25 Enter y` on a ServiceSplitter nobody drives sends one JSON
/// Patch testing its resourceVersion and old weights.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn w_is_refused_on_a_consul_plugin_rollout_and_patches_an_unowned_splitter() {
    if !have("tmux") {
        return;
    }
    let api = FakeApi::start().await;
    for f in [
        "consul/argo-plugin/canary_rollout.yaml",
        "consul/argo-plugin/service_splitter.yaml",
        "consul/config-entries/service-splitter-two-subsets.k8s.yaml",
    ] {
        for d in support::docs(f) {
            api.insert(d);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} --fps 20 kube --kubeconfig {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display(),
        kc.display()
    );
    let tmux = Tmux::shell("reach-consul", 140, 36, &cmd);
    tmux.wait("the Rollout and the unowned splitter", 30, |s| {
        row(s, "argo:default/static-server").is_some()
            && row(s, "consul:default/web").is_some_and(|l| l.contains("10%"))
    });
    assert!(
        row(&tmux.screen(), "consul:default/static-server").is_none(),
        "the plugin's splitter is listed on its own:\n{}",
        tmux.screen()
    );
    api.clear_requests();
    tmux.keys("/");
    for k in ["a", "r", "g", "o", "Enter"] {
        tmux.keys(k);
    }
    tmux.wait("only the Argo row", 10, |s| {
        row(s, "argo:default/static-server").is_some() && row(s, "consul:").is_none()
    });
    tmux.keys("w");
    tmux.wait("the refusal", 10, |s| {
        s.contains("set weight is off: controller owns this route")
    });
    assert!(!tmux.screen().contains("Set weight"), "{}", tmux.screen());

    let rv = api
        .object_in("consul.hashicorp.com", "servicesplitters", "default", "web")
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    tmux.keys("/");
    for _ in 0..4 {
        tmux.keys("BSpace");
    }
    for k in ["w", "e", "b", "Enter"] {
        tmux.keys(k);
    }
    tmux.wait("only the splitter row", 10, |s| {
        row(s, "consul:default/web").is_some() && row(s, "argo:").is_none()
    });
    tmux.keys("w");
    tmux.wait("the weight prompt", 10, |s| s.contains("Set weight"));
    for k in ["2", "5", "Enter"] {
        tmux.keys(k);
    }
    tmux.wait("the confirm dialog", 10, |s| {
        s.contains("Confirm set weight")
    });
    tmux.keys("y");
    let ps = wait_patches(&api, 1, "the splitter patch");
    assert_eq!(ps.len(), 1, "only the unowned splitter is written: {ps:#?}");
    assert_eq!(
        ps[0].path,
        "/apis/consul.hashicorp.com/v1alpha1/namespaces/default/servicesplitters/web"
    );
    assert_eq!(ps[0].content_type, "application/json-patch+json");
    assert_eq!(
        ps[0].body,
        json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "test", "path": "/spec/splits/0/weight", "value": 90},
            {"op": "test", "path": "/spec/splits/1/weight", "value": 10},
            {"op": "replace", "path": "/spec/splits/0/weight", "value": 75},
            {"op": "replace", "path": "/spec/splits/1/weight", "value": 25},
        ])
    );
    tmux.wait("the splitter at its new weight", 15, |s| {
        row(s, "consul:default/web").is_some_and(|l| l.contains("25%"))
    });
    tmux.keys("q");
    tmux.wait("aviary to exit", 10, |s| !s.contains("consul:default"));
}
