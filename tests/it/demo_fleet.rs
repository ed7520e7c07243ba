//! The default demo — a fleet of four services, each with its own builds, router and load
//! over real HTTP on loopback — through the real binary in headless mode at `--pace fast`:
//! every service reaches its own fate, and the faulty canary visibly climbs before it falls.

use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn run_fleet(args: &[&str]) -> Vec<Value> {
    let audit = tempfile::NamedTempFile::new().expect("temp file");
    let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["demo", "--headless", "--pace", "fast", "--audit-log"])
        .arg(audit.path())
        .args(args)
        .output()
        .expect("run aviary");
    assert!(
        out.status.success(),
        "aviary failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn every_service_of_the_fleet_reaches_its_fate() {
    let lines = run_fleet(&["--duration", "30s", "--seed", "7"]);
    let summaries: BTreeMap<String, &Value> = lines
        .iter()
        .filter_map(|l| l.get("summary"))
        .map(|s| (s["rollout"].as_str().unwrap_or("").to_string(), s))
        .collect();
    assert_eq!(summaries.len(), 4, "{summaries:?}");
    let s = |k: &str| {
        *summaries
            .get(k)
            .unwrap_or_else(|| panic!("no {k}: {summaries:?}"))
    };

    let checkout = s("demo:checkout");
    assert_eq!(checkout["outcome"], "rolled_back", "{checkout}");
    assert!(
        checkout["canary_failed_requests"].as_u64() > Some(0),
        "{checkout}"
    );
    let payments = s("demo:payments");
    assert_eq!(payments["outcome"], "promoted", "{payments}");
    assert_eq!(payments["canary_weight"], 100.0, "{payments}");
    let search = s("demo:search");
    assert_eq!(search["outcome"], "rolled_back", "{search}");
    assert!(
        search["message"].as_str().unwrap_or("").contains("p99"),
        "{search}"
    );
    // The by-hand service is not aviary's to finish: it waits, at its weight, for a human.
    let inventory = s("demo:inventory");
    assert_eq!(inventory["canary_weight"], 30.0, "{inventory}");
    let last = lines
        .iter()
        .rev()
        .find(|l| l["rollout"] == "demo:inventory")
        .expect("inventory lines");
    assert_eq!(last["phase"], "AwaitingPromotion", "{last}");

    // The faulty canary climbed at least two steps before it was rolled back.
    let weights: Vec<f64> = lines
        .iter()
        .filter(|l| l["rollout"] == "demo:checkout")
        .filter_map(|l| l["weights"]["v1.5.0"].as_f64())
        .collect();
    let mut steps: Vec<f64> = weights.iter().copied().filter(|w| *w > 0.0).collect();
    steps.dedup();
    assert!(steps.len() >= 2, "weights seen: {weights:?}");
    assert_eq!(weights.last(), Some(&0.0), "{weights:?}");
    // Before its fault surfaced (below 25 %) the canary failed no more than stable does.
    let early_errors: u64 = lines
        .iter()
        .filter(|l| l["rollout"] == "demo:checkout")
        .take_while(|l| l["weights"]["v1.5.0"].as_f64().unwrap_or(0.0) < 25.0)
        .filter_map(|l| l["builds"]["v1.5.0"]["errors"].as_u64())
        .max()
        .unwrap_or(0);
    assert!(
        early_errors <= 2,
        "{early_errors} canary errors before 25 %"
    );
}

#[test]
fn versions_name_the_builds() {
    let lines = run_fleet(&["--duration", "2s"]);
    let l = lines
        .iter()
        .find(|l| l["rollout"] == "demo:checkout")
        .expect("a checkout line");
    assert!(l["weights"].get("v1.4.2").is_some(), "{l}");
    assert!(l["weights"].get("v1.5.0").is_some(), "{l}");
}
