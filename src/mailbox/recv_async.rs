//! Receiving from futures: `recv_async`, `recv_ack_async` and `stream`.
//!
//! Each future tries the same non-blocking receive a thread's `try_recv`
//! makes; when it finds nothing it registers its task with the mailbox's
//! receive wait list, tries once more, and only then returns `Pending`
//! (`wake.rs` says why no wake-up is lost). A message leaves the queue only
//! in the poll that returns it, so dropping a future never loses one, and a
//! future dropped with an unused wake passes it to the next waiting task.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use crate::error::{PopError, RecvError};
use crate::message::Message;
use crate::signal::Signal;
use crate::sync;
use crate::wait::Deadline;
use crate::wake::Waiting;

use super::ack::{AckPopError, Acker};
use super::{Delivery, Receiver};

impl<T: Send> Receiver<T> {
    /// Receives without blocking a thread: the async form of
    /// [`recv`](Receiver::recv), on any executor. Fails only when the
    /// mailbox is closed and empty.
    ///
    /// **Cancel-safe.** A message leaves the mailbox only in the poll that
    /// returns it: dropping the future (a `select!` branch that lost) leaves
    /// the mailbox as it was, and a wake-up it had received goes to another
    /// waiting task. Threads and tasks can receive from the same mailbox.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<u32>::builder().capacity(8).build();
    /// let producer = std::thread::spawn(move || {
    ///     for n in 0..3 {
    ///         tx.send(n).unwrap(); // a thread sends, a task receives
    ///     }
    /// });
    /// let mut got = Vec::new();
    /// while let Ok(msg) = rx.recv_async().await {
    ///     got.push(msg.into_body());
    /// }
    /// assert_eq!(got, [0, 1, 2]);
    /// # producer.join().unwrap();
    /// # });
    /// ```
    pub fn recv_async(&self) -> Recv<'_, T> {
        Recv {
            receiver: self,
            waiting: Waiting::new(),
        }
    }

    /// A [`Stream`] of the messages, ending when the mailbox is closed and
    /// empty: `recv_async` in a loop, as a stream. Cancel-safe as
    /// `recv_async` is.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// tx.send("a").unwrap();
    /// tx.send("b").unwrap();
    /// drop(tx);
    /// let bodies: Vec<&str> = rx.stream().map(|m| m.into_body()).collect().await;
    /// assert_eq!(bodies, ["a", "b"]);
    /// # });
    /// ```
    pub fn stream(&self) -> RecvStream<'_, T> {
        RecvStream {
            receiver: Handle::Borrowed(self),
            waiting: Waiting::new(),
        }
    }

    /// A [`Stream`] that owns this handle (to move into a spawned task).
    pub fn into_stream(self) -> RecvStream<'static, T> {
        RecvStream {
            receiver: Handle::Owned(self),
            waiting: Waiting::new(),
        }
    }

    /// One poll of a plain async receive: a message, `Closed`, or `Pending`
    /// with the task registered (after looking once more).
    pub(crate) fn poll_recv(
        &self,
        waiting: &mut Waiting,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Message<T>, RecvError>> {
        self.poll_taking(waiting, cx, || {
            let mut msg = self.pop_live(Deadline::Now)?;
            self.taken(&mut msg);
            Ok(msg)
        })
    }

    /// One poll of a plain async receive made of `take`, a receive that
    /// never waits (one message, or a batch): what it took, `Closed`, or
    /// `Pending` with the task registered (after trying once more).
    #[inline(always)]
    pub(super) fn poll_taking<R>(
        &self,
        waiting: &mut Waiting,
        cx: &mut Context<'_>,
        mut take: impl FnMut() -> Result<R, PopError>,
    ) -> Poll<Result<R, RecvError>> {
        let core = self.core();
        let mut registered = false;
        loop {
            match take() {
                Ok(taken) => {
                    waiting.done(&core.recv_wakers, || !core.queue_is_empty());
                    return Poll::Ready(Ok(taken));
                }
                Err(PopError::Closed) => {
                    // A close wakes every task: nothing to pass on.
                    waiting.done(&core.recv_wakers, || false);
                    return Poll::Ready(Err(RecvError));
                }
                Err(_) if registered => {
                    core.poll_later(waiting, cx.waker());
                    return Poll::Pending;
                }
                Err(_) => {
                    waiting.register(&core.recv_wakers, cx.waker());
                    registered = true;
                }
            }
        }
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// Receives with acknowledgement without blocking a thread: the async
    /// form of [`recv_ack`](Receiver::recv_ack). Waits for a prefetch slot
    /// (if the handle has a limit) and a message; the [`Delivery`] is
    /// answered as usual.
    ///
    /// **Cancel-safe, and leaves no trace.** The slot and the message are
    /// taken together in the poll that returns the delivery; a future
    /// dropped before that took neither: no redelivery is counted, the order
    /// is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// tx.send("resize photo 7").unwrap();
    /// let job = rx.recv_ack_async().await.unwrap();
    /// assert_eq!(*job.body(), "resize photo 7");
    /// job.ack();
    /// assert_eq!(rx.stats().acked, 1);
    /// # });
    /// ```
    pub fn recv_ack_async(&self) -> RecvAck<'_, T> {
        RecvAck {
            receiver: self,
            waiting: Waiting::new(),
            slot_bell: None,
        }
    }

    /// One poll of an acknowledged async receive.
    pub(crate) fn poll_recv_ack(
        &self,
        waiting: &mut Waiting,
        slot_bell: &mut Option<Arc<Signal>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Delivery<'_, T>, RecvError>> {
        self.poll_delivering(waiting, slot_bell, cx, |acker, msg, slot| {
            Acker::deliver(acker, msg, slot)
        })
    }

    /// One poll of an acknowledged async receive that hands its first
    /// message (and the prefetch slot taken for it) to `deliver`, which
    /// makes the delivery, or a batch of them starting with it.
    #[inline(always)]
    pub(super) fn poll_delivering<'a, R>(
        &'a self,
        waiting: &mut Waiting,
        slot_bell: &mut Option<Arc<Signal>>,
        cx: &mut Context<'_>,
        mut deliver: impl FnMut(&'a sync::Arc<Acker<T>>, Message<T>, bool) -> R,
    ) -> Poll<Result<R, RecvError>> {
        let core = self.core();
        let acker = self.acker();
        let mut registered = false;
        loop {
            let slot = match acker.reserve(Deadline::Now, true) {
                Ok(slot) => slot,
                Err(AckPopError::PrefetchFull) => {
                    if core.drained() {
                        unwatch(acker, slot_bell);
                        return Poll::Ready(Err(RecvError));
                    }
                    if watch(acker, slot_bell, cx) {
                        return Poll::Pending;
                    }
                    // Rung while registering: look again.
                    continue;
                }
                Err(AckPopError::Pop(_)) => {
                    unwatch(acker, slot_bell);
                    return Poll::Ready(Err(RecvError));
                }
            };
            unwatch(acker, slot_bell);
            match self.pop_live(Deadline::Now) {
                Ok(msg) => {
                    let delivered = deliver(acker, msg, slot);
                    waiting.done(&core.recv_wakers, || !core.queue_is_empty());
                    return Poll::Ready(Ok(delivered));
                }
                Err(err) => {
                    if slot {
                        acker.release();
                    }
                    if err == PopError::Closed {
                        waiting.done(&core.recv_wakers, || false);
                        return Poll::Ready(Err(RecvError));
                    }
                    if registered {
                        core.poll_later(waiting, cx.waker());
                        return Poll::Pending;
                    }
                    waiting.register(&core.recv_wakers, cx.waker());
                    registered = true;
                }
            }
        }
    }
}

