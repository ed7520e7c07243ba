//! The detail charts read right at a glance: the weight in its own lane, y ticks with units,
//! a spike clipped with its value, no data as a gap, a signal the source cannot give named,
//! the window chosen with `z`, glyphs that stay apart in `mono` and `colorblind`, and the
//! legend at 80×24. Colours and glyphs are asserted on the buffer (snapshots drop colour).

use aviary::app::App;
use aviary::domain::observation::{BuildSample, LatencyHistogram, MetricsBatch, SourceId};
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::theme::{self, Theme};
use aviary::ui::chart::{self, ChartData};
use aviary::update::update;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
}

fn key() -> RolloutKey {
    RolloutKey::new(ProviderKind::Demo, "checkout")
}

fn sample(req: u64, err: u64, lat_ms: f64) -> BuildSample {
    let mut h = LatencyHistogram::default();
    for i in 0..req {
        h.record(lat_ms * (0.8 + (i % 5) as f64 * 0.1));
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

/// `secs` seconds of a 20 % canary: clean, but for one bad second 30 s before the end (10
/// of 10 failed) and no canary traffic at all from 20 s to 10 s before the end.
fn scene(secs: u64) -> App {
    let mut app = App::new(at(0), Plan::default());
    app.start_paused = true;
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let c = Weight::from_whole(20).expect("weight");
    let r = Rollout::new(
        key(),
        Owner::Autopilot,
        vec![
            b(Role::Stable, "stable", c.complement()),
            b(Role::Canary, "canary", c),
        ],
    );
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("demo".into()),
            rollout: Box::new(r),
        }),
    );
    for s in 1..=secs {
        let before_end = secs - s;
        let canary = match before_end {
            30 => sample(10, 10, 30.0),
            10..=20 => sample(0, 0, 0.0),
            _ => sample(10, 0, 30.0),
        };
        let mut builds = BTreeMap::new();
        builds.insert("stable".to_string(), sample(40, 0, 20.0));
        builds.insert("canary".to_string(), canary);
        let mut samples = BTreeMap::new();
        samples.insert(key(), builds);
        update(
            &mut app,
            Msg::Metrics(MetricsBatch {
                source: SourceId("demo".into()),
                at: at(s),
                samples,
            }),
        );
        update(&mut app, Msg::Tick(at(s)));
    }
    app.ui.selected = Some(key());
    app.ui.detail = true;
    app
}

fn draw(app: &App, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| aviary::ui::render(app, theme, f))
        .expect("draw");
    term.backend().buffer().clone()
}

fn one_chart(d: &ChartData, theme: &Theme, w: u16, h: u16) -> Buffer {
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    term.draw(|f| chart::render(d, theme, f, Rect::new(0, 0, w, h)))
        .expect("draw");
    term.backend().buffer().clone()
}

fn rows(buf: &Buffer) -> Vec<String> {
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect()
        })
        .collect()
}

fn braille(sym: &str) -> bool {
    sym.chars()
        .next()
        .is_some_and(|c| ('\u{2801}'..='\u{28FF}').contains(&c))
}

fn dark() -> Theme {
    theme::load("dark", None).expect("theme")
}

#[test]
fn the_weight_has_its_own_lane_and_no_other_chart_draws_it() {
    let app = scene(120);
    let theme = dark();
    let buf = draw(&app, &theme, 120, 36);
    let text = rows(&buf);
    let lane = text
        .iter()
        .position(|r| r.contains("canary weight · 5m"))
        .expect("a weight lane");
    // Its own % axis.
    // Its own % axis, topped at the weight itself (20 % reads "20%", not under "25%").
    assert!(text[lane + 1].starts_with("20%┤"), "{}", text[lane + 1]);
    // The weight colour appears in the lane's rows only.
    for y in 0..buf.area.height {
        let in_lane = (lane as u16..lane as u16 + 4).contains(&y);
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            if braille(c.symbol()) && c.fg == theme.weight {
                assert!(in_lane, "weight drawn at row {y}: {}", text[y as usize]);
            }
        }
    }
    assert!(!text.iter().any(|r| r.contains("scaled")));
}

#[test]
fn y_axes_have_ticks_with_units_and_the_limit_among_them() {
    let app = scene(120);
    let text = rows(&draw(&app, &dark(), 120, 36)).join("\n");
    for tick in ["/s┤", "0/s┤", "ms┤", "0ms┤", "1%┤", "0%┤"] {
        assert!(text.contains(tick), "no {tick:?} tick:\n{text}");
    }
}

