//! The queueing discipline: one [`Queue`] trait, with a FIFO and a priority
//! backend, and room for yours.
//!
//! Everything above this seam (handles, ids, receipts, statistics, closing)
//! works the same for every backend; a backend only stores messages, blocks
//! callers until there is room or a message, and wakes them all on close.
//!
//! | backend | order | capacities | engine |
//! | --- | --- | --- | --- |
//! | [`Fifo`] | arrival | 0 (rendezvous), bounded, unbounded | crossbeam-channel |
//! | [`Priority`] | highest priority first, FIFO within a level | 0, bounded, unbounded | unbounded: a crossbeam lane per level + an atomic bitmap; bounded, requeued and rendezvous: per-level queues under one lock |
//! | your own | yours | yours | yours ([`MailboxBuilder::backend`](crate::MailboxBuilder::backend)) |

mod fifo;
mod lane;
mod priority;

pub use fifo::Fifo;
pub(crate) use priority::Offered;
pub use priority::Priority;

use std::fmt;
use std::sync::Weak;
use std::time::Instant;

use crate::error::{PopError, PushError};
use crate::message::Message;

/// What a [`ReadyHook`] tells: the mailbox above a backend, which wakes
/// the tasks waiting on it.
pub(crate) trait Ready: Send + Sync {
    /// A message can be taken.
    fn message_ready(&self);
    /// Room was freed.
    fn room_ready(&self);
}

/// The readiness hook a mailbox hands its backend
/// ([`Queue::ready_hook`]): how a custom backend tells the tasks waiting on
/// its mailbox (`recv_async`, `send_async`) that something changed that
/// the mailbox did not do itself.
///
/// The mailbox already wakes its tasks after every push, pop, requeue and
/// close it makes through the backend. A backend needs the hook only if
/// messages or room can appear otherwise: messages that ripen with time,
/// a rendezvous whose blocked senders' messages become takeable inside
/// `push`, room freed by the backend dropping messages on its own. Calling
/// it when nobody waits costs one load. Cheap to clone; it does not keep
/// the mailbox alive.
#[derive(Clone)]
pub struct ReadyHook {
    mailbox: Weak<dyn Ready>,
}

impl ReadyHook {
    pub(crate) fn new(mailbox: Weak<dyn Ready>) -> ReadyHook {
        ReadyHook { mailbox }
    }

    /// A message can now be taken (wakes one task waiting to receive, and
    /// the selects watching).
    pub fn message_ready(&self) {
        if let Some(mailbox) = self.mailbox.upgrade() {
            mailbox.message_ready();
        }
    }

    /// Room was freed (wakes one task waiting to send).
    pub fn room_ready(&self) {
        if let Some(mailbox) = self.mailbox.upgrade() {
            mailbox.room_ready();
        }
    }
}

impl fmt::Debug for ReadyHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadyHook")
            .field("mailbox_alive", &(self.mailbox.strong_count() > 0))
            .finish()
    }
}

