//! Themes: semantic colour slots read from TOML, resolved once into a [`Theme`]
//! that render reads. Built-ins are embedded; users add files in `<config dir>/themes/`.
//! A typo is an error naming the file and line, before the terminal goes raw.

use crate::toml_file::{self, TomlError};
use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The themes shipped inside the binary, in `t` cycling order.
pub const BUILTIN: [(&str, &str); 4] = [
    ("dark", include_str!("../themes/dark.toml")),
    ("light", include_str!("../themes/light.toml")),
    ("mono", include_str!("../themes/mono.toml")),
    ("colorblind", include_str!("../themes/colorblind.toml")),
];

/// A colour as written in a theme file (`"red"`, `"#89b4fa"`, `"208"`, `"reset"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ColorSpec(pub Color);

impl<'de> Deserialize<'de> for ColorSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Color::from_str(&s).map(ColorSpec).map_err(|_| {
            serde::de::Error::custom(format!(
                "{s:?} is not a colour (try a name, #rrggbb or 0-255)"
            ))
        })
    }
}

/// The file layer: every slot optional over `extends`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ThemeFile {
    /// Display name.
    pub name: Option<String>,
    /// Another theme to take missing slots from (default: dark).
    pub extends: Option<String>,
    /// The slots.
    #[serde(default)]
    pub colors: ColorsFile,
}

/// Colour slots as written; all optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(missing_docs)]
pub struct ColorsFile {
    pub fg: Option<ColorSpec>,
    pub bg: Option<ColorSpec>,
    pub muted: Option<ColorSpec>,
    pub accent: Option<ColorSpec>,
    pub focus: Option<ColorSpec>,
    pub on_accent: Option<ColorSpec>,
    pub ok: Option<ColorSpec>,
    pub warn: Option<ColorSpec>,
    pub error: Option<ColorSpec>,
    pub stale: Option<ColorSpec>,
    pub stable: Option<ColorSpec>,
    pub canary: Option<ColorSpec>,
    pub threshold: Option<ColorSpec>,
    pub weight: Option<ColorSpec>,
    pub selected_bg: Option<ColorSpec>,
    pub phase_progressing: Option<ColorSpec>,
    pub phase_paused: Option<ColorSpec>,
    pub phase_awaiting: Option<ColorSpec>,
    pub phase_succeeded: Option<ColorSpec>,
    pub phase_aborted: Option<ColorSpec>,
    pub phase_failed: Option<ColorSpec>,
}

/// A resolved theme: every slot set. Render reads only this.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub struct Theme {
    pub name: String,
    pub fg: Color,
    pub bg: Color,
    pub muted: Color,
    pub accent: Color,
    pub focus: Color,
    pub on_accent: Color,
    pub ok: Color,
    pub warn: Color,
    pub error: Color,
    pub stale: Color,
    pub stable: Color,
    pub canary: Color,
    pub threshold: Color,
    pub weight: Color,
    pub selected_bg: Color,
    pub phase_progressing: Color,
    pub phase_paused: Color,
    pub phase_awaiting: Color,
    pub phase_succeeded: Color,
    pub phase_aborted: Color,
    pub phase_failed: Color,
}

/// Why a theme could not be loaded; names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// Syntax error, unknown key or bad colour; or the file could not be read.
    #[error(transparent)]
    File(#[from] TomlError),
    /// A slot is set nowhere in the `extends` chain.
    #[error("{file}: colour slot {slot:?} is not set (and not inherited)")]
    Missing {
        /// The file.
        file: String,
        /// The slot.
        slot: &'static str,
    },
    /// `extends` leads back to a theme already in the chain.
    #[error("{file}: `extends` makes a cycle: {chain}")]
    Cycle {
        /// The file whose `extends` closes the loop.
        file: String,
        /// The names in order, the repeated one last ("a → b → a").
        chain: String,
    },
    /// `extends` deeper than [`MAX_DEPTH`].
    #[error("{file}: `extends` goes deeper than {MAX_DEPTH} themes: {chain}")]
    TooDeep {
        /// The first file of the chain.
        file: String,
        /// The names followed.
        chain: String,
    },
    /// `--theme` or `extends` names nothing known.
    #[error("unknown theme {name:?}; available: {available}")]
    Unknown {
        /// What was asked.
        name: String,
        /// What exists.
        available: String,
    },
}

fn parse_file(file: &str, text: &str) -> Result<ThemeFile, ThemeError> {
    Ok(toml_file::parse(file, text)?)
}

/// Where user themes live.
pub fn user_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "aviary", "aviary").map(|d| d.config_dir().join("themes"))
}

/// A theme's source: (file label, text).
fn source(name: &str, user_dir: Option<&Path>) -> Result<(String, String), ThemeError> {
    if let Some(dir) = user_dir {
        let p = dir.join(format!("{name}.toml"));
        if p.is_file() {
            let text = toml_file::read_text(&p)?;
            return Ok((p.display().to_string(), text));
        }
    }
    if let Some((n, text)) = BUILTIN.iter().find(|(n, _)| *n == name) {
        return Ok((format!("themes/{n}.toml (built in)"), (*text).to_string()));
    }
    Err(ThemeError::Unknown {
        name: name.to_string(),
        available: available(user_dir).join(", "),
    })
}

