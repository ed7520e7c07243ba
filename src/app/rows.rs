//! The overview's rows in table order, kept between frames. Sorting and filtering ten
//! thousand rollouts costs milliseconds, far more than drawing one screen of them, so
//! `update` redoes it only when a rollout's place can have moved (one was added or removed,
//! or its phase, weight, owner or age changed) or the view did (filter, sort, scope); a frame
//! only reads the result. The sorted order is kept apart from the `/` filter, so a keystroke
//! into the filter scans that order once and sorts nothing.

use super::{App, KindFilter, Sort, Tracked, UiState, compare};
use crate::domain::RolloutKey;

/// What the table's order depends on besides the rollouts themselves: everything in the
/// view but the `/` filter.
#[derive(Clone, Debug, Default, PartialEq)]
struct Scope {
    sort: Sort,
    namespace: Option<String>,
    context: Option<String>,
    kind: KindFilter,
}

impl Scope {
    fn of(ui: &UiState) -> Scope {
        Scope {
            sort: ui.sort,
            namespace: ui.namespace.clone(),
            context: ui.context.clone(),
            kind: ui.kind,
        }
    }

    fn is(&self, ui: &UiState) -> bool {
        self.sort == ui.sort
            && self.namespace == ui.namespace
            && self.context == ui.context
            && self.kind == ui.kind
    }
}

/// The table's rows and what its columns need to know of every rollout.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// Every rollout in scope, sorted.
    order: Vec<RolloutKey>,
    /// Each of `order`'s search texts, at the same index.
    texts: Vec<Box<str>>,
    /// The rows of `order` the filter keeps; `None` while the filter is empty (the rows are
    /// `order` itself, held once).
    filtered: Option<Vec<RolloutKey>>,
    /// The scope `order` was built for; `None` once a rollout may have moved since.
    built_for: Option<Scope>,
    /// The filter text `filtered` was built for.
    filter: String,
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
        self.built_for.as_ref().is_some_and(|s| s.is(ui))
    }

    fn fresh(&self, ui: &UiState) -> bool {
        self.built(ui) && self.moved.is_empty() && self.filter == ui.filter
    }

    fn keys(&self) -> &[RolloutKey] {
        self.filtered.as_deref().unwrap_or(&self.order)
    }
}

/// Whether `t` is in the view's scope (`:ns`, `:ctx`, `:kind`).
fn scoped(ui: &UiState, t: &Tracked) -> bool {
    let k = &t.rollout.key;
    ui.kind.shows(k.provider)
        && ui
            .namespace
            .as_ref()
            .is_none_or(|n| k.namespace.as_ref() == Some(n))
        && ui
            .context
            .as_ref()
            .is_none_or(|c| k.context.as_ref() == Some(c))
}

/// What the `/` filter matches: the key, owner and phase, lowercased, kept beside each row
/// so a keystroke into the filter reads ten thousand strings and looks nothing up.
fn search_text(t: &Tracked) -> Box<str> {
    let r = &t.rollout;
    // One field a line: a filter (typed on one line) cannot match across two.
    format!("{}\n{}\n{}", r.key, r.owner, r.phase.label())
        .to_lowercase()
        .into_boxed_str()
}

