//! One handle's counters: a sender's (`HandleCounters`) and a receiver's
//! (`RecvCounters`), each written by its owner thread without a locked
//! instruction.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::sync::AtomicU64;

use super::tally::{Counters, Retired, Slot, TallyState, Totals};

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
// `count`. Measured with both families aligned to 128 bytes (throwaway
// `thr` harness, 4 interleaved rounds, median ns per message, unpadded /
// padded): FIFO 2x2 bounded(1024) 78.7 / 83.2, 2x1 74.2 / 87.2, 4x1
// unbounded 77.3 / 88.0. No gain to pay an idle mailbox's bytes for.

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
