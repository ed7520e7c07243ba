//! Rendering: a pure function of `&App` and `&Theme`. It reads `app.now`, never the clock.
//!
//! ```text
//! ┌ header: aviary · sources · judge · READ-ONLY ─────────────────────┐
//! │ body: overview table  |  detail (header, charts, why, plan, events) │
//! │ [log pane, when toggled]                                           │
//! │ toast                                                              │
//! └ footer: key hints from the keymap ───────────────────────────────┘
//!   overlays: confirm / prompt dialog, help
//! ```

mod advice;
pub mod chart;
mod detail;
mod dialog;
mod footer;
mod header;
mod help;
mod log_pane;
mod one_cell;
mod overview;
mod plan;
mod text;

pub use detail::{Timeline, charts, error_points, span};
pub use overview::error_rates;

use crate::app::App;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::Block;

/// The screen's regions for a terminal of `area`; shared with `update` for scrolling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Areas {
    /// Top status line.
    pub header: Rect,
    /// Table or detail.
    pub body: Rect,
    /// Log pane (zero height when hidden).
    pub log: Rect,
    /// Toast line.
    pub toast: Rect,
    /// Key hints.
    pub footer: Rect,
}

/// Splits the screen.
pub fn layout(area: Rect, log_pane: bool) -> Areas {
    let log_h = if log_pane {
        (area.height / 3).max(3)
    } else {
        0
    };
    let [header, body, log, toast, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(log_h),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        body,
        log,
        toast,
        footer,
    }
}

/// Whether the screen shows the rollout `key` anywhere but the header and footer counts: its
/// detail, or its row within the overview's scrolled window. A change to any other rollout
/// needs no frame.
pub fn shows_rollout(app: &App, key: &crate::domain::RolloutKey) -> bool {
    if app.ui.detail && app.selected().is_some() {
        return app.ui.selected.as_ref() == Some(key);
    }
    let (w, h) = app.ui.size;
    let a = layout(Rect::new(0, 0, w, h), app.ui.log_pane);
    overview::shows(app, key, a.body)
}

/// A digest of everything the screen shows that changes with the clock alone (ages, stale
/// badges, a toast's fading, rolling error rates), or `None` when the screen moves with every
/// tick anyway (detail charts, the log pane) or shows something not digested here (a dialog,
/// help, the `:` line, the shutdown countdown). A tick draws only when this changes, so a
/// quiet board costs a frame when one of its ages turns over, not one every second.
pub fn clock_face(app: &App) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let ui = &app.ui;
    if ui.detail
        || ui.log_pane
        || ui.help
        || ui.modal.is_some()
        || ui.command.is_some()
        || ui.filter_editing
        || app.shutdown.is_some()
    {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for id in app.sources.keys() {
        header::badge(app, id).hash(&mut h);
    }
    footer::live_toast(app).is_some().hash(&mut h);
    footer::demo_caption(app).hash(&mut h);
    let (w, ht) = ui.size;
    let a = layout(Rect::new(0, 0, w, ht), ui.log_pane);
    overview::clock_face(app, a.body, &mut h);
    Some(h.finish())
}

/// Draws the whole frame.
pub fn render(app: &App, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    frame.render_widget(Block::default().style(theme.text()), area);
    let a = layout(area, app.ui.log_pane);
    header::render(app, theme, frame, a.header);
    match app.selected() {
        Some(t) if app.ui.detail => detail::render(app, t, theme, frame, a.body),
        _ => overview::render(app, theme, frame, a.body),
    }
    if app.ui.log_pane {
        log_pane::render(theme, frame, a.log);
    }
    footer::toast(app, theme, frame, a.toast);
    footer::hints(app, theme, frame, a.footer);
    if let Some(m) = &app.ui.modal {
        dialog::render(app, m, theme, frame, area);
    }
    if app.ui.help {
        help::render(app, theme, frame, area);
    }
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
