//! A small Prometheus HTTP API client: `/api/v1/query` for the live refresh and
//! `/api/v1/query_range` to back-fill a chart.
//!
//! Why our own: the answers aviary needs are a handful of vectors keyed by a build label, and
//! the edge cases that matter to a canary decision (an empty vector, `"NaN"`, `"+Inf"`, a 503
//! timeout) must become explicit values or clear messages, never a silent zero. The shapes
//! handled here are the ones captured from Prometheus 2.42 in `tests/fixtures/prometheus/`.

use crate::http_api::{ApiClient, Auth, BodyError, Secret, read_capped};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest answer body read. aviary asks for a handful of series per build; even a
/// cluster-wide range back-fill stays far below this. A bigger answer is a query that
/// matched far more than meant, and reading it whole once cost 2 GB of RAM.
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// Most series (or points of a scalar/string) kept from one answer; more is the same
/// mistake as above in a compact form. The rest are counted, not kept, to name the size.
pub const MAX_SERIES: usize = 5_000;

/// Label set of one series.
pub type Labels = BTreeMap<String, String>;

/// One instant sample. The value is kept as Prometheus said it: `NaN` and `±Inf` survive,
/// and the caller decides what they mean for its signal.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels (`__name__` included when Prometheus sends it).
    pub labels: Labels,
    /// Evaluation timestamp, Unix seconds.
    pub ts: f64,
    /// The value.
    pub value: f64,
}

/// One series of a range result.
#[derive(Clone, Debug, PartialEq)]
pub struct RangeSeries {
    /// The series' labels.
    pub labels: Labels,
    /// `(unix seconds, value)` points, oldest first.
    pub points: Vec<(f64, f64)>,
}

/// The `data` of a successful answer, by `resultType`.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryData {
    /// `vector`: one sample per series (possibly none: "no data").
    Vector(Vec<Sample>),
    /// `matrix`: range queries, or an instant query with a range selector.
    Matrix(Vec<RangeSeries>),
    /// `scalar`: one number.
    Scalar {
        /// Timestamp, Unix seconds.
        ts: f64,
        /// The number.
        value: f64,
    },
    /// `string`: a string literal.
    String {
        /// Timestamp, Unix seconds.
        ts: f64,
        /// The text.
        value: String,
    },
}

/// A successful answer plus the warnings Prometheus attached to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The result.
    pub data: QueryData,
    /// `warnings` (and newer servers' `infos`), shown to the operator, not fatal.
    pub warnings: Vec<String>,
}

impl Answer {
    /// The result as a vector; any other type is an error naming what came back, because a
    /// signal query must return one sample per build.
    pub fn into_vector(self) -> Result<Vec<Sample>, PromError> {
        match self.data {
            QueryData::Vector(v) => Ok(v),
            other => Err(PromError::Shape(format!(
                "expected an instant vector, got {}",
                type_name(&other)
            ))),
        }
    }
}

fn type_name(d: &QueryData) -> &'static str {
    match d {
        QueryData::Vector(_) => "vector",
        QueryData::Matrix(_) => "matrix",
        QueryData::Scalar { .. } => "scalar",
        QueryData::String { .. } => "string",
    }
}

/// Why a query gave no usable answer. The text is what the stale badge and log show.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PromError {
    /// Prometheus answered with `status: error` (400 bad query, 422 execution, 503 timeout…).
    #[error("Prometheus {status} {error_type}: {message}{hint}", hint = hint(*status, error_type))]
    Api {
        /// HTTP status.
        status: u16,
        /// `errorType` (`bad_data`, `execution`, `timeout`, `internal`…).
        error_type: String,
        /// `error` text, verbatim.
        message: String,
    },
    /// Not reachable or no answer in time.
    #[error("Prometheus at {url} is unreachable: {message}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// Transport error.
        message: String,
    },
    /// An answer that is not the Prometheus API envelope (a proxy's error page, say).
    #[error("Prometheus answered HTTP {status} with a body that is not the API's JSON: {snippet}")]
    NotApi {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        snippet: String,
    },
    /// Over [`MAX_ANSWER_BYTES`] or [`MAX_SERIES`]: refused, not parsed.
    #[error("Prometheus answer too large ({0}): narrow the query")]
    TooLarge(String),
    /// A well-formed answer of the wrong shape for the question.
    #[error("Prometheus answer has an unexpected shape: {0}")]
    Shape(String),
}

