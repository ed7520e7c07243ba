//! Every Argo Rollout and Flagger Canary in the fixtures shows its owner's plan verbatim
//! (snapshot of the plan and *why* rows of the detail view) and ends a headless run with
//! the outcome the object itself says; never aviary's default plan.

use crate::support;

use aviary::app::App;
use aviary::domain::Plan;
use aviary::domain::observation::SourceId;
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use aviary::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::{Duration, UNIX_EPOCH};

/// What each object says about how it ended (or not yet).
const OUTCOMES: &[(&str, &str)] = &[
    // Examples carry no status: nothing has concluded.
    (
        "argo-rollouts/examples/docs-rollout-managed-routes-set-header.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/getting-started-istio-rollout.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/rollout-analysis-step.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/rollout-background-analysis.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/rollout-bluegreen.yaml",
        "in_progress",
    ),
    ("argo-rollouts/examples/rollout-canary.yaml", "in_progress"),
    (
        "argo-rollouts/examples/rollout-istio-host-split.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/rollout-istio-subset-split.yaml",
        "in_progress",
    ),
    ("argo-rollouts/examples/rollout-nginx.yaml", "in_progress"),
    (
        "argo-rollouts/examples/rollout-plugin-gatewayapi-header-routes.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/rollout-plugin-gatewayapi.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/examples/rollout-smi-linkerd.yaml",
        "in_progress",
    ),
    ("argo-rollouts/examples/rollout-smi.yaml", "in_progress"),
    // status.abort: true
    (
        "argo-rollouts/objects/argo-cd-testdata/actions/aborted_rollout.yaml",
        "aborted",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/actions/has_pause_condition_rollout.yaml",
        "paused",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/actions/has_pause_condition_rollout_aborted.yaml",
        "aborted",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/actions/rollout-step1-after-skip-current-step.yaml",
        "paused",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/actions/rollout-step1.yaml",
        "paused",
    ),
    // v0.9: abort null, but a RolloutAborted condition.
    (
        "argo-rollouts/objects/argo-cd-testdata/actions/v0.9_promote-full_rollout.yaml",
        "aborted",
    ),
    // Blue-green serving its active service, nothing in flight.
    (
        "argo-rollouts/objects/argo-cd-testdata/bluegreen/healthy_servingActiveService.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/canary/healthy_executedAllSteps.yaml",
        "promoted",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/canary/progressing_setWeightStep.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/degraded_abortedRollout.yaml",
        "aborted",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/degraded_invalidSpec.yaml",
        "failed",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/degraded_rolloutTimeout.yaml",
        "failed",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/degraded_statusPhaseMessage.yaml",
        "failed",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/healthy_newWorkloadGeneration.yaml",
        "promoted",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/newRolloutWithoutStatus.yaml",
        "in_progress",
    ),
    // generation 2, observedGeneration 1: the controller has not seen the new spec.
    (
        "argo-rollouts/objects/argo-cd-testdata/progressing_newGeneration.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/suspended_controllerPause.yaml",
        "paused",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/suspended_userPause.yaml",
        "paused",
    ),
    (
        "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
        "paused",
    ),
    // BlueGreenPause: waiting for a promote.
    (
        "argo-rollouts/objects/info-testdata/blue-green/bluegreen-rollout.yaml",
        "paused",
    ),
    // ProgressDeadlineExceeded is Degraded to Argo.
    (
        "argo-rollouts/objects/info-testdata/canary/canary-rollout.yaml",
        "failed",
    ),
    (
        "argo-rollouts/objects/info-testdata/canary/canary-rollout4.yaml",
        "failed",
    ),
    (
        "argo-rollouts/objects/info-testdata/canary/canary-rollout5.yaml",
        "failed",
    ),
    // Timed out while paused on an inconclusive run: Argo checks the deadline first.
    (
        "argo-rollouts/objects/info-testdata/experiment-analysis/rollout-experiment-analysis.yaml",
        "failed",
    ),
    (
        "argo-rollouts/objects/info-testdata/experiment-step/canary-demo.yaml",
        "in_progress",
    ),
    (
        "argo-rollouts/objects/info-testdata/rollout-aborted/rollout.yaml",
        "aborted",
    ),
    (
        "argo-rollouts/objects/info-testdata/rollout-invalid/rollout-invalid.yaml",
        "failed",
    ),
    ("flagger/examples/canary-appmesh-abtest.yaml", "in_progress"),
    ("flagger/examples/canary-appmesh.yaml", "in_progress"),
    (
        "flagger/examples/canary-gatewayapi-abtest.yaml",
        "in_progress",
    ),
    ("flagger/examples/canary-gatewayapi.yaml", "in_progress"),
    ("flagger/examples/canary-istio-abtest.yaml", "in_progress"),
    ("flagger/examples/canary-istio.yaml", "in_progress"),
    ("flagger/examples/canary-kuma.yaml", "in_progress"),
    (
        "flagger/examples/canary-linkerd-stepweights.yaml",
        "in_progress",
    ),
    ("flagger/examples/canary-linkerd.yaml", "in_progress"),
    ("flagger/examples/canary-nginx.yaml", "in_progress"),
    (
        "flagger/status/canary-istio-progressing.assembled.yaml",
        "in_progress",
    ),
    ("flagger/status/failed.yaml", "failed"),
    ("flagger/status/finalising.yaml", "in_progress"),
    ("flagger/status/initialized.yaml", "in_progress"),
    ("flagger/status/progressing.yaml", "in_progress"),
    ("flagger/status/promoting.yaml", "in_progress"),
    ("flagger/status/succeeded.yaml", "promoted"),
];

