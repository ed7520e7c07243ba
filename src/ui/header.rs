//! The top line: what is watched, how fresh each source is, the judge, read-only.

use super::text;
use crate::app::App;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// A source's badge, "kube Rollout ✓" or "kube Rollout stale 12s", and whether it is stale.
pub fn badge(app: &App, id: &crate::domain::observation::SourceId) -> (String, bool) {
    if app.is_stale(id) {
        let age = app
            .source_age(id)
            .map(|a| format!(" stale {}", text::short(a)))
            .unwrap_or_else(|| " no data".into());
        (format!("{id}{age}"), true)
    } else {
        (format!("{id} ✓"), false)
    }
}

/// Draws the header line.
pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut spans = vec![
        Span::styled(
            " aviary ",
            Style::default()
                .fg(theme.on_accent)
                .bg(theme.accent)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
    ];
    if app.read_only {
        spans.push(Span::styled(
            " READ-ONLY ",
            Style::default()
                .fg(theme.on_accent)
                .bg(theme.warn)
                .add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(" "));
    }
    for id in app.sources.keys() {
        let (mark, stale) = badge(app, id);
        let style = if stale {
            Style::default()
                .fg(theme.stale)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().fg(theme.ok)
        };
        spans.push(Span::styled(mark, style));
        spans.push(Span::raw("  "));
    }
    // Badges first, notes after: a long note (the kinds a cluster offers) must never push a
    // stale badge off the right edge.
    let notes: Vec<String> = app
        .sources
        .iter()
        .filter(|(id, _)| id.0 != "demo") // the demo's caption has its own line
        .filter_map(|(id, s)| s.info.as_ref().map(|i| format!("{id}: {i}")))
        .collect();
    spans.push(Span::styled(
        format!("judge {}", app.judge.name()),
        theme.dim(),
    ));
    if let Some(t) = app.selected()
        && !t.rollout.router.is_empty()
    {
        spans.push(Span::styled("  router ", theme.dim()));
        spans.push(Span::styled(
            t.rollout.router.clone(),
            Style::default().fg(theme.fg),
        ));
    }
    if !notes.is_empty() {
        spans.push(Span::styled(format!("  {}", notes.join("; ")), theme.dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(theme.text()), area);
}
