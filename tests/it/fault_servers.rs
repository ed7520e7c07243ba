//! Fault injection with the real HAProxy and Prometheus around the real binary: Prometheus
//! killed mid-rollout (the autopilot holds, the weight does not move) and restarted (it
//! resumes), HAProxy crashed and restarted (aviary keeps running and follows the router's
//! truth), then SIGTERM; and a Prometheus that answers garbage or hangs. Every run must end
//! without a panic, with bounded memory (VmHWM) and with an audit log in which every intent
//! has its result.

use crate::support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use support::servers::*;

/// Highest VmHWM (kB) seen while the process lives, sampled every 100 ms.
fn watch_memory(pid: u32) -> (Arc<AtomicU64>, Arc<AtomicBool>) {
    let hwm = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (h, s) = (hwm.clone(), stop.clone());
    std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            if let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(kb) = text
                    .lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            {
                h.fetch_max(kb, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    (hwm, stop)
}

/// Every `intent` record has a `result` (or `error`) record with the same op.
fn assert_audit_complete(path: &std::path::Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut ops: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for l in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("audit line not JSON: {l}: {e}"));
        let op = v["op"].as_u64().unwrap_or(0);
        let e = ops.entry(op).or_default();
        if v["stage"] == "intent" {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    for (op, (intents, results)) in &ops {
        assert!(
            *intents <= *results,
            "op {op}: {intents} intents, {results} results:\n{text}"
        );
    }
    ops.len()
}

fn spawn(args: &[&str], dir: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_aviary"))
        .arg("--audit-log")
        .arg(audit_file(dir))
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

fn term(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn read(dir: &std::path::Path, f: &str) -> String {
    let mut s = String::new();
    let _ = std::fs::File::open(dir.join(f)).and_then(|mut h| h.read_to_string(&mut s));
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prometheus_and_haproxy_killed_and_restarted_mid_rollout() {
    if !have("haproxy") || !have("prometheus") {
        return;
    }
    let builds = Builds::start(aviary::demo::Scenario::Healthy).await;
    let mut hp = Haproxy::start(builds.stable, builds.canary);
    let exporter = hp.exporter;
    let mut prom = tokio::task::spawn_blocking(move || Prometheus::start(exporter))
        .await
        .unwrap();
    let _load = Load::start(hp.frontend, 100);
    let dir = tempfile::tempdir().unwrap();
    let socket = hp.socket_arg();
    let url = prom.url.clone();
    let mut child = spawn(
        &[
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
            &url,
            "--headless",
            "--duration",
            "120s",
            "--interval",
            "2s",
            "--step",
            "10",
            "--max-weight",
            "90",
            "--judge",
            "threshold",
        ],
        dir.path(),
    );
    let (hwm, stop) = watch_memory(child.id());

    wait_until(Duration::from_secs(40), "a first step", || {
        hp.weight("canary") > 0
    });
    prom.stop();
    // Stale within two refreshes (1 s each); from then on nothing may move.
    std::thread::sleep(Duration::from_secs(3));
    let held = hp.weight("canary");
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        hp.weight("canary"),
        held,
        "stepped while metrics were stale"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "{}",
        read(dir.path(), "stderr")
    );

    prom.restart();
    wait_until(
        Duration::from_secs(40),
        "a step after Prometheus came back",
        || hp.weight("canary") > held,
    );

    hp.crash_and_restart(Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        child.try_wait().unwrap().is_none(),
        "{}",
        read(dir.path(), "stderr")
    );

    let status = term(&mut child);
    stop.store(true, Ordering::SeqCst);
    let (out, err) = (read(dir.path(), "stdout"), read(dir.path(), "stderr"));
    // Clean shutdown after SIGTERM, exit status 128 + 15.
    assert_eq!(status.code(), Some(143), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines = json_lines(out.as_bytes());
    let s = summary(&lines);
    assert_eq!(s["rollout"], "haproxy:be", "{s}");
    assert!(
        lines
            .iter()
            .any(|l| l["message"].as_str().is_some_and(|m| m.contains("stale"))),
        "no line said the metrics were stale: {out}"
    );
    let ops = assert_audit_complete(&audit_file(dir.path()));
    let kb = hwm.load(Ordering::SeqCst);
    eprintln!("fault run: {ops} audited ops, VmHWM {kb} kB, summary {s}");
    assert!(ops > 0);
    assert!(kb < 100 * 1024, "VmHWM {kb} kB");
}

/// A stand-in Prometheus: `garbage` answers an HTML page to every query, else it accepts
/// and never answers.
fn bad_prometheus(garbage: bool) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            if garbage {
                let mut s = s;
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let body = "<html><body>502 Bad Gateway</body></html>";
                let _ = write!(
                    s,
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            } else {
                held.push(s);
            }
        }
    });
    url
}

async fn bad_prometheus_run(garbage: bool) {
    if !have("haproxy") {
        return;
    }
    let builds = Builds::start(aviary::demo::Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let url = bad_prometheus(garbage);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = spawn(
        &[
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
            &url,
            "--headless",
            "--duration",
            "6s",
            "--interval",
            "1s",
        ],
        dir.path(),
    );
    let (hwm, stop) = watch_memory(child.id());
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "no exit");
        std::thread::sleep(Duration::from_millis(50));
    };
    let ran = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (out, err) = (read(dir.path(), "stdout"), read(dir.path(), "stderr"));
    eprintln!(
        "{} Prometheus: ran {:.1} s for --duration 6s, VmHWM {} kB",
        if garbage { "garbage" } else { "hanging" },
        ran.as_secs_f64(),
        hwm.load(Ordering::SeqCst)
    );
    assert!(status.success(), "{status}: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(hp.weight("canary"), 0, "stepped without metrics");
    let s = summary(&json_lines(out.as_bytes()));
    assert_eq!(s["canary_weight"], 0.0, "{s}");
    if garbage {
        assert!(err.contains("HTTP 502"), "{err}");
    } else {
        assert!(
            ran < Duration::from_secs(8),
            "a hanging Prometheus held the exit: {ran:?}"
        );
    }
    assert_audit_complete(&audit_file(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_answering_garbage_holds_and_is_named() {
    bad_prometheus_run(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_prometheus_holds_and_does_not_delay_exit() {
    bad_prometheus_run(false).await;
}
