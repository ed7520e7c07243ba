//! The application state: data only, no channels, no clock. `update` changes it, `ui::render`
//! reads it. Constructible in a plain `#[test]`.

use crate::domain::Weight;
use crate::domain::change::{Command, OpId, Origin};
use crate::domain::observation::{BuildSample, Series, SourceId};
use crate::domain::{Plan, Rollout, RolloutKey};
use crate::driver::{Adviser, Autopilot, Judge, ThresholdJudge};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

mod rows;
pub use rows::{RowKeys, Rows};

/// How fresh a source is, for stale badges.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceStatus {
    /// Last successful answer.
    pub last_ok: Option<SystemTime>,
    /// Last error, cleared on success.
    pub last_error: Option<String>,
    /// Informational status (e.g. "found: Rollout, Canary").
    pub info: Option<String>,
    /// How many times in a row `last_error` was reported (shown folded as "… (12×)").
    pub repeats: u32,
}

/// A write in flight; the rollout takes no other write until it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingOp {
    /// Which write.
    pub op: OpId,
    /// What it does.
    pub command: Command,
    /// Who asked.
    pub origin: Origin,
    /// Canary weight when the write was issued (the audit's `before`); the router may
    /// report the new weight before the write's result arrives.
    pub before: Weight,
    /// Canary weight asked for.
    pub requested: Option<Weight>,
    /// When it was issued.
    pub issued_at: SystemTime,
}

/// One line of a rollout's timeline (steps, checks, operator actions, write results).
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEvent {
    /// When.
    pub at: SystemTime,
    /// Severity, for colour.
    pub level: Level,
    /// What happened.
    pub text: String,
}

/// Severity of a timeline event or toast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Routine.
    Info,
    /// Worth a look.
    Warn,
    /// Something failed.
    Error,
}

/// Everything aviary knows about one rollout.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// As the provider last reported it, with weights updated by our writes.
    pub rollout: Rollout,
    /// Which source reports it.
    pub source: SourceId,
    /// Chart history.
    pub series: Series,
    /// aviary's autopilot, for routers without a controller. Boxed, as is the adviser:
    /// most rollouts have neither, and the map of rollouts holds every `Tracked` inline.
    pub autopilot: Option<Box<Autopilot>>,
    /// The judge's advice on a rollout whose controller has no metric analysis of its own
    /// (OpenKruise): evidence and a verdict for the screen, never a write.
    pub adviser: Option<Box<Adviser>>,
    /// The plan the autopilot drives (or the adviser judges by).
    pub plan: Plan,
    /// A write in flight.
    pub pending: Option<PendingOp>,
    /// Recent events, newest last.
    pub events: VecDeque<TimelineEvent>,
    /// Latest sample per build.
    pub latest: BTreeMap<String, BuildSample>,
    /// Cumulative (requests, errors) per build since aviary started watching.
    pub totals: BTreeMap<String, (u64, u64)>,
    /// When the phase or weight last changed.
    pub last_change: SystemTime,
    /// The source whose metrics this rollout's autopilot judges (Prometheus, `show stat`,
    /// the demo counters); when it fails the autopilot holds at once.
    pub metrics_source: Option<SourceId>,
}

impl Tracked {
    /// Its whole chart history is kept even off screen: its autopilot or adviser judges it.
    pub fn keeps_history(&self) -> bool {
        self.autopilot.is_some() || self.adviser.is_some()
    }

    /// Adds a timeline event, keeping the last 200.
    pub fn event(&mut self, at: SystemTime, level: Level, text: impl Into<String>) {
        self.events.push_back(TimelineEvent {
            at,
            level,
            text: text.into(),
        });
        while self.events.len() > 200 {
            self.events.pop_front();
        }
    }
}

/// A transient message at the bottom of the screen.
#[derive(Clone, Debug, PartialEq)]
pub struct Toast {
    /// Severity.
    pub level: Level,
    /// Text.
    pub text: String,
    /// When it was raised (it fades after a few seconds).
    pub at: SystemTime,
}

