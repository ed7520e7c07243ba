//! The judge's advice on a rollout it only advises on (OpenKruise): a badge on the row and
//! in the detail header, and its why under the rollout's own. Words only: the advice never
//! becomes a write; the operator's keys stay the only way to act.

use crate::app::Tracked;
use crate::domain::ActionKind;
use crate::driver::{Advice, AdviceKind};
use crate::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

fn advice(t: &Tracked) -> Option<&Advice> {
    t.adviser.as_ref()?.advice.as_ref()
}

/// `judge: abort` (error colour) or `judge: ok`, when there is a verdict to flag.
pub fn badge(t: &Tracked, theme: &Theme) -> Option<Span<'static>> {
    let a = advice(t)?;
    let word = a.kind.badge()?;
    let color = match a.kind {
        AdviceKind::Abort => theme.error,
        _ => theme.ok,
    };
    Some(Span::styled(
        word,
        Style::default().fg(color).add_modifier(Modifier::BOLD),
    ))
}

/// The advice and what the operator can do about it, for the detail view.
pub fn line(t: &Tracked, theme: &Theme) -> Option<Line<'static>> {
    let a = advice(t)?;
    let caps = &t.rollout.capabilities;
    let (text, style) = match a.kind {
        AdviceKind::Abort => {
            let how = match caps.check(ActionKind::Abort) {
                Ok(()) => "A aborts".to_string(),
                Err(why) => why.to_string(),
            };
            (
                format!("advises abort: {}; aviary only advises here: {how}", a.why),
                Style::default()
                    .fg(theme.error)
                    .add_modifier(Modifier::BOLD),
            )
        }
        AdviceKind::Proceed => {
            let how = if caps.check(ActionKind::Advance).is_ok() {
                "; n approves the step"
            } else {
                ""
            };
            (
                format!("ok so far: {}{how}", a.why),
                Style::default().fg(theme.ok),
            )
        }
        AdviceKind::Wait => (a.why.clone(), theme.dim()),
    };
    Some(Line::from(vec![
        Span::styled("judge  ", theme.dim()),
        Span::styled(text, style),
    ]))
}
