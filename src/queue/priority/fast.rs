//! The mailbox's fast paths into the priority backend, as FIFO has
//! `Fifo::put` and `Fifo::take`: a plain send's message straight into its
//! lane, and a receive's take, each handing back `Option`/`Result` over the
//! bare message rather than the `Queue` trait's error plumbing (each layer
//! of `Result<Message, _>` re-tagging costs a copy of the message).

use std::sync::atomic::Ordering;

use crate::message::Message;

use super::state::End;
use super::Priority;

impl<T: Send> Priority<T> {
    /// A stamped message into its lane (unbounded) or under the lock
    /// (bounded), if the queue is open and has room. `Err` hands the
    /// message back untouched for [`Queue::push`](crate::Queue::push)
    /// (full, closed, a rendezvous: it sorts them out), so it carries no
    /// reason.
    #[inline(always)]
    pub(crate) fn put(&self, msg: Message<T>) -> Result<(), Message<T>> {
        if !self.uses_lanes() {
            return self.put_locked(msg);
        }
        if self.gate.closed.load(Ordering::Acquire) {
            return Err(msg);
        }
        self.enter(msg);
        Ok(())
    }

    /// `put` on a bounded queue: under the lock, if it is open and has
    /// room.
    #[inline]
    fn put_locked(&self, msg: Message<T>) -> Result<(), Message<T>> {
        if self.is_rendezvous() {
            return Err(msg);
        }
        let mut state = self.hot.state.lock();
        if state.closed || !self.has_room(&state) {
            return Err(msg);
        }
        state.push(msg, self.levels, End::Back);
        self.publish_and_wake(state);
        Ok(())
    }

    /// The most urgent message queued on a buffered queue, its room given
    /// back; `None` if there is none, or on a rendezvous (whose receive
    /// takes offers: [`Queue::pop`](crate::Queue::pop) does that).
    #[inline(always)]
    pub(crate) fn take_queued(&self) -> Option<Message<T>> {
        if self.uses_lanes() {
            return self.take();
        }
        if self.is_rendezvous() {
            return None;
        }
        self.take_locked()
    }

    /// `take` on a bounded queue, whose lanes stay empty (its every
    /// message is held under the lock): no look at them.
    #[inline]
    fn take_locked(&self) -> Option<Message<T>> {
        if self.hot.len_hint.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut state = self.hot.state.lock();
        let msg = state.pop_highest()?;
        self.hot.len_hint.store(state.len, Ordering::SeqCst);
        self.room_freed(&state);
        Some(msg)
    }
}
