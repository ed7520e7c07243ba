//! A local stand-in Kubernetes API serving N rollouts, for measuring aviary at scale
//! (`scripts/scale.sh`). It is the same stand-in the kube tests use (`tests/it/support/fake_api.rs`:
//! discovery, list, watch with bookmarks, PATCH, access reviews), filled with a mix of Argo
//! Rollouts, Flagger Canaries, Istio VirtualServices, Gateway API HTTPRoutes and SMI
//! TrafficSplits across namespaces, and optionally changing some of them every second.
//!
//! `cargo run --release --example stand_in_api -- ROLLOUTS CHANGES_PER_SECOND KUBECONFIG_OUT`
//! writes a kubeconfig for it and serves until killed.
//!
//! SIGUSR1 is a probe for the lag between a change and the row showing it: the `k`-th signal
//! sets the canary weight of the Argo Rollout `team-00/svc-00000` (the overview's top row) to
//! `30 + k` % (wrapping below 100), so a harness that counts its signals knows what to look for.

#[allow(dead_code)]
#[path = "../tests/it/support/fake_api.rs"]
mod fake_api;

use serde_json::{Value, json};
use std::time::Duration;

const NAMESPACES: usize = 20;

/// A self-signed CA certificate (base64 PEM, made with `openssl req -x509 -newkey ec`) for the
/// kubeconfig's `certificate-authority-data`, as a real cluster's kubeconfig carries one: kube
/// then trusts that CA alone instead of loading the OS trust store (about 40 ms here) before
/// the first frame. The stand-in serves plain HTTP, so nothing is ever verified with it.
/// `STAND_IN_NO_CA=1` leaves it out, to measure that path.
const CA_DATA: &str = concat!(
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJsRENDQVRtZ0F3SUJBZ0lVZVNNcXBUdTEyUlFacXY5UVJ3",
    "bjU5aXhleklNd0NnWUlLb1pJemowRUF3SXcKSGpFY01Cb0dBMVVFQXd3VFlYWnBZWEo1SUhOMFlXNWtMV2x1SUVG",
    "UVNUQWdGdzB5TmpFeU1ESXlNekF5TVRSYQpHQTh5TVRJMk1URXdPREl6TURJeE5Gb3dIakVjTUJvR0ExVUVBd3dU",
    "WVhacFlYSjVJSE4wWVc1a0xXbHVJRUZRClNUQlpNQk1HQnlxR1NNNDlBZ0VHQ0NxR1NNNDlBd0VIQTBJQUJIRkF3",
    "WnFDQXhZZFhXU29qaHlwQmFkV2pZL0UKS0tsMERvMEsxZStHYUdEcEdGZTVZc0pLWHRxTkNMdHVJTkhNUThpQkI2",
    "WkluSW5yWFo2MGF3T1NXSG1qVXpCUgpNQjBHQTFVZERnUVdCQlJoR3lEQU5CMWtZTVBuWWZvS0tjeEdmbk56V2pB",
    "ZkJnTlZIU01FR0RBV2dCUmhHeURBCk5CMWtZTVBuWWZvS0tjeEdmbk56V2pBUEJnTlZIUk1CQWY4RUJUQURBUUgv",
    "TUFvR0NDcUdTTTQ5QkFNQ0Ewa0EKTUVZQ0lRRHQ5ZnVRZXE2VEZDUzNRNWpieTJtUDZ2M2NKWU1rU1JUQnU2Wmkw",
    "Uk5KOWdJaEFQZUxBa2pWdFl1Zwo1dk8rb2NoelV3ckVWclUrd2NEWTFXOTY0VjM5ZGlEegotLS0tLUVORCBDRVJU",
    "SUZJQ0FURS0tLS0tCg==",
);

