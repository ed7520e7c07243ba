//! The bottom two lines: the last toast, and key hints generated from the keymap.

use crate::app::{App, Level, Modal};
use crate::keymap::Action;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::time::Duration;

/// How long a toast stays.
const TOAST: Duration = Duration::from_secs(6);

/// Draws the toast line (empty once the toast is old).
pub fn toast(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    if let Some(deadline) = app.shutdown {
        let writes: Vec<String> = app
            .rollouts
            .values()
            .filter_map(|t| {
                t.pending
                    .as_ref()
                    .map(|p| format!("{} on {}", p.command.kind().as_str(), t.rollout.key))
            })
            .collect();
        let left = deadline.duration_since(app.now).unwrap_or_default();
        let text = if writes.is_empty() {
            " quitting…".to_string()
        } else {
            format!(
                " quitting: waiting for {} write{} in flight ({}), up to {:.0}s more",
                writes.len(),
                if writes.len() == 1 { "" } else { "s" },
                writes.join(", "),
                left.as_secs_f64().ceil()
            )
        };
        frame.render_widget(
            Paragraph::new(Span::styled(
                text,
                Style::default().fg(theme.warn).add_modifier(Modifier::BOLD),
            )),
            area,
        );
        return;
    }
    let Some(t) = live_toast(app) else {
        // The demo's caption narrates the story on this line whenever no toast needs it.
        if let Some(c) = demo_caption(app) {
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!(" ▶ {c}"),
                    Style::default().fg(theme.accent),
                )),
                area,
            );
        }
        return;
    };
    let color = match t.level {
        Level::Info => theme.ok,
        Level::Warn => theme.warn,
        Level::Error => theme.error,
    };
    frame.render_widget(
        Paragraph::new(Span::styled(
            format!(" {}", t.text),
            Style::default().fg(color),
        )),
        area,
    );
}

/// The toast, while it is young enough to show.
pub fn live_toast(app: &App) -> Option<&crate::app::Toast> {
    app.toast
        .as_ref()
        .filter(|t| app.now.duration_since(t.at).unwrap_or_default() <= TOAST)
}

/// The demo world's caption (its source's status line), if this is the demo.
pub fn demo_caption(app: &App) -> Option<&str> {
    app.sources
        .iter()
        .find(|(id, _)| id.0 == "demo")
        .and_then(|(_, s)| s.info.as_deref())
}

/// The typed weight as the router would take it: `→ canary 35%`, the router's rounding
/// note, or why it cannot be sent; `true` when it can.
fn typed_weight(target: &crate::domain::RolloutKey, input: &str) -> (String, bool) {
    use crate::domain::Weight;
    use crate::domain::weight::validate_for;
    if input.is_empty() {
        return ("type a canary weight".into(), false);
    }
    match Weight::parse(input) {
        Err(e) => (format!("{input}: {e}"), false),
        Ok(w) => match validate_for(target.provider, w) {
            Err(why) => (why, false),
            Ok(Some(note)) => (format!("→ {note}"), true),
            Ok(None) => (format!("→ canary {w}, stable {}", w.complement()), true),
        },
    }
}

/// Draws the key hints for the current context.
pub fn hints(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    if let Some(w) = &app.audit_warning {
        // Loud on purpose, and it stays: a write went out that the audit log does not hold.
        frame.render_widget(
            Paragraph::new(Span::styled(
                format!(" ⚠ {w}"),
                Style::default()
                    .fg(theme.error)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )),
            area,
        );
        return;
    }
    let key = Style::default()
        .fg(theme.accent)
        .add_modifier(Modifier::BOLD);
    let mut spans: Vec<Span> = Vec::new();
    let pair = |spans: &mut Vec<Span>, k: String, what: &str, style: Style| {
        spans.push(Span::styled(format!(" {k}"), style));
        spans.push(Span::styled(format!(" {what} "), theme.dim()));
    };
    match &app.ui.modal {
        Some(Modal::Confirm(_)) => {
            pair(&mut spans, "y".into(), "confirm", key);
            pair(&mut spans, "n/esc".into(), "cancel", key);
        }
        Some(Modal::Quit { .. }) => {
            pair(&mut spans, "y".into(), "quit anyway", key);
            pair(&mut spans, "n/esc".into(), "stay", key);
        }
        Some(Modal::Prompt { target, input, .. }) => {
            // As typed: what the router would get, by its own rule, or why it cannot.
            let (text, ok) = typed_weight(target, input);
            let style = Style::default().fg(if ok { theme.ok } else { theme.warn });
            spans.push(Span::styled(format!(" {text} "), style));
            pair(&mut spans, "0-9".into(), "weight %", key);
            pair(&mut spans, "enter".into(), "review", key);
            pair(&mut spans, "esc".into(), "cancel", key);
        }
        None if app.ui.filter_editing => {
            // The prompt, the text and the count, whichever view is open.
            let n = app.rows().len();
            let count = match (n, app.rollouts.len()) {
                (0, _) => "no rollout matches".to_string(),
                (n, all) => format!("{n} of {all} match"),
            };
            spans.push(Span::styled(format!(" /{}▏ ", app.ui.filter), key));
            spans.push(Span::styled(
                format!("{count} "),
                Style::default().fg(if n == 0 { theme.warn } else { theme.fg }),
            ));
            pair(&mut spans, "enter".into(), "keep filter", key);
            pair(&mut spans, "esc".into(), "clear", key);
        }
        None => {
            if app.read_only {
                spans.push(Span::styled(
                    " read-only: writes off ",
                    Style::default().fg(theme.warn),
                ));
            }
            for b in app.ui.keymap.bindings.iter().filter(|b| b.footer) {
                if b.action == Action::Open && app.ui.detail {
                    continue;
                }
                let k = b.keys.first().map(|k| k.to_string()).unwrap_or_default();
                let style = if b.dangerous && app.read_only {
                    theme.dim().add_modifier(Modifier::CROSSED_OUT)
                } else {
                    key
                };
                let hint = if b.action == Action::SetWeight {
                    "weight"
                } else {
                    b.hint
                };
                pair(&mut spans, k, hint, style);
            }
            // Retry is offered where it means something: on an aborted rollout it can redo.
            if let Some(t) = app.selected()
                && t.rollout.phase == crate::domain::Phase::Aborted
                && t.rollout
                    .capabilities
                    .check(crate::domain::ActionKind::Retry)
                    .is_ok()
            {
                let style = if app.read_only {
                    theme.dim().add_modifier(Modifier::CROSSED_OUT)
                } else {
                    key
                };
                pair(
                    &mut spans,
                    app.ui.keymap.key_label(Action::Retry),
                    "retry",
                    style,
                );
            }
            if app.ui.detail {
                pair(
                    &mut spans,
                    app.ui.keymap.key_label(Action::Back),
                    "back",
                    key,
                );
            }
        }
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
