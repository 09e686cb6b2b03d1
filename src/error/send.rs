//! The send family: [`TrySendError`], [`SendError`], [`SendTimeoutError`],
//! one per way a send waits, and [`ReserveError`] for reserving room.
//!
//! Every variant but `Unconfirmed` hands the message back whole; the
//! `debug_variants!` macro gives the three message-carrying enums the same
//! `Debug` (without `T: Debug`) and the same accessors.

use std::fmt;

use thiserror::Error;

use crate::message::Message;
use crate::receipt::Receipt;

/// Writes `Variant(..)` for a variant that holds a message, without `T: Debug`.
macro_rules! debug_variants {
    ($ty:ident { $($variant:ident),* }) => {
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($ty::$variant(_) => f.write_str(concat!(stringify!($variant), "(..)")),)*
                    $ty::Unconfirmed(receipt) => f.debug_tuple("Unconfirmed").field(receipt).finish(),
                }
            }
        }

        impl<T> $ty<T> {
            /// Returns the message that was handed back, or `None` for
            /// `Unconfirmed`, whose message is still in the mailbox.
            pub fn into_message(self) -> Option<Message<T>> {
                match self {
                    $($ty::$variant(m) => Some(m),)*
                    $ty::Unconfirmed(_) => None,
                }
            }

            /// The message that was handed back, if any (see `into_message`).
            pub fn message(&self) -> Option<&Message<T>> {
                match self {
                    $($ty::$variant(m) => Some(m),)*
                    $ty::Unconfirmed(_) => None,
                }
            }

            /// Returns the body of the message that was handed back, if any.
            pub fn into_inner(self) -> Option<T> {
                self.into_message().map(Message::into_body)
            }

            /// Whether the mailbox could no longer carry messages.
            pub fn is_closed(&self) -> bool {
                matches!(self, $ty::Closed(_))
            }

            /// Whether the message was queued but the confirmation did not come.
            pub fn is_unconfirmed(&self) -> bool {
                matches!(self, $ty::Unconfirmed(_))
            }
        }
    };
}

/// The error of a non-blocking send ([`Sender::try_send`](crate::Sender::try_send)).
#[derive(Error)]
pub enum TrySendError<T> {
    /// The mailbox had no room and the call was not allowed to wait.
    #[error("sending on a full mailbox")]
    Full(Message<T>),
    /// The mailbox is closed: every receiver is gone, or it was closed explicitly.
    #[error("sending on a closed mailbox")]
    Closed(Message<T>),
    /// The body is longer than the mailbox's `max_body_len`.
    #[error("message body is longer than the mailbox allows")]
    TooLong(Message<T>),
    /// The priority is outside the priority mailbox's levels.
    #[error("message priority {} is outside the mailbox's priority levels", .0.header().priority())]
    InvalidPriority(Message<T>),
    /// The mailbox is durable and could not write the message to its log:
    /// the body failed to encode with the mailbox's codec, or the log
    /// failed (a full disk, an I/O error). The message was not sent.
    #[error("durable mailbox could not log the message")]
    NotLogged(Message<T>),
    /// The message was queued, but a requested confirmation did not come at once.
    #[error("message was queued but not confirmed")]
    Unconfirmed(Receipt),
}
debug_variants!(TrySendError {
    Full,
    Closed,
    TooLong,
    InvalidPriority,
    NotLogged
});

impl<T> TrySendError<T> {
    /// Whether the mailbox was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
}

/// The error of a blocking send ([`Sender::send`](crate::Sender::send)).
#[derive(Error)]
pub enum SendError<T> {
    /// The mailbox is closed: every receiver is gone, or it was closed explicitly.
    #[error("sending on a closed mailbox")]
    Closed(Message<T>),
    /// The mailbox is full and its [`Overflow`](crate::Overflow) policy
    /// refuses rather than waits: `Reject`; `DropLowest` for a message less
    /// urgent than everything queued; `DropOldest` or `DropLowest` on a
    /// rendezvous mailbox (capacity 0), which has nothing queued to evict.
    #[error("mailbox is full and its overflow policy refused the message")]
    Full(Message<T>),
    /// The body is longer than the mailbox's `max_body_len`.
    #[error("message body is longer than the mailbox allows")]
    TooLong(Message<T>),
    /// The priority is outside the priority mailbox's levels.
    #[error("message priority {} is outside the mailbox's priority levels", .0.header().priority())]
    InvalidPriority(Message<T>),
    /// The mailbox is durable and could not write the message to its log:
    /// the body failed to encode with the mailbox's codec, or the log
    /// failed (a full disk, an I/O error). The message was not sent.
    #[error("durable mailbox could not log the message")]
    NotLogged(Message<T>),
    /// The message was queued, but the requested confirmation can never come:
    /// it was dropped before a receiver took it, or, with
    /// [`Confirm::Acked`](crate::Confirm::Acked), it ended without being
    /// acknowledged (dead-lettered, expired or dropped). The receipt's state
    /// says where it ended.
    #[error("message was queued but the requested confirmation can never come")]
    Unconfirmed(Receipt),
}
debug_variants!(SendError {
    Closed,
    Full,
    TooLong,
    InvalidPriority,
    NotLogged
});

