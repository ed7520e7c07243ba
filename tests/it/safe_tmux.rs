//! Safe writes as an operator meets them: the real binary in tmux (private `-L` socket)
//! against the real demo and a real HAProxy (Debian 2.6, on loopback). A confirmation raced
//! by the autopilot or by another client writes nothing and says why; quitting with a canary
//! mid-way asks, then tells the shell how to put it back; a break-glass abort gets through a
//! broken audit log. Every wait has a deadline; a timeout prints the screen.

use crate::support;

use aviary::demo::Scenario;
use std::time::{Duration, Instant};
use support::servers::*;
use support::tmux::{Tmux, build_of, router_addr};

/// The single-rollout demo's canary build, as its header and `x-aviary-build` name it.
const CANARY: &str = "v1.5.0";

/// The canary weight in the demo's detail header (`■ v1.5.0 canary  20%`).
fn demo_weight(screen: &str) -> Option<u32> {
    let label = format!("{CANARY} canary");
    let i = screen.find(&label)?;
    let rest = &screen[i + label.len()..];
    rest.split('%').next()?.trim().parse().ok()
}

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Audit lines of one action and stage.
fn audited(log: &str, action: &str, stage: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["action"] == action && v["stage"] == stage)
        .collect()
}

#[test]
fn demo_abort_dialog_raced_by_the_autopilot_writes_nothing_and_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} demo --scenario healthy --interval 2s --seed 7 --fps 20 --audit-log {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display()
    );
    let tmux = Tmux::shell("race", 120, 36, &cmd);
    let shown = tmux.wait_for("a first step", 30, |s| demo_weight(s).filter(|w| *w > 0));
    tmux.keys("A");
    let shown = tmux.wait_for("the abort dialog", 10, |s| {
        s.contains("Confirm abort")
            .then(|| demo_weight(s).unwrap_or(shown))
    });
    // The autopilot steps while the dialog is open.
    let moved = tmux.wait_for("the autopilot to step under the dialog", 30, |s| {
        demo_weight(s).filter(|w| *w != shown)
    });
    tmux.keys("y");
    tmux.wait("the refusal", 10, |s| {
        s.contains("changed since you looked") && s.contains("press A again")
    });
    let s = tmux.screen();
    assert!(
        s.contains(&format!("canary {shown}% → {moved}%")),
        "the screen names what changed:\n{s}"
    );
    let log = read(&audit);
    assert!(
        audited(&log, "abort", "intent").is_empty(),
        "an abort was written:\n{log}"
    );
    assert!(!s.contains("Aborted"), "{s}");
    let addr = router_addr(&s).expect("router address");
    let canary_seen = (0..40).any(|_| build_of(&addr) == CANARY);
    assert!(canary_seen, "the router no longer sends the canary traffic");
    tmux.keys("q");
}

#[test]
fn demo_with_audit_log_dev_full_refuses_every_write_but_says_why() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cmd = format!(
        "XDG_CONFIG_HOME={d} XDG_DATA_HOME={d}/data {} demo --scenario healthy --interval 1s --seed 7 --fps 20 --audit-log /dev/full 2>{d}/stderr",
        env!("CARGO_BIN_EXE_aviary"),
        d = dir.path().display(),
    );
    let tmux = Tmux::shell("devfull", 120, 36, &cmd);
    // The autopilot's first step is refused, and it pauses rather than trying again.
    tmux.wait("the refused first step", 30, |s| {
        s.contains("audit log cannot be written") && s.contains("set_weight failed")
    });
    tmux.keys("p");
    tmux.keys("n");
    tmux.wait("n refused", 10, |s| {
        s.contains("advance failed") && s.contains("audit log cannot be written")
    });
    assert_eq!(demo_weight(&tmux.screen()), Some(0));
    // At 0 % an abort has nothing to do, and says so instead of confirming.
    tmux.keys("A");
    tmux.wait("nothing to do", 10, |s| s.contains("nothing to do"));
    tmux.keys("q");
}

