//! Per-mailbox statistics, kept cheap enough to leave on.
//!
//! A shared counter bumped by every sender would bounce one cache line between
//! all producer cores on every message. Instead each handle counts on a cache
//! line of its own, and reading the statistics sums the live handles' counters
//! and the totals that dropped handles left behind.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::reason::DeadLetterReason;
use crate::sync::{AtomicU64, Mutex};

/// A snapshot of a mailbox's counters, from
/// [`Sender::stats`](crate::Sender::stats) or
/// [`Receiver::stats`](crate::Receiver::stats).
///
/// Every message a mailbox accepted is, at any moment, in exactly one place:
/// processed (`received`), dropped, dead-lettered, queued (`len`), delivered
/// and not yet answered (`unacked`), or waiting for a delayed requeue
/// (`delayed`):
///
/// `sent == received + dropped + dead_lettered + len + unacked + delayed`
///
/// once the mailbox is quiet (a snapshot taken while messages move reads the
/// counters one after another). New counters may be added, so the struct is
/// `#[non_exhaustive]`.
///
/// # Examples
///
/// ```
/// use postbox::{DeadLetterReason, Mailbox};
///
/// let (tx, rx) = Mailbox::<u32>::builder().capacity(8).build();
/// for n in 0..5 { tx.send(n).unwrap(); }
/// rx.recv().unwrap(); // auto-ack
/// rx.recv_ack().unwrap().ack();
/// rx.recv_ack().unwrap().reject(); // a dead letter: nowhere to go, dropped
/// let held = rx.recv_ack().unwrap(); // in flight
/// let stats = rx.stats();
/// assert_eq!((stats.sent, stats.received, stats.acked), (5, 2, 1));
/// assert_eq!((stats.unacked, stats.len, stats.nacked), (1, 1, 1));
/// assert_eq!(stats.dead_letters.get(DeadLetterReason::Rejected), 1);
/// assert_eq!((stats.dropped, stats.dead_lettered), (1, 0));
/// assert_eq!(
///     stats.sent,
///     stats.received + stats.dropped + stats.dead_lettered
///         + stats.len as u64 + stats.unacked + stats.delayed
/// );
/// drop(held); // unanswered: requeued
/// assert_eq!((rx.stats().len, rx.stats().redelivered), (2, 1));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailboxStats {
    /// Messages the mailbox accepted.
    pub sent: u64,
    /// Messages processed: taken by a plain receive (an automatic
    /// acknowledgement, including those handed back by `close`) or
    /// acknowledged after `recv_ack`. A message counts once, however often it
    /// was redelivered.
    pub received: u64,
    /// Messages queued now (redelivered ones included; a requeue ignores the
    /// capacity, so this can briefly exceed it). Messages waiting for a
    /// delayed requeue are in `delayed`, not here.
    pub len: usize,
    /// The highest queue length seen. Sampled: every 32nd send of each sender
    /// handle, and every read of the statistics, reads the length, so a short
    /// spike between samples can be missed.
    pub peak_len: usize,
    /// Sends that found the mailbox full: they waited for room (backpressure),
    /// made room under a dropping [`Overflow`](crate::Overflow) policy, or
    /// were refused with `Full`.
    pub found_full: u64,
    /// Dead letters that had nowhere to go and were dropped: the mailbox has
    /// no dead-letter place (a standalone mailbox built without
    /// [`dead_letters`](crate::MailboxBuilder::dead_letters)), or its
    /// dead-letter mailbox was full or closed. Also a broadcast subscriber's
    /// messages lost to [`DropOldest`](crate::SlowSubscriber::DropOldest).
    /// See [`Receiver::close`](crate::Receiver::close) to take queued
    /// messages back instead of losing them with the last receiver.
    pub dropped: u64,
    /// Dead letters that reached the mailbox's dead-letter place (its typed
    /// dead-letter mailbox, or its office's store).
    pub dead_lettered: u64,
    /// Every dead letter per reason, whether it reached a dead-letter place
    /// (`dead_lettered`) or was dropped (`dropped`).
    pub dead_letters: DeadLetterCounts,
    /// Deliveries acknowledged with [`Delivery::ack`](crate::Delivery::ack)
    /// (part of `received`).
    pub acked: u64,
    /// Deliveries answered otherwise: `nack`, `reject`, or dropped unanswered.
    pub nacked: u64,
    /// Messages put back for another delivery (immediately or after a delay),
    /// counted when given back. A give-back that is not a redelivery is a
    /// dead letter instead (`Rejected`, or `MaxRedeliveries` past
    /// [`max_redeliveries`](crate::MailboxBuilder::max_redeliveries)), so
    /// with the built-in backends `nacked == redelivered +
    /// dead_letters.get(Rejected) + dead_letters.get(MaxRedeliveries)`.
    pub redelivered: u64,
    /// Deliveries taken with `recv_ack` and not answered yet.
    pub unacked: u64,
    /// Messages waiting for a delayed requeue
    /// ([`Requeue::After`](crate::Requeue::After)).
    pub delayed: u64,
}

