//! The priority backend: one lock-free lane per level for the new messages,
//! a lock-free room count for a bounded queue, and a lock for the rest.
//!
//! # Lanes: pushes and pops of new messages take no lock
//!
//! A push appends to its level's lane, a crossbeam channel, and a pop
//! takes the front of the highest lane that holds a message (`lanes.rs`
//! says how the bitmap of lanes stays right without a lock). The single
//! lock that every push and pop took before was what kept this backend at
//! 3.5–5.5x crossbeam with several producers: its threads were switched
//! out 0.025–0.035 times per message against FIFO's 0.0002
//! (`benches/parks.rs`), each a yield or a park over the lock.
//!
//! A bounded queue claims room before the lane and gives it back after
//! the pop, on two counters, one written by each side (`room.rs`). Measured
//! (`cargo bench --bench throughput`, 4 interleaved rounds, bounded(1024),
//! median ns per message, lock / lanes): one priority spsc 371–403 /
//! 231–308, mpsc ×2 228–306 / 151–162, mpsc ×4 234–250 / 157–166, mpmc 2×2
//! 248–274 / 173–204. Mixed priorities gain nothing (mpsc ×4 is slower,
//! 289 / 379–401): the bitmap's bits are cleared and set again on nearly
//! every message. One counter written by both sides, tried before, was no
//! faster than the lock. One thread alone pays more instructions on the
//! lanes (callgrind send+recv 372 under the lock, 623 on lanes).
//!
//! A bounded(1) queue keeps its message under the lock instead: every
//! message there is a hand-off, paid in latency, and the lock touches
//! fewer lines than a room claim, a lane and its bit. Async ping-pong over
//! bounded(1), against tokio (`cargo bench --bench async`, 3 interleaved
//! rounds): 1.58x on lanes, 1.15x under the lock. Tried at capacities up
//! to 16, the lock was 2x slower with 4 producers (`thr`, bounded(16)).
//!
//! What goes through the lock on every capacity: requeued messages, which
//! go to the *front* of their level and so cannot enter a lane (a pop looks
//! at them first while `len_hint` says there are any), parking, and the
//! rendezvous. Why the guarantees hold:
//!
//! - **Strict priority order for what is queued**, and FIFO within a level
//!   for one producer: see `lanes.rs`. A message held under the lock leaves
//!   before the lanes' messages of its level: a pop that finds messages
//!   held takes, under the lock, the more urgent of the highest held level
//!   and the highest lane, the held one on a tie.
//! - **Capacity.** A bounded queue's messages and permits are counted by
//!   its room (`room.rs`), claimed before a message enters its lane and
//!   given back after it leaves; an unbounded queue counts nothing.
//! - **No lost wake-up.** A receiver that finds nothing counts itself in
//!   `Gate::sleepers` under the lock, looks once more, and parks on
//!   `not_empty`. A push into a lane fences (SeqCst) after its message is
//!   in, then reads `sleepers`: either it sees the receiver and notifies it
//!   (taking the lock first, so the receiver is already waiting), or the
//!   receiver's second look comes after the push in the SeqCst order and
//!   finds it. A pop that sets a lane's bit again after clearing it wakes a
//!   receiver too (`lanes.rs` says why). Pushes under the lock notify under
//!   it. Senders waiting for room count themselves under the lock and look
//!   again; a pop that frees room reads that count after freeing
//!   (`room.rs` has the handshake).
//! - **Close.** A push racing with `close` may still land in a lane after
//!   the last look of a receiver that then reports `Closed`; the `Queue`
//!   contract allows this (the mailbox sweeps such stragglers), and any pop
//!   that starts after the push returned finds the message.
//!
//! `evict_lowest` is the mirror image of a pop: the lowest occupied level,
//! messages held under the lock first.
//!
//! Blocking is where naive priority queues lose: a notify on every push and
//! pop makes a condition-variable wake storm. Here each side counts its
//! parked waiters and notifies only when someone is parked; and before
//! parking, a caller spins briefly on the queue's state, because in a busy
//! mailbox the wait usually ends sooner than a park/unpark round trip (a
//! bounded(1) queue's receiver, a hand-off, spins longer: `pop_waiting`).
//!
//! Capacity 0 (a rendezvous) has its own file, `rendezvous.rs`: offers of
//! blocked senders and hand-offs to parked receivers, all under the lock (a
//! rendezvous holds no new message, so it has no lanes).

