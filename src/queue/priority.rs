//! The priority backend: one lock-free FIFO queue per level, a bitmap of the
//! levels that may hold messages, and a lock only for parking.
//!
//! Push appends to its level (crossbeam-channel's unbounded queue) and sets
//! the level's bit; pop finds the highest set bit (at most four word scans for
//! 256 levels) and takes the front of that level. Equal priorities therefore
//! stay strictly FIFO, and no lock is taken while messages flow: a single lock
//! serialised every producer and consumer (4-5x crossbeam with several
//! producers), which is what this layout avoids.
//!
//! A bounded queue reserves its slot first, with a compare-and-swap on one
//! shared length; an unbounded one keeps no shared length at all.
//!
//! Blocking uses a mutex and two condition variables, touched only by callers
//! that must park and by the other side when it sees (in an atomic count) that
//! someone is parked: a notify on every push and pop would be a wake storm.
//! Before parking, a caller spins briefly, because in a busy mailbox the wait
//! usually ends sooner than a park/unpark round trip.
//!
//! # Ordering
//!
//! A pop returns the highest-priority message whose push had completed when
//! the pop looked at that level; a push still in flight may be overtaken by a
//! lower-priority message, as in any concurrent queue. Single-threaded, and
//! for everything queued before a pop starts, the order is exact.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{
    backoff, dekker_fence, AtomicBool, AtomicU64, AtomicUsize, CachePadded, Condvar, LevelQueue,
    Mutex, SPIN_LIMIT,
};

/// The priority queueing discipline: highest priority first, FIFO within a
/// priority.
///
/// A queue with `levels` levels accepts priorities `0..levels`; a higher number
/// is more urgent (as in RabbitMQ). Usually built through
/// [`MailboxBuilder::priority`](crate::MailboxBuilder::priority); public so
/// that custom backends can wrap it.
///
/// With capacity 0 a push only proceeds when a receiver is parked in a
/// blocking receive (a rendezvous); a receiver that gives up at that moment
/// leaves the message queued for the next one, so the queue may briefly hold
/// one message. Unlike the FIFO rendezvous, a receiver that only polls
/// (`try_recv`) never takes the message of a sender blocked in `send`.
pub struct Priority<T> {
    /// Number of levels (1..=255): priorities `0..levels` are accepted.
    levels: u8,
    /// The most messages held, `None` for unbounded.
    capacity: Option<usize>,
    /// One FIFO per level, index = priority.
    queues: Box<[LevelQueue<Message<T>>]>,
    /// Bit `p` is set whenever level `p` holds messages (and sometimes
    /// briefly when it does not: a pop that finds the level empty clears it).
    occupied: CachePadded<[AtomicU64; 4]>,
    /// Reserved slots (bounded queues only: unbounded ones never read it).
    len: CachePadded<AtomicUsize>,
    /// Set once by `close`.
    closed: AtomicBool,
    /// Where callers park.
    parking: Parking,
}

/// The parking lot of one queue: a lock, two condition variables, and the
/// counts the other side reads to know whether anyone needs waking.
struct Parking {
    /// Held while a caller re-checks and goes to sleep, and briefly by a
    /// notifier, so that a wake-up cannot fall between the two.
    lock: Mutex<()>,
    /// Receivers park here while the queue is empty.
    not_empty: Condvar,
    /// Senders park here while the queue is full.
    not_full: Condvar,
    /// Receivers parked (or about to park) on `not_empty`.
    receivers: CachePadded<AtomicUsize>,
    /// Senders parked (or about to park) on `not_full`.
    senders: CachePadded<AtomicUsize>,
}

impl Parking {
    /// Wakes one parked receiver, if any.
    #[inline]
    fn wake_receiver(&self) {
        dekker_fence();
        if self.receivers.load(Ordering::SeqCst) > 0 {
            self.notify(&self.not_empty);
        }
    }

    /// Wakes one parked sender, if any.
    #[inline]
    fn wake_sender(&self) {
        dekker_fence();
        if self.senders.load(Ordering::SeqCst) > 0 {
            self.notify(&self.not_full);
        }
    }

    #[cold]
    fn notify(&self, cv: &Condvar) {
        // Taking the lock orders this notify after the parked caller's last
        // check: it either saw our change or is already waiting.
        drop(self.lock.lock());
        cv.notify_one();
    }
}