/// How many of a mailbox's messages went to dead letters, per reason.
///
/// # Examples
///
/// ```
/// use postbox::{DeadLetterReason, Mailbox};
///
/// let (tx, rx) = Mailbox::<u8>::builder().build();
/// tx.send(1).unwrap();
/// rx.recv_ack().unwrap().reject();
/// let counts = rx.stats().dead_letters;
/// assert_eq!(counts.get(DeadLetterReason::Rejected), 1);
/// assert_eq!(counts.total(), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadLetterCounts {
    counts: [u64; DeadLetterReason::ALL.len()],
}

impl DeadLetterCounts {
    /// The count for `reason`.
    pub fn get(&self, reason: DeadLetterReason) -> u64 {
        self.counts[reason.index()]
    }

    /// The sum over every reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every reason with its count, in [`DeadLetterReason::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (DeadLetterReason, u64)> + '_ {
        DeadLetterReason::ALL.iter().map(|&r| (r, self.get(r)))
    }
}

/// What happened to a mailbox's messages away from the hot paths: written
/// rarely (dead letters, nacks, requeues), so one shared set of counters.
#[derive(Debug, Default)]
pub(crate) struct Outcomes {
    /// Dropped: nowhere to send them.
    pub(crate) dropped: AtomicU64,
    /// Sent to a dead-letter place.
    pub(crate) dead_lettered: AtomicU64,
    /// Dead letters per reason, reaching a place or not, in
    /// `DeadLetterReason::ALL` order.
    pub(crate) dead: [AtomicU64; DeadLetterReason::ALL.len()],
    /// Messages put back for another delivery.
    pub(crate) redelivered: AtomicU64,
    /// Messages waiting for a delayed requeue now.
    pub(crate) delayed: AtomicU64,
    /// Sends counted on a thread that does not own their handle.
    pub(crate) sent_shared: AtomicU64,
    /// Plain receives counted on a thread that does not own their handle.
    pub(crate) received_shared: AtomicU64,
}

impl Outcomes {
    /// Counts a dead letter, and whether it reached a dead-letter place.
    pub(crate) fn dead_letter(&self, reason: DeadLetterReason, placed: bool) {
        self.dead[reason.index()].fetch_add(1, Ordering::Relaxed);
        let cell = if placed {
            &self.dead_lettered
        } else {
            &self.dropped
        };
        cell.fetch_add(1, Ordering::Relaxed);
    }

    /// The dead-letter counts now.
    pub(crate) fn dead_letters(&self) -> DeadLetterCounts {
        let mut counts = DeadLetterCounts::default();
        for (count, cell) in counts.counts.iter_mut().zip(&self.dead) {
            *count = cell.load(Ordering::Relaxed);
        }
        counts
    }
}

/// A handle's counters, summed by a [`Tally`].
pub(crate) trait Counters: Send + Sync + Sized {
    /// Adds this handle's counts to `totals`.
    fn add_to(&self, totals: &mut Totals);

    /// Where the [`Tally`] keeps these counters in its list of live ones,
    /// so that retiring a handle costs no search.
    fn slot(&self) -> &Slot;

    /// The tally's list of live counters of this family.
    fn live(state: &mut TallyState) -> &mut Vec<Arc<Self>>;

    /// The totals retired handles of this family left behind.
    fn retired(retired: &mut Retired) -> &mut Totals;
}

/// A handle's position in its [`Tally`]'s list of live counters. Read and
/// written only under the tally's lock, so it needs no ordering of its own
/// (and is not a loom-modelled atomic).
#[derive(Debug, Default)]
pub(crate) struct Slot(std::sync::atomic::AtomicUsize);

impl Slot {
    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, index: usize) {
        self.0.store(index, Ordering::Relaxed);
    }
}