/// The error of a send that may wait a bounded time, or whose wait is chosen at
/// run time ([`Sender::send_timeout`](crate::Sender::send_timeout),
/// [`Sender::send_with`](crate::Sender::send_with)).
#[derive(Error)]
pub enum SendTimeoutError<T> {
    /// The mailbox had no room and the call was not allowed to wait
    /// ([`Wait::NonBlocking`](crate::Wait::NonBlocking)), or its
    /// [`Overflow`](crate::Overflow) policy refuses rather than waits.
    #[error("sending on a full mailbox")]
    Full(Message<T>),
    /// The mailbox had no room until the deadline.
    #[error("timed out waiting for room in the mailbox")]
    Timeout(Message<T>),
    /// The mailbox is closed: every receiver is gone, or it was closed explicitly.
    #[error("sending on a closed mailbox")]
    Closed(Message<T>),
    /// The body is longer than the mailbox's `max_body_len`.
    #[error("message body is longer than the mailbox allows")]
    TooLong(Message<T>),
    /// The priority is outside the priority mailbox's levels.
    #[error("message priority {} is outside the mailbox's priority levels", .0.header().priority())]
    InvalidPriority(Message<T>),
    /// The mailbox is durable and could not write the message to its log:
    /// the body failed to encode with the mailbox's codec, or the log
    /// failed (a full disk, an I/O error). The message was not sent.
    #[error("durable mailbox could not log the message")]
    NotLogged(Message<T>),
    /// The message was queued, but the requested confirmation did not come
    /// before the deadline, or can never come (the message was dropped, or,
    /// with [`Confirm::Acked`](crate::Confirm::Acked), dead-lettered or
    /// expired instead of acknowledged): the receipt's state tells which.
    #[error("message was queued but not confirmed in time")]
    Unconfirmed(Receipt),
}
debug_variants!(SendTimeoutError {
    Full,
    Timeout,
    Closed,
    TooLong,
    InvalidPriority,
    NotLogged
});

impl<T> SendTimeoutError<T> {
    /// Whether the mailbox was full and the call could not wait.
    pub fn is_full(&self) -> bool {
        matches!(self, SendTimeoutError::Full(_))
    }

    /// Whether the deadline passed before there was room.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }
}

impl<T> SendError<T> {
    /// Whether the mailbox was full and its overflow policy refused the
    /// message.
    pub fn is_full(&self) -> bool {
        matches!(self, SendError::Full(_))
    }
}

impl<T> From<SendError<T>> for SendTimeoutError<T> {
    fn from(err: SendError<T>) -> Self {
        match err {
            SendError::Closed(m) => SendTimeoutError::Closed(m),
            SendError::Full(m) => SendTimeoutError::Full(m),
            SendError::TooLong(m) => SendTimeoutError::TooLong(m),
            SendError::InvalidPriority(m) => SendTimeoutError::InvalidPriority(m),
            SendError::NotLogged(m) => SendTimeoutError::NotLogged(m),
            SendError::Unconfirmed(r) => SendTimeoutError::Unconfirmed(r),
        }
    }
}

impl<T> From<TrySendError<T>> for SendTimeoutError<T> {
    fn from(err: TrySendError<T>) -> Self {
        match err {
            TrySendError::Full(m) => SendTimeoutError::Full(m),
            TrySendError::Closed(m) => SendTimeoutError::Closed(m),
            TrySendError::TooLong(m) => SendTimeoutError::TooLong(m),
            TrySendError::InvalidPriority(m) => SendTimeoutError::InvalidPriority(m),
            TrySendError::NotLogged(m) => SendTimeoutError::NotLogged(m),
            TrySendError::Unconfirmed(r) => SendTimeoutError::Unconfirmed(r),
        }
    }
}

/// Why [`Sender::reserve_async`](crate::Sender::reserve_async) (or
/// `try_reserve`) did not hand out a permit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ReserveError {
    /// The mailbox is full and the call could not wait (a `try_reserve`, or
    /// a mailbox whose [`Overflow`](crate::Overflow) policy is `Reject`).
    #[error("mailbox is full")]
    Full,
    /// The mailbox is closed: nothing can be sent any more.
    #[error("mailbox is closed")]
    Closed,
}