#[test]
fn a_spike_above_the_axis_is_clipped_with_its_value() {
    let app = scene(120);
    let theme = dark();
    let t = &app.rollouts[&key()];
    let (charts, _) = aviary::ui::charts(&app, t, &theme);
    let err = &charts[1];
    assert_eq!(err.limit, Some(1.0));
    // The bad second lifts the 30 s rate well above a 2.5 % axis top; the mark carries the
    // highest value it clips.
    let peak = err
        .series
        .iter()
        .flat_map(|s| s.points.iter().filter_map(|(_, y)| *y))
        .fold(0.0f64, f64::max);
    assert!(peak > 2.5, "{peak}");
    let buf = one_chart(err, &theme, 40, 8);
    let text = rows(&buf);
    assert!(text[1].starts_with("│2.5%┤"), "{text:#?}");
    assert!(text[1].contains('▲'), "{text:#?}");
    let label = chart::Unit::Percent.fmt(peak, peak);
    assert!(
        text[1].contains(&format!("{label}▲")) || text[1].contains(&format!("▲{label}")),
        "{label}: {text:#?}"
    );
    let clip = (0..40)
        .find(|x| buf[(*x, 1)].symbol() == "▲")
        .expect("a clip mark");
    assert_eq!(buf[(clip, 1)].fg, theme.canary);
    // The limit row stays above the zero row.
    let limit_row = text.iter().position(|r| r.contains('┄')).expect("limit");
    let zero_row = text.iter().position(|r| r.contains("0%┤")).expect("zero");
    assert!(limit_row < zero_row, "{text:#?}");
}

#[test]
fn no_data_is_a_gap_not_zero() {
    let app = scene(120);
    let theme = dark();
    let t = &app.rollouts[&key()];
    let (charts, _) = aviary::ui::charts(&app, t, &theme);
    let p99 = &charts[2];
    let canary = p99
        .series
        .iter()
        .find(|s| s.name == "canary")
        .expect("canary");
    // The seconds without canary traffic have no p99, not 0 ms.
    let silent: Vec<_> = canary
        .points
        .iter()
        .filter(|(x, _)| (-20.0..=-10.0).contains(x))
        .collect();
    assert!(!silent.is_empty() && silent.iter().all(|(_, y)| y.is_none()));
    // Drawn: the columns of that stretch hold no canary mark (a 120-second axis over 100
    // plot columns: -20 s..-10 s is about columns 83..91).
    let buf = one_chart(p99, &theme, 110, 10);
    let plot_x = (0..110)
        .find(|x| buf[(*x, 1)].symbol() == "┤")
        .expect("y axis")
        + 1;
    let width = 110 - 1 - plot_x;
    let col = |secs: f64| plot_x + ((120.0 - secs) / 120.0 * f64::from(width)) as u16;
    for x in col(18.5)..=col(11.5) {
        for y in 1..8 {
            let c = &buf[(x, y)];
            assert!(
                !(braille(c.symbol()) && c.fg == theme.canary),
                "canary mark at ({x},{y}) inside the silence:\n{}",
                rows(&buf).join("\n")
            );
        }
    }
}

#[test]
fn haproxy_show_stat_says_it_has_no_percentiles_and_the_plan_leaves_p99_out() {
    let mut app = scene(60);
    let t = app.rollouts.get_mut(&key()).expect("tracked");
    t.metrics_source = Some(SourceId("haproxy /run/haproxy/admin.sock".into()));
    let text = rows(&draw(&app, &dark(), 120, 36)).join("\n");
    assert!(text.contains("HAProxy show stat has no"), "{text}");
    let plan = text.lines().find(|l| l.starts_with("plan")).expect("plan");
    assert!(plan.contains("errors") && !plan.contains("p99"), "{plan}");
}

