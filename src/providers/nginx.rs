//! ingress-nginx canaries: a second `Ingress` for the same host and path as the primary one,
//! marked `nginx.ingress.kubernetes.io/canary: "true"`, whose `canary-weight` annotation (out
//! of `canary-weight-total`, 100 unless set) is the canary's share. The primary Ingress carries
//! no weight of its own: it gets the rest. So a write touches one string in the canary
//! Ingress's annotations, guarded by `test` ops on its resourceVersion and on the old value.
//!
//! Header and cookie routing (`canary-by-header`, `canary-by-cookie`) take precedence over
//! the weight; aviary shows them, since a canary at 0 % can still receive every request that
//! carries the header.

use super::kube::kinds::{self, Kind};
use super::kube::split::{self, Entry, RawCtx, Split};
use crate::domain::weight::rules;
use crate::domain::{Role, Rollout, Weight};
use kube::api::DynamicObject;
use serde_json::{Value, json};

const PREFIX: &str = "nginx.ingress.kubernetes.io/";

fn annotation<'a>(obj: &'a DynamicObject, name: &str) -> Option<&'a str> {
    obj.metadata
        .annotations
        .as_ref()?
        .get(&format!("{PREFIX}{name}"))
        .map(String::as_str)
}

/// True for an Ingress that ingress-nginx treats as a canary.
pub fn is_canary(obj: &DynamicObject) -> bool {
    annotation(obj, "canary").is_some_and(|v| v.trim() == "true")
}

/// `canary-weight-total`, 100 when unset or unreadable (as ingress-nginx defaults it).
pub fn total(obj: &DynamicObject) -> u32 {
    annotation(obj, "canary-weight-total")
        .and_then(|v| v.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// `(host, path)` of every rule path, for pairing a canary with its primary.
pub fn routes(obj: &DynamicObject) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for rule in obj.data["spec"]["rules"].as_array().into_iter().flatten() {
        let host = rule["host"].as_str().unwrap_or("*").to_string();
        for p in rule["http"]["paths"].as_array().into_iter().flatten() {
            out.push((host.clone(), p["path"].as_str().unwrap_or("/").to_string()));
        }
    }
    out
}

/// The first backend Service an Ingress routes to (`networking.k8s.io/v1` shape, and the
/// older `serviceName` of `extensions/v1beta1` that Argo's docs still show).
pub fn backend_service(obj: &DynamicObject) -> Option<String> {
    let spec = &obj.data["spec"];
    let from = |b: &Value| {
        b["service"]["name"]
            .as_str()
            .or_else(|| b["serviceName"].as_str())
            .map(String::from)
    };
    spec["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["http"]["paths"].as_array().into_iter().flatten())
        .find_map(|p| from(&p["backend"]))
        .or_else(|| from(&spec["defaultBackend"]))
}

/// The canary Ingress's one split: the primary (the rest) and the canary (its annotation).
/// `primary` names the primary's backend Service when the catalog found it.
pub fn splits(obj: &DynamicObject, primary: Option<&str>) -> Vec<Split> {
    if !is_canary(obj) {
        return Vec::new();
    }
    let total = f64::from(total(obj));
    let raw = annotation(obj, "canary-weight").map(|v| Value::String(v.to_string()));
    let weight = raw
        .as_ref()
        .and_then(kinds::number)
        .unwrap_or(0.0)
        .clamp(0.0, total);
    let canary = backend_service(obj).unwrap_or_else(|| kinds::name(obj));
    vec![Split {
        id: "canary-weight".into(),
        label: "canary-weight".into(),
        entries: vec![
            Entry {
                name: primary.unwrap_or("primary").to_string(),
                pointer: String::new(),
                raw: None,
                value: total - weight,
                role: Role::Stable,
            },
            Entry {
                name: canary,
                pointer: format!(
                    "/metadata/annotations/{}",
                    kinds::pointer_token(&format!("{PREFIX}canary-weight"))
                ),
                raw,
                value: weight,
                role: Role::Canary,
            },
        ],
    }]
}

/// What routes to the canary regardless of weight, in words (`header X-Canary: always`).
pub fn forced_routing(obj: &DynamicObject) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(h) = annotation(obj, "canary-by-header") {
        let value = annotation(obj, "canary-by-header-value")
            .map(|v| format!("= {v}"))
            .or_else(|| annotation(obj, "canary-by-header-pattern").map(|p| format!("~ /{p}/")))
            .unwrap_or_else(|| ": always".into());
        out.push(format!("header {h} {value}").replace(" :", ":"));
    }
    if let Some(c) = annotation(obj, "canary-by-cookie") {
        out.push(format!("cookie {c}: always"));
    }
    out
}

/// Domain rollouts for a canary Ingress not owned by a controller.
pub fn rollouts(obj: &DynamicObject, primary: Option<&str>, ctx: &RawCtx) -> Vec<Rollout> {
    let mut v = split::rollouts(Kind::Ingress, obj, &splits(obj, primary), ctx);
    let forced = forced_routing(obj);
    for r in &mut v {
        if primary.is_none() {
            r.message = "no primary Ingress found for this canary's host and path".into();
        }
        if !forced.is_empty() {
            let also = format!(
                "also routed to the canary before any weight: {}",
                forced.join(", ")
            );
            r.message = if r.message.is_empty() {
                also
            } else {
                format!("{}; {also}", r.message)
            };
        }
    }
    v
}

/// The JSON Patch setting the canary to `canary`: `test` the resourceVersion the operator saw
/// and the old annotation, then `replace` (or `add`) it. Only that one string changes.
pub fn weight_patch(
    obj: &DynamicObject,
    s: &Split,
    canary: Weight,
    expected_version: Option<&str>,
) -> Result<Value, String> {
    let total = total(obj);
    let value = rules::nginx_exact(canary, total).map_err(|e| e.to_string())?;
    let entry = s
        .entries
        .iter()
        .find(|e| e.role == Role::Canary)
        .ok_or("no canary-weight to write")?;
    let mut ops = Vec::new();
    if let Some(v) = expected_version {
        ops.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": v}));
    }
    let new = Value::String(value.to_string());
    match &entry.raw {
        Some(old) => {
            ops.push(json!({"op": "test", "path": entry.pointer, "value": old}));
            ops.push(json!({"op": "replace", "path": entry.pointer, "value": new}));
        }
        None if obj.metadata.annotations.is_some() => {
            ops.push(json!({"op": "add", "path": entry.pointer, "value": new}));
        }
        None => return Err("the canary Ingress has no annotations to add a weight to".into()),
    }
    Ok(Value::Array(ops))
}
