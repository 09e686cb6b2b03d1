//! The receiving half of a mailbox: plain receives (an automatic
//! acknowledgement) and acknowledged ones, which hand out a [`Delivery`].

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{PopError, RecvError, RecvTimeoutError, TryRecvAckError, TryRecvError};
use crate::message::Message;
use crate::reason::{ClosedReason, DeadLetterReason};
use crate::receipt::ReceiptState;
use crate::signal::Watchers;
use crate::stats::{MailboxStats, RecvCounters};
use crate::sync::{self, OnceLock};
use crate::wait::{Deadline, Wait};

use super::ack::{AckPopError, Acker};
use super::core::Core;
use super::iter::{Iter, TryIter};
use super::Delivery;

/// The receiving half of a mailbox. Clone it for competing consumers: each
/// message goes to exactly one receiver.
///
/// | method | waits for a message | returns |
/// | --- | --- | --- |
/// | [`recv`](Receiver::recv) | yes | `RecvError` (closed and empty) |
/// | [`try_recv`](Receiver::try_recv) | no | `TryRecvError` (`Empty` / `Closed`) |
/// | [`recv_timeout`](Receiver::recv_timeout) / [`recv_deadline`](Receiver::recv_deadline) | until then | `RecvTimeoutError` |
/// | [`recv_with`](Receiver::recv_with) | as told | `RecvTimeoutError` |
/// | [`recv_many`](Receiver::recv_many) / [`try_recv_many`](Receiver::try_recv_many) / [`recv_many_timeout`](Receiver::recv_many_timeout) | for the first of up to `max` | how many were appended to a `Vec`, or the error of the one-message form |
///
/// Each has an async form (`recv_async`, `recv_many_async`) and an
/// acknowledged one (`recv_ack`, `recv_ack_many`, ...) that hands out
/// [`Delivery`]s.
///
/// The test for arrival on this side: [`is_empty`](Receiver::is_empty),
/// [`len`](Receiver::len), [`try_recv`](Receiver::try_recv).
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, TryRecvError};
///
/// let (tx, rx) = Mailbox::<u32>::builder().build();
/// assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// drop(tx);
/// // Senders gone: what is queued is still delivered, then Closed.
/// let bodies: Vec<u32> = rx.iter().map(|m| m.into_body()).collect();
/// assert_eq!(bodies, [1, 2]);
/// assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
/// ```
pub struct Receiver<T: Send> {
    /// The shared mailbox.
    core: Arc<Core<T>>,
    /// This handle's receive counts.
    local: Arc<RecvCounters>,
    /// What this handle's deliveries answer through: borrowed by them, and
    /// shared with owned ones (`Delivery::into_owned`), which may outlive
    /// the handle. Made by the first acknowledged
    /// receive or prefetch setting: a handle that only uses plain receives
    /// (a million idle mailboxes) does not pay for it.
    acker: OnceLock<sync::Arc<Acker<T>>>,
}

impl<T: Send> Receiver<T> {
    pub(super) fn attach(core: Arc<Core<T>>) -> Receiver<T> {
        let local = core.tally.register(RecvCounters::default());
        Receiver {
            core,
            local,
            acker: OnceLock::new(),
        }
    }

    /// The shared mailbox.
    pub(super) fn core(&self) -> &Core<T> {
        &self.core
    }

    /// The handle's answering side, made on first use.
    pub(super) fn acker(&self) -> &sync::Arc<Acker<T>> {
        self.acker.get_or_init(|| {
            sync::Arc::new(Acker::new(Arc::clone(&self.core), Arc::clone(&self.local)))
        })
    }

    /// Pops the next message that may be delivered: expired ones go to dead
    /// letters on the way, and a closed mailbox is only reported closed once
    /// no delayed requeue can bring anything back. Counts nothing.
    ///
    /// First the fast path (see [`Core::take_plain`]): a message without
    /// rare header fields cannot expire, so a FIFO mailbox (durable or
    /// not) hands it out at once; everything else takes the general path.
    /// A receive that does not wait and finds a FIFO or buffered priority
    /// mailbox plainly empty reports it at once (see [`Core::empty_for_now`]).
    #[inline(always)]
    pub(super) fn pop_live(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        match self.core.take_plain() {
            Some(msg) => {
                if !msg.header().has_ext() {
                    return Ok(msg);
                }
                if let Some(msg) = self.unexpired(msg) {
                    return Ok(msg);
                }
            }
            None if deadline == Deadline::Now && self.core.empty_for_now() => {
                return Err(PopError::Empty);
            }
            None => {}
        }
        self.pop_general(deadline)
    }