#[test]
fn demo_break_glass_abort_gets_through_when_the_audit_disk_fills() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let audit = dir.path().join("audit.jsonl");
    // The audit file may grow to one 512-byte block: the first step's two lines fit, the
    // next write fails with EFBIG (the disk is "full" mid-rollout). stderr goes through a
    // pipe, so the limit does not cut it short.
    let cmd = format!(
        "(trap '' XFSZ; ulimit -f 1; exec env XDG_CONFIG_HOME={d} XDG_DATA_HOME={data} {} demo --scenario healthy --interval 2s --seed 7 --fps 20 --audit-log {audit}) 2> >(cat > {d}/stderr); echo exit=$?",
        env!("CARGO_BIN_EXE_aviary"),
        d = dir.path().display(),
        data = data.display(),
        audit = audit.display(),
    );
    let tmux = Tmux::shell("full", 120, 36, &cmd);
    let addr = tmux.wait_for("the router address", 30, router_addr);
    tmux.wait("the autopilot stopped by the full disk", 40, |s| {
        demo_weight(s).is_some_and(|w| w > 0) && s.contains("set_weight failed")
    });
    tmux.keys("A");
    tmux.wait("the abort dialog", 10, |s| s.contains("Confirm abort"));
    tmux.keys("y");
    tmux.wait("the loud warning and canary 0%", 10, |s| {
        s.contains("AUDIT LOG FAILED") && demo_weight(s) == Some(0)
    });
    let builds: Vec<String> = (0..30).map(|_| build_of(&addr)).collect();
    assert!(
        builds.iter().all(|b| b != CANARY),
        "requests still reach the canary: {builds:?}"
    );
    let fallback = read(&data.join("aviary/audit-fallback.jsonl"));
    assert!(
        fallback.contains("\"action\":\"abort\"") && fallback.contains("\"stage\":\"intent\""),
        "fallback file: {fallback}"
    );
    tmux.keys("q");
    tmux.wait("aviary to exit", 15, |s| s.contains("exit=0"));
    let path = dir.path().join("stderr");
    let has_record = || {
        let e = read(&path);
        e.contains("AUDIT LOG FAILED") && e.contains("\"action\":\"abort\"")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !has_record() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(has_record(), "stderr: {}", read(&path));
}

