//! Request and reply between processes: [`RequestError`] (no reply came)
//! and [`ReplyError`] (the reply could not be sent, handed back).
//!
//! `Display` and `Debug` are written by hand: the types wrap a send error
//! and carry a message, without `T: Debug`.

use std::fmt;

use crate::id::Pid;
use crate::message::Message;

use super::send::SendTimeoutError;

/// Why [`Process::request`](crate::Process::request) got no reply.
pub enum RequestError<T> {
    /// The request was not delivered: the error hands it back.
    Unsent(SendTimeoutError<T>),
    /// The request was delivered, but no reply came before the deadline. A
    /// reply that comes later lands in the requester's inbox like any other
    /// message.
    NoReply,
    /// The requester's own inbox was closed while it waited.
    Closed,
    /// The process asked ended, or had ended, without replying.
    Ended(Pid),
}

impl<T> fmt::Display for RequestError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Unsent(err) => write!(f, "request not delivered: {err}"),
            RequestError::NoReply => f.write_str("no reply before the deadline"),
            RequestError::Closed => f.write_str("the requester's inbox was closed"),
            RequestError::Ended(pid) => write!(f, "process {pid} ended without replying"),
        }
    }
}

impl<T> fmt::Debug for RequestError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Unsent(err) => f.debug_tuple("Unsent").field(err).finish(),
            RequestError::NoReply => f.write_str("NoReply"),
            RequestError::Closed => f.write_str("Closed"),
            RequestError::Ended(pid) => f.debug_tuple("Ended").field(pid).finish(),
        }
    }
}

impl<T> std::error::Error for RequestError<T> {}

impl<T> RequestError<T> {
    /// The request, if it was never delivered.
    pub fn into_message(self) -> Option<Message<T>> {
        match self {
            RequestError::Unsent(err) => err.into_message(),
            RequestError::NoReply | RequestError::Closed | RequestError::Ended(_) => None,
        }
    }
}

/// Why [`Process::reply`](crate::Process::reply) could not answer. Every
/// variant hands the reply back.
pub enum ReplyError<T> {
    /// The request named no process to reply to (it was not sent with
    /// `request`, or carried no `reply_to`).
    NoReplyTo(Message<T>),
    /// The requester has ended, or is not a process of the replier's office
    /// (pids are unique in the program, so a requester of another office is
    /// never mistaken for one of this office).
    NoProcess(Message<T>),
    /// The requester's inbox carries another message type.
    TypeMismatch {
        /// The reply's type.
        expected: &'static str,
        /// The type the requester's inbox carries.
        found: &'static str,
        /// The reply, handed back.
        message: Message<T>,
    },
    /// The requester's inbox refused the reply: closed, full (with a wait
    /// that ran out), or a limit. The error hands the reply back.
    Unsent(SendTimeoutError<T>),
}

impl<T> ReplyError<T> {
    /// The reply, handed back (`None` only if it was queued but a
    /// confirmation failed, which `reply` never asks for).
    pub fn into_message(self) -> Option<Message<T>> {
        match self {
            ReplyError::NoReplyTo(m) | ReplyError::NoProcess(m) => Some(m),
            ReplyError::TypeMismatch { message, .. } => Some(message),
            ReplyError::Unsent(err) => err.into_message(),
        }
    }
}

impl<T> fmt::Display for ReplyError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::NoReplyTo(_) => f.write_str("the request names no process to reply to"),
            ReplyError::NoProcess(_) => f.write_str("the requester has ended"),
            ReplyError::TypeMismatch {
                expected, found, ..
            } => write!(
                f,
                "type mismatch: the reply is `{expected}`, the requester's inbox carries `{found}`"
            ),
            ReplyError::Unsent(err) => write!(f, "reply not delivered: {err}"),
        }
    }
}

impl<T> fmt::Debug for ReplyError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::NoReplyTo(_) => f.write_str("NoReplyTo(..)"),
            ReplyError::NoProcess(_) => f.write_str("NoProcess(..)"),
            ReplyError::TypeMismatch {
                expected, found, ..
            } => f
                .debug_struct("TypeMismatch")
                .field("expected", expected)
                .field("found", found)
                .finish_non_exhaustive(),
            ReplyError::Unsent(err) => f.debug_tuple("Unsent").field(err).finish(),
        }
    }
}

impl<T> std::error::Error for ReplyError<T> {}