mod fast;
mod held;
mod lanes;
mod rendezvous;
mod room;
mod state;

pub(crate) use rendezvous::Offered;

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::{try_pop_each, Queue};
use crate::sync::{
    backoff, fence_seqcst, AtomicBool, AtomicUsize, CachePadded, Condvar, Mutex, MutexGuard,
    SPIN_LIMIT,
};

use held::Source;
use lanes::Lanes;
use room::Room;
use state::{End, State};

/// How many times a receiver of a bounded(1) queue checks for a message
/// before it parks (see `pop_waiting`): the spin's yields go on three
/// times as long as other queues'.
const HAND_OFF_SPIN_LIMIT: u32 = 3 * SPIN_LIMIT;

/// The priority queueing discipline: highest priority first, FIFO within a
/// priority.
///
/// A queue with `levels` levels accepts priorities `0..levels`; a higher number
/// is more urgent (as in RabbitMQ). Usually built through
/// [`MailboxBuilder::priority`](crate::MailboxBuilder::priority); public so
/// that custom backends can wrap it.
///
/// Capacity 0 is a true rendezvous, as on the FIFO backend: a push completes
/// only when a receiver takes the message, whether it receives with a
/// blocking `pop` or polls with `try_pop` (so a select takes it too). A
/// sender that finds no receiver waiting puts its message on offer and blocks
/// until a receiver takes it, or until its deadline or a close, when it gets
/// the message back; a non-blocking `try_push` succeeds only by handing the
/// message to a receiver blocked in `pop`. The messages of blocked senders
/// leave in priority order too (the oldest first within a priority, after
/// requeued messages of that priority). `len` counts requeued messages only:
/// a rendezvous holds no new message, so right after a completed send it is 0
/// unless something was requeued.
pub struct Priority<T> {
    /// Number of levels (1..=255): priorities `0..levels` are accepted.
    levels: u8,
    /// One level that accepts every priority and ignores it: the FIFO
    /// rendezvous a mailbox builds on this engine (see `fifo_rendezvous`).
    ignores_priorities: bool,
    /// Bounded(1): new messages wait under the lock, not in the lanes
    /// (see the module docs).
    locked_slot: bool,
    /// The most messages held, `None` for unbounded.
    capacity: Option<usize>,
    /// A bounded queue's room count (`room.rs`); `None` when unbounded
    /// and on a rendezvous, which hold no room.
    room: Option<Box<Room>>,
    /// What every push and pop of a buffered queue touches, on lines of its
    /// own: the lanes and the counts read without the lock.
    gate: CachePadded<Gate<T>>,
    /// The lock, what it protects and the length hint, on lines of their own.
    hot: CachePadded<Hot<T>>,
    /// Receivers park here while the queue is empty.
    not_empty: Condvar,
    /// Senders park here while the queue is full (on a rendezvous: while
    /// their offer waits for a receiver).
    not_full: Condvar,
}

/// What a buffered queue's pushes and pops share without the lock.
struct Gate<T> {
    /// The lanes of new messages (see `lanes.rs`).
    lanes: Lanes<T>,
    /// Receivers of a buffered queue parked on `not_empty`: changed under
    /// the lock, read by pushes after their message is in.
    sleepers: AtomicUsize,
    /// Senders of a bounded queue parked on `not_full` for room: changed
    /// under the lock, read by whoever frees room (`room.rs`).
    waiting: AtomicUsize,
    /// Mirror of `state.closed` for the lock-free checks.
    closed: AtomicBool,
}

/// The lock and the length hint, on one cache line.
#[repr(C)]
struct Hot<T> {
    /// `state.len` (the messages under the lock: requeued ones), readable
    /// without the lock: a pop looks there first while it is not 0.
    len_hint: AtomicUsize,
    /// The requeued messages, the rendezvous and the closed flag, changed
    /// only under this lock.
    state: Mutex<State<T>>,
}

