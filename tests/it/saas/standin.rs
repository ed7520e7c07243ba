//! Local stand-ins for the Dynatrace Metrics API v2 and the Datadog v1 metrics query API,
//! fed by a real HAProxy's own counters, plus both vendors' event intake endpoints.
//!
//! Each stand-in checks the request the way the public reference describes it and refuses
//! anything else (401/403/400 with the vendor's error envelope), then answers in the
//! documented response shape:
//! - Dynatrace: <https://docs.dynatrace.com/docs/dynatrace-api/environment-api/metric-v2/get-data-points>
//!   (`GET /api/v2/metrics/query`, `metricSelector`, `from`, `resolution`; `MetricData` with
//!   `totalCount`, `resolution`, `result[].metricId`, `result[].data[]` of `dimensions`,
//!   `dimensionMap`, `timestamps`, `values`), auth as in
//!   <https://docs.dynatrace.com/docs/shortlink/api-authentication> (`Authorization: Api-Token …`),
//!   and <https://docs.dynatrace.com/docs/shortlink/api-events-v2-post-event>
//!   (`POST /api/v2/events/ingest`, `EventIngest` with `eventType`, `title`, `properties`).
//! - Datadog: <https://docs.datadoghq.com/api/latest/metrics/query-timeseries-points/>
//!   (`GET /api/v1/query`, `from`/`to` in Unix seconds, `query`; `DD-API-KEY` and
//!   `DD-APPLICATION-KEY` headers; `{"status":"ok","series":[{"metric","scope","tag_set",
//!   "pointlist":[[ms,value]],"query_index","interval"}]}`) and
//!   <https://docs.datadoghq.com/api/latest/events/post-an-event/> (`POST /api/v1/events`).
//!
//! Time is compressed so a test sees many buckets in seconds: every `BUCKET` of real time
//! closes one bucket, stamped as one minute of the stand-in's clock (the real APIs' finest
//! resolution). The newest bucket is still filling, as with the real services. Counts come
//! from HAProxy's `show stat` (responses and 5xx per server), so the numbers are real traffic.
#![allow(dead_code)]

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Real time per bucket.
pub const BUCKET: Duration = Duration::from_millis(500);
/// The stand-in's clock: one bucket is a minute.
const BUCKET_MS: i64 = 60_000;
/// Where the stand-in's clock starts (Unix ms).
const T0: i64 = 1_764_633_600_000;

/// Per server: (responses, 5xx) in one bucket.
type Counts = BTreeMap<String, (u64, u64)>;

/// What the stand-in answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The documented success shape.
    Ok,
    /// 401 (Dynatrace) / 403 (Datadog) with the vendor's error body, whatever the credential.
    Unauthorized,
    /// HTTP 200 with a body that is not the API's JSON.
    Garbage,
}

/// One request as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    /// Path.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// Whether the credential was exactly right.
    pub auth_ok: bool,
    /// Why the request was refused, if it was.
    pub refused: Option<String>,
}

#[derive(Default)]
struct Inner {
    /// Closed buckets: per server, (responses, 5xx).
    buckets: Vec<BTreeMap<String, (u64, u64)>>,
    /// Counters at the last bucket edge.
    last: BTreeMap<String, (u64, u64)>,
    seen: Vec<Seen>,
    events: Vec<(HeaderMap, Value)>,
}

/// A running stand-in.
#[derive(Clone)]
pub struct StandIn {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    mode: Arc<Mutex<Mode>>,
    socket: PathBuf,
    secrets: Vec<(&'static str, String)>,
}

/// Which API the stand-in plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// Dynatrace.
    Dynatrace,
    /// Datadog.
    Datadog,
}

