//! Direct addressing: a process (a pid with an inbox), its sends and its
//! plain and acknowledged receives, and the [`Address`] others reach it by.
//!
//! A [`Process`] is an identity ([`Pid`]) with an inbox (a [`Port`] it owns).
//! Others reach it through an [`Address`], a cheap typed handle that sends
//! straight into the inbox without touching the registry. Receiving is
//! implicit ([`recv`](Process::recv): from anyone) or explicit
//! ([`recv_from`](Process::recv_from): only from one pid;
//! [`recv_matching`](Process::recv_matching): any header predicate). Explicit
//! receive is Erlang's selective receive: messages that do not match are set
//! aside in the process's save queue, in arrival order, and later receives
//! look there first, so nothing is lost and order is kept.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::monitor::ExitReason;
use super::spawn::ProcessRecord;
use super::PostOffice;
use crate::error::{
    RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvAckError, TryRecvError,
};
use crate::id::Pid;
use crate::mailbox::{blocking_error, Delivery, Receiver, Sender};
use crate::message::Message;
use crate::port::Port;
use crate::reason::DeadLetterReason;
use crate::stats::MailboxStats;
use crate::wait::{Confirm, Deadline, Wait};

/// A process: a [`Pid`] and its own inbox, made by
/// [`PostOffice::process`], [`PostOffice::anonymous`] or
/// [`PostOffice::spawn`].
///
/// The process ends when this value is dropped (for a spawned process: when
/// its closure returns or panics). Then its inbox is destroyed (senders get
/// `Closed` with their message back; what was queued, and what the process
/// had set aside and never took, goes to the office's dead letters), every
/// mailbox it owns ([`Owner::Creator`](crate::Owner::Creator)) is destroyed,
/// its name is freed, and its monitors get a [`Down`](crate::Down) notice.
///
/// A process belongs to one thread at a time: it is `Send` but not `Sync`.
///
/// # Examples
///
/// ```
/// use postbox::PostOffice;
///
/// let office = PostOffice::new();
/// let alice = office.process::<&str>("alice").unwrap();
/// let bob = office.process::<&str>("bob").unwrap();
/// let carol = office.anonymous::<&str>();
///
/// alice.send_to(&bob.address(), "from alice").unwrap();
/// carol.send_to(&office.lookup("bob").unwrap(), "from carol").unwrap();
///
/// // Explicit receive: only carol's, alice's waits its turn.
/// let m = bob.recv_from(carol.pid()).unwrap();
/// assert_eq!((m.header().source(), m.into_body()), (Some(carol.pid()), "from carol"));
/// // Implicit receive: from anyone.
/// let m = bob.recv().unwrap();
/// assert_eq!((m.header().source(), m.into_body()), (Some(alice.pid()), "from alice"));
/// ```
pub struct Process<T: Send + 'static> {
    pub(super) office: PostOffice,
    pub(super) record: Arc<ProcessRecord>,
    inbox: Port<T>,
    address: Address<T>,
    /// Messages set aside by selective receives, oldest first.
    pub(super) saved: RefCell<VecDeque<Message<T>>>,
    /// The inbox's redelivery count when the save queue last looked for a
    /// requeued message (see `admit_redelivery`).
    pub(super) redelivered_seen: Cell<u64>,
    /// Whether a spawned thread ends the process (with the panic message, if
    /// any) after its closure, rather than this value's drop.
    pub(super) spawned: bool,
}

