//! [`request_async`](Process::request_async): a request sent and its reply
//! awaited from a future, without blocking a thread.
//!
//! Two stages. **Sending**: the request goes into the server's inbox with
//! this process as its source, the way [`Process::send_to`] sends; a full
//! inbox is waited out with a reservation future (its permit only says
//! "there is room now": it is given back, and the request sent in its
//! place with its source). **Awaiting the reply**: the same doorbell the
//! blocking [`request`](Process::request) waits on (a [`Signal`] registered
//! with this process's inbox and the server's, rung by a message for us and
//! by the server's inbox closing), with the task's waker left in it instead
//! of a sleeping thread. Lower the bell, look, then leave the waker: a ring
//! after the look finds the waker or makes `set_waker` say "look again".

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::process::{Address, Process};
use super::request::next_correlation;
use crate::error::{RecvTimeoutError, RequestError, ReserveError, SendTimeoutError};
use crate::mailbox::Reserve;
use crate::message::{Header, Message};
use crate::signal::Signal;
use crate::timer::WakeLater;
use crate::wait::{Confirm, Deadline, Wait};

/// How long a request to a rendezvous inbox (capacity 0) waits before it
/// tries again, doubling up to [`RETRY_MAX`]: it pairs only with a server
/// blocked in its receive, and nothing says when one is.
const RETRY_FIRST: Duration = Duration::from_millis(1);

/// The longest pause between two tries of such a request.
const RETRY_MAX: Duration = Duration::from_millis(32);

/// How many times one poll tries to send after a reservation said there was
/// room (another sender may take the room first each time) before it yields.
const TRIES_PER_POLL: usize = 8;

impl<T: Send + 'static> Process<T> {
    /// Sends a request to `to` and awaits the reply without blocking a
    /// thread: the async form of [`request`](Process::request). The request
    /// carries this process as source and `reply_to` and a correlation id no
    /// other request in the program has; the reply is the message from `to`
    /// that [`reply`](Process::reply) marked as the reply to it. Every other
    /// message that arrives meanwhile keeps its order for later receives.
    ///
    /// There is no timeout argument: wrap the future in your runtime's
    /// timeout (`tokio::time::timeout`). Fails with
    /// [`RequestError::Ended`] as soon as `to` ends without replying, with
    /// [`RequestError::Closed`] if this process's inbox closes, with
    /// [`RequestError::Unsent`] (request handed back) if it could not be
    /// sent: `to` had ended (`Closed`), its inbox refuses when full
    /// (`Full`), or the request breaks its limits. Never with `NoReply`.
    ///
    /// **Cancellation.** Dropped while it waits for room in the server's
    /// inbox, the future drops the request with itself: it was never sent.
    /// Dropped after it was sent, the request stays with the server, and a
    /// reply that comes later lands in this process's inbox like any other
    /// message (as after a blocking request's timeout). Messages it set
    /// aside while it looked for the reply stay in the save queue, in order:
    /// nothing is lost or reordered.
    ///
    /// A request to a rendezvous inbox (capacity 0) pairs only with a
    /// server thread blocked in its receive, and is retried on a timer (1 ms,
    /// doubling to 32 ms) until one is.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::PostOffice;
    ///
    /// # futures_executor::block_on(async {
    /// let office = PostOffice::new();
    /// let server = office
    ///     .spawn::<u64, _>("doubler", |me| {
    ///         while let Ok(request) = me.recv() {
    ///             let n = *request.body();
    ///             me.reply(request.header(), n * 2).unwrap();
    ///         }
    ///     })
    ///     .unwrap();
    /// let mut client = office.anonymous::<u64>();
    /// let doubler = office.lookup::<u64>("doubler").unwrap();
    /// let reply = client.request_async(&doubler, 21).await.unwrap();
    /// assert_eq!(reply.into_body(), 42);
    /// # drop(server);
    /// # });
    /// ```
    pub fn request_async<'a, U: Send + 'static>(
        &'a mut self,
        to: &'a Address<U>,
        msg: impl Into<Message<U>>,
    ) -> RequestAsync<'a, T, U> {
        let correlation = next_correlation();
        let msg = msg.into().correlation_id(correlation).reply_to(self.pid());
        RequestAsync {
            process: self,
            to,
            correlation,
            stage: Stage::Sending(Some(msg)),
            room: None,
            later: None,
            bell: None,
        }
    }
}

/// Where a [`RequestAsync`] is.
enum Stage<U> {
    /// The request, not sent yet.
    Sending(Option<Message<U>>),
    /// Sent; awaiting the reply.
    Awaiting,
    /// Finished.
    Done,
}

/// The future of [`Process::request_async`]: the reply.
#[must_use = "futures do nothing unless polled"]
pub struct RequestAsync<'a, T: Send + 'static, U: Send + 'static> {
    process: &'a mut Process<T>,
    to: &'a Address<U>,
    /// The request's correlation id.
    correlation: u64,
    stage: Stage<U>,
    /// The wait for room in the server's inbox, while it is full.
    room: Option<Reserve<'a, U>>,
    /// The timer of a request to a rendezvous inbox.
    later: Option<WakeLater>,
    /// The doorbell rung by a message for us or the server's end, while the
    /// reply is awaited.
    bell: Option<Arc<Signal>>,
}

// The request is moved in and out by value, never pinned in place.
impl<T: Send + 'static, U: Send + 'static> Unpin for RequestAsync<'_, T, U> {}

