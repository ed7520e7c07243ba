//! The detail view of one rollout: builds and weights, three charts over time, the step
//! plan, the *why*, and recent events.

use super::chart::{self, ChartData, Glyph, Series, Unit};
use super::{advice, plan, text};
use crate::app::{App, Level, Tracked};
use crate::domain::Role;
use crate::domain::observation::series::ERROR_WINDOW;
use crate::domain::observation::{MarkerKind, Point};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use std::time::SystemTime;

/// Fewest seconds the x axis spans, so the first half-minute fills the chart, not a sliver.
pub const MIN_SPAN_S: f64 = 30.0;

/// Seconds the x axis spans: the chosen window, or less while the history is shorter (a
/// fresh rollout fills the chart instead of hugging its right edge).
pub fn span(app: &App, t: &Tracked) -> f64 {
    let oldest = t
        .series
        .weights
        .front()
        .map(|(at, _)| *at)
        .into_iter()
        .chain(
            t.series
                .builds
                .values()
                .filter_map(|q| q.front().map(|p| p.at)),
        )
        .min()
        .unwrap_or(app.now);
    let history = app
        .now
        .duration_since(oldest)
        .unwrap_or_default()
        .as_secs_f64()
        .max(MIN_SPAN_S);
    match app.ui.chart_window.secs() {
        Some(w) => history.min(w),
        None => history,
    }
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
    let phase_text = r.phase_note().map(|n| format!("  {n}")).unwrap_or_default();
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
            Span::raw("  "),
            advice::badge(t, theme).unwrap_or_default(),
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

/// A signal over time; `None` where there is no data.
pub type Timeline = Vec<(SystemTime, Option<f64>)>;

/// Seconds before now, for the x axis.
fn x_of(app: &App, at: SystemTime) -> f64 {
    -app.now.duration_since(at).unwrap_or_default().as_secs_f64()
}

fn color_of(role: &Role, theme: &Theme) -> (Color, Glyph) {
    match role {
        Role::Stable => (theme.stable, Glyph::Dot),
        Role::Canary => (theme.canary, Glyph::Braille),
        Role::Other(_) => (theme.fg, Glyph::Ring),
    }
}

/// Builds in drawing order: stable and others first, the canary on top.
fn builds_in_order(t: &Tracked) -> Vec<&crate::domain::Build> {
    let mut v: Vec<_> = t.rollout.builds.iter().collect();
    v.sort_by_key(|b| b.role == Role::Canary);
    v
}

/// One series per build from its points inside the span.
fn series(
    app: &App,
    t: &Tracked,
    theme: &Theme,
    span: f64,
    f: &dyn Fn(&str) -> Timeline,
) -> Vec<Series> {
    builds_in_order(t)
        .into_iter()
        .map(|b| {
            let (color, glyph) = color_of(&b.role, theme);
            let points = f(&b.name)
                .into_iter()
                .map(|(at, y)| (x_of(app, at), y))
                .filter(|(x, _)| *x >= -span - 1e-9)
                .collect();
            Series {
                name: b.name.clone(),
                color,
                glyph,
                points,
                held: false,
            }
        })
        .collect()
}

/// The canary's error rate over the rolling window at each of its points, as the chart
/// draws it (in percent); the overview's ERR column reads the same window at `now`.
pub fn error_points(t: &Tracked, build: &str) -> Timeline {
    t.series
        .rolling_error_rate(build, ERROR_WINDOW)
        .into_iter()
        .map(|(at, r)| (at, r.map(|r| r * 100.0)))
        .collect()
}

/// The three signal charts and the weight lane, in chart coordinates.
pub fn charts(app: &App, t: &Tracked, theme: &Theme) -> ([ChartData; 3], ChartData) {
    let span = span(app, t);
    let win = app.ui.chart_window.label();
    let markers: Vec<(f64, MarkerKind)> = t
        .series
        .markers
        .iter()
        .map(|m| (x_of(app, m.at), m.kind.clone()))
        .filter(|(x, _)| *x >= -span)
        .collect();
    let pts = |name: &str, f: fn(&Point) -> Option<f64>| -> Timeline {
        t.series
            .builds
            .get(name)
            .map(|q| q.iter().map(|p| (p.at, f(p))).collect())
            .unwrap_or_default()
    };
    let base = |title: String, unit, series, limit| ChartData {
        title,
        unit,
        series,
        limit,
        markers: markers.clone(),
        x_min: -span,
        note: None,
        y_floor: 0.0,
        y_step: None,
        x_labels: true,
        borders: Borders::ALL,
    };
    let rps = base(
        format!("requests/s · {win}"),
        Unit::Rps,
        series(app, t, theme, span, &|n| pts(n, |p| Some(p.rps))),
        None,
    );
    let err = base(
        format!("errors {}s avg · {win}", ERROR_WINDOW.as_secs()),
        Unit::Percent,
        series(app, t, theme, span, &|n| error_points(t, n)),
        Some(t.plan.max_error_rate * 100.0),
    );
    // No traffic, no latency: a rolled-back canary's p99 is a gap, not 0 ms.
    let mut p99 = base(
        format!("p99 · {win}"),
        Unit::Ms,
        series(app, t, theme, span, &|n| {
            pts(n, |p| p.p99_ms.filter(|_| p.rps > 0.0))
        }),
        Some(t.plan.max_p99.as_secs_f64() * 1000.0),
    );
    if let Some(why) = plan::no_percentiles(t) {
        p99.note = Some(why);
        p99.limit = None;
    }
    if t.autopilot.is_none() {
        // A controller's rollout is judged by its own analysis, not aviary's limits.
        p99.limit = None;
    }
    // The weight as a step: it holds until the next change, up to now.
    let mut weight: Vec<(f64, Option<f64>)> = Vec::new();
    let mut last = None;
    for (at, w) in &t.series.weights {
        let x = x_of(app, *at).max(-span);
        if let Some(prev) = last {
            weight.push((x, Some(prev)));
        }
        weight.push((x, Some(w.percent())));
        last = Some(w.percent());
    }
    if let Some(l) = last {
        weight.push((0.0, Some(l)));
    }
    let lane = ChartData {
        title: format!("canary weight · {win}"),
        unit: Unit::Percent,
        series: vec![Series {
            name: "weight".into(),
            color: theme.weight,
            glyph: Glyph::Braille,
            points: weight,
            held: true,
        }],
        limit: None,
        markers: markers.clone(),
        x_min: -span,
        note: None,
        y_floor: 10.0,
        y_step: Some(10.0),
        x_labels: false,
        borders: Borders::TOP,
    };
    let mut err = err;
    if t.autopilot.is_none() {
        err.limit = None;
    }
    ([rps, err, p99], lane)
}

/// What each glyph and colour means; short enough for 80 columns.
fn legend(t: &Tracked, theme: &Theme, width: u16) -> Line<'static> {
    let mut spans = Vec::new();
    for b in builds_in_order(t) {
        let (c, g) = color_of(&b.role, theme);
        spans.push(Span::styled(
            format!("{} {} ", g.legend(), b.name),
            Style::default().fg(c),
        ));
    }
    let long = width >= 100;
    let items: [(String, Color); 5] = [
        (format!("{} limit ", chart::LIMIT), theme.threshold),
        (format!("{} over axis ", chart::CLIP), theme.fg),
        (
            format!("{} step ", chart::marker_glyph(&MarkerKind::Step)),
            theme.muted,
        ),
        (
            format!(
                "{} {} ",
                chart::marker_glyph(&MarkerKind::Operator),
                if long { "operator" } else { "op" }
            ),
            theme.accent,
        ),
        (
            format!(
                "{} {} {} rollback",
                chart::marker_glyph(&MarkerKind::CheckFailed),
                if long { "failed check" } else { "check" },
                chart::marker_glyph(&MarkerKind::Rollback)
            ),
            theme.warn,
        ),
    ];
    for (text, color) in items {
        spans.push(Span::styled(text, Style::default().fg(color)));
    }
    Line::from(spans)
}

