//! [`Topic::publish_async`]: a publish that waits for room in slow
//! subscribers' queues without blocking a thread.
//!
//! Under [`SlowSubscriber::Block`] it is all-or-nothing: first it holds one
//! unit of room in every subscriber's queue ([`Sender::reserve_async`], in
//! subscription order), awaiting the full ones; then, in one poll that never
//! waits, it sends a copy into each held room. A future dropped before that
//! poll has delivered to nobody (the rooms it held go back at once); the
//! poll that delivers returns. The blocking [`publish`](Topic::publish)
//! instead gives every subscriber with room its copy first and then waits
//! for the slow ones; the async form trades that head start for
//! cancellation without half-published messages.
//!
//! Nothing a leaving subscriber waits for is held across an await (see
//! `leave.rs`): the publish copies the subscriber list out of its snapshot
//! and lets the snapshot go before it waits, and takes each subscriber's
//! visit only around the send into its held room. So a subscriber dropped
//! on the thread that runs a waiting publish never waits for it.
//!
//! [`Sender::reserve_async`]: crate::Sender::reserve_async

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::builder::{Discipline, SlowSubscriber};
use super::{Entry, Topic};
use crate::error::{PublishError, SendError};
use crate::id::SubscriberId;
use crate::mailbox::Permit;
use crate::message::Message;
use crate::wait::Deadline;

/// The boxed state machine behind [`PublishAsync`]: it holds permits that
/// borrow the subscriber list it owns, which only an `async` block can.
type Inner<'a, T> = Pin<Box<dyn Future<Output = Result<usize, PublishError<T>>> + Send + 'a>>;

