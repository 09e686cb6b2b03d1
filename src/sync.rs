//! The synchronization primitives postbox's own code uses, behind one facade so
//! that loom can stand in for parking_lot and std atomics (`RUSTFLAGS="--cfg loom"`).
//!
//! The API is the small common subset both sides support: a mutex whose `lock`
//! cannot fail, a condition variable that takes the guard by value, atomics,
//! a `OnceLock`, and an `Arc` (for shared state whose last owner reads what
//! others wrote; the rest of the crate uses std's).
//! Under loom, time does not exist, so a deadline wait is modelled as a wait that
//! may end at any moment (loom explores the wake-up; tests under loom use
//! untimed operations). Spinning is turned off under loom: it only multiplies the
//! interleavings without adding any.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
    pub(crate) use std::sync::{Arc, OnceLock};
    use std::time::Instant;

    /// A mutex (parking_lot's).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    /// The guard of a locked [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    /// A reader-writer lock (parking_lot's).
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(parking_lot::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> RwLock<T> {
            RwLock(parking_lot::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
            self.0.read()
        }

        pub(crate) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
            self.0.write()
        }
    }

    /// A condition variable (parking_lot's).
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(parking_lot::Condvar::new())
        }

        /// Waits until notified, or until `deadline` if there is one. Returns the
        /// guard and whether the deadline passed.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = match deadline {
                None => {
                    self.0.wait(&mut guard);
                    false
                }
                Some(at) => self.0.wait_until(&mut guard, at).timed_out(),
            };
            (guard, timed_out)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// How many times a waiter checks for progress before it parks.
    pub(crate) const SPIN_LIMIT: u32 = 10;

    /// A number of the calling thread, never 0 and never given to another
    /// thread: what a handle's counters compare with their owner's
    /// (`stats::Owner`). `None` only if the thread's storage is gone (it
    /// is ending).
    #[inline(always)]
    pub(crate) fn thread_token() -> Option<u64> {
        use std::cell::Cell;
        use std::sync::atomic::Ordering;
        /// The next token to hand out.
        static NEXT: AtomicU64 = AtomicU64::new(1);
        thread_local! {
            static TOKEN: Cell<u64> = const { Cell::new(0) };
        }
        TOKEN
            .try_with(|token| match token.get() {
                0 => {
                    let new = NEXT.fetch_add(1, Ordering::Relaxed);
                    token.set(new);
                    new
                }
                known => known,
            })
            .ok()
    }

    /// One step of a short backoff before parking: busy-spin at first, then let
    /// another thread run. Parking costs a system call on both sides (about
    /// 10 us here); most waits in a busy mailbox end sooner than that.
    pub(crate) fn backoff(step: u32) {
        if step < 6 {
            for _ in 0..(1u32 << step) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
    }

    /// Between a SeqCst store and a SeqCst load of a store-then-load
    /// handshake (each side writes its flag, then reads the other's). The
    /// SeqCst accesses already order it on real hardware: nothing to do.
    #[inline(always)]
    pub(crate) fn handshake_fence() {}

    /// A SeqCst fence (loom's under loom, which models it in full).
    #[inline(always)]
    pub(crate) fn fence_seqcst() {
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize};
    // Loom's `Arc` where the last reference's drop reads what other threads
    // wrote (a receiver handle's `Acker` folds its counters): std's
    // reference count orders that, but loom does not see it.
    pub(crate) use loom::sync::Arc;
    use std::time::Instant;

    /// A mutex (loom's).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard of a locked [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // Poisoning cannot happen in a loom model that does not panic.
            match self.0.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            }
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Mutex::new(T::default())
        }
    }

    /// A reader-writer lock (loom's).
    #[derive(Debug)]
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> RwLock<T> {
            RwLock(loom::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
            match self.0.read() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            }
        }

        pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
            match self.0.write() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            }
        }
    }

    impl<T: Default> Default for RwLock<T> {
        fn default() -> Self {
            RwLock::new(T::default())
        }
    }

    /// A condition variable (loom's).
    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Default for Condvar {
        fn default() -> Self {
            Condvar::new()
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Condvar {
            Condvar(loom::sync::Condvar::new())
        }

        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            _deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            let guard = match self.0.wait(guard) {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            (guard, false)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    pub(crate) const SPIN_LIMIT: u32 = 0;

    /// No thread owns a handle's counters under loom: its threads share
    /// one OS thread, so every count takes the shared path that loom can
    /// check.
    pub(crate) fn thread_token() -> Option<u64> {
        None
    }

    pub(crate) fn backoff(_step: u32) {
        loom::thread::yield_now();
    }

    /// Loom models SeqCst accesses as AcqRel, which lets both sides of a
    /// store-then-load handshake miss each other; only a SeqCst fence is
    /// modelled with its full strength, so one stands in for it here.
    pub(crate) fn handshake_fence() {
        loom::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// A SeqCst fence, loom's.
    pub(crate) fn fence_seqcst() {
        loom::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// std's `OnceLock` with its publication made visible to loom: loom
    /// does not see std's synchronization, so without this flag a value
    /// made by one thread and read by another looks like a data race.
    /// Initialization runs under a loom mutex, so that a second thread
    /// asking for the value waits in a way loom sees.
    #[derive(Debug)]
    pub(crate) struct OnceLock<T> {
        inner: std::sync::OnceLock<T>,
        ready: AtomicBool,
        init: Mutex<()>,
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> OnceLock<T> {
            OnceLock {
                inner: std::sync::OnceLock::new(),
                ready: AtomicBool::new(false),
                init: Mutex::new(()),
            }
        }

        pub(crate) fn get(&self) -> Option<&T> {
            if self.ready.load(std::sync::atomic::Ordering::Acquire) {
                self.inner.get()
            } else {
                None
            }
        }

        pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> &T {
            if let Some(value) = self.get() {
                return value;
            }
            let guard = self.init.lock();
            let value = self.inner.get_or_init(init);
            self.ready.store(true, std::sync::atomic::Ordering::Release);
            drop(guard);
            value
        }
    }
}

pub(crate) use imp::*;

/// Keeps a value on cache lines of its own (128 bytes: x86 prefetches lines in
/// pairs), so that threads hammering a neighbour do not slow down its readers.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}
