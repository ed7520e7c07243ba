//! The demo's weighted reverse proxy. Weights change in place (an atomic), so a write takes
//! effect on the very next request, as on HAProxy. The proxy also counts per build, like a
//! mesh sidecar would: these counters are the demo's metrics source.

use super::mix;
use crate::domain::Weight;
use crate::domain::observation::{BuildSample, LatencyHistogram};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Requests, errors and latencies per build since the last snapshot.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Stable build.
    pub stable: BuildSample,
    /// Canary build.
    pub canary: BuildSample,
}

#[derive(Debug)]
struct Inner {
    seed: u64,
    canary_bp: Arc<AtomicU16>,
    seq: AtomicU64,
    stable: SocketAddr,
    canary: SocketAddr,
    client: reqwest::Client,
    window: Mutex<(Instant, Counters)>,
}

/// Shared handle to the proxy: set and read weights, take per-second counters.
#[derive(Clone, Debug)]
pub struct RouterHandle(Arc<Inner>);

impl RouterHandle {
    /// A proxy over the two builds, starting 100 % stable.
    pub fn new(seed: u64, stable: SocketAddr, canary: SocketAddr) -> Self {
        Self::with_weight_cell(seed, stable, canary, Arc::new(AtomicU16::new(0)))
    }

    /// A proxy whose canary share lives in `cell` (made before the builds, which read it).
    pub fn with_weight_cell(
        seed: u64,
        stable: SocketAddr,
        canary: SocketAddr,
        cell: Arc<AtomicU16>,
    ) -> Self {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        RouterHandle(Arc::new(Inner {
            seed,
            canary_bp: cell,
            seq: AtomicU64::new(0),
            stable,
            canary,
            client,
            window: Mutex::new((Instant::now(), Counters::default())),
        }))
    }

    /// The canary share as a shared cell, so a build can gate its fault on it.
    pub fn weight_cell(&self) -> Arc<AtomicU16> {
        self.0.canary_bp.clone()
    }

    /// Routes the canary's share to build 4 from the next request on.
    pub fn set_canary(&self, w: Weight) {
        self.0.canary_bp.store(w.basis_points(), Ordering::SeqCst);
    }

    /// The canary's share as the proxy applies it now (the read-back).
    pub fn canary(&self) -> Weight {
        Weight::from_percent(f64::from(self.0.canary_bp.load(Ordering::SeqCst)) / 100.0)
            .unwrap_or(Weight::ZERO)
    }

    /// Counters since the last call, with the period length filled in.
    pub fn take(&self) -> Counters {
        let Ok(mut w) = self.0.window.lock() else {
            return Counters::default();
        };
        let now = Instant::now();
        let period = now.duration_since(w.0).as_secs_f64();
        let mut c = std::mem::take(&mut w.1);
        w.0 = now;
        for s in [&mut c.stable, &mut c.canary] {
            s.period_s = period;
            if let Some(h) = &s.latency {
                s.p50_ms = h.quantile(0.5);
                s.p99_ms = h.quantile(0.99);
            }
        }
        c
    }

    fn record(&self, canary: bool, ok: bool, ms: f64) {
        let Ok(mut w) = self.0.window.lock() else {
            return;
        };
        let s = if canary {
            &mut w.1.canary
        } else {
            &mut w.1.stable
        };
        s.requests += 1;
        if !ok {
            s.errors += 1;
        }
        s.latency
            .get_or_insert_with(LatencyHistogram::default)
            .record(ms);
    }
}

async fn proxy(State(h): State<RouterHandle>, req: Request) -> Response {
    let started = Instant::now();
    let n = req
        .headers()
        .get("x-aviary-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or_else(|| h.0.seq.fetch_add(1, Ordering::Relaxed) | (1 << 62));
    let bp = u64::from(h.0.canary_bp.load(Ordering::SeqCst));
    let to_canary = mix(h.0.seed ^ mix(n)) % 10_000 < bp;
    let (addr, name) = if to_canary {
        (h.0.canary, "canary build")
    } else {
        (h.0.stable, "stable build")
    };
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("http://{addr}{path}");
    let upstream =
        h.0.client
            .get(url)
            .header("x-aviary-seq", n.to_string())
            .send()
            .await;
    let resp = match upstream {
        Ok(r) => {
            let status = r.status();
            let build = r.headers().get("x-aviary-build").cloned();
            let body = r.bytes().await.unwrap_or_default();
            let mut out = Response::builder().status(status.as_u16());
            if let Some(b) = build {
                out = out.header("x-aviary-build", b);
            }
            out.header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
        }
        Err(e) => {
            let mut r = (
                StatusCode::BAD_GATEWAY,
                format!("{name} unreachable: {e}\n"),
            )
                .into_response();
            r.headers_mut()
                .insert("x-aviary-route", HeaderValue::from_static("error"));
            r
        }
    };
    let ok = !resp.status().is_server_error();
    h.record(to_canary, ok, started.elapsed().as_secs_f64() * 1000.0);
    resp
}

/// Serves the proxy on `listen` until `cancel`; returns the bound address.
pub async fn serve(
    h: RouterHandle,
    listen: SocketAddr,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = Router::new().fallback(proxy).with_state(h);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
    });
    Ok(addr)
}
