//! Sending from futures: `send_async`, and `reserve_async` with its
//! [`Permit`], the cancel-safe way to send from `select!`.
//!
//! A send future stamps its message on its first poll, then tries the same
//! non-blocking push a thread's `try_send` makes. A full mailbox registers
//! the task with the mailbox's room wait list (every receive wakes one
//! waiting task), looks once more, and returns `Pending`; room is never
//! taken before the message goes in, so a future that is never polled again
//! holds nothing (the deadlock async-channel #45 describes cannot happen).
//! On a rendezvous (capacity 0) the message is put on offer, as a blocked
//! thread's is, and the task is woken when a receiver takes it.
//!
//! A dropped `send_async` future either had queued its message (it is in
//! the mailbox, or was taken from its offer) or drops it with itself; which
//! one is decided in one step under the queue's lock or crossbeam's, never
//! half. `reserve_async` moves that decision before the message exists:
//! dropping its future drops nothing, and `permit.send` cannot wait.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use crate::error::{PushError, ReserveError, SendError};
use crate::id::Pid;
use crate::message::Message;
use crate::overflow::Overflow;
use crate::queue::Offered;
use crate::receipt::{Milestone, Receipt};

use crate::wait::{Confirm, Deadline};
use crate::wake::Waiting;

use super::sender::{blocking_error, untracked};
use super::Sender;

impl<T: Send> Sender<T> {
    /// Sends without blocking a thread: the async form of
    /// [`send`](Sender::send), on any executor. A full mailbox makes the
    /// future wait for room (backpressure reaches the task as awaiting, not
    /// as a blocked thread); with the handle's [`Confirm::Received`] or
    /// [`Confirm::Acked`], it then waits for that confirmation too. Fails as
    /// `send` does, message handed back.
    ///
    /// **Cancellation.** A future dropped while it waits for room, or while
    /// its message is on offer at a rendezvous, drops the message with
    /// itself (it was never queued; the statistics count it refused). One
    /// dropped while it waits for a confirmation had queued its message: it
    /// stays in the mailbox. To send from a `select!` branch that may lose,
    /// use [`reserve_async`](Sender::reserve_async): the message is only
    /// handed over once there is room for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<u32>::builder().capacity(1).build();
    /// let consumer = std::thread::spawn(move || {
    ///     rx.iter().map(|m| m.into_body()).sum::<u32>()
    /// });
    /// for n in 1..=4 {
    ///     tx.send_async(n).await.unwrap(); // waits for room, blocks no thread
    /// }
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), 10);
    /// # });
    /// ```
    pub fn send_async(&self, msg: impl Into<Message<T>>) -> SendAsync<'_, T> {
        self.send_async_from(None, msg.into())
    }

    /// `send_async` on behalf of process `source` (direct addressing: the
    /// header carries it), for a process's async request.
    pub(crate) fn send_async_from(&self, source: Option<Pid>, msg: Message<T>) -> SendAsync<'_, T> {
        SendAsync {
            sender: self,
            source,
            stage: Stage::Start(msg),
            confirm: None,
            waiting: Waiting::new(),
            counted_waiting: false,
        }
    }

    /// Waits, without blocking a thread, until the mailbox has room, and
    /// holds one unit of it in a [`Permit`]; `permit.send(msg)` then cannot
    /// wait and cannot find the mailbox full (tokio's `reserve`). Dropping
    /// the future, or the permit unused, gives nothing up: no message exists
    /// yet, and the room goes back at once. Fails with
    /// [`ReserveError::Closed`] once the mailbox is closed, and with
    /// [`ReserveError::Full`] on a full mailbox whose overflow policy is
    /// `Reject` (the drop policies grant a permit at once: its send evicts).
    ///
    /// On a rendezvous (capacity 0) a permit is granted at once and its
    /// message is held for the next receive, like a requeued one: the send
    /// completes without a receiver. A custom backend holds no room for
    /// permits: its permit's send can find it full again (`Full`, message
    /// handed back).
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<&str>::builder().capacity(1).build();
    /// let permit = tx.reserve_async().await.unwrap();
    /// // The room is held: another send finds the mailbox full.
    /// assert!(tx.try_send("other").unwrap_err().is_full());
    /// permit.send("mine").unwrap();
    /// assert_eq!(rx.recv().unwrap().into_body(), "mine");
    /// # });
    /// ```
    pub fn reserve_async(&self) -> Reserve<'_, T> {
        Reserve {
            sender: self,
            waiting: Waiting::new(),
        }
    }

    /// Holds one unit of room if there is some now, never waiting: the
    /// non-blocking form of [`reserve_async`](Sender::reserve_async).
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, ReserveError> {
        self.reserve_now().map(|held| Permit { sender: self, held })
    }

    /// One try at a reservation: `Ok(held)` (whether room is really held;
    /// not for an unbounded mailbox, a drop policy or a custom backend).
    fn reserve_now(&self) -> Result<bool, ReserveError> {
        let core = self.core();
        match core.queue.try_reserve() {
            Err(ReserveError::Full) => match core.overflow {
                Overflow::Block | Overflow::Reject => Err(ReserveError::Full),
                // The permit's send will make room by evicting.
                Overflow::DropOldest | Overflow::DropLowest => Ok(false),
            },
            other => other,
        }
    }

    /// An async rendezvous send's first attempt: into the hands of a
    /// receiver parked in `pop`, or on offer until a receiver takes it.
    fn offer(
        &self,
        msg: Message<T>,
        stage: &mut Stage<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let core = self.core();
        let Some(queue) = core.queue.rendezvous() else {
            *stage = Stage::Done;
            return Poll::Ready(Ok(()));
        };
        match queue.offer_async(msg, cx.waker()) {
            Offered::Handed => Poll::Ready(Ok(())),
            Offered::Waiting(ticket) => {
                // Selects and tasks waiting to receive only poll: tell them
                // the offer is there.
                core.announce();
                *stage = Stage::Offered(ticket);
                Poll::Pending
            }
            Offered::Closed(msg) => {
                Poll::Ready(Err(blocking_error(self.refused(PushError::Closed(msg)))))
            }
        }
    }

    /// One poll of the wait for room (the first try, through the overflow
    /// policy, was made by the first poll): `Ready` with the outcome (the
    /// message handed back on failure), or `Pending` with the message kept
    /// in `stage`.
    fn poll_room(
        &self,
        stage: &mut Stage<T>,
        waiting: &mut Waiting,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), SendError<T>>> {
        let core = self.core();
        let mut registered = false;
        loop {
            let Stage::Pushing(msg, seq) = std::mem::replace(stage, Stage::Done) else {
                return Poll::Ready(Ok(()));
            };
            match core.queue.try_push(msg) {
                Ok(()) => {
                    self.landed(seq);
                    waiting.done(&core.room_wakers, || core.has_room());
                    return Poll::Ready(Ok(()));
                }
                Err(PushError::Full(msg)) => *stage = Stage::Pushing(msg, seq),
                Err(err) => {
                    waiting.done(&core.room_wakers, || core.has_room());
                    return Poll::Ready(Err(blocking_error(self.refused(err))));
                }
            }
            if registered {
                // A custom backend that cannot say when room appears is
                // also looked at again on a timer.
                core.poll_later(waiting, cx.waker());
                return Poll::Pending;
            }
            waiting.register(&core.room_wakers, cx.waker());
            registered = true;
        }
    }
}

