//! The priority backend's lanes: one crossbeam channel per level, and a
//! bitmap of the levels whose lane may hold messages, all without a lock.
//!
//! A push appends to its level's lane, then sets the level's bit if it was
//! not set. A pop finds the highest set bit and takes the front of that
//! lane; when the lane turns out empty it clears the bit, then looks at the
//! lane once more and sets the bit again if a message arrived meanwhile.
//! While pops keep finding such stale bits above set ones (mixed priorities
//! that the receivers keep up with), a take that leaves its lane empty
//! clears the bit at once, the same way (`Lanes::eager`).
//!
//! Why no message is left behind a cleared bit: a push reads the bitmap
//! only after its message is in the lane and a SeqCst fence; a pop clears
//! the bit with a SeqCst operation and looks at the lane after a fence. If
//! the push read the bit as still set, that read came before the clear in
//! the SeqCst order, so the pop's look after the clear sees the message and
//! sets the bit again. Otherwise the push sees the bit clear and sets it.
//!
//! Why the order is strict: a push returns only after its bit is set (or
//! seen set), so a pop that starts after it finds that bit, and takes from
//! the highest set bit down. Within a level, a lane is FIFO (crossbeam's
//! channel keeps each producer's order).
//!
//! Lanes are made by the first push at their level, and the table of them
//! by the first push at all: an idle mailbox pays for neither, and a
//! mailbox that uses two of 256 levels pays for two channels.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::message::Message;
use crate::queue::lane::{Bare, Ends, Form};
use crate::sync::{fence_seqcst, handshake_fence, AtomicU64, OnceLock};

use super::state::level_of;

/// A lane: the channel of one level, in the compact slot of `lane.rs`.
type Lane<T> = Ends<Bare<T>>;

/// The levels' lanes and the bitmap of the ones that may hold messages.
pub(super) struct Lanes<T> {
    /// Bit `p` is set while lane `p` may hold messages (see the module
    /// docs for when it is set and cleared).
    occupied: [AtomicU64; 4],
    /// How many words of `occupied` the levels use (1 for up to 64 levels).
    words: usize,
    /// Number of levels.
    levels: u8,
    /// Whether a take that leaves its lane empty, above another set bit,
    /// clears the lane's bit at once (see `take_or_clear`): set when a pop
    /// finds such a stale bit, cleared when the look finds the lane still
    /// holding messages. A hint, written only when it flips; a std atomic
    /// (not the loom facade's): no outcome depends on it.
    eager: AtomicBool,
    /// One lane per level, each made by its first push; the table made by
    /// the first push at all.
    table: OnceLock<Box<[OnceLock<Lane<T>>]>>,
}

impl<T> Lanes<T> {
    /// No lanes yet, for `levels` levels (1..=255).
    pub(super) fn new(levels: u8) -> Lanes<T> {
        Lanes {
            occupied: [0; 4].map(AtomicU64::new),
            words: usize::from(levels).div_ceil(64),
            levels,
            eager: AtomicBool::new(false),
            table: OnceLock::new(),
        }
    }

    /// The lane of `level`, if a push ever made it.
    #[inline]
    fn lane(&self, level: usize) -> Option<&Lane<T>> {
        self.table.get()?.get(level)?.get()
    }

    /// The lane of `level`, made now if this is its first push.
    #[inline]
    fn lane_or_make(&self, level: usize) -> Option<&Lane<T>> {
        let table = self
            .table
            .get_or_init(|| (0..self.levels).map(|_| OnceLock::new()).collect());
        Some(table.get(level)?.get_or_init(|| Ends::new(None)))
    }

    /// Appends `msg` to its level's lane and publishes the level's bit.
    /// Ends with a SeqCst fence after the message is in its lane, which the
    /// caller's look at parked receivers relies on too.
    #[inline]
    pub(super) fn push(&self, msg: Message<T>) -> Result<(), Message<T>> {
        let level = level_of(&msg, self.levels);
        let Some(lane) = self.lane_or_make(level) else {
            return Err(msg);
        };
        lane.try_send(msg).map_err(|err| err.into_inner())?;
        self.publish(level);
        Ok(())
    }

    /// After a message went into `level`'s lane: the fence, then the
    /// level's bit set if it was not.
    #[inline(always)]
    fn publish(&self, level: usize) {
        fence_seqcst();
        let (word, bit) = (level >> 6, 1u64 << (level & 63));
        if self.occupied[word].load(Ordering::Relaxed) & bit == 0 {
            self.occupied[word].fetch_or(bit, Ordering::SeqCst);
            // Orders the bit before the caller's look at parked receivers
            // (SeqCst does on hardware; loom needs the fence).
            handshake_fence();
        }
    }