impl<'a, T: Send + 'static, U: Send + 'static> RequestAsync<'a, T, U> {
    /// One poll of the sending stage: `Ready(Ok)` once the request is in
    /// the server's inbox.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RequestError<U>>> {
        let to: &'a Address<U> = self.to;
        let sender = to.sender();
        for _ in 0..TRIES_PER_POLL {
            let Stage::Sending(slot) = &mut self.stage else {
                return Poll::Ready(Ok(()));
            };
            let Some(msg) = slot.take() else {
                return Poll::Ready(Ok(()));
            };
            // The overflow policy decides as for a blocking send: a policy
            // that evicts or refuses answers now; only `Block` says `Full`
            // and has us wait below.
            let back =
                match sender.send_from(self.process.pid(), msg, Deadline::Now, Confirm::Queued) {
                    Ok(()) => {
                        self.room = None;
                        self.later = None;
                        return Poll::Ready(Ok(()));
                    }
                    Err(SendTimeoutError::Full(back)) => back,
                    Err(err) => return Poll::Ready(Err(RequestError::Unsent(err))),
                };
            if sender.capacity() == Some(0) {
                // A rendezvous: room is a server blocked in its receive.
                *slot = Some(back);
                self.later
                    .get_or_insert_with(|| WakeLater::new(RETRY_FIRST, RETRY_MAX))
                    .schedule(cx.waker());
                return Poll::Pending;
            }
            let room = self.room.get_or_insert_with(|| sender.reserve_async());
            match Pin::new(room).poll(cx) {
                Poll::Pending => {
                    *slot = Some(back);
                    return Poll::Pending;
                }
                Poll::Ready(Ok(permit)) => {
                    // Room now: give it back and send in its place (with
                    // our pid as source, which a permit's send cannot set).
                    drop(permit);
                    self.room = None;
                    *slot = Some(back);
                }
                Poll::Ready(Err(ReserveError::Full)) => {
                    // Refuses rather than waits (`Overflow::Reject`).
                    self.room = None;
                    return Poll::Ready(Err(RequestError::Unsent(SendTimeoutError::Full(back))));
                }
                Poll::Ready(Err(ReserveError::Closed)) => {
                    // The next try reports it, with the request.
                    self.room = None;
                    *slot = Some(back);
                }
            }
        }
        // Room came and went to others every time: yield, and go on at once.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// One poll of the awaiting stage.
    fn poll_reply(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message<T>, RequestError<U>>> {
        let process = &*self.process;
        let to = self.to;
        let bell = self.bell.get_or_insert_with(|| {
            // Registered before the first look, so that neither a message
            // for us nor the server's end is missed between a look and the
            // wait.
            let bell = Arc::new(Signal::new());
            process.receiver().watchers().watch(&bell);
            to.sender().watchers().watch(&bell);
            bell
        });
        let replier = to.pid();
        let correlation = self.correlation;
        let is_reply = |h: &Header| {
            h.is_reply() && h.correlation_id() == Some(correlation) && h.source() == Some(replier)
        };
        loop {
            bell.lower();
            // Read before looking: the server's reply lands before its
            // inbox is destroyed, so once it is seen ended, the look below
            // finds a reply that was sent.
            let ended = to.sender().is_retired();
            match process.recv_matching_with(is_reply, Wait::NonBlocking) {
                Ok(reply) => return Poll::Ready(Ok(reply)),
                Err(RecvTimeoutError::Closed) => return Poll::Ready(Err(RequestError::Closed)),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if ended {
                return Poll::Ready(Err(RequestError::Ended(replier)));
            }
            if !bell.set_waker(cx.waker()) {
                return Poll::Pending;
            }
            // Rung since it was lowered: look again.
        }
    }

    /// Takes the doorbell back from both inboxes.
    fn unwatch(&mut self) {
        if let Some(bell) = self.bell.take() {
            self.process.receiver().watchers().unwatch(&bell);
            self.to.sender().watchers().unwatch(&bell);
        }
    }
}

impl<T: Send + 'static, U: Send + 'static> Future for RequestAsync<'_, T, U> {
    type Output = Result<Message<T>, RequestError<U>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this.stage {
                Stage::Sending(_) => match this.poll_send(cx) {
                    Poll::Ready(Ok(())) => this.stage = Stage::Awaiting,
                    Poll::Ready(Err(err)) => {
                        this.stage = Stage::Done;
                        return Poll::Ready(Err(err));
                    }
                    Poll::Pending => return Poll::Pending,
                },
                Stage::Awaiting => {
                    let outcome = std::task::ready!(this.poll_reply(cx));
                    this.unwatch();
                    this.stage = Stage::Done;
                    return Poll::Ready(outcome);
                }
                Stage::Done => return Poll::Ready(Err(RequestError::Closed)),
            }
        }
    }
}

impl<T: Send + 'static, U: Send + 'static> Drop for RequestAsync<'_, T, U> {
    fn drop(&mut self) {
        self.unwatch();
        // `room` (a reservation future) and an unsent request drop with
        // the future: the reservation leaves its wait list, passing on a
        // wake it did not use.
    }
}

impl<T: Send + 'static, U: Send + 'static> fmt::Debug for RequestAsync<'_, T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match self.stage {
            Stage::Sending(_) => "sending",
            Stage::Awaiting => "awaiting the reply",
            Stage::Done => "done",
        };
        f.debug_struct("RequestAsync")
            .field("to", &self.to.pid())
            .field("correlation", &self.correlation)
            .field("stage", &stage)
            .finish()
    }
}
