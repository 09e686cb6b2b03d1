//! The stages every send goes through, from the message handed in to the
//! message queued (or refused and handed back): number and stamp it, check
//! the mailbox's limits, log it (durable mailboxes), push it, settle a push
//! that raced the mailbox's retirement, and wait for the confirmation asked
//! for. The blocking and non-blocking forms of [`Sender`] wrap
//! `send_inner`; the async sends (`send_async.rs`) call the stages one by one.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{PushError, SendError, SendTimeoutError};
use crate::id::{MessageId, Pid};
use crate::message::Message;
use crate::receipt::{Milestone, Receipt, Tracker};
use crate::wait::{Confirm, Deadline};

use super::Sender;
use crate::mailbox::core::ALIVE;

/// Every 32nd send of a handle samples the queue length for `peak_len`.
const PEAK_SAMPLE_MASK: u64 = 31;

impl<T: Send> Sender<T> {
    /// The one primitive every public send wraps: validate, stamp, push with
    /// `deadline`, then wait (within the same deadline) for the confirmation
    /// asked for.
    ///
    /// The untracked path is kept small enough to inline: the message should
    /// stay in registers from the caller to crossbeam's slot, and every cold
    /// case (refusals, receipts, peak sampling) lives in a separate function.
    #[inline(always)]
    pub(super) fn send_inner(
        &self,
        msg: impl Into<Message<T>>,
        deadline: Deadline,
        confirm: Confirm,
        source: Option<Pid>,
    ) -> Result<(), SendTimeoutError<T>> {
        let msg = match (source, confirm) {
            (None, Confirm::Queued) => match self.put_plain(msg.into()) {
                Ok(()) => return Ok(()),
                // The fast push handed the stamped message back: it goes
                // the general way from the push on.
                Err((msg, Some(seq))) => return self.deliver_general(msg, seq, deadline),
                Err((msg, None)) => msg,
            },
            _ => msg.into(),
        };
        self.send_general(msg, deadline, confirm, source)
    }

    /// The fast path of every send that asks no confirmation and names no
    /// source: a plain FIFO or priority mailbox's message stamped and put
    /// straight into its queue (no limit to check, no time to live to set,
    /// no log to write; a priority mailbox's message once its priority is
    /// known to be valid). `Err` hands the message back for the general
    /// way: with its sequence number if it was stamped (the put found the
    /// queue full, gated or closed: only the push is left to do), without
    /// if the mailbox or the message is not plain. The two puts are written
    /// out on purpose: folded into one (taking the put as a closure, or its
    /// result), the FIFO send+recv cost 4 instructions more (callgrind,
    /// 446.9 -> 450.9 per message).
    #[inline(always)]
    pub(in crate::mailbox) fn put_plain(
        &self,
        mut msg: Message<T>,
    ) -> Result<(), (Message<T>, Option<u64>)> {
        if let Some(fifo) = self.core.plain_fifo() {
            let (seq, id) = self.number();
            msg.header_mut().stamp(id);
            return match fifo.put(msg) {
                Ok(()) => {
                    self.landed(seq);
                    Ok(())
                }
                Err(msg) => Err((msg, Some(seq))),
            };
        }
        if let Some(queue) = self.core.plain_priority() {
            if msg.header().priority() < queue.levels() {
                let (seq, id) = self.number();
                msg.header_mut().stamp(id);
                return match queue.put(msg) {
                    Ok(()) => {
                        self.landed(seq);
                        Ok(())
                    }
                    Err(msg) => Err((msg, Some(seq))),
                };
            }
        }
        Err((msg, None))
    }

    /// Every send the fast path does not take: validate, stamp (with the
    /// default time to live), log, push, and wait for the confirmation.
    /// Inlined: out of line, the call boundary cost the priority backend's
    /// send+recv 27 instructions (callgrind), and FIFO nothing.
    #[inline(always)]
    fn send_general(
        &self,
        msg: Message<T>,
        deadline: Deadline,
        confirm: Confirm,
        source: Option<Pid>,
    ) -> Result<(), SendTimeoutError<T>> {
        let (msg, seq) = self.admit(msg, source)?;
        match confirm {
            Confirm::Queued => self.deliver(msg, seq, deadline),
            Confirm::Received => self.deliver_confirmed(msg, seq, deadline, Milestone::Received),
            Confirm::Acked => self.deliver_confirmed(msg, seq, deadline, Milestone::Acked),
        }
    }

