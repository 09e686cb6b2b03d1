//! Covered deliveries without the queue's lock.
//!
//! Most deliveries fall in a delivery range already written (`ranges.rs`)
//! and write nothing; taking the queue's lock to find that out was a
//! large part of what a durable `recv_ack` still cost. So the first id of
//! the newest range that is *written* is published in an atomic, and a
//! delivery it covers returns at once ([`Covered::covers`]); any other
//! delivery takes the lock as before, where all the latest ranges are
//! looked at.
//!
//! Why a delivery the published range covers needs nothing more, whatever
//! happens meanwhile:
//!
//! - *Written*: it is published only once its record was written (by the
//!   leader of the batch that wrote it), so a process crash after the
//!   delivery finds it in the log.
//! - *Requeues*: a message requeued after a range needs a `Delivered` of
//!   its own (a `Requeued` ends a range's cover at replay). Queuing a
//!   `Requeued` revokes the published range under the queue's lock, and the
//!   leader publishes again only while no requeued id waits for its
//!   `Delivered`. The mailbox logs the requeue before it puts the message
//!   back in the queue, so a consumer that takes that message took it after
//!   the revocation: its load of the atomic comes after the revoking store
//!   (the queue's hand over orders them) and cannot see the range from
//!   before.
//! - *Eviction*: a range leaves the last [`RANGES`](super::super::ranges::RANGES)
//!   after 8 newer ones, and replay then stops flagging messages enqueued
//!   later. A consumer may have loaded a range just before newer ones were
//!   published; but the message it delivers was enqueued (written) before
//!   it was taken, and so before that load: if the loaded range was the
//!   newest when the message was enqueued, replay flags the message by its
//!   enqueue; if the range came after the enqueue, replay flags every live
//!   message it covers. Either way the message comes back flagged.
//! - *Clean close, purge, failure*: a `CleanClose` or a purge ends every
//!   range, and a failed or closed log takes no records: each revokes the
//!   published range under the lock. (A delivery racing a close has no
//!   consumer to race: the mailbox closes its log once every handle is
//!   gone.)

use std::sync::atomic::{AtomicU64, Ordering};

use super::super::ranges::RANGE_SPAN;

/// No range is published.
const NONE: u64 = u64::MAX;

/// The first id of the newest written range deliveries may rely on
/// without the lock, or [`NONE`].
#[derive(Debug)]
pub(super) struct Covered {
    /// That first id (the range holds [`RANGE_SPAN`] ids from it; one
    /// ending at `u64::MAX` fewer, and is then trusted for fewer).
    first: AtomicU64,
}

impl Covered {
    /// Nothing published.
    pub(super) fn new() -> Covered {
        Covered {
            first: AtomicU64::new(NONE),
        }
    }

    /// Whether a delivery of `id` needs nothing written: the published
    /// range covers it.
    #[inline]
    pub(super) fn covers(&self, id: u64) -> bool {
        // Acquire: pairs with `publish`, though the range's record being
        // written is what matters, and that was done before the store.
        let first = self.first.load(Ordering::Acquire);
        first != NONE && first <= id && id - first < RANGE_SPAN
    }

    /// Publishes the range from `first`, whose record is written. Called
    /// under the queue's lock, only while no requeued id waits.
    pub(super) fn publish(&self, first: u64) {
        self.first.store(first, Ordering::Release);
    }

    /// Deliveries take the lock again. Called under the queue's lock.
    pub(super) fn revoke(&self) {
        self.first.store(NONE, Ordering::SeqCst);
    }
}
