//! The runtime API client: one connection per command line, as HAProxy's non-interactive
//! mode answers one line and closes.

use super::*;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    pub(super) addr: ApiAddr,
    pub(super) timeout: Duration,
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
pub(super) fn parse_weight(line: &str) -> Option<u16> {
    line.split_whitespace().next()?.parse().ok()
}

/// Turns HAProxy's terse refusals into messages naming what it does not know.
pub(super) fn name_error(reply: &str, backend: &str, server: &str) -> String {
    match reply.trim() {
        "No such backend." | "No such proxy." => {
            format!("HAProxy has no backend named {backend:?}")
        }
        "No such server." => format!("HAProxy backend {backend:?} has no server named {server:?}"),
        other => format!("HAProxy refused: {other}"),
    }
}
