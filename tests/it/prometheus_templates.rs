//! Every built-in query template (istio, linkerd, envoy, nginx, consul, haproxy) evaluated by
//! a real Prometheus (Debian 2.42) over recorded data: the series each data plane exports,
//! with its own metric and label names, written as OpenMetrics and turned into TSDB blocks by
//! `promtool` (deterministic: the same samples every run), then read at two instants 30 s
//! apart. The answers must split back into the right builds with exact counts.

use crate::support;

use aviary::domain::{ProviderKind, RolloutKey};
use aviary::metrics::poller::{Deltas, read_totals};
use aviary::metrics::prometheus::PromClient;
use aviary::metrics::templates::{BuildTarget, DataPlane, Target, Template};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::servers::*;

/// Per build: requests/s, 5xx/s, and the share of requests at or under each latency bucket.
struct Traffic {
    rps: f64,
    eps: f64,
    buckets: [(&'static str, f64); 4],
}

const STABLE: Traffic = Traffic {
    rps: 100.0,
    eps: 1.0,
    buckets: [("10", 0.9), ("100", 1.0), ("1000", 1.0), ("+Inf", 1.0)],
};
const CANARY: Traffic = Traffic {
    rps: 10.0,
    eps: 2.0,
    buckets: [("10", 0.1), ("100", 0.5), ("1000", 1.0), ("+Inf", 1.0)],
};

/// How one data plane exports traffic: label sets per build, and the series it writes.
struct Plane {
    plane: DataPlane,
    builds: [Vec<(&'static str, &'static str)>; 2],
}

fn planes() -> Vec<Plane> {
    use DataPlane::*;
    vec![
        Plane {
            plane: Istio,
            builds: [
                vec![("destination_workload", "web-v1")],
                vec![("destination_workload", "web-v2")],
            ],
        },
        Plane {
            plane: Linkerd,
            builds: [
                vec![("deployment", "web-v1")],
                vec![("deployment", "web-v2")],
            ],
        },
        Plane {
            plane: Envoy,
            builds: [
                vec![("envoy_cluster_name", "web-primary")],
                vec![("envoy_cluster_name", "web-canary")],
            ],
        },
        Plane {
            plane: Nginx,
            // ingress-nginx leaves `canary` empty for the main upstream.
            builds: [vec![("canary", "")], vec![("canary", "shop-web-canary-80")]],
        },
        Plane {
            plane: Consul,
            builds: [
                vec![
                    ("consul_destination_service", "web"),
                    ("consul_destination_service_subset", "v1"),
                ],
                vec![
                    ("consul_destination_service", "web"),
                    ("consul_destination_service_subset", "v2"),
                ],
            ],
        },
        Plane {
            plane: Haproxy,
            builds: [
                vec![("proxy", "be"), ("server", "stable")],
                vec![("proxy", "be"), ("server", "canary")],
            ],
        },
    ]
}

fn labels(base: &[(&str, &str)], extra: &[(&str, &str)]) -> String {
    base.iter()
        .chain(extra)
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",")
}

/// The series one plane exports for one build, as (metric, labels, value per second or
/// constant gauge value, is_gauge).
fn series(p: &Plane, b: &[(&str, &str)], t: &Traffic) -> Vec<(&'static str, String, f64, bool)> {
    use DataPlane::*;
    let ok = t.rps - t.eps;
    let mut v = Vec::new();
    let two = |m: &'static str, ok_l: &[(&str, &str)], err_l: &[(&str, &str)]| {
        vec![
            (m, labels(b, ok_l), ok, false),
            (m, labels(b, err_l), t.eps, false),
        ]
    };
    let (bucket, scale) = match p.plane {
        Istio => {
            let r = [("reporter", "destination")];
            v.extend(two(
                "istio_requests_total",
                &[r[0], ("response_code", "200")],
                &[r[0], ("response_code", "503")],
            ));
            ("istio_request_duration_milliseconds_bucket", 1.0)
        }
        Linkerd => {
            let d = ("direction", "inbound");
            v.extend(two(
                "response_total",
                &[d, ("classification", "success")],
                &[d, ("classification", "failure")],
            ));
            ("response_latency_ms_bucket", 1.0)
        }
        Envoy => {
            v.extend(two(
                "envoy_cluster_upstream_rq",
                &[("envoy_response_code", "200")],
                &[("envoy_response_code", "503")],
            ));
            ("envoy_cluster_upstream_rq_time_bucket", 1.0)
        }
        Nginx => {
            v.extend(two(
                "nginx_ingress_controller_requests",
                &[("status", "200")],
                &[("status", "500")],
            ));
            (
                "nginx_ingress_controller_request_duration_seconds_bucket",
                0.001,
            )
        }
        Consul => {
            v.push((
                "envoy_cluster_upstream_rq_total",
                labels(b, &[]),
                t.rps,
                false,
            ));
            v.extend(two(
                "envoy_cluster_upstream_rq_xx",
                &[("envoy_response_code_class", "2")],
                &[("envoy_response_code_class", "5")],
            ));
            ("envoy_cluster_upstream_rq_time_bucket", 1.0)
        }
        Haproxy => {
            v.extend(two(
                "haproxy_server_http_responses_total",
                &[("code", "2xx")],
                &[("code", "5xx")],
            ));
            let avg = if t.rps > 50.0 { 0.012 } else { 0.2 };
            v.push((
                "haproxy_server_response_time_average_seconds",
                labels(b, &[]),
                avg,
                true,
            ));
            return v;
        }
        Custom => unreachable!(),
    };
    let extra: &[(&str, &str)] = match p.plane {
        Istio => &[("reporter", "destination")],
        Linkerd => &[("direction", "inbound")],
        _ => &[],
    };
    for (le, frac) in t.buckets {
        let le = if le == "+Inf" {
            le.to_string()
        } else {
            format!("{}", le.parse::<f64>().unwrap() * scale)
        };
        let mut l: Vec<(&str, &str)> = extra.to_vec();
        l.push(("le", &le));
        v.push((bucket, labels(b, &l), t.rps * frac, false));
    }
    v
}

