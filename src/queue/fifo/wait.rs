//! How FIFO callers wait: a send for room, a receive for a message, and
//! both sides of a rendezvous. The fast paths in `mod.rs` come here only
//! when crossbeam's `try_send` / `try_recv` failed; see the module docs there
//! for why a wait is a `Select` over the data channel and the signals.

use std::time::Instant;

use crossbeam_channel as cb;

use crate::error::{PopError, PushError};
use crate::message::Message;
use crate::queue::Queue;
use crate::sync::{backoff, SPIN_LIMIT};

use super::Fifo;

/// The smallest capacity whose full queue a blocked sender yields on at
/// once instead of spinning first (see `push_blocking`).
const YIELD_FIRST_CAPACITY: usize = 64;

impl<T: Send> Fifo<T> {
    #[inline(never)]
    pub(super) fn push_blocking(
        &self,
        mut msg: Message<T>,
        deadline: Option<Instant>,
    ) -> Result<(), PushError<T>> {
        if self.lane.capacity() == Some(0) {
            // No spinning: on a zero-capacity channel a try only succeeds
            // against a registered partner, so two spinning sides never meet.
            return self.push_rendezvous(msg, deadline);
        }
        // A full queue of this size does not drain in the time a spin takes:
        // its consumers are behind. Spinning, each `try_push` read the lines
        // the consumers write (crossbeam's head and slot stamps) and slowed
        // them, which kept the queue full: the job loop with acks settled in
        // that regime in most runs (2x2 bounded(1024), 314-320 ns per
        // message, against 117-154 yielding). Yielding at once leaves those
        // lines alone and hands the core to a consumer. A small queue (a
        // bounded(1) ping-pong) frees its slot within a spin, so it spins.
        let yield_first = self
            .lane
            .capacity()
            .is_some_and(|cap| cap >= YIELD_FIRST_CAPACITY);
        for step in 0..SPIN_LIMIT {
            if yield_first {
                std::thread::yield_now();
            } else {
                backoff(step);
            }
            msg = match self.try_push(msg) {
                Err(PushError::Full(m)) => m,
                done => return done,
            };
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Err(PushError::Timeout(msg));
            }
        }
        let kit = self.wait_kit();
        loop {
            // Wait until there is room or the queue closes, without taking a
            // slot: if both happen at once, closing must win, or a sender woken
            // by a close that drained the queue would slip its message in.
            // While permits hold room, the channel's own readiness says
            // nothing (it has room the permits hold): wait for a room token.
            let gated = self.is_gated();
            let mut sel = cb::Select::new();
            if gated {
                sel.recv(&kit.room_rx);
            } else {
                self.lane.select_send(&mut sel);
            }
            sel.recv(&kit.close_rx);
            let ready = match deadline {
                None => Ok(sel.ready()),
                Some(at) => sel.ready_deadline(at),
            };
            if ready.is_err() {
                return Err(PushError::Timeout(msg));
            }
            if gated {
                // Taken before the look, as receivers take wake tokens.
                let _ = kit.room_rx.try_recv();
            }
            // try_push checks the closed flag first; Full means another sender
            // took the room we were woken for: wait again.
            msg = match self.try_push(msg) {
                Err(PushError::Full(m)) => m,
                done => {
                    if gated {
                        self.pass_room_on();
                    }
                    return done;
                }
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
        let close_rx = &self.wait_kit().close_rx;
        let mut sel = cb::Select::new();
        let data = self.lane.select_send(&mut sel);
        sel.recv(close_rx);
        let oper = match deadline {
            None => sel.select(),
            Some(at) => match sel.select_deadline(at) {
                Ok(oper) => oper,
                Err(_) => return Err(PushError::Timeout(msg)),
            },
        };
        if oper.index() == data {
            self.lane
                .send_selected(oper, msg)
                .map_err(PushError::Closed)
        } else {
            // The close signal: it only ever disconnects.
            let _ = oper.recv(close_rx);
            Err(PushError::Closed(msg))
        }
    }

    #[inline(never)]
    pub(super) fn pop_blocking(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        if self.lane.capacity() == Some(0) {
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
        let wake_rx = &self.wait_kit().wake_rx;
        loop {
            // Look before every wait, the first time included: a requeue that
            // came before the wake channel was made left no token, but the
            // lock that made the channel orders it before this look.
            match self.try_pop() {
                Err(PopError::Empty) => {}
                done => return done,
            }
            let mut sel = cb::Select::new();
            self.lane.select_recv(&mut sel);
            sel.recv(wake_rx);
            let ready = match deadline {
                None => Ok(sel.ready()),
                Some(at) => sel.ready_deadline(at),
            };
            if ready.is_err() {
                return Err(PopError::Timeout);
            }
            // Take the token (if any) before looking, never after: a token
            // taken after the look could stand for a requeue the look missed,
            // and its receiver would sleep on. Then look: Empty means another
            // receiver took the message we were woken for; after a close
            // (the wake channel disconnected), try_pop still hands out what
            // is queued.
            let _ = wake_rx.try_recv();
        }
    }

    /// A rendezvous receive registers a real operation, so that a sender
    /// waiting for readiness or trying without waiting can pair with it; the
    /// wake channel is a second real operation, so a requeue token is taken
    /// by exactly the receiver it wakes.
    #[inline(never)]
    fn pop_rendezvous(&self, deadline: Option<Instant>) -> Result<Message<T>, PopError> {
        let wake_rx = &self.wait_kit().wake_rx;
        loop {
            // Look at the side queue before every wait, the first time
            // included (see pop_blocking). Only the side queue: crossbeam's
            // try_recv already failed in `pop`, and a rendezvous sender that
            // comes later pairs with the select below.
            if self.maybe_requeued() {
                if let Some(msg) = self.pop_requeued() {
                    return Ok(msg);
                }
            }
            let mut sel = cb::Select::new();
            let data = self.lane.select_recv(&mut sel);
            sel.recv(wake_rx);
            let oper = match deadline {
                None => sel.select(),
                Some(at) => match sel.select_deadline(at) {
                    Ok(oper) => oper,
                    Err(_) => return Err(PopError::Timeout),
                },
            };
            if oper.index() == data {
                return match self.lane.recv_selected(oper) {
                    Some(msg) => Ok(msg),
                    None => self.pop_closed(),
                };
            }
            match oper.recv(wake_rx) {
                // A token: a requeue; look again.
                Ok(()) => {}
                // Disconnected: closed, but what was queued (requeued first)
                // is still ours to hand out.
                Err(_) => return self.pop_closed(),
            }
        }
    }
}
