//! The command line, parsed with clap derive. docs/ARCHITECTURE.md lists what each
//! subcommand starts.

use crate::demo::{Pace, Scenario};
use crate::domain::{Plan, PlanError, Weight};
use crate::metrics::templates::DataPlane;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The version with the commit it was built from (`0.1.0 (3791a91)`), so a bug report names
/// the exact build; `unknown` outside a git checkout.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("AVIARY_COMMIT"), ")");

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(shell, &mut cmd, "aviary", out);
}

/// Writes the manual page (roff) to `out`.
pub fn man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(out)
}

/// aviary: a terminal control room for live canary rollouts.
#[derive(Debug, Parser)]
#[command(name = "aviary", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to watch.
    #[command(subcommand)]
    pub command: Commands,
}

/// Options every subcommand shares.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Never write to any router or controller; dangerous keys say why they are off.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Leave the mouse to the terminal (select and copy text without holding a modifier).
    #[arg(long, global = true)]
    pub no_mouse: bool,
    /// Colour theme (dark, light, mono, colorblind, or a file in <config dir>/themes/).
    #[arg(long, global = true, value_name = "NAME")]
    pub theme: Option<String>,
    /// Config file (default: <config dir>/config.toml, or $AVIARY_CONFIG).
    #[arg(long, global = true, value_name = "FILE", env = "AVIARY_CONFIG")]
    pub config: Option<PathBuf>,
    /// Append-only audit log (default: <data dir>/audit.jsonl).
    #[arg(long, global = true, value_name = "FILE")]
    pub audit_log: Option<PathBuf>,
    /// Most frames drawn per second.
    #[arg(long, global = true, value_name = "N", allow_negative_numbers = true)]
    pub fps: Option<u32>,
    /// Run without a terminal and print one JSON line per rollout per second.
    #[arg(long, global = true)]
    pub headless: bool,
    /// Stop after this long at most (e.g. 60s, 2m). Headless also stops once every plan has ended.
    #[arg(long, global = true, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true)]
    pub duration: Option<Duration>,
    /// Record every input of the session (JSON lines) for `aviary replay FILE`.
    #[arg(long, global = true, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// POST every write aviary makes, with its before/after weights and undo, as JSON here.
    #[arg(long, global = true, value_name = "URL")]
    pub event_webhook: Option<String>,
    /// The webhook's payload: generic (aviary's JSON), dynatrace (Events API v2 ingest) or
    /// datadog (v1 event). A bare Dynatrace/Datadog base URL gets the API path appended.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub event_format: crate::change_event::EventFormat,
    /// Credential for the event API, read from this file (never printed): a Dynatrace token
    /// with events.ingest (else $DT_API_TOKEN), a Datadog API key (else $DD_API_KEY).
    #[arg(long, global = true, value_name = "FILE")]
    pub event_token_file: Option<PathBuf>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run the whole story on this machine: two builds over real HTTP, a weighted router,
    /// a load generator and the autopilot. No cluster needed.
    Demo(DemoArgs),
    /// Play a `--record` file through the same core and screen, read-only: pause (space),
    /// step a second (.), seek to the next or previous write (→/←), speed (s: 1×, 10×, 60×).
    Replay(ReplayArgs),
    /// Many seeded rollouts of synthetic traffic through the real autopilot, both judges on
    /// the same traffic, in simulated time: what each lets through (docs/JUDGE.md).
    Simulate(SimulateArgs),
    /// Drive a canary on an existing HAProxy through its runtime API (no controller needed).
    Haproxy(HaproxyArgs),
    /// Drive a canary on a Consul service-splitter (CAS writes through the config API).
    Consul(ConsulArgs),
    /// Watch and steer the rollouts on a Kubernetes cluster: Argo Rollouts, Flagger Canaries,
    /// and weighted Istio VirtualServices, Gateway API HTTPRoutes and SMI TrafficSplits.
    Kube(KubeArgs),
    /// Print a shell completion script (e.g. `aviary completions bash > /etc/bash_completion.d/aviary`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), generated from these same flags: `aviary man | man -l -`.
    Man,
}

