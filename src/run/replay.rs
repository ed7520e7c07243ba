//! `aviary replay FILE`: a recording played through the same `update` and the same screen,
//! read-only by construction — there is no executor, so the effects `update` returns (router
//! writes, audit lines, a demo restart) are dropped, and the recorded write results arrive
//! in their place. The operator's own keys replay against the operator's own view state, so
//! the viewer can move around (select, open, theme, log, help) without changing what the
//! operator's keys did.

use crate::app::{App, UiState};
use crate::domain::change::Command;
use crate::domain::observation::SourceId;
use crate::keymap::Action;
use crate::msg::Msg;
use crate::record::{Entry, Recording};
use crate::update::update;
use color_eyre::eyre::{Result, WrapErr};
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use futures::StreamExt;
use std::io::Write;
use std::time::Duration;

/// Playback state over one recording.
pub struct Player {
    rec: Recording,
    /// The replayed state, as the screen shows it.
    pub app: App,
    /// The live operator's view state: selection, dialogs, filter, terminal size.
    op_ui: UiState,
    next: usize,
    /// Show what the operator saw (selection, detail, dialogs) until the viewer moves.
    follow: bool,
    diverged: usize,
}

/// What a seek lands on.
pub fn is_marker(e: &Entry) -> bool {
    matches!(&e.msg, Msg::WriteDone(_))
        || matches!(
            &e.msg,
            Msg::Operator {
                command: Command::Abort,
                ..
            }
        )
}

impl Player {
    /// A player at the start of `rec`.
    pub fn new(rec: Recording) -> Self {
        let app = rec.header.app();
        let op_ui = app.ui.clone();
        Player {
            rec,
            app,
            op_ui,
            next: 0,
            follow: true,
            diverged: 0,
        }
    }

    /// The recording's entries.
    pub fn entries(&self) -> &[Entry] {
        &self.rec.entries
    }

    /// Index of the next entry to apply.
    pub fn position(&self) -> usize {
        self.next
    }

    /// Offset of the last applied entry.
    pub fn now_ms(&self) -> u64 {
        self.next
            .checked_sub(1)
            .and_then(|i| self.rec.entries.get(i))
            .map(|e| e.t_ms)
            .unwrap_or(0)
    }

    /// Offset of the last entry.
    pub fn end_ms(&self) -> u64 {
        self.rec.entries.last().map(|e| e.t_ms).unwrap_or(0)
    }

    /// Applies the next entry; `None` at the end. Returns what it applied.
    pub fn step(&mut self) -> Option<&Entry> {
        let i = self.next;
        let msg = self.rec.entries.get(i)?.msg.clone();
        self.next += 1;
        // Every message meets the operator's view, as it did live (the first upsert selects,
        // a recorded key acts on what the operator had selected); effects are dropped.
        if let Msg::WriteDone(d) = &msg {
            self.reconcile(d);
        }
        std::mem::swap(&mut self.app.ui, &mut self.op_ui);
        let _ = update(&mut self.app, msg);
        std::mem::swap(&mut self.app.ui, &mut self.op_ui);
        if self.follow {
            let (v, o) = (&mut self.app.ui, &self.op_ui);
            v.selected = o.selected.clone();
            v.detail = o.detail;
            v.modal = o.modal.clone();
            v.filter = o.filter.clone();
            v.help = o.help;
        } else if self
            .app
            .ui
            .selected
            .as_ref()
            .is_none_or(|k| !self.app.rollouts.contains_key(k))
        {
            self.app.ui.selected = self.op_ui.selected.clone();
        }
        // The live session ended here; the replay ends when the viewer says so.
        self.app.should_quit = false;
        self.rec.entries.get(i)
    }

    /// A recorded write result always lands. With the same build the replayed core has
    /// asked for exactly this write and it matches; a different build's autopilot may have
    /// decided otherwise, and then what really happened on the router wins (and is counted).
    fn reconcile(&mut self, d: &crate::domain::change::WriteDone) {
        let now = self.app.now;
        let Some(t) = self.app.rollouts.get_mut(&d.target) else {
            return;
        };
        if t.pending.as_ref().is_some_and(|p| p.op == d.op) {
            return;
        }
        self.diverged += 1;
        let before = t.rollout.canary_weight();
        t.pending = Some(crate::app::PendingOp {
            before,
            op: d.op,
            command: d.command,
            origin: d.origin,
            requested: d.result.as_ref().ok().and_then(|ok| ok.canary_weight),
            issued_at: now,
        });
    }

