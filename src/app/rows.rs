//! The overview's rows in table order, kept between frames. Sorting and filtering ten
//! thousand rollouts costs milliseconds, far more than drawing one screen of them, so
//! `update` redoes it only when a rollout's place can have moved (one was added or removed,
//! or its phase, weight, owner or age changed) or the view did (filter, sort, scope); a frame
//! only reads the result. The sorted order is kept apart from the `/` filter, so a keystroke
//! into the filter scans that order once, sorts nothing and copies no key: the rows it keeps
//! are indexes into the order.

use super::{App, KindFilter, Sort, Tracked, UiState, compare};
use crate::domain::RolloutKey;
use memchr::memmem;

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
    /// The indexes into `order` of the rows the filter keeps, ascending; `None` while the
    /// filter is empty (the rows are `order` itself).
    filtered: Option<Vec<u32>>,
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

    fn keys(&self) -> RowKeys<'_> {
        RowKeys {
            order: &self.order,
            kept: self.filtered.as_deref(),
        }
    }
}

/// The overview's rows in table order, as [`App::rows`] lends them: the sorted order itself,
/// or the part of it the `/` filter keeps.
#[derive(Clone, Copy, Debug)]
pub struct RowKeys<'a> {
    order: &'a [RolloutKey],
    kept: Option<&'a [u32]>,
}

impl<'a> RowKeys<'a> {
    /// How many rows there are.
    pub fn len(&self) -> usize {
        self.kept.map_or(self.order.len(), <[u32]>::len)
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key of row `i`, counted from the top.
    pub fn get(&self, i: usize) -> Option<&'a RolloutKey> {
        match self.kept {
            None => self.order.get(i),
            Some(kept) => kept.get(i).map(|&j| &self.order[j as usize]),
        }
    }

