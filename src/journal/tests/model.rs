//! A reference replay (written apart from `replay.rs`, as plainly as
//! possible) and a random workload of log operations.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::super::fault::Rng;
use super::super::ranges::{RANGES, RANGE_SPAN};
use super::super::{AppendError, Journal, Restored};

/// One operation on the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    /// Enqueue a message.
    Enqueue(u64, Vec<u8>),
    /// Ack it.
    Ack(u64),
    /// Dead-letter it.
    DeadLetter(u64),
    /// Hand it to a consumer, recording it at once (lingering).
    Delivered(u64),
    /// Hand it to a consumer as the mailbox does (`Journal::deliver`: a
    /// delivery range, or nothing).
    Deliver(u64),
    /// Give it back with a redelivery count.
    Requeued(u64, u32),
    /// Write and sync everything (`Journal::flush`).
    Flush,
}

impl Op {
    /// Applies it to `journal`.
    pub(crate) fn run(&self, journal: &Journal) -> Result<u64, AppendError> {
        match self {
            Op::Enqueue(id, payload) => journal.enqueue(*id, payload),
            Op::Ack(id) => journal.ack(*id),
            Op::DeadLetter(id) => journal.dead_letter(*id),
            Op::Delivered(id) => journal.delivered(*id),
            Op::Deliver(id) => journal.deliver(*id).map(|()| 0),
            Op::Requeued(id, n) => journal.requeued(*id, *n),
            Op::Flush => journal.flush(),
        }
    }
}

/// What replaying `ops` on top of `base` must give.
pub(crate) fn replay(base: &[Restored], ops: &[Op]) -> Vec<Restored> {
    // Keyed by enqueue order.
    let mut order = 0u64;
    let mut messages: BTreeMap<u64, Restored> = BTreeMap::new();
    for m in base {
        messages.insert(order, m.clone());
        order += 1;
    }
    let find = |messages: &BTreeMap<u64, Restored>, id: u64| {
        messages
            .iter()
            .find(|(_, m)| m.id == id)
            .map(|(&key, _)| key)
    };
    // The delivery ranges in force and the ids requeued since (what
    // `Journal::deliver` decides by), as the module docs of `ranges.rs`
    // describe them.
    let mut ranges: VecDeque<(u64, u64)> = VecDeque::new();
    let mut requeued: BTreeSet<u64> = BTreeSet::new();
    let covered = |ranges: &VecDeque<(u64, u64)>, id: u64| {
        ranges
            .iter()
            .any(|&(first, last)| first <= id && id <= last)
    };
    for op in ops {
        match op {
            Op::Enqueue(id, payload) => {
                if let Some(key) = find(&messages, *id) {
                    messages.remove(&key);
                }
                requeued.remove(id);
                messages.insert(
                    order,
                    Restored {
                        id: *id,
                        payload: payload.clone(),
                        possibly_delivered: covered(&ranges, *id),
                        redeliveries: 0,
                    },
                );
                order += 1;
            }
            Op::Ack(id) | Op::DeadLetter(id) => {
                requeued.remove(id);
                if let Some(key) = find(&messages, *id) {
                    messages.remove(&key);
                }
            }
            Op::Deliver(id) => {
                if requeued.remove(id) {
                    // A redelivery after a requeue: a `Delivered` of its own.
                    if let Some(key) = find(&messages, *id) {
                        if let Some(m) = messages.get_mut(&key) {
                            m.possibly_delivered = true;
                        }
                    }
                } else if !covered(&ranges, *id) {
                    // A new range: every live message in it is flagged.
                    let last = id.saturating_add(RANGE_SPAN - 1);
                    for m in messages.values_mut() {
                        if *id <= m.id && m.id <= last {
                            m.possibly_delivered = true;
                        }
                    }
                    if ranges.len() == RANGES {
                        ranges.pop_front();
                    }
                    ranges.push_back((*id, last));
                }
                // Else covered: flagged already, by its range or its
                // enqueue under it.
            }
            Op::Delivered(id) => {
                if let Some(key) = find(&messages, *id) {
                    if let Some(m) = messages.get_mut(&key) {
                        m.possibly_delivered = true;
                    }
                }
            }
            Op::Requeued(id, n) => {
                requeued.insert(*id);
                if let Some(key) = find(&messages, *id) {
                    if let Some(m) = messages.get_mut(&key) {
                        m.possibly_delivered = false;
                        m.redeliveries = *n;
                    }
                }
            }
            Op::Flush => {}
        }
    }
    messages.into_values().collect()
}

/// A random sequence of operations on live messages, ids increasing.
#[derive(Debug)]
pub(crate) struct Workload {
    /// The randomness.
    rng: Rng,
    /// The next id to enqueue.
    next_id: u64,
    /// Live ids and their redelivery counts.
    live: Vec<(u64, u32)>,
    /// The largest payload.
    max_payload: u64,
    /// Deliveries go through `Journal::deliver` (ranges) half the time.
    ranges: bool,
}

impl Workload {
    /// A workload from `seed`, starting at `first_id` with `live` messages.
    pub(crate) fn new(seed: u64, first_id: u64, live: &[Restored], max_payload: u64) -> Workload {
        Workload {
            rng: Rng::new(seed),
            next_id: first_id,
            live: live.iter().map(|m| (m.id, m.redeliveries)).collect(),
            max_payload,
            ranges: false,
        }
    }

    /// The same, with half the deliveries made as the mailbox makes them
    /// (`Op::Deliver`).
    pub(crate) fn with_ranges(mut self) -> Workload {
        self.ranges = true;
        self
    }

    /// The next operation.
    pub(crate) fn next_op(&mut self) -> Op {
        let roll = self.rng.below(100);
        if self.live.is_empty() || roll < 55 {
            let id = self.next_id;
            self.next_id += 1;
            let len = self.rng.below(self.max_payload + 1) as usize;
            let payload = (0..len).map(|_| self.rng.next() as u8).collect();
            self.live.push((id, 0));
            return Op::Enqueue(id, payload);
        }
        let i = self.rng.below(self.live.len() as u64) as usize;
        let (id, count) = self.live[i];
        match roll {
            55..=69 => {
                self.live.swap_remove(i);
                Op::Ack(id)
            }
            70..=74 => {
                self.live.swap_remove(i);
                Op::DeadLetter(id)
            }
            75..=86 if self.ranges && roll.is_multiple_of(2) => Op::Deliver(id),
            75..=86 => Op::Delivered(id),
            87..=98 => {
                self.live[i].1 = count + 1;
                Op::Requeued(id, count + 1)
            }
            _ => Op::Flush,
        }
    }
}
