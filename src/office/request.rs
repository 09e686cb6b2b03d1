//! Request and reply between processes (the QNX send-receive-reply
//! pattern): [`request`](Process::request) sends with a fresh correlation id
//! and waits for the matching reply by selective receive;
//! [`reply`](Process::reply) answers whoever the request names as `reply_to`.

use std::any;
use std::sync::Arc;
use std::time::Duration;

use super::process::{Address, Process};
use crate::error::{RecvTimeoutError, ReplyError, RequestError};
use crate::message::{Header, Message};
use crate::wait::{Confirm, Deadline, Wait};

impl<T: Send + 'static> Process<T> {
    /// Sends a request to `to` and waits, at most `timeout` in all, for the
    /// reply (the QNX send-receive-reply pattern). The request carries this
    /// process as `reply_to` and a fresh correlation id; the reply is the
    /// first message from `to` with that correlation id, and other messages
    /// that arrive meanwhile keep their order for later receives.
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
        let wait = Deadline::after(timeout).as_wait();
        let correlation = self.correlation.get() + 1;
        self.correlation.set(correlation);
        let msg = msg.into().correlation_id(correlation).reply_to(self.pid());
        self.send_to_with(to, msg, wait, Confirm::Queued)
            .map_err(RequestError::Unsent)?;
        let replier = to.pid();
        self.recv_matching_with(
            |h| h.correlation_id() == Some(correlation) && h.source() == Some(replier),
            wait,
        )
        .map_err(|err| match err {
            RecvTimeoutError::Timeout => RequestError::NoReply,
            RecvTimeoutError::Closed => RequestError::Closed,
        })
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
