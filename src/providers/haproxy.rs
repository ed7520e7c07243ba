//! HAProxy through its runtime API (the admin `stats socket`, unix path or `host:port`).
//!
//! HAProxy has no controller and no compare-and-set, so aviary's autopilot owns the plan:
//! a write is `set server <backend>/<server> weight N` (absolute, 0..=256, via
//! [`rules::haproxy`]) followed by a read-back with `get weight`. Runtime weights are lost on
//! a reload or restart, so the provider re-reads them every refresh and says so when they no
//! longer match what aviary set. Without `--prometheus`, per-server metrics come from
//! `show stat` counter deltas, so HAProxy mode needs nothing else.

use super::{Router, RouterError};
use crate::domain::change::{RouterChange, WriteOk, WriteRequest};
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::domain::weight::{haproxy_rounding_note, rules};
use crate::domain::{Build, Owner, Phase, ProviderKind, Role, Rollout, RolloutKey, Weight};
use crate::metrics::poller::{Deltas, Totals};
use crate::metrics::templates::{BuildTarget, Target};
use crate::msg::{Msg, ProviderEvent};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, mpsc};
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Where the runtime API listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiAddr {
    /// A unix socket path (`stats socket /run/haproxy/admin.sock level admin`).
    Unix(PathBuf),
    /// A TCP address (`stats socket ipv4@127.0.0.1:9999 level admin`).
    Tcp(String),
}

impl ApiAddr {
    /// `HOST:PORT` (a port after the last colon, no slash) is TCP; anything else is a path.
    pub fn parse(text: &str) -> ApiAddr {
        let tcp = !text.contains('/')
            && text
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if tcp {
            ApiAddr::Tcp(text.to_string())
        } else {
            ApiAddr::Unix(PathBuf::from(text))
        }
    }
}

impl std::fmt::Display for ApiAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiAddr::Unix(p) => write!(f, "{}", p.display()),
            ApiAddr::Tcp(a) => f.write_str(a),
        }
    }
}

/// A runtime API client: one connection per command line, as HAProxy's non-interactive mode
/// answers one line and closes.
#[derive(Clone, Debug)]
pub struct HaproxyClient {
    addr: ApiAddr,
    timeout: Duration,
}

impl HaproxyClient {
    /// A client for `addr`; each command gives up after 3 s.
    pub fn new(addr: ApiAddr) -> Self {
        HaproxyClient {
            addr,
            timeout: Duration::from_secs(3),
        }
    }

    /// The socket, for messages.
    pub fn addr(&self) -> &ApiAddr {
        &self.addr
    }

    /// Sends one command line (several commands may be joined with `;`) and returns the
    /// whole reply.
    pub async fn command(&self, line: &str) -> Result<String, String> {
        let fut = async {
            let mut buf = Vec::new();
            match &self.addr {
                ApiAddr::Unix(p) => {
                    let mut s = tokio::net::UnixStream::connect(p).await?;
                    s.write_all(format!("{line}\n").as_bytes()).await?;
                    s.read_to_end(&mut buf).await?;
                }
                ApiAddr::Tcp(a) => {
                    let mut s = tokio::net::TcpStream::connect(a).await?;
                    s.write_all(format!("{line}\n").as_bytes()).await?;
                    s.read_to_end(&mut buf).await?;
                }
            }
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&buf).into_owned())
        };
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
                "HAProxy runtime API socket {} does not exist",
                self.addr
            )),
            Ok(Err(e)) => Err(format!("HAProxy runtime API {}: {e}", self.addr)),
            Err(_) => Err(format!(
                "HAProxy runtime API {} did not answer within {}s",
                self.addr,
                self.timeout.as_secs()
            )),
        }
    }

    /// `get weight <backend>/<server>` for each server in one round trip: current weights.
    pub async fn weights(&self, backend: &str, servers: &[&str]) -> Result<Vec<u16>, String> {
        let line: Vec<String> = servers
            .iter()
            .map(|s| format!("get weight {backend}/{s}"))
            .collect();
        let reply = self.command(&line.join("; ")).await?;
        let answers: Vec<&str> = reply.lines().filter(|l| !l.trim().is_empty()).collect();
        if answers.len() != servers.len() {
            return Err(format!(
                "HAProxy answered {:?} to {:?}",
                reply.trim(),
                line.join("; ")
            ));
        }
        servers
            .iter()
            .zip(answers)
            .map(|(s, a)| parse_weight(a).ok_or_else(|| name_error(a, backend, s)))
            .collect()
    }

    /// `show stat <backend> 4 -1`: the backend's server rows, keyed by server name.
    pub async fn server_stats(
        &self,
        backend: &str,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
        self.stats(backend, 4).await
    }

    /// `show stat <backend> <type mask> -1` (1 frontend, 2 backend, 4 servers), keyed by
    /// `svname` (`BACKEND` for the backend row).
    pub async fn stats(
        &self,
        backend: &str,
        mask: u8,
    ) -> Result<BTreeMap<String, BTreeMap<String, String>>, String> {
        let reply = self
            .command(&format!("show stat {backend} {mask} -1"))
            .await?;
        if !reply.starts_with('#') {
            return Err(name_error(reply.trim(), backend, ""));
        }
        Ok(parse_stat(&reply))
    }
}

