//! Weighted splits as the raw routers hold them (Istio `http[].route[]`, Gateway API
//! `rules[].backendRefs[]`, SMI `backends[]`, consul-k8s `splits[]`): reading them into builds, turning them into
//! domain rollouts, and writing new weights with a JSON Patch that `test`s the old values.

use super::access::{Access, Permission};
use super::kinds::{self, Kind, ObjRef};
use crate::domain::{ActionKind, Build, Capabilities, Owner, Phase, Role, Rollout, RolloutKey};
use crate::domain::{Weight, weight::rules};
use kube::api::DynamicObject;
use serde_json::{Value, json};

/// One destination of a split.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Subset, host, backend or service name.
    pub name: String,
    /// JSON Pointer of its weight field.
    pub pointer: String,
    /// The weight as stored (`None` when the field is absent).
    pub raw: Option<Value>,
    /// The weight as a number, defaults applied.
    pub value: f64,
    /// Stable, canary or another build.
    pub role: Role,
}

/// One weighted list inside a router object.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// Route or rule name, else its index; distinguishes splits of one object.
    pub id: String,
    /// What the operator sees (`route primary`, `rule 0`).
    pub label: String,
    /// The destinations, in object order.
    pub entries: Vec<Entry>,
}

/// The entries of one weighted list (`route[]`, `backendRefs[]`, `backends[]`): each
/// destination's name, the JSON Pointer of its weight (`pointer(j)`), the number read from it
/// (`value` of the raw field, which may be absent) and its role. Every raw router lists its
/// destinations this way; only the field names differ.
pub fn entries(
    dests: &[Value],
    name: impl Fn(&Value) -> String,
    pointer: impl Fn(usize) -> String,
    value: impl Fn(Option<&Value>) -> f64,
) -> Vec<Entry> {
    let names: Vec<String> = dests.iter().map(name).collect();
    let roles = assign_roles(&names);
    dests
        .iter()
        .zip(names)
        .zip(roles)
        .enumerate()
        .map(|(j, ((d, name), role))| {
            let raw = d.get("weight").cloned();
            Entry {
                name,
                pointer: pointer(j),
                value: value(raw.as_ref()),
                raw,
                role,
            }
        })
        .collect()
}

/// The splits of an object whose weighted lists sit one per rule (`/spec/http[i].route[]`,
/// `/spec/rules[i].backendRefs[]`): a rule with fewer than two destinations is not a split.
/// A rule is named by its `name` when it has one (stable across reorders), else its index;
/// `label(name, i)` is what the screen calls it.
pub fn per_rule(
    obj: &DynamicObject,
    rules_at: &str,
    field: &str,
    name: impl Fn(&Value) -> String,
    value: impl Fn(Option<&Value>) -> f64,
    label: impl Fn(Option<&str>, usize) -> String,
) -> Vec<Split> {
    let Some(rules) = obj.data.pointer(rules_at).and_then(Value::as_array) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let Some(dests) = rule.get(field).and_then(Value::as_array) else {
            continue;
        };
        if dests.len() < 2 {
            continue;
        }
        let entries = entries(
            dests,
            &name,
            |j| format!("{rules_at}/{i}/{field}/{j}/weight"),
            &value,
        );
        let rule_name = rule.get("name").and_then(Value::as_str);
        out.push(Split {
            id: rule_name
                .map(kinds::pointer_token)
                .unwrap_or_else(|| i.to_string()),
            label: label(rule_name, i),
            entries,
        });
    }
    out
}

/// Gives each destination a role: names saying `canary` / `stable` / `primary` win; otherwise
/// the first destination is stable and the second the canary (the order every example uses);
/// any further ones are shown as other builds and never stepped.
pub fn assign_roles(names: &[String]) -> Vec<Role> {
    let named = |n: &str, words: &[&str]| {
        let l = n.to_ascii_lowercase();
        words.iter().any(|w| l.contains(w))
    };
    let mut roles: Vec<Option<Role>> = vec![None; names.len()];
    let canary = names.iter().position(|n| named(n, &["canary", "preview"]));
    let stable = names
        .iter()
        .position(|n| named(n, &["stable", "primary"]) && Some(n) != canary.map(|c| &names[c]));
    if let Some(c) = canary {
        roles[c] = Some(Role::Canary);
    }
    if let Some(s) = stable {
        roles[s] = Some(Role::Stable);
    }
    for want in [Role::Stable, Role::Canary] {
        if !roles.iter().any(|r| r.as_ref() == Some(&want))
            && let Some(i) = roles.iter().position(Option::is_none)
        {
            roles[i] = Some(want);
        }
    }
    roles
        .into_iter()
        .zip(names)
        .map(|(r, n)| r.unwrap_or_else(|| Role::Other(n.clone())))
        .collect()
}

