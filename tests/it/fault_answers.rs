//! Hostile answers to the real binary: an 11 MB Prometheus answer of 180,000 series must be
//! refused within a second, with memory bounded (VmHWM of the process, read from /proc), and
//! named as "answer too large … narrow the query" on the source.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::servers::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// An instant-vector answer with `n` series, about 61 bytes each.
fn big_answer(n: usize) -> Vec<u8> {
    let mut s = String::with_capacity(n * 64 + 100);
    s.push_str(r#"{"status":"success","data":{"resultType":"vector","result":["#);
    for i in 0..n {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"metric":{{"server":"s{i:07}","b":"x"}},"value":[1700000000,"1"]}}"#
        ));
    }
    s.push_str("]}}");
    s.into_bytes()
}

/// A fake Prometheus: `vector(1)` (the start-up check) gets a small answer, every other query
/// the big one; `declared` says whether `Content-Length` is sent. Records when the first big
/// answer started going out.
async fn fake_prometheus(
    declared: bool,
    body: Arc<Vec<u8>>,
) -> (String, Arc<Mutex<Option<Instant>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let first = Arc::new(Mutex::new(None));
    let first2 = first.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let body = body.clone();
            let first = first2.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                if req.contains("vector%281%29") || req.contains("vector(1)") {
                    let b = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
                    let _ = s
                        .write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                                b.len()
                            )
                            .as_bytes(),
                        )
                        .await;
                    return;
                }
                first.lock().unwrap().get_or_insert_with(Instant::now);
                let head = if declared {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                        .to_string()
                };
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (url, first)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn refused_fast_and_small(declared: bool) {
    if !have("haproxy") {
        return;
    }
    let body = Arc::new(big_answer(180_000));
    assert!(body.len() > 10_500_000, "{} bytes", body.len());
    let (url, first) = fake_prometheus(declared, body.clone()).await;
    let builds = Builds::start(aviary::demo::Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["--audit-log"])
        .arg(audit_file(dir.path()))
        .args(["haproxy", "--socket", &hp.socket_arg(), "--backend", "be"])
        .args(["--stable", "stable", "--canary", "canary"])
        .args(["--prometheus", &url, "--headless", "--duration", "5s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut refused: Option<(Instant, String)> = None;
    let mut hwm = 0;
    let mut stderr = String::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(kb) = vm_hwm_kb(pid) {
            hwm = hwm.max(kb);
        }
        match tokio::time::timeout(Duration::from_millis(50), lines.next_line()).await {
            Ok(Ok(Some(l))) => {
                if refused.is_none() && l.contains("answer too large") {
                    refused = Some((Instant::now(), l.clone()));
                }
                stderr.push_str(&l);
                stderr.push('\n');
            }
            Ok(_) => break,
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "no exit in 15 s: {stderr}");
    }
    let status = child.wait().await.unwrap();
    let ran = started.elapsed();
    let (at, line) = refused.unwrap_or_else(|| panic!("never refused: {stderr}"));
    let sent = first.lock().unwrap().expect("a big answer was asked for");
    let took = at.duration_since(sent);
    eprintln!(
        "11 MB answer ({} bytes, 180000 series, Content-Length {}): refused {} ms after it started; VmHWM {} kB; run {:.1} s for --duration 5s",
        body.len(),
        declared,
        took.as_millis(),
        hwm,
        ran.as_secs_f64()
    );
    assert!(line.contains("narrow the query"), "{line}");
    assert!(took < Duration::from_secs(1), "refused after {took:?}");
    assert!(hwm < 50 * 1024, "VmHWM {hwm} kB");
    assert!(status.success(), "{status}: {stderr}");
    assert!(ran < Duration::from_secs(8), "ran {ran:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_11_mb_answer_of_unknown_length_is_refused_within_a_second_under_50_mb() {
    refused_fast_and_small(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_11_mb_answer_with_its_length_declared_is_refused_before_reading() {
    refused_fast_and_small(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_11_mb_consul_answer_is_refused_as_too_large() {
    aviary::install_crypto_provider();
    for declared in [false, true] {
        let (url, _) = fake_prometheus(declared, Arc::new(big_answer(180_000))).await;
        let c = aviary::providers::consul::ConsulClient::new(&url, None).unwrap();
        let t = Instant::now();
        let e = c.splitter("web").await.unwrap_err();
        assert!(
            e.contains("answer too large") && e.contains("narrow the query"),
            "{e}"
        );
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }
}
