//! One way out, for the TUI and headless alike: quitting waits (bounded) for writes in
//! flight so every audit `intent` has its `result`, and a write that never answers still gets
//! one saying its outcome is unknown. Against a deliberately slow router: in process, the
//! headless binary under SIGTERM, and the TUI in tmux.

use crate::support;

use async_trait::async_trait;
use aviary::app::App;
use aviary::audit::AuditLog;
use aviary::demo::Scenario;
use aviary::domain::change::{Command, WriteOk, WriteRequest};
use aviary::domain::observation::SourceId;
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::{Router, RouterError};
use aviary::session::Session;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use support::servers::*;
use support::tmux::Tmux;

struct Slow(Duration);

#[async_trait]
impl Router for Slow {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        tokio::time::sleep(self.0).await;
        Ok(WriteOk {
            canary_weight: req.requested,
            ..Default::default()
        })
    }
}

/// Intent and result lines per op.
fn pairs(log: &str) -> BTreeMap<u64, (usize, usize, Vec<String>)> {
    let mut m: BTreeMap<u64, (usize, usize, Vec<String>)> = BTreeMap::new();
    for v in log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    {
        if v["op"] == 0 {
            continue;
        }
        let e = m.entry(v["op"].as_u64().unwrap()).or_default();
        match v["stage"].as_str() {
            Some("intent") => e.0 += 1,
            _ => {
                e.1 += 1;
                e.2.push(format!("{} {}", v["result"], v["error"]));
            }
        }
    }
    m
}

fn assert_paired(log: &str) {
    let p = pairs(log);
    assert!(!p.is_empty(), "no writes audited:\n{log}");
    for (op, (i, r, _)) in &p {
        assert_eq!((*i, *r), (1, 1), "op {op}: {i} intents, {r} results\n{log}");
    }
}

fn session_with(router: Duration, audit: &std::path::Path) -> Session {
    let app = App::new(SystemTime::now(), Plan::default());
    let mut s = Session::new(
        app,
        Arc::new(AuditLog::open(audit).unwrap()),
        "tester".into(),
    );
    s.add_router(ProviderKind::Demo, Arc::new(Slow(router)));
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let w = Weight::from_whole(20).unwrap();
    let r = Rollout::new(
        RolloutKey::new(ProviderKind::Demo, "checkout"),
        Owner::Autopilot,
        vec![
            b(Role::Stable, "stable", w.complement()),
            b(Role::Canary, "canary", w),
        ],
    );
    s.dispatch(Msg::Provider(ProviderEvent::Upsert {
        source: SourceId("test".into()),
        rollout: Box::new(r),
    }));
    s
}

#[tokio::test]
async fn quitting_right_after_a_write_waits_for_its_result() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut s = session_with(Duration::from_millis(1500), &audit);
    s.dispatch(Msg::Operator {
        target: RolloutKey::new(ProviderKind::Demo, "checkout"),
        command: Command::Abort,
    });
    let started = Instant::now();
    let mut shown = 0;
    let lines = s.shutdown(|_| shown += 1).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1200),
        "did not wait: {took:?}"
    );
    assert!(took < Duration::from_secs(4), "waited too long: {took:?}");
    assert!(shown > 0, "the wait was never shown");
    assert!(lines.is_empty(), "{lines:?}");
    assert_paired(&std::fs::read_to_string(&audit).unwrap());
    let t = &s.app.rollouts[&RolloutKey::new(ProviderKind::Demo, "checkout")];
    assert!(t.pending.is_none());
    assert_eq!(t.rollout.canary_weight(), Weight::ZERO);
}

