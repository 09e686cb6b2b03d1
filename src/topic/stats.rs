//! A topic's counters: [`TopicStats`].

/// A snapshot of a topic's counters, from
/// [`Topic::stats`](crate::Topic::stats). Each subscriber's own queue has its
/// [`MailboxStats`](crate::MailboxStats) too
/// ([`Subscriber::stats`](crate::Subscriber::stats)). New counters may be
/// added, so the struct is `#[non_exhaustive]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicStats {
    /// Messages published that reached at least one subscriber.
    pub published: u64,
    /// Copies queued for subscribers (including those later evicted under
    /// `DropOldest`): the sum of the counts that publishes returned, or
    /// reported in [`PublishError::Full`](crate::PublishError::Full).
    pub delivered: u64,
    /// Copies that subscribers missed because their queues were full (each
    /// reported in a [`PublishError::Full`](crate::PublishError::Full)).
    pub missed: u64,
    /// Copies evicted from full queues under
    /// [`SlowSubscriber::DropOldest`](crate::SlowSubscriber::DropOldest).
    pub lost: u64,
    /// Copies still queued for subscribers when they were dropped (and
    /// dropped with them), unreceived. Every copy counted in `delivered` is
    /// received by its subscriber, evicted (`lost`), still queued, or
    /// abandoned.
    pub abandoned: u64,
    /// Subscribers now.
    pub subscribers: usize,
}