/// Registers the task's doorbell for a prefetch slot (made on first use),
/// with its waker. Returns `false` if the caller must look again first: the
/// doorbell was just registered, or was rung since the last look (it is
/// lowered here, before that next look, so a ring during it is not lost).
fn watch<T: Send>(acker: &Acker<T>, bell: &mut Option<Arc<Signal>>, cx: &mut Context<'_>) -> bool {
    match bell {
        Some(bell) => {
            if bell.set_waker(cx.waker()) {
                bell.lower();
                false
            } else {
                true
            }
        }
        None => {
            let new = Arc::new(Signal::new());
            acker.watch_slot(&new);
            *bell = Some(new);
            false
        }
    }
}

/// Takes the doorbell back, if one was registered.
fn unwatch<T: Send>(acker: &Acker<T>, bell: &mut Option<Arc<Signal>>) {
    if let Some(bell) = bell.take() {
        acker.unwatch_slot(&bell);
    }
}

/// The future of [`Receiver::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct Recv<'a, T: Send> {
    receiver: &'a Receiver<T>,
    waiting: Waiting,
}

impl<T: Send> Future for Recv<'_, T> {
    type Output = Result<Message<T>, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receiver.poll_recv(&mut this.waiting, cx)
    }
}

impl<T: Send> Drop for Recv<'_, T> {
    fn drop(&mut self) {
        self.waiting.cancel(&self.receiver.core().recv_wakers);
    }
}

impl<T: Send> fmt::Debug for Recv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recv")
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}

/// The future of [`Receiver::recv_ack_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvAck<'a, T: Send + 'static> {
    receiver: &'a Receiver<T>,
    waiting: Waiting,
    /// The doorbell for a prefetch slot, while the handle is at its limit.
    slot_bell: Option<Arc<Signal>>,
}

impl<'a, T: Send + 'static> Future for RecvAck<'a, T> {
    type Output = Result<Delivery<'a, T>, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receiver
            .poll_recv_ack(&mut this.waiting, &mut this.slot_bell, cx)
    }
}

