//! Topics: one-to-many broadcast. Every subscriber gets its own copy of each
//! message published after it subscribed, in a bounded queue of its own.
//!
//! # How a publish works
//!
//! The topic keeps its subscriber list as an immutable snapshot that
//! `subscribe` and unsubscribing replace (copy-on-write). A publish takes the
//! lock only to clone the snapshot's `Arc`, then works without it: a
//! publisher waiting on a slow subscriber never holds up a `subscribe`, a
//! dropped subscriber, or another publisher.
//!
//! The message is cloned for every subscriber but the last, which gets the
//! original. First every subscriber is offered its copy without waiting; only
//! then, under [`SlowSubscriber::Block`], does the publisher wait for the ones
//! that were full, so a slow subscriber delays its own copy, not the others'.
//! One publisher's messages reach each subscriber in the order they were
//! published; concurrent publishers' messages may interleave differently at
//! different subscribers.
//!
//! # Closing
//!
//! - Dropping a [`Subscriber`] takes it off the topic and closes its queue: a
//!   publisher waiting for room in it wakes and moves on, so a dropped
//!   subscriber never blocks the publisher. What was still queued for it is
//!   dropped and counted in its [`MailboxStats::dropped`](crate::MailboxStats::dropped)
//!   and in the topic's [`TopicStats::abandoned`];
//!   [`Subscriber::close`] takes it back instead.
//! - A publish counts a subscriber exactly when its queue took the copy,
//!   and a subscriber that leaves first waits out the publishes that may
//!   still add to its queue (see `leave.rs`; never one that waits for room
//!   in another subscriber's queue). So the counts publishes return
//!   add up: every copy counted is received, evicted ([`TopicStats::lost`]),
//!   still queued, or abandoned with its subscriber.
//! - [`Topic::close`], or dropping the last `Topic` handle, closes every
//!   subscriber's queue: subscribers receive what was already queued, then
//!   `Closed`. Publishing on a closed topic fails with
//!   [`PublishError::Closed`](crate::PublishError::Closed).

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use crate::id::SubscriberId;
use crate::mailbox::{Mailbox, Receiver, Sender};
use crate::sync::{AtomicU64, Mutex};

mod builder;
mod leave;
mod publish;
mod publish_async;
mod stats;
mod subscriber;

use builder::Discipline;
pub use builder::{SlowSubscriber, TopicBuilder};
use leave::Link;
pub use publish_async::PublishAsync;
pub use stats::TopicStats;
pub use subscriber::Subscriber;

/// One subscriber as the publishers see it.
struct Entry<T: Send> {
    /// The subscriber's id.
    id: SubscriberId,
    /// The sending half of the subscriber's own queue; the only sender, so
    /// the queue closes when the topic lets go of the entry.
    sender: Sender<T>,
    /// What the publishers share with the [`Subscriber`]: its evictions,
    /// and the waits for room that a leaving subscriber waits out.
    link: Arc<Link>,
}

/// The subscriber list and whether the topic is closed, under one lock so
/// that a `subscribe` racing with `close` either joins the list before it is
/// emptied or sees the topic closed.
struct List<T: Send> {
    /// The current subscribers, in subscription order. Never changed in
    /// place: `subscribe` and unsubscribing swap in a new slice, so a publish
    /// iterates its own snapshot without the lock.
    entries: Arc<[Arc<Entry<T>>]>,
    /// Set once by `Topic::close`.
    closed: bool,
    /// The snapshots `entries` replaced that may still be in use: a publish
    /// holds its snapshot while it offers copies, and a subscriber leaving
    /// waits until every snapshot that may list it is gone (see `leave.rs`).
    /// Pruned of the dead ones whenever one is added.
    retired: Vec<Weak<[Arc<Entry<T>>]>>,
}

impl<T: Send> List<T> {
    /// Puts `entries` in place of the current snapshot, and returns that,
    /// to be dropped outside the lock (the last reference to an entry drops
    /// its sender, which closes its queue).
    fn replace(&mut self, entries: Arc<[Arc<Entry<T>>]>) -> Arc<[Arc<Entry<T>>]> {
        let old = std::mem::replace(&mut self.entries, entries);
        self.retired.retain(|snapshot| snapshot.strong_count() > 0);
        self.retired.push(Arc::downgrade(&old));
        old
    }

    /// Takes the entries with these ids out of the list; returns them and
    /// the snapshot they were taken from, both to be dropped outside the
    /// lock.
    #[allow(clippy::type_complexity)]
    fn take_out(
        &mut self,
        ids: &[SubscriberId],
    ) -> (Vec<Arc<Entry<T>>>, Option<Arc<[Arc<Entry<T>>]>>) {
        let removed: Vec<Arc<Entry<T>>> = self
            .entries
            .iter()
            .filter(|e| ids.contains(&e.id))
            .cloned()
            .collect();
        if removed.is_empty() {
            return (removed, None);
        }
        let kept: Arc<[Arc<Entry<T>>]> = self
            .entries
            .iter()
            .filter(|e| !ids.contains(&e.id))
            .cloned()
            .collect();
        (removed, Some(self.replace(kept)))
    }
}

