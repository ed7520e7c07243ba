use super::*;
use crate::domain::observation::BuildSample;
use crate::domain::{Plan, Weight};
use crate::driver::Window;
use std::time::{SystemTime, UNIX_EPOCH};

fn sample(req: u64, err: u64, latencies: &[(f64, u64)]) -> BuildSample {
    let mut h = LatencyHistogram::default();
    for &(ms, n) in latencies {
        for _ in 0..n {
            h.record(ms);
        }
    }
    BuildSample {
        period_s: 1.0,
        requests: req,
        errors: err,
        latency: (h.total() > 0).then_some(h),
        ..Default::default()
    }
}

fn w(p: u8) -> Weight {
    Weight::from_whole(p).unwrap()
}

fn fast(n: u64) -> Vec<(f64, u64)> {
    vec![(12.0, n * 9 / 10), (30.0, n - n * 9 / 10)]
}

/// The run so far, refresh by refresh.
struct Run {
    plan: Plan,
    window: Window,
    strata: Strata,
    weight: Weight,
    sec: u64,
}

impl Run {
    fn new(plan: Plan) -> Self {
        Run {
            plan,
            window: Window::default(),
            strata: Strata::default(),
            weight: w(10),
            sec: 0,
        }
    }

    fn at(&mut self, weight: Weight) -> &mut Self {
        self.weight = weight;
        self
    }

    /// `times` refreshes of the same counts.
    fn feed(&mut self, times: u64, c: Option<BuildSample>, s: Option<BuildSample>) -> &mut Self {
        for _ in 0..times {
            self.sec += 1;
            let at: SystemTime = UNIX_EPOCH + std::time::Duration::from_secs(self.sec);
            if let Some(c) = &c {
                self.window.canary.add(c);
            }
            if let Some(s) = &s {
                self.window.stable.add(s);
            }
            self.strata
                .observe(at, Some(self.weight), &self.plan, c.as_ref(), s.as_ref());
        }
        self
    }

    fn ev(&self) -> Evidence<'_> {
        Evidence {
            window: &self.window,
            run: &self.window,
            strata: &self.strata,
            weight: self.weight,
        }
    }

    fn verdict(&self, due: bool) -> Verdict {
        StatJudge::default().verdict(&self.plan, &self.ev(), due)
    }

    fn promotion(&self) -> Result<String, String> {
        StatJudge::default().promotion(&self.plan, &self.ev())
    }
}

