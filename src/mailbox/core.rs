//! The state every handle of one mailbox shares, and what it does on its
//! own: push (with the overflow policy), settle (dead letters, expiry),
//! retire and close, and the statistics.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::error::PushError;
use crate::message::Message;
use crate::overflow::Overflow;
use crate::queue::{Fifo, Ready};
use crate::reason::{ClosedReason, DeadLetterReason};
use crate::signal::Watchers;
use crate::stats::{HandleCounters, MailboxStats, Outcomes, RecvCounters, Tally};
use crate::sync::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Condvar, Mutex, OnceLock};
use crate::timer;
use crate::wait::Deadline;
use crate::wake::{WaitList, Waiting};

use super::backend::Backend;
use super::durable::Log;
use super::sender::Limit;
use super::Sink;

/// `Core::retired` while the mailbox can deliver.
pub(super) const ALIVE: u8 = 0;
/// `Core::retired` once its last receiver went away.
const NO_RECEIVERS: u8 = 1;
/// `Core::retired` once it was destroyed.
const DESTROYED: u8 = 2;

/// The `Core::retired` code of a reason to retire a mailbox.
fn retired_code(reason: DeadLetterReason) -> u8 {
    match reason {
        DeadLetterReason::Destroyed => DESTROYED,
        _ => NO_RECEIVERS,
    }
}

/// How long a rendezvous sender watched by selects waits before it rings
/// them again (doubling up to [`RENDEZVOUS_RING_MAX`]).
const RENDEZVOUS_RING_FIRST: Duration = Duration::from_millis(1);

/// The longest wait between two rings of a rendezvous sender.
const RENDEZVOUS_RING_MAX: Duration = Duration::from_millis(32);

/// The longest accepted body, and how to measure a body.
pub(super) type BodyLimit<T> = (usize, fn(&T) -> usize);

/// What all handles of one mailbox share.
pub(super) struct Core<T: Send> {
    /// The messages.
    pub(super) queue: Backend<T>,
    /// Live sender handles; the last one to go closes the mailbox.
    pub(super) senders: AtomicUsize,
    /// Live receiver handles; the last one to go closes the mailbox and drops
    /// what is left (counted).
    pub(super) receivers: AtomicUsize,
    /// The limits few mailboxes set (body length, default time to live,
    /// redeliveries); boxed, so that the others pay one word for them (and
    /// a plain mailbox's sends never look: see `plain`).
    pub(super) settings: Option<Box<Settings<T>>>,
    /// `Some(n)`: priorities must be below `n`.
    pub(super) levels: Option<u8>,
    /// What a send to a full mailbox does.
    pub(super) overflow: Overflow,
    /// Why the mailbox can no longer deliver (`ALIVE` while it can): set by
    /// `retire` before it closes and drains the queue, and read by every
    /// successful send (next to `levels`, which every send reads too) to
    /// catch a push that landed after the drain.
    pub(super) retired: AtomicU8,
    /// Why the mailbox was closed ([`ClosedReason::code`]; 0 while open):
    /// the first reason sticks, recorded before the queue closes so that
    /// whoever sees it closed can read why.
    pub(super) closed_by: AtomicU8,
    /// Messages accepted, counted per sender handle, and messages taken
    /// and answered, counted per receiver handle.
    pub(super) tally: Tally,
    /// The highest sampled queue length.
    pub(super) peak_len: AtomicUsize,
    /// What the hot paths never touch (dead letters, nacks, delayed
    /// requeues), made on first use so that an idle mailbox does not pay
    /// for it.
    pub(super) cold: OnceLock<Box<Cold<T>>>,
    /// Where undeliverable messages go.
    pub(super) sink: Sink<T>,
    /// Selects waiting on this mailbox.
    pub(super) watchers: Watchers,
    /// Tasks waiting for a message (`recv_async` and its kin).
    pub(super) recv_wakers: WaitList,
    /// Tasks waiting for room (`send_async`, `reserve_async`).
    pub(super) room_wakers: WaitList,
    /// Whether waiting tasks also poll on a timer: a custom backend that
    /// did not take the readiness hook (see `Queue::ready_hook`).
    pub(super) polls: AtomicBool,
    /// A durable mailbox's log (`durable.rs`); boxed, so that other
    /// mailboxes pay one word for it.
    pub(super) log: Option<Box<Log<T>>>,
    /// A FIFO mailbox without a log, default time to live, body limit or
    /// priority levels: its sends take the fast path (`plain_fifo`), one
    /// load instead of four checks. Set once when it is built.
    pub(super) plain: bool,
}

