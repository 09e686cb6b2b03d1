//! A map from message id to a small value, for ids that mostly come in
//! increasing order and leave roughly in that order: the live tally's pins.
//!
//! A sender numbers its messages from a block of ids of its own, so a
//! queue's log mostly names consecutive ids, enqueued, delivered and
//! acked in order. For those, a hash map pays a hash and a probe per
//! operation and a rehash of every entry each time it doubles: most of the
//! tally's work once a receive stopped writing per message. Here they sit
//! in a *window*, a ring indexed by `id - base`, where an insert at the end,
//! a lookup and a removal are a subtraction and an index. Everything else
//! (ids below the window, ids far past its end, a second sender's block
//! while the window holds the first's) goes to an [`IdMap`] beside it, as
//! before, so the table is never much slower than the map alone.
//!
//! # Invariants
//!
//! - The window covers ids `base..base + window.len()`; an id in that span
//!   is in the window (`Some`) or nowhere (`None`, a *hole*), never in the
//!   map. Each lookup so looks in exactly one place.
//! - The window's first and last slots are never holes (trimmed at once),
//!   so an empty window holds no live id.
//! - The window grows only at its end, over ids above every id the map
//!   holds (`sparse_max`), or starts over (empty, or once its few ids moved
//!   to the map) at such an id: the ids it comes to cover cannot be in the
//!   map.
//! - Holes are bounded: a gap of at most [`MAX_GAP`] ids is filled with
//!   holes, a wider one goes to the map; and once the window holds more
//!   than [`MAX_HOLES`] holes more than live ids (an old message that stays
//!   while the ones after it are acked), its oldest entries move to the
//!   map. A jump past a window of at most [`MAX_EVICT`] ids moves them to
//!   the map and starts the window over. The memory stays within a few
//!   times that of the live entries.

use std::collections::VecDeque;

use super::live::IdMap;

/// The widest gap in ids that the window fills with holes rather than
/// sending the id to the map.
const MAX_GAP: u64 = 64;

/// How many more holes than live ids the window may hold before its
/// oldest entries move to the map.
const MAX_HOLES: usize = 1024;

/// The most ids a window may hold and still move to the map, to start over
/// at an id too far past its end.
const MAX_EVICT: usize = 64;

/// Values by message id: a window for ids in order, a map for the rest.
#[derive(Debug, Clone)]
pub(crate) struct IdTable<V> {
    /// The values of ids `base..base + window.len()`; `None` where an id
    /// is not in the table.
    window: VecDeque<Option<V>>,
    /// The id of the window's first slot.
    base: u64,
    /// How many slots of the window are `Some`.
    in_window: usize,
    /// The ids outside the window.
    sparse: IdMap<V>,
    /// At least every id in `sparse` (when it is not empty).
    sparse_max: u64,
}

impl<V> Default for IdTable<V> {
    fn default() -> IdTable<V> {
        IdTable {
            window: VecDeque::new(),
            base: 0,
            in_window: 0,
            sparse: IdMap::default(),
            sparse_max: 0,
        }
    }
}

impl<V> IdTable<V> {
    /// The number of ids in the table.
    pub(crate) fn len(&self) -> usize {
        self.in_window + self.sparse.len()
    }

    /// Makes room for `n` more ids in order (replay's estimate).
    pub(crate) fn reserve(&mut self, n: usize) {
        self.window.reserve(n);
    }

    /// Empties the table.
    pub(crate) fn clear(&mut self) {
        self.window.clear();
        self.in_window = 0;
        self.sparse.clear();
        self.sparse_max = 0;
    }

    /// The window slot of `id`, if the window spans it.
    #[inline]
    fn slot(&self, id: u64) -> Option<usize> {
        let offset = id.checked_sub(self.base)?;
        (offset < self.window.len() as u64).then_some(offset as usize)
    }

    /// The first id past the window (`None` past `u64::MAX`).
    fn end(&self) -> Option<u64> {
        self.base.checked_add(self.window.len() as u64)
    }

    /// Whether the window may come to cover ids from `from` up: the map
    /// holds none of them.
    fn free_from(&self, from: u64) -> bool {
        self.sparse.is_empty() || self.sparse_max < from
    }

