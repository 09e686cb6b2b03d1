//! The queue behind a mailbox: a built-in backend, matched statically, or
//! a user's [`Queue`], called through a vtable.

use std::time::Instant;

use crate::error::{PopError, PushError, ReserveError};
use crate::message::Message;
use crate::queue::{Fifo, Priority, Queue};
use crate::sync::OnceLock;
use crate::wait::Deadline;

/// The built-in backends are matched statically, so that the FIFO fast path is
/// crossbeam's own code, inlined; only custom backends pay a virtual call.
// The priority backend is boxed: inline, its cache-padded lock would make
// every mailbox's core 900 bytes (FIFO ones too), which matters for a million
// idle mailboxes; the extra pointer is a load that stays in cache.
pub(super) enum Backend<T: Send> {
    Fifo(Fifo<T>),
    Priority(Box<Priority<T>>),
    Other(Other<T>),
}

/// The backends off the fast paths, one level down: a fourth variant of
/// `Backend` costs every FIFO send and receive a few instructions to decode
/// (callgrind: +8 per send+recv), one level down only these pay.
pub(super) enum Other<T: Send> {
    /// A user's queue.
    Custom(Box<dyn Queue<T>>),
    /// A FIFO made by the first use that needs it: a process's inbox, of
    /// which an office may hold a million idle ones (crossbeam's channel is
    /// 512 bytes before its first message). Not used for plain mailboxes:
    /// every operation pays a load and a branch to find the queue.
    Lazy(LazyFifo<T>),
}

/// A FIFO queue made on first use.
pub(super) struct LazyFifo<T: Send> {
    /// `None` = unbounded; never 0 (a rendezvous is a priority engine).
    capacity: Option<usize>,
    /// The queue, once made.
    fifo: OnceLock<Box<Fifo<T>>>,
}

impl<T: Send> LazyFifo<T> {
    pub(super) fn new(capacity: Option<usize>) -> LazyFifo<T> {
        LazyFifo {
            capacity,
            fifo: OnceLock::new(),
        }
    }

    /// The queue, made now if it was not yet.
    #[inline]
    fn get(&self) -> &Fifo<T> {
        self.fifo.get_or_init(|| {
            // Process inboxes: where direct sends carry a source.
            Box::new(Fifo::sourced(self.capacity))
        })
    }

    /// The queue if it was made: until then it is empty and open (a close
    /// makes it), so the questions that only look need not make it.
    fn made(&self) -> Option<&Fifo<T>> {
        self.fifo.get().map(|fifo| &**fifo)
    }
}

/// Takes from `q` as `deadline` says.
#[inline(always)]
fn pop_from<T: Send>(
    q: &(impl Queue<T> + ?Sized),
    deadline: Deadline,
) -> Result<Message<T>, PopError> {
    match deadline {
        Deadline::Now => q.try_pop(),
        Deadline::At(at) => q.pop(Some(at)),
        Deadline::Never => q.pop(None),
    }
}

impl<T: Send> Other<T> {
    #[inline(never)]
    fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        match self {
            Other::Custom(q) => q.try_push(msg),
            Other::Lazy(lazy) => lazy.get().try_push(msg),
        }
    }

    #[inline(never)]
    fn pop(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        match self {
            Other::Custom(q) => pop_from(&**q, deadline),
            Other::Lazy(lazy) => match lazy.made() {
                Some(q) => pop_from(q, deadline),
                // Nothing was ever pushed into a queue not made yet.
                None if deadline == Deadline::Now => Err(PopError::Empty),
                None => pop_from(lazy.get(), deadline),
            },
        }
    }
}

macro_rules! dispatch {
    ($backend:expr, $q:ident => $body:expr) => {
        match $backend {
            Backend::Fifo($q) => $body,
            Backend::Other(Other::Lazy(lazy)) => {
                let $q = lazy.get();
                $body
            }
            Backend::Priority($q) => $body,
            Backend::Other(Other::Custom($q)) => $body,
        }
    };
}

