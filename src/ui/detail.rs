//! The detail view of one rollout: builds and weights, three charts over time, the step
//! plan, the *why*, and recent events.

use super::chart::{self, ChartData};
use super::text;
use crate::app::{App, Level, Tracked};
use crate::domain::Role;
use crate::domain::observation::{MarkerKind, Point};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

/// Most seconds of history the charts show.
pub const WINDOW_S: f64 = 180.0;
/// Fewest seconds shown, so the first minute of a demo fills the chart instead of a sliver.
pub const MIN_WINDOW_S: f64 = 30.0;

/// The chart window for this rollout: its history so far, between the two bounds.
fn window(app: &App, t: &Tracked) -> f64 {
    let oldest = t
        .series
        .weights
        .front()
        .map(|(at, _)| *at)
        .unwrap_or(app.now);
    app.now
        .duration_since(oldest)
        .unwrap_or_default()
        .as_secs_f64()
        .clamp(MIN_WINDOW_S, WINDOW_S)
}

fn header(app: &App, t: &Tracked, theme: &Theme, compact: bool) -> Paragraph<'static> {
    let r = &t.rollout;
    let mut builds = Vec::new();
    for b in &r.builds {
        let color = match b.role {
            Role::Stable => theme.stable,
            Role::Canary => theme.canary,
            Role::Other(_) => theme.fg,
        };
        let role = match &b.role {
            Role::Stable => "stable".to_string(),
            Role::Canary => "canary".to_string(),
            Role::Other(o) => o.clone(),
        };
        builds.push(Span::styled(
            format!("■ {} ", b.name),
            Style::default().fg(color).add_modifier(Modifier::BOLD),
        ));
        builds.push(Span::styled(
            format!("{role} {} ", b.version.clone().unwrap_or_default()),
            theme.dim(),
        ));
        builds.push(Span::styled(
            format!("{}   ", b.weight),
            Style::default().fg(color),
        ));
    }
    let step = r
        .step
        .map(|(i, n)| format!("step {i}/{n}"))
        .unwrap_or_default();
    let pending = t
        .pending
        .as_ref()
        .map(|p| format!("  ⟳ {} in flight", p.command.kind().as_str()))
        .unwrap_or_default();
    let phase_text = if r.phase_text.is_empty() || r.phase_text == r.phase.label() {
        String::new()
    } else {
        format!(" ({})", r.phase_text)
    };
    let stale = if app.stale_source(t).is_some() {
        Span::styled(
            "  stale",
            Style::default()
                .fg(theme.stale)
                .add_modifier(Modifier::BOLD),
        )
    } else {
        Span::raw("")
    };
    let lines = vec![
        Line::from(builds),
        Line::from(vec![
            Span::styled(
                r.phase.label().to_string(),
                Style::default()
                    .fg(theme.phase(&r.phase))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::styled(phase_text, theme.dim()),
            Span::raw(format!("  {step}  owner {}", r.owner)),
            Span::styled(pending, Style::default().fg(theme.warn)),
            stale,
        ]),
        Line::from(vec![
            Span::styled("router ", theme.dim()),
            Span::raw(r.router.clone()),
        ]),
    ];
    let borders = if compact { Borders::TOP } else { Borders::ALL };
    Paragraph::new(lines).block(
        Block::default()
            .borders(borders)
            .border_style(theme.dim())
            .title(Span::styled(format!(" {} ", r.key), theme.title())),
    )
}

fn points(
    q: Option<&std::collections::VecDeque<Point>>,
    app: &App,
    win: f64,
    f: fn(&Point) -> Option<f64>,
) -> Vec<(f64, f64)> {
    let Some(q) = q else {
        return Vec::new();
    };
    q.iter()
        .rev()
        .map_while(|p| {
            let x = -app
                .now
                .duration_since(p.at)
                .unwrap_or_default()
                .as_secs_f64();
            (x >= -win).then_some((x, p))
        })
        .filter_map(|(x, p)| f(p).map(|y| (x, y)))
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect()
}

