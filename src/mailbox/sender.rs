//! The sending half of a mailbox.
//!
//! This file holds the handle: what it is, every send form it offers, its
//! settings and what it can tell about the mailbox. The stages one message
//! goes through (number, stamp, check the limits, log, push, land, confirm,
//! or be refused and handed back) are in `sender/pipeline.rs`, shared with
//! the async sends of `send_async.rs`.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{SendError, SendTimeoutError, TrySendError};
use crate::id::Pid;
use crate::message::Message;
use crate::reason::ClosedReason;
use crate::receipt::Receipt;
use crate::signal::Watchers;
use crate::stats::{HandleCounters, MailboxStats};
use crate::wait::{Confirm, Deadline, Wait};

use super::core::{Core, ALIVE};
use super::ids::{claim_id_block, pack_id_block};

mod pipeline;

pub(crate) use pipeline::blocking_error;
pub(super) use pipeline::{untracked, Limit};

/// The sending half of a mailbox. Clone it for more producers.
///
/// Every send accepts a plain body or a [`Message`]. The mailbox gives the
/// message a fresh id (unique within the process) and clears any source: only
/// direct sends from a process carry one.
///
/// | method | waits for room | returns |
/// | --- | --- | --- |
/// | [`send`](Sender::send) | yes | `SendError` |
/// | [`try_send`](Sender::try_send) | no | `TrySendError` (`Full`) |
/// | [`send_timeout`](Sender::send_timeout) / [`send_deadline`](Sender::send_deadline) | until then | `SendTimeoutError` (`Timeout`) |
/// | [`send_with`](Sender::send_with) | as told | `SendTimeoutError` |
/// | [`post`](Sender::post) | as the handle's defaults say | `SendTimeoutError` |
/// | [`send_tracked`](Sender::send_tracked) | yes | a [`Receipt`] |
///
/// All of them apply the handle's default [`Confirm`] (set with
/// [`with_confirm`](Sender::with_confirm)) except `send_with` and
/// `send_tracked`, which say their own.
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, TrySendError};
/// use std::thread;
///
/// let (tx, rx) = Mailbox::<u64>::builder().capacity(1).build();
/// let producers: Vec<_> = (0..3)
///     .map(|p| {
///         let tx = tx.clone();
///         thread::spawn(move || tx.send(p).unwrap()) // waits for room
///     })
///     .collect();
/// drop(tx);
/// let mut got: Vec<u64> = rx.iter().map(|m| m.into_body()).collect();
/// for p in producers { p.join().unwrap(); }
/// got.sort();
/// assert_eq!(got, [0, 1, 2]);
/// ```
pub struct Sender<T: Send> {
    /// The shared mailbox.
    core: Arc<Core<T>>,
    /// This handle's send count and id cursor.
    local: Arc<HandleCounters>,
    /// The wait `post` uses.
    wait: Wait,
    /// The confirmation every send except `send_with` / `send_tracked` uses.
    confirm: Confirm,
}

impl<T: Send> Sender<T> {
    pub(super) fn attach(core: Arc<Core<T>>) -> Sender<T> {
        let local = core
            .tally
            .register(HandleCounters::new(pack_id_block(claim_id_block(), 0)));
        Sender {
            core,
            local,
            wait: Wait::Blocking,
            confirm: Confirm::Queued,
        }
    }

    /// The shared mailbox.
    pub(super) fn core(&self) -> &Core<T> {
        &self.core
    }

    /// This handle's send counters.
    pub(super) fn local(&self) -> &HandleCounters {
        &self.local
    }

