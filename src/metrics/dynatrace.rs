//! Dynatrace as a metrics source: the Metrics API v2 query endpoint,
//! `GET {URL}/api/v2/metrics/query?metricSelector=…&from=…&resolution=…` with
//! `Authorization: Api-Token <token>` (a token with the `metrics.read` scope).
//!
//! Dynatrace answers **per-interval** values: one data point per `resolution` bucket (a
//! request count per minute, not a running total), so [`super::source::Buckets`] counts each
//! completed bucket once. All four signals go in one request (the selector takes up to ten
//! comma-separated metrics), which keeps a refresh inside the API's request budget.
//!
//! Why a template: Dynatrace's built-in service metrics split by service, not by build, so
//! per-build numbers come from calculated service metrics split by a request attribute
//! holding the build version (or whatever metrics a team already has). The template names
//! them; `{dimension}` is the build dimension's key and `{filter}` selects the visible builds.

use super::source::{Answer, BySeries, Points, snippet};
use super::templates::Target;
use crate::http_api::{ApiClient, Auth, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// The default build dimension: a request attribute named `build`.
pub const DEFAULT_DIMENSION: &str = "build";

/// Metric selectors for the four signals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DtTemplate {
    /// Requests per bucket, split by the build dimension.
    pub requests: String,
    /// Failed requests per bucket; no series for a build means no failures.
    pub errors: String,
    /// Typical latency per bucket.
    #[serde(default)]
    pub p50: Option<String>,
    /// 99th percentile latency per bucket.
    #[serde(default)]
    pub p99: Option<String>,
    /// Multiply latency answers by this to get ms (Dynatrace reports microseconds).
    #[serde(default = "micros")]
    pub latency_to_ms: f64,
    /// The `resolution` parameter: bucket width (Dynatrace's finest is `1m`).
    #[serde(default = "one_minute")]
    pub resolution: String,
    /// The `from` parameter: how far back each refresh reads (a few buckets).
    #[serde(default = "five_minutes_ago")]
    pub from: String,
}

fn micros() -> f64 {
    0.001
}

fn one_minute() -> String {
    "1m".into()
}

fn five_minutes_ago() -> String {
    "now-5m".into()
}

impl DtTemplate {
    /// Calculated service metrics `calc:service.aviary_requests`,
    /// `calc:service.aviary_failed_requests` and `calc:service.aviary_response_time`, each
    /// split by the build dimension (README: Dynatrace).
    pub fn builtin() -> DtTemplate {
        let sel = |metric: &str, agg: &str| {
            format!("calc:service.{metric}:filter({{filter}}):splitBy(\"{{dimension}}\"):{agg}")
        };
        DtTemplate {
            requests: sel("aviary_requests", "sum"),
            errors: sel("aviary_failed_requests", "sum"),
            p50: Some(sel("aviary_response_time", "percentile(50)")),
            p99: Some(sel("aviary_response_time", "percentile(99)")),
            latency_to_ms: micros(),
            resolution: one_minute(),
            from: five_minutes_ago(),
        }
    }

    /// Reads a template from TOML (unknown keys are errors, which name file and line).
    pub fn load(path: &Path) -> Result<DtTemplate, String> {
        let (t, _): (DtTemplate, _) = crate::toml_file::load(path).map_err(|e| e.to_string())?;
        for (name, q) in [("requests", &t.requests), ("errors", &t.errors)] {
            if !q.contains("{filter}") {
                return Err(format!(
                    "{}: the {name} selector has no {{filter}}, so it cannot select the builds",
                    path.display()
                ));
            }
        }
        Ok(t)
    }

    /// The selectors for one refresh, in signal order (requests, errors, p50, p99).
    pub fn selectors(&self, dimension: &str, targets: &[Target]) -> Vec<String> {
        let filter = filter(dimension, targets);
        [
            Some(&self.requests),
            Some(&self.errors),
            self.p50.as_ref(),
            self.p99.as_ref(),
        ]
        .into_iter()
        .flatten()
        .map(|q| {
            q.replace("{filter}", &filter)
                .replace("{dimension}", &quote_inner(dimension))
        })
        .collect()
    }
}

/// A string inside a selector's quotes: `~` and `"` are escaped with `~`.
fn quote_inner(v: &str) -> String {
    v.replace('~', "~~").replace('"', "~\"")
}