/// The limits a mailbox may set, all optional.
pub(super) struct Settings<T> {
    /// The longest accepted body and how to measure one.
    pub(super) max_body_len: Option<BodyLimit<T>>,
    /// The time to live of messages that do not set their own.
    pub(super) ttl: Option<Duration>,
    /// The most times a message is given back before it is dead-lettered.
    pub(super) max_redeliveries: Option<u32>,
}

impl<T> Settings<T> {
    /// The settings box, or `None` if nothing is set (nothing to store).
    pub(super) fn boxed(self) -> Option<Box<Settings<T>>> {
        let set =
            self.max_body_len.is_some() || self.ttl.is_some() || self.max_redeliveries.is_some();
        set.then(|| Box::new(self))
    }
}

/// The rarely used part of a mailbox's state.
pub(super) struct Cold<T> {
    /// Where its messages ended, away from the hot paths.
    pub(super) outcomes: Outcomes,
    /// Messages waiting for a delayed requeue, with their due times.
    pub(super) delayed: Mutex<Vec<(Instant, Message<T>)>>,
    /// Woken when delayed messages come back (or are settled otherwise), for
    /// receivers of a closed mailbox that wait for them.
    pub(super) came_back: Condvar,
    /// The mailbox's key with the delayed-requeue timer.
    pub(super) timer_key: timer::Key,
}

impl<T> Cold<T> {
    /// Counts out `count` delayed messages that were settled (back in the
    /// queue, or dead letters), and wakes receivers waiting for them. Under
    /// the lock, so that a receiver of a closed mailbox checking the queue
    /// and this count together never misses the change.
    pub(super) fn count_out_delayed(&self, count: u64) {
        if count > 0 {
            let guard = self.delayed.lock();
            self.outcomes.delayed.fetch_sub(count, Ordering::Relaxed);
            drop(guard);
            self.came_back.notify_all();
        }
    }
}

impl<T: Send> Core<T> {
    /// The rarely used state, made on first use.
    pub(super) fn cold(&self) -> &Cold<T> {
        self.cold.get_or_init(|| {
            Box::new(Cold {
                outcomes: Outcomes::default(),
                delayed: Mutex::new(Vec::new()),
                came_back: Condvar::new(),
                timer_key: timer::new_key(),
            })
        })
    }

