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
//!   dropped and counted in its [`MailboxStats::dropped`](crate::MailboxStats::dropped);
//!   [`Subscriber::close`] takes it back instead.
//! - [`Topic::close`], or dropping the last `Topic` handle, closes every
//!   subscriber's queue: subscribers receive what was already queued, then
//!   `Closed`. Publishing on a closed topic fails with
//!   [`PublishError::Closed`].

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{PublishError, SendTimeoutError, TrySendError};
use crate::id::SubscriberId;
use crate::mailbox::{Mailbox, Receiver, Sender};
use crate::message::Message;
use crate::sync::{AtomicU64, Mutex};
use crate::wait::{Confirm, Deadline, Wait};

mod builder;
mod stats;
mod subscriber;

use builder::Discipline;
pub use builder::{SlowSubscriber, TopicBuilder};
pub use stats::TopicStats;
pub use subscriber::Subscriber;

/// One subscriber as the publishers see it.
struct Entry<T: Send> {
    /// The subscriber's id.
    id: SubscriberId,
    /// The sending half of the subscriber's own queue; the only sender, so
    /// the queue closes when the topic lets go of the entry.
    sender: Sender<T>,
    /// Messages evicted from the subscriber's queue under `DropOldest`,
    /// shared with the [`Subscriber`].
    lost: Arc<AtomicU64>,
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
    /// Copies queued for subscribers.
    delivered: AtomicU64,
    /// Copies not delivered because a subscriber was full.
    missed: AtomicU64,
    /// Copies evicted under `DropOldest`.
    lost: AtomicU64,
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
        if !list.entries.iter().any(|e| ids.contains(&e.id)) {
            return;
        }
        let kept: Arc<[Arc<Entry<T>>]> = list
            .entries
            .iter()
            .filter(|e| !ids.contains(&e.id))
            .cloned()
            .collect();
        let old = std::mem::replace(&mut list.entries, kept);
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

/// What happened to one subscriber's copy.
enum Outcome<T> {
    /// Queued.
    Delivered,
    /// No room; the copy comes back.
    Full(Message<T>),
    /// The subscriber's queue is closed (it left, or the topic closed); the
    /// copy comes back.
    Closed(Message<T>),
}

impl<T> Outcome<T> {
    fn of_try(result: Result<(), TrySendError<T>>) -> Outcome<T> {
        match result {
            // The sender's default confirmation is `Queued`: the copy is in.
            Ok(()) | Err(TrySendError::Unconfirmed(_)) => Outcome::Delivered,
            Err(TrySendError::Closed(m)) => Outcome::Closed(m),
            // The topic checks priorities before publishing and sets no body
            // limit, so a refusal cannot happen; were it to, that subscriber
            // missed the message and the caller is told so.
            Err(
                TrySendError::Full(m) | TrySendError::TooLong(m) | TrySendError::InvalidPriority(m),
            ) => Outcome::Full(m),
        }
    }

