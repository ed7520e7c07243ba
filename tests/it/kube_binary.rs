//! The real `aviary` binary against a local HTTP server that speaks the Kubernetes API for the
//! kinds aviary watches (discovery, list, watch with resourceVersion and bookmarks, PATCH with
//! optimistic concurrency) and serves the fixture objects.
//!
//! Why not a real API server: none can run on this machine (no kube-apiserver, k3s, kind or
//! envtest without Docker or downloads), so `support::fake_api` stands in. The
//! binary uses its real kube client, watchers, router and audit log against it, through a
//! generated kubeconfig, exactly as it would against a cluster.

use crate::support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use support::fake_api::FakeApi;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn doc(rel: &str, kind: &str) -> Value {
    support::docs(rel)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("{rel}: no {kind}"))
}

struct Run {
    lines: Vec<Value>,
    stderr: String,
    status: std::process::ExitStatus,
}

/// Runs `aviary <args>` while `during` drives the fake server; collects its JSON lines.
async fn run_aviary<F, Fut>(args: &[&str], during: F) -> Run
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut child = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(args)
        // `$USER` unset: the actor is the uid's user plus the cluster identity.
        .env_remove("USER")
        .env_remove("LOGNAME")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn aviary");
    let stdout = child.stdout.take().unwrap();
    let reader = tokio::spawn(async move {
        let mut lines = Vec::new();
        let mut r = BufReader::new(stdout).lines();
        while let Ok(Some(l)) = r.next_line().await {
            lines.push(serde_json::from_str::<Value>(&l).unwrap_or_else(|e| panic!("{l}: {e}")));
        }
        lines
    });
    during().await;
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("aviary ended")
        .expect("aviary ran");
    Run {
        lines: reader.await.unwrap(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        status: out.status,
    }
}

/// The last progress line printed for each rollout.
fn last_lines(lines: &[Value]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for l in lines {
        if let Some(k) = l["rollout"].as_str() {
            out.insert(k.to_string(), l.clone());
        }
    }
    out
}

fn weights(line: &Value) -> BTreeMap<String, f64> {
    line["weights"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_f64().unwrap()))
        .collect()
}

