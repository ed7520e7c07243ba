//! Headless mode says why a plan stopped: an operator's own `set weight` on a real HAProxy's
//! socket pauses the autopilot at once, the JSON lines name the drift and the pause, and
//! no further write follows.

use crate::support;

use aviary::demo::Scenario;
use std::time::{Duration, Instant};
use support::servers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headless_prints_the_drift_and_the_pause_and_writes_nothing_more() {
    if !have("haproxy") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let _load = Load::start(hp.frontend, 50);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let stdout = dir.path().join("stdout");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--headless", "--audit-log"])
        .arg(&audit)
        .args(["haproxy", "--socket", &hp.socket_arg()])
        .args([
            "--backend",
            "be",
            "--stable",
            "stable",
            "--canary",
            "canary",
        ])
        .args(["--interval", "1s", "--step", "20", "--judge", "threshold"])
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let intents = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("\"stage\":\"intent\""))
            .count()
    };
    let hp2 = &hp;
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(30), "the first step", || {
            hp2.weight("canary") > 0 && intents() >= 1
        })
    });
    hp.cmd("set server be/canary weight 0");
    let edited = Instant::now();
    let drift = tokio::task::block_in_place(|| {
        let mut found = None;
        wait_until(Duration::from_secs(5), "a drift line", || {
            found = std::fs::read_to_string(&stdout)
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|v| v.get("drift").is_some());
            found.is_some()
        });
        found.unwrap()
    });
    eprintln!(
        "drift line {:?} after the hand edit: {drift}",
        edited.elapsed()
    );
    assert_eq!(drift["rollout"], "haproxy:be");
    assert_eq!(drift["drift"]["router"], 0.0);
    assert_eq!(drift["paused"], true);
    assert!(
        drift["message"]
            .as_str()
            .unwrap()
            .contains("changed outside aviary — paused; p resumes from the router's weight"),
        "{drift}"
    );
    let n = intents();
    tokio::task::block_in_place(|| {
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            assert_eq!(intents(), n, "the autopilot wrote after the hand edit");
            assert_eq!(hp2.weight("canary"), 0);
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    // A clean shutdown, reported as a shell expects after SIGTERM: 128 + 15.
    assert_eq!(status.code(), Some(143), "{status:?}");
    let lines = json_lines(&std::fs::read(&stdout).unwrap());
    let s = summary(&lines);
    assert_eq!(s["outcome"], "paused", "{s}");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("changed outside aviary"),
        "{s}"
    );
}
