//! The one HTTP API client every outside service is reached with (Prometheus, Consul): base
//! URL checks, timeouts, a cap on every answer's size, and credentials that cannot leak into
//! a log line or an error.

use std::path::Path;
use std::time::Duration;

/// A credential. It has no `Display`, and `Debug` prints `<redacted>`, so neither a
/// `tracing` field nor a `{:?}` of a client can reveal it; only [`Secret::expose`] can.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(v: &str) -> Self {
        Secret(v.to_string())
    }
}

impl From<String> for Secret {
    fn from(v: String) -> Self {
        Secret(v)
    }
}

impl Secret {
    /// Wraps a value already read from somewhere safe.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads a token file (whitespace trimmed). `what` names the file in errors
    /// ("Prometheus token file"); an empty file is an error, not an empty credential.
    pub fn from_file(path: &Path, what: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
        let t = text.trim();
        if t.is_empty() {
            return Err(format!("{what} {} is empty", path.display()));
        }
        Ok(Secret(t.to_string()))
    }

    /// Reads an environment variable; unset or blank is `None`.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var)
            .ok()
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(Secret)
    }

    /// The raw value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// How a request proves who it is.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    /// Anonymous.
    #[default]
    None,
    /// `Authorization: Bearer <token>` (Prometheus behind a proxy, most SaaS APIs).
    Bearer(Secret),
    /// A named header carrying the token (`X-Consul-Token`).
    Header(&'static str, Secret),
    /// `Authorization: <scheme> <token>` (Dynatrace's `Api-Token`).
    Scheme(&'static str, Secret),
    /// Several named headers, each with its own secret (Datadog's API and application keys).
    Headers(Vec<(&'static str, Secret)>),
}

/// A base URL, a reqwest client with timeouts, and the credential to send.
#[derive(Clone, Debug)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    auth: Auth,
}

impl ApiClient {
    /// A client for `base` (`http://` or `https://`, trailing `/` dropped). `what` names the
    /// service in errors. A request gives up after `timeout`, so a hanging server turns its
    /// source stale instead of stalling a refresh.
    pub fn new(base: &str, what: &str, timeout: Duration) -> Result<Self, String> {
        let base = base.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "{what} address {base:?} must start with http:// or https://"
            ));
        }
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .build()
            .map_err(|e| format!("{what} client: {e}"))?;
        Ok(ApiClient {
            base,
            http,
            auth: Auth::None,
        })
    }

    /// Sends `auth` with every request.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The base URL, for messages (never carries the credential).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// A request to `base + path` with the credential attached.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::None => r,
            Auth::Bearer(s) => r.bearer_auth(s.expose()),
            Auth::Header(name, s) => r.header(*name, s.expose()),
            Auth::Scheme(scheme, s) => {
                r.header("Authorization", format!("{scheme} {}", s.expose()))
            }
            Auth::Headers(h) => h.iter().fold(r, |r, (name, s)| r.header(*name, s.expose())),
        }
    }
}

/// Why an answer body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the cap: the text says by how much ("11.0 MB" when the server said its length,
    /// "over 4 MB" when it had to be counted), for "answer too large (…): narrow the query".
    TooLarge(String),
    /// The connection failed or timed out mid-body.
    Transport(reqwest::Error),
}

/// `bytes` in MB for messages (decimal, one place: "11.0 MB").
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Reads an answer body of at most `limit` bytes. A declared length over the limit is refused
/// before one byte is read; an undeclared one is counted chunk by chunk and dropped as soon as
/// it passes the limit, so a hostile or mistaken answer costs at most `limit` bytes of memory
/// and the time to read them, never the whole answer.
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    if let Some(len) = resp.content_length()
        && len > limit as u64
    {
        return Err(BodyError::TooLarge(megabytes(len)));
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge(format!(
                "over {}",
                megabytes(limit as u64)
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = ApiClient::new("http://127.0.0.1:9", "test", Duration::from_secs(1))
            .unwrap()
            .with_auth(Auth::Header("X-Token", Secret::new("s3cret")));
        let dd = ApiClient::new("http://127.0.0.1:9", "test", Duration::from_secs(1))
            .unwrap()
            .with_auth(Auth::Headers(vec![("DD-API-KEY", Secret::new("s3cret"))]));
        let dt = Auth::Scheme("Api-Token", Secret::new("s3cret"));
        let shown = format!("{c:?} {dd:?} {dt:?} {:?}", Secret::new("s3cret"));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn base_urls_are_checked() {
        let e = ApiClient::new("127.0.0.1:8500", "Consul", Duration::from_secs(1)).unwrap_err();
        assert!(e.contains("Consul address") && e.contains("http://"), "{e}");
        let c = ApiClient::new("http://h:1/", "x", Duration::from_secs(1)).unwrap();
        assert_eq!(c.base(), "http://h:1");
    }

    #[test]
    fn an_empty_token_file_is_an_error() {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), " \n").unwrap();
        let e = Secret::from_file(f.path(), "Consul token file").unwrap_err();
        assert!(e.contains("is empty"), "{e}");
    }
}
