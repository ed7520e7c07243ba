//! Every captured Prometheus 2.42 response (tests/fixtures/prometheus/captured, byte-for-byte
//! server output) and every documented example goes through aviary's real HTTP client against
//! a local server that answers with the fixture body and its recorded HTTP status. The test
//! asserts what a user would see: the samples, or the error message on the stale badge.

use aviary::domain::{ProviderKind, RolloutKey};
use aviary::metrics::poller::{Deltas, combine};
use aviary::metrics::prometheus::{PromClient, QueryData};
use aviary::metrics::templates::{BuildTarget, DataPlane, Target, Template};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus")
}

#[derive(Default)]
struct Stub {
    statuses: HashMap<String, u16>,
    auth: Mutex<Vec<Option<String>>>,
}

/// Answers `/api/v1/query*?query=<fixture file>` with that file and its recorded status.
async fn answer(
    State(stub): State<Arc<Stub>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    stub.auth.lock().unwrap().push(
        headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
    );
    let name = q.get("query").cloned().unwrap_or_default();
    let body = std::fs::read(fixtures().join(&name)).unwrap_or_default();
    let status = stub
        .statuses
        .get(name.trim_start_matches("captured/"))
        .copied()
        .unwrap_or(if name.contains("tsdbNotReady") {
            503
        } else {
            200
        });
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body,
    )
}

async fn stub() -> (String, Arc<Stub>) {
    let codes: HashMap<String, String> = serde_json::from_slice(
        &std::fs::read(fixtures().join("captured/http-status-codes.json")).unwrap(),
    )
    .unwrap();
    let stub = Arc::new(Stub {
        statuses: codes
            .into_iter()
            .map(|(k, v)| (k, v.parse().unwrap()))
            .collect(),
        ..Default::default()
    });
    let app = axum::Router::new()
        .route("/api/v1/query", axum::routing::get(answer))
        .route("/api/v1/query_range", axum::routing::get(answer))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), stub)
}

fn client(url: &str) -> PromClient {
    PromClient::new(url, Duration::from_secs(5)).unwrap()
}

#[tokio::test]
async fn every_error_fixture_becomes_a_clear_message() {
    let (url, _) = stub().await;
    let c = client(&url);
    let cases = [
        (
            "captured/error-bad_data-parse.json",
            "Prometheus 400 bad_data: invalid parameter \"query\": 1:4: parse error: unexpected end of input inside braces (the query is invalid",
        ),
        (
            "captured/error-bad_data-missing-query.json",
            "400 bad_data: 1:1: parse error: no expression found in input",
        ),
        (
            "captured/error-bad_data-end-before-start.json",
            "end timestamp must not be before start time",
        ),
        (
            "captured/error-bad_data-timeout-param.json",
            "cannot parse \"1ns\" to a valid duration",
        ),
        (
            "captured/error-bad_data-too-many-points.json",
            "exceeded maximum resolution of 11,000 points",
        ),
        (
            "captured/error-execution-many-to-many.json",
            "Prometheus 422 execution: found duplicate series",
        ),
        (
            "captured/error-timeout-503.json",
            "Prometheus 503 timeout: query timed out in query queue (Prometheus timed out or is overloaded; metrics are stale)",
        ),
        (
            "docs/openapi-query-default-tsdbNotReady.json",
            "Prometheus 503 internal: TSDB not ready",
        ),
    ];
    for (file, want) in cases {
        let err = c.query(file).await.expect_err(file).to_string();
        assert!(err.contains(want), "{file}: {err}");
    }
}

