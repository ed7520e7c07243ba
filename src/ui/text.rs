//! Small formatting rules shared by the regions: ages, percentages, latencies.

use std::time::{Duration, SystemTime};

/// `12s`, `3m`, `2h`, `4d`.
pub fn age(now: SystemTime, then: SystemTime) -> String {
    short(now.duration_since(then).unwrap_or_default())
}

/// A duration in one unit.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m", s / 60),
        6000..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// An error ratio as a percentage, `—` when unknown.
pub fn pct(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 0.1 => format!("{:.0}%", r * 100.0),
        Some(r) => format!("{:.1}%", r * 100.0),
        None => "—".into(),
    }
}

/// A latency, `—` when unknown.
pub fn ms(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1000.0 => format!("{:.1}s", v / 1000.0),
        Some(v) => format!("{v:.0}ms"),
        None => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_at_a_glance() {
        assert_eq!(short(Duration::from_secs(42)), "42s");
        assert_eq!(short(Duration::from_secs(600)), "10m");
        assert_eq!(pct(Some(0.125)), "12%");
        assert_eq!(pct(Some(0.001)), "0.1%");
        assert_eq!(pct(None), "—");
        assert_eq!(ms(Some(812.4)), "812ms");
    }
}