/// Longest `extends` chain followed.
pub const MAX_DEPTH: usize = 8;

/// Names of all themes: built-ins, then user files. Only regular `.toml` files count (after
/// symlinks): a FIFO or a link to `/dev/zero` is no theme and must not be opened.
pub fn available(user_dir: Option<&Path>) -> Vec<String> {
    let mut v: Vec<String> = BUILTIN.iter().map(|(n, _)| (*n).to_string()).collect();
    if let Some(dir) = user_dir
        && let Ok(rd) = std::fs::read_dir(dir)
    {
        let mut user: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let p = e.path();
                let regular = std::fs::metadata(&p).is_ok_and(|m| m.is_file());
                (regular && p.extension()? == "toml")
                    .then(|| p.file_stem()?.to_str().map(String::from))?
            })
            .filter(|n| !v.contains(n))
            .collect();
        user.sort();
        v.extend(user);
    }
    v
}

/// Loads and resolves a theme by name, following `extends` (at most [`MAX_DEPTH`] deep).
/// Only the files of this chain are read.
pub fn load(name: &str, user_dir: Option<&Path>) -> Result<Theme, ThemeError> {
    let (file, text) = source(name, user_dir)?;
    let first = parse_file(&file, &text)?;
    let chain = follow(name, file, first, user_dir)?;
    resolve(name, &chain)
}

/// The `extends` chain from an already parsed first file: each parent read from `dir` (or
/// built in), a repeated name reported as a cycle rather than as a missing slot.
fn follow(
    name: &str,
    file: String,
    first: ThemeFile,
    dir: Option<&Path>,
) -> Result<Vec<(String, ThemeFile)>, ThemeError> {
    let mut names = vec![name.to_string()];
    let mut next = first.extends.clone();
    let mut chain = vec![(file, first)];
    while let Some(n) = next.take() {
        let shown = || {
            let mut v = names.clone();
            v.push(n.clone());
            v.join(" → ")
        };
        if names.contains(&n) {
            return Err(ThemeError::Cycle {
                file: chain.last().map(|c| c.0.clone()).unwrap_or_default(),
                chain: shown(),
            });
        }
        if chain.len() >= MAX_DEPTH {
            return Err(ThemeError::TooDeep {
                file: chain[0].0.clone(),
                chain: shown(),
            });
        }
        let (file, text) = source(&n, dir)?;
        let tf = parse_file(&file, &text)?;
        next = tf.extends.clone();
        names.push(n);
        chain.push((file, tf));
    }
    Ok(chain)
}

/// Loads a theme straight from a file path (tests, `--theme ./my.toml`).
pub fn load_file(path: &Path) -> Result<Theme, ThemeError> {
    let file = path.display().to_string();
    let text = toml_file::read_text(path)?;
    let tf = parse_file(&file, &text)?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let name = tf.name.clone().unwrap_or_else(|| file.clone());
    let chain = follow(&stem, file, tf, path.parent())?;
    resolve(&name, &chain)
}

fn resolve(name: &str, chain: &[(String, ThemeFile)]) -> Result<Theme, ThemeError> {
    let file = chain.first().map(|c| c.0.clone()).unwrap_or_default();
    macro_rules! slot {
        ($f:ident, $key:literal) => {
            chain
                .iter()
                .find_map(|(_, t)| t.colors.$f)
                .map(|c| c.0)
                .ok_or(ThemeError::Missing {
                    file: file.clone(),
                    slot: $key,
                })?
        };
    }
    Ok(Theme {
        name: chain
            .first()
            .and_then(|c| c.1.name.clone())
            .unwrap_or_else(|| name.to_string()),
        fg: slot!(fg, "fg"),
        bg: slot!(bg, "bg"),
        muted: slot!(muted, "muted"),
        accent: slot!(accent, "accent"),
        focus: slot!(focus, "focus"),
        on_accent: slot!(on_accent, "on-accent"),
        ok: slot!(ok, "ok"),
        warn: slot!(warn, "warn"),
        error: slot!(error, "error"),
        stale: slot!(stale, "stale"),
        stable: slot!(stable, "stable"),
        canary: slot!(canary, "canary"),
        threshold: slot!(threshold, "threshold"),
        weight: slot!(weight, "weight"),
        selected_bg: slot!(selected_bg, "selected-bg"),
        phase_progressing: slot!(phase_progressing, "phase-progressing"),
        phase_paused: slot!(phase_paused, "phase-paused"),
        phase_awaiting: slot!(phase_awaiting, "phase-awaiting"),
        phase_succeeded: slot!(phase_succeeded, "phase-succeeded"),
        phase_aborted: slot!(phase_aborted, "phase-aborted"),
        phase_failed: slot!(phase_failed, "phase-failed"),
    })
}

