//! Consul service mesh: a `service-splitter` config entry is the route, the
//! `service-resolver`'s subsets are the builds.
//!
//! Writes replace the whole splitter entry with `PUT /v1/config?cas=<ModifyIndex>`, changing
//! only the stable and canary `Weight`s (every other field, `ResponseHeaders` included, is
//! sent back as read). Consul answers `true` or `false`; `false` means someone else wrote
//! first: aviary reports a conflict, re-reads and shows the new state, and never retries.
//! Weights are checked to sum to exactly 100 (in hundredths) before anything is sent.
//! The ACL token goes in `X-Consul-Token` and is never printed.
//!
//! On Kubernetes the same entry is consul-k8s's `ServiceSplitter` resource (`crd`), read and
//! written by `aviary kube` like the other router objects.

mod client;
pub mod crd;
mod router;
mod service;
mod watch;

pub use client::*;
pub use router::*;
pub use service::*;
pub use watch::*;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sums_are_checked_in_hundredths() {
        let e = |a: f64, b: f64| json!({"Splits": [{"Weight": a}, {"Weight": b}]});
        assert!(check_sum(&e(66.67, 33.33)).is_ok());
        assert!(check_sum(&e(90.0, 10.0)).is_ok());
        let err = check_sum(&e(90.0, 11.0)).unwrap_err();
        assert!(err.contains("sum to 101.00"), "{err}");
    }

    #[test]
    fn split_names_fall_back_to_service_then_entry_name() {
        let sp = Splitter {
            entry: json!({"Name": "web", "Splits": [
                {"Weight": 50}, {"Weight": 50, "Service": "web-rewrite"}]}),
            index: 1,
        };
        assert_eq!(
            sp.splits(),
            vec![("web".to_string(), 50.0), ("web-rewrite".to_string(), 50.0)]
        );
    }

    #[test]
    fn destinations_name_service_and_subset() {
        let sp = Splitter {
            entry: json!({"Name": "web", "Splits": [
                {"Weight": 50, "ServiceSubset": "v1"}, {"Weight": 50, "Service": "web-rewrite"}]}),
            index: 1,
        };
        assert_eq!(
            sp.destinations(),
            vec![
                ("v1".into(), "web".into(), "v1".into()),
                ("web-rewrite".into(), "web-rewrite".into(), String::new())
            ]
        );
    }

    #[test]
    fn debug_hides_the_token() {
        let c = ConsulClient::new("http://127.0.0.1:8500", Some("s3cret".into())).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
