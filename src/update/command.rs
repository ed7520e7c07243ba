//! The `:` command line, as in k9s: `:ns NAME` / `:ns all`, `:ctx NAME` / `:ctx all`,
//! `:kind rollouts|canaries|routes|all`, `:q`. Tab completes; esc closes; an unknown command
//! says so and changes nothing.

use crate::app::{App, CommandLine, KindFilter, Level};
use crate::effect::Effect;
use crossterm::event::{KeyCode, KeyEvent};

/// The commands, for completion and the "unknown command" message.
const COMMANDS: [&str; 4] = ["ns", "ctx", "kind", "q"];
/// `:kind` arguments.
const KINDS: [&str; 4] = ["rollouts", "canaries", "routes", "all"];

/// A key while the `:` line is open.
pub fn key(app: &mut App, mut line: CommandLine, ev: KeyEvent) -> Vec<Effect> {
    match ev.code {
        KeyCode::Esc => {
            app.ui.command = None;
            return Vec::new();
        }
        // Backspace on an empty line closes it, as in k9s.
        KeyCode::Backspace if line.input.pop().is_none() => {
            app.ui.command = None;
            return Vec::new();
        }
        KeyCode::Tab => line.input = complete(app, &line.input),
        KeyCode::Char(c) => line.input.push(c),
        KeyCode::Enter => {
            app.ui.command = None;
            return run(app, line.input.trim());
        }
        _ => {}
    }
    app.ui.command = Some(line);
    Vec::new()
}

/// What the argument of `cmd` may be, from what is on the board.
fn choices(app: &App, cmd: &str) -> Vec<String> {
    let with_all = |v: Vec<&str>| {
        let mut v: Vec<String> = v.into_iter().map(str::to_string).collect();
        v.push("all".into());
        v
    };
    match cmd {
        "ns" | "namespace" => with_all(app.namespaces()),
        "ctx" | "context" => with_all(app.contexts()),
        "kind" => KINDS.iter().map(|s| s.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The input with its last word completed as far as the candidates agree.
pub fn complete(app: &App, input: &str) -> String {
    let (head, word, cands): (String, &str, Vec<String>) = match input.split_once(' ') {
        None => (
            String::new(),
            input,
            COMMANDS.iter().map(|s| s.to_string()).collect(),
        ),
        Some((cmd, arg)) => (format!("{cmd} "), arg.trim_start(), choices(app, cmd)),
    };
    let hits: Vec<&String> = cands.iter().filter(|c| c.starts_with(word)).collect();
    let Some(first) = hits.first() else {
        return input.to_string();
    };
    let mut common = first.to_string();
    for h in &hits[1..] {
        while !h.starts_with(&common) {
            common.pop();
        }
    }
    // One match: done, and a command takes its argument next.
    let sep = if hits.len() == 1 && head.is_empty() && common != "q" {
        " "
    } else {
        ""
    };
    format!("{head}{common}{sep}")
}

fn run(app: &mut App, input: &str) -> Vec<Effect> {
    let mut words = input.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next();
    match (cmd, arg) {
        ("", _) => {}
        ("q" | "q!" | "quit", None) => return super::keys::quit(app),
        ("ns" | "namespace", Some(a)) => {
            app.ui.namespace = (a != "all").then(|| a.to_string());
            if a != "all" && !app.namespaces().contains(&a) {
                app.toast(
                    Level::Warn,
                    format!("namespace {a}: no rollout there (yet)"),
                );
            }
        }
        ("ctx" | "context", Some(a)) => {
            app.ui.context = (a != "all").then(|| a.to_string());
            if a != "all" && !app.contexts().contains(&a) {
                app.toast(Level::Warn, format!("context {a}: not on this board"));
            }
        }
        ("kind", Some(a)) => match a {
            "rollouts" => app.ui.kind = KindFilter::Rollouts,
            "canaries" => app.ui.kind = KindFilter::Canaries,
            "routes" => app.ui.kind = KindFilter::Routes,
            "all" => app.ui.kind = KindFilter::All,
            other => app.toast(
                Level::Warn,
                format!("kind {other}: try {}", KINDS.join(", ")),
            ),
        },
        ("ns" | "namespace" | "ctx" | "context" | "kind", None) => app.toast(
            Level::Warn,
            format!(":{cmd} takes one argument (tab completes)"),
        ),
        _ => app.toast(
            Level::Warn,
            format!(
                "unknown command :{input} (commands: {})",
                COMMANDS.map(|c| format!(":{c}")).join(" ")
            ),
        ),
    }
    app.keep_selection_shown();
    // A scope that hides every row also closes the detail it was showing.
    app.ui.detail &= app.ui.selected.is_some();
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Owner, Plan, ProviderKind, Rollout, RolloutKey};
    use std::time::SystemTime;

    fn app() -> App {
        let mut app = App::new(SystemTime::UNIX_EPOCH, Plan::default());
        for (ctx, ns, name) in [("east", "shop", "cart"), ("west", "pay", "ledger")] {
            let key = RolloutKey::namespaced(ProviderKind::Argo, ns, name).on(ctx);
            crate::update::update(
                &mut app,
                crate::msg::Msg::Provider(crate::msg::ProviderEvent::Upsert {
                    source: crate::domain::observation::SourceId("t".into()),
                    rollout: Box::new(Rollout::new(key, Owner::Manual, Vec::new())),
                }),
            );
        }
        app
    }

    #[test]
    fn tab_completes_commands_and_their_arguments_from_the_board() {
        let a = app();
        assert_eq!(complete(&a, "c"), "ctx ");
        assert_eq!(complete(&a, "ctx w"), "ctx west");
        assert_eq!(complete(&a, "ns p"), "ns pay");
        assert_eq!(complete(&a, "kind ca"), "kind canaries");
        assert_eq!(complete(&a, "zz"), "zz");
    }

    #[test]
    fn unknown_commands_say_so_and_filters_hide_the_selection() {
        let mut a = app();
        run(&mut a, "frob");
        assert!(
            a.toast
                .as_ref()
                .is_some_and(|t| t.text.contains("unknown command :frob"))
        );
        a.ui.selected = Some(RolloutKey::namespaced(ProviderKind::Argo, "shop", "cart").on("east"));
        run(&mut a, "ctx west");
        assert_eq!(a.visible_keys().len(), 1);
        // The east row is hidden, so it is no longer the one a key acts on.
        assert_eq!(
            a.ui.selected.as_ref().and_then(|k| k.context.as_deref()),
            Some("west")
        );
        run(&mut a, "ctx all");
        assert_eq!(a.visible_keys().len(), 2);
        run(&mut a, "kind canaries");
        assert!(a.visible_keys().is_empty());
    }
}
