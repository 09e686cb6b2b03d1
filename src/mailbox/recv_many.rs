//! Batch receives: up to `max` messages (or deliveries) for one wait and
//! one statistics update, as tokio's `recv_many`.
//!
//! Each form waits as its one-message form does, for the first message
//! only, then takes what is queued at that moment, up to `max`, without
//! waiting again. Everything a single receive does still happens to each
//! message. Plain receives take the first with `pop_live`, the rest from
//! the backend in one call (`Queue::try_pop_many`) followed by `pop_live`'s
//! steps for each (a sender waiting for room woken, expired messages to
//! dead letters and skipped), then count the batch once, then `settle` each
//! (a durable log's record, the receipt). Acknowledged ones take each with
//! `pop_ack` (a prefetch slot each), wrap it with `Acker::wrap` (the log's
//! delivered record), count the batch once, then tell each receipt
//! `Received`. The count comes before any receipt moves, as on the
//! one-message forms: a sender woken by its receipt finds the receive
//! counted (the loom model `confirm_received`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::{PopError, RecvError, RecvTimeoutError, TryRecvAckError, TryRecvError};
use crate::message::Message;
use crate::reason::DeadLetterReason;
use crate::signal::Signal;
use crate::sync;
use crate::wait::{Deadline, Wait};
use crate::wake::Waiting;

use super::ack::{AckPopError, Acker};
use super::{Delivery, Receiver};

impl<T: Send> Receiver<T> {
    /// Receives up to `max` messages at once, appending them to `buf`:
    /// waits (as [`recv`](Receiver::recv) does) until at least one is
    /// queued, then takes those queued right now, up to `max`, without
    /// waiting for more. Returns how many it appended; never 0 unless `max`
    /// is 0, which returns `Ok(0)` at once without looking at the mailbox.
    /// `buf` grows as needed: keep one and [`clear`](Vec::clear) it between
    /// batches to receive without allocating.
    ///
    /// The batch is what `max` repeated receives would take, in the same
    /// order (on a priority mailbox, the most urgent first, FIFO within a
    /// priority), each message handled as a plain receive handles it: an
    /// expired one goes to dead letters and is skipped, each frees room
    /// for a waiting sender, each is an automatic acknowledgement. What
    /// differs is the cost: one wait for the whole batch and one
    /// statistics update. A batch is not atomic: competing receivers may
    /// take messages in between, and a message that arrives while the
    /// batch is taken may be in it.
    ///
    /// Fails only when the mailbox is closed and empty (tokio's `recv_many`
    /// returns 0 then; here that is the same [`RecvError`] as `recv`'s).
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().capacity(16).build();
    /// for n in 0..5 {
    ///     tx.send(n).unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many(&mut batch, 3).unwrap(), 3);
    /// assert_eq!(batch.iter().map(|m| *m.body()).collect::<Vec<_>>(), [0, 1, 2]);
    ///
    /// batch.clear(); // reuse the buffer
    /// assert_eq!(rx.recv_many(&mut batch, 64).unwrap(), 2); // what is queued, no waiting for 64
    /// assert_eq!(rx.recv_many(&mut batch, 0).unwrap(), 0);
    /// assert_eq!(rx.stats().received, 5);
    ///
    /// drop(tx);
    /// assert!(rx.recv_many(&mut batch, 64).is_err()); // closed and empty
    /// ```
    pub fn recv_many(&self, buf: &mut Vec<Message<T>>, max: usize) -> Result<usize, RecvError> {
        self.recv_many_inner(buf, max, Deadline::Never)
            .map_err(|_| RecvError)
    }

    /// Receives up to `max` messages at once if any is queued now, never
    /// waiting (see [`recv_many`](Receiver::recv_many)): `Empty` if none is,
    /// `Closed` once the mailbox is closed and empty. `max` 0 returns
    /// `Ok(0)` at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, TryRecvError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.try_recv_many(&mut batch, 8), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(rx.try_recv_many(&mut batch, 8), Ok(1));
    /// ```
    pub fn try_recv_many(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
    ) -> Result<usize, TryRecvError> {
        self.recv_many_inner(buf, max, Deadline::Now)
            .map_err(|err| match err {
                PopError::Closed => TryRecvError::Closed,
                PopError::Empty | PopError::Timeout => TryRecvError::Empty,
            })
    }

