//! The TUI's single loop: one task owns the terminal and turns terminal events, worker
//! messages and the clock into `Msg`s for `update`, drawing only when something changed and
//! at most `fps` times a second; docs/ARCHITECTURE.md
//! describes the loop.

use crate::msg::Msg;
use crate::session::Session;
use crate::terminal::TerminalGuard;
use crate::theme::Theme;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use std::time::{Duration, Instant, SystemTime};
use tokio::time::MissedTickBehavior;

/// Clock tick: ages, spinners and the autopilot advance at this rate.
pub const TICK: Duration = Duration::from_millis(200);
/// Most worker messages handled before a draw gets a chance.
const DRAIN_MSGS: usize = 256;

/// Time between frames at `fps` frames per second.
pub fn frame_interval(fps: u32) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(fps.clamp(1, 240)))
}

/// Signals that end the session the same way `q` does (without its question: nobody is
/// at the keyboard to answer).
pub struct Signals {
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    quit: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers for TERM, HUP, QUIT and INT.
    pub fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            quit: signal(SignalKind::quit())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves when any of them arrives, and remembers which for the exit status.
    pub async fn recv(&mut self) {
        let n = tokio::select! {
            _ = self.term.recv() => 15,
            _ = self.hup.recv() => 1,
            _ = self.quit.recv() => 3,
            _ = self.int.recv() => 2,
        };
        RECEIVED.store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The signal that ended the session, if one did (0: none).
static RECEIVED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The number of the signal that ended the session, so the process can exit with the
/// conventional status (128 + N, as a shell reports a process the signal killed) after its
/// clean shutdown.
pub fn signal_received() -> Option<i32> {
    let n = RECEIVED.load(std::sync::atomic::Ordering::SeqCst);
    (n > 0).then_some(n)
}

/// Runs the TUI over `session` until quit. Writes in flight drain on screen, then the
/// terminal is restored and the shell is told about any canary left mid-way.
pub async fn run(
    mut session: Session,
    themes: Vec<Theme>,
    fps: u32,
    mouse: bool,
) -> std::io::Result<()> {
    session.app.ui.theme_names = themes.iter().map(|t| t.name.clone()).collect();
    let stderr = session.executor.stderr();
    stderr.hold();
    let mut term = match TerminalGuard::new(mouse) {
        Ok(t) => t,
        Err(e) => {
            stderr.release().iter().for_each(|l| eprintln!("{l}"));
            return Err(e);
        }
    };
    if let Ok(size) = term.terminal.size() {
        session.dispatch(Msg::Resize(size.width, size.height));
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let frame = frame_interval(fps);
    let mut last_draw = Instant::now() - frame;
    let mut dirty = true;
    let mut signals = Signals::new()?;
    let mut quit = false;
    let mut failed = None;
    while !quit {
        let next_frame = last_draw + frame;
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    quit |= session.dispatch(Msg::Key(k));
                    dirty = true;
                }
                Some(Ok(Event::Resize(w, h))) => {
                    session.dispatch(Msg::Resize(w, h));
                    dirty = true;
                }
                Some(Ok(Event::Mouse(m))) => {
                    use crossterm::event::{MouseButton, MouseEventKind as K};
                    let ev = match m.kind {
                        K::Down(MouseButton::Left) => Some(crate::msg::Mouse::Click(m.column, m.row)),
                        K::ScrollUp => Some(crate::msg::Mouse::ScrollUp(m.column, m.row)),
                        K::ScrollDown => Some(crate::msg::Mouse::ScrollDown(m.column, m.row)),
                        _ => None,
                    };
                    if let Some(ev) = ev {
                        session.dispatch(Msg::Mouse { ev, at: std::time::SystemTime::now() });
                        dirty = true;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::error!("terminal input: {e}");
                    quit = true;
                }
                None => quit = true,
            },
            msg = session.rx.recv() => {
                match msg {
                    Some(m) => quit |= session.dispatch(m),
                    None => quit = true,
                }
                // Drain a bounded burst so a flood of samples costs one frame, not many.
                for _ in 0..DRAIN_MSGS {
                    match session.rx.try_recv() {
                        Ok(m) => quit |= session.dispatch(m),
                        Err(_) => break,
                    }
                }
                dirty = true;
            }
            _ = tick.tick() => {
                quit |= session.dispatch(Msg::Tick(SystemTime::now()));
                dirty = true;
            }
            _ = tokio::time::sleep_until(next_frame.into()), if dirty => {
                let theme = &themes[session.app.ui.theme_index % themes.len().max(1)];
                let app = &session.app;
                if let Err(e) = term.draw(|f| crate::ui::render(app, theme, f)) {
                    failed = Some(e);
                    quit = true;
                }
                last_draw = Instant::now();
                dirty = false;
            }
            _ = signals.recv() => quit = true,
        }
        quit |= session.app.should_quit;
    }
    // The same way out for q, Ctrl-C and signals: the wait for writes in flight is drawn.
    let theme = &themes[session.app.ui.theme_index % themes.len().max(1)];
    let lines = session
        .shutdown(|app| {
            let _ = term.draw(|f| crate::ui::render(app, theme, f));
        })
        .await;
    drop(term);
    for l in lines {
        eprintln!("{l}");
    }
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_interval_is_one_over_fps() {
        assert_eq!(frame_interval(30), Duration::from_secs_f64(1.0 / 30.0));
        assert_eq!(frame_interval(1), Duration::from_secs(1));
        assert_eq!(frame_interval(0), Duration::from_secs(1));
    }
}
