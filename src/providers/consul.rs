//! Consul service mesh: a `service-splitter` config entry is the route, the
//! `service-resolver`'s subsets are the builds.
//!
//! Writes replace the whole splitter entry with `PUT /v1/config?cas=<ModifyIndex>`, changing
//! only the stable and canary `Weight`s (every other field, `ResponseHeaders` included, is
//! sent back as read). Consul answers `true` or `false`; `false` means someone else wrote
//! first: aviary reports a conflict, re-reads and shows the new state, and never retries.
//! Weights are checked to sum to exactly 100 (in hundredths) before anything is sent.
//! The ACL token goes in `X-Consul-Token` and is never printed.

use super::{Router, RouterError};
use crate::domain::change::{RouterChange, WriteOk, WriteRequest};
use crate::domain::observation::SourceId;
use crate::domain::weight::rules;
use crate::domain::{Build, Owner, Phase, ProviderKind, Role, Rollout, RolloutKey, Weight};
use crate::metrics::templates::{BuildTarget, Target};
use crate::msg::{Msg, ProviderEvent};
use async_trait::async_trait;
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The ACL token: `--token-file` wins, else `$CONSUL_HTTP_TOKEN`, else none.
pub fn token(file: Option<&Path>) -> Result<Option<String>, String> {
    if let Some(f) = file {
        let t = std::fs::read_to_string(f)
            .map_err(|e| format!("cannot read Consul token file {}: {e}", f.display()))?;
        let t = t.trim();
        if t.is_empty() {
            return Err(format!("Consul token file {} is empty", f.display()));
        }
        return Ok(Some(t.to_string()));
    }
    Ok(std::env::var("CONSUL_HTTP_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty()))
}

/// A client for Consul's config-entry API.
#[derive(Clone)]
pub struct ConsulClient {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl std::fmt::Debug for ConsulClient {
    // The ACL token is a secret: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsulClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
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

    fn describe(&self) -> String {
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
    let total: i64 = splits
        .iter()
        .map(|s| (s["Weight"].as_f64().unwrap_or(0.0) * 100.0).round() as i64)
        .sum();
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
    /// A client for `base` (`http://127.0.0.1:8500`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "Consul address {base:?} must start with http:// or https://"
            ));
        }
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("Consul client: {e}"))?;
        Ok(ConsulClient { base, http, token })
    }

    /// The address, for messages.
    pub fn addr(&self) -> &str {
        &self.base
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.header("X-Consul-Token", t),
            None => r,
        }
    }

    /// `GET /v1/config/<kind>/<name>`; `Ok(None)` when Consul has no such entry.
    pub async fn get(&self, kind: &str, name: &str) -> Result<Option<Value>, String> {
        let resp = self
            .req(reqwest::Method::GET, &format!("/v1/config/{kind}/{name}"))
            .send()
            .await
            .map_err(|e| format!("Consul at {} is unreachable: {e}", self.base))?;
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
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
                    self.base
                ))
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
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

/// One service's splitter, with the two splits aviary steps.
#[derive(Debug)]
pub struct Consul {
    /// API client.
    pub client: ConsulClient,
    /// Service name (the splitter's `Name`).
    pub service: String,
    /// Stable split name.
    pub stable: String,
    /// Canary split name.
    pub canary: String,
    /// Where re-read state goes after a lost race.
    pub tx: mpsc::Sender<Msg>,
    /// Source id for the provider.
    pub source: SourceId,
    /// Build name → (destination service, subset), as read at startup, for metrics labels.
    pub destinations: std::collections::BTreeMap<String, (String, String)>,
    // Held across a write and its announcement and across each refresh, so a read taken
    // before a write never arrives after that write's result.
    lock: tokio::sync::Mutex<()>,
}