/// A message store that a mailbox can sit on: the seam between postbox's
/// handles and a queueing discipline.
///
/// Implement it to plug your own ordering into a normal mailbox (see
/// `examples/custom_backend.rs`, a deadline-ordered queue). The mailbox does
/// everything else: ids, validation, receipts, statistics, and the rules of
/// closing when the last sender or receiver goes.
///
/// # Contract
///
/// - `try_push` / `try_pop` never block. `push` / `pop` block until they can
///   proceed, until `deadline` (`None` = no limit), or until the queue is closed.
/// - A push that fails hands the message back in the [`PushError`].
/// - [`close`](Queue::close) is idempotent and wakes every blocked caller at
///   once. After it, pushes fail with [`PushError::Closed`]; pops still return
///   what is queued and then fail with [`PopError::Closed`]. A push racing with
///   `close` may still land: the mailbox sweeps such stragglers once it is
///   destroyed or has lost its last receiver, provided a pop that starts after
///   a push returned sees that message (a lock, or SeqCst operations, as in
///   the built-in backends).
/// - `len` may be approximate while other threads are active, exact when quiet.
/// - The queue must not drop messages it has accepted, except when it is itself
///   dropped (the mailbox drains it before that).
///
/// The trait grows by default methods only (so implementations outside this
/// crate keep compiling). [`requeue`](Queue::requeue) (redelivery at the front
/// of a level), [`evict_lowest`](Queue::evict_lowest) (the `DropLowest`
/// overflow policy), [`ready_hook`](Queue::ready_hook) (async wake-ups) and
/// [`try_pop_many`](Queue::try_pop_many) (batch receives) came that way.
///
/// # Async
///
/// Tasks use a mailbox through `try_push` / `try_pop` only, and sleep until
/// the mailbox wakes them: after each push, pop, requeue and close it makes.
/// That covers every backend whose messages and room change only through
/// those calls. A backend that can change otherwise (see [`ReadyHook`])
/// takes the hook in [`ready_hook`](Queue::ready_hook) and returns `true`.
/// A backend that does not (the default) still works from tasks, **by
/// polling**: a waiting task also looks again on a timer, after 1 ms, then
/// less often, at least every 32 ms, so a change the mailbox did not see is
/// noticed late but never missed. A custom rendezvous (capacity 0) pairs a
/// task's send only with a receiver blocked in `pop`, and a task's receive
/// only with a sender blocked in `push` (the built-in rendezvous pairs
/// tasks with tasks too).
///
/// # Examples
///
/// A LIFO stack, the smallest useful backend (unbounded, and its blocking pop
/// simply polls; see `examples/custom_backend.rs` for a complete one):
///
/// ```
/// use postbox::{Mailbox, Message, PopError, PushError, Queue};
/// use std::sync::Mutex;
/// use std::time::Instant;
///
/// #[derive(Default)]
/// struct Lifo<T> { items: Mutex<(Vec<Message<T>>, bool)> }
///
/// impl<T: Send> Queue<T> for Lifo<T> {
///     fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
///         let mut g = self.items.lock().unwrap();
///         if g.1 { return Err(PushError::Closed(msg)); }
///         g.0.push(msg);
///         Ok(())
///     }
///     fn push(&self, msg: Message<T>, _deadline: Option<Instant>) -> Result<(), PushError<T>> {
///         self.try_push(msg) // never full
///     }
///     fn try_pop(&self) -> Result<Message<T>, PopError> {
///         let mut g = self.items.lock().unwrap();
///         match g.0.pop() {
///             Some(m) => Ok(m),
///             None if g.1 => Err(PopError::Closed),
///             None => Err(PopError::Empty),
///         }
///     }
///     fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
///         loop {
///             match self.try_pop() {
///                 Err(PopError::Empty) if deadline.is_none_or(|d| Instant::now() < d) => {
///                     std::thread::yield_now()
///                 }
///                 Err(PopError::Empty) => return Err(PopError::Timeout),
///                 other => return other,
///             }
///         }
///     }
///     fn len(&self) -> usize { self.items.lock().unwrap().0.len() }
///     fn capacity(&self) -> Option<usize> { None }
///     fn close(&self) -> bool { !std::mem::replace(&mut self.items.lock().unwrap().1, true) }
///     fn is_closed(&self) -> bool { self.items.lock().unwrap().1 }
/// }
///
/// let (tx, rx) = Mailbox::<u32>::builder().backend(Lifo::default()).build();
/// for n in 1..=3 { tx.send(n).unwrap(); }
/// let order: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
/// assert_eq!(order, [3, 2, 1]);
/// ```
pub trait Queue<T>: Send + Sync {
    /// Stores the message if there is room now; never blocks.
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>>;

    /// Stores the message, waiting for room until `deadline` (`None`: no limit).
    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>>;

    /// Takes the next message if one is queued; never blocks.
    fn try_pop(&self) -> Result<Message<T>, PopError>;

    /// Takes the next message, waiting until `deadline` (`None`: no limit).
    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError>;

    /// Takes up to `max` queued messages, appending them to `buf` in the
    /// order repeated [`try_pop`](Queue::try_pop)s would take them; never
    /// blocks. Returns how many it took; fails (with what `try_pop` would
    /// say: `Empty` or `Closed`) only if it took none. `max` 0 takes
    /// nothing and returns `Ok(0)`.
    ///
    /// The mailbox's batch receives (`recv_many`) call it once per batch.
    /// The default is that loop of `try_pop`; a backend overrides it when
    /// it can take a batch for less (the priority backend takes its lock
    /// once).
    fn try_pop_many(&self, buf: &mut Vec<Message<T>>, max: usize) -> Result<usize, PopError> {
        try_pop_each(self, buf, max)
    }

    /// How many messages are queued.
    fn len(&self) -> usize;

    /// Whether no message is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most messages the queue holds, or `None` if unbounded.
    fn capacity(&self) -> Option<usize>;

