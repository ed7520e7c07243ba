//! The demo world: two builds served over real HTTP on loopback, a weighted reverse proxy in
//! front of them, and a load generator, all in this process. Nothing is simulated past the
//! socket: the router routes real requests and counts what really came back.

pub mod builds;
pub mod load;
pub mod router;
pub mod scenario;

pub use router::{Counters, RouterHandle};
pub use scenario::Scenario;

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

/// Options of `aviary demo` that shape the world (the plan is separate).
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

/// The running world: the router's address and the handle to steer it.
pub struct DemoWorld {
    /// Where the router listens (what a person can `curl`).
    pub router_addr: SocketAddr,
    /// Stable build's own address.
    pub stable_addr: SocketAddr,
    /// Canary build's own address.
    pub canary_addr: SocketAddr,
    /// Weights and counters.
    pub router: RouterHandle,
}

/// Name of the stable build, as the router and the metrics know it.
pub const STABLE: &str = "build 1";
/// Name of the canary build.
pub const CANARY: &str = "build 4";

impl DemoWorld {
    /// Binds every socket, then serves until `cancel`. Fails if a socket cannot be bound.
    pub async fn start(opts: &DemoOptions, cancel: CancellationToken) -> std::io::Result<Self> {
        let stable = builds::BuildSpec::stable(opts.scenario);
        let canary = builds::BuildSpec::canary(opts.scenario);
        let stable_addr = builds::serve(stable, opts.seed, cancel.clone()).await?;
        let canary_addr = builds::serve(canary, opts.seed, cancel.clone()).await?;
        let router = RouterHandle::new(opts.seed, stable_addr, canary_addr);
        let router_addr = router::serve(router.clone(), opts.listen, cancel.clone()).await?;
        if opts.rps > 0 {
            tokio::spawn(load::run(router_addr, opts.rps, cancel));
        }
        Ok(DemoWorld {
            router_addr,
            stable_addr,
            canary_addr,
            router,
        })
    }
}