/// Where a [`SendAsync`] is.
enum Stage<T> {
    /// Not polled yet: the message as given.
    Start(Message<T>),
    /// Stamped (with its sequence number), waiting for room.
    Pushing(Message<T>, u64),
    /// On offer at a rendezvous under this ticket.
    Offered(u64),
    /// Queued; waiting for the handle's confirmation, if it asks for one.
    Confirming,
    /// Finished.
    Done,
}

/// The future of [`Sender::send_async`].
#[must_use = "futures do nothing unless polled"]
pub struct SendAsync<'a, T: Send> {
    sender: &'a Sender<T>,
    /// The sending process, for a process's send (set after the stamp).
    source: Option<Pid>,
    stage: Stage<T>,
    /// The receipt the handle's confirmation waits on, and for what.
    confirm: Option<(Receipt, Milestone)>,
    waiting: Waiting,
    /// Whether the handle counts this send as waiting.
    counted_waiting: bool,
}

impl<T: Send> SendAsync<'_, T> {
    /// Leaves the handle's waiting count, if it is in it.
    fn stop_waiting(&mut self) {
        if std::mem::take(&mut self.counted_waiting) {
            self.sender.local().waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

// The message is moved in and out by value, never pinned in place.
impl<T: Send> Unpin for SendAsync<'_, T> {}

impl<T: Send> Future for SendAsync<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sender = this.sender;
        let core = sender.core();
        loop {
            match &this.stage {
                Stage::Start(_) => {
                    let Stage::Start(msg) = std::mem::replace(&mut this.stage, Stage::Done) else {
                        return Poll::Ready(Ok(()));
                    };
                    // A plain mailbox's plain send first takes the fast
                    // path of the blocking one.
                    let fast = if this.source.is_none() && sender.confirm_mode() == Confirm::Queued
                    {
                        sender.put_plain(msg)
                    } else {
                        Err((msg, None))
                    };
                    let (msg, seq) = match fast {
                        Ok(()) => return Poll::Ready(Ok(())),
                        Err((msg, Some(seq))) => (msg, seq),
                        Err((msg, None)) => {
                            let (mut msg, seq) = match sender.admit(msg, this.source) {
                                Ok(admitted) => admitted,
                                Err(err) => return Poll::Ready(Err(blocking_error(err))),
                            };
                            this.confirm = match sender.confirm_mode() {
                                Confirm::Queued => None,
                                Confirm::Received => {
                                    Some((sender.track_logged(&mut msg), Milestone::Received))
                                }
                                Confirm::Acked => {
                                    Some((sender.track_logged(&mut msg), Milestone::Acked))
                                }
                            };
                            (msg, seq)
                        }
                    };
                    if core.queue.rendezvous().is_some() {
                        match sender.offer(msg, &mut this.stage, cx) {
                            Poll::Ready(Ok(())) => this.stage = Stage::Confirming,
                            Poll::Ready(Err(err)) => {
                                this.confirm = None;
                                return Poll::Ready(Err(err));
                            }
                            Poll::Pending => return Poll::Pending,
                        }
                        continue;
                    }
                    // The first try, as `try_send` makes it (through the
                    // overflow policy, counting a full mailbox once): the
                    // common case ends here, with nothing registered.
                    match core.push(msg, Deadline::Now, sender.local()) {
                        Ok(()) => {
                            sender.landed(seq);
                            if this.confirm.is_none() {
                                return Poll::Ready(Ok(()));
                            }
                            this.stage = Stage::Confirming;
                        }
                        Err(PushError::Full(msg)) if core.overflow == Overflow::Block => {
                            // Not sent yet while it waits: statistics
                            // subtract it, as for a blocked thread.
                            sender.local().waiting.fetch_add(1, Ordering::Relaxed);
                            this.counted_waiting = true;
                            this.stage = Stage::Pushing(msg, seq);
                        }
                        Err(err) => {
                            this.confirm = None;
                            return Poll::Ready(Err(blocking_error(sender.refused(err))));
                        }
                    }
                }
                Stage::Pushing(..) => {
                    let pushed = sender.poll_room(&mut this.stage, &mut this.waiting, cx);
                    match pushed {
                        Poll::Ready(Ok(())) => {
                            this.stop_waiting();
                            this.stage = Stage::Confirming;
                        }
                        Poll::Ready(Err(err)) => {
                            this.stop_waiting();
                            this.confirm = None;
                            return Poll::Ready(Err(err));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                &Stage::Offered(ticket) => {
                    let Some(queue) = core.queue.rendezvous() else {
                        return Poll::Ready(Ok(()));
                    };
                    match queue.poll_offer(ticket, cx.waker()) {
                        Poll::Ready(Ok(())) => {
                            this.stop_waiting();
                            this.stage = Stage::Confirming;
                        }
                        Poll::Ready(Err(msg)) => {
                            this.stop_waiting();
                            this.stage = Stage::Done;
                            this.confirm = None;
                            let err = sender.refused(PushError::Closed(msg));
                            return Poll::Ready(Err(blocking_error(err)));
                        }
                        Poll::Pending => return Poll::Pending,
                    }
                }
                Stage::Confirming => {
                    let Some((receipt, milestone)) = &this.confirm else {
                        this.stage = Stage::Done;
                        return Poll::Ready(Ok(()));
                    };
                    let outcome = match receipt.poll_milestone(*milestone, cx.waker()) {
                        Poll::Ready(Ok(())) => Ok(()),
                        Poll::Ready(Err(_)) => Err(SendError::Unconfirmed(receipt.clone())),
                        Poll::Pending => return Poll::Pending,
                    };
                    this.stage = Stage::Done;
                    this.confirm = None;
                    return Poll::Ready(outcome);
                }
                Stage::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<T: Send> Drop for SendAsync<'_, T> {
    /// A completed send leaves nothing to undo: three inline looks, and
    /// the undoing out of line (as a call, every async send paid it).
    #[inline(always)]
    fn drop(&mut self) {
        if !matches!(self.stage, Stage::Done)
            || self.counted_waiting
            || self.waiting.is_registered()
        {
            self.undo();
        }
    }
}

impl<T: Send> SendAsync<'_, T> {
    /// What a send dropped before it completed undoes: its message taken
    /// back (counted as refused), its place in the waiting count and the
    /// wait list given up.
    #[cold]
    #[inline(never)]
    fn undo(&mut self) {
        let core = self.sender.core();
        let unsent = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Pushing(msg, _) => Some(msg),
            // Taken back unless a receiver took it first (then the send is
            // complete: the message is delivered).
            Stage::Offered(ticket) => core
                .queue
                .rendezvous()
                .and_then(|queue| queue.withdraw_offer(ticket)),
            _ => None,
        };
        if let Some(msg) = unsent {
            // Counted when stamped; never sent.
            self.sender.local().refused.fetch_add(1, Ordering::Relaxed);
            drop(untracked(msg));
        }
        self.stop_waiting();
        self.waiting.cancel(&core.room_wakers);
    }
}

impl<T: Send> fmt::Debug for SendAsync<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Start(_) => "start",
            Stage::Pushing(..) => "waiting for room",
            Stage::Offered(_) => "on offer",
            Stage::Confirming => "waiting for confirmation",
            Stage::Done => "done",
        };
        f.debug_struct("SendAsync").field("stage", &stage).finish()
    }
}

/// The future of [`Sender::reserve_async`].
#[must_use = "futures do nothing unless polled"]
pub struct Reserve<'a, T: Send> {
    sender: &'a Sender<T>,
    waiting: Waiting,
}

