//! The story's narrator and the release pipeline of the by-hand service. Both are pure: they
//! read what the routers report each second (weights and per-build counters), never the
//! app, so a caption says only what a person could have measured with `curl`.

use super::fleet::Service;
use super::router::Counters;
use super::scenario::Fate;
use crate::domain::{Phase, Weight};
use std::collections::VecDeque;
use std::time::Duration;

/// Seconds of counters a caption's numbers cover.
const WINDOW: usize = 10;

/// What the narrator remembers about one service.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    last: Weight,
    recent: VecDeque<Counters>,
    canary_errors: u64,
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn ratio(v: &VecDeque<Counters>, canary: bool) -> Option<f64> {
    let (r, e) = v.iter().fold((0u64, 0u64), |(r, e), c| {
        let s = if canary { &c.canary } else { &c.stable };
        (r + s.requests, e + s.errors)
    });
    (r > 0).then(|| e as f64 / r as f64)
}

fn p99(v: &VecDeque<Counters>, canary: bool) -> Option<f64> {
    let xs: Vec<f64> = v
        .iter()
        .filter_map(|c| {
            if canary {
                c.canary.p99_ms
            } else {
                c.stable.p99_ms
            }
        })
        .collect();
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

impl Watch {
    /// Takes one second of counters and the router's weight now; returns a caption when
    /// something a room should notice happened.
    pub fn observe(&mut self, svc: &Service, weight: Weight, c: Counters) -> Option<String> {
        self.canary_errors += c.canary.errors;
        self.recent.push_back(c);
        while self.recent.len() > WINDOW {
            self.recent.pop_front();
        }
        let before = std::mem::replace(&mut self.last, weight);
        if weight == before {
            return None;
        }
        // Numbers in a caption are from the weight just left: the one that failed or passed.
        let window = std::mem::take(&mut self.recent);
        let (n, sv, cv) = (&svc.name, &svc.stable.version, &svc.canary.version);
        if weight == Weight::FULL {
            let err = ratio(&window, true).map(pct).unwrap_or_else(|| "no".into());
            return Some(format!(
                "{n}: {cv} promoted to 100 % ({err} errors at {before})"
            ));
        }
        if weight == Weight::ZERO && before > Weight::ZERO {
            let (ce, se) = (ratio(&window, true), ratio(&window, false));
            let (cp, sp) = (p99(&window, true), p99(&window, false));
            let why = match (ce, se, cp, sp) {
                (Some(ce), Some(se), _, _) if ce > 0.01 && ce > 2.0 * se => format!(
                    "{cv} fails {} of requests vs {} on {sv} → rolled back after {} failed requests",
                    pct(ce),
                    pct(se),
                    self.canary_errors
                ),
                (_, _, Some(cp), Some(sp)) if cp > 2.0 * sp => {
                    format!("{cv} p99 {cp:.0} ms vs {sp:.0} ms on {sv} → rolled back on latency")
                }
                _ => format!("{cv} rolled back from {before}; {sv} takes all traffic again"),
            };
            return Some(format!("{n}: {why}"));
        }
        if weight < before {
            return Some(format!("{n}: {cv} pulled back to {weight}"));
        }
        let from = Weight::from_percent(f64::from(svc.canary.fault_from_bp) / 100.0)
            .unwrap_or(Weight::ZERO);
        if svc.fate == Fate::FailsAfterClimb && weight >= from && before < from {
            return Some(format!(
                "{n}: at {weight} {cv} starts to buckle under load — watch its errors"
            ));
        }
        if svc.fate == Fate::ByHand && weight >= svc.hold_at {
            return Some(format!(
                "{n}: held at {weight}, waiting for a human — select it, P, then y"
            ));
        }
        Some(format!("{n}: {cv} takes {weight} of real traffic"))
    }
}

/// The opening caption.
pub fn opening(services: &[Service]) -> String {
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    format!(
        "{} canaries on real HTTP ({}); Enter shows a router's address, R restarts",
        names.len(),
        names.join(", ")
    )
}

/// The by-hand service's release pipeline: steps the canary on a timer up to
/// `hold_at`, then waits. Any weight it did not set means a human acted, and it stops.
#[derive(Clone, Debug, Default)]
pub struct Pipeline {
    set: Weight,
    elapsed: Duration,
    human: bool,
}

/// What the pipeline reports for its rollout this second.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineView {
    /// A weight to write to the router, when the pipeline steps.
    pub step_to: Option<Weight>,
    /// The rollout's phase.
    pub phase: Phase,
    /// The *why*.
    pub message: String,
}

