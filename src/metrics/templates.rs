//! PromQL templates per data plane.
//!
//! Why templates: every mesh names its counters and its build label differently, but aviary
//! asks the same three questions of each — how many requests, how many failed, how slow — so
//! one template per data plane turns those questions into PromQL. Each signal is **one query
//! per refresh for all visible rollouts**, grouped `sum by (<build labels>)`, and the answer
//! is split back into builds here. Templates deserialize from config, so a team can override
//! any of them (or write a `custom` one) without a new aviary release.
//!
//! Counters are queried as cumulative totals, not `rate()`: the poller turns two totals into
//! exact per-refresh counts, which needs no rate window (with a 1 s scrape, `rate(x[1s])` is
//! empty because a window needs two samples) and agrees with the router's own counters.

use super::prometheus::{Labels, Sample};
use crate::domain::RolloutKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The data planes aviary has built-in templates for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum DataPlane {
    /// Istio (`istio_requests_total`, build label `destination_workload`).
    #[default]
    Istio,
    /// Linkerd (`response_total`, build label `deployment`).
    Linkerd,
    /// Envoy / App Mesh (`envoy_cluster_upstream_rq`, build label `envoy_cluster_name`).
    Envoy,
    /// ingress-nginx (`nginx_ingress_controller_requests`, build label `canary`).
    Nginx,
    /// HAProxy's built-in exporter (`haproxy_server_http_responses_total{proxy,server,code}`).
    Haproxy,
    /// Consul service mesh (Envoy with Consul's stats tags).
    Consul,
    /// A template from the config file.
    Custom,
}

/// The queries for one data plane. Placeholders: `{by}` (the build labels, comma-separated),
/// `{filter}` (label matchers selecting every visible build) and `{window}` (rate window for
/// latency histograms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    /// Labels that tell builds apart; results are grouped by these.
    pub build_labels: Vec<String>,
    /// Cumulative request count per build.
    pub requests: String,
    /// Cumulative failed (5xx) request count per build. An empty answer while `requests`
    /// has the build means 0 failures: many exporters only create the 5xx series on the
    /// first 5xx.
    pub errors: String,
    /// Typical latency per build (median, or the average where the exporter has nothing
    /// better, as with HAProxy).
    #[serde(default)]
    pub p50: Option<String>,
    /// 99th percentile latency per build; `None` when the exporter has no histogram.
    #[serde(default)]
    pub p99: Option<String>,
    /// Multiply latency answers by this to get milliseconds (1000 for seconds).
    #[serde(default = "one")]
    pub latency_to_ms: f64,
    /// Rate window for histogram quantiles; needs at least two scrapes inside it.
    #[serde(default = "default_window")]
    pub window: String,
}

fn one() -> f64 {
    1.0
}

fn default_window() -> String {
    "1m".into()
}

fn quantile(q: f64, bucket: &str, extra: &str) -> String {
    format!(
        "histogram_quantile({q}, sum by (le, {{by}}) (rate({bucket}{{{extra}{{filter}}}}[{{window}}])))"
    )
}