/// `show stat` per server of backend `be`: (all responses, 5xx).
fn counters(socket: &PathBuf) -> BTreeMap<String, (u64, u64)> {
    let mut out = BTreeMap::new();
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return out;
    };
    let _ = s.write_all(b"show stat be 4 -1\n");
    let mut csv = String::new();
    let _ = s.read_to_string(&mut csv);
    let mut lines = csv.lines();
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ")
        .split(',')
        .map(str::to_string)
        .collect();
    for l in lines {
        let v: Vec<&str> = l.split(',').collect();
        let get = |name: &str| -> u64 {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| v.get(i))
                .and_then(|x| x.parse().ok())
                .unwrap_or(0)
        };
        let Some(server) = v.get(1) else { continue };
        if *server == "BACKEND" || *server == "FRONTEND" || server.is_empty() {
            continue;
        }
        let all = [
            "hrsp_1xx",
            "hrsp_2xx",
            "hrsp_3xx",
            "hrsp_4xx",
            "hrsp_5xx",
            "hrsp_other",
        ]
        .iter()
        .map(|c| get(c))
        .sum();
        out.insert(server.to_string(), (all, get("hrsp_5xx")));
    }
    out
}

impl StandIn {
    /// Starts the stand-in for `api`, reading HAProxy's admin socket; `secrets` are the
    /// exact header values it accepts (`("Authorization", "Api-Token …")`, or the two
    /// Datadog keys).
    pub async fn start(api: Api, socket: PathBuf, secrets: Vec<(&'static str, String)>) -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let me = StandIn {
            url: format!("http://{}", l.local_addr().unwrap()),
            inner: Default::default(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            socket,
            secrets,
        };
        let rec = me.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(BUCKET);
            loop {
                tick.tick().await;
                let s = rec.socket.clone();
                let now = tokio::task::spawn_blocking(move || counters(&s))
                    .await
                    .unwrap_or_default();
                let mut i = rec.inner.lock().unwrap();
                let mut b = BTreeMap::new();
                for (server, (r, e)) in &now {
                    let (pr, pe) = i.last.get(server).copied().unwrap_or((*r, *e));
                    b.insert(server.clone(), (r.saturating_sub(pr), e.saturating_sub(pe)));
                }
                i.last = now;
                i.buckets.push(b);
            }
        });
        let app = match api {
            Api::Dynatrace => axum::Router::new()
                .route("/api/v2/metrics/query", axum::routing::get(dt_query))
                .route("/api/v2/events/ingest", axum::routing::post(event)),
            Api::Datadog => axum::Router::new()
                .route("/api/v1/query", axum::routing::get(dd_query))
                .route("/api/v1/events", axum::routing::post(event)),
        }
        .with_state(me.clone());
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        me
    }

    /// Changes what the stand-in answers from now on.
    pub fn set_mode(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    /// Every metrics request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }

    /// Every event body posted, with its headers.
    pub fn events(&self) -> Vec<(HeaderMap, Value)> {
        self.inner.lock().unwrap().events.clone()
    }

    fn auth_ok(&self, h: &HeaderMap) -> bool {
        self.secrets
            .iter()
            .all(|(name, v)| h.get(*name).and_then(|x| x.to_str().ok()) == Some(v.as_str()))
    }

    fn record(&self, path: &str, q: &BTreeMap<String, String>, ok: bool, why: Option<String>) {
        self.inner.lock().unwrap().seen.push(Seen {
            path: path.into(),
            query: q.clone(),
            auth_ok: ok,
            refused: why,
        });
    }

    /// The last `n` buckets as `(timestamp, per-server counts)`, the newest one filling
    /// (the delta since the last bucket edge).
    fn window(&self, n: usize) -> Vec<(i64, Counts)> {
        let now = counters(&self.socket);
        let i = self.inner.lock().unwrap();
        let mut filling = BTreeMap::new();
        for (server, (r, e)) in &now {
            let (pr, pe) = i.last.get(server).copied().unwrap_or((*r, *e));
            filling.insert(server.clone(), (r.saturating_sub(pr), e.saturating_sub(pe)));
        }
        let mut all: Vec<Counts> = i.buckets.to_vec();
        all.push(filling);
        let start = all.len().saturating_sub(n);
        all.into_iter()
            .enumerate()
            .skip(start)
            .map(|(k, b)| (T0 + k as i64 * BUCKET_MS, b))
            .collect()
    }
}