/// OpenMetrics text: each family once, each series' samples together and in time order.
fn openmetrics(t0: u64) -> String {
    let mut fams: BTreeMap<&str, Vec<(String, f64, bool)>> = BTreeMap::new();
    for p in planes() {
        for (b, t) in p.builds.iter().zip([STABLE, CANARY]) {
            for (m, l, v, gauge) in series(&p, b, &t) {
                fams.entry(m).or_default().push((l, v, gauge));
            }
        }
    }
    let mut out = String::new();
    for (m, list) in fams {
        writeln!(out, "# TYPE {m} unknown").unwrap();
        for (l, v, gauge) in list {
            for i in 0..=120u64 {
                let value = if gauge { v } else { v * i as f64 };
                writeln!(out, "{m}{{{l}}} {value} {}", t0 + i).unwrap();
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn every_builtin_template_reads_recorded_mesh_data_exactly() {
    if !have("prometheus") || !have("promtool") {
        return;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let t0 = now - 3600;
    let dir = tempfile::tempdir().unwrap();
    let om = dir.path().join("mesh.om");
    std::fs::write(&om, openmetrics(t0)).unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om)
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prom = tokio::task::spawn_blocking(move || Prometheus::on_data(dir, &data))
        .await
        .unwrap();
    let client = PromClient::new(&prom.url, Duration::from_secs(5)).unwrap();
    let at = |s: u64| UNIX_EPOCH + Duration::from_secs(t0 + s);
    for p in planes() {
        let t = Template::builtin(p.plane).unwrap();
        let key = RolloutKey::new(ProviderKind::Demo, format!("{:?}", p.plane));
        let target = Target {
            key: key.clone(),
            builds: p
                .builds
                .iter()
                .zip(["stable", "canary"])
                .map(|(l, name)| BuildTarget {
                    name: name.into(),
                    labels: l
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                })
                .collect(),
        };
        let targets = [target];
        let mut d = Deltas::default();
        let first = read_totals(&client, &t, &targets, Some(at(70))).await;
        d.step(
            at(70),
            first.unwrap_or_else(|e| panic!("{:?}: {e}", p.plane)),
        );
        let second = read_totals(&client, &t, &targets, Some(at(100)))
            .await
            .unwrap();
        let out = d.step(at(100), second);
        let b = &out[&key];
        let what = format!("{:?}", p.plane);
        assert_eq!(
            (b["stable"].requests, b["stable"].errors),
            (3000, 30),
            "{what}"
        );
        assert_eq!(
            (b["canary"].requests, b["canary"].errors),
            (300, 60),
            "{what}"
        );
        assert_eq!(b["canary"].period_s, 30.0, "{what}");
        if p.plane == DataPlane::Haproxy {
            assert_eq!(b["stable"].p50_ms, Some(12.0), "{what}");
            assert_eq!(b["canary"].p50_ms, Some(200.0), "{what}");
            assert_eq!(b["canary"].p99_ms, None, "{what}");
        } else {
            // histogram_quantile interpolates inside the bucket: stable has 90 % under 10 ms
            // and the rest under 100 ms (p99 = 10 + 90 * 0.9 = 91 ms); the canary 10 % / 50 %
            // / 100 % under 10 / 100 / 1000 ms (p99 = 100 + 900 * 0.98 = 982 ms).
            let close = |x: Option<f64>, want: f64| x.is_some_and(|x| (x - want).abs() < 1e-6);
            assert!(close(b["stable"].p99_ms, 91.0), "{what}: {:?}", b["stable"]);
            assert!(
                close(b["canary"].p99_ms, 982.0),
                "{what}: {:?}",
                b["canary"]
            );
            assert!(
                close(b["canary"].p50_ms, 100.0),
                "{what}: {:?}",
                b["canary"]
            );
        }
    }
}
