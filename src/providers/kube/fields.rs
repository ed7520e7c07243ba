//! Lenient readers for the status fields several controllers share. Captured objects differ
//! between controller versions (`conditions: {}` instead of a list, numbers as strings), and
//! one odd field must never hide a whole rollout.

use crate::domain::{Owner, Phase, Rollout, RolloutKey};
use kube::api::DynamicObject;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A controller object's `spec` and `status`, typed. A missing or `null` spec reads as the
/// default spec and a missing or `null` status as none: controllers write `status: null`
/// before their first reconcile, and such an object is still a rollout to show.
pub struct SpecStatus<S, T> {
    /// The desired state, as the user wrote it.
    pub spec: S,
    /// What the controller last reported, if anything.
    pub status: Option<T>,
}

/// Reads `spec` and `status` of `obj`; a field that does not fit is an error naming it.
pub fn spec_status<S, T>(obj: &DynamicObject) -> Result<SpecStatus<S, T>, String>
where
    S: DeserializeOwned + Default,
    T: DeserializeOwned,
{
    let spec = match obj.data.get("spec") {
        Some(v) if !v.is_null() => S::deserialize(v).map_err(|e| format!("spec: {e}"))?,
        _ => S::default(),
    };
    let status = match obj.data.get("status") {
        Some(v) if !v.is_null() => Some(T::deserialize(v).map_err(|e| format!("status: {e}"))?),
        _ => None,
    };
    Ok(SpecStatus { spec, status })
}

/// The row for an object aviary cannot read: still shown (hiding it would hide a rollout an
/// operator may need to act on), with the reason as its message.
pub fn unreadable(
    key: RolloutKey,
    owner: Owner,
    kind: &str,
    error: &str,
    obj: &DynamicObject,
) -> Rollout {
    let mut r = Rollout::new(key, owner, Vec::new());
    r.phase = Phase::Unknown("unreadable".into());
    r.message = format!("aviary cannot read this {kind}: {error}");
    r.version = super::kinds::resource_version(obj);
    r
}

/// A status condition as Argo Rollouts and Flagger write it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Condition {
    /// `Progressing`, `Promoted`, `InvalidSpec`, …
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False`, `Unknown`.
    pub status: String,
    /// Machine-readable reason.
    pub reason: Option<String>,
    /// What the controller says.
    pub message: Option<String>,
    /// When the status last changed.
    pub last_transition_time: Option<String>,
}

/// Reads a list, treating anything else (`conditions: {}` in some captured objects) as empty,
/// so one odd field never hides the whole rollout.
pub fn lenient_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let v = Value::deserialize(d)?;
    Ok(match v {
        Value::Array(items) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}
