//! aviary's integration tests, in one test binary: each module was once its own file under
//! `tests/`, and one binary links the crate and its dependencies once instead of fifty times
//! (a debug test build went from about 5 GB of `target/` to about 1.5 GB, and CI spends its
//! time testing rather than linking). Run one module with `cargo test --test it render::`.
//!
//! Modules that start real HAProxy, Prometheus or tmux do so on loopback with free ports and
//! temp dirs, so they run side by side as the test harness schedules them.

/// The Dynatrace and Datadog API stand-ins, shared by their two modules.
#[path = "saas/standin.rs"]
mod standin;
mod support;

mod bad_input;
mod consul_cas;
mod consul_splitter;
mod datadog_haproxy;
mod demo_fleet;
mod demo_fleet_tmux;
mod demo_headless;
mod demo_router;
mod dynatrace_haproxy;
mod e2e_tmux;
mod event_formats;
mod executor;
mod fault_answers;
mod fault_environment;
mod fault_folding;
mod fault_kube;
mod fault_servers;
mod haproxy_prometheus;
mod haproxy_showstat;
mod haproxy_tui;
mod judge_type1;
mod k9s_tmux;
mod kruise_advice;
mod kruise_rollouts;
mod kube_binary;
mod kube_parse;
mod kube_tui;
mod kube_write;
mod layering;
mod multi_context;
mod nginx_ingress;
mod packaging;
mod prometheus_fixtures;
mod prometheus_range;
mod prometheus_stale;
mod prometheus_templates;
mod prop_parsers;
mod reach_tui;
mod render;
mod render_columns;
mod replay_headless;
mod replay_player;
mod replay_tmux;
mod rows_kept;
mod safe_headless;
mod safe_shutdown;
mod safe_stale;
mod safe_tmux;
mod safe_update;
mod screen_charts;
mod screen_empty;
mod screen_freshness;
mod screen_plans;
mod screen_small;
mod screen_update;
mod signals;
mod simulate;
mod update_state;