/// What every handle of one topic shares. Subscribers hold it weakly: the
/// topic's life is its publishers'.
struct Shared<T: Send> {
    /// The subscribers.
    subscribers: Mutex<List<T>>,
    /// Every subscriber's queueing discipline.
    discipline: Discipline,
    /// Every subscriber's capacity (`None`: unbounded).
    capacity: Option<usize>,
    /// What a publish does with a full subscriber.
    on_full: SlowSubscriber,
    /// The next subscriber's id.
    next_id: AtomicU64,
    /// Messages that reached at least one subscriber.
    published: AtomicU64,
    /// Copies queued for subscribers (the sum of what publishes returned).
    delivered: AtomicU64,
    /// Copies not delivered because a subscriber was full.
    missed: AtomicU64,
    /// Copies evicted under `DropOldest`.
    lost: AtomicU64,
    /// Copies still queued for subscribers when they were dropped.
    abandoned: AtomicU64,
}

impl<T: Send> Shared<T> {
    /// The current subscribers, or `None` once the topic is closed. The lock
    /// is held only to clone the `Arc`.
    fn snapshot(&self) -> Option<Arc<[Arc<Entry<T>>]>> {
        let list = self.subscribers.lock();
        (!list.closed).then(|| Arc::clone(&list.entries))
    }

    /// Takes the subscribers with these ids off the list (those still on it).
    fn remove(&self, ids: &[SubscriberId]) {
        let mut list = self.subscribers.lock();
        let (_, old) = list.take_out(ids);
        drop(list);
        // The old snapshot may hold the last reference to a removed entry,
        // whose sender then closes its queue: do that outside the lock.
        drop(old);
    }

    /// A fresh queue for a new subscriber.
    fn queue(&self) -> (Sender<T>, Receiver<T>) {
        let builder = Mailbox::<T>::builder();
        let builder = match self.discipline {
            Discipline::Fifo => builder.fifo(),
            Discipline::Priority(levels) => builder.priority(levels),
        };
        match self.capacity {
            Some(cap) => builder.capacity(cap),
            None => builder.unbounded(),
        }
        .build()
    }
}

/// A one-to-many broadcast topic: every subscriber gets its own copy of each
/// message published after it subscribed.
///
/// Each subscriber has a queue of its own, built from the topic's settings
/// (FIFO or priority, bounded or not): a slow subscriber fills only its own
/// queue, and the topic's [`SlowSubscriber`] policy decides what a publish
/// does then (wait, evict, or report). `Topic` is `Clone`: clones are more
/// publishers of the same topic. Bodies must be `Clone`; wrap a large body
/// in an `Arc` to share it instead of copying it.
///
/// A subscriber that subscribes late sees only the messages published after
/// it subscribed. Each copy gets its own message id from its subscriber's
/// queue; the rest of the header (priority, correlation id, reply-to,
/// expiry) is copied.
///
/// # Examples
///
/// ```
/// use postbox::{PublishError, Topic};
/// use std::thread;
///
/// #[derive(Clone, Debug, PartialEq)]
/// enum Event { Uploaded(u32), Rendered(u32) }
///
/// let topic = Topic::<Event>::builder().capacity(64).build();
/// let audit = topic.subscribe();
/// let notifier = topic.subscribe();
///
/// let publisher = {
///     let topic = topic.clone();
///     thread::spawn(move || {
///         assert_eq!(topic.publish(Event::Uploaded(7)).unwrap(), 2); // both got it
///         topic.publish(Event::Rendered(7)).unwrap();
///     })
/// };
/// publisher.join().unwrap();
/// drop(topic); // publishers gone: subscribers drain, then see Closed
///
/// for sub in [audit, notifier] {
///     let seen: Vec<Event> = sub.iter().map(|m| m.into_body()).collect();
///     assert_eq!(seen, [Event::Uploaded(7), Event::Rendered(7)]);
/// }
///
/// // Nobody listening: the message comes back.
/// let topic = Topic::<u8>::builder().build();
/// assert!(matches!(topic.publish(1), Err(PublishError::NoSubscribers(_))));
/// ```
pub struct Topic<T: Send> {
    shared: Arc<Shared<T>>,
}

impl<T: Clone + Send> Topic<T> {
    /// A builder: FIFO, each subscriber bounded at
    /// [`DEFAULT_CAPACITY`](crate::DEFAULT_CAPACITY), [`SlowSubscriber::Block`],
    /// until told otherwise.
    pub fn builder() -> TopicBuilder<T> {
        TopicBuilder::new()
    }