    /// Recorded writes this build's core had not asked for (0 when replaying with the
    /// build that recorded).
    pub fn diverged(&self) -> usize {
        self.diverged
    }

    /// The viewer takes over the view (after a view key): it stops following the operator's.
    pub fn detach(&mut self) {
        self.follow = false;
    }

    /// Applies every entry up to offset `t_ms`.
    pub fn play_until(&mut self, t_ms: u64) {
        while self
            .rec
            .entries
            .get(self.next)
            .is_some_and(|e| e.t_ms <= t_ms)
        {
            self.step();
        }
    }

    /// Rebuilds the state up to (not including) entry `index`, keeping the viewer's view.
    pub fn seek(&mut self, index: usize) {
        if index < self.next {
            let ui = std::mem::take(&mut self.app.ui);
            self.app = self.rec.header.app();
            self.op_ui = self.app.ui.clone();
            self.op_ui.keymap = ui.keymap.clone();
            self.app.ui = ui;
            self.next = 0;
            self.diverged = 0;
        }
        while self.next < index.min(self.rec.entries.len()) {
            self.step();
        }
    }

    /// The entry index just past the next marker after the current position.
    pub fn next_marker(&self) -> Option<usize> {
        (self.next..self.rec.entries.len())
            .find(|&i| is_marker(&self.rec.entries[i]))
            .map(|i| i + 1)
    }

    /// The entry index just past the last marker before the current one.
    pub fn prev_marker(&self) -> Option<usize> {
        let here = self.next.saturating_sub(1);
        (0..here)
            .rev()
            .find(|&i| is_marker(&self.rec.entries[i]))
            .map(|i| i + 1)
    }
}

/// `aviary replay FILE --headless`: the same JSON lines the live headless run printed.
pub fn headless(rec: Recording, out: &mut dyn Write) -> std::io::Result<()> {
    let mut p = Player::new(rec);
    let mut printer = crate::headless::Printer::default();
    while let Some(tick) = p.step().map(|e| matches!(e.msg, Msg::Tick(_))) {
        if tick {
            printer.after_tick(&p.app, out)?;
        }
    }
    crate::headless::summaries(&p.app, out)
}

/// Keys only a replay has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Space: pause or resume.
    Pause,
    /// `.`: one second forward (pauses).
    StepSecond,
    /// `→`: to just after the next write result or abort.
    NextMarker,
    /// `←`: back to just after the previous one.
    PrevMarker,
    /// `s`: 1× → 10× → 60×.
    Speed,
}

/// The replay control a key means, if any.
pub fn control(ev: &crossterm::event::KeyEvent) -> Option<Control> {
    use crossterm::event::KeyCode;
    match ev.code {
        KeyCode::Char(' ') => Some(Control::Pause),
        KeyCode::Char('.') => Some(Control::StepSecond),
        KeyCode::Right => Some(Control::NextMarker),
        KeyCode::Left => Some(Control::PrevMarker),
        KeyCode::Char('s') => Some(Control::Speed),
        _ => None,
    }
}

/// Viewer keys that only change what is shown; everything else is refused in a replay.
pub fn is_view_action(a: Action) -> bool {
    matches!(
        a,
        Action::Up
            | Action::Down
            | Action::Open
            | Action::Back
            | Action::Theme
            | Action::Log
            | Action::Help
    )
}

/// The next speed after `s`.
pub fn next_speed(s: u32) -> u32 {
    match s {
        1 => 10,
        10 => 60,
        _ => 1,
    }
}

/// The status note for the header.
pub fn status(p: &Player, speed: u32, paused: bool) -> String {
    let mmss = |ms: u64| format!("{}:{:02}", ms / 60_000, (ms / 1000) % 60);
    let diverged = match p.diverged() {
        0 => String::new(),
        n => format!(" · {n} writes differ from this build's autopilot"),
    };
    format!(
        "{} {}/{} {speed}× (read-only) · space ⏯ · . +1s · ←/→ write · s speed{diverged}",
        if paused { "⏸" } else { "▶" },
        mmss(p.now_ms()),
        mmss(p.end_ms()),
    )
}

/// The replay's source id, whose note is the status line.
pub fn source() -> SourceId {
    SourceId("replay".into())
}

