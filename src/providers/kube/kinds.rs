//! The kinds aviary watches on a cluster, and small readers for the object metadata every
//! converter needs. Objects stay `DynamicObject`s: the CRDs differ between controller versions,
//! so each converter reads only the fields it understands and ignores the rest.

use crate::domain::ProviderKind;
use crate::domain::observation::SourceId;
use kube::api::DynamicObject;
use serde_json::Value;
use std::fmt;

/// A custom resource kind aviary understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Argo Rollouts `Rollout`.
    Rollout,
    /// Flagger `Canary`.
    Canary,
    /// Istio `VirtualService`.
    VirtualService,
    /// Gateway API `HTTPRoute`.
    HttpRoute,
    /// SMI `TrafficSplit`.
    TrafficSplit,
    /// Kubernetes `Ingress` (ingress-nginx canaries).
    Ingress,
    /// OpenKruise Rollouts `Rollout` (same kind name as Argo's, another group).
    KruiseRollout,
    /// consul-k8s `ServiceSplitter` (a Consul service-splitter config entry as a resource).
    ServiceSplitter,
}

impl Kind {
    /// Every kind, controllers first (their claims decide which routers are shown).
    pub const ALL: [Kind; 8] = [
        Kind::Rollout,
        Kind::Canary,
        Kind::KruiseRollout,
        Kind::VirtualService,
        Kind::HttpRoute,
        Kind::TrafficSplit,
        Kind::Ingress,
        Kind::ServiceSplitter,
    ];

    /// API group, as discovery reports it.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Rollout => "argoproj.io",
            Kind::Canary => "flagger.app",
            Kind::VirtualService => "networking.istio.io",
            Kind::HttpRoute => "gateway.networking.k8s.io",
            Kind::TrafficSplit => "split.smi-spec.io",
            Kind::Ingress => "networking.k8s.io",
            Kind::KruiseRollout => "rollouts.kruise.io",
            Kind::ServiceSplitter => "consul.hashicorp.com",
        }
    }

    /// The `kind` field.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Rollout => "Rollout",
            Kind::Canary => "Canary",
            Kind::VirtualService => "VirtualService",
            Kind::HttpRoute => "HTTPRoute",
            Kind::TrafficSplit => "TrafficSplit",
            Kind::Ingress => "Ingress",
            Kind::KruiseRollout => "Rollout",
            Kind::ServiceSplitter => "ServiceSplitter",
        }
    }

    /// The resource name in URLs and RBAC rules.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Rollout => "rollouts",
            Kind::Canary => "canaries",
            Kind::VirtualService => "virtualservices",
            Kind::HttpRoute => "httproutes",
            Kind::TrafficSplit => "trafficsplits",
            Kind::Ingress => "ingresses",
            Kind::KruiseRollout => "rollouts",
            Kind::ServiceSplitter => "servicesplitters",
        }
    }

    /// The version used when discovery has not said otherwise (tests, fallbacks).
    pub fn default_version(self) -> &'static str {
        match self {
            Kind::Rollout => "v1alpha1",
            Kind::Canary => "v1beta1",
            Kind::VirtualService => "v1",
            Kind::HttpRoute => "v1",
            Kind::TrafficSplit => "v1alpha4",
            Kind::Ingress => "v1",
            Kind::KruiseRollout => "v1beta1",
            Kind::ServiceSplitter => "v1alpha1",
        }
    }

    /// The domain provider of rollouts made from this kind.
    pub fn provider(self) -> ProviderKind {
        match self {
            Kind::Rollout => ProviderKind::Argo,
            Kind::Canary => ProviderKind::Flagger,
            Kind::VirtualService => ProviderKind::Istio,
            Kind::HttpRoute => ProviderKind::GatewayApi,
            Kind::TrafficSplit => ProviderKind::Smi,
            Kind::Ingress => ProviderKind::Nginx,
            Kind::KruiseRollout => ProviderKind::Kruise,
            // The same splitter and weight rule as `aviary consul`'s, reached through the
            // cluster instead of Consul's API.
            Kind::ServiceSplitter => ProviderKind::Consul,
        }
    }

    /// The kind behind a rollout key's provider.
    pub fn from_provider(p: ProviderKind) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.provider() == p)
    }

    /// True for the kinds whose controller drives the rollout and owns its routes.
    pub fn is_controller(self) -> bool {
        matches!(self, Kind::Rollout | Kind::Canary | Kind::KruiseRollout)
    }

    /// The staleness source for this kind's watcher (OpenKruise's `Rollout` is named by its
    /// group, so it never shares a badge with Argo's).
    pub fn source(self) -> SourceId {
        match self {
            Kind::KruiseRollout => SourceId("kube Rollout.rollouts.kruise.io".into()),
            _ => SourceId(format!("kube {}", self.name())),
        }
    }

    /// A default `ApiResource` for this kind at `version`.
    pub fn api_resource(self, version: &str) -> kube::discovery::ApiResource {
        kube::discovery::ApiResource {
            group: self.group().into(),
            version: version.into(),
            api_version: format!("{}/{}", self.group(), version),
            kind: self.name().into(),
            plural: self.plural().into(),
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Names one object: kind, namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjRef {
    /// Kind.
    pub kind: Kind,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl ObjRef {
    /// A reference.
    pub fn new(kind: Kind, namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjRef {
            kind,
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The reference of `obj` as a `kind`.
    pub fn of(kind: Kind, obj: &DynamicObject) -> Self {
        ObjRef::new(kind, namespace(obj), name(obj))
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// The object's namespace; objects in fixtures without one live in `default`, as kubectl
/// would have put them.
pub fn namespace(obj: &DynamicObject) -> String {
    obj.metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

/// The object's name (empty when absent, which only malformed objects do).
pub fn name(obj: &DynamicObject) -> String {
    obj.metadata.name.clone().unwrap_or_default()
}

/// `metadata.creationTimestamp`: the object's age, as kubectl shows it.
pub fn created(obj: &DynamicObject) -> Option<std::time::SystemTime> {
    obj.metadata
        .creation_timestamp
        .as_ref()
        .map(|t| std::time::SystemTime::from(t.0))
}

/// `metadata.resourceVersion`.
pub fn resource_version(obj: &DynamicObject) -> Option<String> {
    obj.metadata.resource_version.clone()
}

/// The object's apiVersion (`types`), or the kind's default.
pub fn api_version(kind: Kind, obj: &DynamicObject) -> String {
    obj.types
        .as_ref()
        .map(|t| t.api_version.clone())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("{}/{}", kind.group(), kind.default_version()))
}

/// The controller kinds (`Rollout`, `Canary`) named in `ownerReferences`, with names.
pub fn controller_owners(obj: &DynamicObject) -> Vec<(Kind, String)> {
    obj.metadata
        .owner_references
        .iter()
        .flatten()
        .filter_map(|o| {
            let kind = match (o.kind.as_str(), o.api_version.split('/').next()) {
                ("Rollout", Some("argoproj.io")) => Kind::Rollout,
                ("Canary", Some("flagger.app")) => Kind::Canary,
                ("Rollout", Some("rollouts.kruise.io")) => Kind::KruiseRollout,
                _ => return None,
            };
            Some((kind, o.name.clone()))
        })
        .collect()
}

/// Reads a number that may be written as an int, a float or a numeric string.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses a Kubernetes timestamp (`2021-06-30T05:01:22Z`).
pub fn timestamp(s: &str) -> Option<std::time::SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

/// Escapes one JSON Pointer token (RFC 6901).
pub fn pointer_token(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}
