//! The priority backend: one FIFO queue per level and a bitmap of the levels
//! that hold messages, under one lock.
//!
//! Push and pop are O(1): push appends to its level and sets the level's bit;
//! pop finds the highest set bit (at most four word scans for 256 levels) and
//! takes the front of that level. Equal priorities therefore stay strictly FIFO.
//!
//! A requeued message (a redelivery) goes to the *front* of its level: the
//! same O(1) bitmap update with `push_front`. It ignores capacity and `closed`
//! (the `Queue::requeue` contract) and wakes a parked receiver like a push.
//! `evict_lowest` is the mirror image of a pop: the lowest set bit, the front
//! of that level.
//!
//! Blocking is where naive priority queues lose: a notify on every push and pop
//! makes a condition-variable wake storm. Here each side counts its parked
//! waiters under the lock and notifies only when someone is parked; and before
//! parking, a caller spins briefly on an atomic length hint, because in a busy
//! mailbox the wait usually ends sooner than a park/unpark round trip.
//!
//! # Rendezvous (capacity 0)
//!
//! A rendezvous queue holds no new message: a push completes only when a
//! receiver takes the message, whichever way it receives (`pop`, `try_pop`,
//! and so a select's poll), as on crossbeam's zero-capacity channel under the
//! FIFO backend. Two things stand in for a buffer, both under the one lock and
//! both in a `Rendezvous` made by the first push that needs it. The other
//! capacities never make it: their paths only pay a comparison (of the
//! capacity in `push` / `pop`, of that pointer with null in `try_pop`).
//!
//! - **Offers.** A blocking push that finds no receiver free publishes its
//!   message with a ticket, wakes a parked receiver and waits on `not_full`
//!   until its ticket is gone: a receiver took it, the send is complete. On
//!   its deadline or on close it withdraws the offer if it is still there and
//!   fails with the message (`Timeout` / `Closed`). The look and the
//!   withdrawal are one critical section, and so is a receiver's take: an
//!   offer is taken or withdrawn, never both, and a sender whose offer was
//!   taken just before its deadline or a close reports success.
//! - **Hand-offs.** A push that finds a receiver parked in `pop` and not yet
//!   spoken for (more parked receivers than held messages, hand-offs and
//!   offers together) gives it the message and completes at once, as
//!   crossbeam's `try_send` writes into a waiting receiver's slot. This is
//!   the only way `try_push` succeeds. A hand-off is committed: a parked
//!   receiver, once it has the lock back (woken, timed out or spuriously),
//!   takes a hand-off before anything else and before it looks at its
//!   deadline, so at every release of the lock there are at most as many
//!   hand-offs as parked receivers, and none is left without one (see
//!   below for why those receivers are woken).
//!
//! Every receive takes, in this order: a hand-off (oldest first); then the
//! most urgent of the held (requeued) messages and the offers: highest
//! priority first, within a priority held messages before offers, offers
//! oldest first. After close, offers are no longer taken (their senders wake
//! to withdraw them and fail with `Closed`, message in hand), while hand-offs
//! and held messages are still drained. `len` counts held messages only, so
//! it is 0 right after a completed send unless something was requeued
//! (crossbeam's zero-capacity channel always reports 0): a hand-off belongs
//! to its receiver, an offer to its blocked sender.
//!
//! No wake-up is lost: a receiver parks only after finding nothing to take
//! under the lock, and every hand-off, offer and requeue made while a
//! receiver is parked is followed by a `notify_one`. So while any receiver
//! sleeps, the receivers already woken and not yet back at the lock are at
//! least as many as the things there are to take; each takes one when it
//! gets the lock (a hand-off first), so nothing is left for a sleeping
//! receiver, and no hand-off outlives the receivers it was counted against.
//! A receiver that timed out or woke spuriously counts as woken: it looks
//! before it leaves. Senders on a rendezvous are not
//! counted in `parked_senders`: they wait for their offer to be taken, not for
//! room, so a pop or an eviction of a held message never wakes them; whoever
//! takes an offer, and `close`, wake them all (see `took`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{
    backoff, AtomicBool, AtomicUsize, CachePadded, Condvar, Mutex, MutexGuard, SPIN_LIMIT,
};

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
    /// The most messages held, `None` for unbounded.
    capacity: Option<usize>,
    /// The queues and the waiter counts, changed only under this lock. On a
    /// cache line of its own: spinners read `len_hint` without touching it.
    state: CachePadded<Mutex<State<T>>>,
    /// Receivers park here while the queue is empty.
    not_empty: Condvar,
    /// Senders park here while the queue is full (on a rendezvous: while
    /// their offer waits for a receiver).
    not_full: Condvar,
    /// `state.len`, readable without the lock, for spinning waiters and `len()`.
    len_hint: CachePadded<AtomicUsize>,
    /// Mirror of `state.closed` for the lock-free checks.
    closed: AtomicBool,
}

