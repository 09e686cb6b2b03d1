//! The priority backend: one FIFO queue per level and a bitmap of the levels
//! that hold messages, under one lock.
//!
//! Push and pop are O(1): push appends to its level and sets the level's bit;
//! pop finds the highest set bit (at most four word scans for 256 levels) and
//! takes the front of that level. Equal priorities therefore stay strictly FIFO.
//!
//! A requeued message (a redelivery) goes to the *front* of its level: the
//! same O(1) bitmap update with `push_front`. It ignores capacity and `closed`
//! (the `Queue::requeue` contract) and wakes a parked receiver like a push.
//! `evict_lowest` is the mirror image of a pop: the lowest set bit, the front
//! of that level.
//!
//! Blocking is where naive priority queues lose: a notify on every push and pop
//! makes a condition-variable wake storm. Here each side counts its parked
//! waiters under the lock and notifies only when someone is parked; and before
//! parking, a caller spins briefly on an atomic length hint, because in a busy
//! mailbox the wait usually ends sooner than a park/unpark round trip.
//!
//! Capacity 0 (a rendezvous) has its own file, `rendezvous.rs`: offers of
//! blocked senders and hand-offs to parked receivers, under the same lock.

mod rendezvous;

pub(crate) use rendezvous::Offered;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PopError, PushError, ReserveError};
use crate::message::Message;
use crate::queue::{try_pop_each, Queue};
use crate::sync::{
    backoff, AtomicBool, AtomicUsize, CachePadded, Condvar, Mutex, MutexGuard, SPIN_LIMIT,
};

use rendezvous::Rendezvous;

/// The priority queueing discipline: highest priority first, FIFO within a
/// priority.
///
/// A queue with `levels` levels accepts priorities `0..levels`; a higher number
/// is more urgent (as in RabbitMQ). Usually built through
/// [`MailboxBuilder::priority`](crate::MailboxBuilder::priority); public so
/// that custom backends can wrap it.
///
/// Capacity 0 is a true rendezvous, as on the FIFO backend: a push completes
/// only when a receiver takes the message, whether it receives with a
/// blocking `pop` or polls with `try_pop` (so a select takes it too). A
/// sender that finds no receiver waiting puts its message on offer and blocks
/// until a receiver takes it, or until its deadline or a close, when it gets
/// the message back; a non-blocking `try_push` succeeds only by handing the
/// message to a receiver blocked in `pop`. The messages of blocked senders
/// leave in priority order too (the oldest first within a priority, after
/// requeued messages of that priority). `len` counts requeued messages only:
/// a rendezvous holds no new message, so right after a completed send it is 0
/// unless something was requeued.
pub struct Priority<T> {
    /// Number of levels (1..=255): priorities `0..levels` are accepted.
    levels: u8,
    /// One level that accepts every priority and ignores it: the FIFO
    /// rendezvous a mailbox builds on this engine (see `fifo_rendezvous`).
    ignores_priorities: bool,
    /// The most messages held, `None` for unbounded.
    capacity: Option<usize>,
    /// The lock, what it protects and the length hint, on lines of their own.
    hot: CachePadded<Hot<T>>,
    /// Receivers park here while the queue is empty.
    not_empty: Condvar,
    /// Senders park here while the queue is full (on a rendezvous: while
    /// their offer waits for a receiver).
    not_full: Condvar,
    /// Mirror of `state.closed` for the lock-free checks.
    closed: AtomicBool,
}

/// What every push and pop writes, on one cache line: the length hint, the
/// lock and the fields of the state that change per message. Each of them
/// on a line of its own made every message move three lines between the
/// cores instead of one (the length hint is written under the lock anyway;
/// spinners only read it while the queue is empty).
#[repr(C)]
struct Hot<T> {
    /// `state.len`, readable without the lock, for spinning waiters and `len()`.
    len_hint: AtomicUsize,
    /// The queues and the waiter counts, changed only under this lock.
    state: Mutex<State<T>>,
}