fn latency_ms(server: &str) -> f64 {
    if server == "canary" { 25.0 } else { 20.0 }
}

/// Values inside `eq("<dim>","<value>")` of a Dynatrace selector.
fn eq_values(sel: &str) -> Vec<String> {
    sel.split("eq(\"")
        .skip(1)
        .filter_map(|p| {
            let (_, rest) = p.split_once("\",\"")?;
            Some(
                rest.split("\")")
                    .next()?
                    .replace("~\"", "\"")
                    .replace("~~", "~"),
            )
        })
        .collect()
}

/// Splits a comma-separated list at the top level (not inside parentheses or braces).
fn top_level(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out
}

fn valid_resolution(r: &str) -> bool {
    r == "Inf"
        || r.parse::<u32>().is_ok()
        || r.strip_suffix(['m', 'h', 'd', 'w', 'M', 'q', 'y'])
            .is_some_and(|n| n.parse::<u32>().is_ok_and(|n| n > 0))
}

fn valid_from(f: &str) -> bool {
    f.parse::<i64>().is_ok()
        || f.strip_prefix("now-").is_some_and(|d| {
            d.strip_suffix(['s', 'm', 'h', 'd', 'w', 'M', 'q', 'y'])
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
}

async fn dt_query(
    State(s): State<StandIn>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let path = "/api/v2/metrics/query";
    let dt_err = |code: u16, msg: &str| {
        (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"error": {"code": code, "message": msg}})),
        )
            .into_response()
    };
    let mode = *s.mode.lock().unwrap();
    if mode == Mode::Unauthorized || !s.auth_ok(&headers) {
        s.record(path, &q, false, Some("401".into()));
        return dt_err(401, "Token Authentication failed");
    }
    let allowed = [
        "metricSelector",
        "from",
        "to",
        "resolution",
        "entitySelector",
    ];
    let bad = q
        .keys()
        .find(|k| !allowed.contains(&k.as_str()))
        .map(|k| format!("unknown parameter {k}"))
        .or_else(|| (!q.get("from").is_some_and(|f| valid_from(f))).then(|| "bad from".into()))
        .or_else(|| {
            (!q.get("resolution").is_some_and(|r| valid_resolution(r)))
                .then(|| "bad resolution".into())
        });
    let selectors = q
        .get("metricSelector")
        .map(|m| top_level(m))
        .unwrap_or_default();
    let bad = bad.or_else(|| {
        (selectors.is_empty() || selectors.len() > 10).then(|| "1..10 metrics".to_string())
    });
    if let Some(why) = bad {
        s.record(path, &q, true, Some(why.clone()));
        return dt_err(400, &why);
    }
    s.record(path, &q, true, None);
    if mode == Mode::Garbage {
        return (StatusCode::OK, "<html><body>maintenance</body></html>").into_response();
    }
    let window = s.window(5);
    let mut total = 0;
    let result: Vec<Value> = selectors
        .iter()
        .map(|sel| {
            let builds = eq_values(sel);
            let dim = sel
                .split("splitBy(\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("build")
                .to_string();
            let data: Vec<Value> = builds
                .iter()
                .filter(|b| window.iter().any(|(_, w)| w.contains_key(*b)))
                .map(|b| {
                    let values: Vec<Value> = window
                        .iter()
                        .map(|(_, w)| {
                            let (r, e) = w.get(b).copied().unwrap_or((0, 0));
                            if sel.contains("aviary_failed_requests") {
                                json!(e)
                            } else if sel.contains("aviary_requests") {
                                json!(r)
                            } else if r == 0 {
                                Value::Null
                            } else {
                                // Response time in microseconds.
                                json!(latency_ms(b) * 1000.0)
                            }
                        })
                        .collect();
                    total += 1;
                    json!({
                        "dimensions": [b],
                        "dimensionMap": {dim.clone(): b},
                        "timestamps": window.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
                        "values": values,
                    })
                })
                .collect();
            json!({"metricId": sel, "data": data})
        })
        .collect();
    axum::Json(json!({
        "totalCount": total,
        "nextPageKey": null,
        "resolution": "1m",
        "result": result,
    }))
    .into_response()
}

