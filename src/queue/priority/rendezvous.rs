//! The rendezvous (capacity 0) part of the priority backend.
//!
//! # How it works
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
//!   message with a ticket, wakes a parked receiver and waits on a signal of
//!   its own (`OfferSignal`) until its ticket is gone: a receiver took it, the send is complete. On
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
//! counted in `Gate::waiting`: they wait for their offer to be taken, not for
//! room, so a pop or an eviction of a held message never wakes them. Whoever
//! takes an offer wakes exactly its sender (see `took`), and `close` wakes
//! every sender with an offer (`wake_offers`). The sender looks at its ticket
//! under the lock before every wait, and a take happens under the lock, so
//! a wake that comes before the sender waits is not needed: it sees the
//! ticket gone.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Poll, Wake, Waker};
use std::time::Instant;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{Condvar, MutexGuard};

use super::state::{level_of, State};
use super::Priority;

/// What a rendezvous queue passes between senders and receivers besides
/// its held (requeued) messages.
pub(super) struct Rendezvous<T> {
    /// Messages pushed into the hands of receivers parked in `pop`, oldest
    /// first. Never more than `parked_receivers` when the lock is free.
    handed: VecDeque<Message<T>>,
    /// The messages of senders blocked in `push`, in the order they came.
    pub(super) offers: Vec<Offer<T>>,
    /// The next offer's ticket.
    next_ticket: u64,
}

/// A blocked sender's message, waiting for a receiver.
pub(super) struct Offer<T> {
    /// Tells the sender whether its offer is still there.
    ticket: u64,
    /// The message's level (its priority, clamped).
    level: usize,
    msg: Message<T>,
    /// Wakes the sender: a task's waker, or a blocked thread's
    /// [`OfferSignal`]. Taken by a close, which wakes it.
    waker: Option<Waker>,
}

/// How a sender thread blocked on its offer hears that a receiver took it
/// (or that the queue closed): a condition variable of its own, on the state
/// lock, behind a waker. So a take wakes exactly the sender whose offer it
/// took, thread or task alike. With one condition variable for all of them,
/// every take woke every blocked sender, and eight senders crowding one
/// receiver spent their time waking up to look (measured: `mpsc8_cap0`).
/// The price is one small allocation per send that has to wait.
struct OfferSignal {
    /// Notified once the offer is gone.
    taken: Condvar,
}

impl Wake for OfferSignal {
    fn wake(self: Arc<Self>) {
        self.taken.notify_one();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.taken.notify_one();
    }
}

/// Where a rendezvous receive took its message from: it decides whom the
/// take wakes.
enum Origin {
    /// A hand-off or a held message: nobody waits for it.
    Held,
    /// A sender's offer: its sender is waiting to hear, through its waker.
    Offer(Option<Waker>),
}

/// What an async rendezvous send's first attempt did.
pub(crate) enum Offered<T> {
    /// A receiver parked in `pop` took the message: the send is complete.
    Handed,
    /// The message is on offer under this ticket until a receiver takes it
    /// (see [`Priority::poll_offer`]).
    Waiting(u64),
    /// The queue is closed: the message comes back.
    Closed(Message<T>),
}

impl<T> State<T> {
    /// The rendezvous part, made on first use.
    pub(super) fn rendezvous(&mut self) -> &mut Rendezvous<T> {
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
    pub(super) fn free_receiver(&self) -> bool {
        let spoken_for = self.len
            + self
                .rendezvous
                .as_ref()
                .map_or(0, |rv| rv.handed.len() + rv.offers.len());
        self.parked_receivers > spoken_for
    }

    /// Publishes a blocked sender's message; returns its ticket.
    fn offer(&mut self, msg: Message<T>, levels: u8, waker: Waker) -> u64 {
        let level = level_of(&msg, levels);
        let rv = self.rendezvous();
        let ticket = rv.next_ticket;
        // Tickets only need to tell apart the offers there at one time.
        rv.next_ticket = rv.next_ticket.wrapping_add(1);
        rv.offers.push(Offer {
            ticket,
            level,
            msg,
            waker: Some(waker),
        });
        ticket
    }

    /// Whether the offer with this ticket is still waiting for a receiver.
    fn is_offered(&self, ticket: u64) -> bool {
        self.find_offer(ticket).is_some()
    }

    /// The offer with this ticket, if no receiver took it.
    fn find_offer(&self, ticket: u64) -> Option<&Offer<T>> {
        self.rendezvous
            .as_ref()?
            .offers
            .iter()
            .find(|offer| offer.ticket == ticket)
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
                    if held.is_none_or(|held| level > held) {
                        let offer = rv.offers.remove(at);
                        return Some((offer.msg, Origin::Offer(offer.waker)));
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
            if best.is_none_or(|(_, level)| offer.level > level) {
                best = Some((at, offer.level));
            }
        }
        best
    }
}

impl<T> Priority<T> {
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
    pub(super) fn hand_over(
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
    pub(super) fn push_rendezvous(
        &self,
        msg: Message<T>,
        deadline: Option<Instant>,
        announce: &dyn Fn(),
    ) -> Result<(), PushError<T>> {
        let mut state = self.hot.state.lock();
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
        let signal = Arc::new(OfferSignal {
            taken: Condvar::new(),
        });
        let ticket = state.offer(msg, self.levels, Waker::from(Arc::clone(&signal)));
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
        state = self.hot.state.lock();
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
            // Woken spuriously (or by a deadline): look again.
            (state, _) = signal.taken.wait_until(state, deadline);
        }
    }

