//! Receipts: the sender-side view of a message's life.
//!
//! A tracked send attaches a small shared [`Tracker`] to the message. Every
//! place the message passes moves it along: a receiver taking it, a consumer's
//! ack or nack, a requeue, dead letters, expiry. If the message is dropped
//! anywhere on an unforeseen path, the link's `Drop` moves it to `Dropped`, so
//! a waiting sender never hangs. Untracked messages carry no tracker and pay
//! one branch.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::id::MessageId;
use crate::reason::DeadLetterReason;
use crate::sync::{Condvar, Mutex};
use crate::wait::Deadline;

/// Where a tracked message is in its life.
///
/// ```text
///            recv_ack              ack
///   Queued ───────────▶ Received ──────▶ Acked
///     │                  │    ▲            ▲ ▲
///     │  nack(Yes/After) │    │ recv_ack   │ │
///     │ or dropped       ▼    │            │ │
///     │ unanswered     Requeued ───recv────┘ │
///     │                                      │
///     └──────── recv (automatic ack) ────────┘
///
///   Queued, Requeued ── TTL ran out ──▶ Expired
///   any state above, ── rejected, redelivered too often, evicted by overflow,
///   not yet final       mailbox destroyed or last receiver gone
///                       ──▶ DeadLettered(reason), or Dropped if nothing took it
/// ```
///
/// `Acked`, `Expired`, `DeadLettered` and `Dropped` are final. `Requeued`
/// goes back to `Received` when the message is delivered again (it is not
/// `Queued` again). A plain `recv` is an automatic acknowledgement (as in
/// RabbitMQ's auto-ack mode), so it moves a message straight to `Acked`.
///
/// # Examples
///
/// ```
/// use postbox::{DeadLetterReason, Mailbox, ReceiptState, Requeue};
///
/// let (dead_tx, _dead_rx) = Mailbox::<&str>::builder().build();
/// let (tx, rx) = Mailbox::<&str>::builder()
///     .max_redeliveries(1)
///     .dead_letters(dead_tx)
///     .build();
/// let receipt = tx.send_tracked("poison").unwrap();
/// assert_eq!(receipt.state(), ReceiptState::Queued);
///
/// let job = rx.recv_ack().unwrap();
/// assert_eq!(receipt.state(), ReceiptState::Received);
/// job.nack(Requeue::Yes);
/// assert_eq!(receipt.state(), ReceiptState::Requeued);
///
/// rx.recv_ack().unwrap().nack(Requeue::Yes); // one give-back too many
/// let end = receipt.state();
/// assert_eq!(end, ReceiptState::DeadLettered(DeadLetterReason::MaxRedeliveries));
/// assert!(end.is_final());
/// assert!(receipt.is_delivered()); // it was taken, twice, before it ended there
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReceiptState {
    /// In the mailbox, not yet taken by a receiver.
    Queued,
    /// A consumer took it with `recv_ack` and has not answered yet.
    Received,
    /// Processed: acknowledged by its consumer, or taken by a plain receive
    /// (automatic acknowledgement).
    Acked,
    /// Given back by a consumer (`nack` with requeue, or a delivery dropped
    /// unanswered): queued again, or waiting for a delayed requeue.
    Requeued,
    /// Sent to dead letters for this reason, and a dead-letter place (a typed
    /// dead-letter mailbox, or its office's store) took it. An expired
    /// message says [`Expired`](ReceiptState::Expired) instead; one with
    /// nowhere to go says [`Dropped`](ReceiptState::Dropped).
    DeadLettered(DeadLetterReason),
    /// Its time to live ran out before a receiver took it; it went to dead
    /// letters (or was dropped, if its mailbox had nowhere to send them).
    Expired,
    /// It had to go to dead letters (for any reason but expiry) and there
    /// was no dead-letter place to take it, so it was dropped (and counted in
    /// [`MailboxStats::dropped`](crate::MailboxStats::dropped)): a standalone
    /// mailbox built without
    /// [`dead_letters`](crate::MailboxBuilder::dead_letters), or a
    /// dead-letter mailbox that was full or closed. For example a standalone
    /// mailbox whose last receiver went away with the message queued, or whose
    /// consumer rejected it. The reason is still counted in
    /// [`MailboxStats::dead_letters`](crate::MailboxStats::dead_letters).
    Dropped,
}