/// A dialog waiting for the operator.
#[derive(Clone, Debug, PartialEq)]
pub enum Modal {
    /// Promote, abort or set-weight, waiting for `y`.
    Confirm(Confirm),
    /// `w`: typing a weight.
    Prompt {
        /// Rollout.
        target: RolloutKey,
        /// What was typed.
        input: String,
        /// Why the last Enter was refused.
        error: Option<String>,
        /// The rollout as the prompt showed it: the confirm that follows is bound to it.
        seen: Seen,
    },
    /// `q` while canaries aviary drives sit between 0 % and 100 %: quitting leaves them there.
    Quit {
        /// Each such rollout and its canary weight.
        midway: Vec<(RolloutKey, Weight)>,
    },
}

/// What a dialog showed of its rollout. `y` acts only if the rollout still looks like this,
/// so the operator never confirms one action and gets another.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    /// Canary weight.
    pub weight: Weight,
    /// Phase.
    pub phase: crate::domain::Phase,
    /// Object version, where the router has one.
    pub version: Option<String>,
}

impl Seen {
    /// The rollout as it looks now.
    pub fn of(t: &Tracked) -> Seen {
        Seen {
            weight: t.rollout.canary_weight(),
            phase: t.rollout.phase.clone(),
            version: t.rollout.version.clone(),
        }
    }

    /// What changed since, in words ("canary 50% → 100%"), or `None` if nothing did.
    pub fn changed(&self, now: &Seen) -> Option<String> {
        let mut what = Vec::new();
        if self.weight != now.weight {
            what.push(format!("canary {} → {}", self.weight, now.weight));
        }
        if self.phase != now.phase {
            what.push(format!(
                "phase {} → {}",
                self.phase.label(),
                now.phase.label()
            ));
        }
        if what.is_empty() && self.version != now.version {
            what.push("the object was updated".to_string());
        }
        (!what.is_empty()).then(|| what.join(", "))
    }
}

/// What a confirm dialog will do, named in full before `y`.
#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    /// Rollout.
    pub target: RolloutKey,
    /// The command `y` sends.
    pub command: Command,
    /// Canary weight now.
    pub current: Weight,
    /// Canary weight after.
    pub resulting: Weight,
    /// Rounding, ownership or evidence notes.
    pub note: Option<String>,
    /// The rollout as the dialog showed it.
    pub seen: Seen,
}

pub use crate::keymap::SortCol;

/// The overview's order: a column and a direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sort {
    /// By what.
    pub col: SortCol,
    /// Reversed.
    pub reverse: bool,
}

/// Which kinds the overview shows (`:kind`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KindFilter {
    /// Everything.
    #[default]
    All,
    /// Argo and OpenKruise `Rollout`s.
    Rollouts,
    /// Flagger `Canary`s.
    Canaries,
    /// Raw routes (VirtualService, HTTPRoute, TrafficSplit, Ingress, HAProxy, Consul, demo).
    Routes,
}

impl KindFilter {
    /// True when a rollout from `p` is shown.
    pub fn shows(self, p: crate::domain::ProviderKind) -> bool {
        use crate::domain::ProviderKind as P;
        match self {
            KindFilter::All => true,
            KindFilter::Rollouts => matches!(p, P::Argo | P::Kruise),
            KindFilter::Canaries => p == P::Flagger,
            KindFilter::Routes => !matches!(p, P::Argo | P::Kruise | P::Flagger),
        }
    }
}

/// The one comparator of the overview: the chosen column, then the key, so equal rows keep
/// one order however often live updates arrive (the selection stays on its row).
pub fn compare(sort: Sort, a: &Tracked, b: &Tracked) -> std::cmp::Ordering {
    let (ra, rb) = (&a.rollout, &b.rollout);
    let by = match sort.col {
        SortCol::Phase => ra.phase.urgency().cmp(&rb.phase.urgency()),
        SortCol::Name => ra.key.name.cmp(&rb.key.name),
        SortCol::Context => ra.key.context.cmp(&rb.key.context),
        SortCol::Namespace => ra.key.namespace.cmp(&rb.key.namespace),
        SortCol::Weight => ra.canary_weight().cmp(&rb.canary_weight()),
        // Oldest first, as `kubectl get --sort-by=.metadata.creationTimestamp`.
        SortCol::Age => ra.created.cmp(&rb.created),
        // Most recent change first.
        SortCol::Changed => b.last_change.cmp(&a.last_change),
    };
    let by = if sort.reverse { by.reverse() } else { by };
    by.then_with(|| ra.key.cmp(&rb.key))
}

