//! aviary with Dynatrace as its metrics source, against a real HAProxy (Debian 2.6) as the
//! router and a local stand-in for the Dynatrace Metrics API v2 that serves HAProxy's own
//! counters as per-minute buckets (tests/it/saas/standin.rs: it checks the path, the
//! `metricSelector`/`from`/`resolution` parameters and the `Authorization: Api-Token` header
//! as <https://docs.dynatrace.com/docs/dynatrace-api/environment-api/metric-v2/get-data-points>
//! and <https://docs.dynatrace.com/docs/shortlink/api-authentication> specify, and answers
//! with the documented `MetricData` shape). Change events go to the same stand-in's
//! `POST /api/v2/events/ingest`
//! (<https://docs.dynatrace.com/docs/shortlink/api-events-v2-post-event>).

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

const TOKEN: &str = "dt0c01.ST2EY72KQINMH574WMNVI7YN.G3DFPBEJYMODIDAEX454M7YWBUVEFOWKPRVMWFASS64NFH52PX6BNDVFFM572RZM";

struct Rig {
    _builds: Builds,
    hp: Haproxy,
    dt: StandIn,
    dir: tempfile::TempDir,
}

impl Rig {
    fn token_file(&self) -> String {
        self.dir.path().join("dt-token").display().to_string()
    }
}

async fn rig(s: Scenario) -> Option<Rig> {
    if !have("haproxy") {
        return None;
    }
    let builds = Builds::start(s).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let dt = StandIn::start(
        Api::Dynatrace,
        hp.socket.clone(),
        vec![("Authorization", format!("Api-Token {TOKEN}"))],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dt-token"), format!("{TOKEN}\n")).unwrap();
    Some(Rig {
        _builds: builds,
        hp,
        dt,
        dir,
    })
}

fn assert_no_token(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "the token leaked into {what}");
    assert!(
        !text.contains("G3DFPBEJYMOD"),
        "the token's secret part leaked into {what}"
    );
}

/// The faulty canary (about 10 % failures) is rolled back by the autopilot on Dynatrace's
/// numbers alone; every query was well-formed and authenticated; each write was announced
/// as a Dynatrace event; the token appears in no output and no audit line.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faulty_canary_rolls_back_on_dynatrace_metrics() {
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
        .args(["--dynatrace", &rig.dt.url, "--dynatrace-token-file"])
        .arg(rig.token_file())
        .args(["--headless", "--duration", "90s"])
        .args(["--interval", "2s", "--threshold", "2", "--step", "20"])
        .args([
            "--max-weight",
            "60",
            "--max-error-rate",
            "2",
            "--judge",
            "threshold",
        ])
        .args([
            "--event-webhook",
            &rig.dt.url,
            "--event-format",
            "dynatrace",
        ])
        .arg("--event-token-file")
        .arg(rig.token_file())
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

    let seen = rig.dt.seen();
    assert!(seen.len() >= 5, "{seen:?}");
    for r in &seen {
        assert!(r.auth_ok && r.refused.is_none(), "{r:?}");
        assert_eq!(r.path, "/api/v2/metrics/query");
        assert_eq!(r.query["resolution"], "1m");
        assert_eq!(r.query["from"], "now-5m");
    }
    let sel = &seen[0].query["metricSelector"];
    assert!(
        sel.starts_with(
            r#"calc:service.aviary_requests:filter(or(eq("build","canary"),eq("build","stable"))):splitBy("build"):sum,"#
        ),
        "{sel}"
    );

    // Each write went to the events API as a documented EventIngest.
    let events = rig.dt.events();
    assert!(events.len() >= 2, "{events:?}");
    for (_, e) in &events {
        dynatrace_event_shape(e);
    }
    let last = &events.last().unwrap().1;
    assert_eq!(last["eventType"], "CUSTOM_DEPLOYMENT");
    assert_eq!(last["properties"]["action"], "abort");
    assert_eq!(last["properties"]["weight.after"], "0");
    assert_eq!(last["properties"]["build.canary"], "canary");
    assert_eq!(last["properties"]["build.stable"], "stable");
    assert!(
        last["properties"]["backout plan"]
            .as_str()
            .unwrap()
            .contains("haproxy:be")
    );

    let audit_text = std::fs::read_to_string(&audit).unwrap();
    assert_no_token("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_token("stderr", &stderr);
    assert_no_token("the audit log", &audit_text);
}

