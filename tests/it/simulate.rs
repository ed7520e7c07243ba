//! `aviary simulate` through the real binary: the table and the JSON a user gets, and the
//! same seed giving the same numbers. Few runs, so this stays quick in a debug build.

use serde_json::Value;
use std::process::Command;

fn simulate(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .arg("simulate")
        .args(args)
        .output()
        .expect("run aviary");
    assert!(
        out.status.success(),
        "aviary simulate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[test]
fn json_has_every_scenario_rate_and_judge_and_the_stat_judge_hurts_fewer_users() {
    let (json, stderr) = simulate(&["--runs", "12", "--seed", "3", "--json"]);
    assert!(stderr.contains("rollouts in"), "{stderr}");
    let doc: Value = serde_json::from_str(&json).expect("one JSON document");
    let rows = doc["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 12 * 3 * 2);
    for r in rows {
        for f in [
            "scenario",
            "rps",
            "judge",
            "runs",
            "rolled_back",
            "promoted",
            "blast_mean",
            "blast_p95",
            "split_flagged",
            "split_in_time",
        ] {
            assert!(r.get(f).is_some(), "missing {f}: {r}");
        }
        assert_eq!(r["runs"], 12);
    }
    let blast = |scenario: &str, judge: &str| {
        rows.iter()
            .filter(|r| r["scenario"] == scenario && r["judge"] == judge)
            .map(|r| r["blast_mean"].as_f64().unwrap_or(f64::NAN))
            .sum::<f64>()
    };
    // A 20 % canary: the threshold policy waits five 15 s checks; the stat judge does not.
    assert!(blast("errors 20%", "stat") * 5.0 < blast("errors 20%", "threshold"));
    let healthy_stat: u64 = rows
        .iter()
        .filter(|r| r["scenario"] == "healthy" && r["judge"] == "stat")
        .map(|r| r["promoted"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        healthy_stat >= 34,
        "healthy stat promotions: {healthy_stat}/36"
    );
    assert_eq!(doc["goals"].as_array().map(Vec::len), Some(9));
}

#[test]
fn the_table_is_side_by_side_and_the_seed_replays_it() {
    let (a, _) = simulate(&["--runs", "5", "--seed", "9", "--threads", "2"]);
    let (b, _) = simulate(&["--runs", "5", "--seed", "9", "--threads", "1"]);
    assert_eq!(a, b, "same seed, different thread count: same table");
    let header = a
        .lines()
        .find(|l| l.contains("stat") && l.contains("threshold"))
        .expect("a header naming both judges");
    assert!(header.find("stat") < header.find("threshold"), "{header}");
    for s in [
        "healthy",
        "errors 1%",
        "errors 20%",
        "slow p99×3",
        "shared outage",
        "ramp+dips",
        "bursts",
        "5% above 30%",
        "router ½ weight",
        "slow median",
    ] {
        assert!(a.contains(s), "missing {s}:\n{a}");
    }
}

#[test]
fn zero_runs_is_refused_with_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["simulate", "--runs", "0"])
        .output()
        .expect("run aviary");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--runs"), "{err}");
}
