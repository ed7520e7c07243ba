//! Providers watch rollouts and carry out writes. Each one converts its router's objects into
//! domain [`Rollout`](crate::domain::Rollout)s inside its own task and sends
//! [`ProviderEvent`](crate::msg::ProviderEvent)s; none of them ever touches `App`.

pub mod argo;
pub mod consul;
pub mod demo;
pub mod flagger;
pub mod gateway_api;
pub mod haproxy;
pub mod istio;
pub mod kube;
pub mod smi;

use crate::domain::{ProviderKind, Weight, weight::rules};
use crate::effect::WriteRequest;
use crate::msg::WriteOk;
use async_trait::async_trait;

/// Why a router write failed. Never retried automatically.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RouterError {
    /// Someone else changed the object first (409, CAS `false`).
    #[error("conflict: {0} (object re-read; nothing retried)")]
    Conflict(String),
    /// The router or controller refused (RBAC, validation, read-only).
    #[error("refused: {0}")]
    Refused(String),
    /// Transport or server failure.
    #[error("{0}")]
    Failed(String),
}

/// Something that can carry out a [`WriteRequest`] for the rollouts of one provider kind.
#[async_trait]
pub trait Router: Send + Sync {
    /// Applies the change and reports what the router says now.
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError>;
}

/// Checks an operator's exact weight against the router's own rule before any dialog
/// confirms it; `Ok(Some(note))` when the provider will round.
pub fn validate_weight(kind: ProviderKind, w: Weight) -> Result<Option<String>, String> {
    match kind {
        ProviderKind::Istio | ProviderKind::Smi => {
            rules::istio(w).map(|_| None).map_err(|e| e.to_string())
        }
        ProviderKind::Haproxy => {
            let (_, c, rounded) = rules::haproxy(w);
            Ok(rounded.then(|| {
                format!(
                    "HAProxy weights are 0..=256: canary {c}/256 = {:.2}%",
                    f64::from(c) / 2.56
                )
            }))
        }
        ProviderKind::Argo | ProviderKind::Flagger => {
            Err("the controller owns this route; set-weight is refused".into())
        }
        ProviderKind::Demo | ProviderKind::GatewayApi | ProviderKind::Consul => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_router_validates_its_own_rule() {
        let half = Weight::from_percent(12.5).unwrap();
        assert!(validate_weight(ProviderKind::Istio, half).is_err());
        assert!(
            validate_weight(ProviderKind::Consul, half)
                .unwrap()
                .is_none()
        );
        assert!(
            validate_weight(ProviderKind::Haproxy, Weight::from_whole(10).unwrap())
                .unwrap()
                .is_some()
        );
        assert!(
            validate_weight(ProviderKind::Argo, half)
                .unwrap_err()
                .contains("controller owns")
        );
    }
}
