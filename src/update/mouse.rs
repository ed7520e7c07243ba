//! The mouse: the wheel scrolls the overview (or the detail's events), a click selects the
//! row under it, a second click on the same row within half a second opens it. Nothing the
//! mouse does writes: actions stay behind keys and their confirmations.

use crate::app::App;
use crate::domain::RolloutKey;
use crate::msg::Mouse;
use std::time::{Duration, SystemTime};

/// Two clicks on one row within this are a double-click.
const DOUBLE: Duration = Duration::from_millis(500);

/// Rows above the first overview row: the header line, the table's border, its titles. The
/// same layout `ui` draws (status line, bordered table with a title row); `update` may not
/// import `ui`, so it is restated here and checked by the mouse tests.
const FIRST_ROW: u16 = 3;

/// Handles one mouse event.
pub fn mouse(app: &mut App, ev: Mouse, at: SystemTime) {
    if app.ui.modal.is_some() || app.ui.command.is_some() || app.ui.help {
        return;
    }
    match ev {
        Mouse::ScrollUp(..) | Mouse::ScrollDown(..) if app.ui.detail => {
            let up = matches!(ev, Mouse::ScrollUp(..));
            let n = app.selected().map_or(0, |t| t.events.len());
            app.ui.events_scroll = if up {
                (app.ui.events_scroll + 1).min(n.saturating_sub(1))
            } else {
                app.ui.events_scroll.saturating_sub(1)
            };
        }
        Mouse::ScrollUp(..) => app.move_selection(-1),
        Mouse::ScrollDown(..) => app.move_selection(1),
        Mouse::Click(_, y) if !app.ui.detail => {
            let Some(key) = row_at(app, y) else {
                return;
            };
            let double = app.ui.last_click.as_ref().is_some_and(|(k, t)| {
                *k == key && at.duration_since(*t).unwrap_or(DOUBLE) < DOUBLE
            });
            app.ui.selected = Some(key.clone());
            if double {
                app.ui.detail = true;
                app.ui.events_scroll = 0;
                app.ui.last_click = None;
            } else {
                app.ui.last_click = Some((key, at));
            }
        }
        Mouse::Click(..) => {}
    }
}

/// The rollout drawn on screen row `y`, with the same offset the table uses (the selection
/// kept on the last visible row).
fn row_at(app: &App, y: u16) -> Option<RolloutKey> {
    let (_, h) = app.ui.size;
    let log = if app.ui.log_pane { (h / 3).max(3) } else { 0 };
    // Header, toast and footer lines, then the table's borders and title row.
    let body = h.saturating_sub(3 + log);
    let height = body.saturating_sub(3) as usize;
    let line = y.checked_sub(FIRST_ROW)? as usize;
    if line >= height {
        return None;
    }
    let rows = app.rows();
    let sel = app.ui.selected.as_ref().and_then(|s| rows.position(s));
    let offset = sel.map_or(0, |i| i.saturating_sub(height.saturating_sub(1)));
    rows.get(offset + line).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::App;
    use crate::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, Weight};

    fn app(n: usize) -> App {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut app = App::new(now, Plan::default());
        app.ui.size = (80, 24);
        for i in 0..n {
            let key = RolloutKey::new(ProviderKind::Demo, format!("svc-{i:02}"));
            let b = |role, w| Build {
                role,
                name: "b".into(),
                version: None,
                weight: w,
                selector: String::new(),
            };
            let r = Rollout::new(key, Owner::Manual, vec![b(Role::Stable, Weight::FULL)]);
            crate::update::update(
                &mut app,
                crate::msg::Msg::Provider(crate::msg::ProviderEvent::Upsert {
                    source: crate::domain::observation::SourceId("t".into()),
                    rollout: Box::new(r),
                }),
            );
        }
        app
    }

    #[test]
    fn click_selects_the_row_under_it_and_a_second_click_opens_it() {
        let mut a = app(3);
        let t = a.now;
        mouse(&mut a, Mouse::Click(10, FIRST_ROW + 1), t);
        assert_eq!(
            a.ui.selected.as_ref().map(|k| k.name.as_str()),
            Some("svc-01")
        );
        assert!(!a.ui.detail);
        mouse(
            &mut a,
            Mouse::Click(10, FIRST_ROW + 1),
            t + Duration::from_millis(200),
        );
        assert!(a.ui.detail);
    }

    #[test]
    fn slow_clicks_and_clicks_outside_the_rows_do_not_open() {
        let mut a = app(3);
        let t = a.now;
        mouse(&mut a, Mouse::Click(10, FIRST_ROW), t);
        mouse(
            &mut a,
            Mouse::Click(10, FIRST_ROW),
            t + Duration::from_secs(2),
        );
        assert!(!a.ui.detail);
        mouse(&mut a, Mouse::Click(10, 1), t);
        assert_eq!(
            a.ui.selected.as_ref().map(|k| k.name.as_str()),
            Some("svc-00")
        );
    }

    #[test]
    fn the_wheel_moves_through_the_rows() {
        let mut a = app(3);
        let t = a.now;
        mouse(&mut a, Mouse::ScrollDown(0, 5), t);
        mouse(&mut a, Mouse::ScrollDown(0, 5), t);
        assert_eq!(
            a.ui.selected.as_ref().map(|k| k.name.as_str()),
            Some("svc-02")
        );
        mouse(&mut a, Mouse::ScrollUp(0, 5), t);
        assert_eq!(
            a.ui.selected.as_ref().map(|k| k.name.as_str()),
            Some("svc-01")
        );
    }
}
