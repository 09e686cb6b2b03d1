//! The queue behind a mailbox: a built-in backend, matched statically, or
//! a user's [`Queue`], called through a vtable.

use std::time::Instant;

use crate::error::{PopError, PushError};
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

    #[inline]
    pub(super) fn pop(&self, deadline: Deadline) -> Result<Message<T>, PopError> {
        dispatch!(self, q => match deadline {
            Deadline::Now => q.try_pop(),
            Deadline::At(at) => q.pop(Some(at)),
            Deadline::Never => q.pop(None),
        })
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
}