/// What the lock protects.
struct State<T> {
    /// One FIFO per level, index = priority.
    queues: Box<[VecDeque<Message<T>>]>,
    /// Bit `p` is set while level `p` holds messages.
    occupied: [u64; 4],
    /// Messages held over all levels.
    len: usize,
    /// No more pushes once set.
    closed: bool,
    /// Receivers parked on `not_empty`.
    parked_receivers: usize,
    /// Senders parked on `not_full` waiting for room (not rendezvous
    /// senders: see the module docs).
    parked_senders: usize,
    /// The hand-offs and offers of a rendezvous queue, made by its first push
    /// that needs one; always `None` on other capacities. Boxed, so that they
    /// pay one pointer for it.
    rendezvous: Option<Box<Rendezvous<T>>>,
}

/// What a rendezvous queue passes between senders and receivers besides
/// its held (requeued) messages.
struct Rendezvous<T> {
    /// Messages pushed into the hands of receivers parked in `pop`, oldest
    /// first. Never more than `parked_receivers` when the lock is free.
    handed: VecDeque<Message<T>>,
    /// The messages of senders blocked in `push`, in the order they came.
    offers: Vec<Offer<T>>,
    /// The next offer's ticket.
    next_ticket: u64,
}

/// A blocked sender's message, waiting for a receiver.
struct Offer<T> {
    /// Tells the sender whether its offer is still there.
    ticket: u64,
    /// The message's level (its priority, clamped).
    level: usize,
    msg: Message<T>,
}

/// Where a rendezvous receive took its message from: it decides whom the
/// take wakes.
#[derive(Clone, Copy)]
enum Origin {
    /// A hand-off or a held message: nobody waits for it.
    Held,
    /// A blocked sender's offer: its sender is waiting to hear.
    Offer,
}

/// Which end of its level a message goes to.
#[derive(Clone, Copy)]
enum End {
    /// Behind everything queued at its level: a new message.
    Back,
    /// Before everything queued at its level: a requeued message.
    Front,
}

/// The level a message goes to. The mailbox validates priorities; clamp
/// anyway so that a direct user of the backend cannot make it index out of
/// bounds.
#[inline]
fn level_of<T>(msg: &Message<T>, levels: u8) -> usize {
    usize::from(msg.header().priority().min(levels - 1))
}

impl<T> State<T> {
    #[inline]
    fn push(&mut self, msg: Message<T>, levels: u8, end: End) {
        let level = level_of(&msg, levels);
        match end {
            End::Back => self.queues[level].push_back(msg),
            End::Front => self.queues[level].push_front(msg),
        }
        self.occupied[level >> 6] |= 1 << (level & 63);
        self.len += 1;
    }

    #[inline]
    fn pop_highest(&mut self) -> Option<Message<T>> {
        let word = self.occupied.iter().rposition(|&w| w != 0)?;
        let bit = 63 - self.occupied[word].leading_zeros() as usize;
        self.pop_level(word, bit)
    }

    /// Takes the front of the lowest occupied level, if that level is at most
    /// `at_most`.
    fn pop_lowest(&mut self, at_most: u8) -> Option<Message<T>> {
        let word = self.occupied.iter().position(|&w| w != 0)?;
        let bit = self.occupied[word].trailing_zeros() as usize;
        if word * 64 + bit > usize::from(at_most) {
            // The least urgent work queued is still more urgent than allowed.
            return None;
        }
        self.pop_level(word, bit)
    }