/// The plan and the *why*, and how many rows they take wrapped at `width`.
fn why(app: &App, t: &Tracked, theme: &Theme, width: u16, cap: u16) -> (Paragraph<'static>, u16) {
    let r = &t.rollout;
    let color = match r.phase {
        crate::domain::Phase::Aborted | crate::domain::Phase::Failed => theme.error,
        crate::domain::Phase::Paused => theme.warn,
        _ if r.message.contains("fail") => theme.warn,
        _ => theme.fg,
    };
    // The plan first: the *why* can run long (the judge's evidence) and wraps below it.
    let mut lines = plan::lines(app, t, theme);
    let msg = if r.message.is_empty() {
        "—".to_string()
    } else {
        r.message.clone()
    };
    lines.push(Line::from(vec![
        Span::styled("why  ", theme.dim()),
        Span::styled(msg, Style::default().fg(color).add_modifier(Modifier::BOLD)),
    ]));
    // The judge's advice, where it advises, goes last with the *why* it answers.
    let last = match advice::line(t, theme) {
        Some(l) => {
            lines.push(l);
            2
        }
        None => 1,
    };
    let w = usize::from(width.max(1));
    let rows = |ls: &[Line]| -> usize { ls.iter().map(|l| l.width().max(1).div_ceil(w)).sum() };
    // Short of rows, the plan's detail lines (settings, analysis runs) give way before the
    // steps, the *why* and the advice.
    while rows(&lines) > usize::from(cap) && lines.len() > last + 1 {
        lines.remove(lines.len() - last - 1);
    }
    let n = rows(&lines) as u16;
    (Paragraph::new(lines).wrap(Wrap { trim: true }), n)
}

