//! The FIFO backend: crossbeam-channel underneath, with a close signal and a
//! side queue for redeliveries.
//!
//! crossbeam disconnects a channel only when every sender or every receiver is
//! dropped; a mailbox must also close on demand (`Receiver::close`, and
//! destruction by name) while handles still exist. So the backend keeps both
//! channel ends and two small signal channels whose only senders are dropped
//! on close: a blocked sender waits in a `Select` over the data channel and
//! the close signal (which never carries a message), a blocked receiver over
//! the data channel and the wake channel (which carries requeue tokens, see
//! below); either wakes the moment the queue closes. The signals are made by
//! the first caller that has to wait, so an idle queue (a million idle
//! mailboxes) does not pay for them. Buffered queues wait for readiness and
//! then retry (so a close always wins over room that the close itself freed);
//! rendezvous queues must select a real operation.
//!
//! The fast path is the plain channel: a closed-flag check, then crossbeam's
//! `try_send`; a requeue-count check, then crossbeam's `try_recv`. Only when
//! that fails does a caller spin briefly and then build a `Select`; without
//! the spin, a bounded(1) ping-pong would pay a park/unpark round trip (about
//! 10 us) on every message.
//!
//! # Requeue
//!
//! crossbeam cannot push to the front, so a requeued message goes to a side
//! queue that every pop looks at first. The side queue lives under the lock
//! that already guards the signals (`side`), and its length is kept in the
//! same atomic word as the closed flag (`status`), so the pop fast path pays
//! one load for it and the queue grows by no field. Why this is correct:
//!
//! - **A requeue is seen by every later pop.** `requeue` pushes to the side
//!   queue and increments the count with a SeqCst operation, both under the
//!   lock. A pop loads the count (SeqCst) before crossbeam's `try_recv`; if
//!   the requeue came first in the SeqCst order the pop sees a non-zero count
//!   and takes the lock, which it can only get after the requeue released it,
//!   so it finds the message (unless another pop took it first). The mailbox
//!   relies on this for stragglers (see the `Queue` contract): a SeqCst flag
//!   write before a drain, a SeqCst flag read after a requeue, and at least
//!   one side sees the other.
//! - **A requeue wakes a blocked receiver.** The wake channel (`bounded(1)`)
//!   is made under the same lock as a requeue takes, so the two are ordered.
//!   A requeue before it sends no token, but the receiver making the channel
//!   looks at the side queue *after* making it, before its first wait, and
//!   the lock orders the requeue's write before that look. A requeue after it
//!   sends a token (or finds one already there), and a token keeps the wake
//!   channel ready until a receiver takes it.
//! - **N requeues wake N receivers through one slot.** A woken receiver takes
//!   the token *before* it looks (so the look covers every requeue the token
//!   stood for), and whoever takes a message from the side queue and leaves
//!   more behind sends a token again. So while the side queue holds messages
//!   and a receiver may be waiting, a token is in the channel or a receiver
//!   that took one has still to look.
//! - **Close.** Dropping the wake sender disconnects the wake channel: every
//!   waiting receiver wakes and keeps finding it ready. A requeue is still
//!   accepted after close, and a closed queue's pop hands out the side queue
//!   (then what crossbeam holds) before it reports `Closed`.
//!
//! Senders never wait on the wake channel: a token would wake them for
//! nothing, and a requeue never makes room (it ignores the capacity).
//!
//! # Permits
//!
//! Room held for an async sender's permit lives in `reserve.rs`: while any
//! is held, sends take a gated path that counts it, and blocked senders
//! wait on a third signal channel.

use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

use crossbeam_channel as cb;

mod reserve;
mod wait;

use super::lane::Lane;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{AtomicUsize, Mutex};
use std::sync::atomic::Ordering;

/// `status` bit: the queue is closed.
const CLOSED: usize = 1;

/// `status` bit: the late lane holds messages (see `reserve.rs`).
const LATE: usize = 2;

/// `status` step: one more unit of room held by a permit.
const ONE_RESERVED: usize = 4;

/// `status` bits: the room held by permits (21 bits: up to
/// `Fifo::MAX_CAPACITY`).
const RESERVED_MASK: usize = ((1 << 21) - 1) * ONE_RESERVED;

/// `status` bits that send every push down the gated path.
const GATED: usize = CLOSED | LATE | RESERVED_MASK;

/// `status` step: one more message in the side queue (the count lives above
/// the other fields).
const ONE_REQUEUED: usize = 1 << 23;

/// The most slots an empty side queue keeps allocated: a mailbox that sees a
/// burst of redeliveries gives the memory back once they are all out, one that
/// redelivers now and then does not allocate on every requeue.
const KEEP_REQUEUED: usize = 16;

