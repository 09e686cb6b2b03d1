//! Per-mailbox statistics, kept cheap enough to leave on.
//!
//! A shared counter bumped by every sender would bounce one cache line between
//! all producer cores on every message. Instead each handle counts on a cache
//! line of its own, and reading the statistics sums the live handles' counters
//! and the totals that dropped handles left behind.
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | [`MailboxStats`], [`DeadLetterCounts`], and `Outcomes`: the snapshot, and the counters of rare events |
//! | `counters.rs` | one handle's counters (`HandleCounters`, `RecvCounters`), counted by their owner thread |
//! | `tally.rs` | `Tally`: the live handles' counters and what dropped ones left behind, summed on a read |

use std::sync::atomic::Ordering;

use crate::reason::DeadLetterReason;
use crate::sync::AtomicU64;

mod counters;
mod tally;

pub(crate) use counters::{HandleCounters, RecvCounters};
pub(crate) use tally::Tally;

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
