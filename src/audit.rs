//! The append-only audit log: one JSON line when a write is issued and one when it ends,
//! flushed to disk before the router is touched, so a crash mid-write still leaves proof.

use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// One audit line (the fields are listed in docs/ARCHITECTURE.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// RFC 3339 time.
    pub ts: String,
    /// Who: kube user or `$USER`.
    pub actor: String,
    /// Rollout key.
    pub target: String,
    /// `pause`, `abort`, `set_weight`, …
    pub action: String,
    /// `operator` or `autopilot`.
    pub origin: String,
    /// `intent` before the write, `result` after.
    pub stage: String,
    /// Links intent and result.
    pub op: u64,
    /// Canary weight before, in percent.
    pub before: Option<f64>,
    /// Canary weight requested, in percent.
    pub requested: Option<f64>,
    /// `ok` or `error` (result lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    /// The error text (result lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Time from intent to result (result lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Extra context: the router change in words, "no router write", rounding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl AuditRecord {
    /// Formats `at` as RFC 3339 with milliseconds.
    pub fn timestamp(at: SystemTime) -> String {
        humantime::format_rfc3339_millis(at).to_string()
    }
}

/// Why the audit log could not be written.
#[derive(Debug, thiserror::Error)]
#[error("audit log {path}: {source}")]
pub struct AuditError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// An opened audit log. Appends are serialised by a mutex; each is flushed and synced.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating parents) `path` for appending.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        let err = |source| AuditError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(err)?;
        Ok(AuditLog {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        })
    }

    /// Where it writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line and makes it durable before returning.
    pub fn append(&self, rec: &AuditRecord) -> Result<(), AuditError> {
        let err = |source| AuditError {
            path: self.path.clone(),
            source,
        };
        let mut line = serde_json::to_string(rec).map_err(|e| err(std::io::Error::other(e)))?;
        line.push('\n');
        let mut f = self
            .file
            .lock()
            .map_err(|_| err(std::io::Error::other("audit lock poisoned")))?;
        f.write_all(line.as_bytes()).map_err(err)?;
        f.flush().map_err(err)?;
        f.sync_data().map_err(err)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_and_never_truncates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/audit.jsonl");
        let rec = AuditRecord {
            ts: AuditRecord::timestamp(SystemTime::UNIX_EPOCH),
            actor: "ops".into(),
            target: "demo:checkout".into(),
            action: "abort".into(),
            origin: "operator".into(),
            stage: "intent".into(),
            op: 1,
            before: Some(30.0),
            requested: Some(0.0),
            result: None,
            error: None,
            latency_ms: None,
            note: None,
        };
        AuditLog::open(&path).unwrap().append(&rec).unwrap();
        AuditLog::open(&path).unwrap().append(&rec).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"ts\":\"1970-01-01T00:00:00.000Z\""));
        assert!(!text.contains("\"result\""));
    }
}
