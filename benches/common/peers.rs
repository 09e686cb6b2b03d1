//! The channels under test, behind one pair of traits: [`Tx`] and [`Rx`] over
//! crossbeam-channel, `std::sync::mpsc`, flume and postbox mailboxes, a few
//! postbox variants (acknowledged receives, mixed priorities, one shared
//! sender), crossbeam-channel carrying whole postbox messages, and the
//! `Mutex<BinaryHeap>` baseline; with one constructor per channel, taking a
//! [`Cap`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::{mpsc, Arc};

use parking_lot::{Condvar, Mutex};
use postbox::{Mailbox, Message};

/// Priority levels of the postbox priority mailboxes under test.
pub(crate) const LEVELS: u8 = 8;

/// A channel capacity: `Some(n)` bounded (0 = rendezvous), `None` unbounded.
pub(crate) type Cap = Option<usize>;

/// The sending half of a channel under test.
pub(crate) trait Tx: Clone + Send {
    /// Sends, waiting for room; panics if the channel is closed.
    fn put(&self, v: u64);
}

/// The receiving half of a channel under test.
pub(crate) trait Rx: Send + Sized {
    /// Receives, waiting for a message; panics if the channel is closed.
    fn take(&self) -> u64;

    /// A second receiver on the same channel, if the channel allows several.
    fn dup(&self) -> Option<Self>;
}

impl Tx for crossbeam_channel::Sender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl Rx for crossbeam_channel::Receiver<u64> {
    fn take(&self) -> u64 {
        self.recv().unwrap()
    }

