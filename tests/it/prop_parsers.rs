//! Property tests (proptest) for every parser of outside input: theme, config, query
//! templates, Prometheus JSON, HAProxy `show stat` CSV, Consul entries, Kubernetes objects
//! into rollouts, and recordings (read back and replayed through `update`). The property is the same everywhere: any input gives a value or an error,
//! never a panic, and what comes out is bounded by what went in. This is proptest (random,
//! shrinking), not coverage-guided fuzzing: only the stable toolchain is available, and
//! cargo-fuzz needs nightly. Case counts are bounded so the whole file runs in well under a
//! minute under `cargo test`; inputs that ever failed are kept under `tests/corpus/<parser>/`
//! and replayed by `corpus_replays_without_panics`.

use crate::support;

use aviary::app::App;
use aviary::domain::Weight;
use aviary::domain::change::{BuildNames, Command, OpId, Origin, RouterChange, WriteRequest};
use aviary::domain::observation::{BuildSample, SourceId};
use aviary::domain::{Plan, ProviderKind, Rollout, RolloutKey};
use aviary::metrics::datadog::{self, DdTemplate};
use aviary::metrics::dynatrace::{self, DtTemplate};
use aviary::metrics::prometheus::{MAX_SERIES, parse_response};
use aviary::metrics::source::{Answer, Buckets, BySeries, Points};
use aviary::metrics::templates::{BuildTarget, Target, Template, by_build};
use aviary::msg::{Msg, ProviderEvent};
use aviary::providers::consul::{Splitter, check_sum};
use aviary::providers::haproxy::{health, parse_stat, row_totals};
use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use aviary::providers::kube::patch::{Body, PatchReq, Step};
use aviary::providers::kube::router::plan_in;
use aviary::record::Reader;
use aviary::update::update;
use kube::api::DynamicObject;
use proptest::prelude::*;
use proptest::test_runner::Config as PropConfig;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `n` cases, times `AVIARY_PROP_SCALE` when set: CI runs the default, a contributor
/// hunting a rare input runs `AVIARY_PROP_SCALE=100`.
fn cases(n: u32) -> PropConfig {
    let scale = std::env::var("AVIARY_PROP_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(1)
        .max(1);
    PropConfig {
        cases: n.saturating_mul(scale),
        failure_persistence: None,
        ..PropConfig::default()
    }
}

/// Any JSON value, a few levels deep, with the strings parsers care about mixed in.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| json!(f)),
        "[a-zA-Z0-9 ._/{}\"=-]{0,12}".prop_map(Value::String),
        prop::sample::select(vec![
            "NaN", "+Inf", "-Inf", "1e309", "-0", "", "100", "50", "0.5", "vector", "matrix",
            "scalar", "string", "success", "error",
        ])
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "metric",
            "value",
            "values",
            "resultType",
            "result",
            "status",
            "data",
            "Splits",
            "Weight",
            "Service",
            "ServiceSubset",
            "Name",
            "Kind",
            "ModifyIndex",
            "spec",
            "status",
            "weight",
            "destination",
            "host",
            "subset",
            "http",
            "route",
            "backendRefs",
            "steps",
            "setWeight",
            "canary",
            "stableService",
            "canaryService",
            "trafficRouting",
            "analysis",
            "maxWeight",
            "stepWeight",
            "targetRef",
            "phase",
            "canaryWeight",
            "rules",
            "backends",
            "name",
            "annotations",
            "paused",
            "currentStepIndex",
        ])
        .prop_map(String::from),
        "[a-z]{1,6}",
    ]
}

/// Replaces the node at `pick` (an index into every node, parents first) with `with`.
fn mutate(v: &mut Value, pick: usize, with: Value) {
    fn walk(v: &mut Value, left: &mut usize, with: &mut Option<Value>) {
        if with.is_none() {
            return;
        }
        if *left == 0 {
            *v = with.take().unwrap_or(Value::Null);
            return;
        }
        *left -= 1;
        match v {
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, left, with)),
            Value::Object(o) => o.values_mut().for_each(|c| walk(c, left, with)),
            _ => {}
        }
    }
    fn count(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count).sum(),
            Value::Object(o) => o.values().map(count).sum(),
            _ => 0,
        }
    }
    let mut left = pick % count(v);
    walk(v, &mut left, &mut Some(with));
}

