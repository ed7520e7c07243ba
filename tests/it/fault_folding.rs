//! An outage seen through `update`: one identical error a second is folded into a count, and
//! the timeline records the source going stale once and coming back once.

use aviary::app::App;
use aviary::domain::observation::SourceId;
use aviary::domain::{Build, Owner, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn t(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
}

fn rollout() -> Rollout {
    let b = |role, name: &str, weight| Build {
        role,
        name: name.into(),
        version: None,
        weight,
        selector: name.into(),
    };
    let ten = Weight::from_whole(10).unwrap();
    Rollout::new(
        RolloutKey::new(ProviderKind::Istio, "checkout"),
        Owner::Manual,
        vec![
            b(Role::Stable, "stable", ten.complement()),
            b(Role::Canary, "canary", ten),
        ],
    )
}

#[test]
fn repeated_errors_fold_and_the_timeline_records_stale_and_recovered_once() {
    let src = SourceId("kube Rollout".into());
    let mut app = App::new(t(0), Plan::default());
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Upsert {
            source: src.clone(),
            rollout: Box::new(rollout()),
        }),
    );
    for s in 1..=12 {
        update(&mut app, Msg::Tick(t(s)));
        update(
            &mut app,
            Msg::SourceError {
                source: src.clone(),
                error: "Rollout watch: Connection refused (restarting)".into(),
            },
        );
    }
    let status = &app.sources[&src];
    assert_eq!(status.repeats, 12);
    assert_eq!(
        status.last_error.as_deref(),
        Some("Rollout watch: Connection refused (restarting) (12×)")
    );
    update(&mut app, Msg::Tick(t(20)));
    update(
        &mut app,
        Msg::Provider(ProviderEvent::Restarted {
            source: src.clone(),
            rollouts: vec![rollout()],
        }),
    );
    assert_eq!(app.sources[&src].last_error, None);
    let texts: Vec<String> = app
        .rollouts
        .values()
        .flat_map(|t| t.events.iter().map(|e| e.text.clone()))
        .collect();
    let stale: Vec<_> = texts.iter().filter(|t| t.contains("stale")).collect();
    let back: Vec<_> = texts.iter().filter(|t| t.contains("recovered")).collect();
    assert_eq!(stale.len(), 1, "{texts:?}");
    assert_eq!(back.len(), 1, "{texts:?}");
    assert!(back[0].contains("recovered after 20s"), "{texts:?}");
}
