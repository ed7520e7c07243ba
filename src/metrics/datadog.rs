//! Datadog as a metrics source: the v1 metrics query endpoint,
//! `GET https://api.{site}/api/v1/query?from=…&to=…&query=…` with the `DD-API-KEY` and
//! `DD-APPLICATION-KEY` headers (an application key with the `timeseries_query` permission).
//!
//! The built-in queries read APM trace metrics with `.as_count()`, so every point is a
//! **per-interval** count (requests in that rollup interval, not a running total), and
//! [`super::source::Buckets`] counts each completed interval once. The four signals go in one
//! request as comma-separated queries; each series says which by its `query_index`.
//!
//! `{filter}` becomes `(version:a OR version:b)` over the visible builds, and `{dimension}`
//! the build tag's key (`version`, Datadog's unified service tag), so the template can add
//! its own scope (`service:web-store AND {filter}`).

use super::source::{Answer, BySeries, snippet};
use super::templates::Target;
use crate::http_api::{ApiClient, Auth, Secret};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The default build tag.
pub const DEFAULT_TAG: &str = "version";

/// Metric queries for the four signals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdTemplate {
    /// Requests per interval, grouped by the build tag.
    pub requests: String,
    /// Failed requests per interval; no series for a build means no failures.
    pub errors: String,
    /// Typical latency.
    #[serde(default)]
    pub p50: Option<String>,
    /// 99th percentile latency.
    #[serde(default)]
    pub p99: Option<String>,
    /// Multiply latency answers by this to get ms (trace metrics are in seconds).
    #[serde(default = "seconds")]
    pub latency_to_ms: f64,
    /// How far back each refresh reads (`from` = now minus this), e.g. `5m`.
    #[serde(default = "five_minutes", with = "humantime_serde_str")]
    pub lookback: Duration,
}

fn seconds() -> f64 {
    1000.0
}

fn five_minutes() -> Duration {
    Duration::from_secs(300)
}

/// `lookback` is written as `5m` in TOML.
mod humantime_serde_str {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

impl DdTemplate {
    /// APM trace metrics of the `http.request` operation (`trace.http.request.hits`,
    /// `….errors`, and the `trace.http.request` distribution), grouped by the build tag.
    pub fn builtin() -> DdTemplate {
        DdTemplate {
            requests: "sum:trace.http.request.hits{{filter}} by {{dimension}}.as_count()".into(),
            errors: "sum:trace.http.request.errors{{filter}} by {{dimension}}.as_count()".into(),
            p50: Some("p50:trace.http.request{{filter}} by {{dimension}}".into()),
            p99: Some("p99:trace.http.request{{filter}} by {{dimension}}".into()),
            latency_to_ms: seconds(),
            lookback: five_minutes(),
        }
    }

    /// Reads a template from TOML (unknown keys are errors, which name file and line).
    pub fn load(path: &Path) -> Result<DdTemplate, String> {
        let (t, _): (DdTemplate, _) = crate::toml_file::load(path).map_err(|e| e.to_string())?;
        for (name, q) in [("requests", &t.requests), ("errors", &t.errors)] {
            if !q.contains("{filter}") {
                return Err(format!(
                    "{}: the {name} query has no {{filter}}, so it cannot select the builds",
                    path.display()
                ));
            }
        }
        Ok(t)
    }

