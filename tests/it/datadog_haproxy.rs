//! aviary with Datadog as its metrics source, against a real HAProxy (Debian 2.6) as the
//! router and a local stand-in for the Datadog v1 metrics query API that serves HAProxy's
//! own counters as per-interval counts (tests/it/saas/standin.rs: it checks the path, the
//! `from`/`to`/`query` parameters and the `DD-API-KEY` and `DD-APPLICATION-KEY` headers as
//! <https://docs.datadoghq.com/api/latest/metrics/query-timeseries-points/> specifies, and
//! answers with the documented `{"status":"ok","series":[…]}` shape). Change events go to
//! the same stand-in's `POST /api/v1/events`
//! (<https://docs.datadoghq.com/api/latest/events/post-an-event/>).

use crate::standin;
use crate::support;

use aviary::cli::{Cli, Commands};
use aviary::demo::Scenario;
use aviary::domain::observation::SourceId;
use aviary::domain::{Plan, ProviderKind, RolloutKey};
use clap::Parser;
use standin::{Api, Mode, StandIn};
use std::time::Duration;
use support::servers::*;

const API_KEY: &str = "9775a026f1ca7d1c6c5af9d94d9595a4";
const APP_KEY: &str = "j4JyCYfefWHhgFgiZUqRm63AXHNZQyPGBfJtAzmN";

struct Rig {
    _builds: Builds,
    hp: Haproxy,
    dd: StandIn,
    dir: tempfile::TempDir,
}

impl Rig {
    fn api_key_file(&self) -> String {
        self.dir.path().join("dd-api").display().to_string()
    }
    fn app_key_file(&self) -> String {
        self.dir.path().join("dd-app").display().to_string()
    }
}

