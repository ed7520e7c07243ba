//! The canary's share of traffic as a validated type, and each router's rule for writing it.
//!
//! aviary reasons in percent with hundredths (Consul accepts 0.01 steps); every router stores
//! weights differently, so each conversion lives here, next to its tests, and the provider
//! says when it had to round.

use crate::domain::ProviderKind;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A share of traffic in hundredths of a percent, always within 0..=100 %.
///
/// Why a newtype: a weight of 101 % or -3 % must not be representable anywhere past the parser.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "f64", into = "f64")]
pub struct Weight(u16);

/// Why a number could not become a [`Weight`] for a given router.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// The value is outside 0..=100 %.
    #[error("weight {0} is outside 0..=100 %")]
    OutOfRange(f64),
    /// Not a number at all.
    #[error("weight {0:?} is not a number")]
    NotANumber(String),
    /// The router cannot express this value exactly (e.g. Istio takes whole percents).
    #[error("{router} takes {rule}; {value} % cannot be written exactly")]
    NotExpressible {
        /// Router name, for the message.
        router: &'static str,
        /// The rule, in words.
        rule: &'static str,
        /// The value asked for.
        value: f64,
    },
    /// A set of weights whose total is zero cannot express a share.
    #[error("all weights are zero")]
    AllZero,
}

impl Weight {
    /// 0 %: all traffic on stable.
    pub const ZERO: Weight = Weight(0);
    /// 100 %: all traffic on the canary.
    pub const FULL: Weight = Weight(10_000);

    /// From a percentage; rounds to hundredths.
    pub fn from_percent(pct: f64) -> Result<Self, WeightError> {
        if !pct.is_finite() || !(0.0..=100.0).contains(&pct) {
            return Err(WeightError::OutOfRange(pct));
        }
        Ok(Weight((pct * 100.0).round() as u16))
    }

    /// From whole percent, for the many places that only deal in integers.
    pub fn from_whole(pct: u8) -> Result<Self, WeightError> {
        Self::from_percent(f64::from(pct))
    }

    /// Parses operator input such as `30`, `30%` or `12.5`.
    pub fn parse(text: &str) -> Result<Self, WeightError> {
        let t = text.trim().trim_end_matches('%').trim();
        let v: f64 = t
            .parse()
            .map_err(|_| WeightError::NotANumber(text.to_string()))?;
        Self::from_percent(v)
    }

    /// The value in percent.
    pub fn percent(self) -> f64 {
        f64::from(self.0) / 100.0
    }

    /// Hundredths of a percent (0..=10_000), exact.
    pub fn basis_points(self) -> u16 {
        self.0
    }

    /// What the other side gets: stable's share when `self` is the canary's.
    pub fn complement(self) -> Weight {
        Weight(10_000 - self.0)
    }

    /// Adds `step`, capped at `cap`.
    pub fn saturating_add(self, step: Weight, cap: Weight) -> Weight {
        Weight((self.0 + step.0).min(cap.0).min(10_000))
    }

    /// The share `part / total`; errors when the total is zero.
    pub fn share(part: f64, total: f64) -> Result<Weight, WeightError> {
        if total <= 0.0 {
            return Err(WeightError::AllZero);
        }
        Self::from_percent((part / total * 100.0).clamp(0.0, 100.0))
    }

    /// True when the value is a whole percent.
    pub fn is_whole(self) -> bool {
        self.0.is_multiple_of(100)
    }
}

impl TryFrom<f64> for Weight {
    type Error = WeightError;
    fn try_from(v: f64) -> Result<Self, Self::Error> {
        Weight::from_percent(v)
    }
}

impl From<Weight> for f64 {
    fn from(w: Weight) -> f64 {
        w.percent()
    }
}

impl fmt::Display for Weight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_whole() {
            write!(f, "{}%", self.0 / 100)
        } else {
            write!(f, "{:.2}%", self.percent())
        }
    }
}

/// Per-router conversions between a canary [`Weight`] and what the router stores.
pub mod rules {
    use super::{Weight, WeightError};

    /// Istio VirtualService: integer percents that sum to 100. Returns `(stable, canary)`.
    pub fn istio(canary: Weight) -> Result<(u32, u32), WeightError> {
        if !canary.is_whole() {
            return Err(WeightError::NotExpressible {
                router: "Istio",
                rule: "whole percents summing to 100",
                value: canary.percent(),
            });
        }
        let c = u32::from(canary.basis_points() / 100);
        Ok((100 - c, c))
    }

    /// Consul service-splitter: percents with two decimals summing to exactly 100.
    pub fn consul(canary: Weight) -> (f64, f64) {
        let c = f64::from(canary.basis_points()) / 100.0;
        let s = f64::from(10_000 - canary.basis_points()) / 100.0;
        (s, c)
    }

    /// Gateway API HTTPRoute: proportional weights in 0..=1_000_000. aviary writes them
    /// out of 100 when whole, else out of 10_000, so the share is exact.
    pub fn gateway_api(canary: Weight) -> (u32, u32) {
        if canary.is_whole() {
            let c = u32::from(canary.basis_points() / 100);
            (100 - c, c)
        } else {
            let c = u32::from(canary.basis_points());
            (10_000 - c, c)
        }
    }

