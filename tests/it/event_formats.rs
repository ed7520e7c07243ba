//! `--event-format`: the change-event webhook in Dynatrace's and Datadog's shapes, posted to
//! local receivers that check the auth header and body against the public references:
//! Dynatrace Events API v2 `POST /api/v2/events/ingest` with `Authorization: Api-Token …`
//! (<https://docs.dynatrace.com/docs/shortlink/api-events-v2-post-event>,
//! <https://docs.dynatrace.com/docs/shortlink/api-authentication>) and Datadog
//! `POST /api/v1/events` with `DD-API-KEY`
//! (<https://docs.datadoghq.com/api/latest/events/post-an-event/>). The generic format is
//! today's JSON, unchanged.

use aviary::change_event::{EventFormat, Webhook, datadog_event, dynatrace_event};
use aviary::domain::change::ChangeEvent;
use axum::http::HeaderMap;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn event(action: &str, after: Option<f64>, error: Option<&str>) -> ChangeEvent {
    ChangeEvent {
        ts: "2026-12-02T05:41:07.250Z".into(),
        actor: "ops@example".into(),
        target: "haproxy:be".into(),
        action: action.into(),
        origin: "autopilot".into(),
        before: 20.0,
        after,
        result: if error.is_some() { "error" } else { "ok" }.into(),
        error: error.map(str::to_string),
        undo: "set the canary of haproxy:be back to 20% (aviary: select it, press w, type 20)"
            .into(),
        message: "aviary abort on haproxy:be: canary 20% → 0%. Undo: …".into(),
        builds: Some(aviary::domain::change::BuildNames {
            stable: Some("1.4.0".into()),
            canary: Some("1.5.0".into()),
        }),
    }
}

/// Dynatrace `EventIngest`: `eventType` (one of the documented types), `title`, and
/// `properties` as string values carrying before/after weights, the backout plan, the actor
/// and the rollout key. Rollbacks and promotions are deployments; other writes are
/// configuration changes.
#[test]
fn dynatrace_payload_has_the_documented_shape() {
    let e = dynatrace_event(&event("abort", Some(0.0), None));
    assert_eq!(e["eventType"], "CUSTOM_DEPLOYMENT");
    assert_eq!(e["title"], "aviary abort on haproxy:be: canary 20% → 0%");
    let p = &e["properties"];
    assert_eq!(p["rollout"], "haproxy:be");
    assert_eq!(p["weight.before"], "20");
    assert_eq!(p["weight.after"], "0");
    assert_eq!(p["actor"], "ops@example");
    assert!(p["backout plan"].as_str().unwrap().contains("back to 20%"));
    assert_eq!(p["build.stable"], "1.4.0");
    assert_eq!(p["build.canary"], "1.5.0");
    assert!(p.as_object().unwrap().values().all(Value::is_string), "{e}");
    let keys: Vec<&String> = e.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["eventType", "properties", "title"]);

    let e = dynatrace_event(&event("set_weight", None, Some("HAProxy said no")));
    assert_eq!(e["eventType"], "CUSTOM_CONFIGURATION");
    assert_eq!(e["properties"]["weight.after"], "unchanged");
    assert_eq!(e["properties"]["error"], "HAProxy said no");
    assert_eq!(e["properties"]["result"], "error");
}

/// Datadog v1 event: `title`, `text` (summary and backout plan), `tags` as `key:value`
/// strings for the rollout and the weights, `alert_type` by outcome, `source_type_name`,
/// `aggregation_key` (≤ 100 characters) and `date_happened` in Unix seconds.
#[test]
fn datadog_payload_has_the_documented_shape() {
    let e = datadog_event(&event("abort", Some(0.0), None));
    assert_eq!(e["title"], "aviary abort on haproxy:be");
    assert!(
        e["text"]
            .as_str()
            .unwrap()
            .contains("Backout plan: set the canary")
    );
    // Datadog events have no actor field: the text names who did it.
    assert!(
        e["text"].as_str().unwrap().contains("\nBy: ops@example\n"),
        "{e}"
    );
    let tags: Vec<&str> = e["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for t in [
        "rollout:haproxy:be",
        "action:abort",
        "origin:autopilot",
        "result:ok",
        "canary_weight_before:20",
        "canary_weight_after:0",
        "build:1.4.0",
        "build:1.5.0",
        "stable_build:1.4.0",
        "canary_build:1.5.0",
    ] {
        assert!(tags.contains(&t), "{t} missing from {tags:?}");
    }
    assert_eq!(e["alert_type"], "warning");
    assert_eq!(e["source_type_name"], "aviary");
    assert_eq!(e["aggregation_key"], "haproxy:be");
    assert_eq!(e["date_happened"], 1_796_190_067u64);
    assert_eq!(
        datadog_event(&event("set_weight", None, Some("x")))["alert_type"],
        "error"
    );
    assert_eq!(
        datadog_event(&event("promote", Some(100.0), None))["alert_type"],
        "success"
    );
}

