//! The stable and canary builds: tiny HTTP services whose error ratio and latency come from
//! the scenario. Each answers `GET /` with JSON naming the build and header `x-aviary-build`
//! (its version, so `curl -i` on the router says which build answered).

use super::scenario::Fate;
use super::{Scenario, uniform};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How one build behaves.
#[derive(Clone, Debug)]
pub struct BuildSpec {
    /// Salt for this build's fates (distinct per build in a fleet).
    pub id: u32,
    /// `stable` or `canary`.
    pub role: &'static str,
    /// Version string: the build's name on screen, in the JSON and in `x-aviary-build`.
    pub version: String,
    /// The fault surfaces only while the canary holds at least this weight (basis points,
    /// read from the router): a release that buckles under load, so a room sees the climb
    /// before the fall. 0 = always.
    pub fault_from_bp: u16,
    /// Share of requests answered with HTTP 500.
    pub error_rate: f64,
    /// Median latency in ms (log-normal).
    pub median_ms: f64,
    /// p99 latency in ms.
    pub p99_ms: f64,
}

impl BuildSpec {
    /// The stable build in every scenario.
    pub fn stable(_s: Scenario) -> Self {
        BuildSpec {
            id: 1,
            role: "stable",
            version: "v1.4.2".into(),
            fault_from_bp: 0,
            error_rate: 0.001,
            median_ms: 15.0,
            p99_ms: 40.0,
        }
    }

    /// The canary as the scenario wants it.
    pub fn canary(s: Scenario) -> Self {
        Self::canary_for(Fate::of(s))
    }

    /// The canary for a fleet service's fate.
    pub fn canary_for(f: Fate) -> Self {
        let base = BuildSpec {
            id: 4,
            role: "canary",
            version: "v1.5.0".into(),
            ..Self::stable(Scenario::Healthy)
        };
        match f {
            Fate::FailsAfterClimb => BuildSpec {
                error_rate: 0.12,
                fault_from_bp: 2_500,
                ..base
            },
            Fate::Promotes | Fate::ByHand => base,
            Fate::Slow => BuildSpec {
                median_ms: 300.0,
                p99_ms: 800.0,
                fault_from_bp: 2_000,
                ..base
            },
        }
    }

    /// The same build before its fault surfaces: stable's error ratio and latency.
    pub fn calm(&self) -> BuildSpec {
        BuildSpec {
            error_rate: 0.001,
            median_ms: 15.0,
            p99_ms: 40.0,
            ..self.clone()
        }
    }

    /// Latency for request `n` (log-normal through the median and p99).
    pub fn latency(&self, seed: u64, n: u64) -> Duration {
        let u1 = uniform(seed, n, u64::from(self.id) * 2 + 101).max(1e-12);
        let u2 = uniform(seed, n, u64::from(self.id) * 2 + 102);
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let sigma = (self.p99_ms / self.median_ms).ln() / 2.326;
        let ms = self.median_ms * (sigma * z).exp();
        Duration::from_secs_f64(ms.clamp(0.5, 5_000.0) / 1000.0)
    }

    /// True when request `n` should fail.
    pub fn fails(&self, seed: u64, n: u64) -> bool {
        uniform(seed, n, u64::from(self.id) + 7) < self.error_rate
    }
}

struct BuildState {
    spec: BuildSpec,
    seed: u64,
    counter: AtomicU64,
    /// The router's canary share, for `fault_from_bp`.
    gate: Option<Arc<AtomicU16>>,
}

impl BuildState {
    fn fault_active(&self) -> bool {
        match &self.gate {
            Some(g) if self.spec.fault_from_bp > 0 => {
                g.load(Ordering::Relaxed) >= self.spec.fault_from_bp
            }
            _ => true,
        }
    }
}

async fn handle(State(st): State<Arc<BuildState>>, headers: HeaderMap) -> Response {
    let n = headers
        .get("x-aviary-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| st.counter.fetch_add(1, Ordering::Relaxed) | (1 << 62));
    let active = st.fault_active();
    let latency = if active {
        st.spec.latency(st.seed, n)
    } else {
        st.spec.calm().latency(st.seed, n)
    };
    tokio::time::sleep(latency).await;
    let fail = if active {
        st.spec.fails(st.seed, n)
    } else {
        st.spec.calm().fails(st.seed, n)
    };
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({
        "build": st.spec.id,
        "role": st.spec.role,
        "version": st.spec.version,
        "status": status.as_u16(),
    });
    let mut resp = (status, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&st.spec.version) {
        resp.headers_mut().insert("x-aviary-build", v);
    }
    resp
}

/// Serves one build on a free loopback port until `cancel`; returns its address.
pub async fn serve(
    spec: BuildSpec,
    seed: u64,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    serve_gated(spec, seed, None, cancel).await
}

/// As [`serve`], with the fault gated on the router's canary share `gate`.
pub async fn serve_gated(
    spec: BuildSpec,
    seed: u64,
    gate: Option<Arc<AtomicU16>>,
    cancel: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(BuildState {
        spec,
        seed,
        counter: AtomicU64::new(0),
        gate,
    });
    let app = Router::new().fallback(handle).with_state(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(cancel.cancelled_owned())
            .await;
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faulty_canary_fails_about_twelve_percent_and_stable_almost_never() {
        let c = BuildSpec::canary(Scenario::Faulty);
        let s = BuildSpec::stable(Scenario::Faulty);
        let cf = (0..10_000).filter(|n| c.fails(7, *n)).count();
        let sf = (0..10_000).filter(|n| s.fails(7, *n)).count();
        assert!((1000..1400).contains(&cf), "{cf}");
        assert!(sf < 40, "{sf}");
    }

    #[test]
    fn slow_canary_p99_is_near_800ms() {
        let c = BuildSpec::canary(Scenario::Slow);
        let mut v: Vec<f64> = (0..10_000)
            .map(|n| c.latency(7, n).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        let p99 = v[9_900];
        assert!((650.0..1000.0).contains(&p99), "{p99}");
        let s = BuildSpec::stable(Scenario::Slow);
        let mut v: Vec<f64> = (0..10_000)
            .map(|n| s.latency(7, n).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        assert!((30.0..55.0).contains(&v[9_900]), "{}", v[9_900]);
    }
}