/// `aviary kube`.
#[derive(Debug, Args, Clone)]
pub struct KubeArgs {
    /// Kubeconfig context (default: the current context). Repeat it to watch several
    /// clusters on one board: `--context prod-us --context prod-eu`.
    #[arg(long, value_name = "NAME", action = clap::ArgAction::Append)]
    pub context: Vec<String>,
    /// Watch every context in the kubeconfig, one board across all of them.
    #[arg(long, conflicts_with = "context")]
    pub all_contexts: bool,
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or the in-cluster config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace to watch (default: the context's namespace).
    #[arg(short = 'n', long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Watch every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
    /// Per-build metrics; `--mesh` is also Flagger's provider when a Canary names none.
    #[command(flatten)]
    pub metrics: PromArgs,
    /// Flagger loadtester base URL: advance and abort open its gates (`/gate/open`,
    /// `/rollback/open`).
    #[arg(long, value_name = "URL")]
    pub flagger_loadtester: Option<String>,
    /// Let aviary's autopilot step raw routers (VirtualService, HTTPRoute, TrafficSplit with no
    /// controller) with the plan flags. Off by default: aviary never writes to a cluster on
    /// its own unless asked.
    #[arg(long)]
    pub autopilot: bool,
    /// The plan for `--autopilot`.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Where per-build traffic, errors and latency come from: the same four flags on every
/// subcommand that can read Prometheus.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Metrics")]
pub struct PromArgs {
    /// Prometheus base URL for per-build traffic, errors and latency. One that does not
    /// answer at start is a warning and a stale source, never a refusal to start: abort
    /// must work without metrics.
    #[arg(long, value_name = "URL", conflicts_with_all = ["dynatrace", "datadog"])]
    pub prometheus: Option<String>,
    /// Bearer token for Prometheus, read from this file (never printed).
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub prometheus_token_file: Option<PathBuf>,
    /// PromQL template (TOML) replacing the built-in one (README: custom templates).
    #[arg(long, value_name = "FILE", requires = "prometheus")]
    pub prometheus_template: Option<PathBuf>,
    /// The mesh or ingress whose built-in queries to use (default: the router's own —
    /// haproxy for `aviary haproxy`, consul for `aviary consul`, istio for `aviary kube`).
    #[arg(long, value_enum, value_name = "MESH")]
    pub mesh: Option<DataPlane>,
    /// Dynatrace or Datadog instead of Prometheus.
    #[command(flatten)]
    pub saas: SaasArgs,
}

impl PromArgs {
    /// Whether any metrics source was asked for (else the router's own counters, if any).
    pub fn any(&self) -> bool {
        self.prometheus.is_some() || self.saas.dynatrace.is_some() || self.saas.datadog.is_some()
    }
}

/// The hosted metrics services; at most one source at a time.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Metrics")]
pub struct SaasArgs {
    /// Dynatrace environment URL (https://{id}.live.dynatrace.com) for per-build traffic,
    /// errors and latency through the Metrics API v2.
    #[arg(long, value_name = "URL", conflicts_with = "datadog")]
    pub dynatrace: Option<String>,
    /// Dynatrace API token (metrics.read) from this file (else $DT_API_TOKEN; never printed).
    #[arg(long, value_name = "FILE", requires = "dynatrace")]
    pub dynatrace_token_file: Option<PathBuf>,
    /// The dimension that tells builds apart: a request attribute holding the build version.
    #[arg(long, value_name = "KEY", requires = "dynatrace")]
    pub dynatrace_build_dimension: Option<String>,
    /// Metric selector template (TOML) replacing the built-in one (README: Dynatrace).
    #[arg(long, value_name = "FILE", requires = "dynatrace")]
    pub dynatrace_template: Option<PathBuf>,
    /// Datadog site (datadoghq.com, datadoghq.eu, us3.datadoghq.com…) or a full http(s)://
    /// API base, for per-build traffic, errors and latency through the metrics query API.
    #[arg(long, value_name = "SITE")]
    pub datadog: Option<String>,
    /// Datadog API key from this file (else $DD_API_KEY; never printed).
    #[arg(long, value_name = "FILE", requires = "datadog")]
    pub datadog_api_key_file: Option<PathBuf>,
    /// Datadog application key from this file (else $DD_APP_KEY; never printed).
    #[arg(long, value_name = "FILE", requires = "datadog")]
    pub datadog_app_key_file: Option<PathBuf>,
    /// The tag that tells builds apart (default: version, the unified service tag).
    #[arg(long, value_name = "TAG", requires = "datadog")]
    pub datadog_build_tag: Option<String>,
    /// Query template (TOML) replacing the built-in one (README: Datadog).
    #[arg(long, value_name = "FILE", requires = "datadog")]
    pub datadog_template: Option<PathBuf>,
}

/// `aviary replay`.
#[derive(Debug, Args, Clone)]
pub struct ReplayArgs {
    /// A recording written with `--record FILE`.
    pub file: PathBuf,
    /// Playback speed to start at (1, 10 or 60; `s` cycles them).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub speed: u32,
}

/// `aviary simulate`.
#[derive(Debug, Args, Clone)]
pub struct SimulateArgs {
    /// Rollouts per scenario, traffic rate and judge.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..), allow_negative_numbers = true)]
    pub runs: u32,
    /// Seed; the same seed prints the same table.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub seed: u64,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..256), allow_negative_numbers = true)]
    pub threads: Option<u32>,
}

/// Which judge the autopilot consults.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum JudgeKind {
    /// Canary against stable with sequential tests; fails as soon as the evidence is strong
    /// (docs/JUDGE.md).
    #[default]
    Stat,
    /// Fixed limits checked each interval, like Flagger.
    Threshold,
}

impl JudgeKind {
    /// The judge itself, with its default parameters.
    pub fn judge(self) -> std::sync::Arc<dyn crate::driver::Judge> {
        match self {
            JudgeKind::Stat => std::sync::Arc::new(crate::driver::StatJudge::default()),
            JudgeKind::Threshold => std::sync::Arc::new(crate::driver::ThresholdJudge),
        }
    }
}

/// The plan flags shared by every autopilot router. Defaults are the config file's `[plan]`,
/// else the built-in ones named in each flag's help (the demo fleet gives each service its own).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Plan (the autopilot's steps and limits)")]
pub struct PlanArgs {
    /// Weight added per passing interval, in percent [default: 10].
    #[arg(long, value_name = "PCT", value_parser = parse_weight, allow_negative_numbers = true)]
    pub step: Option<Weight>,
    /// Highest weight reached by stepping; passing there promotes to 100 % [default: 50].
    #[arg(long, value_name = "PCT", value_parser = parse_weight, allow_negative_numbers = true)]
    pub max_weight: Option<Weight>,
    /// Time between checks, e.g. 5s [default: 5s].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true)]
    pub interval: Option<Duration>,
    /// Failed checks before rolling back [default: 3].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub threshold: Option<u32>,
    /// Highest tolerated canary error rate, in percent [default: 1].
    #[arg(long, value_name = "PCT", value_parser = parse_percent, allow_negative_numbers = true)]
    pub max_error_rate: Option<Weight>,
    /// Highest tolerated canary p99 latency, e.g. 500ms [default: 500ms].
    #[arg(long, value_name = "DUR", value_parser = parse_duration, allow_hyphen_values = true)]
    pub max_p99: Option<Duration>,
    /// Judge: stat (canary vs stable, sequential tests) or threshold (fixed limits).
    #[arg(long, value_enum, default_value_t)]
    pub judge: JudgeKind,
}

impl PlanArgs {
    /// Flags over `base` (the config's plan or the built-in default), validated.
    pub fn resolve(&self, base: &Plan) -> Result<Plan, PlanError> {
        let p = Plan {
            step: self.step.unwrap_or(base.step),
            max_weight: self.max_weight.unwrap_or(base.max_weight),
            interval: self.interval.unwrap_or(base.interval),
            threshold: self.threshold.unwrap_or(base.threshold),
            max_error_rate: self
                .max_error_rate
                .map(|w| w.percent() / 100.0)
                .unwrap_or(base.max_error_rate),
            max_p99: self.max_p99.unwrap_or(base.max_p99),
            evidence: base.evidence.clone(),
        };
        p.validate()?;
        Ok(p)
    }
}

/// `aviary demo`.
#[derive(Debug, Args, Clone)]
pub struct DemoArgs {
    /// Tell one rollout's story instead of the fleet's: what its canary gets wrong.
    #[arg(long, value_enum)]
    pub scenario: Option<Scenario>,
    /// presenter: about 90 s, steps that dwell long enough to read; fast: 4× quicker.
    #[arg(long, value_enum, default_value_t)]
    pub pace: Pace,
    /// Seed for routing and failures; the same seed replays the same run.
    #[arg(long, default_value_t = 7, allow_negative_numbers = true)]
    pub seed: u64,
    /// Requests per second from each service's load generator (0 = none; at most what
    /// `ulimit -n` allows, see README "Limits").
    #[arg(long, default_value_t = 50, value_parser = parse_rps, allow_negative_numbers = true)]
    pub rps: u32,
    /// First router's listen address (with a port, the fleet's next routers take the next
    /// ports); every bound address is shown so you can curl it. One that is not loopback is a
    /// warning: the demo routers are then reachable from the network.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Start paused: step by hand with `n`.
    #[arg(long)]
    pub manual: bool,
    /// The plan.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// `aviary haproxy`.
#[derive(Debug, Args, Clone)]
pub struct HaproxyArgs {
    /// Runtime API: a unix socket path or HOST:PORT (`stats socket ... level admin`).
    #[arg(long, value_name = "PATH|HOST:PORT")]
    pub socket: String,
    /// The backend that holds both servers.
    #[arg(long, value_name = "NAME")]
    pub backend: String,
    /// The stable server in that backend.
    #[arg(long, value_name = "SERVER")]
    pub stable: String,
    /// The canary server in that backend.
    #[arg(long, value_name = "SERVER")]
    pub canary: String,
    /// Metrics from Prometheus (HAProxy's exporter) instead of `show stat` counters.
    #[command(flatten)]
    pub metrics: PromArgs,
    /// How often weights and metrics are re-read.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub refresh: Duration,
    /// The plan.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// `aviary consul`.
#[derive(Debug, Args, Clone)]
pub struct ConsulArgs {
    /// Consul HTTP API address (e.g. http://127.0.0.1:8500).
    #[arg(long, value_name = "URL", env = "CONSUL_HTTP_ADDR")]
    pub addr: String,
    /// Service whose service-splitter aviary steps.
    #[arg(long, value_name = "NAME")]
    pub service: String,
    /// ACL token file (else $CONSUL_HTTP_TOKEN); sent as X-Consul-Token, never logged.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Stable split (subset name); default: the resolver's DefaultSubset.
    #[arg(long, value_name = "SUBSET")]
    pub stable: Option<String>,
    /// Canary split (subset name); default: the other split.
    #[arg(long, value_name = "SUBSET")]
    pub canary: Option<String>,
    /// Metrics from Prometheus (Envoy with Consul's stats tags).
    #[command(flatten)]
    pub metrics: PromArgs,
    /// How often the splitter and metrics are re-read.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub refresh: Duration,
    /// The plan.
    #[command(flatten)]
    pub plan: PlanArgs,
}

/// Parses `5s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e} (try 5s, 500ms, 2m)"))
}

/// Parses a percentage such as `10` or `2.5%`.
pub fn parse_weight(s: &str) -> Result<Weight, String> {
    Weight::parse(s).map_err(|e| e.to_string())
}

/// Parses a rate in percent (`--max-error-rate`); clap names the flag, this says what a
/// valid value is without calling it a weight.
pub fn parse_percent(s: &str) -> Result<Weight, String> {
    Weight::parse(s).map_err(|_| format!("{s:?} is not a percentage from 0 to 100 (try 2 or 0.5%)"))
}

/// File descriptors one in-flight demo request can hold: load generator → router, router's
/// accepted socket, router → build, the build's accepted socket.
const FDS_PER_REQUEST: u64 = 4;

/// Seconds of requests the `--rps` bound allows to be in flight at once: the demo builds
/// answer within a second, so twice that leaves room for a slow scenario.
const IN_FLIGHT_SECONDS: u64 = 2;

/// Files kept back for everything else (sockets to routers, logs, the terminal).
const FD_RESERVE: u64 = 256;

/// The soft open-file limit (`ulimit -n`), from /proc; 1024, the usual default, when unknown.
pub fn open_file_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))?
                .split_whitespace()
                .nth(3)?
                .parse()
                .ok()
        })
        .unwrap_or(1024)
}

