//! One keymap table drives dispatch, the footer hints and the `?` overlay, so
//! they always show the keys actually bound. Users override keys by action name in config.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;

/// What a key asks for, before any state is consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Selection up.
    Up,
    /// Selection down.
    Down,
    /// Open the detail view.
    Open,
    /// Back / close.
    Back,
    /// Pause or resume.
    Pause,
    /// One step forward.
    Advance,
    /// Promote (confirm).
    Promote,
    /// Abort (confirm).
    Abort,
    /// Retry after abort.
    Retry,
    /// Set an exact weight (prompt + confirm).
    SetWeight,
    /// Filter rows.
    Filter,
    /// Next theme.
    Theme,
    /// Toggle the log pane.
    Log,
    /// Toggle help.
    Help,
    /// Start the demo's story over (demo only).
    Restart,
    /// Chart window: the next longer one (1m → 5m → 30m → all → 1m).
    Window,
    /// Quit.
    Quit,
    /// Sort the overview by a column (again: reverse).
    Sort(SortCol),
    /// Open the `:` command line.
    Command,
}

/// The column the overview is sorted by (k9s-style Shift keys; the same key again reverses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortCol {
    /// "Needs a human first" (phase urgency), the default.
    #[default]
    Phase,
    /// Rollout name.
    Name,
    /// Kubeconfig context.
    Context,
    /// Namespace.
    Namespace,
    /// Canary weight.
    Weight,
    /// Object age (creationTimestamp).
    Age,
    /// Last weight or phase change.
    Changed,
}

/// How much history the detail charts show; `z` steps through them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ChartWindow {
    /// The last minute.
    Min1,
    /// The last five minutes: a demo's whole story fits.
    #[default]
    Min5,
    /// The last half hour.
    Min30,
    /// Everything since aviary started watching.
    All,
}

impl ChartWindow {
    /// The next window in the cycle.
    pub fn next(self) -> Self {
        match self {
            ChartWindow::Min1 => ChartWindow::Min5,
            ChartWindow::Min5 => ChartWindow::Min30,
            ChartWindow::Min30 => ChartWindow::All,
            ChartWindow::All => ChartWindow::Min1,
        }
    }

    /// Its length; `None` for the whole run.
    pub fn secs(self) -> Option<f64> {
        match self {
            ChartWindow::Min1 => Some(60.0),
            ChartWindow::Min5 => Some(300.0),
            ChartWindow::Min30 => Some(1800.0),
            ChartWindow::All => None,
        }
    }

    /// As the chart titles show it.
    pub fn label(self) -> &'static str {
        match self {
            ChartWindow::Min1 => "1m",
            ChartWindow::Min5 => "5m",
            ChartWindow::Min30 => "30m",
            ChartWindow::All => "all",
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The action.
    pub action: Action,
    /// Name used in config `[keys]`.
    pub name: &'static str,
    /// Keys that trigger it.
    pub keys: Vec<KeyCombo>,
    /// Help text.
    pub help: &'static str,
    /// One word for the footer.
    pub hint: &'static str,
    /// Writes to a router: shown as disabled in read-only mode.
    pub dangerous: bool,
    /// Shown in the footer (the rest only in `?`).
    pub footer: bool,
}

/// A key with modifiers, as parsed from `"ctrl-a"`, `"A"`, `"enter"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyCombo {
    /// The key.
    pub code: KeyCode,
    /// Ctrl/Alt (Shift is folded into the character).
    pub ctrl: bool,
    /// Alt.
    pub alt: bool,
}

impl KeyCombo {
    fn plain(code: KeyCode) -> Self {
        KeyCombo {
            code,
            ctrl: false,
            alt: false,
        }
    }