impl<T: Send + 'static> Process<T> {
    pub(crate) fn new(
        office: PostOffice,
        record: Arc<ProcessRecord>,
        inbox: Port<T>,
        address: Address<T>,
    ) -> Process<T> {
        Process {
            office,
            record,
            inbox,
            address,
            saved: RefCell::new(VecDeque::new()),
            redelivered_seen: Cell::new(0),
            spawned: false,
        }
    }

    /// The process's pid.
    pub fn pid(&self) -> Pid {
        self.record.pid
    }

    /// The name it is registered under, if any.
    pub fn name(&self) -> Option<&str> {
        self.inbox.name()
    }

    /// Its address, to hand to others.
    pub fn address(&self) -> Address<T> {
        self.address.clone()
    }

    /// The office it belongs to.
    pub fn office(&self) -> &PostOffice {
        &self.office
    }

    /// Sends `msg` to `to` (direct, explicit send), waiting for room. The
    /// header's source is this process's pid, and cannot be set otherwise on
    /// this path.
    #[inline]
    pub fn send_to<U: Send + 'static>(
        &self,
        to: &Address<U>,
        msg: impl Into<Message<U>>,
    ) -> Result<(), SendError<U>> {
        to.sender
            .send_from(self.pid(), msg, Deadline::Never, Confirm::Queued)
            .map_err(blocking_error)
    }

    /// Sends `msg` to `to` with the wait and confirmation chosen for this call.
    pub fn send_to_with<U: Send + 'static>(
        &self,
        to: &Address<U>,
        msg: impl Into<Message<U>>,
        wait: Wait,
        confirm: Confirm,
    ) -> Result<(), SendTimeoutError<U>> {
        to.sender
            .send_from(self.pid(), msg, wait.deadline(), confirm)
    }

    /// Receives the oldest message from anyone (implicit receive), waiting as
    /// long as it takes. Fails once the inbox is destroyed and nothing is left.
    #[inline(always)]
    pub fn recv(&self) -> Result<Message<T>, RecvError> {
        if self.has_saved() {
            if let Some(msg) = self.take_saved() {
                return Ok(self.receiver().settle_taken(msg));
            }
        }
        // A tail call: the message goes straight into the caller's slot.
        self.inbox.recv()
    }

    /// Receives a message from anyone if one is there now.
    pub fn try_recv(&self) -> Result<Message<T>, TryRecvError> {
        self.recv_with(Wait::NonBlocking).map_err(try_error)
    }

    /// Receives a message from anyone, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_with(Wait::Timeout(timeout))
    }

    /// Receives a message from anyone, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_with(Wait::Deadline(deadline))
    }

    /// Receives a message from anyone with the wait chosen for this call.
    pub fn recv_with(&self, wait: Wait) -> Result<Message<T>, RecvTimeoutError> {
        if let Some(msg) = self.take_saved() {
            return Ok(self.receiver().settle_taken(msg));
        }
        self.inbox.recv_with(wait)
    }

    /// Receives from anyone with acknowledgement (see
    /// [`Receiver::recv_ack`]), waiting as long as it takes. Messages a
    /// selective receive set aside come first. Fails only once the inbox is
    /// closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::PostOffice;
    ///
    /// let office = PostOffice::new();
    /// let worker = office.anonymous::<&str>();
    /// worker.address().send("job").unwrap();
    /// let delivery = worker.recv_ack().unwrap();
    /// assert_eq!(*delivery.body(), "job");
    /// delivery.ack();
    /// ```
    pub fn recv_ack(&self) -> Result<Delivery<'_, T>, RecvError> {
        self.recv_ack_with(Wait::Blocking).map_err(|_| RecvError)
    }

    /// Receives with acknowledgement if a message and a prefetch slot are
    /// there now, never waiting: `PrefetchFull`, `Empty` or `Closed`
    /// otherwise (see [`Receiver::try_recv_ack`]).
    pub fn try_recv_ack(&self) -> Result<Delivery<'_, T>, TryRecvAckError> {
        match self.deliver_saved(Deadline::Now) {
            Some(delivered) => delivered.map_err(|_| TryRecvAckError::PrefetchFull),
            None => self.inbox.try_recv_ack(),
        }
    }

    /// Receives with acknowledgement, waiting at most `timeout` for a
    /// prefetch slot and a message: `Timeout` if they did not come, `Closed`
    /// once the inbox is closed and empty.
    pub fn recv_ack_timeout(&self, timeout: Duration) -> Result<Delivery<'_, T>, RecvTimeoutError> {
        self.recv_ack_with(Wait::Timeout(timeout))
    }

    /// Receives with acknowledgement, waiting until `deadline` for a
    /// prefetch slot and a message: `Timeout` if they did not come, `Closed`
    /// once the inbox is closed and empty.
    pub fn recv_ack_deadline(
        &self,
        deadline: Instant,
    ) -> Result<Delivery<'_, T>, RecvTimeoutError> {
        self.recv_ack_with(Wait::Deadline(deadline))
    }

    /// Receives with acknowledgement with the wait chosen for this call (a
    /// non-blocking wait that finds nothing fails with `Timeout`).
    pub fn recv_ack_with(&self, wait: Wait) -> Result<Delivery<'_, T>, RecvTimeoutError> {
        let deadline = wait.deadline();
        match self.deliver_saved(deadline) {
            Some(delivered) => delivered.map_err(|_| RecvTimeoutError::Timeout),
            None => self.inbox.recv_ack_with(deadline.as_wait()),
        }
    }

    /// Limits the inbox to `n` unanswered deliveries at a time (see
    /// [`Receiver::with_prefetch`]); `0`: no limit.
    #[must_use]
    pub fn with_prefetch(self, n: usize) -> Self {
        self.receiver().set_prefetch(n);
        self
    }

    /// The inbox handle's prefetch limit, `None` if it has none.
    pub fn prefetch(&self) -> Option<usize> {
        self.receiver().prefetch()
    }

    /// How many deliveries this process has handed out and not seen
    /// answered.
    pub fn unacked(&self) -> u64 {
        self.receiver().unacked()
    }
    /// Messages waiting for this process: set aside by selective receives,
    /// plus queued in the inbox.
    pub fn len(&self) -> usize {
        self.saved.borrow().len() + self.inbox.len()
    }

    /// Whether no message is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inbox's counters (messages set aside by a selective receive count
    /// as received).
    pub fn stats(&self) -> MailboxStats {
        self.inbox.stats()
    }

    /// The inbox's receiver, for [`Select`](crate::Select).
    pub(crate) fn receiver(&self) -> &Receiver<T> {
        self.inbox.receiver()
    }
}

