//! What the priority backend's lock protects: one FIFO queue per level for
//! the messages held under the lock (requeued ones, and on a rendezvous
//! queue everything), a bitmap of the levels that hold them, and the
//! rendezvous' hand-offs and offers.
//!
//! Push and pop are O(1): push appends to its level and sets the level's bit;
//! pop finds the highest set bit (at most four word scans for 256 levels) and
//! takes the front of that level. Equal priorities therefore stay strictly
//! FIFO.

use std::collections::VecDeque;

use crate::message::Message;

use super::rendezvous::Rendezvous;

/// What the lock protects. `repr(C)`: the fields every push and pop
/// writes come first, on the lock's cache line (see [`Hot`]); the bitmap,
/// written only when a level fills or empties, on the next.
#[repr(C)]
pub(super) struct State<T> {
    /// Messages held over all levels (not those in the lanes).
    pub(super) len: usize,
    /// Receivers of a rendezvous queue parked on `not_empty`. (A buffered
    /// queue counts its sleeping receivers in `Gate::sleepers`, where
    /// pushers that take no lock can read them.)
    pub(super) parked_receivers: usize,
    /// One FIFO per level, index = priority; empty until the first push
    /// (an idle mailbox does not pay for its levels' queue headers, 32 bytes
    /// each: 256 for 8 levels). Only a set bit of `occupied` leads a pop to a
    /// level, so nothing indexes them before they are made.
    pub(super) queues: Box<[VecDeque<Message<T>>]>,
    /// Bit `p` is set while level `p` holds messages.
    pub(super) occupied: [u64; 4],
    /// No more pushes once set.
    pub(super) closed: bool,
    /// The hand-offs and offers of a rendezvous queue, made by its first push
    /// that needs one; always `None` on other capacities. Boxed, so that they
    /// pay one pointer for it.
    pub(super) rendezvous: Option<Box<Rendezvous<T>>>,
}

/// Which end of its level a message goes to.
#[derive(Clone, Copy)]
pub(super) enum End {
    /// Behind everything queued at its level: a new message.
    Back,
    /// Before everything queued at its level: a requeued message.
    Front,
}

/// The level a message goes to. The mailbox validates priorities; clamp
/// anyway so that a direct user of the backend cannot make it index out of
/// bounds.
#[inline]
pub(super) fn level_of<T>(msg: &Message<T>, levels: u8) -> usize {
    usize::from(msg.header().priority().min(levels - 1))
}

impl<T> State<T> {
    /// An empty, open state; the levels' queues are made by the first push.
    pub(super) fn new() -> State<T> {
        State {
            len: 0,
            parked_receivers: 0,
            queues: Box::default(),
            occupied: [0; 4],
            closed: false,
            rendezvous: None,
        }
    }

    #[inline]
    pub(super) fn push(&mut self, msg: Message<T>, levels: u8, end: End) {
        let level = level_of(&msg, levels);
        // The index check a plain `[level]` makes anyway: its failing side
        // makes the levels (see `queues`), instead of panicking.
        let queue = match self.queues.get_mut(level) {
            Some(queue) => queue,
            None => self.make_levels(levels, level),
        };
        match end {
            End::Back => queue.push_back(msg),
            End::Front => queue.push_front(msg),
        }
        self.occupied[level >> 6] |= 1 << (level & 63);
        self.len += 1;
    }

    /// The first push makes one queue per level (`level_of` keeps `level`
    /// below `levels`), and returns `level`'s.
    #[cold]
    #[inline(never)]
    fn make_levels(&mut self, levels: u8, level: usize) -> &mut VecDeque<Message<T>> {
        let count = usize::from(levels).max(level + 1);
        self.queues = (0..count).map(|_| VecDeque::new()).collect();
        &mut self.queues[level]
    }

    #[inline]
    pub(super) fn pop_highest(&mut self) -> Option<Message<T>> {
        let word = self.occupied.iter().rposition(|&w| w != 0)?;
        let bit = 63 - self.occupied[word].leading_zeros() as usize;
        self.pop_level(word, bit)
    }

    /// Takes the front of the lowest occupied level.
    pub(super) fn pop_lowest(&mut self) -> Option<Message<T>> {
        let word = self.occupied.iter().position(|&w| w != 0)?;
        let bit = self.occupied[word].trailing_zeros() as usize;
        self.pop_level(word, bit)
    }

    /// Takes the front of level `word * 64 + bit` (its bit is set) and keeps
    /// the bitmap and the length in step.
    #[inline]
    fn pop_level(&mut self, word: usize, bit: usize) -> Option<Message<T>> {
        let level = word * 64 + bit;
        let queue = self.queues.get_mut(level)?;
        let msg = queue.pop_front()?;
        if queue.is_empty() {
            self.occupied[word] &= !(1 << bit);
        }
        self.len -= 1;
        Some(msg)
    }

    /// The highest level that holds messages, if any.
    pub(super) fn highest_level(&self) -> Option<usize> {
        let word = self.occupied.iter().rposition(|&w| w != 0)?;
        Some(word * 64 + 63 - self.occupied[word].leading_zeros() as usize)
    }

    /// The lowest level that holds messages, if any.
    pub(super) fn lowest_level(&self) -> Option<usize> {
        let word = self.occupied.iter().position(|&w| w != 0)?;
        Some(word * 64 + self.occupied[word].trailing_zeros() as usize)
    }
}
