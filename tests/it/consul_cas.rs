//! The Consul router against a local HTTP server that implements Consul's config-entry
//! endpoints (`GET /v1/config/<kind>/<name>`, `PUT /v1/config?cas=<ModifyIndex>`) with real
//! check-and-set semantics, seeded with the fixture entries in tests/fixtures/consul/.
//!
//! No Consul server can run here (none is packaged for this machine), so
//! this server stands in for one: it answers with the fixture objects, keeps a global index
//! as Consul does, answers a CAS write `true` or `false`, rejects splits that do not sum to
//! 100, enforces an ACL token when asked to, and records every request it receives.

use aviary::domain::change::{Command, OpId, Origin, RouterChange, WriteRequest};
use aviary::domain::{ProviderKind, RolloutKey, Weight};
use aviary::http_api::Secret;
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::consul::{Consul, ConsulClient, ConsulRouter};
use aviary::providers::{Router, RouterError};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    cas: Option<String>,
    body: Option<Value>,
    token: Option<String>,
}

#[derive(Default)]
struct State_ {
    index: u64,
    entries: BTreeMap<(String, String), Value>,
    requests: Vec<Req>,
    /// A competing writer's entry, written just before the next PUT is handled: the race
    /// between aviary's read and aviary's write.
    race: Option<Value>,
    token: Option<String>,
}

type Shared = Arc<Mutex<State_>>;

fn fixture(rel: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/consul")
        .join(rel);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

fn denied(st: &State_, headers: &HeaderMap) -> bool {
    st.token.as_ref().is_some_and(|t| {
        headers.get("x-consul-token").and_then(|v| v.to_str().ok()) != Some(t.as_str())
    })
}

fn token_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-consul-token")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
}

async fn get_entry(
    State(s): State<Shared>,
    Path((kind, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    let mut st = s.lock().unwrap();
    st.requests.push(Req {
        method: "GET",
        path: format!("/v1/config/{kind}/{name}"),
        cas: None,
        body: None,
        token: token_of(&headers),
    });
    if denied(&st, &headers) {
        return (StatusCode::FORBIDDEN, "Permission denied".into());
    }
    match st.entries.get(&(kind.clone(), name.clone())) {
        Some(e) => (StatusCode::OK, e.to_string()),
        None => (
            StatusCode::NOT_FOUND,
            format!("Config entry not found for {kind:?} / {name:?}"),
        ),
    }
}

fn store(st: &mut State_, mut entry: Value) {
    let key = (
        entry["Kind"].as_str().unwrap().to_string(),
        entry["Name"].as_str().unwrap().to_string(),
    );
    st.index += 1;
    let create = st
        .entries
        .get(&key)
        .and_then(|e| e["CreateIndex"].as_u64())
        .unwrap_or(st.index);
    entry["CreateIndex"] = create.into();
    entry["ModifyIndex"] = st.index.into();
    st.entries.insert(key, entry);
}

async fn put_entry(
    State(s): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    let mut st = s.lock().unwrap();
    let entry: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("Request decode failed: {e}"),
            );
        }
    };
    st.requests.push(Req {
        method: "PUT",
        path: "/v1/config".into(),
        cas: q.get("cas").cloned(),
        body: Some(entry.clone()),
        token: token_of(&headers),
    });
    if denied(&st, &headers) {
        return (StatusCode::FORBIDDEN, "Permission denied".into());
    }
    if let Some(other) = st.race.take() {
        store(&mut st, other);
    }
    if entry["Kind"] == "service-splitter" {
        let sum: f64 = entry["Splits"]
            .as_array()
            .map(|a| a.iter().map(|s| s["Weight"].as_f64().unwrap_or(0.0)).sum())
            .unwrap_or(0.0);
        if (sum - 100.0).abs() > 1e-6 {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the sum of all split weights must be 100, not {sum}"),
            );
        }
    }
    let key = (
        entry["Kind"].as_str().unwrap_or_default().to_string(),
        entry["Name"].as_str().unwrap_or_default().to_string(),
    );
    if let Some(cas) = q.get("cas") {
        let current = st
            .entries
            .get(&key)
            .and_then(|e| e["ModifyIndex"].as_u64())
            .unwrap_or(0);
        if cas.parse::<u64>().ok() != Some(current) {
            return (StatusCode::OK, "false".into());
        }
    }
    store(&mut st, entry);
    (StatusCode::OK, "true".into())
}

struct FakeConsul {
    url: String,
    state: Shared,
}

