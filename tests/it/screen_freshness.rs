//! Freshness means "answered": a real HAProxy whose weights nobody changes stays fresh for
//! as long as it answers; stopped, it turns stale within the refresh budget; restarted, it
//! is fresh again. (Before, the socket read `stale` three seconds after the weights stopped
//! changing, while HAProxy answered at once.)

use crate::support;

use aviary::cli::{Cli, Commands};
use aviary::demo::Scenario;
use aviary::domain::Plan;
use aviary::domain::observation::SourceId;
use clap::Parser;
use std::time::{Duration, Instant};
use support::servers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unchanged_haproxy_is_fresh_stopped_is_stale_restarted_is_fresh() {
    if !have("haproxy") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let mut hp = Haproxy::start(builds.stable, builds.canary);
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_file(dir.path()).display().to_string();
    let socket = hp.socket_arg();
    // With --prometheus (here one that never answers) the socket sends no `show stat`
    // counters: only the weight reads can keep it fresh, which is the case that lied.
    let prom = format!("http://127.0.0.1:{}", free_port());
    // --read-only: nothing writes, so the weights stay as they are.
    let cli = Cli::try_parse_from([
        "aviary",
        "haproxy",
        "--socket",
        &socket,
        "--backend",
        "be",
        "--stable",
        "stable",
        "--canary",
        "canary",
        "--read-only",
        "--audit-log",
        &audit,
        "--prometheus",
        &prom,
    ])
    .unwrap();
    let Commands::Haproxy(a) = cli.command else {
        unreachable!()
    };
    let refresh = a.refresh;
    let mut session = aviary::run::haproxy_session(&a, &cli.global, &Plan::default())
        .await
        .unwrap();
    let source = SourceId(format!("haproxy {socket}"));
    pump_until(
        &mut session,
        Duration::from_secs(5),
        "first answer",
        |app| {
            app.sources
                .get(&source)
                .is_some_and(|s| s.last_ok.is_some())
        },
    )
    .await;
    let budget = session.app.stale_after;
    assert!(budget <= refresh * 3 + Duration::from_secs(3), "{budget:?}");

    // 30 s of identical answers: never stale, not for one look.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30) {
        pump(&mut session, Duration::from_millis(200)).await;
        assert!(
            !session.app.is_stale(&source),
            "stale after {:?} with HAProxy answering: {:?}",
            start.elapsed(),
            session.app.sources.get(&source)
        );
    }
    assert_eq!(hp.weight("canary"), 0, "nothing wrote");

    // Stopped: stale within the refresh budget (plus one refresh to notice).
    hp.stop();
    let took = pump_until(
        &mut session,
        budget + refresh * 2,
        "stale after HAProxy stopped",
        |app| app.is_stale(&source),
    )
    .await;
    assert!(took <= budget + refresh * 2, "{took:?}");

    // Restarted: fresh again within a refresh or two.
    hp.restart();
    pump_until(
        &mut session,
        refresh * 4 + Duration::from_secs(2),
        "fresh after HAProxy restarted",
        |app| !app.is_stale(&source),
    )
    .await;
    session.cancel.cancel();
}