    fn dup(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl Tx for mpsc::Sender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl Tx for mpsc::SyncSender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl Rx for mpsc::Receiver<u64> {
    fn take(&self) -> u64 {
        self.recv().unwrap()
    }

    fn dup(&self) -> Option<Self> {
        None
    }
}

impl Tx for flume::Sender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl Rx for flume::Receiver<u64> {
    fn take(&self) -> u64 {
        self.recv().unwrap()
    }

    fn dup(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl Tx for postbox::Sender<u64> {
    fn put(&self, v: u64) {
        self.send(v).unwrap();
    }
}

impl Rx for postbox::Receiver<u64> {
    fn take(&self) -> u64 {
        self.recv().unwrap().into_body()
    }

    fn dup(&self) -> Option<Self> {
        Some(self.clone())
    }
}

/// A postbox receiver that takes every message with acknowledgement:
/// `recv_ack`, then `ack` at once (what a worker that never fails does).
pub(crate) struct AckRx(pub(crate) postbox::Receiver<u64>);

impl Rx for AckRx {
    fn take(&self) -> u64 {
        self.0.recv_ack().unwrap().ack().into_body()
    }

    fn dup(&self) -> Option<Self> {
        Some(AckRx(self.0.clone()))
    }
}

/// Raw crossbeam-channel carrying whole postbox messages: what a mailbox
/// costs over crossbeam beyond the bigger slot.
#[derive(Clone)]
pub(crate) struct CbMessageTx(crossbeam_channel::Sender<Message<u64>>);

impl Tx for CbMessageTx {
    fn put(&self, v: u64) {
        self.0.send(Message::new(v)).unwrap();
    }
}

/// The receiving half of [`CbMessageTx`].
pub(crate) struct CbMessageRx(crossbeam_channel::Receiver<Message<u64>>);

impl Rx for CbMessageRx {
    fn take(&self) -> u64 {
        self.0.recv().unwrap().into_body()
    }

    fn dup(&self) -> Option<Self> {
        Some(CbMessageRx(self.0.clone()))
    }
}

/// A postbox sender that gives its messages priorities cycling through the levels.
#[derive(Clone)]
pub(crate) struct MixedTx(pub(crate) postbox::Sender<u64>);

impl Tx for MixedTx {
    fn put(&self, v: u64) {
        let prio = (v % u64::from(LEVELS)) as u8;
        self.0.send(Message::new(v).priority(prio)).unwrap();
    }
}

/// One handle shared by every producer thread (no clone per thread).
pub(crate) struct SharedTx<S>(pub(crate) Arc<S>);

impl<S> Clone for SharedTx<S> {
    fn clone(&self) -> Self {
        SharedTx(Arc::clone(&self.0))
    }
}

impl<S: Tx + Sync> Tx for SharedTx<S> {
    fn put(&self, v: u64) {
        self.0.put(v);
    }
}

/// The baseline priority queue: a binary heap under one lock, two condition
/// variables, a notify on every push and every pop. Highest priority first,
/// FIFO within a priority (the sequence number breaks ties).
struct HeapQueue {
    /// The entries and the next sequence number.
    state: Mutex<HeapState>,
    /// Receivers wait here while the heap is empty.
    not_empty: Condvar,
    /// Senders wait here while the heap is full.
    not_full: Condvar,
    /// The most entries held, `None` for unbounded.
    cap: Cap,
}

/// What the baseline's lock protects.
struct HeapState {
    /// (priority, earlier first, value).
    heap: BinaryHeap<(u8, Reverse<u64>, u64)>,
    /// The sequence number of the next push.
    seq: u64,
}

impl HeapQueue {
    fn new(cap: Cap) -> HeapQueue {
        HeapQueue {
            state: Mutex::new(HeapState {
                heap: BinaryHeap::new(),
                seq: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            cap,
        }
    }

    fn push(&self, prio: u8, v: u64) {
        let mut state = self.state.lock();
        if let Some(cap) = self.cap {
            while state.heap.len() >= cap {
                self.not_full.wait(&mut state);
            }
        }
        let seq = state.seq;
        state.seq += 1;
        state.heap.push((prio, Reverse(seq), v));
        drop(state);
        self.not_empty.notify_one();
    }

    fn pop(&self) -> u64 {
        let mut state = self.state.lock();
        loop {
            if let Some((_, _, v)) = state.heap.pop() {
                drop(state);
                self.not_full.notify_one();
                return v;
            }
            self.not_empty.wait(&mut state);
        }
    }
}

/// The baseline's sending half; `mixed` cycles priorities through 0..LEVELS.
#[derive(Clone)]
pub(crate) struct HeapTx {
    queue: Arc<HeapQueue>,
    mixed: bool,
}

impl Tx for HeapTx {
    fn put(&self, v: u64) {
        let prio = if self.mixed {
            (v % u64::from(LEVELS)) as u8
        } else {
            0
        };
        self.queue.push(prio, v);
    }
}

/// The baseline's receiving half.
pub(crate) struct HeapRx(Arc<HeapQueue>);

impl Rx for HeapRx {
    fn take(&self) -> u64 {
        self.0.pop()
    }

    fn dup(&self) -> Option<Self> {
        Some(HeapRx(Arc::clone(&self.0)))
    }
}

/// Raw crossbeam-channel: `bounded(n)` / `unbounded()`.
pub(crate) fn crossbeam(
    cap: Cap,
) -> (
    crossbeam_channel::Sender<u64>,
    crossbeam_channel::Receiver<u64>,
) {
    match cap {
        Some(n) => crossbeam_channel::bounded(n),
        None => crossbeam_channel::unbounded(),
    }
}

/// crossbeam-channel carrying `postbox::Message<u64>`, no mailbox.
pub(crate) fn crossbeam_message(cap: Cap) -> (CbMessageTx, CbMessageRx) {
    let (tx, rx) = match cap {
        Some(n) => crossbeam_channel::bounded(n),
        None => crossbeam_channel::unbounded(),
    };
    (CbMessageTx(tx), CbMessageRx(rx))
}

/// flume: `bounded(n)` / `unbounded()`.
pub(crate) fn flume_channel(cap: Cap) -> (flume::Sender<u64>, flume::Receiver<u64>) {
    match cap {
        Some(n) => flume::bounded(n),
        None => flume::unbounded(),
    }
}

/// A postbox FIFO mailbox.
pub(crate) fn postbox_fifo(cap: Cap) -> (postbox::Sender<u64>, postbox::Receiver<u64>) {
    let builder = Mailbox::<u64>::builder().fifo();
    match cap {
        Some(n) => builder.capacity(n),
        None => builder.unbounded(),
    }
    .build()
}

/// A postbox priority mailbox with [`LEVELS`] levels.
pub(crate) fn postbox_prio(cap: Cap) -> (postbox::Sender<u64>, postbox::Receiver<u64>) {
    let builder = Mailbox::<u64>::builder().priority(LEVELS);
    match cap {
        Some(n) => builder.capacity(n),
        None => builder.unbounded(),
    }
    .build()
}

/// The `Mutex<BinaryHeap>` baseline; `mixed` cycles priorities through
/// 0..LEVELS, else every message has priority 0. It has no rendezvous:
/// at `Some(0)` every send waits for room forever.
pub(crate) fn heap_channel(cap: Cap, mixed: bool) -> (HeapTx, HeapRx) {
    let queue = Arc::new(HeapQueue::new(cap));
    let rx = HeapRx(Arc::clone(&queue));
    (HeapTx { queue, mixed }, rx)
}
