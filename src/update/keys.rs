//! Keys → state changes and effects. Every write opens a dialog; only `y` in that dialog
//! sends the command, through the same `operator` path headless mode uses, and only if the
//! rollout still looks as the dialog showed it.

use super::operator::{command_for, confirm_note, operator, refusal};
use crate::app::{App, Confirm, Level, Modal, Seen};
use crate::domain::change::{Command, Origin};
use crate::domain::weight::validate_for;
use crate::domain::{ProviderKind, Weight};
use crate::effect::Effect;
use crate::keymap::Action;
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Handles one key press.
pub fn key(app: &mut App, ev: KeyEvent) -> Vec<Effect> {
    if ev.kind == KeyEventKind::Release {
        return Vec::new();
    }
    let ctrl_c = ev.code == KeyCode::Char('c') && ev.modifiers.contains(KeyModifiers::CONTROL);
    if app.shutdown.is_some() {
        // Quitting: writes in flight are draining; no key may start another.
        return Vec::new();
    }
    match app.ui.modal.clone() {
        Some(Modal::Quit { .. }) => {
            return match ev.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Char('q') => quit_now(app),
                _ if ctrl_c => quit_now(app),
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    app.ui.modal = None;
                    Vec::new()
                }
                _ => Vec::new(),
            };
        }
        _ if ctrl_c => return quit(app),
        Some(Modal::Confirm(c)) => return confirm(app, c, ev),
        Some(Modal::Prompt {
            target,
            input,
            seen,
            ..
        }) => {
            prompt(app, target, input, seen, ev);
            return Vec::new();
        }
        None => {}
    }
    if app.ui.filter_editing {
        filter(app, ev);
        return Vec::new();
    }
    if let Some(line) = app.ui.command.clone() {
        return super::command::key(app, line, ev);
    }
    let action = app.ui.keymap.action(&ev);
    if app.ui.help {
        // `?` and esc only close the overlay; any other key closes it and does its job,
        // so the key pressed to act after reading the help is not lost.
        app.ui.help = false;
        if matches!(action, None | Some(Action::Help | Action::Back)) {
            return Vec::new();
        }
    }
    let Some(action) = action else {
        return Vec::new();
    };
    browse(app, action)
}

/// `q`: quit, but ask first when quitting would strand a canary mid-way.
pub(super) fn quit(app: &mut App) -> Vec<Effect> {
    let midway = app.midway();
    if midway.is_empty() || app.read_only {
        return quit_now(app);
    }
    app.ui.modal = Some(Modal::Quit { midway });
    Vec::new()
}

fn quit_now(app: &mut App) -> Vec<Effect> {
    app.ui.modal = None;
    app.should_quit = true;
    vec![Effect::Quit]
}

/// The key that opens the dialog for `command`, for "press A again".
fn key_for(app: &App, command: Command) -> String {
    let action = match command {
        Command::Abort => Action::Abort,
        Command::Promote => Action::Promote,
        Command::Retry => Action::Retry,
        _ => Action::SetWeight,
    };
    app.ui.keymap.key_label(action)
}

fn confirm(app: &mut App, c: Confirm, ev: KeyEvent) -> Vec<Effect> {
    match ev.code {
        KeyCode::Char('y') | KeyCode::Char('Y') => {
            app.ui.modal = None;
            let Some(t) = app.rollouts.get(&c.target) else {
                app.toast(
                    Level::Warn,
                    format!("{}: no such rollout any more", c.target),
                );
                return Vec::new();
            };
            if let Some(diff) = c.seen.changed(&Seen::of(t)) {
                let text = format!(
                    "{} not sent: {} changed since you looked ({diff}): press {} again",
                    c.command.kind().as_str().replace('_', " "),
                    c.target,
                    key_for(app, c.command)
                );
                app.toast(Level::Warn, text.clone());
                let now = app.now;
                if let Some(t) = app.rollouts.get_mut(&c.target) {
                    t.event(now, Level::Warn, text);
                }
                return Vec::new();
            }
            operator(app, &c.target, c.command, Origin::Operator)
        }
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
            app.ui.modal = None;
            app.toast(
                Level::Info,
                format!("{} cancelled", c.command.kind().as_str()),
            );
            Vec::new()
        }
        _ => Vec::new(),
    }
}