/// `aviary replay FILE [--speed N] [--headless]`.
pub async fn replay(args: crate::cli::ReplayArgs, global: crate::cli::GlobalArgs) -> Result<()> {
    let rec = crate::record::Reader::open(&args.file)?;
    if rec.header.aviary_version != crate::cli::VERSION {
        eprintln!(
            "aviary replay: recorded by aviary {}, replaying with {}: the autopilot's reasons may read differently; the recorded writes are replayed as they happened",
            rec.header.aviary_version,
            crate::cli::VERSION
        );
    }
    if let Some(line) = rec.truncated_at {
        eprintln!(
            "aviary replay: {}:{line}: the last line is incomplete (the recording was cut off mid-write); replaying the {} complete entries before it",
            args.file.display(),
            rec.entries.len()
        );
    }
    if global.headless {
        let mut out = std::io::stdout();
        return headless(rec, &mut out).wrap_err("writing the replay");
    }
    let settings = crate::settings::Settings::load(&global)?;
    if settings.themes.is_empty() {
        return Err(color_eyre::eyre::eyre!("no theme could be loaded"));
    }
    let mut p = Player::new(rec);
    p.app.ui.keymap = settings.keymap.clone();
    p.op_ui.keymap = settings.keymap.clone();
    p.app.ui.theme_names = settings.themes.iter().map(|t| t.name.clone()).collect();
    tui(p, settings.themes, args.speed).await?;
    Ok(())
}

/// Playback tick: how often the virtual clock advances and the screen is drawn.
const FRAME: Duration = Duration::from_millis(50);

async fn tui(mut p: Player, themes: Vec<crate::theme::Theme>, speed: u32) -> std::io::Result<()> {
    let mut term = crate::terminal::TerminalGuard::new(false)?;
    if let Ok(size) = term.terminal.size() {
        let _ = update(&mut p.app, Msg::Resize(size.width, size.height));
    }
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut speed = if [1, 10, 60].contains(&speed) {
        speed
    } else {
        speed.max(1)
    };
    let mut paused = false;
    let mut clock = 0u64;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    let quit = k.code == KeyCode::Char('q')
                        || (k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL));
                    if quit && !p.app.ui.help {
                        break;
                    }
                    match control(&k) {
                        Some(Control::Pause) => paused = !paused,
                        Some(Control::Speed) => speed = next_speed(speed),
                        Some(Control::StepSecond) => {
                            paused = true;
                            clock = p.now_ms().max(clock) + 1000;
                            p.play_until(clock);
                        }
                        Some(Control::NextMarker) => {
                            if let Some(i) = p.next_marker() {
                                p.seek(i);
                                clock = p.now_ms();
                                paused = true;
                            }
                        }
                        Some(Control::PrevMarker) => {
                            if let Some(i) = p.prev_marker() {
                                p.seek(i);
                                clock = p.now_ms();
                                paused = true;
                            }
                        }
                        None => viewer_key(&mut p, k),
                    }
                }
                Some(Ok(Event::Resize(w, h))) => {
                    let _ = update(&mut p.app, Msg::Resize(w, h));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            _ = tick.tick() => {
                if !paused {
                    clock += FRAME.as_millis() as u64 * u64::from(speed);
                    p.play_until(clock);
                    if p.position() >= p.entries().len() {
                        paused = true;
                    }
                }
                let now = p.app.now;
                let note = status(&p, speed, paused);
                let st = p.app.sources.entry(source()).or_default();
                st.last_ok = Some(now);
                st.info = Some(note);
                let theme = &themes[p.app.ui.theme_index % themes.len().max(1)];
                let app = &p.app;
                term.draw(|f| crate::ui::render(app, theme, f))?;
            }
        }
    }
    drop(term);
    Ok(())
}

/// A viewer's key: view actions change the viewer's screen; anything that would write is
/// refused, saying why.
fn viewer_key(p: &mut Player, k: crossterm::event::KeyEvent) {
    let action = p.app.ui.keymap.action(&k);
    if p.app.ui.help || action.is_some_and(is_view_action) {
        p.detach();
        p.app.ui.modal = None; // a copy of the operator's dialog; the viewer cannot answer it
        let _ = update(&mut p.app, Msg::Key(k));
    } else if action.is_some() {
        p.app.toast(
            crate::app::Level::Warn,
            "replay is read-only: nothing is written to any router",
        );
    }
}
