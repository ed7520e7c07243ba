//! The break-glass path a person takes, end to end: the real binary in its TUI, inside tmux
//! (private `-L` socket), driving a real HAProxy (Debian 2.6, started here on loopback) in
//! front of two real build servers. `A` then `y` must reach HAProxy: `get weight` on its
//! admin socket reads 0 for the canary well within one refresh of the keypress.

use crate::support;

use aviary::demo::Scenario;
use std::time::{Duration, Instant};
use support::servers::*;
use support::tmux::Tmux;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn abort_key_reaches_haproxy_within_one_refresh() {
    if !have("haproxy") || !have("tmux") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let _load = Load::start(hp.frontend, 50);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} --fps 20 haproxy --socket {} --backend be --stable stable --canary canary --interval 3s --step 20 --max-weight 80 --judge threshold",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display(),
        hp.socket_arg()
    );
    let tmux = Tmux::shell("hp", 120, 36, &cmd);
    tmux.wait("the haproxy:be row", 20, |s| s.contains("haproxy:be"));
    let hp2 = &hp;
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(20), "the first step on HAProxy", || {
            hp2.weight("canary") > 0
        })
    });
    // Steps every 3 s, so a loaded machine cannot finish the plan (which withdraws the
    // dialog) between the first step and the key.
    tmux.keys("A");
    tmux.wait("the confirm dialog", 10, |s| s.contains("Confirm abort"));
    let pressed = Instant::now();
    tmux.keys("y");
    let took = tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(1), "get weight be/canary = 0", || {
            hp2.weight("canary") == 0
        });
        pressed.elapsed()
    });
    eprintln!("abort visible in `get weight` {took:?} after y");
    assert_eq!(hp.weight("stable"), 256);
    tmux.wait("the Aborted phase", 10, |s| s.contains("Aborted"));
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.lines().any(|l| l.contains("\"action\":\"abort\"")
            && l.contains("\"origin\":\"operator\"")
            && l.contains("\"result\":\"ok\"")),
        "{log}"
    );
    tmux.keys("q");
    tmux.wait("aviary to exit", 10, |s| !s.contains("haproxy:be"));
}