type Got = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

/// A receiver on 127.0.0.1:0 that keeps every POST and answers `status`.
async fn receiver(status: u16) -> (String, Got) {
    let got: Got = Default::default();
    let keep = got.clone();
    let app = axum::Router::new().fallback(axum::routing::post(
        move |uri: axum::http::Uri, h: HeaderMap, axum::Json(v): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push((uri.path().to_string(), h, v));
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        },
    ));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, got)
}

fn token_file(dir: &tempfile::TempDir, v: &str) -> std::path::PathBuf {
    let f = dir.path().join("token");
    std::fs::write(&f, format!("{v}\n")).unwrap();
    f
}

#[tokio::test]
async fn a_bare_dynatrace_url_gets_the_ingest_path_and_the_api_token() {
    let (url, got) = receiver(201).await;
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::from_flags(
        &url,
        EventFormat::Dynatrace,
        Some(&token_file(&dir, "dt0c01.ABC.SECRET")),
    )
    .unwrap();
    assert_eq!(hook.url(), format!("{url}/api/v2/events/ingest"));
    assert!(!format!("{hook:?}").contains("SECRET"));
    hook.post(&event("abort", Some(0.0), None)).await;
    let got = got.lock().unwrap().clone();
    let (path, h, body) = &got[0];
    assert_eq!(path, "/api/v2/events/ingest");
    assert_eq!(h["authorization"], "Api-Token dt0c01.ABC.SECRET");
    assert_eq!(body["eventType"], "CUSTOM_DEPLOYMENT");
}

#[tokio::test]
async fn a_bare_datadog_url_gets_the_events_path_and_the_api_key() {
    let (url, got) = receiver(202).await;
    let dir = tempfile::tempdir().unwrap();
    let hook = Webhook::from_flags(
        &format!("{url}/"),
        EventFormat::Datadog,
        Some(&token_file(&dir, "ddkey")),
    )
    .unwrap();
    hook.post(&event("promote", Some(100.0), None)).await;
    let got = got.lock().unwrap().clone();
    let (path, h, body) = &got[0];
    assert_eq!(path, "/api/v1/events");
    assert_eq!(h["dd-api-key"], "ddkey");
    assert_eq!(body["alert_type"], "success");
    // A site name is turned into its API host, as the reference lists per site.
    let hook = Webhook::from_flags(
        "datadoghq.eu",
        EventFormat::Datadog,
        Some(&token_file(&dir, "k")),
    )
    .unwrap();
    assert_eq!(hook.url(), "https://api.datadoghq.eu/api/v1/events");
}

/// Generic stays today's JSON, posted to the URL as given; a receiver that fails is logged
/// and forgotten (the write and its audit lines never depend on it).
#[tokio::test]
async fn generic_is_unchanged_and_a_failing_receiver_changes_nothing() {
    let (url, got) = receiver(500).await;
    let hook = Webhook::from_flags(&format!("{url}/hook"), EventFormat::Generic, None).unwrap();
    let ev = event("set_weight", Some(40.0), None);
    tokio::time::timeout(Duration::from_secs(6), hook.post(&ev))
        .await
        .expect("a failing receiver never hangs a post");
    let got = got.lock().unwrap().clone();
    assert_eq!(got[0].0, "/hook");
    assert_eq!(got[0].2, serde_json::to_value(&ev).unwrap());
    assert!(got[0].1.get("authorization").is_none());
}

/// Without a credential the Dynatrace and Datadog formats refuse to start, naming the flag
/// and the variable, before anything runs.
#[test]
fn a_missing_event_credential_is_a_refusal() {
    for (format, var) in [("dynatrace", "DT_API_TOKEN"), ("datadog", "DD_API_KEY")] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
            .args([
                "--event-webhook",
                "http://127.0.0.1:9",
                "--event-format",
                format,
            ])
            .args(["--headless", "--duration", "1s", "demo", "--rps", "0"])
            .env_remove(var)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(
            stderr.contains("--event-token-file") && stderr.contains(var),
            "{stderr}"
        );
    }
}
