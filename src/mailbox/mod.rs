//! Mailboxes: indirect addressing through cloneable [`Sender`] and [`Receiver`]
//! handles over any [`Queue`] backend.
//!
//! A mailbox is many-to-many: clone the sender for more producers, clone the
//! receiver for competing consumers (each message goes to exactly one of them).
//!
//! # Closing
//!
//! - When every receiver is gone, sends fail with `Closed` and hand the message
//!   back. Messages still queued are dropped and counted in
//!   [`MailboxStats::dropped`]; their receipts say
//!   [`Dropped`](crate::ReceiptState::Dropped). Dropping the last receiver is
//!   the user's own act: call [`Receiver::close`] first to take them back.
//! - When every sender is gone, receivers still get what is queued, then
//!   `Closed`.
//! - [`Receiver::close`] closes explicitly: blocked senders wake with `Closed`,
//!   and the queued messages are returned to the caller.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::error::{
    PopError, PushError, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvAckError,
    TryRecvError, TrySendError,
};
use crate::id::{MessageId, Pid};
use crate::message::{BodyLen, Message, MAX_MESSAGE_ID};
use crate::overflow::Overflow;
use crate::queue::{Fifo, Priority, Queue};
use crate::reason::DeadLetterReason;
use crate::receipt::{Milestone, Receipt, ReceiptState, Tracker};
use crate::signal::{Signal, Watchers};
use crate::stats::{HandleCounters, MailboxStats, Outcomes, RecvCounters, Tally};
use crate::sync::{self, AtomicU64, AtomicU8, AtomicUsize, Condvar, Mutex, OnceLock};
use crate::timer::{self, Due};
use crate::wait::{Confirm, Deadline, Wait};

mod delivery;
mod sink;

pub use delivery::{Delivery, Requeue};
pub(crate) use sink::{Disposal, Sink};

/// The capacity of a mailbox whose builder was not given one: bounded, so that
/// a fast producer meets backpressure instead of exhausting memory.
pub const DEFAULT_CAPACITY: usize = 1024;

/// Message ids are handed to sender handles in blocks of 2^16: a handle numbers
/// its messages from its own block with the same uncontended `fetch_add` that
/// counts its sends, and touches the shared block counter once when it is
/// created and once more per 2^16 sends. Ids are 56-bit, so 2^40 blocks are
/// handed out (a trillion handle creations, or 2^56 messages) before the
/// numbering wraps.
const ID_BLOCK_BITS: u32 = 16;

/// The bits of a handle's packed id block that hold its epoch.
const EPOCH_MASK: u64 = (1 << 24) - 1;

/// Packs a block base (a multiple of 2^16 below 2^56) and an epoch into one word.
fn pack_id_block(base: u64, epoch: u64) -> u64 {
    ((base >> ID_BLOCK_BITS) << 24) | (epoch & EPOCH_MASK)
}

/// The block base of a packed id block.
fn unpack_base(block: u64) -> u64 {
    (block >> 24) << ID_BLOCK_BITS
}

/// `Core::retired` while the mailbox can deliver.
const ALIVE: u8 = 0;
/// `Core::retired` once its last receiver went away.
const NO_RECEIVERS: u8 = 1;
/// `Core::retired` once it was destroyed.
const DESTROYED: u8 = 2;

/// The `Core::retired` code of a reason to retire a mailbox.
fn retired_code(reason: DeadLetterReason) -> u8 {
    match reason {
        DeadLetterReason::Destroyed => DESTROYED,
        _ => NO_RECEIVERS,
    }
}

/// Every 32nd send of a handle samples the queue length for `peak_len`.
const PEAK_SAMPLE_MASK: u64 = 31;

/// The entry point for building mailboxes: `Mailbox::<T>::builder()`.
///
/// # Examples
///
/// ```
/// use postbox::Mailbox;
///
/// // Many-to-many FIFO with backpressure at 1024 queued jobs.
/// let (tx, rx) = Mailbox::<String>::builder().fifo().capacity(1024).build();
/// tx.send("render profile 7".to_string()).unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "render profile 7");
///
/// // Priority levels 0..10, unbounded: the most urgent message leaves first.
/// let (tx, rx) = Mailbox::<&str>::builder().priority(10).unbounded().build();
/// tx.send("free").unwrap();
/// tx.send(postbox::Message::new("paid").priority(9)).unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "paid");
/// ```
pub struct Mailbox<T> {
    _types: PhantomData<fn() -> T>,
}

impl<T: Send> Mailbox<T> {
    /// A builder: FIFO, bounded at [`DEFAULT_CAPACITY`], until told otherwise.
    pub fn builder() -> MailboxBuilder<T> {
        MailboxBuilder::new()
    }
}

impl<T> fmt::Debug for Mailbox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mailbox")
    }
}

/// The longest accepted body, and how to measure a body.
type BodyLimit<T> = (usize, fn(&T) -> usize);

/// Which backend the builder will build.
enum BackendChoice<T> {
    Fifo,
    Priority(u8),
    Custom(Box<dyn Queue<T>>),
}

/// Builds a mailbox: backend, capacity, limits. Get one from
/// [`Mailbox::builder`].
///
/// The builder is one type whatever the backend, so the backend can be chosen
/// at run time.
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, TrySendError};
///
/// let urgent = true;
/// let builder = Mailbox::<Vec<u8>>::builder().capacity(2).max_body_len(4);
/// let builder = if urgent { builder.priority(3) } else { builder.fifo() };
/// let (tx, rx) = builder.build();
///
/// // Too long: refused, message handed back.
/// let err = tx.try_send(vec![0; 5]).unwrap_err();
/// assert!(matches!(err, TrySendError::TooLong(_)));
/// assert_eq!(err.into_inner(), Some(vec![0; 5]));
/// assert_eq!(rx.capacity(), Some(2));
/// ```
pub struct MailboxBuilder<T: Send, K = Mailbox<T>> {
    /// The queueing discipline.
    backend: BackendChoice<T>,
    /// `None` = unbounded; ignored by custom backends (they bring their own).
    capacity: Option<usize>,
    /// The longest accepted body and how to measure one.
    max_body_len: Option<BodyLimit<T>>,
    /// Where undeliverable messages go, if the user named a place.
    dead_letters: Option<Sender<T>>,
    /// The time to live of messages that do not set their own.
    ttl: Option<Duration>,
    /// What a send to a full mailbox does.
    overflow: Overflow,
    /// The most times a message is given back before it is dead-lettered.
    max_redeliveries: Option<u32>,
    /// What `build` makes: a [`Mailbox`] (sender and receiver) or a
    /// [`Port`](crate::Port).
    kind: PhantomData<fn() -> K>,
}

impl<T: Send, K> MailboxBuilder<T, K> {
    pub(crate) fn new() -> MailboxBuilder<T, K> {
        MailboxBuilder {
            backend: BackendChoice::Fifo,
            capacity: Some(DEFAULT_CAPACITY),
            max_body_len: None,
            dead_letters: None,
            ttl: None,
            overflow: Overflow::Block,
            max_redeliveries: None,
            kind: PhantomData,
        }
    }

    /// First in, first out (the default), on crossbeam-channel.
    #[must_use]
    pub fn fifo(mut self) -> Self {
        self.backend = BackendChoice::Fifo;
        self
    }

    /// Priority order with `levels` levels: priorities `0..levels` are
    /// accepted, a higher number is more urgent, equal priorities stay FIFO.
    /// A message outside the levels is refused with `InvalidPriority`.
    /// `levels` 0 is taken as 1.
    #[must_use]
    pub fn priority(mut self, levels: u8) -> Self {
        self.backend = BackendChoice::Priority(levels.max(1));
        self
    }