/// `eq("build","v1")`, or `or(eq(…),eq(…))` for several builds.
pub fn filter(dimension: &str, targets: &[Target]) -> String {
    let mut values: Vec<&str> = targets
        .iter()
        .flat_map(|t| &t.builds)
        .filter_map(|b| b.labels.get(dimension).map(String::as_str))
        .collect();
    values.sort_unstable();
    values.dedup();
    let eqs: Vec<String> = values
        .iter()
        .map(|v| format!("eq(\"{}\",\"{}\")", quote_inner(dimension), quote_inner(v)))
        .collect();
    match eqs.len() {
        1 => eqs[0].clone(),
        _ => format!("or({})", eqs.join(",")),
    }
}

/// The documented answer: `{"totalCount","resolution","result":[{"metricId","data":[…]}]}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricData {
    #[serde(default)]
    #[allow(dead_code)]
    total_count: Option<u64>,
    #[serde(default)]
    #[allow(dead_code)]
    resolution: Option<String>,
    result: Vec<Collection>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Collection {
    metric_id: String,
    data: Vec<Series>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series {
    #[serde(default)]
    dimension_map: BTreeMap<String, String>,
    timestamps: Vec<i64>,
    values: Vec<Option<f64>>,
}

/// The documented error envelope: `{"error":{"code":401,"message":"…"}}`.
#[derive(Debug, Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    message: String,
}

/// A Dynatrace environment, its token and the template to ask it with.
#[derive(Clone, Debug)]
pub struct DtClient {
    api: ApiClient,
    template: DtTemplate,
    dimension: String,
}

impl DtClient {
    /// A client for the environment at `url` (`https://{id}.live.dynatrace.com`, or an
    /// ActiveGate's `…/e/{id}`).
    pub fn new(
        url: &str,
        token: Secret,
        template: DtTemplate,
        dimension: &str,
        timeout: Duration,
    ) -> Result<Self, String> {
        let api =
            ApiClient::new(url, "Dynatrace", timeout)?.with_auth(Auth::Scheme("Api-Token", token));
        Ok(DtClient {
            api,
            template,
            dimension: dimension.to_string(),
        })
    }

    /// The environment URL (never carries the token).
    pub fn url(&self) -> &str {
        self.api.base()
    }

    /// The build dimension's key.
    pub fn dimension(&self) -> &str {
        &self.dimension
    }

    /// One refresh of every signal for `targets`.
    pub async fn read(&self, targets: &[Target]) -> Result<Answer, String> {
        let selectors = self.template.selectors(&self.dimension, targets);
        let r = self
            .api
            .request(reqwest::Method::GET, "/api/v2/metrics/query")
            .query(&[
                ("metricSelector", selectors.join(",")),
                ("from", self.template.from.clone()),
                ("resolution", self.template.resolution.clone()),
            ])
            .send()
            .await
            .map_err(|e| {
                format!(
                    "Dynatrace at {} is unreachable: {}",
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
                    format!("Dynatrace answer too large ({size}): narrow the query")
                }
                crate::http_api::BodyError::Transport(e) => {
                    format!("Dynatrace answer cut short: {}", e.without_url())
                }
            })?;
        let body = String::from_utf8_lossy(&body);
        parse(status, &body, &self.dimension, &self.template)
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 => " (the API token is missing, wrong or expired)",
        403 => " (the API token lacks the metrics.read scope)",
        400 => " (a selector is invalid: check the Dynatrace template)",
        429 => " (rate limited: raise --refresh)",
        _ => "",
    }
}

/// Turns an answer into per-signal series (public for the fixture tests).
pub fn parse(
    status: u16,
    body: &str,
    dimension: &str,
    template: &DtTemplate,
) -> Result<Answer, String> {
    if status != 200 {
        return Err(match serde_json::from_str::<ErrorEnvelope>(body) {
            Ok(e) => format!(
                "Dynatrace {}: {}{}",
                e.error.code.unwrap_or(status),
                e.error.message,
                hint(status)
            ),
            Err(_) => format!(
                "Dynatrace answered HTTP {status} with a body that is not the API's JSON{}: {}",
                hint(status),
                snippet(body)
            ),
        });
    }
    let data: MetricData = serde_json::from_str(body).map_err(|e| {
        format!(
            "Dynatrace answer is not the Metrics API's JSON ({e}): {}",
            snippet(body)
        )
    })?;
    let wanted = 2 + usize::from(template.p50.is_some()) + usize::from(template.p99.is_some());
    if data.result.len() != wanted {
        return Err(format!(
            "Dynatrace answered {} metrics for {wanted} selectors",
            data.result.len()
        ));
    }
    let mut it = data.result.into_iter();
    let mut next = |scale: f64| -> Result<BySeries, String> {
        match it.next() {
            Some(c) => series(c, dimension, scale),
            None => Ok(BySeries::new()),
        }
    };
    let requests = next(1.0)?;
    let errors = next(1.0)?;
    let p50 = match template.p50 {
        Some(_) => next(template.latency_to_ms)?,
        None => BySeries::new(),
    };
    let p99 = match template.p99 {
        Some(_) => next(template.latency_to_ms)?,
        None => BySeries::new(),
    };
    Ok(Answer {
        requests,
        errors,
        p50,
        p99,
    })
}

