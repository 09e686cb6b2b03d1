//! Consumer acknowledgements: a [`Delivery`] guard and the [`Requeue`] choice.
//!
//! A plain `recv` takes a message for good (RabbitMQ's auto-ack). `recv_ack`
//! hands it out inside a `Delivery` instead, and the message is only gone once
//! the consumer says so: `ack` (processed), `nack` (give it back: now, later,
//! or to dead letters) or `reject` (dead letters). A delivery dropped without
//! an answer, including by a panic unwinding through the worker, gives the
//! message back, so a worker that dies mid-job loses nothing: delivery is at
//! least once, and a redelivered message says so in its header
//! ([`redeliveries`](crate::Header::redeliveries)).

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use crate::message::Message;
use crate::sync::Arc;

use super::ack::Acker;

/// What [`Delivery::nack`] does with the message.
///
/// Both requeues count a redelivery in the message's header
/// ([`Header::redeliveries`](crate::Header::redeliveries)) and in
/// [`MailboxStats::redelivered`](crate::MailboxStats::redelivered).
///
/// # Examples
///
/// A transient failure retried later, while the worker goes on:
///
/// ```
/// use postbox::{Mailbox, Requeue};
/// use std::time::Duration;
///
/// let (tx, rx) = Mailbox::<&str>::builder().build();
/// tx.send("render profile 7").unwrap();
/// drop(tx); // no more work is coming: the mailbox is closed
///
/// let job = rx.recv_ack().unwrap();
/// // The model service is busy: try again in 20 ms.
/// job.nack(Requeue::After(Duration::from_millis(20)));
///
/// // Closed, but a retry is pending: the receive waits for it rather than
/// // report the mailbox closed.
/// let retry = rx.recv_ack().unwrap();
/// assert_eq!(*retry.body(), "render profile 7");
/// assert_eq!(retry.header().redeliveries(), 1);
/// retry.ack();
/// assert!(rx.recv_ack().is_err()); // closed and empty for good
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requeue {
    /// Put it back at the front of its priority level, to be delivered again
    /// before later messages of that level (as RabbitMQ does); its
    /// redelivery count goes up. Past the mailbox's
    /// [`max_redeliveries`](crate::MailboxBuilder::max_redeliveries), it goes
    /// to dead letters instead.
    Yes,
    /// Do not requeue: send it to dead letters with reason
    /// [`Rejected`](crate::DeadLetterReason::Rejected).
    No,
    /// Put it back after this delay (retry with backoff, without a worker
    /// sleeping through it). Until then it counts in
    /// [`MailboxStats::delayed`](crate::MailboxStats::delayed), and a closed
    /// mailbox's receivers wait for it rather than report the mailbox closed.
    /// One background thread, `postbox-timer`, started on first use, brings
    /// such messages back; if the mailbox is destroyed or loses its last
    /// receiver first, they go to dead letters at once (`Destroyed` or
    /// `NoReceivers`). Past `max_redeliveries`, it goes to dead letters at
    /// once, as with `Yes`.
    After(Duration),
}

/// A message taken with acknowledgement
/// ([`Receiver::recv_ack`](crate::Receiver::recv_ack)): read it through
/// `Deref` (it is a [`Message`]), do the work, then answer.
///
/// | answer | the message |
/// | --- | --- |
/// | [`ack`](Delivery::ack) | processed: gone for good |
/// | [`nack(Requeue::Yes)`](Delivery::nack) / dropped unanswered | back at the front of its level, redelivery count + 1; past [`max_redeliveries`](crate::MailboxBuilder::max_redeliveries), to dead letters (`MaxRedeliveries`) |
/// | [`nack(Requeue::After(d))`](Delivery::nack) | the same, but back after `d` |
/// | [`nack(Requeue::No)`](Delivery::nack) / [`reject`](Delivery::reject) | to dead letters (`Rejected`) |
///
/// A delivery borrows the receiver handle it came from (`'a`), as tokio's
/// `Permit` borrows its sender: a worker loop that answers each job before
/// it takes the next moves no reference count per message. To move a
/// delivery to another thread or task, or keep it past its handle, take
/// [`into_owned`](Delivery::into_owned) (an [`OwnedDelivery`]). Dropping a
/// delivery unanswered, also during a panic, requeues the message.
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, ReceiptState};
/// use std::panic;
///
/// let (tx, rx) = Mailbox::<&str>::builder().build();
/// let receipt = tx.send_tracked("render profile 7").unwrap();
///
/// // A worker panics mid-job: the unwinding drops its delivery, which
/// // requeues the message.
/// let crashed = panic::catch_unwind(panic::AssertUnwindSafe(|| {
///     let job = rx.recv_ack().unwrap();
///     assert_eq!(receipt.state(), ReceiptState::Received);
///     panic!("model server went away while working on {}", *job.body());
/// }));
/// assert!(crashed.is_err());
/// assert_eq!(receipt.state(), ReceiptState::Requeued);
///
/// // The next worker gets it again, flagged as a redelivery.
/// let job = rx.recv_ack().unwrap();
/// assert!(job.is_redelivered());
/// job.ack();
/// assert_eq!(receipt.state(), ReceiptState::Acked);
/// assert_eq!(rx.stats().acked, 1);
/// ```
pub struct Delivery<'a, T: Send + 'static> {
    /// The message; `None` once answered (so `Drop` knows). Dropped only
    /// by `Drop` itself, which requeues it: the compiler's drop glue then
    /// has nothing to drop here and stays small enough to inline into the
    /// answers (out of line it cost `recv_ack` + `ack` 12 instructions).
    msg: ManuallyDrop<Option<Message<T>>>,
    /// The receiver handle's answering side.
    acker: AckerRef<'a, T>,
    /// Whether this delivery holds one of its handle's prefetch slots.
    slot: bool,
}

