//! How a subscriber leaves while publishes run, so that a publish counts
//! exactly the copies that reached a subscriber's queue, and the topic knows
//! which of them the subscriber never received.
//!
//! # The race
//!
//! A publish counts a copy once the subscriber's queue has taken it. A
//! subscriber used to leave by dropping its receiver, which closes the queue
//! and drops what it holds; but a push can land after that: the FIFO backend
//! checks its closed flag and then pushes, so a publisher that passed the
//! check just before the close pushes afterwards, into room the drop's own
//! drain had just made. The mailbox then dropped the copy, yet the publish
//! had counted it: a blocked publisher returned 3 with only 2 subscribers
//! left to receive the message.
//!
//! # Leaving
//!
//! So a leaving subscriber first makes sure that no publish can still add to
//! its queue, then counts what the queue holds as
//! [`abandoned`](crate::TopicStats::abandoned), and only then lets its queue
//! go. A publish adds to queues in two phases:
//!
//! - **Offering**, which never waits: every subscriber in the publish's
//!   snapshot of the list is offered its copy. The publish holds the
//!   snapshot (an `Arc`, cloned under the list lock) for this phase only.
//!   A leaving subscriber takes itself off the list, under the same lock,
//!   and waits until every snapshot the list has replaced is gone: the list
//!   keeps a `Weak` of each while it lives. A publish that starts later
//!   takes a snapshot without the subscriber; the old ones only lose
//!   holders, and each holder ends its offers promptly, so the wait ends
//!   however busy the topic is. This costs publishes nothing they did not
//!   do before.
//! - **Waiting for room**, under `Block` only, after the offers and without
//!   the snapshot (so a subscriber leaving never waits for a publish blocked
//!   on another one): a publish waits for each full subscriber in turn,
//!   registered as a *visit* in that subscriber's [`Link`], unless the
//!   subscriber has begun to leave. The leaving subscriber marks its link as
//!   left, closes its queue (which wakes a publisher waiting for room in
//!   it), and waits until no visit is in progress.
//!
//! After both waits, nothing reaches the queue any more: what it holds is
//! exactly the counted copies the subscriber never received.
//!
//! # Code that must not run while offering
//!
//! A subscriber leaving waits for the publishes offering copies, so no code
//! of the caller's may run then and drop a subscriber of the same topic:
//! the publish would wait for itself. Copies refused and messages evicted
//! while offering are dropped after the offers. `Clone` of the body does
//! run then (copies are made as they are offered): it must not drop a
//! subscriber of the topic.

use std::sync::atomic::{self, Ordering};

use super::Shared;
use crate::id::SubscriberId;
use crate::sync::{backoff, AtomicU64, AtomicUsize};

/// `Link::state` bit: the subscriber has begun to leave.
const LEFT: usize = 1;

/// `Link::state` step: one more visit in progress (the count lives above the
/// `LEFT` bit).
const ONE_VISIT: usize = 2;

/// What one subscriber and the publishers share.
pub(super) struct Link {
    /// Messages evicted from the subscriber's queue under `DropOldest`.
    pub(super) lost: AtomicU64,
    /// Bit 0 (`LEFT`): the subscriber has begun to leave. The rest
    /// (`state / ONE_VISIT`): publishers waiting for room in its queue.
    state: AtomicUsize,
}

/// A publisher's wait for room in one subscriber's queue; ends when dropped.
pub(super) struct Visit<'a> {
    link: &'a Link,
}

impl Drop for Visit<'_> {
    fn drop(&mut self) {
        // Release: a push made during the visit happens before the end of
        // the visit, which a leaving subscriber waits for.
        self.link.state.fetch_sub(ONE_VISIT, Ordering::Release);
    }
}

impl Link {
    pub(super) fn new() -> Link {
        Link {
            lost: AtomicU64::new(0),
            state: AtomicUsize::new(0),
        }
    }

    /// Begins a visit, or returns `None` if the subscriber has begun to
    /// leave: then nothing may be pushed to its queue. The flag and the
    /// count are one word, so a visit either begins before the subscriber
    /// marks itself as leaving (and is waited for) or sees the mark.
    pub(super) fn visit(&self) -> Option<Visit<'_>> {
        // Acquire: the push that follows cannot move before the
        // registration.
        let before = self.state.fetch_add(ONE_VISIT, Ordering::Acquire);
        // From here the count must come down again, whatever happens.
        let visit = Visit { link: self };
        if before & LEFT != 0 {
            drop(visit);
            return None;
        }
        Some(visit)
    }
}

impl<T: Send> Shared<T> {
    /// Takes the subscriber `id` (sharing `link`) off the list and waits
    /// until no publish can add to its queue any more (see the module
    /// docs). Its queue is closed on return, or being closed by
    /// `Topic::close`. Idempotent.
    pub(super) fn leave(&self, id: SubscriberId, link: &Link) {
        let mut list = self.subscribers.lock();
        let (removed, replaced) = list.take_out(&[id]);
        // Every snapshot a publish may still be offering from.
        let in_use = list.retired.clone();
        drop(list);
        // The list's own reference: from here only publishes hold them.
        drop(replaced);
        // No visit begins from here; the close wakes those in progress.
        link.state.fetch_or(LEFT, Ordering::SeqCst);
        for entry in &removed {
            entry.sender.close();
        }
        for snapshot in &in_use {
            wait_until_zero(|| snapshot.strong_count());
        }
        wait_until_zero(|| link.state.load(Ordering::Relaxed) / ONE_VISIT);
        // Acquire: every push of the publishes waited for (each let go of
        // its snapshot or visit with a release) is seen by whoever counts
        // what the queue holds next.
        atomic::fence(Ordering::Acquire);
        drop(removed);
    }
}

/// Waits, spinning briefly and then yielding, until `count` reads 0. Every
/// wait here is for code that never blocks, or that a close just woke.
fn wait_until_zero(count: impl Fn() -> usize) {
    let mut step = 0;
    while count() != 0 {
        backoff(step);
        step = step.saturating_add(1);
    }
}