/// The `:` command line being typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// What was typed after `:`.
    pub input: String,
}

/// Screen-level state of the TUI; plain data so render stays a function of `App`.
#[derive(Clone, Debug, Default)]
pub struct UiState {
    /// Selected rollout.
    pub selected: Option<RolloutKey>,
    /// Detail view open.
    pub detail: bool,
    /// Row filter text.
    pub filter: String,
    /// Typing into the filter.
    pub filter_editing: bool,
    /// Help overlay shown.
    pub help: bool,
    /// Log pane shown.
    pub log_pane: bool,
    /// Current terminal size.
    pub size: (u16, u16),
    /// Open dialog.
    pub modal: Option<Modal>,
    /// Index into the loaded themes (`t` cycles).
    pub theme_index: usize,
    /// Names of the loaded themes, for cycling and toasts.
    pub theme_names: Vec<String>,
    /// The keymap in force.
    pub keymap: crate::keymap::Keymap,
    /// How much history the detail charts show (`z`).
    pub chart_window: crate::keymap::ChartWindow,
    /// The overview's order.
    pub sort: Sort,
    /// `:` line open.
    pub command: Option<CommandLine>,
    /// `:ns NAME` (`None`: all namespaces).
    pub namespace: Option<String>,
    /// `:ctx NAME` (`None`: every context).
    pub context: Option<String>,
    /// `:kind`.
    pub kind: KindFilter,
    /// Lines scrolled back in the detail's events.
    pub events_scroll: usize,
    /// The last click on a row, for double-click: the row and when.
    pub last_click: Option<(RolloutKey, SystemTime)>,
}

/// The whole application state.
#[derive(Debug)]
pub struct App {
    /// Time of the last tick: render and update read this, never the clock.
    pub now: SystemTime,
    /// When the session started (headless `t`).
    pub started: SystemTime,
    /// `--read-only`: refuse every write.
    pub read_only: bool,
    /// The judge the autopilot consults.
    pub judge: Arc<dyn Judge>,
    /// Plan for autopilot rollouts that bring none of their own.
    pub default_plan: Plan,
    /// `--manual`: new autopilot rollouts start paused.
    pub start_paused: bool,
    /// Metrics older than this make the autopilot hold.
    pub stale_after: Duration,
    /// Rollouts by key. Boxed: a map's nodes hold their values inline and run a third
    /// empty on average, which at 870 bytes a rollout is worth a pointer.
    pub rollouts: BTreeMap<RolloutKey, Box<Tracked>>,
    /// Keys of the rollouts with an autopilot or an adviser, the only ones a tick visits (a
    /// thousand controller-run rollouts should cost the clock nothing). May still hold a key
    /// whose rollout is gone; the tick drops it.
    pub driven: BTreeSet<RolloutKey>,
    /// Data sources and their health.
    pub sources: BTreeMap<SourceId, SourceStatus>,
    /// A source listed everything and found nothing to show (what it looked for, where);
    /// cleared when a rollout appears.
    pub nothing_found: Option<String>,
    /// Last toast.
    pub toast: Option<Toast>,
    /// Screen state.
    pub ui: UiState,
    /// Set when the session should end.
    pub should_quit: bool,
    /// Next write id.
    pub next_op: u64,
    /// Shutting down: no new writes; writes in flight drain until this deadline.
    pub shutdown: Option<SystemTime>,
    /// The audit log failed under a break-glass abort: shown until the session ends.
    pub audit_warning: Option<String>,
    /// The overview's rows in table order, rebuilt only when one can have moved.
    rows: Rows,
}

