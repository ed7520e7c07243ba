//! The provider task's own copy of every watched object, and the one place that turns them
//! into domain rollouts. It lives in the provider (the `App` only ever gets converted copies,
//! never the objects), is shared with the router so writes are built from the freshest objects, and
//! decides ownership across kinds: a router object claimed by a Rollout or Canary is shown
//! under its owner, not as a raw route.

use super::access::Access;
use super::kinds::{self, Kind, ObjRef};
use super::split::{self, RawCtx};
use crate::domain::{Owner, Rollout, RolloutKey};
use crate::providers::{argo, consul, flagger, gateway_api, istio, kruise, nginx, smi};
use kube::api::DynamicObject;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// Command-line choices that change how objects convert.
#[derive(Clone, Debug)]
pub struct Options {
    /// Owner of raw routers: `Manual` by default, `Autopilot` with `--autopilot`.
    pub raw_owner: Owner,
    /// Flagger's mesh provider when a Canary names none (`--mesh`, default istio).
    pub default_mesh: String,
    /// `--flagger-loadtester` was given.
    pub loadtester: bool,
    /// The kubeconfig context these objects come from, stamped on every rollout key so
    /// writes go back to this cluster only.
    pub context: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            raw_owner: Owner::Manual,
            default_mesh: "istio".into(),
            loadtester: false,
            context: None,
        }
    }
}

/// One object's conversion, kept while its resourceVersion stays the same. Its rollouts are
/// shared with what the provider last sent, so an unchanged rollout is held once and
/// compared by pointer.
#[derive(Debug)]
struct Converted {
    version: String,
    claims: Vec<ObjRef>,
    rollouts: Vec<Arc<Rollout>>,
}

/// One object as the catalog holds it: what every re-read of a kind needs (its version,
/// whether a controller owns it), and the object itself as compact JSON.
/// A parsed object is a tree of maps about ten times the size of its text; it is parsed
/// again only for a write, a gate check or a conversion the memo does not hold.
#[derive(Debug)]
struct Held {
    version: Option<String>,
    controller_owned: bool,
    json: Box<str>,
}

impl Held {
    fn of(obj: &DynamicObject) -> Held {
        Held {
            version: kinds::resource_version(obj),
            controller_owned: !kinds::controller_owners(obj).is_empty(),
            // A value that came from JSON always serializes; an empty object stands in
            // (and converts to nothing) if that ever failed.
            json: serde_json::to_string(obj)
                .unwrap_or_else(|_| "{}".into())
                .into_boxed_str(),
        }
    }

    fn object(&self) -> Option<DynamicObject> {
        serde_json::from_str(&self.json).ok()
    }

    fn rv_number(&self) -> Option<u64> {
        self.version.as_ref().and_then(|v| v.parse().ok())
    }
}

/// Every object seen, by kind and (namespace, name).
#[derive(Debug, Default)]
pub struct Catalog {
    objects: BTreeMap<Kind, BTreeMap<(String, String), Held>>,
    access: Access,
    /// Conversion options.
    pub opts: Options,
    /// Conversions by object; the provider converts after every watch event, and most
    /// objects have not changed since the last one.
    memo: RefCell<HashMap<ObjRef, Converted>>,
    /// The routers controllers claim, while no controller object has changed.
    claims: RefCell<Option<BTreeSet<ObjRef>>>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new(opts: Options, access: Access) -> Self {
        Catalog {
            objects: BTreeMap::new(),
            access,
            opts,
            memo: RefCell::new(HashMap::new()),
            claims: RefCell::new(None),
        }
    }

    /// Applies new RBAC answers (every capability is recomputed).
    pub fn set_access(&mut self, access: Access) {
        self.access = access;
        self.memo.borrow_mut().clear();
        self.claims.replace(None);
    }

    /// Names the kubeconfig context its rollouts' keys carry (conversions made before name
    /// none, so they are forgotten).
    pub fn set_context(&mut self, context: Option<String>) {
        self.opts.context = context;
        self.memo.borrow_mut().clear();
    }

    /// The RBAC answers in force.
    pub fn access(&self) -> &Access {
        &self.access
    }