impl Template {
    /// The built-in template for `plane`; `None` for `Custom`, which only config defines.
    pub fn builtin(plane: DataPlane) -> Option<Template> {
        let t = |labels: &[&str], metric: &str, extra: &str, err: &str, bucket: &str, ms: f64| {
            Template {
                build_labels: labels.iter().map(|s| s.to_string()).collect(),
                requests: format!("sum by ({{by}}) ({metric}{{{extra}{{filter}}}})"),
                errors: format!("sum by ({{by}}) ({metric}{{{extra}{err},{{filter}}}})"),
                p50: Some(quantile(0.5, bucket, extra)),
                p99: Some(quantile(0.99, bucket, extra)),
                latency_to_ms: ms,
                window: default_window(),
            }
        };
        Some(match plane {
            DataPlane::Istio => t(
                &["destination_workload"],
                "istio_requests_total",
                "reporter=\"destination\",",
                "response_code=~\"5..\"",
                "istio_request_duration_milliseconds_bucket",
                1.0,
            ),
            DataPlane::Linkerd => t(
                &["deployment"],
                "response_total",
                "direction=\"inbound\",",
                "classification=\"failure\"",
                "response_latency_ms_bucket",
                1.0,
            ),
            DataPlane::Envoy => t(
                &["envoy_cluster_name"],
                "envoy_cluster_upstream_rq",
                "",
                "envoy_response_code=~\"5.*\"",
                "envoy_cluster_upstream_rq_time_bucket",
                1.0,
            ),
            DataPlane::Nginx => t(
                &["canary"],
                "nginx_ingress_controller_requests",
                "",
                "status=~\"5..\"",
                "nginx_ingress_controller_request_duration_seconds_bucket",
                1000.0,
            ),
            DataPlane::Consul => Template {
                errors: "sum by ({by}) (envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"5\",{filter}})".into(),
                ..t(
                    &["consul_destination_service", "consul_destination_service_subset"],
                    "envoy_cluster_upstream_rq_total",
                    "",
                    "",
                    "envoy_cluster_upstream_rq_time_bucket",
                    1.0,
                )
            },
            DataPlane::Haproxy => Template {
                build_labels: vec!["proxy".into(), "server".into()],
                requests: "sum by ({by}) (haproxy_server_http_responses_total{{filter}})".into(),
                errors: "sum by ({by}) (haproxy_server_http_responses_total{code=\"5xx\",{filter}})"
                    .into(),
                // HAProxy 2.6 exports no latency histogram, only the average response time
                // over the last 1024 requests; it is shown as the typical latency and there is
                // no p99 to judge.
                p50: Some(
                    "max by ({by}) (haproxy_server_response_time_average_seconds{{filter}})".into(),
                ),
                p99: None,
                latency_to_ms: 1000.0,
                window: default_window(),
            },
            DataPlane::Custom => return None,
        })
    }

    /// Reads a template from a TOML file (the `custom` data plane, or an override of a
    /// built-in one). Errors name the file and, for syntax errors, the line.
    pub fn load(path: &std::path::Path) -> Result<Template, String> {
        let (t, _): (Template, _) = crate::toml_file::load(path).map_err(|e| e.to_string())?;
        if t.build_labels.is_empty() {
            return Err(format!("{}: build_labels is empty", path.display()));
        }
        for (name, q) in [("requests", &t.requests), ("errors", &t.errors)] {
            if !q.contains("{filter}") {
                return Err(format!(
                    "{}: the {name} query has no {{filter}}, so it cannot select the builds",
                    path.display()
                ));
            }
        }
        Ok(t)
    }

    /// Fills the placeholders for `targets`.
    pub fn render(&self, query: &str, targets: &[Target]) -> String {
        query
            .replace("{by}", &self.build_labels.join(", "))
            .replace("{filter}", &self.filter(targets))
            .replace("{window}", &self.window)
    }

    /// Label matchers selecting every build of every target: `label=~"a|b"` per build label.
    pub fn filter(&self, targets: &[Target]) -> String {
        let mut parts = Vec::new();
        for label in &self.build_labels {
            let mut values: Vec<&str> = targets
                .iter()
                .flat_map(|t| &t.builds)
                .filter_map(|b| b.labels.get(label).map(String::as_str))
                .collect();
            values.sort_unstable();
            values.dedup();
            if values.is_empty() {
                continue;
            }
            let alts: Vec<String> = values.iter().map(|v| promql_regex_literal(v)).collect();
            parts.push(format!("{label}=~\"{}\"", alts.join("|")));
        }
        parts.join(",")
    }
}

/// `value` as an exact-match alternative inside a PromQL double-quoted regex string.
fn promql_regex_literal(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        match c {
            // Regex metacharacters need `\`, which PromQL's string syntax writes as `\\`.
            '.' | '+' | '*' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|' | '^' | '$' => {
                out.push_str("\\\\");
                out.push(c);
            }
            '\\' => out.push_str("\\\\\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// One build of a watched rollout and the label values that select its series.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildTarget {
    /// Build name as the rollout knows it.
    pub name: String,
    /// Exact label values (`{"proxy": "be", "server": "canary"}`).
    pub labels: Labels,
}

/// A rollout whose builds the poller measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Which rollout.
    pub key: RolloutKey,
    /// Its builds.
    pub builds: Vec<BuildTarget>,
}