    /// The queries for one refresh, in signal order (requests, errors, p50, p99).
    pub fn queries(&self, tag: &str, targets: &[Target]) -> Vec<String> {
        let filter = filter(tag, targets);
        [
            Some(&self.requests),
            Some(&self.errors),
            self.p50.as_ref(),
            self.p99.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|q| q.replace("{filter}", &filter).replace("{dimension}", tag))
        .collect()
    }
}

/// `(version:a OR version:b)` over every visible build.
pub fn filter(tag: &str, targets: &[Target]) -> String {
    let mut values: Vec<&str> = targets
        .iter()
        .flat_map(|t| &t.builds)
        .filter_map(|b| b.labels.get(tag).map(String::as_str))
        .collect();
    values.sort_unstable();
    values.dedup();
    let alts: Vec<String> = values.iter().map(|v| format!("{tag}:{v}")).collect();
    format!("({})", alts.join(" OR "))
}

/// `api.datadoghq.com` for the site `datadoghq.com` (or `app.datadoghq.com`), as the API
/// reference lists per site; a full `http(s)://` base is used as given (proxies, tests).
pub fn site_url(site: &str) -> String {
    let site = site.trim().trim_end_matches('/');
    if site.starts_with("http://") || site.starts_with("https://") {
        return site.to_string();
    }
    let host = site.strip_prefix("app.").unwrap_or(site);
    let host = host.strip_prefix("api.").unwrap_or(host);
    format!("https://api.{host}")
}

/// The documented answer: `{"status":"ok","series":[{"metric","scope","tag_set",
/// "pointlist":[[ms,value],…],"query_index"}],…}`.
#[derive(Debug, Deserialize)]
struct QueryResponse {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    series: Vec<Series>,
}

#[derive(Debug, Deserialize)]
struct Series {
    #[serde(default)]
    scope: String,
    #[serde(default)]
    tag_set: Vec<String>,
    pointlist: Vec<(f64, Option<f64>)>,
    #[serde(default)]
    query_index: usize,
}

/// Datadog's error envelope: `{"errors":["Forbidden"]}`.
#[derive(Debug, Deserialize)]
struct Errors {
    errors: Vec<String>,
}

/// A Datadog site, its two keys and the template to ask it with.
#[derive(Clone, Debug)]
pub struct DdClient {
    api: ApiClient,
    template: DdTemplate,
    tag: String,
}

impl DdClient {
    /// A client for `site` (see [`site_url`]).
    pub fn new(
        site: &str,
        api_key: Secret,
        app_key: Secret,
        template: DdTemplate,
        tag: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let api =
            ApiClient::new(&site_url(site), "Datadog", timeout)?.with_auth(Auth::Headers(vec![
                ("DD-API-KEY", api_key),
                ("DD-APPLICATION-KEY", app_key),
            ]));
        Ok(DdClient {
            api,
            template,
            tag: tag.to_string(),
        })
    }

    /// The API base (never carries a key).
    pub fn url(&self) -> &str {
        self.api.base()
    }

    /// The build tag's key.
    pub fn dimension(&self) -> &str {
        &self.tag
    }

    /// One refresh of every signal for `targets`.
    pub async fn read(&self, targets: &[Target]) -> Result<Answer, String> {
        let to = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let from = to.saturating_sub(self.template.lookback.as_secs().max(1));
        let query = self.template.queries(&self.tag, targets).join(",");
        let r = self
            .api
            .request(reqwest::Method::GET, "/api/v1/query")
            .query(&[
                ("from", from.to_string()),
                ("to", to.to_string()),
                ("query", query),
            ])
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Datadog at {} is unreachable: {}",
                    self.url(),
                    e.without_url()
                )
            })?;
        let status = r.status().as_u16();
        // Capped like every answer (http_api::read_capped): a runaway query is refused.
        let body = crate::http_api::read_capped(r, crate::metrics::prometheus::MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                crate::http_api::BodyError::TooLarge(size) => {
                    format!("Datadog answer too large ({size}): narrow the query")
                }
                crate::http_api::BodyError::Transport(e) => {
                    format!("Datadog answer cut short: {}", e.without_url())
                }
            })?;
        let body = String::from_utf8_lossy(&body);
        parse(status, &body, &self.tag, &self.template)
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => {
            " (check the API and application keys, the site, and the timeseries_query permission)"
        }
        400 => " (a query is invalid: check the Datadog template)",
        429 => " (rate limited: raise --refresh)",
        _ => "",
    }
}

/// The build tag's value of a series: from `tag_set`, else from `scope`.
fn build_of(s: &Series, tag: &str) -> Option<String> {
    let prefix = format!("{tag}:");
    s.tag_set
        .iter()
        .map(String::as_str)
        .chain(s.scope.split(','))
        .find_map(|t| t.trim().strip_prefix(&prefix).map(str::to_string))
}

