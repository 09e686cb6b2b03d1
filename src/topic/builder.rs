//! Configuring a topic: [`TopicBuilder`], and the [`SlowSubscriber`] policy
//! it sets for subscribers whose queues are full.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{List, Shared, Topic};
use crate::mailbox::DEFAULT_CAPACITY;
use crate::sync::{AtomicU64, Mutex};

/// What a publish does with a subscriber whose queue is full: the topic's
/// flow-control policy, chosen once on the builder
/// ([`TopicBuilder::on_full`]).
///
/// An unbounded topic never finds a subscriber full, so the policy only
/// matters for bounded ones. New policies may be added, so the enum is
/// `#[non_exhaustive]`.
///
/// # Examples
///
/// ```
/// use postbox::{PublishError, SlowSubscriber, Topic};
///
/// // Keep only the newest 2 readings per subscriber.
/// let topic = Topic::<u32>::builder().capacity(2).on_full(SlowSubscriber::DropOldest).build();
/// let sub = topic.subscribe();
/// for n in 0..5 { topic.publish(n).unwrap(); } // never waits
/// assert_eq!(sub.lost(), 3);
/// let seen: Vec<u32> = sub.try_iter().map(|m| m.into_body()).collect();
/// assert_eq!(seen, [3, 4]);
///
/// // Tell the publisher who missed a message.
/// let topic = Topic::<u32>::builder().capacity(1).on_full(SlowSubscriber::Reject).build();
/// let slow = topic.subscribe();
/// topic.publish(1).unwrap();
/// let fast = topic.subscribe();
/// match topic.publish(2) {
///     Err(PublishError::Full { delivered, full, message }) => {
///         assert_eq!((delivered, full), (1, vec![slow.id()]));
///         assert_eq!(message.into_body(), 2); // a copy, handed back
///     }
///     other => panic!("expected Full, got {other:?}"),
/// }
/// assert_eq!(fast.try_recv().unwrap().into_body(), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SlowSubscriber {
    /// Backpressure: `publish` waits for room in every subscriber's queue
    /// ([`try_publish`](Topic::try_publish) and the timed publishes wait
    /// less and report who was still full). The slowest subscriber sets the
    /// pace.
    #[default]
    Block,
    /// The publisher never waits: a full subscriber loses the message at the
    /// head of its queue (the next one it would have received) to make room,
    /// and [`Subscriber::lost`](crate::Subscriber::lost) counts it. On a FIFO
    /// topic that is the oldest message. On a priority topic it is the most
    /// urgent one: the head, as RabbitMQ's `drop-head` overflow, not the
    /// least important message.
    DropOldest,
    /// The publisher never waits: a full subscriber misses the message, and
    /// the publish fails with [`PublishError::Full`](crate::PublishError::Full)
    /// naming every such subscriber (the others received it).
    Reject,
}

/// The queueing discipline of every subscriber's queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Discipline {
    Fifo,
    Priority(u8),
}

/// Builds a topic: the queue every subscriber gets, and the slow-subscriber
/// policy. Get one from [`Topic::builder`].
///
/// # Examples
///
/// ```
/// use postbox::{Message, SlowSubscriber, Topic};
///
/// let topic = Topic::<&str>::builder()
///     .priority(3)
///     .capacity(16)
///     .on_full(SlowSubscriber::Reject)
///     .build();
/// let sub = topic.subscribe();
/// topic.publish("routine").unwrap();
/// topic.publish(Message::new("alarm").priority(2)).unwrap();
/// assert_eq!(sub.recv().unwrap().into_body(), "alarm"); // most urgent first
/// assert_eq!(sub.capacity(), Some(16));
/// ```
pub struct TopicBuilder<T> {
    /// Every subscriber's queueing discipline.
    discipline: Discipline,
    /// Every subscriber's capacity; `None` = unbounded. Never `Some(0)`.
    capacity: Option<usize>,
    /// What a publish does with a full subscriber.
    on_full: SlowSubscriber,
    _types: PhantomData<fn() -> T>,
}

impl<T: Clone + Send> TopicBuilder<T> {
    pub(super) fn new() -> TopicBuilder<T> {
        TopicBuilder {
            discipline: Discipline::Fifo,
            capacity: Some(DEFAULT_CAPACITY),
            on_full: SlowSubscriber::Block,
            _types: PhantomData,
        }
    }

    /// Each subscriber receives in publication order (the default).
    #[must_use]
    pub fn fifo(mut self) -> Self {
        self.discipline = Discipline::Fifo;
        self
    }

    /// Each subscriber receives the most urgent message first, with
    /// `levels` priority levels (`0..levels`, higher is more urgent, equal
    /// priorities in publication order). A message outside the levels is
    /// refused with
    /// [`PublishError::InvalidPriority`](crate::PublishError::InvalidPriority).
    /// `levels` 0 is taken as 1.
    #[must_use]
    pub fn priority(mut self, levels: u8) -> Self {
        self.discipline = Discipline::Priority(levels.max(1));
        self
    }

    /// Each subscriber's queue holds at most `capacity` messages (default
    /// [`DEFAULT_CAPACITY`]); what happens when one is full is the
    /// [`on_full`](TopicBuilder::on_full) policy.
    ///
    /// Capacity 0 is taken as 1: a rendezvous per subscriber would make the
    /// publisher wait for each subscriber in turn to be receiving, and
    /// `DropOldest` would have nothing to evict. FIFO queues lower a capacity
    /// above [`Fifo::MAX_CAPACITY`](crate::Fifo::MAX_CAPACITY) to it.
    #[must_use]
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity.max(1));
        self
    }

    /// No capacity limit: a publish never finds a subscriber full, and a
    /// subscriber that stops receiving grows its queue without bound.
    #[must_use]
    pub fn unbounded(mut self) -> Self {
        self.capacity = None;
        self
    }

    /// What a publish does with a subscriber whose queue is full (default
    /// [`SlowSubscriber::Block`]).
    #[must_use]
    pub fn on_full(mut self, policy: SlowSubscriber) -> Self {
        self.on_full = policy;
        self
    }

    /// Builds the topic, with no subscriber yet.
    pub fn build(self) -> Topic<T> {
        Topic {
            shared: Arc::new(Shared {
                subscribers: Mutex::new(List {
                    entries: Vec::new().into(),
                    closed: false,
                    retired: Vec::new(),
                }),
                discipline: self.discipline,
                capacity: self.capacity,
                on_full: self.on_full,
                next_id: AtomicU64::new(1),
                published: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                missed: AtomicU64::new(0),
                lost: AtomicU64::new(0),
                abandoned: AtomicU64::new(0),
            }),
        }
    }
}

impl<T> fmt::Debug for TopicBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let discipline = match self.discipline {
            Discipline::Fifo => "fifo".to_string(),
            Discipline::Priority(levels) => format!("priority({levels})"),
        };
        f.debug_struct("TopicBuilder")
            .field("discipline", &discipline)
            .field("capacity", &self.capacity)
            .field("on_full", &self.on_full)
            .finish()
    }
}
