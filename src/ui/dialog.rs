//! The confirm dialog (names target, current and resulting weights) and the weight prompt.

use super::centered;
use crate::app::{App, Confirm, Modal};
use crate::domain::Role;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

fn confirm_lines(app: &App, c: &Confirm, theme: &Theme) -> Vec<Line<'static>> {
    let name = |role: Role| {
        app.rollouts
            .get(&c.target)
            .and_then(|t| {
                t.rollout
                    .builds
                    .iter()
                    .find(|b| b.role == role)
                    .map(|b| b.name.clone())
            })
            .unwrap_or_default()
    };
    let router = app
        .rollouts
        .get(&c.target)
        .map(|t| t.rollout.router.clone())
        .unwrap_or_default();
    let verb = match c.command.kind() {
        crate::domain::ActionKind::Abort => "Abort: send all traffic back to stable",
        crate::domain::ActionKind::Promote => "Promote: send all traffic to the canary",
        _ => "Set the canary's weight",
    };
    let bold = Style::default().add_modifier(Modifier::BOLD);
    let mut lines = vec![
        Line::from(Span::styled(verb.to_string(), bold.fg(theme.fg))),
        Line::from(vec![
            Span::styled("rollout  ", theme.dim()),
            Span::styled(c.target.to_string(), bold.fg(theme.accent)),
        ]),
    ];
    // The cluster the write goes to, named before `y`.
    if let Some(ctx) = &c.target.context {
        lines.push(Line::from(vec![
            Span::styled("context  ", theme.dim()),
            Span::styled(ctx.clone(), bold.fg(theme.accent)),
        ]));
    }
    lines.extend([
        Line::from(vec![
            Span::styled(
                format!("canary {:<9}", name(Role::Canary)),
                Style::default().fg(theme.canary),
            ),
            Span::raw(format!("{:>6} → ", c.current.to_string())),
            Span::styled(c.resulting.to_string(), bold.fg(theme.canary)),
        ]),
        Line::from(vec![
            Span::styled(
                format!("stable {:<9}", name(Role::Stable)),
                Style::default().fg(theme.stable),
            ),
            Span::raw(format!("{:>6} → ", c.current.complement().to_string())),
            Span::styled(c.resulting.complement().to_string(), bold.fg(theme.stable)),
        ]),
    ]);
    if !router.is_empty() {
        lines.push(Line::from(vec![
            Span::styled("router   ", theme.dim()),
            Span::raw(router),
        ]));
    }
    if let Some(n) = &c.note {
        lines.push(Line::from(Span::styled(
            n.clone(),
            Style::default().fg(theme.warn),
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(
            " y ",
            Style::default()
                .fg(theme.on_accent)
                .bg(theme.accent)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(" confirm    "),
        Span::styled(
            " n / esc ",
            Style::default().fg(theme.fg).add_modifier(Modifier::BOLD),
        ),
        Span::raw(" cancel"),
    ]));
    lines
}

/// Draws the open dialog over everything.
pub fn render(app: &App, m: &Modal, theme: &Theme, frame: &mut Frame, area: Rect) {
    let (title, lines, border) = match m {
        Modal::Confirm(c) => {
            let danger = matches!(
                c.command.kind(),
                crate::domain::ActionKind::Abort | crate::domain::ActionKind::Promote
            );
            (
                format!(" Confirm {} ", c.command.kind().as_str().replace('_', " ")),
                confirm_lines(app, c, theme),
                if danger { theme.error } else { theme.focus },
            )
        }
        Modal::Quit { midway } => {
            let mut lines = vec![Line::from(Span::styled(
                "Quitting leaves these canaries where they are:",
                Style::default().fg(theme.fg).add_modifier(Modifier::BOLD),
            ))];
            for (k, w) in midway {
                lines.push(Line::from(vec![
                    Span::styled(
                        match &k.context {
                            Some(c) => format!("{k} ({c})  "),
                            None => format!("{k}  "),
                        },
                        Style::default().fg(theme.accent),
                    ),
                    Span::styled(format!("canary {w}"), Style::default().fg(theme.canary)),
                    Span::styled(" (no plan runs once aviary quits)", theme.dim()),
                ]));
            }
            lines.push(Line::from(Span::styled(
                "The shell will show how to put each one back.",
                theme.dim(),
            )));
            lines.push(Line::from(""));
            lines.push(Line::from(vec![
                Span::styled(
                    " y ",
                    Style::default()
                        .fg(theme.on_accent)
                        .bg(theme.accent)
                        .add_modifier(Modifier::BOLD),
                ),
                Span::raw(" quit anyway    "),
                Span::styled(
                    " n / esc ",
                    Style::default().fg(theme.fg).add_modifier(Modifier::BOLD),
                ),
                Span::raw(" stay"),
            ]));
            (
                " Quit with a canary mid-way? ".to_string(),
                lines,
                theme.warn,
            )
        }
        Modal::Prompt {
            target,
            input,
            error,
            ..
        } => {
            let now = app
                .rollouts
                .get(target)
                .map(|t| t.rollout.canary_weight().to_string())
                .unwrap_or_default();
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("rollout  ", theme.dim()),
                    Span::raw(target.to_string()),
                ]),
                Line::from(vec![
                    Span::styled("canary now ", theme.dim()),
                    Span::raw(now),
                ]),
                Line::from(vec![
                    Span::raw("new canary weight % "),
                    Span::styled(
                        format!("{input}▏"),
                        Style::default()
                            .fg(theme.canary)
                            .add_modifier(Modifier::BOLD),
                    ),
                ]),
            ];
            if let Some(ctx) = &target.context {
                lines.insert(
                    1,
                    Line::from(vec![
                        Span::styled("context  ", theme.dim()),
                        Span::raw(ctx.clone()),
                    ]),
                );
            }
            if let Some(e) = error {
                lines.push(Line::from(Span::styled(
                    e.clone(),
                    Style::default().fg(theme.error),
                )));
            }
            lines.push(Line::from(Span::styled(
                "enter: review and confirm   esc: cancel",
                theme.dim(),
            )));
            (" Set weight ".to_string(), lines, theme.focus)
        }
    };
    let h = lines.len() as u16 + 2;
    let r = centered(area, 62, h);
    frame.render_widget(Clear, r);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(theme.text())
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_type(BorderType::Double)
                    .border_style(Style::default().fg(border))
                    .title(Span::styled(
                        title,
                        Style::default().fg(border).add_modifier(Modifier::BOLD),
                    )),
            ),
        r,
    );
}
