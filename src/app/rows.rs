//! The overview's rows in table order, kept between frames. Sorting and filtering ten
//! thousand rollouts costs milliseconds, far more than drawing one screen of them, so
//! `update` redoes it only when a rollout's place can have moved (one was added or removed,
//! or its phase, weight, owner or age changed) or the view did (filter, sort, scope); a frame
//! only reads the result.

use super::{App, KindFilter, Sort, Tracked, UiState, compare};
use crate::domain::RolloutKey;

/// What the rows depend on besides the rollouts themselves.
#[derive(Clone, Debug, Default, PartialEq)]
struct View {
    filter: String,
    sort: Sort,
    namespace: Option<String>,
    context: Option<String>,
    kind: KindFilter,
}

impl View {
    fn of(ui: &UiState) -> View {
        View {
            filter: ui.filter.clone(),
            sort: ui.sort,
            namespace: ui.namespace.clone(),
            context: ui.context.clone(),
            kind: ui.kind,
        }
    }

    fn is(&self, ui: &UiState) -> bool {
        self.filter == ui.filter
            && self.sort == ui.sort
            && self.namespace == ui.namespace
            && self.context == ui.context
            && self.kind == ui.kind
    }
}

/// The table's rows and what its columns need to know of every rollout.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    keys: Vec<RolloutKey>,
    /// The view the rows were built for; `None` once a rollout may have moved since.
    built_for: Option<View>,
    /// Distinct namespaces of all rollouts, in order.
    namespaces: Vec<String>,
    /// Distinct contexts of all rollouts, in order.
    contexts: Vec<String>,
    /// Some rollout has a creation time (the AGE column shows).
    any_created: bool,
    /// Rollouts already in the rows whose place may have changed since: each is moved alone
    /// (a binary search), not the whole table sorted again.
    moved: Vec<RolloutKey>,
}

/// More moved rollouts than this between two refreshes sort the whole table instead.
const MOVE_ALONE: usize = 32;

impl Rows {
    fn built(&self, ui: &UiState) -> bool {
        self.built_for.as_ref().is_some_and(|v| v.is(ui))
    }

    fn fresh(&self, ui: &UiState) -> bool {
        self.built(ui) && self.moved.is_empty()
    }
}

/// Whether `t` passes the view's scope and `/` filter (`filter` already lowercased).
fn passes(ui: &UiState, filter: &str, t: &Tracked) -> bool {
    let k = &t.rollout.key;
    let scoped = ui.kind.shows(k.provider)
        && ui
            .namespace
            .as_ref()
            .is_none_or(|n| k.namespace.as_ref() == Some(n))
        && ui
            .context
            .as_ref()
            .is_none_or(|c| k.context.as_ref() == Some(c));
    let r = &t.rollout;
    scoped
        && (filter.is_empty()
            || r.key.to_string().to_lowercase().contains(filter)
            || r.owner.to_string().contains(filter)
            || r.phase.label().to_lowercase().contains(filter))
}

fn distinct<'a>(v: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v: Vec<&str> = v.collect();
    v.sort_unstable();
    v.dedup();
    v.into_iter().map(str::to_string).collect()
}

impl App {
    /// Says a rollout was added or removed, or its phase, weight, owner or age changed: the
    /// rows are rebuilt at the end of this `update`.
    pub fn rows_moved(&mut self) {
        self.rows.built_for = None;
        self.rows.moved.clear();
    }

    /// Says the rollout `key`, already in the app, may have changed its place (phase, weight,
    /// owner or age): only its row is moved at the end of this `update`.
    pub fn row_moved(&mut self, key: &RolloutKey) {
        if self.rows.built_for.is_none() {
            return;
        }
        if self.rows.moved.len() >= MOVE_ALONE {
            self.rows_moved();
        } else if !self.rows.moved.contains(key) {
            self.rows.moved.push(key.clone());
        }
    }

    /// Rebuilds the rows if a rollout moved or the view changed since they were built;
    /// otherwise costs a comparison. `update` calls it after every message; code that
    /// changes rollouts outside `update` (a replay, a test) calls it before reading rows.
    pub fn refresh_rows(&mut self) {
        if self.rows.fresh(&self.ui) {
            return;
        }
        if self.rows.built(&self.ui) && self.move_alone() {
            return;
        }
        let keys = self.compute_rows();
        self.rows = Rows {
            keys,
            built_for: Some(View::of(&self.ui)),
            namespaces: distinct(self.rollouts.keys().filter_map(|k| k.namespace.as_deref())),
            contexts: distinct(self.rollouts.keys().filter_map(|k| k.context.as_deref())),
            any_created: self.rollouts.values().any(|t| t.rollout.created.is_some()),
            moved: Vec::new(),
        };
    }

