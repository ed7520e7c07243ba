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
                .title(" log ")
                .border_style(theme.dim()),
        )
        .style(theme.text())
        .style_error(Style::default().fg(theme.error))
        .style_warn(Style::default().fg(theme.warn))
        .style_info(Style::default().fg(theme.fg));
    frame.render_widget(w, area);
}
