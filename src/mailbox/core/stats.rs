//! The mailbox's statistics: the counts kept away from the handles'
//! own counters, the sampled peak length, and the snapshot that adds them
//! all up ([`MailboxStats`]).

use std::sync::atomic::Ordering;

use crate::stats::{HandleCounters, MailboxStats, Outcomes, RecvCounters};
use crate::sync::AtomicU64;

use super::Core;

impl<T: Send> Core<T> {
    /// Counts `n` plain receives made on a thread that does not own the
    /// receiving handle (see `stats::Owner`).
    #[inline(never)]
    pub(in crate::mailbox) fn count_received_shared(&self, n: u64) {
        self.cold()
            .outcomes
            .received_shared
            .fetch_add(n, Ordering::Relaxed);
    }

    #[inline(never)]
    pub(in crate::mailbox) fn sample_peak(&self) {
        let len = self.queue.len();
        // Read before writing: a write to this shared line on every sample
        // would bounce it between producer cores for nothing.
        if len > self.peak_len.load(Ordering::Relaxed) {
            self.peak_len.fetch_max(len, Ordering::Relaxed);
        }
    }

    pub(in crate::mailbox) fn stats(&self) -> MailboxStats {
        // Read what leaves the mailbox before what enters it, so that a
        // snapshot taken while messages flow never shows more out than in
        // (a message can be taken in the instant between a blocked sender's
        // push and its leaving the waiting count, hence the max).
        let recv = self.tally.totals::<RecvCounters>();
        let outcomes = self.cold.get().map(|cold| &cold.outcomes);
        let shared = |count: fn(&Outcomes) -> &AtomicU64| {
            outcomes.map_or(0, |o| count(o).load(Ordering::Relaxed))
        };
        let received_shared = shared(|o| &o.received_shared);
        let (dropped, dead_lettered, dead_letters, redelivered, delayed) = match outcomes {
            Some(outcomes) => (
                outcomes.dropped.load(Ordering::Relaxed),
                outcomes.dead_lettered.load(Ordering::Relaxed),
                outcomes.dead_letters(),
                outcomes.redelivered.load(Ordering::Relaxed),
                outcomes.delayed.load(Ordering::Relaxed),
            ),
            None => Default::default(),
        };
        let received = recv
            .count
            .wrapping_add(received_shared)
            .wrapping_add(recv.acked);
        let unacked = recv
            .delivered
            .saturating_sub(recv.acked)
            .saturating_sub(recv.nacked);
        let len = self.queue.len();
        let mut sent = self.tally.totals::<HandleCounters>();
        sent.count = sent.count.wrapping_add(shared(|o| &o.sent_shared));
        let out = received
            .saturating_add(dropped)
            .saturating_add(dead_lettered)
            .saturating_add(unacked)
            .saturating_add(delayed);
        MailboxStats {
            // Requeued messages can make `len` count one twice for an
            // instant; `sent` is only raised to what provably left.
            sent: sent.count.max(out),
            received,
            len,
            // The length now is a sample too, kept like the others: a
            // mailbox read before its first sampled send reports a true
            // peak, and a later read never reports a lower one.
            peak_len: self.peak_len.fetch_max(len, Ordering::Relaxed).max(len),
            found_full: sent.found_full,
            dropped,
            dead_lettered,
            dead_letters,
            acked: recv.acked,
            nacked: recv.nacked,
            redelivered,
            unacked,
            delayed,
        }
    }
}