    /// The general prelude of a send the fast path did not take (blocking,
    /// async, or a permit's): checks the mailbox's limits, stamps the
    /// message (with the source of a direct send) and logs it. Returns the
    /// message and its sequence number, or the error that hands it back.
    #[inline(always)]
    pub(in crate::mailbox) fn admit(
        &self,
        mut msg: Message<T>,
        source: Option<Pid>,
    ) -> Result<(Message<T>, u64), SendTimeoutError<T>> {
        if let Some(limit) = self.core.violated_limit(&msg) {
            return Err(limit.refuse(msg));
        }
        let seq = self.stamp(&mut msg);
        if let Some(pid) = source {
            msg.header_mut().set_source(pid);
        }
        if self.logged(&msg).is_err() {
            return Err(self.not_logged(msg));
        }
        Ok((msg, seq))
    }

    /// Counts the send and numbers the message with one uncontended RMW (a
    /// refusal later takes the count back), and stamps the header (with the
    /// mailbox's default time to live, if it has one). Returns the message's
    /// sequence number within this handle.
    #[inline(always)]
    pub(in crate::mailbox) fn stamp(&self, msg: &mut Message<T>) -> u64 {
        let (seq, id) = self.number();
        msg.header_mut().stamp(id);
        if let Some(ttl) = self.core.ttl() {
            msg.header_mut().default_ttl(ttl);
        }
        seq
    }

    /// Counts a send and gives it an id: on the thread that owns this
    /// handle's counters with a plain store and from the handle's block,
    /// on any other with a locked add and from the thread's block (see
    /// `stats::Owner`). Returns the send's sequence number (for peak
    /// sampling) and its id.
    #[inline(always)]
    fn number(&self) -> (u64, MessageId) {
        match self.local.bump() {
            Some(seq) => (seq, self.core.id_for(&self.local, seq)),
            None => self.core.number_shared(),
        }
    }

    /// A durable mailbox logs a stamped message before it enters the queue
    /// (and returns once the log holds it, per the sync policy); other
    /// mailboxes pay one branch.
    ///
    /// The message is only borrowed here, and moved out only on the cold
    /// failure path, so that a plain mailbox's send keeps it in registers
    /// (returning it through a `Result` cost a copy per send, measured).
    #[inline(always)]
    pub(in crate::mailbox) fn logged(&self, msg: &Message<T>) -> Result<(), ()> {
        match self.core.log.as_deref() {
            None => Ok(()),
            Some(log) => log.enqueue(msg),
        }
    }

    /// A message the log refused, handed back: counted when stamped, never
    /// sent.
    #[cold]
    #[inline(never)]
    pub(in crate::mailbox) fn not_logged(&self, msg: Message<T>) -> SendTimeoutError<T> {
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        SendTimeoutError::NotLogged(untracked(msg))
    }

    /// Attaches a receipt to a stamped (and logged) message; a durable
    /// mailbox's log marks it durable when it is.
    pub(in crate::mailbox) fn track_logged(&self, msg: &mut Message<T>) -> Receipt {
        let receipt = track(msg);
        if let Some(log) = self.core.log.as_deref() {
            log.watch_durable(receipt.tracker());
        }
        receipt
    }

    /// Pushes a stamped message.
    #[inline(always)]
    pub(super) fn deliver(
        &self,
        msg: Message<T>,
        seq: u64,
        deadline: Deadline,
    ) -> Result<(), SendTimeoutError<T>> {
        match self.core.push(msg, deadline, &self.local) {
            Ok(()) => {
                self.landed(seq);
                Ok(())
            }
            Err(err) => Err(self.refused(err)),
        }
    }

    /// [`deliver`](Self::deliver) out of line, for the fast path's
    /// fallback (full, gated, closed, a message with rare header fields).
    #[inline(never)]
    fn deliver_general(
        &self,
        msg: Message<T>,
        seq: u64,
        deadline: Deadline,
    ) -> Result<(), SendTimeoutError<T>> {
        self.deliver(msg, seq, deadline)
    }

    /// What follows every push that landed, whatever waited for it.
    #[inline(always)]
    pub(in crate::mailbox) fn landed(&self, seq: u64) {
        // A push that landed after the mailbox was retired (destroyed, or
        // its last receiver gone) and drained: settle it now, so it goes to
        // dead letters rather than sitting where nobody, or a receiver of a
        // destroyed mailbox, would take it (see `Core::retire`). One load of
        // a line every send reads anyway.
        if self.core.retired.load(Ordering::SeqCst) != ALIVE {
            self.core.sweep_retired();
        }
        self.core.announce();
        if seq & PEAK_SAMPLE_MASK == 0 {
            self.core.sample_peak();
        }
    }

