//! A deadline-ordered queue: a complete [`postbox::Queue`] backend written
//! outside the crate, on nothing but `std`.
//!
//! Messages leave earliest [`expires_at`](postbox::Header::expires_at) first.
//! Messages without an expiry go after every message that has one. Equal
//! deadlines (and messages without one) keep their arrival order, thanks to a
//! sequence number stamped on every push. A requeued message (a redelivery)
//! goes before every message of its deadline, thanks to a sequence number
//! counting down from the other side.
//!
//! The queue only orders: it never drops a message whose deadline has passed
//! (a backend must not lose what it accepted). The consumer decides what a late
//! message means, with [`Header::is_expired_at`](postbox::Header::is_expired_at).
//!
//! Shared by the examples and the tests through
//! `#[path = "support/deadline_queue.rs"] mod deadline_queue;`.

// The items are `pub` as they would be in a crate of your own. Included with
// `mod` into an example or a test, they are neither reachable from outside
// (`unreachable_pub`) nor all used by every includer (`dead_code`): an example
// builds one kind of queue, a test another.
#![allow(dead_code, unreachable_pub)]

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use postbox::{Message, PopError, PushError, Queue};

/// A queue that hands out the message whose deadline comes first.
///
/// - Order: earliest `header().expires_at()` first; messages without an expiry
///   after all that have one; FIFO among equal or absent deadlines.
/// - Capacity: [`bounded(n)`](DeadlineQueue::bounded) holds at most `n`
///   messages, [`unbounded()`](DeadlineQueue::unbounded) grows as needed. This
///   backend has no rendezvous: `bounded(0)` is taken as `bounded(1)`.
/// - Blocking: `push` waits for room and `pop` for a message, on condition
///   variables, until the call's deadline or until the queue is closed.
/// - Closing: wakes every waiter; later pushes fail with `Closed` and hand the
///   message back; pops return what is queued, then fail with `Closed`.
/// - Requeue: the message goes to the front of its deadline (before every
///   message with the same deadline, or without one if it has none; the latest
///   requeue first), never waits, ignores the capacity and is accepted after
///   close, as the [`Queue::requeue`] contract asks.
///
/// # Examples
///
/// ```ignore
/// use postbox::{Mailbox, Message};
/// use std::time::Duration;
///
/// let (tx, rx) = Mailbox::<&str>::builder()
///     .backend(DeadlineQueue::bounded(16))
///     .build();
/// tx.send(Message::new("later").ttl(Duration::from_secs(60))).unwrap();
/// tx.send(Message::new("sooner").ttl(Duration::from_secs(5))).unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "sooner");
/// ```
pub struct DeadlineQueue<T> {
    /// The most messages held, `None` for unbounded (never `Some(0)`).
    capacity: Option<usize>,
    /// The heap, the sequence counter and the closed flag, under one lock.
    state: Mutex<State<T>>,
    /// Poppers wait here while the queue is empty.
    not_empty: Condvar,
    /// Pushers wait here while the queue is full.
    not_full: Condvar,
}

/// What the lock protects.
struct State<T> {
    /// The queued messages, the most urgent at the top.
    heap: BinaryHeap<Entry<T>>,
    /// The sequence number the next pushed message gets: 0, 1, 2, ...
    next_seq: i64,
    /// The sequence number the next requeued message gets: -1, -2, ...,
    /// below every push (so before them among equal deadlines) and below
    /// every earlier requeue (so the latest requeue leaves first).
    next_front_seq: i64,
    /// Set once by `close`.
    closed: bool,
}

/// A queued message with its sort key.
struct Entry<T> {
    /// The message's expiry, read once on push.
    deadline: Option<Instant>,
    /// Arrival order, the tie-breaker (negative for requeued messages).
    seq: i64,
    /// The message itself.
    msg: Message<T>,
}

impl<T> Entry<T> {
    /// How urgent the entry is: `Ordering::Greater` means `self` leaves first.
    /// `BinaryHeap` is a max-heap, so the most urgent entry must compare
    /// greatest.
    fn urgency(&self, other: &Self) -> Ordering {
        let by_deadline = match (self.deadline, other.deadline) {
            // An earlier deadline is more urgent.
            (Some(a), Some(b)) => b.cmp(&a),
            // Any deadline is more urgent than none.
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        // Then arrival order: a lower sequence number is more urgent.
        by_deadline.then_with(|| other.seq.cmp(&self.seq))
    }
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq
    }
}

impl<T> Eq for Entry<T> {}

impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Entry<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.urgency(other)
    }
}

impl<T> DeadlineQueue<T> {
    /// A queue holding at most `capacity` messages. Capacity 0 is taken as 1:
    /// this backend has no rendezvous.
    pub fn bounded(capacity: usize) -> DeadlineQueue<T> {
        DeadlineQueue::with_capacity(Some(capacity.max(1)))
    }