    /// Takes the front of level `word * 64 + bit` (its bit is set) and keeps
    /// the bitmap and the length in step.
    #[inline]
    fn pop_level(&mut self, word: usize, bit: usize) -> Option<Message<T>> {
        let level = word * 64 + bit;
        let msg = self.queues[level].pop_front()?;
        if self.queues[level].is_empty() {
            self.occupied[word] &= !(1 << bit);
        }
        self.len -= 1;
        Some(msg)
    }

    /// The highest level that holds messages, if any.
    fn highest_level(&self) -> Option<usize> {
        let word = self.occupied.iter().rposition(|&w| w != 0)?;
        Some(word * 64 + 63 - self.occupied[word].leading_zeros() as usize)
    }

    /// The rendezvous part, made on first use.
    fn rendezvous(&mut self) -> &mut Rendezvous<T> {
        self.rendezvous.get_or_insert_with(|| {
            Box::new(Rendezvous {
                handed: VecDeque::new(),
                offers: Vec::new(),
                next_ticket: 0,
            })
        })
    }

    /// Whether a receiver parked in `pop` is free to be handed a message:
    /// more receivers are parked than there are things for them to take
    /// (held messages, hand-offs, offers). The parked receivers take the
    /// hand-offs first, so a hand-off made under this condition always has a
    /// receiver (see the module docs); counting the held messages and offers
    /// too keeps a `try_push` from overtaking a requeued message or a blocked
    /// sender that a parked receiver was already woken for.
    fn free_receiver(&self) -> bool {
        let spoken_for = self.len
            + self
                .rendezvous
                .as_ref()
                .map_or(0, |rv| rv.handed.len() + rv.offers.len());
        self.parked_receivers > spoken_for
    }

    /// Publishes a blocked sender's message; returns its ticket.
    fn offer(&mut self, msg: Message<T>, levels: u8) -> u64 {
        let level = level_of(&msg, levels);
        let rv = self.rendezvous();
        let ticket = rv.next_ticket;
        // Tickets only need to tell apart the offers there at one time.
        rv.next_ticket = rv.next_ticket.wrapping_add(1);
        rv.offers.push(Offer { ticket, level, msg });
        ticket
    }

    /// Whether the offer with this ticket is still waiting for a receiver.
    fn is_offered(&self, ticket: u64) -> bool {
        self.rendezvous
            .as_ref()
            .is_some_and(|rv| rv.offers.iter().any(|offer| offer.ticket == ticket))
    }

    /// Takes back the offer with this ticket, if no receiver took it.
    fn withdraw(&mut self, ticket: u64) -> Option<Message<T>> {
        let rv = self.rendezvous.as_deref_mut()?;
        let at = rv.offers.iter().position(|offer| offer.ticket == ticket)?;
        Some(rv.offers.remove(at).msg)
    }

    /// Takes the next message of a rendezvous queue: a hand-off first (its
    /// receiver is committed to it, see the module docs), then the most
    /// urgent of the held messages and the offers (held messages first
    /// within a level). Offers only while the queue is open: after a close
    /// their senders are woken to take them back.
    fn take_rendezvous(&mut self) -> Option<(Message<T>, Origin)> {
        let held = self.highest_level();
        if let Some(rv) = self.rendezvous.as_deref_mut() {
            if let Some(msg) = rv.handed.pop_front() {
                return Some((msg, Origin::Held));
            }
            if !self.closed {
                if let Some((at, level)) = rv.most_urgent_offer() {
                    if held.map_or(true, |held| level > held) {
                        return Some((rv.offers.remove(at).msg, Origin::Offer));
                    }
                }
            }
        }
        self.pop_highest().map(|msg| (msg, Origin::Held))
    }
}