    /// Sends, waiting as long as it takes for room (backpressure).
    ///
    /// Fails, handing the message back, with `Closed` if the mailbox is or
    /// becomes closed while waiting, `Full` if its [`Overflow`](crate::Overflow) policy
    /// refuses rather than waits, and `TooLong` / `InvalidPriority` if the
    /// message breaks the mailbox's limits. With the handle's
    /// [`Confirm::Received`] or [`Confirm::Acked`]
    /// ([`with_confirm`](Sender::with_confirm)), also waits until the message
    /// was taken or acknowledged, and fails with `Unconfirmed(receipt)` if
    /// that can never happen.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, SendError};
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// tx.send("job").unwrap();
    /// drop(rx);
    /// let err = tx.send("late job").unwrap_err();
    /// assert!(matches!(err, SendError::Closed(_)));
    /// assert_eq!(err.into_inner(), Some("late job"));
    /// ```
    pub fn send(&self, msg: impl Into<Message<T>>) -> Result<(), SendError<T>> {
        self.send_inner(msg, Deadline::Never, self.confirm, None)
            .map_err(blocking_error)
    }

    /// Sends if there is room now, never waiting: the non-blocking send.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, TrySendError};
    ///
    /// let (tx, _rx) = Mailbox::<u8>::builder().capacity(1).build();
    /// assert!(tx.try_send(1).is_ok());
    /// let err = tx.try_send(2).unwrap_err();
    /// assert!(err.is_full());
    /// assert_eq!(err.into_inner(), Some(2));
    /// ```
    pub fn try_send(&self, msg: impl Into<Message<T>>) -> Result<(), TrySendError<T>> {
        self.send_inner(msg, Deadline::Now, self.confirm, None)
            .map_err(|err| match err {
                SendTimeoutError::Full(m) | SendTimeoutError::Timeout(m) => TrySendError::Full(m),
                SendTimeoutError::Closed(m) => TrySendError::Closed(m),
                SendTimeoutError::TooLong(m) => TrySendError::TooLong(m),
                SendTimeoutError::InvalidPriority(m) => TrySendError::InvalidPriority(m),
                SendTimeoutError::NotLogged(m) => TrySendError::NotLogged(m),
                SendTimeoutError::Unconfirmed(r) => TrySendError::Unconfirmed(r),
            })
    }

    /// Sends, waiting at most `timeout` for room (and for the confirmation, if
    /// the handle asks for one). A timeout too large to represent waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, SendTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, _rx) = Mailbox::<u8>::builder().capacity(1).build();
    /// tx.send(1).unwrap();
    /// let err = tx.send_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert!(err.is_timeout());
    /// ```
    pub fn send_timeout(
        &self,
        msg: impl Into<Message<T>>,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        self.send_inner(msg, Deadline::after(timeout), self.confirm, None)
    }

    /// Sends, waiting until `deadline` at the latest.
    pub fn send_deadline(
        &self,
        msg: impl Into<Message<T>>,
        deadline: Instant,
    ) -> Result<(), SendTimeoutError<T>> {
        self.send_inner(msg, Deadline::At(deadline), self.confirm, None)
    }

