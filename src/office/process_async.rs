//! A process's receives from futures: `recv_async`, `recv_ack_async`,
//! `recv_from_async`, `recv_matching_async` and `stream`.
//!
//! Each poll looks where the blocking form looks, in the same order: the
//! save queue first (what earlier selective receives set aside), then the
//! inbox, through the inbox receiver's own poll helpers (`recv_async.rs`:
//! register, look again, then `Pending`; a wake not used is passed on).
//!
//! The futures borrow the process mutably. A process is `Send` but not
//! `Sync` (its save queue is a `RefCell`): a future holding `&Process` could
//! not move between threads, one holding `&mut Process` can, so these
//! futures are `Send` and run on a multi-threaded runtime.
//!
//! Cancellation: a message leaves the inbox only in a poll, and within that
//! poll it is either returned or set aside at the back of the save queue (a
//! selective receive's non-matching messages, as the blocking form does).
//! A dropped future therefore loses nothing and reorders nothing: later
//! receives look at the save queue first, in arrival order.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::process::Process;
use super::selective::{from, SetAside};
use crate::error::RecvError;
use crate::id::Pid;
use crate::mailbox::{Delivery, OwnedDelivery};
use crate::message::{Header, Message};
use crate::signal::Signal;
use crate::wake::Waiting;

/// How many non-matching messages one poll of a selective receive sets
/// aside before it yields to the executor (and is woken at once to go on):
/// a flood of other messages must not hold a worker thread in one poll.
const SET_ASIDE_BUDGET: usize = 256;

