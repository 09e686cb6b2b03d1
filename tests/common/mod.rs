//! Helpers shared by the integration tests: the list of backends the shared
//! suites run against, a drop-counting body, bounded waits, the statistics'
//! accounting invariant, and the cancellation tests' timer and gate.
//!
//! Every blocking wait in a test is bounded by [`TIMEOUT`]: a missing wake-up
//! must fail the test, not hang CI.

// Each test file uses a different part of this module.
#![allow(dead_code)]

pub(crate) mod cancel;
#[path = "../../examples/support/deadline_queue.rs"]
mod deadline_queue;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel as cb;
use postbox::{Mailbox, Receiver, Sender};

pub(crate) use deadline_queue::DeadlineQueue;

/// The longest any test waits for something that should happen. Generous, so
/// that a slow CI machine does not fail a correct test; a missing wake-up
/// still fails instead of hanging.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);

/// A short pause that makes it *likely* (never required for correctness) that
/// another thread has parked before the event a test is about to trigger.
pub(crate) const SETTLE: Duration = Duration::from_millis(20);

/// How a backend orders messages that carry no priority and no expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Order {
    /// Arrival order; priorities ignored.
    Fifo,
    /// Highest priority first, FIFO within a priority.
    Priority,
}

/// Which backend and capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fifo(Option<usize>),
    Priority(u8, Option<usize>),
    Deadline(Option<usize>),
}

/// One backend of the conformance suite: builds mailboxes of any body type.
#[derive(Clone, Copy)]
pub(crate) struct Backend {
    /// A readable name for failure messages.
    pub(crate) name: &'static str,
    kind: Kind,
}

impl fmt::Debug for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// Levels of the priority backends in the common list.
pub(crate) const LEVELS: u8 = 8;

pub(crate) const FIFO_BOUNDED: Backend = Backend {
    name: "fifo bounded(4)",
    kind: Kind::Fifo(Some(4)),
};
pub(crate) const FIFO_UNBOUNDED: Backend = Backend {
    name: "fifo unbounded",
    kind: Kind::Fifo(None),
};
pub(crate) const FIFO_RENDEZVOUS: Backend = Backend {
    name: "fifo rendezvous",
    kind: Kind::Fifo(Some(0)),
};
pub(crate) const PRIORITY_BOUNDED: Backend = Backend {
    name: "priority(8) bounded(4)",
    kind: Kind::Priority(LEVELS, Some(4)),
};
pub(crate) const PRIORITY_UNBOUNDED: Backend = Backend {
    name: "priority(8) unbounded",
    kind: Kind::Priority(LEVELS, None),
};
pub(crate) const PRIORITY_RENDEZVOUS: Backend = Backend {
    name: "priority(8) rendezvous",
    kind: Kind::Priority(LEVELS, Some(0)),
};
/// The custom backend of `examples/support/deadline_queue.rs`, bounded(4).
pub(crate) const DEADLINE_BOUNDED: Backend = Backend {
    name: "custom DeadlineQueue bounded(4)",
    kind: Kind::Deadline(Some(4)),
};

/// Every backend the shared suites run against.
pub(crate) const BACKENDS: [Backend; 7] = [
    FIFO_BOUNDED,
    FIFO_UNBOUNDED,
    FIFO_RENDEZVOUS,
    PRIORITY_BOUNDED,
    PRIORITY_UNBOUNDED,
    PRIORITY_RENDEZVOUS,
    DEADLINE_BOUNDED,
];