    /// Parses `q`, `A`, `?`, `enter`, `esc`, `up`, `ctrl-c`, `alt-x`, `f1`, `space`, `tab`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                ctrl = true;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                alt = true;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "tab" => KeyCode::Tab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().map_err(|_| format!("bad key {s:?}"))?)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
                    _ => {
                        return Err(format!(
                            "{s:?} is not a key (try \"q\", \"A\", \"ctrl-a\", \"enter\", \"f1\")"
                        ));
                    }
                }
            }
        };
        Ok(KeyCombo { code, ctrl, alt })
    }

    /// True when `ev` is this key.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let alt = ev.modifiers.contains(KeyModifiers::ALT);
        if ctrl != self.ctrl || alt != self.alt {
            return false;
        }
        match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) if self.ctrl => a.eq_ignore_ascii_case(&b),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The keymap: an ordered table of bindings.
#[derive(Clone, Debug, PartialEq)]
pub struct Keymap {
    /// Bindings in help order.
    pub bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        let k = |s: &str| KeyCombo::parse(s).unwrap_or(KeyCombo::plain(KeyCode::Null));
        let b = |action, name, keys: &[&str], help, dangerous, footer| Binding {
            action,
            name,
            keys: keys.iter().map(|s| k(s)).collect(),
            help,
            hint: name,
            dangerous,
            footer,
        };
        Keymap {
            bindings: vec![
                b(
                    Action::Up,
                    "up",
                    &["k", "up"],
                    "select previous",
                    false,
                    false,
                ),
                b(
                    Action::Down,
                    "down",
                    &["j", "down"],
                    "select next",
                    false,
                    false,
                ),
                b(Action::Open, "open", &["enter"], "open detail", false, true),
                b(Action::Back, "back", &["esc"], "back / close", false, false),
                b(Action::Pause, "pause", &["p"], "pause / resume", true, true),
                b(Action::Advance, "advance", &["n"], "next step", true, true),
                b(
                    Action::Promote,
                    "promote",
                    &["P"],
                    "promote (confirm)",
                    true,
                    true,
                ),
                b(
                    Action::Abort,
                    "abort",
                    &["A"],
                    "abort to stable (confirm)",
                    true,
                    true,
                ),
                b(
                    Action::Retry,
                    "retry",
                    &["r"],
                    "retry after abort",
                    true,
                    false,
                ),
                b(
                    Action::SetWeight,
                    "set-weight",
                    &["w"],
                    "set weight (confirm)",
                    true,
                    true,
                ),
                b(
                    Action::Filter,
                    "filter",
                    &["/"],
                    "filter rows",
                    false,
                    false,
                ),
                b(Action::Theme, "theme", &["t"], "next theme", false, false),
                b(Action::Log, "log", &["l"], "log pane", false, false),
                b(
                    Action::Window,
                    "window",
                    &["z"],
                    "chart window 1m / 5m / 30m / all",
                    false,
                    false,
                ),
                b(Action::Help, "help", &["?"], "help", false, true),
                b(
                    Action::Restart,
                    "restart",
                    &["R"],
                    "restart the demo story",
                    false,
                    false,
                ),
                b(Action::Quit, "quit", &["q", "ctrl-c"], "quit", false, true),
                b(
                    Action::Command,
                    "command",
                    &[":"],
                    ":ns :ctx :kind :q (tab completes)",
                    false,
                    false,
                ),
                // k9s's Shift keys; A (age in k9s) is abort here, so age is G.
                b(
                    Action::Sort(SortCol::Name),
                    "sort-name",
                    &["N"],
                    "name",
                    false,
                    false,
                ),
                b(
                    Action::Sort(SortCol::Phase),
                    "sort-phase",
                    &["S"],
                    "phase",
                    false,
                    false,
                ),
                b(
                    Action::Sort(SortCol::Weight),
                    "sort-weight",
                    &["W"],
                    "weight",
                    false,
                    false,
                ),
                b(
                    Action::Sort(SortCol::Age),
                    "sort-age",
                    &["G"],
                    "age",
                    false,
                    false,
                ),
                b(
                    Action::Sort(SortCol::Changed),
                    "sort-changed",
                    &["C"],
                    "changed",
                    false,
                    false,
                ),
                b(
                    Action::Sort(SortCol::Context),
                    "sort-context",
                    &["X"],
                    "ctx",
                    false,
                    false,
                ),
                b(
                    Action::Sort(SortCol::Namespace),
                    "sort-namespace",
                    &["M"],
                    "ns",
                    false,
                    false,
                ),
            ],
        }
    }
}

