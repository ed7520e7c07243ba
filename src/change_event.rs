//! Change events: every write aviary makes is announced with its backout plan.
//! The executor posts one event per write to `--event-webhook URL` when given, in the
//! `--event-format` the receiving team reads: aviary's own JSON [`ChangeEvent`], a Dynatrace
//! Events API v2 custom event, or a Datadog v1 event. The Kubernetes provider also records
//! the same text as a Kubernetes `Event`.

use crate::domain::change::ChangeEvent;
use crate::http_api::{ApiClient, Auth, Secret};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

/// The payload shape of the webhook.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// aviary's own JSON (the [`ChangeEvent`] fields).
    #[default]
    Generic,
    /// Dynatrace Events API v2 (`POST /api/v2/events/ingest`), `Api-Token` auth.
    Dynatrace,
    /// Datadog Events API v1 (`POST /api/v1/events`), `DD-API-KEY` auth.
    Datadog,
}

impl EventFormat {
    /// The API path a bare base URL gets.
    fn path(self) -> &'static str {
        match self {
            EventFormat::Generic => "",
            EventFormat::Dynatrace => "/api/v2/events/ingest",
            EventFormat::Datadog => "/api/v1/events",
        }
    }

    /// The credential's environment variable and name.
    fn credential(self) -> Option<(&'static str, &'static str)> {
        match self {
            EventFormat::Generic => None,
            EventFormat::Dynatrace => Some(("DT_API_TOKEN", "Dynatrace API token")),
            EventFormat::Datadog => Some(("DD_API_KEY", "Datadog API key")),
        }
    }
}

/// Posts change events to a webhook; failures are logged, never block or undo the write.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: String,
    format: EventFormat,
    client: reqwest::Client,
    auth: Auth,
}

impl Webhook {
    /// A generic poster for `url`, no credential.
    pub fn new(url: impl Into<String>) -> Self {
        crate::install_crypto_provider();
        Webhook {
            url: url.into(),
            format: EventFormat::Generic,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            auth: Auth::None,
        }
    }

    /// A poster in `format`. A Dynatrace or Datadog URL with no path gets the API path; the
    /// credential comes from `token_file`, else the format's environment variable
    /// (`DT_API_TOKEN`, `DD_API_KEY`), and is required for those two. For `generic`, a
    /// token file is sent as a bearer token.
    pub fn from_flags(
        url: &str,
        format: EventFormat,
        token_file: Option<&Path>,
    ) -> Result<Self, String> {
        let mut url = url.trim().to_string();
        if format == EventFormat::Datadog && !url.contains("://") {
            url = crate::metrics::datadog::site_url(&url);
        }
        // Checks the scheme the same way every outside API is checked.
        ApiClient::new(&url, "--event-webhook", Duration::from_secs(5))?;
        let parsed =
            reqwest::Url::parse(&url).map_err(|e| format!("--event-webhook {url:?}: {e}"))?;
        if parsed.path() == "/" || parsed.path().is_empty() {
            url = format!("{}{}", url.trim_end_matches('/'), format.path());
        }
        let secret = match (token_file, format.credential()) {
            (Some(f), cred) => Some(Secret::from_file(
                f,
                cred.map_or("event webhook token file", |c| c.1),
            )?),
            (None, Some((var, what))) => Some(Secret::from_env(var).ok_or_else(|| {
                format!("--event-format needs a {what}: pass --event-token-file FILE or set ${var}")
            })?),
            (None, None) => None,
        };
        let auth = match (format, secret) {
            (_, None) => Auth::None,
            (EventFormat::Generic, Some(s)) => Auth::Bearer(s),
            (EventFormat::Dynatrace, Some(s)) => Auth::Scheme("Api-Token", s),
            (EventFormat::Datadog, Some(s)) => Auth::Header("DD-API-KEY", s),
        };
        Ok(Webhook {
            url,
            format,
            auth,
            ..Webhook::new("")
        })
    }

    /// Where events go (never carries the credential).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The body for `ev` in this webhook's format.
    pub fn body(&self, ev: &ChangeEvent) -> Value {
        match self.format {
            EventFormat::Generic => serde_json::to_value(ev).unwrap_or(Value::Null),
            EventFormat::Dynatrace => dynatrace_event(ev),
            EventFormat::Datadog => datadog_event(ev),
        }
    }

