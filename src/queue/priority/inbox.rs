//! The inbox of a buffered priority queue: where senders publish their
//! messages without taking the queue's lock (see "Inbox" in the module docs
//! of `priority`, and `buffered.rs` for the protocol around it).
//!
//! A vector under a lock of its own, and its length in an atomic beside
//! it, all on one cache line. A sender locks, pushes and stores the length;
//! a receiver (under the queue's lock) reads the length and, only if it is
//! not zero, locks and swaps the vector for an empty one it keeps
//! (`State::spare`), so it takes everything staged in one short critical
//! section and the senders keep an allocation that already has room. In a
//! steady stream nothing is allocated: the two vectors change hands.
//!
//! Why not a crossbeam channel: a list channel allocates a block per 31
//! messages in the sending thread and frees it in the receiving one, which
//! for a `Message` (a header of several words) measured as page clearing
//! and cross-thread frees in the profile, and its send and receive cost
//! twice the instructions of a lock and a push.

use std::sync::atomic::Ordering;

use crate::message::Message;
use crate::sync::{handshake_fence, AtomicUsize, Mutex};

/// Messages published by senders, oldest first.
pub(super) struct Inbox<T> {
    /// The published messages.
    staged: Mutex<Vec<Message<T>>>,
    /// `staged.len()`, stored (SeqCst) under the lock by every publish and
    /// take, read without it.
    count: AtomicUsize,
    /// At least the highest level staged, plus one, while anything is
    /// staged. Raised (SeqCst) under the lock by a publish of a higher
    /// level; reset only by a take of a batch (a take of one message leaves
    /// it: a bound too high is still a bound, and a stream of lone messages
    /// then stores it once, not once per message). A receive that finds
    /// nothing staged above the levels' highest need not take the inbox at
    /// all (see `buffered.rs`).
    top: AtomicUsize,
}

impl<T> Inbox<T> {
    pub(super) fn new() -> Inbox<T> {
        Inbox {
            staged: Mutex::new(Vec::new()),
            count: AtomicUsize::new(0),
            top: AtomicUsize::new(0),
        }
    }

    /// Publishes a message. The length is stored SeqCst (and under loom
    /// fenced): the first half of the store-then-load handshake with a
    /// receiver about to park, and with selects and tasks about to wait.
    #[inline(always)]
    pub(super) fn publish(&self, msg: Message<T>, level: usize) {
        let mut staged = self.staged.lock();
        staged.push(msg);
        // Only writers of `top` hold the lock: a plain read is current.
        if self.top.load(Ordering::Relaxed) <= level {
            self.top.store(level + 1, Ordering::SeqCst);
        }
        self.count.store(staged.len(), Ordering::SeqCst);
        drop(staged);
        handshake_fence();
    }

    /// Whether anything is staged (a SeqCst load; see `publish`).
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.count.load(Ordering::SeqCst) == 0
    }

    /// At least the highest level staged plus one, if anything is staged
    /// (see `top`); 0 if nothing is. SeqCst, after the length: a publish
    /// stores its level before its length.
    #[inline(always)]
    pub(super) fn top(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.top.load(Ordering::SeqCst)
    }

    /// How many messages are staged.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Takes everything staged into `into` (which must be empty), handing
    /// the senders `into`'s allocation. Does not lock when nothing is staged.
    #[inline]
    pub(super) fn take_all(&self, into: &mut Vec<Message<T>>) {
        if self.is_empty() {
            return;
        }
        let mut staged = self.staged.lock();
        std::mem::swap(&mut *staged, into);
        if into.len() > 1 {
            self.top.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::SeqCst);
    }
}