    /// Your own queueing discipline. The queue's own capacity applies; the
    /// builder's `capacity` / `unbounded` are ignored for it.
    #[must_use]
    pub fn backend<Q: Queue<T> + 'static>(mut self, queue: Q) -> Self {
        self.backend = BackendChoice::Custom(Box::new(queue));
        self
    }

    /// Holds at most `capacity` messages; 0 makes a rendezvous, where a send
    /// completes only when a receiver takes the message. FIFO mailboxes
    /// allocate their slots up front and lower a capacity above
    /// [`Fifo::MAX_CAPACITY`] to it; `capacity()` reports the real bound.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Same as `capacity(0)`: every send meets a receiver.
    #[must_use]
    pub fn rendezvous(self) -> Self {
        self.capacity(0)
    }

    /// No capacity limit: sends never wait for room. Use with care: nothing
    /// then slows a producer that outruns its consumers.
    #[must_use]
    pub fn unbounded(mut self) -> Self {
        self.capacity = None;
        self
    }

    /// Refuses bodies longer than `max` (in the body type's [`BodyLen`] unit)
    /// with `TooLong`, handing the message back.
    #[must_use]
    pub fn max_body_len(mut self, max: usize) -> Self
    where
        T: BodyLen,
    {
        self.max_body_len = Some((max, <T as BodyLen>::body_len));
        self
    }

    /// Sends this mailbox's dead letters to `dead_letters`, another mailbox of
    /// the same type: every message it cannot or must not deliver (rejected by
    /// a consumer, expired, redelivered too often, evicted by an
    /// [`overflow`](MailboxBuilder::overflow) policy, or left queued when the
    /// mailbox is destroyed or its last receiver goes away; see
    /// [`DeadLetterReason`]). Without it, an office mailbox uses the office's
    /// [`DeadLetters`](crate::DeadLetters) and a standalone one drops and
    /// counts them ([`MailboxStats::dropped`](crate::MailboxStats::dropped)).
    /// A full or closed dead-letter mailbox is never waited for: the message
    /// is then dropped and counted.
    ///
    /// The typed dead-letter mailbox receives the message itself, not the
    /// reason (per-reason counts are in
    /// [`MailboxStats::dead_letters`](crate::MailboxStats::dead_letters));
    /// its expiry is taken off, so it is not expired a second time there.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Port;
    ///
    /// let (dead_tx, dead_rx) = postbox::Mailbox::<u32>::builder().unbounded().build();
    /// let (tx, port) = Port::<u32>::builder().dead_letters(dead_tx).build();
    /// tx.send(7).unwrap();
    /// drop(port); // destroys the port: 7 goes to dead letters
    /// assert_eq!(dead_rx.try_recv().unwrap().into_body(), 7);
    /// ```
    #[must_use]
    pub fn dead_letters(mut self, dead_letters: Sender<T>) -> Self {
        self.dead_letters = Some(dead_letters);
        self
    }

    /// Gives every message that does not set its own
    /// ([`Message::ttl`](crate::Message::ttl)) a time to live of `ttl` from
    /// its send. A message whose time runs out before a receiver takes it is
    /// never delivered: it goes to dead letters with reason
    /// [`Expired`](DeadLetterReason::Expired) when a receiver meets it (expiry
    /// is checked on receive, as RabbitMQ checks it at the head of a queue).
    /// Each message then carries its expiry in its header's boxed part: one
    /// allocation per send.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{DeadLetterReason, Mailbox, Message, TryRecvError};
    /// use std::time::Duration;
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().ttl(Duration::ZERO).build();
    /// tx.send("stale at once").unwrap();
    /// tx.send(Message::new("fresh").ttl(Duration::from_secs(60))).unwrap();
    /// assert_eq!(rx.recv().unwrap().into_body(), "fresh");
    /// assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    /// assert_eq!(rx.stats().dead_letters.get(DeadLetterReason::Expired), 1);
    /// ```
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// What a send does when the mailbox is full (default
    /// [`Overflow::Block`]: wait for room).
    #[must_use]
    pub fn overflow(mut self, policy: Overflow) -> Self {
        self.overflow = policy;
        self
    }

    /// Gives a message back at most `n` times: it is delivered at most
    /// `n + 1` times (its header's `redeliveries()` counts `0..=n`), and a
    /// consumer giving it back once more sends it to dead letters with reason
    /// [`MaxRedeliveries`](DeadLetterReason::MaxRedeliveries). A poison message
    /// must not loop forever. Default: no limit.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{DeadLetterReason, Mailbox, Requeue};
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().max_redeliveries(1).build();
    /// tx.send("poison").unwrap();
    /// let first = rx.recv_ack().unwrap();
    /// assert_eq!(first.header().redeliveries(), 0);
    /// first.nack(Requeue::Yes);
    /// let second = rx.recv_ack().unwrap();
    /// assert_eq!(second.header().redeliveries(), 1);
    /// second.nack(Requeue::Yes); // one time too many
    /// assert!(rx.try_recv().is_err());
    /// assert_eq!(rx.stats().dead_letters.get(DeadLetterReason::MaxRedeliveries), 1);
    /// ```
    #[must_use]
    pub fn max_redeliveries(mut self, n: u32) -> Self {
        self.max_redeliveries = Some(n);
        self
    }

    /// Builds the mailbox, sending dead letters to the user's sender if one
    /// was named and to `fallback` otherwise.
    pub(crate) fn build_with(self, fallback: Sink<T>) -> (Sender<T>, Receiver<T>) {
        let sink = match self.dead_letters {
            Some(tx) => Sink::Typed(tx),
            None => fallback,
        };
        let queue = match self.backend {
            BackendChoice::Fifo => match self.capacity {
                Some(cap) => Backend::Fifo(Fifo::bounded(cap)),
                None => Backend::Fifo(Fifo::unbounded()),
            },
            BackendChoice::Priority(levels) => {
                Backend::Priority(Box::new(Priority::new(levels, self.capacity)))
            }
            BackendChoice::Custom(queue) => Backend::Custom(queue),
        };
        let levels = queue.priority_levels();
        let core = Arc::new(Core {
            queue,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            max_body_len: self.max_body_len,
            levels,
            ttl: self.ttl,
            overflow: self.overflow,
            max_redeliveries: self.max_redeliveries,
            retired: AtomicU8::new(ALIVE),
            next_id_block: AtomicU64::new(1 << ID_BLOCK_BITS),
            sent: Tally::default(),
            received: Tally::default(),
            peak_len: AtomicUsize::new(0),
            cold: OnceLock::new(),
            sink,
            watchers: Watchers::default(),
        });
        let sender = Sender::attach(Arc::clone(&core));
        let receiver = Receiver::attach(core);
        (sender, receiver)
    }
}

impl<T: Send> MailboxBuilder<T, Mailbox<T>> {
    /// Builds the mailbox and returns its first sender and receiver.
    pub fn build(self) -> (Sender<T>, Receiver<T>) {
        self.build_with(Sink::Drop)
    }
}

impl<T: Send, K> fmt::Debug for MailboxBuilder<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.backend {
            BackendChoice::Fifo => "fifo".to_string(),
            BackendChoice::Priority(levels) => format!("priority({levels})"),
            BackendChoice::Custom(_) => "custom".to_string(),
        };
        f.debug_struct("MailboxBuilder")
            .field("backend", &backend)
            .field("capacity", &self.capacity)
            .field("max_body_len", &self.max_body_len.map(|(max, _)| max))
            .field("dead_letters", &self.dead_letters.is_some())
            .field("ttl", &self.ttl)
            .field("overflow", &self.overflow)
            .field("max_redeliveries", &self.max_redeliveries)
            .finish()
    }
}

/// The built-in backends are matched statically, so that the FIFO fast path is
/// crossbeam's own code, inlined; only custom backends pay a virtual call.
// The priority backend is boxed: inline, its cache-padded lock would make
// every mailbox's core 900 bytes (FIFO ones too), which matters for a million
// idle mailboxes; the extra pointer is a load that stays in cache.
enum Backend<T: Send> {
    Fifo(Fifo<T>),
    Priority(Box<Priority<T>>),
    Custom(Box<dyn Queue<T>>),
}

macro_rules! dispatch {
    ($backend:expr, $q:ident => $body:expr) => {
        match $backend {
            Backend::Fifo($q) => $body,
            Backend::Priority($q) => $body,
            Backend::Custom($q) => $body,
        }
    };
}

impl<T: Send> Backend<T> {
    #[inline(always)]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        dispatch!(self, q => q.try_push(msg))
    }

    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        dispatch!(self, q => q.push(msg, deadline))
    }

    #[inline]
    fn pop(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        dispatch!(self, q => match deadline {
            Deadline::Now => q.try_pop(),
            Deadline::At(at) => q.pop(Some(at)),
            Deadline::Never => q.pop(None),
        })
    }

    fn len(&self) -> usize {
        dispatch!(self, q => q.len())
    }

    fn capacity(&self) -> Option<usize> {
        dispatch!(self, q => q.capacity())
    }

    fn close(&self) -> bool {
        dispatch!(self, q => q.close())
    }

    fn is_closed(&self) -> bool {
        dispatch!(self, q => q.is_closed())
    }

    fn priority_levels(&self) -> Option<u8> {
        dispatch!(self, q => q.priority_levels())
    }

    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        dispatch!(self, q => q.requeue(msg))
    }

    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        dispatch!(self, q => q.evict_lowest(at_most))
    }
}