/// The `i`-th object: kinds in turn, spread over the namespaces.
fn object(i: usize) -> (&'static str, Value) {
    let ns = format!("team-{:02}", i % NAMESPACES);
    let name = format!("svc-{i:05}");
    let w = (i % 10) as u64 * 10;
    match i % 5 {
        0 => (
            "rollouts",
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": name, "namespace": ns, "generation": 1},
                "spec": {"replicas": 4, "strategy": {"canary": {
                    "canaryService": format!("{name}-canary"), "stableService": format!("{name}-stable"),
                    "steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "1m"}}]}}},
                "status": {"phase": "Paused", "currentStepIndex": 1, "observedGeneration": "1",
                    "canary": {"weights": {"canary": {"weight": 20, "podTemplateHash": "a1"},
                                           "stable": {"weight": 80, "podTemplateHash": "b2"}}},
                    "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-12-01T10:00:00Z"}]}
            }),
        ),
        1 => (
            "canaries",
            json!({
                "apiVersion": "flagger.app/v1beta1", "kind": "Canary",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"provider": "linkerd",
                    "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "service": {"port": 80},
                    "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10}},
                "status": {"phase": "Progressing", "canaryWeight": w, "failedChecks": 0, "iterations": 0,
                    "lastTransitionTime": "2026-12-01T10:00:00Z"}
            }),
        ),
        2 => (
            "virtualservices",
            json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"hosts": [name], "http": [{"route": [
                    {"destination": {"host": name, "subset": "stable"}, "weight": 100 - w},
                    {"destination": {"host": name, "subset": "canary"}, "weight": w}]}]}
            }),
        ),
        3 => (
            "httproutes",
            json!({
                "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"rules": [{"backendRefs": [
                    {"name": format!("{name}-stable"), "port": 80, "weight": 100 - w},
                    {"name": format!("{name}-canary"), "port": 80, "weight": w}]}]}
            }),
        ),
        _ => (
            "trafficsplits",
            json!({
                "apiVersion": "split.smi-spec.io/v1alpha4", "kind": "TrafficSplit",
                "metadata": {"name": name, "namespace": ns},
                "spec": {"service": name, "backends": [
                    {"service": format!("{name}-stable"), "weight": 100 - w},
                    {"service": format!("{name}-canary"), "weight": w}]}
            }),
        ),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let churn: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(0);
    let out = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| "stand-in.kubeconfig".into());
    let api = fake_api::FakeApi::start().await;
    // As kube-apiserver: an idle watch hears a bookmark about once a minute, not twice a
    // second as the tests' default has it.
    api.bookmark_every(Duration::from_secs(60));
    let mut names = Vec::with_capacity(n);
    for i in 0..n {
        let (plural, obj) = object(i);
        let (ns, name) = api.insert(obj);
        names.push((plural, ns, name));
    }
    let mut kubeconfig = api.kubeconfig("team-00");
    if std::env::var_os("STAND_IN_NO_CA").is_none() {
        let server = format!("    server: {}\n", api.url());
        kubeconfig = kubeconfig.replace(
            &server,
            &format!("{server}    certificate-authority-data: {CA_DATA}\n"),
        );
    }
    std::fs::write(&out, kubeconfig).expect("write kubeconfig");
    println!(
        "serving {n} objects at {} ({churn} changes/s); kubeconfig {out}",
        api.url()
    );
    if n > 0 {
        tokio::spawn(probe(api.clone()));
    }
    if churn == 0 || names.is_empty() {
        std::future::pending::<()>().await;
    }
    // VirtualServices step their weight by 1 %, in turn: a change a row shows.
    let vs: Vec<_> = names
        .iter()
        .filter(|(p, _, _)| *p == "virtualservices")
        .collect();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(churn)));
    let mut k: usize = 0;
    loop {
        tick.tick().await;
        let (plural, ns, name) = vs[k % vs.len()];
        let step = (k / vs.len()) as u64 % 100;
        api.modify(plural, ns, name, |o| {
            o["spec"]["http"][0]["route"][0]["weight"] = json!(100 - step);
            o["spec"]["http"][0]["route"][1]["weight"] = json!(step);
        });
        k += 1;
    }
}

/// Answers each SIGUSR1 with one change to the top row's weight (see the module comment).
async fn probe(api: fake_api::FakeApi) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
        return;
    };
    let mut k: u64 = 0;
    while usr1.recv().await.is_some() {
        k += 1;
        let canary = 30 + k % 70;
        api.modify("rollouts", "team-00", "svc-00000", |o| {
            let weights = &mut o["status"]["canary"]["weights"];
            weights["canary"]["weight"] = json!(canary);
            weights["stable"]["weight"] = json!(100 - canary);
        });
    }
}
