//! The provider task's own copy of every watched object, and the one place that turns them
//! into domain rollouts. It lives in the provider (STYLE §4: the `App` gets converted copies
//! only), is shared with the router so writes are built from the freshest objects, and
//! decides ownership across kinds: a router object claimed by a Rollout or Canary is shown
//! under its owner, not as a raw route.

use super::access::Access;
use super::kinds::{self, Kind, ObjRef};
use super::split::{self, RawCtx};
use crate::domain::{Owner, Rollout, RolloutKey};
use crate::providers::{argo, flagger, gateway_api, istio, smi};
use kube::api::DynamicObject;
use std::collections::{BTreeMap, BTreeSet};

/// Command-line choices that change how objects convert.
#[derive(Clone, Debug)]
pub struct Options {
    /// Owner of raw routers: `Manual` by default, `Autopilot` with `--autopilot`.
    pub raw_owner: Owner,
    /// Flagger's mesh provider when a Canary names none (`--mesh`, default istio).
    pub default_mesh: String,
    /// `--flagger-loadtester` was given.
    pub loadtester: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            raw_owner: Owner::Manual,
            default_mesh: "istio".into(),
            loadtester: false,
        }
    }
}

/// Every object seen, by kind and (namespace, name).
#[derive(Debug, Default)]
pub struct Catalog {
    objects: BTreeMap<Kind, BTreeMap<(String, String), DynamicObject>>,
    /// RBAC answers, applied to capabilities.
    pub access: Access,
    /// Conversion options.
    pub opts: Options,
}

fn rv_number(obj: &DynamicObject) -> Option<u64> {
    kinds::resource_version(obj).and_then(|v| v.parse().ok())
}

impl Catalog {
    /// An empty catalog.
    pub fn new(opts: Options, access: Access) -> Self {
        Catalog {
            objects: BTreeMap::new(),
            access,
            opts,
        }
    }

    fn slot(obj: &DynamicObject) -> (String, String) {
        (kinds::namespace(obj), kinds::name(obj))
    }

    /// Adds or replaces an object. An older copy (a write's response racing the watch) never
    /// replaces a newer one when both versions are numbers, as they are on real servers.
    pub fn apply(&mut self, kind: Kind, obj: DynamicObject) {
        let map = self.objects.entry(kind).or_default();
        let slot = Self::slot(&obj);
        if let (Some(old), Some(new)) = (map.get(&slot).and_then(rv_number), rv_number(&obj))
            && new < old
        {
            return;
        }
        map.insert(slot, obj);
    }

    /// Removes an object.
    pub fn delete(&mut self, kind: Kind, obj: &DynamicObject) {
        if let Some(map) = self.objects.get_mut(&kind) {
            map.remove(&Self::slot(obj));
        }
    }

    /// Replaces every object of a kind (after a re-list).
    pub fn replace_all(&mut self, kind: Kind, objs: Vec<DynamicObject>) {
        let map = objs.into_iter().map(|o| (Self::slot(&o), o)).collect();
        self.objects.insert(kind, map);
    }

    /// One object.
    pub fn get(&self, r: &ObjRef) -> Option<&DynamicObject> {
        self.objects
            .get(&r.kind)?
            .get(&(r.namespace.clone(), r.name.clone()))
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.objects.get(&kind).map_or(0, BTreeMap::len)
    }

    fn all(&self, kind: Kind) -> impl Iterator<Item = &DynamicObject> {
        self.objects.get(&kind).into_iter().flat_map(|m| m.values())
    }

    /// Router objects driven by a Rollout or Canary.
    pub fn claimed(&self) -> BTreeSet<ObjRef> {
        let mut out: BTreeSet<ObjRef> = self.all(Kind::Rollout).flat_map(argo::claims).collect();
        out.extend(
            self.all(Kind::Canary)
                .flat_map(|c| flagger::claims(c, &self.opts.default_mesh)),
        );
        out
    }

    fn owned(&self, kind: Kind, obj: &DynamicObject, claimed: &BTreeSet<ObjRef>) -> bool {
        claimed.contains(&ObjRef::of(kind, obj)) || !kinds::controller_owners(obj).is_empty()
    }

    /// The domain rollouts of each kind, as its watcher's source reports them.
    pub fn rollouts(&self) -> BTreeMap<Kind, Vec<Rollout>> {
        let claimed = self.claimed();
        let raw = RawCtx {
            owner: self.opts.raw_owner,
            access: &self.access,
        };
        let fctx = flagger::FlaggerCtx {
            default_mesh: &self.opts.default_mesh,
            loadtester: self.opts.loadtester,
            access: &self.access,
        };
        let mut out = BTreeMap::new();
        out.insert(
            Kind::Rollout,
            self.all(Kind::Rollout)
                .map(|o| argo::rollout(o, &argo::claims(o), &self.access))
                .collect(),
        );
        out.insert(
            Kind::Canary,
            self.all(Kind::Canary)
                .map(|o| flagger::rollout(o, &fctx))
                .collect(),
        );
        for kind in [Kind::VirtualService, Kind::HttpRoute, Kind::TrafficSplit] {
            let v: Vec<Rollout> = self
                .all(kind)
                .filter(|o| !self.owned(kind, o, &claimed))
                .flat_map(|o| match kind {
                    Kind::VirtualService => istio::rollouts(o, &raw),
                    Kind::HttpRoute => gateway_api::rollouts(o, &raw),
                    _ => smi::rollouts(o, &raw),
                })
                .collect();
            out.insert(kind, v);
        }
        out
    }

    /// The object behind a rollout key (a raw router's key may name one split: `name#id`).
    pub fn object_for(&self, key: &RolloutKey) -> Option<(Kind, &DynamicObject)> {
        let kind = Kind::from_provider(key.provider)?;
        let ns = key.namespace.clone().unwrap_or_else(|| "default".into());
        if let Some(o) = self.get(&ObjRef::new(kind, ns.clone(), key.name.clone())) {
            return Some((kind, o));
        }
        let (name, _) = key.name.split_once('#')?;
        self.get(&ObjRef::new(kind, ns, name)).map(|o| (kind, o))
    }

    /// The split a raw router's rollout key names.
    pub fn split_for(&self, key: &RolloutKey) -> Option<(Kind, &DynamicObject, split::Split)> {
        let (kind, obj) = self.object_for(key)?;
        let splits = match kind {
            Kind::VirtualService => istio::splits(obj),
            Kind::HttpRoute => gateway_api::splits(obj),
            Kind::TrafficSplit => smi::splits(obj),
            Kind::Rollout | Kind::Canary => return None,
        };
        let s = split::find(&splits, &kinds::name(obj), &key.name)?.clone();
        Some((kind, obj, s))
    }
}
