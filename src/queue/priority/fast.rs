//! The mailbox's fast paths into the priority backend, as FIFO has
//! `Fifo::put` and `Fifo::take`: a plain send's message straight into its
//! lane, and a receive's take, each handing back `Option`/`Result` over the
//! bare message rather than the `Queue` trait's error plumbing (each layer
//! of `Result<Message, _>` re-tagging costs a copy of the message).

use std::sync::atomic::Ordering;

use crate::message::Message;

use super::Priority;

impl<T: Send> Priority<T> {
    /// A stamped message into its lane, if the queue is open and has room
    /// (`room.rs`). `Err` hands the message back untouched for
    /// [`Queue::push`](crate::Queue::push) (full, closed, a rendezvous: it
    /// sorts them out), so it carries no reason.
    #[inline(always)]
    pub(crate) fn put(&self, msg: Message<T>) -> Result<(), Message<T>> {
        if self.is_rendezvous() || self.gate.closed.load(Ordering::Acquire) || !self.claim_room() {
            return Err(msg);
        }
        self.enter(msg);
        Ok(())
    }

    /// The most urgent message queued on a buffered queue, its room given
    /// back; `None` if there is none, or on a rendezvous (whose receive
    /// takes offers: [`Queue::pop`](crate::Queue::pop) does that).
    #[inline(always)]
    pub(crate) fn take_queued(&self) -> Option<Message<T>> {
        if self.is_rendezvous() {
            return None;
        }
        self.take()
    }

    /// After [`take_queued`](Priority::take_queued) found nothing: whether
    /// [`Queue::try_pop`](crate::Queue::try_pop) would report `Empty` too
    /// (a buffered queue, not closed), so that a receive that does not wait
    /// may say so without walking the lanes again.
    #[inline(always)]
    pub(crate) fn empty_for_now(&self) -> bool {
        !self.is_rendezvous() && !self.gate.closed.load(Ordering::SeqCst)
    }
}
