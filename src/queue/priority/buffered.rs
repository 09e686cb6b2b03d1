//! Buffered capacities (bounded and unbounded): senders publish into the
//! inbox without the queue's lock; receivers move what is staged there into
//! the levels under it.
//!
//! # A send
//!
//! 1. `closed` (an atomic mirror of the flag) is checked; a closed queue
//!    refuses the message.
//! 2. On a bounded queue, one unit of room is taken from `taken` by a CAS
//!    that never passes the capacity (`Full` if there is none).
//! 3. The message is published in the inbox (`inbox.rs`: the inbox's own
//!    lock, a push, the inbox's length stored SeqCst).
//! 4. `sleepers` is read (SeqCst). If a receiver is counted in, the sender
//!    takes the queue's lock and notifies `not_empty` (see "No lost
//!    wake-up").
//!
//! A blocked sender spins on `taken`, then parks on `not_full`.
//!
//! # A receive
//!
//! Under the queue's lock: if the inbox may hold a message more urgent than
//! the levels' most urgent (its `top`, the highest level staged, is above
//! it, or the levels are empty), everything staged is taken in one swap and
//! moved to the back of its level in the inbox's order (the *drain*); then
//! the front of the highest occupied level is taken, and its room goes back
//! to `taken`. So a receiver working through a backlog of one priority
//! drains once per batch, not once per message. When the levels are empty, a
//! lone staged message is returned as it is, and a batch of one level
//! becomes that level's queue, so the common cases move no message twice. A
//! blocked receiver spins on the inbox's and the levels' lengths, then parks
//! on `not_empty`.
//!
//! # Why the guarantees hold
//!
//! - **Strict priority order for what is queued.** A publish stores the
//!   inbox's `top` (if it raised it) and length (SeqCst) before it returns;
//!   a receive reads them (SeqCst). If something staged may be more urgent
//!   than the levels' best, it drains before it chooses (the inbox's lock
//!   orders it after every publish whose lock came first), so a message
//!   whose send returned before the receive began competes; sends still in
//!   progress were concurrent with it. If nothing staged is above the
//!   levels' best level, that level's front is the answer anyway: staged
//!   messages of the same level came after everything in the levels.
//! - **FIFO within a level for one sender.** One sender's publishes are in
//!   the inbox in the order it made them (each under the inbox's lock), and
//!   the drain appends them to the back of their level in that order.
//! - **Requeued messages go to the front of their level.** A requeue pushes
//!   at the front of the levels under the lock; what is still staged lands
//!   behind it when drained, as it would have if it had been pushed there.
//!   A restored message (`push_restored`) drains the inbox first and then
//!   goes to the back.
//! - **Capacity counts permits.** `taken` counts the messages staged and in
//!   the levels plus the room permits hold. Sends and permits take a unit
//!   by a CAS that stops at the capacity; receives, evictions and permits
//!   given back return one; requeues and restored messages add one whatever
//!   the capacity (a mailbox may hold more than its capacity by the
//!   deliveries that come back). A permit's message takes no room: its
//!   permit's unit becomes the message's.
//! - **No lost wake-up for a blocked sender.** Room is given back only under
//!   the queue's lock, after which the giver notifies `not_full` if a sender
//!   is parked. A blocked sender tries to take room under the lock and, if
//!   there is none, parks in the same critical section (the wait releases
//!   the lock atomically). So every unit given back after its look finds it
//!   parked, and is announced. Room is checked before the deadline, so a
//!   sender woken for room never leaves that wake-up unused.
//! - **No lost wake-up for a blocked receiver.** A receiver about to park
//!   counts itself in `sleepers` (SeqCst) and then reads the inbox's length
//!   (SeqCst); a sender stores the length (SeqCst) and then reads
//!   `sleepers`. Of two SeqCst store-then-load sequences at least one sees
//!   the other's store (under loom a SeqCst fence stands between them, see
//!   `sync::handshake_fence`): the receiver finds the message and does not
//!   park, or the sender sees the count and notifies. It notifies after
//!   taking the queue's lock, which the receiver holds from its look until
//!   it is inside the wait, so the notify cannot fall between the two.
//!   Requeues and restored messages are made under the lock and notify like
//!   a publish. So every message that arrives while a receiver is parked
//!   wakes one parked receiver (or finds every parked receiver already
//!   woken, none asleep), and a woken receiver looks under the lock before
//!   it parks again: a drain that leaves several messages in the levels has
//!   had one wake-up per message, and no receiver sleeps while one waits.
//!   The same SeqCst store is what the mailbox's selects and tasks rely on
//!   (they count themselves in before they poll, a sender reads the count
//!   after its push); likewise a task waiting for room counts itself in
//!   before it tries to take room (SeqCst), and a receive gives room back
//!   with a SeqCst RMW before the mailbox reads that count.
//! - **Close.** The flag is set under the lock and mirrored (SeqCst); parked
//!   callers are woken and see it under the lock. A send that read the
//!   mirror just before the close may still publish: like a push racing
//!   with a close on the FIFO backend, its message is there for every pop
//!   that starts after the send returned, which is what the mailbox's sweep
//!   of such stragglers needs (see the `Queue` contract). But a close wins
//!   over room it freed itself: a bounded send reads the mirror again after
//!   it took its room, and gives the room back if the queue closed (the
//!   close drains the queue after its SeqCst store, so room taken from that
//!   drain is ordered after the store). A closed queue's
//!   receive drains the inbox and hands out what is left before it reports
//!   `Closed`.
//!
//! `len` adds the inbox's length and the levels' (`len_hint`); while a
//! receiver moves messages from one to the other it may be off by those
//! messages, as the `Queue` contract allows.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PopError, PushError, ReserveError};
use crate::message::Message;
use crate::sync::{backoff, handshake_fence, MutexGuard, SPIN_LIMIT};

