//! The queue behind a mailbox: a built-in backend, matched statically, or
//! a user's [`Queue`], called through a vtable.

use std::time::Instant;

use crate::error::{PopError, PushError, ReserveError};
use crate::message::Message;
use crate::queue::{Fifo, Priority, Queue};
use crate::wait::Deadline;

/// The built-in backends are matched statically, so that the FIFO fast path is
/// crossbeam's own code, inlined; only custom backends pay a virtual call.
// The priority backend is boxed: inline, its cache-padded lock would make
// every mailbox's core 900 bytes (FIFO ones too), which matters for a million
// idle mailboxes; the extra pointer is a load that stays in cache.
pub(super) enum Backend<T: Send> {
    Fifo(Fifo<T>),
    Priority(Box<Priority<T>>),
    Custom(Box<dyn Queue<T>>),
}

macro_rules! dispatch {
    ($backend:expr, $q:ident => $body:expr) => {
        match $backend {
            Backend::Fifo($q) => $body,
            Backend::Priority($q) => $body,
            Backend::Custom($q) => $body,
        }
    };
}

impl<T: Send> Backend<T> {
    #[inline(always)]
    pub(super) fn try_push(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        dispatch!(self, q => q.try_push(msg))
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
        dispatch!(self, q => match deadline {
            Deadline::Now => q.try_pop(),
            Deadline::At(at) => q.pop(Some(at)),
            Deadline::Never => q.pop(None),
        })
    }

    /// Takes up to `max` queued messages into `buf` (see
    /// `Queue::try_pop_many`): one dispatch for the batch.
    #[inline]
    pub(super) fn try_pop_many(
        &self,
        buf: &mut Vec<Message<T>>,
        max: usize,
    ) -> Result<usize, PopError> {
        dispatch!(self, q => q.try_pop_many(buf, max))
    }

    pub(super) fn len(&self) -> usize {
        dispatch!(self, q => q.len())
    }

    pub(super) fn capacity(&self) -> Option<usize> {
        dispatch!(self, q => q.capacity())
    }

    pub(super) fn close(&self) -> bool {
        dispatch!(self, q => q.close())
    }

    pub(super) fn is_closed(&self) -> bool {
        dispatch!(self, q => q.is_closed())
    }

    pub(super) fn priority_levels(&self) -> Option<u8> {
        dispatch!(self, q => q.priority_levels())
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
            Backend::Priority(q) => q.try_reserve().map(|()| true),
            Backend::Custom(q) => {
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
            Backend::Priority(q) => q.push_reserved(msg),
            Backend::Custom(q) => q.try_push(msg),
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
            Backend::Priority(q) => {
                q.push_restored(msg);
                Ok(())
            }
            Backend::Custom(q) => match q.try_push(msg) {
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
            Backend::Priority(q) => q.unreserve(),
            Backend::Custom(_) => {}
        }
    }
}
