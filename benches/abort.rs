//! Break-glass latency in the demo: from the confirmed abort entering `update` to the router
//! serving the next real request from build 1. Includes the audit intent line (flushed and
//! fsynced), the router write, the audit result line and one HTTP round trip through the proxy.

use aviary::app::App;
use aviary::audit::AuditLog;
use aviary::demo::{DemoOptions, DemoWorld, Scenario};
use aviary::domain::change::Command;
use aviary::domain::{Plan, ProviderKind, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::demo::{self as demo_provider, DemoRouter};
use aviary::session::Session;
use criterion::{Criterion, criterion_group, criterion_main};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

fn abort_latency(c: &mut Criterion) {
    aviary::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let (world, mut session) = rt.block_on(async {
        let cancel = tokio_util::sync::CancellationToken::new();
        let opts = DemoOptions {
            scenario: Scenario::Faulty,
            seed: 7,
            rps: 0,
            listen: "127.0.0.1:0".parse().expect("addr"),
        };
        let world = DemoWorld::start(&opts, cancel).await.expect("world");
        let audit = Arc::new(AuditLog::open(&dir.path().join("audit.jsonl")).expect("audit"));
        let mut app = App::new(SystemTime::now(), Plan::default());
        app.start_paused = true;
        let mut session = Session::new(app, audit, "bench".into());
        session.add_router(
            ProviderKind::Demo,
            Arc::new(DemoRouter::single(world.router.clone())),
        );
        session.dispatch(Msg::Provider(ProviderEvent::Upsert {
            source: demo_provider::source(),
            rollout: Box::new(demo_provider::rollout(&world)),
        }));
        (world, session)
    });
    let client = reqwest::Client::new();
    let url = format!("http://{}/", world.router_addr);
    c.bench_function("demo: abort keypress to first request on build 1", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    world.router.set_canary(Weight::FULL);
                    let k = demo_provider::key();
                    if let Some(t) = session.app.rollouts.get_mut(&k) {
                        t.rollout.set_canary_weight(Weight::FULL);
                        t.autopilot = None;
                        t.rollout.owner = aviary::domain::Owner::Manual;
                    }
                    let start = Instant::now();
                    session.dispatch(Msg::Operator {
                        target: k,
                        command: Command::Abort,
                    });
                    if let Some(m) = session.rx.recv().await {
                        session.dispatch(m);
                    }
                    let r = client.get(&url).send().await.expect("request");
                    assert_eq!(r.headers()["x-aviary-build"], "1");
                    total += start.elapsed();
                }
                total
            })
        })
    });
}

criterion_group! {
    name = abort;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = abort_latency
}
criterion_main!(abort);
