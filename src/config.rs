//! `config.toml`: theme, frame rate, key overrides and plan defaults. Read and validated
//! before the terminal goes raw; unknown keys and bad values are errors naming file and line.

use crate::domain::{Plan, Weight};
use crate::toml_file::{self, TomlError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A duration as written in config (`"5s"`), validated while parsing so errors carry a line.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DurationSpec(pub Duration);

impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s)
            .map(DurationSpec)
            .map_err(|e| serde::de::Error::custom(format!("{s:?}: {e} (try 5s, 500ms, 2m)")))
    }
}

/// A percentage as written in config (`10`, `2.5`), validated while parsing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PercentSpec(pub Weight);

impl<'de> Deserialize<'de> for PercentSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        Weight::from_percent(v)
            .map(PercentSpec)
            .map_err(serde::de::Error::custom)
    }
}

/// `[plan]`: defaults for every autopilot rollout; flags override.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(missing_docs)]
pub struct PlanFile {
    pub step: Option<PercentSpec>,
    pub max_weight: Option<PercentSpec>,
    pub interval: Option<DurationSpec>,
    pub threshold: Option<u32>,
    pub max_error_rate: Option<PercentSpec>,
    pub max_p99: Option<DurationSpec>,
}

/// The config file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConfigFile {
    /// Theme name (`--theme` wins).
    pub theme: Option<String>,
    /// Max frames per second (`--fps` wins).
    pub fps: Option<u32>,
    /// Key overrides by action name: `abort = "ctrl-a"`.
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Plan defaults.
    #[serde(default)]
    pub plan: PlanFile,
    /// Per-context settings for `aviary kube`: `[contexts.prod-eu] prometheus = "URL"`.
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextFile>,
}

/// `[contexts.NAME]`: what differs per cluster.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ContextFile {
    /// This cluster's Prometheus (over `--prometheus`, which the others keep).
    pub prometheus: Option<String>,
}

/// The validated config.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where it came from (for messages), if a file was read.
    pub path: Option<PathBuf>,
    /// The file's content.
    pub file: ConfigFile,
    /// Plan defaults resolved over the built-in plan.
    pub plan: Plan,
    /// Line of each `[keys]` entry, for error messages from the keymap.
    pub key_lines: BTreeMap<String, usize>,
}

/// A config error: names the file and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Syntax, unknown key, bad value; or the file could not be read.
    #[error(transparent)]
    File(#[from] TomlError),
    /// The plan as a whole cannot work.
    #[error("{file}: [plan]: {message}")]
    Plan {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
}

/// The default config path.
pub fn default_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("dev", "aviary", "aviary")
        .map(|d| d.config_dir().join("config.toml"))
}

/// Which file to read: `--config`/`$AVIARY_CONFIG` (must exist), else the default (optional).
pub fn config_path_from(flag: Option<&Path>, default: Option<PathBuf>) -> (Option<PathBuf>, bool) {
    match flag {
        Some(p) => (Some(p.to_path_buf()), true),
        None => (default, false),
    }
}

impl Config {
    /// Parses config text; `file` labels errors.
    pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
        let cf: ConfigFile = toml_file::parse(file, text)?;
        let base = Plan::default();
        let p = &cf.plan;
        let plan = Plan {
            step: p.step.map_or(base.step, |w| w.0),
            max_weight: p.max_weight.map_or(base.max_weight, |w| w.0),
            interval: p.interval.map_or(base.interval, |d| d.0),
            threshold: p.threshold.unwrap_or(base.threshold),
            max_error_rate: p
                .max_error_rate
                .map_or(base.max_error_rate, |w| w.0.percent() / 100.0),
            max_p99: p.max_p99.map_or(base.max_p99, |d| d.0),
            evidence: base.evidence.clone(),
        };
        plan.validate().map_err(|e| ConfigError::Plan {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        if cf.fps == Some(0) {
            let off = text.find("fps").unwrap_or(0);
            let (line, column) = toml_file::line_col(text, off);
            return Err(ConfigError::File(TomlError::Parse {
                file: file.to_string(),
                line,
                column,
                message: "fps must be at least 1".into(),
            }));
        }
        let key_lines = key_lines(text);
        Ok(Config {
            path: None,
            file: cf,
            plan,
            key_lines,
        })
    }

    /// Loads the config per the precedence rules; no file at the default path is fine.
    pub fn load(flag: Option<&Path>) -> Result<Config, ConfigError> {
        let (path, required) = config_path_from(flag, default_path());
        let Some(path) = path else {
            return Config::parse("<defaults>", "");
        };
        if !required && !path.exists() {
            return Config::parse("<defaults>", "");
        }
        let label = path.display().to_string();
        let text = toml_file::read_text(&path)?;
        let mut c = Config::parse(&label, &text)?;
        c.path = Some(path);
        Ok(c)
    }

    /// Label for messages.
    pub fn label(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<defaults>".into())
    }
}

/// Line numbers of the entries in the `[keys]` table (simple scan; TOML keys are one per line).
fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut in_keys = false;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            in_keys = t == "[keys]";
            continue;
        }
        if in_keys && let Some((k, _)) = t.split_once('=') {
            out.insert(k.trim().trim_matches('"').to_string(), i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_can_have_its_own_prometheus() {
        let c = Config::parse(
            "c.toml",
            "[contexts.prod-eu]\nprometheus = \"http://p.eu:9090\"\n",
        )
        .unwrap();
        assert_eq!(
            c.file.contexts["prod-eu"].prometheus.as_deref(),
            Some("http://p.eu:9090")
        );
        assert!(Config::parse("c.toml", "[contexts.x]\nprometheus-url = \"u\"\n").is_err());
    }

    #[test]
    fn sample_config_parses() {
        let c = Config::parse(
            "docs/config-sample.toml",
            include_str!("../docs/config-sample.toml"),
        )
        .unwrap();
        assert_eq!(c.file.theme.as_deref(), Some("dark"));
        assert_eq!(c.plan.interval, Duration::from_secs(5));
    }

    #[test]
    fn unknown_key_is_an_error_with_its_line() {
        let e = Config::parse("c.toml", "theme = \"dark\"\nfsp = 30\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:"), "{e}");
        assert!(e.contains("fsp"), "{e}");
    }

    #[test]
    fn bad_plan_values_name_their_line() {
        let e = Config::parse("c.toml", "[plan]\nstep = 10\ninterval = \"5 parsecs\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:3:"), "{e}");
        let e = Config::parse("c.toml", "[plan]\nstep = 60\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max weight"), "{e}");
        let e = Config::parse("c.toml", "[plan]\nmax-weight = 150\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("c.toml:2:"), "{e}");
    }

    #[test]
    fn flag_wins_over_the_default_path() {
        let (p, required) =
            config_path_from(Some(Path::new("/x.toml")), Some(PathBuf::from("/d.toml")));
        assert_eq!((p, required), (Some(PathBuf::from("/x.toml")), true));
        let (p, required) = config_path_from(None, Some(PathBuf::from("/d.toml")));
        assert_eq!((p, required), (Some(PathBuf::from("/d.toml")), false));
    }
}