/// Every fixture file holding a Rollout or a Canary, relative to `tests/fixtures`.
fn controller_fixtures() -> Vec<(String, Kind)> {
    let mut out = Vec::new();
    for (dir, kind) in [("argo-rollouts", Kind::Rollout), ("flagger", Kind::Canary)] {
        let mut stack = vec![support::fixture_path(dir)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("fixture dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml") {
                    let rel = p
                        .strip_prefix(support::fixture_path(""))
                        .expect("under fixtures")
                        .to_string_lossy()
                        .to_string();
                    if !support::objects(&rel, kind.name()).is_empty() {
                        out.push((rel, kind));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

/// The app after the kube provider reported this file's controller rollouts, 30 s in.
fn app_for(rel: &str, kind: Kind) -> App {
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut app = App::new(start, Plan::default());
    let mut c = Catalog::new(Options::default(), Access::all());
    for o in support::objects(rel, kind.name()) {
        c.apply(kind, o);
    }
    let rollouts: Vec<_> = c
        .rollouts()
        .into_values()
        .flatten()
        .filter(|r| matches!(r.owner, aviary::domain::Owner::Controller(_)))
        .collect();
    assert!(!rollouts.is_empty(), "{rel}: no controller rollout");
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: SourceId("kube".into()),
            rollouts,
        }),
    );
    update(&mut app, Msg::Tick(start + Duration::from_secs(30)));
    app
}

/// The plan and *why* rows of the detail view at 120 columns.
fn plan_rows(app: &App) -> String {
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    term.draw(|f| aviary::ui::render(app, &theme, f))
        .expect("draw");
    let buf = term.backend().buffer();
    let rows: Vec<String> = (0..buf.area.height)
        .map(|y| {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect();
    let start = rows
        .iter()
        .position(|r| r.starts_with("plan"))
        .expect("a plan row");
    let end = rows
        .iter()
        .position(|r| r.starts_with("why"))
        .expect("a why row");
    rows[start..=end].join("\n")
}

#[test]
fn every_controller_object_shows_its_own_plan_and_outcome() {
    let files = controller_fixtures();
    let listed: Vec<&str> = OUTCOMES.iter().map(|(f, _)| *f).collect();
    let found: Vec<&str> = files.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(found, listed, "the outcome table must name every fixture");
    for (rel, kind) in &files {
        let mut app = app_for(rel, *kind);
        let keys = app.visible_keys();
        for key in keys {
            app.ui.selected = Some(key.clone());
            app.ui.detail = true;
            let text = plan_rows(&app);
            assert!(
                !text.contains("plan (aviary)") && !text.contains("every 5s"),
                "{rel}: aviary's plan on a controller rollout:\n{text}"
            );
            let name = format!("{}__{}", rel.replace(['/', '.'], "_"), key.name);
            insta::assert_snapshot!(name, text);
            let t = &app.rollouts[&key];
            let summary = aviary::headless::summary(&app, t);
            let want = OUTCOMES.iter().find(|(f, _)| f == rel).map(|(_, o)| *o);
            assert_eq!(
                summary["summary"]["outcome"].as_str(),
                want,
                "{rel} {key}: phase {:?}",
                t.rollout.phase
            );
        }
    }
}

#[test]
fn an_ab_flagger_analysis_shows_who_is_routed_to_the_canary() {
    let app = app_for("flagger/examples/canary-istio-abtest.yaml", Kind::Canary);
    let t = app.rollouts.values().next().expect("one canary");
    let p = t.rollout.controller_plan.as_ref().expect("a plan");
    assert_eq!(p.fact("iterations"), Some("0/10"));
    assert_eq!(p.fact("interval"), Some("15s"));
    assert_eq!(p.fact("threshold"), Some("10"));
    assert_eq!(
        p.fact("match"),
        Some("cookie ~ ^(.*?;)?(type=insider)(;.*)?$ or user-agent ~ .*Firefox.*")
    );
    assert!(p.steps.is_empty(), "A/B has iterations, not weight steps");
}

#[test]
fn argo_marks_the_current_step_and_counts_down_a_timed_pause() {
    let rel = "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml";
    let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // The same Rollout four seconds into its `pause: {duration: 10s}` step (index 3).
    let mut doc = support::docs(rel)
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .expect("a Rollout");
    doc["status"]["currentStepIndex"] = serde_json::json!(3);
    doc["status"]["pauseConditions"] = serde_json::json!([{
        "reason": "CanaryPauseStep",
        "startTime": humantime::format_rfc3339(start + Duration::from_secs(26)).to_string(),
    }]);
    let obj: kube::api::DynamicObject = serde_json::from_value(doc).expect("object");
    let mut c = Catalog::new(Options::default(), Access::all());
    c.apply(Kind::Rollout, obj);
    let mut app = App::new(start, Plan::default());
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: SourceId("kube".into()),
            rollouts: c.rollouts().into_values().flatten().collect(),
        }),
    );
    update(&mut app, Msg::Tick(start + Duration::from_secs(30)));
    app.ui.detail = true;
    let text = plan_rows(&app);
    assert!(text.contains("▶[pause 10s, 6s left]"), "{text}");
    assert!(text.starts_with("plan (Argo) setWeight 21%"), "{text}");
}

#[test]
fn flagger_reports_failed_checks_against_the_threshold() {
    let app = app_for(
        "flagger/status/canary-istio-progressing.assembled.yaml",
        Kind::Canary,
    );
    let t = app.rollouts.values().next().expect("one canary");
    let p = t.rollout.controller_plan.as_ref().expect("a plan");
    assert!(
        p.fact("failedChecks").is_some_and(|f| f.contains('/')),
        "{p:?}"
    );
    assert!(p.fact("canaryWeight").is_some(), "{p:?}");
    assert!(
        p.fact("stepWeight").is_some() && p.fact("maxWeight").is_some(),
        "{p:?}"
    );
}

#[test]
fn at_80x24_the_why_survives_a_long_controller_plan() {
    let rel = "argo-rollouts/objects/info-testdata/rollout-aborted/rollout.yaml";
    let mut app = app_for(rel, Kind::Rollout);
    app.ui.detail = true;
    let theme = aviary::theme::load("dark", None).expect("theme");
    let mut term = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    term.draw(|f| aviary::ui::render(&app, &theme, f))
        .expect("draw");
    let buf = term.backend().buffer();
    let text: String = (0..24)
        .map(|y| {
            (0..80)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect();
    assert!(text.contains("plan (Argo) ▶[setWeight 10%]"), "{text}");
    assert!(
        text.contains("why  metric \"web\" assessed Failed"),
        "{text}"
    );
}