/// Turns an answer into per-signal series (public for the fixture tests).
pub fn parse(status: u16, body: &str, tag: &str, template: &DdTemplate) -> Result<Answer, String> {
    if status != 200 {
        return Err(match serde_json::from_str::<Errors>(body) {
            Ok(e) => format!("Datadog {status}: {}{}", e.errors.join("; "), hint(status)),
            Err(_) => format!(
                "Datadog answered HTTP {status} with a body that is not the API's JSON{}: {}",
                hint(status),
                snippet(body)
            ),
        });
    }
    let r: QueryResponse = serde_json::from_str(body).map_err(|e| {
        format!(
            "Datadog answer is not the metrics query API's JSON ({e}): {}",
            snippet(body)
        )
    })?;
    if r.status.as_deref() != Some("ok") {
        return Err(format!(
            "Datadog query failed: {}",
            r.error.unwrap_or_else(|| "status is not ok".into())
        ));
    }
    // Which query index is which signal, given the optional latency queries.
    let mut slots: Vec<usize> = vec![0, 1];
    if template.p50.is_some() {
        slots.push(2);
    }
    if template.p99.is_some() {
        slots.push(3);
    }
    let mut signals: [BySeries; 4] = Default::default();
    for s in &r.series {
        let Some(&slot) = slots.get(s.query_index) else {
            return Err(format!(
                "Datadog answered a series for query {} of {}",
                s.query_index,
                slots.len()
            ));
        };
        let Some(build) = build_of(s, tag) else {
            continue;
        };
        let scale = if slot >= 2 {
            template.latency_to_ms
        } else {
            1.0
        };
        signals[slot].entry(build).or_default().extend(
            s.pointlist
                .iter()
                .map(|(ms, v)| (*ms as i64, v.map(|v| v * scale))),
        );
    }
    let [requests, errors, p50, p99] = signals;
    Ok(Answer {
        requests,
        errors,
        p50,
        p99,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderKind, RolloutKey};
    use crate::metrics::templates::BuildTarget;

    #[test]
    fn sites_map_to_their_api_hosts() {
        assert_eq!(site_url("datadoghq.com"), "https://api.datadoghq.com");
        assert_eq!(site_url("app.datadoghq.eu"), "https://api.datadoghq.eu");
        assert_eq!(
            site_url("us3.datadoghq.com"),
            "https://api.us3.datadoghq.com"
        );
        assert_eq!(site_url("http://127.0.0.1:9/"), "http://127.0.0.1:9");
    }

    #[test]
    fn queries_group_by_the_build_tag() {
        let b = |n: &str| BuildTarget {
            name: n.into(),
            labels: [("version".to_string(), format!("{n}-1"))].into(),
        };
        let t = vec![Target {
            key: RolloutKey::new(ProviderKind::Haproxy, "be"),
            builds: vec![b("stable"), b("canary")],
        }];
        let q = DdTemplate::builtin().queries("version", &t);
        assert_eq!(
            q[0],
            "sum:trace.http.request.hits{(version:canary-1 OR version:stable-1)} by {version}.as_count()"
        );
    }

    #[test]
    fn the_documented_shape_parses_and_errors_are_clear() {
        let body = r#"{"status":"ok","res_type":"time_series","query":"q","from_date":0,"to_date":1,
          "series":[{"metric":"trace.http.request.hits","scope":"version:a","tag_set":["version:a"],
          "pointlist":[[1000.0,5.0],[2000.0,null]],"query_index":0,"interval":1},
          {"metric":"trace.http.request","scope":"version:a","tag_set":["version:a"],
          "pointlist":[[1000.0,0.25]],"query_index":3}]}"#;
        let a = parse(200, body, "version", &DdTemplate::builtin()).unwrap();
        assert_eq!(a.requests["a"], vec![(1000, Some(5.0)), (2000, None)]);
        assert_eq!(a.p99["a"], vec![(1000, Some(250.0))]);
        let e = parse(
            403,
            r#"{"errors":["Forbidden"]}"#,
            "version",
            &DdTemplate::builtin(),
        )
        .unwrap_err();
        assert!(e.contains("403") && e.contains("keys"), "{e}");
        let e = parse(200, "garbage", "version", &DdTemplate::builtin()).unwrap_err();
        assert!(e.contains("not the metrics query API's JSON"), "{e}");
    }

    #[test]
    fn template_files_deny_unknown_keys_and_read_the_lookback() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("dd.toml");
        std::fs::write(
            &f,
            "requests = \"a{{filter}}\"\nerrors = \"b{{filter}}\"\nlookback = \"10m\"\n",
        )
        .unwrap();
        let t = DdTemplate::load(&f).unwrap();
        assert_eq!(t.lookback, Duration::from_secs(600));
        std::fs::write(
            &f,
            "requests = \"a{{filter}}\"\nerrors = \"b{{filter}}\"\np90 = \"x\"\n",
        )
        .unwrap();
        let e = DdTemplate::load(&f).unwrap_err();
        assert!(e.starts_with(&format!("{}:3:", f.display())), "{e}");
    }
}
