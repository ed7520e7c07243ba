//! SMI `TrafficSplit`, v1alpha1 to v1alpha4: `spec.backends[]` is one split. v1alpha1 stores
//! weights as Kubernetes quantities (`900m`, `"5"`); later versions as integers. Shares are the
//! backend's part of the total, whatever the unit.

use super::kube::kinds::Kind;
use super::kube::split::{self, RawCtx, Split};
use crate::domain::Rollout;
use crate::domain::weight::rules;
use kube::api::DynamicObject;
use serde_json::Value;

fn weight(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => rules::smi_quantity(s).ok(),
        _ => None,
    }
}

/// The backends of a TrafficSplit (one split, when there are two or more).
pub fn splits(obj: &DynamicObject) -> Vec<Split> {
    let Some(backends) = obj.data.pointer("/spec/backends").and_then(Value::as_array) else {
        return Vec::new();
    };
    if backends.len() < 2 {
        return Vec::new();
    }
    let entries = split::entries(
        backends,
        |b| {
            b.get("service")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        },
        |j| format!("/spec/backends/{j}/weight"),
        |raw| raw.and_then(weight).unwrap_or(0.0),
    );
    let root = obj
        .data
        .pointer("/spec/service")
        .and_then(Value::as_str)
        .unwrap_or("?");
    vec![Split {
        id: "backends".into(),
        label: format!("service {root}"),
        entries,
    }]
}

/// Domain rollouts for a TrafficSplit not owned by a controller.
pub fn rollouts(obj: &DynamicObject, ctx: &RawCtx) -> Vec<Rollout> {
    split::rollouts(Kind::TrafficSplit, obj, &splits(obj), ctx)
}
