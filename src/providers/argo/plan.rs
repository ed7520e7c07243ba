//! The Rollout's own plan, verbatim: its canary steps with the current one marked, a timed
//! pause's end, background and step analyses with their runs' phase, and the controller's
//! abort or degraded message. Shown instead of aviary's defaults, which Argo never follows.

use super::{Status, View};
use crate::domain::ControllerPlan;
use crate::providers::kube::kinds;
use serde_json::Value;
use std::time::Duration;

/// An Argo duration: a bare number is seconds, a string keeps its unit (`10s`, `1h`).
fn duration_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(format!("{n}s")),
        Value::String(s) if s.trim().parse::<f64>().is_ok() => Some(format!("{}s", s.trim())),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn duration(v: &Value) -> Option<Duration> {
    let text = duration_text(v)?;
    humantime::parse_duration(&text).ok()
}

fn names(list: Option<&Value>, field: &str) -> String {
    list.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| t.get(field).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// One step in Argo's words.
fn step_text(step: &Value) -> String {
    let Some((kind, body)) = step.as_object().and_then(|o| o.iter().next()) else {
        return "(empty step)".into();
    };
    match kind.as_str() {
        "setWeight" => match kinds::number(body) {
            Some(w) => format!("setWeight {w}%"),
            None => format!("setWeight {body}"),
        },
        "pause" => match body.get("duration").and_then(duration_text) {
            Some(d) => format!("pause {d}"),
            None => "pause until promoted".into(),
        },
        "analysis" => format!("analysis {}", names(body.get("templates"), "templateName")),
        "experiment" => {
            let d = body
                .get("duration")
                .and_then(duration_text)
                .map(|d| format!(" for {d}"))
                .unwrap_or_default();
            format!("experiment {}{d}", names(body.get("templates"), "name"))
        }
        "setCanaryScale" => {
            let what = if let Some(r) = body.get("replicas") {
                format!("replicas {r}")
            } else if let Some(w) = body.get("weight") {
                format!("weight {w}%")
            } else if body.get("matchTrafficWeight") == Some(&Value::Bool(true)) {
                "matchTrafficWeight".into()
            } else {
                body.to_string()
            };
            format!("setCanaryScale {what}")
        }
        "setHeaderRoute" | "setMirrorRoute" => {
            let n = body.get("name").and_then(Value::as_str).unwrap_or("");
            let gone = body.get("match").is_none_or(Value::is_null);
            format!("{kind} {n}{}", if gone { " (remove)" } else { "" })
        }
        "plugin" => format!(
            "plugin {}",
            body.get("name").and_then(Value::as_str).unwrap_or("")
        ),
        other => other.to_string(),
    }
}

/// `name: Phase — message` for one AnalysisRun status object.
fn run_status(label: &str, v: &Value) -> Option<String> {
    let name = v.get("name").and_then(Value::as_str)?;
    let phase = v.get("status").and_then(Value::as_str).unwrap_or("?");
    let msg = v
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(|m| format!(" — {m}"))
        .unwrap_or_default();
    Some(format!("{label} {name}: {phase}{msg}"))
}

/// Analysis runs the status names, with their phase where Argo reports one.
fn analysis(s: &Status) -> Vec<String> {
    let c = &s.canary;
    let mut out = Vec::new();
    for (label, st, name) in [
        (
            "step run",
            &c.current_step_analysis_run_status,
            &c.current_step_analysis_run,
        ),
        (
            "background run",
            &c.current_background_analysis_run_status,
            &c.current_background_analysis_run,
        ),
    ] {
        match (st.as_ref().and_then(|v| run_status(label, v)), name) {
            (Some(line), _) => out.push(line),
            (None, Some(n)) => out.push(format!("{label} {n}")),
            (None, None) => {}
        }
    }
    if let Some(e) = &c.current_experiment {
        out.push(format!("experiment {e}"));
    }
    out
}

/// The Rollout's plan as Argo holds it.
pub fn plan(v: &View) -> ControllerPlan {
    let steps = v.steps();
    let mut p = ControllerPlan {
        steps: steps.iter().map(step_text).collect(),
        ..ControllerPlan::default()
    };
    let idx = v.step_index();
    p.current = idx.filter(|i| *i < steps.len());
    if let Some(c) = v.spec.strategy.canary.as_ref() {
        let bg = names(
            c.analysis.as_ref().and_then(|a| a.get("templates")),
            "templateName",
        );
        let bg = if bg.is_empty() {
            // v0.x wrote a single `templateName`.
            c.analysis
                .as_ref()
                .and_then(|a| a.get("templateName"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        } else {
            bg
        };
        if !bg.is_empty() {
            p.facts
                .push(("analysis".into(), format!("{bg} (background)")));
        }
    }
    if let Some(bg) = &v.spec.strategy.blue_green {
        p.facts.push(("strategy".into(), "blueGreen".into()));
        if let Some(a) = &bg.active_service {
            p.facts.push(("activeService".into(), a.clone()));
        }
        if let Some(a) = &bg.preview_service {
            p.facts.push(("previewService".into(), a.clone()));
        }
    }
    if v.paused() {
        p.facts.push(("spec.paused".into(), "true".into()));
    }
    let Some(s) = &v.status else {
        p.status = Some("the controller has not reported a status yet".into());
        return p;
    };
    if idx == Some(steps.len()) && !steps.is_empty() {
        p.facts.push(("steps".into(), "all done".into()));
    }
    for pc in &s.pause_conditions {
        let since = pc.start_time.as_deref().and_then(kinds::timestamp);
        p.facts.push(("pauseCondition".into(), pc.reason.clone()));
        // A timed pause step: its end is the condition's start plus the step's duration.
        if pc.reason == "CanaryPauseStep"
            && let (Some(start), Some(i)) = (since, p.current)
            && let Some(d) = steps[i]
                .get("pause")
                .and_then(|b| b.get("duration"))
                .and_then(duration)
        {
            p.pause_until = Some(start + d);
        }
    }
    p.analysis = analysis(s);
    p.status = super::message(v).trim().to_string().into();
    if p.status.as_deref() == Some("") {
        p.status = None;
    }
    p
}