/// The FIFO queueing discipline: messages leave in the order they arrived.
///
/// Capacity 0 is a true rendezvous (a send completes only when a receiver takes
/// the message), `bounded(n)` holds up to `n`, `unbounded()` grows as needed.
/// Usually built through [`MailboxBuilder::fifo`](crate::MailboxBuilder::fifo);
/// public so that custom backends can wrap it.
///
/// A [requeued](Queue::requeue) message leaves before everything queued (the
/// latest requeue first), whatever the capacity, also after a close.
pub struct Fifo<T> {
    /// The data channel, both ends (kept for the queue's whole life),
    /// carrying compact slots (`lane.rs`).
    lane: Lane<T>,
    /// Bit 0 (`CLOSED`): set once by `close`, checked before every push.
    /// The rest (`status / ONE_REQUEUED`): how many messages the side queue
    /// holds, changed only under `side`'s lock, read by every pop first.
    status: AtomicUsize,
    /// The receiving ends blocked callers wait on besides the data channel.
    /// Made by the first caller that waits; read without a lock after that,
    /// so waiting never writes to the lines the fast path reads. Boxed: an
    /// idle queue pays one pointer for it.
    kit: OnceLock<Box<WaitKit>>,
    /// The requeued messages and the signals' senders, under one lock, so
    /// that a requeue and the making of the wake channel are ordered.
    side: Mutex<Side<T>>,
}

/// What blocked callers wait on besides the data channel.
struct WaitKit {
    /// Never carries a message; disconnected (ready) on close. Blocked
    /// senders wait on it.
    close_rx: cb::Receiver<()>,
    /// Holds at most one token meaning "look at the side queue";
    /// disconnected (ready) on close. Blocked receivers wait on it.
    wake_rx: cb::Receiver<()>,
    /// Holds at most one token meaning "room was freed while permits hold
    /// some"; disconnected (ready) on close. Senders blocked on the gated
    /// path wait on it (see `reserve.rs`).
    room_rx: cb::Receiver<()>,
}

/// What the side lock guards.
struct Side<T> {
    /// The state of the signals' senders.
    signals: Signals,
    /// Requeued messages, the next to leave at the front. Made by the first
    /// requeue: most mailboxes never redeliver.
    // Boxed on purpose: a `VecDeque` is four words even when empty, a box one,
    // and every idle mailbox carries this field.
    #[allow(clippy::box_collection)]
    requeued: Option<Box<VecDeque<Message<T>>>>,
    /// Permits' messages that found crossbeam's channel full, and the sends
    /// queued behind them (see `reserve.rs`). Boxed as `requeued` is.
    #[allow(clippy::box_collection)]
    late: Option<Box<VecDeque<Message<T>>>>,
}

/// The signals' senders: `None` until somebody waits, and again once the
/// queue closed (dropping the senders fires the signals). Which of the two
/// a `None` is, the `CLOSED` bit of `status` says: one word instead of an
/// enum's two, in every idle mailbox.
struct Signals(Option<Box<SignalSenders>>);

/// The senders of the two signal channels.
struct SignalSenders {
    /// The close signal's only sender: dropped on close, never used.
    _close_tx: cb::Sender<()>,
    /// The wake channel's only sender: a token per requeue, dropped on close.
    wake_tx: cb::Sender<()>,
    /// The room channel's only sender (see `reserve.rs`), dropped on close.
    room_tx: cb::Sender<()>,
}

impl Signals {
    /// Leaves a token for a receiver that waits (or is about to wait), if
    /// the wake channel is made. A full channel already holds a token, and
    /// one is enough: whoever takes a requeued message and leaves more behind
    /// passes the wake-up on.
    fn wake_one(&self) {
        if let Some(senders) = &self.0 {
            let _ = senders.wake_tx.try_send(());
        }
    }

    /// Leaves a token for a sender blocked on the gated path, if the
    /// signals are made. One token is enough, for the same reason.
    fn room_one(&self) {
        if let Some(senders) = &self.0 {
            let _ = senders.room_tx.try_send(());
        }
    }
}

impl<T: Send> Fifo<T> {
    /// The largest capacity a bounded FIFO queue takes (2^20 messages);
    /// larger requests are lowered to it. Use `unbounded` beyond that.
    pub const MAX_CAPACITY: usize = 1 << 20;

    /// A FIFO queue holding at most `capacity` messages (0: rendezvous).
    ///
    /// crossbeam allocates every slot of a bounded channel up front, so a
    /// capacity above [`Fifo::MAX_CAPACITY`] is lowered to it rather than
    /// panicking or exhausting memory; `capacity()` reports the real bound.
    pub fn bounded(capacity: usize) -> Fifo<T> {
        Fifo::with_lane(Lane::new(Some(capacity.min(Self::MAX_CAPACITY))))
    }