    /// Reads proportional weights (Gateway API, SMI v1alpha2+): canary share of the total.
    pub fn proportional(stable: f64, canary: f64) -> Result<Weight, WeightError> {
        Weight::share(canary, stable + canary)
    }

    /// HAProxy: absolute server weights 0..=256; aviary keeps the pair summing to 256, so
    /// the canary's share is `canary / 256`. Returns `(stable, canary, rounded)`.
    pub fn haproxy(canary: Weight) -> (u16, u16, bool) {
        let exact = f64::from(canary.basis_points()) * 256.0 / 10_000.0;
        let c = exact.round() as u16;
        (256 - c, c, (exact - f64::from(c)).abs() > f64::EPSILON)
    }

    /// Parses a Kubernetes quantity as SMI v1alpha1 uses it (`900m`, `1`, `1500m`).
    pub fn smi_quantity(text: &str) -> Result<f64, WeightError> {
        let t = text.trim();
        let (num, scale) = match t.strip_suffix('m') {
            Some(n) => (n, 1e-3),
            None => (t, 1.0),
        };
        let v: f64 = num
            .parse()
            .map_err(|_| WeightError::NotANumber(text.to_string()))?;
        if !v.is_finite() || v < 0.0 {
            return Err(WeightError::NotANumber(text.to_string()));
        }
        Ok(v * scale)
    }

    /// Writes SMI v1alpha1 quantities: milli-units out of 1000, e.g. `(900m, 100m)`.
    pub fn smi_v1alpha1(canary: Weight) -> (String, String) {
        let c = (u32::from(canary.basis_points()) + 5) / 10;
        (format!("{}m", 1000 - c), format!("{c}m"))
    }

    /// ingress-nginx canary-weight: integer 0..=total (default total 100).
    pub fn nginx(canary: Weight, total: u32) -> u32 {
        (canary.percent() * f64::from(total) / 100.0).round() as u32
    }

    /// The `canary-weight` for `canary` out of `total`, refused when it would have to round
    /// (30.5 % out of 100), so the weight written is the weight confirmed.
    pub fn nginx_exact(canary: Weight, total: u32) -> Result<u32, WeightError> {
        let exact = f64::from(canary.basis_points()) * f64::from(total) / 10_000.0;
        if (exact - exact.round()).abs() > 1e-9 {
            return Err(WeightError::NotExpressible {
                router: "ingress-nginx",
                rule: "whole steps of canary-weight-total (100 unless set)",
                value: canary.percent(),
            });
        }
        Ok(exact.round() as u32)
    }
}

/// Why `w` is refused on a controller-owned rollout: the controller rewrites any weight
/// aviary sets on its next reconcile, so a direct write would only flap the traffic.
pub const CONTROLLER_OWNS_ROUTE: &str = "controller owns this route";

/// The refusal in full, naming the controller and the keys that do work.
pub fn controller_owns_route(controller: &str) -> String {
    format!("{CONTROLLER_OWNS_ROUTE}: {controller} sets the weights (use n, P or A)")
}

/// What the operator is told when HAProxy's 0..=256 scale cannot hold the exact share.
pub fn haproxy_rounding_note(canary: u16) -> String {
    format!(
        "HAProxy weights are 0..=256: canary {canary}/256 = {:.2}%",
        f64::from(canary) / 2.56
    )
}

/// Whether `text` can still become a weight this router takes, as it is typed: digits, at
/// most one `.` with no more decimals than the router stores (none for whole-percent
/// routers), an optional `%` at the end, and never above 100. The `w` prompt drops a key that
/// would break this, so what is typed is always something the router can take.
pub fn typeable(kind: ProviderKind, text: &str) -> bool {
    let decimals = match kind {
        ProviderKind::Istio | ProviderKind::Smi | ProviderKind::Nginx => 0,
        _ => 2,
    };
    let body = text.strip_suffix('%').unwrap_or(text);
    if body.is_empty() || body.contains('%') {
        return body.is_empty() && text.is_empty();
    }
    let mut parts = body.splitn(2, '.');
    let whole = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || whole.len() > 3 || frac.is_some_and(|f| !digits(f)) {
        return false;
    }
    if frac.is_some_and(|f| f.len() > decimals || decimals == 0) {
        return false;
    }
    body.parse::<f64>().map_or(whole.is_empty(), |v| v <= 100.0)
}