    /// Sends with the wait and the confirmation chosen for this call.
    ///
    /// `Confirm::Received` is the textbook blocking send: it returns only when a
    /// receiver has taken the message. The wait bounds the whole call; if the
    /// message was queued but not taken in time, the error is `Unconfirmed`
    /// with the message's [`Receipt`] (the message stays queued).
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Confirm, Mailbox, Wait};
    /// use std::thread;
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().unbounded().build();
    /// let worker = thread::spawn(move || rx.recv().unwrap().into_body());
    /// // Returns only once the worker holds the message, even though the
    /// // mailbox is unbounded.
    /// tx.send_with("hello", Wait::Blocking, Confirm::Received).unwrap();
    /// assert_eq!(worker.join().unwrap(), "hello");
    /// ```
    pub fn send_with(
        &self,
        msg: impl Into<Message<T>>,
        wait: Wait,
        confirm: Confirm,
    ) -> Result<(), SendTimeoutError<T>> {
        self.send_inner(msg, wait.deadline(), confirm, None)
    }

    /// Sends with this handle's default wait and confirmation (see
    /// [`with_wait`](Sender::with_wait) and [`with_confirm`](Sender::with_confirm)):
    /// configure a handle once, hand it to code that just posts.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, Wait};
    ///
    /// let (tx, _rx) = Mailbox::<u8>::builder().capacity(1).build();
    /// let tx = tx.with_wait(Wait::NonBlocking);
    /// assert!(tx.post(1).is_ok());
    /// assert!(tx.post(2).unwrap_err().is_full()); // never waits
    /// ```
    pub fn post(&self, msg: impl Into<Message<T>>) -> Result<(), SendTimeoutError<T>> {
        self.send_inner(msg, self.wait.deadline(), self.confirm, None)
    }

    /// Sends, waiting for room, and returns a [`Receipt`] that tells when a
    /// receiver has taken the message, and what became of it: the
    /// sender-side test for arrival. Only tracked sends pay for the receipt.
    ///
    /// Fails as [`send`](Sender::send) does (`Closed`, `Full`, `TooLong`,
    /// `InvalidPriority`, message handed back), but never with
    /// `Unconfirmed`: it waits for no confirmation, whatever the handle's
    /// [`with_confirm`](Sender::with_confirm).
    pub fn send_tracked(&self, msg: impl Into<Message<T>>) -> Result<Receipt, SendError<T>> {
        let mut msg = msg.into();
        if let Some(limit) = self.core.violated_limit(&msg) {
            return Err(blocking_error(limit.refuse(msg)));
        }
        let seq = self.stamp(&mut msg);
        if self.logged(&msg).is_err() {
            return Err(blocking_error(self.not_logged(msg)));
        }
        self.deliver_tracked(msg, seq, Deadline::Never)
            .map_err(blocking_error)
    }

    /// Sets the wait that [`post`](Sender::post) uses (default: blocking).
    #[must_use]
    pub fn with_wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// Sets the confirmation that `send`, `try_send`, `send_timeout`,
    /// `send_deadline` and `post` wait for (default: `Queued`).
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Confirm, Mailbox, ReceiptState, SendTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = Mailbox::<u8>::builder().build();
    /// let tx = tx.with_confirm(Confirm::Received);
    /// // Nobody receives: the message is queued but not confirmed.
    /// match tx.send_timeout(7, Duration::from_millis(10)) {
    ///     Err(SendTimeoutError::Unconfirmed(receipt)) => {
    ///         assert_eq!(receipt.state(), ReceiptState::Queued);
    ///         assert_eq!(rx.recv().unwrap().into_body(), 7); // not lost
    ///         assert!(receipt.is_delivered());
    ///     }
    ///     other => panic!("expected Unconfirmed, got {other:?}"),
    /// }
    /// ```
    #[must_use]
    pub fn with_confirm(mut self, confirm: Confirm) -> Self {
        self.confirm = confirm;
        self
    }

    /// The wait [`post`](Sender::post) uses.
    pub fn wait_mode(&self) -> Wait {
        self.wait
    }

    /// The confirmation this handle's sends wait for.
    pub fn confirm_mode(&self) -> Confirm {
        self.confirm
    }

    /// How many messages are queued.
    pub fn len(&self) -> usize {
        self.core.queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.core.queue.is_empty()
    }

    /// Whether a bounded mailbox is at capacity (never for unbounded).
    pub fn is_full(&self) -> bool {
        self.capacity().is_some_and(|cap| self.len() >= cap)
    }

    /// The most messages the mailbox holds, or `None` if unbounded.
    pub fn capacity(&self) -> Option<usize> {
        self.core.queue.capacity()
    }

    /// Whether the mailbox is closed (sends will fail with `Closed`).
    pub fn is_closed(&self) -> bool {
        self.core.queue.is_closed()
    }

    /// Why the mailbox was closed, `None` while it is open: a `Closed`
    /// error explained.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{ClosedReason, Mailbox};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// drop(rx);
    /// assert!(tx.send(1).is_err());
    /// assert_eq!(tx.closed_reason(), Some(ClosedReason::ReceiversGone));
    /// ```
    pub fn closed_reason(&self) -> Option<ClosedReason> {
        self.core.closed_reason()
    }

    /// The mailbox's counters.
    pub fn stats(&self) -> MailboxStats {
        self.core.stats()
    }

    /// Whether both handles belong to the same mailbox.
    pub fn same_mailbox(&self, other: &Sender<T>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }

    /// Drops this handle (the same as `drop(sender)`, named for readability).
    pub fn disconnect(self) {}

    /// Sends on behalf of process `source` (direct addressing): the header
    /// carries `source`, which a plain send cannot set.
    #[inline]
    pub(crate) fn send_from(
        &self,
        source: Pid,
        msg: impl Into<Message<T>>,
        deadline: Deadline,
        confirm: Confirm,
    ) -> Result<(), SendTimeoutError<T>> {
        self.send_inner(msg, deadline, confirm, Some(source))
    }

    /// Whether the mailbox was retired for good: destroyed (a process's
    /// inbox when the process ends), or its last receiver gone. Unlike
    /// [`is_closed`](Sender::is_closed), a mailbox merely closed, still
    /// draining, is not retired.
    pub(crate) fn is_retired(&self) -> bool {
        self.core.retired.load(Ordering::SeqCst) != ALIVE
    }

    /// The selects (and requests) waiting on this mailbox: rung by every
    /// send and by the close.
    pub(crate) fn watchers(&self) -> &Watchers {
        &self.core.watchers
    }

    /// Queues a dead letter of another mailbox, never waiting and with no
    /// confirmation. Unlike a send, the letter keeps its redelivery count:
    /// it records how often the letter was tried where it came from. (A
    /// user re-sending the letter starts it at zero again.)
    pub(crate) fn send_letter(&self, mut msg: Message<T>) -> Result<(), SendTimeoutError<T>> {
        if let Some(limit) = self.core.violated_limit(&msg) {
            return Err(limit.refuse(msg));
        }
        let redeliveries = msg.header().redeliveries();
        let seq = self.stamp(&mut msg);
        msg.header_mut().set_redeliveries(redeliveries);
        if self.logged(&msg).is_err() {
            return Err(self.not_logged(msg));
        }
        self.deliver(msg, seq, Deadline::Now)
    }

    /// Takes the message at the head of the queue (the next one a receiver
    /// would get) to make room, counting it as dropped. For broadcast
    /// subscribers that chose to lose old messages rather than block.
    pub(crate) fn evict_head(&self) -> Option<Message<T>> {
        let msg = self.core.queue.pop(Deadline::Now).ok()?;
        self.core
            .cold()
            .outcomes
            .dropped
            .fetch_add(1, Ordering::Relaxed);
        Some(msg)
    }

    /// Closes the mailbox from the sending side, as if every sender were
    /// gone: blocked and later senders get `Closed`, receivers still drain
    /// what is queued and then see `Closed`. For a closing broadcast topic, and
    /// [`PostOffice::close`](crate::PostOffice::close).
    pub(crate) fn close(&self) {
        self.core.close_for(ClosedReason::Closed);
    }

    /// Destroys the mailbox (see `Core::destroy`).
    pub(crate) fn destroy(&self, why: ClosedReason) {
        self.core.destroy(why);
    }
}

// As crossbeam-channel's: a panic while a handle is shared leaves the
// mailbox consistent (every state change is one atomic step or under a lock
// that parking_lot does not poison), so observing it after a caught panic
// is sound.
impl<T: Send> std::panic::UnwindSafe for Sender<T> {}
impl<T: Send> std::panic::RefUnwindSafe for Sender<T> {}

impl<T: Send> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.core.senders.fetch_add(1, Ordering::Relaxed);
        let mut tx = Sender::attach(Arc::clone(&self.core));
        tx.wait = self.wait;
        tx.confirm = self.confirm;
        tx
    }
}

impl<T: Send> Drop for Sender<T> {
    fn drop(&mut self) {
        self.core.tally.retire(&self.local);
        if self.core.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Last sender: receivers drain what is queued, then see Closed.
            self.core.close_for(ClosedReason::SendersGone);
        }
    }
}

impl<T: Send> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .field("wait", &self.wait)
            .field("confirm", &self.confirm)
            .finish()
    }
}