    /// The first row's key.
    pub fn first(&self) -> Option<&'a RolloutKey> {
        self.get(0)
    }

    /// The last row's key.
    pub fn last(&self) -> Option<&'a RolloutKey> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    /// Every row's key, top to bottom.
    pub fn iter(&self) -> impl Iterator<Item = &'a RolloutKey> + 'a {
        self.window(0, usize::MAX)
    }

    /// At most `take` rows from row `skip` on: what a screen of them draws, reached without
    /// walking the rows above it.
    pub fn window(&self, skip: usize, take: usize) -> impl Iterator<Item = &'a RolloutKey> + 'a {
        let (order, kept) = (self.order, self.kept);
        let n = self.len();
        let end = skip.saturating_add(take).min(n);
        (skip.min(end)..end).map(move |i| match kept {
            None => &order[i],
            Some(kept) => &order[kept[i] as usize],
        })
    }

    /// The row of `key`, counted from the top.
    pub fn position(&self, key: &RolloutKey) -> Option<usize> {
        self.iter().position(|k| k == key)
    }

    /// Whether a row shows `key`.
    pub fn contains(&self, key: &RolloutKey) -> bool {
        self.position(key).is_some()
    }

    /// The keys, copied.
    pub fn to_vec(&self) -> Vec<RolloutKey> {
        self.iter().cloned().collect()
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

/// The `/` filter, lowercased, ready to match search texts: its substring searcher is built
/// once a keystroke, not once a row as `str::contains` would.
enum Needle {
    /// An empty filter keeps every row.
    All,
    /// A filter across lines matches no row: each line of a search text is one field.
    Nothing,
    /// A searcher for the filter's bytes (boxed: it is a few hundred bytes, built once a
    /// keystroke).
    Find(Box<memmem::Finder<'static>>),
}

impl Needle {
    fn new(filter: &str) -> Needle {
        if filter.is_empty() {
            Needle::All
        } else if filter.contains('\n') {
            Needle::Nothing
        } else {
            Needle::Find(Box::new(
                memmem::Finder::new(filter.to_lowercase().as_bytes()).into_owned(),
            ))
        }
    }

    /// Whether a row's search text passes the filter.
    fn keeps(&self, text: &str) -> bool {
        match self {
            Needle::All => true,
            Needle::Nothing => false,
            Needle::Find(f) => f.find(text.as_bytes()).is_some(),
        }
    }
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
        let needle = Needle::new(&self.ui.filter);
        let kept = (0u32..)
            .zip(&self.rows.texts)
            .filter(|(_, text)| needle.keeps(text))
            .map(|(i, _)| i)
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
        let needle = Needle::new(&self.rows.filter);
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
            // The kept rows are indexes into the order: each moves with the rows around it.
            if let Some(i) = rows.order.iter().position(|k| *k == key) {
                rows.order.remove(i);
                rows.texts.remove(i);
                if let Some(kept) = rows.filtered.as_mut() {
                    let i = i as u32;
                    kept.retain(|&j| j != i);
                    kept.iter_mut().filter(|j| **j > i).for_each(|j| *j -= 1);
                }
            }
            if scoped(&self.ui, t) {
                let text = search_text(t);
                let at = place(&rows.order);
                if let Some(kept) = rows.filtered.as_mut() {
                    let at = at as u32;
                    kept.iter_mut().filter(|j| **j >= at).for_each(|j| *j += 1);
                    if needle.keeps(&text) {
                        let p = kept.partition_point(|&j| j < at);
                        kept.insert(p, at);
                    }
                }
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
        let needle = Needle::new(&self.ui.filter);
        let mut v: Vec<&Tracked> = self
            .rollouts
            .values()
            .map(|t| &**t)
            .filter(|t| scoped(&self.ui, t) && needle.keeps(&search_text(t)))
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
                self.rows.keys().to_vec(),
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
    pub fn rows(&self) -> RowKeys<'_> {
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
            .and_then(|s| rows.position(s))
            .unwrap_or(0) as isize;
        let j = (i + delta).clamp(0, rows.len() as isize - 1) as usize;
        self.ui.selected = rows.get(j).cloned();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProviderKind;

    fn keys(n: usize) -> Vec<RolloutKey> {
        (0..n)
            .map(|i| RolloutKey::new(ProviderKind::Demo, format!("svc-{i}")))
            .collect()
    }

    fn names<'a>(it: impl Iterator<Item = &'a RolloutKey>) -> Vec<&'a str> {
        it.map(|k| k.name.as_str()).collect()
    }

    #[test]
    fn a_filtered_window_reads_the_kept_rows_and_stops_at_the_end() {
        let order = keys(6);
        let kept = [1, 3, 4];
        let rows = RowKeys {
            order: &order,
            kept: Some(&kept),
        };
        assert_eq!(rows.len(), 3);
        assert_eq!(names(rows.iter()), ["svc-1", "svc-3", "svc-4"]);
        assert_eq!(names(rows.window(1, 5)), ["svc-3", "svc-4"]);
        assert!(rows.window(3, 2).next().is_none());
        assert!(rows.window(usize::MAX, usize::MAX).next().is_none());
        assert_eq!(rows.position(&order[4]), Some(2));
        assert!(!rows.contains(&order[2]));
        assert_eq!(rows.last().map(|k| k.name.as_str()), Some("svc-4"));
    }

    #[test]
    fn an_empty_filter_lends_the_order_itself() {
        let order = keys(3);
        let rows = RowKeys {
            order: &order,
            kept: None,
        };
        assert_eq!(names(rows.window(1, 1)), ["svc-1"]);
        assert_eq!(rows.to_vec(), order);
        let none = RowKeys {
            order: &[],
            kept: None,
        };
        assert!(none.is_empty() && none.first().is_none() && none.last().is_none());
    }

    #[test]
    fn a_filter_across_lines_matches_no_field() {
        let text = "istio/team-01/svc-1\nmanual\nidle";
        assert!(Needle::new("").keeps(text));
        assert!(Needle::new("SVC-1").keeps(text));
        assert!(!Needle::new("svc-1\nmanual").keeps(text));
        assert!(!Needle::new("svc-2").keeps(text));
    }
}
