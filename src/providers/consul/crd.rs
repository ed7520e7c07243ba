//! consul-k8s's `ServiceSplitter` custom resource (`consul.hashicorp.com/v1alpha1`): the
//! Kubernetes form of a service-splitter config entry, which consul-k8s syncs into Consul.
//! `spec.splits[]` is one split; each destination is its `serviceSubset`, else its
//! `service`, else the splitter's own service (the entry's name, as Consul defaults it).
//! Weights are percents with hundredths summing to 100, as in the config entry.
//!
//! On a cluster this is the object Argo Rollouts' Consul traffic-router plugin rewrites on
//! every step (it reads and updates the `ServiceSplitter` named by its `serviceName`, in the
//! Rollout's namespace), so a splitter such a Rollout names is shown under it.

use crate::domain::Rollout;
use crate::providers::kube::kinds::{self, Kind};
use crate::providers::kube::split::{self, RawCtx, Split};
use kube::api::DynamicObject;
use serde_json::Value;

/// The splits of a ServiceSplitter (one, when it has two destinations or more).
pub fn splits(obj: &DynamicObject) -> Vec<Split> {
    let Some(dests) = obj.data.pointer("/spec/splits").and_then(Value::as_array) else {
        return Vec::new();
    };
    if dests.len() < 2 {
        return Vec::new();
    }
    let own = kinds::name(obj);
    let text = |d: &Value, k: &str| {
        d.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let entries = split::entries(
        dests,
        |d| match (text(d, "service"), text(d, "serviceSubset")) {
            (Some(svc), Some(sub)) => format!("{svc}/{sub}"),
            (None, Some(sub)) => sub,
            (Some(svc), None) => svc,
            (None, None) => own.clone(),
        },
        |j| format!("/spec/splits/{j}/weight"),
        |raw| raw.and_then(kinds::number).unwrap_or(0.0),
    );
    vec![Split {
        id: "splits".into(),
        label: format!("service {own}"),
        entries,
    }]
}

/// Domain rollouts for a ServiceSplitter no Argo Rollout drives.
pub fn rollouts(obj: &DynamicObject, ctx: &RawCtx) -> Vec<Rollout> {
    split::rollouts(Kind::ServiceSplitter, obj, &splits(obj), ctx)
}