fn prompt(
    app: &mut App,
    target: crate::domain::RolloutKey,
    mut input: String,
    seen: Seen,
    ev: KeyEvent,
) {
    match ev.code {
        KeyCode::Esc => {
            app.ui.modal = None;
            return;
        }
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char(c) => {
            // Only keys that keep the text something this router can take.
            let mut next = input.clone();
            next.push(c);
            if crate::domain::weight::typeable(target.provider, &next) {
                input = next;
            }
        }
        KeyCode::Enter => {
            let Some(t) = app.rollouts.get(&target) else {
                app.ui.modal = None;
                return;
            };
            let error = match Weight::parse(&input) {
                Err(e) => Some(e.to_string()),
                Ok(w) => match refusal(app, t, Command::SetWeight(w)) {
                    Some(why) => Some(why),
                    None if w == seen.weight => {
                        Some(format!("the canary is already at {w}: nothing to do"))
                    }
                    None => {
                        let note = validate_for(target.provider, w).ok().flatten();
                        // Bound to what the prompt showed, so a step taken while typing
                        // is caught at `y`.
                        app.ui.modal = Some(Modal::Confirm(Confirm {
                            current: seen.weight,
                            resulting: w,
                            target,
                            command: Command::SetWeight(w),
                            note,
                            seen,
                        }));
                        return;
                    }
                },
            };
            app.ui.modal = Some(Modal::Prompt {
                target,
                input,
                error,
                seen,
            });
            return;
        }
        _ => {}
    }
    app.ui.modal = Some(Modal::Prompt {
        target,
        input,
        error: None,
        seen,
    });
}

/// The canary weight a retry leaves: the autopilot restarts from 0 %; a controller decides.
fn retry_weight(t: &crate::app::Tracked) -> Weight {
    if t.rollout.owner == crate::domain::Owner::Autopilot {
        Weight::ZERO
    } else {
        t.rollout.canary_weight()
    }
}

fn filter(app: &mut App, ev: KeyEvent) {
    match ev.code {
        KeyCode::Enter => app.ui.filter_editing = false,
        KeyCode::Esc => {
            app.ui.filter_editing = false;
            app.ui.filter.clear();
        }
        KeyCode::Backspace => {
            app.ui.filter.pop();
        }
        KeyCode::Char(c) => app.ui.filter.push(c),
        _ => {}
    }
    app.keep_selection_shown();
}

fn refuse(app: &mut App, action: &str, why: String) {
    app.toast(Level::Warn, format!("{action} is off: {why}"));
}

fn browse(app: &mut App, action: Action) -> Vec<Effect> {
    // Only a row the screen shows can be acted on (`:ns` may have hidden the selection).
    let selected = app
        .selected()
        .map(|t| t.rollout.key.clone())
        .filter(|k| app.rows().contains(k));
    match action {
        Action::Up => app.move_selection(-1),
        Action::Down => app.move_selection(1),
        Action::Open => app.ui.detail = selected.is_some(),
        Action::Back => {
            if app.ui.detail {
                app.ui.detail = false;
            } else {
                app.ui.filter.clear();
            }
        }
        Action::Filter => app.ui.filter_editing = true,
        Action::Theme => {
            let n = app.ui.theme_names.len().max(1);
            app.ui.theme_index = (app.ui.theme_index + 1) % n;
            if let Some(name) = app.ui.theme_names.get(app.ui.theme_index) {
                app.toast(Level::Info, format!("theme: {name}"));
            }
        }
        Action::Log => app.ui.log_pane = !app.ui.log_pane,
        Action::Help => app.ui.help = !app.ui.help,
        Action::Restart => {
            // Only the demo world can start over; a real fleet cannot be rewound.
            if app
                .rollouts
                .keys()
                .any(|k| k.provider == ProviderKind::Demo)
            {
                app.toast(Level::Info, "restarting the demo story");
                return vec![Effect::RestartDemo];
            }
            refuse(
                app,
                "restart",
                "only the demo's story can start over".into(),
            );
        }
        Action::Window => app.ui.chart_window = app.ui.chart_window.next(),
        Action::Command => app.ui.command = Some(crate::app::CommandLine::default()),
        Action::Sort(col) => {
            let s = &mut app.ui.sort;
            s.reverse = s.col == col && !s.reverse;
            s.col = col;
        }
        Action::Quit => return quit(app),
        Action::Pause | Action::Advance => {
            let Some(key) = selected else {
                return Vec::new();
            };
            let Some(t) = app.rollouts.get(&key) else {
                return Vec::new();
            };
            let command = match action {
                Action::Pause => command_for(t),
                _ => Command::Advance,
            };
            return operator(app, &key, command, Origin::Operator);
        }
        Action::Promote | Action::Abort | Action::SetWeight | Action::Retry => {
            let Some(key) = selected else {
                return Vec::new();
            };
            let Some(t) = app.rollouts.get(&key) else {
                return Vec::new();
            };
            let current = t.rollout.canary_weight();
            let (command, resulting, name) = match action {
                Action::Promote => (Command::Promote, Weight::FULL, "promote"),
                Action::Abort => (Command::Abort, Weight::ZERO, "abort"),
                Action::Retry => (Command::Retry, retry_weight(t), "retry"),
                _ => (Command::SetWeight(current), current, "set weight"),
            };
            if let Some(why) = refusal(app, t, command) {
                refuse(app, name, why);
                return Vec::new();
            }
            let seen = Seen::of(t);
            let note = confirm_note(app, t, command);
            app.ui.modal = Some(if action == Action::SetWeight {
                Modal::Prompt {
                    target: key,
                    input: String::new(),
                    error: None,
                    seen,
                }
            } else {
                Modal::Confirm(Confirm {
                    target: key,
                    command,
                    current,
                    resulting,
                    note,
                    seen,
                })
            });
        }
    }
    Vec::new()
}
