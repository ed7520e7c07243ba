//! The overview: every rollout, "needs a human first", with its weights, errors and age.

use super::{advice, text};
use crate::app::{App, RowKeys, SortCol, Tracked};
use crate::domain::observation::series::ERROR_WINDOW;
use crate::domain::{Role, RolloutKey, Weight};
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Width of the weight bar in cells.
const BAR: usize = 10;

/// `▒▒▒▒▒▒▒███` stable|canary: different glyphs so it reads without colour too.
pub fn weight_bar(canary: Weight, theme: &Theme) -> Line<'static> {
    let c = ((canary.percent() / 100.0) * BAR as f64).round() as usize;
    let c = if canary > Weight::ZERO { c.max(1) } else { 0 }.min(BAR);
    Line::from(vec![
        Span::styled("▒".repeat(BAR - c), Style::default().fg(theme.stable)),
        Span::styled("█".repeat(c), Style::default().fg(theme.canary)),
        Span::styled(
            format!("{:>5}", format!("{canary}")),
            Style::default().fg(theme.canary),
        ),
    ])
}

/// Cells between columns: two, so a right-aligned number never reads as part of the next.
const SPACING: u16 = 2;
/// The narrowest the rollout name column gets before other columns are dropped.
const ROLLOUT_MIN: u16 = 14;

/// The table's columns, in display order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Context,
    Namespace,
    Rollout,
    Owner,
    Phase,
    Weight,
    Err,
    P99,
    Step,
    Age,
    Changed,
}

/// What the data decides about the columns: the CONTEXT and NAMESPACE columns only with
/// several (so a one-cluster, one-namespace board reads as before), at the width of their
/// longest value, and AGE only where rollouts have objects with a creation time.
#[derive(Clone, Copy, Debug, Default)]
struct Extra {
    context: Option<u16>,
    namespace: Option<u16>,
    age: bool,
}

impl Extra {
    fn of(app: &App) -> Extra {
        let w = |v: &[String], title: &str| {
            (v.len() > 1).then(|| {
                v.iter()
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
                    .clamp(title.len(), 16) as u16
            })
        };
        Extra {
            context: w(app.row_contexts(), "CONTEXT"),
            namespace: w(app.row_namespaces(), "NAMESPACE"),
            age: app.rows_have_age(),
        }
    }
}

impl Col {
    fn title(self) -> &'static str {
        match self {
            Col::Rollout => "ROLLOUT",
            Col::Owner => "OWNER",
            Col::Phase => "PHASE",
            Col::Weight => "STABLE|CANARY",
            Col::Err => "ERR 30s C/S",
            Col::P99 => "P99",
            Col::Step => "STEP",
            Col::Age => "AGE",
            Col::Changed => "CHANGED",
            Col::Context => "CONTEXT",
            Col::Namespace => "NAMESPACE",
        }
    }

    fn width(self, x: &Extra) -> u16 {
        match self {
            Col::Context => x.context.unwrap_or(0),
            Col::Namespace => x.namespace.unwrap_or(0),
            Col::Age => 5,
            Col::Changed => 9,
            Col::Rollout => ROLLOUT_MIN,
            Col::Owner => 9,
            Col::Phase => 17,
            Col::Weight => BAR as u16 + 5,
            Col::Err => 11,
            Col::P99 => 6,
            Col::Step => 5,
        }
    }
}

/// The columns that fit in `width` cells, whole: the least needed go first (owner, p99,
/// step, errors, weight, age), so no value is ever cut or runs into its neighbour.
fn columns(width: u16, x: &Extra) -> Vec<Col> {
    let all = [
        Col::Context,
        Col::Namespace,
        Col::Rollout,
        Col::Owner,
        Col::Phase,
        Col::Weight,
        Col::Err,
        Col::P99,
        Col::Step,
        Col::Age,
        Col::Changed,
    ];
    // CHANGED goes last: it carries the stale badge (the header line names stale sources
    // too). A dropped NAMESPACE folds back into the rollout's name; CONTEXT stays long, as
    // the cluster a key acts on.
    let drop_order = [
        Col::Owner,
        Col::Age,
        Col::P99,
        Col::Step,
        Col::Namespace,
        Col::Err,
        Col::Weight,
        Col::Context,
        Col::Changed,
    ];
    let need = |cols: &[Col]| -> u16 {
        cols.iter().map(|c| c.width(x)).sum::<u16>() + SPACING * (cols.len() as u16 - 1)
    };
    let mut cols = all.to_vec();
    cols.retain(|c| match c {
        Col::Context => x.context.is_some(),
        Col::Namespace => x.namespace.is_some(),
        Col::Age => x.age,
        _ => true,
    });
    // The owner column only when there is room for names too.
    if width < 110 {
        cols.retain(|c| *c != Col::Owner);
    }
    for d in drop_order {
        if need(&cols) <= width {
            break;
        }
        cols.retain(|c| *c != d);
    }
    cols
}

