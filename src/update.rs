//! `update(&mut App, Msg) -> Vec<Effect>`: the only place state changes. Deterministic: the
//! clock arrives as `Msg::Tick`, and no I/O happens here.

mod autopilot;
mod command;
mod keys;
mod mouse;
mod operator;
mod sources;

pub use operator::{command_for, refusal};

use crate::app::App;
use crate::effect::Effect;
use crate::msg::Msg;

/// Applies one message to the app and returns the effects to run. The overview's rows are
/// current when it returns.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    let selected = app.ui.selected.clone();
    let mut effects = apply(app, msg);
    app.refresh_rows();
    app.check_indexes();
    // A newly selected rollout whose history was not kept gets it fetched again.
    if app.ui.selected != selected
        && let Some(t) = app.selected()
        && !t.keeps_history()
        && t.metrics_source.is_some()
    {
        effects.push(Effect::Shown(t.rollout.key.clone()));
    }
    effects
}

fn apply(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Tick(now) => {
            if now > app.now {
                app.now = now;
            }
            autopilot::tick(app)
        }
        Msg::Provider(ev) => {
            sources::provider(app, ev);
            Vec::new()
        }
        Msg::Metrics(batch) => {
            sources::metrics(app, batch);
            Vec::new()
        }
        Msg::History { points, .. } => {
            sources::history(app, points);
            Vec::new()
        }
        Msg::SourceError { source, error } => {
            sources::error(app, source, error);
            Vec::new()
        }
        Msg::Operator { target, command } => operator::operator(
            app,
            &target,
            command,
            crate::domain::change::Origin::Operator,
        ),
        Msg::WriteDone(done) => {
            operator::write_done(app, done);
            Vec::new()
        }
        Msg::AuditFailed(text) => {
            app.toast(crate::app::Level::Error, text.clone());
            app.audit_warning = Some(text);
            Vec::new()
        }
        Msg::Key(k) => keys::key(app, k),
        Msg::Mouse { ev, at } => {
            mouse::mouse(app, ev, at);
            Vec::new()
        }
        Msg::Resize(w, h) => {
            app.ui.size = (w, h);
            Vec::new()
        }
        Msg::Quit => {
            app.should_quit = true;
            vec![Effect::Quit]
        }
    }
}
