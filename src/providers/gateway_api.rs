//! Gateway API `HTTPRoute`: every rule with two or more `backendRefs` becomes a rollout.
//! Weights are proportional (0..=1,000,000, default 1), so shares are computed from the total;
//! aviary writes them out of 100 (or 10,000 for fractional percents).

use super::kube::kinds::{self, Kind};
use super::kube::split::{self, RawCtx, Split};
use crate::domain::Rollout;
use kube::api::DynamicObject;
use serde_json::Value;

/// The weighted rules of an HTTPRoute.
pub fn splits(obj: &DynamicObject) -> Vec<Split> {
    split::per_rule(
        obj,
        "/spec/rules",
        "backendRefs",
        |r| {
            r.get("name")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_string()
        },
        // The Gateway API default weight is 1.
        |raw| raw.map_or(Some(1.0), kinds::number).unwrap_or(0.0),
        |name, i| match name {
            Some(n) => format!("rule {n}"),
            None => format!("rule {i}"),
        },
    )
}

/// Domain rollouts for an HTTPRoute not owned by a controller.
pub fn rollouts(obj: &DynamicObject, ctx: &RawCtx) -> Vec<Rollout> {
    split::rollouts(Kind::HttpRoute, obj, &splits(obj), ctx)
}