impl<T> Priority<T> {
    /// A priority queue with `levels` levels (priorities `0..levels`) holding at
    /// most `capacity` messages (`None`: unbounded). `levels` 0 is taken as 1.
    pub fn new(levels: u8, capacity: Option<usize>) -> Priority<T> {
        let levels = levels.max(1);
        Priority {
            levels,
            ignores_priorities: false,
            locked_slot: capacity == Some(1),
            capacity,
            room: capacity
                .filter(|&cap| cap > 0)
                .map(|cap| Box::new(Room::new(cap))),
            gate: CachePadded(Gate {
                lanes: Lanes::new(levels),
                sleepers: AtomicUsize::new(0),
                waiting: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
            }),
            hot: CachePadded(Hot {
                len_hint: AtomicUsize::new(0),
                state: Mutex::new(State::new()),
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// A FIFO rendezvous (capacity 0) on this engine: one level, every
    /// priority accepted and ignored. Mailboxes built with `fifo()` and
    /// capacity 0 use it rather than crossbeam's zero-capacity channel,
    /// because its offers can be taken by any receive, a select's poll or a
    /// task's, and an async sender can leave its message on offer; on
    /// crossbeam's channel a sender pairs only with a receiver blocked in a
    /// thread.
    pub(crate) fn fifo_rendezvous() -> Priority<T> {
        Priority {
            ignores_priorities: true,
            ..Priority::new(1, Some(0))
        }
    }

    /// The number of levels.
    pub fn levels(&self) -> u8 {
        self.levels
    }

    /// How many senders are blocked in [`push`](Queue::push) with their
    /// message on offer: on a rendezvous queue (capacity 0), the sends
    /// waiting for a receiver; always 0 on other capacities. A snapshot, for
    /// monitoring and tests.
    pub fn offers(&self) -> usize {
        self.hot
            .state
            .lock()
            .rendezvous
            .as_ref()
            .map_or(0, |rv| rv.offers.len())
    }

    /// Whether this is a rendezvous queue (everything under the lock).
    #[inline]
    fn is_rendezvous(&self) -> bool {
        self.capacity == Some(0)
    }

    /// Wakes a receiver parked for a message, if one is: after a push into
    /// a lane (whose fence orders the message before this look).
    #[inline]
    fn message_arrived(&self) {
        if self.gate.sleepers.load(Ordering::SeqCst) > 0 {
            self.wake_receiver();
        }
    }

    /// Wakes one parked receiver. Taking the lock first waits until a
    /// receiver that counted itself is parked.
    #[cold]
    #[inline(never)]
    fn wake_receiver(&self) {
        drop(self.hot.state.lock());
        self.not_empty.notify_one();
    }

    /// A message whose room is claimed (or needs none) into its lane, or,
    /// on a bounded(1) queue, under the lock (see the module docs).
    #[inline]
    fn enter(&self, msg: Message<T>) {
        let lane = if self.locked_slot {
            Err(msg)
        } else {
            self.gate.lanes.push(msg)
        };
        if let Err(msg) = lane {
            // A bounded(1) queue's message, by design. (A lane takes every
            // message: unbounded, and both ends live as long as the queue;
            // were one refused, it would wait here too.)
            let mut state = self.hot.state.lock();
            state.push(msg, self.levels, End::Back);
            self.publish_and_wake(state);
            return;
        }
        self.message_arrived();
    }

    /// After messages went in under the lock: publishes their count,
    /// releases the lock, and wakes a receiver parked for a message.
    #[inline]
    fn publish_and_wake(&self, state: MutexGuard<'_, State<T>>) {
        self.hot.len_hint.store(state.len, Ordering::SeqCst);
        let wake = if self.is_rendezvous() {
            state.parked_receivers > 0
        } else {
            self.gate.sleepers.load(Ordering::SeqCst) > 0
        };
        drop(state);
        if wake {
            self.not_empty.notify_one();
        }
    }

    /// `try_push` of a rendezvous queue: under the lock, only into the
    /// hands of a receiver parked in `pop`.
    fn try_push_rendezvous(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.hot.state.lock();
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        self.hand_over(state, msg)
    }

    /// The most urgent message queued on a buffered queue, its room given
    /// back. The lanes' branch is written out rather than calling
    /// `take_keeping_room`: passing the message up through one more
    /// `Option` cost 13 instructions per receive (callgrind).
    #[inline]
    fn take(&self) -> Option<Message<T>> {
        if self.hot.len_hint.load(Ordering::SeqCst) == 0 {
            let msg = self.gate.lanes.pop_highest(|| self.message_arrived())?;
            self.room_freed(1);
            return Some(msg);
        }
        let msg = self.take_held_first()?;
        self.room_freed(1);
        Some(msg)
    }

    /// [`take`](Priority::take) without giving the room back, for a batch
    /// that gives it back once.
    #[inline]
    fn take_keeping_room(&self) -> Option<Message<T>> {
        if self.hot.len_hint.load(Ordering::SeqCst) == 0 {
            return self.gate.lanes.pop_highest(|| self.message_arrived());
        }
        self.take_held_first()
    }

    /// Whether anything may be queued, without the lock (for spinning and
    /// for a receiver's last look before it parks).
    #[inline]
    fn queued_hint(&self) -> bool {
        self.hot.len_hint.load(Ordering::SeqCst) > 0 || self.gate.lanes.any()
    }
}

impl<T: Send> Priority<T> {
    /// A buffered queue's blocking pop, once the fast path found it empty:
    /// spins briefly, then parks (see "No lost wake-up" in the module docs).
    #[inline(never)]
    fn pop_waiting(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        // A bounded(1) queue is a hand-off: its next message is most often
        // the answer to one its receiver just sent, and comes within a few
        // yields. Parked, each such wait cost a futex round trip: sync
        // ping-pong over two bounded(1) priority mailboxes parked on 15% of
        // its messages and ran at 3-4x crossbeam (FIFO's wait spins in
        // crossbeam's select as well, and almost never parks).
        let spins = if self.locked_slot {
            HAND_OFF_SPIN_LIMIT
        } else {
            SPIN_LIMIT
        };
        for step in 0..spins {
            if self.gate.closed.load(Ordering::Acquire) {
                break;
            }
            if self.queued_hint() {
                match self.try_pop() {
                    Err(PopError::Empty) => {}
                    done => return done,
                }
            }
            backoff(step);
        }
        loop {
            // Messages are checked before the deadline, so a receiver woken for
            // a message always takes it rather than wasting the wake-up.
            if let Some(msg) = self.take() {
                return Ok(msg);
            }
            let state = self.hot.state.lock();
            if state.closed {
                // A message that landed before the close is still handed out.
                drop(state);
                return self.take().ok_or(PopError::Closed);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PopError::Timeout);
            }
            self.gate.sleepers.fetch_add(1, Ordering::SeqCst);
            // The second look, after counting: a push either sees the count
            // or comes before this look (see the module docs).
            fence_seqcst();
            let state = if self.queued_hint() {
                state
            } else {
                self.not_empty.wait_until(state, deadline).0
            };
            self.gate.sleepers.fetch_sub(1, Ordering::SeqCst);
            drop(state);
        }
    }
}

impl<T: Send> Queue<T> for Priority<T> {
    #[inline]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        if self.is_rendezvous() {
            return self.try_push_rendezvous(msg);
        }
        if self.gate.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed(msg));
        }
        if !self.claim_room() {
            return Err(PushError::Full(msg));
        }
        self.enter(msg);
        Ok(())
    }

    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        if self.is_rendezvous() {
            // No spinning either: only a receiver lets the message through.
            return self.push_rendezvous(msg, deadline, &|| {});
        }
        match self.try_push(msg) {
            Err(PushError::Full(msg)) => self.push_waiting(msg, deadline),
            done => done,
        }
    }

    #[inline]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        if self.is_rendezvous() {
            let mut state = self.hot.state.lock();
            // Made only by a rendezvous queue's first hand-off or offer:
            // until then there are only held (requeued) messages.
            if state.rendezvous.is_some() {
                return self.try_pop_rendezvous(state);
            }
            let msg = state.pop_highest();
            self.hot.len_hint.store(state.len, Ordering::SeqCst);
            return match msg {
                Some(msg) => Ok(msg),
                None if state.closed => Err(PopError::Closed),
                None => Err(PopError::Empty),
            };
        }
        if let Some(msg) = self.take() {
            return Ok(msg);
        }
        if !self.gate.closed.load(Ordering::SeqCst) {
            return Err(PopError::Empty);
        }
        // Closed: look once more after seeing the flag, for a message pushed
        // before the close that landed after the first look.
        self.take().ok_or(PopError::Closed)
    }

    /// The highest priority first, as repeated `try_pop`s, and one return
    /// of room (and wake-up of parked senders) for the batch. A rendezvous
    /// queue takes one `try_pop` at a time: each offer taken completes its
    /// own sender.
    fn try_pop_many(&self, buf: &mut Vec<Message<T>>, max: usize) -> Result<usize, PopError> {
        if self.is_rendezvous() || max == 0 {
            return try_pop_each(self, buf, max);
        }
        let mut n = 0;
        while n < max {
            let Some(msg) = self.take_keeping_room() else {
                break;
            };
            buf.push(msg);
            n += 1;
        }
        if n > 0 {
            self.room_freed(n);
        }
        if n == 0 {
            return self.try_pop().map(|msg| {
                buf.push(msg);
                1
            });
        }
        Ok(n)
    }

    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        if self.is_rendezvous() {
            return self.pop_rendezvous(deadline);
        }
        // `take` first, not `try_pop`: one `Result` layer less on the path
        // of every message (each costs a copy of it).
        if let Some(msg) = self.take() {
            return Ok(msg);
        }
        self.pop_waiting(deadline)
    }

    /// The messages held: on a rendezvous queue only requeued ones (not the
    /// hand-offs, which belong to their receivers, nor the offers of blocked
    /// senders); on a buffered one, those in the lanes and the requeued ones.
    fn len(&self) -> usize {
        self.len_snapshot()
    }

    fn is_empty(&self) -> bool {
        self.hot.len_hint.load(Ordering::Acquire) == 0 && self.gate.lanes.is_empty()
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// Wakes every parked receiver and sender. On a rendezvous, blocked
    /// senders withdraw their offers and fail with `Closed` (no receive takes
    /// an offer after the close, so none can be taken between the close and
    /// its sender's withdrawal); hand-offs are still handed out.
    fn close(&self) -> bool {
        let mut state = self.hot.state.lock();
        let first = !state.closed;
        state.closed = true;
        self.gate.closed.store(true, Ordering::SeqCst);
        drop(state);
        if first {
            self.not_empty.notify_all();
            self.not_full.notify_all();
            self.wake_offers();
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.gate.closed.load(Ordering::Acquire)
    }

    fn priority_levels(&self) -> Option<u8> {
        (!self.ignores_priorities).then_some(self.levels)
    }

    /// Puts the message at the front of its level (clamped like a push), so
    /// the latest requeue at a level leaves first. Ignores capacity and
    /// `closed`, as the contract asks: a closed queue still drains, and
    /// `pop` checks for messages before it checks `closed`.
    ///
    /// On a rendezvous queue (capacity 0) the message is held like on any
    /// other (`len` counts it) with no sender involved: every receive takes
    /// it in priority order (before offers of its level), and
    /// `State::free_receiver` counts it, so that `try_push` does not hand a
    /// message to the parked receiver this requeue wakes.
    fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        self.hold_anyway();
        let mut state = self.hot.state.lock();
        // Wakes a parked receiver exactly as a push does: the receiver
        // re-checks for messages under the lock, so the wake-up cannot be lost.
        state.push(msg, self.levels, End::Front);
        self.publish_and_wake(state);
        Ok(())
    }

    /// Takes the oldest message of the lowest occupied level if that level is
    /// at most `at_most` (a requeued message first: it is at the front), and
    /// wakes a parked sender (the eviction made room). On a rendezvous queue
    /// that is a requeued message only: hand-offs belong to their receivers
    /// and offers to their senders.
    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        let at_most = usize::from(at_most);
        let msg = self.take_with_held(|state, lanes| {
            let lane = lanes.lowest();
            match (state.lowest_level(), lane) {
                (Some(held), lane) if held <= at_most && lane.is_none_or(|l| held <= l) => {
                    Some(Source::Held(State::pop_lowest))
                }
                (_, Some(lane)) if lane <= at_most => Some(Source::Lane(lane)),
                _ => None,
            }
        })?;
        // The eviction made room: a parked sender may take it.
        self.room_freed(1);
        Some(msg)
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("levels", &self.levels)
            .field("len", &self.len_snapshot())
            .field("capacity", &self.capacity)
            .field("closed", &self.gate.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> Priority<T> {
    /// `len`, without the `Send` bound of the `Queue` impl (for `Debug`).
    fn len_snapshot(&self) -> usize {
        self.hot.len_hint.load(Ordering::Acquire) + self.gate.lanes.len()
    }
}