impl<'a, T: Send> Future for Reserve<'a, T> {
    type Output = Result<Permit<'a, T>, ReserveError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let sender = this.sender;
        let core = sender.core();
        let mut registered = false;
        loop {
            match sender.reserve_now() {
                Ok(held) => {
                    this.waiting.done(&core.room_wakers, || core.has_room());
                    return Poll::Ready(Ok(Permit { sender, held }));
                }
                Err(ReserveError::Full) if core.overflow == Overflow::Block => {
                    if registered {
                        core.poll_later(&mut this.waiting, cx.waker());
                        return Poll::Pending;
                    }
                    this.waiting.register(&core.room_wakers, cx.waker());
                    registered = true;
                }
                Err(err) => {
                    this.waiting.done(&core.room_wakers, || false);
                    return Poll::Ready(Err(err));
                }
            }
        }
    }
}

impl<T: Send> Drop for Reserve<'_, T> {
    fn drop(&mut self) {
        self.waiting.cancel(&self.sender.core().room_wakers);
    }
}

impl<T: Send> fmt::Debug for Reserve<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reserve")
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}

/// One unit of room in a mailbox, held for a message to come: from
/// [`Sender::reserve_async`] or [`Sender::try_reserve`].
///
/// [`send`](Permit::send) cannot wait and cannot find the mailbox full; it
/// can still refuse a message that breaks the mailbox's limits (a bad
/// priority, a body too long) or find the mailbox closed, and hands the
/// message back. A permit dropped unused gives its room back at once. The
/// send queues the message and returns: it does not wait for the handle's
/// [`Confirm`] (use [`send_tracked`](Permit::send_tracked) and the
/// receipt).
#[must_use = "a permit holds room in the mailbox until it is used or dropped"]
pub struct Permit<'a, T: Send> {
    sender: &'a Sender<T>,
    /// Whether room is really held (see `Sender::reserve_now`).
    held: bool,
}

