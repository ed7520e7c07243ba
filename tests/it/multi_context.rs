//! Two clusters on one board: `aviary kube --context east --context west` against two local
//! Kubernetes API stand-ins (`support::fake_api`; no real API server can run here), each
//! holding the same Argo Rollout. The real binary runs in tmux. An abort on the west row
//! must patch only the west server (both request logs are read); stopping the east server
//! must make only the east row stale. Each stand-in runs on its own runtime so stopping it
//! ends its open watches too, as a cluster going away would.

use crate::support;

use serde_json::{Value, json};
use std::time::Duration;
use support::fake_api::FakeApi;
use support::servers::{have, wait_until};
use support::tmux::Tmux;

fn api_on_own_runtime() -> (FakeApi, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let api = rt.block_on(FakeApi::start());
    (api, rt)
}

fn kubeconfig(east: &FakeApi, west: &FakeApi) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (n, a) in [("east", east), ("west", west)] {
        s += &format!("- name: {n}\n  cluster:\n    server: {}\n", a.url());
    }
    s += "contexts:\n";
    for n in ["east", "west"] {
        s += &format!(
            "- name: {n}\n  context:\n    cluster: {n}\n    user: tester\n    namespace: rollouts-demo\n"
        );
    }
    s += "current-context: east\nusers:\n- name: tester\n  user:\n    token: fake-token\n";
    s
}

fn rollout() -> Value {
    support::docs("argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml")
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .unwrap()
}

/// The screen line holding the row of `context`.
fn row<'a>(screen: &'a str, context: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        l.contains("rollouts-demo")
            && l.split_whitespace()
                .any(|w| w == context || w == format!("│{context}"))
    })
}

#[test]
fn one_board_two_clusters_abort_goes_to_its_own_and_a_dead_one_goes_stale_alone() {
    if !have("tmux") {
        return;
    }
    let (east, east_rt) = api_on_own_runtime();
    let (west, _west_rt) = api_on_own_runtime();
    east.insert(rollout());
    west.insert(rollout());
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, kubeconfig(&east, &west)).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} --fps 20 kube --kubeconfig {} --context east --context west",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display(),
        kc.display()
    );
    let tmux = Tmux::shell("multi-ctx", 200, 60, &cmd);
    tmux.wait("both clusters' rows under CONTEXT", 30, |s| {
        s.contains("CONTEXT") && row(s, "east").is_some() && row(s, "west").is_some()
    });
    east.clear_requests();
    west.clear_requests();
    // Rows sort by urgency, then key: east first. Select west, abort it.
    tmux.keys("j");
    tmux.keys("A");
    tmux.wait("the confirm dialog naming west", 10, |s| {
        s.contains("Confirm abort")
            && s.lines()
                .any(|l| l.contains("context") && l.contains("west"))
    });
    tmux.keys("y");
    let w = west.clone();
    wait_until(
        Duration::from_secs(10),
        "status.abort on the west Rollout",
        || {
            w.object("rollouts", "rollouts-demo", "rollouts-demo")
                .is_some_and(|o| o["status"]["abort"] == json!(true))
        },
    );
    let west_writes = west.writes();
    assert!(
        west_writes.iter().any(|r| r.method == "PATCH"
            && r.path
                .ends_with("/namespaces/rollouts-demo/rollouts/rollouts-demo/status")
            && r.body == json!({"status": {"abort": true}})),
        "{west_writes:?}"
    );
    // Give a misrouted write every chance to show up on east.
    std::thread::sleep(Duration::from_millis(500));
    let east_writes = east.writes();
    assert!(
        east_writes.iter().all(|r| r.method != "PATCH"),
        "east was written to: {east_writes:?}"
    );
    assert!(
        east.object("rollouts", "rollouts-demo", "rollouts-demo")
            .is_some_and(|o| o["status"]["abort"] != json!(true))
    );
    tmux.wait("the west row aborted", 15, |s| {
        row(s, "west").is_some_and(|l| l.contains("Aborted"))
    });

    // East goes away: its row goes stale, west's stays fresh.
    east_rt.shutdown_background();
    tmux.wait("only the east row stale", 30, |s| {
        row(s, "east").is_some_and(|l| l.contains("stale"))
            && row(s, "west").is_some_and(|l| !l.contains("stale"))
    });
    std::thread::sleep(Duration::from_secs(3));
    let s = tmux.screen();
    assert!(
        row(&s, "west").is_some_and(|l| !l.contains("stale")),
        "west went stale with east:\n{s}"
    );
    tmux.keys("q");
}
