//! The write side: a CAS write of the whole entry with only the two weights changed.

use super::*;
use crate::domain::Weight;
use crate::domain::change::{RouterChange, WriteOk, WriteRequest};
use crate::providers::{Router, RouterError};
use async_trait::async_trait;
use std::sync::Arc;

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