impl Consul {
    /// Reads the splitter and resolver and picks the stable and canary splits. Run before
    /// the TUI starts: a missing splitter or an unknown subset is an error naming it.
    pub async fn connect(
        client: ConsulClient,
        service: &str,
        stable: Option<&str>,
        canary: Option<&str>,
        tx: mpsc::Sender<Msg>,
    ) -> Result<(Arc<Consul>, Splitter), String> {
        let sp = client.splitter(service).await?.ok_or_else(|| {
            format!(
                "Consul at {} has no service-splitter config entry for service {service:?}",
                client.addr()
            )
        })?;
        let names: Vec<String> = sp.splits().into_iter().map(|(n, _)| n).collect();
        let resolver = client.get("service-resolver", service).await?;
        let subsets: Option<Vec<String>> = resolver.as_ref().map(|r| {
            r["Subsets"]
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default()
        });
        if let (Some(subsets), Some(splits)) = (&subsets, sp.entry["Splits"].as_array()) {
            for s in splits {
                let own = s["Service"].as_str().is_none_or(|v| v == service);
                if let Some(sub) = s["ServiceSubset"].as_str().filter(|_| own)
                    && !subsets.iter().any(|k| k == sub)
                {
                    return Err(format!(
                        "service-splitter {service:?} sends traffic to subset {sub:?}, which service-resolver {service:?} does not define (it has: {})",
                        subsets.join(", ")
                    ));
                }
            }
        }
        let default = resolver
            .as_ref()
            .and_then(|r| r["DefaultSubset"].as_str())
            .filter(|d| names.iter().any(|n| n == d));
        let stable = stable
            .or(default)
            .or(names.first().map(String::as_str))
            .unwrap_or_default()
            .to_string();
        let canary = match canary {
            Some(c) => c.to_string(),
            None => {
                let others: Vec<&String> = names.iter().filter(|n| **n != stable).collect();
                match others.as_slice() {
                    [one] => one.to_string(),
                    _ => {
                        return Err(format!(
                            "service-splitter {service:?} has splits {}; say which is the canary with --canary",
                            names.join(", ")
                        ));
                    }
                }
            }
        };
        for (role, n) in [("stable", &stable), ("canary", &canary)] {
            if !names.contains(n) {
                return Err(format!(
                    "service-splitter {service:?} has no split {n:?} for the {role} (it has: {})",
                    names.join(", ")
                ));
            }
        }
        if stable == canary {
            return Err(format!("stable and canary are both {stable:?}"));
        }
        let consul = Consul {
            source: SourceId(format!("consul {}", client.addr())),
            client,
            service: service.to_string(),
            stable,
            canary,
            tx,
            destinations: sp
                .destinations()
                .into_iter()
                .map(|(b, svc, sub)| (b, (svc, sub)))
                .collect(),
            lock: tokio::sync::Mutex::new(()),
        };
        Ok((Arc::new(consul), sp))
    }

    /// The rollout key: `consul:<service>`.
    pub fn key(&self) -> RolloutKey {
        RolloutKey::new(ProviderKind::Consul, &self.service)
    }

    /// Metrics targets for the Consul template (Envoy stats tags): each build's destination
    /// service and subset (empty for a split to another service).
    pub fn target(&self) -> Target {
        let b = |s: &str| {
            let (svc, sub) = self
                .destinations
                .get(s)
                .cloned()
                .unwrap_or_else(|| (self.service.clone(), s.to_string()));
            BuildTarget {
                name: s.to_string(),
                labels: [
                    ("consul_destination_service".into(), svc),
                    ("consul_destination_service_subset".into(), sub),
                ]
                .into(),
            }
        };
        Target {
            key: self.key(),
            builds: vec![b(&self.stable), b(&self.canary)],
        }
    }

    /// The splitter as a rollout.
    pub fn rollout(&self, sp: &Splitter) -> Rollout {
        let builds = sp
            .splits()
            .into_iter()
            .map(|(name, w)| Build {
                role: if name == self.stable {
                    Role::Stable
                } else if name == self.canary {
                    Role::Canary
                } else {
                    Role::Other(name.clone())
                },
                weight: Weight::from_percent(w.clamp(0.0, 100.0)).unwrap_or(Weight::ZERO),
                selector: name.clone(),
                name,
                version: None,
            })
            .collect();
        let mut r = Rollout::new(self.key(), Owner::Autopilot, builds);
        r.phase = Phase::Progressing;
        r.phase_text = "Progressing".into();
        r.router = format!(
            "Consul {} service-splitter/{}",
            self.client.addr(),
            self.service
        );
        r.version = Some(sp.index.to_string());
        r
    }

    async fn announce(&self, sp: &Splitter) {
        let _ = self
            .tx
            .send(Msg::Provider(ProviderEvent::Upsert {
                source: self.source.clone(),
                rollout: Box::new(self.rollout(sp)),
            }))
            .await;
    }

    /// Re-reads after a refused or lost write, shows the fresh state, and builds the
    /// conflict error naming it.
    async fn conflict(&self, why: String) -> RouterError {
        match self.client.splitter(&self.service).await {
            Ok(Some(now)) => {
                self.announce(&now).await;
                RouterError::Conflict(format!("{why}; now {}", now.describe()))
            }
            Ok(None) => RouterError::Conflict(format!("{why}; the splitter is gone")),
            Err(e) => RouterError::Conflict(format!("{why}; re-read failed: {e}")),
        }
    }

