//! A real Prometheus (Debian 2.42) scraping a real HAProxy (Debian 2.6) is stopped in the
//! middle of a rollout: the source must turn stale within two refreshes, and the autopilot
//! must hold (no write, the *why* says the metrics are stale) rather than step blind.

mod support;

use aviary::cli::{Cli, Commands};
use aviary::demo::Scenario;
use aviary::domain::{Plan, ProviderKind, RolloutKey, Weight};
use aviary::metrics::SourceId;
use clap::Parser;
use std::time::Duration;
use support::servers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_prometheus_turns_stale_within_two_refreshes_and_the_autopilot_holds() {
    if !have("haproxy") || !have("prometheus") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let exporter = hp.exporter;
    let mut prom = tokio::task::spawn_blocking(move || Prometheus::start(exporter))
        .await
        .unwrap();
    let _load = Load::start(hp.frontend, 100);
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_file(dir.path()).display().to_string();
    let cli = Cli::try_parse_from([
        "aviary",
        "--audit-log",
        &audit,
        "haproxy",
        "--socket",
        &hp.socket_arg(),
        "--backend",
        "be",
        "--stable",
        "stable",
        "--canary",
        "canary",
        "--prometheus",
        &prom.url,
        "--interval",
        "2s",
        "--step",
        "10",
        "--max-weight",
        "90",
        "--judge",
        "threshold",
    ])
    .unwrap();
    let Commands::Haproxy(a) = cli.command else {
        unreachable!()
    };
    let mut session = aviary::run::haproxy_session(&a, &cli.global, &Plan::default())
        .await
        .unwrap();
    let key = RolloutKey::new(ProviderKind::Haproxy, "be");
    let source = SourceId(format!("prometheus {}", prom.url));
    let ten = Weight::from_whole(10).unwrap();
    pump_until(
        &mut session,
        Duration::from_secs(30),
        "first step with metrics",
        |app| {
            app.rollouts.get(&key).is_some_and(|t| {
                t.rollout.canary_weight() >= ten
                    && t.latest.get("canary").is_some_and(|s| s.requests > 0)
            }) && !app.is_stale(&source)
        },
    )
    .await;

    prom.stop();
    let took = pump_until(&mut session, Duration::from_secs(5), "stale badge", |app| {
        app.is_stale(&source)
    })
    .await;
    assert!(took <= 2 * a.refresh, "stale after {took:?}");
    eprintln!("source stale {took:?} after Prometheus stopped (refresh {:?})", a.refresh);
    let why = session.app.sources[&source].last_error.clone().unwrap();
    assert!(why.contains("unreachable"), "{why}");

    // Once the last sample is older than the stale limit the autopilot holds, and keeps
    // holding for several intervals: no write, the weight stays, the why says so.
    let limit = session.app.stale_after;
    pump(&mut session, limit).await;
    let held = session.app.rollouts[&key].rollout.canary_weight();
    let writes = || std::fs::read_to_string(&audit).unwrap().lines().count();
    let before = writes();
    pump(&mut session, 3 * a.plan.interval.unwrap()).await;
    let t = &session.app.rollouts[&key];
    assert_eq!(t.rollout.canary_weight(), held);
    assert!(t.pending.is_none());
    assert!(t.rollout.message.contains("stale"), "{}", t.rollout.message);
    assert_eq!(writes(), before, "the autopilot wrote while blind");
    assert_eq!(hp.weight("canary") > 0, held > Weight::ZERO);
    session.cancel.cancel();
}
