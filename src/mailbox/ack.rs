//! A receiver handle's answering side: what its deliveries ack, requeue or
//! dead-letter through, and its prefetch limit (RabbitMQ's `basic.qos`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::error::PopError;
use crate::message::Message;
use crate::reason::DeadLetterReason;
use crate::receipt::ReceiptState;
use crate::signal::Signal;
use crate::stats::RecvCounters;
use crate::sync::{self, AtomicUsize, Mutex};
use crate::wait::Deadline;

use super::core::Core;
use super::{Delivery, Requeue};

/// Why an acknowledged receive failed, before it is narrowed to its family.
pub(crate) enum AckPopError {
    /// The queue said so.
    Pop(PopError),
    /// The prefetch limit was reached and the call could not wait.
    PrefetchFull,
}

/// A receiver handle's answering side: what its [`Delivery`]s hold to ack,
/// requeue or dead-letter, and its prefetch accounting. A delivery borrows
/// it from the handle, so a worker loop moves no reference count per
/// message (two locked instructions that, on a 2x2 job loop, drew most of
/// the consumers' own CPU samples); an owned delivery shares it (not the
/// core itself), touching a count only this handle's threads use.
pub(crate) struct Acker<T: Send> {
    /// The shared mailbox.
    core: Arc<Core<T>>,
    /// The handle's counters.
    local: Arc<RecvCounters>,
    /// The most unanswered deliveries at a time; 0: no limit.
    prefetch: AtomicUsize,
    /// Prefetch slots taken: deliveries made under a limit, unanswered, and
    /// the `debt` below.
    slots: AtomicUsize,
    /// Slots taken on behalf of deliveries made before the limit was set
    /// (they hold no slot of their own): as RabbitMQ's `basic.qos`, a new
    /// limit counts what is already unacknowledged. Each answer of a
    /// delivery without a slot pays one back.
    debt: AtomicUsize,
    /// Receives waiting for a slot.
    waiters: AtomicUsize,
    /// The doorbells of the receives waiting for a slot: an answer that
    /// frees one rings them all; each is also registered with the mailbox's
    /// watchers, so that a close rings it too.
    waiting: Mutex<Vec<Arc<Signal>>>,
}

impl<T: Send> Acker<T> {
    /// The answering side of a receiver handle with these counters, with
    /// no prefetch limit.
    pub(super) fn new(core: Arc<Core<T>>, local: Arc<RecvCounters>) -> Acker<T> {
        Acker {
            core,
            local,
            prefetch: AtomicUsize::new(0),
            slots: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            waiting: Mutex::new(Vec::new()),
        }
    }

    /// The prefetch limit; 0: none.
    pub(super) fn prefetch(&self) -> usize {
        self.prefetch.load(Ordering::Relaxed)
    }

    /// Sets the prefetch limit (0: none), and wakes waiters: they may now
    /// have room.
    pub(super) fn set_prefetch(&self, n: usize) {
        if n != 0 {
            // Deliveries handed out without a slot (no limit until now) and
            // not yet answered, less those already counted as debt.
            let slotless = self
                .outstanding()
                .saturating_sub(self.slots.load(Ordering::SeqCst) as u64);
            let slotless = usize::try_from(slotless).unwrap_or(usize::MAX);
            self.debt.fetch_add(slotless, Ordering::SeqCst);
            self.slots.fetch_add(slotless, Ordering::SeqCst);
        }
        self.prefetch.store(n, Ordering::SeqCst);
        self.wake_waiters();
    }

    /// Takes a prefetch slot if the handle has a limit (`Ok(true)`), waiting
    /// for one until `deadline`; `Ok(false)` without a limit.
    ///
    /// With `give_up_when_drained`, a wait also ends, with `Closed`, once the
    /// mailbox is closed with nothing left to deliver: a slot would be of no
    /// use (a receive without a limit would fail the same way).
    #[inline(always)]
    pub(super) fn reserve(
        &self,
        deadline: Deadline,
        give_up_when_drained: bool,
    ) -> Result<bool, AckPopError> {
        if self.prefetch.load(Ordering::Relaxed) == 0 {
            return Ok(false);
        }
        if self.try_take_slot() {
            return Ok(true);
        }
        self.reserve_slot(deadline, give_up_when_drained)
            .map(|()| true)
    }

