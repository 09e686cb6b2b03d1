//! Restoring a durable mailbox: what the log held goes back into the queue,
//! in log order.
//!
//! In two steps. [`fill`] decodes the messages straight into the queue
//! before the mailbox exists, writing nothing, so that an undecodable
//! message fails the open with the log as it was. Then
//! [`Core::restore`] writes what restoring owes the log (a `Requeued` for
//! each message whose redelivery count was raised) and sends to dead
//! letters the messages that may not go back.
//!
//! Why one at a time, each message pushed as soon as it is decoded rather
//! than all decoded first: that is the order of allocations sends make
//! (a body, then its queue slot; a new block of slots every so often), and
//! glibc's `free` depends on it. Decoded all first, the bodies lay together
//! and the queue's blocks of slots (1248 bytes for a `Vec` body, too big
//! for a thread cache) were made back to back; a consumer freeing them in
//! order then merged each with the free ones before it into a free run of
//! more than 64 KiB, and every such `free` consolidated the fast bins of
//! the bodies freed meanwhile (`malloc_consolidate`): about 75 instructions
//! a message on the consumer's thread, the same whatever made the bodies
//! first (a plain mailbox filled from a `Vec` of bodies paid it too).
//! Interleaved, each block sits between live or fast-binned bodies and is
//! freed on its own, as in a mailbox filled by sends.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::id::MessageId;
use crate::journal::{OpenError, Restored};
use crate::message::Message;
use crate::reason::DeadLetterReason;

use super::backend::Backend;
use super::core::Core;
use super::durable::Log;
use super::ids::reserve_ids_above;

/// What restoring leaves to do once the mailbox exists.
pub(super) struct Restoring<T> {
    /// The messages whose redelivery count was raised (a consumer may have
    /// had them), with the new count: each is logged as requeued.
    raised: Vec<(MessageId, u32)>,
    /// The messages that go to dead letters rather than the queue, in log
    /// order, with why.
    discards: Vec<(Message<T>, DeadLetterReason)>,
    /// The highest message id the log names.
    max_id: u64,
}

/// Decodes `messages` (in log order) into `queue`, whatever its capacity
/// (they were accepted once), each pushed as soon as it is decoded. Those
/// whose redeliveries ran out (above `max_redeliveries`) or whose time to
/// live did while the process was down are kept aside for dead letters, as
/// are those a custom backend refuses. Writes nothing: `Err` on the first
/// message that does not decode.
pub(super) fn fill<T: Send>(
    log: &Log<T>,
    messages: Vec<Restored>,
    max_id: u64,
    max_redeliveries: Option<u32>,
    queue: &Backend<T>,
) -> Result<Restoring<T>, OpenError> {
    let mut restoring = Restoring {
        raised: Vec::new(),
        discards: Vec::new(),
        max_id,
    };
    let now = Instant::now();
    for restored in messages {
        let mut msg = log
            .decode(&restored.payload)
            .map_err(|reason| OpenError::Undecodable {
                id: restored.id,
                reason,
            })?;
        let id = MessageId::from_raw(restored.id);
        let header = msg.header_mut();
        header.stamp(id);
        let mut redeliveries = header.redeliveries().max(restored.redeliveries);
        if restored.possibly_delivered {
            redeliveries = redeliveries.saturating_add(1);
            restoring.raised.push((id, redeliveries));
        }
        header.set_redeliveries(redeliveries);
        let reason = if max_redeliveries.is_some_and(|max| redeliveries > max) {
            DeadLetterReason::MaxRedeliveries
        } else if header.has_ext() && header.is_expired_at(now) {
            DeadLetterReason::Expired
        } else {
            match queue.restore(msg) {
                Ok(()) => continue,
                Err(back) => {
                    msg = back;
                    DeadLetterReason::Overflow
                }
            }
        };
        restoring.discards.push((msg, reason));
    }
    Ok(restoring)
}

impl<T: Send> Core<T> {
    /// Finishes restoring what [`fill`] put into the queue: new ids start
    /// above every restored one, the raised redelivery counts are logged
    /// (kept if the next stop is a clean one), and the messages kept aside
    /// go to dead letters.
    pub(super) fn restore(&self, restoring: Restoring<T>) {
        reserve_ids_above(restoring.max_id);
        if !restoring.raised.is_empty() {
            self.cold()
                .outcomes
                .redelivered
                .fetch_add(restoring.raised.len() as u64, Ordering::Relaxed);
        }
        if let Some(log) = self.log.as_deref() {
            for &(id, redeliveries) in &restoring.raised {
                log.requeued(id, redeliveries);
            }
        }
        for (msg, reason) in restoring.discards {
            self.discard(msg, reason);
        }
    }
}
