//! Bad config, theme or flags: the real binary exits non-zero before touching the terminal,
//! and stderr names the file and the line. Nothing is written to stdout (no escape codes: the
//! terminal was never put in raw mode or the alternate screen).

use std::process::{Command, Output};

fn aviary(args: &[&str], config_home: &std::path::Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(args)
        .env("XDG_CONFIG_HOME", config_home)
        .env_remove("AVIARY_CONFIG")
        .output()
        .expect("run aviary")
}

fn assert_clean_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty (terminal untouched): {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "no escape codes on stderr either: {stderr:?}"
    );
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}: {stderr}");
    }
}

#[test]
fn config_with_unknown_key_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(
        &cfg,
        "theme = \"dark\"\n\n[plan]\nstep = 10\nintervall = \"5s\"\n",
    )
    .expect("write");
    let out = aviary(
        &["--config", cfg.to_str().expect("path"), "demo"],
        dir.path(),
    );
    assert_clean_failure(&out, &[&format!("{}:5:", cfg.display()), "intervall"]);
}

#[test]
fn config_with_a_typo_in_toml_syntax_names_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "theme = \"dark\"\nfps = = 30\n").expect("write");
    let out = aviary(
        &["--config", cfg.to_str().expect("path"), "demo"],
        dir.path(),
    );
    assert_clean_failure(&out, &[&format!("{}:2:", cfg.display())]);
}

#[test]
fn default_config_location_is_checked_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("aviary")).expect("mkdir");
    let cfg = dir.path().join("aviary/config.toml");
    std::fs::write(&cfg, "[keys]\nabrot = \"x\"\n").expect("write");
    let out = aviary(&["demo"], dir.path());
    assert_clean_failure(
        &out,
        &[&format!("{}:2:", cfg.display()), "abrot", "unknown action"],
    );
}

#[test]
fn user_theme_with_unknown_slot_names_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let themes = dir.path().join("aviary/themes");
    std::fs::create_dir_all(&themes).expect("mkdir");
    std::fs::write(
        themes.join("stage.toml"),
        "extends = \"light\"\n[colors]\ncanary = \"#ff0000\"\ncanry = \"blue\"\n",
    )
    .expect("write");
    let out = aviary(&["--theme", "stage", "demo"], dir.path());
    assert_clean_failure(&out, &["stage.toml:4:", "canry"]);
}

#[test]
fn unknown_theme_lists_the_available_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aviary(&["--theme", "solarized", "demo"], dir.path());
    assert_clean_failure(
        &out,
        &[
            "unknown theme \"solarized\"",
            "dark, light, mono, colorblind",
        ],
    );
}

#[test]
fn impossible_plan_flags_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = aviary(
        &["demo", "--step", "60", "--max-weight", "50", "--headless"],
        dir.path(),
    );
    assert_clean_failure(&out, &["max weight"]);
    let out = aviary(&["demo", "--step", "160"], dir.path());
    assert_clean_failure(&out, &["outside 0..=100"]);
}

/// A key at the start of line 3 is reported as line 3, column 1, for every TOML file aviary
/// reads (config, theme, query template): the place an editor jumps to, not the line before.
#[test]
fn an_error_in_column_one_names_that_line_in_every_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, "theme = \"dark\"\nfps = 30\nbogus = 1\n").expect("write");
    let out = aviary(
        &["--config", cfg.to_str().expect("path"), "demo"],
        dir.path(),
    );
    assert_clean_failure(&out, &[&format!("{}:3:1:", cfg.display()), "bogus"]);

    let themes = dir.path().join("aviary/themes");
    std::fs::create_dir_all(&themes).expect("mkdir");
    std::fs::write(
        themes.join("stage.toml"),
        "extends = \"light\"\nname = \"stage\"\nbogus = \"x\"\n",
    )
    .expect("write");
    let out = aviary(&["--theme", "stage", "demo"], dir.path());
    assert_clean_failure(&out, &["stage.toml:3:1:", "bogus"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let (kc, tpl) = (dir.path().join("kubeconfig"), dir.path().join("q.toml"));
    std::fs::write(&kc, KUBECONFIG).expect("write");
    std::fs::write(
        &tpl,
        "build_labels = [\"version\"]\nrequests = \"sum by ({by}) (r{{filter}})\"\nerors = \"x\"\n",
    )
    .expect("write");
    let out = aviary(
        &[
            "--headless",
            "kube",
            "--kubeconfig",
            kc.to_str().expect("path"),
            "--prometheus",
            "http://127.0.0.1:1",
            "--prometheus-template",
            tpl.to_str().expect("path"),
        ],
        dir.path(),
    );
    assert_clean_failure(&out, &[&format!("{}:3:1:", tpl.display()), "erors"]);
}

/// A FIFO or a device as a config file is refused at once instead of blocking or reading
/// forever.
#[test]
fn a_config_that_is_not_a_regular_file_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let out = aviary(&["--config", "/dev/zero", "demo"], dir.path());
    assert_clean_failure(&out, &["/dev/zero", "not a regular file"]);
    let fifo = dir.path().join("fifo.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let out = aviary(
        &["--config", fifo.to_str().expect("path"), "demo"],
        dir.path(),
    );
    assert_clean_failure(&out, &["fifo.toml", "not a regular file"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// A recording that is a device, a FIFO or far too large is refused at once with the
/// reason, before replay reads a byte of it.
#[test]
fn a_recording_that_is_not_a_regular_file_or_too_large_is_refused_at_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = std::time::Instant::now();
    let out = aviary(&["--headless", "replay", "/dev/zero"], dir.path());
    assert_clean_failure(&out, &["/dev/zero", "not a regular file"]);
    let fifo = dir.path().join("fifo.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let out = aviary(
        &["--headless", "replay", fifo.to_str().expect("path")],
        dir.path(),
    );
    assert_clean_failure(&out, &["fifo.jsonl", "not a regular file"]);
    // A sparse file: 600 MiB long, no disk used.
    let big = dir.path().join("big.jsonl");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(600 << 20))
        .expect("sparse file");
    let out = aviary(
        &["--headless", "replay", big.to_str().expect("path")],
        dir.path(),
    );
    assert_clean_failure(&out, &["big.jsonl", "600 MiB is over the 512 MiB limit"]);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

/// Enough of a kubeconfig for aviary to get past reading it (nothing listens there: the
/// error under test comes first).
const KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: 'http://127.0.0.1:1'}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u, namespace: default}
current-context: x
";
