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
pub mod kruise;
pub mod kube;
pub mod nginx;
pub mod smi;

use crate::domain::change::{WriteOk, WriteRequest};
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