/// The one thread that counts a handle's hot counter with a plain load and
/// store instead of a locked add (measured: a locked add per send and per
/// receive was 15-17 % of a FIFO send + receive, single-threaded and
/// across two threads). The first thread to count claims the handle for
/// good; other threads using the same handle (it is `Sync`, and may be
/// moved) count in the mailbox's shared counters instead, with the locked
/// add every count used to take. So the owner's counter has one writer and
/// is exact, and the totals add both.
#[derive(Debug, Default)]
pub(crate) struct Owner(AtomicU64);

impl Owner {
    /// Whether the calling thread owns the handle (claiming it if nobody
    /// does yet).
    #[inline(always)]
    pub(crate) fn is_current(&self) -> bool {
        let Some(me) = crate::sync::thread_token() else {
            return false;
        };
        let owner = self.0.load(Ordering::Relaxed);
        // Only this thread ever stores its own token, so seeing it needs no
        // ordering.
        owner == me || (owner == 0 && self.claim(me))
    }

    /// Claims the handle for the calling thread, unless another did first.
    #[cold]
    #[inline(never)]
    fn claim(&self, me: u64) -> bool {
        self.0
            .compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}

/// What the owner's thread and the others counted. SeqCst: the prefetch
/// accounting reads these in a handshake with its slot counts.
fn sum(own: &AtomicU64, others: &AtomicU64) -> u64 {
    own.load(Ordering::SeqCst)
        .wrapping_add(others.load(Ordering::SeqCst))
}

/// Adds `n` to a counter that only the owner's thread writes.
#[inline(always)]
fn add_owned(counter: &AtomicU64, n: u64) {
    let now = counter.load(Ordering::Relaxed);
    counter.store(now.wrapping_add(n), Ordering::Relaxed);
}

// Why the counters are not cache-padded (`#[repr(align(64))]`): inside an
// `Arc` that alignment pads the 16-byte reference counts to a whole line, so
// each handle's counters took 128 bytes, a quarter of an idle mailbox. What
// padding guaranteed is that no other thread writes the line a handle's hot
// counters sit on. Without it, each family keeps its hot counters first and
// its cold ones after, and each allocation is 64 bytes or more: a sender's
// one hot word (`count`) is then a line away from the hot words of a handle
// allocated just after it (the mailbox's first receiver, a clone). A
// receiver's four are not guaranteed as much: two receiver clones allocated
// back to back may share a line between one's `nacked` and the other's
// `count` (a measured cost would be the reason to pad them again).

/// One sender handle's counters.
///
/// `count` is also the handle's message sequence: one plain store per send
/// on the owner's thread both counts the send and numbers the message (see
/// [`Owner`] and `Core::id_for`); sends the queue then refused are
/// subtracted through `refused`, on the cold path.
// `repr(C)`: the hot counter first is the point (see above), and Rust may
// otherwise reorder fields (it put `id_epoch` first).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct HandleCounters {
    /// Messages this handle stamped on its owner's thread: the one counter
    /// every send writes (others count in `Outcomes::sent_shared`).
    pub(crate) count: AtomicU64,
    /// The thread that writes `count`.
    owner: Owner,
    /// Stamped messages that the queue refused.
    pub(crate) refused: AtomicU64,
    /// Sends that found the mailbox full.
    pub(crate) found_full: AtomicU64,
    /// Stamped sends now waiting for room, not sent yet.
    pub(crate) waiting: AtomicU64,
    /// The handle's current block of message ids, packed as
    /// `(base >> 16) << 24 | (epoch & 0xff_ffff)`, where epoch `k` numbers
    /// the handle's sends `k * 2^16 ..`: one atomic load on the send path.
    pub(crate) id_block: AtomicU64,
    /// Its place in the mailbox's tally.
    slot: Slot,
}

impl HandleCounters {
    pub(crate) fn new(id_block: u64) -> HandleCounters {
        HandleCounters {
            count: AtomicU64::new(0),
            owner: Owner::default(),
            refused: AtomicU64::new(0),
            found_full: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            id_block: AtomicU64::new(id_block),
            slot: Slot::default(),
        }
    }

    /// Counts one more message on the owner's thread and returns the count
    /// before it (the message's sequence within the handle); `None` on any
    /// other thread, which counts in the mailbox's shared counter instead.
    #[inline(always)]
    pub(crate) fn bump(&self) -> Option<u64> {
        if !self.owner.is_current() {
            return None;
        }
        let seq = self.count.load(Ordering::Relaxed);
        self.count.store(seq.wrapping_add(1), Ordering::Relaxed);
        Some(seq)
    }
}

