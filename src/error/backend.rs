//! What a [`Queue`](crate::Queue) backend reports: [`PushError`] (the
//! message handed back) and [`PopError`]. The mailbox turns them into the
//! send and receive families' errors.

use std::fmt;

use thiserror::Error;

use crate::message::Message;

/// The error a [`Queue`](crate::Queue) backend returns from a push. It always
/// hands the message back.
#[derive(Error)]
pub enum PushError<T> {
    /// No room, and the push was not allowed to wait.
    #[error("queue is full")]
    Full(Message<T>),
    /// No room until the deadline.
    #[error("timed out waiting for room in the queue")]
    Timeout(Message<T>),
    /// The queue is closed.
    #[error("queue is closed")]
    Closed(Message<T>),
}

impl<T> PushError<T> {
    /// Returns the message that was not pushed.
    pub fn into_message(self) -> Message<T> {
        match self {
            PushError::Full(m) | PushError::Timeout(m) | PushError::Closed(m) => m,
        }
    }
}

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PushError::Full(_) => "Full(..)",
            PushError::Timeout(_) => "Timeout(..)",
            PushError::Closed(_) => "Closed(..)",
        })
    }
}

/// The error a [`Queue`](crate::Queue) backend returns from a pop.
// A word-sized tag: a one-byte tag inside `Result<Message<T>, PopError>` is
// written as a byte and read back as part of a word on the receive path,
// and that store-forwarding stall cost a fifth of a FIFO receive (measured
// with the `ack_overhead` benches).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[repr(u64)]
pub enum PopError {
    /// Nothing queued, and the pop was not allowed to wait.
    #[error("queue is empty")]
    Empty,
    /// Nothing queued until the deadline.
    #[error("timed out waiting on an empty queue")]
    Timeout,
    /// The queue is closed and empty.
    #[error("queue is closed and empty")]
    Closed,
}
