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

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{
    backoff, AtomicBool, AtomicUsize, CachePadded, Condvar, Mutex, MutexGuard, SPIN_LIMIT,
};

/// The priority queueing discipline: highest priority first, FIFO within a
/// priority.
///
/// A queue with `levels` levels accepts priorities `0..levels`; a higher number
/// is more urgent (as in RabbitMQ). Usually built through
/// [`MailboxBuilder::priority`](crate::MailboxBuilder::priority); public so
/// that custom backends can wrap it.
///
/// With capacity 0 a push only proceeds when a receiver is parked in a
/// blocking receive (a rendezvous); a receiver that gives up at that moment
/// leaves the message queued for the next one, so the queue may briefly hold
/// one message. Unlike the FIFO rendezvous, a receiver that only polls
/// (`try_recv`) never takes the message of a sender blocked in `send`.
pub struct Priority<T> {
    /// Number of levels (1..=255): priorities `0..levels` are accepted.
    levels: u8,
    /// The most messages held, `None` for unbounded.
    capacity: Option<usize>,
    /// The queues and the waiter counts, changed only under this lock. On a
    /// cache line of its own: spinners read `len_hint` without touching it.
    state: CachePadded<Mutex<State<T>>>,
    /// Receivers park here while the queue is empty.
    not_empty: Condvar,
    /// Senders park here while the queue is full.
    not_full: Condvar,
    /// `state.len`, readable without the lock, for spinning waiters and `len()`.
    len_hint: CachePadded<AtomicUsize>,
    /// Mirror of `state.closed` for the lock-free checks.
    closed: AtomicBool,
}

/// What the lock protects.
struct State<T> {
    /// One FIFO per level, index = priority.
    queues: Box<[VecDeque<Message<T>>]>,
    /// Bit `p` is set while level `p` holds messages.
    occupied: [u64; 4],
    /// Messages held over all levels.
    len: usize,
    /// No more pushes once set.
    closed: bool,
    /// Receivers parked on `not_empty`.
    parked_receivers: usize,
    /// Senders parked on `not_full`.
    parked_senders: usize,
}

/// Which end of its level a message goes to.
#[derive(Clone, Copy)]
enum End {
    /// Behind everything queued at its level: a new message.
    Back,
    /// Before everything queued at its level: a requeued message.
    Front,
}

impl<T> State<T> {
    #[inline]
    fn push(&mut self, msg: Message<T>, levels: u8, end: End) {
        // The mailbox validates priorities; clamp anyway so that a direct user
        // of the backend cannot make it index out of bounds.
        let level = usize::from(msg.header().priority().min(levels - 1));
        match end {
            End::Back => self.queues[level].push_back(msg),
            End::Front => self.queues[level].push_front(msg),
        }
        self.occupied[level >> 6] |= 1 << (level & 63);
        self.len += 1;
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
        let msg = self.queues[level].pop_front()?;
        if self.queues[level].is_empty() {
            self.occupied[word] &= !(1 << bit);
        }
        self.len -= 1;
        Some(msg)
    }
}