/// What all handles of one mailbox share.
struct Core<T: Send> {
    /// The messages.
    queue: Backend<T>,
    /// Live sender handles; the last one to go closes the mailbox.
    senders: AtomicUsize,
    /// Live receiver handles; the last one to go closes the mailbox and drops
    /// what is left (counted).
    receivers: AtomicUsize,
    /// The longest accepted body and how to measure one.
    max_body_len: Option<BodyLimit<T>>,
    /// `Some(n)`: priorities must be below `n`.
    levels: Option<u8>,
    /// The time to live of messages that do not set their own.
    ttl: Option<Duration>,
    /// What a send to a full mailbox does.
    overflow: Overflow,
    /// The most times a message is given back before it is dead-lettered.
    max_redeliveries: Option<u32>,
    /// Why the mailbox can no longer deliver (`ALIVE` while it can): set by
    /// `retire` before it closes and drains the queue, and read by every
    /// successful send (next to `levels`, which every send reads too) to
    /// catch a push that landed after the drain.
    retired: AtomicU8,
    /// The start of the next unclaimed block of message ids.
    next_id_block: AtomicU64,
    /// Messages accepted, counted per sender handle.
    sent: Tally<HandleCounters>,
    /// Messages taken and answered, counted per receiver handle.
    received: Tally<RecvCounters>,
    /// The highest sampled queue length.
    peak_len: AtomicUsize,
    /// What the hot paths never touch (dead letters, nacks, delayed
    /// requeues), made on first use so that an idle mailbox does not pay
    /// for it.
    cold: OnceLock<Box<Cold<T>>>,
    /// Where undeliverable messages go.
    sink: Sink<T>,
    /// Selects waiting on this mailbox.
    watchers: Watchers,
}

/// The rarely used part of a mailbox's state.
struct Cold<T> {
    /// Where its messages ended, away from the hot paths.
    outcomes: Outcomes,
    /// Messages waiting for a delayed requeue, with their due times.
    delayed: Mutex<Vec<(Instant, Message<T>)>>,
    /// Woken when delayed messages come back (or are settled otherwise), for
    /// receivers of a closed mailbox that wait for them.
    came_back: Condvar,
}

impl<T> Cold<T> {
    /// Counts out `count` delayed messages that were settled (back in the
    /// queue, or dead letters), and wakes receivers waiting for them. Under
    /// the lock, so that a receiver of a closed mailbox checking the queue
    /// and this count together never misses the change.
    fn count_out_delayed(&self, count: u64) {
        if count > 0 {
            let guard = self.delayed.lock();
            self.outcomes.delayed.fetch_sub(count, Ordering::Relaxed);
            drop(guard);
            self.came_back.notify_all();
        }
    }
}

impl<T: Send> Core<T> {
    /// The rarely used state, made on first use.
    fn cold(&self) -> &Cold<T> {
        self.cold.get_or_init(|| {
            Box::new(Cold {
                outcomes: Outcomes::default(),
                delayed: Mutex::new(Vec::new()),
                came_back: Condvar::new(),
            })
        })
    }

    /// Claims a fresh block of message ids. Block 0 is never handed out, so
    /// no message gets the id `MessageId::UNSENT`.
    fn claim_id_block(&self) -> u64 {
        loop {
            let block = self
                .next_id_block
                .fetch_add(1 << ID_BLOCK_BITS, Ordering::Relaxed)
                & MAX_MESSAGE_ID;
            // After the numbering wraps, skip block 0 again.
            if block != 0 {
                return block;
            }
        }
    }

    /// The id of the handle's `seq`-th message: its block base plus the offset.
    #[inline(always)]
    fn id_for(&self, local: &HandleCounters, seq: u64) -> MessageId {
        let offset = seq & ((1 << ID_BLOCK_BITS) - 1);
        let epoch = seq >> ID_BLOCK_BITS;
        let block = local.id_block.load(Ordering::Acquire);
        let base = if block & EPOCH_MASK == epoch & EPOCH_MASK {
            unpack_base(block)
        } else {
            self.next_id_base(local, epoch)
        };
        MessageId::from_raw(base.wrapping_add(offset) & MAX_MESSAGE_ID)
    }

    /// Moves a handle to its next block of ids: once per 2^16 sends.
    #[cold]
    #[inline(never)]
    fn next_id_base(&self, local: &HandleCounters, epoch: u64) -> u64 {
        let mut current = local.id_epoch.lock();
        if epoch > *current {
            let base = self.claim_id_block();
            *current = epoch;
            local
                .id_block
                .store(pack_id_block(base, epoch), Ordering::Release);
            base
        } else if epoch == *current {
            // Another thread sharing the handle moved it first.
            unpack_base(local.id_block.load(Ordering::Acquire))
        } else {
            // A thread sharing this handle was preempted while others moved
            // on: give it a block of its own (ids stay unique; the rest of that
            // block goes unused).
            self.claim_id_block()
        }
    }

    /// Pushes without waiting if there is room; otherwise counts, on the
    /// sending handle's own counters, that the mailbox was found full
    /// (backpressure made visible) and waits as told.
    #[inline(always)]
    fn push(
        &self,
        msg: Message<T>,
        deadline: Deadline,
        local: &HandleCounters,
    ) -> Result<(), PushError<T>> {
        match self.queue.try_push(msg) {
            Err(PushError::Full(msg)) => self.push_when_full(msg, deadline, local),
            done => done,
        }
    }

    #[inline(never)]
    fn push_when_full(
        &self,
        msg: Message<T>,
        deadline: Deadline,
        local: &HandleCounters,
    ) -> Result<(), PushError<T>> {
        local.found_full.fetch_add(1, Ordering::Relaxed);
        match self.overflow {
            Overflow::Block => {}
            Overflow::Reject => return Err(PushError::Full(msg)),
            Overflow::DropOldest | Overflow::DropLowest => return self.push_evicting(msg),
        }
        let at = match deadline {
            Deadline::Now => return Err(PushError::Full(msg)),
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        };
        // A rendezvous sender is about to wait for a receiver: tell selects
        // watching this mailbox, so they come and take the message.
        self.watchers.notify();
        // The sender counted this message when it stamped it; while it waits
        // for room it is not sent yet, so statistics subtract it.
        local.waiting.fetch_add(1, Ordering::Relaxed);
        let pushed = self.queue.push(msg, at);
        local.waiting.fetch_sub(1, Ordering::Relaxed);
        pushed
    }

    /// Makes room by evicting to dead letters as the overflow policy says,
    /// then pushes; never waits. Evicts until the message fits: one message
    /// out for one in, unless requeued deliveries (which ignore the capacity)
    /// put the mailbox over it; then it is brought back to its capacity, as
    /// RabbitMQ's `drop-head` keeps a queue at its length limit. Racing
    /// senders each evict only while the queue is full, so together they
    /// never take out more than that.
    fn push_evicting(&self, mut msg: Message<T>) -> Result<(), PushError<T>> {
        if self.queue.capacity() == Some(0) {
            // A rendezvous queues nothing: there is nothing to evict.
            return Err(PushError::Full(msg));
        }
        loop {
            let evicted = match self.overflow {
                Overflow::DropLowest => self.queue.evict_lowest(msg.header().priority()),
                _ => self.queue.pop(Deadline::Now).ok(),
            };
            let Some(evicted) = evicted else {
                // Nothing less urgent to evict (DropLowest), or the queue
                // emptied meanwhile: one more try, then refuse.
                return self.queue.try_push(msg);
            };
            msg = match self.queue.try_push(msg) {
                Err(PushError::Closed(msg)) => {
                    // Closed meanwhile: the eviction made room for nothing.
                    // The evicted message goes back to where it was, for a
                    // receiver to drain or the close to settle with its own
                    // reason.
                    if let Err(evicted) = self.return_to_queue(evicted) {
                        self.discard(evicted, DeadLetterReason::Overflow);
                    }
                    return Err(PushError::Closed(msg));
                }
                pushed => {
                    // An evicted message whose time ran out anyway is
                    // labelled for that.
                    let reason = if self.outlived(&evicted) {
                        DeadLetterReason::Expired
                    } else {
                        DeadLetterReason::Overflow
                    };
                    self.discard(evicted, reason);
                    match pushed {
                        Err(PushError::Full(msg)) => msg,
                        done => return done,
                    }
                }
            };
        }
    }