    /// Moves each moved row to its place by itself; false (nothing done) when one of them
    /// needs the whole table rebuilt: it is gone, or it lost the only creation time.
    fn move_alone(&mut self) -> bool {
        let f = self.ui.filter.to_lowercase();
        let sort = self.ui.sort;
        for key in &self.rows.moved {
            let Some(t) = self.rollouts.get(key) else {
                return false;
            };
            if self.rows.any_created && t.rollout.created.is_none() {
                return false;
            }
        }
        for key in std::mem::take(&mut self.rows.moved) {
            if let Some(i) = self.rows.keys.iter().position(|k| *k == key) {
                self.rows.keys.remove(i);
            }
            let Some(t) = self.rollouts.get(&key) else {
                continue;
            };
            self.rows.any_created |= t.rollout.created.is_some();
            if !passes(&self.ui, &f, t) {
                continue;
            }
            let rollouts = &self.rollouts;
            let at = self
                .rows
                .keys
                .partition_point(|k| rollouts.get(k).is_some_and(|o| compare(sort, o, t).is_lt()));
            self.rows.keys.insert(at, key);
        }
        true
    }

    /// The rows from scratch: scoped, filtered by `/` text, sorted.
    fn compute_rows(&self) -> Vec<RolloutKey> {
        let f = self.ui.filter.to_lowercase();
        let mut v: Vec<&Tracked> = self
            .rollouts
            .values()
            .filter(|t| passes(&self.ui, &f, t))
            .collect();
        let sort = self.ui.sort;
        v.sort_by(|a, b| compare(sort, a, b));
        v.into_iter().map(|t| t.rollout.key.clone()).collect()
    }

    /// Panics (in debug builds, so in every test) when what is kept differs from a full scan:
    /// the rows from rows built from scratch (some change did not call [`App::rows_moved`]),
    /// or a driven rollout missing from [`App::driven`].
    pub fn check_indexes(&self) {
        if cfg!(debug_assertions) && self.rows.fresh(&self.ui) {
            assert_eq!(
                self.rows.keys,
                self.compute_rows(),
                "the overview's rows missed a change"
            );
            assert!(
                self.rollouts
                    .values()
                    .filter(|t| t.autopilot.is_some() || t.adviser.is_some())
                    .all(|t| self.driven.contains(&t.rollout.key)),
                "a driven rollout the tick would not visit"
            );
        }
    }

    /// The overview's rows in table order. Current after every `update`.
    pub fn rows(&self) -> &[RolloutKey] {
        debug_assert!(
            self.rows.fresh(&self.ui),
            "rows read before refresh_rows after a change"
        );
        &self.rows.keys
    }

    /// The distinct namespaces of all rollouts, in order (the NAMESPACE column shows only
    /// with several), as of the last [`App::refresh_rows`].
    pub fn row_namespaces(&self) -> &[String] {
        &self.rows.namespaces
    }

    /// The distinct contexts of all rollouts, in order, as of the last
    /// [`App::refresh_rows`].
    pub fn row_contexts(&self) -> &[String] {
        &self.rows.contexts
    }

    /// Some rollout has a creation time, as of the last [`App::refresh_rows`].
    pub fn rows_have_age(&self) -> bool {
        self.rows.any_created
    }
}

impl App {
    /// Moves the selection `delta` rows up (negative) or down the table, stopping at its ends.
    pub fn move_selection(&mut self, delta: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let i = self
            .ui
            .selected
            .as_ref()
            .and_then(|s| rows.iter().position(|k| k == s))
            .unwrap_or(0) as isize;
        let j = (i + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.ui.selected = Some(rows[j].clone());
    }

    /// A row hidden by a filter or by `:ns`, `:ctx` or `:kind` is no longer selected: a key
    /// must act only on a row the screen shows. The first row shown is selected instead
    /// (none when nothing matches).
    pub fn keep_selection_shown(&mut self) {
        self.refresh_rows();
        let rows = self.rows();
        if self.ui.selected.as_ref().is_none_or(|s| !rows.contains(s)) {
            self.ui.selected = rows.first().cloned();
        }
    }
}