    /// A topic with the default settings (see [`Topic::builder`]).
    pub fn new() -> Topic<T> {
        Topic::builder().build()
    }

    /// Subscribes: the returned [`Subscriber`] receives a copy of every
    /// message published from now on. Subscribing to a closed topic returns
    /// a subscriber that is already closed (its receives fail with
    /// `Closed`).
    pub fn subscribe(&self) -> Subscriber<T> {
        let (sender, receiver) = self.shared.queue();
        let id = SubscriberId::from_raw(self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let link = Arc::new(Link::new());
        let entry = Arc::new(Entry {
            id,
            sender,
            link: Arc::clone(&link),
        });
        let mut list = self.shared.subscribers.lock();
        let old = if list.closed {
            None
        } else {
            let entries = list.entries.iter().cloned().chain([entry]).collect();
            Some(list.replace(entries))
        };
        drop(list);
        // On a closed topic the entry was not added: it drops on return, and
        // with it the queue's only sender, so the subscriber starts closed.
        drop(old);
        Subscriber {
            id,
            receiver,
            link,
            topic: Arc::downgrade(&self.shared),
        }
    }

    /// Closes the topic: every subscriber's queue closes (subscribers
    /// receive what was already queued, then `Closed`), the subscriber list
    /// empties, and later publishes fail with
    /// [`PublishError::Closed`](crate::PublishError::Closed). A publisher
    /// waiting for room wakes and skips that subscriber. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{PublishError, RecvError, Topic};
    ///
    /// let topic = Topic::<u8>::builder().build();
    /// let sub = topic.subscribe();
    /// topic.publish(1).unwrap();
    /// topic.close();
    /// assert!(matches!(topic.publish(2), Err(PublishError::Closed(_))));
    /// assert_eq!(sub.recv().unwrap().into_body(), 1); // drained first
    /// assert_eq!(sub.recv().unwrap_err(), RecvError);
    /// ```
    pub fn close(&self) {
        let mut list = self.shared.subscribers.lock();
        list.closed = true;
        let old = list.replace(Vec::new().into());
        drop(list);
        for entry in old.iter() {
            // Close explicitly rather than by dropping the entries: a
            // publish in progress still holds them.
            entry.sender.close();
        }
    }

    /// Whether the topic is closed.
    pub fn is_closed(&self) -> bool {
        self.shared.snapshot().is_none()
    }

    /// How many subscribers the topic has now.
    pub fn subscriber_count(&self) -> usize {
        self.shared.subscribers.lock().entries.len()
    }

    /// The current subscribers' ids, in subscription order.
    pub fn subscribers(&self) -> Vec<SubscriberId> {
        let entries = match self.shared.snapshot() {
            Some(entries) => entries,
            None => return Vec::new(),
        };
        entries.iter().map(|e| e.id).collect()
    }

    /// The topic's slow-subscriber policy.
    pub fn on_full(&self) -> SlowSubscriber {
        self.shared.on_full
    }

    /// The topic's counters.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{SlowSubscriber, Topic};
    ///
    /// let topic = Topic::<u8>::builder().capacity(1).on_full(SlowSubscriber::DropOldest).build();
    /// let _a = topic.subscribe();
    /// let _b = topic.subscribe();
    /// topic.publish(1).unwrap();
    /// topic.publish(2).unwrap(); // evicts 1 from both queues
    /// let stats = topic.stats();
    /// assert_eq!((stats.published, stats.delivered, stats.lost), (2, 4, 2));
    /// assert_eq!(stats.subscribers, 2);
    /// ```
    pub fn stats(&self) -> TopicStats {
        let shared = &*self.shared;
        TopicStats {
            published: shared.published.load(Ordering::Relaxed),
            delivered: shared.delivered.load(Ordering::Relaxed),
            missed: shared.missed.load(Ordering::Relaxed),
            lost: shared.lost.load(Ordering::Relaxed),
            abandoned: shared.abandoned.load(Ordering::Relaxed),
            subscribers: self.subscriber_count(),
        }
    }

    /// Whether both handles publish on the same topic.
    pub fn same_topic(&self, other: &Topic<T>) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl<T: Clone + Send> Default for Topic<T> {
    fn default() -> Topic<T> {
        Topic::new()
    }
}

impl<T: Send> Clone for Topic<T> {
    fn clone(&self) -> Self {
        Topic {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: Send> fmt::Debug for Topic<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = self.shared.subscribers.lock();
        let (subscribers, closed) = (list.entries.len(), list.closed);
        drop(list);
        f.debug_struct("Topic")
            .field("subscribers", &subscribers)
            .field("capacity", &self.shared.capacity)
            .field("on_full", &self.shared.on_full)
            .field("closed", &closed)
            .finish()
    }
}