    /// The limit a message breaks, if any.
    #[inline]
    fn violated_limit(&self, msg: &Message<T>) -> Option<Limit> {
        if let Some((max, len_of)) = self.max_body_len {
            if len_of(msg.body()) > max {
                return Some(Limit::BodyLen);
            }
        }
        match self.levels {
            Some(levels) if msg.header().priority() >= levels => Some(Limit::Priority),
            _ => None,
        }
    }

    #[inline(never)]
    fn sample_peak(&self) {
        let len = self.queue.len();
        // Read before writing: a write to this shared line on every sample
        // would bounce it between producer cores for nothing.
        if len > self.peak_len.load(Ordering::Relaxed) {
            self.peak_len.fetch_max(len, Ordering::Relaxed);
        }
    }

    /// Sends one message that cannot be delivered where dead letters go, and
    /// counts it.
    fn discard(&self, msg: Message<T>, reason: DeadLetterReason) {
        let placed = matches!(self.sink.dispose(msg, reason), Disposal::DeadLettered);
        self.cold().outcomes.dead_letter(reason, placed);
    }

    /// Whether a message has outlived its time to live; such a message goes
    /// to dead letters instead of out. Inline, only the branch on the boxed
    /// header part (which every expiry lives in): the clock is read out of
    /// line, for messages that have one.
    #[inline(always)]
    fn outlived(&self, msg: &Message<T>) -> bool {
        msg.header().has_ext() && self.expired(msg)
    }

    #[cold]
    #[inline(never)]
    fn expired(&self, msg: &Message<T>) -> bool {
        msg.header().is_expired_at(Instant::now())
    }

    /// Puts a message a consumer gave back into the queue, at the front of
    /// its level, or to dead letters if it has used up its redeliveries.
    fn requeue(&self, msg: Message<T>) {
        if let Some(msg) = self.count_redelivery(msg) {
            self.put_back(msg);
        }
    }

    /// Counts a redelivery on the message's header and marks its receipt
    /// `Requeued`; past the limit, sends it to dead letters instead (`None`).
    fn count_redelivery(&self, mut msg: Message<T>) -> Option<Message<T>> {
        if self
            .max_redeliveries
            .is_some_and(|max| msg.header().redeliveries() >= max)
        {
            self.discard(msg, DeadLetterReason::MaxRedeliveries);
            return None;
        }
        msg.header_mut().add_redelivery();
        if let Some(tracker) = msg.header().tracker() {
            tracker.advance(ReceiptState::Requeued);
        }
        self.cold()
            .outcomes
            .redelivered
            .fetch_add(1, Ordering::Relaxed);
        Some(msg)
    }

    /// Requeues into the backend, settling a message that lands in a retired
    /// mailbox as `deliver` does, and dead-lettering one the backend refuses.
    fn put_back(&self, msg: Message<T>) {
        if let Err(msg) = self.return_to_queue(msg) {
            // Only a custom backend refuses (the built-in ones take a
            // message back whatever their capacity or state). It was
            // counted as redelivered, but it will not be.
            self.cold()
                .outcomes
                .redelivered
                .fetch_sub(1, Ordering::Relaxed);
            self.discard(msg, DeadLetterReason::Overflow);
        }
    }

    /// Puts a message back at the front of its level and tells whoever
    /// waits for one; hands it back if the backend refuses.
    fn return_to_queue(&self, msg: Message<T>) -> Result<(), Message<T>> {
        match self.queue.requeue(msg) {
            Ok(()) => {
                if self.retired.load(Ordering::SeqCst) != ALIVE {
                    self.sweep_retired();
                }
                self.watchers.notify();
                // A receiver of a closed mailbox may be waiting for delayed
                // messages (`wait_for_delayed`), on `came_back`, not on the
                // queue: tell it there is a message to take now. Through the
                // lock it checks under, so that it either sees the message
                // or is already waiting when notified.
                if let Some(cold) = self.cold.get() {
                    drop(cold.delayed.lock());
                    cold.came_back.notify_all();
                }
                Ok(())
            }
            Err(err) => Err(err.into_message()),
        }
    }

    /// Holds a message given back with a delay, and asks the timer to bring
    /// it back at `at`.
    fn requeue_after(self: &Arc<Self>, msg: Message<T>, delay: Duration)
    where
        T: 'static,
    {
        let Some(msg) = self.count_redelivery(msg) else {
            return;
        };
        let Some(at) = Instant::now().checked_add(delay) else {
            // Too far to represent: it would never come back. Keep it
            // reachable instead of parking it forever.
            self.put_back(msg);
            return;
        };
        let cold = self.cold();
        {
            // Counted under the lock that publishes it: whoever takes it off
            // the list (the timer's `bring_back`, a retirement's sweep) and
            // subtracts it must find it counted, or `delayed` wraps below
            // zero, and a receiver waiting for it reads the wrapped count.
            let mut delayed = cold.delayed.lock();
            delayed.push((at, msg));
            cold.outcomes.delayed.fetch_add(1, Ordering::Relaxed);
        }
        // A retirement that drained the delayed list before this push is
        // seen here (the same lock orders them): settle the message now.
        if self.retired.load(Ordering::SeqCst) != ALIVE {
            self.sweep_retired();
            return;
        }
        let me: Weak<dyn Due> = Arc::downgrade(self) as Weak<dyn Due>;
        if !timer::schedule(at, me) {
            // No timer thread could be started: redeliver now rather than
            // never.
            self.bring_back(None);
        }
    }

    /// Moves delayed messages due by `now` (all of them for `None`) back into
    /// the queue, and wakes receivers waiting for them.
    fn bring_back(&self, now: Option<Instant>) {
        let Some(cold) = self.cold.get() else {
            return;
        };
        let mut due = {
            let mut delayed = cold.delayed.lock();
            let mut due = Vec::new();
            let mut i = 0;
            while i < delayed.len() {
                if now.map_or(true, |now| delayed[i].0 <= now) {
                    due.push(delayed.swap_remove(i));
                } else {
                    i += 1;
                }
            }
            due
        };
        // Each goes to the front of its level: put the latest-due back first,
        // so that the earliest-due leaves first.
        due.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
        let count = due.len() as u64;
        for (_, msg) in due {
            self.put_back(msg);
        }
        // Counted out only once back in the queue, so that `delayed + len`
        // never shows the message missing.
        cold.count_out_delayed(count);
    }

    /// A receiver found the mailbox closed and empty. If delayed messages
    /// will still come back, waits (until `deadline`) for them: `Ok` means
    /// look again. `Closed` means nothing will ever come.
    #[cold]
    #[inline(never)]
    fn wait_for_delayed(&self, deadline: Deadline) -> Result<(), PopError> {
        let Some(cold) = self.cold.get() else {
            return Err(PopError::Closed);
        };
        let mut delayed = cold.delayed.lock();
        loop {
            // Something to take now (a delayed message back, or a delivery
            // given back at once): look again.
            if self.queue.len() > 0 {
                return Ok(());
            }
            if cold.outcomes.delayed.load(Ordering::Relaxed) == 0 {
                return Err(PopError::Closed);
            }
            let at = match deadline {
                Deadline::Now => return Err(PopError::Empty),
                Deadline::At(at) if Instant::now() >= at => return Err(PopError::Timeout),
                Deadline::At(at) => Some(at),
                Deadline::Never => None,
            };
            (delayed, _) = cold.came_back.wait_until(delayed, at);
        }
    }

    /// Destroys the mailbox: closes it, so that every blocked and later sender
    /// and receiver gets `Closed` at once, and sends what was queued to dead
    /// letters. Idempotent.
    fn destroy(&self) {
        self.retire(DeadLetterReason::Destroyed);
    }

