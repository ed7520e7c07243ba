//! One time chart, drawn cell by cell so every mark means one thing:
//!
//! - each series has its own glyph as well as its colour (braille for the canary, `·` for
//!   stable, `∘` for others), so it reads in `mono` and for colour-blind eyes;
//! - no data is a gap (a missing sample, or a gap in time longer than three refreshes);
//! - the limit is a dashed `┄` row, and the y axis spans at least twice it, so it never sits
//!   on the zero line; a value above the axis is clipped with `▲` and its value;
//! - the y axis has ticks with units; the x axis names the window;
//! - markers are a faint column with a glyph on top naming what happened.
//!
//! Pure: the caller hands in points already placed on the x axis (seconds before now).

use crate::domain::observation::MarkerKind;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

/// How a series marks its cells; the legend shows the same glyph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glyph {
    /// Braille dots at 2×4 per cell (the canary: the line people watch).
    Braille,
    /// `·` per cell (stable).
    Dot,
    /// `∘` per cell (any other build).
    Ring,
}

impl Glyph {
    /// The character the legend shows for it.
    pub fn legend(self) -> &'static str {
        match self {
            Glyph::Braille => "⣿",
            Glyph::Dot => "·",
            Glyph::Ring => "∘",
        }
    }
}

/// Glyph on top of a marker column, by kind (the legend uses the same).
pub fn marker_glyph(k: &MarkerKind) -> char {
    match k {
        MarkerKind::Step => '┊',
        MarkerKind::Operator => '◆',
        MarkerKind::CheckFailed => '!',
        MarkerKind::Rollback => '✕',
    }
}

/// Mark of a clipped value at the top of the axis.
pub const CLIP: char = '▲';
/// The limit line's glyph.
pub const LIMIT: char = '┄';

/// One build's line.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Build name.
    pub name: String,
    /// Colour.
    pub color: Color,
    /// Glyph.
    pub glyph: Glyph,
    /// (x, y): x in seconds before now (≤ 0); `None` is "no data here".
    pub points: Vec<(f64, Option<f64>)>,
    /// Points are changes of a value that holds until the next one (the weight): a long
    /// time between them is not a gap.
    pub held: bool,
}

/// What the numbers on the y axis are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Requests per second.
    Rps,
    /// Percent (values already ×100).
    Percent,
    /// Milliseconds.
    Ms,
}

impl Unit {
    /// A value with its unit, short enough for an axis.
    pub fn fmt(self, v: f64, top: f64) -> String {
        let num = if top < 10.0 && v != 0.0 && v.fract() != 0.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        };
        match self {
            Unit::Rps => format!("{num}/s"),
            Unit::Percent => format!("{num}%"),
            Unit::Ms if v >= 1000.0 => format!("{:.1}s", v / 1000.0),
            Unit::Ms => format!("{num}ms"),
        }
    }
}

/// Everything one chart shows.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartData {
    /// Title, including the window (`error % (30s) · 5m`).
    pub title: String,
    /// Unit of the y axis.
    pub unit: Unit,
    /// Lines, drawn in order (later ones on top).
    pub series: Vec<Series>,
    /// The plan's limit for this signal.
    pub limit: Option<f64>,
    /// Vertical markers (x, kind).
    pub markers: Vec<(f64, MarkerKind)>,
    /// Left end of the x axis (negative seconds).
    pub x_min: f64,
    /// Shown instead of the lines when the source cannot give this signal.
    pub note: Option<String>,
    /// The lowest the y axis may top out at (e.g. 10 % for the weight lane).
    pub y_floor: f64,
    /// Top the axis at the next multiple of this, with no headroom, so the highest value
    /// sits on the labelled top row (the weight lane: 10 % at "10%", not under "20%").
    pub y_step: Option<f64>,
    /// Draw the x labels row (the weight lane leaves it out).
    pub x_labels: bool,
    /// Borders: all for charts, top only for the thin weight lane.
    pub borders: Borders,
}

/// `v` rounded up to 1, 2, 2.5 or 5 × 10ⁿ.
pub fn nice_ceil(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * p * (1.0 + 1e-9) {
            return m * p;
        }
    }
    10.0 * p
}

