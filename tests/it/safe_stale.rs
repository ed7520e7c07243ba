//! The autopilot never steps on a stale gap: a real Prometheus (Debian 2.42) scraping a real
//! HAProxy (Debian 2.6) is stopped for 30 s mid-interval and started again. The next step
//! must come only after a full interval of fresh samples, measured by the audit log's
//! timestamps against the restart.

use crate::support;

use aviary::cli::{Cli, Commands};
use aviary::demo::Scenario;
use aviary::domain::{Plan, ProviderKind, RolloutKey, Weight};
use clap::Parser;
use std::time::{Duration, SystemTime};
use support::servers::*;

fn autopilot_intents(audit: &str) -> Vec<SystemTime> {
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["stage"] == "intent" && v["origin"] == "autopilot")
        .map(|v| humantime::parse_rfc3339(v["ts"].as_str().unwrap()).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_prometheus_comes_back_a_step_waits_a_full_fresh_interval() {
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
    let interval = Duration::from_secs(4);
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
        "4s",
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
    let ten = Weight::from_whole(10).unwrap();
    pump_until(
        &mut session,
        Duration::from_secs(40),
        "the first step",
        |app| {
            app.rollouts
                .get(&key)
                .is_some_and(|t| t.rollout.canary_weight() >= ten && t.pending.is_none())
        },
    )
    .await;
    // Mid-interval: half an interval after the step.
    pump(&mut session, interval / 2).await;
    let before = autopilot_intents(&audit).len();
    prom.stop();
    pump(&mut session, Duration::from_secs(30)).await;
    assert_eq!(
        autopilot_intents(&audit).len(),
        before,
        "the autopilot stepped while Prometheus was down"
    );
    let message = session.app.rollouts[&key].rollout.message.clone();
    assert!(message.contains("stale"), "{message}");
    tokio::task::block_in_place(|| prom.restart());
    let back = SystemTime::now();
    // Prometheus answers before it has scraped again (its first scrape takes ~5 s): the
    // interval counts from the first fresh sample, not from the restart.
    let fresh = |app: &aviary::app::App| {
        app.rollouts[&key]
            .autopilot
            .as_ref()
            .and_then(|ap| ap.last_sample_at)
            .filter(|at| *at > back)
    };
    pump_until(
        &mut session,
        Duration::from_secs(30),
        "fresh samples",
        |app| fresh(app).is_some(),
    )
    .await;
    let fresh_at = fresh(&session.app).unwrap();
    pump_until(
        &mut session,
        Duration::from_secs(60),
        "a step after the gap",
        |_| autopilot_intents(&audit).len() > before,
    )
    .await;
    let step = autopilot_intents(&audit)[before];
    let after = step.duration_since(fresh_at).unwrap_or_default();
    eprintln!(
        "first step {:?} after Prometheus answered again, {after:?} after the first fresh sample (interval {interval:?})",
        step.duration_since(back).unwrap_or_default()
    );
    assert!(
        after >= interval,
        "stepped {after:?} after the first fresh sample, less than one full interval"
    );
    session.cancel.cancel();
}