/// Canary and stable error rates over the rolling window ending now (the same window the
/// error chart draws), falling back to the latest sample when the window has no traffic.
///
/// Why a window: one refresh of a 10 % canary holds a handful of requests, so its own rate
/// flickers between 0 % and tens of percent.
pub fn error_rates(app: &App, t: &Tracked) -> (Option<f64>, Option<f64>) {
    let r = &t.rollout;
    let since = app.now.checked_sub(ERROR_WINDOW).unwrap_or(app.now);
    let rate = |role: Role| {
        let b = r.builds.iter().find(|b| b.role == role)?;
        t.series
            .error_rate_since(&b.name, since)
            .or_else(|| t.latest.get(&b.name).and_then(|x| x.error_rate()))
    };
    (rate(Role::Canary), rate(Role::Stable))
}

/// The rollout's name, and the judge's badge after it where it advises (the name gives way
/// first, so the badge always shows whole).
fn name_cell(name: &str, t: &Tracked, theme: &Theme, width: u16) -> Line<'static> {
    match advice::badge(t, theme) {
        Some(b) => {
            let room = usize::from(width).saturating_sub(b.width() + 2);
            Line::from(vec![Span::raw(text::fit(name, room)), Span::raw("  "), b])
        }
        None => Line::from(text::fit(name, width.into())),
    }
}

/// CHANGED: how long since the phase or weight changed, or "stale 12s" while its source is
/// stale (that badge wins); and whether it is the badge.
fn changed_text(app: &App, t: &Tracked) -> (String, bool) {
    match app.stale_source(t) {
        Some(src) => {
            let a = app
                .source_age(src)
                .map(text::short)
                .unwrap_or_else(|| "—".into());
            (format!("stale {a}"), true)
        }
        None => (text::age(app.now, t.last_change), false),
    }
}

/// AGE: since the object was created.
fn age_text(app: &App, t: &Tracked) -> String {
    t.rollout
        .created
        .map(|c| text::short(app.now.duration_since(c).unwrap_or_default()))
        .unwrap_or_else(|| "—".into())
}

/// Feeds `h` every text of the rows drawn in `area` that moves with the clock alone: CHANGED,
/// AGE and the error rates over their rolling window; and, for rollouts the tick itself
/// drives (an autopilot's phase and step, an adviser's badge), what the tick may change.
pub fn clock_face(app: &App, area: Rect, h: &mut impl std::hash::Hasher) {
    use std::hash::Hash;
    let height = area.height.saturating_sub(3) as usize;
    let rows = app.rows();
    let (_, offset) = window(app, rows, height);
    for t in rows
        .window(offset, height.max(1))
        .filter_map(|k| app.rollouts.get(k))
    {
        changed_text(app, t).hash(h);
        age_text(app, t).hash(h);
        let (c, s) = error_rates(app, t);
        (text::pct(c), text::pct(s)).hash(h);
        if t.autopilot.is_some() || t.adviser.is_some() {
            (t.rollout.phase.label(), t.rollout.step).hash(h);
            let advice = t.adviser.as_ref().and_then(|a| a.advice.as_ref());
            advice.and_then(|a| a.kind.badge()).hash(h);
        }
    }
}

/// One drawn cell: the style laid over its whole column, then its text.
type Cellish<'a> = (Style, Line<'a>);

