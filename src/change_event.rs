//! Change events: every write aviary makes is announced with its backout plan.
//! The executor posts one JSON [`ChangeEvent`] per write to `--event-webhook URL` when given;
//! the Kubernetes provider also records the same text as a Kubernetes `Event`.

use crate::domain::change::ChangeEvent;

/// Posts change events to a webhook; failures are logged, never block or undo the write.
#[derive(Clone, Debug)]
pub struct Webhook {
    url: String,
    client: reqwest::Client,
}

impl Webhook {
    /// A poster for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        crate::install_crypto_provider();
        Webhook {
            url: url.into(),
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Sends the event as JSON.
    pub async fn post(&self, ev: &ChangeEvent) {
        match self.client.post(&self.url).json(ev).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!("event webhook {}: HTTP {}", self.url, r.status()),
            Err(e) => tracing::warn!("event webhook {}: {e}", self.url),
        }
    }
}
