//! The state every handle of one mailbox shares, and what it does on its
//! own: push (with the overflow policy), settle (dead letters, expiry),
//! retire and close, and the statistics.
//!
//! This file holds the state itself and the small steps every path takes
//! (settings and limits, the fast paths' checks, wake-ups); each activity
//! has a file of its own: `core/push.rs` (push, the overflow policy,
//! rendezvous), `core/settle.rs` (dead letters, expiry), `core/close.rs`
//! (retire and close) and `core/stats.rs` (the statistics).

use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::message::Message;
use crate::overflow::Overflow;
use crate::queue::{Fifo, Priority, Ready};
use crate::reason::DeadLetterReason;
use crate::signal::Watchers;
use crate::stats::{Outcomes, Tally};
use crate::sync::{AtomicBool, AtomicU8, AtomicUsize, Condvar, Mutex, OnceLock};
use crate::timer;
use crate::wake::{WaitList, Waiting};

use super::backend::Backend;
use super::durable::Log;
use super::sender::Limit;
use super::Sink;

mod close;
mod push;
mod settle;
mod stats;

/// `Core::retired` while the mailbox can deliver.
pub(super) const ALIVE: u8 = 0;
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

/// The longest accepted body, and how to measure a body.
pub(super) type BodyLimit<T> = (usize, fn(&T) -> usize);

/// What all handles of one mailbox share.
pub(super) struct Core<T: Send> {
    /// The messages.
    pub(super) queue: Backend<T>,
    /// Live sender handles; the last one to go closes the mailbox.
    pub(super) senders: AtomicUsize,
    /// Live receiver handles; the last one to go closes the mailbox and drops
    /// what is left (counted).
    pub(super) receivers: AtomicUsize,
    /// The limits few mailboxes set (body length, default time to live,
    /// redeliveries); boxed, so that the others pay one word for them (and
    /// a plain mailbox's sends never look: see `plain`).
    pub(super) settings: Option<Box<Settings<T>>>,
    /// `Some(n)`: priorities must be below `n`.
    pub(super) levels: Option<u8>,
    /// What a send to a full mailbox does.
    pub(super) overflow: Overflow,
    /// Why the mailbox can no longer deliver (`ALIVE` while it can): set by
    /// `retire` before it closes and drains the queue, and read by every
    /// successful send (next to `levels`, which every send reads too) to
    /// catch a push that landed after the drain.
    pub(super) retired: AtomicU8,
    /// Why the mailbox was closed ([`ClosedReason::code`]; 0 while open):
    /// the first reason sticks, recorded before the queue closes so that
    /// whoever sees it closed can read why.
    pub(super) closed_by: AtomicU8,
    /// Messages accepted, counted per sender handle, and messages taken
    /// and answered, counted per receiver handle.
    pub(super) tally: Tally,
    /// The highest sampled queue length.
    pub(super) peak_len: AtomicUsize,
    /// What the hot paths never touch (dead letters, nacks, delayed
    /// requeues), made on first use so that an idle mailbox does not pay
    /// for it.
    pub(super) cold: OnceLock<Box<Cold<T>>>,
    /// Where undeliverable messages go.
    pub(super) sink: Sink<T>,
    /// Selects waiting on this mailbox.
    pub(super) watchers: Watchers,
    /// Tasks waiting for a message (`recv_async` and its kin).
    pub(super) recv_wakers: WaitList,
    /// Tasks waiting for room (`send_async`, `reserve_async`).
    pub(super) room_wakers: WaitList,
    /// Whether waiting tasks also poll on a timer: a custom backend that
    /// did not take the readiness hook (see `Queue::ready_hook`).
    pub(super) polls: AtomicBool,
    /// A durable mailbox's log (`durable.rs`); boxed, so that other
    /// mailboxes pay one word for it.
    pub(super) log: Option<Box<Log<T>>>,
    /// A mailbox without a log, default time to live or body limit: a
    /// FIFO one's sends take the fast path (`plain_fifo`), one load instead
    /// of four checks, and a priority one's check only the priority
    /// (`plain_priority`). Set once when it is built.
    pub(super) plain: bool,
}

/// The limits a mailbox may set, all optional.
pub(super) struct Settings<T> {
    /// The longest accepted body and how to measure one.
    pub(super) max_body_len: Option<BodyLimit<T>>,
    /// The time to live of messages that do not set their own.
    pub(super) ttl: Option<Duration>,
    /// The most times a message is given back before it is dead-lettered.
    pub(super) max_redeliveries: Option<u32>,
}

impl<T> Settings<T> {
    /// The settings box, or `None` if nothing is set (nothing to store).
    pub(super) fn boxed(self) -> Option<Box<Settings<T>>> {
        let set =
            self.max_body_len.is_some() || self.ttl.is_some() || self.max_redeliveries.is_some();
        set.then(|| Box::new(self))
    }
}

/// The rarely used part of a mailbox's state.
pub(super) struct Cold<T> {
    /// Where its messages ended, away from the hot paths.
    pub(super) outcomes: Outcomes,
    /// Messages waiting for a delayed requeue, with their due times.
    pub(super) delayed: Mutex<Vec<(Instant, Message<T>)>>,
    /// Woken when delayed messages come back (or are settled otherwise), for
    /// receivers of a closed mailbox that wait for them.
    pub(super) came_back: Condvar,
    /// The mailbox's key with the delayed-requeue timer.
    pub(super) timer_key: timer::Key,
}