impl Pipeline {
    /// Advances by `dt` given the router's weight now.
    pub fn tick(&mut self, svc: &Service, dt: Duration, router: Weight) -> PipelineView {
        self.elapsed += dt;
        if router != self.set {
            self.human = true;
        }
        let cv = &svc.canary.version;
        if self.human {
            let (phase, message) = if router == Weight::FULL {
                (
                    Phase::Succeeded,
                    format!("promoted by operator: {cv} serves all traffic"),
                )
            } else if router == Weight::ZERO {
                (Phase::Aborted, format!("aborted by operator: {cv} at 0 %"))
            } else {
                (
                    Phase::AwaitingPromotion,
                    format!("operator set {cv} to {router}; promote with P or abort with A"),
                )
            };
            return PipelineView {
                step_to: None,
                phase,
                message,
            };
        }
        let mut step_to = None;
        if self.set < svc.hold_at && self.elapsed >= svc.plan.interval {
            self.elapsed = Duration::ZERO;
            self.set = self.set.saturating_add(svc.plan.step, svc.hold_at);
            step_to = Some(self.set);
        }
        let (phase, message) = if self.set >= svc.hold_at {
            (
                Phase::AwaitingPromotion,
                format!(
                    "pipeline paused at {}: a human must promote (P) or abort (A)",
                    self.set
                ),
            )
        } else {
            (
                Phase::Progressing,
                format!("release pipeline stepping {cv} toward {}", svc.hold_at),
            )
        };
        PipelineView {
            step_to,
            phase,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::fleet;
    use crate::domain::Plan;
    use crate::domain::observation::BuildSample;

    fn sample(requests: u64, errors: u64, p99: f64) -> BuildSample {
        BuildSample {
            period_s: 1.0,
            requests,
            errors,
            p99_ms: Some(p99),
            ..BuildSample::default()
        }
    }

    fn svc(fate: Fate) -> Service {
        fleet(&Plan::default(), crate::demo::Pace::Presenter, |p| p)
            .into_iter()
            .find(|s| s.fate == fate)
            .expect("fate in fleet")
    }

    #[test]
    fn rollback_caption_names_both_error_rates_and_the_failed_requests() {
        let s = svc(Fate::FailsAfterClimb);
        let mut w = Watch::default();
        let thirty = Weight::from_whole(30).expect("w");
        let c = Counters {
            stable: sample(70, 0, 40.0),
            canary: sample(30, 4, 40.0),
        };
        let up = w.observe(&s, thirty, c.clone()).expect("caption");
        assert!(up.contains("buckle"), "{up}");
        assert_eq!(w.observe(&s, thirty, c.clone()), None);
        let down = w.observe(&s, Weight::ZERO, c).expect("caption");
        assert!(
            down.contains("fails 13.3 % of requests vs 0.0 % on v1.4.2"),
            "{down}"
        );
        assert!(down.contains("after 12 failed requests"), "{down}");
    }

    #[test]
    fn pipeline_climbs_to_its_hold_then_yields_to_a_human() {
        let s = svc(Fate::ByHand);
        let mut p = Pipeline::default();
        let mut router = Weight::ZERO;
        for _ in 0..60 {
            let v = p.tick(&s, Duration::from_secs(1), router);
            if let Some(w) = v.step_to {
                router = w;
            }
        }
        assert_eq!(router, s.hold_at);
        let v = p.tick(&s, Duration::from_secs(1), router);
        assert_eq!(v.phase, Phase::AwaitingPromotion);
        let v = p.tick(&s, Duration::from_secs(1), Weight::FULL);
        assert_eq!((v.phase, v.step_to), (Phase::Succeeded, None));
    }
}
