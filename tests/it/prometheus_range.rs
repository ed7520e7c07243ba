//! `query_range` back-fill against a real Prometheus (Debian 2.42) scraping a real HAProxy
//! (Debian 2.6) every second: the per-build history aviary draws when a rollout is opened
//! adds up to HAProxy's own counters.

use crate::support;

use aviary::demo::Scenario;
use aviary::domain::{ProviderKind, RolloutKey};
use aviary::metrics::poller::backfill;
use aviary::metrics::prometheus::PromClient;
use aviary::metrics::templates::{BuildTarget, DataPlane, Target, Template};
use std::time::{Duration, SystemTime};
use support::servers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backfilled_history_adds_up_to_haproxys_counters() {
    if !have("haproxy") || !have("prometheus") {
        return;
    }
    let builds = Builds::start(Scenario::Faulty).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    hp.cmd("set server be/canary weight 64; set server be/stable weight 192");
    let exporter = hp.exporter;
    let prom = tokio::task::spawn_blocking(move || Prometheus::start(exporter))
        .await
        .unwrap();
    let start = SystemTime::now() - Duration::from_secs(1);
    let load = Load::start(hp.frontend, 100);
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop(load);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let key = RolloutKey::new(ProviderKind::Haproxy, "be");
    let target = Target {
        key: key.clone(),
        builds: ["stable", "canary"]
            .iter()
            .map(|s| BuildTarget {
                name: s.to_string(),
                labels: [
                    ("proxy".into(), "be".into()),
                    ("server".into(), s.to_string()),
                ]
                .into(),
            })
            .collect(),
    };
    let client = PromClient::new(&prom.url, Duration::from_secs(5)).unwrap();
    let t = Template::builtin(DataPlane::Haproxy).unwrap();
    let h = backfill(
        &client,
        &t,
        &[target],
        start,
        SystemTime::now(),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    for server in ["stable", "canary"] {
        let points = &h[&(key.clone(), server.to_string())];
        assert!(points.len() >= 5, "{server}: {} points", points.len());
        let req: u64 = points.iter().map(|p| p.1.requests).sum();
        let err: u64 = points.iter().map(|p| p.1.errors).sum();
        let (hp_req, hp_err) = hp.counters(server);
        let diff = (req as f64 - hp_req as f64).abs() / hp_req as f64;
        eprintln!("{server}: back-fill {req} requests / {err} 5xx, HAProxy {hp_req} / {hp_err}");
        assert!(diff <= 0.05, "{server}: back-fill {req}, HAProxy {hp_req}");
        assert!(
            points
                .iter()
                .all(|p| p.1.period_s > 0.0 && p.1.errors <= p.1.requests)
        );
    }
    // The canary's 5xx are there; the average response time came along as the typical latency.
    let canary = &h[&(key.clone(), "canary".to_string())];
    assert!(canary.iter().map(|p| p.1.errors).sum::<u64>() > 0);
    assert!(canary.iter().any(|p| p.1.p50_ms.is_some_and(|ms| ms > 0.0)));
}
