//! aviary: a terminal control room for live canary rollouts.
//!
//! Data flows one way (DESIGN §2): terminal keys, ticks and worker results become [`msg::Msg`]s;
//! [`update::update`] changes [`app::App`] and returns [`effect::Effect`]s; the executor runs
//! them in tokio tasks and reports back; the UI renders from `&App`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::panic))]
#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod change_event;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod driver;
pub mod effect;
pub mod headless;
pub mod metrics;
pub mod msg;
pub mod providers;
pub mod run;
pub mod session;
pub mod update;