#[tokio::test]
async fn every_success_fixture_maps_to_its_samples() {
    let (url, _) = stub().await;
    let c = client(&url);

    let up = c.query("captured/query-vector-up.json").await.unwrap();
    let v = up.into_vector().unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].labels["job"], "prometheus");
    assert_eq!((v[0].ts, v[0].value), (1795346459.597, 1.0));

    let rate = c.query("captured/query-vector-rate-by-code.json").await;
    let v = rate.unwrap().into_vector().unwrap();
    assert_eq!(v[0].labels["code"], "200");
    assert_eq!(v[0].value, 0.14950333333333335);

    for empty in [
        "captured/query-vector-empty.json",
        "captured/query-vector-error-ratio.json",
    ] {
        assert!(
            c.query(empty)
                .await
                .unwrap()
                .into_vector()
                .unwrap()
                .is_empty()
        );
    }

    let v = c
        .query("captured/query-vector-nan-inf.json")
        .await
        .unwrap()
        .into_vector()
        .unwrap();
    let by_kind: BTreeMap<_, _> = v
        .iter()
        .map(|s| (s.labels["kind"].clone(), s.value))
        .collect();
    assert!(by_kind["nan"].is_nan());
    assert_eq!(by_kind["posinf"], f64::INFINITY);
    assert_eq!(by_kind["neginf"], f64::NEG_INFINITY);

    let a = c.query("captured/query-scalar.json").await.unwrap();
    assert_eq!(
        a.data,
        QueryData::Scalar {
            ts: 1795346459.619,
            value: 1.0
        }
    );
    let err = a.into_vector().unwrap_err().to_string();
    assert!(
        err.contains("expected an instant vector, got scalar"),
        "{err}"
    );
    let a = c.query("captured/query-string.json").await.unwrap();
    assert_eq!(
        a.data,
        QueryData::String {
            ts: 1795346459.626,
            value: "canary".into()
        }
    );

    let m = c.query("captured/query-matrix-range-selector.json").await;
    let QueryData::Matrix(m) = m.unwrap().data else {
        panic!("matrix")
    };
    assert_eq!(m[0].points.len(), 6);
    assert_eq!(m[0].points[0], (1795346429.754, 1.0));

    let start = UNIX_EPOCH + Duration::from_secs(1795346429);
    let end = start + Duration::from_secs(30);
    let step = Duration::from_secs(15);
    let r = c
        .query_range(
            "captured/query_range-matrix-rate-by-handler.json",
            start,
            end,
            step,
        )
        .await;
    let QueryData::Matrix(m) = r.unwrap().data else {
        panic!("matrix")
    };
    assert_eq!(m.len(), 2);
    assert_eq!(m[1].labels["handler"], "/metrics");
    assert_eq!(m[1].points[2], (1795346459.0, 0.2));
    for f in [
        "captured/query_range-matrix-up.json",
        "docs/api-md-query_range-matrix-up.json", // second series: node down, then up
        "docs/openapi-query_range-200-matrixResult.json",
        "docs/openapi-query-200-matrixResult.json",
    ] {
        let QueryData::Matrix(m) = c.query_range(f, start, end, step).await.unwrap().data else {
            panic!("{f}: matrix")
        };
        assert!(m.iter().all(|s| s.labels["__name__"] == "up"), "{f}");
        assert!(m[0].points.iter().all(|p| p.1 == 1.0), "{f}");
        assert!(
            m.iter()
                .all(|s| s.points.iter().all(|p| p.1 == 0.0 || p.1 == 1.0)),
            "{f}"
        );
    }
    let QueryData::Matrix(m) = c
        .query_range("captured/query_range-matrix-empty.json", start, end, step)
        .await
        .unwrap()
        .data
    else {
        panic!("matrix")
    };
    assert!(m.is_empty());
    for f in [
        "docs/api-md-query-vector-up.json",
        "docs/openapi-query-200-vectorResult.json",
    ] {
        let v = c.query(f).await.unwrap().into_vector().unwrap();
        assert_eq!(v.len(), 2, "{f}");
    }
    let a = c.query("docs/openapi-query-200-scalarResult.json").await;
    assert!(matches!(a.unwrap().data, QueryData::Scalar { value, .. } if value == 42.0));
}