    /// A message with rare header fields that the fast path took: itself if
    /// it may be delivered, else it goes to dead letters and `None`.
    #[cold]
    #[inline(never)]
    fn unexpired(&self, msg: Message<T>) -> Option<Message<T>> {
        if self.core.outlived(&msg) {
            self.core.discard(msg, DeadLetterReason::Expired);
            return None;
        }
        Some(msg)
    }

    /// `pop_live` for every backend, waiting as `deadline` says.
    #[inline(always)]
    fn pop_general(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        loop {
            match self.core.queue.pop(deadline) {
                Ok(msg) if self.core.outlived(&msg) => {
                    self.core.room_freed();
                    self.core.discard(msg, DeadLetterReason::Expired);
                }
                Ok(msg) => {
                    self.core.room_freed();
                    return Ok(msg);
                }
                Err(PopError::Closed) => self.core.wait_for_delayed(deadline)?,
                Err(err) => return Err(err),
            }
        }
    }

    /// The one receive primitive every public plain receive wraps.
    #[inline(always)]
    fn recv_inner(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        let mut msg = self.pop_live(deadline)?;
        self.taken(&mut msg);
        Ok(msg)
    }

    /// Counts a message this handle took for good (a plain receive is an
    /// automatic acknowledgement) and settles its receipt.
    #[inline(always)]
    pub(super) fn taken(&self, msg: &mut Message<T>) {
        // Counted before the receipt moves: a sender woken by its receipt
        // (`Confirm::Received`) must find the receive in the statistics.
        self.count_taken(1);
        self.settle(msg);
    }

    /// What a plain receive does to each message it hands out, the count
    /// aside (a batch counts once): a durable mailbox's log records it
    /// acknowledged, and its receipt says so.
    #[inline(always)]
    pub(super) fn settle(&self, msg: &mut Message<T>) {
        if let Some(log) = self.core.log.as_deref() {
            log.auto_acked(msg.header().id());
        }
        msg.header_mut().settle_tracker(ReceiptState::Acked);
    }

    /// Counts `n` messages taken for good by one batch receive: one add.
    #[inline(always)]
    pub(super) fn count_taken(&self, n: usize) {
        if !self.local.bump_by(n as u64) {
            self.core.count_received_shared(n as u64);
        }
    }

    /// Receives, waiting as long as it takes. Fails only when the mailbox is
    /// closed and empty.
    #[inline(always)]
    pub fn recv(&self) -> Result<Message<T>, RecvError> {
        self.recv_inner(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives if a message is queued now, never waiting.
    #[inline]
    pub fn try_recv(&self) -> Result<Message<T>, TryRecvError> {
        self.recv_inner(Deadline::Now).map_err(|err| match err {
            PopError::Closed => TryRecvError::Closed,
            PopError::Empty | PopError::Timeout => TryRecvError::Empty,
        })
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = Mailbox::<u8>::builder().build();
    /// let err = rx.recv_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err, RecvTimeoutError::Timeout);
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_with(Wait::Timeout(timeout))
    }

    /// Receives, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_with(Wait::Deadline(deadline))
    }

    /// Receives with the wait chosen for this call. A non-blocking wait that
    /// finds the mailbox empty fails with `Timeout` (a zero timeout).
    pub fn recv_with(&self, wait: Wait) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_inner(wait.deadline()).map_err(|err| match err {
            PopError::Closed => RecvTimeoutError::Closed,
            PopError::Empty | PopError::Timeout => RecvTimeoutError::Timeout,
        })
    }