    /// [`reserve`](Acker::reserve) once every slot was taken at the first
    /// look: out of line, so that taking a free slot stays in the caller.
    #[inline(never)]
    fn reserve_slot(
        &self,
        deadline: Deadline,
        give_up_when_drained: bool,
    ) -> Result<(), AckPopError> {
        let at = match deadline {
            Deadline::Now => return Err(AckPopError::PrefetchFull),
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        };
        // Announce the wait before looking again: an answer frees its slot,
        // then reads `waiters` (both SeqCst), so either it sees us and rings
        // our doorbell, or we see its slot. A close rings it through the
        // mailbox's watchers, which count it in the same way.
        let bell = Arc::new(Signal::new());
        self.waiting.lock().push(Arc::clone(&bell));
        self.waiters.fetch_add(1, Ordering::SeqCst);
        sync::handshake_fence();
        if give_up_when_drained {
            self.core.watchers.watch(&bell);
        }
        let result = loop {
            // Lowered before looking: a ring during the look is not lost.
            bell.lower();
            if self.try_take_slot() {
                break Ok(());
            }
            if give_up_when_drained && self.core.drained() {
                break Err(AckPopError::Pop(PopError::Closed));
            }
            if at.is_some_and(|at| Instant::now() >= at) {
                break Err(AckPopError::Pop(PopError::Timeout));
            }
            bell.wait_until(at);
        };
        if give_up_when_drained {
            self.core.watchers.unwatch(&bell);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        let mut waiting = self.waiting.lock();
        if let Some(i) = waiting.iter().position(|b| Arc::ptr_eq(b, &bell)) {
            waiting.swap_remove(i);
        }
        drop(waiting);
        if result.is_err() {
            // A slot freed for us while we gave up may be another waiter's
            // now: pass the ring on.
            self.wake_waiters();
        }
        result
    }

    /// Registers a task's doorbell to be rung when a slot frees (and, through
    /// the mailbox's watchers, when the mailbox closes): the async form of
    /// the wait in `reserve_slot`, which it announces in the same way. The
    /// caller looks again for a slot after this.
    pub(super) fn watch_slot(&self, bell: &Arc<Signal>) {
        self.waiting.lock().push(Arc::clone(bell));
        self.waiters.fetch_add(1, Ordering::SeqCst);
        sync::handshake_fence();
        self.core.watchers.watch(bell);
    }

    /// Takes back a doorbell registered with `watch_slot`.
    pub(super) fn unwatch_slot(&self, bell: &Arc<Signal>) {
        self.core.watchers.unwatch(bell);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        let mut waiting = self.waiting.lock();
        if let Some(i) = waiting.iter().position(|b| Arc::ptr_eq(b, bell)) {
            waiting.swap_remove(i);
        }
    }

    /// Takes a slot if fewer than the limit are taken.
    #[inline(always)]
    fn try_take_slot(&self) -> bool {
        let limit = self.prefetch.load(Ordering::SeqCst);
        let mut taken = self.slots.load(Ordering::SeqCst);
        loop {
            if limit != 0 && taken >= limit {
                return false;
            }
            match self.slots.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => taken = now,
            }
        }
    }

    /// Frees a slot and wakes a receive waiting for one.
    #[inline(always)]
    pub(super) fn release(&self) {
        self.slots.fetch_sub(1, Ordering::SeqCst);
        sync::handshake_fence();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_waiters();
        }
    }

    #[inline(never)]
    fn wake_waiters(&self) {
        for bell in self.waiting.lock().iter() {
            bell.raise();
        }
    }

    /// Deliveries handed out and not answered.
    pub(super) fn outstanding(&self) -> u64 {
        let delivered = self.local.delivered();
        let answered = self.local.acked() + self.local.nacked.load(Ordering::SeqCst);
        delivered.saturating_sub(answered)
    }
}

