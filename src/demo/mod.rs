//! The demo world: services whose stable and canary builds are served over real HTTP on
//! loopback, each with a weighted reverse proxy in front and a load generator, all in this
//! process. Nothing is simulated past the socket: each router routes real requests and counts
//! what really came back.

pub mod builds;
pub mod fleet;
pub mod load;
pub mod router;
pub mod scenario;
pub mod story;

pub use fleet::{Service, fleet};
pub use router::{Counters, RouterHandle};
pub use scenario::{Fate, Pace, Scenario};

use std::net::SocketAddr;
use tokio_util::sync::CancellationToken;

/// Deterministic 64-bit mix (splitmix64): the same seed and request number always give the
/// same routing choice and the same fate, so `--seed` makes a run repeatable.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform number in [0, 1) from a seed and some salts.
pub fn uniform(seed: u64, a: u64, b: u64) -> f64 {
    let h = mix(seed ^ mix(a ^ mix(b)));
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// Options of `aviary demo` that shape the single-rollout world (the plan is separate).
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// What the canary does wrong, if anything.
    pub scenario: Scenario,
    /// Seed for routing and fates.
    pub seed: u64,
    /// Load generator rate; 0 disables it.
    pub rps: u32,
    /// Router listen address.
    pub listen: SocketAddr,
}

/// One running service: its router's address and the handle to steer it.
#[derive(Clone)]
pub struct DemoWorld {
    /// What it is and how its story ends.
    pub service: Service,
    /// Where the router listens (what a person can `curl`).
    pub router_addr: SocketAddr,
    /// Stable build's own address.
    pub stable_addr: SocketAddr,
    /// Canary build's own address.
    pub canary_addr: SocketAddr,
    /// Weights and counters.
    pub router: RouterHandle,
}

impl DemoWorld {
    /// The single-rollout world of `--scenario`, with the default plan.
    pub async fn start(opts: &DemoOptions, cancel: CancellationToken) -> std::io::Result<Self> {
        let service = Service::single(opts.scenario, crate::domain::Plan::default());
        Self::start_service(service, opts.seed, opts.rps, opts.listen, cancel).await
    }

    /// Binds every socket of one service, then serves until `cancel`.
    pub async fn start_service(
        service: Service,
        seed: u64,
        rps: u32,
        listen: SocketAddr,
        cancel: CancellationToken,
    ) -> std::io::Result<Self> {
        let cell = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(0));
        let stable_addr = builds::serve(service.stable.clone(), seed, cancel.clone()).await?;
        let canary_addr = builds::serve_gated(
            service.canary.clone(),
            seed,
            Some(cell.clone()),
            cancel.clone(),
        )
        .await?;
        let router = RouterHandle::with_weight_cell(seed, stable_addr, canary_addr, cell);
        let router_addr = router::serve(router.clone(), listen, cancel.clone()).await?;
        if rps > 0 {
            tokio::spawn(load::run(router_addr, rps, cancel));
        }
        Ok(DemoWorld {
            service,
            router_addr,
            stable_addr,
            canary_addr,
            router,
        })
    }
}