impl ReceiptState {
    /// Whether the state is final (no further change will happen).
    pub fn is_final(self) -> bool {
        !matches!(
            self,
            ReceiptState::Queued | ReceiptState::Received | ReceiptState::Requeued
        )
    }

    /// Whether reaching this state means a receiver took the message.
    fn was_delivered(self) -> bool {
        matches!(
            self,
            ReceiptState::Received | ReceiptState::Acked | ReceiptState::Requeued
        )
    }

    /// The error a wait that wanted more reports for this final state.
    fn failure(self) -> ReceiptError {
        match self {
            ReceiptState::DeadLettered(reason) => ReceiptError::DeadLettered(reason),
            ReceiptState::Expired => ReceiptError::Expired,
            _ => ReceiptError::Closed,
        }
    }
}

/// What a receipt waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Milestone {
    /// A receiver took the message (any state a delivery leads to).
    Received,
    /// The message was acknowledged.
    Acked,
}

/// The shared cell between a tracked message and its [`Receipt`].
pub(crate) struct Tracker {
    /// The id of the tracked message (for the receipt's `Debug` and accessors).
    id: MessageId,
    /// The current state, changed under the lock so waiters never miss a change.
    state: Mutex<Progress>,
    /// Woken on every state change.
    changed: Condvar,
}

/// A tracked message's state, and whether it was ever delivered: a message
/// rejected by its consumer ends `DeadLettered`, yet it was delivered, and
/// the state alone no longer says so.
struct Progress {
    state: ReceiptState,
    delivered: bool,
    /// A durable mailbox's log holds the message as durably as its sync
    /// policy promises (synced for `Always` and `Every`, written for
    /// `Buffered`).
    durable: bool,
    /// The tasks waiting on the receipt: every change wakes them all (few
    /// tasks wait on one message; a dropped future's waker is woken once for
    /// nothing and then gone).
    wakers: Vec<Waker>,
}

impl Progress {
    fn reached(&self, milestone: Milestone) -> bool {
        match milestone {
            Milestone::Received => self.delivered,
            Milestone::Acked => self.state == ReceiptState::Acked,
        }
    }
}

