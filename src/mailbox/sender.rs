//! The sending half of a mailbox.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{PushError, SendError, SendTimeoutError, TrySendError};
use crate::id::{MessageId, Pid};
use crate::message::Message;
use crate::reason::ClosedReason;
use crate::receipt::{Milestone, Receipt, Tracker};
use crate::signal::Watchers;
use crate::stats::{HandleCounters, MailboxStats};
use crate::wait::{Confirm, Deadline, Wait};

use super::core::{Core, ALIVE};
use super::ids::{claim_id_block, pack_id_block};

/// Every 32nd send of a handle samples the queue length for `peak_len`.
const PEAK_SAMPLE_MASK: u64 = 31;

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

    /// The one primitive every public send wraps: validate, stamp, push with
    /// `deadline`, then wait (within the same deadline) for the confirmation
    /// asked for.
    ///
    /// The untracked path is kept small enough to inline: the message should
    /// stay in registers from the caller to crossbeam's slot, and every cold
    /// case (refusals, receipts, peak sampling) lives in a separate function.
    #[inline(always)]
    fn send_inner(
        &self,
        msg: impl Into<Message<T>>,
        deadline: Deadline,
        confirm: Confirm,
        source: Option<Pid>,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut msg = msg.into();
        if let (None, Confirm::Queued, Some(fifo)) = (source, confirm, self.core.plain_fifo()) {
            // A plain FIFO mailbox: no limit to check, no time to live to
            // set, no log to write; a message the fast push hands back goes
            // the general way from the push on.
            let (seq, id) = self.number();
            msg.header_mut().stamp(id);
            return match fifo.put(msg) {
                Ok(()) => {
                    self.landed(seq);
                    Ok(())
                }
                Err(msg) => self.deliver_general(msg, seq, deadline),
            };
        }
        self.send_general(msg, deadline, confirm, source)
    }

    /// Every send the fast path does not take: validate, stamp (with the
    /// default time to live), log, push, and wait for the confirmation.
    /// Inlined: out of line, the call boundary cost the priority backend's
    /// send+recv 27 instructions (callgrind), and FIFO nothing.
    #[inline(always)]
    fn send_general(
        &self,
        mut msg: Message<T>,
        deadline: Deadline,
        confirm: Confirm,
        source: Option<Pid>,
    ) -> Result<(), SendTimeoutError<T>> {
        if let Some(limit) = self.core.violated_limit(&msg) {
            return Err(limit.refuse(msg));
        }
        let seq = self.stamp(&mut msg);
        if let Some(pid) = source {
            msg.header_mut().set_source(pid);
        }
        if self.logged(&msg).is_err() {
            return Err(self.not_logged(msg));
        }
        match confirm {
            Confirm::Queued => self.deliver(msg, seq, deadline),
            Confirm::Received => self.deliver_confirmed(msg, seq, deadline, Milestone::Received),
            Confirm::Acked => self.deliver_confirmed(msg, seq, deadline, Milestone::Acked),
        }
    }

    /// Counts the send and numbers the message with one uncontended RMW (a
    /// refusal later takes the count back), and stamps the header (with the
    /// mailbox's default time to live, if it has one). Returns the message's
    /// sequence number within this handle.
    #[inline(always)]
    pub(super) fn stamp(&self, msg: &mut Message<T>) -> u64 {
        let (seq, id) = self.number();
        msg.header_mut().stamp(id);
        if let Some(ttl) = self.core.ttl() {
            msg.header_mut().default_ttl(ttl);
        }
        seq
    }

    /// Counts a send and gives it an id: on the thread that owns this
    /// handle's counters with a plain store and from the handle's block,
    /// on any other with a locked add and from the thread's block (see
    /// `stats::Owner`). Returns the send's sequence number (for peak
    /// sampling) and its id.
    #[inline(always)]
    fn number(&self) -> (u64, MessageId) {
        match self.local.bump() {
            Some(seq) => (seq, self.core.id_for(&self.local, seq)),
            None => self.core.number_shared(),
        }
    }

    /// A durable mailbox logs a stamped message before it enters the queue
    /// (and returns once the log holds it, per the sync policy); other
    /// mailboxes pay one branch.
    ///
    /// The message is only borrowed here, and moved out only on the cold
    /// failure path, so that a plain mailbox's send keeps it in registers
    /// (returning it through a `Result` cost a copy per send, measured).
    #[inline(always)]
    pub(super) fn logged(&self, msg: &Message<T>) -> Result<(), ()> {
        match self.core.log.as_deref() {
            None => Ok(()),
            Some(log) => log.enqueue(msg),
        }
    }

    /// A message the log refused, handed back: counted when stamped, never
    /// sent.
    #[cold]
    #[inline(never)]
    pub(super) fn not_logged(&self, msg: Message<T>) -> SendTimeoutError<T> {
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        SendTimeoutError::NotLogged(untracked(msg))
    }

    /// Attaches a receipt to a stamped (and logged) message; a durable
    /// mailbox's log marks it durable when it is.
    pub(super) fn track_logged(&self, msg: &mut Message<T>) -> Receipt {
        let receipt = track(msg);
        if let Some(log) = self.core.log.as_deref() {
            log.watch_durable(receipt.tracker());
        }
        receipt
    }

    /// Pushes a stamped message.
    #[inline(always)]
    fn deliver(
        &self,
        msg: Message<T>,
        seq: u64,
        deadline: Deadline,
    ) -> Result<(), SendTimeoutError<T>> {
        match self.core.push(msg, deadline, &self.local) {
            Ok(()) => {
                self.landed(seq);
                Ok(())
            }
            Err(err) => Err(self.refused(err)),
        }
    }

    /// [`deliver`](Self::deliver) out of line, for the fast path's
    /// fallback (full, gated, closed, a message with rare header fields).
    #[inline(never)]
    fn deliver_general(
        &self,
        msg: Message<T>,
        seq: u64,
        deadline: Deadline,
    ) -> Result<(), SendTimeoutError<T>> {
        self.deliver(msg, seq, deadline)
    }

    /// What follows every push that landed, whatever waited for it.
    #[inline(always)]
    pub(super) fn landed(&self, seq: u64) {
        // A push that landed after the mailbox was retired (destroyed, or
        // its last receiver gone) and drained: settle it now, so it goes to
        // dead letters rather than sitting where nobody, or a receiver of a
        // destroyed mailbox, would take it (see `Core::retire`). One load of
        // a line every send reads anyway.
        if self.core.retired.load(Ordering::SeqCst) != ALIVE {
            self.core.sweep_retired();
        }
        self.core.announce();
        if seq & PEAK_SAMPLE_MASK == 0 {
            self.core.sample_peak();
        }
    }

    /// Delivers with a receipt attached and waits, until `deadline`, for the
    /// message to reach `milestone` (taken by a receiver, or acknowledged).
    #[inline(never)]
    fn deliver_confirmed(
        &self,
        msg: Message<T>,
        seq: u64,
        deadline: Deadline,
        milestone: Milestone,
    ) -> Result<(), SendTimeoutError<T>> {
        let receipt = self.deliver_tracked(msg, seq, deadline)?;
        receipt
            .wait_until(milestone, deadline)
            .map_err(|_| SendTimeoutError::Unconfirmed(receipt))
    }

    /// Attaches a receipt and delivers the message.
    fn deliver_tracked(
        &self,
        mut msg: Message<T>,
        seq: u64,
        deadline: Deadline,
    ) -> Result<Receipt, SendTimeoutError<T>> {
        let receipt = self.track_logged(&mut msg);
        // A push racing with the mailbox's retirement is settled by `deliver`,
        // so a receipt never waits on a message nobody can take.
        self.deliver(msg, seq, deadline)?;
        Ok(receipt)
    }

    /// Turns a backend refusal into the caller's error, taking any receipt
    /// link off the message handed back (that send never happened).
    #[cold]
    #[inline(never)]
    pub(super) fn refused(&self, err: PushError<T>) -> SendTimeoutError<T> {
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        if let Some(log) = self.core.log.as_deref() {
            // Logged, then refused by the queue: gone from the log too.
            let msg = match &err {
                PushError::Full(m) | PushError::Timeout(m) | PushError::Closed(m) => m,
            };
            log.withdrawn(msg.header().id());
        }
        match err {
            PushError::Full(m) => SendTimeoutError::Full(untracked(m)),
            PushError::Timeout(m) => SendTimeoutError::Timeout(untracked(m)),
            PushError::Closed(m) => SendTimeoutError::Closed(untracked(m)),
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
        self.len() == 0
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

/// A mailbox limit that a message can break.
#[derive(Clone, Copy, Debug)]
pub(super) enum Limit {
    /// `max_body_len`.
    BodyLen,
    /// The priority levels.
    Priority,
}

impl Limit {
    /// The error that refuses `msg` for breaking this limit.
    #[cold]
    pub(super) fn refuse<T>(self, msg: Message<T>) -> SendTimeoutError<T> {
        match self {
            Limit::BodyLen => SendTimeoutError::TooLong(msg),
            Limit::Priority => SendTimeoutError::InvalidPriority(msg),
        }
    }
}

/// Narrows the error of a send without deadline to its own family.
pub(crate) fn blocking_error<T>(err: SendTimeoutError<T>) -> SendError<T> {
    match err {
        SendTimeoutError::TooLong(m) => SendError::TooLong(m),
        SendTimeoutError::InvalidPriority(m) => SendError::InvalidPriority(m),
        SendTimeoutError::NotLogged(m) => SendError::NotLogged(m),
        SendTimeoutError::Unconfirmed(r) => SendError::Unconfirmed(r),
        // Without a deadline, Full only comes from an overflow policy that
        // refuses rather than waits.
        SendTimeoutError::Full(m) => SendError::Full(m),
        // Without a deadline the backend never reports Timeout.
        SendTimeoutError::Closed(m) | SendTimeoutError::Timeout(m) => SendError::Closed(m),
    }
}

/// Attaches a receipt to a stamped message.
pub(super) fn track<T>(msg: &mut Message<T>) -> Receipt {
    let tracker = Arc::new(Tracker::new(msg.header().id()));
    msg.header_mut().set_tracker(Arc::clone(&tracker));
    Receipt::new(tracker)
}

/// Takes any receipt link and the id off a message handed back to its sender.
pub(super) fn untracked<T>(mut msg: Message<T>) -> Message<T> {
    let header = msg.header_mut();
    drop(header.take_tracker());
    // The mailbox did not accept it: it goes back unsent, as it came.
    header.stamp(MessageId::UNSENT);
    msg
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