    /// Receives up to `max` messages at once, waiting at most `timeout`
    /// for the first (see [`recv_many`](Receiver::recv_many)): the batching
    /// consumer's "up to 64, or whatever came within 10 ms". `Timeout` if
    /// none came, `Closed` once the mailbox is closed and empty. `max` 0
    /// returns `Ok(0)` at once.
    pub fn recv_many_timeout(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
        timeout: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        self.recv_many_inner(buf, max, Wait::Timeout(timeout).deadline())
            .map_err(|err| match err {
                PopError::Closed => RecvTimeoutError::Closed,
                PopError::Empty | PopError::Timeout => RecvTimeoutError::Timeout,
            })
    }

    /// The one batch primitive every plain batch receive wraps: the first
    /// message waited for until `deadline` (as a single receive waits), the
    /// rest only if queued now, each settled as a single receive settles
    /// it, all counted at once.
    #[inline(always)]
    pub(super) fn recv_many_inner(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
        deadline: Deadline,
    ) -> Result<usize, PopError> {
        if max == 0 {
            return Ok(0);
        }
        let start = buf.len();
        let msg = self.pop_live(deadline)?;
        let first_plain = !msg.header().has_ext();
        buf.push(msg);
        let rest_plain = self.pop_queued(buf, start + max);
        let n = buf.len() - start;
        // Counted before any receipt moves, as a single receive does: a
        // sender woken by its receipt must find the receive counted.
        self.count_taken(n);
        self.settle_all(&mut buf[start..], first_plain && rest_plain);
        Ok(n)
    }

    /// What `settle` does, for each message of a batch already counted.
    /// A batch of plain messages (`plain`: no header has an extension, where
    /// expiry and receipts live) on a mailbox without a log has nothing to
    /// settle, and pays no second look at the headers.
    #[inline(always)]
    fn settle_all(&self, batch: &mut [Message<T>], plain: bool) {
        if self.core().log.is_some() || !plain {
            for msg in batch {
                self.settle(msg);
            }
        }
    }

    /// Takes what is queued now until `buf` holds `len` messages: from the
    /// backend in one call (`try_pop_many`), then what `pop_live` does for
    /// one message, for each (room freed for a waiting sender; expired ones
    /// to dead letters, and more taken in their place). Counts and settles
    /// nothing: the caller counts the batch, then settles it. Returns
    /// whether every message it took is plain (no header extension), the
    /// one look at each header a batch of plain messages pays.
    #[inline(always)]
    fn pop_queued(&self, buf: &mut Vec<Message<T>>, len: usize) -> bool {
        let core = self.core();
        let mut all_plain = true;
        while buf.len() < len {
            let from = buf.len();
            // Empty, or closed and empty: the batch ends with what it has;
            // the next receive reports the close.
            let Ok((_, known_plain)) = core.queue.try_pop_many_plain(buf, len - from) else {
                break;
            };
            core.rooms_freed(buf.len() - from);
            // Expiry and receipts live in the header's extension, and the
            // log is there only on durable mailboxes: a batch of plain
            // messages has nothing more to settle.
            if known_plain || buf[from..].iter().all(|m| !m.header().has_ext()) {
                break;
            }
            all_plain = false;
            if !self.drop_expired(buf, from) {
                // As many as asked for, or fewer: the queue ran dry.
                break;
            }
            // Expired ones left gaps: take more in their place.
        }
        all_plain
    }

    /// Sends the expired messages of a popped run to dead letters (and out
    /// of `buf`), as `pop_live` does. Returns whether any did. A first look
    /// finds whether any did expire, so that the common run pays no move;
    /// a message that expires between the two looks goes too. Out of line:
    /// plain messages never come here.
    #[inline(never)]
    fn drop_expired(&self, buf: &mut Vec<Message<T>>, from: usize) -> bool {
        let core = self.core();
        if !buf[from..].iter().any(|msg| core.outlived(msg)) {
            return false;
        }
        let popped: Vec<Message<T>> = buf.drain(from..).collect();
        for msg in popped {
            if core.outlived(&msg) {
                core.discard(msg, DeadLetterReason::Expired);
            } else {
                buf.push(msg);
            }
        }
        true
    }