/// `30 (initial 0)` → 30.
fn parse_weight(line: &str) -> Option<u16> {
    line.split_whitespace().next()?.parse().ok()
}

/// Turns HAProxy's terse refusals into messages naming what it does not know.
fn name_error(reply: &str, backend: &str, server: &str) -> String {
    match reply.trim() {
        "No such backend." | "No such proxy." => {
            format!("HAProxy has no backend named {backend:?}")
        }
        "No such server." => format!("HAProxy backend {backend:?} has no server named {server:?}"),
        other => format!("HAProxy refused: {other}"),
    }
}

/// Parses `show stat` CSV (header line `# pxname,svname,...`) into rows keyed by `svname`.
pub fn parse_stat(csv: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return BTreeMap::new();
    };
    let cols: Vec<&str> = header.trim_start_matches('#').trim().split(',').collect();
    let mut out = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row: BTreeMap<String, String> = cols
            .iter()
            .zip(line.split(','))
            .map(|(c, v)| (c.to_string(), v.to_string()))
            .collect();
        if let Some(name) = row.get("svname").cloned() {
            out.insert(name, row);
        }
    }
    out
}

/// Cumulative counters of one server row: responses of every class, 5xx, and `rtime` (the
/// average response time over the last 1024 requests, in ms; HAProxy has no percentiles).
pub fn row_totals(row: &BTreeMap<String, String>) -> Totals {
    let num = |k: &str| row.get(k).and_then(|v| v.parse::<f64>().ok());
    let classes = [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ];
    Totals {
        requests: classes.iter().filter_map(|c| num(c)).sum(),
        errors: num("hrsp_5xx"),
        p50_ms: num("rtime"),
        p99_ms: None,
    }
}

/// Servers that are not taking traffic, in words (`canary DOWN (L4CON)`), or `None` when
/// all are up or unchecked. A canary that is down gets no traffic, so the autopilot can only
/// hold; the operator should see why.
pub fn health(
    rows: &BTreeMap<String, BTreeMap<String, String>>,
    servers: &[&str],
) -> Option<String> {
    let bad: Vec<String> = servers
        .iter()
        .filter_map(|s| {
            let row = rows.get(*s)?;
            let status = row.get("status").map(String::as_str).unwrap_or("");
            if status.starts_with("UP") || status == "no check" || status.is_empty() {
                return None;
            }
            let check = row
                .get("check_status")
                .filter(|c| !c.is_empty())
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            Some(format!("{s} {status}{check}"))
        })
        .collect();
    (!bad.is_empty()).then(|| format!("{}: it takes no traffic", bad.join(", ")))
}

/// What aviary asked HAProxy for last, so a later read-back can tell a reload apart.
#[derive(Clone, Copy, Debug, PartialEq)]
struct LastSet {
    stable: u16,
    canary: u16,
    weight: Weight,
}

/// One HAProxy backend with a stable and a canary server.
#[derive(Debug)]
pub struct Haproxy {
    /// Runtime API.
    pub client: HaproxyClient,
    /// Backend name.
    pub backend: String,
    /// Stable server name.
    pub stable: String,
    /// Canary server name.
    pub canary: String,
    // Held across a write and its read-back, and across each refresh's read, so the two
    // never interleave; also remembers what aviary set.
    last: Mutex<Option<LastSet>>,
}