    /// A blocking iterator: yields messages until the mailbox is closed and empty.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// A non-blocking iterator: yields the messages queued now, then stops.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Closes the mailbox and returns what was still queued.
    ///
    /// Blocked and later senders fail with `Closed` and get their message back;
    /// other receivers get `Closed` once the mailbox is empty. The returned
    /// messages count as received, as a plain receive does: an automatic
    /// acknowledgement (their receipts say `Acked`). A send that
    /// raced with the close may still land afterwards: `recv` / `try_iter` on
    /// any receiver still hand it out.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, ReceiptState, SendError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// tx.send(1).unwrap();
    /// let receipt = tx.send_tracked(2).unwrap();
    /// let left: Vec<u32> = rx.close().into_iter().map(|m| m.into_body()).collect();
    /// assert_eq!(left, [1, 2]);
    /// assert_eq!(receipt.state(), ReceiptState::Acked);
    /// assert_eq!(rx.stats().received, 2);
    /// assert!(matches!(tx.send(3), Err(SendError::Closed(_))));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn close(&self) -> Vec<Message<T>> {
        self.core.close_for(ClosedReason::Closed);
        self.try_iter().collect()
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.core.queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.core.queue.is_empty()
    }

    /// Whether a bounded mailbox is at capacity (never for unbounded).
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// The most messages the mailbox holds, or `None` if unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.core.queue.capacity()
    }

    /// Whether the mailbox is closed. Queued messages can still be received.
    pub fn is_closed(&self) -> bool {
        self.core.queue.is_closed()
    }

    /// Why the mailbox was closed, `None` while it is open: a `Closed`
    /// error explained.
    pub fn closed_reason(&self) -> Option<ClosedReason> {
        self.core.closed_reason()
    }

    /// The mailbox's counters.
    pub fn stats(&self) -> MailboxStats {
        self.core.stats()
    }

    /// Whether both handles belong to the same mailbox.
    pub fn same_mailbox(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }

    /// Drops this handle (the same as `drop(receiver)`, named for readability).
    pub fn disconnect(self) {}

    /// The selects waiting on this mailbox.
    pub(crate) fn watchers(&self) -> &Watchers {
        &self.core.watchers
    }

    /// Whether the mailbox keeps a log (see `durable.rs`).
    pub(crate) fn is_durable(&self) -> bool {
        self.core.log.is_some()
    }

    /// Destroys the mailbox (see `Core::destroy`).
    pub(crate) fn destroy(&self) {
        self.core.destroy(ClosedReason::Destroyed);
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// Receives with acknowledgement, waiting as long as it takes: the
    /// message comes in a [`Delivery`] that must be answered with
    /// [`ack`](Delivery::ack), [`nack`](Delivery::nack) or
    /// [`reject`](Delivery::reject). A delivery dropped unanswered (a worker
    /// that returns early or panics) is requeued, so the message is processed
    /// at least once. With a [prefetch](Receiver::with_prefetch) limit, first
    /// waits until this handle holds fewer unanswered deliveries than that.
    ///
    /// Fails only when the mailbox is closed and empty, with no
    /// [delayed requeue](crate::Requeue::After) left to bring a message back.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, Requeue};
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// tx.send("resize photo 7").unwrap();
    /// tx.send("resize photo 8").unwrap();
    ///
    /// let job = rx.recv_ack().unwrap();
    /// assert_eq!(*job.body(), "resize photo 7");
    /// job.nack(Requeue::Yes); // failed: back to the front of the queue
    ///
    /// let again = rx.recv_ack().unwrap();
    /// assert_eq!((*again.body(), again.header().redeliveries()), ("resize photo 7", 1));
    /// again.ack();
    /// {
    ///     let _dropped = rx.recv_ack().unwrap(); // unanswered: requeued
    /// }
    /// assert!(rx.recv_ack().unwrap().is_redelivered());
    /// ```
    #[inline]
    pub fn recv_ack(&self) -> Result<Delivery<'_, T>, RecvError> {
        self.recv_ack_inner(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives with acknowledgement if a message is queued now and the
    /// prefetch limit allows, never waiting.
    ///
    /// Fails with [`TryRecvAckError::PrefetchFull`] if this handle already
    /// holds as many unanswered deliveries as its prefetch limit (checked
    /// first), [`TryRecvAckError::Empty`] if no message is queued (also while
    /// a closed mailbox still waits for a delayed requeue), and
    /// [`TryRecvAckError::Closed`] once the mailbox is closed and empty for
    /// good.
    pub fn try_recv_ack(&self) -> Result<Delivery<'_, T>, TryRecvAckError> {
        self.recv_ack_inner(Deadline::Now).map_err(|err| match err {
            AckPopError::Pop(PopError::Closed) => TryRecvAckError::Closed,
            AckPopError::Pop(_) => TryRecvAckError::Empty,
            AckPopError::PrefetchFull => TryRecvAckError::PrefetchFull,
        })
    }

    /// Receives with acknowledgement, waiting at most `timeout` (for a
    /// prefetch slot and a message together). Fails with
    /// [`RecvTimeoutError::Timeout`] if either did not come in time, and with
    /// [`RecvTimeoutError::Closed`] once the mailbox is closed and empty for
    /// good.
    pub fn recv_ack_timeout(&self, timeout: Duration) -> Result<Delivery<'_, T>, RecvTimeoutError> {
        self.recv_ack_with(Wait::Timeout(timeout))
    }

    /// Receives with acknowledgement, waiting until `deadline` at the latest
    /// (see [`recv_ack_timeout`](Receiver::recv_ack_timeout)).
    pub fn recv_ack_deadline(
        &self,
        deadline: Instant,
    ) -> Result<Delivery<'_, T>, RecvTimeoutError> {
        self.recv_ack_with(Wait::Deadline(deadline))
    }

    /// Receives with acknowledgement with the wait chosen for this call. A
    /// non-blocking wait that finds no message, or no prefetch slot, fails
    /// with `Timeout`; a closed and empty mailbox with `Closed`.
    pub fn recv_ack_with(&self, wait: Wait) -> Result<Delivery<'_, T>, RecvTimeoutError> {
        self.recv_ack_inner(wait.deadline())
            .map_err(|err| match err {
                AckPopError::Pop(PopError::Closed) => RecvTimeoutError::Closed,
                _ => RecvTimeoutError::Timeout,
            })
    }

    /// The primitive every acknowledged receive wraps: a prefetch slot if the
    /// handle has a limit, then a message, as one delivery.
    #[inline(always)]
    fn recv_ack_inner(&self, deadline: Deadline) -> Result<Delivery<'_, T>, AckPopError> {
        let acker = self.acker();
        let (msg, slot) = self.pop_ack(acker, deadline)?;
        Ok(Acker::deliver(acker, msg, slot))
    }

    /// A prefetch slot if the handle has a limit (`true` if one was taken),
    /// then the next deliverable message, both waiting until `deadline`;
    /// the slot is given back if no message came. Delivers and counts
    /// nothing: the caller wraps the message.
    #[inline(always)]
    pub(super) fn pop_ack(
        &self,
        acker: &Acker<T>,
        deadline: Deadline,
    ) -> Result<(Message<T>, bool), AckPopError> {
        let slot = acker.reserve(deadline, true)?;
        match self.pop_live(deadline) {
            Ok(msg) => Ok((msg, slot)),
            Err(err) => {
                if slot {
                    acker.release();
                }
                Err(AckPopError::Pop(err))
            }
        }
    }

    /// Hands out, as a delivery, a message this handle set aside with
    /// `take_aside` (a process's saved message), waiting for a prefetch slot until
    /// `deadline`; gives the message back if none came.
    pub(crate) fn deliver_taken(
        &self,
        msg: Message<T>,
        deadline: Deadline,
    ) -> Result<Delivery<'_, T>, (Message<T>, AckPopError)> {
        let acker = self.acker();
        // The message is in hand: a close does not make the slot useless.
        match acker.reserve(deadline, false) {
            Ok(slot) => {
                // Counted as taken when set aside: a delivery now instead.
                self.local.refused.fetch_add(1, Ordering::Relaxed);
                Ok(Acker::deliver(acker, msg, slot))
            }
            Err(err) => Err((msg, err)),
        }
    }
}

