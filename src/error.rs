//! Every error type of postbox, one enum per family of operations.
//!
//! Send errors hand the message back: every variant that did not leave the
//! message in the mailbox carries the whole [`Message`], header included, and
//! `into_message()` returns it. The one exception says so in its name:
//! `Unconfirmed(receipt)` means the message *was* queued (it is in the mailbox,
//! not lost) but the requested confirmation did not come; the [`Receipt`]
//! follows it from there.
//!
//! `Debug` is written by hand so that `T: Debug` is not required, and the
//! messages are lowercase, as in std and crossbeam.

use std::fmt;

use thiserror::Error;

use crate::id::{Pid, SubscriberId};
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

/// The error of a blocking receive: the mailbox is closed and empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[error("receiving on a closed and empty mailbox")]
pub struct RecvError;

/// The error of a non-blocking receive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TryRecvError {
    /// No message is waiting right now.
    #[error("receiving on an empty mailbox")]
    Empty,
    /// The mailbox is closed and empty: no message will ever arrive.
    #[error("receiving on a closed and empty mailbox")]
    Closed,
}

impl TryRecvError {
    /// Whether no message was waiting.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }

    /// Whether the mailbox is closed and empty.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryRecvError::Closed)
    }
}

/// The error of a receive that may wait a bounded time, or whose wait is chosen
/// at run time. A [`Wait::NonBlocking`](crate::Wait::NonBlocking) receive is a
/// zero timeout: finding the mailbox empty is `Timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum RecvTimeoutError {
    /// No message arrived before the deadline.
    #[error("timed out waiting on an empty mailbox")]
    Timeout,
    /// The mailbox is closed and empty: no message will ever arrive.
    #[error("receiving on a closed and empty mailbox")]
    Closed,
}

impl RecvTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }

    /// Whether the mailbox is closed and empty.
    pub fn is_closed(&self) -> bool {
        matches!(self, RecvTimeoutError::Closed)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(_: RecvError) -> Self {
        TryRecvError::Closed
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(_: RecvError) -> Self {
        RecvTimeoutError::Closed
    }
}

/// The error of a non-blocking acknowledged receive
/// ([`Receiver::try_recv_ack`](crate::Receiver::try_recv_ack)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum TryRecvAckError {
    /// No message is waiting right now.
    #[error("receiving on an empty mailbox")]
    Empty,
    /// The mailbox is closed and empty: no message will ever arrive.
    #[error("receiving on a closed and empty mailbox")]
    Closed,
    /// This receiver already holds as many unanswered deliveries as its
    /// prefetch limit allows: answer one (ack or nack) first.
    #[error("prefetch limit reached: answer an outstanding delivery first")]
    PrefetchFull,
}

impl TryRecvAckError {
    /// Whether no message was waiting.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvAckError::Empty)
    }

    /// Whether the mailbox is closed and empty.
    pub fn is_closed(&self) -> bool {
        matches!(self, TryRecvAckError::Closed)
    }
}

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

/// Why [`PostOffice::create_durable`](crate::PostOffice::create_durable)
/// failed: the log did not open, or the office refused.
#[derive(Debug, Error)]
pub enum CreateError {
    /// The office refused (the name is taken, the owner ended, ...).
    #[error(transparent)]
    Office(#[from] OfficeError),
    /// The mailbox's log did not open (locked, corrupt, another codec, I/O).
    #[error(transparent)]
    Open(#[from] crate::journal::OpenError),
}

/// Why a [`PostOffice`](crate::PostOffice) operation failed.
///
/// Type mismatches name the types, not opaque ids, so the message says what
/// to fix. New failures may be added, so the enum is `#[non_exhaustive]`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum OfficeError {
    /// Something is already registered under this name.
    #[error("the name `{0}` is taken")]
    NameTaken(String),
    /// Nothing is registered under this name (never was, or was destroyed).
    #[error("nothing is registered under `{0}`")]
    NotFound(String),
    /// The name is registered with another message type.
    #[error(
        "type mismatch: expected messages of type `{expected}`, the mailbox carries `{found}`"
    )]
    TypeMismatch {
        /// The type the caller asked for.
        expected: &'static str,
        /// The type the mailbox carries.
        found: &'static str,
    },
    /// The name belongs to a port or a process inbox: its receive right
    /// belongs to its owner, so no one else can connect a receiver or destroy
    /// it by name.
    #[error("`{0}` is owned by its receiver (a port or process inbox)")]
    ReceiverOwned(String),
    /// The name belongs to a mailbox, not a process.
    #[error("`{0}` is a mailbox, not a process")]
    NotAProcess(String),
    /// The process does not exist or has ended.
    #[error("process {0} does not exist or has ended")]
    NoProcess(Pid),
    /// The operating system refused to start a thread for a spawned process.
    #[error("could not start the process's thread: {0}")]
    Spawn(String),
}

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