impl<T: Clone + Send> Topic<T> {
    /// Publishes without blocking a thread: the async form of
    /// [`publish`](Topic::publish), with its errors and its count (the
    /// subscribers whose queues took the copy). Under
    /// [`SlowSubscriber::Block`] it waits for room in every full
    /// subscriber's queue (a subscriber dropped meanwhile is skipped); under
    /// the other policies it never waits, and is `publish` itself.
    ///
    /// **All-or-nothing, cancel-safe (`Block`).** The future first holds one
    /// unit of room in every subscriber's queue, in subscription order
    /// (awaiting the full ones), then sends every copy in one poll that
    /// cannot wait. Dropped before that poll, it has delivered to nobody:
    /// the rooms it held go back at once, the message drops with the
    /// future, and nothing is counted. So a fast subscriber's copy waits
    /// for the slowest subscriber's room (the blocking form delivers it
    /// first): a consumer that must receive this message from one
    /// subscription before it drains another would wait forever; use the
    /// blocking `publish` for that. Publishers holding rooms in
    /// subscription order cannot hold each other up in a cycle.
    ///
    /// The future is `Send`, and boxed (one allocation per publish, next to
    /// the copies themselves): it holds permits borrowing the subscriber
    /// list it owns.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::Topic;
    ///
    /// # futures_executor::block_on(async {
    /// let topic = Topic::<u32>::builder().capacity(1).build();
    /// let slow = topic.subscribe();
    /// let fast = topic.subscribe();
    /// topic.publish_async(1).await.unwrap();
    /// let reader = std::thread::spawn(move || {
    ///     std::thread::sleep(std::time::Duration::from_millis(20));
    ///     let first = slow.recv().unwrap().into_body(); // makes room for 2
    ///     (first, slow) // still subscribed
    /// });
    /// fast.recv().unwrap();
    /// // Waits (without blocking the thread) until `slow` has room.
    /// assert_eq!(topic.publish_async(2).await.unwrap(), 2);
    /// let (first, slow) = reader.join().unwrap();
    /// assert_eq!(first, 1);
    /// assert_eq!(slow.recv().unwrap().into_body(), 2);
    /// assert_eq!(fast.recv().unwrap().into_body(), 2);
    /// # });
    /// ```
    pub fn publish_async(&self, msg: impl Into<Message<T>>) -> PublishAsync<'_, T> {
        let msg = msg.into();
        let inner: Inner<'_, T> = if self.shared.on_full == SlowSubscriber::Block {
            Box::pin(self.publish_reserving(msg))
        } else {
            // Never waits under the other policies.
            let done = self.publish_inner(msg, Deadline::Now);
            Box::pin(std::future::ready(done))
        };
        PublishAsync { inner }
    }

    /// `Block`: room in every queue first, then every copy at once.
    async fn publish_reserving(&self, msg: Message<T>) -> Result<usize, PublishError<T>> {
        let shared = &*self.shared;
        if let Discipline::Priority(levels) = shared.discipline {
            if msg.header().priority() >= levels {
                return Err(PublishError::InvalidPriority(msg));
            }
        }
        // Our own references, and the snapshot let go at once: a leaving
        // subscriber waits for snapshots, and this future may wait long.
        let entries: Vec<Arc<Entry<T>>> = match shared.snapshot() {
            Some(snapshot) => snapshot.iter().cloned().collect(),
            None => return Err(PublishError::Closed(msg)),
        };
        if entries.is_empty() {
            return Err(PublishError::NoSubscribers(msg));
        }

        // Room in every queue, in subscription order. A queue closed
        // meanwhile (its subscriber left, or the topic closed) is skipped.
        let mut held: Vec<(&Entry<T>, Permit<'_, T>)> = Vec::with_capacity(entries.len());
        let mut gone: Vec<SubscriberId> = Vec::new();
        for entry in &entries {
            match entry.sender.reserve_async().await {
                Ok(permit) => held.push((entry, permit)),
                // `Closed`; a subscriber's queue blocks when full, so
                // `Full` cannot come: were it to, that one is skipped too.
                Err(_) => gone.push(entry.id),
            }
        }

        // From here nothing waits: this runs in the one poll that returns.
        // Copies first, so that no `Clone` runs while a visit is held.
        let mut copies: Vec<Message<T>> = Vec::with_capacity(held.len());
        if let Some(more) = held.len().checked_sub(1) {
            copies.extend(std::iter::repeat_with(|| msg.clone()).take(more));
            copies.push(msg);
        }
        let mut delivered = 0usize;
        let mut full: Vec<SubscriberId> = Vec::new();
        let mut handback: Option<Message<T>> = None;
        // Copies that came back: dropped after the sends (a body's `Drop`
        // may drop a subscriber, which waits for visits).
        let mut discarded: Vec<Message<T>> = Vec::new();
        let mut back = |copy: Message<T>, handback: &mut Option<Message<T>>| match handback {
            None => *handback = Some(copy),
            Some(_) => discarded.push(copy),
        };
        for ((entry, permit), copy) in held.into_iter().zip(copies) {
            // A visit, so that a subscriber leaving either sees this send
            // done or is seen leaving (see `leave.rs`).
            let Some(visit) = entry.link.visit() else {
                drop(permit);
                gone.push(entry.id);
                back(copy, &mut handback);
                continue;
            };
            let sent = permit.send(copy);
            drop(visit);
            match sent {
                Ok(()) => delivered += 1,
                Err(SendError::Closed(copy)) => {
                    gone.push(entry.id);
                    back(copy, &mut handback);
                }
                // Priorities were checked and subscribers' queues set no
                // body limit: a refusal cannot happen; were it to, that
                // subscriber missed the message and the caller is told.
                Err(err) => {
                    full.push(entry.id);
                    if let Some(copy) = err.into_message() {
                        back(copy, &mut handback);
                    }
                }
            }
        }
        drop(discarded);

        if !gone.is_empty() {
            shared.remove(&gone);
        }
        if delivered > 0 {
            shared.published.fetch_add(1, Ordering::Relaxed);
            shared
                .delivered
                .fetch_add(delivered as u64, Ordering::Relaxed);
        }
        if !full.is_empty() {
            shared
                .missed
                .fetch_add(full.len() as u64, Ordering::Relaxed);
            if let Some(message) = handback {
                return Err(PublishError::Full {
                    delivered,
                    full,
                    message,
                });
            }
            return Ok(delivered);
        }
        match handback {
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
}

/// The future of [`Topic::publish_async`]: the number of subscribers that
/// got the message.
#[must_use = "futures do nothing unless polled"]
pub struct PublishAsync<'a, T: Send> {
    inner: Inner<'a, T>,
}

impl<T: Send> Future for PublishAsync<'_, T> {
    type Output = Result<usize, PublishError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().inner.as_mut().poll(cx)
    }
}

impl<T: Send> fmt::Debug for PublishAsync<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublishAsync").finish_non_exhaustive()
    }
}
