//! The Canary's own plan, verbatim: `stepWeights`, or `stepWeight` up to `maxWeight`, or
//! A/B `iterations` with the `match` that routes users to the canary; `interval`,
//! `threshold`, `failedChecks` n/threshold, `canaryWeight` and the last condition message.
//! Shown instead of aviary's defaults, which Flagger never follows.

use super::{View, num};
use crate::domain::ControllerPlan;
use crate::providers::kube::kinds;
use serde_json::Value;

/// Flagger's numbers print as it wrote them (`5`, not `5.0`).
fn n(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

fn text(v: &Option<Value>) -> Option<String> {
    match v.as_ref()? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// One `match` entry: `user-agent ~ .*Firefox.*`, `x-canary = insider`; cookies are a
/// `cookie` header to Flagger and read as such.
fn match_text(m: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for (field, label) in [("headers", ""), ("queryParams", "query ")] {
        let Some(h) = m.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (name, cond) in h {
            let Some(c) = cond.as_object() else { continue };
            for (op, v) in c {
                let sym = match op.as_str() {
                    "exact" => "=",
                    "regex" => "~",
                    "prefix" => "^=",
                    "suffix" => "$=",
                    other => other,
                };
                let v = v
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string());
                out.push(format!("{label}{name} {sym} {v}"));
            }
        }
    }
    if let Some(c) = m.get("sourceLabels") {
        out.push(format!("sourceLabels {c}"));
    }
    out
}

/// The Canary's plan as Flagger holds it.
pub fn plan(v: &View) -> ControllerPlan {
    let mut p = ControllerPlan::default();
    let none = super::Analysis::default();
    let a = v.analysis().unwrap_or(&none);
    if v.analysis().is_none() {
        p.facts
            .push(("analysis".into(), "not in the object".into()));
    }
    let weight = v.weight();
    let weights: Vec<f64> = if !a.step_weights.is_empty() {
        a.step_weights.iter().filter_map(kinds::number).collect()
    } else if let Some(step) = num(&a.step_weight).filter(|s| *s > 0.0) {
        let max = num(&a.max_weight).unwrap_or(100.0).min(100.0);
        let mut out = Vec::new();
        let mut w = step;
        while w < max + 1e-9 && out.len() < 100 {
            out.push(w);
            w += step;
        }
        out
    } else {
        Vec::new()
    };
    p.steps = weights.iter().map(|w| format!("{}%", n(*w))).collect();
    if weight > 0.0 {
        p.current = weights.iter().rposition(|s| *s <= weight + 1e-9);
    }
    let status = v.status.as_ref();
    let mut fact = |k: &str, val: Option<String>| {
        if let Some(val) = val {
            p.facts.push((k.to_string(), val));
        }
    };
    if !a.step_weights.is_empty() {
        fact(
            "stepWeights",
            Some(format!(
                "[{}]",
                weights.iter().map(|w| n(*w)).collect::<Vec<_>>().join(", ")
            )),
        );
    } else {
        fact("stepWeight", num(&a.step_weight).map(n));
    }
    fact("maxWeight", num(&a.max_weight).map(n));
    if let Some(total) = num(&a.iterations) {
        let done = status.and_then(|s| num(&s.iterations)).unwrap_or(0.0);
        fact("iterations", Some(format!("{}/{}", n(done), n(total))));
    }
    fact("interval", text(&a.interval));
    let threshold = num(&a.threshold);
    fact("threshold", threshold.map(n));
    let matches: Vec<String> = a.matches.iter().flat_map(match_text).collect();
    if !matches.is_empty() {
        fact("match", Some(matches.join(" or ")));
    }
    if let Some(s) = status {
        let failed = num(&s.failed_checks).unwrap_or(0.0);
        fact(
            "failedChecks",
            Some(match threshold {
                Some(t) => format!("{}/{}", n(failed), n(t)),
                None => n(failed),
            }),
        );
        fact("canaryWeight", Some(format!("{}%", n(weight))));
    }
    p.status = match status {
        None => Some("Flagger has not reported a status yet".into()),
        Some(s) => s
            .conditions
            .iter()
            .filter_map(|c| {
                let at = c.last_transition_time.as_deref().and_then(kinds::timestamp);
                c.message.clone().filter(|m| !m.is_empty()).map(|m| (at, m))
            })
            .max_by_key(|(at, _)| *at)
            .map(|(_, m)| m),
    };
    p
}