use std::collections::VecDeque;

use super::{level_of, End, Priority, State};

impl<T> Priority<T> {
    /// Takes one unit of room on a bounded queue if there is any; always
    /// succeeds on an unbounded one.
    #[inline(always)]
    fn take_room(&self) -> bool {
        let Some(cap) = self.capacity else {
            return true;
        };
        // SeqCst: the second half of the store-then-load handshake with a
        // receive that gives room back while a task counts itself in to
        // wait for room (see `give_room_back`).
        let mut taken = self.taken.load(Ordering::SeqCst);
        loop {
            if taken >= cap {
                return false;
            }
            match self.taken.compare_exchange_weak(
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

    /// Counts one more unit of room taken whatever the capacity (a requeue,
    /// a restored message). Buffered queues only.
    #[inline]
    pub(super) fn add_taken(&self) {
        if self.capacity.is_some() {
            self.taken.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Gives one unit of room back. Buffered queues only, under the lock
    /// (see "No lost wake-up for a blocked sender"). SeqCst and fenced: the
    /// mailbox then reads whether a task waits for room, and that task
    /// counted itself in before it tried to take room (a store-then-load
    /// handshake on each side).
    #[inline]
    pub(super) fn give_room_back(&self) {
        if self.capacity.is_some() {
            self.taken.fetch_sub(1, Ordering::SeqCst);
            handshake_fence();
        }
    }

    /// Takes one unit of room for a send or a permit of an open queue:
    /// `Err(true)` if the queue is closed, `Err(false)` if it is full.
    ///
    /// `closed` is read again once the room is taken: a close drains the
    /// queue, and room that the drain freed must not let a racing send in
    /// after the close (a close wins over room it freed itself, as on the
    /// FIFO backend). The drain gives the room back after the close's SeqCst
    /// store, so a CAS that took that room is ordered after the store and
    /// the second read sees it.
    #[inline(always)]
    fn take_open_room(&self) -> Result<(), bool> {
        if self.closed.load(Ordering::Acquire) {
            return Err(true);
        }
        if !self.take_room() {
            return Err(false);
        }
        if self.capacity.is_some() && self.closed.load(Ordering::SeqCst) {
            self.unreserve();
            return Err(true);
        }
        Ok(())
    }

    /// Whether a send could find room now (a hint for spinning senders).
    fn room_hint(&self) -> bool {
        self.capacity
            .is_none_or(|cap| self.taken.load(Ordering::Relaxed) < cap)
    }

    /// Whether a receive could find a message now (a hint for spinning
    /// receivers).
    fn message_hint(&self) -> bool {
        self.len_hint.load(Ordering::Acquire) > 0 || !self.inbox.is_empty()
    }

    /// Moves everything staged to the back of its level, in the inbox's
    /// order. Under the lock.
    #[inline]
    pub(super) fn drain(&self, state: &mut State<T>) {
        if self.inbox.is_empty() {
            return;
        }
        let mut batch = std::mem::take(&mut state.spare);
        self.inbox.take_all(&mut batch);
        for msg in batch.drain(..) {
            state.push(msg, self.levels, End::Back);
        }
        state.spare = batch;
        // What moved is counted in the levels now (an eviction that then
        // takes nothing publishes no other length).
        self.len_hint.store(state.len, Ordering::Release);
    }

    /// The next message to hand out, under the lock: drains the inbox, then
    /// takes the front of the highest occupied level. When the levels are
    /// empty, a lone staged message is returned as it is, and a batch of
    /// one level becomes that level's queue (no message is moved).
    #[inline]
    pub(super) fn next_locked(&self, state: &mut State<T>) -> Option<Message<T>> {
        if state.len == 0 {
            if self.inbox.is_empty() {
                return None;
            }
            let mut batch = std::mem::take(&mut state.spare);
            self.inbox.take_all(&mut batch);
            if batch.len() <= 1 {
                let msg = batch.pop();
                state.spare = batch;
                return msg;
            }
            self.adopt(state, batch);
        } else if self.staged_above(state) {
            self.drain(state);
        }
        state.pop_highest()
    }

    /// Whether the inbox may hold a message more urgent than the levels'
    /// most urgent (the levels are not empty). If not, the receive takes
    /// from the levels without draining: the level it takes from holds the
    /// oldest messages of that level (everything staged came later), so
    /// neither the priority order nor the order within a level changes, and
    /// a receiver working through a backlog leaves the senders' line alone.
    #[inline(always)]
    fn staged_above(&self, state: &State<T>) -> bool {
        let top = self.inbox.top();
        top != 0 && state.highest_level().is_none_or(|held| top - 1 > held)
    }

    /// Puts a batch of two or more staged messages into empty levels: if they
    /// are all of one level, the batch's allocation becomes that level's
    /// queue and the level's old allocation the spare; otherwise each is
    /// moved to the back of its level.
    #[inline(never)]
    fn adopt(&self, state: &mut State<T>, mut batch: Vec<Message<T>>) {
        let level = |msg: &Message<T>| level_of(msg, self.levels);
        let first = batch.first().map_or(0, level);
        if batch.iter().all(|msg| level(msg) == first) {
            let count = batch.len();
            let old = std::mem::replace(&mut state.queues[first], VecDeque::from(batch));
            // Empty: the conversion moves nothing.
            state.spare = Vec::from(old);
            state.occupied[first >> 6] |= 1 << (first & 63);
            state.len += count;
        } else {
            for msg in batch.drain(..) {
                state.push(msg, self.levels, End::Back);
            }
            state.spare = batch;
        }
    }

    /// Publishes a message whose room is taken (or needs none), and wakes a
    /// parked receiver if one is counted in (see "No lost wake-up for a
    /// blocked receiver").
    #[inline(always)]
    fn publish(&self, msg: Message<T>) {
        let level = level_of(&msg, self.levels);
        self.inbox.publish(msg, level);
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.wake_receiver();
        }
    }

    /// Notifies a parked receiver. The lock is taken first: a receiver
    /// counted in holds it from its last look until it is inside the wait.
    #[cold]
    #[inline(never)]
    fn wake_receiver(&self) {
        drop(self.state.lock());
        self.not_empty.notify_one();
    }

    /// `try_push` of a buffered queue: never takes the lock (unless a
    /// receiver is parked).
    #[inline]
    pub(super) fn try_publish(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        match self.take_open_room() {
            Ok(()) => {
                self.publish(msg);
                Ok(())
            }
            Err(true) => Err(PushError::Closed(msg)),
            Err(false) => Err(PushError::Full(msg)),
        }
    }

    /// `push` of a buffered queue: a try, a short spin, then parks on
    /// `not_full` until room, the deadline or a close.
    #[inline(never)]
    pub(super) fn push_buffered(
        &self,
        mut msg: Message<T>,
        deadline: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        msg = match self.try_publish(msg) {
            Err(PushError::Full(m)) => m,
            done => return done,
        };
        for step in 0..SPIN_LIMIT {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.room_hint() {
                msg = match self.try_publish(msg) {
                    Err(PushError::Full(m)) => m,
                    done => return done,
                };
            }
            backoff(step);
        }
        let mut state = self.state.lock();
        loop {
            if state.closed {
                return Err(PushError::Closed(msg));
            }
            if self.take_room() {
                // Published outside the lock: waking a receiver takes it.
                drop(state);
                self.publish(msg);
                return Ok(());
            }
            // Room is checked before the deadline, so a sender woken for room
            // never leaves that wake-up unused (no stranded parked sender).
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
            state.parked_senders += 1;
            (state, _) = self.not_full.wait_until(state, deadline);
            state.parked_senders -= 1;
        }
    }

    /// `pop` of a buffered queue: a try, a short spin, then parks on
    /// `not_empty` until a message, the deadline or a close.
    #[inline(never)]
    pub(super) fn pop_buffered(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        let mut state = self.state.lock();
        if let Some(msg) = self.next_locked(&mut state) {
            return Ok(self.took_locked(state, msg));
        }
        drop(state);
        for step in 0..SPIN_LIMIT {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.message_hint() {
                let mut state = self.state.lock();
                if let Some(msg) = self.next_locked(&mut state) {
                    return Ok(self.took_locked(state, msg));
                }
            }
            backoff(step);
        }
        let mut state = self.state.lock();
        loop {
            // Messages are checked before the deadline, so a receiver woken
            // for a message always takes it rather than wasting the wake-up.
            if let Some(msg) = self.next_locked(&mut state) {
                return Ok(self.took_locked(state, msg));
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PopError::Timeout);
            }
            state = self.park_receiver(state, deadline);
        }
    }

    /// Counts the receiver in, looks at the inbox once more, and parks on
    /// `not_empty` unless something was published meanwhile. Returns with
    /// the lock held and the receiver counted out.
    fn park_receiver<'a>(
        &'a self,
        mut state: MutexGuard<'a, State<T>>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, State<T>> {
        state.parked_receivers += 1;
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        handshake_fence();
        // The store-then-load handshake with `publish`: a sender that
        // published before it could see our count is seen here.
        if self.inbox.is_empty() {
            (state, _) = self.not_empty.wait_until(state, deadline);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
        state.parked_receivers -= 1;
        state
    }

    /// `try_reserve` of a buffered queue: one unit of room from `taken`
    /// (nothing to hold on an unbounded queue).
    pub(super) fn try_reserve_buffered(&self) -> Result<(), ReserveError> {
        match self.take_open_room() {
            Ok(()) => Ok(()),
            Err(true) => Err(ReserveError::Closed),
            Err(false) => Err(ReserveError::Full),
        }
    }

    /// `push_reserved` of a buffered queue: the permit's room becomes the
    /// message's; if the queue closed meanwhile, the room goes back.
    pub(super) fn push_reserved_buffered(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        if self.closed.load(Ordering::Acquire) {
            self.unreserve();
            return Err(PushError::Closed(msg));
        }
        self.publish(msg);
        Ok(())
    }
}
