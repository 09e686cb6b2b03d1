//! What a send does when a bounded mailbox is full: the [`Overflow`] policy.

/// What a send does when a bounded mailbox is full, chosen per mailbox with
/// [`MailboxBuilder::overflow`](crate::MailboxBuilder::overflow).
///
/// | policy | a send to a full mailbox | RabbitMQ |
/// | --- | --- | --- |
/// | `Block` (default) | waits for room, as long as its wait allows (backpressure) | flow control |
/// | `Reject` | fails with `Full` at once, message handed back, whatever the wait | `reject-publish` |
/// | `DropOldest` | moves the head of the queue to dead letters, then queues | `drop-head` |
/// | `DropLowest` | moves the oldest of the least urgent messages to dead letters, never a more urgent one | — |
///
/// A send evicts until its message fits: usually one message. Requeued
/// deliveries ignore the capacity (they were admitted once), so a crashed
/// worker's deliveries can put a mailbox over it; the next send under
/// `DropOldest` or `DropLowest` then brings it back to its capacity, starting
/// with those requeued deliveries (they are at the head of their level).
///
/// Evicted messages go to dead letters with reason
/// [`Overflow`](crate::DeadLetterReason::Overflow); every send that found the
/// mailbox full is counted in [`MailboxStats::found_full`](crate::MailboxStats::found_full).
/// A rendezvous mailbox (capacity 0) queues nothing, so there is nothing to
/// evict: there `DropOldest` and `DropLowest` refuse like `Reject`. An
/// unbounded mailbox is never full.
///
/// # Examples
///
/// ```
/// use postbox::{DeadLetterReason, Mailbox, Message, Overflow};
///
/// // Keep the urgent work when a burst overflows a priority mailbox.
/// let (tx, rx) = Mailbox::<&str>::builder()
///     .priority(3)
///     .capacity(2)
///     .overflow(Overflow::DropLowest)
///     .build();
/// tx.send(Message::new("free tier").priority(0)).unwrap();
/// tx.send(Message::new("paid").priority(2)).unwrap();
/// // Full: the free-tier job is evicted to make room for a standard one...
/// tx.send(Message::new("standard").priority(1)).unwrap();
/// // ...and a message less urgent than everything queued is refused.
/// let refused = tx.send(Message::new("free tier 2").priority(0)).unwrap_err();
/// assert!(refused.is_full());
///
/// let order: Vec<&str> = rx.try_iter().map(|m| m.into_body()).collect();
/// assert_eq!(order, ["paid", "standard"]);
/// assert_eq!(rx.stats().dead_letters.get(DeadLetterReason::Overflow), 1);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for room, within the send's wait (backpressure). A non-blocking
    /// send fails with `Full`.
    #[default]
    Block,
    /// Fail with `Full` at once and hand the message back, even a send that
    /// would wait.
    Reject,
    /// Evict the head of the queue (the message that would leave next) to
    /// dead letters and queue the new one. In a FIFO mailbox that is the
    /// oldest message; in a priority mailbox it is the oldest of the most
    /// urgent level, as RabbitMQ's `drop-head` does: choose `DropLowest`
    /// there.
    DropOldest,
    /// Evict the oldest message of the least urgent level queued, if that
    /// level is at most as urgent as the new message; if the new message is
    /// less urgent than everything queued, refuse it with `Full` instead. High
    /// priority work is never thrown away to keep low priority work. In a FIFO
    /// mailbox (one level) this is `DropOldest`. Custom backends take part by
    /// implementing [`Queue::evict_lowest`](crate::Queue::evict_lowest).
    DropLowest,
}
