//! The Kubernetes API on a closed port: the failure names the address and the cause, in the
//! TUI (with the next retry) and on stderr; headless exits with status 3 (never reached).

use crate::support;

use support::servers::{free_port, have};
use support::tmux::Tmux;

fn kubeconfig(dir: &std::path::Path, port: u16) -> std::path::PathBuf {
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster: {{server: \"http://127.0.0.1:{port}\"}}\n  name: c\ncontexts:\n- context: {{cluster: c, user: u, namespace: default}}\n  name: c\ncurrent-context: c\nusers:\n- name: u\n  user: {{}}\n"
        ),
    )
    .unwrap();
    kc
}

#[test]
fn headless_against_a_closed_port_names_it_and_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let kc = kubeconfig(dir.path(), port);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aviary"))
        .args(["--headless", "--duration", "2s", "--audit-log"])
        .arg(dir.path().join("audit.jsonl"))
        .args(["kube", "--kubeconfig"])
        .arg(&kc)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    let addr = format!("127.0.0.1:{port}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains(&addr)
            && last.contains("Connection refused")
            && last.contains("nothing was listed"),
        "{err}"
    );
    assert!(err.contains("retrying in"), "{err}");
}

#[test]
fn the_tui_shows_the_address_the_cause_and_the_next_retry() {
    if !have("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let kc = kubeconfig(dir.path(), port);
    let cmd = format!(
        "XDG_CONFIG_HOME={} {} --audit-log {} kube --kubeconfig {}",
        dir.path().display(),
        env!("CARGO_BIN_EXE_aviary"),
        dir.path().join("audit.jsonl").display(),
        kc.display()
    );
    let tmux = Tmux::shell("kube-closed", 200, 36, &cmd);
    let addr = format!("127.0.0.1:{port}");
    tmux.wait("the connection failure", 20, |s| {
        s.contains(&addr) && s.contains("Connection refused") && s.contains("retrying in")
    });
    tmux.keys("q");
}
