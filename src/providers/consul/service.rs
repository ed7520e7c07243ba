//! One service's splitter and the two splits aviary steps.

use super::*;
use crate::domain::observation::SourceId;
use crate::domain::weight::rules;
use crate::domain::{Build, Owner, Phase, ProviderKind, Role, Rollout, RolloutKey, Weight};
use crate::metrics::templates::{BuildTarget, Target};
use crate::msg::{Msg, ProviderEvent};
use crate::providers::RouterError;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::mpsc;

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
    pub(super) lock: tokio::sync::Mutex<()>,
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

    pub(super) async fn announce(&self, sp: &Splitter) {
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
    pub(super) async fn conflict(&self, why: String) -> RouterError {
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
    pub(super) fn with_canary(&self, sp: &Splitter, w: Weight) -> Result<Value, RouterError> {
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
