//! Messages given back by consumers: requeued at once, or held for a
//! delayed requeue until the timer brings them back.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::error::PopError;
use crate::message::Message;
use crate::reason::DeadLetterReason;
use crate::receipt::ReceiptState;
use crate::timer::{self, Due};
use crate::wait::Deadline;

use super::core::{Core, ALIVE};

impl<T: Send> Core<T> {
    /// Puts a message a consumer gave back into the queue, at the front of
    /// its level, or to dead letters if it has used up its redeliveries.
    pub(super) fn requeue(&self, msg: Message<T>) {
        if let Some(msg) = self.count_redelivery(msg) {
            self.put_back(msg);
        }
    }

    /// Counts a redelivery on the message's header and marks its receipt
    /// `Requeued`; past the limit, sends it to dead letters instead (`None`).
    pub(super) fn count_redelivery(&self, mut msg: Message<T>) -> Option<Message<T>> {
        if self
            .max_redeliveries()
            .is_some_and(|max| msg.header().redeliveries() >= max)
        {
            self.discard(msg, DeadLetterReason::MaxRedeliveries);
            return None;
        }
        msg.header_mut().add_redelivery();
        if let Some(log) = self.log.as_deref() {
            log.requeued(msg.header().id(), msg.header().redeliveries());
        }
        if let Some(tracker) = msg.header().tracker() {
            tracker.advance(ReceiptState::Requeued);
        }
        self.cold()
            .outcomes
            .redelivered
            .fetch_add(1, Ordering::Relaxed);
        Some(msg)
    }

    /// Requeues into the backend, settling a message that lands in a retired
    /// mailbox as `deliver` does, and dead-lettering one the backend refuses.
    pub(super) fn put_back(&self, msg: Message<T>) {
        if let Err(msg) = self.return_to_queue(msg) {
            // Only a custom backend refuses (the built-in ones take a
            // message back whatever their capacity or state). It was
            // counted as redelivered, but it will not be.
            self.cold()
                .outcomes
                .redelivered
                .fetch_sub(1, Ordering::Relaxed);
            self.discard(msg, DeadLetterReason::Overflow);
        }
    }

    /// Puts a message back at the front of its level and tells whoever
    /// waits for one; hands it back if the backend refuses.
    pub(super) fn return_to_queue(&self, msg: Message<T>) -> Result<(), Message<T>> {
        match self.queue.requeue(msg) {
            Ok(()) => {
                if self.retired.load(Ordering::SeqCst) != ALIVE {
                    self.sweep_retired();
                }
                self.announce();
                // A receiver of a closed mailbox may be waiting for delayed
                // messages (`wait_for_delayed`), on `came_back`, not on the
                // queue: tell it there is a message to take now. Through the
                // lock it checks under, so that it either sees the message
                // or is already waiting when notified.
                if let Some(cold) = self.cold.get() {
                    drop(cold.delayed.lock());
                    cold.came_back.notify_all();
                }
                Ok(())
            }
            Err(err) => Err(err.into_message()),
        }
    }

    /// Holds a message given back with a delay, and asks the timer to bring
    /// it back at `at`.
    pub(super) fn requeue_after(self: &Arc<Self>, msg: Message<T>, delay: Duration)
    where
        T: 'static,
    {
        let Some(msg) = self.count_redelivery(msg) else {
            return;
        };
        let Some(at) = Instant::now().checked_add(delay) else {
            // Too far to represent: it would never come back. Keep it
            // reachable instead of parking it forever.
            self.put_back(msg);
            return;
        };
        let cold = self.cold();
        let scheduled = {
            // Counted under the lock that publishes it: whoever takes it off
            // the list (the timer's `bring_back`, a retirement's sweep) and
            // subtracts it must find it counted, or `delayed` wraps below
            // zero, and a receiver waiting for it reads the wrapped count.
            let mut delayed = cold.delayed.lock();
            delayed.push((at, msg));
            cold.outcomes.delayed.fetch_add(1, Ordering::Relaxed);
            // Scheduled under the same lock as a retirement cancels under:
            // a wake-up is never left behind for a retired mailbox.
            let me: Weak<dyn Due> = Arc::downgrade(self) as Weak<dyn Due>;
            timer::schedule(cold.timer_key, at, me)
        };
        // A retirement that drained the delayed list before this push is
        // seen here (the same lock orders them): settle the message now.
        if self.retired.load(Ordering::SeqCst) != ALIVE {
            self.sweep_retired();
            return;
        }
        if !scheduled {
            // No timer thread could be started: redeliver now rather than
            // never.
            self.bring_back(None, None);
        }
    }

    /// Moves delayed messages due by `now` (all of them for `None`) back into
    /// the queue, and wakes receivers waiting for them. Called by the timer
    /// with `me`, the weak reference it holds, to ask it again for the next
    /// due time if more is delayed.
    pub(super) fn bring_back(&self, now: Option<Instant>, me: Option<&Weak<dyn Due>>) {
        let Some(cold) = self.cold.get() else {
            return;
        };
        let mut due = {
            let mut delayed = cold.delayed.lock();
            let mut due = Vec::new();
            let mut i = 0;
            while i < delayed.len() {
                if now.is_none_or(|now| delayed[i].0 <= now) {
                    due.push(delayed.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            // The timer keeps one wake-up per mailbox: ask for the next.
            // Under the lock, as `requeue_after` schedules.
            let next = delayed.iter().map(|(at, _)| *at).min();
            if let (Some(next), Some(me)) = (next, me) {
                timer::schedule(cold.timer_key, next, Weak::clone(me));
            }
            due
        };
        // Each goes to the front of its level: put the latest-due back first,
        // so that the earliest-due leaves first.
        due.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let count = due.len() as u64;
        for (_, msg) in due {
            self.put_back(msg);
        }
        // Counted out only once back in the queue, so that `delayed + len`
        // never shows the message missing.
        cold.count_out_delayed(count);
        // A closed mailbox's receiving tasks wait for these too: each looks
        // again (back in the queue, or nothing left to come).
        if count > 0 {
            self.recv_wakers.notify_all();
        }
    }

    /// A receiver found the mailbox closed and empty. If delayed messages
    /// will still come back, waits (until `deadline`) for them: `Ok` means
    /// look again. `Closed` means nothing will ever come.
    #[cold]
    #[inline(never)]
    pub(super) fn wait_for_delayed(&self, deadline: Deadline) -> Result<(), PopError> {
        let Some(cold) = self.cold.get() else {
            return Err(PopError::Closed);
        };
        let mut delayed = cold.delayed.lock();
        loop {
            // Something to take now (a delayed message back, or a delivery
            // given back at once): look again.
            if !self.queue.is_empty() {
                return Ok(());
            }
            if cold.outcomes.delayed.load(Ordering::Relaxed) == 0 {
                return Err(PopError::Closed);
            }
            let at = match deadline {
                Deadline::Now => return Err(PopError::Empty),
                Deadline::At(at) if Instant::now() >= at => return Err(PopError::Timeout),
                Deadline::At(at) => Some(at),
                Deadline::Never => None,
            };
            (delayed, _) = cold.came_back.wait_until(delayed, at);
        }
    }
}

impl<T: Send + 'static> Due for Core<T> {
    fn fire(&self, now: Instant, me: &Weak<dyn Due>) {
        self.bring_back(Some(now), Some(me));
    }
}
