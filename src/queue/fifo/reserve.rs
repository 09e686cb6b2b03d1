//! Room held for permits (`Sender::reserve_async`), on top of crossbeam's
//! channel, which cannot hold room without a message.
//!
//! A permit's reservation is a count in `status` (`ONE_RESERVED` steps),
//! taken under the side lock when the channel, the late lane and the
//! reservations together leave room. While the count is not zero, every
//! push takes the gated path: under the same lock, it goes in only if the
//! channel's length, the late lane's and the reservations together leave
//! room. The fast path does not pay for this: it already loads `status` for
//! the closed bit and tests a wider mask.
//!
//! **The late lane.** A send that loaded `status` just before a reservation
//! was taken pushes on the fast path and may take the room the permit was
//! promised. The permit's message must still go in without waiting, so it
//! goes to the late lane, a queue behind the channel (pops take it once the
//! channel is empty), and the `LATE` bit sends every later push behind it,
//! in order: a send that starts after a permit's message went in leaves
//! after it. Only sends racing the reservation (by nanoseconds) can overtake
//! it, and they were concurrent with it. The lane empties as receivers take
//! from it, and the bit clears with its last message.
//!
//! **Blocked senders.** While reservations or a late lane exist, the
//! channel's own readiness says nothing (it may have room the permits hold),
//! so a blocked sender waits on the room channel (`room_rx`) instead. Every
//! pop that frees room while the queue is gated leaves a token there (it
//! reads `status` after its pop, SeqCst, so a sender that found the queue
//! full under the lock either sees the pop's room or gets the token), and
//! so does every permit given back unused. One slot is enough: a sender
//! that takes a token and finds room left after its push passes a token on.

use std::sync::atomic::Ordering;

use crossbeam_channel as cb;

use crate::error::{PushError, ReserveError};
use crate::message::Message;

use super::{Fifo, Side, CLOSED, GATED, KEEP_REQUEUED, LATE, ONE_RESERVED, RESERVED_MASK};

impl<T> Side<T> {
    /// Messages in the late lane.
    fn late_len(&self) -> usize {
        self.late.as_ref().map_or(0, |late| late.len())
    }
}

/// The room held by permits, from a `status` word.
fn reserved(status: usize) -> usize {
    (status & RESERVED_MASK) / ONE_RESERVED
}

impl<T: Send> Fifo<T> {
    /// Whether pushes take the gated path for reservations or a late lane
    /// (not just for a close).
    pub(super) fn is_gated(&self) -> bool {
        self.status.load(Ordering::SeqCst) & (RESERVED_MASK | LATE) != 0
    }

    /// Whether one more message fits, counting the channel, the late lane
    /// and the room permits hold. Under the side lock.
    fn fits(&self, side: &Side<T>, status: usize) -> bool {
        match self.lane.capacity() {
            None => true,
            Some(cap) => self.lane.len() + side.late_len() + reserved(status) < cap,
        }
    }

    /// The push of a closed or gated queue (see the module docs).
    #[cold]
    #[inline(never)]
    pub(super) fn push_gated(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let mut side = self.side.lock();
        let status = self.status.load(Ordering::SeqCst);
        if status & CLOSED != 0 {
            return Err(PushError::Closed(msg));
        }
        if !self.fits(&side, status) {
            return Err(PushError::Full(msg));
        }
        if status & LATE != 0 {
            // Behind the permits' messages already in the lane.
            side.late.get_or_insert_with(Box::default).push_back(msg);
            side.signals.wake_one();
            return Ok(());
        }
        self.lane.try_send(msg).map_err(|err| match err {
            cb::TrySendError::Full(m) => PushError::Full(m),
            cb::TrySendError::Disconnected(m) => PushError::Closed(m),
        })
    }