/// The EventIngest object of the Events API v2 reference: `eventType` from its list,
/// `title`, and `properties` as a string map; nothing it does not define.
fn dynatrace_event_shape(e: &serde_json::Value) {
    let allowed = [
        "eventType",
        "title",
        "startTime",
        "endTime",
        "timeout",
        "entitySelector",
        "properties",
    ];
    let o = e.as_object().expect("an object");
    for k in o.keys() {
        assert!(allowed.contains(&k.as_str()), "unknown field {k} in {e}");
    }
    assert!(
        ["CUSTOM_DEPLOYMENT", "CUSTOM_CONFIGURATION"].contains(&e["eventType"].as_str().unwrap()),
        "{e}"
    );
    assert!(!e["title"].as_str().unwrap().is_empty());
    for (k, v) in e["properties"].as_object().unwrap() {
        assert!(v.is_string(), "property {k} is not a string: {e}");
    }
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
        "--dynatrace",
        &rig.dt.url,
        "--dynatrace-token-file",
        &rig.token_file(),
        "--interval",
        "2s",
        "--step",
        "10",
        "--judge",
        "threshold",
    ])
    .unwrap()
}

/// A stand-in that starts answering 401, then one that answers garbage: the source turns
/// stale with a message that says what is wrong, the autopilot writes nothing meanwhile,
/// and the message never carries the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_401_or_garbage_turns_dynatrace_stale_and_the_autopilot_holds() {
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
    let source = SourceId(format!("dynatrace {}", rig.dt.url));
    pump_until(
        &mut session,
        Duration::from_secs(20),
        "Dynatrace numbers for the canary",
        |app| {
            app.rollouts
                .get(&key)
                .is_some_and(|t| t.totals.get("stable").is_some_and(|x| x.0 > 0))
                && !app.is_stale(&source)
        },
    )
    .await;
    for (mode, expect) in [
        (Mode::Unauthorized, "Dynatrace 401"),
        (Mode::Garbage, "not the Metrics API's JSON"),
    ] {
        rig.dt.set_mode(mode);
        pump_until(&mut session, Duration::from_secs(5), expect, |app| {
            app.sources
                .get(&source)
                .and_then(|s| s.last_error.as_deref())
                .is_some_and(|e| e.contains(expect))
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
        rig.dt.set_mode(Mode::Ok);
        pump_until(&mut session, Duration::from_secs(5), "fresh again", |app| {
            !app.is_stale(&source)
        })
        .await;
    }
    session.cancel.cancel();
}

/// The binary with a token the stand-in refuses: it starts anyway (a warning, not a
/// refusal), says why, and prints the token nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_token_is_a_warning_and_never_printed() {
    let Some(rig) = rig(Scenario::Healthy).await else {
        return;
    };
    rig.dt.set_mode(Mode::Unauthorized);
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
        .args(["--dynatrace", &rig.dt.url])
        .env("DT_API_TOKEN", TOKEN)
        .args(["--headless", "--duration", "3s", "--audit-log"])
        .arg(&audit)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning: Dynatrace 401"), "{stderr}");
    assert!(stderr.contains("token"), "{stderr}");
    assert_no_token("stdout", &String::from_utf8_lossy(&out.stdout));
    assert_no_token("stderr", &stderr);
    assert_no_token(
        "the audit log",
        &std::fs::read_to_string(&audit).unwrap_or_default(),
    );
    // No token at all is a refusal before anything starts, naming both ways to give one.
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
        .args(["--dynatrace", &rig.dt.url, "--headless", "--duration", "3s"])
        .env_remove("DT_API_TOKEN")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--dynatrace-token-file") && stderr.contains("DT_API_TOKEN"),
        "{stderr}"
    );
}