#[tokio::test]
async fn a_write_that_never_answers_gets_a_result_saying_so() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let mut s = session_with(Duration::from_secs(60), &audit);
    s.dispatch(Msg::Operator {
        target: RolloutKey::new(ProviderKind::Demo, "checkout"),
        command: Command::Abort,
    });
    let started = Instant::now();
    let lines = s.shutdown(|_| {}).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(4) && took < Duration::from_secs(7),
        "{took:?}"
    );
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_paired(&log);
    assert!(
        log.contains("aviary quit before the router answered"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("abort on demo:checkout had no answer")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn headless_sigterm_during_a_slow_write_leaves_every_intent_with_its_result() {
    if !have("haproxy") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let _load = Load::start(hp.frontend, 50);
    let proxy = SlowProxy::start(hp.tcp, "set server", Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let out = std::fs::File::create(dir.path().join("stdout")).unwrap();
    let err = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .env("XDG_CONFIG_HOME", dir.path())
        .args(["--headless", "--audit-log"])
        .arg(&audit)
        .args(["haproxy", "--socket", &proxy.addr.to_string()])
        .args([
            "--backend",
            "be",
            "--stable",
            "stable",
            "--canary",
            "canary",
        ])
        .args(["--interval", "1s", "--step", "20", "--judge", "threshold"])
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap();
    // The startup check writes once; the second held `set server` is the first step.
    tokio::task::block_in_place(|| {
        wait_until(
            Duration::from_secs(30),
            "a step held by the slow router",
            || proxy.held() >= 2,
        )
    });
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    // A clean shutdown, reported as a shell expects after SIGTERM: 128 + 15.
    assert_eq!(status.code(), Some(143), "{status:?}");
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_paired(&log);
    assert!(
        pairs(&log)
            .values()
            .all(|(_, _, r)| r[0].starts_with("\"ok\"")),
        "{log}"
    );
    let stdout = std::fs::read(dir.path().join("stdout")).unwrap();
    let s = summary(&json_lines(&stdout));
    assert_eq!(s["rollout"], "haproxy:be");
    assert!(hp.weight("canary") > 0, "the step landed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tui_quit_during_a_slow_abort_shows_the_wait_and_audits_the_result() {
    if !have("haproxy") || !have("tmux") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let proxy = SlowProxy::start(hp.tcp, "set server", Duration::from_secs(2));
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={d} {} --audit-log {} --fps 20 haproxy --socket {} --backend be --stable stable --canary canary --interval 60s 2>{d}/stderr; echo exit=$?",
        env!("CARGO_BIN_EXE_aviary"),
        audit.display(),
        proxy.addr,
        d = dir.path().display(),
    );
    let tmux = Tmux::shell("slowquit", 120, 36, &cmd);
    tmux.wait("the haproxy:be row", 30, |s| s.contains("haproxy:be"));
    tmux.keys("p");
    tmux.keys("w");
    tmux.type_line("40");
    tmux.wait("the set-weight dialog", 10, |s| {
        s.contains("Confirm set weight")
    });
    tmux.keys("y");
    tmux.wait("40% set", 15, |s| {
        s.contains("████  40%") && !s.contains("Confirm")
    });
    tmux.keys("A");
    tmux.wait("the abort dialog", 10, |s| s.contains("Confirm abort"));
    tmux.keys("y");
    // The abort in flight takes the canary to 0 %: nothing will be left mid-way, so `q`
    // asks nothing and goes straight to waiting for it.
    tmux.keys("q");
    tmux.wait("the wait on screen", 5, |s| {
        s.contains("quitting: waiting for 1 write in flight (abort on haproxy:be)")
    });
    tmux.wait("exit", 15, |s| s.contains("exit=0"));
    let log = std::fs::read_to_string(&audit).unwrap();
    assert_paired(&log);
    assert!(
        log.lines()
            .any(|l| l.contains("\"action\":\"abort\"") && l.contains("\"result\":\"ok\"")),
        "{log}"
    );
    assert_eq!(hp.weight("canary"), 0);
    // It went to 0 %: nothing is left mid-way, so the shell is told nothing.
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(!stderr.contains("left at canary"), "{stderr}");
}