/// The largest 1, 2, 2.5 or 5 × 10ⁿ at or below `v`.
fn nice_floor(v: f64) -> f64 {
    let c = nice_ceil(v);
    if c <= v * (1.0 + 1e-9) {
        return c;
    }
    let p = 10f64.powf(v.log10().floor());
    [5.0, 2.5, 2.0, 1.0]
        .into_iter()
        .map(|m| m * p)
        .find(|x| *x <= v * (1.0 + 1e-9))
        .unwrap_or(p)
}

/// The top of the y axis for a plot `rows` high. With a limit: at least twice the limit,
/// and never so high that the limit shares the zero row (what is above is clipped with
/// its value); without one, the highest value on screen.
pub fn y_top(d: &ChartData, rows: u16) -> f64 {
    let max = d
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, y)| *y))
        .filter(|y| y.is_finite())
        .fold(0.0f64, f64::max);
    let want = match d.y_step.filter(|s| *s > 0.0) {
        Some(step) => ((max.max(d.y_floor) / step - 1e-9).ceil() * step).max(step),
        None => nice_ceil((max * 1.1).max(d.y_floor)),
    };
    match d.limit.filter(|l| *l > 0.0) {
        None => want,
        Some(l) => {
            // The limit must sit at least one cell (four dots) above the bottom row.
            let dots = f64::from(rows.max(2)) * 4.0 - 1.0;
            let cap = nice_floor(l * dots / 4.0).max(2.0 * l);
            want.max(2.0 * l).min(cap)
        }
    }
}

/// Braille bit for the dot at (column 0..2, row 0..4 from the top) of a cell.
fn bit(dx: usize, dy: usize) -> u8 {
    const BITS: [[u8; 4]; 2] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]];
    BITS[dx][dy]
}

struct Grid {
    w: usize,
    h: usize,
    /// Per series, braille bits per cell.
    bits: Vec<Vec<u8>>,
}

impl Grid {
    fn set(&mut self, s: usize, col: i64, row: i64) {
        // `row` counts dots from the bottom.
        if col < 0 || row < 0 || col >= (self.w * 2) as i64 || row >= (self.h * 4) as i64 {
            return;
        }
        let (col, row) = (col as usize, (self.h * 4 - 1) - row as usize);
        self.bits[s][(row / 4) * self.w + col / 2] |= bit(col % 2, row % 4);
    }