impl Backend {
    /// A fresh mailbox on this backend.
    pub(crate) fn build<T: Send + 'static>(&self) -> (Sender<T>, Receiver<T>) {
        let builder = Mailbox::<T>::builder();
        let builder = match self.kind {
            Kind::Fifo(_) => builder.fifo(),
            Kind::Priority(levels, _) => builder.priority(levels),
            Kind::Deadline(Some(cap)) => builder.backend(DeadlineQueue::bounded(cap)),
            Kind::Deadline(None) => builder.backend(DeadlineQueue::unbounded()),
        };
        match self.capacity() {
            Some(cap) => builder.capacity(cap).build(),
            None => builder.unbounded().build(),
        }
    }

    /// The capacity the mailbox reports.
    pub(crate) fn capacity(&self) -> Option<usize> {
        match self.kind {
            Kind::Fifo(cap) | Kind::Priority(_, cap) | Kind::Deadline(cap) => cap,
        }
    }

    /// Capacity 0: a send needs a receiver.
    pub(crate) fn is_rendezvous(&self) -> bool {
        self.capacity() == Some(0)
    }

    /// Capacity above 0, bounded: sends can wait for room with a queue
    /// holding messages.
    pub(crate) fn is_bounded_buffer(&self) -> bool {
        matches!(self.capacity(), Some(cap) if cap > 0)
    }

    /// How many messages can be queued with no receiver at all, capped at
    /// `at_most`.
    pub(crate) fn room(&self, at_most: usize) -> usize {
        self.capacity().map_or(at_most, |cap| cap.min(at_most))
    }

    /// The priority levels the mailbox accepts, if it orders by priority.
    pub(crate) fn levels(&self) -> Option<u8> {
        match self.kind {
            Kind::Priority(levels, _) => Some(levels),
            _ => None,
        }
    }

    /// How messages without expiry leave the mailbox.
    pub(crate) fn order(&self) -> Order {
        match self.kind {
            Kind::Priority(..) => Order::Priority,
            // DeadlineQueue: messages without an expiry stay in arrival order.
            Kind::Fifo(_) | Kind::Deadline(_) => Order::Fifo,
        }
    }
}

/// Runs each listed test function (`fn(Backend)`) as its own `#[test]`, once
/// per backend of [`BACKENDS`], in one module per backend, so that a failure
/// names both the test and the backend (`fifo_rendezvous::smoke`).
#[allow(unused_macros)] // not every test file runs a shared suite
macro_rules! per_backend {
    ($tests:tt) => {
        per_backend!(@one fifo_bounded, FIFO_BOUNDED, $tests);
        per_backend!(@one fifo_unbounded, FIFO_UNBOUNDED, $tests);
        per_backend!(@one fifo_rendezvous, FIFO_RENDEZVOUS, $tests);
        per_backend!(@one priority_bounded, PRIORITY_BOUNDED, $tests);
        per_backend!(@one priority_unbounded, PRIORITY_UNBOUNDED, $tests);
        per_backend!(@one priority_rendezvous, PRIORITY_RENDEZVOUS, $tests);
        per_backend!(@one deadline_bounded, DEADLINE_BOUNDED, $tests);
    };
    (@one $module:ident, $backend:ident, { $($test:ident),* $(,)? }) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test(crate::common::$backend)
                }
            )*
        }
    };
}

/// A thread whose end is awaited at most [`TIMEOUT`].
pub(crate) struct Joiner<R> {
    done: cb::Receiver<R>,
    handle: thread::JoinHandle<()>,
    what: String,
}

/// Spawns `f` on a thread; [`Joiner::join`] waits for it at most [`TIMEOUT`].
pub(crate) fn spawn<R, F>(what: impl Into<String>, f: F) -> Joiner<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let (tx, done) = cb::bounded(1);
    let handle = thread::spawn(move || {
        let _ = tx.send(f());
    });
    Joiner {
        done,
        handle,
        what: what.into(),
    }
}

impl<R> Joiner<R> {
    /// The thread's result. Fails the test if the thread does not finish
    /// within [`TIMEOUT`] (a missing wake-up), and re-raises its panic.
    pub(crate) fn join(self) -> R {
        self.join_within(TIMEOUT)
    }

    /// Like [`join`](Joiner::join), with a longer bound for long runs.
    pub(crate) fn join_within(self, limit: Duration) -> R {
        match self.done.recv_timeout(limit) {
            Ok(value) => {
                // Finished: the handle joins at once.
                let _ = self.handle.join();
                value
            }
            Err(cb::RecvTimeoutError::Disconnected) => {
                // The thread panicked before sending its result.
                match self.handle.join() {
                    Err(panic) => std::panic::resume_unwind(panic),
                    Ok(()) => unreachable!("thread ended without a result"),
                }
            }
            Err(cb::RecvTimeoutError::Timeout) => {
                panic!("{} did not finish within {limit:?}", self.what)
            }
        }
    }