/// The rollout name for split `s` of object `name`: the object's own name when it holds one
/// split, else `name#id`.
pub fn rollout_name(name: &str, s: &Split, count: usize) -> String {
    if count == 1 {
        name.to_string()
    } else {
        format!("{name}#{}", s.id)
    }
}

/// Finds the split a rollout name points at.
pub fn find<'a>(splits: &'a [Split], object: &str, rollout: &str) -> Option<&'a Split> {
    splits
        .iter()
        .find(|s| rollout_name(object, s, splits.len()) == rollout)
}

/// What a raw router's rollouts need besides the object.
#[derive(Clone, Debug)]
pub struct RawCtx<'a> {
    /// Manual (default) or Autopilot (`--autopilot`).
    pub owner: Owner,
    /// RBAC answers.
    pub access: &'a Access,
}

/// Domain rollouts for the splits of a raw router object.
pub fn rollouts(kind: Kind, obj: &DynamicObject, splits: &[Split], ctx: &RawCtx) -> Vec<Rollout> {
    let ns = kinds::namespace(obj);
    let name = kinds::name(obj);
    splits
        .iter()
        .map(|s| {
            let key = RolloutKey::namespaced(
                kind.provider(),
                ns.clone(),
                rollout_name(&name, s, splits.len()),
            );
            let total: f64 = s.entries.iter().map(|e| e.value.max(0.0)).sum();
            let builds = s
                .entries
                .iter()
                .map(|e| Build {
                    role: e.role.clone(),
                    name: e.name.clone(),
                    version: None,
                    weight: Weight::share(e.value.max(0.0), total).unwrap_or(Weight::ZERO),
                    selector: e.name.clone(),
                })
                .collect();
            let mut r = Rollout::new(key, ctx.owner, builds);
            r.phase = Phase::Idle;
            r.phase_text = "weighted".into();
            r.router = format!("{} {ns}/{name} {}", kind.name(), s.label);
            r.version = kinds::resource_version(obj);
            r.message = if total <= 0.0 {
                "every weight is 0: this route sends no traffic".into()
            } else if ctx.owner == Owner::Manual {
                "no controller: aviary changes these weights only when you ask".into()
            } else {
                String::new()
            };
            r.capabilities = capabilities(kind, s, ctx);
            r
        })
        .collect()
}

fn capabilities(kind: Kind, s: &Split, ctx: &RawCtx) -> Capabilities {
    let mut caps = Capabilities::all();
    let weighted = [
        ActionKind::Advance,
        ActionKind::Promote,
        ActionKind::Abort,
        ActionKind::SetWeight,
        ActionKind::Retry,
    ];
    if ctx.owner == Owner::Manual {
        for a in [ActionKind::Pause, ActionKind::Resume, ActionKind::Retry] {
            caps = caps.refuse(
                a,
                "no controller and no autopilot here (start aviary with --autopilot to let it step this route)",
            );
        }
    }
    let two_way = s.entries.iter().filter(|e| e.role == Role::Stable).count() == 1
        && s.entries.iter().filter(|e| e.role == Role::Canary).count() == 1;
    let others = s
        .entries
        .iter()
        .any(|e| matches!(e.role, Role::Other(_)) && e.value > 0.0);
    for a in weighted {
        if caps.check(a).is_err() {
            continue;
        }
        if !two_way || others {
            caps = caps.refuse(
                a,
                "not a two-way split: aviary only moves weight between one stable and one canary",
            );
        } else if let Err(why) = ctx.access.check(&Permission::patch(kind, None)) {
            caps = caps.refuse(a, why);
        }
    }
    caps
}

