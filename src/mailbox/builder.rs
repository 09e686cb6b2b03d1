//! Building a mailbox: backend, capacity, limits, dead letters.

use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::codec::Codec;
use crate::journal::OpenError;
use crate::message::BodyLen;
use crate::overflow::Overflow;
use crate::queue::{Fifo, Priority, Queue, Ready, ReadyHook};
use crate::signal::Watchers;
use crate::stats::Tally;
use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, OnceLock};
use crate::wake::WaitList;

use super::backend::{Backend, LazyFifo, Other};
use super::core::{BodyLimit, Core, Settings, ALIVE};
use super::durable::{self, Durable, Log, Opened};
use super::restore;
use super::{Mailbox, Receiver, Sender, Sink, DEFAULT_CAPACITY};

/// Which backend the builder will build.
enum BackendChoice<T: Send> {
    Fifo,
    Priority(u8),
    /// The queue, and how to hand it the mailbox as its readiness hook's
    /// target (a function chosen where `T: 'static` is known).
    Custom(Box<dyn Queue<T>>, HookTarget<T>),
}

/// Makes a readiness hook's target from a mailbox's core.
type HookTarget<T> = fn(&Arc<Core<T>>) -> Weak<dyn Ready>;

/// The hook target of a mailbox whose bodies are `'static`.
fn hook_target<T: Send + 'static>(core: &Arc<Core<T>>) -> Weak<dyn Ready> {
    Arc::downgrade(core) as Weak<dyn Ready>
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
    /// Whether a FIFO queue is made on first use rather than at once (an
    /// office's process inboxes: see `Other::Lazy`).
    lazy: bool,
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
            lazy: false,
            kind: PhantomData,
        }
    }

    /// A FIFO queue (other than a rendezvous) is made by its first use, not
    /// by `build`: for mailboxes that mostly sit idle, by the million.
    pub(crate) fn lazy_queue(mut self) -> Self {
        self.lazy = true;
        self
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
    ///
    /// The backend is offered the mailbox's [`ReadyHook`] when the mailbox
    /// is built (see [`Queue::ready_hook`]).
    pub fn backend<Q: Queue<T> + 'static>(mut self, queue: Q) -> Self
    where
        T: 'static,
    {
        self.backend = BackendChoice::Custom(Box::new(queue), hook_target::<T>);
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
    /// [`DeadLetterReason`](crate::DeadLetterReason)). Without it, an office mailbox uses the office's
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
    /// [`Expired`](crate::DeadLetterReason::Expired) when a receiver meets it (expiry
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
    /// [`MaxRedeliveries`](crate::DeadLetterReason::MaxRedeliveries). A poison message
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
    pub(crate) fn build_with(mut self, fallback: Sink<T>) -> (Sender<T>, Receiver<T>) {
        let (queue, hook) = self.take_queue();
        let core = self.assemble(fallback, queue, hook, None);
        (Sender::attach(Arc::clone(&core)), Receiver::attach(core))
    }

    /// Builds the mailbox over an opened log and restores what the log
    /// held. The messages are decoded into the queue before the mailbox
    /// exists, one at a time, each pushed as soon as it is decoded (as
    /// sends would: see `restore.rs` for why the order of allocations
    /// matters); nothing is written before every message decoded.
    fn build_opened(
        mut self,
        fallback: Sink<T>,
        opened: Opened<T>,
    ) -> Result<(Sender<T>, Receiver<T>), OpenError> {
        let (queue, hook) = self.take_queue();
        let Opened {
            log,
            messages,
            max_id,
        } = opened;
        let restoring = restore::fill(&log, messages, max_id, self.max_redeliveries, &queue)?;
        let core = self.assemble(fallback, queue, hook, Some(Box::new(log)));
        core.restore(restoring);
        Ok((Sender::attach(Arc::clone(&core)), Receiver::attach(core)))
    }

    /// The queue the builder chose, and its readiness hook's target if it
    /// is a custom one (the choice is left as the default FIFO).
    fn take_queue(&mut self) -> (Backend<T>, Option<HookTarget<T>>) {
        let choice = std::mem::replace(&mut self.backend, BackendChoice::Fifo);
        match choice {
            BackendChoice::Fifo => {
                let queue = match self.capacity {
                    Some(0) => Backend::Priority(Box::new(Priority::fifo_rendezvous())),
                    cap if self.lazy => Backend::Other(Other::Lazy(LazyFifo::new(cap))),
                    Some(cap) => Backend::Fifo(Fifo::bounded(cap)),
                    None => Backend::Fifo(Fifo::unbounded()),
                };
                (queue, None)
            }
            BackendChoice::Priority(levels) => (
                Backend::Priority(Box::new(Priority::new(levels, self.capacity))),
                None,
            ),
            BackendChoice::Custom(queue, target) => {
                (Backend::Other(Other::Custom(queue)), Some(target))
            }
        }
    }

    /// The mailbox's core over `queue` and the log (if any), its readiness
    /// hook installed.
    fn assemble(
        self,
        fallback: Sink<T>,
        queue: Backend<T>,
        hook: Option<HookTarget<T>>,
        log: Option<Box<Log<T>>>,
    ) -> Arc<Core<T>> {
        let sink = match self.dead_letters {
            Some(tx) => Sink::Typed(Box::new(tx)),
            None => fallback,
        };
        let levels = queue.priority_levels();
        let plain = log.is_none() && self.ttl.is_none() && self.max_body_len.is_none();
        let settings = Settings {
            max_body_len: self.max_body_len,
            ttl: self.ttl,
            max_redeliveries: self.max_redeliveries,
        }
        .boxed();
        let core = Arc::new(Core {
            plain,
            queue,
            senders: AtomicUsize::new(1),
            receivers: AtomicUsize::new(1),
            settings,
            levels,
            overflow: self.overflow,
            retired: AtomicU8::new(ALIVE),
            closed_by: AtomicU8::new(0),
            tally: Tally::default(),
            peak_len: AtomicUsize::new(0),
            cold: OnceLock::new(),
            sink,
            watchers: Watchers::default(),
            recv_wakers: WaitList::default(),
            room_wakers: WaitList::default(),
            polls: AtomicBool::new(false),
            log,
        });
        if let (Some(target), Backend::Other(Other::Custom(queue))) = (hook, &core.queue) {
            let hooked = queue.ready_hook(ReadyHook::new(target(&core)));
            core.polls.store(!hooked, Ordering::Relaxed);
        }
        core
    }
}

impl<T: Send> MailboxBuilder<T, Mailbox<T>> {
    /// Builds the mailbox and returns its first sender and receiver.
    pub fn build(self) -> (Sender<T>, Receiver<T>) {
        self.build_with(Sink::Drop)
    }
}

impl<T: Send + 'static, K> MailboxBuilder<T, K> {
    /// Makes the mailbox durable: every message it accepts is kept in a
    /// write-ahead log in `durable`'s directory until it is acked or
    /// dead-lettered, and comes back when the mailbox is opened again (see
    /// [`Durable`] and the README's "Durability"). Open it with
    /// [`DurableBuilder::open`], which can fail.
    pub fn durable<C: Codec<T> + 'static>(self, durable: Durable<C>) -> DurableBuilder<T, K> {
        DurableBuilder {
            builder: self,
            open: Box::new(move || durable::open(durable)),
        }
    }
}