impl<T: Send> Receiver<T> {
    /// Limits this handle to `n` unanswered deliveries at a time (RabbitMQ's
    /// `basic.qos` prefetch count): `recv_ack` waits while it holds `n`, so
    /// that workers sharing a mailbox each take only what they can work on
    /// (fair dispatch). `0` means no limit (the default). Plain receives are
    /// acknowledged at once and never count. Deliveries this handle took
    /// before the limit was set, and has not answered yet, count against it
    /// (as RabbitMQ counts what is already unacknowledged).
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, TryRecvAckError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// let rx = rx.with_prefetch(1);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// let first = rx.try_recv_ack().unwrap();
    /// assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::PrefetchFull);
    /// first.ack();
    /// assert_eq!(*rx.try_recv_ack().unwrap().body(), 2);
    /// ```
    #[must_use]
    pub fn with_prefetch(self, n: usize) -> Self {
        self.set_prefetch(n);
        self
    }

    /// Sets the prefetch limit of a handle already shared (see
    /// [`with_prefetch`](Receiver::with_prefetch)).
    pub(crate) fn set_prefetch(&self, n: usize) {
        let acker = self.acker();
        acker.set_prefetch(n);
    }

    /// This handle's prefetch limit, `None` if it has none.
    pub fn prefetch(&self) -> Option<usize> {
        match self.acker.get().map(|a| a.prefetch()) {
            None | Some(0) => None,
            n => n,
        }
    }