/// Highest `--rps` this process can sustain without running out of file descriptors and
/// then "rolling back" on connection errors of its own making.
pub fn max_rps(fd_limit: u64) -> u32 {
    let usable = fd_limit.saturating_sub(FD_RESERVE);
    (usable / (FDS_PER_REQUEST * IN_FLIGHT_SECONDS)).clamp(1, 100_000) as u32
}

/// Parses `--rps`: a whole number from 0 to [`max_rps`] of this process's `ulimit -n`.
pub fn parse_rps(s: &str) -> Result<u32, String> {
    let limit = open_file_limit();
    let max = max_rps(limit);
    let n: i64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of requests per second"))?;
    if n < 0 || n > i64::from(max) {
        return Err(format!(
            "{n} is outside 0..={max}: with {limit} open files allowed (ulimit -n), each request in flight holding up to {FDS_PER_REQUEST}, {max} a second is the most the demo can serve honestly (raise ulimit -n for more)"
        ));
    }
    Ok(n as u32)
}

impl DemoArgs {
    /// A warning for a `--listen` address that is not loopback, or `None`.
    pub fn listen_warning(&self) -> Option<String> {
        (!self.listen.ip().is_loopback()).then(|| {
            format!(
                "warning: --listen {} is not a loopback address: the demo router (and its weights) can be reached from other machines",
                self.listen
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_flags_override_and_validate() {
        let cli = Cli::try_parse_from([
            "aviary",
            "demo",
            "--step",
            "20",
            "--interval",
            "1s",
            "--max-error-rate",
            "2",
        ])
        .unwrap();
        let Commands::Demo(d) = cli.command else {
            panic!("not demo")
        };
        let p = d.plan.resolve(&Plan::default()).unwrap();
        assert_eq!(p.step, Weight::from_whole(20).unwrap());
        assert_eq!(p.interval, Duration::from_secs(1));
        assert_eq!(p.max_error_rate, 0.02);
        let cli = Cli::try_parse_from(["aviary", "demo", "--step", "60"]).unwrap();
        let Commands::Demo(d) = cli.command else {
            panic!("not demo")
        };
        assert!(d.plan.resolve(&Plan::default()).is_err());
        assert!(Cli::try_parse_from(["aviary", "demo", "--step", "160"]).is_err());
    }

    fn error_of(args: &[&str]) -> String {
        let mut v = vec!["aviary"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap_err().to_string()
    }

    #[test]
    fn every_value_error_names_its_flag() {
        for (args, flag) in [
            (&["demo", "--rps", "-5"][..], "--rps"),
            (&["demo", "--rps", "1000000000"], "--rps"),
            (&["demo", "--max-error-rate", "200"], "--max-error-rate"),
            (&["demo", "--step", "-5"], "--step"),
            (&["demo", "--threshold", "-1"], "--threshold"),
            (&["demo", "--interval", "-5s"], "--interval"),
            (&["demo", "--seed", "-1"], "--seed"),
            (&["--fps", "-3", "demo"], "--fps"),
            (&["--duration", "-1s", "demo"], "--duration"),
            (&["simulate", "--runs", "-1"], "--runs"),
        ] {
            let e = error_of(args);
            assert!(e.contains(&format!("'{flag}")), "{args:?}: {e}");
        }
        let e = error_of(&["demo", "--max-error-rate", "200"]);
        assert!(!e.contains("weight"), "{e}");
        assert!(e.contains("percentage"), "{e}");
        let e = error_of(&["demo", "--rps", "1000000"]);
        assert!(e.contains("ulimit -n"), "{e}");
    }

    #[test]
    fn rps_bound_follows_the_fd_limit() {
        assert_eq!(max_rps(1024), 96);
        assert_eq!(max_rps(20_000), 2_468);
        assert_eq!(max_rps(0), 1);
        assert_eq!(max_rps(u64::MAX), 100_000);
        assert!(parse_rps("50").is_ok() && parse_rps("0").is_ok());
    }

    #[test]
    fn a_non_loopback_listen_warns() {
        let d = |l: &str| {
            let Commands::Demo(d) = Cli::try_parse_from(["aviary", "demo", "--listen", l])
                .unwrap()
                .command
            else {
                panic!("not demo")
            };
            d.listen_warning()
        };
        assert!(d("0.0.0.0:0").unwrap().contains("not a loopback"));
        assert!(d("127.0.0.1:0").is_none());
        assert!(d("[::1]:0").is_none());
    }

    #[test]
    fn one_metrics_source_at_a_time_and_keys_need_their_source() {
        let base = ["aviary", "haproxy", "--socket", "s", "--backend", "b"];
        let with = |extra: &[&str]| {
            let mut v: Vec<&str> = base.to_vec();
            v.extend_from_slice(&["--stable", "a", "--canary", "c"]);
            v.extend_from_slice(extra);
            Cli::try_parse_from(v)
        };
        assert!(with(&["--prometheus", "http://p", "--dynatrace", "http://d"]).is_err());
        assert!(with(&["--prometheus", "http://p", "--datadog", "datadoghq.com"]).is_err());
        assert!(with(&["--dynatrace", "http://d", "--datadog", "datadoghq.com"]).is_err());
        assert!(with(&["--dynatrace-token-file", "f"]).is_err());
        assert!(with(&["--datadog-app-key-file", "f"]).is_err());
        let cli = with(&["--datadog", "datadoghq.eu", "--datadog-build-tag", "v"]).unwrap();
        let Commands::Haproxy(h) = cli.command else {
            panic!("not haproxy")
        };
        assert!(h.metrics.any());
        assert_eq!(h.metrics.saas.datadog_build_tag.as_deref(), Some("v"));
        let cli = Cli::try_parse_from(["aviary", "--event-format", "datadog", "demo"]).unwrap();
        assert_eq!(
            cli.global.event_format,
            crate::change_event::EventFormat::Datadog
        );
    }
}

#[cfg(test)]
mod help_tests {
    use super::*;
    use clap::CommandFactory;

    /// `aviary demo --help` shows the plan flags under their own heading with their defaults.
    #[test]
    fn plan_flags_are_grouped_with_their_defaults() {
        let mut cmd = Cli::command();
        let demo = cmd.find_subcommand_mut("demo").expect("demo");
        let help = demo.render_long_help().to_string();
        let at = help
            .find("Plan (the autopilot's steps and limits):")
            .unwrap_or_else(|| panic!("{help}"));
        let plan = &help[at..];
        for (flag, default) in [
            ("--step", "[default: 10]"),
            ("--interval", "[default: 5s]"),
            ("--max-p99", "[default: 500ms]"),
        ] {
            let i = plan.find(flag).unwrap_or_else(|| panic!("{flag}: {help}"));
            assert!(plan[i..].contains(default), "{flag}: {help}");
        }
    }
}
