//! The TUI's single loop: one task owns the terminal and turns terminal events, worker
//! messages and the clock into `Msg`s for `update`, drawing only when something changed and
//! at most `fps` times a second (STYLE §3).

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

/// Runs the TUI over `session` until quit. The terminal is restored before returning.
pub async fn run(mut session: Session, themes: Vec<Theme>, fps: u32) -> std::io::Result<()> {
    session.app.ui.theme_names = themes.iter().map(|t| t.name.clone()).collect();
    let mut term = TerminalGuard::new()?;
    if let Ok(size) = term.terminal.size() {
        session.dispatch(Msg::Resize(size.width, size.height));
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let frame = frame_interval(fps);
    let mut last_draw = Instant::now() - frame;
    let mut dirty = true;
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut quit = false;
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
                term.draw(|f| crate::ui::render(app, theme, f))?;
                last_draw = Instant::now();
                dirty = false;
            }
            _ = tokio::signal::ctrl_c() => quit = true,
            _ = sigterm.recv() => quit = true,
        }
        quit |= session.app.should_quit;
    }
    session.cancel.cancel();
    drop(term);
    Ok(())
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