impl<T> Priority<T> {
    /// A priority queue with `levels` levels (priorities `0..levels`) holding at
    /// most `capacity` messages (`None`: unbounded). `levels` 0 is taken as 1.
    pub fn new(levels: u8, capacity: Option<usize>) -> Priority<T> {
        let levels = levels.max(1);
        Priority {
            levels,
            capacity,
            state: CachePadded(Mutex::new(State {
                queues: (0..levels).map(|_| VecDeque::new()).collect(),
                occupied: [0; 4],
                len: 0,
                closed: false,
                parked_receivers: 0,
                parked_senders: 0,
            })),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            len_hint: CachePadded(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
        }
    }

    /// The number of levels.
    pub fn levels(&self) -> u8 {
        self.levels
    }

    #[inline]
    fn has_room(&self, state: &State<T>) -> bool {
        match self.capacity {
            None => true,
            // Rendezvous: only hand a message in when a parked receiver will take it.
            Some(0) => state.parked_receivers > state.len,
            Some(cap) => state.len < cap,
        }
    }

    /// Pushes under the lock (at the back of its level for a new message, at
    /// the front for a requeued one) and wakes one parked receiver if there is
    /// one.
    #[inline]
    fn push_locked(&self, mut state: MutexGuard<'_, State<T>>, msg: Message<T>, end: End) {
        state.push(msg, self.levels, end);
        self.len_hint.store(state.len, Ordering::Release);
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
    /// if it took one and a sender is parked.
    #[inline]
    fn take_locked(
        &self,
        mut state: MutexGuard<'_, State<T>>,
        take: impl FnOnce(&mut State<T>) -> Option<Message<T>>,
    ) -> Option<Message<T>> {
        let msg = take(&mut state)?;
        self.len_hint.store(state.len, Ordering::Release);
        let wake = state.parked_senders > 0;
        drop(state);
        if wake {
            self.not_full.notify_one();
        }
        Some(msg)
    }

    /// Whether spinning could let a push through without parking.
    fn room_hint(&self) -> bool {
        match self.capacity {
            None => true,
            Some(cap) => self.len_hint.load(Ordering::Acquire) < cap,
        }
    }
}

impl<T: Send> Queue<T> for Priority<T> {
    #[inline]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.state.lock();
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        if !self.has_room(&state) {
            return Err(PushError::Full(msg));
        }
        self.push_locked(state, msg, End::Back);
        Ok(())
    }

    fn push(&self, mut msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        msg = match self.try_push(msg) {
            Err(PushError::Full(m)) => m,
            done => return done,
        };
        for step in 0..SPIN_LIMIT {
            // A rendezvous has no room to spin for: only a parked receiver
            // lets a message through.
            if self.capacity == Some(0) || self.closed.load(Ordering::Acquire) {
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
        let mut state = self.state.lock();
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
            if self.capacity == Some(0) && state.parked_receivers > 0 {
                // A parked receiver may be waiting for a rendezvous partner.
                self.not_empty.notify_one();
            }
            (state, _) = self.not_full.wait_until(state, deadline);
            state.parked_senders -= 1;
        }
    }

    #[inline]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        let state = self.state.lock();
        let closed = state.closed;
        match self.pop_locked(state) {
            Some(msg) => Ok(msg),
            None if closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        match self.try_pop() {
            Err(PopError::Empty) => {}
            done => return done,
        }
        for step in 0..SPIN_LIMIT {
            if self.capacity == Some(0) || self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.len_hint.load(Ordering::Acquire) > 0 {
                match self.try_pop() {
                    Err(PopError::Empty) => {}
                    done => return done,
                }
            }
            backoff(step);
        }
        let mut state = self.state.lock();
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
            if self.capacity == Some(0) && state.parked_senders > 0 {
                // A rendezvous sender is parked until a receiver shows up: us.
                self.not_full.notify_one();
            }
            (state, _) = self.not_empty.wait_until(state, deadline);
            state.parked_receivers -= 1;
        }
    }

    fn len(&self) -> usize {
        self.len_hint.load(Ordering::Acquire)
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    fn close(&self) -> bool {
        let mut state = self.state.lock();
        let first = !state.closed;
        state.closed = true;
        self.closed.store(true, Ordering::Release);
        drop(state);
        if first {
            self.not_empty.notify_all();
            self.not_full.notify_all();
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn priority_levels(&self) -> Option<u8> {
        Some(self.levels)
    }

    /// Puts the message at the front of its level (clamped like a push), so
    /// the latest requeue at a level leaves first. Ignores capacity and
    /// `closed`, as the contract asks: a closed queue still drains, and
    /// `pop` checks for messages before it checks `closed`.
    ///
    /// On a rendezvous queue (capacity 0) the message makes `len` 1 with no
    /// sender involved: `pop` and `try_pop` take any queued message, and
    /// `has_room` (parked receivers > len) keeps senders out until enough
    /// receivers are parked to take it and theirs.
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.state.lock();
        // Wakes a parked receiver exactly as a push does: the receiver
        // re-checks `len` under the lock, so the wake-up cannot be lost.
        self.push_locked(state, msg, End::Front);
        Ok(())
    }

    /// Takes the oldest message of the lowest occupied level if that level is
    /// at most `at_most`, and wakes a parked sender (the eviction made room).
    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        let state = self.state.lock();
        self.take_locked(state, |state| state.pop_lowest(at_most))
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("levels", &self.levels)
            .field("len", &self.len_hint.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