/// Runs `aviary haproxy` on `hp` in tmux, with `$USER` unset (the actor comes from the uid);
/// the shell prints `exit=N` when it ends.
fn haproxy_tmux(name: &str, hp: &Haproxy, dir: &std::path::Path, extra: &str) -> Tmux {
    let cmd = format!(
        "env -u USER -u LOGNAME XDG_CONFIG_HOME={d} {} --audit-log {d}/logs/audit.jsonl --fps 20 haproxy --socket {} --backend be --stable stable --canary canary --judge threshold {extra} 2>{d}/stderr; echo exit=$?",
        env!("CARGO_BIN_EXE_aviary"),
        hp.socket_arg(),
        d = dir.display(),
    );
    Tmux::shell(name, 120, 36, &cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn haproxy_abort_dialog_raced_by_another_client_writes_nothing() {
    if !have("haproxy") || !have("tmux") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("logs/audit.jsonl");
    // Refresh slower than the race, so the write itself meets the change (read-before-write).
    let tmux = haproxy_tmux("hprace", &hp, dir.path(), "--refresh 30s --interval 60s");
    tmux.wait("the haproxy:be row", 20, |s| s.contains("haproxy:be"));
    tmux.keys("Enter");
    tmux.wait("the detail view", 10, |s| {
        s.contains("router HAProxy") && s.contains("step")
    });
    tmux.keys("p");
    tmux.wait("paused", 10, |s| s.contains("paused by operator"));
    tmux.keys("w");
    tmux.type_line("40");
    tmux.wait("the set-weight dialog", 10, |s| {
        s.contains("Confirm set weight")
    });
    tmux.keys("y");
    let hp2 = &hp;
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(10), "canary weight set", || {
            hp2.weight("canary") > 0
        })
    });
    tmux.keys("A");
    tmux.wait("the abort dialog", 10, |s| s.contains("Confirm abort"));
    // Another operator moves the canary between the dialog and `y`.
    hp.cmd("set server be/canary weight 128");
    tmux.keys("y");
    tmux.wait("the refusal", 10, |s| s.contains("changed outside aviary"));
    assert_eq!(
        hp.weight("canary"),
        128,
        "aviary overwrote the other client"
    );
    let log = read(&audit);
    let results = audited(&log, "abort", "result");
    assert_eq!(results.len(), 1, "{log}");
    assert_eq!(results[0]["result"], "error", "{log}");
    tmux.keys("q");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn haproxy_quit_at_33_percent_asks_then_tells_the_shell_how_to_undo() {
    if !have("haproxy") || !have("tmux") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("logs/audit.jsonl");
    let tmux = haproxy_tmux("hpquit", &hp, dir.path(), "--interval 60s");
    tmux.wait("the haproxy:be row", 20, |s| s.contains("haproxy:be"));
    tmux.keys("Enter");
    tmux.wait("the detail view", 10, |s| {
        s.contains("router HAProxy") && s.contains("step")
    });
    tmux.keys("p");
    tmux.wait("paused", 10, |s| s.contains("paused by operator"));
    tmux.keys("w");
    tmux.type_line("33");
    tmux.wait("the set-weight dialog", 10, |s| {
        s.contains("Confirm set weight")
    });
    tmux.keys("y");
    tmux.wait("33% set", 10, |s| {
        s.contains("set_weight done on haproxy:be: canary 0% → 33%")
    });
    tmux.keys("q");
    tmux.wait("the quit prompt", 10, |s| {
        s.contains("Quit with a canary mid-way") && s.contains("canary 33%")
    });
    tmux.keys("y");
    let s = tmux.wait_for("the weight-left line in the shell", 15, |s| {
        s.contains("exit=0").then(|| s.to_string())
    });
    let stderr = read(&dir.path().join("stderr"));
    assert!(
        stderr.contains("haproxy:be left at canary 33%")
            && stderr.contains("set server be/canary weight 0")
            && stderr.contains("aviary haproxy --socket"),
        "stderr: {stderr}\nscreen:\n{s}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.contains("left at")).count(),
        1,
        "one line per rollout left mid-way: {stderr}"
    );
    // The audit file is private, and names the OS user.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&audit), 0o600);
    assert_eq!(mode(audit.parent().unwrap()), 0o700);
    let log = read(&audit);
    let uid = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").unwrap().uid()
    };
    let name = aviary::session::user_for(&read(std::path::Path::new("/etc/passwd")), uid)
        .expect("the test's user in /etc/passwd");
    for v in audited(&log, "set_weight", "intent") {
        let actor = v["actor"].as_str().unwrap();
        assert!(actor.starts_with(&name), "{actor}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn haproxy_restart_and_hand_edit_pause_the_autopilot_and_p_resumes() {
    if !have("haproxy") || !have("tmux") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let mut hp = Haproxy::start(builds.stable, builds.canary);
    let _load = Load::start(hp.frontend, 50);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("logs/audit.jsonl");
    let tmux = haproxy_tmux(
        "hpdrift",
        &hp,
        dir.path(),
        "--interval 2s --step 20 --max-weight 80",
    );
    tmux.wait("the haproxy:be row", 20, |s| s.contains("haproxy:be"));
    tmux.keys("Enter");
    tmux.wait("the detail view", 10, |s| {
        s.contains("router HAProxy") && s.contains("step")
    });
    let autopilot_writes = || {
        audited(&read(&audit), "set_weight", "intent")
            .into_iter()
            .filter(|v| v["origin"] == "autopilot")
            .count()
    };
    tokio::task::block_in_place(|| {
        // Landed, not only intended: a restart while the step is in flight fails that write
        // (a different, also safe, pause) instead of showing the drift this test is about.
        wait_until(Duration::from_secs(30), "the first step on HAProxy", || {
            autopilot_writes() >= 1 && hp.weight("canary") > 0
        })
    });
    // HAProxy restarts: runtime weights go back to the config's canary 0.
    let restarted = Instant::now();
    hp.restart();
    tmux.wait("the drift pause", 10, |s| {
        s.contains("changed outside aviary") && s.contains("paused")
    });
    eprintln!("paused {:?} after the restart", restarted.elapsed());
    let n = autopilot_writes();
    let hp2 = &hp;
    tokio::task::block_in_place(|| {
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            assert_eq!(autopilot_writes(), n, "the autopilot wrote after the drift");
            assert_eq!(hp2.weight("canary"), 0, "the canary was re-ramped");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    tmux.keys("p");
    tmux.wait("resumed from the router", 10, |s| {
        s.contains("resumed from the router's weight 0%")
    });
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(30), "a step after resuming", || {
            autopilot_writes() > n
        })
    });
    let log = read(&audit);
    let after: Vec<_> = audited(&log, "set_weight", "intent")
        .into_iter()
        .filter(|v| v["origin"] == "autopilot")
        .collect();
    assert_eq!(after[n]["before"], 0.0, "{log}");
    // An operator's own `set weight` on the socket: the same pause.
    tokio::task::block_in_place(|| {
        wait_until(Duration::from_secs(10), "the step to land", || {
            hp2.weight("canary") > 0
        })
    });
    hp.cmd("set server be/canary weight 0");
    tmux.wait("the second drift pause", 10, |s| {
        s.contains("changed outside aviary") && s.contains("p resumes")
    });
    let n = autopilot_writes();
    tokio::task::block_in_place(|| {
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            assert_eq!(autopilot_writes(), n, "the autopilot fought the operator");
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    assert_eq!(hp.weight("canary"), 0);
    tmux.keys("q");
}
