//! aviary against a real HAProxy (Debian 2.6) with its Prometheus exporter, scraped every
//! second by a real Prometheus (Debian 2.42), both started here on loopback. The builds
//! behind HAProxy are aviary's demo build servers; the faulty canary fails ~10 % of requests.
//! Plans are shortened (2 s interval, threshold 2) so each run takes seconds.

use crate::support;

use aviary::cli::{Cli, Commands};
use aviary::demo::Scenario;
use aviary::domain::change::Command;
use aviary::domain::{Phase, Plan, ProviderKind, RolloutKey, Weight};
use aviary::msg::Msg;
use clap::Parser;
use std::time::{Duration, Instant};
use support::servers::*;

struct Rig {
    _builds: Builds,
    hp: Haproxy,
    prom: Prometheus,
}

async fn rig(s: Scenario) -> Option<Rig> {
    if !have("haproxy") || !have("prometheus") {
        return None;
    }
    let builds = Builds::start(s).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let exporter = hp.exporter;
    let prom = tokio::task::spawn_blocking(move || Prometheus::start(exporter))
        .await
        .unwrap();
    Some(Rig {
        _builds: builds,
        hp,
        prom,
    })
}

async fn rolls_back_on_its_own(judge: &str, template: Option<&str>) {
    let Some(rig) = rig(Scenario::Faulty).await else {
        return;
    };
    let _load = Load::start(rig.hp.frontend, 100);
    let hook = Hook::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut extra = Vec::new();
    if let Some(t) = template {
        let f = dir.path().join("template.toml");
        std::fs::write(&f, t).unwrap();
        extra = vec!["--prometheus-template".to_string(), f.display().to_string()];
    }
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["haproxy", "--socket", &rig.hp.socket_arg()])
        .args(&extra)
        .args([
            "--backend",
            "be",
            "--stable",
            "stable",
            "--canary",
            "canary",
        ])
        .args([
            "--prometheus",
            &rig.prom.url,
            "--headless",
            "--duration",
            "90s",
        ])
        .args(["--interval", "2s", "--threshold", "2", "--step", "20"])
        .args([
            "--max-weight",
            "60",
            "--max-error-rate",
            "2",
            "--judge",
            judge,
        ])
        .args(["--event-webhook", &hook.url, "--audit-log"])
        .arg(audit_file(dir.path()))
        // `$USER` can be unset: the actor comes from the uid regardless.
        .env_remove("USER")
        .env_remove("LOGNAME")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out.stdout);
    let s = summary(&lines);
    assert_eq!(s["rollout"], "haproxy:be", "{s}");
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    assert!(s["canary_failed_requests"].as_u64().unwrap() > 0, "{s}");
    // HAProxy itself says the canary gets nothing now.
    assert!(rig.hp.cmd("get weight be/canary").starts_with("0 "));
    assert_eq!(rig.hp.weight("stable"), 256);
    // Every write was announced with its undo, the rollback last.
    let events = hook.events.lock().unwrap().clone();
    assert!(events.len() >= 2, "{events:?}");
    let me = {
        use std::os::unix::fs::MetadataExt;
        let uid = std::fs::metadata("/proc/self").unwrap().uid();
        aviary::session::user_for(&std::fs::read_to_string("/etc/passwd").unwrap(), uid).unwrap()
    };
    assert!(
        events.iter().all(|e| e["actor"] == me.as_str()),
        "{events:?}"
    );
    let log = std::fs::read_to_string(audit_file(dir.path())).unwrap();
    assert!(
        log.lines()
            .all(|l| l.contains(&format!("\"actor\":\"{me}\""))),
        "{log}"
    );
    assert!(events.iter().all(|e| e["target"] == "haproxy:be"));
    // The weight rose first (the canary got traffic), then came the rollback.
    assert_eq!(
        (&events[0]["action"], &events[0]["after"]),
        (&"set_weight".into(), &20.0.into()),
        "{events:?}"
    );
    let last = events.last().unwrap();
    assert_eq!(
        (&last["action"], &last["origin"], &last["after"]),
        (&"abort".into(), &"autopilot".into(), &0.0.into())
    );
    assert!(last["undo"].as_str().unwrap().contains("haproxy:be"));
    let audit = std::fs::read_to_string(audit_file(dir.path())).unwrap();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"stage\":\"result\"") && l.contains("\"action\":\"abort\""))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_canary_rolls_back_on_its_own_threshold_judge() {
    rolls_back_on_its_own("threshold", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_canary_rolls_back_on_its_own_stat_judge() {
    rolls_back_on_its_own("stat", None).await;
}

/// A custom template from a file (here counting requests by HAProxy's load-balancing
/// decisions instead of responses) drives the same rollback.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_canary_rolls_back_with_a_custom_template() {
    let t = r#"build_labels = ["proxy", "server"]
requests = "sum by ({by}) (haproxy_server_loadbalanced_total{{filter}})"
errors = "sum by ({by}) (haproxy_server_http_responses_total{code=\"5xx\",{filter}})"
p50 = "max by ({by}) (haproxy_server_response_time_average_seconds{{filter}})"
latency_to_ms = 1000.0
"#;
    rolls_back_on_its_own("threshold", Some(t)).await;
}

fn args(rig: &Rig, dir: &std::path::Path, extra: &[&str]) -> Cli {
    let socket = rig.hp.socket_arg();
    let audit = audit_file(dir).display().to_string();
    let mut argv = vec![
        "aviary",
        "--audit-log",
        &audit,
        "haproxy",
        "--socket",
        &socket,
        "--backend",
        "be",
        "--stable",
        "stable",
        "--canary",
        "canary",
        "--prometheus",
        &rig.prom.url,
        "--judge",
        "threshold",
    ];
    argv.extend_from_slice(extra);
    Cli::try_parse_from(argv).unwrap()
}

/// In-process, so the test can press "abort" (a confirmed `Msg::Operator`, as the TUI sends
/// after its dialog) and watch HAProxy's answer; and compare the per-build request counts
/// aviary reports with HAProxy's own counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn manual_abort_reaches_haproxy_within_one_refresh_and_counts_agree() {
    let Some(rig) = rig(Scenario::Healthy).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cli = args(
        &rig,
        dir.path(),
        &["--interval", "2s", "--step", "20", "--max-weight", "80"],
    );
    let Commands::Haproxy(a) = cli.command else {
        unreachable!()
    };
    let mut session = aviary::run::haproxy_session(&a, &cli.global, &Plan::default())
        .await
        .unwrap();
    let key = RolloutKey::new(ProviderKind::Haproxy, "be");
    // Baseline first, then traffic: aviary counts what it watched.
    pump(&mut session, Duration::from_secs(2)).await;
    let load = Load::start(rig.hp.frontend, 100);
    let twenty = Weight::from_whole(20).unwrap();
    pump_until(
        &mut session,
        Duration::from_secs(30),
        "canary at 20 %",
        |app| {
            app.rollouts
                .get(&key)
                .is_some_and(|t| t.rollout.canary_weight() >= twenty)
        },
    )
    .await;
    pump(&mut session, Duration::from_secs(3)).await;
    drop(load);
    // Let the last answers land, one scrape and one refresh later.
    pump(&mut session, Duration::from_secs(4)).await;
    let t = &session.app.rollouts[&key];
    for server in ["stable", "canary"] {
        let (aviary_req, aviary_err) = t.totals[server];
        let (hp_req, hp_err) = rig.hp.counters(server);
        assert!(hp_req > 50, "{server}: only {hp_req} requests");
        let diff = (aviary_req as f64 - hp_req as f64).abs() / hp_req as f64;
        assert!(
            diff <= 0.05,
            "{server}: aviary counted {aviary_req}, HAProxy {hp_req} ({:.1}% apart)",
            diff * 100.0
        );
        assert!(aviary_err <= hp_err, "{server}: {aviary_err} > {hp_err}");
        eprintln!("{server}: aviary {aviary_req} requests, HAProxy {hp_req}");
    }
    assert!(rig.hp.weight("canary") > 0);
    session.dispatch(Msg::Operator {
        target: key.clone(),
        command: Command::Abort,
    });
    let start = Instant::now();
    while rig.hp.weight("canary") != 0 {
        assert!(
            start.elapsed() < a.refresh,
            "abort not visible in get weight after {:?}",
            start.elapsed()
        );
        pump(&mut session, Duration::from_millis(10)).await;
    }
    eprintln!("abort visible in get weight after {:?}", start.elapsed());
    pump_until(&mut session, Duration::from_secs(2), "aborted", |app| {
        app.rollouts[&key].rollout.phase == Phase::Aborted
    })
    .await;
    assert_eq!(rig.hp.weight("stable"), 256);
    session.cancel.cancel();
}