    /// Finishes a rendezvous take: publishes the length, releases the lock,
    /// and wakes the senders if a sender's offer was taken.
    fn took(
        &self,
        state: MutexGuard<'_, State<T>>,
        (msg, origin): (Message<T>, Origin),
    ) -> Message<T> {
        self.hot.len_hint.store(state.len, Ordering::Release);
        drop(state);
        match origin {
            // Exactly the sender whose offer went: a task, or a thread
            // through its own signal.
            Origin::Offer(Some(waker)) => waker.wake(),
            // Only an offer whose waker a close already used: after a close
            // offers are not taken, so this does not happen; wake every
            // waiter rather than rely on it.
            Origin::Offer(None) => self.not_full.notify_all(),
            Origin::Held => {}
        }
        msg
    }

    /// The rendezvous `try_pop`: a hand-off, a held message or an offer,
    /// whatever is next (`State::take_rendezvous`).
    #[inline(never)]
    pub(super) fn try_pop_rendezvous(
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
    pub(super) fn pop_rendezvous(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        let mut state = self.hot.state.lock();
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

    /// An async rendezvous send's first attempt: into the hands of a
    /// receiver parked in `pop` if one is free, otherwise on offer (with the
    /// task's waker) until a receiver takes it. The caller tells the
    /// receivers that do not park here (selects and tasks) about the offer.
    pub(crate) fn offer_async(&self, msg: Message<T>, waker: &Waker) -> Offered<T> {
        let mut state = self.hot.state.lock();
        if state.closed {
            return Offered::Closed(msg);
        }
        if state.free_receiver() {
            return match self.hand_over(state, msg) {
                Ok(()) => Offered::Handed,
                Err(err) => Offered::Closed(err.into_message()),
            };
        }
        let ticket = state.offer(msg, self.levels, waker.clone());
        let wake = state.parked_receivers > 0;
        drop(state);
        if wake {
            self.not_empty.notify_one();
        }
        Offered::Waiting(ticket)
    }

    /// Whether an async send's offer was taken (`Ready(Ok)`: the send is
    /// complete), must be taken back because the queue closed
    /// (`Ready(Err(msg))`), or still waits (`Pending`, with the task's
    /// waker refreshed). The look and the withdrawal are one critical
    /// section, as for a blocked thread.
    pub(crate) fn poll_offer(&self, ticket: u64, waker: &Waker) -> Poll<Result<(), Message<T>>> {
        let mut state = self.hot.state.lock();
        if !state.is_offered(ticket) {
            return Poll::Ready(Ok(()));
        }
        if state.closed {
            return match state.withdraw(ticket) {
                Some(msg) => Poll::Ready(Err(msg)),
                None => Poll::Ready(Ok(())),
            };
        }
        if let Some(rv) = state.rendezvous.as_deref_mut() {
            if let Some(offer) = rv.offers.iter_mut().find(|o| o.ticket == ticket) {
                if !offer.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                    offer.waker = Some(waker.clone());
                }
            }
        }
        Poll::Pending
    }

    /// Takes back an async send's offer (its future was dropped): the
    /// message, or `None` if a receiver took it first (the send completed).
    pub(crate) fn withdraw_offer(&self, ticket: u64) -> Option<Message<T>> {
        self.hot.state.lock().withdraw(ticket)
    }

    /// Wakes the senders (tasks and threads) whose offers wait: the queue
    /// closed, and each must take its message back.
    pub(super) fn wake_offers(&self) {
        let wakers: Vec<Waker> = {
            let mut state = self.hot.state.lock();
            match state.rendezvous.as_deref_mut() {
                Some(rv) => rv
                    .offers
                    .iter_mut()
                    .filter_map(|o| o.waker.take())
                    .collect(),
                None => Vec::new(),
            }
        };
        for waker in wakers {
            waker.wake();
        }
    }
}
