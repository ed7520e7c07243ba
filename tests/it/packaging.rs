//! What a user installing aviary expects from the binary itself: completions that a shell
//! loads, a manual page `man` renders, and a version that names the commit it was built from.

use crate::support;

use std::process::Command;
use support::servers::have;

fn aviary(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(args)
        .env_remove("AVIARY_CONFIG")
        .output()
        .expect("run aviary")
}

#[test]
fn bash_loads_the_completions() {
    if !have("bash") {
        return;
    }
    let out = aviary(&["completions", "bash"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("aviary.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let check = Command::new("bash")
        .args([
            "-c",
            &format!("source {} && complete -p aviary", script.display()),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(
        said.contains("complete") && said.contains("aviary"),
        "{said}"
    );
    // Subcommands are offered.
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["demo", "kube", "haproxy", "consul", "simulate"] {
        assert!(text.contains(sub), "no {sub} in the completions");
    }
    for shell in ["zsh", "fish"] {
        let out = aviary(&["completions", shell]);
        assert!(out.status.success() && !out.stdout.is_empty(), "{shell}");
    }
}

#[test]
fn man_renders_the_manual_page() {
    if !have("man") {
        return;
    }
    let out = aviary(&["man"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("aviary.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let shown = Command::new("man")
        .arg("-l")
        .arg(&page)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(text.contains("NAME") && text.contains("aviary"), "{text}");
    assert!(text.contains("--read-only"), "{text}");
}

#[test]
fn the_version_names_the_commit() {
    let out = aviary(&["--version"]);
    let v = String::from_utf8_lossy(&out.stdout);
    let commit = v
        .trim()
        .strip_prefix(&format!("aviary {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        commit == "unknown" || (commit.len() == 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{v}"
    );
}
