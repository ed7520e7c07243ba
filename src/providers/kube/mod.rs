//! Kubernetes: Argo Rollouts, Flagger Canaries, Istio VirtualServices, Gateway API HTTPRoutes
//! and SMI TrafficSplits, watched and steered through the API server like kubectl would.
//!
//! One provider task discovers which kinds are installed, asks RBAC what the user may do,
//! runs one `kube::runtime::watcher` per kind (with backoff) and converts objects into domain
//! rollouts inside the task; the app only ever receives converted copies (workers never share
//! state with the app). The
//! [`router::KubeRouter`] shares the provider's catalog so writes are built from the freshest
//! objects.

pub mod access;
pub mod catalog;
pub mod events;
pub mod fields;
pub mod kinds;
pub mod patch;
pub mod router;
pub mod split;
pub mod watch;

use catalog::{Catalog, Options};
use kinds::Kind;
use kube::Client;
use kube::api::DynamicObject;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::ApiResource;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use tokio::sync::Notify;

/// How to reach the cluster and what to watch, from the command line.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    /// `--kubeconfig` (else `$KUBECONFIG` or `~/.kube/config`, or in-cluster config).
    pub kubeconfig: Option<PathBuf>,
    /// `--context` (else the current context).
    pub context: Option<String>,
    /// `-n` (else the context's namespace).
    pub namespace: Option<String>,
    /// `-A`: every namespace.
    pub all_namespaces: bool,
}

/// A connected client and the namespace scope to watch (`None` = all namespaces).
pub struct Connection {
    /// The client.
    pub client: Client,
    /// Scope.
    pub namespace: Option<String>,
    /// The API server URL, for the status line.
    pub url: String,
    /// The kubeconfig context in use (`None` for the in-cluster config).
    pub context: Option<String>,
}

/// Reads the kubeconfig as kubectl does: `path`, else `$KUBECONFIG` or `~/.kube/config`.
fn read_kubeconfig(path: Option<&std::path::Path>) -> Result<Kubeconfig, String> {
    match path {
        Some(p) => Kubeconfig::read_from(p).map_err(|e| format!("kubeconfig {}: {e}", p.display())),
        None => Kubeconfig::read().map_err(|e| format!("kubeconfig: {e}")),
    }
}

/// Every context in the kubeconfig, in file order (`--all-contexts`).
pub fn all_contexts(path: Option<&std::path::Path>) -> Result<Vec<String>, String> {
    let kc = read_kubeconfig(path)?;
    let names: Vec<String> = kc.contexts.into_iter().map(|c| c.name).collect();
    if names.is_empty() {
        return Err("--all-contexts: the kubeconfig names no context".into());
    }
    Ok(names)
}

/// Loads the kubeconfig like kubectl and builds a client. Local only: nothing is sent to the
/// server yet, so the first frame never waits for the network.
pub async fn connect(c: &Connect) -> Result<Connection, String> {
    let opts = KubeConfigOptions {
        context: c.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &c.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?
        }
        None if c.context.is_some() => kube::Config::from_kubeconfig(&opts)
            .await
            .map_err(|e| format!("kubeconfig: {e}"))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no cluster configuration found ({e}); pass --kubeconfig"))?,
    };
    let namespace = if c.all_namespaces {
        None
    } else {
        Some(
            c.namespace
                .clone()
                .unwrap_or_else(|| config.default_namespace.clone()),
        )
    };
    let url = config.cluster_url.to_string();
    // The context's name, for keys and dialogs; the in-cluster config has none.
    let context = c.context.clone().or_else(|| {
        read_kubeconfig(c.kubeconfig.as_deref())
            .ok()
            .and_then(|kc| kc.current_context)
    });
    crate::install_crypto_provider();
    let client = Client::try_from(config).map_err(|e| format!("cluster client: {e}"))?;
    Ok(Connection {
        client,
        namespace,
        url,
        context,
    })
}