    /// Whether the thread has finished (without waiting).
    pub(crate) fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }
}

/// Polls `cond` until it holds; fails the test after [`TIMEOUT`]. For waiting
/// on observable state (such as a queue length) that has no wake-up of its own.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < TIMEOUT,
            "{what}: condition not met within {TIMEOUT:?}"
        );
        thread::yield_now();
    }
}

/// Records how many times each body was dropped, to prove that no message
/// leaks and none is dropped twice.
#[derive(Clone)]
pub(crate) struct DropLog {
    /// Drops per body id.
    counts: Arc<Vec<AtomicUsize>>,
    /// Drops in total.
    total: Arc<AtomicUsize>,
}

impl DropLog {
    /// A log for bodies with ids `0..n`.
    pub(crate) fn new(n: usize) -> DropLog {
        DropLog {
            counts: Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect()),
            total: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// A body with this id.
    pub(crate) fn body(&self, id: usize) -> DropCounter {
        assert!(id < self.counts.len(), "id {id} outside the log");
        DropCounter {
            id,
            counts: Arc::clone(&self.counts),
            total: Arc::clone(&self.total),
        }
    }

    /// How many bodies were dropped in total.
    pub(crate) fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    /// How many times the body `id` was dropped.
    pub(crate) fn drops_of(&self, id: usize) -> usize {
        self.counts[id].load(Ordering::SeqCst)
    }

    /// Asserts that every body `0..n` was dropped exactly once.
    pub(crate) fn assert_each_dropped_once(&self, context: &str) {
        for (id, count) in self.counts.iter().enumerate() {
            let count = count.load(Ordering::SeqCst);
            assert_eq!(count, 1, "{context}: body {id} dropped {count} times");
        }
        assert_eq!(self.total(), self.counts.len(), "{context}: total drops");
    }

    /// Asserts that no body was dropped twice.
    pub(crate) fn assert_none_dropped_twice(&self, context: &str) {
        for (id, count) in self.counts.iter().enumerate() {
            let count = count.load(Ordering::SeqCst);
            assert!(count <= 1, "{context}: body {id} dropped {count} times");
        }
    }
}

/// A message body that counts its drops in a [`DropLog`]. Not `Clone` and
/// not `Debug`, on purpose: the library must need neither.
pub(crate) struct DropCounter {
    id: usize,
    counts: Arc<Vec<AtomicUsize>>,
    total: Arc<AtomicUsize>,
}

impl DropCounter {
    /// The body's id in its log.
    pub(crate) fn id(&self) -> usize {
        self.id
    }
}

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.counts[self.id].fetch_add(1, Ordering::SeqCst);
        self.total.fetch_add(1, Ordering::SeqCst);
    }
}

/// Asserts the accounting invariant of a quiet mailbox, and that it accepted
/// exactly `sent` messages. (The statistics raise `sent` to what provably
/// left, so the invariant alone would not catch a message counted twice on
/// the way out: the known number of sends does.)
#[track_caller]
pub(crate) fn assert_balanced(stats: &postbox::MailboxStats, sent: u64) {
    assert_eq!(stats.sent, sent, "messages accepted: {stats:?}");
    let out = stats.received
        + stats.dropped
        + stats.dead_lettered
        + stats.len as u64
        + stats.unacked
        + stats.delayed;
    assert_eq!(
        stats.sent, out,
        "sent == received + dropped + dead_lettered + len + unacked + delayed: {stats:?}"
    );
    assert_eq!(
        stats.dead_letters.total(),
        stats.dropped + stats.dead_lettered,
        "every dead letter has a reason: {stats:?}"
    );
    assert!(
        stats.acked <= stats.received,
        "acks are receives: {stats:?}"
    );
}