/// Whether a row's search text passes the `/` filter (`filter` already lowercased).
fn keeps(filter: &str, text: &str) -> bool {
    filter.is_empty() || (!filter.contains('\n') && text.contains(filter))
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

    /// Says the rollout `key` is new or may have changed its place (phase, weight, owner or
    /// age): only its row is moved, or placed, at the end of this `update`.
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
        if !(self.rows.built(&self.ui) && self.move_alone()) {
            let (order, texts) = self.sorted_in_scope().into_iter().unzip();
            self.rows = Rows {
                order,
                texts,
                filtered: None,
                built_for: Some(Scope::of(&self.ui)),
                filter: String::new(),
                namespaces: distinct(self.rollouts.keys().filter_map(|k| k.namespace.as_deref())),
                contexts: distinct(self.rollouts.keys().filter_map(|k| k.context.as_deref())),
                any_created: self.rollouts.values().any(|t| t.rollout.created.is_some()),
                moved: Vec::new(),
            };
        }
        if self.rows.filter != self.ui.filter {
            self.refilter();
        }
    }

    /// Keeps the rows of the sorted order the filter passes: one scan, no sort.
    fn refilter(&mut self) {
        self.rows.filter.clone_from(&self.ui.filter);
        if self.ui.filter.is_empty() {
            self.rows.filtered = None;
            return;
        }
        let f = self.ui.filter.to_lowercase();
        let rows = &self.rows;
        let kept = rows
            .order
            .iter()
            .zip(&rows.texts)
            .filter(|(_, text)| keeps(&f, text))
            .map(|(k, _)| k.clone())
            .collect();
        self.rows.filtered = Some(kept);
    }

    /// Moves each moved row to its place by itself; false (nothing done) when one of them
    /// needs the whole table rebuilt: it is gone, or it lost the only creation time.
    fn move_alone(&mut self) -> bool {
        for key in &self.rows.moved {
            let Some(t) = self.rollouts.get(key) else {
                return false;
            };
            if self.rows.any_created && t.rollout.created.is_none() {
                return false;
            }
        }
        // Matched against the filter the kept rows were built for; `refresh_rows` filters
        // again after if the filter changed too.
        let f = self.rows.filter.to_lowercase();
        let sort = self.ui.sort;
        let rollouts = &self.rollouts;
        let rows = &mut self.rows;
        for key in std::mem::take(&mut rows.moved) {
            let Some(t) = rollouts.get(&key) else {
                continue;
            };
            rows.any_created |= t.rollout.created.is_some();
            // A new rollout may bring a namespace or context; one leaves only by a delete,
            // which rebuilds.
            let k = &t.rollout.key;
            for (have, name) in [
                (&mut rows.namespaces, &k.namespace),
                (&mut rows.contexts, &k.context),
            ] {
                if let Some(name) = name
                    && let Err(at) = have.binary_search(name)
                {
                    have.insert(at, name.clone());
                }
            }
            let place = |keys: &[RolloutKey]| {
                keys.partition_point(|k| {
                    rollouts.get(k).is_some_and(|o| compare(sort, o, t).is_lt())
                })
            };
            if let Some(i) = rows.order.iter().position(|k| *k == key) {
                rows.order.remove(i);
                rows.texts.remove(i);
            }
            let text = search_text(t);
            let in_scope = scoped(&self.ui, t);
            if let Some(filtered) = rows.filtered.as_mut() {
                if let Some(i) = filtered.iter().position(|k| *k == key) {
                    filtered.remove(i);
                }
                if in_scope && keeps(&f, &text) {
                    let at = place(filtered);
                    filtered.insert(at, key.clone());
                }
            }
            if in_scope {
                let at = place(&rows.order);
                rows.order.insert(at, key);
                rows.texts.insert(at, text);
            }
        }
        true
    }

    /// Every rollout in the view's scope, sorted, with its search text.
    fn sorted_in_scope(&self) -> Vec<(RolloutKey, Box<str>)> {
        let mut v: Vec<&Tracked> = self
            .rollouts
            .values()
            .map(|t| &**t)
            .filter(|t| scoped(&self.ui, t))
            .collect();
        let sort = self.ui.sort;
        v.sort_by(|a, b| compare(sort, a, b));
        v.into_iter()
            .map(|t| (t.rollout.key.clone(), search_text(t)))
            .collect()
    }

    /// The rows from scratch: scoped, filtered by `/` text, sorted.
    fn compute_rows(&self) -> Vec<RolloutKey> {
        let f = self.ui.filter.to_lowercase();
        let mut v: Vec<&Tracked> = self
            .rollouts
            .values()
            .map(|t| &**t)
            .filter(|t| scoped(&self.ui, t) && keeps(&f, &search_text(t)))
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
                self.rows.keys(),
                self.compute_rows(),
                "the overview's rows missed a change"
            );
            let keys = || self.rollouts.keys();
            assert_eq!(
                self.rows.namespaces,
                distinct(keys().filter_map(|k| k.namespace.as_deref())),
                "the overview's namespaces missed a change"
            );
            assert_eq!(
                self.rows.contexts,
                distinct(keys().filter_map(|k| k.context.as_deref())),
                "the overview's contexts missed a change"
            );
            assert_eq!(
                self.rows.any_created,
                self.rollouts.values().any(|t| t.rollout.created.is_some()),
                "the overview's AGE column missed a change"
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
        self.rows.keys()
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
