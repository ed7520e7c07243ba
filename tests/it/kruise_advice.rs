//! aviary's judge advises on OpenKruise Rollouts, which have no metric analysis of their own:
//! the OpenKruise fixture (tests/fixtures/openkruise, paused at a 20 % step) fed per-build
//! samples through `update`, as the Prometheus poller sends them. A failing canary gets a
//! "judge: abort" badge on its row and detail with the evidence, a healthy one "judge: ok";
//! neither ever yields an effect (no write, no audit): the controller drives, the operator
//! acts, the judge only speaks. Argo Rollouts, which run their own analysis, get no advice.

use crate::support;

use aviary::app::App;
use aviary::domain::observation::{BuildSample, MetricsBatch, SourceId};
use aviary::domain::{Phase, Plan, RolloutKey};
use aviary::driver::AdviceKind;
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use aviary::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const KRUISE: &str = "kruise:default/rollouts-demo";

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn key(app: &App, k: &str) -> RolloutKey {
    app.rollouts
        .keys()
        .find(|r| r.to_string() == k)
        .cloned()
        .unwrap_or_else(|| panic!("no {k}"))
}

/// The app after the kube provider reported the fixture's OpenKruise Rollout (and, when
/// asked, an Argo Rollout beside it).
fn app_with(argo: bool) -> App {
    let mut app = App::new(start(), Plan::default());
    let mut c = Catalog::new(Options::default(), Access::all());
    let mut o = support::object("openkruise/rollout-paused-step.yaml", "Rollout");
    o.metadata.resource_version = Some("12".into());
    c.apply(Kind::KruiseRollout, o);
    if argo {
        let mut o = support::object(
            "argo-rollouts/objects/argo-cd-testdata/canary/progressing_setWeightStep.yaml",
            "Rollout",
        );
        o.metadata.resource_version = Some("13".into());
        c.apply(Kind::Rollout, o);
    }
    let rollouts: Vec<_> = c.rollouts().into_values().flatten().collect();
    let effects = update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: SourceId("kube".into()),
            rollouts,
        }),
    );
    assert!(effects.is_empty());
    app
}

/// Feeds `secs` seconds of traffic to every rollout (per second: canary and stable requests
/// and errors, by build name) and ticks; returns every effect `update` asked for.
fn run(app: &mut App, secs: u64, canary: (u64, u64), stable: (u64, u64)) -> Vec<String> {
    let mut effects = Vec::new();
    for i in 1..=secs {
        let at = start() + Duration::from_secs(i);
        let mut samples = BTreeMap::new();
        for (k, t) in &app.rollouts {
            let mut per = BTreeMap::new();
            for b in &t.rollout.builds {
                let (req, err) = match b.role {
                    aviary::domain::Role::Canary => canary,
                    _ => stable,
                };
                per.insert(
                    b.name.clone(),
                    BuildSample {
                        period_s: 1.0,
                        requests: req,
                        errors: err,
                        p99_ms: Some(40.0),
                        ..Default::default()
                    },
                );
            }
            samples.insert(k.clone(), per);
        }
        let batch = MetricsBatch {
            source: SourceId("prometheus http://127.0.0.1:9090".into()),
            at,
            samples,
        };
        for msg in [Msg::Metrics(batch), Msg::Tick(at)] {
            effects.extend(update(app, msg).into_iter().map(|e| format!("{e:?}")));
        }
    }
    effects
}

fn screen(app: &App) -> (String, ratatui::buffer::Buffer) {
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
    term.draw(|f| aviary::ui::render(app, &theme, f))
        .expect("draw");
    let buf = term.backend().buffer().clone();
    let text = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n");
    (text, buf)
}