impl<T> Rendezvous<T> {
    /// The offer to take next, as (index, level): the highest level, the
    /// oldest at that level (offers are kept in the order they came).
    fn most_urgent_offer(&self) -> Option<(usize, usize)> {
        let mut best: Option<(usize, usize)> = None;
        for (at, offer) in self.offers.iter().enumerate() {
            if best.map_or(true, |(_, level)| offer.level > level) {
                best = Some((at, offer.level));
            }
        }
        best
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
            state: CachePadded(Mutex::new(State {
                queues: (0..levels).map(|_| VecDeque::new()).collect(),
                occupied: [0; 4],
                len: 0,
                closed: false,
                parked_receivers: 0,
                parked_senders: 0,
                rendezvous: None,
            })),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            len_hint: CachePadded(AtomicUsize::new(0)),
            closed: AtomicBool::new(false),
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
        self.state
            .lock()
            .rendezvous
            .as_ref()
            .map_or(0, |rv| rv.offers.len())
    }

    /// Whether a buffered queue has room (not for a rendezvous, whose
    /// pushes never look for room: see `hand_over` and `push_rendezvous`).
    #[inline]
    fn has_room(&self, state: &State<T>) -> bool {
        match self.capacity {
            None => true,
            Some(cap) => state.len < cap,
        }
    }

    /// Pushes under the lock (at the back of its level for a new message, at
    /// the front for a requeued one) and wakes one parked receiver if there is
    /// one.
    #[inline]
    fn push_locked(&self, mut state: MutexGuard<'_, State<T>>, msg: Message<T>, end: End) {
        state.push(msg, self.levels, end);
        self.len_hint.store(state.len, Ordering::Release);
        let wake = state.parked_receivers > 0;
        drop(state);
        if wake {
            self.not_empty.notify_one();
        }
    }

    /// Pops under the lock and wakes one parked sender if there is one.
    #[inline]
    fn pop_locked(&self, state: MutexGuard<'_, State<T>>) -> Option<Message<T>> {
        self.take_locked(state, State::pop_highest)
    }

    /// Takes a message with `take` under the lock and wakes one parked sender
    /// if it took one and a sender is parked. (Never a rendezvous sender:
    /// those are not counted in `parked_senders`.)
    #[inline]
    fn take_locked(
        &self,
        mut state: MutexGuard<'_, State<T>>,
        take: impl FnOnce(&mut State<T>) -> Option<Message<T>>,
    ) -> Option<Message<T>> {
        let msg = take(&mut state)?;
        self.len_hint.store(state.len, Ordering::Release);
        let wake = state.parked_senders > 0;
        drop(state);
        if wake {
            self.not_full.notify_one();
        }
        Some(msg)
    }

    /// Whether spinning could let a push through without parking.
    fn room_hint(&self) -> bool {
        match self.capacity {
            None => true,
            Some(cap) => self.len_hint.load(Ordering::Acquire) < cap,
        }
    }

    /// `push` for the mailbox layer: on a rendezvous, calls `announce` once
    /// a blocked sender's offer can be taken and before it waits, so that
    /// the mailbox tells polling selects with no window in which a select
    /// polls too early and then sleeps (other capacities: a plain `push`).
    pub(crate) fn push_announced(
        &self,
        msg: Message<T>,
        deadline: Option<Instant>,
        announce: &dyn Fn(),
    ) -> Result<(), PushError<T>>
    where
        T: Send,
    {
        if self.capacity == Some(0) {
            self.push_rendezvous(msg, deadline, announce)
        } else {
            self.push(msg, deadline)
        }
    }

    /// The rendezvous push that does not wait: into the hands of a receiver
    /// parked in `pop` that is free (see `State::free_receiver`), or `Full`.
    /// The queue is open (checked under the same lock).
    #[inline(never)]
    fn hand_over(
        &self,
        mut state: MutexGuard<'_, State<T>>,
        msg: Message<T>,
    ) -> Result<(), PushError<T>> {
        if !state.free_receiver() {
            return Err(PushError::Full(msg));
        }
        state.rendezvous().handed.push_back(msg);
        drop(state);
        // A receiver is parked (free_receiver). If every parked receiver was
        // already woken this finds nobody to wake, which is fine: those
        // receivers are on their way to the lock and take hand-offs first.
        self.not_empty.notify_one();
        Ok(())
    }

