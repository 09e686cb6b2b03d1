//! Delivery ranges: how a delivery is made known to the log without a
//! `write` of its own.
//!
//! A message handed to a consumer must come back flagged as possibly
//! delivered after a process crash, so something that names it must have
//! reached the OS before the consumer has it. A record per delivery costs a
//! `write(2)` per message (10–30x a plain receive). Instead, the first
//! delivery of a message that no range covers writes a `DeliveredRange`
//! naming the next [`RANGE_SPAN`] ids from its own, and the deliveries of
//! the ids it covers write nothing: a sender numbers its messages from a
//! block of its own, so a consumer taking them in order finds most of them
//! covered.
//!
//! After a crash, replay flags every live message that a range covers:
//! those enqueued before it, and those enqueued after it while it was among
//! the last [`RANGES`] ranges of the log (an id a sender had not logged yet
//! when the range was written is covered too, so it must be flagged too). A
//! `Requeued` after a range ends its cover for that message: its next
//! delivery writes a `Delivered` of its own (the writer keeps the requeued
//! ids). A `CleanClose` ends every range.
//!
//! The price is that a crash may flag messages that were never delivered:
//! the live ids a range covers past the consumers' position, at most
//! `RANGE_SPAN - 1` per range, [`RANGES`] ranges. The writer, the live
//! tally and replay each keep the last `RANGES` ranges in log order by the
//! same rule ([`Ranges`]), so that what the writer takes as covered, the
//! tally pins and replay flags.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;

/// How many ids a new range covers, from the delivered one up.
pub(crate) const RANGE_SPAN: u64 = 64;

/// How many of the latest ranges cover deliveries (and later enqueues).
pub(crate) const RANGES: usize = 8;

/// The last [`RANGES`] ranges in log order, each with a tag: the writer's
/// sequence number of the record, the tally's segment, replay's sequence
/// number.
#[derive(Debug, Default, Clone)]
pub(crate) struct Ranges {
    /// `(first, last, tag)`, oldest first.
    ring: VecDeque<(u64, u64, u64)>,
}

impl Ranges {
    /// Adds a range; returns the tag of the one it pushed out, if any.
    pub(crate) fn push(&mut self, first: u64, last: u64, tag: u64) -> Option<u64> {
        let evicted = if self.ring.len() >= RANGES {
            self.ring.pop_front().map(|(_, _, tag)| tag)
        } else {
            None
        };
        self.ring.push_back((first, last, tag));
        evicted
    }

    /// The tag of the newest range that covers `id`.
    #[inline]
    pub(crate) fn find(&self, id: u64) -> Option<u64> {
        self.ring
            .iter()
            .rev()
            .find(|&&(first, last, _)| first <= id && id <= last)
            .map(|&(_, _, tag)| tag)
    }

    /// The newest range: `(first, last, tag)`.
    pub(crate) fn newest(&self) -> Option<(u64, u64, u64)> {
        self.ring.back().copied()
    }

    /// Forgets every range; returns their tags.
    pub(crate) fn clear(&mut self) -> Vec<u64> {
        self.ring.drain(..).map(|(_, _, tag)| tag).collect()
    }

    /// Forgets the ranges tagged `tag`.
    pub(crate) fn remove_tag(&mut self, tag: u64) {
        self.ring.retain(|&(_, _, t)| t != tag);
    }
}

/// The ids of `first..=last` that `has` says are live, found by walking
/// the range or the `live` ids, whichever is shorter (a crafted log may
/// name a range of 2^64 ids).
pub(crate) fn live_in<'a>(
    first: u64,
    last: u64,
    live: usize,
    ids: impl Iterator<Item = &'a u64>,
    has: impl Fn(u64) -> bool,
) -> Vec<u64> {
    if last.saturating_sub(first) < live as u64 {
        (first..=last).filter(|&id| has(id)).collect()
    } else {
        ids.copied()
            .filter(|&id| first <= id && id <= last)
            .collect()
    }
}

/// Removes the entries of ids `first..=last` from `map` (an ack run's
/// live messages), handing each value to `removed`: one lookup per id of
/// the range, or a walk of the map if the range is wider than it (a
/// crafted log may name a range of 2^64 ids). A callback rather than a
/// `Vec` of the values: collecting them cost as much as the removals.
pub(crate) fn remove_in<V, S: BuildHasher>(
    map: &mut HashMap<u64, V, S>,
    first: u64,
    last: u64,
    mut removed: impl FnMut(V),
) {
    if last.saturating_sub(first) < map.len() as u64 {
        for id in first..=last {
            if let Some(value) = map.remove(&id) {
                removed(value);
            }
        }
    } else {
        let ids: Vec<u64> = map
            .keys()
            .copied()
            .filter(|&id| first <= id && id <= last)
            .collect();
        for id in ids {
            if let Some(value) = map.remove(&id) {
                removed(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_range_wins_and_the_oldest_goes() {
        let mut ranges = Ranges::default();
        assert_eq!(ranges.push(10, 20, 1), None);
        assert_eq!(ranges.push(15, 30, 2), None);
        assert_eq!(ranges.find(16), Some(2));
        assert_eq!(ranges.find(10), Some(1));
        assert_eq!(ranges.find(31), None);
        for tag in 3..=8 {
            assert_eq!(ranges.push(100 * tag, 100 * tag, tag), None);
        }
        assert_eq!(ranges.push(1000, 1001, 9), Some(1));
        assert_eq!(ranges.find(10), None);
        assert_eq!(ranges.clear().len(), RANGES);
    }

    #[test]
    fn remove_in_takes_the_range_from_either_side() {
        let mut map: HashMap<u64, char> = [(3, 'a'), (7, 'b'), (900, 'c')].into_iter().collect();
        let take = |map: &mut HashMap<u64, char>, first, last| {
            let mut values = Vec::new();
            remove_in(map, first, last, |value| values.push(value));
            values.sort();
            values
        };
        assert_eq!(take(&mut map, 5, 7), vec!['b']);
        assert_eq!(take(&mut map, 0, u64::MAX), vec!['a', 'c']);
        assert!(map.is_empty());
        assert!(take(&mut map, 0, u64::MAX).is_empty());
    }

    #[test]
    fn live_in_walks_the_shorter_side() {
        let live = [3u64, 7, 900];
        let has = |id: u64| live.contains(&id);
        assert_eq!(live_in(0, u64::MAX, 3, live.iter(), has), vec![3, 7, 900]);
        assert_eq!(live_in(5, 7, 3, live.iter(), has), vec![7]);
    }
}
