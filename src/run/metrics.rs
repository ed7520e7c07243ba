//! The one metrics starter every runner uses. Its policy: bad flags (a URL that is not
//! http(s), an unreadable token file, a template with an error) refuse to start, because
//! they are the user's input; a Prometheus that does not answer is a warning and a stale
//! source, never a refusal, because a break-glass abort must work without metrics.

use crate::cli::PromArgs;
use crate::domain::observation::SourceId;
use crate::metrics::poller::{PromSource, check_reachable};
use crate::metrics::prometheus::PromClient;
use crate::metrics::targets::Targets;
use crate::metrics::templates::{DataPlane, Target, Template};
use crate::msg::Msg;
use crate::session::Session;
use color_eyre::eyre::{Result, eyre};
use std::time::Duration;
use tokio::sync::watch;

/// Starts the Prometheus poller when `--prometheus` was given, measuring `initial` until the
/// provider updates the returned [`Targets`]. `plane` is the router's own data plane, used
/// when `--mesh` is not given.
pub async fn start(
    args: &PromArgs,
    plane: DataPlane,
    initial: Vec<Target>,
    refresh: Duration,
    session: &Session,
) -> Result<Option<Targets>> {
    let Some(url) = &args.prometheus else {
        return Ok(None);
    };
    let mut client = PromClient::new(url, Duration::from_secs(5).min(refresh * 4))
        .map_err(|e| eyre!("--prometheus {url}: {e}"))?;
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
    if let Err(e) = check_reachable(&client).await {
        eprintln!(
            "aviary: warning: {e}; metrics stay stale and the autopilot holds until it answers"
        );
        let _ = session.tx.try_send(Msg::SourceError {
            source: source.clone(),
            error: e.to_string(),
        });
    }
    let (tx, rx) = watch::channel(initial);
    let poller = PromSource {
        client,
        template,
        targets: rx,
        source,
        refresh,
    };
    tokio::spawn(poller.run(session.tx.clone(), session.cancel.clone()));
    Ok(Some(Targets { tx, label }))
}