    /// Claims and rollouts of a held object, from the memo while its resourceVersion stays
    /// the same, else parsed and converted.
    fn held_converted(&self, r: &ObjRef, held: &Held) -> (Vec<ObjRef>, Vec<Arc<Rollout>>) {
        if let Some(v) = &held.version
            && let Some(c) = self.memo.borrow().get(r)
            && &c.version == v
        {
            return (c.claims.clone(), c.rollouts.clone());
        }
        match held.object() {
            Some(obj) => self.converted(r.kind, &obj),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Claims and rollouts of one object, converted once per resourceVersion, with its
    /// creation time and the catalog's context filled in.
    fn converted(&self, kind: Kind, obj: &DynamicObject) -> (Vec<ObjRef>, Vec<Arc<Rollout>>) {
        let r = ObjRef::of(kind, obj);
        let version = kinds::resource_version(obj);
        if let Some(v) = &version
            && let Some(c) = self.memo.borrow().get(&r)
            && &c.version == v
        {
            return (c.claims.clone(), c.rollouts.clone());
        }
        let raw = RawCtx {
            owner: self.opts.raw_owner,
            access: &self.access,
        };
        let (claims, rollouts) = match kind {
            Kind::Rollout => {
                let claims = argo::claims(obj);
                let r = argo::rollout(obj, &claims, &self.access);
                (claims, vec![r])
            }
            Kind::KruiseRollout => {
                let claims = kruise::claims(obj);
                let r = kruise::rollout(obj, &claims, &self.access);
                (claims, vec![r])
            }
            Kind::Canary => {
                let fctx = flagger::FlaggerCtx {
                    default_mesh: &self.opts.default_mesh,
                    loadtester: self.opts.loadtester,
                    access: &self.access,
                };
                (
                    flagger::claims(obj, &self.opts.default_mesh),
                    vec![flagger::rollout(obj, &fctx)],
                )
            }
            Kind::VirtualService => (Vec::new(), istio::rollouts(obj, &raw)),
            Kind::HttpRoute => (Vec::new(), gateway_api::rollouts(obj, &raw)),
            Kind::TrafficSplit => (Vec::new(), smi::rollouts(obj, &raw)),
            Kind::Ingress => (
                Vec::new(),
                nginx::rollouts(obj, self.primary_service(obj).as_deref(), &raw),
            ),
            Kind::ServiceSplitter => (Vec::new(), consul::crd::rollouts(obj, &raw)),
        };
        let created = kinds::created(obj);
        let rollouts: Vec<Arc<Rollout>> = rollouts
            .into_iter()
            .map(|mut r| {
                r.created = created;
                r.key.context.clone_from(&self.opts.context);
                Arc::new(r)
            })
            .collect();
        if let Some(version) = version {
            self.memo.borrow_mut().insert(
                r,
                Converted {
                    version,
                    claims: claims.clone(),
                    rollouts: rollouts.clone(),
                },
            );
        }
        (claims, rollouts)
    }

    fn slot(obj: &DynamicObject) -> (String, String) {
        (kinds::namespace(obj), kinds::name(obj))
    }

    /// Adds or replaces an object. An older copy (a write's response racing the watch) never
    /// replaces a newer one when both versions are numbers, as they are on real servers.
    pub fn apply(&mut self, kind: Kind, obj: DynamicObject) {
        if kind.is_controller() {
            self.claims.replace(None);
        }
        let held = Held::of(&obj);
        let map = self.objects.entry(kind).or_default();
        let slot = Self::slot(&obj);
        if let (Some(old), Some(new)) = (map.get(&slot).and_then(Held::rv_number), held.rv_number())
            && new < old
        {
            return;
        }
        map.insert(slot, held);
        self.convert_now(kind, &obj);
    }

    /// Converts an object while it is parsed, so the memo holds it before the object is
    /// kept as text. An ingress-nginx canary's conversion reads its primary Ingress, which
    /// may not be in yet: those convert when first asked for.
    fn convert_now(&self, kind: Kind, obj: &DynamicObject) {
        if kind != Kind::Ingress {
            self.converted(kind, obj);
        }
    }

    /// Removes an object.
    pub fn delete(&mut self, kind: Kind, obj: &DynamicObject) {
        if kind.is_controller() {
            self.claims.replace(None);
        }
        if let Some(map) = self.objects.get_mut(&kind) {
            map.remove(&Self::slot(obj));
        }
        // Objects leave only here and in `replace_all`: the memo forgets them with them.
        self.memo.borrow_mut().remove(&ObjRef::of(kind, obj));
    }

    /// Replaces every object of a kind (after a re-list).
    pub fn replace_all(&mut self, kind: Kind, objs: Vec<DynamicObject>) {
        if kind.is_controller() {
            self.claims.replace(None);
        }
        let map: BTreeMap<(String, String), Held> =
            objs.iter().map(|o| (Self::slot(o), Held::of(o))).collect();
        self.memo.borrow_mut().retain(|r, _| {
            r.kind != kind || map.contains_key(&(r.namespace.clone(), r.name.clone()))
        });
        self.objects.insert(kind, map);
        for o in &objs {
            self.convert_now(kind, o);
        }
    }

    /// One object, parsed from what is held.
    pub fn get(&self, r: &ObjRef) -> Option<DynamicObject> {
        self.objects
            .get(&r.kind)?
            .get(&(r.namespace.clone(), r.name.clone()))?
            .object()
    }

    /// Number of objects of a kind.
    pub fn count(&self, kind: Kind) -> usize {
        self.objects.get(&kind).map_or(0, BTreeMap::len)
    }

    /// Every held object of a kind, with its reference.
    fn all(&self, kind: Kind) -> impl Iterator<Item = (ObjRef, &Held)> {
        self.objects.get(&kind).into_iter().flat_map(move |m| {
            m.iter()
                .map(move |((ns, n), h)| (ObjRef::new(kind, ns, n), h))
        })
    }

    /// Router objects driven by a Rollout or Canary.
    pub fn claimed(&self) -> BTreeSet<ObjRef> {
        if let Some(c) = self.claims.borrow().as_ref() {
            return c.clone();
        }
        let c: BTreeSet<ObjRef> = Kind::ALL
            .into_iter()
            .filter(|k| k.is_controller())
            .flat_map(|k| self.all(k).flat_map(|(r, h)| self.held_converted(&r, h).0))
            .collect();
        self.claims.replace(Some(c.clone()));
        c
    }

    fn owned(r: &ObjRef, held: &Held, claimed: &BTreeSet<ObjRef>) -> bool {
        claimed.contains(r) || held.controller_owned
    }

    /// The domain rollouts of each kind, as its watcher's source reports them.
    pub fn rollouts(&self) -> BTreeMap<Kind, Vec<Rollout>> {
        self.rollouts_of(&Kind::ALL.into_iter().collect())
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(Arc::unwrap_or_clone).collect()))
            .collect()
    }

