//! A bounded priority queue's room: whether there is some, permits that
//! hold it ahead of their message, and senders parked until there is some.
//!
//! A bounded queue keeps every message under the lock (see the module docs
//! of `mod.rs`), so its room is counted there too: the messages held
//! (`State::len`, requeued and restored ones included, as they were always
//! counted) and the permits (`State::reserved`). Senders parked for room
//! count themselves in `State::parked_senders`; whoever frees room under
//! the lock wakes one per unit. An unbounded queue has room always, and a
//! rendezvous holds none (its permits are granted at once).

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PushError, ReserveError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{backoff, MutexGuard, SPIN_LIMIT};

use super::state::{End, State};
use super::Priority;

impl<T> Priority<T> {
    /// Whether a buffered queue has room for one more message or permit
    /// (always when unbounded).
    #[inline]
    pub(super) fn has_room(&self, state: &State<T>) -> bool {
        match self.capacity {
            None => true,
            Some(cap) => state.len + state.reserved < cap,
        }
    }

    /// A unit of room was freed under the lock (a message left, or a
    /// permit was given back): wakes a sender parked for room, if one is.
    /// Rendezvous senders are never counted there.
    #[inline]
    pub(super) fn room_freed(&self, state: &State<T>) {
        if state.parked_senders > 0 {
            self.not_full.notify_one();
        }
    }

    /// Releases the lock after a unit of room was freed under it.
    fn release_room(&self, state: MutexGuard<'_, State<T>>) {
        self.room_freed(&state);
        drop(state);
    }

    /// Holds one unit of room for a permit, if there is room now. A
    /// rendezvous holds no room: its permits are granted at once, and
    /// their messages are held like requeued ones (see `push_reserved`).
    pub(crate) fn try_reserve(&self) -> Result<(), ReserveError> {
        let mut state = self.hot.state.lock();
        if state.closed {
            return Err(ReserveError::Closed);
        }
        if !self.is_rendezvous() && !self.has_room(&state) {
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
            self.release_room(state);
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
        self.release_room(state);
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
            if self.has_room(&state) {
                state.push(msg, self.levels, End::Back);
                self.publish_and_wake(state);
                return Ok(());
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
            // Counted and parked in one critical section: room freed later
            // is freed under this lock, and its notify reaches us.
            state.parked_senders += 1;
            (state, _) = self.not_full.wait_until(state, deadline);
            state.parked_senders -= 1;
        }
    }
}
