//! HUP and QUIT take the same way out as `q` and TERM: the terminal is restored, writes drain,
//! headless prints its summary, and the exit status is the one a shell reports for the signal
//! (128 + N). The TUI case runs under dash in tmux, because dash (unlike bash's readline) does
//! not reset the terminal after a program exits: whatever aviary leaves is what the user gets.

use crate::support::servers::have;
use crate::support::tmux::Tmux;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn kill(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill -{sig} {pid}");
}

/// The pid of the aviary whose command line names `marker` (a path only this test uses).
fn pid_of(marker: &str) -> Option<u32> {
    let out = Command::new("pgrep")
        .args(["-f", &format!("aviary.*{marker}")])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .next()
}

/// Headless under HUP and QUIT: per-second lines until the signal, then one summary line per
/// rollout, and the conventional exit status.
#[test]
fn headless_hup_and_quit_print_the_summary_and_exit_128_plus_n() {
    for (sig, code) in [("HUP", 129), ("QUIT", 131)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_aviary"))
            .env("XDG_CONFIG_HOME", dir.path())
            .env("XDG_DATA_HOME", dir.path())
            .args(["--headless", "--audit-log"])
            .arg(dir.path().join("audit.jsonl"))
            .args(["demo", "--scenario", "healthy", "--duration", "60s"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn aviary");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        // The first per-second line: the rollout is being watched.
        let first = lines.next().expect("a line").expect("utf-8");
        assert!(first.contains("\"rollout\""), "{first}");
        kill(child.id(), sig);
        let started = Instant::now();
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let status = child.wait().expect("wait");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIG{sig}: slow exit"
        );
        assert_eq!(status.code(), Some(code), "SIG{sig}: {status:?}");
        let summary = rest
            .iter()
            .find(|l| l.starts_with("{\"summary\""))
            .unwrap_or_else(|| panic!("SIG{sig}: no summary line in {rest:?}"));
        assert!(summary.contains("\"outcome\""), "{summary}");
    }
}

/// The TUI under HUP and QUIT in a real terminal, under dash: afterwards the shell reads the
/// exit status, the terminal is cooked (`icanon`, `echo`, `isig` on in `stty -a`), the
/// alternate screen is off and the cursor is shown.
#[test]
fn tui_hup_and_quit_leave_the_terminal_sane() {
    if !have("tmux") || !have("dash") {
        eprintln!("skipped: needs tmux and dash");
        return;
    }
    for (sig, code) in [("HUP", 129), ("QUIT", 131)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let audit = dir.path().join(format!("audit-{sig}.jsonl"));
        let cmd = format!(
            "XDG_CONFIG_HOME={d} XDG_DATA_HOME={d} {bin} --audit-log {a} demo --scenario healthy; echo exit=$?; stty -a | tr ' ' '\\n' | grep -E '^-?(icanon|echo|isig)$' | tr '\\n' ' '; echo",
            d = dir.path().display(),
            bin = env!("CARGO_BIN_EXE_aviary"),
            a = audit.display(),
        );
        let t = Tmux::shell(&format!("sig{sig}"), 100, 30, "exec dash");
        t.type_line(&cmd);
        t.wait("the demo's overview", 30, |s| s.contains("checkout"));
        let pid = (0..50)
            .find_map(|_| {
                pid_of(&audit.display().to_string()).or_else(|| {
                    std::thread::sleep(Duration::from_millis(100));
                    None
                })
            })
            .expect("aviary's pid");
        kill(pid, sig);
        let want = format!("exit={code}");
        t.wait(&want, 15, |s| s.contains(&want));
        // stty's answer is the line after `exit=N` (the typed command line also names the modes).
        let answer = |s: &str| {
            let mut lines = s.lines().skip_while(|l| !l.starts_with("exit="));
            lines.next()?;
            let line = lines.next()?;
            line.contains("icanon").then(|| line.to_string())
        };
        let modes_line = t.wait_for("stty's answer", 5, |s| answer(s));
        let screen = t.screen();
        let modes: Vec<&str> = modes_line.split_whitespace().collect();
        for mode in ["icanon", "echo", "isig"] {
            assert!(
                modes.contains(&mode),
                "SIG{sig}: {mode} off after exit: {modes:?}\n{screen}"
            );
        }
        let state = t.run(&[
            "display-message",
            "-p",
            "-t",
            &format!("sig{sig}"),
            "#{alternate_on} #{cursor_flag}",
        ]);
        assert_eq!(
            state.trim(),
            "0 1",
            "SIG{sig}: alternate screen, cursor: {state}"
        );
    }
}
