//! Real requests through the demo's weighted router: the split follows the weight, and an
//! operator abort issued through the core (update → executor → audit → router) sends every
//! following request to the stable build (v1.4.2).

use aviary::app::App;
use aviary::audit::AuditLog;
use aviary::demo::{DemoOptions, DemoWorld, Scenario};
use aviary::domain::change::Command;
use aviary::domain::{Plan, ProviderKind, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::demo::{self as demo_provider, DemoRouter};
use aviary::session::Session;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

async fn world() -> (DemoWorld, tokio_util::sync::CancellationToken) {
    let cancel = tokio_util::sync::CancellationToken::new();
    let opts = DemoOptions {
        scenario: Scenario::Faulty,
        seed: 7,
        rps: 0,
        listen: "127.0.0.1:0".parse().expect("addr"),
    };
    (
        DemoWorld::start(&opts, cancel.clone())
            .await
            .expect("demo world"),
        cancel,
    )
}

/// Sends `n` requests (8 at a time) and counts the `x-aviary-build` answers per build.
async fn count_builds(addr: SocketAddr, n: usize) -> (usize, usize) {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/");
    let mut stable = 0;
    let mut canary = 0;
    for chunk in 0..n.div_ceil(8) {
        let batch = (0..8.min(n - chunk * 8)).map(|_| client.get(&url).send());
        for r in futures::future::join_all(batch).await {
            let r = r.expect("request through the router");
            match r
                .headers()
                .get("x-aviary-build")
                .and_then(|v| v.to_str().ok())
            {
                Some("v1.4.2") => stable += 1,
                Some("v1.5.0") => canary += 1,
                other => panic!("unexpected build header {other:?}"),
            }
        }
    }
    (stable, canary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_percent_canary_gets_thirty_percent_of_real_requests() {
    let (world, cancel) = world().await;
    world
        .router
        .set_canary(Weight::from_whole(30).expect("weight"));
    let (stable, canary) = count_builds(world.router_addr, 1000).await;
    assert_eq!(stable + canary, 1000);
    let share = canary as f64 / 10.0;
    assert!(
        (25.0..=35.0).contains(&share),
        "canary got {share}% of 1000 requests"
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_through_the_core_sends_everything_to_stable() {
    let (world, cancel) = world().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let audit_path = dir.path().join("audit.jsonl");
    let audit = Arc::new(AuditLog::open(&audit_path).expect("audit"));
    let mut app = App::new(SystemTime::now(), Plan::default());
    app.start_paused = true;
    let mut session = Session::new(app, audit, "tester".into());
    session.add_router(
        ProviderKind::Demo,
        Arc::new(DemoRouter::single(world.router.clone())),
    );
    let mut rollout = demo_provider::rollout(&world);
    world
        .router
        .set_canary(Weight::from_whole(30).expect("weight"));
    rollout.set_canary_weight(world.router.canary());
    session.dispatch(Msg::Provider(ProviderEvent::Upsert {
        source: demo_provider::source(),
        rollout: Box::new(rollout),
    }));
    session.dispatch(Msg::Operator {
        target: demo_provider::key(),
        command: Command::Abort,
    });
    let done = tokio::time::timeout(Duration::from_secs(5), session.rx.recv())
        .await
        .expect("write finished in time")
        .expect("a message");
    assert!(
        matches!(&done, Msg::WriteDone(d) if d.result.is_ok()),
        "{done:?}"
    );
    session.dispatch(done);
    assert_eq!(
        session.app.rollouts[&demo_provider::key()]
            .rollout
            .canary_weight(),
        Weight::ZERO
    );

    let (stable, canary) = count_builds(world.router_addr, 200).await;
    assert_eq!((stable, canary), (200, 0));

    let log = std::fs::read_to_string(&audit_path).expect("audit log");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert_eq!(lines[0]["stage"], "intent");
    assert_eq!(lines[0]["action"], "abort");
    assert_eq!(lines[0]["before"], 30.0);
    assert_eq!(lines[0]["requested"], 0.0);
    assert_eq!(lines[1]["stage"], "result");
    assert_eq!(lines[1]["result"], "ok");
    cancel.cancel();
}
