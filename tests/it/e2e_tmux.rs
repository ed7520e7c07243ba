//! End to end in a real terminal: the real binary runs the demo inside tmux (a real terminal
//! emulator, on a private `-L` socket), keys are sent as a person would type them, and the
//! screen is read back. Every wait has a deadline and a timeout prints the screen.

use crate::support;

use std::time::Duration;
use support::tmux::{Tmux, build_of, router_addr};

/// The canary weight shown in the detail header (`■ v1.5.0 canary  20%`).
fn canary_weight(screen: &str) -> Option<u32> {
    let i = screen.find("v1.5.0 canary ")?;
    let rest = &screen[i + "v1.5.0 canary ".len()..];
    rest.split('%').next()?.trim().parse().ok()
}

#[test]
fn pause_advance_abort_and_quit_in_a_real_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} demo --scenario healthy --interval 2s --seed 7 --fps 20 --audit-log {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display()
    );
    let tmux = Tmux::shell("e2e", 120, 36, &cmd);
    let addr = tmux.wait_for("the router address in the header", 20, router_addr);

    // The autopilot takes its first step; then `p` holds the weight across two intervals.
    let w = tmux.wait_for("the first autopilot step", 20, |s| {
        canary_weight(s).filter(|w| *w >= 10)
    });
    tmux.keys("p");
    tmux.wait_for("the Paused phase", 10, |s| {
        s.contains("Paused").then_some(())
    });
    let held = canary_weight(&tmux.screen()).expect("weight");
    assert!(held >= w);
    std::thread::sleep(Duration::from_millis(4_500)); // two 2 s intervals, deliberately
    let s = tmux.screen();
    assert_eq!(
        canary_weight(&s),
        Some(held),
        "weight moved while paused:\n{s}"
    );

    // `n` advances exactly one step (10 points), and nothing more while paused.
    tmux.keys("n");
    let next = tmux.wait_for("one step forward", 10, |s| {
        canary_weight(s).filter(|w| *w != held)
    });
    assert_eq!(next, held + 10, "n must advance exactly one step");
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(canary_weight(&tmux.screen()), Some(next));

    // `A` opens the confirm dialog; `y` sends everything back to the stable build.
    tmux.keys("A");
    tmux.wait_for("the confirm dialog", 10, |s| {
        s.contains("Confirm abort").then_some(())
    });
    let s = tmux.screen();
    assert!(
        s.contains(&format!("{next}% → 0%")),
        "dialog must name the weights:\n{s}"
    );
    tmux.keys("y");
    tmux.wait_for("canary at 0%", 10, |s| {
        (canary_weight(s) == Some(0) && !s.contains("Confirm abort")).then_some(())
    });
    for i in 0..100 {
        assert_eq!(
            build_of(&addr),
            "v1.4.2",
            "request {i} after abort reached the canary"
        );
    }
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        log.lines()
            .any(|l| l.contains("\"action\":\"abort\"") && l.contains("\"result\":\"ok\"")),
        "{log}"
    );

    // `q` exits and the shell works again (terminal restored).
    tmux.keys("q");
    tmux.wait_for("aviary to exit", 10, |s| {
        (!s.contains("router http://")).then_some(())
    });
    tmux.run(&["send-keys", "-t", "e2e", "-l", "echo prompt-$((40+2))"]);
    tmux.keys("Enter");
    tmux.wait_for("a working shell prompt", 10, |s| {
        s.contains("prompt-42").then_some(())
    });
}
