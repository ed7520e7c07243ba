//! One backend with a stable and a canary server: reads the pair and remembers what aviary
//! set, so a later read-back can tell a reload or another operator apart.

use super::*;
use crate::domain::{Build, Owner, Phase, ProviderKind, Role, Rollout, RolloutKey, Weight};
use crate::metrics::templates::{BuildTarget, Target};
use std::sync::Arc;
use tokio::sync::Mutex;

/// What aviary asked HAProxy for last, so a later read-back can tell a reload apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LastSet {
    pub(super) stable: u16,
    pub(super) canary: u16,
    pub(super) weight: Weight,
}

/// One HAProxy backend with a stable and a canary server.
#[derive(Debug)]
pub struct Haproxy {
    /// Runtime API.
    pub client: HaproxyClient,
    /// Backend name.
    pub backend: String,
    /// Stable server name.
    pub stable: String,
    /// Canary server name.
    pub canary: String,
    // Held across a write and its read-back, and across each refresh's read, so the two
    // never interleave; also remembers what aviary set.
    pub(super) last: Mutex<Option<LastSet>>,
}

/// The canary's share for a pair of absolute weights (both 0 means no traffic at all:
/// reported as 0 % canary).
pub fn share(stable: u16, canary: u16) -> Weight {
    Weight::share(f64::from(canary), f64::from(stable) + f64::from(canary)).unwrap_or(Weight::ZERO)
}

impl Haproxy {
    /// Checks that the socket answers and knows the backend and both servers; returns the
    /// current `(stable, canary)` weights. Unless `read_only`, also writes the current
    /// weights back unchanged, so a socket without `level admin` or a backend whose balance
    /// algorithm ignores weights (`static-rr`) is refused now, not half-way through a plan.
    /// Run before the TUI starts.
    pub async fn connect(
        client: HaproxyClient,
        backend: &str,
        stable: &str,
        canary: &str,
        read_only: bool,
    ) -> Result<(Arc<Haproxy>, (u16, u16)), String> {
        if let ApiAddr::Unix(p) = client.addr()
            && !p.exists()
        {
            return Err(format!(
                "HAProxy runtime API socket {} does not exist (check `stats socket` in haproxy.cfg)",
                p.display()
            ));
        }
        let w = client.weights(backend, &[stable, canary]).await?;
        if !read_only {
            // `static-rr` accepts only 0 % / 100 % at run time (HAProxy 2.6 answers "only accepts weights '0%' and '100%'").
            let algo = client
                .stats(backend, 2)
                .await?
                .get("BACKEND")
                .and_then(|r| r.get("algo").cloned())
                .unwrap_or_default();
            if algo == "static-rr" {
                return Err(format!(
                    "HAProxy backend {backend:?} uses `balance static-rr`, which ignores weight changes; use roundrobin (or leastconn/random)"
                ));
            }
            let line = format!(
                "set server {backend}/{stable} weight {}; set server {backend}/{canary} weight {}",
                w[0], w[1]
            );
            let reply = client.command(&line).await?;
            let mut refusal: Vec<&str> = reply.lines().filter(|l| !l.trim().is_empty()).collect();
            refusal.dedup();
            if !refusal.is_empty() {
                return Err(format!(
                    "HAProxy refuses weight changes on backend {backend:?}: {} (aviary needs a `level admin` socket and a weight-aware balance such as roundrobin)",
                    refusal.join(" / ")
                ));
            }
        }
        let hp = Haproxy {
            client,
            backend: backend.into(),
            stable: stable.into(),
            canary: canary.into(),
            last: Mutex::new(None),
        };
        Ok((Arc::new(hp), (w[0], w[1])))
    }

    /// The rollout key: `haproxy:<backend>`.
    pub fn key(&self) -> RolloutKey {
        RolloutKey::new(ProviderKind::Haproxy, &self.backend)
    }

    /// The metrics targets: label values of HAProxy's exporter (`proxy`, `server`).
    pub fn target(&self) -> Target {
        let b = |s: &str| BuildTarget {
            name: s.to_string(),
            labels: [
                ("proxy".to_string(), self.backend.clone()),
                ("server".to_string(), s.to_string()),
            ]
            .into(),
        };
        Target {
            key: self.key(),
            builds: vec![b(&self.stable), b(&self.canary)],
        }
    }

    /// The rollout as read now, with the weights given.
    pub fn rollout(&self, weight: Weight) -> Rollout {
        let build = |role, name: &str, w| Build {
            role,
            name: name.to_string(),
            version: None,
            weight: w,
            selector: name.to_string(),
        };
        let mut r = Rollout::new(
            self.key(),
            Owner::Autopilot,
            vec![
                build(Role::Stable, &self.stable, weight.complement()),
                build(Role::Canary, &self.canary, weight),
            ],
        );
        r.phase = Phase::Progressing;
        r.phase_text = "Progressing".into();
        r.router = format!("HAProxy {} backend {}", self.client.addr(), self.backend);
        r
    }

    pub(super) async fn read_pair(&self) -> Result<(u16, u16), String> {
        let w = self
            .client
            .weights(&self.backend, &[&self.stable, &self.canary])
            .await?;
        Ok((w[0], w[1]))
    }
}
