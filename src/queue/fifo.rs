//! The FIFO backend: crossbeam-channel underneath, with a close signal.
//!
//! crossbeam disconnects a channel only when every sender or every receiver is
//! dropped; a mailbox must also close on demand (`Receiver::close`, and
//! destruction by name) while handles still exist. So the backend keeps both
//! channel ends and a second, empty channel whose only sender is dropped on
//! close: a blocked caller waits in a `Select` over the data channel and that
//! close signal, and wakes the moment either is ready. The close signal is
//! made by the first caller that has to wait, so an idle queue (a million
//! idle mailboxes) does not pay for it. Buffered queues wait
//! for readiness and then retry (so a close always wins over room that the
//! close itself freed); rendezvous queues must select a real operation.
//!
//! The fast path is the plain channel: a closed-flag check, then crossbeam's
//! `try_send` / `try_recv`. Only when that fails does a caller spin briefly and
//! then build a `Select`; without the spin, a bounded(1) ping-pong would pay a
//! park/unpark round trip (about 10 us) on every message.

use std::fmt;
use std::sync::OnceLock;
use std::time::Instant;

use crossbeam_channel as cb;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{backoff, AtomicBool, Mutex, SPIN_LIMIT};
use std::sync::atomic::Ordering;

/// The FIFO queueing discipline: messages leave in the order they arrived.
///
/// Capacity 0 is a true rendezvous (a send completes only when a receiver takes
/// the message), `bounded(n)` holds up to `n`, `unbounded()` grows as needed.
/// Usually built through [`MailboxBuilder::fifo`](crate::MailboxBuilder::fifo);
/// public so that custom backends can wrap it.
pub struct Fifo<T> {
    /// The data channel's sending end (kept for the queue's whole life).
    tx: cb::Sender<Message<T>>,
    /// The data channel's receiving end.
    rx: cb::Receiver<Message<T>>,
    /// Set once by `close`; checked before every push.
    closed: AtomicBool,
    /// What blocked callers wait on besides the data channel: a channel that
    /// never carries a message and becomes ready (disconnected) on close.
    /// Made by the first caller that waits; read without a lock after that,
    /// so waiting never writes to the lines the fast path reads.
    close_rx: OnceLock<cb::Receiver<()>>,
    /// The close signal's only sender, dropped on close.
    close_tx: Mutex<CloseSender>,
}

/// The state of the close signal's sender.
enum CloseSender {
    /// No signal made yet.
    Unmade,
    /// Made; dropping the sender fires the signal.
    Open { _tx: cb::Sender<()> },
    /// The queue is closed.
    Fired,
}

impl<T: Send> Fifo<T> {
    /// The largest capacity a bounded FIFO queue takes (2^20 messages);
    /// larger requests are lowered to it. Use `unbounded` beyond that.
    pub const MAX_CAPACITY: usize = 1 << 20;

    /// A FIFO queue holding at most `capacity` messages (0: rendezvous).
    ///
    /// crossbeam allocates every slot of a bounded channel up front, so a
    /// capacity above [`Fifo::MAX_CAPACITY`] is lowered to it rather than
    /// panicking or exhausting memory; `capacity()` reports the real bound.
    pub fn bounded(capacity: usize) -> Fifo<T> {
        Fifo::with_channel(cb::bounded(capacity.min(Self::MAX_CAPACITY)))
    }

    /// A FIFO queue without a capacity limit.
    pub fn unbounded() -> Fifo<T> {
        Fifo::with_channel(cb::unbounded())
    }

    /// A rendezvous queue: every push waits for a pop (same as `bounded(0)`).
    pub fn rendezvous() -> Fifo<T> {
        Fifo::bounded(0)
    }

    fn with_channel((tx, rx): (cb::Sender<Message<T>>, cb::Receiver<Message<T>>)) -> Fifo<T> {
        Fifo {
            tx,
            rx,
            closed: AtomicBool::new(false),
            close_rx: OnceLock::new(),
            close_tx: Mutex::new(CloseSender::Unmade),
        }
    }

    /// A receiver that becomes ready (disconnected) when the queue closes.
    /// Made under the same lock as `close` takes, so it is either made before
    /// the close (which then drops its sender) or made already disconnected.
    fn close_watch(&self) -> &cb::Receiver<()> {
        self.close_rx.get_or_init(|| {
            let mut sender = self.close_tx.lock();
            let (tx, rx) = cb::bounded(0);
            if !matches!(*sender, CloseSender::Fired) {
                *sender = CloseSender::Open { _tx: tx };
            }
            rx
        })
    }

    #[inline(never)]
    fn push_blocking(
        &self,
        mut msg: Message<T>,
        deadline: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        if self.tx.capacity() == Some(0) {
            // No spinning: on a zero-capacity channel a try only succeeds
            // against a registered partner, so two spinning sides never meet.
            return self.push_rendezvous(msg, deadline);
        }
        for step in 0..SPIN_LIMIT {
            backoff(step);
            msg = match self.try_push(msg) {
                Err(PushError::Full(m)) => m,
                done => return done,
            };
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
        }
        let close_rx = self.close_watch();
        loop {
            // Wait until there is room or the queue closes, without taking a
            // slot: if both happen at once, closing must win, or a sender woken
            // by a close that drained the queue would slip its message in.
            let mut sel = cb::Select::new();
            sel.send(&self.tx);
            sel.recv(close_rx);
            let ready = match deadline {
                None => Ok(sel.ready()),
                Some(at) => sel.ready_deadline(at),
            };
            if ready.is_err() {
                return Err(PushError::Timeout(msg));
            }
            // try_push checks the closed flag first; Full means another sender
            // took the room we were woken for: wait again.
            msg = match self.try_push(msg) {
                Err(PushError::Full(m)) => m,
                done => return done,
            };
        }
    }