/// How a kind stores a canary share: `(stable, canary)` as JSON values.
pub fn encode(kind: Kind, api_version: &str, canary: Weight) -> Result<(Value, Value), String> {
    match kind {
        Kind::HttpRoute => {
            let (s, c) = rules::gateway_api(canary);
            Ok((json!(s), json!(c)))
        }
        Kind::ServiceSplitter => {
            // Hundredths summing to 100; whole percents stay integers, as people write them.
            let (s, c) = rules::consul(canary);
            Ok(if canary.is_whole() {
                (json!(s as u32), json!(c as u32))
            } else {
                (json!(s), json!(c))
            })
        }
        Kind::TrafficSplit if api_version.ends_with("/v1alpha1") => {
            if !canary.is_whole() {
                return Err(format!("SMI weights are whole percents; {canary} is not"));
            }
            let (s, c) = rules::smi_v1alpha1(canary);
            Ok((json!(s), json!(c)))
        }
        _ => {
            let (s, c) = rules::istio(canary).map_err(|e| e.to_string())?;
            Ok((json!(s), json!(c)))
        }
    }
}

/// The JSON Patch that moves split `s` of `obj` to `canary`: a `test` of
/// `metadata.resourceVersion` when the operator's view had one, a `test` of every old weight
/// the object stores, then a `replace` (or `add`, where the field was absent) of each.
pub fn weight_patch(
    kind: Kind,
    obj: &DynamicObject,
    s: &Split,
    canary: Weight,
    expected_version: Option<&str>,
) -> Result<Value, String> {
    let (stable_v, canary_v) = encode(kind, &kinds::api_version(kind, obj), canary)?;
    let mut ops = Vec::new();
    if let Some(v) = expected_version {
        ops.push(json!({"op": "test", "path": "/metadata/resourceVersion", "value": v}));
    }
    let mut writes = Vec::new();
    for e in &s.entries {
        let new = match e.role {
            Role::Stable => stable_v.clone(),
            Role::Canary => canary_v.clone(),
            // Stable and canary would sum to 100 % beside it, so the canary's share would
            // not be what was asked; the screen refuses this too (`capabilities`).
            Role::Other(_) if e.value > 0.0 => {
                return Err(format!(
                    "{kind} {}: split {} also sends traffic to {}: not a two-way split; nothing sent",
                    ObjRef::of(kind, obj),
                    s.label,
                    e.name
                ));
            }
            Role::Other(_) => continue,
        };
        match &e.raw {
            Some(old) => {
                ops.push(json!({"op": "test", "path": e.pointer, "value": old}));
                writes.push(json!({"op": "replace", "path": e.pointer, "value": new}));
            }
            None => {
                // `add` needs an object to add into; the API server's schema would have
                // refused anything else, but a write must not be built on a guess.
                let parent = e.pointer.strip_suffix("/weight").unwrap_or(&e.pointer);
                if !obj.data.pointer(parent).is_some_and(Value::is_object) {
                    return Err(format!(
                        "{kind} {}: destination {} of split {} is not an object; nothing sent",
                        ObjRef::of(kind, obj),
                        e.name,
                        s.label
                    ));
                }
                writes.push(json!({"op": "add", "path": e.pointer, "value": new}))
            }
        }
    }
    if writes.len() != 2 {
        return Err(format!(
            "{} {}: split {} is not one stable and one canary",
            kind,
            ObjRef::of(kind, obj),
            s.label
        ));
    }
    ops.extend(writes);
    Ok(Value::Array(ops))
}

/// The canary share a split holds now.
pub fn canary_share(s: &Split) -> Weight {
    let total: f64 = s.entries.iter().map(|e| e.value.max(0.0)).sum();
    s.entries
        .iter()
        .find(|e| e.role == Role::Canary)
        .and_then(|e| Weight::share(e.value.max(0.0), total).ok())
        .unwrap_or(Weight::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn roles_follow_names_then_order() {
        assert_eq!(
            assign_roles(&names(&["v1", "v2"])),
            vec![Role::Stable, Role::Canary]
        );
        assert_eq!(
            assign_roles(&names(&["rollouts-demo-canary", "rollouts-demo-stable"])),
            vec![Role::Canary, Role::Stable]
        );
        assert_eq!(
            assign_roles(&names(&["podinfo-primary", "podinfo-canary"])),
            vec![Role::Stable, Role::Canary]
        );
        assert_eq!(
            assign_roles(&names(&["one", "two", "three"])),
            vec![Role::Stable, Role::Canary, Role::Other("three".into())]
        );
    }
}