fn charts(app: &App, t: &Tracked, theme: &Theme) -> [ChartData; 3] {
    let win = window(app, t);
    let builds: Vec<(String, Color)> = t
        .rollout
        .builds
        .iter()
        .map(|b| {
            let c = match b.role {
                Role::Stable => theme.stable,
                Role::Canary => theme.canary,
                Role::Other(_) => theme.fg,
            };
            (b.name.clone(), c)
        })
        .collect();
    let x =
        |at: std::time::SystemTime| -app.now.duration_since(at).unwrap_or_default().as_secs_f64();
    let mut weight: Vec<(f64, f64)> = Vec::new();
    let mut last = None;
    for (at, w) in &t.series.weights {
        let xv = x(*at).max(-win);
        if let Some(prev) = last {
            weight.push((xv, prev)); // step shape: hold the old weight until the change
        }
        weight.push((xv, w.percent()));
        last = Some(w.percent());
    }
    if let Some(l) = last {
        weight.push((0.0, l));
    }
    let markers: Vec<(f64, Color)> = t
        .series
        .markers
        .iter()
        .filter(|m| x(m.at) >= -win)
        .map(|m| {
            let c = match m.kind {
                MarkerKind::Step => theme.muted,
                MarkerKind::Operator => theme.accent,
                MarkerKind::CheckFailed => theme.warn,
                MarkerKind::Rollback => theme.error,
            };
            (x(m.at), c)
        })
        .collect();
    let lines = |f: fn(&Point) -> Option<f64>| {
        builds
            .iter()
            .map(|(n, c)| (n.clone(), *c, points(t.series.builds.get(n), app, win, f)))
            .collect::<Vec<_>>()
    };
    [
        ChartData {
            title: "requests/s",
            lines: lines(|p| Some(p.rps)),
            threshold: None,
            weight: weight.clone(),
            markers: markers.clone(),
            x_min: -win,
            fmt: |v| format!("{v:.0}"),
        },
        ChartData {
            title: "error rate %",
            lines: lines(|p| p.error_rate.map(|r| r * 100.0)),
            threshold: Some(t.plan.max_error_rate * 100.0),
            weight: weight.clone(),
            markers: markers.clone(),
            x_min: -win,
            fmt: |v| format!("{v:.1}%"),
        },
        ChartData {
            title: "p99 ms",
            lines: lines(|p| p.p99_ms),
            threshold: Some(t.plan.max_p99.as_secs_f64() * 1000.0),
            weight,
            markers,
            x_min: -win,
            fmt: |v| format!("{v:.0}"),
        },
    ]
}

fn legend(t: &Tracked, theme: &Theme) -> Line<'static> {
    let mut spans = Vec::new();
    for b in &t.rollout.builds {
        let c = match b.role {
            Role::Stable => theme.stable,
            Role::Canary => theme.canary,
            Role::Other(_) => theme.fg,
        };
        spans.push(Span::styled(
            format!("━ {}  ", b.name),
            Style::default().fg(c),
        ));
    }
    spans.push(Span::styled(
        "━ canary weight (scaled)  ",
        Style::default().fg(theme.weight),
    ));
    spans.push(Span::styled(
        "━ limit  ",
        Style::default().fg(theme.threshold),
    ));
    spans.push(Span::styled("│ step ", Style::default().fg(theme.muted)));
    spans.push(Span::styled(
        "│ operator ",
        Style::default().fg(theme.accent),
    ));
    spans.push(Span::styled(
        "│ failed check ",
        Style::default().fg(theme.warn),
    ));
    spans.push(Span::styled("│ rollback", Style::default().fg(theme.error)));
    Line::from(spans)
}

