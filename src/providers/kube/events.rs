//! Kubernetes `Event`s for aviary's writes: every change aviary makes to a cluster object is
//! recorded on that object (`kubectl describe` shows it), with the same message the change
//! event webhook carries — before/after weights and how to undo it.

use super::kinds::{self, Kind};
use crate::domain::change::{ChangeEvent, WriteRequest};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, DynamicObject, PostParams};

/// `AviaryAbort`, `AviarySetWeight`, … : the Event reason for a command.
pub fn reason(req: &WriteRequest) -> String {
    let camel: String = req
        .command
        .kind()
        .as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    format!("Aviary{camel}")
}

/// The Event aviary posts for a finished write on `obj`.
pub fn build(
    kind: Kind,
    obj: &DynamicObject,
    req: &WriteRequest,
    actor: &str,
    after: Option<f64>,
    error: Option<String>,
) -> Event {
    let failed = error.is_some();
    let change = ChangeEvent::new(req, actor, std::time::SystemTime::now(), after, error);
    let now = k8s_openapi::jiff::Timestamp::now();
    let name = kinds::name(obj);
    // The Events API caps `note` at 1 kB.
    let mut note = format!("{} (by {actor})", change.message);
    if note.len() > 1024 {
        let mut cut = 1021;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
        note.push_str("...");
    }
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{name}.aviary.{:x}", now.as_nanosecond())),
            namespace: Some(kinds::namespace(obj)),
            ..Default::default()
        },
        action: Some(req.command.kind().as_str().to_string()),
        reason: Some(reason(req)),
        note: Some(note),
        type_: Some(if failed { "Warning" } else { "Normal" }.into()),
        event_time: Some(MicroTime(now)),
        reporting_controller: Some("aviary.dev/aviary".into()),
        // The API server caps reportingInstance at 128 characters; the note keeps the rest.
        reporting_instance: Some(format!("aviary@{actor}").chars().take(128).collect()),
        regarding: Some(ObjectReference {
            api_version: Some(kinds::api_version(kind, obj)),
            kind: Some(kind.name().into()),
            name: Some(name),
            namespace: Some(kinds::namespace(obj)),
            uid: obj.metadata.uid.clone(),
            resource_version: kinds::resource_version(obj),
            field_path: None,
        }),
        ..Default::default()
    }
}

/// Posts `ev`; the write it describes already happened, so a failure here is only reported.
pub async fn post(client: &Client, ev: &Event) -> Result<(), String> {
    let ns = ev
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    api.create(&PostParams::default(), ev)
        .await
        .map(|_| ())
        .map_err(|e| format!("Kubernetes Event not recorded: {e}"))
}
