//! Takes that look at the messages held under the lock (requeued ones,
//! and every message of a bounded(1) queue) as well as at the lanes: the
//! slow side of `Priority::take`, and `evict_lowest`.

use std::sync::atomic::Ordering;

use crate::message::Message;

use super::lanes::Lanes;
use super::state::State;
use super::Priority;

impl<T> Priority<T> {
    /// While messages are held under the lock (requeued ones, or a
    /// bounded(1) queue's): the more urgent of those and the lanes, the
    /// held one on a tie.
    pub(super) fn take_held_first(&self) -> Option<Message<T>> {
        self.take_with_held(|state, lanes| {
            let lane = lanes.highest();
            match (state.highest_level(), lane) {
                (Some(held), Some(lane)) if lane > held => Some(Source::Lane(lane)),
                (Some(_), _) => Some(Source::Held(State::pop_highest)),
                (None, Some(lane)) => Some(Source::Lane(lane)),
                (None, None) => None,
            }
        })
    }

    /// Takes under the lock from where `choose` says, looking again while a
    /// chosen lane turns out empty. Keeps the message's room: the caller
    /// gives it back once the lock is released.
    #[inline(never)]
    pub(super) fn take_with_held(
        &self,
        choose: impl Fn(&State<T>, &Lanes<T>) -> Option<Source<T>>,
    ) -> Option<Message<T>> {
        let mut state = self.hot.state.lock();
        loop {
            match choose(&state, &self.gate.lanes)? {
                Source::Held(take) => {
                    let msg = take(&mut state)?;
                    self.hot.len_hint.store(state.len, Ordering::SeqCst);
                    return Some(msg);
                }
                Source::Lane(level) => {
                    // Under the lock: a receiver that counted itself is
                    // parked already, so notify without taking it again.
                    let reopened = || {
                        if self.gate.sleepers.load(Ordering::SeqCst) > 0 {
                            self.not_empty.notify_one();
                        }
                    };
                    if let Some(msg) = self.gate.lanes.take_or_clear(level, &reopened) {
                        return Some(msg);
                    }
                }
            }
        }
    }
}

/// Where a take under the lock finds its message.
pub(super) enum Source<T> {
    /// Held under the lock: taken with this.
    Held(fn(&mut State<T>) -> Option<Message<T>>),
    /// The front of this level's lane.
    Lane(usize),
}