fn plan_line(t: &Tracked, theme: &Theme) -> Line<'static> {
    let current = t.rollout.canary_weight();
    let mut spans = vec![Span::styled("plan ", theme.dim())];
    for w in t.plan.steps() {
        let s = format!("{}", w);
        if w == current {
            spans.push(Span::styled(
                format!("[{s}]"),
                Style::default()
                    .fg(theme.canary)
                    .add_modifier(Modifier::BOLD),
            ));
        } else {
            spans.push(Span::styled(
                s,
                if w < current {
                    Style::default().fg(theme.fg)
                } else {
                    theme.dim()
                },
            ));
        }
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        format!(
            "→ 100%   every {}, roll back after {} failed, limits {:.1}% errors, p99 {}ms",
            humantime::format_duration(t.plan.interval),
            t.plan.threshold,
            t.plan.max_error_rate * 100.0,
            t.plan.max_p99.as_millis()
        ),
        theme.dim(),
    ));
    Line::from(spans)
}

fn why(t: &Tracked, theme: &Theme) -> Paragraph<'static> {
    let r = &t.rollout;
    let color = match r.phase {
        crate::domain::Phase::Aborted | crate::domain::Phase::Failed => theme.error,
        crate::domain::Phase::Paused => theme.warn,
        _ if r.message.contains("fail") => theme.warn,
        _ => theme.fg,
    };
    // The plan first: the *why* can run long (the judge's evidence) and wraps below it.
    Paragraph::new(vec![
        plan_line(t, theme),
        Line::from(vec![
            Span::styled("why  ", theme.dim()),
            Span::styled(
                r.message.clone(),
                Style::default().fg(color).add_modifier(Modifier::BOLD),
            ),
        ]),
    ])
    .wrap(Wrap { trim: true })
}

fn events(app: &App, t: &Tracked, theme: &Theme, area: Rect) -> Paragraph<'static> {
    let height = area.height.saturating_sub(1) as usize;
    let lines: Vec<Line> = t
        .events
        .iter()
        .rev()
        .take(height)
        .map(|e| {
            let c = match e.level {
                Level::Info => theme.fg,
                Level::Warn => theme.warn,
                Level::Error => theme.error,
            };
            let when = format!("{:>4} ago  ", text::age(app.now, e.at));
            let room = (area.width as usize).saturating_sub(when.len());
            Line::from(vec![
                Span::styled(when, theme.dim()),
                Span::styled(text::fit(&e.text, room), Style::default().fg(c)),
            ])
        })
        .collect();
    Paragraph::new(lines).block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(theme.dim())
            .title(Span::styled(" events & writes ", theme.title())),
    )
}

/// Draws the detail view.
pub fn render(app: &App, t: &Tracked, theme: &Theme, frame: &mut Frame, area: Rect) {
    // Short terminals (80×24) trade the header's bottom border and the legend for chart rows.
    let compact = area.height < 30;
    let (head_h, legend_h) = if compact { (4, 0) } else { (5, 1) };
    let why_h = 4u16;
    let avail = area.height.saturating_sub(head_h + legend_h + why_h);
    // Side by side when there is width to spare or too little height to stack three.
    let wide = area.width >= 120 || compact;
    let charts_h = (avail * 7 / 10).max(9);
    let [head, legend_area, charts_area, why_area, events_area] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(legend_h),
        Constraint::Length(charts_h),
        Constraint::Length(why_h),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(header(app, t, theme, compact), head);
    frame.render_widget(Paragraph::new(legend(t, theme)), legend_area);
    let data = charts(app, t, theme);
    let cells: Vec<Rect> = if wide {
        Layout::horizontal([Constraint::Ratio(1, 3); 3])
            .split(charts_area)
            .to_vec()
    } else {
        Layout::vertical([Constraint::Ratio(1, 3); 3])
            .split(charts_area)
            .to_vec()
    };
    for (d, cell) in data.iter().zip(cells) {
        chart::render(d, theme, frame, cell);
    }
    frame.render_widget(why(t, theme), why_area);
    frame.render_widget(events(app, t, theme, events_area), events_area);
}
