//! Per-mailbox statistics, kept cheap enough to leave on.
//!
//! A shared counter bumped by every sender would bounce one cache line between
//! all producer cores on every message. Instead each handle counts on a cache
//! line of its own, and reading the statistics sums the live handles' counters
//! and the totals that dropped handles left behind.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::sync::{AtomicU64, Mutex};

/// A snapshot of a mailbox's counters, from
/// [`Sender::stats`](crate::Sender::stats) or
/// [`Receiver::stats`](crate::Receiver::stats).
///
/// Every message a mailbox accepted is counted exactly once as received or
/// dropped or dead-lettered, or is still in `len`:
/// `sent == received + dropped + dead_lettered + len` once the mailbox is quiet. New counters may be added, so the struct is
/// `#[non_exhaustive]`.
///
/// # Examples
///
/// ```
/// use postbox::Mailbox;
///
/// let (tx, rx) = Mailbox::<u32>::builder().capacity(8).build();
/// for n in 0..5 { tx.send(n).unwrap(); }
/// rx.recv().unwrap();
/// let stats = rx.stats();
/// assert_eq!((stats.sent, stats.received, stats.len), (5, 1, 4));
/// assert_eq!(stats.sent, stats.received + stats.dropped + stats.len as u64);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailboxStats {
    /// Messages the mailbox accepted.
    pub sent: u64,
    /// Messages receivers took (including those handed back by `close`).
    pub received: u64,
    /// Messages queued now.
    pub len: usize,
    /// The highest queue length seen. Sampled: every 32nd send of each sender
    /// handle, and every read of the statistics, reads the length, so a short
    /// spike between samples can be missed.
    pub peak_len: usize,
    /// Sends that found the mailbox full: they waited for room (backpressure)
    /// or, when they could not wait, were refused with `Full`.
    pub found_full: u64,
    /// Messages dropped because the last receiver went away while they were
    /// queued (see [`Receiver::close`](crate::Receiver::close) to take them
    /// back instead).
    pub dropped: u64,
    /// Messages sent to dead letters: the mailbox was destroyed or lost its
    /// last receiver while they were queued, and it had somewhere to send
    /// them (a typed dead-letter sender, or its office's store).
    pub dead_lettered: u64,
}

/// One handle's counters, on a cache line of its own.
///
/// For a sender, `count` is also the handle's message sequence: one
/// uncontended `fetch_add` per send both counts the send and numbers the
/// message (see `Core::id_for`); sends the queue then refused are subtracted
/// through `refused`, on the cold path.
#[repr(align(64))]
#[derive(Debug)]
pub(crate) struct HandleCounters {
    /// Messages this handle stamped (senders) or took (receivers).
    pub(crate) count: AtomicU64,
    /// Stamped messages that the queue refused (senders); taken messages
    /// given up to dead letters instead of consumed (receivers).
    pub(crate) refused: AtomicU64,
    /// Sends that found the mailbox full (senders only).
    pub(crate) found_full: AtomicU64,
    /// Stamped sends now waiting for room, not sent yet (senders only).
    pub(crate) waiting: AtomicU64,
    /// The handle's current block of message ids (senders only), packed as
    /// `(base >> 16) << 24 | (epoch & 0xff_ffff)`, where epoch `k` numbers
    /// the handle's sends `k * 2^16 ..`: one atomic load on the send path.
    pub(crate) id_block: AtomicU64,
    /// The full epoch of `id_block`, for the cold path that moves to the next
    /// block (senders only).
    pub(crate) id_epoch: Mutex<u64>,
}

impl HandleCounters {
    fn new(id_block: u64) -> HandleCounters {
        HandleCounters {
            count: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            found_full: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            id_block: AtomicU64::new(id_block),
            id_epoch: Mutex::new(0),
        }
    }

    /// Counts one more message and returns the count before it.
    pub(crate) fn bump(&self) -> u64 {
        self.count.fetch_add(1, Ordering::Relaxed)
    }

    /// Messages counted, less those refused or still waiting for room.
    fn net(&self) -> u64 {
        let count = self.count.load(Ordering::Relaxed);
        count
            .wrapping_sub(self.refused.load(Ordering::Relaxed))
            .wrapping_sub(self.waiting.load(Ordering::Relaxed))
    }
}

/// The sum of a family of handle counters, live and retired.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Net counts left by handles that were dropped.
    retired: AtomicU64,
    /// `found_full` counts left by handles that were dropped.
    retired_found_full: AtomicU64,
    /// The counters of live handles; locked only when a handle is created or
    /// dropped and when statistics are read.
    live: Mutex<Vec<Arc<HandleCounters>>>,
}

/// What a [`Tally`] adds up to.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Totals {
    /// Net messages counted (sent or received).
    pub(crate) count: u64,
    /// Sends that found the mailbox full.
    pub(crate) found_full: u64,
}

impl Tally {
    /// Registers a new handle; `id_block` is its first block of message ids,
    /// packed (0 for receivers, which hand out none).
    pub(crate) fn register(&self, id_block: u64) -> Arc<HandleCounters> {
        let counters = Arc::new(HandleCounters::new(id_block));
        self.live.lock().push(Arc::clone(&counters));
        counters
    }

    pub(crate) fn retire(&self, counters: &Arc<HandleCounters>) {
        let mut live = self.live.lock();
        if let Some(i) = live.iter().position(|c| Arc::ptr_eq(c, counters)) {
            live.swap_remove(i);
        }
        // Under the lock, so a concurrent `totals` sees each count exactly once.
        self.retired.fetch_add(counters.net(), Ordering::Relaxed);
        self.retired_found_full.fetch_add(
            counters.found_full.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
    }

    pub(crate) fn totals(&self) -> Totals {
        let live = self.live.lock();
        let mut totals = Totals {
            count: self.retired.load(Ordering::Relaxed),
            found_full: self.retired_found_full.load(Ordering::Relaxed),
        };
        for c in live.iter() {
            totals.count = totals.count.wrapping_add(c.net());
            totals.found_full += c.found_full.load(Ordering::Relaxed);
        }
        totals
    }
}