    /// Receives up to `max` messages at once without blocking a thread: the
    /// async form of [`recv_many`](Receiver::recv_many). The future
    /// resolves to how many it appended to `buf` (0 only for `max` 0), or
    /// `RecvError` once the mailbox is closed and empty.
    ///
    /// **Cancel-safe**, as [`recv_async`](Receiver::recv_async) is: messages
    /// leave the mailbox only in the poll that returns them, so a future
    /// dropped before it returned took nothing and left `buf` as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// for n in 0..3 {
    ///     tx.send(n).unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many_async(&mut batch, 64).await.unwrap(), 3);
    /// assert_eq!(batch.len(), 3);
    /// # });
    /// ```
    pub fn recv_many_async<'a>(
        &'a self,
        buf: &'a mut Vec<Message<T>>,
        max: usize,
    ) -> RecvMany<'a, T> {
        RecvMany {
            receiver: self,
            buf,
            max,
            waiting: Waiting::new(),
        }
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// Receives up to `max` messages at once with acknowledgement, appending
    /// one [`Delivery`] per message to `buf`: waits (as
    /// [`recv_ack`](Receiver::recv_ack) does) for a prefetch slot and a
    /// message, then takes what is queued right now, up to `max`, while the
    /// [prefetch](Receiver::with_prefetch) limit allows (each delivery holds
    /// a slot, exactly as with repeated `recv_ack`). Returns how many it
    /// appended: at least 1 unless `max` is 0, which returns `Ok(0)` at
    /// once. Answer each delivery on its own (`ack`, `nack`, `reject`);
    /// dropped unanswered, each is requeued.
    ///
    /// Fails only when the mailbox is closed and empty, with no delayed
    /// requeue left to bring a message back.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, Requeue};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// let rx = rx.with_prefetch(2);
    /// for n in 0..3 {
    ///     tx.send(n).unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_ack_many(&mut batch, 64).unwrap(), 2); // the prefetch limit
    /// let mut batch = batch.into_iter();
    /// batch.next().unwrap().ack();
    /// batch.next().unwrap().nack(Requeue::Yes); // back to the front
    ///
    /// let mut again = Vec::new();
    /// assert_eq!(rx.recv_ack_many(&mut again, 64).unwrap(), 2);
    /// assert!(again[0].is_redelivered());
    /// assert_eq!(*again[1].body(), 2);
    /// ```
    pub fn recv_ack_many<'a>(
        &'a self,
        buf: &mut Vec<Delivery<'a, T>>,
        max: usize,
    ) -> Result<usize, RecvError> {
        self.recv_ack_many_inner(buf, max, Deadline::Never)
            .map_err(|_| RecvError)
    }

    /// Receives up to `max` messages at once with acknowledgement if a
    /// message and a prefetch slot are there now, never waiting (see
    /// [`recv_ack_many`](Receiver::recv_ack_many)): `PrefetchFull`,
    /// `Empty` or `Closed` as [`try_recv_ack`](Receiver::try_recv_ack)
    /// says when not even one could be taken. `max` 0 returns `Ok(0)`.
    pub fn try_recv_ack_many<'a>(
        &'a self,
        buf: &mut Vec<Delivery<'a, T>>,
        max: usize,
    ) -> Result<usize, TryRecvAckError> {
        self.recv_ack_many_inner(buf, max, Deadline::Now)
            .map_err(|err| match err {
                AckPopError::Pop(PopError::Closed) => TryRecvAckError::Closed,
                AckPopError::Pop(_) => TryRecvAckError::Empty,
                AckPopError::PrefetchFull => TryRecvAckError::PrefetchFull,
            })
    }

    /// Receives up to `max` messages at once with acknowledgement, waiting
    /// at most `timeout` for the first message and its prefetch slot (see
    /// [`recv_ack_many`](Receiver::recv_ack_many)). `max` 0 returns
    /// `Ok(0)`.
    pub fn recv_ack_many_timeout<'a>(
        &'a self,
        buf: &mut Vec<Delivery<'a, T>>,
        max: usize,
        timeout: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        self.recv_ack_many_inner(buf, max, Wait::Timeout(timeout).deadline())
            .map_err(|err| match err {
                AckPopError::Pop(PopError::Closed) => RecvTimeoutError::Closed,
                _ => RecvTimeoutError::Timeout,
            })
    }

    /// The primitive of the acknowledged batch receives: the first slot and
    /// message waited for until `deadline`, then the rest of the batch.
    fn recv_ack_many_inner<'a>(
        &'a self,
        buf: &mut Vec<Delivery<'a, T>>,
        max: usize,
        deadline: Deadline,
    ) -> Result<usize, AckPopError> {
        if max == 0 {
            return Ok(0);
        }
        let acker = self.acker();
        let (msg, slot) = self.pop_ack(acker, deadline)?;
        Ok(self.deliver_many(acker, buf, max, msg, slot))
    }

    /// Hands out `first` (with the slot taken for it) and up to `max - 1`
    /// more deliveries queued now, each with a slot of its own while the
    /// prefetch limit allows; counts them at once. Returns how many.
    fn deliver_many<'a>(
        &self,
        acker: &'a sync::Arc<Acker<T>>,
        buf: &mut Vec<Delivery<'a, T>>,
        max: usize,
        first: Message<T>,
        slot: bool,
    ) -> usize {
        let start = buf.len();
        buf.push(Acker::wrap(acker, first, slot));
        let mut n = 1;
        while n < max {
            // No slot, no message, or closed: the batch ends with what it
            // has (a slot taken for no message was given back).
            let Ok((msg, slot)) = self.pop_ack(acker, Deadline::Now) else {
                break;
            };
            buf.push(Acker::wrap(acker, msg, slot));
            n += 1;
        }
        // Counted before any receipt moves, as a single `recv_ack` does.
        acker.count_delivered(n as u64);
        for delivery in &buf[start..] {
            Acker::received(delivery);
        }
        n
    }

    /// Receives up to `max` messages at once with acknowledgement without
    /// blocking a thread: the async form of
    /// [`recv_ack_many`](Receiver::recv_ack_many).
    ///
    /// **Cancel-safe, and leaves no trace**, as
    /// [`recv_ack_async`](Receiver::recv_ack_async) is: the slots and
    /// messages are taken in the poll that returns them; a future dropped
    /// before that took none, counted no redelivery and left `buf` as it
    /// was.
    pub fn recv_ack_many_async<'a, 'b>(
        &'a self,
        buf: &'b mut Vec<Delivery<'a, T>>,
        max: usize,
    ) -> RecvAckMany<'a, 'b, T> {
        RecvAckMany {
            receiver: self,
            buf,
            max,
            waiting: Waiting::new(),
            slot_bell: None,
        }
    }
}

