//! The one metrics starter every runner uses. Its policy: bad flags (a URL that is not
//! http(s), an unreadable token file, a missing key, a template with an error) refuse to
//! start, because they are the user's input; a source that does not answer is a warning and
//! a stale source, never a refusal, because a break-glass abort must work without metrics.

use crate::cli::{PromArgs, SaasArgs};
use crate::domain::observation::SourceId;
use crate::http_api::Secret;
use crate::metrics::datadog::{self, DdClient, DdTemplate};
use crate::metrics::dynatrace::{self, DtClient, DtTemplate};
use crate::metrics::poller::{PromSource, check_reachable};
use crate::metrics::prometheus::PromClient;
use crate::metrics::source::{SaasSource, Service};
use crate::metrics::targets::Targets;
use crate::metrics::templates::{BuildTarget, DataPlane, Target, Template};
use crate::msg::Msg;
use crate::session::Session;
use color_eyre::eyre::{Result, eyre};
use std::path::Path;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Starts the metrics poller for the source given (`--prometheus`, `--dynatrace` or
/// `--datadog`), measuring `initial` until the provider updates the returned [`Targets`].
/// `plane` is the router's own data plane, used when `--mesh` is not given.
pub async fn start(
    args: &PromArgs,
    plane: DataPlane,
    initial: Vec<Target>,
    refresh: Duration,
    session: &Session,
) -> Result<Option<Targets>> {
    let timeout = Duration::from_secs(5).min(refresh * 4);
    if let Some(service) = saas_service(&args.saas, timeout)? {
        return Ok(Some(start_saas(service, initial, refresh, session).await));
    }
    let Some(url) = &args.prometheus else {
        return Ok(None);
    };
    let mut client = PromClient::new(url, timeout).map_err(|e| eyre!("--prometheus {url}: {e}"))?;
    if let Some(f) = &args.prometheus_token_file {
        client = client.with_token_file(f).map_err(|e| eyre!(e))?;
    }
    let plane = args.mesh.unwrap_or(plane);
    let template = match &args.prometheus_template {
        Some(f) => Template::load(f).map_err(|e| eyre!(e))?,
        None => Template::builtin(plane).ok_or_else(|| {
            eyre!(
                "--mesh {plane:?} has no built-in query template; pass --prometheus-template FILE"
            )
        })?,
    };
    let label = template
        .build_labels
        .first()
        .cloned()
        .ok_or_else(|| eyre!("the query template names no build label"))?;
    let source = SourceId(format!("prometheus {}", client.url()));
    let (tx, rx) = watch::channel(initial);
    let (app, cancel) = (session.tx.clone(), session.cancel.clone());
    let shown = session.executor.shown();
    let headless = session.headless;
    // The reachability check runs in the poller's own task, before its first refresh, so
    // the first frame does not wait for Prometheus (up to a second when it hangs). Under the
    // TUI its warning goes to the log pane: a line on stderr would tear the screen.
    tokio::spawn(async move {
        match tokio::time::timeout(Duration::from_secs(1), check_reachable(&client)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn_stale(&app, headless, &source, &e.to_string()),
            Err(_) => warn_stale(
                &app,
                headless,
                &source,
                &format!("Prometheus at {} did not answer within 1s", client.url()),
            ),
        }
        let poller = PromSource {
            client,
            template,
            targets: rx,
            source,
            refresh,
            shown,
        };
        poller.run(app, cancel).await;
    });
    Ok(Some(Targets { tx, label }))
}

/// Says that a metrics source is not answering: the source's error on screen, and the
/// warning on stderr (`on_stderr`) or in the log pane.
fn warn_stale(app: &mpsc::Sender<Msg>, on_stderr: bool, source: &SourceId, e: &str) {
    let said = format!("{e}; metrics stay stale and the autopilot holds until it answers");
    if on_stderr {
        eprintln!("aviary: warning: {said}");
    } else {
        tracing::warn!("{said}");
    }
    let _ = app.try_send(Msg::SourceError {
        source: source.clone(),
        error: e.to_string(),
    });
}

/// A credential from `--…-file`, else the environment; neither is a refusal naming both.
fn secret(file: Option<&Path>, what: &str, flag: &str, var: &str) -> Result<Secret> {
    match file {
        Some(f) => Secret::from_file(f, what).map_err(|e| eyre!(e)),
        None => Secret::from_env(var)
            .ok_or_else(|| eyre!("{what} missing: pass {flag} FILE or set ${var}")),
    }
}

/// The Dynatrace or Datadog client the flags ask for, checked before anything starts.
fn saas_service(a: &SaasArgs, timeout: Duration) -> Result<Option<Service>> {
    if let Some(url) = &a.dynatrace {
        let token = secret(
            a.dynatrace_token_file.as_deref(),
            "Dynatrace API token",
            "--dynatrace-token-file",
            "DT_API_TOKEN",
        )?;
        let template = match &a.dynatrace_template {
            Some(f) => DtTemplate::load(f).map_err(|e| eyre!(e))?,
            None => DtTemplate::builtin(),
        };
        let dim = a
            .dynatrace_build_dimension
            .as_deref()
            .unwrap_or(dynatrace::DEFAULT_DIMENSION);
        let c = DtClient::new(url, token, template, dim, timeout)
            .map_err(|e| eyre!("--dynatrace {url}: {e}"))?;
        return Ok(Some(Service::Dynatrace(c)));
    }
    if let Some(site) = &a.datadog {
        let api = secret(
            a.datadog_api_key_file.as_deref(),
            "Datadog API key",
            "--datadog-api-key-file",
            "DD_API_KEY",
        )?;
        let app = secret(
            a.datadog_app_key_file.as_deref(),
            "Datadog application key",
            "--datadog-app-key-file",
            "DD_APP_KEY",
        )?;
        let template = match &a.datadog_template {
            Some(f) => DdTemplate::load(f).map_err(|e| eyre!(e))?,
            None => DdTemplate::builtin(),
        };
        let tag = a
            .datadog_build_tag
            .as_deref()
            .unwrap_or(datadog::DEFAULT_TAG);
        let c = DdClient::new(site, api, app, template, tag, timeout)
            .map_err(|e| eyre!("--datadog {site}: {e}"))?;
        return Ok(Some(Service::Datadog(c)));
    }
    Ok(None)
}

/// A router's fixed target as the hosted service sees it: each build's dimension value is
/// its name on the router (the HAProxy server, the Consul subset). Kubernetes targets come
/// through [`Targets::update`], which uses the build's selector.
fn by_dimension(targets: Vec<Target>, dim: &str) -> Vec<Target> {
    targets
        .into_iter()
        .map(|t| Target {
            key: t.key,
            builds: t
                .builds
                .into_iter()
                .map(|b| BuildTarget {
                    labels: [(dim.to_string(), b.name.clone())].into(),
                    name: b.name,
                })
                .collect(),
        })
        .collect()
}

async fn start_saas(
    service: Service,
    initial: Vec<Target>,
    refresh: Duration,
    session: &Session,
) -> Targets {
    let label = service.dimension().to_string();
    let initial = by_dimension(initial, &label);
    let url = match &service {
        Service::Dynatrace(c) => c.url().to_string(),
        Service::Datadog(c) => c.url().to_string(),
    };
    let source = SourceId(format!("{} {url}", service.name().to_lowercase()));
    if !initial.is_empty()
        && let Err(e) = service.read(&initial).await
    {
        // Read before the TUI starts: stderr is still the terminal's own.
        warn_stale(&session.tx, true, &source, &e);
    }
    let (tx, rx) = watch::channel(initial);
    let poller = SaasSource {
        service,
        targets: rx,
        source,
        refresh,
    };
    tokio::spawn(poller.run(session.tx.clone(), session.cancel.clone()));
    Targets { tx, label }
}