fn target() -> Target {
    Target {
        key: RolloutKey::new(ProviderKind::Istio, "checkout"),
        builds: ["checkout-v1", "checkout-v2"]
            .iter()
            .map(|b| BuildTarget {
                name: b.to_string(),
                labels: [("destination_workload".to_string(), b.to_string())].into(),
            })
            .collect(),
    }
}

fn vector(body: &str) -> Vec<aviary::metrics::prometheus::Sample> {
    aviary::metrics::prometheus::parse_response(200, body.as_bytes())
        .unwrap()
        .into_vector()
        .unwrap()
}

/// The 5xx query answers with the captured empty vector while requests flow: that is 0
/// failures (a 0 % error rate), not "no data".
#[test]
fn empty_error_vector_with_traffic_is_zero_errors_not_no_data() {
    let t = Template::builtin(DataPlane::Istio).unwrap();
    let empty =
        std::fs::read_to_string(fixtures().join("captured/query-vector-error-ratio.json")).unwrap();
    let req = |n: u32| {
        vector(&format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[
            {{"metric":{{"destination_workload":"checkout-v2"}},"value":[1,"{n}"]}}]}}}}"#
        ))
    };
    let mut d = Deltas::default();
    let t0 = UNIX_EPOCH + Duration::from_secs(1);
    let targets = [target()];
    d.step(
        t0,
        combine(&t, &targets, &req(100), &vector(&empty), None, None),
    );
    let out = d.step(
        t0 + Duration::from_secs(1),
        combine(&t, &targets, &req(130), &vector(&empty), None, None),
    );
    let s = &out[&targets[0].key]["checkout-v2"];
    assert_eq!((s.requests, s.errors, s.error_rate()), (30, 0, Some(0.0)));
    // The build with no request series at all has no sample: no data, not zero traffic.
    assert!(!out[&targets[0].key].contains_key("checkout-v1"));
}

/// A NaN latency (no traffic in the window) or an infinite request total is no data.
#[test]
fn nan_and_inf_values_never_become_numbers_on_screen() {
    let t = Template::builtin(DataPlane::Istio).unwrap();
    let targets = [target()];
    let both = |a: &str, b: &str| {
        vector(&format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[
            {{"metric":{{"destination_workload":"checkout-v1"}},"value":[1,"{a}"]}},
            {{"metric":{{"destination_workload":"checkout-v2"}},"value":[1,"{b}"]}}]}}}}"#
        ))
    };
    let mut d = Deltas::default();
    let t0 = UNIX_EPOCH;
    let p99 = Some(both("NaN", "+Inf"));
    d.step(
        t0,
        combine(&t, &targets, &both("10", "10"), &[], None, p99.clone()),
    );
    let out = d.step(
        t0 + Duration::from_secs(1),
        combine(&t, &targets, &both("20", "+Inf"), &[], None, p99),
    );
    let v1 = &out[&targets[0].key]["checkout-v1"];
    assert_eq!((v1.requests, v1.p99_ms), (10, None));
    assert!(!out[&targets[0].key].contains_key("checkout-v2"));
}

#[tokio::test]
async fn bearer_token_from_file_is_sent() {
    let (url, stub) = stub().await;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("token");
    std::fs::write(&f, "tok-123\n").unwrap();
    let c = client(&url).with_token_file(&f).unwrap();
    c.query("captured/query-vector-up.json").await.unwrap();
    assert_eq!(
        stub.auth
            .lock()
            .unwrap()
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("Bearer tok-123")
    );
    let missing = client(&url).with_token_file(&dir.path().join("nope"));
    assert!(missing.unwrap_err().contains("nope"));
}

#[tokio::test]
async fn unreachable_prometheus_is_named() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let err = client(&format!("http://{addr}"))
        .query("up")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("Prometheus at http://{addr} is unreachable")),
        "{err}"
    );
}
