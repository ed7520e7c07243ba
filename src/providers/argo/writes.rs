//! The writes for each operator action on a Rollout, asked of the controller the way
//! `kubectl argo rollouts` does (Argo owns the route; aviary never writes its weights).

use super::view;
use crate::domain::change::Command;
use crate::domain::weight::controller_owns_route;
use crate::providers::kube::kinds::{Kind, ObjRef};
use crate::providers::kube::patch::{self, Step};
use kube::api::DynamicObject;
use serde_json::{Value, json};

/// The patches for `command` on this Rollout, in the order they are sent (status before
/// spec, as the Argo CLI does). `expected_version` guards the one action computed from what
/// the operator saw (advance past the current step) with `metadata.resourceVersion`; the others
/// are absolute (pause, abort, …) and stay correct whatever the controller wrote meanwhile.
pub fn patches(
    obj: &DynamicObject,
    command: Command,
    expected_version: Option<&str>,
) -> Result<Vec<Step>, String> {
    let v = view(obj).map_err(|e| format!("cannot read the Rollout: {e}"))?;
    let target = ObjRef::of(Kind::Rollout, obj);
    let guarded = |mut body: Value| {
        if let Some(rv) = expected_version {
            body["metadata"] = json!({"resourceVersion": rv});
        }
        body
    };
    let unpause = || {
        patch::merge(
            target.clone(),
            json!({"spec": {"paused": false}}),
            "unpause (spec.paused=false)",
        )
    };
    let mut steps = Vec::new();
    match command {
        Command::Pause => steps.push(patch::merge(
            target,
            json!({"spec": {"paused": true}}),
            "pause (spec.paused=true)",
        )),
        Command::Resume => {
            if !v.pause_reasons().is_empty() {
                steps.push(patch::merge_status(
                    target.clone(),
                    json!({"status": {"pauseConditions": null}}),
                    "clear status.pauseConditions",
                ));
            }
            if v.paused() || steps.is_empty() {
                steps.push(unpause());
            }
        }
        Command::Advance => {
            if !v.pause_reasons().is_empty() {
                steps.push(patch::merge_status(
                    target.clone(),
                    guarded(json!({"status": {"pauseConditions": null}})),
                    "clear status.pauseConditions",
                ));
            } else if let Some(i) = v.step_index().filter(|_| !v.steps().is_empty()) {
                let next = (i + 1).min(v.steps().len());
                steps.push(patch::merge_status(
                    target.clone(),
                    guarded(json!({"status": {"pauseConditions": null, "currentStepIndex": next}})),
                    format!("skip to step {next}"),
                ));
            }
            if v.paused() {
                steps.push(unpause());
            }
            if steps.is_empty() {
                return Err(
                    "nothing to advance: the rollout is not paused and has no next step".into(),
                );
            }
        }
        Command::Promote => {
            steps.push(patch::merge_status(
                target.clone(),
                json!({"status": {"promoteFull": true}}),
                "promote fully (status.promoteFull=true)",
            ));
            if v.paused() {
                steps.push(unpause());
            }
        }
        Command::Abort => steps.push(patch::merge_status(
            target,
            json!({"status": {"abort": true}}),
            "abort (status.abort=true)",
        )),
        Command::Retry => steps.push(patch::merge_status(
            target,
            json!({"status": {"abort": false}}),
            "retry (status.abort=false)",
        )),
        Command::SetWeight(_) => {
            return Err(controller_owns_route("Argo Rollouts"));
        }
    }
    Ok(steps)
}