    /// A FIFO queue without a capacity limit.
    pub fn unbounded() -> Fifo<T> {
        Fifo::with_lane(Lane::new(None))
    }

    /// A process inbox's queue (`None`: unbounded): direct sends carry
    /// their source inline instead of boxed (`lane.rs`).
    pub(crate) fn sourced(capacity: Option<usize>) -> Fifo<T> {
        Fifo::with_lane(Lane::sourced(
            capacity.map(|cap| cap.min(Self::MAX_CAPACITY)),
        ))
    }

    /// A rendezvous queue: every push waits for a pop (same as `bounded(0)`).
    pub fn rendezvous() -> Fifo<T> {
        Fifo::bounded(0)
    }

    fn with_lane(lane: Lane<T>) -> Fifo<T> {
        Fifo {
            lane,
            status: AtomicUsize::new(0),
            kit: OnceLock::new(),
            side: Mutex::new(Side {
                signals: Signals(None),
                requeued: None,
                late: None,
            }),
        }
    }

    /// The signals blocked callers wait on. Made under the same lock as
    /// `close` and `requeue` take, so the kit is either made before the close
    /// (which then drops its senders) or made already disconnected, and a
    /// requeue either sees the wake channel (and leaves a token) or happened
    /// before it was made (and the caller's next look at the side queue,
    /// which the lock orders after the requeue, finds the message).
    fn wait_kit(&self) -> &WaitKit {
        self.kit.get_or_init(|| {
            let (close_tx, close_rx) = cb::bounded(0);
            let (wake_tx, wake_rx) = cb::bounded(1);
            let (room_tx, room_rx) = cb::bounded(1);
            let mut side = self.side.lock();
            // `close` sets CLOSED before it takes the lock to fire the
            // signals, so under the lock either it has not fired them yet
            // (and will fire these) or CLOSED is visible here.
            if self.status.load(Ordering::SeqCst) & CLOSED == 0 {
                side.signals = Signals(Some(Box::new(SignalSenders {
                    _close_tx: close_tx,
                    wake_tx,
                    room_tx,
                })));
            }
            // Otherwise the queue is closed: the senders drop here, and the
            // receivers are disconnected (ready) from the start.
            Box::new(WaitKit {
                close_rx,
                wake_rx,
                room_rx,
            })
        })
    }

    /// Whether the side queue may hold a message: the one extra load of the
    /// pop fast path. SeqCst: see "A requeue is seen by every later pop" in
    /// the module docs.
    #[inline(always)]
    fn maybe_requeued(&self) -> bool {
        self.status.load(Ordering::SeqCst) >= ONE_REQUEUED
    }

    /// Takes the front of the side queue, and passes the wake-up on if more
    /// requeued messages are left (the chain that lets one token slot wake
    /// any number of receivers).
    #[inline(never)]
    fn pop_requeued(&self) -> Option<Message<T>> {
        let mut guard = self.side.lock();
        let side = &mut *guard;
        let queue = side.requeued.as_mut()?;
        let msg = queue.pop_front()?;
        self.status.fetch_sub(ONE_REQUEUED, Ordering::SeqCst);
        if !queue.is_empty() {
            side.signals.wake_one();
        } else if queue.capacity() > KEEP_REQUEUED {
            side.requeued = None;
        }
        Some(msg)
    }

    /// A closed queue looked empty: hand out what is left, requeued messages
    /// first (a requeue is accepted after close), then a message pushed
    /// before the close that landed after the first look.
    #[cold]
    #[inline(never)]
    fn pop_closed(&self) -> Result<Message<T>, PopError> {
        if let Some(msg) = self.pop_requeued() {
            return Ok(msg);
        }
        match self.lane.try_recv() {
            Ok(msg) => Ok(msg),
            Err(_) => self.pop_late().ok_or(PopError::Closed),
        }
    }
}

impl<T: Send> Fifo<T> {
    /// The receive fast path of a mailbox that sits on this queue directly:
    /// the head, if crossbeam has one and nothing is requeued, with the room
    /// it freed passed on. `None` says only "not here": the caller falls
    /// back on [`Queue::pop`], which looks again and sorts out requeued
    /// messages, a late lane, a close and waiting.
    ///
    /// Returning an `Option` rather than `try_pop`'s `Result` keeps the
    /// message out of the error plumbing (callgrind: each layer of
    /// `Result<Message, _>` re-tagging cost a copy of the message).
    #[inline(always)]
    pub(crate) fn take(&self) -> Option<Message<T>> {
        if self.maybe_requeued() {
            return None;
        }
        let msg = self.lane.try_recv().ok()?;
        self.room_freed();
        Some(msg)
    }