impl Counters for HandleCounters {
    fn add_to(&self, totals: &mut Totals) {
        // Messages counted, less those refused or still waiting for room.
        let net = self
            .count
            .load(Ordering::Relaxed)
            .wrapping_sub(self.refused.load(Ordering::Relaxed))
            .wrapping_sub(self.waiting.load(Ordering::Relaxed));
        totals.count = totals.count.wrapping_add(net);
        totals.found_full += self.found_full.load(Ordering::Relaxed);
    }

    fn slot(&self) -> &Slot {
        &self.slot
    }

    fn live(state: &mut TallyState) -> &mut Vec<Arc<Self>> {
        &mut state.senders
    }

    fn retired(retired: &mut Retired) -> &mut Totals {
        &mut retired.senders
    }
}

/// One receiver handle's counters.
///
/// A plain receive bumps `count`; an acknowledged one bumps `delivered`,
/// and its answer bumps `acked` or `nacked`. The first three are plain
/// stores on the owner's thread (see [`Owner`]); `delivered` and `acked`
/// count other threads in words of their own, because the prefetch limit
/// and `Receiver::unacked` read them per handle (an answer may come from
/// any thread). `nacked` is rare: one RMW. What is in flight is the
/// difference, so nothing is decremented on the hot path.
// `repr(C)`: the order (hot counters first) is the point.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RecvCounters {
    /// Messages taken by plain receives on the owner's thread (others
    /// count in `Outcomes::received_shared`).
    pub(crate) count: AtomicU64,
    /// The thread that writes `count`.
    owner: Owner,
    /// Deliveries handed out by `recv_ack` on the owner's thread.
    delivered: AtomicU64,
    /// Deliveries acknowledged on the owner's thread.
    acked: AtomicU64,
    /// Deliveries answered otherwise (nack, reject, dropped unanswered).
    pub(crate) nacked: AtomicU64,
    /// Taken messages given up to dead letters instead of consumed (a
    /// process's saved messages when it ends), or turned into deliveries.
    pub(crate) refused: AtomicU64,
    /// Deliveries handed out on other threads than the owner's.
    delivered_others: AtomicU64,
    /// Deliveries acknowledged on other threads than the owner's (a
    /// delivery may be answered anywhere).
    acked_others: AtomicU64,
    /// Its place in the mailbox's tally.
    slot: Slot,
}

impl RecvCounters {
    /// Counts `n` deliveries handed out (a batch counts once).
    #[inline(always)]
    pub(crate) fn count_delivered(&self, n: u64) {
        self.add(&self.delivered, &self.delivered_others, n);
    }

    /// Counts one delivery acknowledged.
    #[inline(always)]
    pub(crate) fn count_acked(&self) {
        self.add(&self.acked, &self.acked_others, 1);
    }

    /// Deliveries handed out so far.
    pub(crate) fn delivered(&self) -> u64 {
        sum(&self.delivered, &self.delivered_others)
    }

    /// Deliveries acknowledged so far.
    pub(crate) fn acked(&self) -> u64 {
        sum(&self.acked, &self.acked_others)
    }

    /// Adds `n` to `own` on the owner's thread, to `others` on any other.
    #[inline(always)]
    fn add(&self, own: &AtomicU64, others: &AtomicU64, n: u64) {
        if self.owner.is_current() {
            add_owned(own, n);
        } else {
            others.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Counts `n` more plain receives on the owner's thread; `false` on any
    /// other thread, which counts in the mailbox's shared counter instead.
    #[inline(always)]
    pub(crate) fn bump_by(&self, n: u64) -> bool {
        if !self.owner.is_current() {
            return false;
        }
        add_owned(&self.count, n);
        true
    }
}

impl Counters for RecvCounters {
    fn add_to(&self, totals: &mut Totals) {
        let net = self
            .count
            .load(Ordering::Relaxed)
            .wrapping_sub(self.refused.load(Ordering::Relaxed));
        totals.count = totals.count.wrapping_add(net);
        totals.delivered += self.delivered();
        totals.acked += self.acked();
        totals.nacked += self.nacked.load(Ordering::Relaxed);
    }

    fn slot(&self) -> &Slot {
        &self.slot
    }

    fn live(state: &mut TallyState) -> &mut Vec<Arc<Self>> {
        &mut state.receivers
    }

    fn retired(retired: &mut Retired) -> &mut Totals {
        &mut retired.receivers
    }
}

/// The sum of a mailbox's handle counters, senders and receivers, live and
/// retired.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// The counters of live handles, and the totals dropped handles left
    /// behind; locked only when a handle is created or dropped and when
    /// statistics are read. One lock for both families: an idle mailbox
    /// pays for one.
    state: Mutex<TallyState>,
}

/// What a [`Tally`]'s lock protects.
#[derive(Debug, Default)]
pub(crate) struct TallyState {
    /// Live sender handles' counters.
    senders: Vec<Arc<HandleCounters>>,
    /// Live receiver handles' counters.
    receivers: Vec<Arc<RecvCounters>>,
    /// What dropped handles left behind; made when the first handle goes (a
    /// mailbox whose first pair lives as long as it does never needs it).
    retired: Option<Box<Retired>>,
}

/// The totals dropped handles left behind, per family.
#[derive(Debug, Default)]
pub(crate) struct Retired {
    senders: Totals,
    receivers: Totals,
}

/// What a [`Tally`] adds up to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    /// Net messages counted (sent, or taken by plain receives).
    pub(crate) count: u64,
    /// Sends that found the mailbox full.
    pub(crate) found_full: u64,
    /// Deliveries handed out by `recv_ack`.
    pub(crate) delivered: u64,
    /// Deliveries acknowledged.
    pub(crate) acked: u64,
    /// Deliveries answered otherwise.
    pub(crate) nacked: u64,
}