    /// The highest level whose bit is set.
    #[inline]
    pub(super) fn highest(&self) -> Option<usize> {
        (0..self.words).rev().find_map(|word| {
            let bits = self.occupied[word].load(Ordering::SeqCst);
            (bits != 0).then(|| word * 64 + 63 - bits.leading_zeros() as usize)
        })
    }

    /// The lowest level whose bit is set.
    pub(super) fn lowest(&self) -> Option<usize> {
        (0..self.words).find_map(|word| {
            let bits = self.occupied[word].load(Ordering::SeqCst);
            (bits != 0).then(|| word * 64 + bits.trailing_zeros() as usize)
        })
    }

    /// Whether any bit is set: some lane may hold a message.
    #[inline]
    pub(super) fn any(&self) -> bool {
        self.occupied[..self.words]
            .iter()
            .any(|word| word.load(Ordering::SeqCst) != 0)
    }

    /// Takes the front of the highest lane that holds a message.
    /// `reopened` runs when a bit is set again after a clear (see
    /// `take_or_clear`).
    #[inline]
    pub(super) fn pop_highest(&self, reopened: impl Fn()) -> Option<Message<T>> {
        loop {
            let level = self.highest()?;
            if let Some(msg) = self.take_or_clear(level, &reopened) {
                return Some(msg);
            }
        }
    }

    /// Takes the front of `level`'s lane; if it is empty, clears the
    /// level's bit and returns `None`, so that the caller looks again. A
    /// take that leaves the lane empty clears the bit too, if a lower
    /// level's bit is set.
    ///
    /// If a message arrived meanwhile, the bit is set again (see the module
    /// docs) and `reopened` runs: while the bit was clear, a receiver about
    /// to park may have looked at the bitmap, found nothing and parked,
    /// after the message's push had looked for parked receivers and found
    /// none. The caller wakes one for it.
    #[inline]
    pub(super) fn take_or_clear(&self, level: usize, reopened: &impl Fn()) -> Option<Message<T>> {
        let (word, bit) = (level >> 6, 1u64 << (level & 63));
        let Some(lane) = self.lane(level) else {
            // A bit is set only after its lane is made; clear a stray one
            // rather than loop on it.
            self.occupied[word].fetch_and(!bit, Ordering::SeqCst);
            return None;
        };
        if let Ok(slot) = lane.try_recv_slot() {
            // A lane left empty while a lower one has its bit set costs the
            // next pop a failed take before it clears the bit: in
            // mixed-priority traffic that keeps up with its senders, nearly
            // one per message. Clearing it now costs one look, wasted when
            // the lane holds more: so only while such looks pay off.
            if self.eager.load(Ordering::Relaxed) && self.set_below(word, bit) {
                if lane.is_empty() {
                    self.clear(word, bit, lane, reopened);
                } else {
                    self.eager.store(false, Ordering::Relaxed);
                }
            }
            return Some(slot.unpack());
        }
        if !self.eager.load(Ordering::Relaxed) && self.set_below(word, bit) {
            // A stale bit above a set one: looks after a take would pay.
            self.eager.store(true, Ordering::Relaxed);
        }
        self.clear(word, bit, lane, reopened);
        None
    }

    /// Whether a level below `word`'s `bit` has its bit set (a hint).
    #[inline(always)]
    fn set_below(&self, word: usize, bit: u64) -> bool {
        self.occupied[word].load(Ordering::Relaxed) & (bit - 1) != 0
            || self.occupied[..word]
                .iter()
                .any(|w| w.load(Ordering::Relaxed) != 0)
    }

    /// Clears the bit of a lane found empty, then looks at the lane again
    /// and sets the bit back if a message arrived meanwhile (see the module
    /// docs and `take_or_clear`).
    #[inline]
    fn clear(&self, word: usize, bit: u64, lane: &Lane<T>, reopened: &impl Fn()) {
        self.occupied[word].fetch_and(!bit, Ordering::SeqCst);
        fence_seqcst();
        if !lane.is_empty() {
            self.occupied[word].fetch_or(bit, Ordering::SeqCst);
            handshake_fence();
            reopened();
        }
    }