    /// A queue without a capacity limit: pushes never wait.
    pub fn unbounded() -> DeadlineQueue<T> {
        DeadlineQueue::with_capacity(None)
    }

    fn with_capacity(capacity: Option<usize>) -> DeadlineQueue<T> {
        DeadlineQueue {
            capacity,
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                next_seq: 0,
                next_front_seq: -1,
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// The deadline of the message that would leave next, if it has one.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lock().heap.peek().and_then(|entry| entry.deadline)
    }

    /// Locks the state. A thread that panicked while holding the lock cannot
    /// have left the heap half-updated (every change is one `BinaryHeap` call),
    /// so a poisoned lock is still safe to use.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn has_room(&self, state: &State<T>) -> bool {
        self.capacity.is_none_or(|cap| state.heap.len() < cap)
    }

    /// Pushes under the lock, then wakes one waiting popper. A new message
    /// goes behind every message of its deadline, a requeued one before them.
    fn push_locked(&self, mut state: MutexGuard<'_, State<T>>, msg: Message<T>, requeued: bool) {
        // An i64 counts further than any queue lives: 2^63 pushes.
        let seq = if requeued {
            state.next_front_seq -= 1;
            state.next_front_seq + 1
        } else {
            state.next_seq += 1;
            state.next_seq - 1
        };
        state.heap.push(Entry {
            deadline: msg.header().expires_at(),
            seq,
            msg,
        });
        drop(state);
        self.not_empty.notify_one();
    }

    /// Pops under the lock; if it took one, wakes one waiting pusher.
    fn pop_locked(&self, mut state: MutexGuard<'_, State<T>>) -> Option<Message<T>> {
        let entry = state.heap.pop()?;
        drop(state);
        self.not_full.notify_one();
        Some(entry.msg)
    }

    /// Waits on `cond` until notified or until `deadline`. The caller re-checks
    /// its condition afterwards: a wake-up may be spurious, or another thread
    /// may have taken what it was woken for.
    fn wait<'a>(
        &self,
        cond: &Condvar,
        state: MutexGuard<'a, State<T>>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State<T>> {
        match deadline {
            None => cond.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                cond.wait_timeout(state, left)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            }
        }
    }
}

impl<T> Default for DeadlineQueue<T> {
    /// An unbounded queue.
    fn default() -> Self {
        DeadlineQueue::unbounded()
    }
}

/// Whether `deadline` has passed (`None` never passes).
fn passed(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|at| Instant::now() >= at)
}

impl<T: Send> Queue<T> for DeadlineQueue<T> {
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.lock();
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        if !self.has_room(&state) {
            return Err(PushError::Full(msg));
        }
        self.push_locked(state, msg, false);
        Ok(())
    }

    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed(msg));
            }
            // Room is checked before the deadline: a pusher woken for room
            // uses that wake-up even if its deadline has just passed, so the
            // `notify_one` that woke it is never wasted.
            if self.has_room(&state) {
                self.push_locked(state, msg, false);
                return Ok(());
            }
            if passed(deadline) {
                return Err(PushError::Timeout(msg));
            }
            state = self.wait(&self.not_full, state, deadline);
        }
    }

    fn try_pop(&self) -> Result<Message<T>, PopError> {
        let state = self.lock();
        let closed = state.closed;
        match self.pop_locked(state) {
            Some(msg) => Ok(msg),
            None if closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        let mut state = self.lock();
        loop {
            // Messages are checked before `closed`: a closed queue still hands
            // out what it holds. And before the deadline, for the same reason
            // as in `push`.
            if !state.heap.is_empty() {
                return self.pop_locked(state).ok_or(PopError::Empty);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            if passed(deadline) {
                return Err(PopError::Timeout);
            }
            state = self.wait(&self.not_empty, state, deadline);
        }
    }

    fn len(&self) -> usize {
        self.lock().heap.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    fn close(&self) -> bool {
        let mut state = self.lock();
        let first = !state.closed;
        state.closed = true;
        drop(state);
        // Every waiter re-checks under the lock and sees `closed`.
        self.not_empty.notify_all();
        self.not_full.notify_all();
        first
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Puts a redelivered message back before every message of its deadline.
    /// Checks neither `closed` nor the capacity: the message held a slot until
    /// it was delivered, and a closed queue still drains (`pop` looks at the
    /// heap before it looks at `closed`). The queue may therefore hold more
    /// than its capacity for a while; pushes wait until it is below again.
    ///
    /// `evict_lowest` keeps its default (evict nothing, so the mailbox
    /// refuses under `DropLowest`): this queue has no priority levels, and
    /// evicting its head would throw away the most urgent request.
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.lock();
        self.push_locked(state, msg, true);
        Ok(())
    }
}

impl<T> fmt::Debug for DeadlineQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("DeadlineQueue")
            .field("len", &state.heap.len())
            .field("capacity", &self.capacity)
            .field("closed", &state.closed)
            .finish()
    }
}