/// A cell of plain text. A table cell keeps only a text's first line, and so does this.
fn plain<'a>(s: String, style: Style) -> Cellish<'a> {
    let first = match s.find(['\n', '\r']) {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    (style, Line::from(first))
}

fn row<'a>(
    app: &App,
    t: &'a Tracked,
    theme: &Theme,
    shown: &[Col],
    extra: &Extra,
    name_w: u16,
) -> Vec<Cellish<'a>> {
    let r = &t.rollout;
    let sample = |role: Role| {
        r.builds
            .iter()
            .find(|b| b.role == role)
            .and_then(|b| t.latest.get(&b.name))
    };
    let c = sample(Role::Canary);
    let s = sample(Role::Stable);
    let (c_err, s_err) = error_rates(app, t);
    let over = c_err.is_some_and(|e| e > t.plan.max_error_rate);
    let err = if c.is_none() && s.is_none() {
        Line::from(Span::styled("no metrics", theme.dim()))
    } else {
        Line::from(vec![
            Span::styled(
                text::pct(c_err),
                Style::default().fg(if over { theme.error } else { theme.canary }),
            ),
            Span::styled(" / ", theme.dim()),
            Span::styled(text::pct(s_err), Style::default().fg(theme.stable)),
        ])
    };
    let p99 = c.and_then(|x| x.p99_ms);
    let slow = p99.is_some_and(|p| p > t.plan.max_p99.as_secs_f64() * 1000.0);
    let step = r
        .step
        .map(|(i, n)| format!("{i}/{n}"))
        .unwrap_or_else(|| "—".into());
    let changed = match changed_text(app, t) {
        (text, true) => Span::styled(
            text,
            Style::default()
                .fg(theme.stale)
                .add_modifier(Modifier::BOLD),
        ),
        (text, false) => Span::styled(text, theme.dim()),
    };
    let pending = if t.pending.is_some() { "⟳ " } else { "" };
    let phase = Style::default()
        .fg(theme.phase(&r.phase))
        .add_modifier(Modifier::BOLD);
    let p99_style = Style::default().fg(if slow { theme.error } else { theme.fg });
    let mut err = Some(err);
    let mut changed = Some(changed);
    let age = age_text(app, t);
    let name = if shown.contains(&Col::Namespace) {
        format!("{pending}{}:{}", r.key.provider.prefix(), r.key.name)
    } else {
        format!("{pending}{}", r.key)
    };
    let none = Style::default();
    shown
        .iter()
        .map(|c| match c {
            Col::Rollout => (none, name_cell(&name, t, theme, name_w)),
            // A long name is cut with an ellipsis, never silently.
            Col::Context => plain(
                text::fit(
                    r.key.context.as_deref().unwrap_or_default(),
                    extra.context.unwrap_or(0).into(),
                ),
                theme.dim(),
            ),
            Col::Namespace => plain(
                text::fit(
                    r.key.namespace.as_deref().unwrap_or_default(),
                    extra.namespace.unwrap_or(0).into(),
                ),
                theme.dim(),
            ),
            Col::Age => plain(age.clone(), theme.dim()),
            Col::Owner => plain(r.owner.to_string(), theme.dim()),
            Col::Phase => plain(r.phase.label().to_string(), phase),
            Col::Weight => (none, weight_bar(r.canary_weight(), theme)),
            Col::Err => (none, err.take().unwrap_or_default()),
            Col::P99 => plain(text::ms(p99), p99_style),
            Col::Step => plain(step.clone(), none),
            Col::Changed => (none, Line::from(changed.take().unwrap_or_default())),
        })
        .collect()
}

/// Draws the header and `rows` into the table's inner area, one line each, the selected
/// row's style laid over it last. It draws what a ratatui `Table` with these columns drew,
/// cell for cell, but styles each cell once rather than through five nested layers
/// (table, row, cell, text, line), each a pass over its rectangle.
fn draw_table(
    buf: &mut Buffer,
    inner: Rect,
    columns: &[Rect],
    header: (Style, Vec<Line>),
    rows: Vec<Vec<Cellish>>,
    selected: Option<(usize, Style)>,
) {
    if inner.is_empty() {
        return;
    }
    let put = |buf: &mut Buffer, y: u16, cells: Vec<Cellish>| {
        for (col, (style, line)) in columns.iter().zip(cells) {
            let area = Rect::new(inner.x + col.x, y, col.width, 1).intersection(inner);
            if style != Style::default() {
                buf.set_style(area, style);
            }
            super::one_cell::render(&line, area, buf);
        }
    };
    let (header_style, titles) = header;
    let header_area = Rect { height: 1, ..inner };
    buf.set_style(header_area, header_style);
    put(
        buf,
        inner.y,
        titles.into_iter().map(|l| (Style::default(), l)).collect(),
    );
    let body = inner.bottom();
    for (i, cells) in rows.into_iter().enumerate() {
        let y = inner.y + 1 + i as u16;
        if y >= body {
            break;
        }
        put(buf, y, cells);
    }
    if let Some((i, style)) = selected {
        let y = inner.y + 1 + i as u16;
        if y < body {
            buf.set_style(
                Rect {
                    y,
                    height: 1,
                    ..inner
                },
                style,
            );
        }
    }
}

/// The column a sort is shown on; the default ("needs a human first") marks none, so the
/// board reads as it always did until a sort key is pressed.
fn sort_col(s: SortCol) -> Option<Col> {
    match s {
        SortCol::Phase => None,
        SortCol::Name => Some(Col::Rollout),
        SortCol::Context => Some(Col::Context),
        SortCol::Namespace => Some(Col::Namespace),
        SortCol::Weight => Some(Col::Weight),
        SortCol::Age => Some(Col::Age),
        SortCol::Changed => Some(Col::Changed),
    }
}