    /// Closes the queue and wakes every blocked caller. Returns `true` if this
    /// call closed it, `false` if it was already closed.
    fn close(&self) -> bool;

    /// Whether the queue is closed.
    fn is_closed(&self) -> bool;

    /// The number of priority levels the queue orders by (`Some(n)`: it accepts
    /// priorities `0..n`), or `None` if it ignores priorities. The mailbox
    /// refuses messages outside the levels with `InvalidPriority`.
    fn priority_levels(&self) -> Option<u8> {
        None
    }

    /// Puts a message back for redelivery: a consumer gave it up (`nack`, or
    /// a delivery dropped unanswered). It goes to the *front* of its priority
    /// level, so it leaves before every message queued after it at that level
    /// (where RabbitMQ puts a requeued message).
    ///
    /// A requeue must not block, must ignore the capacity (the message held a
    /// slot until it was delivered; a mailbox may hold more than its capacity
    /// by the deliveries that come back) and must be accepted after
    /// [`close`](Queue::close): a closed mailbox still drains, and its
    /// outstanding deliveries can still come back. It must wake a receiver
    /// blocked in [`pop`](Queue::pop).
    ///
    /// The default pushes at the back with [`try_push`](Queue::try_push), so
    /// a backend that does not override it redelivers late and refuses a
    /// requeue when full or closed; the mailbox then sends the message to dead
    /// letters (reason `Overflow`) rather than lose it.
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        self.try_push(msg)
    }

    /// Takes the oldest message of the lowest priority level that holds any,
    /// if that level is at most `at_most`; otherwise (or if the queue is
    /// empty) takes nothing. Never blocks.
    ///
    /// This is the `DropLowest` overflow policy's eviction: a full priority
    /// mailbox makes room for a message of priority `p` by evicting the oldest
    /// of the least urgent work, but never a message more urgent than `p`. A
    /// backend without priorities is one level: it evicts its head.
    ///
    /// The default takes nothing, so a custom backend that does not override
    /// it refuses new messages under `DropLowest` rather than evict the wrong
    /// one.
    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        let _ = at_most;
        None
    }

    /// Takes the mailbox's readiness hook, called once when the mailbox is
    /// built. Return `true` to promise that the backend calls
    /// [`ReadyHook::message_ready`] / [`ReadyHook::room_ready`] whenever a
    /// message or room appears other than through a call the mailbox made
    /// (see "Async" above); tasks waiting on the mailbox then never poll.
    ///
    /// The default keeps nothing and returns `false`: tasks poll on a timer
    /// as well as being woken by the mailbox.
    fn ready_hook(&self, hook: ReadyHook) -> bool {
        let _ = hook;
        false
    }
}

/// [`Queue::try_pop_many`] as a loop of `try_pop`: the default, and what
/// a backend's override falls back on where it has nothing better.
pub(crate) fn try_pop_each<T, Q: Queue<T> + ?Sized>(
    queue: &Q,
    buf: &mut Vec<Message<T>>,
    max: usize,
) -> Result<usize, PopError> {
    let mut n = 0;
    while n < max {
        match queue.try_pop() {
            Ok(msg) => buf.push(msg),
            Err(err) if n == 0 => return Err(err),
            Err(_) => break,
        }
        n += 1;
    }
    Ok(n)
}

impl<T, Q: Queue<T> + ?Sized> Queue<T> for Box<Q> {
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        (**self).try_push(msg)
    }
    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        (**self).push(msg, deadline)
    }
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        (**self).try_pop()
    }
    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        (**self).pop(deadline)
    }
    fn try_pop_many(&self, buf: &mut Vec<Message<T>>, max: usize) -> Result<usize, PopError> {
        (**self).try_pop_many(buf, max)
    }
    fn len(&self) -> usize {
        (**self).len()
    }
    fn is_empty(&self) -> bool {
        (**self).is_empty()
    }
    fn capacity(&self) -> Option<usize> {
        (**self).capacity()
    }
    fn close(&self) -> bool {
        (**self).close()
    }
    fn is_closed(&self) -> bool {
        (**self).is_closed()
    }
    fn priority_levels(&self) -> Option<u8> {
        (**self).priority_levels()
    }
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        (**self).requeue(msg)
    }
    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        (**self).evict_lowest(at_most)
    }
    fn ready_hook(&self, hook: ReadyHook) -> bool {
        (**self).ready_hook(hook)
    }
}