/// Checks an exact weight against the router's own rule before any dialog confirms it;
/// `Ok(Some(note))` when the router will round. One place, so the dialog, `update` and the
/// provider cannot disagree about what a router can take.
pub fn validate_for(kind: ProviderKind, w: Weight) -> Result<Option<String>, String> {
    match kind {
        ProviderKind::Istio | ProviderKind::Smi => {
            rules::istio(w).map(|_| None).map_err(|e| e.to_string())
        }
        ProviderKind::Haproxy => {
            let (_, c, rounded) = rules::haproxy(w);
            Ok(rounded.then(|| haproxy_rounding_note(c)))
        }
        ProviderKind::Argo => Err(controller_owns_route("Argo Rollouts")),
        ProviderKind::Flagger => Err(controller_owns_route("Flagger")),
        ProviderKind::Kruise => Err(controller_owns_route("OpenKruise Rollouts")),
        ProviderKind::Nginx => rules::nginx_exact(w, 100)
            .map(|_| None)
            .map_err(|e| e.to_string()),
        ProviderKind::Demo | ProviderKind::GatewayApi | ProviderKind::Consul => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::rules::*;
    use super::*;

    fn w(p: f64) -> Weight {
        Weight::from_percent(p).unwrap()
    }

    #[test]
    fn out_of_range_values_are_refused() {
        assert!(Weight::from_percent(100.01).is_err());
        assert!(Weight::from_percent(-1.0).is_err());
        assert!(Weight::from_percent(f64::NAN).is_err());
        assert!(Weight::parse("abc").is_err());
        assert_eq!(Weight::parse(" 30% ").unwrap(), w(30.0));
    }

    #[test]
    fn istio_sums_to_100_and_refuses_fractions() {
        assert_eq!(istio(w(30.0)).unwrap(), (70, 30));
        assert_eq!(istio(Weight::ZERO).unwrap(), (100, 0));
        assert!(istio(w(12.5)).is_err());
    }

    #[test]
    fn consul_sums_to_exactly_100_with_hundredths() {
        let (s, c) = consul(w(33.33));
        assert_eq!(c, 33.33);
        assert_eq!(((s + c) * 100.0).round(), 10_000.0);
    }

    #[test]
    fn gateway_api_is_proportional() {
        assert_eq!(gateway_api(w(10.0)), (90, 10));
        assert_eq!(gateway_api(w(12.5)), (8750, 1250));
        // traffic-split-3.yaml: weights 0 and 1 mean 100 % on the second backend.
        assert_eq!(proportional(0.0, 1.0).unwrap(), Weight::FULL);
        assert!(proportional(0.0, 0.0).is_err());
    }

    #[test]
    fn haproxy_is_absolute_0_to_256_and_reports_rounding() {
        assert_eq!(haproxy(Weight::ZERO), (256, 0, false));
        assert_eq!(haproxy(Weight::FULL), (0, 256, false));
        assert_eq!(haproxy(w(25.0)), (192, 64, false));
        let (s, c, rounded) = haproxy(w(10.0));
        assert_eq!((s, c, rounded), (230, 26, true));
    }

    #[test]
    fn smi_quantities_parse_and_write() {
        assert_eq!(smi_quantity("900m").unwrap(), 0.9);
        assert_eq!(smi_quantity("1").unwrap(), 1.0);
        assert_eq!(smi_quantity("1500m").unwrap(), 1.5);
        assert!(smi_quantity("-1").is_err());
        assert_eq!(smi_v1alpha1(w(10.0)), ("900m".into(), "100m".into()));
        let share = proportional(smi_quantity("900m").unwrap(), smi_quantity("100m").unwrap());
        assert_eq!(share.unwrap(), w(10.0));
    }

    #[test]
    fn nginx_scales_to_the_total() {
        assert_eq!(nginx(w(50.0), 100), 50);
        assert_eq!(nginx(w(50.0), 1000), 500);
        assert_eq!(nginx_exact(w(12.5), 1000).unwrap(), 125);
        assert!(nginx_exact(w(12.5), 100).is_err());
    }

    #[test]
    fn each_router_validates_its_own_rule() {
        let half = w(12.5);
        assert!(validate_for(ProviderKind::Istio, half).is_err());
        assert!(validate_for(ProviderKind::Consul, half).unwrap().is_none());
        assert!(
            validate_for(ProviderKind::Haproxy, w(10.0))
                .unwrap()
                .is_some()
        );
        assert!(
            validate_for(ProviderKind::Argo, half)
                .unwrap_err()
                .contains(CONTROLLER_OWNS_ROUTE)
        );
    }

    #[test]
    fn only_what_the_router_takes_can_be_typed() {
        assert!(typeable(ProviderKind::Consul, "12.5"));
        assert!(typeable(ProviderKind::Consul, "12.55%"));
        assert!(!typeable(ProviderKind::Consul, "12.555"));
        assert!(!typeable(ProviderKind::Istio, "12."));
        assert!(typeable(ProviderKind::Istio, "12"));
        assert!(!typeable(ProviderKind::Istio, "101"));
        assert!(!typeable(ProviderKind::Haproxy, "1a"));
        assert!(!typeable(ProviderKind::Haproxy, "5%5"));
        assert!(typeable(ProviderKind::Haproxy, ""));
    }

    #[test]
    fn step_is_capped() {
        assert_eq!(w(45.0).saturating_add(w(10.0), w(50.0)), w(50.0));
        assert_eq!(w(95.0).saturating_add(w(10.0), Weight::FULL), Weight::FULL);
    }
}