/// What the lock protects. `repr(C)`: the fields every push and pop
/// writes come first, on the lock's cache line (see [`Hot`]); the bitmap,
/// written only when a level fills or empties, on the next.
#[repr(C)]
pub(super) struct State<T> {
    /// Messages held over all levels.
    len: usize,
    /// Receivers parked on `not_empty`.
    parked_receivers: usize,
    /// Senders parked on `not_full` waiting for room (not rendezvous
    /// senders: see the module docs).
    parked_senders: usize,
    /// One FIFO per level, index = priority; empty until the first push
    /// (an idle mailbox does not pay for its levels' queue headers, 32 bytes
    /// each: 256 for 8 levels). Only a set bit of `occupied` leads a pop to a
    /// level, so nothing indexes them before they are made.
    queues: Box<[VecDeque<Message<T>>]>,
    /// Bit `p` is set while level `p` holds messages.
    occupied: [u64; 4],
    /// Room held by permits (`reserve`): counted as taken until the
    /// permit's message comes or the permit is dropped.
    reserved: usize,
    /// No more pushes once set.
    closed: bool,
    /// The hand-offs and offers of a rendezvous queue, made by its first push
    /// that needs one; always `None` on other capacities. Boxed, so that they
    /// pay one pointer for it.
    rendezvous: Option<Box<Rendezvous<T>>>,
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
    #[inline]
    fn push(&mut self, msg: Message<T>, levels: u8, end: End) {
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
    fn pop_highest(&mut self) -> Option<Message<T>> {
        let word = self.occupied.iter().rposition(|&w| w != 0)?;
        let bit = 63 - self.occupied[word].leading_zeros() as usize;
        self.pop_level(word, bit)
    }

    /// Takes the front of the lowest occupied level, if that level is at most
    /// `at_most`.
    fn pop_lowest(&mut self, at_most: u8) -> Option<Message<T>> {
        let word = self.occupied.iter().position(|&w| w != 0)?;
        let bit = self.occupied[word].trailing_zeros() as usize;
        if word * 64 + bit > usize::from(at_most) {
            // The least urgent work queued is still more urgent than allowed.
            return None;
        }
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
    fn highest_level(&self) -> Option<usize> {
        let word = self.occupied.iter().rposition(|&w| w != 0)?;
        Some(word * 64 + 63 - self.occupied[word].leading_zeros() as usize)
    }
}

impl<T> Priority<T> {
    /// A priority queue with `levels` levels (priorities `0..levels`) holding at
    /// most `capacity` messages (`None`: unbounded). `levels` 0 is taken as 1.
    pub fn new(levels: u8, capacity: Option<usize>) -> Priority<T> {
        let levels = levels.max(1);
        Priority {
            levels,
            ignores_priorities: false,
            capacity,
            hot: CachePadded(Hot {
                len_hint: AtomicUsize::new(0),
                state: Mutex::new(State {
                    len: 0,
                    parked_receivers: 0,
                    parked_senders: 0,
                    queues: Box::default(),
                    occupied: [0; 4],
                    reserved: 0,
                    closed: false,
                    rendezvous: None,
                }),
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            closed: AtomicBool::new(false),
        }
    }

    /// A FIFO rendezvous (capacity 0) on this engine: one level, every
    /// priority accepted and ignored. Mailboxes built with `fifo()` and
    /// capacity 0 use it rather than crossbeam's zero-capacity channel,
    /// because its offers can be taken by any receive, a select's poll or a
    /// task's, and an async sender can leave its message on offer; on
    /// crossbeam's channel a sender pairs only with a receiver blocked in a
    /// thread.
    pub(crate) fn fifo_rendezvous() -> Priority<T> {
        Priority {
            ignores_priorities: true,
            ..Priority::new(1, Some(0))
        }
    }

    /// The number of levels.
    pub fn levels(&self) -> u8 {
        self.levels
    }

    /// How many senders are blocked in [`push`](Queue::push) with their
    /// message on offer: on a rendezvous queue (capacity 0), the sends
    /// waiting for a receiver; always 0 on other capacities. A snapshot, for
    /// monitoring and tests.
    pub fn offers(&self) -> usize {
        self.hot
            .state
            .lock()
            .rendezvous
            .as_ref()
            .map_or(0, |rv| rv.offers.len())
    }

    /// Whether a buffered queue has room (not for a rendezvous, whose
    /// pushes never look for room: see `hand_over` and `push_rendezvous`).
    #[inline]
    fn has_room(&self, state: &State<T>) -> bool {
        match self.capacity {
            None => true,
            Some(cap) => state.len + state.reserved < cap,
        }
    }

    /// Holds one unit of room for a permit, if there is room now. A
    /// rendezvous holds no room: its permits are granted at once, and
    /// their messages are held like requeued ones (see `push_reserved`).
    pub(crate) fn try_reserve(&self) -> Result<(), ReserveError> {
        let mut state = self.hot.state.lock();
        if state.closed {
            return Err(ReserveError::Closed);
        }
        if self.capacity != Some(0) && !self.has_room(&state) {
            return Err(ReserveError::Full);
        }
        state.reserved += 1;
        Ok(())
    }

    /// A permit's message: takes the room its permit holds, so it never
    /// finds the queue full; on a rendezvous it is held for the next
    /// receive. Fails only if the queue closed meanwhile.
    pub(crate) fn push_reserved(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let mut state = self.hot.state.lock();
        state.reserved = state.reserved.saturating_sub(1);
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        self.push_locked(state, msg, End::Back);
        Ok(())
    }

    /// A message restored from a durable mailbox's log: at the back of its
    /// level whatever the capacity (on a rendezvous, held like a requeued
    /// one).
    pub(crate) fn push_restored(&self, msg: Message<T>) {
        let state = self.hot.state.lock();
        self.push_locked(state, msg, End::Back);
    }

    /// A permit dropped unused gives its room back, and a sender parked
    /// for room may take it.
    pub(crate) fn unreserve(&self) {
        let mut state = self.hot.state.lock();
        state.reserved = state.reserved.saturating_sub(1);
        let wake = state.parked_senders > 0;
        drop(state);
        if wake {
            self.not_full.notify_one();
        }
    }

    /// Pushes under the lock (at the back of its level for a new message, at
    /// the front for a requeued one) and wakes one parked receiver if there is
    /// one.
    #[inline]
    fn push_locked(&self, mut state: MutexGuard<'_, State<T>>, msg: Message<T>, end: End) {
        state.push(msg, self.levels, end);
        self.hot.len_hint.store(state.len, Ordering::Release);
        let wake = state.parked_receivers > 0;
        drop(state);
        if wake {
            self.not_empty.notify_one();
        }
    }

    /// Pops under the lock and wakes one parked sender if there is one.
    #[inline]
    fn pop_locked(&self, state: MutexGuard<'_, State<T>>) -> Option<Message<T>> {
        self.take_locked(state, State::pop_highest)
    }

    /// Takes a message with `take` under the lock and wakes one parked sender
    /// if it took one and a sender is parked. (Never a rendezvous sender:
    /// those are not counted in `parked_senders`.)
    #[inline]
    fn take_locked(
        &self,
        mut state: MutexGuard<'_, State<T>>,
        take: impl FnOnce(&mut State<T>) -> Option<Message<T>>,
    ) -> Option<Message<T>> {
        let msg = take(&mut state)?;
        self.released(state, 1);
        Some(msg)
    }

    /// After `taken` messages left under the lock: publishes the length,
    /// releases the lock, and wakes as many parked senders (those waiting
    /// for room), at most one per message taken.
    #[inline]
    fn released(&self, state: MutexGuard<'_, State<T>>, taken: usize) {
        self.hot.len_hint.store(state.len, Ordering::Release);
        let wake = state.parked_senders.min(taken);
        drop(state);
        for _ in 0..wake {
            self.not_full.notify_one();
        }
    }

    /// Whether spinning could let a push through without parking.
    fn room_hint(&self) -> bool {
        match self.capacity {
            None => true,
            Some(cap) => self.hot.len_hint.load(Ordering::Acquire) < cap,
        }
    }
}

impl<T: Send> Queue<T> for Priority<T> {
    #[inline]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.hot.state.lock();
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        match self.capacity {
            // Rendezvous: only into the hands of a receiver parked in `pop`.
            Some(0) => return self.hand_over(state, msg),
            Some(_) if !self.has_room(&state) => return Err(PushError::Full(msg)),
            _ => {}
        }
        self.push_locked(state, msg, End::Back);
        Ok(())
    }

    fn push(&self, mut msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        if self.capacity == Some(0) {
            // No spinning either: only a receiver lets the message through.
            return self.push_rendezvous(msg, deadline, &|| {});
        }
        msg = match self.try_push(msg) {
            Err(PushError::Full(m)) => m,
            done => return done,
        };
        for step in 0..SPIN_LIMIT {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.room_hint() {
                msg = match self.try_push(msg) {
                    Err(PushError::Full(m)) => m,
                    done => return done,
                };
            }
            backoff(step);
        }
        let mut state = self.hot.state.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed(msg));
            }
            if self.has_room(&state) {
                self.push_locked(state, msg, End::Back);
                return Ok(());
            }
            // Room is checked before the deadline, so a sender woken for room
            // never leaves that wake-up unused (no stranded parked sender).
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
            state.parked_senders += 1;
            (state, _) = self.not_full.wait_until(state, deadline);
            state.parked_senders -= 1;
        }
    }