impl<T: Send + 'static> Process<T> {
    /// Receives the oldest message from anyone without blocking a thread:
    /// the async form of [`recv`](Process::recv). Messages a selective
    /// receive set aside come first. Fails only once the inbox is closed
    /// and nothing is left.
    ///
    /// Takes `&mut self`: a process is not `Sync`, and the exclusive borrow
    /// is what makes the future `Send` (spawnable on a multi-threaded
    /// runtime, with the process moved into the task).
    ///
    /// **Cancel-safe.** A message leaves the inbox or the save queue only in
    /// the poll that returns it; a dropped future leaves both as they were.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::PostOffice;
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let mut me = office.anonymous::<&str>();
    /// let to_me = me.address();
    /// let sender = std::thread::spawn(move || to_me.send("hello").unwrap());
    /// assert_eq!(me.recv_async().await.unwrap().into_body(), "hello");
    /// # sender.join().unwrap();
    /// # });
    /// ```
    pub fn recv_async(&mut self) -> ProcessRecv<'_, T> {
        ProcessRecv {
            process: self,
            waiting: Waiting::new(),
        }
    }

    /// Receives from anyone with acknowledgement without blocking a thread:
    /// the async form of [`recv_ack`](Process::recv_ack). Messages a
    /// selective receive set aside come first (each waits for a prefetch
    /// slot, if the inbox has a limit, first in line). The delivery is an
    /// [`OwnedDelivery`]: the future borrows the process mutably (to be
    /// `Send`), a borrow its output cannot share.
    ///
    /// **Cancel-safe, and leaves no trace.** The slot and the message are
    /// taken together in the poll that returns the delivery; a set-aside
    /// message that found no slot is put back at the front of the save
    /// queue in the same poll. A dropped future took no message and no
    /// slot, counted no redelivery and changed no order.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::PostOffice;
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let mut worker = office.anonymous::<&str>();
    /// worker.address().send("job").unwrap();
    /// let delivery = worker.recv_ack_async().await.unwrap();
    /// assert_eq!(*delivery.body(), "job");
    /// delivery.ack();
    /// assert_eq!(worker.stats().acked, 1);
    /// # });
    /// ```
    pub fn recv_ack_async(&mut self) -> ProcessRecvAck<'_, T> {
        ProcessRecvAck {
            process: self,
            waiting: Waiting::new(),
            slot_bell: None,
        }
    }

    /// Receives the oldest message sent by `pid` without blocking a thread:
    /// the async form of [`recv_from`](Process::recv_from). Other messages
    /// keep their order for later receives. Cancel-safe as
    /// [`recv_matching_async`](Process::recv_matching_async) is.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::PostOffice;
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let mut me = office.anonymous::<&str>();
    /// let alice = office.anonymous::<&str>();
    /// let bob = office.anonymous::<&str>();
    /// alice.send_to(&me.address(), "from alice").unwrap();
    /// bob.send_to(&me.address(), "from bob").unwrap();
    ///
    /// let m = me.recv_from_async(bob.pid()).await.unwrap();
    /// assert_eq!(m.into_body(), "from bob");
    /// assert_eq!(me.recv_async().await.unwrap().into_body(), "from alice");
    /// # });
    /// ```
    pub fn recv_from_async(
        &mut self,
        pid: Pid,
    ) -> RecvMatching<'_, T, impl FnMut(&Header) -> bool + Send + Sync + 'static> {
        self.recv_matching_async(from(pid))
    }

    /// Receives the oldest message whose header matches `matches` without
    /// blocking a thread: the async form of
    /// [`recv_matching`](Process::recv_matching) (Erlang's selective
    /// receive). Looks through the save queue first, then takes from the
    /// inbox, setting aside what does not match.
    ///
    /// **Cancel-safe: nothing lost, nothing reordered.** A message taken
    /// from the inbox in a poll is, in that same poll, either returned or
    /// set aside at the back of the save queue, in arrival order, exactly
    /// as the blocking form does; every later receive looks there first. A
    /// dropped future may have set messages aside, never taken one away.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Message, PostOffice};
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let mut me = office.anonymous::<&str>();
    /// let to_me = me.address();
    /// to_me.send("routine").unwrap();
    /// to_me.send(Message::new("urgent").priority(9)).unwrap();
    ///
    /// let urgent = me.recv_matching_async(|h| h.priority() > 5).await.unwrap();
    /// assert_eq!(urgent.into_body(), "urgent");
    /// assert_eq!(me.recv_async().await.unwrap().into_body(), "routine");
    /// # });
    /// ```
    pub fn recv_matching_async<F>(&mut self, matches: F) -> RecvMatching<'_, T, F>
    where
        F: FnMut(&Header) -> bool,
    {
        RecvMatching {
            process: self,
            matches,
            waiting: Waiting::new(),
        }
    }

    /// A [`Stream`] of the messages from anyone (set-aside ones first),
    /// ending once the inbox is closed and nothing is left: `recv_async` in
    /// a loop, cancel-safe as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures_util::StreamExt;
    /// use postbox::PostOffice;
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let mut me = office.anonymous::<u32>();
    /// me.address().send(1).unwrap();
    /// me.address().send(2).unwrap();
    /// let first_two: Vec<u32> = me.stream().take(2).map(|m| m.into_body()).collect().await;
    /// assert_eq!(first_two, [1, 2]);
    /// # });
    /// ```
    pub fn stream(&mut self) -> ProcessStream<'_, T> {
        ProcessStream {
            process: self,
            waiting: Waiting::new(),
        }
    }

    /// One poll of a receive from anyone: the save queue first, then the
    /// inbox.
    fn poll_recv_any(
        &self,
        waiting: &mut Waiting,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Message<T>, RecvError>> {
        if self.has_saved() {
            if let Some(msg) = self.take_saved() {
                self.receiver().end_recv_wait(waiting);
                return Poll::Ready(Ok(self.receiver().settle_taken(msg)));
            }
        }
        self.receiver().poll_recv(waiting, cx)
    }

    /// One poll of an acknowledged receive: the oldest saved message (with
    /// a prefetch slot), else the inbox. The delivery is owned: the future
    /// holds the process by a mutable borrow that its output cannot share.
    fn poll_recv_ack_any(
        &self,
        waiting: &mut Waiting,
        slot_bell: &mut Option<Arc<Signal>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<OwnedDelivery<T>, RecvError>> {
        let Some(msg) = self.take_saved() else {
            return self
                .receiver()
                .poll_recv_ack(waiting, slot_bell, cx)
                .map_ok(Delivery::into_owned);
        };
        match self.receiver().poll_deliver_taken(msg, slot_bell, cx) {
            Ok(delivery) => {
                self.receiver().end_recv_wait(waiting);
                Poll::Ready(Ok(delivery.into_owned()))
            }
            Err(msg) => {
                // No slot: first in line again, in this same poll; the
                // doorbell is registered for the next slot.
                self.saved.borrow_mut().push_front(msg);
                Poll::Pending
            }
        }
    }

    /// One poll of a selective receive.
    fn poll_matching(
        &self,
        matches: &mut impl FnMut(&Header) -> bool,
        waiting: &mut Waiting,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Message<T>, RecvError>> {
        if let Some(msg) = self.take_saved_matching(matches) {
            self.receiver().end_recv_wait(waiting);
            return Poll::Ready(Ok(self.receiver().settle_taken(msg)));
        }
        for _ in 0..SET_ASIDE_BUDGET {
            let msg = match self.receiver().poll_take_aside(waiting, cx) {
                Poll::Ready(Ok(msg)) => msg,
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => return Poll::Pending,
            };
            // Held by the guard while the predicate looks at it: unless it
            // matches, it goes to the back of the save queue (also if the
            // predicate panics), within this poll.
            let mut taken = SetAside {
                saved: &self.saved,
                msg: Some(msg),
            };
            if taken.msg.as_ref().is_some_and(|msg| matches(msg.header())) {
                if let Some(msg) = taken.msg.take() {
                    return Poll::Ready(Ok(self.receiver().settle_taken(msg)));
                }
            }
        }
        // Everything taken so far is set aside: yield, and go on at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The future of [`Process::recv_async`].
#[must_use = "futures do nothing unless polled"]
pub struct ProcessRecv<'a, T: Send + 'static> {
    process: &'a mut Process<T>,
    waiting: Waiting,
}

impl<T: Send + 'static> Future for ProcessRecv<'_, T> {
    type Output = Result<Message<T>, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.process.poll_recv_any(&mut this.waiting, cx)
    }
}

impl<T: Send + 'static> Drop for ProcessRecv<'_, T> {
    fn drop(&mut self) {
        self.process.receiver().cancel_recv_wait(&mut self.waiting);
    }
}

impl<T: Send + 'static> fmt::Debug for ProcessRecv<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessRecv")
            .field("pid", &self.process.pid())
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}

/// The future of [`Process::recv_ack_async`].
#[must_use = "futures do nothing unless polled"]
pub struct ProcessRecvAck<'a, T: Send + 'static> {
    process: &'a mut Process<T>,
    waiting: Waiting,
    /// The doorbell for a prefetch slot, while the inbox is at its limit.
    slot_bell: Option<Arc<Signal>>,
}

impl<T: Send + 'static> Future for ProcessRecvAck<'_, T> {
    type Output = Result<OwnedDelivery<T>, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.process
            .poll_recv_ack_any(&mut this.waiting, &mut this.slot_bell, cx)
    }
}

impl<T: Send + 'static> Drop for ProcessRecvAck<'_, T> {
    fn drop(&mut self) {
        let receiver = self.process.receiver();
        receiver.cancel_slot_wait(&mut self.slot_bell);
        receiver.cancel_recv_wait(&mut self.waiting);
    }
}

impl<T: Send + 'static> fmt::Debug for ProcessRecvAck<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessRecvAck")
            .field("pid", &self.process.pid())
            .field("waiting", &self.waiting.is_registered())
            .field("waiting_for_slot", &self.slot_bell.is_some())
            .finish()
    }
}