    /// Sends the event.
    pub async fn post(&self, ev: &ChangeEvent) {
        let r = self.client.post(&self.url).json(&self.body(ev));
        let r = match &self.auth {
            Auth::None => r,
            Auth::Bearer(s) => r.bearer_auth(s.expose()),
            Auth::Header(name, s) => r.header(*name, s.expose()),
            Auth::Scheme(scheme, s) => {
                r.header("Authorization", format!("{scheme} {}", s.expose()))
            }
            Auth::Headers(h) => h.iter().fold(r, |r, (n, s)| r.header(*n, s.expose())),
        };
        match r.send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!("event webhook {}: HTTP {}", self.url, r.status()),
            Err(e) => tracing::warn!("event webhook {}: {}", self.url, e.without_url()),
        }
    }
}

fn weight(w: Option<f64>) -> String {
    w.map_or_else(|| "unchanged".into(), |w| format!("{w}"))
}

/// A Dynatrace Events API v2 `EventIngest`: promote and abort are deployments (the release
/// finished or was rolled back), every other write a configuration change of the traffic
/// split. Properties are strings, as the API stores them.
pub fn dynatrace_event(ev: &ChangeEvent) -> Value {
    let event_type = match ev.action.as_str() {
        "promote" | "abort" => "CUSTOM_DEPLOYMENT",
        _ => "CUSTOM_CONFIGURATION",
    };
    let mut props = json!({
        "source": "aviary",
        "rollout": ev.target,
        "action": ev.action,
        "origin": ev.origin,
        "actor": ev.actor,
        "weight.before": format!("{}", ev.before),
        "weight.after": weight(ev.after),
        "result": ev.result,
        "backout plan": ev.undo,
        "message": ev.message,
    });
    if let Some(m) = props.as_object_mut() {
        if let Some(e) = &ev.error {
            m.insert("error".into(), Value::String(e.clone()));
        }
        let b = ev.builds.clone().unwrap_or_default();
        for (k, v) in [("build.stable", b.stable), ("build.canary", b.canary)] {
            if let Some(v) = v {
                m.insert(k.into(), Value::String(v));
            }
        }
    }
    json!({
        "eventType": event_type,
        "title": format!("aviary {} on {}: canary {}% → {}", ev.action, ev.target, ev.before,
            ev.after.map_or_else(|| "unchanged".into(), |a| format!("{a}%"))),
        "properties": props,
    })
}

/// A Datadog v1 event: the summary and backout plan as text, the rollout and what happened
/// as `key:value` tags so a dashboard can overlay them, and an alert type by outcome.
pub fn datadog_event(ev: &ChangeEvent) -> Value {
    let alert_type = match (ev.result.as_str(), ev.action.as_str()) {
        ("error", _) => "error",
        (_, "abort") => "warning",
        (_, "promote") => "success",
        _ => "info",
    };
    let mut body = json!({
        "title": format!("aviary {} on {}", ev.action, ev.target),
        "text": format!("{}\nBy: {}\nBackout plan: {}", ev.message, ev.actor, ev.undo),
        "tags": [
            format!("rollout:{}", ev.target),
            format!("action:{}", ev.action),
            format!("origin:{}", ev.origin),
            format!("result:{}", ev.result),
            format!("canary_weight_before:{}", ev.before),
            format!("canary_weight_after:{}", weight(ev.after)),
            "source:aviary".to_string(),
        ],
        "alert_type": alert_type,
        "source_type_name": "aviary",
        "aggregation_key": ev.target.chars().take(100).collect::<String>(),
    });
    let b = ev.builds.clone().unwrap_or_default();
    let builds = [("stable_build", b.stable), ("canary_build", b.canary)];
    if let Some(tags) = body["tags"].as_array_mut() {
        for (k, v) in builds {
            if let Some(v) = v {
                tags.push(Value::String(format!("build:{v}")));
                tags.push(Value::String(format!("{k}:{v}")));
            }
        }
    }
    if let (Ok(t), Some(m)) = (humantime::parse_rfc3339(&ev.ts), body.as_object_mut())
        && let Ok(d) = t.duration_since(UNIX_EPOCH)
    {
        m.insert("date_happened".into(), Value::from(d.as_secs()));
    }
    body
}