    /// How many deliveries this handle has handed out and not seen answered.
    pub fn unacked(&self) -> u64 {
        self.acker.get().map_or(0, |a| a.outstanding())
    }

    /// Takes the next deliverable message for a process's selective
    /// receive, which may set it aside: counted as taken (it left the
    /// mailbox), but its receipt is settled only when it is handed out
    /// ([`settle_taken`](Receiver::settle_taken)).
    pub(crate) fn take_aside(&self, wait: Wait) -> Result<Message<T>, RecvTimeoutError> {
        let msg = self.pop_live(wait.deadline()).map_err(|err| match err {
            PopError::Closed => RecvTimeoutError::Closed,
            PopError::Empty | PopError::Timeout => RecvTimeoutError::Timeout,
        })?;
        self.count_taken(1);
        Ok(msg)
    }

    /// Hands out a message taken with `take_aside`: a plain receive, so its
    /// receipt says acknowledged.
    pub(crate) fn settle_taken(&self, mut msg: Message<T>) -> Message<T> {
        self.settle(&mut msg);
        msg
    }

    /// How many messages consumers of this mailbox gave back to be delivered
    /// again (the statistics' `redelivered`), read without a snapshot.
    pub(crate) fn redelivered(&self) -> u64 {
        self.core
            .cold
            .get()
            .map_or(0, |cold| cold.outcomes.redelivered.load(Ordering::SeqCst))
    }

    /// Sends a message taken with `take_aside` but never handed out where
    /// the mailbox's dead letters go (a process's saved messages when it
    /// ends).
    pub(crate) fn dead_letter_taken(&self, msg: Message<T>, reason: DeadLetterReason) {
        // Counted as taken; it is a dead letter instead, and each message
        // counts on one path only (`refused` is the "taken back" count).
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        self.core.discard(msg, reason);
    }
}

// As for `Sender`, and as crossbeam-channel's receivers.
impl<T: Send> std::panic::UnwindSafe for Receiver<T> {}
impl<T: Send> std::panic::RefUnwindSafe for Receiver<T> {}

impl<T: Send> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.core.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver::attach(Arc::clone(&self.core))
    }
}

impl<T: Send> Drop for Receiver<T> {
    fn drop(&mut self) {
        // With an `Acker`, the handle's counters are retired with it, once
        // its last delivery is answered too.
        if self.acker.get().is_none() {
            self.core.tally.retire(&self.local);
        }
        if self.core.receivers.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Last receiver: nobody can take what is queued. Blocked senders
            // wake with Closed, new sends fail, and the leftovers (and any
            // push racing with this) go where dead letters go.
            self.core.retire(DeadLetterReason::NoReceivers);
        }
    }
}

impl<T: Send> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}
