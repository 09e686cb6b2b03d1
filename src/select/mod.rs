//! Waiting on several sources at once: [`Select`] (the user-facing rules are
//! in its docs).
//!
//! A select polls its branches with each source's non-blocking `try_take`;
//! when none delivers, it registers one doorbell (a [`Signal`]) with every
//! source's [`Watchers`] and, from then on, lowers the doorbell, polls every
//! branch, and sleeps until the doorbell rings or the deadline passes. Every
//! send that lands and every close rings the doorbells registered on that
//! mailbox.
//!
//! Why no wake-up is lost (the full argument is in `signal.rs`): the select
//! registers (a SeqCst RMW on the mailbox's watcher count) *before* it polls,
//! and a sender reads that count (SeqCst) *after* its push; the backends
//! publish a push through a SeqCst operation or a lock that the poll takes
//! too. So either the poll sees the message, or the sender sees the select
//! and rings. A ring after the select lowered its doorbell keeps it raised,
//! so the next sleep ends at once; a ring before the lowering was caused by a
//! push that happened before it (the signal's lock orders them), which the
//! following poll sees.
//!
//! The one exception is a rendezvous sender: it rings just *before* it
//! blocks, and a poll pairs with it only once it is blocked, so its ring may
//! be spent on a poll that came too early. Selects with a rendezvous source
//! therefore poll again briefly after each ring, and a rendezvous sender
//! that is still waiting while selects watch rings again (after 1 ms, then
//! less and less often, at least every 32 ms). A sender that looked for
//! selects just before one began to watch does not ring, so a select with
//! a rendezvous source also polls again on its own, after a pause that
//! grows from 1 ms to 1 s while nothing happens.
//!
//! This file holds [`Select`] itself: its branches and settings, the
//! public forms, and the wait (register the doorbell, poll, sleep).
//! `source.rs` holds what can be selected on (the sealed [`Source`] trait
//! and its implementations); `branch.rs` holds a branch (a source and its
//! closure, the message type erased) and one poll over all of them, fair
//! or biased.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{PopError, RecvError, RecvTimeoutError, TryRecvError};
use crate::message::Message;
use crate::signal::{Signal, Watchers};
use crate::sync::{backoff, SPIN_LIMIT};
use crate::wait::{Deadline, Wait};

mod branch;
mod source;

pub use source::Source;

use branch::{poll, Branch, Polled, RecvBranch};

/// The first pause before a select with a rendezvous source polls again on
/// its own (doubling up to [`RENDEZVOUS_POLL_MAX`] while nothing rings).
const RENDEZVOUS_POLL_FIRST: Duration = Duration::from_millis(1);

/// The longest pause between a rendezvous select's own polls.
const RENDEZVOUS_POLL_MAX: Duration = Duration::from_secs(1);

