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
