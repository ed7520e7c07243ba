//! Maps with structured keys (a `RolloutKey`, a `(key, build)` pair) as JSON lists of
//! `[key, value]` pairs: JSON object keys must be strings, and a recording must round-trip.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;

/// Serializes a map as `[[k, v], …]`.
pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
    m: &BTreeMap<K, V>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.iter())
}

/// Reads `[[k, v], …]` back into a map.
pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    K: DeserializeOwned + Ord,
    V: DeserializeOwned,
    D: Deserializer<'de>,
{
    let v: Vec<(K, V)> = Vec::deserialize(d)?;
    Ok(v.into_iter().collect())
}
