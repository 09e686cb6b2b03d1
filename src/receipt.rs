//! Receipts: the sender-side test for arrival.
//!
//! A tracked send attaches a small shared [`Tracker`] to the message. The
//! receiver side moves it to `Received` when it takes the message; if the
//! message is dropped anywhere before that, the link's `Drop` moves it to
//! `Dropped`. Untracked messages carry no tracker and pay one branch.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ReceiptError;
use crate::message::MessageId;
use crate::sync::{Condvar, Mutex};
use crate::wait::Deadline;

/// Where a tracked message is in its life.
///
/// The states only move forward: `Queued` then one terminal state. More states
/// (acknowledged, dead-lettered, expired) join as the library grows, so the enum
/// is `#[non_exhaustive]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReceiptState {
    /// In the mailbox, not yet taken by a receiver.
    Queued,
    /// A receiver has taken the message.
    Received,
    /// The message was dropped before any receiver took it: its mailbox lost
    /// its last receiver while the message was still queued.
    Dropped,
}

impl ReceiptState {
    /// Whether the state is final (no further change will happen).
    pub fn is_final(self) -> bool {
        !matches!(self, ReceiptState::Queued)
    }
}

/// The shared cell between a tracked message and its [`Receipt`].
pub(crate) struct Tracker {
    /// The id of the tracked message (for the receipt's `Debug` and accessors).
    id: MessageId,
    /// The current state, changed under the lock so waiters never miss a change.
    state: Mutex<ReceiptState>,
    /// Woken on every state change.
    changed: Condvar,
}

impl Tracker {
    pub(crate) fn new(id: MessageId) -> Tracker {
        Tracker {
            id,
            state: Mutex::new(ReceiptState::Queued),
            changed: Condvar::new(),
        }
    }

    /// Moves `Queued` to `to`; later states are never overwritten.
    fn advance(&self, to: ReceiptState) {
        let mut state = self.state.lock();
        if *state == ReceiptState::Queued {
            *state = to;
            drop(state);
            self.changed.notify_all();
        }
    }

    pub(crate) fn mark_received(&self) {
        self.advance(ReceiptState::Received);
    }

    pub(crate) fn mark_undelivered(&self) {
        self.advance(ReceiptState::Dropped);
    }

    fn state(&self) -> ReceiptState {
        *self.state.lock()
    }

    /// Waits until the state is final or the deadline passes.
    fn wait(&self, deadline: Deadline) -> Result<(), ReceiptError> {
        let mut state = self.state.lock();
        loop {
            match *state {
                ReceiptState::Received => return Ok(()),
                ReceiptState::Dropped => return Err(ReceiptError::Closed),
                ReceiptState::Queued => {}
            }
            let at = match deadline {
                Deadline::Now => return Err(ReceiptError::Timeout),
                Deadline::At(at) if Instant::now() >= at => return Err(ReceiptError::Timeout),
                Deadline::At(at) => Some(at),
                Deadline::Never => None,
            };
            // The state is re-read under the lock after every wake-up: a
            // notification may be spurious, or may be for a state we already saw.
            (state, _) = self.changed.wait_until(state, at);
        }
    }
}

/// The sender's view of one tracked message: has it arrived?
///
/// Returned by [`Sender::send_tracked`](crate::Sender::send_tracked) (and inside
/// `Unconfirmed` errors). Cheap to clone; every clone sees the same state.
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, ReceiptState};
/// use std::time::Duration;
///
/// let (tx, rx) = Mailbox::<&str>::builder().unbounded().build();
/// let receipt = tx.send_tracked("hello").unwrap();
/// assert_eq!(receipt.state(), ReceiptState::Queued);
/// assert!(!receipt.is_delivered());
///
/// assert_eq!(rx.recv().unwrap().into_body(), "hello");
/// assert!(receipt.is_delivered());
/// assert_eq!(receipt.wait_timeout(Duration::from_secs(1)), Ok(()));
/// ```
#[derive(Clone)]
pub struct Receipt {
    tracker: Arc<Tracker>,
}

impl Receipt {
    pub(crate) fn new(tracker: Arc<Tracker>) -> Receipt {
        Receipt { tracker }
    }

    /// The id of the tracked message.
    pub fn id(&self) -> MessageId {
        self.tracker.id
    }

    /// The current state.
    pub fn state(&self) -> ReceiptState {
        self.tracker.state()
    }

    /// Whether a receiver has taken the message.
    pub fn is_delivered(&self) -> bool {
        matches!(self.state(), ReceiptState::Received)
    }

    /// Blocks until a receiver has taken the message.
    ///
    /// Fails with [`ReceiptError::Closed`] if the message was dropped first.
    pub fn wait(&self) -> Result<(), ReceiptError> {
        self.tracker.wait(Deadline::Never)
    }

    /// Like [`wait`](Receipt::wait), giving up after `timeout` with
    /// [`ReceiptError::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), ReceiptError> {
        self.tracker.wait(Deadline::after(timeout))
    }

    /// Like [`wait`](Receipt::wait), giving up at `deadline` with
    /// [`ReceiptError::Timeout`].
    pub fn wait_deadline(&self, deadline: Instant) -> Result<(), ReceiptError> {
        self.tracker.wait(Deadline::At(deadline))
    }

    pub(crate) fn wait_until(&self, deadline: Deadline) -> Result<(), ReceiptError> {
        self.tracker.wait(deadline)
    }
}

impl fmt::Debug for Receipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("id", &self.id())
            .field("state", &self.state())
            .finish()
    }
}