/// Waits on several sources at once and takes one message from exactly one of
/// them.
///
/// Add branches with [`recv`](Select::recv): a source and a closure that turns
/// its message into the result type `R`. Then call one of:
///
/// | method | waits | returns |
/// | --- | --- | --- |
/// | [`select`](Select::select) | until some source delivers | `RecvError` (every source closed and empty) |
/// | [`try_select`](Select::try_select) | no | `TryRecvError` (`Empty` / `Closed`) |
/// | [`select_timeout`](Select::select_timeout) / [`select_deadline`](Select::select_deadline) | until then | `RecvTimeoutError` |
/// | [`select_with`](Select::select_with) | as told | `RecvTimeoutError` |
///
/// A select can be called again and again (in a loop): the closures are
/// `FnMut`. The closure runs on the selecting thread, after the message was
/// taken; if it panics, the message is dropped with the closure's unwinding
/// and the select is still usable.
///
/// # Order
///
/// - [`Select::new`] is fair: each call starts polling at the branch after the
///   one that won last, so branches that are always ready take turns and none
///   is starved.
/// - [`Select::biased`] always polls in the listed order: the first ready
///   branch wins (for a control port that must go before the work).
///
/// # Exactly once
///
/// A call takes **one** message from **one** ready source and hands it
/// straight to that branch's closure; the other sources are not touched, so
/// no message is taken and then lost because another branch won. Several
/// selects (and plain receivers) may compete for the same sources: each
/// message still goes to exactly one of them.
///
/// # Closing
///
/// A closed and empty source is skipped while any other can still deliver.
/// Only when every source is closed and empty does a select fail with
/// `Closed`; a select without branches fails so at once. A select wakes as
/// soon as a source it waits on is closed (last sender dropped, receiver
/// [`close`](crate::Receiver::close)d, port closed).
///
/// # Rendezvous sources
///
/// On a capacity-0 FIFO mailbox a sender hands its message over only to a
/// receiver that is there at that moment. A selecting thread is not parked
/// in any one source, so a rendezvous sender announces itself just before it
/// blocks, and a select with any rendezvous source polls again briefly after
/// that. A sender whose announcement came too early (the select polled
/// before the sender could pair) announces itself again while it waits: 1
/// ms later, then less and less often, at least every 32 ms. One that
/// looked for selects just before the select began to watch does not, so
/// a select with a rendezvous source also polls again on its own, after a
/// pause that grows from 1 ms to 1 s while nothing happens (an idle select
/// wakes about once a second). A priority rendezvous sender announces
/// itself once its message can be taken, which leaves no such window.
///
/// # Custom backends
///
/// Readiness is announced by the mailbox layer after a backend's push
/// returns, so selects work on your own [`Queue`](crate::Queue) too, provided
/// its push and pop synchronise with each other (a lock both take, or SeqCst
/// operations), as the built-in backends do: a pop that starts after a push
/// returned must see the message.
///
/// # Examples
///
/// A work mailbox and a control port of different types; control first:
///
/// ```
/// use postbox::{Mailbox, Port, Select};
/// use std::time::Duration;
///
/// enum Event {
///     Job(u32),
///     Control(String),
/// }
///
/// let (jobs_tx, jobs) = Mailbox::<u32>::builder().build();
/// let (control_tx, control) = Port::<String>::builder().build();
/// jobs_tx.send(7).unwrap();
/// control_tx.send("pause".to_string()).unwrap();
///
/// let mut sel = Select::biased();
/// sel.recv(&control, |m| Event::Control(m.into_body()));
/// sel.recv(&jobs, |m| Event::Job(m.into_body()));
/// assert!(matches!(sel.select(), Ok(Event::Control(c)) if c == "pause"));
/// assert!(matches!(sel.select(), Ok(Event::Job(7))));
/// let nothing = sel.select_timeout(Duration::from_millis(10));
/// assert!(matches!(nothing, Err(e) if e.is_timeout()));
/// ```
///
/// Two sources of different types, fed from other threads, drained until
/// both are closed:
///
/// ```
/// use postbox::{Mailbox, Port, Select};
/// use std::thread;
///
/// let (num_tx, nums) = Mailbox::<u32>::builder().build();
/// let (word_tx, words) = Port::<String>::builder().build();
/// let a = thread::spawn(move || (1..=3).for_each(|n| num_tx.send(n).unwrap()));
/// let b = thread::spawn(move || word_tx.send("four".to_string()).unwrap());
///
/// let (mut sum, mut text) = (0, String::new());
/// let mut sel = Select::new();
/// sel.recv(&nums, |m| sum += m.into_body());
/// sel.recv(&words, |m| text.push_str(m.body()));
/// // Err only once every sender is gone and everything was received.
/// while sel.select().is_ok() {}
/// drop(sel); // gives `sum` and `text` back
/// a.join().unwrap();
/// b.join().unwrap();
/// assert_eq!((sum, text.as_str()), (6, "four"));
/// ```
pub struct Select<'a, R> {
    /// The branches, in the order they were added.
    branches: Vec<Box<dyn Branch<R> + 'a>>,
    /// Each branch's source's doorbells, in the same order.
    watchers: Vec<&'a Watchers>,
    /// Whether any source is a rendezvous (then a ring is followed by a
    /// short spin of polls: the ringing sender is about to block).
    rendezvous: bool,
    /// Poll in listed order every time, instead of after the last winner.
    biased: bool,
    /// Where the next poll starts in fair mode: after the last winner.
    start: usize,
    /// The doorbell, made on the first wait and reused by later calls.
    signal: Option<Arc<Signal>>,
}

