//! The executor's safety rules, with a recording router: no write goes out unless its intent
//! line is on disk, `--read-only` stops writes even if `update` were bypassed, and a failed
//! write comes back as an error, once.

use async_trait::async_trait;
use aviary::audit::AuditLog;
use aviary::domain::change::{Command, OpId, Origin, RouterChange, WriteOk, WriteRequest};
use aviary::domain::{ProviderKind, RolloutKey, Weight};
use aviary::effect::{Effect, Executor};
use aviary::msg::Msg;
use aviary::providers::{Router, RouterError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Default)]
struct Recording {
    calls: AtomicUsize,
    fail: bool,
}

#[async_trait]
impl Router for Recording {
    async fn apply(&self, _req: &WriteRequest) -> Result<WriteOk, RouterError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.fail {
            Err(RouterError::Failed("connection refused".into()))
        } else {
            Ok(WriteOk::default())
        }
    }
}

fn write(command: Command, to: Weight) -> Effect {
    Effect::Write(WriteRequest {
        op: OpId(1),
        target: RolloutKey::new(ProviderKind::Demo, "checkout"),
        command,
        origin: Origin::Operator,
        before: Weight::from_whole(30).expect("weight"),
        requested: Some(to),
        change: RouterChange::CanaryWeight(to),
        expected_version: None,
        builds: Default::default(),
    })
}

fn abort() -> Effect {
    write(Command::Abort, Weight::ZERO)
}

async fn run(audit: AuditLog, read_only: bool, router: Arc<Recording>) -> Result<WriteOk, String> {
    run_effect(audit, read_only, router, abort()).await.0
}

/// Runs one effect; returns its result and any audit-failure warnings sent before it.
async fn run_effect(
    audit: AuditLog,
    read_only: bool,
    router: Arc<Recording>,
    effect: Effect,
) -> (Result<WriteOk, String>, Vec<String>) {
    let (tx, mut rx) = mpsc::channel(8);
    let ex = Executor::new(Arc::new(audit), read_only, "tester".into(), tx)
        .with_router(ProviderKind::Demo, router);
    ex.run(effect);
    let mut warnings = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(Msg::WriteDone(d))) => return (d.result, warnings),
            Ok(Some(Msg::AuditFailed(w))) => warnings.push(w),
            other => panic!("no WriteDone: {other:?}"),
        }
    }
}

#[tokio::test]
async fn no_write_without_its_intent_on_disk_except_break_glass_abort() {
    // /dev/full accepts the open and fails every write (ENOSPC): the audit cannot be written.
    let full = || AuditLog::open(std::path::Path::new("/dev/full")).expect("open /dev/full");
    let router = Arc::new(Recording::default());
    let (r, warned) = run_effect(
        full(),
        false,
        router.clone(),
        write(Command::SetWeight(Weight::FULL), Weight::FULL),
    )
    .await;
    assert!(
        r.as_ref().is_err_and(|e| e.contains("not written")),
        "{r:?}"
    );
    assert!(warned.is_empty(), "{warned:?}");
    assert_eq!(
        router.calls.load(Ordering::SeqCst),
        0,
        "the router was written unaudited"
    );
    // An abort to stable goes out anyway, and says loudly that it is unaudited.
    let (r, warned) = run_effect(full(), false, router.clone(), abort()).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(router.calls.load(Ordering::SeqCst), 1);
    assert!(
        warned
            .iter()
            .any(|w| w.contains("AUDIT LOG FAILED") && w.contains("stderr")),
        "{warned:?}"
    );
}

#[tokio::test]
async fn read_only_is_enforced_again_in_the_executor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let router = Arc::new(Recording::default());
    let r = run(AuditLog::open(&path).expect("audit"), true, router.clone()).await;
    assert!(r.as_ref().is_err_and(|e| e.contains("read-only")), "{r:?}");
    assert_eq!(router.calls.load(Ordering::SeqCst), 0);
    let log = std::fs::read_to_string(&path).expect("log");
    assert!(
        log.contains("\"result\":\"error\"") && log.contains("read-only"),
        "{log}"
    );
}

#[tokio::test]
async fn a_failed_write_is_reported_once_and_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.jsonl");
    let router = Arc::new(Recording {
        fail: true,
        ..Default::default()
    });
    let r = run(AuditLog::open(&path).expect("audit"), false, router.clone()).await;
    assert!(
        r.as_ref().is_err_and(|e| e.contains("connection refused")),
        "{r:?}"
    );
    assert_eq!(router.calls.load(Ordering::SeqCst), 1, "retried");
    let log = std::fs::read_to_string(&path).expect("log");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(lines[0].contains("\"stage\":\"intent\""));
    assert!(lines[1].contains("\"stage\":\"result\"") && lines[1].contains("\"result\":\"error\""));
}
