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

/// `s` cut to `width` terminal cells with a trailing `…` when it does not fit.
///
/// Why: a line the terminal clips mid-word ("… about 30× stable" ending in "abo") reads as
/// complete; the ellipsis tells the operator there is more (in the audit log or the why).
pub fn fit(s: &str, width: usize) -> String {
    let cells = |x: &str| ratatui::text::Span::raw(x).width();
    if cells(s) <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 0;
    let mut buf = [0u8; 4];
    for ch in s.chars() {
        let w = cells(ch.encode_utf8(&mut buf));
        if used + w + 1 > width {
            break;
        }
        used += w;
        out.push(ch);
    }
    if width > 0 {
        out.push('…');
    }
    out
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

    #[test]
    fn fit_marks_what_it_cuts() {
        assert_eq!(fit("canary 10% → 0%", 15), "canary 10% → 0%");
        assert_eq!(fit("canary 10% → 0%", 12), "canary 10% …");
        assert_eq!(fit("about 30× stable", 8), "about 3…");
        assert_eq!(fit("abc", 0), "");
    }
}