/// Splits one grouped answer back into `(rollout, build) → value`. A series that matches no
/// build is ignored; a build with no series is absent (no data).
pub fn by_build(samples: &[Sample], targets: &[Target]) -> BTreeMap<(RolloutKey, String), f64> {
    let mut out = BTreeMap::new();
    for t in targets {
        for b in &t.builds {
            let hit = samples.iter().find(|s| {
                b.labels
                    .iter()
                    .all(|(k, v)| s.labels.get(k).map(String::as_str).unwrap_or("") == v)
            });
            if let Some(s) = hit {
                out.insert((t.key.clone(), b.name.clone()), s.value);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderKind;

    fn haproxy_target() -> Target {
        let b = |n: &str| BuildTarget {
            name: n.into(),
            labels: [("proxy", "be.app"), ("server", n)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        Target {
            key: RolloutKey::new(ProviderKind::Haproxy, "be.app"),
            builds: vec![b("stable"), b("canary")],
        }
    }

    #[test]
    fn haproxy_queries_group_by_proxy_and_server_for_all_targets() {
        let t = Template::builtin(DataPlane::Haproxy).unwrap();
        let q = t.render(&t.errors, &[haproxy_target()]);
        assert_eq!(
            q,
            r#"sum by (proxy, server) (haproxy_server_http_responses_total{code="5xx",proxy=~"be\\.app",server=~"canary|stable"})"#
        );
    }

    #[test]
    fn one_query_covers_every_visible_rollout() {
        let t = Template::builtin(DataPlane::Istio).unwrap();
        let target = |name: &str, builds: [&str; 2]| Target {
            key: RolloutKey::namespaced(ProviderKind::Istio, "shop", name),
            builds: builds
                .iter()
                .map(|b| BuildTarget {
                    name: b.to_string(),
                    labels: [("destination_workload".to_string(), b.to_string())].into(),
                })
                .collect(),
        };
        let q = t.render(
            &t.requests,
            &[
                target("checkout", ["checkout-v1", "checkout-v2"]),
                target("cart", ["cart-v7", "cart-v8"]),
            ],
        );
        assert_eq!(
            q,
            r#"sum by (destination_workload) (istio_requests_total{reporter="destination",destination_workload=~"cart-v7|cart-v8|checkout-v1|checkout-v2"})"#
        );
    }

    #[test]
    fn every_builtin_renders_balanced_promql() {
        for plane in [
            DataPlane::Istio,
            DataPlane::Linkerd,
            DataPlane::Envoy,
            DataPlane::Nginx,
            DataPlane::Consul,
            DataPlane::Haproxy,
        ] {
            let t = Template::builtin(plane).unwrap();
            for q in [
                Some(&t.requests),
                Some(&t.errors),
                t.p50.as_ref(),
                t.p99.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                let r = t.render(q, &[haproxy_target()]);
                assert_eq!(r.matches('{').count(), r.matches('}').count(), "{r}");
                assert_eq!(r.matches('(').count(), r.matches(')').count(), "{r}");
                assert!(!r.contains("{by}") && !r.contains("{window}"), "{r}");
            }
        }
        assert!(Template::builtin(DataPlane::Custom).is_none());
    }

    #[test]
    fn answers_split_back_into_builds() {
        let s = |server: &str, v: f64| Sample {
            labels: [("proxy", "be.app"), ("server", server)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ts: 0.0,
            value: v,
        };
        let got = by_build(&[s("canary", 3.0), s("other", 9.0)], &[haproxy_target()]);
        let key = RolloutKey::new(ProviderKind::Haproxy, "be.app");
        assert_eq!(got.get(&(key.clone(), "canary".into())), Some(&3.0));
        assert_eq!(got.get(&(key, "stable".into())), None);
    }

    #[test]
    fn a_bad_template_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t.toml");
        std::fs::write(&f, "build_labels = [\"v\"]\nrequests = 3\n").unwrap();
        let e = Template::load(&f).unwrap_err();
        assert!(e.starts_with(&format!("{}:2:", f.display())), "{e}");
        std::fs::write(
            &f,
            "build_labels = [\"v\"]\nrequests = \"x\"\nerrors = \"y\"\n",
        )
        .unwrap();
        assert!(Template::load(&f).unwrap_err().contains("no {filter}"));
    }

    #[test]
    fn a_custom_template_deserializes_with_defaults() {
        let t: Template = toml::from_str(
            r#"build_labels = ["version"]
requests = "sum by ({by}) (http_requests_total{{filter}})"
errors = "sum by ({by}) (http_requests_total{status=~\"5..\",{filter}})"
"#,
        )
        .unwrap();
        assert_eq!(t.window, "1m");
        assert_eq!(t.latency_to_ms, 1.0);
        assert!(t.p99.is_none());
    }
}