    /// Whether no lane holds a message (a snapshot, cheaper than `len`:
    /// two loads per made lane).
    pub(super) fn is_empty(&self) -> bool {
        self.table
            .get()
            .is_none_or(|table| table.iter().filter_map(OnceLock::get).all(Ends::is_empty))
    }

    /// Messages in the lanes (a snapshot).
    pub(super) fn len(&self) -> usize {
        self.table.get().map_or(0, |table| {
            table.iter().filter_map(OnceLock::get).map(Ends::len).sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::MessageId;

    /// A stamped message (a lane carries stamped ones lean) at `priority`.
    fn msg(body: u32, priority: u8) -> Message<u32> {
        let mut msg = Message::new(body).priority(priority);
        msg.header_mut()
            .stamp(MessageId::from_raw(u64::from(body) + 1));
        msg
    }

    fn bodies(lanes: &Lanes<u32>) -> Vec<u32> {
        std::iter::from_fn(|| lanes.pop_highest(|| {}))
            .map(|m| *m.body())
            .collect()
    }

    #[test]
    fn the_highest_lane_first_and_each_lane_in_order() {
        let lanes = Lanes::new(70);
        for (body, priority) in [(1, 0), (2, 65), (3, 3), (4, 65), (5, 0), (6, 3)] {
            assert!(lanes.push(msg(body, priority)).is_ok());
        }
        assert_eq!(lanes.len(), 6);
        assert_eq!((lanes.highest(), lanes.lowest()), (Some(65), Some(0)));
        assert_eq!(bodies(&lanes), [2, 4, 3, 6, 1, 5]);
        assert_eq!(lanes.len(), 0);
    }

    #[test]
    fn an_emptied_lane_loses_its_bit_and_a_push_sets_it_again() {
        let lanes = Lanes::new(8);
        assert!(!lanes.any(), "no bit before the first push");
        assert!(lanes.push(msg(1, 5)).is_ok());
        assert_eq!(lanes.highest(), Some(5));
        let reopened = std::cell::Cell::new(0);
        let count = || reopened.set(reopened.get() + 1);
        assert_eq!(lanes.take_or_clear(5, &count).map(|m| *m.body()), Some(1));
        // Taking the last message leaves the bit: only a look that finds
        // the lane empty clears it.
        assert_eq!(lanes.highest(), Some(5));
        assert!(lanes.take_or_clear(5, &count).is_none());
        assert!(!lanes.any(), "the empty lane's bit was cleared");
        assert_eq!(reopened.get(), 0, "nothing arrived while it was clear");
        assert!(lanes.push(msg(2, 5)).is_ok());
        assert_eq!(lanes.highest(), Some(5));
        assert_eq!(bodies(&lanes), [2]);
    }

    #[test]
    fn once_stale_bits_are_seen_a_take_that_empties_its_lane_clears_its_bit() {
        let lanes = Lanes::new(8);
        for (body, priority) in [(1, 0), (2, 1)] {
            assert!(lanes.push(msg(body, priority)).is_ok());
        }
        assert_eq!(lanes.pop_highest(|| {}).map(|m| *m.body()), Some(2));
        assert_eq!(lanes.highest(), Some(1), "lazy at first: the bit stays");
        assert_eq!(lanes.pop_highest(|| {}).map(|m| *m.body()), Some(1));
        // That pop found lane 1's bit stale above lane 0's: now eager.
        for (body, priority) in [(3, 0), (4, 1)] {
            assert!(lanes.push(msg(body, priority)).is_ok());
        }
        assert_eq!(lanes.pop_highest(|| {}).map(|m| *m.body()), Some(4));
        assert_eq!(lanes.highest(), Some(0), "emptied above a set bit: cleared");
        // A look that finds the lane still holding messages ends it.
        for (body, priority) in [(5, 1), (6, 1)] {
            assert!(lanes.push(msg(body, priority)).is_ok());
        }
        assert_eq!(lanes.pop_highest(|| {}).map(|m| *m.body()), Some(5));
        assert_eq!(lanes.pop_highest(|| {}).map(|m| *m.body()), Some(6));
        assert_eq!(lanes.highest(), Some(1), "lazy again: the bit stays");
        assert_eq!(bodies(&lanes), [3]);
    }

    #[test]
    fn a_priority_past_the_levels_goes_to_the_top_lane() {
        let lanes = Lanes::new(3);
        assert!(lanes.push(msg(1, 200)).is_ok());
        assert_eq!(lanes.highest(), Some(2));
        assert_eq!(bodies(&lanes), [1]);
    }
}
