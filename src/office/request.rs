//! Request and reply between processes (the QNX send-receive-reply
//! pattern): [`request`](Process::request) sends with a fresh correlation id
//! and waits for the matching reply by selective receive;
//! [`reply`](Process::reply) answers whoever the request names as `reply_to`.

use std::any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::process::{Address, Process};
use crate::error::{RecvTimeoutError, ReplyError, RequestError};
use crate::message::{Header, Message};
use crate::signal::Signal;
use crate::wait::{Confirm, Deadline, Wait};

/// The next request's correlation id, shared by every process: a reply
/// answers one request only, whoever else is asking whom.
static NEXT_CORRELATION: AtomicU64 = AtomicU64::new(1);

/// A correlation id no other request in the program has.
pub(super) fn next_correlation() -> u64 {
    NEXT_CORRELATION.fetch_add(1, Ordering::Relaxed)
}

impl<T: Send + 'static> Process<T> {
    /// Sends a request to `to` and waits, at most `timeout` in all, for the
    /// reply (the QNX send-receive-reply pattern). The request carries this
    /// process as `reply_to` and a correlation id no other request in the
    /// program has; the reply is the message from `to` that
    /// [`reply`](Process::reply) marked as the reply to it
    /// ([`Header::is_reply`]). Every other message that arrives meanwhile (a
    /// peer's own request with a look-alike correlation id included) keeps
    /// its order for later receives.
    ///
    /// Fails with [`RequestError::Ended`] as soon as `to` ends (or if it had
    /// ended) without replying, as an Erlang call does, rather than waiting
    /// out the timeout; with [`RequestError::NoReply`] if the timeout runs
    /// out first.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::PostOffice;
    ///
    /// let office = PostOffice::new();
    /// let server = office
    ///     .spawn::<u64, _>("doubler", |me| {
    ///         while let Ok(request) = me.recv() {
    ///             let n = *request.body();
    ///             me.reply(request.header(), n * 2).unwrap();
    ///         }
    ///     })
    ///     .unwrap();
    /// let client = office.anonymous::<u64>();
    /// let doubler = office.lookup::<u64>("doubler").unwrap();
    /// let reply = client.request(&doubler, 21, std::time::Duration::from_secs(5)).unwrap();
    /// assert_eq!(reply.into_body(), 42);
    /// # drop(server);
    /// ```
    pub fn request<U: Send + 'static>(
        &self,
        to: &Address<U>,
        msg: impl Into<Message<U>>,
        timeout: Duration,
    ) -> Result<Message<T>, RequestError<U>> {
        let deadline = Deadline::after(timeout);
        let correlation = next_correlation();
        let msg = msg.into().correlation_id(correlation).reply_to(self.pid());
        self.send_to_with(to, msg, deadline.as_wait(), Confirm::Queued)
            .map_err(RequestError::Unsent)?;
        let replier = to.pid();
        let is_reply = |h: &Header| {
            h.is_reply() && h.correlation_id() == Some(correlation) && h.source() == Some(replier)
        };
        // Woken by a message for us, or by the server's inbox closing (the
        // server ended): registered before the first look, so neither is
        // missed between a look and the wait.
        let bell = Arc::new(Signal::new());
        let inbox = self.receiver().watchers();
        let server = to.sender().watchers();
        inbox.watch(&bell);
        server.watch(&bell);
        let outcome = loop {
            bell.lower();
            // Read before looking: the server's reply lands before its inbox
            // is destroyed, so once it is seen ended, the look below finds a
            // reply that was sent.
            let ended = to.sender().is_retired();
            match self.recv_matching_with(is_reply, Wait::NonBlocking) {
                Ok(reply) => break Ok(reply),
                Err(RecvTimeoutError::Closed) => break Err(RequestError::Closed),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if ended {
                break Err(RequestError::Ended(replier));
            }
            let at = match deadline {
                Deadline::Now => break Err(RequestError::NoReply),
                Deadline::At(at) if std::time::Instant::now() >= at => {
                    break Err(RequestError::NoReply)
                }
                Deadline::At(at) => Some(at),
                Deadline::Never => None,
            };
            bell.wait_until(at);
        };
        inbox.unwatch(&bell);
        server.unwatch(&bell);
        outcome
    }

    /// Replies to a request whose header is `request`: sends `msg` to the
    /// request's `reply_to` process with the same correlation id, waiting for
    /// room. The reply's type is the requester's inbox type (`U`); a literal
    /// may need a suffix (`7u64`) to say which.
    pub fn reply<U: Send + 'static>(
        &self,
        request: &Header,
        msg: impl Into<Message<U>>,
    ) -> Result<(), ReplyError<U>> {
        self.reply_with(request, msg, Wait::Blocking)
    }

    /// Replies with the wait chosen for this call: a server that must not
    /// hang on a requester whose inbox stays full (it may have given up)
    /// replies with a timeout or without waiting.
    pub fn reply_with<U: Send + 'static>(
        &self,
        request: &Header,
        msg: impl Into<Message<U>>,
        wait: Wait,
    ) -> Result<(), ReplyError<U>> {
        let mut msg = msg.into();
        let Some(requester) = request.reply_to() else {
            return Err(ReplyError::NoReplyTo(msg));
        };
        msg.header_mut().mark_reply();
        if let Some(correlation) = request.correlation_id() {
            msg = msg.correlation_id(correlation);
        }
        let Some(record) = self.office.process_record(requester) else {
            return Err(ReplyError::NoProcess(msg));
        };
        let inbox = match record.inbox::<U>() {
            Ok(inbox) => Arc::clone(inbox),
            Err(found) => {
                return Err(ReplyError::TypeMismatch {
                    expected: any::type_name::<U>(),
                    found,
                    message: msg,
                })
            }
        };
        inbox
            .send_from(self.pid(), msg, wait.deadline(), Confirm::Queued)
            .map_err(ReplyError::Unsent)
    }
}