/// The canary's share for a pair of absolute weights (both 0 means no traffic at all:
/// reported as 0 % canary).
pub fn share(stable: u16, canary: u16) -> Weight {
    Weight::share(f64::from(canary), f64::from(stable) + f64::from(canary)).unwrap_or(Weight::ZERO)
}

impl Haproxy {
    /// Checks that the socket answers and knows the backend and both servers; returns the
    /// current `(stable, canary)` weights. Unless `read_only`, also writes the current
    /// weights back unchanged, so a socket without `level admin` or a backend whose balance
    /// algorithm ignores weights (`static-rr`) is refused now, not half-way through a plan.
    /// Run before the TUI starts.
    pub async fn connect(
        client: HaproxyClient,
        backend: &str,
        stable: &str,
        canary: &str,
        read_only: bool,
    ) -> Result<(Arc<Haproxy>, (u16, u16)), String> {
        if let ApiAddr::Unix(p) = client.addr()
            && !p.exists()
        {
            return Err(format!(
                "HAProxy runtime API socket {} does not exist (check `stats socket` in haproxy.cfg)",
                p.display()
            ));
        }
        let w = client.weights(backend, &[stable, canary]).await?;
        if !read_only {
            // `static-rr` accepts only 0 % / 100 % at run time (COMPONENTS §2).
            let algo = client
                .stats(backend, 2)
                .await?
                .get("BACKEND")
                .and_then(|r| r.get("algo").cloned())
                .unwrap_or_default();
            if algo == "static-rr" {
                return Err(format!(
                    "HAProxy backend {backend:?} uses `balance static-rr`, which ignores weight changes; use roundrobin (or leastconn/random)"
                ));
            }
            let line = format!(
                "set server {backend}/{stable} weight {}; set server {backend}/{canary} weight {}",
                w[0], w[1]
            );
            let reply = client.command(&line).await?;
            let mut refusal: Vec<&str> = reply.lines().filter(|l| !l.trim().is_empty()).collect();
            refusal.dedup();
            if !refusal.is_empty() {
                return Err(format!(
                    "HAProxy refuses weight changes on backend {backend:?}: {} (aviary needs a `level admin` socket and a weight-aware balance such as roundrobin)",
                    refusal.join(" / ")
                ));
            }
        }
        let hp = Haproxy {
            client,
            backend: backend.into(),
            stable: stable.into(),
            canary: canary.into(),
            last: Mutex::new(None),
        };
        Ok((Arc::new(hp), (w[0], w[1])))
    }

    /// The rollout key: `haproxy:<backend>`.
    pub fn key(&self) -> RolloutKey {
        RolloutKey::new(ProviderKind::Haproxy, &self.backend)
    }

    /// The metrics targets: label values of HAProxy's exporter (`proxy`, `server`).
    pub fn target(&self) -> Target {
        let b = |s: &str| BuildTarget {
            name: s.to_string(),
            labels: [
                ("proxy".to_string(), self.backend.clone()),
                ("server".to_string(), s.to_string()),
            ]
            .into(),
        };
        Target {
            key: self.key(),
            builds: vec![b(&self.stable), b(&self.canary)],
        }
    }

    /// The rollout as read now, with the weights given.
    pub fn rollout(&self, weight: Weight) -> Rollout {
        let build = |role, name: &str, w| Build {
            role,
            name: name.to_string(),
            version: None,
            weight: w,
            selector: name.to_string(),
        };
        let mut r = Rollout::new(
            self.key(),
            Owner::Autopilot,
            vec![
                build(Role::Stable, &self.stable, weight.complement()),
                build(Role::Canary, &self.canary, weight),
            ],
        );
        r.phase = Phase::Progressing;
        r.phase_text = "Progressing".into();
        r.router = format!("HAProxy {} backend {}", self.client.addr(), self.backend);
        r
    }

    async fn read_pair(&self) -> Result<(u16, u16), String> {
        let w = self
            .client
            .weights(&self.backend, &[&self.stable, &self.canary])
            .await?;
        Ok((w[0], w[1]))
    }
}

