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
    // What the last frame showed of the clock (see `ui::clock_face`).
    let mut drawn_face = None;
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
                    Some(m) => {
                        dirty |= shows(&session.app, &m);
                        quit |= session.dispatch(m);
                    }
                    None => quit = true,
                }
                // Drain a bounded burst so a flood of samples costs one frame, not many.
                for _ in 0..DRAIN_MSGS {
                    match session.rx.try_recv() {
                        Ok(m) => {
                            dirty |= shows(&session.app, &m);
                            quit |= session.dispatch(m);
                        }
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                // New log lines reach the log pane's buffer here (there is no logger thread).
                tui_logger::move_events();
                let before = session.app.now;
                let effects = session.effects_run();
                quit |= session.dispatch(Msg::Tick(SystemTime::now()));
                dirty |= tick_shows(&session.app, before, drawn_face) || session.effects_run() != effects;
            }
            _ = tokio::time::sleep_until(next_frame.into()), if dirty => {
                let theme = &themes[session.app.ui.theme_index % themes.len().max(1)];
                let app = &session.app;
                if let Err(e) = term.draw(|f| crate::ui::render(app, theme, f)) {
                    failed = Some(e);
                    quit = true;
                }
                last_draw = Instant::now();
                drawn_face = crate::ui::clock_face(app);
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

/// Whether a tick from `before` to `app.now` changes the screen, given what the last frame
/// showed of the clock (`drawn`). Ages, countdowns and toast lifetimes are whole seconds, so
/// the overview needs a frame at most once a second, and then only when one of those texts
/// turned over (`ui::clock_face`); the detail charts scroll with the clock and the log pane
/// fills from outside `App`, so they take every tick.
pub fn tick_shows(app: &crate::app::App, before: SystemTime, drawn: Option<u64>) -> bool {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
    };
    if app.ui.detail || app.ui.log_pane {
        return true;
    }
    secs(before) != secs(app.now) && (drawn.is_none() || crate::ui::clock_face(app) != drawn)
}

/// Whether `msg`, about to enter `update`, can change the screen. A heartbeat from a source
/// that is already fresh changes nothing drawn (its age is shown only once it is stale), so a
/// quiet cluster costs no frames beyond the once-a-second clock.
pub fn shows(app: &crate::app::App, msg: &Msg) -> bool {
    match msg {
        Msg::Provider(crate::msg::ProviderEvent::Alive { source }) => {
            !app.sources.contains_key(source) || app.is_stale(source)
        }
        Msg::Provider(crate::msg::ProviderEvent::Upsert { source, rollout }) => {
            // A change to a row off screen changes nothing drawn, unless it can move rows
            // (phase, owner), raise a toast (the autopilot's drift), or a dialog, a source's
            // badge or the empty-cluster note is up.
            let Some(t) = app.rollouts.get(&rollout.key) else {
                return true;
            };
            t.rollout.phase != rollout.phase
                || t.rollout.owner != rollout.owner
                || t.autopilot.is_some()
                || &t.source != source
                || app.ui.modal.is_some()
                || app.nothing_found.is_some()
                || !app.sources.contains_key(source)
                || app.is_stale(source)
                || crate::ui::shows_rollout(app, &rollout.key)
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::domain::Plan;
    use crate::domain::observation::SourceId;
    use crate::msg::ProviderEvent;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn the_overview_redraws_on_the_second_not_every_tick() {
        let mut app = App::new(at(10_000), Plan::default());
        app.now = at(10_400);
        assert!(
            !tick_shows(&app, at(10_200), None),
            "same second: nothing moved"
        );
        app.now = at(11_000);
        assert!(
            tick_shows(&app, at(10_800), None),
            "a new second: ages tick"
        );
        app.now = at(11_200);
        app.ui.detail = true;
        assert!(
            tick_shows(&app, at(11_000), None),
            "charts scroll every tick"
        );
    }

    fn rollout(i: usize, canary: u8) -> crate::domain::Rollout {
        use crate::domain::{Build, Owner, ProviderKind, Role, Rollout, RolloutKey, Weight};
        let w = Weight::from_whole(canary).unwrap_or(Weight::ZERO);
        let b = |role, name: &str, w: Weight| Build {
            role,
            name: name.into(),
            version: None,
            weight: w,
            selector: name.into(),
        };
        Rollout::new(
            RolloutKey::namespaced(ProviderKind::Istio, "shop", format!("svc-{i:04}")),
            Owner::Manual,
            vec![
                b(Role::Stable, "stable", w.complement()),
                b(Role::Canary, "canary", w),
            ],
        )
    }

    #[test]
    fn a_quiet_board_draws_only_when_a_text_turns_over() {
        let source = SourceId("kube VirtualService".into());
        let mut app = App::new(at(10_000), Plan::default());
        crate::update::update(&mut app, Msg::Resize(120, 30));
        crate::update::update(
            &mut app,
            Msg::Provider(ProviderEvent::Restarted {
                source: source.clone(),
                rollouts: (0..3).map(|i| rollout(i, 10)).collect(),
            }),
        );
        // The source answers every second; the rows last changed at 10 s.
        let second = |app: &mut App, ms: u64| {
            let before = app.now;
            crate::update::update(app, Msg::Tick(at(ms)));
            crate::update::update(
                app,
                Msg::Provider(ProviderEvent::Alive {
                    source: source.clone(),
                }),
            );
            before
        };
        second(&mut app, 170_000);
        let drawn = crate::ui::clock_face(&app);
        assert!(drawn.is_some());
        let before = second(&mut app, 171_000);
        assert!(
            !tick_shows(&app, before, drawn),
            "CHANGED still reads 2m: nothing to draw"
        );
        let before = second(&mut app, 190_000);
        assert!(tick_shows(&app, before, drawn), "CHANGED turns to 3m");
        let drawn = crate::ui::clock_face(&app);
        // The source stops answering: its badge must appear without any message.
        let before = app.now;
        crate::update::update(&mut app, Msg::Tick(at(194_000)));
        assert!(tick_shows(&app, before, drawn), "the source turned stale");
        app.ui.help = true;
        let before = second(&mut app, 195_000);
        assert!(
            tick_shows(&app, before, crate::ui::clock_face(&app)),
            "an overlay not digested draws every second"
        );
    }

    #[test]
    fn a_change_off_screen_draws_nothing() {
        let source = SourceId("kube VirtualService".into());
        let mut app = App::new(at(10_000), Plan::default());
        crate::update::update(&mut app, Msg::Resize(120, 30));
        crate::update::update(
            &mut app,
            Msg::Provider(ProviderEvent::Restarted {
                source: source.clone(),
                rollouts: (0..100).map(|i| rollout(i, 10)).collect(),
            }),
        );
        let change = |i| {
            Msg::Provider(ProviderEvent::Upsert {
                source: source.clone(),
                rollout: Box::new(rollout(i, 20)),
            })
        };
        assert!(shows(&app, &change(3)), "a row on the first screen");
        assert!(!shows(&app, &change(90)), "a row below the window");
        assert!(
            shows(&app, &change(100)),
            "a new rollout: the count changes"
        );
        app.ui.selected = Some(rollout(95, 10).key);
        assert!(shows(&app, &change(90)), "scrolled down to it");
        assert!(!shows(&app, &change(3)), "scrolled past it");
        app.ui.detail = true;
        assert!(shows(&app, &change(95)), "its detail is open");
        assert!(!shows(&app, &change(94)));
    }

    #[test]
    fn a_heartbeat_from_a_fresh_source_draws_nothing() {
        let mut app = App::new(at(10_000), Plan::default());
        let source = SourceId("kube Rollout".into());
        let alive = Msg::Provider(ProviderEvent::Alive {
            source: source.clone(),
        });
        assert!(shows(&app, &alive), "a source seen for the first time");
        app.sources.entry(source.clone()).or_default().last_ok = Some(at(9_500));
        assert!(!shows(&app, &alive));
        app.now = at(20_000);
        assert!(
            shows(&app, &alive),
            "a stale source recovers: its badge goes"
        );
        app.sources.entry(source).or_default().last_error = Some("gone".into());
        app.now = at(9_600);
        assert!(shows(&app, &alive), "a failing source recovers");
    }

    #[test]
    fn frame_interval_is_one_over_fps() {
        assert_eq!(frame_interval(30), Duration::from_secs_f64(1.0 / 30.0));
        assert_eq!(frame_interval(1), Duration::from_secs(1));
        assert_eq!(frame_interval(0), Duration::from_secs(1));
    }
}