impl Tally {
    /// Registers a new handle's counters.
    pub(crate) fn register<C: Counters>(&self, counters: C) -> Arc<C> {
        let counters = Arc::new(counters);
        let mut state = self.state.lock();
        let live = C::live(&mut state);
        // Most mailboxes keep the handle they were built with and no other:
        // room for exactly one, not the four a first push would make.
        if live.capacity() == 0 {
            live.reserve_exact(1);
        }
        counters.slot().set(live.len());
        live.push(Arc::clone(&counters));
        counters
    }

    /// Folds a handle's counters into the retired totals: O(1), the handle
    /// knows its slot (dropping many handles must not be quadratic).
    pub(crate) fn retire<C: Counters>(&self, counters: &Arc<C>) {
        let mut state = self.state.lock();
        let live = C::live(&mut state);
        let i = counters.slot().get();
        if live.get(i).is_some_and(|c| Arc::ptr_eq(c, counters)) {
            live.swap_remove(i);
            // The last one moved into the hole: tell it where it is now.
            if let Some(moved) = live.get(i) {
                moved.slot().set(i);
            }
        }
        // Under the lock, so a concurrent `totals` sees each count exactly once.
        let retired = state.retired.get_or_insert_with(Box::default);
        counters.add_to(C::retired(retired));
    }

    /// The totals of one family of handles, live and retired.
    pub(crate) fn totals<C: Counters>(&self) -> Totals {
        let mut state = self.state.lock();
        let mut totals = match state.retired.as_deref_mut() {
            Some(retired) => *C::retired(retired),
            None => Totals::default(),
        };
        for c in C::live(&mut state).iter() {
            c.add_to(&mut totals);
        }
        totals
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Every live handle's slot names its place in the tally's list, however
    /// handles come and go: retiring one is an index, not a search
    /// (dropping 160,000 sender clones used to take 1.75 s).
    #[test]
    fn retiring_a_handle_finds_it_at_its_slot() {
        let tally = Tally::default();
        let mut live: Vec<Arc<RecvCounters>> = (0..1000)
            .map(|_| tally.register(RecvCounters::default()))
            .collect();
        for c in &live {
            assert!(c.bump_by(1), "the test's thread owns every handle");
        }
        let mut retired = 0;
        // Every third from the front, then from the back, then the rest.
        let mut order: Vec<usize> = (0..live.len()).step_by(3).collect();
        order.extend((0..live.len()).rev().filter(|i| i % 3 != 0));
        for (step, i) in order.into_iter().enumerate() {
            let gone = std::mem::replace(&mut live[i], Arc::new(RecvCounters::default()));
            tally.retire(&gone);
            retired += 1;
            let mut state = tally.state.lock();
            let live = RecvCounters::live(&mut state);
            assert_eq!(live.len(), 1000 - retired);
            if step % 97 == 0 {
                for (k, c) in live.iter().enumerate() {
                    assert_eq!(
                        c.slot().get(),
                        k,
                        "slot out of step after {retired} retirements"
                    );
                }
            }
            drop(state);
            assert_eq!(tally.totals::<RecvCounters>().count, 1000);
        }
    }
}
