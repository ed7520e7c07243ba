//! The k9s habits as a person uses them: the real binary in tmux against two local
//! Kubernetes API stand-ins (`support::fake_api`) as two kubeconfig contexts, `-A`, with
//! rollouts in two namespaces. `:ctx` and `:ns` narrow the board, `:` completes with tab,
//! an unknown command says so, a sort key reorders and keeps the selection on its row
//! through live updates, and a mouse click (an SGR mouse report, as a terminal sends it)
//! selects a row.

use crate::support;

use serde_json::Value;
use support::fake_api::FakeApi;
use support::servers::have;
use support::tmux::Tmux;

fn api_on_own_runtime() -> (FakeApi, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let api = rt.block_on(FakeApi::start());
    (api, rt)
}

fn kubeconfig(apis: &[(&str, &FakeApi)]) -> String {
    let mut s = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (n, a) in apis {
        s += &format!("- name: {n}\n  cluster:\n    server: {}\n", a.url());
    }
    s += "contexts:\n";
    for (n, _) in apis {
        s += &format!("- name: {n}\n  context:\n    cluster: {n}\n    user: tester\n");
    }
    s += "current-context: east\nusers:\n- name: tester\n  user:\n    token: fake-token\n";
    s
}

fn rollout(ns: &str, name: &str) -> Value {
    let mut r =
        support::docs("argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml")
            .into_iter()
            .find(|d| d["kind"] == "Rollout")
            .unwrap();
    r["metadata"]["namespace"] = ns.into();
    r["metadata"]["name"] = name.into();
    r
}

/// Screen lines that are rows of the board (they carry a rollout key).
fn rows(screen: &str) -> Vec<&str> {
    screen.lines().filter(|l| l.contains("argo:")).collect()
}

#[test]
fn command_line_sorting_and_mouse() {
    if !have("tmux") {
        return;
    }
    let (east, _e) = api_on_own_runtime();
    let (west, _w) = api_on_own_runtime();
    east.insert(rollout("shop", "cart"));
    west.insert(rollout("shop", "basket"));
    west.insert(rollout("pay", "ledger"));
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, kubeconfig(&[("east", &east), ("west", &west)])).unwrap();
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} --fps 20 kube --kubeconfig {} --all-contexts -A",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        dir.path().join("audit.jsonl").display(),
        kc.display()
    );
    let tmux = Tmux::shell("k9s", 200, 60, &cmd);
    tmux.wait("three rows with CONTEXT and NAMESPACE", 30, |s| {
        s.contains("CONTEXT") && s.contains("NAMESPACE") && rows(s).len() == 3
    });

    // :ctx west hides east's row; :ctx all brings it back.
    tmux.keys(":");
    tmux.run(&["send-keys", "-t", "k9s", "-l", "ctx we"]);
    tmux.keys("Tab");
    tmux.wait("tab completing the context", 5, |s| s.contains(":ctx west"));
    tmux.keys("Enter");
    tmux.wait("only west's rows", 5, |s| {
        s.contains("[ctx west]") && rows(s).len() == 2 && !s.contains("argo:cart")
    });
    tmux.keys(":");
    tmux.type_line("ctx all");
    tmux.wait("every row again", 5, |s| rows(s).len() == 3);

    // :ns pay shows the one rollout there.
    tmux.keys(":");
    tmux.type_line("ns pay");
    tmux.wait("only namespace pay", 5, |s| {
        s.contains("[ns pay]") && rows(s).len() == 1 && s.contains("argo:ledger")
    });
    tmux.keys(":");
    tmux.type_line("ns all");
    tmux.wait("every row again", 5, |s| rows(s).len() == 3);

    // An unknown command says so.
    tmux.keys(":");
    tmux.type_line("frobnicate");
    tmux.wait("the unknown-command message", 5, |s| {
        s.contains("unknown command :frobnicate")
    });

    // N sorts by name: basket, cart, ledger.
    tmux.keys("N");
    tmux.wait("sorted by name", 5, |s| {
        let r = rows(s);
        s.contains("ROLLOUT↑")
            && r.len() == 3
            && r[0].contains("basket")
            && r[1].contains("cart")
            && r[2].contains("ledger")
    });
    // Click the third row (ledger): first board row is screen row 4 (1-based), so row 6.
    tmux.run(&["send-keys", "-t", "k9s", "-l", "\x1b[<0;20;6M\x1b[<0;20;6m"]);
    // Live updates reorder nothing under a name sort, but they arrive; the selection must
    // stay on ledger. Change cart and basket while ledger is selected.
    for name in ["cart", "basket"] {
        let api = if name == "cart" { &east } else { &west };
        api.modify("rollouts", "shop", name, |o| {
            o["metadata"]["labels"] = serde_json::json!({"touched": "yes"});
        });
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    tmux.keys("Enter");
    tmux.wait("the detail of the clicked row", 5, |s| {
        s.contains("ledger") && !rows(s).iter().any(|l| l.contains("basket"))
    });
    tmux.keys("Escape");
    // S again: back to "needs a human first" order, reversed on a second press.
    tmux.keys("q");
}