/// A delivery that owns what it needs to answer: it may be moved to another
/// thread or task, and may outlive its receiver handle (while the handle
/// lives, it counts the delivery in
/// [`Receiver::unacked`](crate::Receiver::unacked)). Made by
/// [`Delivery::into_owned`].
///
/// # Examples
///
/// A job handed to another thread, answered there after its handle is gone:
///
/// ```
/// use postbox::{Mailbox, OwnedDelivery};
/// use std::thread;
///
/// let (tx, rx) = Mailbox::<u32>::builder().build();
/// tx.send(7).unwrap();
/// let job: OwnedDelivery<u32> = rx.recv_ack().unwrap().into_owned();
/// drop(rx);
/// let done = thread::spawn(move || job.ack().into_body()).join().unwrap();
/// assert_eq!(done, 7);
/// ```
pub type OwnedDelivery<T> = Delivery<'static, T>;

/// How a delivery reaches its handle's answering side: borrowed from the
/// handle (no reference count moves), or owned (`into_owned`).
enum AckerRef<'a, T: Send> {
    /// The handle's own reference, for as long as the handle is borrowed.
    Lent(&'a Arc<Acker<T>>),
    /// A reference of the delivery's own.
    Owned(Arc<Acker<T>>),
}

impl<T: Send> AckerRef<'_, T> {
    #[inline(always)]
    fn get(&self) -> &Acker<T> {
        match self {
            AckerRef::Lent(acker) => acker,
            AckerRef::Owned(acker) => acker,
        }
    }
}

impl<'a, T: Send + 'static> Delivery<'a, T> {
    #[inline(always)]
    pub(crate) fn new(msg: Message<T>, acker: &'a Arc<Acker<T>>, slot: bool) -> Delivery<'a, T> {
        Delivery {
            msg: ManuallyDrop::new(Some(msg)),
            acker: AckerRef::Lent(acker),
            slot,
        }
    }

    /// This delivery with a reference of its own to what it answers
    /// through, no longer borrowing its receiver handle: to move it to
    /// another thread or task, or keep it after the handle is gone. Costs
    /// one reference count.
    pub fn into_owned(mut self) -> OwnedDelivery<T> {
        let acker = match &self.acker {
            AckerRef::Lent(acker) => Arc::clone(acker),
            AckerRef::Owned(acker) => Arc::clone(acker),
        };
        Delivery {
            msg: ManuallyDrop::new(self.msg.take()),
            acker: AckerRef::Owned(acker),
            slot: self.slot,
        }
    }

    /// Acknowledges the message (processed: it leaves the mailbox for good)
    /// and returns it, so that its body can be kept without a copy. Frees
    /// this delivery's prefetch slot. Never fails, even if the mailbox was
    /// closed or destroyed meanwhile.
    #[inline(always)]
    pub fn ack(mut self) -> Message<T> {
        let mut msg = self.take();
        self.acker.get().ack(&mut msg, self.slot);
        msg
    }

    /// Gives the message back, as `requeue` says (see [`Requeue`]), and
    /// frees this delivery's prefetch slot. Counted in
    /// [`MailboxStats::nacked`](crate::MailboxStats::nacked). Never fails: if
    /// the mailbox was destroyed or lost its last receiver meanwhile, a
    /// requeued message goes to dead letters (`Destroyed` or `NoReceivers`).
    pub fn nack(mut self, requeue: Requeue) {
        let msg = self.take();
        self.acker.get().nack(msg, requeue, self.slot);
    }

    /// Refuses the message: it goes to dead letters with reason
    /// [`Rejected`](crate::DeadLetterReason::Rejected). The same as
    /// `nack(Requeue::No)`.
    pub fn reject(self) {
        self.nack(Requeue::No);
    }

    /// Whether this is a redelivery (the message was given back before).
    pub fn is_redelivered(&self) -> bool {
        self.header().redeliveries() > 0
    }

    /// The message. Present until an answer consumes the delivery, so this
    /// never fails on a live delivery.
    fn take(&mut self) -> Message<T> {
        match self.msg.take() {
            Some(msg) => msg,
            // Unreachable: answers consume `self`, and only they take.
            None => unreachable!("a delivery is answered once"),
        }
    }
}

impl<T: Send + 'static> Deref for Delivery<'_, T> {
    type Target = Message<T>;

    fn deref(&self) -> &Message<T> {
        match &*self.msg {
            Some(msg) => msg,
            None => unreachable!("a live delivery holds its message"),
        }
    }
}

impl<T: Send + 'static> DerefMut for Delivery<'_, T> {
    fn deref_mut(&mut self) -> &mut Message<T> {
        match &mut *self.msg {
            Some(msg) => msg,
            None => unreachable!("a live delivery holds its message"),
        }
    }
}

impl<T: Send + 'static> Drop for Delivery<'_, T> {
    /// One check when the delivery was answered, so that it inlines into
    /// the answers (after `ack` the compiler knows the message is gone).
    #[inline(always)]
    fn drop(&mut self) {
        if self.msg.is_some() {
            self.requeue_unanswered();
        }
    }
}

impl<T: Send + 'static> Delivery<'_, T> {
    /// Unanswered (the worker returned early, or is unwinding from a
    /// panic): the message goes back, to be processed by someone.
    #[cold]
    #[inline(never)]
    fn requeue_unanswered(&mut self) {
        if let Some(msg) = self.msg.take() {
            self.acker.get().nack(msg, Requeue::Yes, self.slot);
        }
    }
}

impl<T: Send + 'static> fmt::Debug for Delivery<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Delivery");
        if let Some(msg) = &*self.msg {
            d.field("header", msg.header());
        }
        d.finish_non_exhaustive()
    }
}
