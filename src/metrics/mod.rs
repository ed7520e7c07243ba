//! Metrics clients: the Prometheus poller and its query templates, and the hosted services
//! (Dynatrace, Datadog) with their shared bucket poller. What they measure is plain data in
//! [`crate::domain::observation`].

pub mod datadog;
pub mod dynatrace;
pub mod poller;
pub mod prometheus;
pub mod source;
pub mod targets;
pub mod templates;