fn wmap(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Waits until the binary has opened a watch on `plural` (at least `n` of them).
async fn wait_for_watch(api: &FakeApi, plural: &str, n: usize) {
    for _ in 0..200 {
        let watches = api
            .requests()
            .iter()
            .filter(|r| r.path.ends_with(plural) && r.query.contains("watch=true"))
            .count();
        if watches >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no watch on {plural}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_every_rollout_with_its_weights_and_resumes_dropped_watches() {
    let api = FakeApi::start().await;
    api.insert(doc(
        "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
        "Rollout",
    ));
    api.insert(doc(
        "argo-rollouts/objects/info-testdata/canary/canary-rollout5.yaml",
        "Rollout",
    ));
    api.insert(doc(
        "flagger/status/canary-istio-progressing.assembled.yaml",
        "Canary",
    ));
    let mut flagger_vs = doc(
        "istio/examples/flagger-generated-virtualservice-backend.yaml",
        "VirtualService",
    );
    flagger_vs["metadata"]["name"] = "podinfo".into();
    api.insert(flagger_vs);
    api.insert(doc(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    ));
    api.insert(doc("gateway-api/examples/simple-split.yaml", "HTTPRoute"));
    api.insert(doc(
        "smi/examples/spec-v1alpha4-trafficsplit-canary.no-apiversion.yaml",
        "TrafficSplit",
    ));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "--headless",
        "--duration",
        "8s",
        "--audit-log",
        audit.to_str().unwrap(),
        "kube",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "-A",
    ];
    let api2 = api.clone();
    let run = run_aviary(&args, || async move {
        wait_for_watch(&api2, "httproutes", 1).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        // A dropped connection: the watcher must resume from its resourceVersion.
        api2.drop_watches();
        tokio::time::sleep(Duration::from_millis(300)).await;
        api2.modify("httproutes", "default", "simple-split", |o| {
            o["spec"]["rules"][0]["backendRefs"][0]["weight"] = 70.into();
            o["spec"]["rules"][0]["backendRefs"][1]["weight"] = 30.into();
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        // History compacted, then dropped again: the resumed watch gets 410 and re-lists.
        api2.compact();
        api2.drop_watches();
        tokio::time::sleep(Duration::from_millis(300)).await;
        api2.modify("trafficsplits", "default", "canary", |o| {
            o["spec"]["backends"][0]["weight"] = 75.into();
            o["spec"]["backends"][1]["weight"] = 25.into();
        });
    })
    .await;
    assert!(run.status.success(), "{}", run.stderr);
    let last = last_lines(&run.lines);
    let keys: Vec<&String> = last.keys().collect();
    assert_eq!(
        keys,
        vec![
            "argo:jesse-test/canary-demo-weights",
            "argo:rollouts-demo/rollouts-demo",
            "flagger:test/podinfo",
            "httproute:default/simple-split",
            "istio:default/reviews",
            "smi:default/canary",
        ],
        "{}",
        run.stderr
    );
    let l = &last["argo:rollouts-demo/rollouts-demo"];
    assert_eq!(
        weights(l),
        wmap(&[
            ("rollouts-demo-stable", 79.0),
            ("rollouts-demo-desired", 21.0)
        ])
    );
    assert_eq!(l["phase"], "Paused");
    assert_eq!(l["step"], 1);
    assert_eq!(l["message"], "CanaryPauseStep");
    assert_eq!(
        weights(&last["argo:jesse-test/canary-demo-weights"]),
        wmap(&[("canary-demo-stable", 60.0), ("canary-demo-preview", 20.0)])
    );
    let f = &last["flagger:test/podinfo"];
    assert_eq!(
        weights(f),
        wmap(&[("podinfo-primary", 90.0), ("podinfo-canary", 10.0)])
    );
    assert_eq!(f["phase"], "Progressing");
    assert_eq!(f["step"], 2);
    assert_eq!(
        weights(&last["istio:default/reviews"]),
        wmap(&[("v1", 80.0), ("v2", 20.0)])
    );
    // Changed after the dropped watch, and after the 410 re-list.
    assert_eq!(
        weights(&last["httproute:default/simple-split"]),
        wmap(&[("foo-v1", 70.0), ("foo-v2", 30.0)])
    );
    assert_eq!(
        weights(&last["smi:default/canary"]),
        wmap(&[("website-v1", 75.0), ("website-v2", 25.0)])
    );
    // The first print shows the original 90/10 before the change arrived.
    let first = run
        .lines
        .iter()
        .find(|l| l["rollout"] == "httproute:default/simple-split")
        .unwrap();
    assert_eq!(weights(first), wmap(&[("foo-v1", 90.0), ("foo-v2", 10.0)]));

    // The second watch on httproutes resumed from a resourceVersion (no re-list needed).
    let reqs = api.requests();
    let route_watches: Vec<_> = reqs
        .iter()
        .filter(|r| {
            r.path == "/apis/gateway.networking.k8s.io/v1/httproutes"
                && r.query.contains("watch=true")
        })
        .collect();
    assert!(route_watches.len() >= 2, "{route_watches:#?}");
    assert!(
        route_watches[1].query.contains("resourceVersion="),
        "{route_watches:#?}"
    );
    assert!(
        route_watches
            .iter()
            .all(|r| r.query.contains("allowWatchBookmarks=true"))
    );
    // After compaction the watch got 410 and the list was repeated.
    let split_lists = reqs
        .iter()
        .filter(|r| {
            r.path == "/apis/split.smi-spec.io/v1alpha4/trafficsplits"
                && !r.query.contains("watch=true")
        })
        .count();
    assert!(split_lists >= 2, "expected a re-list after 410");
    // Nothing was written: no operator, no autopilot.
    assert!(api.writes().iter().all(|r| r.method != "PATCH"));
    // Summaries end the run.
    assert!(
        run.lines
            .iter()
            .any(|l| l["summary"]["rollout"] == "flagger:test/podinfo")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflicting_write_changes_nothing_and_is_audited_as_an_error() {
    let api = FakeApi::start().await;
    // A raw VirtualService at 100/0 that aviary's autopilot (opted in) will step once its
    // metrics flow (it never moves live traffic with nothing watching).
    api.insert(doc(
        "istio/examples/argo-rollouts-docs-virtualservice-subset.yaml",
        "VirtualService",
    ));
    let prom = fake_prometheus_for("stable", "canary").await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "--headless",
        "--duration",
        "5s",
        "--audit-log",
        audit.to_str().unwrap(),
        "kube",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--autopilot",
        "--interval",
        "2s",
        "--step",
        "10",
        "--prometheus",
        &prom,
        "--mesh",
        "istio",
    ];
    let api2 = api.clone();
    let run = run_aviary(&args, || async move {
        wait_for_watch(&api2, "virtualservices", 1).await;
        // Another writer shifts traffic; its watch event has not reached aviary when the
        // autopilot's first step goes out.
        api2.modify_silently("virtualservices", "default", "rollout-vsvc", |o| {
            o["spec"]["http"][0]["route"][0]["weight"] = 95.into();
            o["spec"]["http"][0]["route"][1]["weight"] = 5.into();
        });
    })
    .await;
    assert!(run.status.success(), "{}", run.stderr);
    let vs = api
        .object("virtualservices", "default", "rollout-vsvc")
        .unwrap();
    assert_eq!(
        vs["spec"]["http"][0]["route"][0]["weight"], 95,
        "object changed: {vs:#}"
    );
    assert_eq!(vs["spec"]["http"][0]["route"][1]["weight"], 5);
    let patches: Vec<_> = api
        .writes()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1, "retried? {patches:#?}");
    assert_eq!(patches[0].content_type, "application/json-patch+json");
    // A Warning event on the object says what failed.
    let events = api.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "AviarySetWeight");
    assert!(
        events[0]["reportingInstance"]
            .as_str()
            .is_some_and(|i| i.ends_with(" as system:serviceaccount:ops:deployer")),
        "{events:#?}"
    );
    assert!(
        events[0]["note"]
            .as_str()
            .is_some_and(|n| n.ends_with(" as system:serviceaccount:ops:deployer)")),
        "{events:#?}"
    );
    let audit_text = std::fs::read_to_string(&audit).unwrap();
    let records: Vec<Value> = audit_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let result = records
        .iter()
        .find(|r| r["stage"] == "result" && r["target"] == "istio:default/rollout-vsvc")
        .unwrap_or_else(|| panic!("no result record: {audit_text}"));
    assert_eq!(result["result"], "error");
    assert_eq!(result["origin"], "autopilot");
    assert!(
        result["actor"].as_str().is_some_and(|a| a
            .ends_with(" as system:serviceaccount:ops:deployer")
            && !a.starts_with("uid ")),
        "{result:#}"
    );
    assert!(
        result["error"].as_str().unwrap().contains("conflict"),
        "{result:#}"
    );
    assert!(records.iter().any(|r| r["stage"] == "intent"));
    // The autopilot paused rather than retry; the re-read shows the other writer's 95/5.
    let last = last_lines(&run.lines);
    let l = &last["istio:default/rollout-vsvc"];
    assert_eq!(l["phase"], "Paused", "{l:#}");
    assert_eq!(weights(l), wmap(&[("stable", 95.0), ("canary", 5.0)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_writes_nothing_even_with_the_autopilot() {
    let api = FakeApi::start().await;
    api.insert(doc(
        "istio/examples/argo-rollouts-docs-virtualservice-subset.yaml",
        "VirtualService",
    ));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "--headless",
        "--read-only",
        "--duration",
        "3s",
        "--audit-log",
        audit.to_str().unwrap(),
        "kube",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--autopilot",
        "--interval",
        "1s",
    ];
    let run = run_aviary(&args, || async {}).await;
    assert!(run.status.success(), "{}", run.stderr);
    assert!(api.writes().iter().all(|r| r.method != "PATCH"));
    assert!(!run.lines.is_empty());
}

#[tokio::test]
async fn a_bad_kubeconfig_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, "clusters: [not: a kubeconfig").unwrap();
    let run = run_aviary(
        &["--headless", "kube", "--kubeconfig", kc.to_str().unwrap()],
        || async {},
    )
    .await;
    assert!(!run.status.success());
    assert!(run.stderr.contains(kc.to_str().unwrap()), "{}", run.stderr);
    let run = run_aviary(
        &[
            "--headless",
            "kube",
            "--kubeconfig",
            "/nonexistent/kubeconfig",
        ],
        || async {},
    )
    .await;
    assert!(!run.status.success());
    assert!(
        run.stderr.contains("/nonexistent/kubeconfig"),
        "{}",
        run.stderr
    );
}

/// A stand-in Prometheus answering the Istio template's queries with growing counters for the
/// two builds of the Argo fixture (selected by `destination_workload`, as the template groups).
async fn fake_prometheus() -> String {
    fake_prometheus_for("rollouts-demo-77f4f8ff97", "rollouts-demo-8566c77b97").await
}

/// The same stand-in for any two `destination_workload` values (stable, canary).
async fn fake_prometheus_for(stable: &'static str, canary: &'static str) -> String {
    use axum::extract::Query;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let n = Arc::new(AtomicU64::new(0));
    let app = axum::Router::new().route(
        "/api/v1/query",
        axum::routing::get(move |Query(q): Query<BTreeMap<String, String>>| {
            let n = n.clone();
            async move {
                let query = q.get("query").cloned().unwrap_or_default();
                let sample = |workload: &str, v: u64| {
                    serde_json::json!({"metric": {"destination_workload": workload}, "value": [1.0, v.to_string()]})
                };
                let result = if query.contains("histogram_quantile") {
                    vec![]
                } else if query.contains("5..") {
                    let k = n.load(Ordering::SeqCst);
                    vec![sample(canary, k)]
                } else if query.contains("istio_requests_total") {
                    let k = n.fetch_add(1, Ordering::SeqCst) + 1;
                    vec![sample(stable, 100 * k), sample(canary, 20 * k)]
                } else {
                    vec![serde_json::json!({"metric": {}, "value": [1.0, "1"]})]
                };
                axum::Json(serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_build_traffic_comes_from_prometheus() {
    let api = FakeApi::start().await;
    api.insert(doc(
        "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
        "Rollout",
    ));
    let prom = fake_prometheus().await;
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("rollouts-demo")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "--headless",
        "--duration",
        "5s",
        "--audit-log",
        audit.to_str().unwrap(),
        "kube",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--prometheus",
        &prom,
        "--mesh",
        "istio",
    ];
    let run = run_aviary(&args, || async {}).await;
    assert!(run.status.success(), "{}", run.stderr);
    let last = last_lines(&run.lines);
    let b = &last["argo:rollouts-demo/rollouts-demo"]["builds"];
    // 100 and 20 requests per refresh; 1 canary error per refresh. The first reading only
    // sets the baseline, so totals are counted from the second on.
    let stable = b["rollouts-demo-stable"]["requests"].as_u64().unwrap();
    let canary = b["rollouts-demo-desired"]["requests"].as_u64().unwrap();
    assert!(stable >= 200 && stable.is_multiple_of(100), "{b:#}");
    assert_eq!(canary * 5, stable, "{b:#}");
    assert!(
        b["rollouts-demo-desired"]["errors"].as_u64().unwrap() >= 2,
        "{b:#}"
    );
    assert_eq!(b["rollouts-demo-stable"]["errors"], 0, "{b:#}");

    // A Prometheus that does not answer is a warning naming the URL, not a refusal: the
    // rollouts are still watched (break-glass abort must work without metrics).
    let dead = "http://127.0.0.1:9";
    let run = run_aviary(
        &[
            "--headless",
            "--duration",
            "3s",
            "kube",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--prometheus",
            dead,
        ],
        || async {},
    )
    .await;
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains(dead) && run.stderr.contains("warning"),
        "{}",
        run.stderr
    );
    assert!(
        last_lines(&run.lines).contains_key("argo:rollouts-demo/rollouts-demo"),
        "{:?}",
        run.lines
    );
}

/// The binary lists an ingress-nginx canary beside its primary as one rollout with the
/// annotation's weight, and an OpenKruise Rollout paused at its first step with that step's
/// traffic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_canary_ingress_and_kruise_rollout_are_listed_with_their_weights() {
    let api = FakeApi::start().await;
    api.insert(doc(
        "ingress-nginx/examples/docs-canary-main-ingress.yaml",
        "Ingress",
    ));
    api.insert(doc(
        "ingress-nginx/examples/docs-canary-weighted-ingress.yaml",
        "Ingress",
    ));
    api.insert(doc("openkruise/rollout-paused-step.yaml", "Rollout"));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, api.kubeconfig("default")).unwrap();
    let audit = dir.path().join("audit.jsonl");
    let args = [
        "--headless",
        "--duration",
        "3s",
        "--audit-log",
        audit.to_str().unwrap(),
        "kube",
        "--kubeconfig",
        kc.to_str().unwrap(),
    ];
    let run = run_aviary(&args, || async {}).await;
    assert!(run.status.success(), "{}", run.stderr);
    let last = last_lines(&run.lines);
    let line = &last["nginx:default/canary"];
    assert_eq!(
        weights(line),
        BTreeMap::from([("production".into(), 50.0), ("canary".into(), 50.0)]),
        "{line:#}"
    );
    let line = &last["kruise:default/rollouts-demo"];
    assert_eq!(
        weights(line),
        wmap(&[("workload-demo", 80.0), ("workload-demo-canary", 20.0)]),
        "{line:#}"
    );
    assert_eq!(line["phase"], "AwaitingPromotion", "{line:#}");
}