impl<'a, R> Select<'a, R> {
    /// An empty, fair select: each call starts polling after the branch that
    /// won last, so always-ready branches take turns.
    pub fn new() -> Select<'a, R> {
        Select {
            branches: Vec::new(),
            watchers: Vec::new(),
            rendezvous: false,
            biased: false,
            start: 0,
            signal: None,
        }
    }

    /// An empty, biased select: the first ready branch in the order they were
    /// added wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, Select};
    ///
    /// let (urgent_tx, urgent) = Mailbox::<u32>::builder().build();
    /// let (normal_tx, normal) = Mailbox::<u32>::builder().build();
    /// for n in 0..3 {
    ///     normal_tx.send(n).unwrap();
    ///     urgent_tx.send(10 + n).unwrap();
    /// }
    /// let mut sel = Select::biased();
    /// sel.recv(&urgent, |m| m.into_body());
    /// sel.recv(&normal, |m| m.into_body());
    /// let order: Vec<u32> = (0..6).map(|_| sel.try_select().unwrap()).collect();
    /// assert_eq!(order, [10, 11, 12, 0, 1, 2]);
    /// ```
    pub fn biased() -> Select<'a, R> {
        Select {
            biased: true,
            ..Select::new()
        }
    }

    /// Adds a branch: when this select takes a message from `source`, it
    /// returns `f(message)`. Returns the select, for chaining.
    ///
    /// Branches are polled in the order they were added (from the last
    /// winner on, unless [`biased`](Select::biased)). The same source may
    /// appear in several branches.
    pub fn recv<S, F>(&mut self, source: &'a S, f: F) -> &mut Self
    where
        S: Source,
        F: FnMut(Message<S::Item>) -> R + 'a,
    {
        self.branches.push(Box::new(RecvBranch { source, f }));
        self.watchers.push(source.watchers().0);
        self.rendezvous |= source.is_rendezvous();
        self
    }

    /// Takes a message from the first ready source, waiting as long as it
    /// takes. Fails only when every source is closed and empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, RecvError, Select};
    /// use std::thread;
    ///
    /// let (tx_a, a) = Mailbox::<u32>::builder().build();
    /// let (tx_b, b) = Mailbox::<u32>::builder().build();
    /// let sender = thread::spawn(move || tx_b.send(2).unwrap());
    ///
    /// let mut sel = Select::new();
    /// sel.recv(&a, |m| ("a", m.into_body()));
    /// sel.recv(&b, |m| ("b", m.into_body()));
    /// assert_eq!(sel.select(), Ok(("b", 2))); // waits for the other thread
    /// sender.join().unwrap();
    /// drop(tx_a); // now both are closed and empty
    /// assert_eq!(sel.select(), Err(RecvError));
    /// ```
    pub fn select(&mut self) -> Result<R, RecvError> {
        self.select_inner(Deadline::Never).map_err(|_| RecvError)
    }

    /// Takes a message if some source has one now, never waiting.
    ///
    /// # Examples
    ///
    /// ```
    /// use postbox::{Mailbox, Select, TryRecvError};
    ///
    /// let (tx, rx) = Mailbox::<u32>::builder().build();
    /// let mut sel = Select::new();
    /// sel.recv(&rx, |m| m.into_body());
    /// assert_eq!(sel.try_select(), Err(TryRecvError::Empty));
    /// tx.send(1).unwrap();
    /// assert_eq!(sel.try_select(), Ok(1));
    /// drop(tx);
    /// assert_eq!(sel.try_select(), Err(TryRecvError::Closed));
    /// ```
    pub fn try_select(&mut self) -> Result<R, TryRecvError> {
        self.select_inner(Deadline::Now).map_err(|err| match err {
            PopError::Closed => TryRecvError::Closed,
            PopError::Empty | PopError::Timeout => TryRecvError::Empty,
        })
    }

    /// Takes a message from the first ready source, waiting at most
    /// `timeout`. A timeout too large to represent waits forever.
    pub fn select_timeout(&mut self, timeout: Duration) -> Result<R, RecvTimeoutError> {
        self.select_with(Wait::Timeout(timeout))
    }

    /// Takes a message from the first ready source, waiting until `deadline`
    /// at the latest.
    pub fn select_deadline(&mut self, deadline: Instant) -> Result<R, RecvTimeoutError> {
        self.select_with(Wait::Deadline(deadline))
    }

    /// Takes a message with the wait chosen for this call. A non-blocking
    /// wait that finds nothing fails with `Timeout` (a zero timeout), as
    /// [`Receiver::recv_with`](crate::Receiver::recv_with) does.
    pub fn select_with(&mut self, wait: Wait) -> Result<R, RecvTimeoutError> {
        self.select_inner(wait.deadline()).map_err(|err| match err {
            PopError::Closed => RecvTimeoutError::Closed,
            PopError::Empty | PopError::Timeout => RecvTimeoutError::Timeout,
        })
    }

    /// The one primitive every public form wraps.
    fn select_inner(&mut self, deadline: Deadline) -> Result<R, PopError> {
        if self.branches.is_empty() {
            // Nothing could ever deliver: waiting would be forever.
            return Err(PopError::Closed);
        }
        match self.poll() {
            Polled::Ready(r) => return Ok(r),
            Polled::Closed => return Err(PopError::Closed),
            Polled::Empty => {}
        }
        let at = match deadline {
            Deadline::Now => return Err(PopError::Empty),
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        };
        // In a busy system the next message is usually microseconds away:
        // poll a little longer before paying for registration and parking.
        for step in 0..SPIN_LIMIT {
            backoff(step);
            match self.poll() {
                Polled::Ready(r) => return Ok(r),
                Polled::Closed => return Err(PopError::Closed),
                Polled::Empty => {}
            }
            if expired(at) {
                return Err(PopError::Timeout);
            }
        }
        self.wait(at)
    }

    /// Registers with every source and waits for one to deliver.
    #[inline(never)]
    fn wait(&mut self, at: Option<Instant>) -> Result<R, PopError> {
        let signal = Arc::clone(self.signal.get_or_insert_with(|| Arc::new(Signal::new())));
        let Select {
            branches,
            watchers,
            rendezvous,
            biased,
            start,
            ..
        } = self;
        // Registered before the first poll below, unregistered on every way
        // out (returns and a panicking closure alike).
        let _watching = Watching::register(watchers, &signal);
        let mut rung = false;
        let mut slice = RENDEZVOUS_POLL_FIRST;
        loop {
            // Lowered before polling: a ring during the poll stays raised and
            // ends the coming sleep at once.
            signal.lower();
            match poll(branches, start, *biased) {
                Polled::Ready(r) => return Ok(r),
                Polled::Closed => return Err(PopError::Closed),
                Polled::Empty => {}
            }
            if *rendezvous && rung {
                // A rendezvous sender rings just before it blocks; it pairs
                // with a poll only once blocked, which takes microseconds.
                for step in 0..SPIN_LIMIT {
                    backoff(step);
                    match poll(branches, start, *biased) {
                        Polled::Ready(r) => return Ok(r),
                        Polled::Closed => return Err(PopError::Closed),
                        Polled::Empty => {}
                    }
                }
            }
            if expired(at) {
                return Err(PopError::Timeout);
            }
            let until = if *rendezvous {
                // A rendezvous sender that looked for selects just before we
                // began to watch will not ring: poll again after a slice
                // that grows while nothing happens (1 ms to 1 s), and starts
                // over after a ring. One that saw us rings while it waits.
                let slice_end = Instant::now() + slice;
                slice = if rung {
                    RENDEZVOUS_POLL_FIRST
                } else {
                    (slice * 2).min(RENDEZVOUS_POLL_MAX)
                };
                Some(at.map_or(slice_end, |at| at.min(slice_end)))
            } else {
                at
            };
            rung = signal.wait_until(until);
        }
    }

    /// Polls every branch once, from where this select starts.
    fn poll(&mut self) -> Polled<R> {
        poll(&mut self.branches, &mut self.start, self.biased)
    }
}

/// Whether a deadline has passed.
fn expired(at: Option<Instant>) -> bool {
    at.is_some_and(|at| Instant::now() >= at)
}

/// A select's doorbell registered with its sources: unregistered on drop.
struct Watching<'s, 'a> {
    /// The sources' doorbell lists.
    watchers: &'s [&'a Watchers],
    /// The doorbell.
    signal: &'s Arc<Signal>,
}

impl<'s, 'a> Watching<'s, 'a> {
    fn register(watchers: &'s [&'a Watchers], signal: &'s Arc<Signal>) -> Watching<'s, 'a> {
        for w in watchers {
            w.watch(signal);
        }
        Watching { watchers, signal }
    }
}

impl Drop for Watching<'_, '_> {
    fn drop(&mut self) {
        for w in self.watchers {
            w.unwatch(self.signal);
        }
    }
}

impl<R> Default for Select<'_, R> {
    /// Same as [`Select::new`]: fair.
    fn default() -> Self {
        Select::new()
    }
}

impl<R> fmt::Debug for Select<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("branches", &self.branches.len())
            .field("biased", &self.biased)
            .field("rendezvous", &self.rendezvous)
            .finish()
    }
}
