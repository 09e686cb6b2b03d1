//! A bounded priority queue's room, counted without the lock: claiming a
//! unit of it, giving units back, permits that hold it ahead of their
//! message, and senders parked until there is some.
//!
//! # Two counters, one written by each side
//!
//! [`Room`] counts units `taken` (by pushes below the capacity, permits,
//! and messages that ignore the capacity: requeued and restored ones) and
//! units `freed` (by pops, evictions and dropped permits); what is held is
//! the difference. Senders write only `taken` and receivers only `freed`,
//! each on a line of its own, so neither side's counter moves between the
//! cores on every message. A sender also keeps the last `freed` it read
//! (`freed_seen`, on its own line) and reads the receivers' line again only
//! when that old figure says the queue is full. One counter written by both
//! sides, measured earlier, was no faster than the lock (the module docs of
//! `mod.rs`).
//!
//! Why the capacity holds: `freed` only grows, so an old figure of it
//! overstates what is held, never understates it; a push claims its unit
//! with a compare-and-swap of `taken`, which fails if another sender moved
//! it since the look. A push reports `Full` only after a fresh look at
//! `freed` still leaves no room.
//!
//! # No lost wake-up for a parked sender
//!
//! A sender that finds no room, after spinning, counts itself in
//! `Gate::waiting` under the lock, looks once more (claiming if it can) and
//! parks on `not_full`. Whoever frees room adds to `freed`, then reads
//! `waiting` (a store-then-load handshake with the sender's count and
//! look): either it sees the sender and wakes it (taking the lock first, so
//! the sender is already parked), or the sender's look comes after the
//! freeing and claims the room.
//!
//! An unbounded queue has no `Room` and room always; a rendezvous holds no
//! room (its permits are granted at once).

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PushError, ReserveError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{backoff, fence_seqcst, handshake_fence, AtomicUsize, CachePadded, SPIN_LIMIT};

use super::state::End;
use super::Priority;

/// A bounded queue's room count (see the module docs).
pub(super) struct Room {
    /// The most units held at once.
    capacity: usize,
    /// What senders write.
    senders: CachePadded<SenderSide>,
    /// Units given back: written by receivers (and dropped permits).
    freed: CachePadded<AtomicUsize>,
}

/// The senders' line of a [`Room`].
struct SenderSide {
    /// Units taken since the queue was made.
    taken: AtomicUsize,
    /// A figure of `Room::freed` that some sender read (a lower bound of
    /// it, as `freed` only grows): what a push compares against first.
    freed_seen: AtomicUsize,
}

impl Room {
    /// Room for `capacity` units, none taken.
    pub(super) fn new(capacity: usize) -> Room {
        Room {
            capacity,
            senders: CachePadded(SenderSide {
                taken: AtomicUsize::new(0),
                freed_seen: AtomicUsize::new(0),
            }),
            freed: CachePadded(AtomicUsize::new(0)),
        }
    }

    /// Claims a unit if one is free: `false` only if a fresh look at
    /// `freed` leaves none (see "Why the capacity holds"). Forced inline:
    /// as a call it cost every bounded send+recv 10 instructions
    /// (callgrind); forcing `enter` and `take` inline cost more than it saved.
    #[inline(always)]
    fn claim(&self) -> bool {
        let side = &self.senders;
        let mut taken = side.taken.load(Ordering::Relaxed);
        let mut freed = side.freed_seen.load(Ordering::Relaxed);
        loop {
            if freed > taken {
                // The figure of `freed` is newer than that of `taken`.
                taken = side.taken.load(Ordering::SeqCst);
                continue;
            }
            if taken - freed >= self.capacity {
                let now = self.freed.load(Ordering::SeqCst);
                if now == freed {
                    return false;
                }
                freed = now;
                side.freed_seen.store(now, Ordering::Relaxed);
                continue;
            }
            match side
                .taken
                .compare_exchange(taken, taken + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => taken = now,
            }
        }
    }

    /// Counts a unit held whatever the capacity (a requeued or restored
    /// message), so that giving it back when it leaves keeps the count.
    #[inline]
    fn hold_anyway(&self) {
        self.senders.taken.fetch_add(1, Ordering::SeqCst);
    }

    /// Gives `n` units back.
    #[inline]
    fn give_back(&self, n: usize) {
        self.freed.fetch_add(n, Ordering::SeqCst);
    }
}