impl<T> Priority<T> {
    /// A priority queue with `levels` levels (priorities `0..levels`) holding at
    /// most `capacity` messages (`None`: unbounded). `levels` 0 is taken as 1.
    pub fn new(levels: u8, capacity: Option<usize>) -> Priority<T> {
        let levels = levels.max(1);
        Priority {
            levels,
            capacity,
            queues: (0..levels).map(|_| LevelQueue::new()).collect(),
            occupied: CachePadded(Default::default()),
            len: CachePadded(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
            parking: Parking {
                lock: Mutex::new(()),
                not_empty: Condvar::new(),
                not_full: Condvar::new(),
                receivers: CachePadded(AtomicUsize::new(0)),
                senders: CachePadded(AtomicUsize::new(0)),
            },
        }
    }

    /// The number of levels.
    pub fn levels(&self) -> u8 {
        self.levels
    }

    /// Reserves a slot for one message, or says the queue is full.
    #[inline]
    fn reserve(&self) -> bool {
        let Some(cap) = self.capacity else {
            return true;
        };
        let mut len = self.len.load(Ordering::SeqCst);
        loop {
            // Rendezvous: only hand a message in when a parked receiver will
            // take it.
            let room = if cap == 0 {
                self.parking.receivers.load(Ordering::SeqCst) > len
            } else {
                len < cap
            };
            if !room {
                return false;
            }
            match self
                .len
                .compare_exchange_weak(len, len + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => len = now,
            }
        }
    }

    /// Takes the highest-priority message queued, if any.
    #[inline]
    fn take(&self) -> Option<Message<T>> {
        for word in (0..4).rev() {
            let mut bits = self.occupied[word].load(Ordering::SeqCst);
            while bits != 0 {
                let bit = 63 - bits.leading_zeros() as usize;
                let level = word * 64 + bit;
                let Some(queue) = self.queues.get(level) else {
                    // A bit past the levels is never set; stop rather than loop.
                    bits &= !(1 << bit);
                    continue;
                };
                if let Some(msg) = queue.pop() {
                    return Some(msg);
                }
                // Empty: clear the bit, then look again. A push that landed
                // in between set the bit before our clear (the RMWs are
                // ordered) and its message is visible to this second look,
                // which puts the bit back.
                self.occupied[word].fetch_and(!(1 << bit), Ordering::SeqCst);
                if queue.is_empty() {
                    bits &= !(1 << bit);
                } else {
                    self.occupied[word].fetch_or(1 << bit, Ordering::SeqCst);
                }
            }
        }
        None
    }

    /// Whether any level holds a message (bitmap only: cheap, may be stale).
    fn maybe_nonempty(&self) -> bool {
        self.occupied
            .iter()
            .any(|w| w.load(Ordering::Relaxed) != 0)
    }

    /// Stores a message if there is room, without waking anyone: the caller
    /// wakes a receiver, in a way that depends on whether it holds the
    /// parking lock (taking it again would deadlock).
    #[inline]
    fn push_now(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed(msg));
        }
        if !self.reserve() {
            return Err(PushError::Full(msg));
        }
        if self.capacity.is_some() && self.closed.load(Ordering::SeqCst) {
            // The room we reserved may be room a closing sweep freed: a close
            // that came before our reservation must win, so give it back.
            // (No wake-up needed: after a close, nobody waits for room.)
            self.len.fetch_sub(1, Ordering::SeqCst);
            return Err(PushError::Closed(msg));
        }
        // The mailbox validates priorities; clamp anyway so that a direct user
        // of the backend cannot make it index out of bounds.
        let level = usize::from(msg.header().priority().min(self.levels - 1));
        if let Some(queue) = self.queues.get(level) {
            queue.push(msg);
        }
        // SeqCst RMW: orders the push before the caller's parked-receiver
        // check (pairing with the receiver's count-then-look in `pop`).
        self.occupied[level >> 6].fetch_or(1 << (level & 63), Ordering::SeqCst);
        Ok(())
    }

    /// Takes the next message without waking anyone (see `push_now`).
    #[inline]
    fn pop_now(&self) -> Result<Message<T>, PopError> {
        let msg = match self.take() {
            Some(msg) => msg,
            // Look once more after seeing the flag: a message pushed before
            // the close may have landed after our first look.
            None if self.closed.load(Ordering::SeqCst) => self.take().ok_or(PopError::Closed)?,
            None => return Err(PopError::Empty),
        };
        if self.capacity.is_some() {
            // SeqCst: orders the freed slot before the caller's parked-sender
            // check (pairing with the sender's count-then-look in `push`).
            self.len.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(msg)
    }
}

