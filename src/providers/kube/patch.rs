//! The writes aviary sends to a cluster, as plain data: built by the pure patch builders in
//! `argo`, `flagger` and the raw-router modules, carried out in order by the router.
//! Keeping them data means a unit test can assert the exact body without a server.

use super::kinds::ObjRef;
use serde_json::Value;

/// A patch body and therefore its content type.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    /// `application/merge-patch+json` (RFC 7386).
    Merge(Value),
    /// `application/json-patch+json` (RFC 6902): an array of operations.
    Json(Value),
}

impl Body {
    /// The HTTP content type the API server expects for this body.
    pub fn content_type(&self) -> &'static str {
        match self {
            Body::Merge(_) => "application/merge-patch+json",
            Body::Json(_) => "application/json-patch+json",
        }
    }

    /// The JSON document sent.
    pub fn value(&self) -> &Value {
        match self {
            Body::Merge(v) | Body::Json(v) => v,
        }
    }
}

/// One PATCH on one object.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchReq {
    /// The object.
    pub target: ObjRef,
    /// True for the `/status` subresource.
    pub status: bool,
    /// The body.
    pub body: Body,
    /// What it does, in words, for error messages ("unpause", "route 100 % to primary").
    pub what: String,
}

/// One step of a write.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// PATCH an object.
    Patch(PatchReq),
    /// POST `{"name","namespace"}` to the Flagger loadtester's gate API (`/gate/open`,
    /// `/rollback/open`).
    Gate {
        /// Path on the loadtester.
        path: &'static str,
        /// Canary name.
        name: String,
        /// Canary namespace.
        namespace: String,
        /// In words.
        what: String,
    },
}

impl Step {
    /// The step's description.
    pub fn what(&self) -> &str {
        match self {
            Step::Patch(p) => &p.what,
            Step::Gate { what, .. } => what,
        }
    }
}

/// A merge patch on the main resource.
pub fn merge(target: ObjRef, body: Value, what: impl Into<String>) -> Step {
    Step::Patch(PatchReq {
        target,
        status: false,
        body: Body::Merge(body),
        what: what.into(),
    })
}

/// A merge patch on the `/status` subresource.
pub fn merge_status(target: ObjRef, body: Value, what: impl Into<String>) -> Step {
    Step::Patch(PatchReq {
        target,
        status: true,
        body: Body::Merge(body),
        what: what.into(),
    })
}

/// A JSON Patch on the main resource.
pub fn json_patch(target: ObjRef, ops: Value, what: impl Into<String>) -> Step {
    Step::Patch(PatchReq {
        target,
        status: false,
        body: Body::Json(ops),
        what: what.into(),
    })
}