impl FakeConsul {
    async fn start(splitter: Value) -> FakeConsul {
        let mut st = State_::default();
        let index = splitter["ModifyIndex"].as_u64().unwrap_or(35);
        let mut resolver = fixture("config-entries/service-resolver-version-subsets.json");
        resolver["CreateIndex"] = 12.into();
        resolver["ModifyIndex"] = 12.into();
        let mut splitter = splitter;
        splitter["CreateIndex"] = splitter["CreateIndex"].as_u64().unwrap_or(15).into();
        splitter["ModifyIndex"] = index.into();
        for e in [resolver, splitter] {
            let k = (
                e["Kind"].as_str().unwrap().to_string(),
                e["Name"].as_str().unwrap().to_string(),
            );
            st.entries.insert(k, e);
        }
        st.index = index;
        let state = Arc::new(Mutex::new(st));
        let app = axum::Router::new()
            .route("/v1/config/{kind}/{name}", axum::routing::get(get_entry))
            .route("/v1/config", axum::routing::put(put_entry))
            .with_state(state.clone());
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        FakeConsul {
            url: format!("http://{addr}"),
            state,
        }
    }

    fn puts(&self) -> Vec<Req> {
        let st = self.state.lock().unwrap();
        st.requests
            .iter()
            .filter(|r| r.method == "PUT")
            .cloned()
            .collect()
    }

    fn splitter(&self) -> Value {
        let st = self.state.lock().unwrap();
        st.entries[&("service-splitter".to_string(), "web".to_string())].clone()
    }

    fn weights(&self) -> Vec<f64> {
        self.splitter()["Splits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Weight"].as_f64().unwrap())
            .collect()
    }
}

fn assembled() -> Value {
    fixture("api/get-config-service-splitter-web.response.assembled.json")
}

async fn connect(fake: &FakeConsul, token: Option<&str>) -> (Arc<Consul>, mpsc::Receiver<Msg>) {
    let (tx, rx) = mpsc::channel(64);
    let client = ConsulClient::new(&fake.url, token.map(Secret::from)).unwrap();
    let (c, _) = Consul::connect(client, "web", None, None, tx)
        .await
        .unwrap();
    (c, rx)
}

fn set(w: f64, version: Option<&str>) -> WriteRequest {
    let w = Weight::from_percent(w).unwrap();
    WriteRequest {
        op: OpId(1),
        target: RolloutKey::new(ProviderKind::Consul, "web"),
        command: Command::SetWeight(w),
        origin: Origin::Operator,
        before: Weight::from_whole(10).unwrap(),
        requested: Some(w),
        change: RouterChange::CanaryWeight(w),
        expected_version: version.map(String::from),
        builds: Default::default(),
    }
}

#[tokio::test]
async fn fixture_splitter_becomes_a_rollout_and_a_cas_write_changes_only_weights() {
    let fake = FakeConsul::start(fixture(
        "config-entries/service-splitter-response-headers.json",
    ))
    .await;
    let (c, _rx) = connect(&fake, None).await;
    assert_eq!((c.stable.as_str(), c.canary.as_str()), ("v1", "v2"));
    let sp = c.client.splitter("web").await.unwrap().unwrap();
    let r = c.rollout(&sp);
    assert_eq!(r.key.to_string(), "consul:web");
    assert_eq!(r.canary_weight(), Weight::from_whole(10).unwrap());
    assert_eq!(r.version.as_deref(), Some("35"));

    let ok = ConsulRouter(c.clone())
        .apply(&set(33.33, Some("35")))
        .await
        .unwrap();
    assert_eq!(ok.canary_weight, Some(Weight::from_percent(33.33).unwrap()));
    assert_eq!(ok.version.as_deref(), Some("36"));
    let puts = fake.puts();
    assert_eq!(puts.len(), 1);
    assert_eq!(
        (puts[0].path.as_str(), puts[0].cas.as_deref()),
        ("/v1/config", Some("35"))
    );
    let body = puts[0].body.clone().unwrap();
    // The whole entry goes back, headers included, only the weights changed, no indexes.
    let mut want = fixture("config-entries/service-splitter-response-headers.json");
    want["Splits"][0]["Weight"] = json!(66.67);
    want["Splits"][1]["Weight"] = json!(33.33);
    assert_eq!(body, want);
    assert_eq!(fake.weights(), vec![66.67, 33.33]);
}

