//! A hostile environment around the real binary: no terminal, a public `--listen`, and flag
//! values out of range. Each is said in one line before anything starts.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn aviary(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["--audit-log"])
        .arg(dir.path().join("audit.jsonl"))
        .args(args)
        .env("XDG_CONFIG_HOME", dir.path())
        .env_remove("AVIARY_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn without_a_terminal_it_says_so_before_starting_anything_and_suggests_headless() {
    let t = Instant::now();
    let out = aviary(&["demo"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("no terminal") && err.contains("--headless"),
        "{err}"
    );
    assert!(
        !err.contains("router on"),
        "the demo must not have started: {err}"
    );
    assert!(out.stdout.is_empty());
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn a_public_listen_address_warns() {
    let out = aviary(&[
        "--headless",
        "--duration",
        "1s",
        "demo",
        "--listen",
        "0.0.0.0:0",
        "--rps",
        "0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("--listen 0.0.0.0:0 is not a loopback address"),
        "{err}"
    );
}

#[test]
fn out_of_range_values_name_their_flag() {
    for (args, needle) in [
        (&["demo", "--rps", "-5"][..], "'--rps"),
        (&["demo", "--rps", "1000000"], "ulimit -n"),
        (&["demo", "--max-error-rate", "200"], "'--max-error-rate"),
    ] {
        let out = aviary(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("weight 200"), "{err}");
    }
}

#[test]
fn a_broken_theme_not_asked_for_is_a_warning_naming_its_file_not_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let themes = dir.path().join("aviary/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(
        themes.join("stage.toml"),
        "extends = \"light\"\n\n[colors]\ncanry = \"#ff00ff\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/dev/zero", themes.join("zero.toml")).unwrap();
    let run = |theme: &str| {
        Command::new(env!("CARGO_BIN_EXE_aviary"))
            .args([
                "--theme",
                theme,
                "--headless",
                "--duration",
                "1s",
                "--audit-log",
            ])
            .arg(dir.path().join("audit.jsonl"))
            .args(["demo", "--rps", "0"])
            .env("XDG_CONFIG_HOME", dir.path())
            .env_remove("AVIARY_CONFIG")
            .output()
            .unwrap()
    };
    let out = run("light");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: theme \"stage\" skipped") && err.contains("stage.toml:4:1"),
        "{err}"
    );
    assert!(!err.contains("zero"), "a /dev/zero link is no theme: {err}");
    let out = run("stage");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    eprintln!("{err}");
    assert!(
        err.contains("stage.toml:4:1: unknown field `canry`"),
        "{err}"
    );
}