/// Draws the table (only the rows that fit are built, so 1,000 rollouts cost one screen).
pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let rows_in_order = app.rows();
    let filter = if app.ui.filter_editing || !app.ui.filter.is_empty() {
        format!(
            "  /{}{}",
            app.ui.filter,
            if app.ui.filter_editing { "▏" } else { "" }
        )
    } else {
        String::new()
    };
    let filter = match &app.ui.command {
        Some(c) => format!("{filter}  :{}▏", c.input),
        None => filter,
    };
    let scope: String = [
        app.ui.context.as_ref().map(|c| format!("ctx {c}")),
        app.ui.namespace.as_ref().map(|n| format!("ns {n}")),
        (app.ui.kind != crate::app::KindFilter::All)
            .then(|| format!("{:?}", app.ui.kind).to_lowercase()),
    ]
    .into_iter()
    .flatten()
    .map(|s| format!(" [{s}]"))
    .collect();
    let filter = format!("{scope}{filter}");
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.dim())
        .title(Span::styled(
            format!(" Rollouts ({}){filter} ", rows_in_order.len()),
            theme.title(),
        ));
    if app.rollouts.is_empty() {
        let msg = if let Some(none) = &app.nothing_found {
            format!("{none}. aviary keeps watching; q quits.")
        } else if app.sources.values().any(|s| s.last_error.is_some()) {
            "no rollouts yet: a source is failing (see the header)".to_string()
        } else {
            "waiting for the first rollouts…".to_string()
        };
        frame.render_widget(
            Paragraph::new(msg)
                .style(theme.dim())
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    if rows_in_order.is_empty() {
        let msg = format!(
            "no rollout matches /{} ({} hidden); esc clears the filter",
            app.ui.filter,
            app.rollouts.len()
        );
        frame.render_widget(
            Paragraph::new(msg)
                .style(Style::default().fg(theme.warn))
                .block(block),
            area,
        );
        return;
    }
    let height = area.height.saturating_sub(3) as usize;
    let inner_w = area.width.saturating_sub(2);
    let extra = Extra::of(app);
    let shown = columns(inner_w, &extra);
    let others: u16 = shown
        .iter()
        .filter(|c| **c != Col::Rollout)
        .map(|c| c.width(&extra) + SPACING)
        .sum();
    let name_w = inner_w.saturating_sub(others).max(ROLLOUT_MIN);
    let (sel, offset) = window(app, rows_in_order, height);
    let rows: Vec<Vec<Cellish>> = rows_in_order
        .window(offset, height.max(1))
        .filter_map(|k| app.rollouts.get(k))
        .map(|t| row(app, t, theme, &shown, &extra, name_w))
        .collect();
    let arrow = if app.ui.sort.reverse { "↓" } else { "↑" };
    let sorted = sort_col(app.ui.sort.col);
    let titles: Vec<Line> = shown
        .iter()
        .map(|c| {
            if Some(*c) == sorted {
                Line::from(format!("{}{arrow}", c.title()))
            } else {
                Line::from(c.title())
            }
        })
        .collect();
    let widths: Vec<Constraint> = shown
        .iter()
        .map(|c| match c {
            Col::Rollout => Constraint::Min(ROLLOUT_MIN),
            c => Constraint::Length(c.width(&extra)),
        })
        .collect();
    let inner = block.inner(area);
    let columns = Layout::horizontal(widths)
        .flex(Flex::Start)
        .spacing(SPACING)
        .split(Rect::new(0, 0, inner.width, 1));
    frame.render_widget(block, area);
    let rows_shown = rows.len();
    // As a table did: a selection past the last row drawn marks the last.
    let selected = sel
        .filter(|_| rows_shown > 0)
        .map(|i| ((i - offset).min(rows_shown - 1), theme.selected()));
    draw_table(
        frame.buffer_mut(),
        inner,
        &columns,
        (theme.dim().add_modifier(Modifier::BOLD), titles),
        rows,
        selected,
    );
}

/// The selected row's index and the first row drawn, for `height` rows: the selection stays
/// on screen, at the bottom once it is past the first screenful.
fn window(app: &App, rows: RowKeys, height: usize) -> (Option<usize>, usize) {
    let sel = app.ui.selected.as_ref().and_then(|s| rows.position(s));
    (
        sel,
        sel.map_or(0, |i| i.saturating_sub(height.saturating_sub(1))),
    )
}

/// Whether the overview in `area` draws the row of `key`.
pub fn shows(app: &App, key: &RolloutKey, area: Rect) -> bool {
    let height = area.height.saturating_sub(3) as usize;
    let rows = app.rows();
    let (_, offset) = window(app, rows, height);
    rows.window(offset, height.max(1)).any(|k| k == key)
}
