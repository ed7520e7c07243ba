//! The `?` overlay, generated from the keymap so it shows the keys actually bound.

use super::centered;
use crate::app::App;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// Draws the help overlay.
pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    // The sort keys share one line, so the whole table fits 24 rows.
    let sorts: Vec<&crate::keymap::Binding> = app
        .ui
        .keymap
        .bindings
        .iter()
        .filter(|b| matches!(b.action, crate::keymap::Action::Sort(_)))
        .collect();
    for b in &app.ui.keymap.bindings {
        if matches!(b.action, crate::keymap::Action::Sort(_)) {
            if std::ptr::eq(b, sorts[0]) {
                let keys: String = sorts
                    .iter()
                    .filter_map(|b| b.keys.first().map(|k| k.to_string()))
                    .collect::<Vec<_>>()
                    .join("");
                let what: Vec<&str> = sorts.iter().map(|b| b.help).collect();
                lines.push(Line::from(vec![
                    Span::styled(
                        format!("{keys:>10}  "),
                        Style::default()
                            .fg(theme.accent)
                            .add_modifier(Modifier::BOLD),
                    ),
                    Span::raw(format!("sort: {}", what.join(" "))),
                ]));
            }
            continue;
        }
        let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
        let mut spans = vec![
            Span::styled(
                format!("{:>10}  ", keys.join(" ")),
                Style::default()
                    .fg(theme.accent)
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!("{:<26}", b.help)),
        ];
        if b.dangerous {
            if app.read_only {
                spans.push(Span::styled(
                    "off: read-only",
                    Style::default().fg(theme.warn),
                ));
            } else {
                spans.push(Span::styled("writes", theme.dim()));
            }
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(Span::styled(
        "Mouse: wheel scrolls, click selects, double-click opens.",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "Dialogs: y confirms, n or esc cancels. Writes are audited.",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "Keys are set in config.toml [keys].",
        theme.dim(),
    )));
    lines.push(Line::from(Span::styled(
        "? or esc closes this; any other key closes it and acts.",
        theme.dim(),
    )));
    // On a short terminal the notes under the keys give way first; every key stays.
    lines.truncate(area.height.saturating_sub(3).max(1) as usize);
    let r = centered(area, 60, lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines).style(theme.text()).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(Style::default().fg(theme.accent))
                .title(Span::styled(" keys · ? or esc closes ", theme.title())),
        ),
        r,
    );
}
