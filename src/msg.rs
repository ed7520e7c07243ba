//! Everything `update` consumes. Workers, the terminal and the clock all speak `Msg`.

use crate::domain::change::{Command, WriteDone};
use crate::domain::observation::{MetricsBatch, SourceId};
use crate::domain::{Rollout, RolloutKey};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// What a provider tells the app about the rollouts it watches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ProviderEvent {
    /// A rollout appeared or changed.
    Upsert {
        /// Who saw it.
        source: SourceId,
        /// As converted by the provider.
        rollout: Box<Rollout>,
    },
    /// A rollout is gone.
    Delete {
        /// Who saw it go.
        source: SourceId,
        /// Which.
        key: RolloutKey,
    },
    /// A full re-list: replaces everything this source had.
    Restarted {
        /// Who re-listed.
        source: SourceId,
        /// All current rollouts of the source.
        rollouts: Vec<Rollout>,
    },
    /// The source listed everything it can show and there is nothing: the message says
    /// what it looked for (an empty namespace must not look like one still loading).
    Empty {
        /// Who looked.
        source: SourceId,
        /// What was looked for and where.
        message: String,
    },
    /// The source answered and nothing changed: it is fresh. A heartbeat that carries no
    /// rollouts, so a quiet cluster of thousands costs nothing to confirm.
    Alive {
        /// Who answered.
        source: SourceId,
    },
    /// A status line for the source (e.g. which kinds were found).
    Info {
        /// Who.
        source: SourceId,
        /// What to show.
        message: String,
    },
}

/// Messages into `update`. Serializable so a session can be recorded and replayed.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// The clock: sets `app.now` and runs the autopilot.
    Tick(SystemTime),
    /// Rollout changes from a provider.
    Provider(ProviderEvent),
    /// Per-build samples from a metrics source.
    Metrics(MetricsBatch),
    /// Past samples for the charts (Prometheus `query_range` when a rollout first appears).
    /// History only: never counted in totals nor fed to the autopilot.
    History {
        /// Who measured.
        source: SourceId,
        /// Per rollout and build, oldest first.
        #[serde(with = "crate::domain::pairs")]
        points: std::collections::BTreeMap<
            (RolloutKey, String),
            Vec<(SystemTime, crate::domain::observation::BuildSample)>,
        >,
    },
    /// A source failed; its data is now stale.
    SourceError {
        /// Which source.
        source: SourceId,
        /// What went wrong, for the badge's tooltip and the log.
        error: String,
    },
    /// A confirmed operator command (the TUI sends this after its dialog).
    Operator {
        /// On which rollout.
        target: RolloutKey,
        /// What to do.
        command: Command,
    },
    /// A write finished.
    WriteDone(WriteDone),
    /// A break-glass abort went out but the audit log could not record it: say so loudly.
    AuditFailed(String),
    /// A terminal key.
    Key(#[serde(with = "key_serde")] crossterm::event::KeyEvent),
    /// Terminal resized to (columns, rows).
    Resize(u16, u16),
    /// A mouse click or wheel turn, stamped by the loop (double-click needs the time).
    Mouse {
        /// What happened where.
        ev: Mouse,
        /// When.
        at: std::time::SystemTime,
    },
    /// Leave (SIGINT, SIGTERM, end of input).
    Quit,
}

/// The mouse events aviary uses, at (column, row); plain data so recordings carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mouse {
    /// Left button pressed.
    Click(u16, u16),
    /// Wheel up.
    ScrollUp(u16, u16),
    /// Wheel down.
    ScrollDown(u16, u16),
}

/// crossterm's `KeyEvent` has no serde without a feature that would rebuild the terminal
/// stack; a recording needs only the key, its modifiers and press/repeat/release.
mod key_serde {
    use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyEventState, KeyModifiers};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Key {
        code: String,
        #[serde(default, skip_serializing_if = "is_zero")]
        mods: u8,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        kind: String,
    }

    fn is_zero(x: &u8) -> bool {
        *x == 0
    }

    const NAMED: [(KeyCode, &str); 16] = [
        (KeyCode::Enter, "enter"),
        (KeyCode::Esc, "esc"),
        (KeyCode::Up, "up"),
        (KeyCode::Down, "down"),
        (KeyCode::Left, "left"),
        (KeyCode::Right, "right"),
        (KeyCode::Tab, "tab"),
        (KeyCode::BackTab, "backtab"),
        (KeyCode::Backspace, "backspace"),
        (KeyCode::Delete, "delete"),
        (KeyCode::Insert, "insert"),
        (KeyCode::Home, "home"),
        (KeyCode::End, "end"),
        (KeyCode::PageUp, "pageup"),
        (KeyCode::PageDown, "pagedown"),
        (KeyCode::Null, "null"),
    ];

    pub fn serialize<S: Serializer>(k: &KeyEvent, s: S) -> Result<S::Ok, S::Error> {
        let code = match k.code {
            KeyCode::Char(c) => format!("char:{c}"),
            KeyCode::F(n) => format!("f{n}"),
            other => NAMED
                .iter()
                .find(|(c, _)| *c == other)
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| "null".into()),
        };
        let kind = match k.kind {
            KeyEventKind::Press => "",
            KeyEventKind::Repeat => "repeat",
            KeyEventKind::Release => "release",
        };
        Key {
            code,
            mods: k.modifiers.bits(),
            kind: kind.into(),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<KeyEvent, D::Error> {
        let k = Key::deserialize(d)?;
        let code = if let Some(c) = k.code.strip_prefix("char:") {
            let mut it = c.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => KeyCode::Char(c),
                _ => return Err(serde::de::Error::custom(format!("bad key {:?}", k.code))),
            }
        } else if let Some(n) = k.code.strip_prefix('f').and_then(|n| n.parse().ok()) {
            KeyCode::F(n)
        } else {
            NAMED
                .iter()
                .find(|(_, n)| *n == k.code)
                .map(|(c, _)| *c)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown key {:?}", k.code)))?
        };
        let kind = match k.kind.as_str() {
            "repeat" => KeyEventKind::Repeat,
            "release" => KeyEventKind::Release,
            _ => KeyEventKind::Press,
        };
        Ok(KeyEvent {
            code,
            modifiers: KeyModifiers::from_bits_truncate(k.mods),
            kind,
            state: KeyEventState::NONE,
        })
    }
}
