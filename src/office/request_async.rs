//! [`request_async`](Process::request_async): a request sent and its reply
//! awaited from a future, without blocking a thread.
//!
//! Two stages. **Sending**: the request goes into the server's inbox with
//! this process as its source, through the same send future as
//! `Sender::send_async` (a full inbox is waited out as there; on a
//! rendezvous the request is put on offer). **Awaiting the reply**: the same doorbell the
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

use super::process::{Address, Process};
use super::request::next_correlation;
use crate::error::{RecvTimeoutError, RequestError, SendTimeoutError};
use crate::mailbox::SendAsync;
use crate::message::{Header, Message};
use crate::signal::Signal;
use crate::wait::Wait;

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
    /// inbox (or, on a rendezvous inbox, while its request is on offer), the
    /// future drops the request with itself: it was never sent.
    /// Dropped after it was sent, the request stays with the server, and a
    /// reply that comes later lands in this process's inbox like any other
    /// message (as after a blocking request's timeout). Messages it set
    /// aside while it looked for the reply stay in the save queue, in order:
    /// nothing is lost or reordered.
    ///
    /// A request to a rendezvous inbox (capacity 0) is put on offer until
    /// the server takes it, whether the server receives in a thread or a
    /// task.
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
        let pid = self.pid();
        RequestAsync {
            process: self,
            to,
            correlation,
            stage: Stage::Sending(to.sender().send_async_from(Some(pid), msg)),
            bell: None,
        }
    }
}

/// Where a [`RequestAsync`] is.
enum Stage<'a, U: Send> {
    /// The request, being sent.
    Sending(SendAsync<'a, U>),
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
    stage: Stage<'a, U>,
    /// The doorbell rung by a message for us or the server's end, while the
    /// reply is awaited.
    bell: Option<Arc<Signal>>,
}

// The request is moved in and out by value, never pinned in place.
impl<T: Send + 'static, U: Send + 'static> Unpin for RequestAsync<'_, T, U> {}

impl<'a, T: Send + 'static, U: Send + 'static> RequestAsync<'a, T, U> {
    /// One poll of the sending stage: `Ready(Ok)` once the request is in
    /// the server's inbox (or, on a rendezvous, taken by the server).
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), RequestError<U>>> {
        let Stage::Sending(send) = &mut self.stage else {
            return Poll::Ready(Ok(()));
        };
        Pin::new(send)
            .poll(cx)
            .map_err(|err| RequestError::Unsent(SendTimeoutError::from(err)))
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
            match &this.stage {
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
        // An unsent request drops with its send future (see
        // `Sender::send_async`: never queued, counted refused).
    }
}

impl<T: Send + 'static, U: Send + 'static> fmt::Debug for RequestAsync<'_, T, U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
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
