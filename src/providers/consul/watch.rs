//! The provider task: re-reads the splitter every refresh.

use super::*;
use crate::msg::Msg;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

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