fn events(app: &App, t: &Tracked, theme: &Theme, area: Rect) -> Paragraph<'static> {
    let height = area.height.saturating_sub(1) as usize;
    let lines: Vec<Line> = t
        .events
        .iter()
        .rev()
        // The wheel scrolls back through older events.
        .skip(app.ui.events_scroll)
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
    // Short terminals (80×24) trade the header's bottom border for chart rows; the legend
    // stays, or the glyphs would mean nothing.
    let compact = area.height < 30;
    let head_h = if compact { 4 } else { 5 };
    let lane_h = if compact { 3 } else { 4 };
    let why_cap = if compact { 4 } else { 6 };
    let (why_para, why_rows) = why(app, t, theme, area.width, why_cap);
    let why_h = why_rows.clamp(2, why_cap);
    let avail = area.height.saturating_sub(head_h + 1 + lane_h + why_h);
    // Side by side when there is width to spare or too little height to stack three.
    let wide = area.width >= 120 || compact;
    let charts_h = if compact {
        avail.saturating_sub(2).max(6)
    } else {
        (avail * 7 / 10).max(9)
    };
    let [
        head,
        legend_area,
        charts_area,
        lane_area,
        why_area,
        events_area,
    ] = Layout::vertical([
        Constraint::Length(head_h),
        Constraint::Length(1),
        Constraint::Length(charts_h),
        Constraint::Length(lane_h),
        Constraint::Length(why_h),
        Constraint::Min(0),
    ])
    .areas(area);
    frame.render_widget(header(app, t, theme, compact), head);
    frame.render_widget(Paragraph::new(legend(t, theme, area.width)), legend_area);
    let (data, lane) = charts(app, t, theme);
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
    chart::render(&lane, theme, frame, lane_area);
    frame.render_widget(why_para, why_area);
    frame.render_widget(events(app, t, theme, events_area), events_area);
}
