//! Render tests: the real `ui::render` on ratatui's `TestBackend`, at the minimum supported
//! size (80×24) and the screenshot size (120×36), with time frozen so snapshots are exact.
//! Colours are asserted separately (a text snapshot drops them).

use aviary::app::App;
use aviary::domain::observation::{BuildSample, LatencyHistogram, MetricsBatch, SourceId};
use aviary::domain::{
    ActionKind, Build, Capabilities, Controller, Owner, Phase, Plan, ProviderKind, Role, Rollout,
    RolloutKey, Weight,
};
use aviary::msg::{Msg, ProviderEvent};
use aviary::theme::{self, Theme};
use aviary::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const T0: u64 = 1_800_000_000;

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + s)
}

fn w(p: u8) -> Weight {
    Weight::from_whole(p).expect("weight")
}

fn builds(stable: &str, canary: &str, c: Weight) -> Vec<Build> {
    let b = |role, name: &str, v: &str, weight| Build {
        role,
        name: name.into(),
        version: Some(v.into()),
        weight,
        selector: name.into(),
    };
    vec![
        b(Role::Stable, stable, "v1.0.0", c.complement()),
        b(Role::Canary, canary, "v1.1.0", c),
    ]
}

fn upsert(app: &mut App, source: &str, r: Rollout) {
    update(
        app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId(source.into()),
            rollout: Box::new(r),
        }),
    );
}

fn sample(req: u64, err: u64, lat_ms: f64) -> BuildSample {
    let mut h = LatencyHistogram::default();
    for i in 0..req {
        h.record(lat_ms * (0.6 + (i % 10) as f64 * 0.09));
    }
    BuildSample {
        period_s: 1.0,
        requests: req,
        errors: err,
        p50_ms: h.quantile(0.5),
        p99_ms: h.quantile(0.99),
        latency: Some(h),
    }
}

/// The demo rollout 40 s into a faulty canary, plus a paused Argo rollout and an aborted one.
fn scene() -> App {
    let mut app = App::new(at(0), Plan::default());
    app.start_paused = true;
    let mut demo = Rollout::new(
        RolloutKey::new(ProviderKind::Demo, "checkout"),
        Owner::Autopilot,
        builds("build 1", "build 4", Weight::ZERO),
    );
    demo.router = "http://127.0.0.1:8080".into();
    upsert(&mut app, "demo", demo);
    let key = RolloutKey::new(ProviderKind::Demo, "checkout");
    let mut argo = Rollout::new(
        RolloutKey::namespaced(ProviderKind::Argo, "shop", "payments"),
        Owner::Controller(Controller::Argo),
        builds("payments-6f7b", "payments-8c9d", w(20)),
    );
    argo.phase = Phase::Paused;
    argo.phase_text = "Paused (CanaryPauseStep)".into();
    argo.step = Some((2, 6));
    argo.message = "paused at step 2: waiting for promotion".into();
    argo.capabilities =
        Capabilities::all().refuse(ActionKind::SetWeight, "the controller owns this route");
    upsert(&mut app, "kube", argo);
    let mut failed = Rollout::new(
        RolloutKey::namespaced(ProviderKind::Flagger, "shop", "search"),
        Owner::Controller(Controller::Flagger),
        builds("search-primary", "search-canary", Weight::ZERO),
    );
    failed.phase = Phase::Failed;
    failed.phase_text = "Failed".into();
    failed.message = "Canary analysis failed: request-success-rate 91% < 99%".into();
    upsert(&mut app, "kube", failed);
    // Weight steps 0 → 10 → 20 and a faulty canary.
    for s in 1..=40u64 {
        let canary = if s < 10 {
            0
        } else if s < 25 {
            5
        } else {
            10
        };
        let mut per_build = BTreeMap::new();
        per_build.insert(
            "build 1".to_string(),
            sample(50 - canary, u64::from(s % 17 == 0), 18.0),
        );
        per_build.insert("build 4".to_string(), sample(canary, canary / 4, 22.0));
        let mut samples = BTreeMap::new();
        samples.insert(key.clone(), per_build);
        update(
            &mut app,
            Msg::Metrics(MetricsBatch {
                source: SourceId("demo".into()),
                at: at(s),
                samples,
            }),
        );
        if s == 10 || s == 25 {
            let t = app.rollouts.get_mut(&key).expect("demo");
            t.rollout
                .set_canary_weight(if s == 10 { w(10) } else { w(20) });
            t.series.push_weight(at(s), t.rollout.canary_weight());
            t.series
                .mark(at(s), aviary::domain::observation::MarkerKind::Step, "step");
            t.rollout.step = Some((if s == 10 { 1 } else { 2 }, 5));
            t.event(
                at(s),
                aviary::app::Level::Info,
                format!(
                    "autopilot set_weight: canary → {}",
                    t.rollout.canary_weight()
                ),
            );
        }
        update(&mut app, Msg::Tick(at(s)));
    }
    // The kube source answered once, long ago: stale.
    app.sources
        .entry(SourceId("kube".into()))
        .or_default()
        .last_ok = Some(at(0));
    let t = app.rollouts.get_mut(&key).expect("demo");
    t.rollout.message = "check failed 2/3: canary error rate 25.0% > 1.0% (5/20 requests)".into();
    app.ui.selected = Some(key);
    app
}

