//! Task wake-ups: how a mailbox wakes the futures that wait on it.
//!
//! A [`WaitList`] holds the wakers of the tasks waiting for one kind of event
//! (a message to take, or room to send into). Every event wakes **one**
//! waiting task, the one that has waited longest, rather than all of them: a
//! mailbox with a hundred idle consumer tasks does not wake a hundred tasks
//! per message.
//!
//! Waking one is only safe with three rules, each closing a hole the peers'
//! trackers document:
//!
//! - **Register, then look again, then sleep.** A future that found nothing
//!   registers (a SeqCst RMW on `waiting`) and tries once more before it
//!   returns `Pending`; an event publishes itself (a SeqCst operation in
//!   crossbeam, or a lock the try takes too), then reads `waiting` (SeqCst).
//!   So either the second try sees the event, or the event sees the waiter
//!   and wakes it. No wake-up is lost between "found nothing" and "waker
//!   stored".
//! - **A woken waiter keeps nothing.** The message stays in the queue until
//!   the poll that returns it; a wake is only a hint to look. A future
//!   dropped after its wake but before that poll loses no message.
//! - **A wake that was not used is passed on.** A waiter leaving (its future
//!   dropped, or finished) tells [`remove`](WaitList::remove) whether a
//!   wake was delivered to it; if it did not use it, the caller passes it
//!   to the next waiter with [`notify_one`](WaitList::notify_one). So no
//!   message sits in the queue while a task that could take it sleeps.
//!
//! Events cost one SeqCst load when no task waits: `waiting` counts only the
//! waiters that are registered and not yet woken.

use std::collections::VecDeque;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::Duration;

use crate::sync::{handshake_fence, AtomicUsize, Mutex, OnceLock};
use crate::timer::WakeLater;

/// A waiter's place in a [`WaitList`], kept by its future between polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitKey {
    /// Its slot.
    index: usize,
    /// The slot's generation when it was taken: a key of a slot since freed
    /// and reused matches nothing.
    generation: u64,
}

/// Where a waiter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The slot is free.
    Vacant,
    /// Registered, not woken yet: counted in `waiting`.
    Waiting,
    /// Woken; it looks at the queue when polled again.
    Woken,
}

/// One waiter's slot.
struct Slot {
    generation: u64,
    state: State,
    waker: Option<Waker>,
}

/// What the lock protects.
#[derive(Default)]
struct Entries {
    /// The waiters, by slot; freed slots are reused.
    slots: Vec<Slot>,
    /// Free slots.
    free: Vec<usize>,
    /// Waiting waiters, the longest waiting first. May hold stale keys (of
    /// waiters woken by `notify_all` or gone): they are skipped, and cleared
    /// out when they outnumber the live ones.
    order: VecDeque<WaitKey>,
}

/// The tasks waiting for one kind of event on one mailbox.
pub(crate) struct WaitList {
    /// Registered waiters not yet woken; every event reads it.
    waiting: AtomicUsize,
    /// Made by the first waiter: a mailbox no task ever waits on (most of a
    /// million idle ones) pays two words for the list.
    entries: OnceLock<Box<Mutex<Entries>>>,
}

impl Default for WaitList {
    fn default() -> WaitList {
        WaitList {
            waiting: AtomicUsize::new(0),
            entries: OnceLock::new(),
        }
    }
}

impl Entries {
    /// The slot a key names, if the key is still current.
    fn slot(&mut self, key: WaitKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.index)
            .filter(|slot| slot.generation == key.generation && slot.state != State::Vacant)
    }

    /// A free slot, made waiting with `waker`.
    fn take_slot(&mut self, waker: &Waker) -> WaitKey {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    state: State::Vacant,
                    waker: None,
                });
                self.slots.len() - 1
            }
        };
        let mut key = WaitKey {
            index,
            generation: 0,
        };
        if let Some(slot) = self.slots.get_mut(index) {
            slot.state = State::Waiting;
            slot.waker = Some(waker.clone());
            key.generation = slot.generation;
        }
        key
    }

    /// Drops stale keys once they outnumber the waiting ones, so that
    /// waiters that come and go without an event never grow the queue.
    fn compact(&mut self, waiting: usize) {
        if self.order.len() > 2 * waiting + 32 {
            let slots = &self.slots;
            self.order.retain(|key| {
                slots
                    .get(key.index)
                    .is_some_and(|s| s.generation == key.generation && s.state == State::Waiting)
            });
        }
    }
}