impl Tracker {
    pub(crate) fn new(id: MessageId) -> Tracker {
        Tracker {
            id,
            state: Mutex::new(Progress {
                state: ReceiptState::Queued,
                delivered: false,
                durable: false,
                wakers: Vec::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Moves to `to` unless the state is final: final states never change.
    pub(crate) fn advance(&self, to: ReceiptState) {
        let mut progress = self.state.lock();
        if !progress.state.is_final() && progress.state != to {
            progress.state = to;
            progress.delivered |= to.was_delivered();
            let wakers = std::mem::take(&mut progress.wakers);
            drop(progress);
            self.changed.notify_all();
            for waker in wakers {
                waker.wake();
            }
        }
    }

    /// The durable mailbox's log holds the message durably now.
    pub(crate) fn mark_durable(&self) {
        self.state.lock().durable = true;
    }

    /// The message's link was dropped: if nothing settled it, it was lost on
    /// a path nobody foresaw, and the receipt says `Dropped`.
    pub(crate) fn mark_undelivered(&self) {
        self.advance(ReceiptState::Dropped);
    }

    fn state(&self) -> ReceiptState {
        self.state.lock().state
    }

    fn was_delivered(&self) -> bool {
        self.state.lock().delivered
    }

    /// Waits until the message reached `milestone` (Ok), ended without it
    /// (the matching error), or the deadline passed (`Timeout`).
    fn wait(&self, milestone: Milestone, deadline: Deadline) -> Result<(), ReceiptError> {
        let mut progress = self.state.lock();
        loop {
            if progress.reached(milestone) {
                return Ok(());
            }
            if progress.state.is_final() {
                return Err(progress.state.failure());
            }
            let at = match deadline {
                Deadline::Now => return Err(ReceiptError::Timeout),
                Deadline::At(at) if Instant::now() >= at => return Err(ReceiptError::Timeout),
                Deadline::At(at) => Some(at),
                Deadline::Never => None,
            };
            // The state is re-read under the lock after every wake-up: a
            // notification may be spurious, or may be for a state we already saw.
            (progress, _) = self.changed.wait_until(progress, at);
        }
    }

    /// The async form of `wait`: ready with the outcome, or pending with
    /// the task's waker left for the next change (looked at and left under
    /// one lock, so no change slips between them).
    pub(crate) fn poll_wait(
        &self,
        milestone: Milestone,
        waker: &Waker,
    ) -> Poll<Result<(), ReceiptError>> {
        let mut progress = self.state.lock();
        if progress.reached(milestone) {
            return Poll::Ready(Ok(()));
        }
        if progress.state.is_final() {
            return Poll::Ready(Err(progress.state.failure()));
        }
        if !progress.wakers.iter().any(|w| w.will_wake(waker)) {
            progress.wakers.push(waker.clone());
        }
        Poll::Pending
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

    /// The shared cell (for a durable mailbox to mark it durable).
    pub(crate) fn tracker(&self) -> &Arc<Tracker> {
        &self.tracker
    }

    /// The id of the tracked message.
    pub fn id(&self) -> MessageId {
        self.tracker.id
    }

    /// The current state.
    pub fn state(&self) -> ReceiptState {
        self.tracker.state()
    }

    /// Whether a receiver has taken the message (at least once), whatever
    /// became of it afterwards: a message its consumer rejected was delivered.
    pub fn is_delivered(&self) -> bool {
        self.tracker.was_delivered()
    }

    /// Whether a durable mailbox's log holds the message as durably as its
    /// [`SyncPolicy`](crate::SyncPolicy) promises: synced to disk for
    /// `Always` (already true when the send returns) and `Every` (within
    /// the interval), written to the OS for `Buffered`. Always `false` for
    /// a message of a mailbox that is not durable.
    pub fn is_durable(&self) -> bool {
        self.tracker.state.lock().durable
    }

    /// Whether the message was acknowledged (explicitly, or by a plain
    /// receive).
    pub fn is_acked(&self) -> bool {
        self.state() == ReceiptState::Acked
    }

    /// Blocks until a receiver has taken the message (it may have been
    /// acknowledged, requeued or rejected since).
    ///
    /// Fails with the reason if the message ended without being taken:
    /// [`ReceiptError::Expired`], [`ReceiptError::DeadLettered`], or
    /// [`ReceiptError::Closed`] if it was dropped
    /// ([`ReceiptState::Dropped`]).
    pub fn wait(&self) -> Result<(), ReceiptError> {
        self.tracker.wait(Milestone::Received, Deadline::Never)
    }

    /// Like [`wait`](Receipt::wait), giving up after `timeout` with
    /// [`ReceiptError::Timeout`].
    pub fn wait_timeout(&self, timeout: Duration) -> Result<(), ReceiptError> {
        self.tracker
            .wait(Milestone::Received, Deadline::after(timeout))
    }

    /// Like [`wait`](Receipt::wait), giving up at `deadline` with
    /// [`ReceiptError::Timeout`].
    pub fn wait_deadline(&self, deadline: Instant) -> Result<(), ReceiptError> {
        self.tracker
            .wait(Milestone::Received, Deadline::At(deadline))
    }

    /// Blocks until the message was acknowledged: the sender learns that its
    /// message was processed, or exactly where it ended instead
    /// ([`ReceiptError::DeadLettered`] with the reason,
    /// [`ReceiptError::Expired`], or [`ReceiptError::Closed`] if dropped).
    /// Requeues and redeliveries in between are waited through.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, ReceiptState};
    /// use std::thread;
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// let receipt = tx.send_tracked("render").unwrap();
    /// let worker = thread::spawn(move || {
    ///     let delivery = rx.recv_ack().unwrap();
    ///     // ... the work ...
    ///     delivery.ack();
    /// });
    /// receipt.wait_acked().unwrap();
    /// assert_eq!(receipt.state(), ReceiptState::Acked);
    /// worker.join().unwrap();
    /// ```
    pub fn wait_acked(&self) -> Result<(), ReceiptError> {
        self.tracker.wait(Milestone::Acked, Deadline::Never)
    }

    /// Like [`wait_acked`](Receipt::wait_acked), giving up after `timeout`
    /// with [`ReceiptError::Timeout`].
    pub fn wait_acked_timeout(&self, timeout: Duration) -> Result<(), ReceiptError> {
        self.tracker
            .wait(Milestone::Acked, Deadline::after(timeout))
    }

    /// Like [`wait_acked`](Receipt::wait_acked), giving up at `deadline` with
    /// [`ReceiptError::Timeout`].
    pub fn wait_acked_deadline(&self, deadline: Instant) -> Result<(), ReceiptError> {
        self.tracker.wait(Milestone::Acked, Deadline::At(deadline))
    }

    /// Waits, without blocking a thread, until a receiver has taken the
    /// message: the async form of [`wait`](Receipt::wait), with the same
    /// outcomes. Cancel-safe: dropping the future changes nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Mailbox;
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// let receipt = tx.send_tracked("render").unwrap();
    /// let worker = std::thread::spawn(move || rx.recv().unwrap());
    /// receipt.wait_async().await.unwrap();
    /// assert!(receipt.is_delivered());
    /// # worker.join().unwrap();
    /// # });
    /// ```
    pub fn wait_async(&self) -> ReceiptWait<'_> {
        ReceiptWait {
            tracker: &self.tracker,
            milestone: Milestone::Received,
        }
    }

    /// Waits, without blocking a thread, until the message was acknowledged:
    /// the async form of [`wait_acked`](Receipt::wait_acked). Cancel-safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, ReceiptError, Requeue};
    ///
    /// # futures_executor::block_on(async {
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// let receipt = tx.send_tracked("render").unwrap();
    /// let worker = std::thread::spawn(move || rx.recv_ack().unwrap().nack(Requeue::No));
    /// // Rejected by its consumer, and no dead-letter place: dropped.
    /// assert_eq!(receipt.wait_acked_async().await, Err(ReceiptError::Closed));
    /// # worker.join().unwrap();
    /// # });
    /// ```
    pub fn wait_acked_async(&self) -> ReceiptWait<'_> {
        ReceiptWait {
            tracker: &self.tracker,
            milestone: Milestone::Acked,
        }
    }

    /// Polls for `milestone` (a send's async confirmation).
    pub(crate) fn poll_milestone(
        &self,
        milestone: Milestone,
        waker: &Waker,
    ) -> Poll<Result<(), ReceiptError>> {
        self.tracker.poll_wait(milestone, waker)
    }

    /// Waits for `milestone` within a send's deadline.
    pub(crate) fn wait_until(
        &self,
        milestone: Milestone,
        deadline: Deadline,
    ) -> Result<(), ReceiptError> {
        self.tracker.wait(milestone, deadline)
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

/// The future of [`Receipt::wait_async`] and
/// [`Receipt::wait_acked_async`]. Holds nothing but a reference: dropping it
/// changes nothing.
#[must_use = "futures do nothing unless polled"]
pub struct ReceiptWait<'a> {
    tracker: &'a Tracker,
    milestone: Milestone,
}

impl Future for ReceiptWait<'_> {
    type Output = Result<(), ReceiptError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.tracker.poll_wait(self.milestone, cx.waker())
    }
}

impl fmt::Debug for ReceiptWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptWait")
            .field("id", &self.tracker.id)
            .field("milestone", &self.milestone)
            .finish()
    }
}

/// The error of waiting on a [`Receipt`](crate::Receipt): the message did not
/// get where the wait wanted it, and this says where it ended instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The deadline passed first; the message may still get there.
    #[error("timed out waiting for the message")]
    Timeout,
    /// The message was dropped ([`ReceiptState::Dropped`](crate::ReceiptState::Dropped)):
    /// it had to go to dead letters and there was no dead-letter place to
    /// take it (a standalone mailbox without a dead-letter sender, or a full
    /// or closed dead-letter mailbox), for example because its mailbox lost
    /// its last receiver while it was queued, or its consumer rejected it.
    #[error("message was dropped before it was processed")]
    Closed,
    /// The message went to dead letters, for this reason
    /// ([`ReceiptState::DeadLettered`](crate::ReceiptState::DeadLettered)).
    #[error("message went to dead letters: {0}")]
    DeadLettered(DeadLetterReason),
    /// The message's time to live ran out before a receiver took it.
    #[error("message expired before it was processed")]
    Expired,
}