impl<T> Cold<T> {
    /// Counts out `count` delayed messages that were settled (back in the
    /// queue, or dead letters), and wakes receivers waiting for them. Under
    /// the lock, so that a receiver of a closed mailbox checking the queue
    /// and this count together never misses the change.
    pub(super) fn count_out_delayed(&self, count: u64) {
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
    pub(super) fn cold(&self) -> &Cold<T> {
        self.cold.get_or_init(|| {
            Box::new(Cold {
                outcomes: Outcomes::default(),
                delayed: Mutex::new(Vec::new()),
                came_back: Condvar::new(),
                timer_key: timer::new_key(),
            })
        })
    }

    /// The longest accepted body and how to measure one, if limited.
    pub(super) fn body_limit(&self) -> Option<&BodyLimit<T>> {
        self.settings.as_deref()?.max_body_len.as_ref()
    }

    /// The time to live of messages that do not set their own, if any.
    pub(super) fn ttl(&self) -> Option<Duration> {
        self.settings.as_deref()?.ttl
    }

    /// The most redeliveries of a message, if limited.
    pub(super) fn max_redeliveries(&self) -> Option<u32> {
        self.settings.as_deref()?.max_redeliveries
    }

    /// The limit a message breaks, if any.
    #[inline]
    pub(super) fn violated_limit(&self, msg: &Message<T>) -> Option<Limit> {
        if let Some(&(max, len_of)) = self.body_limit() {
            if len_of(msg.body()) > max {
                return Some(Limit::BodyLen);
            }
        }
        match self.levels {
            Some(levels) if msg.header().priority() >= levels => Some(Limit::Priority),
            _ => None,
        }
    }

    /// The FIFO queue of a mailbox whose sends need nothing but the queue:
    /// no log, default time to live, body limit or priority levels.
    #[inline(always)]
    pub(super) fn plain_fifo(&self) -> Option<&Fifo<T>> {
        match &self.queue {
            Backend::Fifo(fifo) if self.plain => Some(fifo),
            _ => None,
        }
    }

    /// The priority queue of a mailbox whose sends need nothing but the
    /// queue and the check of the priority: no log, default time to live
    /// or body limit.
    #[inline(always)]
    pub(super) fn plain_priority(&self) -> Option<&Priority<T>> {
        match &self.queue {
            Backend::Priority(queue) if self.plain => Some(queue),
            _ => None,
        }
    }

    /// The receive fast path: the head of a FIFO mailbox, or the most
    /// urgent message of a buffered priority one, with its room passed on
    /// to waiting tasks. `None`: take the general path (another backend,
    /// nothing ready, a requeue on FIFO, a rendezvous). A durable mailbox
    /// takes it too: its log hears of the receive after the pop, on every
    /// path (`Receiver::settle`, `Acker::wrap`).
    #[inline(always)]
    pub(super) fn take_plain(&self) -> Option<Message<T>> {
        let msg = match &self.queue {
            Backend::Fifo(fifo) => fifo.take()?,
            Backend::Priority(queue) => queue.take_queued()?,
            Backend::Other(_) => return None,
        };
        self.room_freed();
        Some(msg)
    }

    /// After [`take_plain`](Core::take_plain) found nothing: whether a
    /// receive that does not wait may report `Empty` at once, without the
    /// general path's second look (see `Fifo::empty_for_now`; on a priority
    /// mailbox that look is a second walk of the lanes); `false` for the
    /// other backends.
    #[inline(always)]
    pub(super) fn empty_for_now(&self) -> bool {
        match &self.queue {
            Backend::Fifo(fifo) => fifo.empty_for_now(),
            Backend::Priority(queue) => queue.empty_for_now(),
            Backend::Other(_) => false,
        }
    }

    /// A message became available (a send landed, a requeue, a rendezvous
    /// sender's offer): rings the selects watching, and wakes one task
    /// waiting to receive. Two loads when nobody waits.
    #[inline(always)]
    pub(super) fn announce(&self) {
        self.watchers.notify();
        self.recv_wakers.notify_one();
    }

    /// For a task about to wait: if the backend cannot wake it for changes
    /// the mailbox does not see, asks the timer to wake it soon as well.
    pub(crate) fn poll_later(&self, waiting: &mut Waiting, waker: &Waker) {
        if self.polls.load(Ordering::Relaxed) {
            waiting.poll_later(waker);
        }
    }

    /// Whether a send could find room now (a hint: another may take it).
    pub(super) fn has_room(&self) -> bool {
        self.queue
            .capacity()
            .is_none_or(|cap| self.queue.len() < cap)
    }

    /// Whether nothing is queued.
    pub(super) fn queue_is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// A message left the queue: wakes one task waiting for room. One load
    /// when none waits.
    #[inline(always)]
    pub(super) fn room_freed(&self) {
        self.room_wakers.notify_one();
    }

    /// `n` messages left the queue at once (a batch receive): wakes up to
    /// `n` tasks waiting for room, one for each. One load when none waits.
    #[inline(always)]
    pub(super) fn rooms_freed(&self, n: usize) {
        if self.room_wakers.is_waited() {
            self.wake_for_room(n);
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_for_room(&self, n: usize) {
        for _ in 0..n {
            self.room_freed();
        }
    }
}

impl<T: Send> Drop for Core<T> {
    fn drop(&mut self) {
        // Every handle is gone: whatever a custom backend still holds goes
        // where dead letters go.
        self.retire(DeadLetterReason::NoReceivers);
        // A durable mailbox's log keeps what was left, and learns that no
        // delivery is outstanding (every one held the core).
        if let Some(log) = self.log.as_deref_mut() {
            log.close();
        }
    }
}

/// What a custom backend's readiness hook reaches.
impl<T: Send> Ready for Core<T> {
    fn message_ready(&self) {
        self.announce();
    }

    fn room_ready(&self) {
        self.room_freed();
    }
}