#[test]
fn a_ten_percent_canary_fails_before_the_interval_ends() {
    let mut r = Run::new(Plan::default());
    r.feed(
        1,
        Some(sample(100, 10, &fast(100))),
        Some(sample(900, 1, &fast(900))),
    );
    match r.verdict(false) {
        Verdict::Fail(m) => {
            assert!(
                m.starts_with(
                    "errors: canary 10/100 (10.0%) vs stable 1/900 (0.11%) in the same seconds"
                ),
                "{m}"
            );
            assert!(m.contains("likelihood ratio"), "{m}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn an_equal_canary_passes_with_its_evidence() {
    let mut r = Run::new(Plan::default());
    r.feed(
        5,
        Some(sample(100, 0, &fast(100))),
        Some(sample(900, 4, &fast(900))),
    );
    match r.verdict(true) {
        Verdict::Pass(m) => {
            assert!(
                m.starts_with("canary errors 0/500 (0.0%) vs stable 20/4500 (0.44%), LR"),
                "{m}"
            );
            assert!(m.contains("canary p99"), "{m}");
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn twice_the_stable_error_rate_fails_once_the_evidence_is_strong() {
    // 1 % canary vs 0.5 % stable: under a 1 % limit, never seen by the threshold judge.
    let mut r = Run::new(Plan::default());
    r.feed(10, Some(sample(100, 1, &[])), Some(sample(900, 4, &[])));
    assert!(!matches!(r.verdict(true), Verdict::Fail(_)));
    r.feed(90, Some(sample(100, 1, &[])), Some(sample(900, 4, &[])));
    assert!(matches!(r.verdict(true), Verdict::Fail(m) if m.contains("about 2×")));
}

#[test]
fn edge_cases_zero_traffic_zero_errors_all_errors_and_a_missing_build() {
    let mut r = Run::new(Plan::default());
    r.feed(1, None, Some(sample(100, 0, &[])));
    assert!(matches!(r.verdict(true), Verdict::Inconclusive(m) if m.contains("no canary traffic")));
    let mut r = Run::new(Plan::default());
    r.feed(3, Some(sample(100, 0, &[])), Some(sample(900, 0, &[])));
    assert!(matches!(r.verdict(true), Verdict::Pass(_)));
    let mut r = Run::new(Plan::default());
    r.feed(1, Some(sample(20, 20, &[])), Some(sample(180, 0, &[])));
    assert!(matches!(r.verdict(false), Verdict::Fail(_)));
    // No stable build: judged against the plan's limit, and says so.
    let mut r = Run::new(Plan::default());
    r.feed(2, Some(sample(100, 0, &[])), None);
    assert!(matches!(r.verdict(true), Verdict::Pass(m) if m.contains("no stable traffic")));
    let mut r = Run::new(Plan::default());
    r.feed(2, Some(sample(100, 15, &[])), None);
    assert!(matches!(
        r.verdict(true),
        Verdict::Fail(m) if m.starts_with("no stable traffic to compare with: canary errors above the 1.0% limit 30/200")
    ));
}

#[test]
fn a_heavier_tail_fails_on_the_tail_test() {
    let mut r = Run::new(Plan::default());
    // Stable alone first, so the pooled p99 bucket exists.
    r.feed(
        3,
        Some(sample(100, 0, &fast(100))),
        Some(sample(900, 0, &fast(900))),
    );
    r.feed(
        2,
        Some(sample(100, 0, &[(12.0, 80), (300.0, 20)])),
        Some(sample(900, 0, &fast(900))),
    );
    match r.verdict(false) {
        Verdict::Fail(m) => {
            assert!(m.contains("canary p99"), "{m}");
            assert!(
                m.contains("slower than 32ms: canary 40/400 (10.0%) vs stable 0/3600"),
                "{m}"
            );
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_slower_median_with_the_same_tail_fails_on_the_body_test() {
    let mut r = Run::new(Plan::default());
    let stable = || sample(900, 0, &[(10.0, 300), (12.0, 300), (15.0, 291), (150.0, 9)]);
    let same = || sample(100, 0, &[(10.0, 33), (12.0, 33), (15.0, 33), (150.0, 1)]);
    r.feed(2, Some(same()), Some(stable()));
    assert!(!matches!(r.verdict(false), Verdict::Fail(_)));
    // Every canary request a bucket or two slower, the tail unchanged.
    r.feed(
        5,
        Some(sample(100, 0, &[(12.0, 30), (15.0, 69), (150.0, 1)])),
        Some(stable()),
    );
    match r.verdict(false) {
        Verdict::Fail(m) => assert!(m.starts_with("canary p50"), "{m}"),
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_suspicious_canary_is_held_at_the_interval_end() {
    // 3 canary errors in 100 vs 0.3 % stable: LR above 3, below 250.
    let mut r = Run::new(Plan::default());
    r.feed(1, Some(sample(100, 3, &[])), Some(sample(900, 3, &[])));
    assert!(matches!(r.verdict(true), Verdict::Inconclusive(m) if m.contains("suspicious")));
    assert!(matches!(r.verdict(false), Verdict::Pass(_)));
}

#[test]
fn a_shared_outage_holds_and_says_it_is_not_the_canary() {
    let mut r = Run::new(Plan::default());
    r.at(w(30));
    r.feed(30, Some(sample(30, 0, &[])), Some(sample(70, 0, &[])));
    r.feed(10, Some(sample(30, 6, &[])), Some(sample(70, 14, &[])));
    match r.verdict(true) {
        Verdict::Inconclusive(m) => assert_eq!(
            m,
            "both builds failing alike (canary 20.0% vs stable 20.0% over the last 10s): not \
             the canary; holding at 30%"
        ),
        v => panic!("{v:?}"),
    }
    // Stable failing alone: also not the canary.
    let mut r = Run::new(Plan::default());
    r.at(w(30))
        .feed(10, Some(sample(30, 0, &[])), Some(sample(70, 14, &[])));
    assert!(matches!(
        r.verdict(true),
        Verdict::Inconclusive(m) if m.starts_with("stable itself over the 1.0% error limit (stable 20.0%, canary 0.0%")
    ));
    // The plan's policy decides.
    for (policy, fail) in [
        (StableOverLimit::Rollback, true),
        (StableOverLimit::Proceed, false),
    ] {
        let mut plan = Plan::default();
        plan.evidence.stable_over_limit = policy;
        let mut r = Run::new(plan);
        r.at(w(30))
            .feed(10, Some(sample(30, 6, &[])), Some(sample(70, 14, &[])));
        assert_eq!(
            matches!(r.verdict(true), Verdict::Fail(_)),
            fail,
            "{policy:?}"
        );
    }
}

#[test]
fn promotion_waits_for_evidence_and_says_how_much_more() {
    let mut r = Run::new(Plan::default());
    r.at(w(50))
        .feed(5, Some(sample(10, 0, &[])), Some(sample(10, 0, &[])));
    match r.promotion() {
        Err(m) => assert!(
            m.starts_with("need ~")
                && m.contains("more canary requests (~")
                && m.contains("s at this weight) to rule out"),
            "{m}"
        ),
        Ok(m) => panic!("{m}"),
    }
    r.feed(600, Some(sample(10, 0, &[])), Some(sample(10, 0, &[])));
    match r.promotion() {
        Ok(m) => assert!(
            m.starts_with("rules out 4× stable's errors or the 1.0% limit"),
            "{m}"
        ),
        Err(m) => panic!("{m}"),
    }
}

#[test]
fn numbers_for_people() {
    assert_eq!(about(238.0), "240");
    assert_eq!(about(1234.0), "1,200");
    assert_eq!(about(35_400.0), "35,000");
    assert_eq!(about(7.2), "7");
    assert_eq!(lr_text(1453.2), "1453");
    assert_eq!(lr_text(f64::INFINITY), "> 1e300");
}
