//! Recording a session for `aviary replay`: every `Msg` that enters `update` — provider
//! upserts and removals, metrics batches, history back-fill, ticks, keys, dialog answers and
//! write results — appended as one JSON line, after a header line naming the format
//! version and what the core was started with. `update` is deterministic, so these inputs
//! are enough to rebuild every screen and every headless line.
//!
//! Writes go through a buffer flushed on each tick (at most a few times a second), so
//! recording costs one `serde_json` encoding per message (`benches/record.rs`). A process
//! killed mid-write leaves at most one partial last line, which the reader skips.

pub mod reader;
mod redact;

pub use reader::{Reader, Recording, RecordingError};
pub use redact::redact;

use crate::app::App;
use crate::domain::Plan;
use crate::msg::Msg;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// The newest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// The first line of a recording: what `App::new` needs to start where the live run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// Format version; a reader refuses anything newer than [`FORMAT`].
    pub aviary_recording: u32,
    /// The aviary that wrote it, with its commit: another build's autopilot may decide
    /// differently on the same inputs, and replay says so.
    pub aviary_version: String,
    /// `app.started` of the live run (headless `t` counts from here).
    pub started: SystemTime,
    /// The plan for rollouts that bring none.
    pub plan: Plan,
    /// The judge's name (`stat`, `threshold`).
    pub judge: String,
    /// `--read-only` of the live run.
    pub read_only: bool,
    /// `--manual` of the live run.
    pub start_paused: bool,
    /// Whether the live run opened on the detail view.
    pub detail: bool,
    /// Metrics older than this made the autopilot hold.
    pub stale_after_ms: u64,
}

impl Header {
    /// The header for `app` as it is before its first message.
    pub fn of(app: &App) -> Self {
        Header {
            aviary_recording: FORMAT,
            aviary_version: crate::cli::VERSION.into(),
            started: app.started,
            plan: app.default_plan.clone(),
            judge: app.judge.name().into(),
            read_only: app.read_only,
            start_paused: app.start_paused,
            detail: app.ui.detail,
            stale_after_ms: app.stale_after.as_millis() as u64,
        }
    }

    /// A fresh app as the live run started, before any message.
    pub fn app(&self) -> App {
        let mut app = App::new(self.started, self.plan.clone());
        app.judge = match self.judge.as_str() {
            "threshold" => crate::cli::JudgeKind::Threshold.judge(),
            _ => crate::cli::JudgeKind::Stat.judge(),
        };
        app.read_only = self.read_only;
        app.start_paused = self.start_paused;
        app.ui.detail = self.detail;
        app.stale_after = Duration::from_millis(self.stale_after_ms);
        app
    }
}

/// One recorded input: milliseconds since the recording began, and the message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// Wall-clock offset, for replay pacing.
    pub t_ms: u64,
    /// What entered `update`.
    pub msg: Msg,
}

/// Messages with free text (error texts, provider notes, rollout messages) that could quote
/// a credential.
fn carries_text(msg: &Msg) -> bool {
    !matches!(
        msg,
        Msg::Tick(_)
            | Msg::Metrics(_)
            | Msg::History { .. }
            | Msg::Key(_)
            | Msg::Mouse { .. }
            | Msg::Resize(..)
    )
}

/// [`Entry`] by reference, so recording never clones a message.
#[derive(Serialize)]
struct EntryRef<'a> {
    t_ms: u64,
    msg: &'a Msg,
}

/// Appends messages to a recording file.
pub struct Recorder {
    out: BufWriter<File>,
    began: Instant,
    /// The first write error; recording stops there and the session goes on.
    pub error: Option<String>,
}

impl Recorder {
    /// Creates (truncates) `path` and writes the header for `app`.
    pub fn create(path: &Path, app: &App) -> std::io::Result<Self> {
        let file = File::create(path)?;
        let mut r = Recorder {
            out: BufWriter::with_capacity(64 * 1024, file),
            began: Instant::now(),
            error: None,
        };
        let header = serde_json::to_string(&Header::of(app)).map_err(std::io::Error::other)?;
        writeln!(r.out, "{header}")?;
        r.out.flush()?;
        Ok(r)
    }

    /// Appends one message. Never fails the session: a full disk ends the recording with
    /// one warning, not the control room.
    pub fn record(&mut self, msg: &Msg) {
        if self.error.is_some() {
            return;
        }
        let entry = EntryRef {
            t_ms: self.began.elapsed().as_millis() as u64,
            msg,
        };
        let res = serde_json::to_string(&entry)
            .map_err(std::io::Error::other)
            .and_then(|line| {
                // Only free text can quote a secret; samples, ticks and keys carry none, and
                // a 1,000-rollout batch is ~440 KB not worth scanning.
                if carries_text(msg) {
                    writeln!(self.out, "{}", redact(&line))
                } else {
                    writeln!(self.out, "{line}")
                }
            })
            .and_then(|()| {
                if matches!(msg, Msg::Tick(_) | Msg::Quit) {
                    self.out.flush()
                } else {
                    Ok(())
                }
            });
        if let Err(e) = res {
            tracing::warn!("recording stopped: {e}");
            self.error = Some(e.to_string());
        }
    }

    /// Writes `entry` as it is (for benchmarks and tests that control the clock).
    pub fn write_entry(&mut self, entry: &Entry) -> std::io::Result<()> {
        let line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
        writeln!(self.out, "{}", redact(&line))
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.out.flush();
    }
}
