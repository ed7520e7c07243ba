//! Istio `VirtualService`: every `http` route with two or more weighted destinations becomes a
//! rollout; builds are the destinations' subsets (or hosts). Weights are whole percents that
//! sum to 100 and are written with a guarded JSON Patch (see [`super::kube::split`]).

use super::kube::kinds::{self, Kind};
use super::kube::split::{self, RawCtx, Split};
use crate::domain::Rollout;
use kube::api::DynamicObject;
use serde_json::Value;

/// The weighted routes of a VirtualService.
pub fn splits(obj: &DynamicObject) -> Vec<Split> {
    split::per_rule(
        obj,
        "/spec/http",
        "route",
        |d| {
            let dest = d.get("destination");
            match dest.and_then(|x| x.get("subset")).and_then(Value::as_str) {
                Some(subset) => subset.to_string(),
                None => dest
                    .and_then(|x| x.get("host"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
            }
        },
        |raw| raw.and_then(kinds::number).unwrap_or(0.0),
        |name, i| match name {
            Some(n) => format!("route {n}"),
            None => format!("http[{i}]"),
        },
    )
}

/// Domain rollouts for a VirtualService not owned by a controller.
pub fn rollouts(obj: &DynamicObject, ctx: &RawCtx) -> Vec<Rollout> {
    split::rollouts(Kind::VirtualService, obj, &splits(obj), ctx)
}