fn targets() -> impl Strategy<Value = Vec<Target>> {
    let labels = prop::collection::btree_map("[a-z_]{1,8}", "[ -~]{0,10}", 0..3);
    let build = ("[ -~]{0,8}", labels).prop_map(|(name, labels)| BuildTarget { name, labels });
    prop::collection::vec(
        ("[ -~]{1,10}", prop::collection::vec(build, 0..3)).prop_map(|(k, builds)| Target {
            key: RolloutKey::new(ProviderKind::Haproxy, k),
            builds,
        }),
        0..3,
    )
}

// ---- Prometheus JSON ------------------------------------------------------------------------

fn prometheus(status: u16, body: &[u8], targets: &[Target]) {
    match parse_response(status, body) {
        Ok(a) => {
            if let Ok(v) = a.into_vector() {
                assert!(v.len() <= MAX_SERIES);
                let _ = by_build(&v, targets);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn prometheus_fixture_bodies() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut stack = vec![support::fixture_path("prometheus")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn prometheus_any_bytes(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..400)) {
        prometheus(status, &body, &[]);
    }

    #[test]
    fn prometheus_any_envelope(
        status in prop::sample::select(vec!["success", "error", "pending"]),
        rt in prop::sample::select(vec!["vector", "matrix", "scalar", "string", "streams"]),
        result in json_value(),
        extra in json_value(),
        targets in targets(),
    ) {
        let body = json!({"status": status, "data": {"resultType": rt, "result": result}, "warnings": extra});
        prometheus(200, body.to_string().as_bytes(), &targets);
    }

    #[test]
    fn prometheus_fixtures_cut_and_mutated(pick in any::<prop::sample::Index>(), at in any::<prop::sample::Index>(), node in any::<usize>(), with in json_value()) {
        let bodies = prometheus_fixture_bodies();
        prop_assume!(!bodies.is_empty());
        let body = pick.get(&bodies);
        prometheus(200, &body[..at.index(body.len() + 1)], &[]);
        if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
            mutate(&mut v, node, with);
            prometheus(200, v.to_string().as_bytes(), &[]);
        }
    }
}

// ---- HAProxy show stat ----------------------------------------------------------------------

fn haproxy(csv: &str) {
    let rows = parse_stat(csv);
    for row in rows.values() {
        let _ = row_totals(row);
    }
    let _ = health(&rows, &["stable", "canary"]);
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn haproxy_show_stat_any_text(text in "[ -~\n,#]{0,300}") {
        haproxy(&text);
    }

    #[test]
    fn haproxy_show_stat_shaped(
        cols in prop::collection::vec(prop::sample::select(vec!["pxname", "svname", "status", "hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "rtime", "weight", "stot", "check_status", ""]), 0..12),
        rows in prop::collection::vec(prop::collection::vec("(-?[0-9]{0,20}(\\.[0-9]*)?|NaN|inf|UP|DOWN|MAINT|no check|stable|canary|)", 0..14), 0..5),
    ) {
        let mut csv = format!("# {}\n", cols.join(","));
        for r in rows {
            csv.push_str(&r.join(","));
            csv.push('\n');
        }
        haproxy(&csv);
    }
}

// ---- Consul entries -------------------------------------------------------------------------

fn consul(entry: Value) {
    let s = Splitter { entry, index: 1 };
    let splits = s.splits();
    let dest = s.destinations();
    assert!(dest.len() <= splits.len());
    let _ = check_sum(&s.entry);
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn consul_any_entry(entry in json_value()) {
        consul(entry);
    }

    #[test]
    fn consul_shaped_splitter(splits in prop::collection::vec(
        (json_value(), json_value(), json_value()).prop_map(|(w, svc, sub)| json!({"Weight": w, "Service": svc, "ServiceSubset": sub})),
        0..5,
    ), name in json_value()) {
        consul(json!({"Kind": "service-splitter", "Name": name, "Splits": splits}));
    }
}

// ---- Dynatrace and Datadog answers, and their buckets into samples ---------------------------

/// Both hosted services' parsers on `body`; whatever parses is stepped through [`Buckets`]
/// twice (the first answer is a baseline), and every sample must be a believable one.
fn saas(status: u16, body: &str, targets: &[Target]) {
    let answers = [
        datadog::parse(status, body, "version", &DdTemplate::builtin()),
        dynatrace::parse(status, body, "version", &DtTemplate::builtin()),
    ];
    for a in answers {
        match a {
            Ok(a) => buckets(&[a.clone(), a], targets),
            Err(e) => assert!(!e.is_empty()),
        }
    }
}

fn buckets(answers: &[Answer], targets: &[Target]) {
    let mut b = Buckets::default();
    for a in answers {
        for builds in b.step("version", targets, a).values() {
            for s in builds.values() {
                assert!(s.errors <= s.requests, "{s:?}");
                assert!(s.requests <= BuildSample::MAX_COUNT, "{s:?}");
                assert!(s.period_s.is_finite() && s.period_s >= 0.0, "{s:?}");
            }
        }
    }
}

/// Bucket timestamps from anywhere in `i64`, values NaN, negative, huge or missing.
fn points() -> impl Strategy<Value = Points> {
    let ts = prop_oneof![
        any::<i64>(),
        Just(i64::MIN),
        Just(i64::MAX),
        0i64..10,
        1_700_000_000_000i64..1_700_000_600_000
    ];
    let v = prop_oneof![
        Just(None),
        any::<f64>().prop_map(Some),
        Just(Some(f64::NAN)),
        Just(Some(1e300)),
        (0.0f64..1000.0).prop_map(Some)
    ];
    prop::collection::vec((ts, v), 0..6)
}

fn by_series() -> impl Strategy<Value = BySeries> {
    prop::collection::btree_map(
        prop::sample::select(vec!["v1", "v2", ""]).prop_map(String::from),
        points(),
        0..3,
    )
}

fn answer() -> impl Strategy<Value = Answer> {
    (by_series(), by_series(), by_series(), by_series()).prop_map(|(requests, errors, p50, p99)| {
        Answer {
            requests,
            errors,
            p50,
            p99,
        }
    })
}

/// Targets whose builds carry `version` labels the answers use.
fn version_targets() -> impl Strategy<Value = Vec<Target>> {
    let build = ("[a-z]{0,3}", prop::sample::select(vec!["v1", "v2", ""])).prop_map(|(name, v)| {
        BuildTarget {
            name,
            labels: [("version".to_string(), v.to_string())].into(),
        }
    });
    prop::collection::vec(
        ("[a-z]{1,3}", prop::collection::vec(build, 0..3)).prop_map(|(k, builds)| Target {
            key: RolloutKey::new(ProviderKind::Haproxy, k),
            builds,
        }),
        1..3,
    )
}

proptest! {
    #![proptest_config(cases(300))]

    #[test]
    fn saas_any_body(status in prop_oneof![Just(200u16), any::<u16>()], body in "[ -~]{0,200}", targets in version_targets()) {
        saas(status, &body, &targets);
    }

    #[test]
    fn saas_any_json(status in prop_oneof![Just(200u16), Just(400u16), Just(403u16)], v in json_value(), targets in version_targets()) {
        saas(status, &v.to_string(), &targets);
    }

    #[test]
    fn saas_shaped_bodies(
        series in prop::collection::vec((prop::sample::select(vec!["version:v1", "version:v2", "version:", "other:x"]), points(), 0usize..5), 0..5),
        targets in version_targets(),
    ) {
        let dd: Vec<Value> = series.iter().map(|(tag, pts, qi)| json!({
            "scope": tag, "tag_set": [tag], "query_index": qi,
            "pointlist": pts.iter().map(|(t, v)| json!([*t as f64, v])).collect::<Vec<_>>(),
        })).collect();
        saas(200, &json!({"status": "ok", "series": dd}).to_string(), &targets);
        let dt: Vec<Value> = series.iter().map(|(tag, pts, _)| json!({
            "metricId": "m", "data": [{
                "dimensionMap": {"version": tag.strip_prefix("version:").unwrap_or(tag)},
                "timestamps": pts.iter().map(|(t, _)| t).collect::<Vec<_>>(),
                "values": pts.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            }],
        })).collect();
        saas(200, &json!({"totalCount": dt.len(), "result": dt}).to_string(), &targets);
    }

    #[test]
    fn saas_buckets_any_answers(answers in prop::collection::vec(answer(), 1..4), targets in version_targets()) {
        buckets(&answers, &targets);
    }
}

// ---- Kubernetes objects into rollouts -------------------------------------------------------

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

/// Every fixture object of a watched kind, as JSON.
fn kube_fixtures() -> &'static [(Kind, Value)] {
    static ALL: std::sync::OnceLock<Vec<(Kind, Value)>> = std::sync::OnceLock::new();
    ALL.get_or_init(|| {
        let mut files = Vec::new();
        yaml_files(&support::fixture_path(""), &mut files);
        files.sort();
        let mut out = Vec::new();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Ok(docs) = serde_saphyr::from_multiple::<Value>(&text) else {
                continue;
            };
            for d in docs {
                if let Some(k) = d.get("kind").and_then(Value::as_str).and_then(kind_named) {
                    out.push((k, d));
                }
            }
        }
        out
    })
}

fn kind_named(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.name() == name)
}

fn kube(objs: Vec<(Kind, Value)>) {
    let mut cat = Catalog::new(Options::default(), Access::all());
    let parsed: Vec<(Kind, DynamicObject)> = objs
        .into_iter()
        .filter_map(|(k, v)| serde_json::from_value(v).ok().map(|o| (k, o)))
        .collect();
    for (kind, o) in &parsed {
        cat.apply(*kind, o.clone());
    }
    let rollouts: Vec<Rollout> = cat.rollouts().into_values().flatten().collect();
    for r in &rollouts {
        planned(&cat, &parsed, r);
    }
    shown(rollouts);
}

/// Every command planned against what the catalog holds: a plan is steps or a reason, and a
/// weight the router takes, applied to the object as the API server would, reads back as
/// that weight: the keypress does what the screen said. Weights are planned even where the
/// screen would refuse them, so the router's own refusals are tested too.
fn planned(cat: &Catalog, objs: &[(Kind, DynamicObject)], r: &Rollout) {
    let commands = [
        Command::Pause,
        Command::Resume,
        Command::Advance,
        Command::Promote,
        Command::Abort,
        Command::Retry,
    ];
    let req = |change: RouterChange, command: Command| WriteRequest {
        op: OpId(1),
        target: r.key.clone(),
        command,
        origin: Origin::Operator,
        before: r.canary_weight(),
        requested: None,
        change,
        expected_version: r.version.clone(),
        builds: BuildNames::default(),
    };
    for c in commands {
        // `update` never asks for what the rollout's capabilities refuse.
        if r.capabilities.check(c.kind()).is_err() {
            continue;
        }
        match plan_in(cat, true, &req(RouterChange::Controller(c), c)) {
            Ok((_, steps)) => assert!(!steps.is_empty(), "{c:?} on {}: no steps", r.key),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    for p in [0u8, 1, 37, 100] {
        let w = Weight::from_whole(p).expect("weight");
        let Ok((_, steps)) = plan_in(
            cat,
            true,
            &req(RouterChange::CanaryWeight(w), Command::SetWeight(w)),
        ) else {
            continue;
        };
        // The object the write patches: the split's holder (for an Ingress pair, the
        // canary Ingress), which is what the router patched.
        let Some((kind, obj, _)) = cat.split_for(&r.key) else {
            continue;
        };
        let [
            Step::Patch(PatchReq {
                body: Body::Json(ops),
                ..
            }),
        ] = steps.as_slice()
        else {
            panic!("a weight on {} is not one JSON patch: {steps:?}", r.key);
        };
        let mut doc = serde_json::to_value(&obj).expect("object json");
        let patch: json_patch::Patch = serde_json::from_value(ops.clone()).expect("a JSON patch");
        json_patch::patch(&mut doc, &patch)
            .unwrap_or_else(|e| panic!("{} at {w}: the API server would refuse {ops}: {e}", r.key));
        let mut after = Catalog::new(Options::default(), Access::all());
        for (k, o) in objs {
            after.apply(*k, o.clone());
        }
        after.apply(kind, serde_json::from_value(doc).expect("patched object"));
        let back = after
            .rollouts()
            .into_values()
            .flatten()
            .find(|x| x.key == r.key);
        if let Some(back) = back {
            assert_eq!(
                back.canary_weight(),
                w,
                "{} asked {w}, reads back {}",
                r.key,
                back.canary_weight()
            );
        }
    }
}

/// Whatever the parsers made of an object is drawn as an operator would see it: the
/// overview at the smallest and a large size, the detail, and each command's confirmation
/// (the effects are not run). Odd weights, steps or names must draw, never panic.
fn shown(rollouts: Vec<Rollout>) {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::{Terminal, backend::TestBackend};
    let theme = aviary::theme::load("dark", None).expect("dark theme");
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let mut app = App::new(now, Plan::default());
    update(&mut app, Msg::Resize(80, 24));
    for r in rollouts {
        let source = SourceId(format!("kube {}", r.key));
        update(
            &mut app,
            Msg::Provider(ProviderEvent::Upsert {
                source,
                rollout: Box::new(r),
            }),
        );
    }
    let draw = |app: &App, w: u16, h: u16| {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        term.draw(|f| aviary::ui::render(app, &theme, f))
            .expect("draw");
    };
    let key = |app: &mut App, c: KeyCode| {
        let m = match c {
            KeyCode::Char(ch) if ch.is_ascii_uppercase() => KeyModifiers::SHIFT,
            _ => KeyModifiers::NONE,
        };
        update(app, Msg::Key(KeyEvent::new(c, m)));
    };
    draw(&app, 80, 24);
    draw(&app, 200, 60);
    key(&mut app, KeyCode::Enter);
    draw(&app, 80, 24);
    for c in ['p', 'n', 'P', 'A', 'r'] {
        key(&mut app, KeyCode::Char(c));
        draw(&app, 80, 24);
        key(&mut app, KeyCode::Esc);
    }
}

proptest! {
    #![proptest_config(cases(150))]

    #[test]
    fn kube_fixtures_mutated(
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<usize>(), json_value()), 1..4),
    ) {
        let all = kube_fixtures();
        prop_assume!(!all.is_empty());
        let objs = picks.into_iter().map(|(i, node, with)| {
            let (kind, mut v) = i.get(all).clone();
            mutate(&mut v, node, with);
            // Keep it an object the watcher would hand over (metadata with a name).
            if let Some(o) = v.as_object_mut() {
                o.entry("metadata").or_insert(json!({"name": "x", "namespace": "ns"}));
            }
            (kind, v)
        }).collect();
        kube(objs);
    }
}

// ---- Theme, config and query template files -------------------------------------------------

/// TOML-ish text from lines that are mostly right: known keys, odd values, sections.
fn toml_text(keys: Vec<&'static str>) -> impl Strategy<Value = String> {
    let line = prop_oneof![
        (
            prop::sample::select(keys),
            prop_oneof![
                "\"[ -~]{0,10}\"".prop_map(|s| s),
                "-?[0-9]{1,12}(\\.[0-9]{0,3})?",
                Just("\"#89b4fa\"".to_string()),
                Just("\"5s\"".to_string()),
                Just("\"{filter}\"".to_string()),
                Just("[]".to_string()),
                Just("[\"a\", \"b\"]".to_string()),
                Just("{ x = 1 }".to_string()),
                Just("true".to_string()),
            ]
        )
            .prop_map(|(k, v)| format!("{k} = {v}")),
        prop::sample::select(vec![
            "[colors]", "[plan]", "[keys]", "[[x]]", "[", "#", "\"", "'''"
        ])
        .prop_map(String::from),
        "[ -~]{0,20}",
    ];
    prop::collection::vec(line, 0..10).prop_map(|l| l.join("\n"))
}

const THEME_KEYS: [&str; 8] = [
    "name",
    "extends",
    "fg",
    "bg",
    "canary",
    "stale",
    "phase-failed",
    "selected-bg",
];
const CONFIG_KEYS: [&str; 10] = [
    "theme",
    "fps",
    "step",
    "max-weight",
    "interval",
    "threshold",
    "max-error-rate",
    "max-p99",
    "abort",
    "quit",
];
const TEMPLATE_KEYS: [&str; 7] = [
    "build_labels",
    "requests",
    "errors",
    "p50",
    "p99",
    "latency_to_ms",
    "window",
];

fn theme_text(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.toml"), text).unwrap();
    let _ = aviary::theme::load("t", Some(dir.path())).map_err(|e| e.to_string());
    let _ = aviary::theme::load_all("dark", Some(dir.path()));
}

fn config_text(text: &str) {
    let _ = aviary::config::Config::parse("c.toml", text).map_err(|e| e.to_string());
}

fn template_text(text: &str, targets: &[Target]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    std::fs::write(&p, text).unwrap();
    if let Ok(t) = Template::load(&p) {
        let _ = t.render(&t.requests, targets);
        let _ = t.filter(targets);
    }
}

proptest! {
    #![proptest_config(cases(150))]

    #[test]
    fn theme_files(text in toml_text(THEME_KEYS.to_vec())) {
        theme_text(&text);
    }

    #[test]
    fn config_files(text in toml_text(CONFIG_KEYS.to_vec())) {
        config_text(&text);
    }

    #[test]
    fn template_files(text in toml_text(TEMPLATE_KEYS.to_vec()), targets in targets()) {
        template_text(&text, &targets);
    }

    #[test]
    fn builtin_templates_render_any_targets(targets in targets()) {
        for plane in [
            aviary::metrics::templates::DataPlane::Istio,
            aviary::metrics::templates::DataPlane::Haproxy,
            aviary::metrics::templates::DataPlane::Consul,
            aviary::metrics::templates::DataPlane::Linkerd,
            aviary::metrics::templates::DataPlane::Envoy,
            aviary::metrics::templates::DataPlane::Nginx,
        ] {
            if let Some(t) = Template::builtin(plane) {
                let q = t.render(&t.requests, &targets);
                prop_assert!(!q.contains("{filter}"), "{q}");
            }
        }
    }
}

// ---- Recordings ------------------------------------------------------------------------------

/// A real recording: `aviary --headless --record F demo --scenario faulty --pace fast
/// --duration 4s` (ticks, provider upserts, metrics batches, the rollback's write results).
fn seed_recording() -> &'static str {
    include_str!("../corpus/recording/demo_faulty.jsonl")
}

/// Parses `text` as a recording; when it parses, replays every entry through `update` from
/// the header's app, as `aviary replay` does. Neither may panic, and a parse keeps no more
/// entries than the text has lines.
fn recording(text: &str) {
    let Ok(rec) = Reader::parse(Path::new("prop.jsonl"), text) else {
        return;
    };
    assert!(rec.entries.len() <= text.lines().count());
    if let Some(line) = rec.truncated_at {
        assert_eq!(
            line,
            text.split_inclusive('\n').count(),
            "only the last line can be cut"
        );
    }
    let mut app = rec.header.app();
    for e in rec.entries {
        let _ = update(&mut app, e.msg);
    }
}

proptest! {
    #![proptest_config(cases(96))]

    /// Any bytes after a valid header.
    #[test]
    fn recording_any_tail(tail in prop::collection::vec(any::<u8>(), 0..600)) {
        let header = seed_recording().lines().next().unwrap_or_default();
        recording(&format!("{header}\n{}", String::from_utf8_lossy(&tail)));
    }

    /// The real recording cut at any byte, one byte changed, or one entry's JSON mutated.
    #[test]
    fn recording_cut_and_mutated(
        at in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        line in any::<prop::sample::Index>(),
        node in any::<usize>(),
        with in json_value(),
    ) {
        let seed = seed_recording();
        let mut cut = seed.as_bytes()[..at.index(seed.len() + 1)].to_vec();
        if !cut.is_empty() {
            let i = flip.index(cut.len());
            cut[i] = byte;
        }
        recording(&String::from_utf8_lossy(&cut));
        let mut lines: Vec<String> = seed.lines().map(str::to_string).collect();
        let i = line.index(lines.len());
        if let Ok(mut v) = serde_json::from_str::<Value>(&lines[i]) {
            mutate(&mut v, node, with);
            lines[i] = v.to_string();
        }
        recording(&(lines.join("\n") + "\n"));
    }
}

// ---- Corpus ---------------------------------------------------------------------------------

/// Every file under `tests/corpus/<parser>/` goes through that parser again.
#[test]
fn corpus_replays_without_panics() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut n = 0;
    for dir in std::fs::read_dir(&root).unwrap().flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        let parser = dir.file_name().to_string_lossy().to_string();
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|f| f != "README.md"))
            .collect();
        files.sort();
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            match parser.as_str() {
                "prometheus" => prometheus(200, &bytes, &[]),
                "haproxy" => haproxy(&text),
                "consul" => consul(serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
                "kube" => {
                    let v: Value = serde_json::from_slice(&bytes).unwrap();
                    let kind = v["kind"].as_str().and_then(kind_named).unwrap();
                    kube(vec![(kind, v)]);
                }
                "theme" => theme_text(&text),
                "config" => config_text(&text),
                "template" => template_text(&text, &[]),
                "recording" => recording(&text),
                other => panic!("tests/corpus/{other}: no parser of that name"),
            }
            n += 1;
        }
    }
    assert!(n > 0, "the corpus is empty");
}

/// A weight in the quintillions once overflowed the sum check; it must read as "not 100".
#[test]
fn consul_huge_weight_is_refused_not_overflowed() {
    let entry = json!({"Kind": "service-splitter", "Splits": [
        {"Weight": 1, "Service": null, "ServiceSubset": null},
        {"Weight": 92233720368547753_i64, "Service": null, "ServiceSubset": null},
    ]});
    consul(entry.clone());
    assert!(check_sum(&entry).is_err());
}