#[tokio::test]
async fn a_write_between_read_and_write_fails_cleanly_and_is_not_retried() {
    let fake = FakeConsul::start(assembled()).await;
    let (c, mut rx) = connect(&fake, None).await;
    let mut theirs = fixture("config-entries/service-splitter-two-subsets.json");
    theirs["Splits"][0]["Weight"] = json!(50);
    theirs["Splits"][1]["Weight"] = json!(50);
    fake.state.lock().unwrap().race = Some(theirs);

    let err = ConsulRouter(c.clone())
        .apply(&set(20.0, Some("35")))
        .await
        .unwrap_err();
    let RouterError::Conflict(msg) = &err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("cas=35 lost the race"), "{msg}");
    assert!(msg.contains("now v1 50%, v2 50% (ModifyIndex 36)"), "{msg}");
    // Nothing of aviary's write landed: the other writer's entry is there, whole.
    assert_eq!(fake.weights(), vec![50.0, 50.0]);
    assert_eq!(fake.splitter()["ModifyIndex"], 36);
    // One attempt, never retried.
    assert_eq!(fake.puts().len(), 1);
    // The re-read state was sent to the app.
    let mut seen = None;
    while let Ok(m) = rx.try_recv() {
        if let Msg::Provider(ProviderEvent::Upsert { rollout, .. }) = m {
            seen = Some(rollout);
        }
    }
    let r = seen.expect("re-read rollout");
    assert_eq!(r.canary_weight(), Weight::from_whole(50).unwrap());
    assert_eq!(r.version.as_deref(), Some("36"));
}

#[tokio::test]
async fn a_stale_version_is_refused_without_a_write() {
    let fake = FakeConsul::start(assembled()).await;
    let (c, _rx) = connect(&fake, None).await;
    let err = ConsulRouter(c)
        .apply(&set(20.0, Some("30")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RouterError::Conflict(m) if m.contains("ModifyIndex 30 → 35")),
        "{err:?}"
    );
    assert!(fake.puts().is_empty());
}

#[tokio::test]
async fn weights_that_cannot_sum_to_100_are_never_sent() {
    let mut three = assembled();
    three["Splits"] = json!([
        {"Weight": 80, "ServiceSubset": "v1"},
        {"Weight": 10, "ServiceSubset": "v2"},
        {"Weight": 10, "Service": "web-legacy"}
    ]);
    let fake = FakeConsul::start(three).await;
    let (tx, _rx) = mpsc::channel(64);
    let client = ConsulClient::new(&fake.url, None).unwrap();
    let (c, _) = Consul::connect(client, "web", Some("v1"), Some("v2"), tx)
        .await
        .unwrap();
    let err = ConsulRouter(c.clone())
        .apply(&set(95.0, None))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, RouterError::Refused(m) if m.contains("exceed 100%") && m.contains("nothing sent")),
        "{err:?}"
    );
    assert!(fake.puts().is_empty());
    // Within bounds, the third split keeps its share and the total is exactly 100.
    ConsulRouter(c).apply(&set(25.0, None)).await.unwrap();
    assert_eq!(fake.weights(), vec![65.0, 25.0, 10.0]);
    // And the guard itself refuses a body that does not sum to 100.
    let client = ConsulClient::new(&fake.url, None).unwrap();
    let mut bad = fake.splitter();
    bad["Splits"][0]["Weight"] = json!(66);
    let err = client.put_cas(&bad, 36).await.unwrap_err();
    assert!(err.to_string().contains("sum to 101.00"), "{err}");
    assert_eq!(fake.puts().len(), 1);
}

#[tokio::test]
async fn acl_token_goes_in_the_header_and_never_into_messages() {
    let fake = FakeConsul::start(assembled()).await;
    fake.state.lock().unwrap().token = Some("s3cret-token".into());
    let (c, _rx) = connect(&fake, Some("s3cret-token")).await;
    ConsulRouter(c).apply(&set(20.0, None)).await.unwrap();
    assert!(
        fake.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .all(|r| r.token.as_deref() == Some("s3cret-token"))
    );
    let wrong = ConsulClient::new(&fake.url, Some("wrong-token".into())).unwrap();
    let err = wrong.splitter("web").await.unwrap_err();
    assert!(
        err.contains("HTTP 403") && !err.contains("wrong-token"),
        "{err}"
    );
    assert!(!format!("{wrong:?}").contains("wrong-token"));
}

#[tokio::test]
async fn a_service_without_splitter_or_with_unknown_subsets_is_named() {
    let fake = FakeConsul::start(assembled()).await;
    let (tx, _rx) = mpsc::channel(64);
    let client = ConsulClient::new(&fake.url, None).unwrap();
    let err = Consul::connect(client.clone(), "api", None, None, tx.clone())
        .await
        .unwrap_err();
    assert!(
        err.contains("has no service-splitter config entry for service \"api\""),
        "{err}"
    );
    let err = Consul::connect(client.clone(), "web", None, Some("v9"), tx.clone())
        .await
        .unwrap_err();
    assert!(err.contains("no split \"v9\" for the canary"), "{err}");
    let mut bad = assembled();
    bad["Splits"][1]["ServiceSubset"] = json!("v3");
    let fake2 = FakeConsul::start(bad).await;
    let client = ConsulClient::new(&fake2.url, None).unwrap();
    let err = Consul::connect(client, "web", None, None, tx)
        .await
        .unwrap_err();
    assert!(
        err.contains("subset \"v3\", which service-resolver \"web\" does not define"),
        "{err}"
    );
}

