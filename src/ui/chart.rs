//! One time chart: a line per build, the canary weight overlaid (scaled to the y range), a
//! threshold line, and vertical markers where steps and operator actions happened.

use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType};

/// One build's line: name, colour, points.
pub type Line = (String, Color, Vec<(f64, f64)>);

/// Everything one chart shows, in chart coordinates (x = seconds before now, ≤ 0).
pub struct ChartData {
    /// Title, e.g. "requests/s".
    pub title: &'static str,
    /// Per build: name, colour, points.
    pub lines: Vec<Line>,
    /// A horizontal limit line, when the metric has one.
    pub threshold: Option<f64>,
    /// Canary weight over time in percent (scaled onto the y range when drawn).
    pub weight: Vec<(f64, f64)>,
    /// Vertical markers: x and colour.
    pub markers: Vec<(f64, Color)>,
    /// Left end of the x axis (negative seconds).
    pub x_min: f64,
    /// Formats a y value for the axis.
    pub fmt: fn(f64) -> String,
}

/// Draws `d` into `area`.
pub fn render(d: &ChartData, theme: &Theme, frame: &mut Frame, area: Rect) {
    let data_max = d
        .lines
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    let y_max = (data_max.max(d.threshold.unwrap_or(0.0)) * 1.15).max(1e-9);
    let y_max = if y_max < 1e-6 { 1.0 } else { y_max };
    let weight: Vec<(f64, f64)> = d
        .weight
        .iter()
        .map(|(x, w)| (*x, w / 100.0 * y_max))
        .collect();
    let threshold: Vec<(f64, f64)> = d
        .threshold
        .map(|t| vec![(d.x_min, t), (0.0, t)])
        .unwrap_or_default();
    let markers: Vec<[(f64, f64); 2]> = d
        .markers
        .iter()
        .map(|(x, _)| [(*x, 0.0), (*x, y_max)])
        .collect();
    let mut sets: Vec<Dataset> = Vec::new();
    for (m, (_, c)) in markers.iter().zip(&d.markers) {
        sets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(*c))
                .data(m),
        );
    }
    if !weight.is_empty() {
        sets.push(
            Dataset::default()
                .name("weight")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(theme.weight))
                .data(&weight),
        );
    }
    if !threshold.is_empty() {
        sets.push(
            Dataset::default()
                .name("limit")
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(theme.threshold))
                .data(&threshold),
        );
    }
    for (name, color, pts) in &d.lines {
        sets.push(
            Dataset::default()
                .name(name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(Style::default().fg(*color))
                .data(pts),
        );
    }
    let x_label = |s: f64| {
        Span::styled(
            super::text::short(std::time::Duration::from_secs_f64(-s)),
            theme.dim(),
        )
    };
    let chart = Chart::new(sets)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(theme.dim())
                .title(Span::styled(format!(" {} ", d.title), theme.title())),
        )
        .style(theme.text())
        .legend_position(None)
        .x_axis(
            Axis::default()
                .bounds([d.x_min, 0.0])
                .style(theme.dim())
                .labels([x_label(d.x_min), Span::styled("now", theme.dim())]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, y_max])
                .style(theme.dim())
                .labels([
                    Span::styled("0", theme.dim()),
                    Span::styled((d.fmt)(y_max), theme.dim()),
                ]),
        );
    frame.render_widget(chart, area);
}