impl<T: Send> Queue<T> for Priority<T> {
    #[inline]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        self.push_now(msg)?;
        self.parking.wake_receiver();
        Ok(())
    }

    fn push(&self, mut msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        msg = match self.try_push(msg) {
            Err(PushError::Full(m)) => m,
            done => return done,
        };
        for step in 0..SPIN_LIMIT {
            // A rendezvous has no room to spin for: only a parked receiver
            // lets a message through.
            if self.capacity == Some(0) || self.closed.load(Ordering::Acquire) {
                break;
            }
            backoff(step);
            msg = match self.try_push(msg) {
                Err(PushError::Full(m)) => m,
                done => return done,
            };
        }
        let parking = &self.parking;
        let mut guard = parking.lock.lock();
        parking.senders.fetch_add(1, Ordering::SeqCst);
        dekker_fence();
        if self.capacity == Some(0) && parking.receivers.load(Ordering::SeqCst) > 0 {
            // A parked receiver may be waiting for a rendezvous partner.
            parking.not_empty.notify_one();
        }
        let result = loop {
            // Room is checked before the deadline, so a sender woken for room
            // never leaves that wake-up unused (no stranded parked sender).
            msg = match self.push_now(msg) {
                Err(PushError::Full(m)) => m,
                Ok(()) => {
                    // We hold the parking lock: notify directly.
                    dekker_fence();
                    if parking.receivers.load(Ordering::SeqCst) > 0 {
                        parking.not_empty.notify_one();
                    }
                    break Ok(());
                }
                Err(err) => break Err(err),
            };
            if deadline.is_some_and(|at| Instant::now() >= at) {
                break Err(PushError::Timeout(msg));
            }
            (guard, _) = parking.not_full.wait_until(guard, deadline);
        };
        parking.senders.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        result
    }

    #[inline]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        let msg = self.pop_now()?;
        if self.capacity.is_some() {
            self.parking.wake_sender();
        }
        Ok(msg)
    }

    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        match self.try_pop() {
            Err(PopError::Empty) => {}
            done => return done,
        }
        for step in 0..SPIN_LIMIT {
            if self.capacity == Some(0) || self.closed.load(Ordering::Acquire) {
                break;
            }
            backoff(step);
            if self.maybe_nonempty() {
                match self.try_pop() {
                    Err(PopError::Empty) => {}
                    done => return done,
                }
            }
        }
        let parking = &self.parking;
        let mut guard = parking.lock.lock();
        // Count ourselves parked before the last look: a push after this
        // count sees it (SeqCst on both sides) and wakes us.
        parking.receivers.fetch_add(1, Ordering::SeqCst);
        dekker_fence();
        if self.capacity == Some(0) && parking.senders.load(Ordering::SeqCst) > 0 {
            // A rendezvous sender is parked until a receiver shows up: us.
            parking.not_full.notify_one();
        }
        let result = loop {
            // Messages are checked before the deadline, so a receiver woken for
            // a message always takes it rather than wasting the wake-up.
            match self.pop_now() {
                Err(PopError::Empty) => {}
                Ok(msg) => {
                    // We hold the parking lock: notify directly.
                    dekker_fence();
                    if self.capacity.is_some() && parking.senders.load(Ordering::SeqCst) > 0 {
                        parking.not_full.notify_one();
                    }
                    break Ok(msg);
                }
                Err(err) => break Err(err),
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                break Err(PopError::Timeout);
            }
            (guard, _) = parking.not_empty.wait_until(guard, deadline);
        };
        parking.receivers.fetch_sub(1, Ordering::SeqCst);
        drop(guard);
        result
    }

    fn len(&self) -> usize {
        match self.capacity {
            Some(_) => self.len.load(Ordering::Acquire),
            None => self.queues.iter().map(LevelQueue::len).sum(),
        }
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::SeqCst);
        if first {
            let _guard = self.parking.lock.lock();
            self.parking.not_empty.notify_all();
            self.parking.not_full.notify_all();
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn priority_levels(&self) -> Option<u8> {
        Some(self.levels)
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("levels", &self.levels)
            .field("capacity", &self.capacity)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
