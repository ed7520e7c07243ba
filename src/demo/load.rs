//! The load generator: an open-loop stream of `GET /` at a fixed rate through the router,
//! each request numbered so routing and fates are repeatable under `--seed`.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Sends `rps` requests a second to `router` until `cancel`. Open loop: a slow answer never
/// slows the offered load, as with real users.
pub async fn run(router: SocketAddr, rps: u32, cancel: CancellationToken) {
    crate::install_crypto_provider();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(128)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("load generator: {e}");
            return;
        }
    };
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rps.max(1))));
    tick.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let url = format!("http://{router}/");
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {
                let req = client.get(&url).header("x-aviary-seq", n.to_string());
                n += 1;
                tokio::spawn(async move {
                    if let Ok(r) = req.send().await {
                        let _ = r.bytes().await;
                    }
                });
            }
        }
    }
}