/// The error of publishing on a [`Topic`](crate::Topic)
/// ([`publish`](crate::Topic::publish) and its non-blocking and timed forms).
///
/// Every variant hands a message back: for `Full`, a copy of the one the
/// other subscribers received, so the caller can retry for the full
/// subscribers alone or record the miss.
#[derive(Error)]
pub enum PublishError<T> {
    /// The topic has no subscriber (none subscribed, or every one has left),
    /// so nobody got the message.
    #[error("publishing on a topic with no subscribers")]
    NoSubscribers(Message<T>),
    /// Some subscribers' queues were full and the publish could not wait for
    /// them ([`SlowSubscriber::Reject`](crate::SlowSubscriber::Reject),
    /// [`try_publish`](crate::Topic::try_publish), or a timed publish whose
    /// deadline passed). The others received the message.
    #[error("{} of the topic's subscribers were full ({delivered} received the message)", .full.len())]
    Full {
        /// How many subscribers received the message.
        delivered: usize,
        /// The subscribers that did not, in subscription order.
        full: Vec<SubscriberId>,
        /// A copy of the message.
        message: Message<T>,
    },
    /// The topic was closed ([`Topic::close`](crate::Topic::close)).
    #[error("publishing on a closed topic")]
    Closed(Message<T>),
    /// The priority is outside the priority topic's levels; nobody got the
    /// message.
    #[error("message priority {} is outside the topic's priority levels", .0.header().priority())]
    InvalidPriority(Message<T>),
}

impl<T> PublishError<T> {
    /// Returns the message handed back (for `Full`, a copy).
    pub fn into_message(self) -> Message<T> {
        match self {
            PublishError::NoSubscribers(m)
            | PublishError::Closed(m)
            | PublishError::InvalidPriority(m)
            | PublishError::Full { message: m, .. } => m,
        }
    }

    /// The message handed back (for `Full`, a copy).
    pub fn message(&self) -> &Message<T> {
        match self {
            PublishError::NoSubscribers(m)
            | PublishError::Closed(m)
            | PublishError::InvalidPriority(m)
            | PublishError::Full { message: m, .. } => m,
        }
    }

    /// Returns the body of the message handed back.
    pub fn into_inner(self) -> T {
        self.into_message().into_body()
    }

    /// How many subscribers received the message (non-zero only for `Full`).
    pub fn delivered(&self) -> usize {
        match self {
            PublishError::Full { delivered, .. } => *delivered,
            _ => 0,
        }
    }

    /// The subscribers that were full (empty unless `Full`).
    pub fn full_subscribers(&self) -> &[SubscriberId] {
        match self {
            PublishError::Full { full, .. } => full,
            _ => &[],
        }
    }

    /// Whether some subscribers were full.
    pub fn is_full(&self) -> bool {
        matches!(self, PublishError::Full { .. })
    }

    /// Whether the topic had no subscriber.
    pub fn is_no_subscribers(&self) -> bool {
        matches!(self, PublishError::NoSubscribers(_))
    }

    /// Whether the topic was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, PublishError::Closed(_))
    }
}

impl<T> fmt::Debug for PublishError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublishError::NoSubscribers(_) => f.write_str("NoSubscribers(..)"),
            PublishError::Closed(_) => f.write_str("Closed(..)"),
            PublishError::InvalidPriority(_) => f.write_str("InvalidPriority(..)"),
            PublishError::Full {
                delivered, full, ..
            } => f
                .debug_struct("Full")
                .field("delivered", delivered)
                .field("full", full)
                .finish_non_exhaustive(),
        }
    }
}