    /// Ends the mailbox's life for good (destroyed, or its last receiver
    /// gone): closes it and sends what is queued to dead letters (or drops
    /// and counts it). The first reason sticks.
    ///
    /// A push can land after the drain (the FIFO backend checks its closed
    /// flag, then pushes). The flag is set, SeqCst, before the close and the
    /// drain, and every sender reads it, SeqCst, after its push (see
    /// `Sender::deliver`): either the drain sees the message or the sender
    /// sees the flag and sweeps the queue itself. For the built-in backends
    /// the push is a SeqCst RMW in crossbeam (whose receive reads the queue
    /// after a SeqCst fence) or happens under the lock the drain takes.
    fn retire(&self, reason: DeadLetterReason) {
        let _ = self.retired.compare_exchange(
            ALIVE,
            retired_code(reason),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.close();
        self.sweep_retired();
    }

    /// Sends everything queued in a retired mailbox where dead letters go,
    /// under the reason it was retired for.
    #[cold]
    #[inline(never)]
    fn sweep_retired(&self) {
        let reason = match self.retired.load(Ordering::SeqCst) {
            DESTROYED => DeadLetterReason::Destroyed,
            _ => DeadLetterReason::NoReceivers,
        };
        while let Ok(msg) = self.queue.pop(Deadline::Now) {
            self.discard(msg, reason);
        }
        // Messages waiting for a delayed requeue cannot come back either.
        if let Some(cold) = self.cold.get() {
            let delayed = std::mem::take(&mut *cold.delayed.lock());
            let count = delayed.len() as u64;
            for (_, msg) in delayed {
                self.discard(msg, reason);
            }
            cold.count_out_delayed(count);
        }
    }

    /// Whether the mailbox is closed with nothing left to deliver: nothing
    /// queued, and no delayed requeue still to come back.
    fn drained(&self) -> bool {
        // Closed first: a message pushed before the close is in `len` then.
        self.queue.is_closed()
            && self.queue.len() == 0
            && self.cold.get().map_or(true, |cold| {
                cold.outcomes.delayed.load(Ordering::SeqCst) == 0
            })
    }

    /// Closes the queue and tells waiting selects (and receives waiting for a
    /// prefetch slot).
    fn close(&self) {
        self.queue.close();
        self.watchers.notify();
    }

    fn stats(&self) -> MailboxStats {
        // Read what leaves the mailbox before what enters it, so that a
        // snapshot taken while messages flow never shows more out than in
        // (a message can be taken in the instant between a blocked sender's
        // push and its leaving the waiting count, hence the max).
        let recv = self.received.totals();
        let (dropped, dead_lettered, dead_letters, redelivered, delayed) = match self.cold.get() {
            Some(cold) => (
                cold.outcomes.dropped.load(Ordering::Relaxed),
                cold.outcomes.dead_lettered.load(Ordering::Relaxed),
                cold.outcomes.dead_letters(),
                cold.outcomes.redelivered.load(Ordering::Relaxed),
                cold.outcomes.delayed.load(Ordering::Relaxed),
            ),
            None => Default::default(),
        };
        let received = recv.count.wrapping_add(recv.acked);
        let unacked = recv
            .delivered
            .saturating_sub(recv.acked)
            .saturating_sub(recv.nacked);
        let len = self.queue.len();
        let sent = self.sent.totals();
        let out = received
            .saturating_add(dropped)
            .saturating_add(dead_lettered)
            .saturating_add(unacked)
            .saturating_add(delayed);
        MailboxStats {
            // Requeued messages can make `len` count one twice for an
            // instant; `sent` is only raised to what provably left.
            sent: sent.count.max(out),
            received,
            len,
            // The length now is a sample too, kept like the others: a
            // mailbox read before its first sampled send reports a true
            // peak, and a later read never reports a lower one.
            peak_len: self.peak_len.fetch_max(len, Ordering::Relaxed).max(len),
            found_full: sent.found_full,
            dropped,
            dead_lettered,
            dead_letters,
            acked: recv.acked,
            nacked: recv.nacked,
            redelivered,
            unacked,
            delayed,
        }
    }
}

impl<T: Send + 'static> Due for Core<T> {
    fn fire(&self, now: Instant) {
        self.bring_back(Some(now));
    }
}

impl<T: Send> Drop for Core<T> {
    fn drop(&mut self) {
        // Every handle is gone: whatever a custom backend still holds goes
        // where dead letters go.
        self.retire(DeadLetterReason::NoReceivers);
    }
}

/// The sending half of a mailbox. Clone it for more producers.
///
/// Every send accepts a plain body or a [`Message`]. The mailbox gives the
/// message a fresh id (unique within the mailbox) and clears any source: only
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
    fn attach(core: Arc<Core<T>>) -> Sender<T> {
        let local = core
            .sent
            .register(HandleCounters::new(pack_id_block(core.claim_id_block(), 0)));
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
        if let Some(limit) = self.core.violated_limit(&msg) {
            return Err(limit.refuse(msg));
        }
        let seq = self.stamp(&mut msg);
        if let Some(pid) = source {
            msg.header_mut().set_source(pid);
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
    fn stamp(&self, msg: &mut Message<T>) -> u64 {
        let seq = self.local.bump();
        msg.header_mut().stamp(self.core.id_for(&self.local, seq));
        if let Some(ttl) = self.core.ttl {
            msg.header_mut().default_ttl(ttl);
        }
        seq
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
                // A push that landed after the mailbox was retired (destroyed,
                // or its last receiver gone) and drained: settle it now, so
                // it goes to dead letters rather than sitting where nobody,
                // or a receiver of a destroyed mailbox, would take it (see
                // `Core::retire`). One load of a line every send reads anyway.
                if self.core.retired.load(Ordering::SeqCst) != ALIVE {
                    self.core.sweep_retired();
                }
                self.core.watchers.notify();
                if seq & PEAK_SAMPLE_MASK == 0 {
                    self.core.sample_peak();
                }
                Ok(())
            }
            Err(err) => Err(self.refused(err)),
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
        let receipt = track(&mut msg);
        // A push racing with the mailbox's retirement is settled by `deliver`,
        // so a receipt never waits on a message nobody can take.
        self.deliver(msg, seq, deadline)?;
        Ok(receipt)
    }

    /// Turns a backend refusal into the caller's error, taking any receipt
    /// link off the message handed back (that send never happened).
    #[cold]
    #[inline(never)]
    fn refused(&self, err: PushError<T>) -> SendTimeoutError<T> {
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        match err {
            PushError::Full(m) => SendTimeoutError::Full(untracked(m)),
            PushError::Timeout(m) => SendTimeoutError::Timeout(untracked(m)),
            PushError::Closed(m) => SendTimeoutError::Closed(untracked(m)),
        }
    }

    /// Sends, waiting as long as it takes for room (backpressure).
    ///
    /// Fails, handing the message back, with `Closed` if the mailbox is or
    /// becomes closed while waiting, `Full` if its [`Overflow`] policy
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
        self.core.close();
    }

    /// Destroys the mailbox (see `Core::destroy`).
    pub(crate) fn destroy(&self) {
        self.core.destroy();
    }
}

/// A mailbox limit that a message can break.
#[derive(Clone, Copy, Debug)]
enum Limit {
    /// `max_body_len`.
    BodyLen,
    /// The priority levels.
    Priority,
}

impl Limit {
    /// The error that refuses `msg` for breaking this limit.
    #[cold]
    fn refuse<T>(self, msg: Message<T>) -> SendTimeoutError<T> {
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
        SendTimeoutError::Unconfirmed(r) => SendError::Unconfirmed(r),
        // Without a deadline, Full only comes from an overflow policy that
        // refuses rather than waits.
        SendTimeoutError::Full(m) => SendError::Full(m),
        // Without a deadline the backend never reports Timeout.
        SendTimeoutError::Closed(m) | SendTimeoutError::Timeout(m) => SendError::Closed(m),
    }
}

/// Attaches a receipt to a stamped message.
fn track<T>(msg: &mut Message<T>) -> Receipt {
    let tracker = Arc::new(Tracker::new(msg.header().id()));
    msg.header_mut().set_tracker(Arc::clone(&tracker));
    Receipt::new(tracker)
}

/// Takes any receipt link and the id off a message handed back to its sender.
fn untracked<T>(mut msg: Message<T>) -> Message<T> {
    let header = msg.header_mut();
    drop(header.take_tracker());
    // The mailbox did not accept it: it goes back unsent, as it came.
    header.stamp(MessageId::UNSENT);
    msg
}

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
        self.core.sent.retire(&self.local);
        if self.core.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Last sender: receivers drain what is queued, then see Closed.
            self.core.close();
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

