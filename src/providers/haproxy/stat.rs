//! `show stat` CSV: per-server counters and health, for metrics without Prometheus.

use crate::metrics::poller::Totals;
use std::collections::BTreeMap;

/// Parses `show stat` CSV (header line `# pxname,svname,...`) into rows keyed by `svname`.
pub fn parse_stat(csv: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else {
        return BTreeMap::new();
    };
    let cols: Vec<&str> = header.trim_start_matches('#').trim().split(',').collect();
    let mut out = BTreeMap::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let row: BTreeMap<String, String> = cols
            .iter()
            .zip(line.split(','))
            .map(|(c, v)| (c.to_string(), v.to_string()))
            .collect();
        if let Some(name) = row.get("svname").cloned() {
            out.insert(name, row);
        }
    }
    out
}

/// Cumulative counters of one server row: responses of every class, 5xx, and `rtime` (the
/// average response time over the last 1024 requests, in ms; HAProxy has no percentiles).
pub fn row_totals(row: &BTreeMap<String, String>) -> Totals {
    let num = |k: &str| row.get(k).and_then(|v| v.parse::<f64>().ok());
    let classes = [
        "hrsp_1xx",
        "hrsp_2xx",
        "hrsp_3xx",
        "hrsp_4xx",
        "hrsp_5xx",
        "hrsp_other",
    ];
    Totals {
        requests: classes.iter().filter_map(|c| num(c)).sum(),
        errors: num("hrsp_5xx"),
        p50_ms: num("rtime"),
        p99_ms: None,
    }
}

/// Servers that are not taking traffic, in words (`canary DOWN (L4CON)`), or `None` when
/// all are up or unchecked. A canary that is down gets no traffic, so the autopilot can only
/// hold; the operator should see why.
pub fn health(
    rows: &BTreeMap<String, BTreeMap<String, String>>,
    servers: &[&str],
) -> Option<String> {
    let bad: Vec<String> = servers
        .iter()
        .filter_map(|s| {
            let row = rows.get(*s)?;
            let status = row.get("status").map(String::as_str).unwrap_or("");
            if status.starts_with("UP") || status == "no check" || status.is_empty() {
                return None;
            }
            let check = row
                .get("check_status")
                .filter(|c| !c.is_empty())
                .map(|c| format!(" ({c})"))
                .unwrap_or_default();
            Some(format!("{s} {status}{check}"))
        })
        .collect();
    (!bad.is_empty()).then(|| format!("{}: it takes no traffic", bad.join(", ")))
}