impl<T> Priority<T> {
    /// Claims a unit of room for a message or a permit: always granted on
    /// an unbounded queue, `false` if a bounded one is full.
    #[inline]
    pub(super) fn claim_room(&self) -> bool {
        self.room.as_ref().is_none_or(|room| room.claim())
    }

    /// Counts a message that ignores the capacity (requeued, restored) as
    /// held on a bounded queue.
    #[inline]
    pub(super) fn hold_anyway(&self) {
        if let Some(room) = &self.room {
            room.hold_anyway();
        }
    }

    /// `n` units of room were given back (messages left, a permit was
    /// dropped): wakes up to `n` senders parked for room, if any are.
    #[inline]
    pub(super) fn room_freed(&self, n: usize) {
        if let Some(room) = &self.room {
            room.give_back(n);
            handshake_fence();
            if self.gate.waiting.load(Ordering::SeqCst) > 0 {
                self.wake_senders(n);
            }
        }
    }

    /// Wakes up to `n` senders parked for room. Taking the lock first waits
    /// until a sender that counted itself is parked.
    #[cold]
    #[inline(never)]
    fn wake_senders(&self, n: usize) {
        drop(self.hot.state.lock());
        for _ in 0..n {
            self.not_full.notify_one();
        }
    }

    /// Holds one unit of room for a permit, if there is room now. A
    /// rendezvous holds no room: its permits are granted at once, and
    /// their messages are held like requeued ones (see `push_reserved`).
    pub(crate) fn try_reserve(&self) -> Result<(), ReserveError> {
        if self.gate.closed.load(Ordering::Acquire) {
            return Err(ReserveError::Closed);
        }
        if self.is_rendezvous() || self.claim_room() {
            Ok(())
        } else {
            Err(ReserveError::Full)
        }
    }

    /// A permit's message: takes the room its permit holds, so it never
    /// finds the queue full; on a rendezvous it is held for the next
    /// receive. Fails only if the queue closed meanwhile (and gives the
    /// permit's room back).
    pub(crate) fn push_reserved(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        if self.gate.closed.load(Ordering::Acquire) {
            self.room_freed(1);
            return Err(PushError::Closed(msg));
        }
        if self.is_rendezvous() {
            let mut state = self.hot.state.lock();
            if state.closed {
                return Err(PushError::Closed(msg));
            }
            state.push(msg, self.levels, End::Back);
            self.publish_and_wake(state);
        } else {
            self.enter(msg);
        }
        Ok(())
    }

    /// A message restored from a durable mailbox's log: at the back of its
    /// level whatever the capacity (on a rendezvous, held like a requeued
    /// one).
    pub(crate) fn push_restored(&self, msg: Message<T>) {
        if self.is_rendezvous() {
            let mut state = self.hot.state.lock();
            state.push(msg, self.levels, End::Back);
            self.publish_and_wake(state);
        } else {
            self.hold_anyway();
            self.enter(msg);
        }
    }

    /// A permit dropped unused gives its room back, and a sender parked
    /// for room may take it.
    pub(crate) fn unreserve(&self) {
        self.room_freed(1);
    }
}

impl<T: Send> Priority<T> {
    /// A buffered queue's blocking push, once the fast path found it full:
    /// spins briefly, then parks for room (see "No lost wake-up for a
    /// parked sender").
    #[inline(never)]
    pub(super) fn push_waiting(
        &self,
        mut msg: Message<T>,
        deadline: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        for step in 0..SPIN_LIMIT {
            if self.gate.closed.load(Ordering::Acquire) {
                break;
            }
            msg = match self.try_push(msg) {
                Err(PushError::Full(m)) => m,
                done => return done,
            };
            backoff(step);
        }
        let mut state = self.hot.state.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed(msg));
            }
            // Room is checked before the deadline, so a sender woken for room
            // never leaves that wake-up unused (no stranded parked sender).
            if self.claim_room() {
                break;
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
            self.gate.waiting.fetch_add(1, Ordering::SeqCst);
            // The second look, after counting: room freed later sees the
            // count, room freed before is seen here.
            fence_seqcst();
            if self.claim_room() {
                self.gate.waiting.fetch_sub(1, Ordering::SeqCst);
                break;
            }
            (state, _) = self.not_full.wait_until(state, deadline);
            self.gate.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        // Into the lane without the lock: a push that wakes a receiver
        // takes it.
        drop(state);
        self.enter(msg);
        Ok(())
    }
}