#[test]
fn a_failing_canary_is_advised_abort_with_its_evidence_and_nothing_is_written() {
    let mut app = app_with(false);
    let k = key(&app, KRUISE);
    let message = app.rollouts[&k].rollout.message.clone();
    // 4 % canary errors against 0.3 % on stable, for 20 s: three failed checks.
    let effects = run(&mut app, 20, (100, 4), (900, 3));
    assert!(effects.is_empty(), "the judge acted: {effects:#?}");
    let t = &app.rollouts[&k];
    let advice = t.adviser.as_ref().unwrap().advice.clone().unwrap();
    assert_eq!(advice.kind, AdviceKind::Abort, "{}", advice.why);
    assert!(
        advice
            .why
            .starts_with("canary errors 4.0% vs stable 0.3%; check failed 3/3: canary error rate"),
        "{}",
        advice.why
    );
    // The controller's own state and why are untouched.
    assert_eq!(t.rollout.phase, Phase::AwaitingPromotion);
    assert_eq!(t.rollout.message, message);
    assert!(t.pending.is_none());

    let theme = aviary::theme::load("dark", None).expect("theme");
    let (text, buf) = screen(&app);
    let (y, row) = text
        .lines()
        .enumerate()
        // The name gives way to the badge at this width.
        .find(|(_, l)| l.contains("kruise:default/ro"))
        .unwrap_or_else(|| panic!("no row:\n{text}"));
    let x = row.find("judge: abort").unwrap_or_else(|| panic!("{row}"));
    let x = row[..x].chars().count() as u16;
    assert_eq!(
        buf[(x, y as u16)].fg,
        theme.error,
        "the badge reads as an error"
    );

    app.ui.selected = Some(k);
    app.ui.detail = true;
    let (text, _) = screen(&app);
    assert!(text.contains("judge: abort"), "detail header:\n{text}");
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("judge advises abort: canary errors 4.0% vs stable 0.3%"),
        "{text}"
    );
    assert!(
        flat.contains("aviary only advises here: OpenKruise has no abort"),
        "{text}"
    );
    // The plan is OpenKruise's, verbatim, with the paused step marked.
    assert!(
        flat.contains("plan (Kruise) ▶[traffic 20%, replicas 1, pause until approved]"),
        "{text}"
    );
}

#[test]
fn a_healthy_canary_is_ok_and_says_n_approves_the_paused_step() {
    let mut app = app_with(true);
    let effects = run(&mut app, 7, (100, 0), (900, 2));
    assert!(effects.is_empty(), "{effects:#?}");
    let k = key(&app, KRUISE);
    let advice = app.rollouts[&k]
        .adviser
        .as_ref()
        .unwrap()
        .advice
        .clone()
        .unwrap();
    assert_eq!(advice.kind, AdviceKind::Proceed, "{}", advice.why);
    // Argo runs its own analysis: no advice beside it.
    let argo = app
        .rollouts
        .values()
        .find(|t| t.rollout.key.to_string().starts_with("argo:"))
        .unwrap();
    assert!(argo.adviser.is_none());
    let (text, _) = screen(&app);
    let row = text
        .lines()
        .find(|l| l.contains("kruise:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("judge: ok"), "{row}");
    app.ui.selected = Some(k);
    app.ui.detail = true;
    let (text, _) = screen(&app);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains("judge ok so far: canary errors 0.0% vs stable 0.2%"),
        "{text}"
    );
    assert!(flat.contains("n approves the step"), "{text}");
}

/// Stale metrics take back an "ok" (the evidence is gone), never make one up.
#[test]
fn stale_metrics_withdraw_an_ok() {
    let mut app = app_with(false);
    run(&mut app, 7, (100, 0), (900, 2));
    let k = key(&app, KRUISE);
    update(
        &mut app,
        Msg::SourceError {
            source: SourceId("prometheus http://127.0.0.1:9090".into()),
            error: "connection refused".into(),
        },
    );
    let effects = update(&mut app, Msg::Tick(start() + Duration::from_secs(8)));
    assert!(effects.is_empty());
    let advice = app.rollouts[&k]
        .adviser
        .as_ref()
        .unwrap()
        .advice
        .clone()
        .unwrap();
    assert_eq!(advice.kind, AdviceKind::Wait);
    assert!(
        advice
            .why
            .starts_with("no verdict: metrics stale (connection refused"),
        "{}",
        advice.why
    );
}

/// Without any metrics the judge says nothing at all: no badge, no judge line.
#[test]
fn no_metrics_no_advice() {
    let mut app = app_with(false);
    let effects = update(&mut app, Msg::Tick(start() + Duration::from_secs(10)));
    assert!(effects.is_empty());
    let k = key(&app, KRUISE);
    assert!(app.rollouts[&k].adviser.as_ref().unwrap().advice.is_none());
    app.ui.selected = Some(k);
    app.ui.detail = true;
    let (text, _) = screen(&app);
    assert!(
        !text.contains("judge:") && !text.contains("judge  "),
        "{text}"
    );
}
