//! The end of a mailbox: closing (senders and receivers learn it, and why),
//! and retiring for good (destroyed, or its last receiver gone), which
//! sends what is left to dead letters and settles a push that lands after
//! the drain.

use std::sync::atomic::Ordering;

use crate::reason::{ClosedReason, DeadLetterReason};
use crate::timer;
use crate::wait::Deadline;

use super::{retired_code, Core, ALIVE, DESTROYED};

impl<T: Send> Core<T> {
    /// Destroys the mailbox: closes it, so that every blocked and later sender
    /// and receiver gets `Closed` at once, and sends what was queued to dead
    /// letters. Idempotent.
    pub(in crate::mailbox) fn destroy(&self, why: ClosedReason) {
        self.record_close(why);
        self.retire(DeadLetterReason::Destroyed);
    }

    /// Ends the mailbox's life for good (destroyed, or its last receiver
    /// gone): closes it and sends what is queued to dead letters (or drops
    /// and counts it). The first reason sticks.
    ///
    /// A push can land after the drain (the FIFO backend checks its closed
    /// flag, then pushes). The flag is set, SeqCst, before the close and the
    /// drain, and every sender reads it, SeqCst, after its push (see
    /// `Sender::deliver`): either the drain sees the message or the sender
    /// sees the flag and sweeps the queue itself. For the built-in backends
    /// the push is a SeqCst RMW in crossbeam (whose receive reads the queue
    /// after a SeqCst fence) or happens under the lock the drain takes.
    pub(in crate::mailbox) fn retire(&self, reason: DeadLetterReason) {
        self.record_close(match reason {
            DeadLetterReason::Destroyed => ClosedReason::Destroyed,
            _ => ClosedReason::ReceiversGone,
        });
        let _ = self.retired.compare_exchange(
            ALIVE,
            retired_code(reason),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.close();
        self.sweep_retired();
    }

    /// Sends everything queued in a retired mailbox where dead letters go,
    /// under the reason it was retired for.
    #[cold]
    #[inline(never)]
    pub(in crate::mailbox) fn sweep_retired(&self) {
        let reason = match self.retired.load(Ordering::SeqCst) {
            DESTROYED => DeadLetterReason::Destroyed,
            _ => DeadLetterReason::NoReceivers,
        };
        self.discard_all(|| self.queue.pop(Deadline::Now).ok(), reason);
        // Messages waiting for a delayed requeue cannot come back either.
        if let Some(cold) = self.cold.get() {
            let delayed = {
                let mut delayed = cold.delayed.lock();
                // Nothing will come back: the timer lets go of the mailbox
                // now, not when the delay would have run out. Under the
                // lock a `bring_back` or `requeue_after` schedules under, so
                // that none schedules again after this.
                timer::cancel(cold.timer_key);
                std::mem::take(&mut *delayed)
            };
            let count = delayed.len() as u64;
            // Counted out first: a panicking drop must not leave them
            // counted as delayed forever.
            cold.count_out_delayed(count);
            // Tasks waiting for them learn that nothing will come back.
            self.recv_wakers.notify_all();
            let mut delayed = delayed.into_iter();
            self.discard_all(|| delayed.next().map(|(_, msg)| msg), reason);
        }
    }

    /// Whether the mailbox is closed with nothing left to deliver: nothing
    /// queued, and no delayed requeue still to come back.
    pub(in crate::mailbox) fn drained(&self) -> bool {
        // Closed first: a message pushed before the close is in `len` then.
        self.queue.is_closed()
            && self.queue.is_empty()
            && self
                .cold
                .get()
                .is_none_or(|cold| cold.outcomes.delayed.load(Ordering::SeqCst) == 0)
    }

    /// Records why the mailbox closes, unless an earlier reason was.
    pub(in crate::mailbox) fn record_close(&self, why: ClosedReason) {
        let _ = self
            .closed_by
            .compare_exchange(0, why.code(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Why the mailbox was closed, `None` while it is open.
    pub(in crate::mailbox) fn closed_reason(&self) -> Option<ClosedReason> {
        if !self.queue.is_closed() {
            return None;
        }
        ClosedReason::from_code(self.closed_by.load(Ordering::SeqCst))
    }

    /// Closes for `why` (see `close`).
    pub(in crate::mailbox) fn close_for(&self, why: ClosedReason) {
        self.record_close(why);
        self.close();
    }

    /// Closes the queue and wakes everyone who waits on it: selects,
    /// receivers (also those waiting for a prefetch slot) and senders
    /// waiting for room.
    pub(in crate::mailbox) fn close(&self) {
        self.queue.close();
        self.watchers.notify();
        self.recv_wakers.notify_all();
        self.room_wakers.notify_all();
    }
}