    /// Delivers with a receipt attached and waits, until `deadline`, for the
    /// message to reach `milestone` (taken by a receiver, or acknowledged).
    #[inline(never)]
    fn deliver_confirmed(
        &self,
        msg: Message<T>,
        seq: u64,
        deadline: Deadline,
        milestone: Milestone,
    ) -> Result<(), SendTimeoutError<T>> {
        let receipt = self.deliver_tracked(msg, seq, deadline)?;
        receipt
            .wait_until(milestone, deadline)
            .map_err(|_| SendTimeoutError::Unconfirmed(receipt))
    }

    /// Attaches a receipt and delivers the message.
    pub(super) fn deliver_tracked(
        &self,
        mut msg: Message<T>,
        seq: u64,
        deadline: Deadline,
    ) -> Result<Receipt, SendTimeoutError<T>> {
        let receipt = self.track_logged(&mut msg);
        // A push racing with the mailbox's retirement is settled by `deliver`,
        // so a receipt never waits on a message nobody can take.
        self.deliver(msg, seq, deadline)?;
        Ok(receipt)
    }

    /// Turns a backend refusal into the caller's error, taking any receipt
    /// link off the message handed back (that send never happened).
    #[cold]
    #[inline(never)]
    pub(in crate::mailbox) fn refused(&self, err: PushError<T>) -> SendTimeoutError<T> {
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(log) = self.core.log.as_deref() {
            // Logged, then refused by the queue: gone from the log too.
            let msg = match &err {
                PushError::Full(m) | PushError::Timeout(m) | PushError::Closed(m) => m,
            };
            log.withdrawn(msg.header().id());
        }
        match err {
            PushError::Full(m) => SendTimeoutError::Full(untracked(m)),
            PushError::Timeout(m) => SendTimeoutError::Timeout(untracked(m)),
            PushError::Closed(m) => SendTimeoutError::Closed(untracked(m)),
        }
    }
}

/// A mailbox limit that a message can break.
#[derive(Clone, Copy, Debug)]
pub(in crate::mailbox) enum Limit {
    /// `max_body_len`.
    BodyLen,
    /// The priority levels.
    Priority,
}

impl Limit {
    /// The error that refuses `msg` for breaking this limit.
    #[cold]
    pub(in crate::mailbox) fn refuse<T>(self, msg: Message<T>) -> SendTimeoutError<T> {
        match self {
            Limit::BodyLen => SendTimeoutError::TooLong(msg),
            Limit::Priority => SendTimeoutError::InvalidPriority(msg),
        }
    }
}

/// Narrows the error of a send without deadline to its own family.
pub(crate) fn blocking_error<T>(err: SendTimeoutError<T>) -> SendError<T> {
    match err {
        SendTimeoutError::TooLong(m) => SendError::TooLong(m),
        SendTimeoutError::InvalidPriority(m) => SendError::InvalidPriority(m),
        SendTimeoutError::NotLogged(m) => SendError::NotLogged(m),
        SendTimeoutError::Unconfirmed(r) => SendError::Unconfirmed(r),
        // Without a deadline, Full only comes from an overflow policy that
        // refuses rather than waits.
        SendTimeoutError::Full(m) => SendError::Full(m),
        // Without a deadline the backend never reports Timeout.
        SendTimeoutError::Closed(m) | SendTimeoutError::Timeout(m) => SendError::Closed(m),
    }
}

/// Attaches a receipt to a stamped message.
pub(in crate::mailbox) fn track<T>(msg: &mut Message<T>) -> Receipt {
    let tracker = Arc::new(Tracker::new(msg.header().id()));
    msg.header_mut().set_tracker(Arc::clone(&tracker));
    Receipt::new(tracker)
}

/// Takes any receipt link and the id off a message handed back to its sender.
pub(in crate::mailbox) fn untracked<T>(mut msg: Message<T>) -> Message<T> {
    let header = msg.header_mut();
    drop(header.take_tracker());
    // The mailbox did not accept it: it goes back unsent, as it came.
    header.stamp(MessageId::UNSENT);
    msg
}
