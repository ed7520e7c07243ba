//! The write side: absolute weights, canary first, then a read-back.

use super::*;
use crate::domain::change::{RouterChange, WriteOk, WriteRequest};
use crate::domain::weight::{haproxy_rounding_note, rules};
use crate::providers::{Router, RouterError};
use async_trait::async_trait;
use std::sync::Arc;

/// The write side, registered with the executor for [`ProviderKind::Haproxy`].
pub struct HaproxyRouter(pub Arc<Haproxy>);

#[async_trait]
impl Router for HaproxyRouter {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        let RouterChange::CanaryWeight(w) = &req.change else {
            return Err(RouterError::Refused(
                "HAProxy has no controller; only weights can be set".into(),
            ));
        };
        let hp = &self.0;
        let (s, c, rounded) = rules::haproxy(*w);
        let mut last = hp.last.lock().await;
        // No compare-and-set on the runtime API: read first, under the same lock the
        // refresh takes, and refuse if the router no longer holds what the write was
        // computed from (a reload, another operator). The audit's `before` is then the
        // router's own value.
        let (bs, bc) = hp.read_pair().await.map_err(|e| {
            RouterError::Failed(format!("{e}; nothing written (read before write failed)"))
        })?;
        let expected = rules::haproxy(req.before);
        let known =
            last.is_some_and(|l| (l.stable, l.canary) == (bs, bc) && l.weight == req.before);
        if !known && (expected.0, expected.1) != (bs, bc) && share(bs, bc) != req.before {
            return Err(RouterError::Conflict(format!(
                "HAProxy has stable {bs}, canary {bc} (canary {}), not the {} this write was computed from: changed outside aviary; nothing written",
                share(bs, bc),
                req.before
            )));
        }
        // Canary first: every intermediate state lies between the old and the new share, and
        // an abort cuts the canary off with the first command.
        let line = format!(
            "set server {b}/{cn} weight {c}; set server {b}/{sn} weight {s}",
            b = hp.backend,
            cn = hp.canary,
            sn = hp.stable
        );
        let reply = hp
            .client
            .command(&line)
            .await
            .map_err(RouterError::Failed)?;
        let mut refusal: Vec<&str> = reply.lines().filter(|l| !l.trim().is_empty()).collect();
        refusal.dedup();
        let (rs, rc) = hp.read_pair().await.map_err(|e| {
            RouterError::Failed(format!("{e}; the weights after the write are unknown"))
        })?;
        if !refusal.is_empty() {
            return Err(RouterError::Failed(format!(
                "HAProxy refused: {}; read back stable {rs}, canary {rc}",
                refusal.join(" / ")
            )));
        }
        *last = Some(LastSet {
            stable: s,
            canary: c,
            weight: *w,
        });
        let mut notes = Vec::new();
        if rounded {
            notes.push(haproxy_rounding_note(c));
        }
        let canary_weight = if (rs, rc) == (s, c) {
            *w
        } else {
            notes.push(format!(
                "read back stable {rs}, canary {rc}, not {s}/{c}: someone else changed it"
            ));
            share(rs, rc)
        };
        Ok(WriteOk {
            canary_weight: Some(canary_weight),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
            version: None,
        })
    }
}
