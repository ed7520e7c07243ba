//! Each sequential test's type-I error, pinned by Monte Carlo: 10,000 runs under its null
//! hypothesis, looked at after every refresh, with weights stepping and traffic and the
//! baseline error rate moving (the cases that break a pooled or fixed-sample test).
//!
//! Each is checked at a loose alpha (5 %), where 10,000 runs give a count worth reading
//! (≤ 500 alarms allowed); Ville's inequality is the same statement at every alpha, so a
//! test that keeps 5 % keeps the judge's smaller shares too. The judge's own shares are
//! checked as well (their counts are small, so the bound is loose there). Horizons are short
//! (40–120 refreshes) to keep this under a few seconds in a debug build.

use aviary::domain::observation::{BuildSample, LatencyHistogram};
use aviary::domain::{Plan, Weight};
use aviary::driver::stat::sprt::{Mix, one_sample};
use aviary::driver::stat::srm;
use aviary::driver::{SplitCheck, Strata};
use aviary::simulate::traffic::binomial;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RUNS: u32 = 10_000;
const ALPHA: f64 = 0.05;

fn at(sec: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(sec)
}

/// The plan's weight schedule: 5 % more every 12 refreshes, up to 50 %.
fn weight(sec: u64) -> Weight {
    Weight::from_whole((5 * (1 + sec / 12)).min(50) as u8).unwrap_or(Weight::ZERO)
}

/// Requests this refresh: ramps and dips between 10 and 90.
fn traffic(sec: u64) -> u64 {
    let base = 50.0 + 40.0 * (sec as f64 / 9.0).sin();
    base.round() as u64
}

/// Baseline error rate this refresh: 0.5 %, 5 % in a spike, 2 % in a ramp.
fn baseline(sec: u64) -> f64 {
    match sec % 60 {
        20..=29 => 0.05,
        40..=49 => 0.02,
        _ => 0.005,
    }
}

fn sample(requests: u64, errors: u64, latency: Option<LatencyHistogram>) -> BuildSample {
    BuildSample {
        period_s: 1.0,
        requests,
        errors,
        latency,
        ..Default::default()
    }
}

fn rate(alarms: u32) -> f64 {
    f64::from(alarms) / f64::from(RUNS)
}

#[test]
fn errors_vs_stable_keep_their_budget_however_weight_and_baseline_move() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (mut loose, mut tight) = (0, 0);
    let share = 0.01 * 0.4; // the judge's share of a 1 % budget
    for _ in 0..RUNS {
        let mut mix = Mix::default();
        let mut hit = (false, false);
        for sec in 0..120 {
            let n = traffic(sec);
            let nc = binomial(&mut rng, n, weight(sec).percent() / 100.0);
            let p = baseline(sec);
            let (ec, es) = (binomial(&mut rng, nc, p), binomial(&mut rng, n - nc, p));
            mix.add_two_sample(ec, nc, es, n - nc);
            let t = mix.sprt();
            hit.0 |= t.rejects(ALPHA);
            hit.1 |= t.rejects(share);
        }
        loose += u32::from(hit.0);
        tight += u32::from(hit.1);
    }
    eprintln!(
        "errors vs stable: {} at 5 %, {} at {share}",
        rate(loose),
        rate(tight)
    );
    assert!(rate(loose) <= ALPHA, "at 5 %: {}", rate(loose));
    assert!(rate(tight) <= share, "at {share}: {}", rate(tight));
}

/// Seven latency buckets: ~40 % above the median bucket, ~0.5 % above the p99 bucket.
fn latency(rng: &mut impl Rng, n: u64) -> Option<LatencyHistogram> {
    const MS: [f64; 7] = [10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0];
    const P: [f64; 7] = [0.3, 0.3, 0.2, 0.1, 0.08, 0.015, 0.005];
    let mut h = LatencyHistogram::default();
    let (mut left, mut mass) = (n, 1.0);
    for (ms, p) in MS.iter().zip(P) {
        let k = if mass - p <= 1e-12 {
            left
        } else {
            binomial(rng, left, p / mass)
        };
        for _ in 0..k {
            h.record(*ms);
        }
        left -= k;
        mass -= p;
    }
    (n > 0).then_some(h)
}

#[test]
fn latency_tail_and_body_keep_their_budget_with_bounds_from_earlier_refreshes() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let plan = Plan::default();
    let (mut tail, mut body) = (0, 0);
    for _ in 0..RUNS {
        let mut s = Strata::default();
        let mut hit = (false, false);
        for sec in 0..40 {
            let n = traffic(sec);
            let w = weight(sec);
            let nc = binomial(&mut rng, n, w.percent() / 100.0);
            let c = sample(nc, 0, latency(&mut rng, nc));
            let st = sample(n - nc, 0, latency(&mut rng, n - nc));
            s.observe(at(sec), Some(w), &plan, Some(&c), Some(&st));
            hit.0 |= s.tail.sprt().rejects(ALPHA);
            hit.1 |= s.body.sprt().rejects(ALPHA);
        }
        tail += u32::from(hit.0);
        body += u32::from(hit.1);
    }
    eprintln!("tail {}, body {} at 5 %", rate(tail), rate(body));
    assert!(rate(tail) <= ALPHA, "tail: {}", rate(tail));
    assert!(rate(body) <= ALPHA, "body: {}", rate(body));
}