/// The receiving half of a mailbox. Clone it for competing consumers: each
/// message goes to exactly one receiver.
///
/// | method | waits for a message | returns |
/// | --- | --- | --- |
/// | [`recv`](Receiver::recv) | yes | `RecvError` (closed and empty) |
/// | [`try_recv`](Receiver::try_recv) | no | `TryRecvError` (`Empty` / `Closed`) |
/// | [`recv_timeout`](Receiver::recv_timeout) / [`recv_deadline`](Receiver::recv_deadline) | until then | `RecvTimeoutError` |
/// | [`recv_with`](Receiver::recv_with) | as told | `RecvTimeoutError` |
///
/// The test for arrival on this side: [`is_empty`](Receiver::is_empty),
/// [`len`](Receiver::len), [`try_recv`](Receiver::try_recv).
///
/// # Examples
///
/// ```
/// use postbox::{Mailbox, TryRecvError};
///
/// let (tx, rx) = Mailbox::<u32>::builder().build();
/// assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
/// tx.send(1).unwrap();
/// tx.send(2).unwrap();
/// drop(tx);
/// // Senders gone: what is queued is still delivered, then Closed.
/// let bodies: Vec<u32> = rx.iter().map(|m| m.into_body()).collect();
/// assert_eq!(bodies, [1, 2]);
/// assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
/// ```
pub struct Receiver<T: Send> {
    /// The shared mailbox.
    core: Arc<Core<T>>,
    /// This handle's receive counts.
    local: Arc<RecvCounters>,
    /// What this handle's deliveries answer through (shared with them, so a
    /// delivery can outlive the handle). Made by the first acknowledged
    /// receive or prefetch setting: a handle that only uses plain receives
    /// (a million idle mailboxes) does not pay for it.
    acker: OnceLock<sync::Arc<Acker<T>>>,
}

impl<T: Send> Receiver<T> {
    fn attach(core: Arc<Core<T>>) -> Receiver<T> {
        let local = core.received.register(RecvCounters::default());
        Receiver {
            core,
            local,
            acker: OnceLock::new(),
        }
    }

    /// The handle's answering side, made on first use.
    fn acker(&self) -> &sync::Arc<Acker<T>> {
        self.acker.get_or_init(|| {
            sync::Arc::new(Acker {
                core: Arc::clone(&self.core),
                local: Arc::clone(&self.local),
                prefetch: AtomicUsize::new(0),
                slots: AtomicUsize::new(0),
                waiters: AtomicUsize::new(0),
                waiting: Mutex::new(Vec::new()),
            })
        })
    }

    /// Pops the next message that may be delivered: expired ones go to dead
    /// letters on the way, and a closed mailbox is only reported closed once
    /// no delayed requeue can bring anything back. Counts nothing.
    #[inline(always)]
    fn pop_live(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        loop {
            match self.core.queue.pop(deadline) {
                Ok(msg) if self.core.outlived(&msg) => {
                    self.core.discard(msg, DeadLetterReason::Expired);
                }
                Ok(msg) => return Ok(msg),
                Err(PopError::Closed) => self.core.wait_for_delayed(deadline)?,
                Err(err) => return Err(err),
            }
        }
    }

    /// The one receive primitive every public plain receive wraps.
    #[inline(always)]
    fn recv_inner(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        let mut msg = self.pop_live(deadline)?;
        self.taken(&mut msg);
        Ok(msg)
    }

    /// Counts a message this handle took for good (a plain receive is an
    /// automatic acknowledgement) and settles its receipt.
    #[inline(always)]
    fn taken(&self, msg: &mut Message<T>) {
        self.local.bump();
        msg.header_mut().settle_tracker(ReceiptState::Acked);
    }

    /// Receives, waiting as long as it takes. Fails only when the mailbox is
    /// closed and empty.
    #[inline(always)]
    pub fn recv(&self) -> Result<Message<T>, RecvError> {
        self.recv_inner(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives if a message is queued now, never waiting.
    #[inline]
    pub fn try_recv(&self) -> Result<Message<T>, TryRecvError> {
        self.recv_inner(Deadline::Now).map_err(|err| match err {
            PopError::Closed => TryRecvError::Closed,
            PopError::Empty | PopError::Timeout => TryRecvError::Empty,
        })
    }

    /// Receives, waiting at most `timeout`.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, RecvTimeoutError};
    /// use std::time::Duration;
    ///
    /// let (_tx, rx) = Mailbox::<u8>::builder().build();
    /// let err = rx.recv_timeout(Duration::from_millis(10)).unwrap_err();
    /// assert_eq!(err, RecvTimeoutError::Timeout);
    /// ```
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_with(Wait::Timeout(timeout))
    }

    /// Receives, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_with(Wait::Deadline(deadline))
    }

    /// Receives with the wait chosen for this call. A non-blocking wait that
    /// finds the mailbox empty fails with `Timeout` (a zero timeout).
    pub fn recv_with(&self, wait: Wait) -> Result<Message<T>, RecvTimeoutError> {
        self.recv_inner(wait.deadline()).map_err(|err| match err {
            PopError::Closed => RecvTimeoutError::Closed,
            PopError::Empty | PopError::Timeout => RecvTimeoutError::Timeout,
        })
    }

    /// A blocking iterator: yields messages until the mailbox is closed and empty.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { receiver: self }
    }

    /// A non-blocking iterator: yields the messages queued now, then stops.
    pub fn try_iter(&self) -> TryIter<'_, T> {
        TryIter { receiver: self }
    }

    /// Closes the mailbox and returns what was still queued.
    ///
    /// Blocked and later senders fail with `Closed` and get their message back;
    /// other receivers get `Closed` once the mailbox is empty. The returned
    /// messages count as received, as a plain receive does: an automatic
    /// acknowledgement (their receipts say `Acked`). A send that
    /// raced with the close may still land afterwards: `recv` / `try_iter` on
    /// any receiver still hand it out.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, ReceiptState, SendError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// tx.send(1).unwrap();
    /// let receipt = tx.send_tracked(2).unwrap();
    /// let left: Vec<u32> = rx.close().into_iter().map(|m| m.into_body()).collect();
    /// assert_eq!(left, [1, 2]);
    /// assert_eq!(receipt.state(), ReceiptState::Acked);
    /// assert_eq!(rx.stats().received, 2);
    /// assert!(matches!(tx.send(3), Err(SendError::Closed(_))));
    /// assert!(rx.recv().is_err());
    /// ```
    pub fn close(&self) -> Vec<Message<T>> {
        self.core.close();
        self.try_iter().collect()
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

    /// Whether the mailbox is closed. Queued messages can still be received.
    pub fn is_closed(&self) -> bool {
        self.core.queue.is_closed()
    }

    /// The mailbox's counters.
    pub fn stats(&self) -> MailboxStats {
        self.core.stats()
    }

    /// Whether both handles belong to the same mailbox.
    pub fn same_mailbox(&self, other: &Receiver<T>) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }

    /// Drops this handle (the same as `drop(receiver)`, named for readability).
    pub fn disconnect(self) {}

    /// The selects waiting on this mailbox.
    pub(crate) fn watchers(&self) -> &Watchers {
        &self.core.watchers
    }

    /// Destroys the mailbox (see `Core::destroy`).
    pub(crate) fn destroy(&self) {
        self.core.destroy();
    }
}

