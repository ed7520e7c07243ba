//! The plan lines of the detail view: the owning controller's plan verbatim (Argo steps,
//! Flagger analysis) for controller rollouts, aviary's own plan only where aviary drives,
//! and nothing pretending to be a plan on rollouts aviary only watches.

use crate::app::{App, Tracked};
use crate::domain::{ControllerPlan, Owner};
use crate::theme::Theme;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

/// Why the p99 chart and the plan's p99 limit are left out, when the metrics source cannot
/// measure percentiles (HAProxy's `show stat` counts responses, it has no latency histogram).
pub fn no_percentiles(t: &Tracked) -> Option<String> {
    let src = t.metrics_source.as_ref()?;
    if src.0.starts_with("haproxy") {
        return Some("HAProxy show stat has no percentiles: give --prometheus for p99".into());
    }
    let mut traffic = false;
    for q in t.series.builds.values() {
        for p in q {
            if p.p99_ms.is_some() {
                return None;
            }
            traffic |= p.rps > 0.0;
        }
    }
    traffic.then(|| format!("{src} reports no latency percentiles"))
}

/// The plan lines for this rollout.
pub fn lines(app: &App, t: &Tracked, theme: &Theme) -> Vec<Line<'static>> {
    match (&t.rollout.owner, &t.rollout.controller_plan) {
        (Owner::Controller(c), Some(p)) => controller(app, t, p, &format!("{c:?}"), theme),
        (Owner::Controller(c), None) => vec![Line::from(Span::styled(
            format!("plan  {c:?} has not said (no steps in the object)"),
            theme.dim(),
        ))],
        (Owner::Autopilot, _) if t.autopilot.is_some() => vec![aviary(t, theme)],
        _ if app.read_only => vec![Line::from(Span::styled(
            "plan  none: --read-only, aviary only watches",
            theme.dim(),
        ))],
        _ => vec![Line::from(Span::styled(
            "plan  none: aviary watches this route and acts only on your keys",
            theme.dim(),
        ))],
    }
}

fn controller(
    app: &App,
    t: &Tracked,
    p: &ControllerPlan,
    who: &str,
    theme: &Theme,
) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let mut spans = vec![Span::styled(format!("plan ({who}) "), theme.dim())];
    if p.steps.is_empty() {
        spans.push(Span::styled("no steps", theme.dim()));
    }
    for (i, s) in p.steps.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.dim()));
        }
        match p.current {
            Some(c) if c == i => {
                let left = p
                    .pause_left(app.now)
                    .map(|d| format!(", {} left", humantime::format_duration(secs(d))))
                    .unwrap_or_default();
                spans.push(Span::styled(
                    format!("▶[{s}{left}]"),
                    Style::default()
                        .fg(theme.canary)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            Some(c) if i < c => spans.push(Span::styled(s.clone(), theme.text())),
            _ => spans.push(Span::styled(s.clone(), theme.dim())),
        }
    }
    out.push(Line::from(spans));
    if !p.facts.is_empty() {
        let mut spans = Vec::new();
        for (i, (k, v)) in p.facts.iter().enumerate() {
            if i > 0 {
                spans.push(Span::styled("  ", theme.dim()));
            }
            spans.push(Span::styled(format!("{k} "), theme.dim()));
            spans.push(Span::styled(v.clone(), theme.text()));
        }
        out.push(Line::from(spans));
    }
    for a in &p.analysis {
        let bad = a.contains("Failed") || a.contains("Error") || a.contains("Inconclusive");
        let style = if bad {
            Style::default().fg(theme.error)
        } else {
            theme.text()
        };
        out.push(Line::from(Span::styled(a.clone(), style)));
    }
    if let Some(s) = &p.status
        && !t.rollout.message.contains(s.as_str())
    {
        out.push(Line::from(vec![
            Span::styled("said ", theme.dim()),
            Span::styled(s.clone(), theme.text()),
        ]));
    }
    out
}

fn secs(d: std::time::Duration) -> std::time::Duration {
    std::time::Duration::from_secs(d.as_secs())
}

/// aviary's own plan: the weights it visits, the current one marked, its cadence and limits
/// (leaving out a limit the metrics source cannot measure).
fn aviary(t: &Tracked, theme: &Theme) -> Line<'static> {
    let current = t.rollout.canary_weight();
    let mut spans = vec![Span::styled("plan (aviary) ", theme.dim())];
    for w in t.plan.steps() {
        let s = format!("{w}");
        if w == current {
            spans.push(Span::styled(
                format!("▶[{s}]"),
                Style::default()
                    .fg(theme.canary)
                    .add_modifier(Modifier::BOLD),
            ));
        } else if w < current {
            spans.push(Span::styled(s, theme.text()));
        } else {
            spans.push(Span::styled(s, theme.dim()));
        }
        spans.push(Span::raw(" "));
    }
    let p99 = if no_percentiles(t).is_some() {
        String::new()
    } else {
        format!(", p99 {}ms", t.plan.max_p99.as_millis())
    };
    spans.push(Span::styled(
        format!(
            "→ 100%   every {}, roll back after {} failed, limits {:.1}% errors{p99}",
            humantime::format_duration(t.plan.interval),
            t.plan.threshold,
            t.plan.max_error_rate * 100.0,
        ),
        theme.dim(),
    ));
    Line::from(spans)
}
