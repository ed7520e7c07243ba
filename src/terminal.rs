//! Owning the terminal: enter raw mode and the alternate screen, and restore them on every
//! way out, `?` and panics included. ratatui's `init` installs its restore-on-panic hook on
//! top of color-eyre's (installed first in `main`), the order ratatui asks for.

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
    pub fn new() -> std::io::Result<Self> {
        Ok(TerminalGuard {
            terminal: ratatui::try_init()?,
        })
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
        if let Err(e) = ratatui::try_restore() {
            eprintln!("aviary: could not restore the terminal: {e} (try `reset`)");
        }
    }
}
