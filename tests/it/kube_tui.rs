//! Abort on an Argo Rollout the way a person does it: the real binary in its TUI inside tmux
//! (private `-L` socket), `aviary kube` against the local Kubernetes API stand-in
//! (`support::fake_api`; no real API server can run here, see its doc comment). `A` then `y`
//! must patch `status.abort` on the Rollout's `/status` subresource, post an `AviaryAbort`
//! Event, audit the write, and the screen must then show the rollout aborted — also when the
//! `--prometheus` given does not answer (break-glass abort needs only the router).

use crate::support;

use serde_json::{Value, json};
use std::time::Duration;
use support::fake_api::FakeApi;
use support::servers::{have, wait_until};
use support::tmux::Tmux;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abort_on_an_argo_rollout_patches_its_status_subresource() {
    abort_flow("kube", "", |_| true).await;
}

/// Nothing listens on port 1: aviary starts anyway, the header shows the Prometheus source
/// stale, and abort goes through exactly as without metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abort_works_while_prometheus_does_not_answer() {
    abort_flow("kube-noprom", "--prometheus http://127.0.0.1:1", |s| {
        s.contains("prometheus http://127.0.0.1:1") && s.contains("no data")
            || s.contains("prometheus http://127.0.0.1:1 stale")
    })
    .await;
}

async fn abort_flow(session: &str, extra: &str, first_screen: impl Fn(&str) -> bool) {
    if !have("tmux") {
        return;
    }
    let api = FakeApi::start().await;
    let rollout: Value =
        support::docs("argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml")
            .into_iter()
            .find(|d| d["kind"] == "Rollout")
            .unwrap();
    api.insert(rollout);
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("rollouts-demo")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} --fps 20 kube --kubeconfig {} {extra}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display(),
        kc.display()
    );
    let tmux = Tmux::shell(session, 140, 36, &cmd);
    tmux.wait("the Argo rollout's row", 30, |s| {
        s.contains("rollouts-demo") && s.contains("Paused") && first_screen(s)
    });
    api.clear_requests();
    tmux.keys("A");
    tmux.wait("the confirm dialog", 10, |s| s.contains("Confirm abort"));
    tmux.keys("y");
    let api2 = api.clone();
    tokio::task::block_in_place(|| {
        wait_until(
            Duration::from_secs(10),
            "status.abort on the Rollout",
            || {
                api2.object("rollouts", "rollouts-demo", "rollouts-demo")
                    .is_some_and(|o| o["status"]["abort"] == json!(true))
            },
        )
    });
    let writes = api.writes();
    assert_eq!(writes[0].method, "PATCH");
    assert_eq!(
        writes[0].path,
        "/apis/argoproj.io/v1alpha1/namespaces/rollouts-demo/rollouts/rollouts-demo/status"
    );
    assert_eq!(writes[0].content_type, "application/merge-patch+json");
    assert_eq!(writes[0].body, json!({"status": {"abort": true}}));
    let api3 = api.clone();
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(10), "the AviaryAbort Event", || {
            api3.events().iter().any(|e| e["reason"] == "AviaryAbort")
        })
    });
    tmux.wait("the Aborted phase", 15, |s| s.contains("Aborted"));
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"action\":\"abort\"")
            && l.contains("\"target\":\"argo:rollouts-demo/rollouts-demo\"")
            && l.contains("\"result\":\"ok\"")),
        "{log}"
    );
    tmux.keys("q");
    tmux.wait("aviary to exit", 10, |s| {
        !s.contains("Confirm") && !s.contains("argo:rollouts-demo")
    });
}