    fn of_wait(result: Result<(), SendTimeoutError<T>>) -> Outcome<T> {
        match result {
            Ok(()) | Err(SendTimeoutError::Unconfirmed(_)) => Outcome::Delivered,
            Err(SendTimeoutError::Closed(m)) => Outcome::Closed(m),
            // As in `of_try`: refusals cannot happen, and count as missed.
            Err(
                SendTimeoutError::Full(m)
                | SendTimeoutError::Timeout(m)
                | SendTimeoutError::TooLong(m)
                | SendTimeoutError::InvalidPriority(m),
            ) => Outcome::Full(m),
        }
    }
}

/// The tally of one publish.
struct Run<'a, T: Send> {
    /// Copies queued.
    delivered: usize,
    /// Subscribers still to wait for (`Block` with time to wait) and their
    /// copies, in subscription order.
    waiting: Vec<(&'a Entry<T>, Message<T>)>,
    /// Subscribers that missed the message because they were full.
    full: Vec<SubscriberId>,
    /// Subscribers found closed, to prune from the list.
    gone: Vec<SubscriberId>,
    /// A copy that came back, to hand to the caller if the publish fails.
    handback: Option<Message<T>>,
}

impl<'a, T: Send> Run<'a, T> {
    fn record(&mut self, entry: &'a Entry<T>, outcome: Outcome<T>) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Full(m) => {
                self.full.push(entry.id);
                self.handback.get_or_insert(m);
            }
            Outcome::Closed(m) => {
                self.gone.push(entry.id);
                self.handback.get_or_insert(m);
            }
        }
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
        let lost = Arc::new(AtomicU64::new(0));
        let entry = Arc::new(Entry {
            id,
            sender,
            lost: Arc::clone(&lost),
        });
        let mut list = self.shared.subscribers.lock();
        let old = if list.closed {
            None
        } else {
            let entries = list.entries.iter().cloned().chain([entry]).collect();
            Some(std::mem::replace(&mut list.entries, entries))
        };
        drop(list);
        // On a closed topic the entry was not added: it drops on return, and
        // with it the queue's only sender, so the subscriber starts closed.
        drop(old);
        Subscriber {
            id,
            receiver,
            lost,
            topic: Arc::downgrade(&self.shared),
        }
    }

    /// Publishes: queues a copy of `msg` for every subscriber and returns how
    /// many received it.
    ///
    /// Under [`SlowSubscriber::Block`] this waits for room in every full
    /// subscriber's queue (a subscriber dropped meanwhile is skipped); under
    /// the other policies it never waits. Fails with `NoSubscribers` if
    /// nobody received it, `Full` if some subscribers missed it (`Reject`),
    /// `Closed` if the topic is closed, `InvalidPriority` on a priority topic
    /// whose levels do not include the message's priority. Every error hands
    /// the message (or, for `Full`, a copy) back.
    ///
    /// The count is taken as the copies are queued: a subscriber dropped
    /// while the publish runs may be counted, its copy then leaving with it.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Message, Topic};
    ///
    /// let topic = Topic::<String>::builder().capacity(8).build();
    /// let a = topic.subscribe();
    /// let b = topic.subscribe();
    /// let n = topic.publish(Message::new("hello".to_string()).correlation_id(9)).unwrap();
    /// assert_eq!(n, 2);
    /// for sub in [&a, &b] {
    ///     let m = sub.recv().unwrap();
    ///     assert_eq!((m.body().as_str(), m.header().correlation_id()), ("hello", Some(9)));
    /// }
    /// ```
    pub fn publish(&self, msg: impl Into<Message<T>>) -> Result<usize, PublishError<T>> {
        self.publish_inner(msg.into(), Deadline::Never)
    }

    /// Publishes without ever waiting: under `Block`, a full subscriber
    /// misses the message and is reported in [`PublishError::Full`], as
    /// under `Reject`. The other policies never wait anyway.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Topic;
    ///
    /// let topic = Topic::<u8>::builder().capacity(1).build();
    /// let sub = topic.subscribe();
    /// assert_eq!(topic.try_publish(1).unwrap(), 1);
    /// let err = topic.try_publish(2).unwrap_err();
    /// assert_eq!(err.full_subscribers(), [sub.id()]);
    /// assert_eq!(err.into_inner(), 2);
    /// ```
    pub fn try_publish(&self, msg: impl Into<Message<T>>) -> Result<usize, PublishError<T>> {
        self.publish_inner(msg.into(), Deadline::Now)
    }

    /// Publishes, waiting (under `Block`) at most `timeout` in total for room
    /// in full subscribers' queues; those still full then miss the message
    /// and are reported in [`PublishError::Full`]. A timeout too large to
    /// represent waits forever.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Topic;
    /// use std::time::Duration;
    ///
    /// let topic = Topic::<u8>::builder().capacity(1).build();
    /// let slow = topic.subscribe();
    /// topic.publish(1).unwrap();
    /// let fast = topic.subscribe();
    /// let err = topic.publish_timeout(2, Duration::from_millis(10)).unwrap_err();
    /// assert_eq!((err.delivered(), err.full_subscribers()), (1, &[slow.id()][..]));
    /// assert_eq!(fast.try_recv().unwrap().into_body(), 2);
    /// ```
    pub fn publish_timeout(
        &self,
        msg: impl Into<Message<T>>,
        timeout: Duration,
    ) -> Result<usize, PublishError<T>> {
        self.publish_inner(msg.into(), Deadline::after(timeout))
    }

    /// Publishes, waiting (under `Block`) until `deadline` at the latest;
    /// see [`publish_timeout`](Topic::publish_timeout).
    pub fn publish_deadline(
        &self,
        msg: impl Into<Message<T>>,
        deadline: Instant,
    ) -> Result<usize, PublishError<T>> {
        self.publish_inner(msg.into(), Deadline::At(deadline))
    }

    /// Publishes with the wait chosen for this call: [`Wait::Blocking`] is
    /// [`publish`](Topic::publish), [`Wait::NonBlocking`] is
    /// [`try_publish`](Topic::try_publish), the timed waits are
    /// [`publish_timeout`](Topic::publish_timeout) /
    /// [`publish_deadline`](Topic::publish_deadline).
    pub fn publish_with(
        &self,
        msg: impl Into<Message<T>>,
        wait: Wait,
    ) -> Result<usize, PublishError<T>> {
        self.publish_inner(msg.into(), wait.deadline())
    }

    /// The one primitive every publish wraps.
    fn publish_inner(&self, msg: Message<T>, deadline: Deadline) -> Result<usize, PublishError<T>> {
        let shared = &*self.shared;
        // Checked once here rather than refused by every subscriber's queue.
        if let Discipline::Priority(levels) = shared.discipline {
            if msg.header().priority() >= levels {
                return Err(PublishError::InvalidPriority(msg));
            }
        }
        let Some(entries) = shared.snapshot() else {
            return Err(PublishError::Closed(msg));
        };
        let Some((last, rest)) = entries.split_last() else {
            return Err(PublishError::NoSubscribers(msg));
        };
        let mut run = Run {
            delivered: 0,
            waiting: Vec::new(),
            full: Vec::new(),
            gone: Vec::new(),
            handback: None,
        };
        for entry in rest {
            self.offer(entry, msg.clone(), deadline, &mut run);
        }
        self.offer(last, msg, deadline, &mut run);

        // Everyone with room has the message; now wait for the rest, in
        // subscription order, all within the one deadline. A subscriber
        // dropped meanwhile closes its queue, which ends the wait on it.
        let wait = match deadline {
            Deadline::At(at) => Wait::Deadline(at),
            Deadline::Never | Deadline::Now => Wait::Blocking,
        };
        for (entry, copy) in std::mem::take(&mut run.waiting) {
            let sent = entry.sender.send_with(copy, wait, Confirm::Queued);
            run.record(entry, Outcome::of_wait(sent));
        }

        if !run.gone.is_empty() {
            // Already off the list unless the queue was closed another way;
            // either way later publishes should not meet it again.
            shared.remove(&run.gone);
        }
        let delivered = run.delivered;
        if delivered > 0 {
            shared.published.fetch_add(1, Ordering::Relaxed);
            shared
                .delivered
                .fetch_add(delivered as u64, Ordering::Relaxed);
        }
        if !run.full.is_empty() {
            shared
                .missed
                .fetch_add(run.full.len() as u64, Ordering::Relaxed);
            if let Some(message) = run.handback {
                return Err(PublishError::Full {
                    delivered,
                    full: run.full,
                    message,
                });
            }
        }
        match run.handback {
            // Every subscriber was found closed: they all left, or the topic
            // was closed while we published.
            Some(m) if delivered == 0 => {
                if shared.snapshot().is_none() {
                    Err(PublishError::Closed(m))
                } else {
                    Err(PublishError::NoSubscribers(m))
                }
            }
            _ => Ok(delivered),
        }
    }

    /// Offers one subscriber its copy without waiting, as the policy says.
    // Inlined so that the fresh copy is not stored for the call and loaded
    // back at once (a store-forwarding stall that showed in profiles of the
    // fan-out benchmark).
    #[inline(always)]
    fn offer<'a>(
        &self,
        entry: &'a Entry<T>,
        copy: Message<T>,
        deadline: Deadline,
        run: &mut Run<'a, T>,
    ) {
        let outcome = match self.shared.on_full {
            SlowSubscriber::DropOldest => self.offer_evicting(entry, copy),
            SlowSubscriber::Block | SlowSubscriber::Reject => {
                Outcome::of_try(entry.sender.try_send(copy))
            }
        };
        match outcome {
            Outcome::Full(copy)
                if self.shared.on_full == SlowSubscriber::Block && deadline != Deadline::Now =>
            {
                run.waiting.push((entry, copy));
            }
            outcome => run.record(entry, outcome),
        }
    }

    /// `DropOldest`: makes room by evicting the head of a full queue, until
    /// the copy fits.
    fn offer_evicting(&self, entry: &Entry<T>, mut copy: Message<T>) -> Outcome<T> {
        loop {
            match Outcome::of_try(entry.sender.try_send(copy)) {
                Outcome::Full(back) => copy = back,
                done => return done,
            }
            // The queue holds at least one message (capacity is never 0), but
            // the subscriber may have emptied it since we looked, or another
            // publisher may take the room we make: either way, try again.
            if entry.sender.evict_head().is_some() {
                entry.lost.fetch_add(1, Ordering::Relaxed);
                self.shared.lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Closes the topic: every subscriber's queue closes (subscribers
    /// receive what was already queued, then `Closed`), the subscriber list
    /// empties, and later publishes fail with [`PublishError::Closed`]. A
    /// publisher waiting for room wakes and skips that subscriber.
    /// Idempotent.
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
        let old = std::mem::replace(&mut list.entries, Vec::new().into());
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
