//! Putting a message in the queue: at once if there is room, else as the
//! mailbox's [`Overflow`] policy says (wait, refuse, or evict to dead
//! letters), and a rendezvous sender's wait, which keeps the selects
//! watching the mailbox told.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::error::PushError;
use crate::message::Message;
use crate::overflow::Overflow;
use crate::reason::DeadLetterReason;
use crate::stats::HandleCounters;
use crate::wait::Deadline;

use super::Core;
use crate::mailbox::backend::Backend;

/// How long a rendezvous sender watched by selects waits before it rings
/// them again (doubling up to [`RENDEZVOUS_RING_MAX`]).
const RENDEZVOUS_RING_FIRST: Duration = Duration::from_millis(1);

/// The longest wait between two rings of a rendezvous sender.
const RENDEZVOUS_RING_MAX: Duration = Duration::from_millis(32);

impl<T: Send> Core<T> {
    /// Pushes without waiting if there is room; otherwise counts, on the
    /// sending handle's own counters, that the mailbox was found full
    /// (backpressure made visible) and waits as told.
    #[inline(always)]
    pub(in crate::mailbox) fn push(
        &self,
        msg: Message<T>,
        deadline: Deadline,
        local: &HandleCounters,
    ) -> Result<(), PushError<T>> {
        match self.queue.try_push(msg) {
            Err(PushError::Full(msg)) => self.push_when_full(msg, deadline, local),
            done => done,
        }
    }

    #[inline(never)]
    pub(in crate::mailbox) fn push_when_full(
        &self,
        msg: Message<T>,
        deadline: Deadline,
        local: &HandleCounters,
    ) -> Result<(), PushError<T>> {
        local.found_full.fetch_add(1, Ordering::Relaxed);
        match self.overflow {
            Overflow::Block => {}
            Overflow::Reject => return Err(PushError::Full(msg)),
            Overflow::DropOldest | Overflow::DropLowest => return self.push_evicting(msg),
        }
        let at = match deadline {
            Deadline::Now => return Err(PushError::Full(msg)),
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        };
        // The sender counted this message when it stamped it; while it waits
        // for room it is not sent yet, so statistics subtract it.
        local.waiting.fetch_add(1, Ordering::Relaxed);
        let pushed = if self.queue.capacity() == Some(0) {
            self.push_rendezvous(msg, at)
        } else {
            self.queue.push(msg, at)
        };
        local.waiting.fetch_sub(1, Ordering::Relaxed);
        pushed
    }

    /// Waits for a receiver to take the message from a rendezvous, until
    /// `at`, and tells the selects watching the mailbox, which only poll.
    ///
    /// The priority backend says when a waiting sender's message can be
    /// taken: the selects are rung then, and a select that polls after that
    /// takes it, so there is no window to miss. crossbeam's channel (and a
    /// custom backend) pairs a poll only with a sender already inside its
    /// wait, and the sender cannot say "I wait now" from in there: while
    /// selects watch, it waits in slices (1 ms, doubling up to 32 ms) and
    /// rings them before each, so a ring that came before it could pair is
    /// not the last word. Unwatched, it waits for its whole deadline at once
    /// (no timer while no select cares); a select that begins to watch just
    /// after the sender looked finds it by polling again soon (see
    /// `Select`'s wait).
    #[inline(never)]
    fn push_rendezvous(
        &self,
        mut msg: Message<T>,
        at: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        if let Backend::Priority(queue) = &self.queue {
            return queue.push_announced(msg, at, &|| self.announce());
        }
        let mut slice = RENDEZVOUS_RING_FIRST;
        loop {
            if !self.watchers.is_watched() {
                return self.queue.push(msg, at);
            }
            self.watchers.notify();
            let until = Instant::now() + slice;
            let until = at.map_or(until, |at| at.min(until));
            msg = match self.queue.push(msg, Some(until)) {
                Err(PushError::Timeout(msg)) if at.is_none_or(|at| Instant::now() < at) => msg,
                done => return done,
            };
            slice = (slice * 2).min(RENDEZVOUS_RING_MAX);
        }
    }

    /// Makes room by evicting to dead letters as the overflow policy says,
    /// then pushes; never waits. Evicts until the message fits: one message
    /// out for one in, unless requeued deliveries (which ignore the capacity)
    /// put the mailbox over it; then it is brought back to its capacity, as
    /// RabbitMQ's `drop-head` keeps a queue at its length limit. Racing
    /// senders each evict only while the queue is full, so together they
    /// never take out more than that.
    pub(in crate::mailbox) fn push_evicting(
        &self,
        mut msg: Message<T>,
    ) -> Result<(), PushError<T>> {
        if self.queue.capacity() == Some(0) {
            // A rendezvous queues nothing: there is nothing to evict.
            return Err(PushError::Full(msg));
        }
        loop {
            let evicted = match self.overflow {
                Overflow::DropLowest => self.queue.evict_lowest(msg.header().priority()),
                _ => self.queue.pop(Deadline::Now).ok(),
            };
            let Some(evicted) = evicted else {
                // Nothing less urgent to evict (DropLowest), or the queue
                // emptied meanwhile: one more try, then refuse.
                return self.queue.try_push(msg);
            };
            msg = match self.queue.try_push(msg) {
                Err(PushError::Closed(msg)) => {
                    // Closed meanwhile: the eviction made room for nothing.
                    // The evicted message goes back to where it was, for a
                    // receiver to drain or the close to settle with its own
                    // reason.
                    if let Err(evicted) = self.return_to_queue(evicted) {
                        self.discard(evicted, DeadLetterReason::Overflow);
                    }
                    return Err(PushError::Closed(msg));
                }
                pushed => {
                    // An evicted message whose time ran out anyway is
                    // labelled for that.
                    let reason = if self.outlived(&evicted) {
                        DeadLetterReason::Expired
                    } else {
                        DeadLetterReason::Overflow
                    };
                    self.discard(evicted, reason);
                    match pushed {
                        Err(PushError::Full(msg)) => msg,
                        done => return done,
                    }
                }
            };
        }
    }
}