    /// The domain rollouts of `kinds` only: a change to one router kind re-reads that kind,
    /// not every object watched. (A change to a controller kind can change which routers are
    /// claimed, so its caller asks for every kind.)
    pub fn rollouts_of(&self, kinds: &BTreeSet<Kind>) -> BTreeMap<Kind, Vec<Arc<Rollout>>> {
        if self.claims.borrow().is_none() {
            self.claimed();
        }
        let claims = self.claims.borrow();
        let none = BTreeSet::new();
        let claimed = claims.as_ref().unwrap_or(&none);
        kinds
            .iter()
            .copied()
            .map(|kind| {
                let v: Vec<Arc<Rollout>> = self
                    .all(kind)
                    .filter(|(r, h)| kind.is_controller() || !Self::owned(r, h, claimed))
                    .flat_map(|(r, h)| self.held_converted(&r, h).1)
                    .collect();
                (kind, v)
            })
            .collect()
    }

    /// The object behind a rollout key (a raw router's key may name one split: `name#id`).
    pub fn object_for(&self, key: &RolloutKey) -> Option<(Kind, DynamicObject)> {
        let kind = Kind::from_provider(key.provider)?;
        let ns = key.namespace.clone().unwrap_or_else(|| "default".into());
        if let Some(o) = self.get(&ObjRef::new(kind, ns.clone(), key.name.clone())) {
            return Some((kind, o));
        }
        let (name, _) = key.name.split_once('#')?;
        self.get(&ObjRef::new(kind, ns, name)).map(|o| (kind, o))
    }

    /// The Service behind the primary Ingress of an ingress-nginx canary: the non-canary
    /// Ingress in the same namespace serving one of the canary's host and path pairs.
    fn primary_service(&self, canary: &DynamicObject) -> Option<String> {
        let ns = kinds::namespace(canary);
        let routes = nginx::routes(canary);
        self.all(Kind::Ingress)
            .filter(|(r, _)| r.namespace == ns)
            .filter_map(|(_, h)| h.object())
            .filter(|o| !nginx::is_canary(o))
            .find(|o| nginx::routes(o).iter().any(|r| routes.contains(r)))
            .and_then(|o| nginx::backend_service(&o))
    }

    /// The split a raw router's rollout key names.
    pub fn split_for(&self, key: &RolloutKey) -> Option<(Kind, DynamicObject, split::Split)> {
        let (kind, obj) = self.object_for(key)?;
        let splits = splits_of(kind, &obj);
        let s = split::find(&splits, &kinds::name(&obj), &key.name)?.clone();
        Some((kind, obj, s))
    }
}

/// The weighted splits a router object holds (none for the controller kinds, which own their
/// routes). Stable names of an ingress-nginx canary are not needed here: only the canary's
/// own annotation is ever written.
pub fn splits_of(kind: Kind, obj: &DynamicObject) -> Vec<split::Split> {
    match kind {
        Kind::VirtualService => istio::splits(obj),
        Kind::HttpRoute => gateway_api::splits(obj),
        Kind::TrafficSplit => smi::splits(obj),
        Kind::Ingress => nginx::splits(obj, None),
        Kind::ServiceSplitter => consul::crd::splits(obj),
        Kind::Rollout | Kind::Canary | Kind::KruiseRollout => Vec::new(),
    }
}