/// The write side, registered with the executor for [`ProviderKind::Haproxy`].
pub struct HaproxyRouter(pub Arc<Haproxy>);

#[async_trait]
impl Router for HaproxyRouter {
    async fn apply(&self, req: &WriteRequest) -> Result<WriteOk, RouterError> {
        let RouterChange::CanaryWeight(w) = &req.change else {
            return Err(RouterError::Refused(
                "HAProxy has no controller; only weights can be set".into(),
            ));
        };
        let hp = &self.0;
        let (s, c, rounded) = rules::haproxy(*w);
        let mut last = hp.last.lock().await;
        // Canary first: every intermediate state lies between the old and the new share, and
        // an abort cuts the canary off with the first command.
        let line = format!(
            "set server {b}/{cn} weight {c}; set server {b}/{sn} weight {s}",
            b = hp.backend,
            cn = hp.canary,
            sn = hp.stable
        );
        let reply = hp
            .client
            .command(&line)
            .await
            .map_err(RouterError::Failed)?;
        let mut refusal: Vec<&str> = reply.lines().filter(|l| !l.trim().is_empty()).collect();
        refusal.dedup();
        let (rs, rc) = hp.read_pair().await.map_err(|e| {
            RouterError::Failed(format!("{e}; the weights after the write are unknown"))
        })?;
        if !refusal.is_empty() {
            return Err(RouterError::Failed(format!(
                "HAProxy refused: {}; read back stable {rs}, canary {rc}",
                refusal.join(" / ")
            )));
        }
        *last = Some(LastSet {
            stable: s,
            canary: c,
            weight: *w,
        });
        let mut notes = Vec::new();
        if rounded {
            notes.push(haproxy_rounding_note(c));
        }
        let canary_weight = if (rs, rc) == (s, c) {
            *w
        } else {
            notes.push(format!(
                "read back stable {rs}, canary {rc}, not {s}/{c}: someone else changed it"
            ));
            share(rs, rc)
        };
        Ok(WriteOk {
            canary_weight: Some(canary_weight),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
            version: None,
        })
    }
}

/// The provider task's options.
pub struct Watch {
    /// The backend.
    pub haproxy: Arc<Haproxy>,
    /// Weights read at startup.
    pub initial: (u16, u16),
    /// Re-read (and, with `stats`, measure) this often.
    pub refresh: Duration,
    /// Measure from `show stat` (no `--prometheus`).
    pub stats: bool,
    /// Source id for staleness.
    pub source: SourceId,
}

