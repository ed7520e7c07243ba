//! The overview keeps its rows between frames and patches them (a moved row alone, a filter
//! keystroke scanning the kept order) instead of scoping, filtering and sorting every
//! rollout again. Whatever the sequence of changes, filter edits, sorts and scopes, the rows
//! shown must be exactly the rows a full scan gives: `App::check_indexes`, which `update`
//! calls after every message in debug builds, panics when they differ, and this test also
//! compares the screen's rows with a scan it makes itself.

use aviary::app::{App, KindFilter, Sort, SortCol};
use aviary::domain::observation::SourceId;
use aviary::domain::{
    Build, Controller, Owner, Phase, Plan, ProviderKind, Role, Rollout, RolloutKey, Weight,
};
use aviary::msg::{Msg, ProviderEvent};
use aviary::update::update;
use proptest::prelude::*;
use proptest::test_runner::Config as PropConfig;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
}

fn source() -> SourceId {
    SourceId("kube VirtualService".into())
}

const PHASES: [Phase; 5] = [
    Phase::Idle,
    Phase::Progressing,
    Phase::Paused,
    Phase::Failed,
    Phase::Succeeded,
];

fn rollout(i: usize, canary: u8, phase: usize, created: Option<u64>) -> Rollout {
    let kind = [
        ProviderKind::Argo,
        ProviderKind::Flagger,
        ProviderKind::Istio,
    ][i % 3];
    let owner = match kind {
        ProviderKind::Argo => Owner::Controller(Controller::Argo),
        ProviderKind::Flagger => Owner::Controller(Controller::Flagger),
        _ => Owner::Manual,
    };
    let w = Weight::from_whole(canary).unwrap_or(Weight::ZERO);
    let b = |role, name: &str, w: Weight| Build {
        role,
        name: name.into(),
        version: None,
        weight: w,
        selector: name.into(),
    };
    let mut r = Rollout::new(
        RolloutKey::namespaced(kind, format!("team-{}", i % 3), format!("Svc-{i}")),
        owner,
        vec![
            b(Role::Stable, "stable", w.complement()),
            b(Role::Canary, "canary", w),
        ],
    );
    r.phase = PHASES[phase % PHASES.len()].clone();
    r.created = created.map(at);
    r
}

#[derive(Clone, Debug)]
enum Op {
    Upsert {
        i: usize,
        canary: u8,
        phase: usize,
        created: Option<u64>,
    },
    Delete(usize),
    Type(char),
    Backspace,
    Sort(usize, bool),
    Namespace(Option<usize>),
    Kind(usize),
    Tick,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12usize, 0..=100u8, 0..5usize, proptest::option::of(0..50u64)).prop_map(
            |(i, canary, phase, created)| Op::Upsert { i, canary, phase, created }
        ),
        1 => (0..12usize).prop_map(Op::Delete),
        2 => prop::sample::select(vec!['s', 'v', '1', '-', 't', 'a', 'r', 'g', 'p', 'S', '/'])
            .prop_map(Op::Type),
        1 => Just(Op::Backspace),
        1 => (0..7usize, any::<bool>()).prop_map(|(c, r)| Op::Sort(c, r)),
        1 => proptest::option::of(0..3usize).prop_map(Op::Namespace),
        1 => (0..4usize).prop_map(Op::Kind),
        1 => Just(Op::Tick),
    ]
}

const COLS: [SortCol; 7] = [
    SortCol::Phase,
    SortCol::Name,
    SortCol::Context,
    SortCol::Namespace,
    SortCol::Weight,
    SortCol::Age,
    SortCol::Changed,
];

/// The rows as the user reads them: every rollout in scope whose key, owner or phase
/// contains the filter (ignoring case), in the app's own sort order.
fn scanned(app: &App) -> Vec<RolloutKey> {
    let f = app.ui.filter.to_lowercase();
    let mut v: Vec<_> = app
        .rollouts
        .values()
        .filter(|t| {
            let k = &t.rollout.key;
            app.ui.kind.shows(k.provider)
                && app
                    .ui
                    .namespace
                    .as_ref()
                    .is_none_or(|n| k.namespace.as_ref() == Some(n))
                && (k.to_string().to_lowercase().contains(&f)
                    || t.rollout.owner.to_string().contains(&f)
                    || t.rollout.phase.label().to_lowercase().contains(&f))
        })
        .collect();
    v.sort_by(|a, b| aviary::app::compare(app.ui.sort, a, b));
    v.into_iter().map(|t| t.rollout.key.clone()).collect()
}

proptest! {
    #![proptest_config(PropConfig { cases: 200, failure_persistence: None, ..PropConfig::default() })]

    #[test]
    fn kept_rows_are_the_rows_a_full_scan_gives(ops in prop::collection::vec(op(), 1..60)) {
        let mut app = App::new(at(0), Plan::default());
        app.read_only = true;
        update(&mut app, Msg::Resize(200, 60));
        update(&mut app, Msg::Provider(ProviderEvent::Restarted {
            source: source(),
            rollouts: (0..6).map(|i| rollout(i, (i * 10) as u8, i, None)).collect(),
        }));
        let mut now = 0;
        for op in ops {
            now += 1;
            let msg = match op {
                Op::Upsert { i, canary, phase, created } => Msg::Provider(ProviderEvent::Upsert {
                    source: source(),
                    rollout: Box::new(rollout(i, canary, phase, created)),
                }),
                Op::Delete(i) => Msg::Provider(ProviderEvent::Delete {
                    source: source(),
                    key: rollout(i, 0, 0, None).key,
                }),
                Op::Type(c) => {
                    app.ui.filter.push(c);
                    Msg::Tick(at(now))
                }
                Op::Backspace => {
                    app.ui.filter.pop();
                    Msg::Tick(at(now))
                }
                Op::Sort(c, reverse) => {
                    app.ui.sort = Sort { col: COLS[c], reverse };
                    Msg::Tick(at(now))
                }
                Op::Namespace(n) => {
                    app.ui.namespace = n.map(|n| format!("team-{n}"));
                    Msg::Tick(at(now))
                }
                Op::Kind(k) => {
                    app.ui.kind = [
                        KindFilter::All,
                        KindFilter::Rollouts,
                        KindFilter::Canaries,
                        KindFilter::Routes,
                    ][k];
                    Msg::Tick(at(now))
                }
                Op::Tick => Msg::Tick(at(now)),
            };
            update(&mut app, msg);
            prop_assert_eq!(app.rows().to_vec(), scanned(&app));
        }
    }
}
