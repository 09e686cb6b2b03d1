//! Readiness signals: how a mailbox tells a [`Select`](crate::Select) that is
//! waiting on it (among other sources) that something happened.
//!
//! A waiting select registers one [`Signal`] with every source's
//! [`Watchers`]; a send that lands, or a close, raises the signals registered
//! there. Senders pay one load of a counter that is zero when nobody watches.
//!
//! Why no wake-up is lost: the select counts itself in (a SeqCst RMW) before it
//! polls its sources, and a sender reads the count (SeqCst) after its push. The
//! built-in backends publish a push through a SeqCst operation (crossbeam's
//! tail index, or the priority backend's lock, which the select's poll takes
//! too), so either the poll sees the message or the sender sees the watcher.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Waker;
use std::time::Instant;

use crate::sync::{handshake_fence, AtomicUsize, Condvar, Mutex};

/// One waiter's doorbell: raised by any source it watches, lowered by the
/// waiter before it polls again. The waiter is a thread (it sleeps in
/// [`wait_until`](Signal::wait_until)) or a task (it leaves its waker with
/// [`set_waker`](Signal::set_waker), and a raise wakes it).
#[derive(Debug)]
pub(crate) struct Signal {
    state: Mutex<Bell>,
    bell: Condvar,
}

/// What the signal's lock protects.
#[derive(Debug, Default)]
struct Bell {
    raised: bool,
    /// The waiting task's waker, taken by the raise that wakes it.
    waker: Option<Waker>,
}

impl Signal {
    /// A lowered signal.
    pub(crate) fn new() -> Signal {
        Signal {
            state: Mutex::new(Bell::default()),
            bell: Condvar::new(),
        }
    }

    /// Raises the signal and wakes its waiter.
    pub(crate) fn raise(&self) {
        let mut state = self.state.lock();
        let waker = state.waker.take();
        if !state.raised {
            state.raised = true;
            self.bell.notify_all();
        }
        drop(state);
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Lowers the signal; the waiter does this before polling its sources, so
    /// a raise during the poll is not lost.
    pub(crate) fn lower(&self) {
        self.state.lock().raised = false;
    }

    /// For a task: leaves its waker for the next raise, unless the signal is
    /// raised already (then returns `true`: look again now).
    pub(crate) fn set_waker(&self, waker: &Waker) -> bool {
        let mut state = self.state.lock();
        if state.raised {
            return true;
        }
        if !state.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            state.waker = Some(waker.clone());
        }
        false
    }

    /// Waits until the signal is raised or `deadline` passes (`None`: no
    /// deadline). Returns whether it was raised.
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let mut state = self.state.lock();
        while !state.raised {
            let (guard, timed_out) = self.bell.wait_until(state, deadline);
            state = guard;
            if timed_out {
                return state.raised;
            }
        }
        true
    }
}

/// The signals of the selects waiting on one mailbox.
#[derive(Debug)]
pub(crate) struct Watchers {
    /// How many signals are registered; every send reads it. Not on a line of
    /// its own: that would add 256 bytes to every idle mailbox, and it is
    /// written only when a select starts or stops waiting.
    count: AtomicUsize,
    /// The registered signals. Boxed, made by the first select that
    /// watches: most mailboxes are never watched, and an empty `Vec` inline
    /// would cost every one of them three words.
    #[allow(clippy::box_collection)]
    list: Mutex<Option<Box<Vec<Arc<Signal>>>>>,
}

impl Default for Watchers {
    fn default() -> Watchers {
        Watchers {
            count: AtomicUsize::new(0),
            list: Mutex::new(None),
        }
    }
}

impl Watchers {
    /// Registers a signal to raise on every later send or close.
    pub(crate) fn watch(&self, signal: &Arc<Signal>) {
        let mut list = self.list.lock();
        list.get_or_insert_with(Box::default)
            .push(Arc::clone(signal));
        self.count.fetch_add(1, Ordering::SeqCst);
        // The select polls the mailbox next: a store-then-load handshake
        // with `notify` (a send or close writes, then reads the count).
        handshake_fence();
    }

    /// Removes a registered signal.
    pub(crate) fn unwatch(&self, signal: &Arc<Signal>) {
        let mut guard = self.list.lock();
        let Some(list) = guard.as_mut() else {
            return;
        };
        if let Some(i) = list.iter().position(|s| Arc::ptr_eq(s, signal)) {
            list.swap_remove(i);
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
        if list.is_empty() {
            // Nobody watches any more: the memory goes back too.
            *guard = None;
        }
    }

    /// Whether any select watches (a SeqCst read, as `notify`'s).
    pub(crate) fn is_watched(&self) -> bool {
        self.count.load(Ordering::SeqCst) > 0
    }

    /// Raises every registered signal. Costs one load when nobody watches.
    #[inline(always)]
    pub(crate) fn notify(&self) {
        handshake_fence();
        if self.count.load(Ordering::SeqCst) != 0 {
            self.notify_all();
        }
    }

    #[cold]
    #[inline(never)]
    fn notify_all(&self) {
        if let Some(list) = self.list.lock().as_deref() {
            for signal in list {
                signal.raise();
            }
        }
    }
}