impl<T: Send + 'static> Receiver<T> {
    /// Receives with acknowledgement, waiting as long as it takes: the
    /// message comes in a [`Delivery`] that must be answered with
    /// [`ack`](Delivery::ack), [`nack`](Delivery::nack) or
    /// [`reject`](Delivery::reject). A delivery dropped unanswered (a worker
    /// that returns early or panics) is requeued, so the message is processed
    /// at least once. With a [prefetch](Receiver::with_prefetch) limit, first
    /// waits until this handle holds fewer unanswered deliveries than that.
    ///
    /// Fails only when the mailbox is closed and empty, with no
    /// [delayed requeue](crate::Requeue::After) left to bring a message back.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, Requeue};
    ///
    /// let (tx, rx) = Mailbox::<&str>::builder().build();
    /// tx.send("resize photo 7").unwrap();
    /// tx.send("resize photo 8").unwrap();
    ///
    /// let job = rx.recv_ack().unwrap();
    /// assert_eq!(*job.body(), "resize photo 7");
    /// job.nack(Requeue::Yes); // failed: back to the front of the queue
    ///
    /// let again = rx.recv_ack().unwrap();
    /// assert_eq!((*again.body(), again.header().redeliveries()), ("resize photo 7", 1));
    /// again.ack();
    /// {
    ///     let _dropped = rx.recv_ack().unwrap(); // unanswered: requeued
    /// }
    /// assert!(rx.recv_ack().unwrap().is_redelivered());
    /// ```
    #[inline]
    pub fn recv_ack(&self) -> Result<Delivery<T>, RecvError> {
        self.recv_ack_inner(Deadline::Never).map_err(|_| RecvError)
    }

    /// Receives with acknowledgement if a message is queued now and the
    /// prefetch limit allows, never waiting.
    ///
    /// Fails with [`TryRecvAckError::PrefetchFull`] if this handle already
    /// holds as many unanswered deliveries as its prefetch limit (checked
    /// first), [`TryRecvAckError::Empty`] if no message is queued (also while
    /// a closed mailbox still waits for a delayed requeue), and
    /// [`TryRecvAckError::Closed`] once the mailbox is closed and empty for
    /// good.
    pub fn try_recv_ack(&self) -> Result<Delivery<T>, TryRecvAckError> {
        self.recv_ack_inner(Deadline::Now).map_err(|err| match err {
            AckPopError::Pop(PopError::Closed) => TryRecvAckError::Closed,
            AckPopError::Pop(_) => TryRecvAckError::Empty,
            AckPopError::PrefetchFull => TryRecvAckError::PrefetchFull,
        })
    }

    /// Receives with acknowledgement, waiting at most `timeout` (for a
    /// prefetch slot and a message together). Fails with
    /// [`RecvTimeoutError::Timeout`] if either did not come in time, and with
    /// [`RecvTimeoutError::Closed`] once the mailbox is closed and empty for
    /// good.
    pub fn recv_ack_timeout(&self, timeout: Duration) -> Result<Delivery<T>, RecvTimeoutError> {
        self.recv_ack_with(Wait::Timeout(timeout))
    }

    /// Receives with acknowledgement, waiting until `deadline` at the latest
    /// (see [`recv_ack_timeout`](Receiver::recv_ack_timeout)).
    pub fn recv_ack_deadline(&self, deadline: Instant) -> Result<Delivery<T>, RecvTimeoutError> {
        self.recv_ack_with(Wait::Deadline(deadline))
    }

    /// Receives with acknowledgement with the wait chosen for this call. A
    /// non-blocking wait that finds no message, or no prefetch slot, fails
    /// with `Timeout`; a closed and empty mailbox with `Closed`.
    pub fn recv_ack_with(&self, wait: Wait) -> Result<Delivery<T>, RecvTimeoutError> {
        self.recv_ack_inner(wait.deadline())
            .map_err(|err| match err {
                AckPopError::Pop(PopError::Closed) => RecvTimeoutError::Closed,
                _ => RecvTimeoutError::Timeout,
            })
    }

    /// The primitive every acknowledged receive wraps: a prefetch slot if the
    /// handle has a limit, then a message, as one delivery.
    #[inline(always)]
    fn recv_ack_inner(&self, deadline: Deadline) -> Result<Delivery<T>, AckPopError> {
        let acker = self.acker();
        let slot = acker.reserve(deadline, true)?;
        match self.pop_live(deadline) {
            Ok(msg) => Ok(Acker::deliver(acker, msg, slot)),
            Err(err) => {
                if slot {
                    acker.release();
                }
                Err(AckPopError::Pop(err))
            }
        }
    }

    /// Hands out, as a delivery, a message this handle set aside with
    /// `take_aside` (a process's saved message), waiting for a prefetch slot until
    /// `deadline`; gives the message back if none came.
    pub(crate) fn deliver_taken(
        &self,
        msg: Message<T>,
        deadline: Deadline,
    ) -> Result<Delivery<T>, (Message<T>, AckPopError)> {
        let acker = self.acker();
        // The message is in hand: a close does not make the slot useless.
        match acker.reserve(deadline, false) {
            Ok(slot) => {
                // Counted as taken when set aside: a delivery now instead.
                self.local.refused.fetch_add(1, Ordering::Relaxed);
                Ok(Acker::deliver(acker, msg, slot))
            }
            Err(err) => Err((msg, err)),
        }
    }
}

impl<T: Send> Receiver<T> {
    /// Limits this handle to `n` unanswered deliveries at a time (RabbitMQ's
    /// `basic.qos` prefetch count): `recv_ack` waits while it holds `n`, so
    /// that workers sharing a mailbox each take only what they can work on
    /// (fair dispatch). `0` means no limit (the default). Plain receives are
    /// acknowledged at once and never count.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, TryRecvAckError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// let rx = rx.with_prefetch(1);
    /// tx.send(1).unwrap();
    /// tx.send(2).unwrap();
    /// let first = rx.try_recv_ack().unwrap();
    /// assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::PrefetchFull);
    /// first.ack();
    /// assert_eq!(*rx.try_recv_ack().unwrap().body(), 2);
    /// ```
    #[must_use]
    pub fn with_prefetch(self, n: usize) -> Self {
        self.set_prefetch(n);
        self
    }

    /// Sets the prefetch limit of a handle already shared (see
    /// [`with_prefetch`](Receiver::with_prefetch)).
    pub(crate) fn set_prefetch(&self, n: usize) {
        let acker = self.acker();
        acker.prefetch.store(n, Ordering::SeqCst);
        // Waiters may now have room.
        acker.wake_waiters();
    }

    /// This handle's prefetch limit, `None` if it has none.
    pub fn prefetch(&self) -> Option<usize> {
        match self.acker.get().map(|a| a.prefetch.load(Ordering::Relaxed)) {
            None | Some(0) => None,
            n => n,
        }
    }

    /// How many deliveries this handle has handed out and not seen answered.
    pub fn unacked(&self) -> u64 {
        self.acker.get().map_or(0, |a| a.outstanding())
    }

    /// Takes the next deliverable message for a process's selective
    /// receive, which may set it aside: counted as taken (it left the
    /// mailbox), but its receipt is settled only when it is handed out
    /// ([`settle_taken`](Receiver::settle_taken)).
    pub(crate) fn take_aside(&self, wait: Wait) -> Result<Message<T>, RecvTimeoutError> {
        let msg = self.pop_live(wait.deadline()).map_err(|err| match err {
            PopError::Closed => RecvTimeoutError::Closed,
            PopError::Empty | PopError::Timeout => RecvTimeoutError::Timeout,
        })?;
        self.local.bump();
        Ok(msg)
    }

    /// Hands out a message taken with `take_aside`: a plain receive, so its
    /// receipt says acknowledged.
    pub(crate) fn settle_taken(&self, mut msg: Message<T>) -> Message<T> {
        msg.header_mut().settle_tracker(ReceiptState::Acked);
        msg
    }

    /// Sends a message taken with `take_aside` but never handed out where
    /// the mailbox's dead letters go (a process's saved messages when it
    /// ends).
    pub(crate) fn dead_letter_taken(&self, msg: Message<T>, reason: DeadLetterReason) {
        // Counted as taken; it is a dead letter instead, and each message
        // counts on one path only (`refused` is the "taken back" count).
        self.local.refused.fetch_add(1, Ordering::Relaxed);
        self.core.discard(msg, reason);
    }
}

/// Why an acknowledged receive failed, before it is narrowed to its family.
pub(crate) enum AckPopError {
    /// The queue said so.
    Pop(PopError),
    /// The prefetch limit was reached and the call could not wait.
    PrefetchFull,
}

/// A receiver handle's answering side: what its [`Delivery`]s hold to ack,
/// requeue or dead-letter, and its prefetch accounting. Shared (not the core
/// itself) so that taking a delivery touches a reference count only this
/// handle's threads use.
pub(crate) struct Acker<T: Send> {
    /// The shared mailbox.
    core: Arc<Core<T>>,
    /// The handle's counters.
    local: Arc<RecvCounters>,
    /// The most unanswered deliveries at a time; 0: no limit.
    prefetch: AtomicUsize,
    /// Prefetch slots taken: deliveries made under a limit, unanswered.
    slots: AtomicUsize,
    /// Receives waiting for a slot.
    waiters: AtomicUsize,
    /// The doorbells of the receives waiting for a slot: an answer that
    /// frees one rings them all; each is also registered with the mailbox's
    /// watchers, so that a close rings it too.
    waiting: Mutex<Vec<Arc<Signal>>>,
}

