//! Metrics clients: the Prometheus poller and its query templates. What they measure is
//! plain data in [`crate::domain::observation`].

pub mod poller;
pub mod prometheus;
pub mod targets;
pub mod templates;