fn series(c: Collection, dimension: &str, scale: f64) -> Result<BySeries, String> {
    let mut out = BySeries::new();
    for s in c.data {
        if s.timestamps.len() != s.values.len() {
            return Err(format!(
                "Dynatrace {}: {} timestamps for {} values",
                c.metric_id,
                s.timestamps.len(),
                s.values.len()
            ));
        }
        let Some(build) = s.dimension_map.get(dimension) else {
            continue;
        };
        let points: Points = s
            .timestamps
            .into_iter()
            .zip(s.values.into_iter().map(|v| v.map(|v| v * scale)))
            .collect();
        out.entry(build.clone()).or_default().extend(points);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ProviderKind, RolloutKey};
    use crate::metrics::templates::BuildTarget;

    fn targets() -> Vec<Target> {
        let b = |n: &str, v: &str| BuildTarget {
            name: n.into(),
            labels: [("build".to_string(), v.to_string())].into(),
        };
        vec![Target {
            key: RolloutKey::new(ProviderKind::Haproxy, "be"),
            builds: vec![b("stable", "1.4.0"), b("canary", "1.5.0-\"rc\"")],
        }]
    }

    #[test]
    fn selectors_filter_and_split_by_the_build_dimension() {
        let s = DtTemplate::builtin().selectors("build", &targets());
        assert_eq!(
            s[0],
            r#"calc:service.aviary_requests:filter(or(eq("build","1.4.0"),eq("build","1.5.0-~"rc~""))):splitBy("build"):sum"#
        );
        assert!(s[3].ends_with(":percentile(99)"), "{}", s[3]);
    }

    #[test]
    fn the_documented_shape_parses_and_errors_are_clear() {
        let body = r#"{"totalCount":2,"nextPageKey":null,"resolution":"1m","result":[
          {"metricId":"a","data":[{"dimensions":["1.4.0"],"dimensionMap":{"build":"1.4.0"},"timestamps":[1,2],"values":[3,null]}]},
          {"metricId":"b","data":[]},
          {"metricId":"c","data":[{"dimensions":["1.4.0"],"dimensionMap":{"build":"1.4.0"},"timestamps":[1],"values":[250000]}]},
          {"metricId":"d","data":[]}]}"#;
        let a = parse(200, body, "build", &DtTemplate::builtin()).unwrap();
        assert_eq!(a.requests["1.4.0"], vec![(1, Some(3.0)), (2, None)]);
        assert_eq!(a.p50["1.4.0"], vec![(1, Some(250.0))]);
        let e = parse(
            401,
            r#"{"error":{"code":401,"message":"Missing authorization parameter."}}"#,
            "build",
            &DtTemplate::builtin(),
        )
        .unwrap_err();
        assert!(e.contains("401") && e.contains("token"), "{e}");
        let e = parse(200, "<html>oops</html>", "build", &DtTemplate::builtin()).unwrap_err();
        assert!(e.contains("not the Metrics API's JSON"), "{e}");
    }

    #[test]
    fn template_files_deny_unknown_keys_and_need_a_filter() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("dt.toml");
        std::fs::write(&f, "requests = \"a:filter({filter})\"\nerors = \"b\"\n").unwrap();
        let e = DtTemplate::load(&f).unwrap_err();
        assert!(e.starts_with(&format!("{}:2:", f.display())), "{e}");
        std::fs::write(&f, "requests = \"a\"\nerrors = \"b:filter({filter})\"\n").unwrap();
        assert!(DtTemplate::load(&f).unwrap_err().contains("no {filter}"));
        std::fs::write(
            &f,
            "requests = \"a:filter({filter})\"\nerrors = \"b:filter({filter})\"\n",
        )
        .unwrap();
        let t = DtTemplate::load(&f).unwrap();
        assert_eq!((t.resolution.as_str(), t.from.as_str()), ("1m", "now-5m"));
        assert!(t.p99.is_none());
    }
}
