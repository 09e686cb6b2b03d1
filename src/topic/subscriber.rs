//! A subscription to a topic: [`Subscriber`], the one receive right on its
//! own queue, which takes itself off the topic when closed or dropped.

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use super::{Link, Shared};
use crate::id::SubscriberId;
use crate::mailbox::Receiver;
use crate::message::Message;

/// One subscription to a [`Topic`](crate::Topic): receives a copy of every
/// message published after it subscribed, from a queue of its own.
///
/// Not `Clone`: a subscription has one receive right (subscribe again for
/// another copy of the stream). It has the receiving methods of a
/// [`Receiver`](crate::Receiver) (`recv`, `try_recv`, `recv_timeout`,
/// `iter`, ...), and its queue's state (`len`, `capacity`, `stats`, ...).
///
/// Dropping it unsubscribes: later publishes skip it, and a publisher waiting
/// for room in its queue wakes and moves on. What was still queued is
/// dropped and counted in its queue's statistics and in the topic's
/// [`TopicStats::abandoned`](crate::TopicStats::abandoned);
/// [`close`](Subscriber::close) takes it back instead. Leaving waits for
/// the publishes that may still add to its queue (never for one waiting for
/// room in another subscriber's queue), so every copy a publish counted for
/// the subscriber is received, evicted, returned by `close` or abandoned.
///
/// # Examples
///
/// ```
/// use postbox::Topic;
///
/// let topic = Topic::<u32>::builder().build();
/// let early = topic.subscribe();
/// topic.publish(1).unwrap();
/// let late = topic.subscribe(); // sees only what comes next
/// assert_eq!(topic.publish(2).unwrap(), 2);
/// assert_eq!(early.try_iter().map(|m| m.into_body()).collect::<Vec<_>>(), [1, 2]);
/// assert_eq!(late.try_iter().map(|m| m.into_body()).collect::<Vec<_>>(), [2]);
///
/// drop(early); // unsubscribes
/// assert_eq!(topic.publish(3).unwrap(), 1);
/// ```
pub struct Subscriber<T: Send> {
    /// This subscription's id in its topic.
    pub(super) id: SubscriberId,
    /// The receiving half of the subscription's own queue.
    pub(super) receiver: Receiver<T>,
    /// What it shares with the publishers: evictions, and the visits it
    /// waits out when it leaves.
    pub(super) link: Arc<Link>,
    /// The topic, to leave it on drop; weak, so that subscribers do not keep
    /// a topic alive after its last publisher is gone.
    pub(super) topic: Weak<Shared<T>>,
}

impl<T: Send> Subscriber<T> {
    receive_methods!(receiver, Message<T>);
    status_methods!(receiver);
    ack_methods!(receiver);

    async_receive_methods!(receiver);

    /// This subscription's id in its topic (as listed in
    /// [`PublishError::Full`](crate::PublishError::Full)).
    pub fn id(&self) -> SubscriberId {
        self.id
    }

    /// How many messages were evicted from this subscriber's queue to make
    /// room under [`SlowSubscriber::DropOldest`](crate::SlowSubscriber::DropOldest):
    /// published to it, never received. Always 0 under the other policies.
    pub fn lost(&self) -> u64 {
        self.link.lost.load(Ordering::Relaxed)
    }

    /// Leaves the topic and closes this subscriber's queue, returning what
    /// was still queued. Later receives fail with `Closed`; later publishes
    /// skip this subscriber, and no publish still running adds to the queue
    /// once this returns (a copy a publish counted for this subscriber is
    /// received, evicted, or in what this returns).
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Topic;
    ///
    /// let topic = Topic::<u8>::builder().build();
    /// let sub = topic.subscribe();
    /// topic.publish(1).unwrap();
    /// let left: Vec<u8> = sub.close().into_iter().map(|m| m.into_body()).collect();
    /// assert_eq!(left, [1]);
    /// assert_eq!(topic.subscriber_count(), 0);
    /// assert!(sub.recv().is_err());
    /// ```
    pub fn close(&self) -> Vec<Message<T>> {
        self.leave();
        self.receiver.close()
    }

    /// Leaves the topic for good: off the list, its queue closed, and no
    /// publish able to add to it any more (see `leave.rs`). Returns the
    /// topic, if it still exists (if not, no publish can run). Idempotent.
    fn leave(&self) -> Option<Arc<Shared<T>>> {
        let shared = self.topic.upgrade()?;
        shared.leave(self.id, &self.link);
        Some(shared)
    }

    /// The subscriber's receiver, for [`Select`](crate::Select) and other
    /// crate-internal users.
    pub(crate) fn receiver(&self) -> &Receiver<T> {
        &self.receiver
    }
}

impl<T: Send> Drop for Subscriber<T> {
    fn drop(&mut self) {
        if let Some(shared) = self.leave() {
            // Nothing reaches the queue any more, and nobody else receives
            // from it: what it holds (or will get back from a delayed
            // requeue) are counted copies this subscriber never received.
            // (Without a topic, nobody can read the count.)
            let left = self.receiver.stats();
            let abandoned = (left.len as u64).saturating_add(left.delayed);
            if abandoned > 0 {
                shared.abandoned.fetch_add(abandoned, Ordering::Relaxed);
            }
        }
        // Then `receiver` drops, the queue's only receiver: what is still
        // queued is dropped and counted in its statistics.
    }
}

impl<T: Send> fmt::Debug for Subscriber<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscriber")
            .field("id", &self.id)
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("lost", &self.lost())
            .field("closed", &self.is_closed())
            .finish()
    }
}
