//! Real servers for the integration tests: Debian's HAProxy and Prometheus, each started on
//! loopback with a temporary config/data dir and ports found free at run time, and stopped
//! in `Drop`. The builds behind HAProxy are aviary's own demo build servers (real HTTP).
//!
//! When a daemon is not installed the test is skipped with a message, except under `CI=true`
//! (where `.ci/run` installs them), so a machine without them can still run the rest.

use aviary::demo::Scenario;
use aviary::demo::builds::{self, BuildSpec};
use aviary::session::Session;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// True when `bin` is on PATH; panics under CI=true when it is not.
pub fn have(bin: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{bin} is not installed; .ci/run installs it (apt-get install {bin})"
        );
        eprintln!("skipping: {bin} is not installed (apt-get install {bin})");
    }
    found
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// Polls `ok` every 100 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The stable and canary build servers (demo builds 1 and 4) for one scenario.
pub struct Builds {
    /// Stable build.
    pub stable: SocketAddr,
    /// Canary build.
    pub canary: SocketAddr,
    /// Stops both.
    pub cancel: CancellationToken,
}

impl Builds {
    /// Serves both builds on free loopback ports.
    pub async fn start(s: Scenario) -> Builds {
        let cancel = CancellationToken::new();
        let stable = builds::serve(BuildSpec::stable(s), 7, cancel.clone())
            .await
            .unwrap();
        let canary = builds::serve(BuildSpec::canary(s), 7, cancel.clone())
            .await
            .unwrap();
        Builds {
            stable,
            canary,
            cancel,
        }
    }
}

