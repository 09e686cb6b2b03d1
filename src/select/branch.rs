//! A select's branches: a source and its closure, with the source's
//! message type erased, and one poll over all of them (fair: from after the
//! last winner; biased: from the first).

use crate::error::TryRecvError;
use crate::message::Message;

use super::Source;

/// What one poll of a branch (or of all of them) found.
pub(super) enum Polled<R> {
    /// A message was taken and handed to the closure: its result.
    Ready(R),
    /// Nothing now (on some branch that is still open).
    Empty,
    /// Closed and empty (every branch, for a poll of all).
    Closed,
}

/// A source and its closure, with the source's message type erased.
pub(super) trait Branch<R> {
    /// Takes a message if one is there and runs the closure on it.
    fn poll(&mut self) -> Polled<R>;
}

/// The one kind of branch: receive from `source`, hand the message to `f`.
pub(super) struct RecvBranch<'a, S, F> {
    /// Where messages come from.
    pub(super) source: &'a S,
    /// What to do with one.
    pub(super) f: F,
}

impl<S, F, R> Branch<R> for RecvBranch<'_, S, F>
where
    S: Source,
    F: FnMut(Message<S::Item>) -> R,
{
    #[inline]
    fn poll(&mut self) -> Polled<R> {
        match self.source.try_take() {
            Ok(msg) => Polled::Ready((self.f)(msg)),
            Err(TryRecvError::Empty) => Polled::Empty,
            Err(TryRecvError::Closed) => Polled::Closed,
        }
    }
}

/// Polls every branch once: from `start` (and moves `start` past the winner)
/// when fair, from the first when biased. `branches` is not empty.
#[inline]
pub(super) fn poll<R>(
    branches: &mut [Box<dyn Branch<R> + '_>],
    start: &mut usize,
    biased: bool,
) -> Polled<R> {
    let n = branches.len();
    let first = if biased || *start >= n { 0 } else { *start };
    let mut closed = 0;
    for k in 0..n {
        let i = if first + k < n {
            first + k
        } else {
            first + k - n
        };
        match branches[i].poll() {
            Polled::Ready(r) => {
                // Round robin over the ready branches: the next call starts
                // after this winner.
                *start = i + 1;
                return Polled::Ready(r);
            }
            Polled::Closed => closed += 1,
            Polled::Empty => {}
        }
    }
    if closed == n {
        Polled::Closed
    } else {
        Polled::Empty
    }
}
