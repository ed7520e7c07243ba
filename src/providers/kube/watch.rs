//! The provider task: discovery, RBAC review, one watcher per kind (with backoff), and the loop
//! that turns watch events into `ProviderEvent`s. A watch error (410 Gone, 403, connection
//! lost) marks that kind's source stale and the watcher restarts; nothing blocks the app.

use super::access;
use super::kinds::Kind;
use super::{Shared, causes};
use crate::domain::observation::SourceId;
use crate::domain::{Rollout, RolloutKey};
use crate::msg::{Msg, ProviderEvent};
use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::discovery::{ApiResource, Discovery};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The status line's source with one cluster.
pub fn source() -> SourceId {
    SourceId("kube".into())
}

/// One cluster's staleness sources: `kube` and `kube Rollout` with one context (a
/// single-cluster screen reads as it always did), `kube@prod-eu` and `kube@prod-eu Rollout`
/// with several, so one unreachable cluster goes stale alone.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The context named in each source, when there are several.
    pub label: Option<String>,
}

impl Sources {
    /// The connection's own source (discovery, the status line).
    pub fn conn(&self) -> SourceId {
        match &self.label {
            None => source(),
            Some(c) => SourceId(format!("kube@{c}")),
        }
    }

    /// A kind's watcher on this cluster.
    pub fn kind(&self, kind: Kind) -> SourceId {
        match &self.label {
            None => kind.source(),
            Some(c) => SourceId(kind.source().0.replacen("kube", &format!("kube@{c}"), 1)),
        }
    }
}

enum Internal {
    Event(Kind, Box<watcher::Event<DynamicObject>>),
    Error(Kind, String),
    /// A failed kind's list answers again: the watcher resumes on its own without an event
    /// when nothing changed, so without this the kind would read stale forever.
    Recovered(Kind),
}

/// How often a failed kind is probed with a one-item list.
const PROBE: Duration = Duration::from_secs(2);

/// Asks which of the kinds aviary knows the server serves, at which version.
pub async fn discover(client: &kube::Client) -> Result<BTreeMap<Kind, ApiResource>, String> {
    let groups: Vec<&str> = Kind::ALL.iter().map(|k| k.group()).collect();
    let d = Discovery::new(client.clone())
        .filter(&groups)
        .run()
        .await
        .map_err(|e| causes(&e))?;
    let mut out = BTreeMap::new();
    for k in Kind::ALL {
        if let Some(g) = d.get(k.group())
            && let Some((ar, _caps)) = g.recommended_kind(k.name())
        {
            out.insert(k, ar);
        }
    }
    Ok(out)
}

async fn send(tx: &mpsc::Sender<Msg>, ev: ProviderEvent) -> bool {
    tx.send(Msg::Provider(ev)).await.is_ok()
}

async fn info(tx: &mpsc::Sender<Msg>, src: &Sources, message: String) {
    let _ = send(
        tx,
        ProviderEvent::Info {
            source: src.conn(),
            message,
        },
    )
    .await;
}