/// A mailbox builder with a log: [`open`](DurableBuilder::open) it. Made by
/// [`MailboxBuilder::durable`].
pub struct DurableBuilder<T: Send, K = Mailbox<T>> {
    builder: MailboxBuilder<T, K>,
    /// Opens the log and decodes what it holds.
    open: Box<dyn FnOnce() -> Result<Opened<T>, OpenError> + Send>,
}

impl<T: Send, K> DurableBuilder<T, K> {
    /// Opens the log, then builds the mailbox over it (for the office).
    pub(crate) fn open_with(
        self,
        fallback: Sink<T>,
    ) -> Result<(Sender<T>, Receiver<T>), OpenError> {
        let opened = (self.open)()?;
        self.builder.build_opened(fallback, opened)
    }
}

impl<T: Send> DurableBuilder<T, Mailbox<T>> {
    /// Opens the log (replaying it: every message neither acked nor
    /// dead-lettered comes back, in order) and returns the mailbox's first
    /// sender and receiver.
    ///
    /// Fails with [`OpenError`]: the directory is locked by another opener
    /// (another process, or another mailbox of this one), the log is
    /// corrupt, was written with another codec, or the file system failed.
    pub fn open(self) -> Result<(Sender<T>, Receiver<T>), OpenError> {
        self.open_with(Sink::Drop)
    }
}

impl<T: Send, K> fmt::Debug for DurableBuilder<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableBuilder")
            .field("builder", &self.builder)
            .finish_non_exhaustive()
    }
}

impl<T: Send, K> fmt::Debug for MailboxBuilder<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let backend = match &self.backend {
            BackendChoice::Fifo => "fifo".to_string(),
            BackendChoice::Priority(levels) => format!("priority({levels})"),
            BackendChoice::Custom(..) => "custom".to_string(),
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