#[test]
fn the_error_limit_keeps_its_budget_for_a_canary_exactly_at_the_limit() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut alarms = 0;
    for _ in 0..RUNS {
        let (mut e, mut n) = (0, 0);
        for sec in 0..120 {
            let k = traffic(sec);
            e += binomial(&mut rng, k, 0.01);
            n += k;
            if one_sample(e, n, 0.01).is_some_and(|t| t.rejects(ALPHA)) {
                alarms += 1;
                break;
            }
        }
    }
    eprintln!("error limit: {} at 5 %", rate(alarms));
    assert!(rate(alarms) <= ALPHA, "{}", rate(alarms));
}

/// Runs where a canary at 4× `stable(sec)`'s error rate reached the promotion level:
/// (relative test, absolute test, their average).
fn promotion_alarms(seed: u64, stable: impl Fn(u64) -> f64) -> (u32, u32, u32) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let plan = Plan::default();
    let level = -ALPHA.ln();
    let mut out = (0, 0, 0);
    for _ in 0..RUNS {
        let mut s = Strata::default();
        let mut hit = (false, false, false);
        for sec in 0..120 {
            let n = traffic(sec) * 4;
            let w = weight(sec);
            let nc = binomial(&mut rng, n, w.percent() / 100.0);
            let ps = stable(sec);
            let c = sample(nc, binomial(&mut rng, nc, 4.0 * ps), None);
            let st = sample(n - nc, binomial(&mut rng, n - nc, ps), None);
            s.observe(at(sec), Some(w), &plan, Some(&c), Some(&st));
            hit.0 |= s.promote_relative >= level;
            hit.1 |= s.promote_absolute >= level;
            hit.2 |= s.promotion_log_e() >= level;
        }
        out.0 += u32::from(hit.0);
        out.1 += u32::from(hit.1);
        out.2 += u32::from(hit.2);
    }
    out
}

/// Promotion's type-I error: a canary *at* the regression (4× stable's errors and at the
/// 1 % limit or above) reaches the promotion level at most alpha of the time.
#[test]
fn promotion_evidence_keeps_its_budget_for_a_canary_at_the_regression() {
    // Exactly at both boundaries: stable 0.25 %, canary 1 %.
    let (r, a, e) = promotion_alarms(4, |_| 0.0025);
    eprintln!(
        "promotion at the boundary: relative {}, absolute {}, combined {}",
        rate(r),
        rate(a),
        rate(e)
    );
    assert!(rate(r) <= ALPHA, "relative: {}", rate(r));
    assert!(rate(a) <= ALPHA, "absolute: {}", rate(a));
    assert!(rate(e) <= ALPHA, "combined: {}", rate(e));
    // Stable moving 0.25–1 % (the canary 1–4 %): still at least the regression throughout.
    let (r, a, e) = promotion_alarms(5, |sec| baseline(sec).clamp(0.0025, 0.01));
    eprintln!(
        "promotion, stable moving: relative {}, absolute {}, combined {}",
        rate(r),
        rate(a),
        rate(e)
    );
    assert!(rate(r) <= ALPHA, "relative, moving: {}", rate(r));
    assert!(rate(a) <= ALPHA, "absolute, moving: {}", rate(a));
    assert!(rate(e) <= ALPHA, "combined, moving: {}", rate(e));
}

#[test]
fn half_the_weight_is_flagged_with_its_numbers() {
    let mut s = SplitCheck::default();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut flagged = None;
    for sec in 0..120 {
        let c = binomial(&mut rng, 100, 0.15);
        s.observe(Weight::from_whole(30).unwrap_or(Weight::ZERO), c, 100 - c);
        if flagged.is_none() && s.mismatch(srm::ALPHA).is_some() {
            flagged = Some(sec);
        }
    }
    let m = s.mismatch(srm::ALPHA).expect("flagged");
    assert!(flagged.unwrap() < 20, "{flagged:?}");
    assert!(m.text.starts_with("canary served 1"), "{}", m.text);
    assert!(m.text.contains("at weight 30%"), "{}", m.text);
}

/// Type-I error by Monte Carlo: 10,000 honest routers, weights stepping 5 → 50 % and
/// traffic moving, looked at every refresh. Pinned at a loose alpha (5 %) so the count
/// is large enough to mean something; Ville's bound holds for every alpha.
#[test]
fn an_honest_router_is_flagged_at_most_alpha_of_the_time() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (runs, alpha) = (RUNS, ALPHA);
    let mut alarms = 0;
    for _ in 0..runs {
        let mut s = SplitCheck::default();
        for sec in 0..120u64 {
            let w = weight(sec);
            let n = 20 + (sec * 7) % 60;
            let c = binomial(&mut rng, n, w.percent() / 100.0);
            s.observe(w, c, n - c);
            if s.mismatch(alpha).is_some() {
                alarms += 1;
                break;
            }
        }
    }
    let rate = f64::from(alarms) / f64::from(runs);
    eprintln!("split check: {rate} false flags at {alpha}");
    assert!(rate <= alpha, "false flags {rate}");
}
