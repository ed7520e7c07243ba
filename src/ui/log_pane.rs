//! The log pane (`l`): tracing events through tui-logger. tui-logger keeps its own global
//! buffer, so this region is the one part of the screen that is not a function of `App`;
//! it is hidden by default and never drawn in snapshot tests.

use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Borders};
use tui_logger::TuiLoggerWidget;

/// Draws the log pane.
pub fn render(theme: &Theme, frame: &mut Frame, area: Rect) {
    let w = TuiLoggerWidget::default()
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(" log · l hides ")
                .border_style(theme.dim()),
        )
        .style(theme.text())
        .style_error(Style::default().fg(theme.error))
        .style_warn(Style::default().fg(theme.warn))
        .style_info(Style::default().fg(theme.fg));
    frame.render_widget(w, area);
    // tui-logger draws nothing while its buffer is empty; an empty box reads as broken.
    let inner = Block::default().borders(Borders::ALL).inner(area);
    let buf = frame.buffer_mut();
    let blank = (inner.top()..inner.bottom())
        .all(|y| (inner.left()..inner.right()).all(|x| buf[(x, y)].symbol() == " "));
    if blank && inner.height > 0 {
        buf.set_stringn(
            inner.x,
            inner.y,
            "nothing logged yet: source errors and warnings appear here",
            inner.width.into(),
            theme.dim(),
        );
    }
}
