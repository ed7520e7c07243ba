//! Lenient readers for the status fields several controllers share. Captured objects differ
//! between controller versions (`conditions: {}` instead of a list, numbers as strings), and
//! one odd field must never hide a whole rollout.

use serde::Deserialize;
use serde_json::Value;

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
