//! The demo's story end to end through the real binary in headless mode: real HTTP builds,
//! the real weighted router, the load generator and the autopilot. Intervals are shortened
//! (the demo's default interval is 5 s) so the three scenarios finish in seconds.

use serde_json::Value;
use std::process::Command;

/// Runs `aviary demo --headless` with `args` until the plan ends and returns all JSON lines.
fn run_demo(args: &[&str]) -> Vec<Value> {
    let audit = tempfile::NamedTempFile::new().expect("temp file");
    let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["demo", "--headless", "--audit-log"])
        .arg(audit.path())
        .args(args)
        .output()
        .expect("run aviary");
    assert!(
        out.status.success(),
        "aviary failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn summary(lines: &[Value]) -> &Value {
    &lines
        .iter()
        .rev()
        .find(|l| l.get("summary").is_some())
        .expect("a summary line")["summary"]
}

const FAST: [&str; 6] = ["--interval", "1s", "--rps", "200", "--duration", "60s"];

#[test]
fn faulty_canary_is_rolled_back_to_zero() {
    let lines = run_demo(&[&FAST[..], &["--scenario", "faulty", "--seed", "7"]].concat());
    let s = summary(&lines);
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    assert_eq!(s["canary_weight"], 0.0, "{s}");
    assert!(s["canary_failed_requests"].as_u64().unwrap_or(0) > 0, "{s}");
    // The story is visible in the per-second lines: the weight rose before the rollback.
    let max_canary = lines
        .iter()
        .filter_map(|l| l["weights"]["v1.5.0"].as_f64())
        .fold(0.0, f64::max);
    assert!(max_canary >= 10.0, "canary never got traffic");
}

#[test]
fn healthy_canary_is_promoted() {
    let lines = run_demo(&[&FAST[..], &["--scenario", "healthy"]].concat());
    let s = summary(&lines);
    assert_eq!(s["outcome"], "promoted", "{s}");
    assert_eq!(s["canary_weight"], 100.0, "{s}");
}

#[test]
fn slow_canary_is_rolled_back_on_latency() {
    let lines = run_demo(&[&FAST[..], &["--scenario", "slow"]].concat());
    let s = summary(&lines);
    assert_eq!(s["outcome"], "rolled_back", "{s}");
    assert!(s["message"].as_str().unwrap_or("").contains("p99"), "{s}");
}

#[test]
fn every_line_has_the_documented_shape() {
    let lines = run_demo(&[
        "--scenario",
        "faulty",
        "--interval",
        "1s",
        "--duration",
        "3s",
    ]);
    let progress: Vec<_> = lines
        .iter()
        .filter(|l| l.get("summary").is_none())
        .collect();
    assert!(progress.len() >= 2, "{lines:?}");
    for l in progress {
        for field in [
            "t", "rollout", "phase", "weights", "builds", "step", "message",
        ] {
            assert!(l.get(field).is_some(), "missing {field}: {l}");
        }
        assert_eq!(l["rollout"], "demo:checkout");
        let b = &l["builds"]["v1.4.2"];
        for field in ["rps", "error_rate", "p99_ms", "requests", "errors"] {
            assert!(b.get(field).is_some(), "missing builds.*.{field}: {l}");
        }
    }
    let s = summary(&lines);
    for field in [
        "rollout",
        "outcome",
        "requests",
        "failed_requests",
        "canary_failed_requests",
        "duration_s",
    ] {
        assert!(s.get(field).is_some(), "missing summary.{field}: {s}");
    }
}