    /// A rendezvous send must be a real select operation: on a zero-capacity
    /// channel a receiver can only pair with a registered sender, so waiting
    /// for readiness alone would let two waiting sides miss each other. If a
    /// closing receiver drains the channel, it takes this message through that
    /// pairing and hands it to its caller, so nothing is lost either way.
    #[inline(never)]
    fn push_rendezvous(
        &self,
        msg: Message<T>,
        deadline: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        let close_rx = self.close_watch();
        let mut sel = cb::Select::new();
        let data = sel.send(&self.tx);
        sel.recv(close_rx);
        let oper = match deadline {
            None => sel.select(),
            Some(at) => match sel.select_deadline(at) {
                Ok(oper) => oper,
                Err(_) => return Err(PushError::Timeout(msg)),
            },
        };
        if oper.index() == data {
            oper.send(&self.tx, msg)
                .map_err(|cb::SendError(m)| PushError::Closed(m))
        } else {
            // The close signal: it only ever disconnects.
            let _ = oper.recv(close_rx);
            Err(PushError::Closed(msg))
        }
    }

    #[inline(never)]
    fn pop_blocking(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        if self.tx.capacity() == Some(0) {
            return self.pop_rendezvous(deadline);
        }
        for step in 0..SPIN_LIMIT {
            backoff(step);
            match self.try_pop() {
                Err(PopError::Empty) => {}
                done => return done,
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PopError::Timeout);
            }
        }
        let close_rx = self.close_watch();
        loop {
            let mut sel = cb::Select::new();
            sel.recv(&self.rx);
            sel.recv(close_rx);
            let ready = match deadline {
                None => Ok(sel.ready()),
                Some(at) => sel.ready_deadline(at),
            };
            if ready.is_err() {
                return Err(PopError::Timeout);
            }
            // Empty means another receiver took the message we were woken
            // for; after a close, try_pop still hands out what is queued.
            match self.try_pop() {
                Err(PopError::Empty) => {}
                done => return done,
            }
        }
    }

    /// A rendezvous receive registers a real operation, so that a sender
    /// waiting for readiness or trying without waiting can pair with it.
    #[inline(never)]
    fn pop_rendezvous(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        let close_rx = self.close_watch();
        let mut sel = cb::Select::new();
        let data = sel.recv(&self.rx);
        sel.recv(close_rx);
        let oper = match deadline {
            None => sel.select(),
            Some(at) => match sel.select_deadline(at) {
                Ok(oper) => oper,
                Err(_) => return Err(PopError::Timeout),
            },
        };
        if oper.index() == data {
            oper.recv(&self.rx).map_err(|_| PopError::Closed)
        } else {
            let _ = oper.recv(close_rx);
            // Closed, but what was queued before the close is still ours to hand out.
            self.rx.try_recv().map_err(|_| PopError::Closed)
        }
    }
}

impl<T: Send> Queue<T> for Fifo<T> {
    #[inline(always)]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed(msg));
        }
        self.tx.try_send(msg).map_err(|err| match err {
            cb::TrySendError::Full(m) => PushError::Full(m),
            cb::TrySendError::Disconnected(m) => PushError::Closed(m),
        })
    }

    #[inline(always)]
    fn push(&self, msg: Message<T>, deadline: Option<Instant>) -> Result<(), PushError<T>> {
        match self.try_push(msg) {
            Err(PushError::Full(msg)) => self.push_blocking(msg, deadline),
            done => done,
        }
    }

    #[inline(always)]
    fn try_pop(&self) -> Result<Message<T>, PopError> {
        match self.rx.try_recv() {
            Ok(msg) => Ok(msg),
            Err(cb::TryRecvError::Empty) if self.closed.load(Ordering::Acquire) => {
                // Look once more after seeing the flag: a message pushed before
                // the close may have landed after our first look.
                self.rx.try_recv().map_err(|_| PopError::Closed)
            }
            Err(cb::TryRecvError::Empty) => Err(PopError::Empty),
            Err(cb::TryRecvError::Disconnected) => Err(PopError::Closed),
        }
    }

    #[inline(always)]
    fn pop(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        match self.try_pop() {
            Err(PopError::Empty) => self.pop_blocking(deadline),
            done => done,
        }
    }

    fn len(&self) -> usize {
        self.rx.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.tx.capacity()
    }

    fn close(&self) -> bool {
        let first = !self.closed.swap(true, Ordering::AcqRel);
        if first {
            // Dropping the only close sender (if one was made) wakes every
            // Select waiting on it.
            *self.close_tx.lock() = CloseSender::Fired;
        }
        first
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl<T> fmt::Debug for Fifo<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fifo")
            .field("len", &self.rx.len())
            .field("capacity", &self.tx.capacity())
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish()
    }
}