async fn rig(s: Scenario) -> Option<Rig> {
    if !have("haproxy") {
        return None;
    }
    let builds = Builds::start(s).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let dd = StandIn::start(
        Api::Datadog,
        hp.socket.clone(),
        vec![
            ("DD-API-KEY", API_KEY.to_string()),
            ("DD-APPLICATION-KEY", APP_KEY.to_string()),
        ],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dd-api"), format!("{API_KEY}\n")).unwrap();
    std::fs::write(dir.path().join("dd-app"), APP_KEY).unwrap();
    Some(Rig {
        _builds: builds,
        hp,
        dd,
        dir,
    })
}

fn assert_no_token(what: &str, text: &str) {
    assert!(!text.contains(API_KEY), "the API key leaked into {what}");
    assert!(
        !text.contains(APP_KEY),
        "the application key leaked into {what}"
    );
}

/// The faulty canary (about 10 % failures) is rolled back by the autopilot on Datadog's
/// numbers alone; every query was well-formed and carried both keys; each write was
/// announced as a Datadog event; neither key appears in any output or audit line.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_canary_rolls_back_on_datadog_metrics() {
    let Some(rig) = rig(Scenario::Faulty).await else {
        return;
    };
    let _load = Load::start(rig.hp.frontend, 100);
    let audit = audit_file(rig.dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["haproxy", "--socket", &rig.hp.socket_arg()])
        .args([
            "--backend",
            "be",
            "--stable",
            "stable",
            "--canary",
            "canary",
        ])
        .args(["--datadog", &rig.dd.url, "--datadog-api-key-file"])
        .arg(rig.api_key_file())
        .arg("--datadog-app-key-file")
        .arg(rig.app_key_file())
        .args(["--headless", "--duration", "90s"])
        .args(["--interval", "2s", "--threshold", "2", "--step", "20"])
        .args([
            "--max-weight",
            "60",
            "--max-error-rate",
            "2",
            "--judge",
            "stat",
        ])
        .args(["--event-webhook", &rig.dd.url, "--event-format", "datadog"])
        .env("DD_API_KEY", API_KEY)
        .arg("--audit-log")
        .arg(&audit)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = json_lines(&out.stdout);
    let s = summary(&lines);
    assert_eq!(s["rollout"], "haproxy:be", "{s}");
    assert_eq!(s["outcome"], "rolled_back", "{s}\n{stderr}");
    assert!(s["canary_failed_requests"].as_u64().unwrap() > 0, "{s}");
    assert!(rig.hp.cmd("get weight be/canary").starts_with("0 "));

    let seen = rig.dd.seen();
    assert!(seen.len() >= 5, "{seen:?}");
    for r in &seen {
        assert!(r.auth_ok && r.refused.is_none(), "{r:?}");
        assert_eq!(r.path, "/api/v1/query");
        let from: u64 = r.query["from"].parse().unwrap();
        let to: u64 = r.query["to"].parse().unwrap();
        assert_eq!(to - from, 300, "{r:?}");
    }
    assert_eq!(
        seen[0].query["query"],
        "sum:trace.http.request.hits{(version:canary OR version:stable)} by {version}.as_count(),\
         sum:trace.http.request.errors{(version:canary OR version:stable)} by {version}.as_count(),\
         p50:trace.http.request{(version:canary OR version:stable)} by {version},\
         p99:trace.http.request{(version:canary OR version:stable)} by {version}"
    );

    // Each write went to the events API as a documented event.
    let events = rig.dd.events();
    assert!(events.len() >= 2, "{events:?}");
    for (_, e) in &events {
        datadog_event_shape(e);
    }
    let last = &events.last().unwrap().1;
    let tags: Vec<&str> = last["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"rollout:haproxy:be"), "{tags:?}");
    assert!(tags.contains(&"action:abort"), "{tags:?}");
    assert!(tags.contains(&"canary_weight_after:0"), "{tags:?}");
    assert!(tags.contains(&"canary_build:canary"), "{tags:?}");
    assert_eq!(last["alert_type"], "warning");
    assert!(last["text"].as_str().unwrap().contains("Backout plan"));

    let audit_text = std::fs::read_to_string(&audit).unwrap();
    assert_no_token("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_token("stderr", &stderr);
    assert_no_token("the audit log", &audit_text);
}

/// The v1 event request body of the Events API reference: `title` and `text` required,
/// `tags` a list of strings, `alert_type` from its list, `aggregation_key` at most 100
/// characters, `date_happened` an integer, and nothing it does not define.
fn datadog_event_shape(e: &serde_json::Value) {
    let allowed = [
        "aggregation_key",
        "alert_type",
        "date_happened",
        "device_name",
        "host",
        "priority",
        "related_event_id",
        "source_type_name",
        "tags",
        "text",
        "title",
    ];
    let o = e.as_object().expect("an object");
    for k in o.keys() {
        assert!(allowed.contains(&k.as_str()), "unknown field {k} in {e}");
    }
    assert!(!e["title"].as_str().unwrap().is_empty());
    assert!(e["text"].as_str().unwrap().len() <= 4000);
    assert!(e["tags"].as_array().unwrap().iter().all(|t| t.is_string()));
    assert!(
        [
            "error",
            "warning",
            "info",
            "success",
            "user_update",
            "recommendation",
            "snapshot"
        ]
        .contains(&e["alert_type"].as_str().unwrap()),
        "{e}"
    );
    assert!(e["aggregation_key"].as_str().unwrap().len() <= 100);
    assert!(e["date_happened"].is_u64(), "{e}");
}

fn cli(rig: &Rig, audit: &str) -> Cli {
    Cli::try_parse_from([
        "aviary",
        "--audit-log",
        audit,
        "haproxy",
        "--socket",
        &rig.hp.socket_arg(),
        "--backend",
        "be",
        "--stable",
        "stable",
        "--canary",
        "canary",
        "--datadog",
        &rig.dd.url,
        "--datadog-api-key-file",
        &rig.api_key_file(),
        "--datadog-app-key-file",
        &rig.app_key_file(),
        "--interval",
        "2s",
        "--step",
        "10",
        "--judge",
        "threshold",
    ])
    .unwrap()
}

/// A stand-in that starts answering 403, then one that answers garbage: the source turns
/// stale with a message that says what is wrong, the autopilot writes nothing meanwhile,
/// and the message never carries a key.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_403_or_garbage_turns_datadog_stale_and_the_autopilot_holds() {
    let Some(rig) = rig(Scenario::Healthy).await else {
        return;
    };
    let _load = Load::start(rig.hp.frontend, 100);
    let audit = audit_file(rig.dir.path()).display().to_string();
    let cli = cli(&rig, &audit);
    let Commands::Haproxy(a) = cli.command else {
        unreachable!()
    };
    let mut session = aviary::run::haproxy_session(&a, &cli.global, &Plan::default())
        .await
        .unwrap();
    let key = RolloutKey::new(ProviderKind::Haproxy, "be");
    let source = SourceId(format!("datadog {}", rig.dd.url));
    pump_until(
        &mut session,
        Duration::from_secs(20),
        "Datadog numbers for the stable build",
        |app| {
            app.rollouts
                .get(&key)
                .is_some_and(|t| t.totals.get("stable").is_some_and(|x| x.0 > 0))
                && !app.is_stale(&source)
        },
    )
    .await;
    for (mode, expect) in [
        (Mode::Unauthorized, "Datadog 403: Forbidden"),
        (Mode::Garbage, "not the metrics query API's JSON"),
    ] {
        rig.dd.set_mode(mode);
        // A step decided on fresh numbers just before the source failed may still be in
        // flight; its result lands when it lands. Blind means no *new* write, so the held
        // weight is read once nothing is pending.
        pump_until(&mut session, Duration::from_secs(5), expect, |app| {
            app.sources
                .get(&source)
                .and_then(|s| s.last_error.as_deref())
                .is_some_and(|e| e.contains(expect))
                && app.rollouts.get(&key).is_some_and(|t| t.pending.is_none())
        })
        .await;
        assert!(session.app.is_stale(&source));
        let why = session.app.sources[&source].last_error.clone().unwrap();
        assert_no_token("the stale message", &why);
        let held = session.app.rollouts[&key].rollout.canary_weight();
        let writes = || {
            std::fs::read_to_string(&audit)
                .unwrap_or_default()
                .lines()
                .count()
        };
        let before = writes();
        pump(&mut session, Duration::from_secs(5)).await;
        assert_eq!(session.app.rollouts[&key].rollout.canary_weight(), held);
        assert_eq!(writes(), before, "the autopilot wrote while blind ({why})");
        rig.dd.set_mode(Mode::Ok);
        pump_until(&mut session, Duration::from_secs(5), "fresh again", |app| {
            !app.is_stale(&source)
        })
        .await;
    }
    session.cancel.cancel();
}

/// The binary with keys the stand-in refuses: it starts anyway (a warning, not a refusal),
/// says why, and prints the keys nowhere; a missing key is a refusal naming both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_keys_are_a_warning_and_never_printed() {
    let Some(rig) = rig(Scenario::Healthy).await else {
        return;
    };
    rig.dd.set_mode(Mode::Unauthorized);
    let audit = audit_file(rig.dir.path());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["haproxy", "--socket", &rig.hp.socket_arg()])
        .args([
            "--backend",
            "be",
            "--stable",
            "stable",
            "--canary",
            "canary",
        ])
        .args(["--datadog", &rig.dd.url])
        .env("DD_API_KEY", API_KEY)
        .env("DD_APP_KEY", APP_KEY)
        .args(["--headless", "--duration", "3s", "--audit-log"])
        .arg(&audit)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: Datadog 403"), "{stderr}");
    assert!(stderr.contains("keys"), "{stderr}");
    assert_no_token("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_token("stderr", &stderr);
    assert_no_token(
        "the audit log",
        &std::fs::read_to_string(&audit).unwrap_or_default(),
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["haproxy", "--socket", &rig.hp.socket_arg()])
        .args([
            "--backend",
            "be",
            "--stable",
            "stable",
            "--canary",
            "canary",
        ])
        .args(["--datadog", &rig.dd.url, "--headless", "--duration", "3s"])
        .env("DD_API_KEY", API_KEY)
        .env_remove("DD_APP_KEY")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--datadog-app-key-file") && stderr.contains("DD_APP_KEY"),
        "{stderr}"
    );
}
