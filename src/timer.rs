//! The delayed-requeue timer: one lazily started background thread that wakes
//! mailboxes when a delayed redelivery is due.
//!
//! `nack(Requeue::After(d))` must retry later without a worker sleeping
//! through the delay. The message itself waits in its own mailbox (so that a
//! mailbox that is destroyed or dropped in the meantime settles it at once, and
//! the timer keeps no mailbox alive); the timer only holds a weak reference and
//! a due time, and at that time asks the mailbox to move what is due back into
//! its queue.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::{OnceLock, Weak};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Something with delayed work to do at a due time: a mailbox's core.
pub(crate) trait Due: Send + Sync {
    /// Moves whatever is due by now back into the queue.
    fn fire(&self, now: Instant);
}

/// One wake-up: when, and whom.
struct Entry {
    at: Instant,
    /// Ties broken by arrival, so that entries are totally ordered.
    seq: u64,
    target: Weak<dyn Due>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The timer's shared state: a min-heap of wake-ups.
struct Timer {
    heap: Mutex<(BinaryHeap<Reverse<Entry>>, u64)>,
    changed: Condvar,
}

/// The process-wide timer, or `None` if its thread could not be started.
static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();

/// The timer, starting its thread on first use.
fn timer() -> Option<&'static Timer> {
    *TIMER.get_or_init(|| {
        // Leaked on purpose: the timer lives as long as the process, like
        // the thread that serves it.
        let timer: &'static Timer = Box::leak(Box::new(Timer {
            heap: Mutex::new((BinaryHeap::new(), 0)),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("postbox-timer".into())
            .spawn(move || run(timer))
            .ok()
            .map(|_| timer)
    })
}

/// Asks for `target.fire` at `at`. Returns `false` if no timer thread could be
/// started (the caller then does the work at once).
pub(crate) fn schedule(at: Instant, target: Weak<dyn Due>) -> bool {
    let Some(timer) = timer() else {
        return false;
    };
    let mut heap = timer.heap.lock();
    let seq = heap.1;
    heap.1 += 1;
    let earliest = heap.0.peek().map_or(true, |Reverse(e)| at < e.at);
    heap.0.push(Reverse(Entry { at, seq, target }));
    drop(heap);
    if earliest {
        timer.changed.notify_one();
    }
    true
}

/// The timer thread: sleeps until the earliest wake-up, fires what is due
/// (outside the lock, so a mailbox can schedule again from `fire`).
fn run(timer: &'static Timer) {
    let mut heap = timer.heap.lock();
    loop {
        let now = Instant::now();
        match heap.0.peek() {
            Some(Reverse(entry)) if entry.at <= now => {
                let Some(Reverse(entry)) = heap.0.pop() else {
                    continue;
                };
                drop(heap);
                if let Some(target) = entry.target.upgrade() {
                    // A message body whose `Drop` panics (a due message
                    // settled in a retired mailbox, or the mailbox's last
                    // reference dropped here) must not end this thread:
                    // every mailbox in the process relies on it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                        target.fire(now);
                        drop(target);
                    }));
                }
                heap = timer.heap.lock();
            }
            Some(Reverse(entry)) => {
                let at = entry.at;
                timer.changed.wait_until(&mut heap, at);
            }
            None => timer.changed.wait(&mut heap),
        }
    }
}