impl<T: Send> Acker<T> {
    /// Takes a prefetch slot if the handle has a limit (`Ok(true)`), waiting
    /// for one until `deadline`; `Ok(false)` without a limit.
    ///
    /// With `give_up_when_drained`, a wait also ends, with `Closed`, once the
    /// mailbox is closed with nothing left to deliver: a slot would be of no
    /// use (a receive without a limit would fail the same way).
    #[inline(always)]
    fn reserve(&self, deadline: Deadline, give_up_when_drained: bool) -> Result<bool, AckPopError> {
        if self.prefetch.load(Ordering::Relaxed) == 0 {
            return Ok(false);
        }
        self.reserve_slot(deadline, give_up_when_drained)
            .map(|()| true)
    }

    #[inline(never)]
    fn reserve_slot(
        &self,
        deadline: Deadline,
        give_up_when_drained: bool,
    ) -> Result<(), AckPopError> {
        if self.try_take_slot() {
            return Ok(());
        }
        let at = match deadline {
            Deadline::Now => return Err(AckPopError::PrefetchFull),
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        };
        // Announce the wait before looking again: an answer frees its slot,
        // then reads `waiters` (both SeqCst), so either it sees us and rings
        // our doorbell, or we see its slot. A close rings it through the
        // mailbox's watchers, which count it in the same way.
        let bell = Arc::new(Signal::new());
        self.waiting.lock().push(Arc::clone(&bell));
        self.waiters.fetch_add(1, Ordering::SeqCst);
        sync::handshake_fence();
        if give_up_when_drained {
            self.core.watchers.watch(&bell);
        }
        let result = loop {
            // Lowered before looking: a ring during the look is not lost.
            bell.lower();
            if self.try_take_slot() {
                break Ok(());
            }
            if give_up_when_drained && self.core.drained() {
                break Err(AckPopError::Pop(PopError::Closed));
            }
            if at.is_some_and(|at| Instant::now() >= at) {
                break Err(AckPopError::Pop(PopError::Timeout));
            }
            bell.wait_until(at);
        };
        if give_up_when_drained {
            self.core.watchers.unwatch(&bell);
        }
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        let mut waiting = self.waiting.lock();
        if let Some(i) = waiting.iter().position(|b| Arc::ptr_eq(b, &bell)) {
            waiting.swap_remove(i);
        }
        drop(waiting);
        if result.is_err() {
            // A slot freed for us while we gave up may be another waiter's
            // now: pass the ring on.
            self.wake_waiters();
        }
        result
    }

    /// Takes a slot if fewer than the limit are taken.
    fn try_take_slot(&self) -> bool {
        let limit = self.prefetch.load(Ordering::SeqCst);
        let mut taken = self.slots.load(Ordering::SeqCst);
        loop {
            if limit != 0 && taken >= limit {
                return false;
            }
            match self.slots.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => taken = now,
            }
        }
    }

    /// Frees a slot and wakes a receive waiting for one.
    fn release(&self) {
        self.slots.fetch_sub(1, Ordering::SeqCst);
        sync::handshake_fence();
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.wake_waiters();
        }
    }

    fn wake_waiters(&self) {
        for bell in self.waiting.lock().iter() {
            bell.raise();
        }
    }

    /// Deliveries handed out and not answered.
    fn outstanding(&self) -> u64 {
        let delivered = self.local.delivered.load(Ordering::SeqCst);
        let answered =
            self.local.acked.load(Ordering::SeqCst) + self.local.nacked.load(Ordering::SeqCst);
        delivered.saturating_sub(answered)
    }
}

impl<T: Send + 'static> Acker<T> {
    /// Wraps a message popped for this handle into a delivery.
    #[inline(always)]
    fn deliver(acker: &sync::Arc<Self>, msg: Message<T>, slot: bool) -> Delivery<T> {
        acker.local.delivered.fetch_add(1, Ordering::Relaxed);
        if msg.header().has_ext() {
            if let Some(tracker) = msg.header().tracker() {
                tracker.advance(ReceiptState::Received);
            }
        }
        Delivery::new(msg, sync::Arc::clone(acker), slot)
    }

    /// The consumer acknowledged the message: processed, gone for good.
    #[inline(always)]
    pub(crate) fn ack(&self, msg: &mut Message<T>, slot: bool) {
        self.local.acked.fetch_add(1, Ordering::Relaxed);
        msg.header_mut().settle_tracker(ReceiptState::Acked);
        if slot {
            self.release();
        }
    }

    /// The consumer gave the message back, or the delivery was dropped
    /// unanswered (`Requeue::Yes`).
    #[cold]
    pub(crate) fn nack(&self, msg: Message<T>, requeue: Requeue, slot: bool) {
        self.local.nacked.fetch_add(1, Ordering::Relaxed);
        match requeue {
            Requeue::Yes => self.core.requeue(msg),
            Requeue::No => self.core.discard(msg, DeadLetterReason::Rejected),
            Requeue::After(delay) => self.core.requeue_after(msg, delay),
        }
        if slot {
            self.release();
        }
    }
}

impl<T: Send> Drop for Acker<T> {
    fn drop(&mut self) {
        // The handle and its last delivery are gone: its counts are final.
        self.core.received.retire(&self.local);
    }
}

impl<T: Send> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        self.core.receivers.fetch_add(1, Ordering::Relaxed);
        Receiver::attach(Arc::clone(&self.core))
    }
}

impl<T: Send> Drop for Receiver<T> {
    fn drop(&mut self) {
        // With an `Acker`, the handle's counters are retired with it, once
        // its last delivery is answered too.
        if self.acker.get().is_none() {
            self.core.received.retire(&self.local);
        }
        if self.core.receivers.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Last receiver: nobody can take what is queued. Blocked senders
            // wake with Closed, new sends fail, and the leftovers (and any
            // push racing with this) go where dead letters go.
            self.core.retire(DeadLetterReason::NoReceivers);
        }
    }
}

impl<T: Send> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A blocking iterator over a [`Receiver`]; see [`Receiver::iter`].
pub struct Iter<'a, T: Send> {
    receiver: &'a Receiver<T>,
}

impl<T: Send> Iterator for Iter<'_, T> {
    type Item = Message<T>;

    fn next(&mut self) -> Option<Message<T>> {
        self.receiver.recv().ok()
    }
}

impl<T: Send> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter { .. }")
    }
}

/// A non-blocking iterator over a [`Receiver`]; see [`Receiver::try_iter`].
pub struct TryIter<'a, T: Send> {
    receiver: &'a Receiver<T>,
}

impl<T: Send> Iterator for TryIter<'_, T> {
    type Item = Message<T>;

    fn next(&mut self) -> Option<Message<T>> {
        self.receiver.try_recv().ok()
    }
}

impl<T: Send> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TryIter { .. }")
    }
}

/// An owning blocking iterator over a [`Receiver`].
pub struct IntoIter<T: Send> {
    receiver: Receiver<T>,
}

impl<T: Send> Iterator for IntoIter<T> {
    type Item = Message<T>;

    fn next(&mut self) -> Option<Message<T>> {
        self.receiver.recv().ok()
    }
}

impl<T: Send> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntoIter { .. }")
    }
}

impl<'a, T: Send> IntoIterator for &'a Receiver<T> {
    type Item = Message<T>;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: Send> IntoIterator for Receiver<T> {
    type Item = Message<T>;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { receiver: self }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Ids stay unique when one handle, shared by two threads, crosses several
    /// 2^16 id blocks, and when clones number from blocks of their own.
    #[test]
    fn ids_unique_across_blocks_and_shared_handles() {
        const PER_THREAD: u64 = 3 * (1 << ID_BLOCK_BITS) + 17;
        let (tx, rx) = Mailbox::<u64>::builder().unbounded().build();
        let clone = tx.clone();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for n in 0..PER_THREAD {
                        tx.send(n).unwrap();
                    }
                });
            }
            s.spawn(|| {
                for n in 0..PER_THREAD {
                    clone.send(n).unwrap();
                }
            });
        });
        drop((tx, clone));
        let mut ids = HashSet::new();
        for msg in rx.iter() {
            assert_ne!(msg.header().id(), MessageId::UNSENT);
            assert!(
                ids.insert(msg.header().id()),
                "duplicate id {}",
                msg.header().id()
            );
        }
        assert_eq!(ids.len() as u64, 3 * PER_THREAD);
    }
}