fn dark() -> Theme {
    theme::load("dark", None).expect("dark theme")
}

fn draw(app: &App, theme: &Theme, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| aviary::ui::render(app, theme, f))
        .expect("draw");
    term
}

fn press(app: &mut App, code: KeyCode) {
    let m = if matches!(code, KeyCode::Char(c) if c.is_ascii_uppercase()) {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    update(app, Msg::Key(KeyEvent::new(code, m)));
}

fn both_sizes(name: &str, app: &App) {
    for (w, h) in [(80, 24), (120, 36)] {
        let term = draw(app, &dark(), w, h);
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), term.backend());
    }
}

#[test]
fn overview() {
    both_sizes("overview", &scene());
}

#[test]
fn detail() {
    let mut app = scene();
    press(&mut app, KeyCode::Enter);
    assert!(app.ui.detail);
    both_sizes("detail", &app);
}

#[test]
fn confirm_abort_dialog_names_target_and_weights() {
    let mut app = scene();
    press(&mut app, KeyCode::Char('A'));
    both_sizes("confirm_abort", &app);
    let text = format!("{}", draw(&app, &dark(), 120, 36).backend());
    assert!(text.contains("demo:checkout"));
    assert!(text.contains("20% → 0%"), "{text}");
    assert!(text.contains("80% → 100%"), "{text}");
}

#[test]
fn help_overlay() {
    let mut app = scene();
    press(&mut app, KeyCode::Char('?'));
    both_sizes("help", &app);
}

#[test]
fn read_only_marks_dangerous_keys_and_refuses() {
    let mut app = scene();
    app.read_only = true;
    press(&mut app, KeyCode::Char('A'));
    assert!(
        app.ui.modal.is_none(),
        "read-only must not open the abort dialog"
    );
    both_sizes("read_only", &app);
    let text = format!("{}", draw(&app, &dark(), 120, 36).backend());
    assert!(text.contains("READ-ONLY"));
    assert!(text.contains("abort is off: read-only"), "{text}");
}

#[test]
fn stale_source_is_badged() {
    let mut app = scene();
    update(
        &mut app,
        Msg::SourceError {
            source: SourceId("demo".into()),
            error: "connection refused".into(),
        },
    );
    both_sizes("stale", &app);
    let text = format!("{}", draw(&app, &dark(), 120, 36).backend());
    assert!(text.contains("stale"), "{text}");
}

#[test]
fn set_weight_prompt_validates_before_confirming() {
    let mut app = scene();
    press(&mut app, KeyCode::Char('w'));
    // A key that would take the weight past 100 is not typed: "150" stays "15".
    for c in "150".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    let text = format!("{}", draw(&app, &dark(), 80, 24).backend());
    assert!(!text.contains("150"), "{text}");
    for _ in 0..2 {
        press(&mut app, KeyCode::Backspace);
    }
    for c in "35".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    let text = format!("{}", draw(&app, &dark(), 80, 24).backend());
    assert!(text.contains("20% → 35%"), "{text}");
    insta::assert_snapshot!(
        "set_weight_confirm_80x24",
        draw(&app, &dark(), 80, 24).backend()
    );
}

#[test]
fn tiny_and_resized_terminals_do_not_panic() {
    let mut app = scene();
    for detail in [false, true] {
        app.ui.detail = detail;
        for (w, h) in [(80, 24), (20, 5), (1, 1), (200, 60), (79, 23), (40, 12)] {
            draw(&app, &dark(), w, h);
        }
    }
}

fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    let area = buf.area;
    for y in 0..area.height {
        let line: String = (0..area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        if let Some(i) = line.find(needle) {
            let x = line[..i].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

fn has_fg(buf: &Buffer, color: Color, glyphs: &str) -> bool {
    buf.content()
        .iter()
        .any(|c| c.fg == color && glyphs.contains(c.symbol()))
}

#[test]
fn series_and_error_states_use_their_theme_colours() {
    for name in ["dark", "light", "colorblind"] {
        let theme = theme::load(name, None).expect("theme");
        let mut app = scene();
        // Overview: the failed rollout's phase is in the error/phase colour.
        let term = draw(&app, &theme, 120, 36);
        let buf = term.backend().buffer();
        let (x, y) = find(buf, "Failed").expect("a Failed row");
        assert_eq!(buf[(x, y)].fg, theme.phase_failed, "{name}: phase colour");
        let (x, y) = find(buf, "stale").expect("a stale badge");
        assert_eq!(buf[(x, y)].fg, theme.stale, "{name}: stale badge");
        // Weight bar: stable and canary glyphs in their series colours.
        assert!(has_fg(buf, theme.stable, "▒"), "{name}: stable bar");
        assert!(has_fg(buf, theme.canary, "█"), "{name}: canary bar");
        // Detail charts: the canary in braille, stable in `·`, the limit as `┄`, each in
        // its colour (the glyphs keep them apart where colours do not).
        press(&mut app, KeyCode::Enter);
        let term = draw(&app, &theme, 120, 36);
        let buf = term.backend().buffer();
        let braille = |c: &ratatui::buffer::Cell| {
            c.symbol()
                .chars()
                .next()
                .is_some_and(|ch| ('\u{2801}'..='\u{28FF}').contains(&ch))
        };
        assert!(
            buf.content()
                .iter()
                .any(|c| braille(c) && c.fg == theme.canary),
            "{name}: no canary line"
        );
        assert!(has_fg(buf, theme.stable, "·"), "{name}: no stable line");
        assert!(has_fg(buf, theme.threshold, "┄"), "{name}: no limit line");
    }
}

/// A small canary fails a few requests a second, so most single refreshes hold none. The
/// overview's error column sums the last 30 s: a failing canary never reads "0.0%" there
/// just because its latest refresh happened to be clean.
#[test]
fn overview_error_column_reads_the_last_30s_not_one_refresh() {
    let mut app = scene();
    let key = RolloutKey::new(ProviderKind::Demo, "checkout");
    let mut per_build = BTreeMap::new();
    per_build.insert("build 1".to_string(), sample(40, 0, 18.0));
    per_build.insert("build 4".to_string(), sample(10, 0, 22.0));
    let mut samples = BTreeMap::new();
    samples.insert(key, per_build);
    update(
        &mut app,
        Msg::Metrics(MetricsBatch {
            source: SourceId("demo".into()),
            at: at(41),
            samples,
        }),
    );
    update(&mut app, Msg::Tick(at(41)));
    let text = format!("{}", draw(&app, &dark(), 80, 24).backend());
    let row = text
        .lines()
        .find(|l| l.contains("demo:checkout"))
        .unwrap_or_default()
        .to_string();
    // Seconds 11..=41: 14 s at 5 req/s with 1 error, 16 s at 10 req/s with 2 errors and the
    // clean last second: 14+32 = 46 errors of 70+160+10 = 240 requests = 19 %.
    assert!(row.contains("19% /"), "{row}");
    assert!(!row.contains("0.0% /"), "{row}");
}

/// An event longer than the terminal ends in "…" instead of being clipped mid-word, so the
/// operator knows the line goes on (the full text is in the why and the audit log).
#[test]
fn long_events_end_in_an_ellipsis() {
    let mut app = scene();
    let key = RolloutKey::new(ProviderKind::Demo, "checkout");
    let long = "rolled back: canary errors 4/28 (14.3%) vs stable 1/471 (0.21%): likelihood ratio 1343 ≥ 200 (p ≤ 7.4e-4), about 30× stable";
    app.rollouts
        .get_mut(&key)
        .expect("demo")
        .event(at(40), aviary::app::Level::Error, long);
    press(&mut app, KeyCode::Enter);
    let text = format!("{}", draw(&app, &dark(), 80, 24).backend());
    let line = text
        .lines()
        .find(|l| l.contains("rolled back: canary errors"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("…"), "{text}");
    assert!(!line.contains("30× stable"), "{line}");
}