impl Theme {
    /// Plain text.
    pub fn text(&self) -> Style {
        Style::default().fg(self.fg).bg(self.bg)
    }
    /// De-emphasised text.
    pub fn dim(&self) -> Style {
        Style::default().fg(self.muted)
    }
    /// Titles.
    pub fn title(&self) -> Style {
        Style::default()
            .fg(self.accent)
            .add_modifier(Modifier::BOLD)
    }
    /// The selected row.
    pub fn selected(&self) -> Style {
        let s = Style::default()
            .bg(self.selected_bg)
            .add_modifier(Modifier::BOLD);
        if self.selected_bg == Color::Reset {
            s.add_modifier(Modifier::REVERSED)
        } else {
            s
        }
    }
    /// The colour of a phase.
    pub fn phase(&self, p: &crate::domain::Phase) -> Color {
        use crate::domain::Phase;
        match p {
            Phase::Progressing | Phase::Promoting => self.phase_progressing,
            Phase::Paused => self.phase_paused,
            Phase::AwaitingPromotion => self.phase_awaiting,
            Phase::Succeeded => self.phase_succeeded,
            Phase::Aborted => self.phase_aborted,
            Phase::Failed => self.phase_failed,
            Phase::Idle | Phase::Unknown(_) => self.muted,
        }
    }
}

/// All loadable themes for `t` cycling, with the chosen one first, and a warning per other
/// theme that does not load. Only the chosen theme (and its `extends` chain) must be good: a
/// broken file the user did not ask for is skipped, named, never a refusal to start.
pub fn load_all(
    first: &str,
    user_dir: Option<&Path>,
) -> Result<(Vec<Theme>, Vec<String>), ThemeError> {
    let mut themes = vec![load(first, user_dir)?];
    let mut warnings = Vec::new();
    for n in available(user_dir).iter().filter(|n| *n != first) {
        match load(n, user_dir) {
            Ok(t) => themes.push(t),
            Err(e) => warnings.push(format!("theme {n:?} skipped: {e}")),
        }
    }
    Ok((themes, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_parses_and_sets_every_slot() {
        for (name, _) in BUILTIN {
            let t = load(name, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.name, name);
        }
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("typo.toml"),
            "name = \"typo\"\nextends = \"dark\"\n[colors]\nfg = \"red\"\ncanry = \"blue\"\n",
        )
        .unwrap();
        let e = load("typo", Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("typo.toml:5:"), "{e}");
        assert!(e.contains("canry"), "{e}");
    }

    #[test]
    fn bad_colour_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("bad.toml"),
            "extends = \"dark\"\n[colors]\nok = \"grene\"\n",
        )
        .unwrap();
        let e = load("bad", Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("bad.toml:3:"), "{e}");
        assert!(e.contains("grene"), "{e}");
    }

    #[test]
    fn unknown_theme_lists_the_available_ones() {
        let e = load("solarized", None).unwrap_err().to_string();
        assert!(e.contains("dark, light, mono, colorblind"), "{e}");
    }

    #[test]
    fn a_broken_theme_not_asked_for_is_skipped_with_a_warning_naming_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("broken.toml"),
            "[colors]\ncanry = \"red\"\n",
        )
        .unwrap();
        let (themes, warnings) = load_all("light", Some(dir.path())).unwrap();
        assert_eq!(themes[0].name, "light");
        assert_eq!(themes.len(), BUILTIN.len());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("broken.toml:2:1"), "{warnings:?}");
        let e = load_all("broken", Some(dir.path()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("broken.toml:2:1"), "{e}");
    }

    #[test]
    fn fifos_and_device_links_are_not_themes() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).unwrap();
        let fifo = dir.path().join("pipe.toml");
        let ok = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(ok.is_ok_and(|s| s.success()));
        std::fs::create_dir(dir.path().join("dir.toml")).unwrap();
        let names = available(Some(dir.path()));
        assert_eq!(names.len(), BUILTIN.len(), "{names:?}");
        let (themes, warnings) = load_all("dark", Some(dir.path())).unwrap();
        assert_eq!((themes.len(), warnings.len()), (BUILTIN.len(), 0));
        assert!(load("zero", Some(dir.path())).is_err());
    }

    #[test]
    fn an_extends_cycle_is_reported_as_a_cycle() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), "extends = \"b\"\n").unwrap();
        std::fs::write(dir.path().join("b.toml"), "extends = \"a\"\n").unwrap();
        std::fs::write(dir.path().join("me.toml"), "extends = \"me\"\n").unwrap();
        let e = load("a", Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("cycle: a → b → a"), "{e}");
        let e = load("me", Some(dir.path())).unwrap_err().to_string();
        assert!(e.contains("cycle: me → me"), "{e}");
        let e = load_file(&dir.path().join("a.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("cycle"), "{e}");
    }

    #[test]
    fn user_theme_extends_a_builtin() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "extends = \"light\"\n[colors]\ncanary = \"#ff00ff\"\n",
        )
        .unwrap();
        let t = load("mine", Some(dir.path())).unwrap();
        assert_eq!(t.canary, Color::Rgb(255, 0, 255));
        assert_eq!(t.stable, load("light", None).unwrap().stable);
    }
}