    fn line(&mut self, s: usize, (x0, y0): (i64, i64), (x1, y1): (i64, i64)) {
        let (dx, dy) = ((x1 - x0).abs(), -(y1 - y0).abs());
        let (sx, sy) = (if x0 < x1 { 1 } else { -1 }, if y0 < y1 { 1 } else { -1 });
        let (mut x, mut y, mut err) = (x0, y0, dx + dy);
        loop {
            self.set(s, x, y);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }
}

/// Splits a series into runs with no gap: a `None`, or more than three times the usual
/// spacing between samples (the source did not answer).
fn runs(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut steps: Vec<f64> = points.windows(2).map(|p| p[1].0 - p[0].0).collect();
    steps.sort_by(f64::total_cmp);
    let usual = steps.get(steps.len() / 2).copied().unwrap_or(1.0).max(0.5);
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let mut last_x: Option<f64> = None;
    for (x, y) in points {
        let gap = last_x.is_some_and(|l| x - l > usual * 3.0 + 1e-9);
        if (y.is_none() || gap) && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        if let Some(y) = y {
            cur.push((*x, *y));
        }
        last_x = Some(*x);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Draws `d` into `area`.
pub fn render(d: &ChartData, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(d.borders)
        .border_style(theme.dim())
        .title(Span::styled(format!(" {} ", d.title), theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(note) = &d.note {
        frame.render_widget(
            Paragraph::new(note.clone())
                .style(theme.dim())
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    }
    let label_rows = u16::from(d.x_labels);
    if inner.height < 1 + label_rows || inner.width < 8 {
        return;
    }
    let rows = inner.height - label_rows;
    let top = y_top(d, rows);
    // Ticks: the top, the limit (the number that matters) or the middle, and zero.
    let mid = d.limit.filter(|l| *l < top).unwrap_or(top / 2.0);
    let ticks = [top, mid, 0.0];
    let labels: Vec<String> = ticks.iter().map(|v| d.unit.fmt(*v, top)).collect();
    let lw = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1) as u16;
    let plot = Rect {
        x: inner.x + lw + 1,
        y: inner.y,
        width: inner.width.saturating_sub(lw + 1),
        height: rows,
    };
    if plot.width < 2 {
        return;
    }
    let buf = frame.buffer_mut();
    draw(d, theme, buf, plot, top);
    // y axis: a tick and its label at the top, middle and bottom rows.
    for row in 0..plot.height {
        buf[(plot.x - 1, plot.y + row)]
            .set_char('│')
            .set_style(theme.dim());
    }
    let tick_rows: Vec<u16> = ticks
        .iter()
        .map(|v| cell_row(*v, top, plot.height))
        .collect();
    for (i, (row, label)) in tick_rows.iter().zip(&labels).enumerate() {
        if i == 1 && (tick_rows[1] == tick_rows[0] || tick_rows[1] == tick_rows[2]) {
            continue;
        }
        let y = plot.y + row;
        let x = inner.x + lw - label.chars().count() as u16;
        buf.set_string(x, y, label, theme.dim());
        buf[(plot.x - 1, y)].set_char('┤');
    }
    if d.x_labels {
        let y = plot.y + plot.height;
        let left = format!("-{}", super::text::short(secs(-d.x_min)));
        buf.set_string(plot.x, y, &left, theme.dim());
        let mid = format!("-{}", super::text::short(secs(-d.x_min / 2.0)));
        let mid_x = plot.x + plot.width / 2 - (mid.chars().count() as u16) / 2;
        if plot.width >= 24 {
            buf.set_string(mid_x, y, &mid, theme.dim());
        }
        buf.set_string(plot.x + plot.width.saturating_sub(3), y, "now", theme.dim());
    }
}

/// The cell row (0 = top) a value falls in, the same rounding the lines use.
fn cell_row(v: f64, top: f64, h: u16) -> u16 {
    let dots = f64::from(h) * 4.0 - 1.0;
    let dot = ((v.clamp(0.0, top) / top) * dots).round() as u16;
    h - 1 - (dot / 4).min(h - 1)
}

fn secs(s: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(s.max(0.0))
}

/// The plot itself: markers, the limit row, the series, the clip marks.
fn draw(d: &ChartData, theme: &Theme, buf: &mut Buffer, plot: Rect, top: f64) {
    let (w, h) = (plot.width as usize, plot.height as usize);
    let span = (-d.x_min).max(1e-9);
    let col = |x: f64| (((x - d.x_min) / span) * (w * 2 - 1) as f64).round() as i64;
    let row = |y: f64| ((y / top) * (h * 4 - 1) as f64).round() as i64;
    let mut grid = Grid {
        w,
        h,
        bits: vec![vec![0; w * h]; d.series.len()],
    };
    // Clipped values per series: (cell column, value), the largest labelled.
    let mut clipped: Vec<Vec<(usize, f64)>> = vec![Vec::new(); d.series.len()];
    for (i, s) in d.series.iter().enumerate() {
        let runs = if s.held {
            vec![
                s.points
                    .iter()
                    .filter_map(|(x, y)| y.map(|y| (*x, y)))
                    .collect(),
            ]
        } else {
            runs(&s.points)
        };
        for run in runs {
            let pts: Vec<(i64, i64)> = run
                .iter()
                .filter(|(x, _)| *x >= d.x_min - 1e-9)
                .map(|(x, y)| {
                    if *y > top * (1.0 + 1e-9) {
                        clipped[i].push(((col(*x) / 2) as usize, *y));
                    }
                    (col(*x), row(y.clamp(0.0, top)))
                })
                .collect();
            match pts.as_slice() {
                [] => {}
                [p] => grid.set(i, p.0, p.1),
                _ => pts.windows(2).for_each(|p| grid.line(i, p[0], p[1])),
            }
        }
    }
    let at = |c: usize, r: usize| (plot.x + c as u16, plot.y + r as u16);
    // Markers first: a faint column, their glyph on the top row.
    for (x, kind) in &d.markers {
        if *x < d.x_min {
            continue;
        }
        let c = (col(*x) / 2).clamp(0, w as i64 - 1) as usize;
        let color = marker_color(kind, theme);
        for r in 0..h {
            let ch = if r == 0 { marker_glyph(kind) } else { '┊' };
            buf[at(c, r)]
                .set_char(ch)
                .set_style(Style::default().fg(color));
        }
    }
    if let Some(l) = d.limit {
        let r = usize::from(cell_row(l, top, plot.height));
        for c in 0..w {
            buf[at(c, r)]
                .set_char(LIMIT)
                .set_style(Style::default().fg(theme.threshold));
        }
    }
    for r in 0..h {
        for c in 0..w {
            let idx = r * w + c;
            let Some(i) = (0..d.series.len()).rev().find(|i| grid.bits[*i][idx] != 0) else {
                continue;
            };
            let s = &d.series[i];
            let ch = match s.glyph {
                Glyph::Braille => char::from_u32(0x2800 + grid.bits[i][idx] as u32).unwrap_or('⣿'),
                Glyph::Dot => '·',
                Glyph::Ring => '∘',
            };
            buf[at(c, r)]
                .set_char(ch)
                .set_style(Style::default().fg(s.color));
        }
    }
    for (i, clips) in clipped.iter().enumerate() {
        let Some(&(peak_c, peak)) = clips.iter().max_by(|a, b| a.1.total_cmp(&b.1)) else {
            continue;
        };
        let style = Style::default().fg(d.series[i].color);
        for (c, _) in clips {
            buf[at((*c).min(w - 1), 0)].set_char(CLIP).set_style(style);
        }
        let label = d.unit.fmt(peak, peak);
        let len = label.chars().count();
        let c = peak_c.min(w - 1);
        // The value beside its mark, on whichever side has room.
        let start = if c + 1 + len <= w {
            c + 1
        } else {
            c.saturating_sub(len)
        };
        buf.set_string(plot.x + start as u16, plot.y, &label, style);
    }
}

/// Colour of a marker, by kind.
pub fn marker_color(k: &MarkerKind, theme: &Theme) -> Color {
    match k {
        MarkerKind::Step => theme.muted,
        MarkerKind::Operator => theme.accent,
        MarkerKind::CheckFailed => theme.warn,
        MarkerKind::Rollback => theme.error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(1.7), 2.0);
        assert_eq!(nice_ceil(2.1), 2.5);
        assert_eq!(nice_ceil(43.1), 50.0);
        assert_eq!(nice_ceil(510.0), 1000.0);
    }

    #[test]
    fn a_none_or_a_long_silence_splits_the_line() {
        let pts = vec![
            (-10.0, Some(1.0)),
            (-9.0, Some(1.0)),
            (-8.0, None),
            (-7.0, Some(2.0)),
            (-6.0, Some(2.0)),
            (-1.0, Some(3.0)),
        ];
        let r = runs(&pts);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!(r[2], vec![(-1.0, 3.0)]);
    }

    #[test]
    fn axis_spans_twice_the_limit_and_clips_spikes() {
        let mut d = ChartData {
            title: String::new(),
            unit: Unit::Percent,
            series: vec![Series {
                name: "c".into(),
                color: Color::Reset,
                glyph: Glyph::Braille,
                held: false,
                points: (0..20)
                    .map(|i| (-(20 - i) as f64, Some(if i == 10 { 43.1 } else { 0.3 })))
                    .collect(),
            }],
            limit: Some(1.0),
            markers: Vec::new(),
            x_min: -20.0,
            note: None,
            y_floor: 0.0,
            y_step: None,
            x_labels: true,
            borders: Borders::ALL,
        };
        assert_eq!(y_top(&d, 5), 2.5);
        // Even a sustained 25 % keeps the 1 % limit off the zero row.
        d.series[0].points = vec![(-1.0, Some(25.0))];
        assert_eq!(y_top(&d, 5), 2.5);
        assert_eq!(y_top(&d, 12), 10.0);
    }
}
