//! A real Prometheus (Debian 2.42) scraping a real HAProxy (Debian 2.6) is stopped in the
//! middle of a rollout: the source must turn stale within two refreshes, and the autopilot
//! must hold (no write, the *why* says the metrics are stale) rather than step blind. Before
//! it stops, nothing may read stale while both answer.

use crate::support;

use aviary::cli::{Cli, Commands};
use aviary::demo::Scenario;
use aviary::domain::observation::SourceId;
use aviary::domain::{Plan, ProviderKind, RolloutKey, Weight};
use clap::Parser;
use std::time::Duration;
use support::servers::*;

/// The overview as the TUI draws it at 120×36, as text.
fn render(app: &aviary::app::App) -> String {
    let theme = aviary::theme::load("dark", None).unwrap();
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 36)).unwrap();
    term.draw(|f| aviary::ui::render(app, &theme, f)).unwrap();
    let buf = term.backend().buffer().clone();
    (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stopped_prometheus_turns_stale_within_two_refreshes_and_the_autopilot_holds() {
    if !have("haproxy") || !have("prometheus") {
        return;
    }
    let builds = Builds::start(Scenario::Healthy).await;
    let hp = Haproxy::start(builds.stable, builds.canary);
    let exporter = hp.exporter;
    let mut prom = tokio::task::spawn_blocking(move || Prometheus::start(exporter))
        .await
        .unwrap();
    let _load = Load::start(hp.frontend, 100);
    let dir = tempfile::tempdir().unwrap();
    let audit = audit_file(dir.path()).display().to_string();
    let cli = Cli::try_parse_from([
        "aviary",
        "--audit-log",
        &audit,
        "haproxy",
        "--socket",
        &hp.socket_arg(),
        "--backend",
        "be",
        "--stable",
        "stable",
        "--canary",
        "canary",
        "--prometheus",
        &prom.url,
        "--interval",
        "2s",
        "--step",
        "10",
        "--max-weight",
        "90",
        "--judge",
        "threshold",
    ])
    .unwrap();
    let Commands::Haproxy(a) = cli.command else {
        unreachable!()
    };
    let mut session = aviary::run::haproxy_session(&a, &cli.global, &Plan::default())
        .await
        .unwrap();
    let key = RolloutKey::new(ProviderKind::Haproxy, "be");
    let source = SourceId(format!("prometheus {}", prom.url));
    let ten = Weight::from_whole(10).unwrap();
    pump_until(
        &mut session,
        Duration::from_secs(30),
        "first step with metrics",
        |app| {
            app.rollouts.get(&key).is_some_and(|t| {
                t.rollout.canary_weight() >= ten
                    && t.latest.get("canary").is_some_and(|s| s.requests > 0)
            }) && !app.is_stale(&source)
        },
    )
    .await;

    // While both answer, nothing is stale: not the source, not the row, not for a moment,
    // over three refresh intervals (a badge that flapped on every interval once did).
    let healthy_until = tokio::time::Instant::now() + 3 * a.refresh;
    while tokio::time::Instant::now() < healthy_until {
        pump(&mut session, Duration::from_millis(50)).await;
        let app = &session.app;
        assert!(!app.is_stale(&source), "stale while Prometheus answers");
        assert_eq!(
            app.stale_source(&app.rollouts[&key]),
            None,
            "a stale badge while HAProxy and Prometheus answer"
        );
    }

    prom.stop();
    let took = pump_until(&mut session, Duration::from_secs(5), "stale badge", |app| {
        app.is_stale(&source)
    })
    .await;
    assert!(took <= 2 * a.refresh, "stale after {took:?}");
    eprintln!(
        "source stale {took:?} after Prometheus stopped (refresh {:?})",
        a.refresh
    );
    let why = session.app.sources[&source].last_error.clone().unwrap();
    assert!(why.contains("unreachable"), "{why}");
    // The rollout's own row says so, though its router (HAProxy) still answers.
    assert_eq!(
        session.app.stale_source(&session.app.rollouts[&key]),
        Some(&source)
    );
    let screen = render(&session.app);
    let row = screen
        .lines()
        .find(|l| l.contains("haproxy:be"))
        .unwrap_or_else(|| panic!("no row for haproxy:be in\n{screen}"));
    assert!(row.contains("stale"), "{row}\n{screen}");
    // Headless lines carry it too, naming the source.
    let line = aviary::headless::line(&session.app, &session.app.rollouts[&key]);
    assert_eq!(line["stale"], source.to_string(), "{line}");

    // From the moment the source is stale the autopilot holds, for several intervals: no
    // write, the weight stays, the why says so.
    let held = session.app.rollouts[&key].rollout.canary_weight();
    let writes = || std::fs::read_to_string(&audit).unwrap().lines().count();
    let before = writes();
    pump(&mut session, 3 * a.plan.interval.unwrap()).await;
    let t = &session.app.rollouts[&key];
    assert_eq!(t.rollout.canary_weight(), held);
    assert!(t.pending.is_none());
    assert!(t.rollout.message.contains("stale"), "{}", t.rollout.message);
    assert_eq!(writes(), before, "the autopilot wrote while blind");
    assert_eq!(hp.weight("canary") > 0, held > Weight::ZERO);
    session.cancel.cancel();
}

/// The same rule at the level of `update`, with no servers: once the source feeding a
/// rollout's metrics reports an error, the next due check writes nothing.
#[test]
fn a_failing_metrics_source_holds_the_autopilot_at_once() {
    use aviary::app::App;
    use aviary::domain::observation::{BuildSample, MetricsBatch};
    use aviary::domain::{Build, Owner, Role, Rollout};
    use aviary::msg::{Msg, ProviderEvent};
    use aviary::update::update;
    use std::collections::BTreeMap;
    use std::time::UNIX_EPOCH;
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
    let mut app = App::new(t0, Plan::default());
    let key = RolloutKey::new(ProviderKind::Haproxy, "be");
    let ten = Weight::from_whole(10).unwrap();
    let build = |role, name: &str, w| Build {
        role,
        name: name.into(),
        version: None,
        weight: w,
        selector: name.into(),
    };
    let r = Rollout::new(
        key.clone(),
        Owner::Autopilot,
        vec![
            build(Role::Stable, "s", ten.complement()),
            build(Role::Canary, "c", ten),
        ],
    );
    let src = SourceId("prometheus test".into());
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Upsert {
            source: SourceId("haproxy test".into()),
            rollout: Box::new(r),
        }),
    );
    let sample = BuildSample {
        period_s: 1.0,
        requests: 100,
        errors: 0,
        ..Default::default()
    };
    let at = t0 + Duration::from_secs(5);
    update(&mut app, Msg::Tick(at));
    update(
        &mut app,
        Msg::Metrics(MetricsBatch {
            source: src.clone(),
            at,
            samples: BTreeMap::from([(
                key.clone(),
                BTreeMap::from([("s".into(), sample.clone()), ("c".into(), sample)]),
            )]),
        }),
    );
    update(
        &mut app,
        Msg::SourceError {
            source: src,
            error: "Prometheus at http://x is unreachable".into(),
        },
    );
    // The interval (5 s) is due, the last sample is only a second old: without the rule the
    // healthy window would step the canary to 20 %.
    let fx = update(&mut app, Msg::Tick(t0 + Duration::from_secs(6)));
    assert!(fx.is_empty(), "{fx:?}");
    let msg = &app.rollouts[&key].rollout.message;
    assert!(
        msg.contains("metrics stale") && msg.contains("unreachable"),
        "{msg}"
    );
}
