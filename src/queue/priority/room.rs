//! A bounded priority queue's room: claiming a unit of it, giving it back,
//! permits that hold it ahead of their message, and senders parked until
//! there is some.
//!
//! `Gate::held` counts what takes room: the messages held and the units
//! held by permits. A push claims a unit with a compare-and-swap below the
//! capacity; a pop gives it back under the lock, where senders parked for
//! room count themselves (`Gate::waiting`), so a pop can wake one without
//! taking the lock again. A dropped permit gives its unit back without the
//! lock and wakes a parked sender through a store-then-load handshake
//! (`room_freed`). An unbounded queue counts nothing here, and a rendezvous
//! holds no room (its permits are granted at once).

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PushError, ReserveError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{backoff, fence_seqcst, handshake_fence, SPIN_LIMIT};

use super::state::End;
use super::Priority;

impl<T> Priority<T> {
    /// Claims a unit of room on a bounded queue (always granted when
    /// unbounded): `false` if the queue is full.
    #[inline]
    pub(super) fn claim_room(&self) -> bool {
        let Some(cap) = self.capacity else {
            return true;
        };
        let held = &self.gate.held;
        let mut now = held.load(Ordering::Relaxed);
        loop {
            if now >= cap {
                return false;
            }
            match held.compare_exchange_weak(now, now + 1, Ordering::SeqCst, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(seen) => now = seen,
            }
        }
    }

    /// Counts a message that ignores the capacity (a requeue, a restored
    /// message) as held, so that giving its room back when it leaves keeps
    /// the count right.
    #[inline]
    pub(super) fn hold_anyway(&self) {
        if self.capacity.is_some() && !self.is_rendezvous() {
            self.gate.held.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Gives `n` units of room back (`n` messages left, or a permit was
    /// dropped) and wakes as many senders parked for room, if any are.
    #[inline]
    pub(super) fn room_freed(&self, n: usize) {
        if self.capacity.is_none() || self.is_rendezvous() || n == 0 {
            return;
        }
        self.gate.held.fetch_sub(n, Ordering::SeqCst);
        handshake_fence();
        if self.gate.waiting.load(Ordering::SeqCst) > 0 {
            self.wake_senders(n);
        }
    }

    /// A message held under the lock left, and the lock is held: gives its
    /// room back and wakes a sender parked for room (senders count
    /// themselves under the lock, so the count is exact here).
    #[inline]
    pub(super) fn room_returned_locked(&self) {
        if self.capacity.is_none() || self.is_rendezvous() {
            return;
        }
        self.gate.held.fetch_sub(1, Ordering::SeqCst);
        if self.gate.waiting.load(Ordering::SeqCst) > 0 {
            self.not_full.notify_one();
        }
    }

    /// Wakes up to `n` senders parked for room. Taking the lock first waits
    /// until a sender that counted itself is parked.
    #[cold]
    #[inline(never)]
    pub(super) fn wake_senders(&self, n: usize) {
        drop(self.hot.state.lock());
        for _ in 0..n {
            self.not_full.notify_one();
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
        if !self.is_rendezvous() && !self.claim_room() {
            return Err(ReserveError::Full);
        }
        state.reserved += 1;
        Ok(())
    }

    /// A permit's message: takes the room its permit holds, so it never
    /// finds the queue full; on a rendezvous it is held for the next
    /// receive. Fails only if the queue closed meanwhile (and gives the
    /// permit's room back).
    pub(crate) fn push_reserved(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let mut state = self.hot.state.lock();
        state.reserved = state.reserved.saturating_sub(1);
        if state.closed {
            drop(state);
            self.room_freed(1);
            return Err(PushError::Closed(msg));
        }
        if self.uses_lanes() {
            drop(state);
            self.enter(msg);
        } else {
            state.push(msg, self.levels, End::Back);
            self.publish_and_wake(state);
        }
        Ok(())
    }

    /// A message restored from a durable mailbox's log: at the back of its
    /// level whatever the capacity (on a rendezvous, held like a requeued
    /// one).
    pub(crate) fn push_restored(&self, msg: Message<T>) {
        if self.uses_lanes() {
            self.enter(msg);
        } else {
            self.hold_anyway();
            let mut state = self.hot.state.lock();
            state.push(msg, self.levels, End::Back);
            self.publish_and_wake(state);
        }
    }

    /// A permit dropped unused gives its room back, and a sender parked
    /// for room may take it.
    pub(crate) fn unreserve(&self) {
        let mut state = self.hot.state.lock();
        state.reserved = state.reserved.saturating_sub(1);
        drop(state);
        self.room_freed(1);
    }
}

impl<T: Send> Priority<T> {
    /// A buffered queue's blocking push, once the fast path found it full:
    /// spins briefly, then parks for room.
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
                state.push(msg, self.levels, End::Back);
                self.publish_and_wake(state);
                return Ok(());
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
            self.gate.waiting.fetch_add(1, Ordering::SeqCst);
            // The second look, after counting: a pop that gave room back
            // either sees the count or comes before this look.
            fence_seqcst();
            if self
                .capacity
                .is_some_and(|cap| self.gate.held.load(Ordering::SeqCst) >= cap)
            {
                (state, _) = self.not_full.wait_until(state, deadline);
            }
            self.gate.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