#[test]
fn z_steps_through_the_windows_and_the_titles_say_which() {
    let mut app = scene(40 * 60);
    let theme = dark();
    for (label, left) in [
        ("5m", "-5m"),
        ("30m", "-30m"),
        ("all", "-40m"),
        ("1m", "-60s"),
    ] {
        if label != "5m" {
            update(
                &mut app,
                Msg::Key(KeyEvent::new(KeyCode::Char('z'), KeyModifiers::NONE)),
            );
        }
        let text = rows(&draw(&app, &theme, 120, 36)).join("\n");
        assert!(
            text.contains(&format!("requests/s · {label}")),
            "{label}:\n{text}"
        );
        assert!(
            text.contains(&format!("canary weight · {label}")),
            "{label}"
        );
        assert!(
            text.contains(&format!("{left} ")),
            "{label}: no {left} on the x axis"
        );
    }
}

/// Every mark a chart uses, by meaning, in one frame: the set of glyphs must not overlap.
fn glyphs_by_meaning(buf: &Buffer) -> BTreeMap<&'static str, bool> {
    let syms: Vec<&str> = buf.content().iter().map(|c| c.symbol()).collect();
    let has = |g: &str| syms.contains(&g);
    BTreeMap::from([
        ("canary ⣿", syms.iter().any(|s| braille(s))),
        ("stable ·", has("·")),
        ("limit ┄", has("┄")),
        ("clipped ▲", has("▲")),
    ])
}

#[test]
fn mono_tells_series_and_marks_apart_by_glyph_alone() {
    let mono = theme::load("mono", None).expect("mono");
    let mut app = scene(120);
    let t = app.rollouts.get_mut(&key()).expect("tracked");
    for (s, kind) in [
        (60, aviary::domain::observation::MarkerKind::Step),
        (70, aviary::domain::observation::MarkerKind::Operator),
        (80, aviary::domain::observation::MarkerKind::CheckFailed),
        (90, aviary::domain::observation::MarkerKind::Rollback),
    ] {
        t.series.mark(at(s), kind, "m");
    }
    let buf = draw(&app, &mono, 120, 36);
    assert!(buf.content().iter().all(|c| c.fg == Color::Reset));
    for (what, seen) in glyphs_by_meaning(&buf) {
        assert!(seen, "mono: no {what}");
    }
    let text = rows(&buf).join("\n");
    for g in ['┊', '◆', '!', '✕'] {
        assert!(text.contains(g), "mono: marker glyph {g} missing");
    }
    // And the legend says what each one is.
    let legend = text.lines().find(|l| l.contains("limit")).expect("legend");
    for item in [
        "· stable",
        "⣿ canary",
        "┄ limit",
        "▲ over axis",
        "◆ operator",
        "✕ rollback",
    ] {
        assert!(legend.contains(item), "{legend}");
    }
}

fn rgb(c: Color) -> (f64, f64, f64) {
    match c {
        Color::Rgb(r, g, b) => (f64::from(r), f64::from(g), f64::from(b)),
        other => panic!("not an RGB colour: {other:?}"),
    }
}

#[test]
fn colorblind_marks_are_far_apart_in_colour_and_glyph() {
    let cb = theme::load("colorblind", None).expect("colorblind");
    let marks = [
        ("canary", cb.canary),
        ("stable", cb.stable),
        ("limit", cb.threshold),
        ("rollback", cb.error),
    ];
    for (i, (a, ca)) in marks.iter().enumerate() {
        for (b, cb_) in &marks[i + 1..] {
            let (x, y) = (rgb(*ca), rgb(*cb_));
            let d = ((x.0 - y.0).powi(2) + (x.1 - y.1).powi(2) + (x.2 - y.2).powi(2)).sqrt();
            assert!(d > 120.0, "{a} and {b} are too close ({d:.0})");
        }
    }
    let buf = draw(&scene(120), &cb, 120, 36);
    for (what, seen) in glyphs_by_meaning(&buf) {
        assert!(seen, "colorblind: no {what}");
    }
}

#[test]
fn at_80x24_the_legend_and_all_four_lanes_stay() {
    let buf = draw(&scene(120), &dark(), 80, 24);
    let text = rows(&buf);
    let legend = text
        .iter()
        .find(|l| l.contains("┄ limit"))
        .unwrap_or_else(|| panic!("no legend:\n{}", text.join("\n")));
    assert!(
        legend.contains("· stable") && legend.contains("⣿ canary"),
        "{legend}"
    );
    let all = text.join("\n");
    for title in ["requests/s", "errors 30s avg", "p99", "canary weight"] {
        assert!(all.contains(title), "{title} missing at 80×24:\n{all}");
    }
    insta::assert_snapshot!("detail_80x24", all);
}