impl<T: Send> Backend<T> {
    #[inline(always)]
    pub(super) fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        match self {
            Backend::Fifo(q) => q.try_push(msg),
            Backend::Priority(q) => q.try_push(msg),
            // Out of line, so that the send path inlines what it did before
            // the lazy FIFO came (a custom backend's call was out of line
            // anyway).
            Backend::Other(other) => other.try_push(msg),
        }
    }

    pub(super) fn push(
        &self,
        msg: Message<T>,
        deadline: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        dispatch!(self, q => q.push(msg, deadline))
    }

    // Always inlined: the receive path's one call into the backend (-9
    // instructions per send+recv on FIFO, -13 on priority: callgrind).
    #[inline(always)]
    pub(super) fn pop(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        match self {
            Backend::Fifo(q) => pop_from(q, deadline),
            Backend::Priority(q) => pop_from(&**q, deadline),
            Backend::Other(other) => other.pop(deadline),
        }
    }

    /// Takes up to `max` queued messages into `buf` (see
    /// `Queue::try_pop_many`), one dispatch for the batch, and says whether
    /// every message taken is known to be plain (no header extension): the
    /// FIFO backend knows it from its slots; for the others `false` means
    /// "look".
    #[inline]
    pub(super) fn try_pop_many_plain(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
    ) -> Result<(usize, bool), PopError> {
        match self {
            Backend::Fifo(q) => q.take_many(buf, max),
            _ => dispatch!(self, q => q.try_pop_many(buf, max)).map(|n| (n, false)),
        }
    }

    pub(super) fn len(&self) -> usize {
        match self {
            Backend::Other(Other::Lazy(lazy)) => lazy.made().map_or(0, |q| q.len()),
            _ => dispatch!(self, q => q.len()),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        match self {
            Backend::Other(Other::Lazy(lazy)) => lazy.made().is_none_or(|q| q.is_empty()),
            _ => dispatch!(self, q => q.is_empty()),
        }
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        match self {
            Backend::Other(Other::Lazy(lazy)) => lazy.capacity,
            _ => dispatch!(self, q => q.capacity()),
        }
    }

    pub(super) fn close(&self) -> bool {
        dispatch!(self, q => q.close())
    }

    pub(super) fn is_closed(&self) -> bool {
        match self {
            Backend::Other(Other::Lazy(lazy)) => lazy.made().is_some_and(|q| q.is_closed()),
            _ => dispatch!(self, q => q.is_closed()),
        }
    }

    pub(super) fn priority_levels(&self) -> Option<u8> {
        match self {
            // A FIFO has none; asked by `build`, which must not make it.
            Backend::Other(Other::Lazy(_)) => None,
            _ => dispatch!(self, q => q.priority_levels()),
        }
    }

    pub(super) fn requeue(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        dispatch!(self, q => q.requeue(msg))
    }

    pub(super) fn evict_lowest(&self, at_most: u8) -> Option<Message<T>> {
        dispatch!(self, q => q.evict_lowest(at_most))
    }

    /// The offer engine of a rendezvous (FIFO or priority) that async
    /// senders leave their messages on; `None` for other capacities and
    /// custom backends.
    pub(super) fn rendezvous(&self) -> Option<&Priority<T>> {
        match self {
            Backend::Priority(q) if q.capacity() == Some(0) => Some(q),
            _ => None,
        }
    }

    /// Holds one unit of room for a permit: `Ok(true)` if held, `Ok(false)`
    /// if nothing needs holding (unbounded) or can be (a custom backend,
    /// which only says whether there is room now).
    pub(super) fn try_reserve(&self) -> Result<bool, ReserveError> {
        match self {
            Backend::Fifo(q) => q.try_reserve(),
            Backend::Other(Other::Lazy(lazy)) => lazy.get().try_reserve(),
            Backend::Priority(q) => q.try_reserve().map(|()| true),
            Backend::Other(Other::Custom(q)) => {
                if q.is_closed() {
                    Err(ReserveError::Closed)
                } else if q.capacity().is_none_or(|cap| cap == 0 || q.len() < cap) {
                    Ok(false)
                } else {
                    Err(ReserveError::Full)
                }
            }
        }
    }

    /// A held permit's message, into its room.
    pub(super) fn push_reserved(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        match self {
            Backend::Fifo(q) => q.push_reserved(msg),
            Backend::Other(Other::Lazy(lazy)) => lazy.get().push_reserved(msg),
            Backend::Priority(q) => q.push_reserved(msg),
            Backend::Other(Other::Custom(q)) => q.try_push(msg),
        }
    }

    /// A message restored from a durable mailbox's log, behind the others,
    /// whatever the capacity. A custom backend that is full takes it as a
    /// requeue (at the front); one that refuses hands it back.
    pub(super) fn restore(&self, msg: Message<T>) -> Result<(), Message<T>> {
        match self {
            Backend::Fifo(q) => {
                q.push_restored(msg);
                Ok(())
            }
            Backend::Other(Other::Lazy(lazy)) => {
                lazy.get().push_restored(msg);
                Ok(())
            }
            Backend::Priority(q) => {
                q.push_restored(msg);
                Ok(())
            }
            Backend::Other(Other::Custom(q)) => match q.try_push(msg) {
                Ok(()) => Ok(()),
                Err(err) => q
                    .requeue(err.into_message())
                    .map_err(PushError::into_message),
            },
        }
    }

    /// A held permit dropped unused: its room goes back.
    pub(super) fn unreserve(&self) {
        match self {
            Backend::Fifo(q) => q.unreserve(),
            Backend::Other(Other::Lazy(lazy)) => lazy.get().unreserve(),
            Backend::Priority(q) => q.unreserve(),
            Backend::Other(Other::Custom(_)) => {}
        }
    }
}
