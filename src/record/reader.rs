//! Reading a recording back: the header first (a newer format is refused by name), then
//! one entry per line. A last line without its newline is a write cut short by a kill: it is
//! dropped with a warning and everything before it replays. Anything else that does not
//! parse is an error naming the file and line.

use super::{Entry, FORMAT, Header};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Largest recording replayed. Replay holds the whole file and its entries in memory; a
/// busy hour of a thousand rollouts records about 1.6 GB, so the cap stops a mistaken path
/// (a disk image, `/dev/zero`) long before memory runs out while still taking a normal
/// incident's recording. A longer one can be cut with `head -n` (the header is line 1).
pub const MAX_BYTES: u64 = 512 << 20;

/// Why a file cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be read.
    #[error("{file}: {err}")]
    Io {
        /// Which file.
        file: PathBuf,
        /// What the OS said.
        err: std::io::Error,
    },
    /// The first line is not an aviary recording header.
    #[error("{file}:1: not an aviary recording ({why})")]
    NotARecording {
        /// Which file.
        file: PathBuf,
        /// What was wrong with the first line.
        why: String,
    },
    /// Written by a newer aviary.
    #[error(
        "{file}: recording format {found} is newer than this aviary reads (up to {FORMAT}); replay it with aviary {by} or later"
    )]
    TooNew {
        /// Which file.
        file: PathBuf,
        /// Its format.
        found: u32,
        /// The aviary that wrote it.
        by: String,
    },
    /// A line in the middle does not parse.
    #[error("{file}:{line}: not a recording entry: {why}")]
    BadLine {
        /// Which file.
        file: PathBuf,
        /// 1-based line.
        line: usize,
        /// The parser's complaint.
        why: String,
    },
}

/// A whole recording in memory.
#[derive(Debug)]
pub struct Recording {
    /// How the live run started.
    pub header: Header,
    /// Every complete entry, in order.
    pub entries: Vec<Entry>,
    /// Set when the last line was cut off mid-write (its 1-based number).
    pub truncated_at: Option<usize>,
}

/// Reads recordings.
pub struct Reader;

impl Reader {
    /// Reads `path` whole: a regular file (a FIFO or device could block or never end) of at
    /// most [`MAX_BYTES`].
    pub fn open(path: &Path) -> Result<Recording, RecordingError> {
        let io = |err| RecordingError::Io {
            file: path.into(),
            err,
        };
        let too_large = |n: u64| {
            io(std::io::Error::other(format!(
                "{} MiB is over the {} MiB limit for a recording; replay a part of it (`head -n 100000 FILE > part.jsonl`)",
                n >> 20,
                MAX_BYTES >> 20
            )))
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        if meta.len() > MAX_BYTES {
            return Err(too_large(meta.len()));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES + 1).read_to_end(&mut bytes))
            .map_err(io)?;
        if bytes.len() as u64 > MAX_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        Self::parse(path, &String::from_utf8_lossy(&bytes))
    }

    /// Parses recording text; `path` only names the file in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Recording, RecordingError> {
        let file = || path.to_path_buf();
        let mut lines = text.split_inclusive('\n').enumerate();
        let Some((_, first)) = lines.next() else {
            return Err(RecordingError::NotARecording {
                file: file(),
                why: "the file is empty".into(),
            });
        };
        let v: serde_json::Value =
            serde_json::from_str(first).map_err(|e| RecordingError::NotARecording {
                file: file(),
                why: format!("not JSON: {e}"),
            })?;
        let Some(found) = v.get("aviary_recording").and_then(|x| x.as_u64()) else {
            return Err(RecordingError::NotARecording {
                file: file(),
                why: "no \"aviary_recording\" version in the first line".into(),
            });
        };
        if found > u64::from(FORMAT) {
            return Err(RecordingError::TooNew {
                file: file(),
                found: found.min(u64::from(u32::MAX)) as u32,
                by: v
                    .get("aviary_version")
                    .and_then(|x| x.as_str())
                    .unwrap_or("?")
                    .to_string(),
            });
        }
        let header: Header =
            serde_json::from_value(v).map_err(|e| RecordingError::NotARecording {
                file: file(),
                why: format!("bad header: {e}"),
            })?;
        let mut entries = Vec::new();
        let mut truncated_at = None;
        for (i, line) in lines {
            let complete = line.ends_with('\n');
            let body = line.trim_end();
            if body.is_empty() {
                continue;
            }
            match serde_json::from_str::<Entry>(body) {
                Ok(e) if complete => entries.push(e),
                // A last line without its newline may still parse (cut exactly at the end);
                // it was not finished, so it does not count.
                Ok(_) => truncated_at = Some(i + 1),
                Err(_) if !complete => truncated_at = Some(i + 1),
                Err(e) => {
                    return Err(RecordingError::BadLine {
                        file: file(),
                        line: i + 1,
                        why: e.to_string(),
                    });
                }
            }
        }
        Ok(Recording {
            header,
            entries,
            truncated_at,
        })
    }
}
