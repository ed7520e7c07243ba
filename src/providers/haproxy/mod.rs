//! HAProxy through its runtime API (the admin `stats socket`, unix path or `host:port`).
//!
//! HAProxy has no controller and no compare-and-set, so aviary's autopilot owns the plan:
//! a write is `set server <backend>/<server> weight N` (absolute, 0..=256, via
//! [`rules::haproxy`]) followed by a read-back with `get weight`. Runtime weights are lost on
//! a reload or restart, so the provider re-reads them every refresh and says so when they no
//! longer match what aviary set. Without `--prometheus`, per-server metrics come from
//! `show stat` counter deltas, so HAProxy mode needs nothing else.

mod backend;
mod client;
mod router;
mod stat;
mod watch;

pub use backend::*;
pub use client::*;
pub use router::*;
pub use stat::*;
pub use watch::*;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Weight;

    #[test]
    fn socket_addresses_parse() {
        assert_eq!(
            ApiAddr::parse("/run/haproxy/admin.sock"),
            ApiAddr::Unix("/run/haproxy/admin.sock".into())
        );
        assert_eq!(
            ApiAddr::parse("127.0.0.1:9999"),
            ApiAddr::Tcp("127.0.0.1:9999".into())
        );
        assert_eq!(
            ApiAddr::parse("admin.sock"),
            ApiAddr::Unix("admin.sock".into())
        );
    }

    #[test]
    fn replies_parse_as_haproxy_2_6_writes_them() {
        assert_eq!(parse_weight("30 (initial 0)"), Some(30));
        assert_eq!(parse_weight("No such server."), None);
        assert!(name_error("No such server.", "be", "cx").contains("no server named \"cx\""));
        assert!(name_error("No such backend.", "bx", "").contains("no backend named \"bx\""));
        let csv = "# pxname,svname,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,rtime\n\
                   be,stable,0,90,0,1,2,0,12\nbe,canary,0,8,0,0,2,0,30\n";
        let rows = parse_stat(csv);
        let t = row_totals(&rows["canary"]);
        assert_eq!(
            (t.requests, t.errors, t.p50_ms),
            (10.0, Some(2.0), Some(30.0))
        );
        assert_eq!(row_totals(&rows["stable"]).requests, 93.0);
    }

    #[test]
    fn down_servers_are_named_with_their_check() {
        let csv = "# pxname,svname,status,check_status\nbe,stable,UP,L7OK\nbe,canary,DOWN,L4CON\n";
        let rows = parse_stat(csv);
        assert_eq!(
            health(&rows, &["stable", "canary"]).as_deref(),
            Some("canary DOWN (L4CON): it takes no traffic")
        );
        let ok = parse_stat("# pxname,svname,status\nbe,stable,no check\nbe,canary,UP 1/3\n");
        assert_eq!(health(&ok, &["stable", "canary"]), None);
    }

    #[test]
    fn share_of_absolute_weights() {
        assert_eq!(share(256, 0), Weight::ZERO);
        assert_eq!(share(128, 128), Weight::from_whole(50).unwrap());
        assert_eq!(share(0, 0), Weight::ZERO);
    }
}
