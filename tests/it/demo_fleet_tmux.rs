//! The default fleet in a real terminal (tmux, private socket): the overview sorts the
//! service that waits for a human first, and `P` `y` on it promotes it through its own real
//! router — every request that follows reaches the canary; `R` then starts the story over.

use crate::support;

use support::tmux::{Tmux, build_of, router_addr};

/// The first table row's text (the line after the column headings).
fn first_row(screen: &str) -> Option<&str> {
    let mut lines = screen.lines().skip_while(|l| !l.contains("ROLLOUT"));
    lines.next()?;
    lines.next()
}

#[test]
fn the_one_awaiting_a_human_sorts_first_and_p_y_promotes_it_on_its_router() {
    let dir = tempfile::tempdir().expect("tempdir");
    let audit = dir.path().join("audit.jsonl");
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} demo --pace fast --seed 7 --fps 20 --audit-log {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        audit.display()
    );
    let tmux = Tmux::shell("fleet", 120, 36, &cmd);
    tmux.wait_for("four rollouts", 20, |s| {
        s.contains("Rollouts (4)").then_some(())
    });
    tmux.wait_for("inventory awaiting promotion on the first row", 30, |s| {
        first_row(s)
            .filter(|r| r.contains("demo:inventory") && r.contains("AwaitingPro"))
            .map(|_| ())
    });
    // Up to the top of the table, then open it.
    for _ in 0..4 {
        tmux.keys("k");
    }
    tmux.keys("Enter");
    tmux.wait_for("the inventory detail", 10, |s| {
        (s.contains(" demo:inventory ") && s.contains("v3.2.0 canary")).then_some(())
    });
    let addr = tmux.wait_for("inventory's router address", 10, router_addr);
    tmux.keys("P");
    tmux.wait_for("the confirm dialog", 10, |s| {
        s.contains("Confirm promote").then_some(())
    });
    let s = tmux.screen();
    assert!(
        s.contains("30% → 100%"),
        "dialog must name the weights:\n{s}"
    );
    tmux.keys("y");
    tmux.wait_for("inventory promoted", 15, |s| {
        (s.contains("Succeeded") && !s.contains("Confirm promote")).then_some(())
    });
    for i in 0..100 {
        assert_eq!(
            build_of(&addr),
            "v3.2.0",
            "request {i} after promote did not reach the canary"
        );
    }
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        log.lines().any(|l| l.contains("\"action\":\"promote\"")
            && l.contains("\"result\":\"ok\"")
            && l.contains("demo:inventory")),
        "{log}"
    );
    // `R` starts the story over without restarting the program: every router back to 0 %,
    // every rollout progressing again from its first step.
    tmux.keys("Escape");
    tmux.keys("R");
    tmux.wait_for("the story to start over", 15, |s| {
        let row = |name: &str| {
            s.lines()
                .find(|l| l.contains(name))
                .unwrap_or("")
                .to_string()
        };
        ([
            "demo:checkout",
            "demo:payments",
            "demo:search",
            "demo:inventory",
        ]
        .iter()
        .all(|n| row(n).contains("Progressing")))
        .then_some(())
    });
    // Right after the promote every request went to v3.2.0; now most reach v3.1.0 again.
    let canary = (0..40).filter(|_| build_of(&addr) == "v3.2.0").count();
    assert!(
        canary < 20,
        "{canary}/40 still reach the canary after the restart"
    );
    tmux.keys("q");
}