impl App {
    /// A fresh app at `now` with the given plan.
    pub fn new(now: SystemTime, default_plan: Plan) -> Self {
        App {
            now,
            started: now,
            read_only: false,
            judge: Arc::new(ThresholdJudge),
            default_plan,
            start_paused: false,
            stale_after: Duration::from_secs(3),
            rollouts: BTreeMap::new(),
            driven: BTreeSet::new(),
            sources: BTreeMap::new(),
            nothing_found: None,
            toast: None,
            ui: UiState::default(),
            should_quit: false,
            next_op: 1,
            shutdown: None,
            audit_warning: None,
            rows: Rows::default(),
        }
    }

    /// Raises a toast.
    pub fn toast(&mut self, level: Level, text: impl Into<String>) {
        self.toast = Some(Toast {
            level,
            text: text.into(),
            at: self.now,
        });
    }

    /// Age of a source's last good answer, `None` if it never answered.
    pub fn source_age(&self, source: &SourceId) -> Option<Duration> {
        self.sources
            .get(source)
            .and_then(|s| s.last_ok)
            .map(|t| self.now.duration_since(t).unwrap_or_default())
    }

    /// True when a source has not answered within `stale_after` or last failed.
    pub fn is_stale(&self, source: &SourceId) -> bool {
        match self.sources.get(source) {
            None => false,
            Some(s) => {
                s.last_error.is_some()
                    || self
                        .source_age(source)
                        .is_none_or(|age| age > self.stale_after)
            }
        }
    }

    /// The keys of the rows shown in the table, in order (a copy of [`App::rows`]).
    pub fn visible_keys(&self) -> Vec<RolloutKey> {
        self.rows().to_vec()
    }

    /// The distinct namespaces, in order (the NAMESPACE column shows only with several).
    pub fn namespaces(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .rollouts
            .keys()
            .filter_map(|k| k.namespace.as_deref())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The distinct contexts, in order (the CONTEXT column shows only with several).
    pub fn contexts(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .rollouts
            .keys()
            .filter_map(|k| k.context.as_deref())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The selected rollout, if it still exists.
    pub fn selected(&self) -> Option<&Tracked> {
        self.ui
            .selected
            .as_ref()
            .and_then(|k| self.rollouts.get(k).map(|t| &**t))
    }

    /// The source that makes this rollout's data stale, if any: its provider, or the
    /// metrics source its autopilot judges (a dead Prometheus behind a live router).
    pub fn stale_source<'a>(&self, t: &'a Tracked) -> Option<&'a SourceId> {
        std::iter::once(&t.source)
            .chain(t.metrics_source.as_ref())
            .find(|s| self.is_stale(s))
    }

    /// Canaries aviary drives (no controller to finish the job) that sit between 0 % and
    /// 100 % on a router that outlives aviary: quitting leaves them there. The demo's router
    /// lives in this process, so it is never listed.
    pub fn midway(&self) -> Vec<(RolloutKey, Weight)> {
        self.rollouts
            .values()
            .filter(|t| {
                t.rollout.owner == crate::domain::Owner::Autopilot
                    && t.rollout.key.provider != crate::domain::ProviderKind::Demo
            })
            // A write in flight lands before aviary exits: judge by where it is going.
            .map(|t| {
                let w = t.pending.as_ref().and_then(|p| p.requested);
                (
                    t.rollout.key.clone(),
                    w.unwrap_or(t.rollout.canary_weight()),
                )
            })
            .filter(|(_, w)| *w != Weight::ZERO && *w != Weight::FULL)
            .collect()
    }

    /// Rollouts sorted "needs a human first", then by key.
    pub fn sorted_keys(&self) -> Vec<RolloutKey> {
        let mut v: Vec<&Tracked> = self.rollouts.values().map(|t| &**t).collect();
        v.sort_by_key(|t| t.rollout.phase.urgency());
        v.into_iter().map(|t| t.rollout.key.clone()).collect()
    }
}