    /// After [`take`](Fifo::take) found nothing: whether that is the whole
    /// answer for a receive that does not wait (nothing requeued, no late
    /// lane, not closed), so that it may report `Empty` without
    /// [`Queue::try_pop`] looking at the channel again: on an empty bounded
    /// channel each look is a SeqCst fence in crossbeam, and an async
    /// receive looks twice per poll (before and after registering).
    #[inline(always)]
    pub(crate) fn empty_for_now(&self) -> bool {
        let status = self.status.load(Ordering::SeqCst);
        status & (CLOSED | LATE) == 0 && status < ONE_REQUEUED
    }

    /// [`Queue::try_pop_many`], and whether every message taken is known
    /// to be plain (it travelled lean: no expiry, no receipt), so that a
    /// batch receive need not look at each header again. `false` says
    /// only "not known".
    #[inline(always)]
    pub(crate) fn take_many(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
    ) -> Result<(usize, bool), PopError> {
        // A requeue is looked for before each pop, as `try_pop` does.
        let (n, lean) = self.lane.drain_into(buf, max, || self.maybe_requeued());
        if n > 0 {
            self.room_freed();
        }
        // Full, or crossbeam ran dry with nothing requeued, no late lane
        // and no close: `try_pop` would find nothing either (and another
        // look at crossbeam's tail, which the sender keeps writing, is a
        // cache miss a batch need not pay).
        let special = self.status.load(Ordering::SeqCst) & (CLOSED | LATE) != 0;
        if n == max || !(special || self.maybe_requeued()) {
            return if n > 0 || max == 0 {
                Ok((n, lean))
            } else {
                Err(PopError::Empty)
            };
        }
        match crate::queue::try_pop_each(self, buf, max - n) {
            Ok(more) => Ok((n + more, false)),
            Err(_) if n > 0 => Ok((n, false)),
            Err(err) => Err(err),
        }
    }

    /// The send fast path of a mailbox that sits on this queue directly: a
    /// message without rare header fields into crossbeam's channel, if no
    /// permit, late lane or close gates the queue and there is room. `Err`
    /// hands the message back untouched for [`Queue::push`] (which looks
    /// again and sorts out full, gated and closed), so it carries no reason.
    #[inline(always)]
    pub(crate) fn put(&self, msg: Message<T>) -> Result<(), Message<T>> {
        if self.status.load(Ordering::Acquire) & GATED != 0 {
            return Err(msg);
        }
        self.lane.try_put(msg)
    }
}