/// Through the binary: a missing splitter stops aviary before anything starts, with a
/// message naming the service; `CONSUL_HTTP_TOKEN` is used when there is no token file.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_names_a_missing_splitter_and_uses_consul_http_token() {
    let fake = FakeConsul::start(assembled()).await;
    fake.state.lock().unwrap().token = Some("env-token".into());
    let run = |service: &'static str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
            .args(["consul", "--addr", &fake.url, "--service", service])
            .args(["--headless", "--duration", "2s", "--audit-log", "/dev/null"])
            .env("CONSUL_HTTP_TOKEN", "env-token")
            .output()
    };
    let out = run("checkout").await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("has no service-splitter config entry for service \"checkout\""),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = run("web").await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"rollout\":\"consul:web\""), "{text}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("env-token"));
    assert!(
        fake.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .all(|r| r.token.as_deref() == Some("env-token"))
    );
}

/// A Consul write made through the session (an operator's confirmed set-weight) is posted
/// to `--event-webhook` with before/after and the undo, like every router write.
#[tokio::test(flavor = "multi_thread")]
async fn a_consul_write_posts_a_change_event() {
    use aviary::cli::{Cli, Commands};
    use clap::Parser;
    let fake = FakeConsul::start(assembled()).await;
    let events: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = events.clone();
    let hook = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
            let keep = keep.clone();
            async move {
                keep.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, hook).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl").display().to_string();
    let cli = Cli::try_parse_from([
        "aviary",
        "--audit-log",
        &audit,
        "--event-webhook",
        &hook_url,
        "consul",
        "--addr",
        &fake.url,
        "--service",
        "web",
    ])
    .unwrap();
    let Commands::Consul(a) = cli.command else {
        unreachable!()
    };
    let mut session =
        aviary::run::consul_session(&a, &cli.global, &aviary::domain::Plan::default())
            .await
            .unwrap();
    let key = RolloutKey::new(ProviderKind::Consul, "web");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !session.app.rollouts.contains_key(&key) {
        let m = session.rx.recv().await.unwrap();
        session.dispatch(m);
    }
    session.dispatch(Msg::Operator {
        target: key.clone(),
        command: Command::SetWeight(Weight::from_whole(30).unwrap()),
    });
    while events.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no change event");
        if let Ok(Some(m)) =
            tokio::time::timeout(std::time::Duration::from_millis(100), session.rx.recv()).await
        {
            session.dispatch(m);
        }
    }
    let e = events.lock().unwrap()[0].clone();
    assert_eq!(e["target"], "consul:web");
    assert_eq!(
        (e["before"].as_f64(), e["after"].as_f64()),
        (Some(10.0), Some(30.0))
    );
    assert_eq!(e["result"], "ok");
    assert!(e["undo"].as_str().unwrap().contains("back to 10%"), "{e}");
    assert_eq!(fake.weights(), vec![70.0, 30.0]);
    session.cancel.cancel();
}

/// The documented "two different services" splitter: builds are the services, and the
/// metrics target names each destination service with no subset.
#[tokio::test]
async fn a_split_across_two_services_steps_the_second_service() {
    let mut e = fixture("config-entries/service-splitter-two-services.json");
    e["ModifyIndex"] = json!(40);
    let fake = FakeConsul::start(e).await;
    let (c, _rx) = connect(&fake, None).await;
    assert_eq!(
        (c.stable.as_str(), c.canary.as_str()),
        ("web", "web-rewrite")
    );
    let t = c.target();
    let labels: Vec<_> = t.builds.iter().map(|b| b.labels.clone()).collect();
    assert_eq!(labels[1]["consul_destination_service"], "web-rewrite");
    assert_eq!(labels[1]["consul_destination_service_subset"], "");
    ConsulRouter(c).apply(&set(10.0, Some("40"))).await.unwrap();
    assert_eq!(fake.weights(), vec![90.0, 10.0]);
    let body = fake.puts()[0].body.clone().unwrap();
    assert_eq!(body["Splits"][1]["Service"], "web-rewrite");
    assert!(body["Splits"][0].get("Service").is_none());
}
