//! Publishing: [`Topic::publish`] and its variants, each a wrapper of one
//! primitive that offers every subscriber its copy without waiting, then
//! waits (under [`SlowSubscriber::Block`]) for those that were full.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::builder::{Discipline, SlowSubscriber};
use super::{Entry, Topic};
use crate::error::{PublishError, SendTimeoutError, TrySendError};
use crate::id::SubscriberId;
use crate::message::Message;
use crate::wait::{Confirm, Deadline, Wait};

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
                TrySendError::Full(m)
                | TrySendError::TooLong(m)
                | TrySendError::InvalidPriority(m)
                | TrySendError::NotLogged(m),
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
                | SendTimeoutError::InvalidPriority(m)
                | SendTimeoutError::NotLogged(m),
            ) => Outcome::Full(m),
        }
    }
}

/// The tally of one publish.
struct Run<T: Send> {
    /// Copies queued: the count the publish returns.
    delivered: usize,
    /// Subscribers still to wait for (`Block` with time to wait) and their
    /// copies, in subscription order. Their own references: the publish
    /// lets go of its snapshot before it waits.
    waiting: Vec<(Arc<Entry<T>>, Message<T>)>,
    /// Subscribers that missed the message because they were full.
    full: Vec<SubscriberId>,
    /// Subscribers found closed, to prune from the list.
    gone: Vec<SubscriberId>,
    /// A copy that came back, to hand to the caller if the publish fails.
    handback: Option<Message<T>>,
    /// Other copies that came back, and messages evicted to make room:
    /// dropped once the offers are over, since a body's `Drop` may drop a
    /// subscriber, which waits for them (see `leave.rs`).
    discarded: Vec<Message<T>>,
}

impl<T: Send> Run<T> {
    fn record(&mut self, entry: &Entry<T>, outcome: Outcome<T>) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Full(m) => {
                self.full.push(entry.id);
                self.hand_back(m);
            }
            Outcome::Closed(m) => {
                self.gone.push(entry.id);
                self.hand_back(m);
            }
        }
    }

    /// Keeps the first copy that came back for the caller.
    fn hand_back(&mut self, copy: Message<T>) {
        match self.handback {
            None => self.handback = Some(copy),
            Some(_) => self.discarded.push(copy),
        }
    }
}

impl<T: Clone + Send> Topic<T> {
    /// Publishes: queues a copy of `msg` for every subscriber and returns for
    /// how many it was queued.
    ///
    /// Under [`SlowSubscriber::Block`] this waits for room in every full
    /// subscriber's queue (a subscriber dropped meanwhile is skipped); under
    /// the other policies it never waits. Fails with `NoSubscribers` if
    /// nobody received it, `Full` if some subscribers missed it (`Reject`),
    /// `Closed` if the topic is closed, `InvalidPriority` on a priority topic
    /// whose levels do not include the message's priority. Every error hands
    /// the message (or, for `Full`, a copy) back.
    ///
    /// The count is exactly the subscribers whose queues took the copy. A
    /// subscriber dropped while the publish runs may be counted (its queue
    /// took the copy before it left) or not, but never for a copy that its
    /// queue dropped on the way in. A counted copy that a subscriber leaves
    /// behind unreceived, now or later, is counted in
    /// [`TopicStats::abandoned`](crate::TopicStats::abandoned);
    /// [`TopicStats::delivered`](crate::TopicStats::delivered) is the sum of
    /// the counts.
    ///
    /// The body's `Clone` runs while copies are offered, when a subscriber
    /// leaving waits for the publish: it must not drop a [`Subscriber`] of
    /// the same topic, or the publish waits for itself.
    ///
    /// [`Subscriber`]: crate::Subscriber
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
    pub(super) fn publish_inner(
        &self,
        msg: Message<T>,
        deadline: Deadline,
    ) -> Result<usize, PublishError<T>> {
        let shared = &*self.shared;
        // Checked once here rather than refused by every subscriber's queue.
        if let Discipline::Priority(levels) = shared.discipline {
            if msg.header().priority() >= levels {
                return Err(PublishError::InvalidPriority(msg));
            }
        }
        // Before the snapshot, so that the snapshot goes first should a
        // `Clone` panic: see `discarded`.
        let mut run = Run {
            delivered: 0,
            waiting: Vec::new(),
            full: Vec::new(),
            gone: Vec::new(),
            handback: None,
            discarded: Vec::new(),
        };
        // A subscriber that leaves waits until no publish holds a snapshot
        // that lists it (see `leave.rs`): this one holds it only while it
        // offers copies, which never waits and runs no code of the caller's
        // but the body's `Clone`.
        let Some(entries) = shared.snapshot() else {
            return Err(PublishError::Closed(msg));
        };
        let Some((last, rest)) = entries.split_last() else {
            return Err(PublishError::NoSubscribers(msg));
        };
        for entry in rest {
            self.offer(entry, msg.clone(), deadline, &mut run);
        }
        self.offer(last, msg, deadline, &mut run);
        drop(entries);
        drop(std::mem::take(&mut run.discarded));

        // Everyone with room has the message; now wait for the rest, in
        // subscription order, all within the one deadline. A subscriber
        // dropped meanwhile closes its queue, which ends the wait on it, and
        // then waits for this visit to end; one that has begun to leave is
        // not visited at all.
        let wait = match deadline {
            Deadline::At(at) => Wait::Deadline(at),
            Deadline::Never | Deadline::Now => Wait::Blocking,
        };
        for (entry, copy) in std::mem::take(&mut run.waiting) {
            let outcome = match entry.link.visit() {
                Some(_visit) => {
                    Outcome::of_wait(entry.sender.send_with(copy, wait, Confirm::Queued))
                }
                None => Outcome::Closed(copy),
            };
            run.record(&entry, outcome);
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
    fn offer(&self, entry: &Arc<Entry<T>>, copy: Message<T>, deadline: Deadline, run: &mut Run<T>) {
        let outcome = match self.shared.on_full {
            SlowSubscriber::DropOldest => self.offer_evicting(entry, copy, &mut run.discarded),
            SlowSubscriber::Block | SlowSubscriber::Reject => {
                Outcome::of_try(entry.sender.try_send(copy))
            }
        };
        match outcome {
            Outcome::Full(copy)
                if self.shared.on_full == SlowSubscriber::Block && deadline != Deadline::Now =>
            {
                run.waiting.push((Arc::clone(entry), copy));
            }
            outcome => run.record(entry, outcome),
        }
    }

    /// `DropOldest`: makes room by evicting the head of a full queue, until
    /// the copy fits. The evicted messages go to `discarded`, to be dropped
    /// after the offers.
    fn offer_evicting(
        &self,
        entry: &Entry<T>,
        mut copy: Message<T>,
        discarded: &mut Vec<Message<T>>,
    ) -> Outcome<T> {
        loop {
            match Outcome::of_try(entry.sender.try_send(copy)) {
                Outcome::Full(back) => copy = back,
                done => return done,
            }
            // The queue holds at least one message (capacity is never 0), but
            // the subscriber may have emptied it since we looked, or another
            // publisher may take the room we make: either way, try again.
            if let Some(evicted) = entry.sender.evict_head() {
                entry.link.lost.fetch_add(1, Ordering::Relaxed);
                self.shared.lost.fetch_add(1, Ordering::Relaxed);
                discarded.push(evicted);
            }
        }
    }
}