    /// Pushes without waiting if there is room; otherwise counts, on the
    /// sending handle's own counters, that the mailbox was found full
    /// (backpressure made visible) and waits as told.
    #[inline(always)]
    pub(super) fn push(
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
    pub(super) fn push_when_full(
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
    pub(super) fn push_evicting(&self, mut msg: Message<T>) -> Result<(), PushError<T>> {
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

    /// The longest accepted body and how to measure one, if limited.
    pub(super) fn body_limit(&self) -> Option<&BodyLimit<T>> {
        self.settings.as_deref()?.max_body_len.as_ref()
    }

    /// The time to live of messages that do not set their own, if any.
    pub(super) fn ttl(&self) -> Option<Duration> {
        self.settings.as_deref()?.ttl
    }

    /// The most redeliveries of a message, if limited.
    pub(super) fn max_redeliveries(&self) -> Option<u32> {
        self.settings.as_deref()?.max_redeliveries
    }

    /// The limit a message breaks, if any.
    #[inline]
    pub(super) fn violated_limit(&self, msg: &Message<T>) -> Option<Limit> {
        if let Some(&(max, len_of)) = self.body_limit() {
            if len_of(msg.body()) > max {
                return Some(Limit::BodyLen);
            }
        }
        match self.levels {
            Some(levels) if msg.header().priority() >= levels => Some(Limit::Priority),
            _ => None,
        }
    }

    /// The FIFO queue of a mailbox whose sends need nothing but the queue:
    /// no log, default time to live, body limit or priority levels.
    #[inline(always)]
    pub(super) fn plain_fifo(&self) -> Option<&Fifo<T>> {
        match &self.queue {
            Backend::Fifo(fifo) if self.plain => Some(fifo),
            _ => None,
        }
    }

    /// Counts `n` plain receives made on a thread that does not own the
    /// receiving handle (see `stats::Owner`).
    #[inline(never)]
    pub(super) fn count_received_shared(&self, n: u64) {
        self.cold()
            .outcomes
            .received_shared
            .fetch_add(n, Ordering::Relaxed);
    }

    /// The receive fast path: the head of a FIFO mailbox that keeps no log,
    /// with its room passed on to waiting tasks. `None`: take the general
    /// path (another backend, a durable mailbox, nothing ready, a requeue).
    #[inline(always)]
    pub(super) fn take_plain(&self) -> Option<Message<T>> {
        if self.log.is_some() {
            return None;
        }
        let Backend::Fifo(fifo) = &self.queue else {
            return None;
        };
        let msg = fifo.take()?;
        self.room_freed();
        Some(msg)
    }

    #[inline(never)]
    pub(super) fn sample_peak(&self) {
        let len = self.queue.len();
        // Read before writing: a write to this shared line on every sample
        // would bounce it between producer cores for nothing.
        if len > self.peak_len.load(Ordering::Relaxed) {
            self.peak_len.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Sends one message that cannot be delivered where dead letters go, and
    /// counts it.
    pub(super) fn discard(&self, msg: Message<T>, reason: DeadLetterReason) {
        if let Some(log) = self.log.as_deref() {
            // Its last receiver gone is not a loss for a durable mailbox:
            // the message stays in the log for the next open.
            if reason != DeadLetterReason::NoReceivers {
                log.dead_lettered(msg.header().id());
            }
        }
        match self.sink.dispose(msg, reason) {
            Ok(()) => self.cold().outcomes.dead_letter(reason, true),
            Err(msg) => {
                // Counted before the drop, which runs the body's `Drop`.
                self.cold().outcomes.dead_letter(reason, false);
                drop(msg);
            }
        }
    }

    /// Discards every message `next` yields, even if dropping one panics (a
    /// body's `Drop`): the rest are still settled and counted, then the
    /// first panic goes on. Except while this thread is already unwinding
    /// (a mailbox torn down by a panic), where a second panic would abort
    /// the process: those are swallowed.
    #[cold]
    fn discard_all(&self, mut next: impl FnMut() -> Option<Message<T>>, reason: DeadLetterReason) {
        let mut first_panic = None;
        while let Some(msg) = next() {
            let discarded = panic::catch_unwind(AssertUnwindSafe(|| self.discard(msg, reason)));
            if let Err(payload) = discarded {
                first_panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = first_panic {
            if !std::thread::panicking() {
                panic::resume_unwind(payload);
            }
        }
    }

    /// Whether a message has outlived its time to live; such a message goes
    /// to dead letters instead of out. Inline, only the branch on the boxed
    /// header part (which every expiry lives in): the clock is read out of
    /// line, for messages that have one.
    #[inline(always)]
    pub(super) fn outlived(&self, msg: &Message<T>) -> bool {
        msg.header().has_ext() && self.expired(msg)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn expired(&self, msg: &Message<T>) -> bool {
        msg.header().is_expired_at(Instant::now())
    }

    /// Destroys the mailbox: closes it, so that every blocked and later sender
    /// and receiver gets `Closed` at once, and sends what was queued to dead
    /// letters. Idempotent.
    pub(super) fn destroy(&self, why: ClosedReason) {
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
    pub(super) fn retire(&self, reason: DeadLetterReason) {
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
    pub(super) fn sweep_retired(&self) {
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
    pub(super) fn drained(&self) -> bool {
        // Closed first: a message pushed before the close is in `len` then.
        self.queue.is_closed()
            && self.queue.len() == 0
            && self
                .cold
                .get()
                .is_none_or(|cold| cold.outcomes.delayed.load(Ordering::SeqCst) == 0)
    }

    /// Closes the queue and tells waiting selects (and receives waiting for a
    /// prefetch slot).
    /// Records why the mailbox closes, unless an earlier reason was.
    pub(super) fn record_close(&self, why: ClosedReason) {
        let _ = self
            .closed_by
            .compare_exchange(0, why.code(), Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Why the mailbox was closed, `None` while it is open.
    pub(super) fn closed_reason(&self) -> Option<ClosedReason> {
        if !self.queue.is_closed() {
            return None;
        }
        ClosedReason::from_code(self.closed_by.load(Ordering::SeqCst))
    }

    /// Closes for `why` (see `close`).
    pub(super) fn close_for(&self, why: ClosedReason) {
        self.record_close(why);
        self.close();
    }

    pub(super) fn close(&self) {
        self.queue.close();
        self.watchers.notify();
        self.recv_wakers.notify_all();
        self.room_wakers.notify_all();
    }

    /// A message became available (a send landed, a requeue, a rendezvous
    /// sender's offer): rings the selects watching, and wakes one task
    /// waiting to receive. Two loads when nobody waits.
    #[inline(always)]
    pub(super) fn announce(&self) {
        self.watchers.notify();
        self.recv_wakers.notify_one();
    }

    /// For a task about to wait: if the backend cannot wake it for changes
    /// the mailbox does not see, asks the timer to wake it soon as well.
    pub(crate) fn poll_later(&self, waiting: &mut Waiting, waker: &Waker) {
        if self.polls.load(Ordering::Relaxed) {
            waiting.poll_later(waker);
        }
    }

    /// Whether a send could find room now (a hint: another may take it).
    pub(super) fn has_room(&self) -> bool {
        self.queue
            .capacity()
            .is_none_or(|cap| self.queue.len() < cap)
    }

    /// Whether nothing is queued.
    pub(super) fn queue_is_empty(&self) -> bool {
        self.queue.len() == 0
    }

    /// A message left the queue: wakes one task waiting for room. One load
    /// when none waits.
    #[inline(always)]
    pub(super) fn room_freed(&self) {
        self.room_wakers.notify_one();
    }

    /// `n` messages left the queue at once (a batch receive): wakes up to
    /// `n` tasks waiting for room, one for each. One load when none waits.
    #[inline(always)]
    pub(super) fn rooms_freed(&self, n: usize) {
        if self.room_wakers.is_waited() {
            self.wake_for_room(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_for_room(&self, n: usize) {
        for _ in 0..n {
            self.room_freed();
        }
    }

    pub(super) fn stats(&self) -> MailboxStats {
        // Read what leaves the mailbox before what enters it, so that a
        // snapshot taken while messages flow never shows more out than in
        // (a message can be taken in the instant between a blocked sender's
        // push and its leaving the waiting count, hence the max).
        let recv = self.tally.totals::<RecvCounters>();
        let outcomes = self.cold.get().map(|cold| &cold.outcomes);
        let shared = |count: fn(&Outcomes) -> &AtomicU64| {
            outcomes.map_or(0, |o| count(o).load(Ordering::Relaxed))
        };
        let received_shared = shared(|o| &o.received_shared);
        let (dropped, dead_lettered, dead_letters, redelivered, delayed) = match outcomes {
            Some(outcomes) => (
                outcomes.dropped.load(Ordering::Relaxed),
                outcomes.dead_lettered.load(Ordering::Relaxed),
                outcomes.dead_letters(),
                outcomes.redelivered.load(Ordering::Relaxed),
                outcomes.delayed.load(Ordering::Relaxed),
            ),
            None => Default::default(),
        };
        let received = recv
            .count
            .wrapping_add(received_shared)
            .wrapping_add(recv.acked);
        let unacked = recv
            .delivered
            .saturating_sub(recv.acked)
            .saturating_sub(recv.nacked);
        let len = self.queue.len();
        let mut sent = self.tally.totals::<HandleCounters>();
        sent.count = sent.count.wrapping_add(shared(|o| &o.sent_shared));
        let out = received
            .saturating_add(dropped)
            .saturating_add(dead_lettered)
            .saturating_add(unacked)
            .saturating_add(delayed);
        MailboxStats {
            // Requeued messages can make `len` count one twice for an
            // instant; `sent` is only raised to what provably left.
            sent: sent.count.max(out),
            received,
            len,
            // The length now is a sample too, kept like the others: a
            // mailbox read before its first sampled send reports a true
            // peak, and a later read never reports a lower one.
            peak_len: self.peak_len.fetch_max(len, Ordering::Relaxed).max(len),
            found_full: sent.found_full,
            dropped,
            dead_lettered,
            dead_letters,
            acked: recv.acked,
            nacked: recv.nacked,
            redelivered,
            unacked,
            delayed,
        }
    }
}

impl<T: Send> Drop for Core<T> {
    fn drop(&mut self) {
        // Every handle is gone: whatever a custom backend still holds goes
        // where dead letters go.
        self.retire(DeadLetterReason::NoReceivers);
        // A durable mailbox's log keeps what was left, and learns that no
        // delivery is outstanding (every one held the core).
        if let Some(log) = self.log.as_deref_mut() {
            log.close();
        }
    }
}

/// What a custom backend's readiness hook reaches.
impl<T: Send> Ready for Core<T> {
    fn message_ready(&self) {
        self.announce();
    }

    fn room_ready(&self) {
        self.room_freed();
    }
}