    /// The value of `id`, to change.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut V> {
        match self.slot(id) {
            Some(slot) => self.window.get_mut(slot)?.as_mut(),
            None if self.sparse.is_empty() => None,
            None => self.sparse.get_mut(&id),
        }
    }

    /// Sets the value of `id`; returns the one it replaces.
    pub(crate) fn insert(&mut self, id: u64, value: V) -> Option<V> {
        if let Some(slot) = self.slot(id) {
            let old = self.window.get_mut(slot)?.replace(value);
            if old.is_none() {
                self.in_window += 1;
            }
            return old;
        }
        if self.window.is_empty() {
            if self.free_from(id) {
                self.base = id;
                self.window.push_back(Some(value));
                self.in_window = 1;
                return None;
            }
        } else if let Some(end) = self.end().filter(|&end| id >= end) {
            // Past the end by at most `MAX_GAP` (usually the next id),
            // and no id of the map in what the window comes to cover.
            if id - end <= MAX_GAP && self.free_from(end) {
                for _ in end..id {
                    self.window.push_back(None);
                }
                self.window.push_back(Some(value));
                self.in_window += 1;
                self.bound_holes();
                return None;
            }
            // A jump past a window of few ids (an old message that stays
            // while those after it come and go, or a new sender's block
            // once the last one's ids are acked): they move to the map and
            // the window starts over at `id`, so that the ids after it
            // need no hashing. Each id moves at most once.
            if self.in_window <= MAX_EVICT && self.free_from(id) {
                self.evict();
                self.base = id;
                self.window.push_back(Some(value));
                self.in_window = 1;
                return None;
            }
        }
        if self.sparse.is_empty() || id > self.sparse_max {
            self.sparse_max = id;
        }
        self.sparse.insert(id, value)
    }

    /// Takes `id` out; returns its value.
    #[inline]
    pub(crate) fn remove(&mut self, id: u64) -> Option<V> {
        match self.slot(id) {
            Some(slot) => {
                let old = self.window.get_mut(slot)?.take();
                if old.is_some() {
                    self.in_window -= 1;
                    self.trim();
                    self.bound_holes();
                }
                old
            }
            None if self.sparse.is_empty() => None,
            None => self.sparse.remove(&id),
        }
    }

    /// Calls `f` on the value of every id in `first..=last`: a step per
    /// slot of the window that the range overlaps, and for the map one
    /// lookup per id of the range or a walk of the map, whichever is
    /// shorter (a crafted log may name a range of 2^64 ids).
    pub(crate) fn for_each_in(&mut self, first: u64, last: u64, mut f: impl FnMut(&mut V)) {
        if let Some((from, to)) = self.overlap(first, last) {
            for value in self.window.range_mut(from..to).flatten() {
                f(value);
            }
        }
        if self.sparse.is_empty() {
            return;
        }
        if last.saturating_sub(first) < self.sparse.len() as u64 {
            for id in first..=last {
                if let Some(value) = self.sparse.get_mut(&id) {
                    f(value);
                }
            }
        } else {
            for (_, value) in self
                .sparse
                .iter_mut()
                .filter(|(&id, _)| first <= id && id <= last)
            {
                f(value);
            }
        }
    }

    /// Takes out every id in `first..=last`, handing each value to `f`
    /// (the same walk as [`for_each_in`](IdTable::for_each_in)).
    pub(crate) fn remove_in(&mut self, first: u64, last: u64, mut f: impl FnMut(V)) {
        if let Some((from, to)) = self.overlap(first, last) {
            let mut taken = 0;
            for value in self.window.range_mut(from..to).filter_map(Option::take) {
                taken += 1;
                f(value);
            }
            if taken > 0 {
                self.in_window -= taken;
                self.trim();
                self.bound_holes();
            }
        }
        if !self.sparse.is_empty() {
            super::ranges::remove_in(&mut self.sparse, first, last, f);
        }
    }

    /// Calls `f` on every value.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&mut V)) {
        self.window.iter_mut().flatten().for_each(&mut f);
        self.sparse.values_mut().for_each(f);
    }

    /// The window slots `from..to` of the ids in `first..=last`, if any.
    fn overlap(&self, first: u64, last: u64) -> Option<(usize, usize)> {
        if self.window.is_empty() || last < self.base || first > last {
            return None;
        }
        let from = first.saturating_sub(self.base);
        let to = (last - self.base).saturating_add(1);
        let len = self.window.len() as u64;
        (from < len).then(|| (from as usize, to.min(len) as usize))
    }

    /// Drops the holes at both ends of the window.
    fn trim(&mut self) {
        while let Some(None) = self.window.front() {
            self.window.pop_front();
            self.base = self.base.wrapping_add(1);
        }
        while let Some(None) = self.window.back() {
            self.window.pop_back();
        }
    }

    /// Moves every id of the window to the map, leaving it empty.
    fn evict(&mut self) {
        let base = self.base;
        for (offset, slot) in self.window.drain(..).enumerate() {
            if let Some(value) = slot {
                let id = base.wrapping_add(offset as u64);
                if self.sparse.is_empty() || id > self.sparse_max {
                    self.sparse_max = id;
                }
                self.sparse.insert(id, value);
            }
        }
        self.in_window = 0;
    }

    /// Moves the window's oldest entries to the map while it holds more
    /// than [`MAX_HOLES`] holes more than live ids: an old id that stays
    /// while those after it come and go must not keep a growing run of
    /// holes behind it. Each id moves at most once, so this costs at most
    /// one map insert per id over the table's life.
    fn bound_holes(&mut self) {
        while self.window.len() - self.in_window > self.in_window + MAX_HOLES {
            let Some(front) = self.window.pop_front() else {
                return;
            };
            let id = self.base;
            self.base = self.base.wrapping_add(1);
            if let Some(value) = front {
                // Below the window from now on; `sparse_max` stays below
                // its end, so the window may still grow.
                self.in_window -= 1;
                if self.sparse.is_empty() || id > self.sparse_max {
                    self.sparse_max = id;
                }
                self.sparse.insert(id, value);
            }
            self.trim();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::fault::Rng;
    use super::*;

    /// Checks `table` against `model`: every id of the model and a few
    /// around them, and the totals.
    fn check(table: &mut IdTable<u64>, model: &BTreeMap<u64, u64>) {
        assert_eq!(table.len(), model.len());
        for (&id, &value) in model {
            assert_eq!(table.get_mut(id).copied(), Some(value), "id {id}");
            for near in [id.wrapping_sub(1), id.wrapping_add(1)] {
                assert_eq!(table.get_mut(near).copied(), model.get(&near).copied());
            }
        }
        let mut all = Vec::new();
        table.for_each(|v| all.push(*v));
        all.sort_unstable();
        let mut expected: Vec<u64> = model.values().copied().collect();
        expected.sort_unstable();
        assert_eq!(all, expected);
        // The invariants that make each lookup look in one place.
        assert!(!matches!(table.window.front(), Some(None)));
        assert!(!matches!(table.window.back(), Some(None)));
        assert_eq!(table.window.iter().flatten().count(), table.in_window);
        for &id in table.sparse.keys() {
            assert!(table.slot(id).is_none(), "{id} is in both");
            assert!(id <= table.sparse_max);
        }
        assert!(table.window.len() - table.in_window <= table.in_window + MAX_HOLES);
    }

    #[test]
    fn acks_out_of_order_and_gaps_keep_every_id() {
        let mut table = IdTable::default();
        let mut model = BTreeMap::new();
        // 1..=100 with a gap at 50..60 (a sender's ids another mailbox
        // took), then a far block (a second sender) and an old id again.
        for id in (1..50).chain(60..=100).chain(1 << 20..(1 << 20) + 10) {
            assert_eq!(table.insert(id, id * 10), None);
            model.insert(id, id * 10);
        }
        check(&mut table, &model);
        // Out of order: the middle first, then the front, then the ends.
        for id in [70, 71, 3, 1, 2, 100, 99, 1 << 20] {
            assert_eq!(table.remove(id), model.remove(&id));
            check(&mut table, &model);
        }
        // An old id comes back (a second enqueue of an acked id): below
        // the window, in the map.
        assert_eq!(table.insert(1, 7), None);
        model.insert(1, 7);
        // A requeue of an old id changes its value in place.
        *table.get_mut(4).unwrap_or(&mut 0) = 44;
        model.insert(4, 44);
        assert_eq!(table.insert(5, 55), Some(50));
        model.insert(5, 55);
        check(&mut table, &model);
        // Ranges across the window, the map and both.
        let mut seen = Vec::new();
        table.for_each_in(0, 10, |v| seen.push(*v));
        seen.sort_unstable();
        assert_eq!(seen, vec![7, 44, 55, 60, 70, 80, 90, 100]);
        let mut removed = Vec::new();
        table.remove_in(45, (1 << 20) + 3, |v| removed.push(v));
        let before = model.len();
        model.retain(|&id, _| !(45..=(1 << 20) + 3).contains(&id));
        // 45..=49, 60..=100 but 70, 71, 99 and 100, and 3 of the far block.
        assert_eq!(removed.len(), 5 + 37 + 3);
        assert_eq!(removed.len(), before - model.len());
        check(&mut table, &model);
        table.remove_in(0, u64::MAX, |_| {});
        model.clear();
        check(&mut table, &model);
        // Empty: the next id starts a window wherever it is.
        assert_eq!(table.insert(u64::MAX, 1), None);
        assert_eq!(table.insert(u64::MAX - 1, 2), None);
        model.extend([(u64::MAX, 1), (u64::MAX - 1, 2)]);
        check(&mut table, &model);
    }

    #[test]
    fn an_old_id_that_stays_does_not_keep_the_ids_after_it_out_of_the_window() {
        let mut table = IdTable::default();
        table.insert(1, 1);
        for id in 2..100_000 {
            table.insert(id, id);
            // The ids after it are in the window, the old one in the map.
            assert!(table.sparse.len() <= 1);
            table.remove(id);
        }
        assert_eq!(table.len(), 1);
        assert_eq!(table.get_mut(1).copied(), Some(1));
        check(&mut table, &BTreeMap::from([(1, 1)]));
    }

    #[test]
    fn holes_between_ids_that_stay_are_bounded() {
        let mut table = IdTable::default();
        for id in 1..=5000 {
            table.insert(id, id);
        }
        // Everything but the ends goes, out of order, in ranges.
        for first in (2..=4999u64).rev().step_by(7) {
            table.remove_in(first.saturating_sub(6).max(2), first, |_| {});
        }
        assert!(table.window.len() <= MAX_HOLES + 2);
        check(&mut table, &BTreeMap::from([(1, 1), (5000, 5000)]));
        // The window goes on at its end.
        table.insert(5001, 5001);
        assert_eq!(table.slot(5001), Some(table.window.len() - 1));
    }

    #[test]
    fn random_operations_agree_with_a_map() {
        let mut rng = Rng::new(7);
        for round in 0..40 {
            let mut table = IdTable::default();
            let mut model = BTreeMap::new();
            // Two senders' blocks, as interleaved as the round says.
            let mut next = [1u64 << 16, 5 << 16];
            for step in 0..3000u64 {
                let roll = rng.below(100);
                let sender = usize::from(rng.below(100) < round * 2);
                if roll < 45 {
                    // The next id of a sender, sometimes after a gap.
                    let gap = if rng.below(20) == 0 {
                        rng.below(200)
                    } else {
                        0
                    };
                    let id = next[sender] + gap;
                    next[sender] = id + 1;
                    assert_eq!(table.insert(id, step), model.insert(id, step));
                } else if roll < 50 {
                    // An old id again, or one far away.
                    let id = if rng.below(2) == 0 {
                        (1 << 16) + rng.below(next[0] - (1 << 16) + 1)
                    } else {
                        rng.below(u64::MAX)
                    };
                    assert_eq!(table.insert(id, step), model.insert(id, step));
                } else if roll < 85 {
                    // An ack, mostly of an old live id.
                    let id = match model.keys().nth(rng.below(4) as usize) {
                        Some(&id) if rng.below(4) > 0 => id,
                        _ => (1 << 16) + rng.below(next[0] - (1 << 16) + 1),
                    };
                    assert_eq!(table.remove(id), model.remove(&id));
                } else if roll < 92 {
                    // A delivery range.
                    let first = (1 << 16) + rng.below(next[0] - (1 << 16) + 1);
                    let last = first + rng.below(70);
                    table.for_each_in(first, last, |v| *v += 1_000_000);
                    for (_, v) in model.range_mut(first..=last) {
                        *v += 1_000_000;
                    }
                } else {
                    // An ack range.
                    let first = (1 << 16) + rng.below(next[0] - (1 << 16) + 1);
                    let last = first + rng.below(300);
                    let mut removed = Vec::new();
                    table.remove_in(first, last, |v| removed.push(v));
                    let mut expected = Vec::new();
                    model.retain(|&id, &mut v| {
                        let gone = (first..=last).contains(&id);
                        if gone {
                            expected.push(v);
                        }
                        !gone
                    });
                    removed.sort_unstable();
                    expected.sort_unstable();
                    assert_eq!(removed, expected);
                }
                if step % 97 == 0 {
                    check(&mut table, &model);
                }
            }
            check(&mut table, &model);
        }
    }
}