/// Announces the rollout, then re-reads weights every refresh: an upsert when they change,
/// an `Info` naming the difference when they no longer match what aviary set (a reload
/// resets runtime weights). With `stats`, also sends `show stat` counter deltas.
pub async fn run(w: Watch, tx: mpsc::Sender<Msg>, cancel: CancellationToken) {
    let hp = w.haproxy.clone();
    let mut shown = share(w.initial.0, w.initial.1);
    let first = ProviderEvent::Upsert {
        source: w.source.clone(),
        rollout: Box::new(hp.rollout(shown)),
    };
    if tx.send(Msg::Provider(first)).await.is_err() {
        return;
    }
    let mut deltas = Deltas::default();
    let mut drift_said: Option<(u16, u16)> = None;
    let mut health_said: Option<String> = None;
    let mut tick = tokio::time::interval(w.refresh);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut msgs = Vec::new();
        {
            // Read and report under the write lock, so a read taken before a write can never
            // arrive after that write's result and undo it on screen.
            let last = hp.last.lock().await;
            match hp.read_pair().await {
                Err(error) => msgs.push(Msg::SourceError {
                    source: w.source.clone(),
                    error,
                }),
                Ok((s, c)) => {
                    let (weight, drift) = match *last {
                        Some(l) if (l.stable, l.canary) == (s, c) => (l.weight, None),
                        Some(l) => (share(s, c), Some(l)),
                        None => (share(s, c), None),
                    };
                    if drift.is_none() {
                        drift_said = None;
                    }
                    let new_drift = drift.filter(|_| drift_said != Some((s, c)));
                    if let Some(l) = new_drift {
                        drift_said = Some((s, c));
                        msgs.push(Msg::Provider(ProviderEvent::Info {
                            source: w.source.clone(),
                            message: format!(
                                "HAProxy {}: weights read back as stable {s}, canary {c}, but aviary set {}/{}; runtime weights are lost when HAProxy reloads",
                                hp.backend, l.stable, l.canary
                            ),
                        }));
                    }
                    // A write changes the app's weight without this task sending it, so a
                    // drift right after a write must be sent even if `shown` looks equal.
                    if weight != shown || new_drift.is_some() {
                        shown = weight;
                        msgs.push(Msg::Provider(ProviderEvent::Upsert {
                            source: w.source.clone(),
                            rollout: Box::new(hp.rollout(weight)),
                        }));
                    }
                }
            }
            for m in msgs.drain(..) {
                if tx.send(m).await.is_err() {
                    return;
                }
            }
            drop(last);
        }
        match hp.client.server_stats(&hp.backend).await {
            Ok(rows) => {
                let health = health(&rows, &[&hp.stable, &hp.canary]);
                if health != health_said {
                    let message = match &health {
                        Some(h) => format!("HAProxy {}: {h}", hp.backend),
                        None => format!("HAProxy {}: servers up", hp.backend),
                    };
                    health_said = health;
                    msgs.push(Msg::Provider(ProviderEvent::Info {
                        source: w.source.clone(),
                        message,
                    }));
                }
                if w.stats {
                    let at = SystemTime::now();
                    let totals = [&hp.stable, &hp.canary]
                        .into_iter()
                        .filter_map(|s| {
                            rows.get(s.as_str())
                                .map(|r| ((hp.key(), s.to_string()), row_totals(r)))
                        })
                        .collect();
                    msgs.push(Msg::Metrics(MetricsBatch {
                        source: w.source.clone(),
                        at,
                        samples: deltas.step(at, totals),
                    }));
                }
            }
            Err(error) if w.stats => msgs.push(Msg::SourceError {
                source: w.source.clone(),
                error,
            }),
            Err(error) => tracing::warn!("{error}"),
        }
        for m in msgs {
            if tx.send(m).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_parse() {
        assert_eq!(
            ApiAddr::parse("/run/haproxy/admin.sock"),
            ApiAddr::Unix("/run/haproxy/admin.sock".into())
        );
        assert_eq!(
            ApiAddr::parse("127.0.0.1:9999"),
            ApiAddr::Tcp("127.0.0.1:9999".into())
        );
        assert_eq!(
            ApiAddr::parse("admin.sock"),
            ApiAddr::Unix("admin.sock".into())
        );
    }

    #[test]
    fn replies_parse_as_haproxy_2_6_writes_them() {
        assert_eq!(parse_weight("30 (initial 0)"), Some(30));
        assert_eq!(parse_weight("No such server."), None);
        assert!(name_error("No such server.", "be", "cx").contains("no server named \"cx\""));
        assert!(name_error("No such backend.", "bx", "").contains("no backend named \"bx\""));
        let csv = "# pxname,svname,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime\n\
                   be,stable,0,90,0,1,2,0,12\nbe,canary,0,8,0,0,2,0,30\n";
        let rows = parse_stat(csv);
        let t = row_totals(&rows["canary"]);
        assert_eq!(
            (t.requests, t.errors, t.p50_ms),
            (10.0, Some(2.0), Some(30.0))
        );
        assert_eq!(row_totals(&rows["stable"]).requests, 93.0);
    }

    #[test]
    fn down_servers_are_named_with_their_check() {
        let csv = "# pxname,svname,status,check_status\nbe,stable,UP,L7OK\nbe,canary,DOWN,L4CON\n";
        let rows = parse_stat(csv);
        assert_eq!(
            health(&rows, &["stable", "canary"]).as_deref(),
            Some("canary DOWN (L4CON): it takes no traffic")
        );
        let ok = parse_stat("# pxname,svname,status\nbe,stable,no check\nbe,canary,UP 1/3\n");
        assert_eq!(health(&ok, &["stable", "canary"]), None);
    }

    #[test]
    fn share_of_absolute_weights() {
        assert_eq!(share(256, 0), Weight::ZERO);
        assert_eq!(share(128, 128), Weight::from_whole(50).unwrap());
        assert_eq!(share(0, 0), Weight::ZERO);
    }
}