fn hint(status: u16, error_type: &str) -> &'static str {
    match (status, error_type) {
        (400, _) | (_, "bad_data") => " (the query is invalid: check the query template)",
        (422, _) | (_, "execution") => " (the query could not be evaluated: check the template)",
        (503, _) | (_, "timeout") | (_, "canceled") => {
            " (Prometheus timed out or is overloaded; metrics are stale)"
        }
        _ => "",
    }
}

#[derive(Deserialize)]
struct Envelope {
    status: String,
    #[serde(default)]
    data: Option<RawData>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Items,
}

/// `result` as read: every type's result is a JSON list (of series, or `[ts, value]`), so
/// one capped list reader bounds them all.
enum Items {
    /// At most [`MAX_SERIES`] items.
    List(Vec<Value>),
    /// More than [`MAX_SERIES`]: only the count is kept.
    TooMany(usize),
    /// Not a list.
    Other(&'static str),
}

impl<'de> Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ItemsVisitor)
    }
}

struct ItemsVisitor;

impl<'de> serde::de::Visitor<'de> for ItemsVisitor {
    type Value = Items;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
        let mut items = Vec::new();
        while items.len() < MAX_SERIES {
            match seq.next_element::<Value>()? {
                Some(v) => items.push(v),
                None => return Ok(Items::List(items)),
            }
        }
        if seq.next_element::<serde::de::IgnoredAny>()?.is_none() {
            return Ok(Items::List(items));
        }
        let mut n = items.len() + 1;
        drop(items);
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            n += 1;
        }
        Ok(Items::TooMany(n))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Items, A::Error> {
        while map
            .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Items::Other("an object"))
    }

    fn visit_str<E>(self, _: &str) -> Result<Items, E> {
        Ok(Items::Other("a string"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Items, E> {
        Ok(Items::Other("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Items, E> {
        Ok(Items::Other("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Items, E> {
        Ok(Items::Other("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Items, E> {
        Ok(Items::Other("a number"))
    }
    fn visit_unit<E>(self) -> Result<Items, E> {
        Ok(Items::Other("null"))
    }
}

fn number(v: &Value) -> Result<f64, PromError> {
    match v {
        // Sample values are strings so that NaN and ±Inf survive JSON; Rust's parser
        // accepts "NaN", "+Inf" and "-Inf".
        Value::String(s) => s
            .parse::<f64>()
            .map_err(|_| PromError::Shape(format!("sample value {s:?} is not a number"))),
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| PromError::Shape(format!("bad number {n}"))),
        other => Err(PromError::Shape(format!(
            "sample value {other} is not a number"
        ))),
    }
}

fn pair(v: &Value) -> Result<(f64, f64), PromError> {
    match v.as_array().map(Vec::as_slice) {
        Some([ts, val]) => Ok((number(ts)?, number(val)?)),
        _ => Err(PromError::Shape(format!(
            "expected [ts, \"value\"], got {v}"
        ))),
    }
}

fn labels(v: &Value) -> Labels {
    v.get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn data(raw: RawData) -> Result<QueryData, PromError> {
    let list = match raw.result {
        Items::List(v) => v,
        Items::TooMany(n) => return Err(PromError::TooLarge(format!("{n} series"))),
        Items::Other(what) => {
            return Err(PromError::Shape(format!(
                "{} result is {what}, not a list",
                raw.result_type
            )));
        }
    };
    match raw.result_type.as_str() {
        "vector" => {
            let mut out = Vec::new();
            for s in list {
                let value = s
                    .get("value")
                    .ok_or_else(|| PromError::Shape(format!("vector sample without value: {s}")))?;
                let (ts, value) = pair(value)?;
                out.push(Sample {
                    labels: labels(&s),
                    ts,
                    value,
                });
            }
            Ok(QueryData::Vector(out))
        }
        "matrix" => {
            let mut out = Vec::new();
            for s in list {
                let points = s
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|vs| vs.iter().map(pair).collect::<Result<Vec<_>, _>>())
                    .transpose()?
                    .unwrap_or_default();
                out.push(RangeSeries {
                    labels: labels(&s),
                    points,
                });
            }
            Ok(QueryData::Matrix(out))
        }
        "scalar" => {
            let (ts, value) = pair(&Value::Array(list))?;
            Ok(QueryData::Scalar { ts, value })
        }
        "string" => match list.as_slice() {
            [ts, Value::String(s)] => Ok(QueryData::String {
                ts: number(ts)?,
                value: s.clone(),
            }),
            _ => Err(PromError::Shape(format!(
                "string result {} is not [ts, \"text\"]",
                Value::Array(list)
            ))),
        },
        other => Err(PromError::Shape(format!("unknown resultType {other:?}"))),
    }
}

/// Parses one API response body with its HTTP status into an answer or a clear error.
/// Public so the fixture tests can check every captured body without a server.
pub fn parse_response(status: u16, body: &[u8]) -> Result<Answer, PromError> {
    let env: Envelope = serde_json::from_slice(body).map_err(|_| PromError::NotApi {
        status,
        snippet: String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned(),
    })?;
    if env.status != "success" {
        return Err(PromError::Api {
            status,
            error_type: env.error_type.unwrap_or_else(|| "unknown".into()),
            message: env.error.unwrap_or_else(|| "(no error text)".into()),
        });
    }
    let raw = env
        .data
        .ok_or_else(|| PromError::Shape("success without data".into()))?;
    let mut warnings = env.warnings;
    warnings.extend(env.infos);
    Ok(Answer {
        data: data(raw)?,
        warnings,
    })
}

/// Unix seconds with millisecond precision, as the API's `time`/`start`/`end` take them.
pub fn unix_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// A client for one Prometheus server.
#[derive(Clone, Debug)]
pub struct PromClient {
    api: ApiClient,
    /// One answer body read and parsed at a time per server (clones share it): queries still
    /// go out together, but at most one answer of up to [`MAX_ANSWER_BYTES`] is in memory.
    reading: std::sync::Arc<tokio::sync::Semaphore>,
}

impl PromClient {
    /// A client for `base` (e.g. `http://127.0.0.1:9090`), giving up on a query after
    /// `timeout` so a slow server turns the source stale instead of stalling the refresh.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, PromError> {
        let api = ApiClient::new(base, "Prometheus", timeout).map_err(|message| {
            PromError::Unreachable {
                url: base.trim_end_matches('/').to_string(),
                message,
            }
        })?;
        Ok(PromClient {
            api,
            reading: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    /// Sends `Authorization: Bearer <token>` on every query.
    pub fn with_token(mut self, token: impl Into<Secret>) -> Self {
        self.api = self.api.with_auth(Auth::Bearer(token.into()));
        self
    }

    /// Reads a bearer token from `--prometheus-token-file` (whitespace trimmed).
    pub fn with_token_file(self, path: &Path) -> Result<Self, String> {
        Ok(self.with_token(Secret::from_file(path, "Prometheus token file")?))
    }

    /// The base URL, for messages.
    pub fn url(&self) -> &str {
        self.api.base()
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Answer, PromError> {
        let req = self.api.request(reqwest::Method::GET, path).query(params);
        let unreachable = |e: reqwest::Error| PromError::Unreachable {
            url: self.api.base().to_string(),
            message: if e.is_timeout() {
                "no answer in time".into()
            } else {
                e.to_string()
            },
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status().as_u16();
        let _one_at_a_time = self.reading.acquire().await;
        let body = read_capped(resp, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge(size) => PromError::TooLarge(size),
                BodyError::Transport(e) => unreachable(e),
            })?;
        parse_response(status, &body)
    }

    /// An instant query at the server's now.
    pub async fn query(&self, promql: &str) -> Result<Answer, PromError> {
        self.get("/api/v1/query", &[("query", promql.to_string())])
            .await
    }

    /// An instant query at `at`.
    pub async fn query_at(&self, promql: &str, at: SystemTime) -> Result<Answer, PromError> {
        self.get(
            "/api/v1/query",
            &[("query", promql.to_string()), ("time", unix_seconds(at))],
        )
        .await
    }

    /// A range query; `step` is clamped so the answer stays under Prometheus' limit of
    /// 11,000 points per series (a longer chart gets a coarser step, not an error).
    pub async fn query_range(
        &self,
        promql: &str,
        start: SystemTime,
        end: SystemTime,
        step: Duration,
    ) -> Result<Answer, PromError> {
        let step = clamp_step(start, end, step);
        self.get(
            "/api/v1/query_range",
            &[
                ("query", promql.to_string()),
                ("start", unix_seconds(start)),
                ("end", unix_seconds(end)),
                ("step", format!("{:.3}", step.as_secs_f64())),
            ],
        )
        .await
    }
}

/// The smallest step at or above `step` that keeps `[start, end]` under 11,000 points.
pub fn clamp_step(start: SystemTime, end: SystemTime, step: Duration) -> Duration {
    let span = end.duration_since(start).unwrap_or_default().as_secs_f64();
    let min = span / 10_999.0;
    Duration::from_secs_f64(step.as_secs_f64().max(min).max(0.001))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_inf_strings_parse() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"k":"a"},"value":[1.5,"NaN"]},{"metric":{"k":"b"},"value":[1.5,"+Inf"]},
            {"metric":{"k":"c"},"value":[1.5,"-Inf"]}]}}"#;
        let v = parse_response(200, body).unwrap().into_vector().unwrap();
        assert!(v[0].value.is_nan());
        assert_eq!(v[1].value, f64::INFINITY);
        assert_eq!(v[2].value, f64::NEG_INFINITY);
    }

    #[test]
    fn html_error_pages_are_named_not_decoded() {
        let e = parse_response(502, b"<html>Bad Gateway</html>").unwrap_err();
        assert!(e.to_string().contains("HTTP 502"), "{e}");
    }

    #[test]
    fn too_many_series_are_counted_not_kept() {
        let series = r#"{"metric":{"b":"x"},"value":[1,"1"]}"#;
        let body = |n: usize| {
            format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
                vec![series; n].join(",")
            )
        };
        let ok = parse_response(200, body(MAX_SERIES).as_bytes()).unwrap();
        assert_eq!(ok.into_vector().unwrap().len(), MAX_SERIES);
        let e = parse_response(200, body(MAX_SERIES + 7).as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Prometheus answer too large ({} series): narrow the query",
                MAX_SERIES + 7
            )
        );
        let e = parse_response(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("an object, not a list"), "{e}");
    }

    #[test]
    fn step_is_clamped_to_the_point_limit() {
        let start = UNIX_EPOCH;
        let end = start + Duration::from_secs(30 * 86_400);
        let s = clamp_step(start, end, Duration::from_secs(1));
        assert!(s.as_secs_f64() * 11_000.0 > 30.0 * 86_400.0);
        assert_eq!(
            clamp_step(
                start,
                start + Duration::from_secs(60),
                Duration::from_secs(2)
            ),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn token_never_prints() {
        let c = PromClient::new("http://127.0.0.1:9", Duration::from_secs(1))
            .unwrap()
            .with_token("s3cret");
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
