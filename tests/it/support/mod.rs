//! Shared test helpers: fixture loading and the fake Kubernetes API server (kube tests), and
//! real HAProxy/Prometheus daemons (`servers`, HAProxy and Prometheus tests), and the tmux
//! harness of the end-to-end tests (`tmux`).

#![allow(dead_code)]

pub mod fake_api;
pub mod servers;
pub mod tmux;

use kube::api::DynamicObject;
use serde_json::Value;
use std::path::PathBuf;

/// Path of a fixture under `tests/fixtures/`.
pub fn fixture_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Every YAML document of a fixture file, as JSON values (documents without `kind` included).
pub fn docs(rel: &str) -> Vec<Value> {
    let path = fixture_path(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

/// The documents of `kind` in a fixture file, as `DynamicObject`s.
pub fn objects(rel: &str, kind: &str) -> Vec<DynamicObject> {
    docs(rel)
        .into_iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|d| serde_json::from_value(d).expect("a Kubernetes object"))
        .collect()
}

/// The single object of `kind` in a fixture file.
pub fn object(rel: &str, kind: &str) -> DynamicObject {
    let mut v = objects(rel, kind);
    assert_eq!(v.len(), 1, "{rel}: expected one {kind}");
    v.remove(0)
}