/// Runs the provider until `cancel`: discovery (retried until it answers), RBAC review,
/// watchers, then the event loop.
pub async fn run(
    shared: Arc<Shared>,
    namespace: Option<String>,
    url: String,
    metrics: Option<crate::metrics::targets::Targets>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
) {
    let scope = namespace
        .as_deref()
        .map(|n| format!("namespace {n}"))
        .unwrap_or_else(|| "all namespaces".into());
    info(
        &tx,
        &shared.sources,
        format!("connecting to {url} ({scope})…"),
    )
    .await;
    let mut delay = Duration::from_millis(500);
    let found = loop {
        match discover(&shared.client).await {
            Ok(f) => break f,
            Err(e) => {
                let failure = format!("Kubernetes API at {url} did not answer: {e}");
                if let Ok(mut f) = shared.last_failure.lock() {
                    *f = Some(failure.clone());
                }
                let next = format!("{failure}; retrying in {}s", delay.as_secs_f64());
                // The status line shows it in place of "connecting to …".
                info(&tx, &shared.sources, next.clone()).await;
                let _ = tx
                    .send(Msg::SourceError {
                        source: shared.sources.conn(),
                        error: next,
                    })
                    .await;
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    shared
        .reached
        .store(true, std::sync::atomic::Ordering::SeqCst);
    // Clears a discovery error shown while the API server did not answer.
    let _ = send(
        &tx,
        ProviderEvent::Restarted {
            source: shared.sources.conn(),
            rollouts: Vec::new(),
        },
    )
    .await;
    let kinds: Vec<Kind> = found.keys().copied().collect();
    let missing: Vec<&str> = Kind::ALL
        .iter()
        .filter(|k| !found.contains_key(k))
        .map(|k| k.name())
        .collect();
    let access = access::review(&shared.client, namespace.as_deref(), &kinds).await;
    if let Some(who) = access::whoami(&shared.client).await {
        shared.actor.set_kube(&who);
    }
    if let Ok(mut c) = shared.catalog.lock() {
        c.set_access(access);
    }
    if let Ok(mut r) = shared.resources.lock() {
        r.extend(found.clone());
    }
    let found_txt: Vec<String> = found
        .values()
        .map(|ar| format!("{} ({})", ar.kind, ar.api_version))
        .collect();
    let found_note = format!(
        "{url} {scope}: found {}{}",
        if found_txt.is_empty() {
            "none of the rollout kinds".to_string()
        } else {
            found_txt.join(", ")
        },
        if missing.is_empty() {
            String::new()
        } else {
            format!("; not installed: {}", missing.join(", "))
        }
    );
    info(&tx, &shared.sources, found_note.clone()).await;
    let (itx, irx) = mpsc::channel(256);
    for (kind, ar) in found {
        let api: Api<DynamicObject> = match &namespace {
            Some(ns) => Api::namespaced_with(shared.client.clone(), ns, &ar),
            None => Api::all_with(shared.client.clone(), &ar),
        };
        tokio::spawn(watch_kind(kind, api, itx.clone(), cancel.clone()));
    }
    drop(itx);
    if kinds.is_empty() {
        let _ = send(
            &tx,
            nothing_found(&shared.sources, &scope, &kinds, &missing),
        )
        .await;
    }
    let scope = Scope {
        text: scope,
        missing: missing.iter().map(|m| m.to_string()).collect(),
        found_note,
    };
    aggregate(shared, irx, metrics, tx, cancel, scope).await;
}

async fn watch_kind(
    kind: Kind,
    api: Api<DynamicObject>,
    tx: mpsc::Sender<Internal>,
    cancel: CancellationToken,
) {
    let mut stream = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut failing = false;
    let mut probe = tokio::time::interval(PROBE);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let item = tokio::select! {
            _ = cancel.cancelled() => return,
            item = stream.next() => item,
            _ = probe.tick(), if failing => {
                let one = kube::api::ListParams::default().limit(1);
                if api.list_metadata(&one).await.is_err() {
                    continue;
                }
                failing = false;
                if tx.send(Internal::Recovered(kind)).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let msg = match item {
            None => return,
            Some(Ok(ev)) => {
                failing = false;
                Internal::Event(kind, Box::new(ev))
            }
            Some(Err(e)) => {
                // First probe one period from now: the watcher's own retry (sooner) usually
                // re-lists first, and that event is the better proof.
                if !failing {
                    probe.reset();
                }
                failing = true;
                Internal::Error(kind, format!("{kind} watch: {} (restarting)", causes(&e)))
            }
        };
        if tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// What has been sent per kind, to send only differences: the catalog's own conversions,
/// so an unchanged rollout is the same allocation and compares by pointer.
#[derive(Default)]
struct Sent {
    per_kind: BTreeMap<Kind, BTreeMap<RolloutKey, Arc<Rollout>>>,
}

async fn emit(
    snapshot: BTreeMap<Kind, Vec<Arc<Rollout>>>,
    listed: &BTreeSet<Kind>,
    sent: &mut Sent,
    force: &BTreeSet<Kind>,
    tx: &mpsc::Sender<Msg>,
    src: &Sources,
) -> bool {
    for (kind, rollouts) in snapshot {
        if !listed.contains(&kind) {
            continue;
        }
        let now: BTreeMap<RolloutKey, Arc<Rollout>> =
            rollouts.into_iter().map(|r| (r.key.clone(), r)).collect();
        let before = sent.per_kind.entry(kind).or_default();
        // A kind's first rollouts go in one message (ten thousand upserts would each be a
        // message and an update of their own).
        if force.contains(&kind) || (before.is_empty() && !now.is_empty()) {
            let ok = send(
                tx,
                ProviderEvent::Restarted {
                    source: src.kind(kind),
                    rollouts: now.values().map(|r| Rollout::clone(r)).collect(),
                },
            )
            .await;
            if !ok {
                return false;
            }
        } else {
            for (k, r) in &now {
                if before.get(k).is_none_or(|b| !Arc::ptr_eq(b, r) && b != r) {
                    let ok = send(
                        tx,
                        ProviderEvent::Upsert {
                            source: src.kind(kind),
                            rollout: Box::new(Rollout::clone(r)),
                        },
                    )
                    .await;
                    if !ok {
                        return false;
                    }
                }
            }
            for k in before.keys().filter(|k| !now.contains_key(*k)) {
                let ok = send(
                    tx,
                    ProviderEvent::Delete {
                        source: src.kind(kind),
                        key: k.clone(),
                    },
                )
                .await;
                if !ok {
                    return false;
                }
            }
        }
        *before = now;
    }
    true
}

/// How often healthy watchers confirm they are alive (keeps their source from going stale
/// while nothing changes on the cluster).
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Every this many heartbeats the full list is sent again (a resync that corrects anything
/// the app holds that the cluster does not); the others only say the kinds are alive.
const RESYNC_BEATS: u32 = 60;

/// What was asked for, to say what was not found.
struct Scope {
    text: String,
    missing: Vec<String>,
    /// The status line once every kind has listed; while lists load it gains a progress note.
    found_note: String,
}

/// Whether `kind`'s periodic resync falls on heartbeat `beat`: once every [`RESYNC_BEATS`],
/// each kind on a beat of its own.
fn resync_due(kind: Kind, beat: u32) -> bool {
    let offset = Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u32;
    (beat + offset).is_multiple_of(RESYNC_BEATS)
}

/// How often the status line's "listing …" count is refreshed while lists load.
const PROGRESS: Duration = Duration::from_millis(100);

/// "listing Rollout… 340, VirtualService… 1,020": objects received so far per kind still
/// listing (a list's total is not known before its last page).
fn progress(buffers: &BTreeMap<Kind, Vec<DynamicObject>>) -> String {
    let per: Vec<String> = buffers
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(k, b)| format!("{}… {}", k.name(), thousands(b.len())))
        .collect();
    format!("listing {}", per.join(", "))
}

/// Some list has begun answering and not yet ended.
fn listing(buffers: &BTreeMap<Kind, Vec<DynamicObject>>) -> bool {
    buffers.values().any(|b| !b.is_empty())
}

/// 1020 → "1,020".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "nothing to watch in namespace empty: looked for Rollout, Canary, …; found none": an
/// empty scope says so instead of looking like one still loading.
fn nothing_found(src: &Sources, scope: &str, kinds: &[Kind], missing: &[&str]) -> ProviderEvent {
    let looked: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
    let looked = if looked.is_empty() {
        "none of the rollout kinds is installed".to_string()
    } else {
        format!("looked for {}; found none", looked.join(", "))
    };
    let missing = if missing.is_empty() {
        String::new()
    } else {
        format!(" (not installed: {})", missing.join(", "))
    };
    ProviderEvent::Empty {
        source: src.conn(),
        message: format!("nothing to watch in {scope}: {looked}{missing}"),
    }
}

async fn aggregate(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Internal>,
    metrics: Option<crate::metrics::targets::Targets>,
    tx: mpsc::Sender<Msg>,
    cancel: CancellationToken,
    scope: Scope,
) {
    let mut said_empty = false;
    let mut buffers: BTreeMap<Kind, Vec<DynamicObject>> = BTreeMap::new();
    let mut listed: BTreeSet<Kind> = BTreeSet::new();
    let mut healthy: BTreeSet<Kind> = BTreeSet::new();
    // Kinds that listed or failed at least once; a kind whose list keeps failing (403) must
    // not hold back the others.
    let mut settled: BTreeSet<Kind> = BTreeSet::new();
    let mut sent = Sent::default();
    let mut beats: u32 = 0;
    // Kinds with news since the last emit, or `everything` when which is not known.
    let mut touched: BTreeSet<Kind> = BTreeSet::new();
    let mut everything = true;
    // The last rollouts of every kind, for the metrics targets (which want them all).
    let mut latest: BTreeMap<Kind, Vec<Arc<Rollout>>> = BTreeMap::new();
    // While lists load: when the status line last showed their progress (a list that answers
    // within one period shows none), and whether it did.
    let mut last_progress = tokio::time::Instant::now();
    let mut progressed = false;
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut force = BTreeSet::new();
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = shared.changed.notified() => everything = true,
            _ = beat.tick() => {
                // The connection's own source is fresh while some kind's watch is (or there is
                // nothing to watch); during an outage it goes stale with the header's badge.
                let kinds = shared.resources.lock().map(|r| r.len()).unwrap_or(0);
                if (kinds == 0 || !healthy.is_empty())
                    && !send(&tx, ProviderEvent::Alive { source: shared.sources.conn() }).await
                {
                    return;
                }
                beats += 1;
                // Each kind's resync falls on its own beat: sent together, every kind's copies
                // would be in flight at once, and the allocator keeps that peak for good.
                let due: BTreeSet<Kind> =
                    healthy.iter().copied().filter(|k| resync_due(*k, beats)).collect();
                // Nothing changed: say each other healthy kind is alive, without re-sending
                // (and re-converting) every object it holds. Not before the first emit,
                // which is where a kind's rows first appear.
                let kinds = shared.resources.lock().map(|r| r.len()).unwrap_or(0);
                if settled.len() >= kinds {
                    for kind in healthy.intersection(&listed).filter(|k| !due.contains(k)) {
                        if !send(&tx, ProviderEvent::Alive { source: shared.sources.kind(*kind) }).await {
                            return;
                        }
                    }
                }
                if due.is_empty() {
                    continue;
                }
                force = due;
            }
            msg = rx.recv() => {
                let Some(msg) = msg else { return };
                match msg {
                    Internal::Recovered(kind) => {
                        if healthy.insert(kind) {
                            force.insert(kind);
                        }
                    }
                    Internal::Error(kind, e) => {
                        healthy.remove(&kind);
                        if healthy.is_empty() {
                            let _ = tx.send(Msg::SourceError { source: shared.sources.conn(), error: e.clone() }).await;
                        }
                        let _ = tx.send(Msg::SourceError { source: shared.sources.kind(kind), error: e }).await;
                        // The error is the news now; progress shows again if the list goes on.
                        if progressed {
                            progressed = false;
                            info(&tx, &shared.sources, scope.found_note.clone()).await;
                        }
                        // Only a kind's first failure can unblock the others' first emit.
                        if !settled.insert(kind) {
                            continue;
                        }
                    }
                    Internal::Event(kind, ev) => {
                        if healthy.insert(kind) {
                            force.insert(kind);
                        }
                        // The status line's note, sent once the catalog's lock is let go.
                        let mut note = None;
                        let skip = {
                            let Ok(mut cat) = shared.catalog.lock() else { return };
                            match *ev {
                                // A re-list is buffered and swapped in at InitDone; converting
                                // on every listed object would cost O(n²) for a large list.
                                watcher::Event::Init => {
                                    buffers.insert(kind, Vec::new());
                                    force.is_empty()
                                }
                                watcher::Event::InitApply(o) => {
                                    buffers.entry(kind).or_default().push(o);
                                    if last_progress.elapsed() >= PROGRESS {
                                        last_progress = tokio::time::Instant::now();
                                        note = Some(format!("{}; {}", scope.found_note, progress(&buffers)));
                                        progressed = true;
                                    }
                                    force.is_empty()
                                }
                                watcher::Event::InitDone => {
                                    cat.replace_all(kind, buffers.remove(&kind).unwrap_or_default());
                                    listed.insert(kind);
                                    settled.insert(kind);
                                    force.insert(kind);
                                    if progressed && !listing(&buffers) {
                                        // Every list is in: the status line says what was found.
                                        progressed = false;
                                        note = Some(scope.found_note.clone());
                                    }
                                    false
                                }
                                watcher::Event::Apply(o) => {
                                    cat.apply(kind, o);
                                    false
                                }
                                watcher::Event::Delete(o) => {
                                    cat.delete(kind, &o);
                                    false
                                }
                            }
                        };
                        if let Some(n) = note {
                            info(&tx, &shared.sources, n).await;
                        }
                        touched.insert(kind);
                        if skip {
                            continue;
                        }
                    }
                }
            }
        }
        // Claims cross kinds: until every kind has listed (or failed) once, raw routers may
        // still be claimed by a controller not yet seen, so nothing is emitted before that.
        if settled.len() < shared.resources.lock().map(|r| r.len()).unwrap_or(0) {
            continue;
        }
        super::router::close_stepped_gates(&shared).await;
        // Only the kinds that changed are converted and compared again, unless a controller
        // changed (its claims decide which routers show) or the change came from a write.
        let ask: BTreeSet<Kind> = if everything || touched.iter().any(|k| k.is_controller()) {
            Kind::ALL.into_iter().collect()
        } else {
            touched.union(&force).copied().collect()
        };
        everything = false;
        touched.clear();
        if ask.is_empty() {
            continue;
        }
        let snapshot = match shared.catalog.lock() {
            Ok(c) => c.rollouts_of(&ask),
            Err(_) => return,
        };
        if let Some(m) = &metrics {
            for (k, v) in &snapshot {
                latest.insert(*k, v.clone());
            }
            m.update(latest.values().flatten().map(|r| &**r));
        }
        let kinds: Vec<Kind> = shared
            .resources
            .lock()
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default();
        if !emit(snapshot, &listed, &mut sent, &force, &tx, &shared.sources).await {
            return;
        }
        let shown = sent.per_kind.values().map(BTreeMap::len).sum::<usize>();
        // Every kind listed, nothing to show: say so once (again after something appeared).
        let all_listed = kinds.iter().all(|k| listed.contains(k));
        if shown == 0 && all_listed && !said_empty {
            said_empty = true;
            let missing: Vec<&str> = scope.missing.iter().map(String::as_str).collect();
            if !send(
                &tx,
                nothing_found(&shared.sources, &scope.text, &kinds, &missing),
            )
            .await
            {
                return;
            }
        }
        said_empty &= shown == 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_in_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(340), "340");
        assert_eq!(thousands(1020), "1,020");
        assert_eq!(thousands(10_000), "10,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn every_kind_resyncs_once_a_period_and_no_two_on_one_beat() {
        for beat in 1..=RESYNC_BEATS * 3 {
            let due = Kind::ALL.iter().filter(|k| resync_due(**k, beat)).count();
            assert!(due <= 1, "beat {beat}: {due} kinds");
        }
        for kind in Kind::ALL {
            let due = (1..=RESYNC_BEATS).filter(|b| resync_due(kind, *b)).count();
            assert_eq!(due, 1, "{kind:?}");
        }
    }
}