    /// Holds one unit of room for a permit: `Ok(true)` if held, `Ok(false)`
    /// on an unbounded queue (nothing to hold).
    pub(crate) fn try_reserve(&self) -> Result<bool, ReserveError> {
        if matches!(self.lane.capacity(), None | Some(0)) {
            return if self.status.load(Ordering::Acquire) & CLOSED != 0 {
                Err(ReserveError::Closed)
            } else {
                Ok(false)
            };
        }
        let side = self.side.lock();
        let status = self.status.load(Ordering::SeqCst);
        if status & CLOSED != 0 {
            return Err(ReserveError::Closed);
        }
        if !self.fits(&side, status) {
            return Err(ReserveError::Full);
        }
        self.status.fetch_add(ONE_RESERVED, Ordering::SeqCst);
        Ok(true)
    }

    /// A held permit's message, into the room it holds: the channel, or the
    /// late lane if a racing send took that room (see the module docs).
    /// Fails only if the queue closed meanwhile.
    pub(crate) fn push_reserved(&self, msg: Message<T>) -> Result<(), PushError<T>> {
        let mut side = self.side.lock();
        let status = self.status.load(Ordering::SeqCst);
        let pushed = if status & CLOSED != 0 {
            Err(PushError::Closed(msg))
        } else if status & LATE != 0 {
            side.late.get_or_insert_with(Box::default).push_back(msg);
            side.signals.wake_one();
            Ok(())
        } else {
            match self.lane.try_send(msg) {
                Ok(()) => Ok(()),
                Err(cb::TrySendError::Full(msg)) => {
                    side.late.get_or_insert_with(Box::default).push_back(msg);
                    self.status.fetch_or(LATE, Ordering::SeqCst);
                    side.signals.wake_one();
                    Ok(())
                }
                Err(cb::TrySendError::Disconnected(msg)) => Err(PushError::Closed(msg)),
            }
        };
        self.status.fetch_sub(ONE_RESERVED, Ordering::SeqCst);
        pushed
    }

    /// A message restored from a durable mailbox's log: into the channel
    /// while it has room, then into the late lane (which keeps the order),
    /// whatever the capacity.
    pub(crate) fn push_restored(&self, msg: Message<T>) {
        let mut side = self.side.lock();
        let msg = if self.status.load(Ordering::SeqCst) & LATE == 0 {
            match self.lane.try_send(msg) {
                Ok(()) => return,
                Err(cb::TrySendError::Full(m) | cb::TrySendError::Disconnected(m)) => m,
            }
        } else {
            msg
        };
        side.late.get_or_insert_with(Box::default).push_back(msg);
        self.status.fetch_or(LATE, Ordering::SeqCst);
        side.signals.wake_one();
    }

    /// A permit dropped unused: its room goes back, to a blocked sender if
    /// one waits.
    pub(crate) fn unreserve(&self) {
        let side = self.side.lock();
        self.status.fetch_sub(ONE_RESERVED, Ordering::SeqCst);
        side.signals.room_one();
    }

    /// A pop freed room: while the queue is gated, senders blocked on it
    /// wait for a token. One load when it is not.
    #[inline(always)]
    pub(super) fn room_freed(&self) {
        if self.status.load(Ordering::SeqCst) & (GATED & !CLOSED) != 0 {
            self.side.lock().signals.room_one();
        }
    }

    /// A sender woken by a room token pushed: if room is left, another
    /// blocked sender may use it (one token slot stands for any amount).
    pub(super) fn pass_room_on(&self) {
        let side = self.side.lock();
        let status = self.status.load(Ordering::SeqCst);
        if status & (RESERVED_MASK | LATE) != 0 && self.fits(&side, status) {
            side.signals.room_one();
        }
    }

    /// Takes the front of the late lane; clears `LATE` with its last
    /// message, and passes the wake-up on if more are left.
    pub(super) fn pop_late(&self) -> Option<Message<T>> {
        let mut guard = self.side.lock();
        let side = &mut *guard;
        let late = side.late.as_mut()?;
        let msg = late.pop_front();
        if late.is_empty() {
            self.status.fetch_and(!LATE, Ordering::SeqCst);
            if late.capacity() > KEEP_REQUEUED {
                side.late = None;
            }
        } else {
            side.signals.wake_one();
        }
        if msg.is_some() {
            side.signals.room_one();
        }
        msg
    }

    /// Messages in the late lane (takes the side lock).
    pub(super) fn late_len(&self) -> usize {
        self.side.lock().late_len()
    }
}