impl<T: Send> Queue<T> for Fifo<T> {
    #[inline(always)]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        // One load, as before permits existed: closed, a late lane or held
        // room all take the gated path.
        if self.status.load(Ordering::Acquire) & GATED != 0 {
            return self.push_gated(msg);
        }
        self.lane.try_send(msg).map_err(|err| match err {
            cb::TrySendError::Full(m) => PushError::Full(m),
            cb::TrySendError::Disconnected(m) => PushError::Closed(m),
        })
    }

    #[inline(always)]
    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        match self.try_push(msg) {
            Err(PushError::Full(msg)) => self.push_blocking(msg, deadline),
            done => done,
        }
    }

    #[inline(always)]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        // Requeued messages leave first. One load when there are none.
        if self.maybe_requeued() {
            if let Some(msg) = self.pop_requeued() {
                return Ok(msg);
            }
        }
        match self.lane.try_recv() {
            Ok(msg) => {
                self.room_freed();
                Ok(msg)
            }
            Err(cb::TryRecvError::Empty) => {
                let status = self.status.load(Ordering::Acquire);
                if status & CLOSED != 0 {
                    // Look once more after seeing the flag: a message pushed
                    // before the close may have landed after our first look,
                    // and a requeue is accepted after the close.
                    self.pop_closed()
                } else if status & LATE != 0 {
                    self.pop_late().ok_or(PopError::Empty)
                } else {
                    Err(PopError::Empty)
                }
            }
            // The queue holds `tx` for its whole life, so this does not
            // happen; if it did, the side queue would still be handed out.
            Err(cb::TryRecvError::Disconnected) => self.pop_closed(),
        }
    }

    #[inline(always)]
    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        match self.try_pop() {
            Err(PopError::Empty) => self.pop_blocking(deadline),
            done => done,
        }
    }

    /// `try_pop`'s fast path in a loop, straight into `buf`, and one room
    /// token for the batch (one stands for any amount of room); requeued
    /// messages, a late lane and a close go through `try_pop`.
    fn try_pop_many(&self, buf: &mut Vec<Message<T>>, max: usize) -> Result<usize, PopError> {
        self.take_many(buf, max).map(|(n, _)| n)
    }

    /// Counts the requeued messages too (so a bounded queue may report more
    /// than its capacity).
    fn len(&self) -> usize {
        let status = self.status.load(Ordering::SeqCst);
        let late = if status & LATE != 0 {
            self.late_len()
        } else {
            0
        };
        self.lane.len() + status / ONE_REQUEUED + late
    }

    fn is_empty(&self) -> bool {
        let status = self.status.load(Ordering::SeqCst);
        status < ONE_REQUEUED
            && (status & LATE == 0 || self.late_len() == 0)
            && self.lane.is_empty()
    }

    fn capacity(&self) -> Option<usize> {
        self.lane.capacity()
    }

    fn close(&self) -> bool {
        let first = self.status.fetch_or(CLOSED, Ordering::SeqCst) & CLOSED == 0;
        if first {
            // Dropping the signals' senders (if made) wakes every Select
            // waiting on them; the requeued messages stay, to be handed out.
            // Dropped after the lock is released: disconnecting wakes threads.
            let fired = self.side.lock().signals.0.take();
            drop(fired);
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.status.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Puts the message at the front of the queue: before everything queued,
    /// the latest requeue first. Never blocks, ignores the capacity (also on
    /// a rendezvous queue, where the message waits for the next pop), is
    /// accepted after close, and wakes a receiver blocked in `pop` (see the
    /// module docs for why none sleeps past it).
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let mut side = self.side.lock();
        side.requeued
            .get_or_insert_with(Box::default)
            .push_front(msg);
        // SeqCst and under the lock, after the push: a pop that sees the
        // count takes the lock and finds the message.
        self.status.fetch_add(ONE_REQUEUED, Ordering::SeqCst);
        side.signals.wake_one();
        Ok(())
    }

    /// A FIFO is one level, so `at_most` never stops it: takes the head
    /// (requeued messages first) without blocking. On a rendezvous queue only
    /// requeued messages are held: taking from crossbeam there would pair
    /// with a blocked sender and complete its send with a message nobody
    /// received, so it takes nothing else.
    fn evict_lowest(&self, _at_most: u8) -> Option<Message<T>> {
        if self.maybe_requeued() {
            if let Some(msg) = self.pop_requeued() {
                return Some(msg);
            }
        }
        if self.lane.capacity() == Some(0) {
            return None;
        }
        match self.lane.try_recv() {
            Ok(msg) => Some(msg),
            Err(_) => self.pop_late(),
        }
    }
}

impl<T> fmt::Debug for Fifo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.status.load(Ordering::Relaxed);
        f.debug_struct("Fifo")
            .field("len", &(self.lane.len() + status / ONE_REQUEUED))
            .field("requeued", &(status / ONE_REQUEUED))
            .field("capacity", &self.lane.capacity())
            .field("closed", &(status & CLOSED != 0))
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A non-blocking receive is told "empty" at once only when nothing is
    /// behind the channel: with the channel empty, messages waiting in the
    /// late lane (here restored past the capacity, as a durable mailbox
    /// reopening does) or requeued ones, or a close, send it the general
    /// way, which hands them out.
    #[test]
    fn empty_for_now_only_when_nothing_is_behind_the_channel() {
        let fifo = Fifo::bounded(1);
        assert!(fifo.empty_for_now(), "a new queue is plainly empty");
        fifo.push_restored(Message::new(1u32));
        fifo.push_restored(Message::new(2u32)); // past the capacity: late lane
        assert_eq!(fifo.take().map(Message::into_body), Some(1));
        assert!(fifo.take().is_none(), "the channel is empty");
        assert!(!fifo.empty_for_now(), "the late lane holds a message");
        assert_eq!(fifo.try_pop().ok().map(Message::into_body), Some(2));
        assert!(fifo.empty_for_now());

        assert!(fifo.requeue(Message::new(3u32)).is_ok());
        assert!(
            fifo.take().is_none(),
            "a requeued message is not taken here"
        );
        assert!(!fifo.empty_for_now(), "a requeued message waits");
        assert_eq!(fifo.try_pop().ok().map(Message::into_body), Some(3));
        assert!(fifo.empty_for_now());

        assert!(fifo.close(), "the first close");
        assert!(!fifo.empty_for_now(), "closed: the general way says so");
        assert_eq!(fifo.try_pop().err(), Some(PopError::Closed));
    }
}