async fn dd_query(
    State(s): State<StandIn>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let path = "/api/v1/query";
    let dd_err = |code: u16, msg: &str| {
        (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(json!({"errors": [msg]})),
        )
            .into_response()
    };
    let mode = *s.mode.lock().unwrap();
    if mode == Mode::Unauthorized || !s.auth_ok(&headers) {
        s.record(path, &q, false, Some("403".into()));
        return dd_err(403, "Forbidden");
    }
    let secs = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok());
    let bad = q
        .keys()
        .find(|k| !["from", "to", "query"].contains(&k.as_str()))
        .map(|k| format!("unknown parameter {k}"))
        .or_else(|| match (secs("from"), secs("to")) {
            (Some(f), Some(t)) if f < t && t > 1_600_000_000 && t < 4_000_000_000 => None,
            _ => Some("from and to must be Unix seconds, from before to".into()),
        })
        .or_else(|| (!q.contains_key("query")).then(|| "query is required".into()));
    if let Some(why) = bad {
        s.record(path, &q, true, Some(why.clone()));
        return dd_err(400, &why);
    }
    s.record(path, &q, true, None);
    if mode == Mode::Garbage {
        return (StatusCode::OK, "upstream connect error or disconnect/reset").into_response();
    }
    let window = s.window(5);
    let queries = top_level(&q["query"]);
    let mut series = Vec::new();
    for (i, query) in queries.iter().enumerate() {
        let scope = query
            .split('{')
            .nth(1)
            .and_then(|r| r.split('}').next())
            .unwrap_or("");
        let tag = query
            .split(" by {")
            .nth(1)
            .and_then(|r| r.split('}').next())
            .unwrap_or("version");
        let builds: Vec<String> = scope
            .split([' ', '(', ')'])
            .filter_map(|t| t.strip_prefix(&format!("{tag}:")).map(str::to_string))
            .collect();
        for b in builds {
            if !window.iter().any(|(_, w)| w.contains_key(&b)) {
                continue;
            }
            let pointlist: Vec<Value> = window
                .iter()
                .map(|(t, w)| {
                    let (r, e) = w.get(&b).copied().unwrap_or((0, 0));
                    let v = if query.contains(".errors{") {
                        json!(e as f64)
                    } else if query.contains(".hits{") {
                        json!(r as f64)
                    } else if r == 0 {
                        Value::Null
                    } else {
                        json!(latency_ms(&b) / 1000.0)
                    };
                    json!([*t as f64, v])
                })
                .collect();
            let metric = query
                .split(':')
                .nth(1)
                .and_then(|m| m.split('{').next())
                .unwrap_or("")
                .to_string();
            series.push(json!({
                "metric": metric,
                "display_name": metric,
                "scope": format!("{tag}:{b}"),
                "tag_set": [format!("{tag}:{b}")],
                "expression": query,
                "pointlist": pointlist,
                "query_index": i,
                "interval": 60,
                "length": window.len(),
                "aggr": query.split(':').next(),
            }));
        }
    }
    axum::Json(json!({
        "status": "ok",
        "res_type": "time_series",
        "query": q["query"],
        "from_date": secs("from").unwrap_or(0) * 1000,
        "to_date": secs("to").unwrap_or(0) * 1000,
        "group_by": ["version"],
        "message": "",
        "series": series,
    }))
    .into_response()
}

async fn event(State(s): State<StandIn>, headers: HeaderMap, body: axum::body::Bytes) -> Response {
    // The events APIs take only the first credential (token or API key).
    let Some((name, v)) = s.secrets.first() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if headers.get(*name).and_then(|x| x.to_str().ok()) != Some(v.as_str()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    s.inner.lock().unwrap().events.push((headers, v));
    (StatusCode::CREATED, axum::Json(json!({"status": "ok"}))).into_response()
}
