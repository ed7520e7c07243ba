//! Everything read from disk before the terminal goes raw: config, themes, keymap. Any
//! error here names the file and line and ends the process with a non-zero status while the
//! terminal is still untouched.

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::keymap::Keymap;
use crate::theme::{self, Theme};
use color_eyre::eyre::{Result, WrapErr, eyre};

/// Validated settings for a session.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The config file.
    pub config: Config,
    /// Themes, the chosen one first (`t` cycles through the rest).
    pub themes: Vec<Theme>,
    /// Keys with overrides applied.
    pub keymap: Keymap,
    /// Frames per second.
    pub fps: u32,
    /// Themes skipped because their files do not load (shown once at start).
    pub warnings: Vec<String>,
}

/// Picks the theme: `--theme`, then config, then `mono` under `NO_COLOR`, then `dark`.
pub fn theme_name(flag: Option<&str>, config: Option<&str>, no_color: bool) -> String {
    flag.or(config).map(str::to_string).unwrap_or_else(|| {
        if no_color {
            "mono".into()
        } else {
            "dark".into()
        }
    })
}

impl Settings {
    /// Loads and validates; call before touching the terminal.
    pub fn load(global: &GlobalArgs) -> Result<Settings> {
        let config = Config::load(global.config.as_deref()).map_err(|e| eyre!("config: {e}"))?;
        let user_dir = theme::user_dir();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let name = theme_name(
            global.theme.as_deref(),
            config.file.theme.as_deref(),
            no_color,
        );
        let (themes, warnings) = if name.ends_with(".toml") {
            let t =
                theme::load_file(std::path::Path::new(&name)).map_err(|e| eyre!("theme: {e}"))?;
            let (mut rest, warnings) =
                theme::load_all("dark", user_dir.as_deref()).map_err(|e| eyre!("theme: {e}"))?;
            rest.insert(0, t);
            (rest, warnings)
        } else {
            theme::load_all(&name, user_dir.as_deref()).map_err(|e| eyre!("theme: {e}"))?
        };
        let keymap = Keymap::with_overrides(&config.file.keys, &config.label(), &config.key_lines)
            .map_err(|e| eyre!("config: {e}"))?;
        let fps = global.fps.or(config.file.fps).unwrap_or(30);
        if fps == 0 {
            return Err(eyre!("--fps must be at least 1"));
        }
        Ok(Settings {
            config,
            themes,
            keymap,
            fps,
            warnings,
        })
    }
}

/// Starts tracing: into the log pane for the TUI, to stderr (warnings) when headless.
pub fn init_tracing(headless: bool) -> Result<()> {
    use tracing_subscriber::prelude::*;
    if headless {
        tracing_subscriber::registry()
            // Colour codes only for a person at a terminal, never into a log file or pipe.
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(tracing_subscriber::filter::LevelFilter::WARN)
            .try_init()
            .wrap_err("tracing")?;
    } else {
        // Not `init_logger`: its thread wakes a hundred times a second to move lines into
        // the pane's buffer; the TUI loop moves them on its own tick instead.
        tui_logger::set_default_level(tui_logger::LevelFilter::Info);
        tracing_subscriber::registry()
            .with(tui_logger::TuiTracingSubscriberLayer)
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .try_init()
            .wrap_err("tracing")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theme_precedence_flag_config_no_color_default() {
        assert_eq!(theme_name(Some("light"), Some("dark"), true), "light");
        assert_eq!(theme_name(None, Some("colorblind"), true), "colorblind");
        assert_eq!(theme_name(None, None, true), "mono");
        assert_eq!(theme_name(None, None, false), "dark");
    }
}