    #[inline]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        let state = self.hot.state.lock();
        // Made only by a rendezvous queue's first hand-off or offer: until
        // then (and always on other capacities) there are only held messages.
        if state.rendezvous.is_some() {
            return self.try_pop_rendezvous(state);
        }
        let closed = state.closed;
        match self.pop_locked(state) {
            Some(msg) => Ok(msg),
            None if closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    /// One lock for the whole batch (the highest priority first, as
    /// repeated `try_pop`s), and one parked sender woken per message taken,
    /// as many as are parked. A rendezvous queue takes one `try_pop` at a
    /// time: each offer taken completes its own sender.
    fn try_pop_many(&self, buf: &mut Vec<Message<T>>, max: usize) -> Result<usize, PopError> {
        if self.capacity == Some(0) {
            return try_pop_each(self, buf, max);
        }
        let mut state = self.hot.state.lock();
        let mut n = 0;
        while n < max {
            let Some(msg) = state.pop_highest() else {
                break;
            };
            buf.push(msg);
            n += 1;
        }
        if n == 0 && max > 0 {
            return Err(if state.closed {
                PopError::Closed
            } else {
                PopError::Empty
            });
        }
        self.released(state, n);
        Ok(n)
    }

    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        if self.capacity == Some(0) {
            return self.pop_rendezvous(deadline);
        }
        match self.try_pop() {
            Err(PopError::Empty) => {}
            done => return done,
        }
        for step in 0..SPIN_LIMIT {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.hot.len_hint.load(Ordering::Acquire) > 0 {
                match self.try_pop() {
                    Err(PopError::Empty) => {}
                    done => return done,
                }
            }
            backoff(step);
        }
        let mut state = self.hot.state.lock();
        loop {
            // Messages are checked before the deadline, so a receiver woken for
            // a message always takes it rather than wasting the wake-up.
            if state.len > 0 {
                // pop_locked cannot miss: len > 0 under the same lock.
                if let Some(msg) = self.pop_locked(state) {
                    return Ok(msg);
                }
                return Err(PopError::Empty);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PopError::Timeout);
            }
            state.parked_receivers += 1;
            (state, _) = self.not_empty.wait_until(state, deadline);
            state.parked_receivers -= 1;
        }
    }

    /// The messages held: on a rendezvous queue only requeued ones (not the
    /// hand-offs, which belong to their receivers, nor the offers of blocked
    /// senders).
    fn len(&self) -> usize {
        self.hot.len_hint.load(Ordering::Acquire)
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// Wakes every parked receiver and sender. On a rendezvous, blocked
    /// senders withdraw their offers and fail with `Closed` (no receive takes
    /// an offer after the close, so none can be taken between the close and
    /// its sender's withdrawal); hand-offs are still handed out.
    fn close(&self) -> bool {
        let mut state = self.hot.state.lock();
        let first = !state.closed;
        state.closed = true;
        self.closed.store(true, Ordering::Release);
        drop(state);
        if first {
            self.not_empty.notify_all();
            self.not_full.notify_all();
            self.wake_offers();
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn priority_levels(&self) -> Option<u8> {
        (!self.ignores_priorities).then_some(self.levels)
    }

    /// Puts the message at the front of its level (clamped like a push), so
    /// the latest requeue at a level leaves first. Ignores capacity and
    /// `closed`, as the contract asks: a closed queue still drains, and
    /// `pop` checks for messages before it checks `closed`.
    ///
    /// On a rendezvous queue (capacity 0) the message is held like on any
    /// other (`len` counts it) with no sender involved: every receive takes
    /// it in priority order (before offers of its level), and
    /// `State::free_receiver` counts it, so that `try_push` does not hand a
    /// message to the parked receiver this requeue wakes.
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.hot.state.lock();
        // Wakes a parked receiver exactly as a push does: the receiver
        // re-checks for messages under the lock, so the wake-up cannot be lost.
        self.push_locked(state, msg, End::Front);
        Ok(())
    }

    /// Takes the oldest message of the lowest occupied level if that level is
    /// at most `at_most`, and wakes a parked sender (the eviction made room).
    /// On a rendezvous queue that is a requeued message only: hand-offs
    /// belong to their receivers and offers to their senders.
    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        let state = self.hot.state.lock();
        self.take_locked(state, |state| state.pop_lowest(at_most))
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("levels", &self.levels)
            .field("len", &self.hot.len_hint.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
