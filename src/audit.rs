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
    /// Who: the OS user of the process (from its uid), and the Kubernetes identity.
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
    /// Opens (creating parents) `path` for appending. The log says who changed production
    /// traffic and when, so a new file is private to its user: 0600 in a 0700 directory.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let err = |source| AuditError {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(err)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(err)?;
        // An older file others can read is tightened; devices (`/dev/full`) are left alone.
        if let Ok(meta) = file.metadata()
            && meta.is_file()
            && meta.permissions().mode() & 0o077 != 0
        {
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
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

/// Where a break-glass record goes when the audit log itself cannot be written:
/// `<data dir>/audit-fallback.jsonl`, unless that is the failing file.
pub fn fallback_path(failing: &Path) -> Option<PathBuf> {
    let p = directories::ProjectDirs::from("dev", "aviary", "aviary")?
        .data_dir()
        .join("audit-fallback.jsonl");
    (p != failing).then_some(p)
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
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the audit file is private");
        assert_eq!(mode(path.parent().unwrap()), 0o700, "its directory too");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with("{\"ts\":\"1970-01-01T00:00:00.000Z\""));
        assert!(!text.contains("\"result\""));
    }
}
