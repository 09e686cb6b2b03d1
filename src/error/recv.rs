//! The receive family: [`RecvError`], [`TryRecvError`], [`RecvTimeoutError`]
//! and [`TryRecvAckError`], one per way a receive waits. No message to hand
//! back, so they are small `Copy` values.

use thiserror::Error;

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