impl<T: Send + 'static> Drop for RecvAck<'_, T> {
    fn drop(&mut self) {
        if self.slot_bell.is_some() {
            unwatch(self.receiver.acker(), &mut self.slot_bell);
        }
        self.waiting.cancel(&self.receiver.core().recv_wakers);
    }
}

impl<T: Send + 'static> fmt::Debug for RecvAck<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvAck")
            .field("waiting", &self.waiting.is_registered())
            .field("waiting_for_slot", &self.slot_bell.is_some())
            .finish()
    }
}

/// A receiver the stream borrows or owns.
enum Handle<'a, T: Send> {
    Borrowed(&'a Receiver<T>),
    Owned(Receiver<T>),
}

impl<T: Send> Deref for Handle<'_, T> {
    type Target = Receiver<T>;

    fn deref(&self) -> &Receiver<T> {
        match self {
            Handle::Borrowed(receiver) => receiver,
            Handle::Owned(receiver) => receiver,
        }
    }
}

/// The [`Stream`] of [`Receiver::stream`] and [`Receiver::into_stream`]:
/// yields messages until the mailbox is closed and empty.
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<'a, T: Send> {
    receiver: Handle<'a, T>,
    waiting: Waiting,
}

impl<T: Send> Stream for RecvStream<'_, T> {
    type Item = Message<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message<T>>> {
        let this = self.get_mut();
        this.receiver
            .poll_recv(&mut this.waiting, cx)
            .map(Result::ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.receiver.len(), None)
    }
}

impl<T: Send> Drop for RecvStream<'_, T> {
    fn drop(&mut self) {
        self.waiting.cancel(&self.receiver.core().recv_wakers);
    }
}

impl<T: Send> fmt::Debug for RecvStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvStream")
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}

// Poll helpers for the handles built on a receiver (a process's selective
// receive and its save queue), which hold their own `Waiting` and doorbell.
impl<T: Send> Receiver<T> {
    /// One poll of [`take_aside`](Receiver::take_aside): a message taken
    /// from the queue and counted as received, but not settled (its receipt
    /// is settled when a receive hands it out), `Err` once the mailbox is
    /// closed and drained, or `Pending` with the task registered (after
    /// looking once more). As in `poll_recv`, the message leaves the queue
    /// only in the poll that returns it.
    pub(crate) fn poll_take_aside(
        &self,
        waiting: &mut Waiting,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Message<T>, RecvError>> {
        let core = self.core();
        let mut registered = false;
        loop {
            match self.take_aside(crate::wait::Wait::NonBlocking) {
                Ok(msg) => {
                    waiting.done(&core.recv_wakers, || !core.queue_is_empty());
                    return Poll::Ready(Ok(msg));
                }
                Err(crate::error::RecvTimeoutError::Closed) => {
                    waiting.done(&core.recv_wakers, || false);
                    return Poll::Ready(Err(RecvError));
                }
                Err(_) if registered => return Poll::Pending,
                Err(_) => {
                    waiting.register(&core.recv_wakers, cx.waker());
                    registered = true;
                }
            }
        }
    }

    /// Ends a wait for a message that was served otherwise (from a save
    /// queue): a wake it received goes on if the queue holds a message.
    pub(crate) fn end_recv_wait(&self, waiting: &mut Waiting) {
        let core = self.core();
        waiting.done(&core.recv_wakers, || !core.queue_is_empty());
    }

    /// Leaves the receive wait list without having used the wait (a
    /// future dropped): a wake it received goes to the next waiter.
    pub(crate) fn cancel_recv_wait(&self, waiting: &mut Waiting) {
        waiting.cancel(&self.core().recv_wakers);
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// One try at handing out a message already taken (with `take_aside`)
    /// as a delivery, which needs a prefetch slot: `Err` gives the message
    /// back when there is none, with the task's doorbell registered for the
    /// next slot (the caller puts the message back and returns `Pending`).
    /// A close does not end the wait: the message is in hand.
    pub(crate) fn poll_deliver_taken(
        &self,
        msg: Message<T>,
        slot_bell: &mut Option<Arc<Signal>>,
        cx: &mut Context<'_>,
    ) -> Result<Delivery<'_, T>, Message<T>> {
        let acker = self.acker();
        let mut msg = msg;
        loop {
            match self.deliver_taken(msg, Deadline::Now) {
                Ok(delivery) => {
                    unwatch(acker, slot_bell);
                    return Ok(delivery);
                }
                Err((back, _)) => msg = back,
            }
            if watch(acker, slot_bell, cx) {
                return Err(msg);
            }
            // Registered just now, or rung since the last look: look again.
        }
    }

    /// Takes back the doorbell `poll_deliver_taken` or `poll_recv_ack`
    /// registered for a prefetch slot, if any (a future dropped).
    pub(crate) fn cancel_slot_wait(&self, slot_bell: &mut Option<Arc<Signal>>) {
        if slot_bell.is_some() {
            unwatch(self.acker(), slot_bell);
        }
    }
}