    /// The entry with the canary at `w`, the stable taking what the other splits leave.
    fn with_canary(&self, sp: &Splitter, w: Weight) -> Result<Value, RouterError> {
        let (_, c) = rules::consul(w);
        let others: f64 = sp
            .splits()
            .iter()
            .filter(|(n, _)| *n != self.stable && *n != self.canary)
            .map(|(_, w)| *w)
            .sum();
        let s = ((100.0 - others - c) * 100.0).round() / 100.0;
        if s < 0.0 {
            return Err(RouterError::Refused(format!(
                "canary {c}% plus the other splits' {others}% exceed 100%; nothing sent"
            )));
        }
        let names: Vec<String> = sp.splits().into_iter().map(|(n, _)| n).collect();
        let mut entry = sp.entry.clone();
        if let Some(splits) = entry["Splits"].as_array_mut() {
            for (split, name) in splits.iter_mut().zip(&names) {
                if *name == self.canary {
                    split["Weight"] = c.into();
                } else if *name == self.stable {
                    split["Weight"] = s.into();
                }
            }
        }
        Ok(entry)
    }
}

/// The write side, registered with the executor for [`ProviderKind::Consul`].
pub struct ConsulRouter(pub Arc<Consul>);

#[async_trait]
impl Router for ConsulRouter {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        let RouterChange::CanaryWeight(w) = &req.change else {
            return Err(RouterError::Refused(
                "Consul has no controller; only weights can be set".into(),
            ));
        };
        let c = &self.0;
        let _guard = c.lock.lock().await;
        let sp = c
            .client
            .splitter(&c.service)
            .await
            .map_err(RouterError::Failed)?
            .ok_or_else(|| {
                RouterError::Failed(format!("service-splitter {:?} is gone", c.service))
            })?;
        if let Some(v) = &req.expected_version
            && *v != sp.index.to_string()
        {
            c.announce(&sp).await;
            return Err(RouterError::Conflict(format!(
                "service-splitter {:?} changed since aviary read it (ModifyIndex {v} → {}); now {}; nothing written",
                c.service,
                sp.index,
                sp.describe()
            )));
        }
        let entry = c.with_canary(&sp, *w)?;
        if !c.client.put_cas(&entry, sp.index).await? {
            return Err(c
                .conflict(format!(
                    "Consul refused the write (cas={} lost the race: someone else wrote service-splitter {:?} first); nothing retried",
                    sp.index, c.service
                ))
                .await);
        }
        let now = c
            .client
            .splitter(&c.service)
            .await
            .ok()
            .flatten()
            .ok_or_else(|| {
                RouterError::Failed(
                    "written, but the read-back failed; re-read before acting".into(),
                )
            })?;
        let read = now
            .splits()
            .into_iter()
            .find(|(n, _)| *n == c.canary)
            .and_then(|(_, v)| Weight::from_percent(v).ok());
        c.announce(&now).await;
        Ok(WriteOk {
            canary_weight: read,
            note: (read != Some(*w)).then(|| format!("read back {}", now.describe())),
            version: Some(now.index.to_string()),
        })
    }
}

/// Re-reads the splitter every `refresh` and sends it (which also keeps the source fresh).
pub async fn run(
    consul: Arc<Consul>,
    first: Splitter,
    refresh: Duration,
    cancel: CancellationToken,
) {
    consul.announce(&first).await;
    let mut tick = tokio::time::interval(refresh);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let _guard = consul.lock.lock().await;
        let error = match consul.client.splitter(&consul.service).await {
            Ok(Some(sp)) => {
                consul.announce(&sp).await;
                continue;
            }
            Ok(None) => format!("service-splitter {:?} was deleted", consul.service),
            Err(e) => e,
        };
        let msg = Msg::SourceError {
            source: consul.source.clone(),
            error,
        };
        if consul.tx.send(msg).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_are_checked_in_hundredths() {
        let e = |a: f64, b: f64| json!({"Splits": [{"Weight": a}, {"Weight": b}]});
        assert!(check_sum(&e(66.67, 33.33)).is_ok());
        assert!(check_sum(&e(90.0, 10.0)).is_ok());
        let err = check_sum(&e(90.0, 11.0)).unwrap_err();
        assert!(err.contains("sum to 101.00"), "{err}");
    }

    #[test]
    fn split_names_fall_back_to_service_then_entry_name() {
        let sp = Splitter {
            entry: json!({"Name": "web", "Splits": [
                {"Weight": 50}, {"Weight": 50, "Service": "web-rewrite"}]}),
            index: 1,
        };
        assert_eq!(
            sp.splits(),
            vec![("web".to_string(), 50.0), ("web-rewrite".to_string(), 50.0)]
        );
    }

    #[test]
    fn destinations_name_service_and_subset() {
        let sp = Splitter {
            entry: json!({"Name": "web", "Splits": [
                {"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "Service": "web-rewrite"}]}),
            index: 1,
        };
        assert_eq!(
            sp.destinations(),
            vec![
                ("v1".into(), "web".into(), "v1".into()),
                ("web-rewrite".into(), "web-rewrite".into(), String::new())
            ]
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let c = ConsulClient::new("http://127.0.0.1:8500", Some("s3cret".into())).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