/// The future of [`Receiver::recv_many_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvMany<'a, T: Send> {
    /// The receiver it takes from.
    receiver: &'a Receiver<T>,
    /// Where the batch goes.
    buf: &'a mut Vec<Message<T>>,
    /// The most messages in the batch.
    max: usize,
    /// Its place in the mailbox's receive wait list.
    waiting: Waiting,
}

impl<T: Send> Future for RecvMany<'_, T> {
    type Output = Result<usize, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (receiver, buf, max) = (this.receiver, &mut *this.buf, this.max);
        receiver.poll_taking(&mut this.waiting, cx, || {
            receiver.recv_many_inner(buf, max, Deadline::Now)
        })
    }
}

impl<T: Send> Drop for RecvMany<'_, T> {
    fn drop(&mut self) {
        self.waiting.cancel(&self.receiver.core().recv_wakers);
    }
}

impl<T: Send> fmt::Debug for RecvMany<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMany")
            .field("max", &self.max)
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}

/// The future of [`Receiver::recv_ack_many_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvAckMany<'a, 'b, T: Send + 'static> {
    /// The receiver it takes from.
    receiver: &'a Receiver<T>,
    /// Where the deliveries go.
    buf: &'b mut Vec<Delivery<'a, T>>,
    /// The most deliveries in the batch.
    max: usize,
    /// Its place in the mailbox's receive wait list.
    waiting: Waiting,
    /// The doorbell for a prefetch slot, while the handle is at its limit.
    slot_bell: Option<Arc<Signal>>,
}

impl<T: Send + 'static> Future for RecvAckMany<'_, '_, T> {
    type Output = Result<usize, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.max == 0 {
            return Poll::Ready(Ok(0));
        }
        let (receiver, buf, max) = (this.receiver, &mut *this.buf, this.max);
        receiver.poll_delivering(
            &mut this.waiting,
            &mut this.slot_bell,
            cx,
            |acker, msg, slot| receiver.deliver_many(acker, buf, max, msg, slot),
        )
    }
}

impl<T: Send + 'static> Drop for RecvAckMany<'_, '_, T> {
    fn drop(&mut self) {
        self.receiver.cancel_slot_wait(&mut self.slot_bell);
        self.waiting.cancel(&self.receiver.core().recv_wakers);
    }
}

impl<T: Send + 'static> fmt::Debug for RecvAckMany<'_, '_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvAckMany")
            .field("max", &self.max)
            .field("waiting", &self.waiting.is_registered())
            .field("waiting_for_slot", &self.slot_bell.is_some())
            .finish()
    }
}