impl WaitList {
    /// Registers the calling task (or refreshes its waker) as waiting for
    /// the next event. The caller must look for the event once more after
    /// this and before it returns `Pending` (see the module docs).
    pub(crate) fn register(&self, key: &mut Option<WaitKey>, waker: &Waker) {
        let mut entries = self.entries.get_or_init(Box::default).lock();
        let current = key.and_then(|k| entries.slot(k).map(|slot| (k, slot.state)));
        match current {
            Some((k, State::Waiting)) => {
                if let Some(slot) = entries.slot(k) {
                    if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        slot.waker = Some(waker.clone());
                    }
                }
            }
            Some((k, _)) => {
                // Woken before: waiting again, at the back.
                if let Some(slot) = entries.slot(k) {
                    slot.state = State::Waiting;
                    slot.waker = Some(waker.clone());
                }
                entries.order.push_back(k);
                self.waiting.fetch_add(1, Ordering::SeqCst);
            }
            None => {
                let k = entries.take_slot(waker);
                entries.order.push_back(k);
                *key = Some(k);
                self.waiting.fetch_add(1, Ordering::SeqCst);
            }
        }
        let waiting = self.waiting.load(Ordering::Relaxed);
        entries.compact(waiting);
        drop(entries);
        handshake_fence();
    }

    /// Takes the waiter out. Returns whether it had been woken and not yet
    /// waited again: a wake it may not have used, which the caller passes
    /// on with [`notify_one`](WaitList::notify_one) unless it used it.
    pub(crate) fn remove(&self, key: &mut Option<WaitKey>) -> bool {
        let (Some(k), Some(entries)) = (key.take(), self.entries.get()) else {
            return false;
        };
        let mut entries = entries.lock();
        let Some(slot) = entries.slot(k) else {
            return false;
        };
        let woken = slot.state == State::Woken;
        if slot.state == State::Waiting {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        slot.state = State::Vacant;
        slot.generation = slot.generation.wrapping_add(1);
        let waker = slot.waker.take();
        entries.free.push(k.index);
        drop(entries);
        drop(waker);
        woken
    }

    /// Whether a task waits for the event (registered and not yet woken).
    #[inline(always)]
    pub(crate) fn is_waited(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) != 0
    }

    /// Wakes the task that has waited longest, if any. One load when none
    /// waits.
    #[inline(always)]
    pub(crate) fn notify_one(&self) {
        if self.is_waited() {
            self.wake_one();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_one(&self) {
        let Some(entries) = self.entries.get() else {
            return;
        };
        let mut entries = entries.lock();
        let waker = loop {
            let Some(k) = entries.order.pop_front() else {
                break None;
            };
            if let Some(slot) = entries.slot(k) {
                if slot.state == State::Waiting {
                    slot.state = State::Woken;
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    break slot.waker.take();
                }
            }
        };
        drop(entries);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Wakes every waiting task (a close: all of them must look).
    pub(crate) fn notify_all(&self) {
        let Some(entries) = self.entries.get().filter(|_| self.is_waited()) else {
            return;
        };
        let mut entries = entries.lock();
        let mut wakers = Vec::new();
        while let Some(k) = entries.order.pop_front() {
            if let Some(slot) = entries.slot(k) {
                if slot.state == State::Waiting {
                    slot.state = State::Woken;
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    wakers.extend(slot.waker.take());
                }
            }
        }
        drop(entries);
        for waker in wakers {
            waker.wake();
        }
    }
}

impl fmt::Debug for WaitList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitList")
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish()
    }
}

/// A waiter's registration in one [`WaitList`]: the part of a future that
/// waits. Passes an unused wake on when it goes ([`cancel`](Waiting::cancel)
/// from the future's `Drop`).
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    key: Option<WaitKey>,
    /// A timer wake-up, for a backend that cannot wake its tasks itself
    /// (made on first use; boxed, so that futures stay small). Dropped by
    /// `Drop` alone, so that the compiler's drop glue for a `Waiting` is
    /// empty and the one check inlines into every future's drop (as a call,
    /// it was two per async message).
    later: ManuallyDrop<Option<Box<WakeLater>>>,
}

impl Drop for Waiting {
    #[inline(always)]
    fn drop(&mut self) {
        if self.later.is_some() {
            drop_later(&mut self.later);
        }
    }
}

/// Cancels and frees a timer wake-up, out of line. The `None` left behind
/// owns nothing, so the `ManuallyDrop` around it leaks nothing.
#[cold]
#[inline(never)]
fn drop_later(later: &mut Option<Box<WakeLater>>) {
    drop(later.take());
}

/// How long a task waiting on a backend that cannot wake it first waits
/// before it looks again (doubling up to [`POLL_LATER_MAX`]).
const POLL_LATER_FIRST: Duration = Duration::from_millis(1);

/// The longest pause between two looks of such a task.
const POLL_LATER_MAX: Duration = Duration::from_millis(32);

impl Waiting {
    /// Not registered anywhere yet.
    pub(crate) const fn new() -> Waiting {
        Waiting {
            key: None,
            later: ManuallyDrop::new(None),
        }
    }

    /// Asks the timer to wake the task soon as well (1 ms, then less and
    /// less often, at least every 32 ms): for a future on a backend that
    /// cannot say when it changes. Cancelled when the `Waiting` goes.
    pub(crate) fn poll_later(&mut self, waker: &Waker) {
        self.later
            .get_or_insert_with(|| Box::new(WakeLater::new(POLL_LATER_FIRST, POLL_LATER_MAX)))
            .schedule(waker);
    }

    /// Registers (or refreshes) the task with `list`; look again after this.
    pub(crate) fn register(&mut self, list: &WaitList, waker: &Waker) {
        list.register(&mut self.key, waker);
    }

    /// Whether the waiter is registered.
    pub(crate) fn is_registered(&self) -> bool {
        self.key.is_some()
    }

    /// Leaves `list` after the wait was used (the future got what it waited
    /// for). A wake it received is passed on only if another task waits
    /// and `more` says it could use it. `more` is asked last: it looks at
    /// the queue, and with one task per end (ping-pong) nobody else waits.
    /// A task that registers after the look at `waiting` looks at the
    /// queue itself after registering.
    #[inline]
    pub(crate) fn done(&mut self, list: &WaitList, more: impl FnOnce() -> bool) {
        if self.key.is_some() && list.remove(&mut self.key) && list.is_waited() && more() {
            list.wake_one();
        }
    }

    /// Leaves `list` without having used the wait (the future was dropped,
    /// or gave up): a wake it received goes to the next waiter.
    #[inline]
    pub(crate) fn cancel(&mut self, list: &WaitList) {
        if self.key.is_some() && list.remove(&mut self.key) {
            list.notify_one();
        }
    }
}
