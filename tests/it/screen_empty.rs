//! `aviary kube -n empty`: a namespace with nothing aviary can show says which kinds it
//! looked for and that it found none, in the TUI and headless (on stderr, exit code 3),
//! instead of "waiting for the first rollouts…" forever and exit 0.

use crate::support;

use std::time::{Duration, Instant};
use support::fake_api::FakeApi;
use support::servers::have;
use support::tmux::Tmux;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_says_what_it_looked_for_and_exits_3() {
    let api = FakeApi::start().await;
    // Something elsewhere, so the cluster is not empty: only this namespace is.
    api.insert(
        support::docs("argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml")
            .into_iter()
            .find(|d| d["kind"] == "Rollout")
            .expect("a Rollout"),
    );
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let started = Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args([
            "--headless",
            "--audit-log",
            "/dev/null",
            "kube",
            "--kubeconfig",
        ])
        .arg(&kc)
        .args(["-n", "empty"])
        .env_remove("KUBECONFIG")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(30), out)
        .await
        .expect("ends by itself, without --duration")
        .expect("ran");
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err}");
    assert_eq!(out.status.code(), Some(3), "stderr: {err}");
    assert!(
        err.contains("nothing to watch in namespace empty: looked for")
            && err.contains("Rollout")
            && err.contains("Canary")
            && err.contains("found none"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "ANSI on a non-terminal stderr: {err:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tui_says_so_instead_of_waiting_forever() {
    if !have("tmux") {
        return;
    }
    let api = FakeApi::start().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log /dev/null kube --kubeconfig {} -n empty",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        kc.display()
    );
    let tmux = Tmux::shell("screen-empty", 100, 24, &cmd);
    tmux.wait("the empty-namespace message", 20, |s| {
        s.contains("nothing to watch in namespace empty") && s.contains("found none")
    });
    tmux.keys("q");
}
