//! Kubernetes: Argo Rollouts, Flagger Canaries, Istio VirtualServices, Gateway API HTTPRoutes
//! and SMI TrafficSplits, watched and steered through the API server like kubectl would.

pub mod access;
pub mod catalog;
pub mod kinds;
pub mod patch;
pub mod split;
