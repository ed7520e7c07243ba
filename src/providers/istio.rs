//! Istio `VirtualService`: every `http` route with two or more weighted destinations becomes a
//! rollout; builds are the destinations' subsets (or hosts). Weights are whole percents that
//! sum to 100 and are written with a guarded JSON Patch (see [`super::kube::split`]).

use super::kube::kinds::{self, Kind, pointer_token};
use super::kube::split::{self, RawCtx, Split};
use crate::domain::Rollout;
use kube::api::DynamicObject;
use serde_json::Value;

/// The weighted routes of a VirtualService.
pub fn splits(obj: &DynamicObject) -> Vec<Split> {
    let Some(http) = obj.data.pointer("/spec/http").and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, route) in http.iter().enumerate() {
        let Some(dests) = route.get("route").and_then(Value::as_array) else {
            continue;
        };
        if dests.len() < 2 {
            continue;
        }
        let entries = split::entries(
            dests,
            |d| {
                let dest = d.get("destination");
                let host = dest
                    .and_then(|x| x.get("host"))
                    .and_then(Value::as_str)
                    .unwrap_or("?");
                match dest.and_then(|x| x.get("subset")).and_then(Value::as_str) {
                    Some(subset) => subset.to_string(),
                    None => host.to_string(),
                }
            },
            |j| format!("/spec/http/{i}/route/{j}/weight"),
            |raw| raw.and_then(kinds::number).unwrap_or(0.0),
        );
        let route_name = route.get("name").and_then(Value::as_str);
        out.push(Split {
            id: route_name
                .map(pointer_token)
                .unwrap_or_else(|| i.to_string()),
            label: match route_name {
                Some(n) => format!("route {n}"),
                None => format!("http[{i}]"),
            },
            entries,
        });
    }
    out
}

/// Domain rollouts for a VirtualService not owned by a controller.
pub fn rollouts(obj: &DynamicObject, ctx: &RawCtx) -> Vec<Rollout> {
    split::rollouts(Kind::VirtualService, obj, &splits(obj), ctx)
}