    /// The rendezvous push that waits: a hand-off if a parked receiver is
    /// free, otherwise an offer that waits until a receiver takes it, the
    /// deadline passes or the queue closes. `announce` runs once the offer
    /// can be taken, before the wait (see `push_announced`).
    #[inline(never)]
    fn push_rendezvous(
        &self,
        msg: Message<T>,
        deadline: Option<Instant>,
        announce: &dyn Fn(),
    ) -> Result<(), PushError<T>> {
        let mut state = self.state.lock();
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        if state.free_receiver() {
            return self.hand_over(state, msg);
        }
        // No receiver can take it now; a deadline already past fails before
        // the message is ever visible to one.
        if deadline.is_some_and(|at| Instant::now() >= at) {
            return Err(PushError::Timeout(msg));
        }
        let ticket = state.offer(msg, self.levels);
        if state.parked_receivers > 0 {
            // A parked receiver found nothing when it parked: wake one for
            // the offer (under the lock: it takes the offer once we wait).
            self.not_empty.notify_one();
        }
        // Outside the lock (a select woken by it polls under this lock): the
        // offer is published, so whoever is told can take it. A receiver
        // may take it meanwhile; the look below comes first.
        drop(state);
        announce();
        state = self.state.lock();
        loop {
            // Looked at first, under the lock: an offer taken meanwhile
            // (while the lock was let go for `announce`, or just before the
            // deadline or a close) is a completed send. The look and the
            // wait below are one critical section (the wait releases the
            // lock atomically), so a receiver that takes the offer later
            // notifies while we are parked: its wake-up cannot be lost.
            if !state.is_offered(ticket) {
                return Ok(());
            }
            let closed = state.closed;
            if closed || deadline.is_some_and(|at| Instant::now() >= at) {
                // Still on offer and the lock held since the look above, so
                // no receiver can take it between the look and the
                // withdrawal.
                return match state.withdraw(ticket) {
                    Some(msg) if closed => Err(PushError::Closed(msg)),
                    Some(msg) => Err(PushError::Timeout(msg)),
                    None => Ok(()),
                };
            }
            // Woken for another sender's offer, or spuriously: wait again.
            (state, _) = self.not_full.wait_until(state, deadline);
        }
    }

    /// Finishes a rendezvous take: publishes the length, releases the lock,
    /// and wakes the senders if a sender's offer was taken.
    fn took(
        &self,
        state: MutexGuard<'_, State<T>>,
        (msg, origin): (Message<T>, Origin),
    ) -> Message<T> {
        self.len_hint.store(state.len, Ordering::Release);
        drop(state);
        if let Origin::Offer = origin {
            // Every blocked sender waits on `not_full` for its own ticket, so
            // wake them all: the one whose offer went returns, the others
            // look and wait again. Few senders block on one rendezvous at a
            // time, so this costs little; a condition variable per offer
            // would wake only the right one, at an allocation per blocked
            // send.
            self.not_full.notify_all();
        }
        msg
    }

    /// The rendezvous `try_pop`: a hand-off, a held message or an offer,
    /// whatever is next (`State::take_rendezvous`).
    #[inline(never)]
    fn try_pop_rendezvous(
        &self,
        mut state: MutexGuard<'_, State<T>>,
    ) -> Result<Message<T>, PopError> {
        match state.take_rendezvous() {
            Some(taken) => Ok(self.took(state, taken)),
            None if state.closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    /// The rendezvous `pop`: takes what is there, or parks until a hand-off,
    /// an offer or a requeue arrives. No spinning: a rendezvous message
    /// arrives with a notify, and a spinning receiver would not count as
    /// parked, so it could not be handed anything.
    #[inline(never)]
    fn pop_rendezvous(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        let mut state = self.state.lock();
        loop {
            // Before the closed flag and the deadline: a hand-off made to us
            // while we were parked must be taken even if we timed out or the
            // queue closed meanwhile (nobody else is committed to it).
            if let Some(taken) = state.take_rendezvous() {
                return Ok(self.took(state, taken));
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PopError::Timeout);
            }
            // Counted and parked in one critical section: a hand-off counted
            // against us is made while we wait, and its notify reaches us.
            state.parked_receivers += 1;
            (state, _) = self.not_empty.wait_until(state, deadline);
            state.parked_receivers -= 1;
        }
    }
}

impl<T: Send> Queue<T> for Priority<T> {
    #[inline]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let state = self.state.lock();
        if state.closed {
            return Err(PushError::Closed(msg));
        }
        match self.capacity {
            // Rendezvous: only into the hands of a receiver parked in `pop`.
            Some(0) => return self.hand_over(state, msg),
            Some(cap) if state.len >= cap => return Err(PushError::Full(msg)),
            _ => {}
        }
        self.push_locked(state, msg, End::Back);
        Ok(())
    }