/// State shared by the provider task and the router.
pub struct Shared {
    /// The client.
    pub client: Client,
    /// Every watched object.
    pub catalog: Mutex<Catalog>,
    /// Kinds found by discovery, at their served version.
    pub resources: Mutex<BTreeMap<Kind, ApiResource>>,
    /// Woken when the router stored a newer object (so the provider re-emits).
    pub changed: Notify,
    /// `--flagger-loadtester URL`.
    pub loadtester: Option<String>,
    /// For gate calls, built on the first one: building a client loads the OS trust store
    /// (tens of milliseconds), which would otherwise come before the first frame for
    /// every cluster, loadtester or not.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Who acts, for Kubernetes Events (shared with the executor's audit lines).
    pub actor: crate::domain::change::Actor,
    /// Flagger gates aviary opened for one step: the Canary and its weight when opened. The
    /// loadtester keeps a gate open until told otherwise, so aviary closes it once Flagger
    /// has taken the step (`n` means one step, not all of them).
    pub open_gates: Mutex<BTreeMap<kinds::ObjRef, f64>>,
    /// Set once the API server answered discovery: headless uses it to exit non-zero (code
    /// [`NEVER_REACHED`]) when the cluster was never reached.
    pub reached: std::sync::atomic::AtomicBool,
    /// The last connection failure, address and cause, for that exit's message.
    pub last_failure: Mutex<Option<String>>,
    /// This cluster's staleness sources.
    pub sources: watch::Sources,
}

/// Exit status of a headless `aviary kube` that never reached the API server (README:
/// exit codes).
pub const NEVER_REACHED: u8 = 3;

/// An error's root cause ("Connection refused (os error 111)", "dns error: …"): kube's own
/// text for a connection failure is only "client error (Connect)". Errors without a source
/// (an API status such as 403) keep their own text.
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut root = e.to_string();
    let mut next = e.source();
    while let Some(c) = next {
        root = c.to_string();
        next = c.source();
    }
    root
}

impl Shared {
    /// Shared state for `client`.
    pub fn new(
        client: Client,
        opts: Options,
        loadtester: Option<String>,
        actor: crate::domain::change::Actor,
    ) -> Self {
        crate::install_crypto_provider();
        Shared {
            client,
            catalog: Mutex::new(Catalog::new(opts, access::Access::all())),
            resources: Mutex::new(BTreeMap::new()),
            changed: Notify::new(),
            loadtester,
            http: std::sync::OnceLock::new(),
            actor,
            open_gates: Mutex::new(BTreeMap::new()),
            reached: std::sync::atomic::AtomicBool::new(false),
            last_failure: Mutex::new(None),
            sources: watch::Sources::default(),
        }
    }

    /// The client for the Flagger loadtester's gate API.
    pub fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap_or_default()
        })
    }

    /// The same state for the cluster of kubeconfig `context`: its rollouts carry the
    /// context in their keys, and with `labelled` (several clusters on one board) its
    /// sources name it, so each cluster's freshness is its own.
    pub fn on_context(mut self, context: Option<String>, labelled: bool) -> Self {
        self.sources.label = context.clone().filter(|_| labelled);
        if let Ok(c) = self.catalog.get_mut() {
            c.set_context(context);
        }
        self
    }

    /// The API resource of a kind: as discovered, else its default version.
    pub fn resource(&self, kind: Kind) -> ApiResource {
        self.resources
            .lock()
            .ok()
            .and_then(|r| r.get(&kind).cloned())
            .unwrap_or_else(|| kind.api_resource(kind.default_version()))
    }

    /// Stores a newer copy of an object and tells the provider to re-emit.
    pub fn store(&self, kind: Kind, obj: DynamicObject) {
        if let Ok(mut c) = self.catalog.lock() {
            c.apply(kind, obj);
        }
        self.changed.notify_one();
    }
}

/// Flagger's provider name for a `--mesh` choice (used when a Canary names none).
pub fn flagger_provider(mesh: crate::metrics::templates::DataPlane) -> &'static str {
    use crate::metrics::templates::DataPlane;
    match mesh {
        DataPlane::Istio | DataPlane::Custom => "istio",
        DataPlane::Linkerd => "linkerd",
        DataPlane::Envoy => "appmesh",
        DataPlane::Nginx => "nginx",
        DataPlane::Haproxy => "haproxy",
        DataPlane::Consul => "consul",
    }
}
