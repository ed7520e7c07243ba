//! The provider task: re-reads weights every refresh and reports changes and drift.

use super::*;
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::metrics::poller::Deltas;
use crate::msg::{Msg, ProviderEvent};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// The provider task's options.
pub struct Watch {
    /// The backend.
    pub haproxy: Arc<Haproxy>,
    /// Weights read at startup.
    pub initial: (u16, u16),
    /// Re-read (and, with `stats`, measure) this often.
    pub refresh: Duration,
    /// Measure from `show stat` (no `--prometheus`).
    pub stats: bool,
    /// Source id for staleness.
    pub source: SourceId,
}

/// Announces the rollout, then re-reads weights every refresh: an upsert when they change,
/// an `Info` naming the difference when they no longer match what aviary set (a reload
/// resets runtime weights). With `stats`, also sends `show stat` counter deltas.
pub async fn run(w: Watch, tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
    let hp = w.haproxy.clone();
    let shown = share(w.initial.0, w.initial.1);
    let first = ProviderEvent::Upsert {
        source: w.source.clone(),
        rollout: Box::new(hp.rollout(shown)),
    };
    if tx.send(Msg::Provider(first)).await.is_err() {
        return;
    }
    let mut deltas = Deltas::default();
    let mut drift_said: Option<(u16, u16)> = None;
    let mut health_said: Option<String> = None;
    let mut tick = tokio::time::interval(w.refresh);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut msgs = Vec::new();
        {
            // Read and report under the write lock, so a read taken before a write can never
            // arrive after that write's result and undo it on screen.
            let last = hp.last.lock().await;
            match hp.read_pair().await {
                Err(error) => msgs.push(Msg::SourceError {
                    source: w.source.clone(),
                    error,
                }),
                Ok((s, c)) => {
                    let (weight, drift) = match *last {
                        Some(l) if (l.stable, l.canary) == (s, c) => (l.weight, None),
                        Some(l) => (share(s, c), Some(l)),
                        None => (share(s, c), None),
                    };
                    if drift.is_none() && drift_said.take().is_some() {
                        // The weights match again: the drift note goes away.
                        msgs.push(Msg::Provider(ProviderEvent::Info {
                            source: w.source.clone(),
                            message: String::new(),
                        }));
                    }
                    let new_drift = drift.filter(|_| drift_said != Some((s, c)));
                    if let Some(l) = new_drift {
                        drift_said = Some((s, c));
                        msgs.push(Msg::Provider(ProviderEvent::Info {
                            source: w.source.clone(),
                            message: format!(
                                "HAProxy {}: expected stable {}, canary {} (what aviary set), found stable {s}, canary {c}: someone else wrote them, or HAProxy reloaded (runtime weights are lost when HAProxy reloads)",
                                hp.backend, l.stable, l.canary
                            ),
                        }));
                    }
                    // Every answer is reported, changed or not: HAProxy answering with the
                    // same weights is fresh news, and a source is stale only when it stops
                    // answering. (A write also changes the app's weight without this task.)
                    msgs.push(Msg::Provider(ProviderEvent::Upsert {
                        source: w.source.clone(),
                        rollout: Box::new(hp.rollout(weight)),
                    }));
                }
            }
            for m in msgs.drain(..) {
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            drop(last);
        }
        match hp.client.server_stats(&hp.backend).await {
            Ok(rows) => {
                let health = health(&rows, &[&hp.stable, &hp.canary]);
                if health != health_said {
                    let message = match &health {
                        Some(h) => format!("HAProxy {}: {h}", hp.backend),
                        None => format!("HAProxy {}: servers up", hp.backend),
                    };
                    health_said = health;
                    msgs.push(Msg::Provider(ProviderEvent::Info {
                        source: w.source.clone(),
                        message,
                    }));
                }
                if w.stats {
                    let at = SystemTime::now();
                    let totals = [&hp.stable, &hp.canary]
                        .into_iter()
                        .filter_map(|s| {
                            rows.get(s.as_str())
                                .map(|r| ((hp.key(), s.to_string()), row_totals(r)))
                        })
                        .collect();
                    msgs.push(Msg::Metrics(MetricsBatch {
                        source: w.source.clone(),
                        at,
                        samples: deltas.step(at, totals),
                    }));
                }
            }
            Err(error) if w.stats => msgs.push(Msg::SourceError {
                source: w.source.clone(),
                error,
            }),
            Err(error) => tracing::warn!("{error}"),
        }
        for m in msgs {
            if tx.send(m).await.is_err() {
                return;
            }
        }
    }
}
