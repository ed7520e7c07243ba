//! What the current user may do, asked once per kind and verb with a
//! `SelfSubjectAccessReview` (the same question `kubectl auth can-i` asks). Actions the answers
//! forbid are offered no more: their key says "forbidden by RBAC" and why.

use super::kinds::Kind;
use kube::Client;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;

/// One permission aviary needs: `verb` on `resource[/subresource]` of an API group.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// API group (`argoproj.io`, `events.k8s.io`).
    pub group: &'static str,
    /// Plural resource name.
    pub resource: &'static str,
    /// `status` or none.
    pub subresource: Option<&'static str>,
    /// `patch`, `create`.
    pub verb: &'static str,
}

impl Permission {
    /// `patch` on a kind (optionally its `status` subresource).
    pub fn patch(kind: Kind, subresource: Option<&'static str>) -> Self {
        Permission {
            group: kind.group(),
            resource: kind.plural(),
            subresource,
            verb: "patch",
        }
    }

    /// `create` on `events.k8s.io/events`, for the change events aviary records.
    pub fn create_events() -> Self {
        Permission {
            group: "events.k8s.io",
            resource: "events",
            subresource: None,
            verb: "create",
        }
    }

    /// `patch rollouts/status` as `kubectl auth can-i` would print it.
    pub fn describe(&self) -> String {
        let res = match self.subresource {
            Some(s) => format!("{}/{}", self.resource, s),
            None => self.resource.to_string(),
        };
        format!("{} {}.{}", self.verb, res, self.group)
    }
}

/// The answers: permissions that were denied, with the reason the API gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Access {
    denied: BTreeMap<Permission, String>,
}

impl Access {
    /// Everything allowed (before any review, and in tests).
    pub fn all() -> Self {
        Self::default()
    }

    /// Records a denial.
    pub fn deny(&mut self, p: Permission, reason: impl Into<String>) {
        self.denied.insert(p, reason.into());
    }

    /// `Err("forbidden by RBAC: …")` when the permission was denied.
    pub fn check(&self, p: &Permission) -> Result<(), String> {
        match self.denied.get(p) {
            None => Ok(()),
            Some(why) if why.is_empty() => {
                Err(format!("forbidden by RBAC: cannot {}", p.describe()))
            }
            Some(why) => Err(format!(
                "forbidden by RBAC: cannot {} ({why})",
                p.describe()
            )),
        }
    }

    /// The first failing permission of `ps`, if any.
    pub fn check_all(&self, ps: &[Permission]) -> Result<(), String> {
        ps.iter().try_for_each(|p| self.check(p))
    }

    /// The permissions aviary asks about for the kinds found.
    pub fn wanted(kinds: &[Kind]) -> Vec<Permission> {
        let mut v = Vec::new();
        for k in kinds {
            v.push(Permission::patch(*k, None));
            if matches!(k, Kind::Rollout | Kind::KruiseRollout) {
                v.push(Permission::patch(*k, Some("status")));
            }
        }
        v.push(Permission::create_events());
        v
    }
}

/// Asks the API server about each permission in `namespace` (`None` = all namespaces).
/// A review that cannot be made at all counts as allowed: the write itself will then fail
/// with the server's own answer, which is shown and audited.
pub async fn review(client: &Client, namespace: Option<&str>, kinds: &[Kind]) -> Access {
    use k8s_openapi::api::authorization::v1::{
        ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut access = Access::all();
    for p in Access::wanted(kinds) {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some(p.group.into()),
                    resource: Some(p.resource.into()),
                    subresource: p.subresource.map(Into::into),
                    verb: Some(p.verb.into()),
                    namespace: namespace.map(Into::into),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        match api.create(&PostParams::default(), &review).await {
            Ok(r) => {
                if let Some(st) = r.status
                    && !st.allowed
                {
                    access.deny(p, st.reason.unwrap_or_default());
                }
            }
            Err(e) => tracing::warn!("SelfSubjectAccessReview for {}: {e}", p.describe()),
        }
    }
    access
}

/// Who the API server says we are (`kubectl auth whoami`): the user name from a
/// `SelfSubjectReview`, so audit lines and Events name the cluster identity, not only the
/// OS user. `None` when the server cannot say (older than 1.28, or unreachable).
pub async fn whoami(client: &Client) -> Option<String> {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    let api: Api<SelfSubjectReview> = Api::all(client.clone());
    let review = SelfSubjectReview::default();
    match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        api.create(&PostParams::default(), &review),
    )
    .await
    {
        Ok(Ok(r)) => r
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .filter(|u| !u.is_empty()),
        Ok(Err(e)) => {
            tracing::warn!("SelfSubjectReview: {e}");
            None
        }
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denied_permissions_say_what_is_missing() {
        let mut a = Access::all();
        a.deny(Permission::patch(Kind::Rollout, Some("status")), "");
        assert!(a.check(&Permission::patch(Kind::Rollout, None)).is_ok());
        assert_eq!(
            a.check(&Permission::patch(Kind::Rollout, Some("status")))
                .unwrap_err(),
            "forbidden by RBAC: cannot patch rollouts/status.argoproj.io"
        );
    }
}