/// A bad `[keys]` entry.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: [keys] {name}: {message}")]
pub struct KeymapError {
    /// Config file.
    pub file: String,
    /// Line of the entry.
    pub line: usize,
    /// The entry's name.
    pub name: String,
    /// What is wrong.
    pub message: String,
}

impl Keymap {
    /// The defaults with `overrides` (action name → key) applied; errors name file and line.
    pub fn with_overrides(
        overrides: &BTreeMap<String, String>,
        file: &str,
        lines: &BTreeMap<String, usize>,
    ) -> Result<Keymap, KeymapError> {
        let mut km = Keymap::default();
        for (name, key) in overrides {
            let err = |message: String| KeymapError {
                file: file.to_string(),
                line: lines.get(name).copied().unwrap_or(0),
                name: name.clone(),
                message,
            };
            let combo = KeyCombo::parse(key).map_err(err)?;
            let Some(b) = km.bindings.iter_mut().find(|b| b.name == name) else {
                let names: Vec<_> = Keymap::default().bindings.iter().map(|b| b.name).collect();
                return Err(err(format!(
                    "unknown action; actions are: {}",
                    names.join(", ")
                )));
            };
            b.keys = vec![combo];
        }
        // A key bound twice would make one action unreachable.
        for (i, a) in km.bindings.iter().enumerate() {
            for b in &km.bindings[i + 1..] {
                if let Some(k) = a.keys.iter().find(|k| b.keys.contains(k)) {
                    let name = if overrides.contains_key(b.name) {
                        b.name
                    } else {
                        a.name
                    };
                    return Err(KeymapError {
                        file: file.to_string(),
                        line: lines.get(name).copied().unwrap_or(0),
                        name: name.to_string(),
                        message: format!("key {k} is bound to both {} and {}", a.name, b.name),
                    });
                }
            }
        }
        Ok(km)
    }

    /// The action bound to `ev`, if any.
    pub fn action(&self, ev: &KeyEvent) -> Option<Action> {
        self.bindings
            .iter()
            .find(|b| b.keys.iter().any(|k| k.matches(ev)))
            .map(|b| b.action)
    }

    /// The binding of an action.
    pub fn binding(&self, a: Action) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.action == a)
    }

    /// First key of an action, for hints ("press y").
    pub fn key_label(&self, a: Action) -> String {
        self.binding(a)
            .and_then(|b| b.keys.first())
            .map(|k| k.to_string())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn default_keys_match_design_section_9() {
        let km = Keymap::default();
        assert_eq!(
            km.action(&ev(KeyCode::Char('A'), KeyModifiers::SHIFT)),
            Some(Action::Abort)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('P'), KeyModifiers::SHIFT)),
            Some(Action::Promote)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('p'), KeyModifiers::NONE)),
            Some(Action::Pause)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Down, KeyModifiers::NONE)),
            Some(Action::Down)
        );
        assert_eq!(km.action(&ev(KeyCode::Char('a'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn overrides_replace_keys_and_errors_name_the_line() {
        let mut o = BTreeMap::new();
        o.insert("abort".to_string(), "ctrl-x".to_string());
        let km = Keymap::with_overrides(&o, "c.toml", &BTreeMap::new()).unwrap();
        assert_eq!(
            km.action(&ev(KeyCode::Char('x'), KeyModifiers::CONTROL)),
            Some(Action::Abort)
        );
        assert_eq!(
            km.action(&ev(KeyCode::Char('A'), KeyModifiers::SHIFT)),
            None
        );

        let mut o = BTreeMap::new();
        o.insert("abrot".to_string(), "x".to_string());
        let lines = BTreeMap::from([("abrot".to_string(), 7)]);
        let e = Keymap::with_overrides(&o, "c.toml", &lines)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:7:"), "{e}");

        let mut o = BTreeMap::new();
        o.insert("abort".to_string(), "q".to_string());
        let e = Keymap::with_overrides(&o, "c.toml", &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bound to both"), "{e}");
        assert!(KeyCombo::parse("ctrl-").is_err() || KeyCombo::parse("nonsense").is_err());
    }
}
