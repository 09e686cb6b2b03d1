//! The delayed-requeue timer: one lazily started background thread that wakes
//! mailboxes when a delayed redelivery is due.
//!
//! `nack(Requeue::After(d))` must retry later without a worker sleeping
//! through the delay. The message itself waits in its own mailbox (so that a
//! mailbox that is destroyed or dropped in the meantime settles it at once);
//! the timer only holds, per mailbox, one weak reference and the earliest due
//! time, and at that time asks the mailbox to move what is due back into its
//! queue (the mailbox then asks again for its next due time). A mailbox that
//! is retired cancels its wake-up, so the timer keeps nothing of it: not even
//! the memory a weak reference would pin until the delay ran out.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::Waker;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Something with delayed work to do at a due time: a mailbox's core.
pub(crate) trait Due: Send + Sync {
    /// Moves whatever is due by now back into the queue, and schedules its
    /// next wake-up (through `me`, the timer's reference to it) if more is
    /// delayed.
    fn fire(&self, now: Instant, me: &Weak<dyn Due>);
}

/// Which mailbox a wake-up is for: each has at most one pending.
pub(crate) type Key = u64;

/// The next key; 0 is never handed out.
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

/// A key for a new mailbox.
pub(crate) fn new_key() -> Key {
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

/// The wake-ups, ordered by due time, and each key's one due time.
#[derive(Default)]
struct Wakeups {
    /// Ordered by due time, then key (keys make the entries distinct).
    queue: BTreeMap<(Instant, Key), Weak<dyn Due>>,
    /// When each key's wake-up is due: to find and replace it.
    due: HashMap<Key, Instant>,
}

/// The timer's shared state.
struct Timer {
    wakeups: Mutex<Wakeups>,
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
            wakeups: Mutex::new(Wakeups::default()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("postbox-timer".into())
            .spawn(move || run(timer))
            .ok()
            .map(|_| timer)
    })
}

/// Asks for `target.fire` at `at`, or earlier if `key` already has an
/// earlier wake-up (one per key: the earliest wins). Returns `false` if no
/// timer thread could be started (the caller then does the work at once).
pub(crate) fn schedule(key: Key, at: Instant, target: Weak<dyn Due>) -> bool {
    let Some(timer) = timer() else {
        return false;
    };
    let mut wakeups = timer.wakeups.lock();
    if let Some(&pending) = wakeups.due.get(&key) {
        if pending <= at {
            return true;
        }
        wakeups.queue.remove(&(pending, key));
    }
    wakeups.due.insert(key, at);
    wakeups.queue.insert((at, key), target);
    let earliest = wakeups
        .queue
        .first_key_value()
        .is_some_and(|(&first, _)| first == (at, key));
    drop(wakeups);
    if earliest {
        timer.changed.notify_one();
    }
    true
}

/// Takes `key`'s wake-up out, if it has one: its mailbox is gone. Never
/// starts the timer.
pub(crate) fn cancel(key: Key) {
    let Some(Some(timer)) = TIMER.get() else {
        return;
    };
    let mut wakeups = timer.wakeups.lock();
    if let Some(at) = wakeups.due.remove(&key) {
        let target = wakeups.queue.remove(&(at, key));
        drop(wakeups);
        // Outside the lock: the last weak reference frees the mailbox's
        // memory.
        drop(target);
    }
}

/// The timer thread: sleeps until the earliest wake-up, fires what is due
/// (outside the lock, so a mailbox can schedule again from `fire`).
fn run(timer: &'static Timer) {
    let mut wakeups = timer.wakeups.lock();
    loop {
        let now = Instant::now();
        match wakeups.queue.first_key_value().map(|(&(at, _), _)| at) {
            Some(at) if at <= now => {
                let Some(((_, key), target)) = wakeups.queue.pop_first() else {
                    continue;
                };
                wakeups.due.remove(&key);
                drop(wakeups);
                if let Some(strong) = target.upgrade() {
                    // A message body whose `Drop` panics (a due message
                    // settled in a retired mailbox, or the mailbox's last
                    // reference dropped here) must not end this thread:
                    // every mailbox in the process relies on it.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        strong.fire(now, &target);
                        drop(strong);
                    }));
                }
                drop(target);
                wakeups = timer.wakeups.lock();
            }
            Some(at) => {
                timer.changed.wait_until(&mut wakeups, at);
            }
            None => timer.changed.wait(&mut wakeups),
        }
    }
}

/// A task's own wake-up after a pause that grows (from `first`, doubling up
/// to `max`): for a future that can only poll, such as a send to a custom
/// rendezvous backend. Cancelled when dropped.
pub(crate) struct WakeLater {
    key: Key,
    slot: Arc<WakerSlot>,
    next: Duration,
    max: Duration,
}

/// Where the timer finds the waker to wake.
struct WakerSlot(Mutex<Option<Waker>>);

impl Due for WakerSlot {
    fn fire(&self, _now: Instant, _me: &Weak<dyn Due>) {
        if let Some(waker) = self.0.lock().take() {
            waker.wake();
        }
    }
}

impl WakeLater {
    /// A wake-up that first waits `first`.
    pub(crate) fn new(first: Duration, max: Duration) -> WakeLater {
        WakeLater {
            key: new_key(),
            slot: Arc::new(WakerSlot(Mutex::new(None))),
            next: first,
            max,
        }
    }

    /// Wakes `waker` after the next pause (at once if no timer thread
    /// could be started).
    pub(crate) fn schedule(&mut self, waker: &Waker) {
        *self.slot.0.lock() = Some(waker.clone());
        let at = Instant::now() + self.next;
        self.next = (self.next * 2).min(self.max);
        let target: Weak<dyn Due> = Arc::downgrade(&self.slot) as Weak<dyn Due>;
        if !schedule(self.key, at, target) {
            waker.wake_by_ref();
        }
    }
}

impl Drop for WakeLater {
    fn drop(&mut self) {
        cancel(self.key);
    }
}

impl std::fmt::Debug for WakeLater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeLater")
            .field("next", &self.next)
            .finish()
    }
}