impl<T: Send + 'static> Drop for Process<T> {
    fn drop(&mut self) {
        // Set-aside messages were taken from the inbox but never handed out:
        // they are dead letters, not silently gone.
        for msg in self.saved.get_mut().drain(..) {
            self.inbox
                .receiver()
                .dead_letter_taken(msg, DeadLetterReason::Destroyed);
        }
        if !self.spawned {
            let reason = if thread::panicking() {
                ExitReason::Panicked("the thread owning the process panicked".to_string())
            } else {
                ExitReason::Normal
            };
            self.office.end_process(&self.record, reason);
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Process<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("pid", &self.pid())
            .field("name", &self.name())
            .field("waiting", &self.len())
            .finish()
    }
}

/// Narrows a non-blocking receive's error.
pub(super) fn try_error(err: RecvTimeoutError) -> TryRecvError {
    match err {
        RecvTimeoutError::Timeout => TryRecvError::Empty,
        RecvTimeoutError::Closed => TryRecvError::Closed,
    }
}

/// The typed address of a process: its pid and a way into its inbox.
///
/// Cheap to clone (a reference count) and to send through: it holds the
/// inbox's sender, so no registry lock is taken per message. Sending to a
/// process that has ended fails with `Closed` and hands the message back.
///
/// Sends from a [`Process`] ([`Process::send_to`]) carry the sender's pid;
/// [`Address::send`] is for threads that are not processes and sends without
/// a source.
pub struct Address<T: Send> {
    pid: Pid,
    sender: Arc<Sender<T>>,
}

impl<T: Send> Address<T> {
    pub(crate) fn new(pid: Pid, sender: Arc<Sender<T>>) -> Address<T> {
        Address { pid, sender }
    }

    /// The pid of the process it reaches.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Whether the process has ended (its inbox is closed).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Why the process's inbox was closed, `None` while it is open:
    /// [`OwnerEnded`](crate::ClosedReason::OwnerEnded) once the process has
    /// ended.
    pub fn closed_reason(&self) -> Option<crate::reason::ClosedReason> {
        self.sender.closed_reason()
    }

    /// The inbox's sender.
    pub(super) fn sender(&self) -> &Sender<T> {
        &self.sender
    }

    /// Sends without a source (from a thread that is not a process), waiting
    /// for room.
    pub fn send(&self, msg: impl Into<Message<T>>) -> Result<(), SendError<T>> {
        self.sender.send(msg)
    }

    /// Sends without a source and without waiting.
    pub fn try_send(
        &self,
        msg: impl Into<Message<T>>,
    ) -> Result<(), crate::error::TrySendError<T>> {
        self.sender.try_send(msg)
    }
}

impl<T: Send> Clone for Address<T> {
    fn clone(&self) -> Self {
        Address {
            pid: self.pid,
            sender: Arc::clone(&self.sender),
        }
    }
}

impl<T: Send> fmt::Debug for Address<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Address")
            .field("pid", &self.pid)
            .field("closed", &self.is_closed())
            .finish()
    }
}
