//! Replay in the real TUI (tmux, private socket): a recorded single-rollout demo is played
//! back, `→` seeks write by write to the rollback, and the screen shows the same *why* the
//! live run ended with. Operator keys in the replay write nothing: a stand-in listener on
//! the recorded router's address is never connected to.

use crate::support;

use std::net::TcpListener;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use support::tmux::Tmux;

#[test]
fn seek_to_the_rollback_shows_the_same_why_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rec = dir.path().join("faulty.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args([
            "demo",
            "--scenario",
            "faulty",
            "--interval",
            "1s",
            "--rps",
            "200",
        ])
        .args(["--headless", "--duration", "40s", "--audit-log"])
        .arg(dir.path().join("audit.jsonl"))
        .arg("--record")
        .arg(&rec)
        .output()
        .expect("run aviary");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = stdout
        .lines()
        .find(|l| l.contains("\"summary\""))
        .map(|l| serde_json::from_str(l).expect("json"))
        .expect("summary line");
    assert_eq!(summary["summary"]["outcome"], "rolled_back", "{summary}");
    let why = summary["summary"]["message"]
        .as_str()
        .expect("message")
        .to_string();
    // The first words of the why, as the detail view shows them before any wrapping.
    let head: String = why.chars().take(40).collect();

    let text = std::fs::read_to_string(&rec).expect("recording");
    let addr = text
        .split("\"router\":\"http://")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("router address in the recording")
        .to_string();
    let knocks = Arc::new(AtomicUsize::new(0));
    if let Ok(l) = TcpListener::bind(&addr) {
        let k = knocks.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                if c.is_ok() {
                    k.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }

    let cmd = format!(
        "XDG_CONFIG_HOME={} {} replay {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        rec.display()
    );
    let tmux = Tmux::shell("replay", 120, 36, &cmd);
    tmux.wait_for("the replay status", 20, |s| {
        s.contains("(read-only)").then_some(())
    });
    tmux.keys("Space"); // pause, then seek write by write
    let mut seen = String::new();
    for _ in 0..12 {
        tmux.keys("Right");
        std::thread::sleep(std::time::Duration::from_millis(300));
        seen = tmux.screen();
        if seen.contains("Aborted") {
            break;
        }
    }
    assert!(
        seen.contains("Aborted"),
        "never reached the rollback:\n{seen}"
    );
    tmux.wait_for("the live run's why", 10, |s| {
        s.contains(&head).then_some(())
    });
    // Operator keys in a replay are refused; nothing reaches the router's address.
    tmux.keys("r");
    tmux.wait_for("the read-only refusal", 10, |s| {
        s.contains("replay is read-only").then_some(())
    });
    tmux.keys("P");
    tmux.keys("y");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        knocks.load(Ordering::SeqCst),
        0,
        "the replay connected to {addr}"
    );
    tmux.keys("q");
    tmux.wait_for("replay to exit", 10, |s| {
        (!s.contains("(read-only)")).then_some(())
    });
}
