//! aviary: a terminal control room for live canary rollouts.
//!
//! Data flows one way (docs/ARCHITECTURE.md): terminal keys, ticks and worker results become [`msg::Msg`]s;
//! [`update::update`] changes [`app::App`] and returns [`effect::Effect`]s; the executor runs
//! them in tokio tasks and reports back; the UI renders from `&App`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]
#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod change_event;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod driver;
pub mod effect;
pub mod event_loop;
pub mod headless;
pub mod http_api;
pub mod keymap;
pub mod metrics;
pub mod msg;
pub mod providers;
pub mod record;
pub mod run;
pub mod session;
pub mod settings;
pub mod simulate;
pub mod terminal;
pub mod theme;
pub mod toml_file;
pub mod ui;
pub mod update;

/// Installs the one rustls crypto provider compiled in (ring). kube and reqwest both panic
/// when no process-level provider is chosen; every place that builds an
/// HTTP client calls this first. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