/// The future of [`Process::recv_matching_async`] and
/// [`Process::recv_from_async`].
#[must_use = "futures do nothing unless polled"]
pub struct RecvMatching<'a, T: Send + 'static, F> {
    process: &'a mut Process<T>,
    matches: F,
    waiting: Waiting,
}

// The predicate is called through `&mut`, never pinned in place.
impl<T: Send + 'static, F> Unpin for RecvMatching<'_, T, F> {}

impl<T, F> Future for RecvMatching<'_, T, F>
where
    T: Send + 'static,
    F: FnMut(&Header) -> bool,
{
    type Output = Result<Message<T>, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.process
            .poll_matching(&mut this.matches, &mut this.waiting, cx)
    }
}

impl<T: Send + 'static, F> Drop for RecvMatching<'_, T, F> {
    fn drop(&mut self) {
        self.process.receiver().cancel_recv_wait(&mut self.waiting);
    }
}

impl<T: Send + 'static, F> fmt::Debug for RecvMatching<'_, T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecvMatching")
            .field("pid", &self.process.pid())
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}

/// The [`Stream`] of [`Process::stream`]: messages from anyone until the
/// inbox is closed and nothing is left.
#[must_use = "streams do nothing unless polled"]
pub struct ProcessStream<'a, T: Send + 'static> {
    process: &'a mut Process<T>,
    waiting: Waiting,
}

impl<T: Send + 'static> Stream for ProcessStream<'_, T> {
    type Item = Message<T>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message<T>>> {
        let this = self.get_mut();
        this.process
            .poll_recv_any(&mut this.waiting, cx)
            .map(Result::ok)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.process.len(), None)
    }
}

impl<T: Send + 'static> Drop for ProcessStream<'_, T> {
    fn drop(&mut self) {
        self.process.receiver().cancel_recv_wait(&mut self.waiting);
    }
}

impl<T: Send + 'static> fmt::Debug for ProcessStream<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessStream")
            .field("pid", &self.process.pid())
            .field("waiting", &self.waiting.is_registered())
            .finish()
    }
}