impl Drop for Builds {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Sends `rps` requests a second through `addr` until dropped.
pub struct Load(CancellationToken);

impl Load {
    /// Starts the demo's open-loop load generator against `addr`.
    pub fn start(addr: SocketAddr, rps: u32) -> Load {
        let c = CancellationToken::new();
        tokio::spawn(aviary::demo::load::run(addr, rps, c.clone()));
        Load(c)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A real HAProxy: frontend → backend `be` with servers `stable` (weight 256) and `canary`
/// (weight 0), the admin socket, and the built-in Prometheus exporter.
pub struct Haproxy {
    dir: tempfile::TempDir,
    child: Child,
    /// Admin socket path.
    pub socket: PathBuf,
    /// Where clients send traffic.
    pub frontend: SocketAddr,
    /// `/metrics` of the exporter.
    pub exporter: SocketAddr,
    /// The same runtime API over TCP.
    pub tcp: SocketAddr,
}

impl Haproxy {
    /// Starts HAProxy in the foreground (`-db`) and waits for its admin socket.
    pub fn start(stable: SocketAddr, canary: SocketAddr) -> Haproxy {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("admin.sock");
        let frontend: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let exporter: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let tcp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let cfg = format!(
            "global
    stats socket {sock} mode 600 level admin
    stats socket ipv4@{tcp} level admin
    stats socket {user_sock} mode 600 level user
    maxconn 2000
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe_app
    bind {frontend}
    default_backend be
backend be
    balance roundrobin
    server stable {stable} weight 256
    server canary {canary} weight 0
backend be_static
    balance static-rr
    server stable {stable} weight 100
    server canary {canary} weight 0
frontend fe_prometheus
    bind {exporter}
    http-request use-service prometheus-exporter if {{ path /metrics }}
",
            sock = socket.display(),
            user_sock = dir.path().join("user.sock").display()
        );
        let cfg_path = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start haproxy");
        let hp = Haproxy {
            dir,
            child,
            socket,
            frontend,
            exporter,
            tcp,
        };
        wait_until(Duration::from_secs(10), "HAProxy admin socket", || {
            hp.socket.exists() && hp.cmd("show info").contains("Name: HAProxy")
        });
        hp
    }

    /// Kills HAProxy (SIGKILL: no cleanup, as a crash) and starts it again on the same
    /// config, so its weights are the config's again (the fault suite).
    pub fn crash_and_restart(&mut self, down_for: Duration) {
        kill(&mut self.child);
        let _ = std::fs::remove_file(&self.socket);
        std::thread::sleep(down_for);
        let cfg_path = self.dir.path().join("haproxy.cfg");
        let log = std::fs::File::create(self.dir.path().join("haproxy-2.log")).unwrap();
        self.child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart haproxy");
        wait_until(
            Duration::from_secs(10),
            "HAProxy admin socket again",
            || self.socket.exists() && self.cmd("show info").contains("Name: HAProxy"),
        );
    }

    /// Stops HAProxy (its socket stops answering), as a crash or `systemctl stop` would.
    pub fn stop(&mut self) {
        kill(&mut self.child);
    }

    /// One runtime API command over the admin socket (a plain `UnixStream`, independent of
    /// aviary's client), returning the reply.
    pub fn cmd(&self, line: &str) -> String {
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return String::new();
        };
        let _ = s.write_all(format!("{line}\n").as_bytes());
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// `get weight be/<server>` → current weight.
    pub fn weight(&self, server: &str) -> u16 {
        let r = self.cmd(&format!("get weight be/{server}"));
        r.split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("get weight be/{server}: {r:?}"))
    }

    /// HAProxy's own response counters for one server: (all responses, 5xx).
    pub fn counters(&self, server: &str) -> (u64, u64) {
        let csv = self.cmd("show stat be 4 -1");
        let mut lines = csv.lines();
        let header: Vec<&str> = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches("# ")
            .split(',')
            .collect();
        for l in lines {
            let v: Vec<&str> = l.split(',').collect();
            let get = |name: &str| -> u64 {
                let i = header.iter().position(|h| *h == name).unwrap();
                v[i].parse().unwrap_or(0)
            };
            if v.get(1) == Some(&server) {
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
                return (all, get("hrsp_5xx"));
            }
        }
        panic!("no server {server} in {csv}");
    }

    /// Restarts HAProxy as a reload without a state file does: runtime weights go back to
    /// the config's (stable 256, canary 0). Waits for the admin socket.
    pub fn restart(&mut self) {
        kill(&mut self.child);
        let _ = std::fs::remove_file(&self.socket);
        let cfg_path = self.dir.path().join("haproxy.cfg");
        let log = std::fs::File::create(self.dir.path().join("haproxy.log")).unwrap();
        self.child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(&cfg_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart haproxy");
        wait_until(Duration::from_secs(10), "HAProxy admin socket", || {
            self.socket.exists() && self.cmd("show info").contains("Name: HAProxy")
        });
    }

    /// A runtime API socket at `level user` (reads only), as a string.
    pub fn user_socket_arg(&self) -> String {
        self.dir.path().join("user.sock").display().to_string()
    }

    /// The socket path as a string, for the command line.
    pub fn socket_arg(&self) -> String {
        self.socket.display().to_string()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

/// A real Prometheus scraping one target every second.
pub struct Prometheus {
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Base URL.
    pub url: String,
}

impl Prometheus {
    /// Starts Prometheus on a free port with a fresh TSDB and waits until the target has
    /// been scraped (the first sample takes ~5.4 s: the scrape manager's own tick).
    pub fn start(target: SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let cfg = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: haproxy
    scrape_interval: 1s
    scrape_timeout: 900ms
    metrics_path: /metrics
    params: {{scope: [server]}}
    static_configs: [{{targets: ['{target}']}}]
"
        );
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            dir,
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        let q = format!(
            "{}/api/v1/query?query=haproxy_server_http_responses_total",
            p.url
        );
        wait_until(Duration::from_secs(30), "Prometheus' first scrape", || {
            http_get(&q).is_some_and(|b| b.contains("\"server\":\"canary\""))
        });
        p
    }

    /// Starts Prometheus with no scrape target on the TSDB blocks `promtool` wrote into
    /// `data` (deterministic data, queried with `time=`), and waits until it is ready.
    pub fn on_data(dir: tempfile::TempDir, data: &Path) -> Prometheus {
        let port = free_port();
        let cfg_path = dir.path().join("prometheus.yml");
        std::fs::write(
            &cfg_path,
            "global: {scrape_interval: 15s}\nscrape_configs: []\n",
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg_path.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=30d")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start prometheus");
        let p = Prometheus {
            dir,
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
        };
        let ready = format!("{}/-/ready", p.url);
        wait_until(Duration::from_secs(30), "Prometheus ready", || {
            http_get(&ready).is_some()
        });
        p
    }

    /// Starts it again after [`Prometheus::stop`] on the same port, config and TSDB (a
    /// Prometheus that comes back after an outage); waits until it answers queries.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.url.rsplit(':').next().unwrap().to_string();
        let log = std::fs::File::create(self.dir.path().join("prometheus-2.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--storage.tsdb.retention.time=1h")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("restart prometheus");
        self.child = Some(child);
        let ready = format!("{}/-/ready", self.url);
        wait_until(Duration::from_secs(30), "Prometheus ready again", || {
            http_get(&ready).is_some()
        });
    }

    /// Stops the server now (the stale-source test).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c);
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A blocking HTTP GET with curl-like simplicity (std only): the body on 200.
pub fn http_get(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

/// Runs the session's loop (ticks every 250 ms, worker messages as they come) for `d`,
/// exactly as headless mode does, so a test can look at `session.app` in between.
pub async fn pump(session: &mut Session, d: Duration) {
    let end = tokio::time::Instant::now() + d;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(end) => return,
            _ = tick.tick() => { session.dispatch(aviary::msg::Msg::Tick(SystemTime::now())); }
            Some(m) = session.rx.recv() => { session.dispatch(m); }
        }
    }
}

/// Pumps until `ok(app)` or `limit`; returns how long it took.
pub async fn pump_until(
    session: &mut Session,
    limit: Duration,
    what: &str,
    ok: impl Fn(&aviary::app::App) -> bool,
) -> Duration {
    let start = Instant::now();
    while !ok(&session.app) {
        assert!(start.elapsed() < limit, "timed out after {limit:?}: {what}");
        pump(session, Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// A temp file path for `--audit-log`.
pub fn audit_file(dir: &Path) -> PathBuf {
    dir.join("audit.jsonl")
}

/// A local `--event-webhook` receiver that keeps every JSON body it is sent.
pub struct Hook {
    /// Where to point `--event-webhook`.
    pub url: String,
    /// Bodies received, in order.
    pub events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
}

impl Hook {
    /// Listens on 127.0.0.1:0.
    pub async fn start() -> Hook {
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = events.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
                let keep = keep.clone();
                async move {
                    keep.lock().unwrap().push(v);
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
        Hook {
            url: format!("http://{addr}/hook"),
            events,
        }
    }
}

/// Parses `aviary --headless` stdout into JSON lines.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The `summary` object of a headless run.
pub fn summary(lines: &[serde_json::Value]) -> serde_json::Value {
    lines
        .iter()
        .rev()
        .find_map(|l| l.get("summary").cloned())
        .expect("a summary line")
}

/// A TCP proxy in front of HAProxy's runtime API that holds back every command containing
/// `pattern` for `delay` (a router slow to answer a write), and counts them.
pub struct SlowProxy {
    /// Where aviary connects (`--socket`).
    pub addr: SocketAddr,
    /// Commands held back so far.
    pub held: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SlowProxy {
    /// Listens on 127.0.0.1:0 and forwards to `target`.
    pub fn start(target: SocketAddr, pattern: &'static str, delay: Duration) -> SlowProxy {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let held = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = held.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { return };
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut line = Vec::new();
                    let mut b = [0u8; 1];
                    while c.read(&mut b).unwrap_or(0) == 1 {
                        line.push(b[0]);
                        if b[0] == b'\n' {
                            break;
                        }
                    }
                    if String::from_utf8_lossy(&line).contains(pattern) {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(delay);
                    }
                    let Ok(mut up) = std::net::TcpStream::connect(target) else {
                        return;
                    };
                    let _ = up.write_all(&line);
                    let mut reply = Vec::new();
                    let _ = up.read_to_end(&mut reply);
                    let _ = c.write_all(&reply);
                });
            }
        });
        SlowProxy { addr, held }
    }

    /// How many commands were held back.
    pub fn held(&self) -> usize {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }
}