impl<T: Send> Permit<'_, T> {
    /// Sends into the room this permit holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, SendError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(4).build();
    /// let permit = tx.try_reserve().unwrap();
    /// // Refused (priority 5 of 0..2), message handed back; the room is
    /// // given back too.
    /// let err = permit.send(postbox::Message::new(7).priority(5)).unwrap_err();
    /// assert!(matches!(err, SendError::InvalidPriority(_)));
    /// tx.try_reserve().unwrap().send(8).unwrap();
    /// assert_eq!(rx.recv().unwrap().into_body(), 8);
    /// ```
    pub fn send(self, msg: impl Into<Message<T>>) -> Result<(), SendError<T>> {
        self.send_inner(msg.into(), |_| ())
    }

    /// Sends into the room this permit holds and returns the message's
    /// [`Receipt`].
    pub fn send_tracked(self, msg: impl Into<Message<T>>) -> Result<Receipt, SendError<T>> {
        let sender = self.sender;
        self.send_inner(msg.into(), |msg| sender.track_logged(msg))
    }

    /// Validates, stamps, lets `attach` add to the message (a receipt), and
    /// pushes into the held room.
    fn send_inner<R>(
        mut self,
        msg: Message<T>,
        attach: impl FnOnce(&mut Message<T>) -> R,
    ) -> Result<R, SendError<T>> {
        let sender = self.sender;
        let core = sender.core();
        // Refused or not logged: dropping `self` gives the room back.
        let (mut msg, seq) = sender.admit(msg, None).map_err(blocking_error)?;
        let held = std::mem::take(&mut self.held);
        let receipt = attach(&mut msg);
        let pushed = if held {
            core.queue.push_reserved(msg)
        } else {
            core.push(msg, Deadline::Now, sender.local())
        };
        match pushed {
            Ok(()) => {
                sender.landed(seq);
                Ok(receipt)
            }
            Err(err) => Err(blocking_error(sender.refused(err))),
        }
    }
}

impl<T: Send> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        if std::mem::take(&mut self.held) {
            let core = self.sender.core();
            core.queue.unreserve();
            core.room_freed();
        }
    }
}

impl<T: Send> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("held", &self.held).finish()
    }
}
