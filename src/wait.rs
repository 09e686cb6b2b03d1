//! How long a call may wait ([`Wait`]) and what a send waits for ([`Confirm`]).

use std::time::{Duration, Instant};

/// How long a send or receive may wait, chosen per handle or per call.
///
/// Every way to send or receive funnels into one primitive that takes a
/// deadline; `Wait` is that choice spelled out for callers who pick it at run
/// time. A timeout too large to represent as an [`Instant`] waits forever.
///
/// # Examples
///
/// ```
/// use postbox::{Confirm, Mailbox, SendTimeoutError, Wait};
///
/// let (tx, _rx) = Mailbox::<u32>::builder().capacity(1).build();
/// tx.send_with(1, Wait::NonBlocking, Confirm::Queued).unwrap();
/// // Full: a non-blocking send returns at once and hands the message back.
/// let err = tx.send_with(2, Wait::NonBlocking, Confirm::Queued).unwrap_err();
/// assert!(err.is_full());
/// assert_eq!(err.into_message().map(|m| m.into_body()), Some(2));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Wait {
    /// Never wait: succeed at once or fail with `Full` / `Empty`.
    NonBlocking,
    /// Wait as long as it takes (or until the mailbox is closed).
    #[default]
    Blocking,
    /// Wait at most this long.
    Timeout(Duration),
    /// Wait until this instant at the latest.
    Deadline(Instant),
}

impl Wait {
    /// Resolves the choice into a deadline, reading the clock once if needed.
    pub(crate) fn deadline(self) -> Deadline {
        match self {
            Wait::NonBlocking => Deadline::Now,
            Wait::Blocking => Deadline::Never,
            Wait::Timeout(d) => match Instant::now().checked_add(d) {
                Some(at) => Deadline::At(at),
                // Overflow means "wait forever", as in crossbeam and std.
                None => Deadline::Never,
            },
            Wait::Deadline(at) => Deadline::At(at),
        }
    }
}

/// What a send waits for before it returns.
///
/// The send's [`Wait`] bounds the whole call, confirmation included. If the
/// message was queued but the confirmation did not come in time, the error is
/// `Unconfirmed(receipt)`: the message was accepted (not lost) and the
/// [`Receipt`](crate::Receipt) follows it from there. The same error reports
/// a confirmation that can never come; the receipt's state then says where
/// the message ended.
///
/// More levels may be added without breaking callers: the enum is
/// `#[non_exhaustive]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Confirm {
    /// Return as soon as the mailbox has accepted the message (asynchronous send).
    #[default]
    Queued,
    /// Return only when a receiver has taken the message: the textbook blocking
    /// send, on every backend and capacity (unbounded mailboxes too).
    Received,
    /// Return only when the message was processed: acknowledged by a consumer
    /// that took it with `recv_ack` (or taken by a plain receive, which
    /// acknowledges automatically). Requeues and redeliveries are waited
    /// through; a message that ends otherwise fails the send with
    /// `Unconfirmed(receipt)`, whose state says how (`DeadLettered(reason)`,
    /// `Expired`, or `Dropped` where there was no dead-letter place).
    Acked,
}

/// A resolved wait: the one argument of the blocking primitives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Do not wait.
    Now,
    /// Wait until this instant.
    At(Instant),
    /// Wait without limit.
    Never,
}

impl Deadline {
    /// The deadline from a timeout starting now; overflow waits forever.
    pub(crate) fn after(timeout: Duration) -> Deadline {
        Wait::Timeout(timeout).deadline()
    }

    /// The same deadline as a [`Wait`], fixed in time: a loop that waits
    /// several times (selective receive) keeps one deadline across them.
    pub(crate) fn as_wait(self) -> Wait {
        match self {
            Deadline::Now => Wait::NonBlocking,
            Deadline::At(at) => Wait::Deadline(at),
            Deadline::Never => Wait::Blocking,
        }
    }
}