impl<T: Send + 'static> Acker<T> {
    /// Wraps a message popped for this handle into a delivery, and counts it.
    #[inline(always)]
    pub(super) fn deliver(acker: &sync::Arc<Self>, msg: Message<T>, slot: bool) -> Delivery<'_, T> {
        acker.count_delivered(1);
        Acker::hand_out(acker, msg, slot)
    }

    /// Counts `n` deliveries handed out (a batch counts once).
    #[inline(always)]
    pub(super) fn count_delivered(&self, n: u64) {
        self.local.count_delivered(n);
    }

    /// Wraps a message popped for this handle into a delivery without
    /// counting it: a durable mailbox's log records it delivered, its
    /// receipt says `Received`.
    #[inline(always)]
    pub(super) fn hand_out(
        acker: &sync::Arc<Self>,
        msg: Message<T>,
        slot: bool,
    ) -> Delivery<'_, T> {
        Acker::received(&msg);
        Acker::wrap(acker, msg, slot)
    }

    /// Wraps a message into a delivery (the durable log records it
    /// delivered) without telling its receipt: a batch tells the receipts
    /// once the batch is counted (`received`).
    #[inline(always)]
    pub(super) fn wrap(acker: &sync::Arc<Self>, msg: Message<T>, slot: bool) -> Delivery<'_, T> {
        if let Some(log) = acker.core.log.as_deref() {
            log.delivered(msg.header().id());
        }
        Delivery::new(msg, acker, slot)
    }

    /// Tells a handed-out message's receipt that a receiver has it. After
    /// the delivery is counted: a sender woken by its receipt
    /// (`Confirm::Received`) must find it in the statistics.
    #[inline(always)]
    pub(super) fn received(msg: &Message<T>) {
        if msg.header().has_ext() {
            if let Some(tracker) = msg.header().tracker() {
                tracker.advance(ReceiptState::Received);
            }
        }
    }

    /// The consumer acknowledged the message: processed, gone for good.
    #[inline(always)]
    pub(crate) fn ack(&self, msg: &mut Message<T>, slot: bool) {
        if let Some(log) = self.core.log.as_deref() {
            log.acked(msg.header().id());
        }
        self.local.count_acked();
        msg.header_mut().settle_tracker(ReceiptState::Acked);
        self.answered(slot);
    }

    /// The consumer gave the message back, or the delivery was dropped
    /// unanswered (`Requeue::Yes`).
    #[cold]
    pub(crate) fn nack(&self, msg: Message<T>, requeue: Requeue, slot: bool) {
        self.local.nacked.fetch_add(1, Ordering::Relaxed);
        match requeue {
            Requeue::Yes => self.core.requeue(msg),
            Requeue::No => self.core.discard(msg, DeadLetterReason::Rejected),
            Requeue::After(delay) => self.core.requeue_after(msg, delay),
        }
        self.answered(slot);
    }

    /// Frees the slot an answered delivery held, or pays back one of the
    /// `debt` if it held none. One load when there is no debt.
    #[inline(always)]
    fn answered(&self, slot: bool) {
        if slot {
            self.release();
        } else if self.debt.load(Ordering::Relaxed) != 0 {
            self.pay_debt();
        }
    }

    #[cold]
    #[inline(never)]
    fn pay_debt(&self) {
        let paid = self
            .debt
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |debt| {
                debt.checked_sub(1)
            })
            .is_ok();
        if paid {
            self.release();
        }
    }
}

impl<T: Send> Drop for Acker<T> {
    fn drop(&mut self) {
        // The handle and its last delivery are gone: its counts are final.
        self.core.tally.retire(&self.local);
    }
}
