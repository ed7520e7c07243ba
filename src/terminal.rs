//! Owning the terminal: enter raw mode and the alternate screen, and restore them on every
//! way out, `?` and panics included. The panic hook goes on top of color-eyre's (installed
//! first in `main`), the order ratatui asks for, with one difference from `ratatui::init`'s:
//! a panic on a worker thread (a provider task) is logged to the log pane and does not tear
//! the terminal down under a still-running UI; that worker's source goes stale instead.

use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
use ratatui::DefaultTerminal;
use std::io::Write;

/// Holds the terminal; restores it when dropped.
pub struct TerminalGuard {
    /// The ratatui terminal.
    pub terminal: DefaultTerminal,
}

impl TerminalGuard {
    /// Enters raw mode and the alternate screen.
    pub fn new(mouse: bool) -> std::io::Result<Self> {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name() == Some("main") {
                let _ =
                    crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
                let _ = ratatui::try_restore();
                previous(info);
            } else {
                tracing::error!("a worker task panicked: {info}");
            }
        }));
        crossterm::terminal::enable_raw_mode()?;
        let started =
            crossterm::execute!(std::io::stdout(), crossterm::terminal::EnterAlternateScreen)
                .and_then(|_| {
                    if mouse {
                        crossterm::execute!(
                            std::io::stdout(),
                            crossterm::event::EnableMouseCapture
                        )?;
                    }
                    ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(
                        std::io::stdout(),
                    ))
                });
        match started {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                let _ = ratatui::try_restore();
                Err(e)
            }
        }
    }

    /// Draws one frame inside a synchronized update so the terminal never shows half a frame.
    pub fn draw(&mut self, f: impl FnOnce(&mut ratatui::Frame)) -> std::io::Result<()> {
        let mut out = std::io::stdout();
        crossterm::queue!(out, BeginSynchronizedUpdate)?;
        let r = self.terminal.draw(f).map(|_| ());
        crossterm::queue!(out, EndSynchronizedUpdate)?;
        out.flush()?;
        r
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        // Never unwrap here: a failing restore must not turn into a panic during a panic.
        let _ = crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture);
        if let Err(e) = ratatui::try_restore() {
            eprintln!("aviary: could not restore the terminal: {e} (try `reset`)");
        }
    }
}