    fn push(&self, mut msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        if self.capacity == Some(0) {
            // No spinning either: only a receiver lets the message through.
            return self.push_rendezvous(msg, deadline, &|| {});
        }
        msg = match self.try_push(msg) {
            Err(PushError::Full(m)) => m,
            done => return done,
        };
        for step in 0..SPIN_LIMIT {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.room_hint() {
                msg = match self.try_push(msg) {
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
            if self.has_room(&state) {
                self.push_locked(state, msg, End::Back);
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

    #[inline]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        let state = self.state.lock();
        // Made only by a rendezvous queue's first hand-off or offer: until
        // then (and always on other capacities) there are only held messages.
        if state.rendezvous.is_some() {
            return self.try_pop_rendezvous(state);
        }
        let closed = state.closed;
        match self.pop_locked(state) {
            Some(msg) => Ok(msg),
            None if closed => Err(PopError::Closed),
            None => Err(PopError::Empty),
        }
    }

    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        if self.capacity == Some(0) {
            return self.pop_rendezvous(deadline);
        }
        match self.try_pop() {
            Err(PopError::Empty) => {}
            done => return done,
        }
        for step in 0..SPIN_LIMIT {
            if self.closed.load(Ordering::Acquire) {
                break;
            }
            if self.len_hint.load(Ordering::Acquire) > 0 {
                match self.try_pop() {
                    Err(PopError::Empty) => {}
                    done => return done,
                }
            }
            backoff(step);
        }
        let mut state = self.state.lock();
        loop {
            // Messages are checked before the deadline, so a receiver woken for
            // a message always takes it rather than wasting the wake-up.
            if state.len > 0 {
                // pop_locked cannot miss: len > 0 under the same lock.
                if let Some(msg) = self.pop_locked(state) {
                    return Ok(msg);
                }
                return Err(PopError::Empty);
            }
            if state.closed {
                return Err(PopError::Closed);
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PopError::Timeout);
            }
            state.parked_receivers += 1;
            (state, _) = self.not_empty.wait_until(state, deadline);
            state.parked_receivers -= 1;
        }
    }

    /// The messages held: on a rendezvous queue only requeued ones (not the
    /// hand-offs, which belong to their receivers, nor the offers of blocked
    /// senders).
    fn len(&self) -> usize {
        self.len_hint.load(Ordering::Acquire)
    }

    fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// Wakes every parked receiver and sender. On a rendezvous, blocked
    /// senders withdraw their offers and fail with `Closed` (no receive takes
    /// an offer after the close, so none can be taken between the close and
    /// its sender's withdrawal); hand-offs are still handed out.
    fn close(&self) -> bool {
        let mut state = self.state.lock();
        let first = !state.closed;
        state.closed = true;
        self.closed.store(true, Ordering::Release);
        drop(state);
        if first {
            self.not_empty.notify_all();
            self.not_full.notify_all();
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn priority_levels(&self) -> Option<u8> {
        Some(self.levels)
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
        let state = self.state.lock();
        // Wakes a parked receiver exactly as a push does: the receiver
        // re-checks for messages under the lock, so the wake-up cannot be lost.
        self.push_locked(state, msg, End::Front);
        Ok(())
    }

    /// Takes the oldest message of the lowest occupied level if that level is
    /// at most `at_most`, and wakes a parked sender (the eviction made room).
    /// On a rendezvous queue that is a requeued message only: hand-offs
    /// belong to their receivers and offers to their senders.
    fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        let state = self.state.lock();
        self.take_locked(state, |state| state.pop_lowest(at_most))
    }
}

impl<T> fmt::Debug for Priority<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Priority")
            .field("levels", &self.levels)
            .field("len", &self.len_hint.load(Ordering::Relaxed))
            .field("capacity", &self.capacity)
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
