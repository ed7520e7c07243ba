//! The config-entry API client: reads a splitter with its index, writes with CAS.

use crate::http_api::{ApiClient, Auth, BodyError, Secret, read_capped};
use crate::providers::RouterError;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// The ACL token: `--token-file` wins, else `$CONSUL_HTTP_TOKEN`, else none.
pub fn token(file: Option<&Path>) -> Result<Option<Secret>, String> {
    match file {
        Some(f) => Secret::from_file(f, "Consul token file").map(Some),
        None => Ok(Secret::from_env("CONSUL_HTTP_TOKEN")),
    }
}

/// Largest config-entry answer read. A splitter or resolver is a few hundred bytes; an 11 MB
/// answer once took 620 MB to parse. Over this the source fails with "answer too large".
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

/// Reads a Consul answer's text, capped at [`MAX_ANSWER_BYTES`].
async fn text(resp: reqwest::Response, what: &str) -> Result<String, String> {
    match read_capped(resp, MAX_ANSWER_BYTES).await {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(BodyError::TooLarge(size)) => Err(format!(
            "Consul {what}: answer too large ({size}): narrow the query"
        )),
        Err(BodyError::Transport(e)) => Err(format!("Consul {what}: answer cut off: {e}")),
    }
}

/// A client for Consul's config-entry API.
#[derive(Clone, Debug)]
pub struct ConsulClient {
    pub(super) api: ApiClient,
}

/// A splitter entry as read, with the index a CAS write must name.
#[derive(Clone, Debug, PartialEq)]
pub struct Splitter {
    /// The entry as Consul returned it (unknown fields kept for the write-back).
    pub entry: Value,
    /// `ModifyIndex`.
    pub index: u64,
}

impl Splitter {
    /// `(build name, weight %)` per split: the subset name, else the service, else the
    /// entry's own name (a split without `Service` goes to the entry's service).
    pub fn splits(&self) -> Vec<(String, f64)> {
        let name = self.entry["Name"].as_str().unwrap_or_default();
        self.entry["Splits"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|s| {
                        let n = s["ServiceSubset"]
                            .as_str()
                            .filter(|v| !v.is_empty())
                            .or(s["Service"].as_str().filter(|v| !v.is_empty()))
                            .unwrap_or(name);
                        (n.to_string(), s["Weight"].as_f64().unwrap_or(0.0))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `(build name, destination service, subset)` per split, for metrics labels: a split
    /// to another service has no subset; a split with no `Service` goes to the entry's.
    pub fn destinations(&self) -> Vec<(String, String, String)> {
        let name = self.entry["Name"].as_str().unwrap_or_default();
        let splits = self.entry["Splits"].as_array().cloned().unwrap_or_default();
        self.splits()
            .into_iter()
            .zip(splits)
            .map(|((build, _), s)| {
                let svc = s["Service"]
                    .as_str()
                    .filter(|v| !v.is_empty())
                    .unwrap_or(name);
                let sub = s["ServiceSubset"].as_str().unwrap_or_default();
                (build, svc.to_string(), sub.to_string())
            })
            .collect()
    }

    pub(super) fn describe(&self) -> String {
        let parts: Vec<String> = self
            .splits()
            .iter()
            .map(|(n, w)| format!("{n} {w}%"))
            .collect();
        format!("{} (ModifyIndex {})", parts.join(", "), self.index)
    }
}

/// Checks that the splits of `entry` sum to exactly 100 in hundredths; a body that fails
/// this is never sent.
pub fn check_sum(entry: &Value) -> Result<(), String> {
    let splits = entry["Splits"].as_array().cloned().unwrap_or_default();
    // Saturating: a weight in the quintillions must read as "not 100", not overflow.
    let total: i64 = splits
        .iter()
        .map(|s| (s["Weight"].as_f64().unwrap_or(0.0) * 100.0).round() as i64)
        .fold(0, i64::saturating_add);
    if total == 10_000 {
        Ok(())
    } else {
        Err(format!(
            "split weights would sum to {:.2}, not 100; nothing sent",
            total as f64 / 100.0
        ))
    }
}

impl ConsulClient {
    /// A client for `base` (`http://127.0.0.1:8500`); the token goes in `X-Consul-Token`.
    pub fn new(base: &str, token: Option<Secret>) -> Result<Self, String> {
        let mut api = ApiClient::new(base, "Consul", Duration::from_secs(5))?;
        if let Some(t) = token {
            api = api.with_auth(Auth::Header("X-Consul-Token", t));
        }
        Ok(ConsulClient { api })
    }

    /// The address, for messages.
    pub fn addr(&self) -> &str {
        self.api.base()
    }

    pub(super) fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.api.request(method, path)
    }

    /// `GET /v1/config/<kind>/<name>`; `Ok(None)` when Consul has no such entry.
    pub async fn get(&self, kind: &str, name: &str) -> Result<Option<Value>, String> {
        let resp = self
            .req(reqwest::Method::GET, &format!("/v1/config/{kind}/{name}"))
            .send()
            .await
            .map_err(|e| format!("Consul at {} is unreachable: {e}", self.api.base()))?;
        let status = resp.status();
        let body = text(resp, &format!("{kind}/{name}")).await?;
        match status.as_u16() {
            404 => Ok(None),
            200 => serde_json::from_str(&body)
                .map(Some)
                .map_err(|e| format!("Consul {kind}/{name}: not JSON ({e})")),
            403 => Err(format!(
                "Consul refused to read {kind}/{name} (HTTP 403: {}); check the ACL token",
                body.trim()
            )),
            s => Err(format!("Consul {kind}/{name}: HTTP {s}: {}", body.trim())),
        }
    }

    /// Reads the splitter of `service`.
    pub async fn splitter(&self, service: &str) -> Result<Option<Splitter>, String> {
        Ok(self.get("service-splitter", service).await?.map(|entry| {
            let index = entry["ModifyIndex"].as_u64().unwrap_or(0);
            Splitter { entry, index }
        }))
    }

    /// `PUT /v1/config?cas=<index>` with the entry (indexes stripped). `Ok(false)` is a lost
    /// race.
    pub async fn put_cas(&self, entry: &Value, index: u64) -> Result<bool, RouterError> {
        check_sum(entry).map_err(RouterError::Refused)?;
        let mut body = entry.clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("CreateIndex");
            o.remove("ModifyIndex");
        }
        let resp = self
            .req(reqwest::Method::PUT, "/v1/config")
            .query(&[("cas", index.to_string())])
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                RouterError::Failed(format!(
                    "Consul at {} did not answer the write ({e}); its state is unknown, re-read before acting",
                    self.api.base()
                ))
            })?;
        let status = resp.status().as_u16();
        let text = text(resp, "write").await.map_err(|e| {
            RouterError::Failed(format!("{e}; its state is unknown, re-read before acting"))
        })?;
        match (status, text.trim()) {
            (200, "true") => Ok(true),
            (200, "false") => Ok(false),
            (403, t) => Err(RouterError::Refused(format!(
                "Consul ACL denied the write (HTTP 403: {t})"
            ))),
            (s, t) => Err(RouterError::Failed(format!(
                "Consul answered HTTP {s}: {t}"
            ))),
        }
    }
}
