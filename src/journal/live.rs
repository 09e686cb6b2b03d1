//! Which segments replay still needs: the live tally that decides when a
//! segment can be deleted.
//!
//! A segment is needed while some message that is still live (enqueued, not
//! acked, not dead-lettered) has a record in it that replay would use: its
//! last `Enqueue`, its last `Requeued` (the redelivery count) and a
//! `Delivered` after that (the "possibly delivered" flag). Each such record
//! *pins* its segment. Counting only `Enqueue`s would be wrong: a segment of
//! acked messages may also hold the `Requeued` of an older, live one, and
//! deleting it would reset that message's redelivery count at the next open.
//!
//! A record that *voids* an older one pins its own segment as long as the
//! older one's segment exists (a *tombstone* pin): an `Ack` or `DeadLetter`
//! voids its message's `Enqueue`, a second `Enqueue` of an id the first, a
//! `CleanClose` every `Delivered` before it. Without it, a segment of acks
//! could go while the segment of their enqueues stays for the sake of
//! another message, and the acked messages would come back.
//!
//! A `DeliveredRange` pins its segment for every live message it covers
//! (their `Delivered`, in effect), and for as long as it is among the
//! ranges that may cover later enqueues (see `ranges.rs`): a message
//! enqueued after it and delivered under its cover relies on it.
//!
//! A segment with no pin, other than the active one, is deleted. Everything
//! else in it is safe to lose: records about ids whose `Enqueue` is gone
//! (replay ignores them), `Start` markers (the active segment's own carries
//! the highest id forward).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use super::idtable::IdTable;
use super::ranges::Ranges;
use super::record::Record;
use super::segpins::SegmentPins;

/// A map keyed by message id, with [`IdHasher`].
pub(crate) type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A set of message ids, with [`IdHasher`].
pub(crate) type IdSet = std::collections::HashSet<u64, BuildHasherDefault<IdHasher>>;

/// The hasher of [`IdMap`]: two multiplications instead of SipHash.
/// Message ids are chosen by the mailbox, not by an adversary of the
/// process, so nothing calls for a keyed hash.
///
/// The hash keeps consecutive ids in neighbouring buckets: a queue's
/// messages are enqueued, delivered and acked roughly in id order, so
/// lookups (replay's, and the tally's of ids outside its window, see
/// `idtable.rs`) walk the table instead of missing the cache on each of
/// them (with 10^5 live messages a scattered lookup costs a cache miss,
/// which made the tally the largest cost of a durable receive once the
/// receive stopped writing per message). The table takes a bucket from the
/// low bits and compares the top 7 in its probe groups, so: the low bits
/// are the id XOR a mix of its id block (a sender numbers its messages
/// from blocks of 2^16, whose equal offsets would otherwise share buckets),
/// and the top 7 bits are a multiplicative mix of the whole id.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; anything else still hashes.
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        const MIX: u64 = 0x9e37_79b9_7f4a_7c15;
        const TOP: u64 = 0xfe00_0000_0000_0000;
        let id = self.0.rotate_left(5) ^ id;
        let low = id ^ (id >> 16).wrapping_mul(MIX).rotate_left(32);
        self.0 = (id.wrapping_mul(MIX) & TOP) | (low & !TOP);
    }
}

/// Counts per segment, for a run of messages: a run's messages were
/// enqueued and delivered in a few segments, so a short list searched from
/// its newest entry beats a map update per message.
#[derive(Debug, Default)]
struct Counts(Vec<(u64, u64)>);

impl Counts {
    /// Counts `n` more for `segment`.
    fn add(&mut self, segment: u64, n: u64) {
        match self.0.iter_mut().rev().find(|(s, _)| *s == segment) {
            Some((_, count)) => *count += n,
            None => self.0.push((segment, n)),
        }
    }
}

/// No segment: segments are named by their first sequence number, which is
/// at least 1.
const NONE: u64 = 0;

/// The segments (named by first sequence number) whose records replay uses
/// for one live message. 24 bytes, so that an entry and its key fill half a
/// cache line (`Option<u64>` would take 16 bytes each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pins {
    /// The segment of its last `Enqueue`.
    enqueue: u64,
    /// The segment of its last `Requeued` after that, or [`NONE`].
    requeued: u64,
    /// The segment of its last `Delivered` after those, or [`NONE`].
    delivered: u64,
}

impl Pins {
    /// Every segment pinned, one entry per pin.
    fn each(self) -> impl Iterator<Item = u64> {
        [self.enqueue, self.requeued, self.delivered]
            .into_iter()
            .filter(|&segment| segment != NONE)
    }
}

/// The live messages' pins and every segment's pin count.
#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Each live message's pins (`idtable.rs`: ids in order need no
    /// hashing).
    messages: IdTable<Pins>,
    /// Every existing segment and how many pins it holds.
    segments: SegmentPins,
    /// For a segment, the segments holding records that void some of its
    /// records, and how many: each holds that many pins until this one is
    /// deleted. A count per pair of segments, not an entry per ack: the
    /// memory is bounded by the segments, not by the acks.
    tombstones: BTreeMap<u64, BTreeMap<u64, u64>>,
    /// A segment's count dropped to zero since the last
    /// [`take_unpinned`](Live::take_unpinned).
    maybe_unpinned: bool,
    /// The latest delivery ranges, tagged with their segment (each holding
    /// a pin on it).
    ranges: Ranges,
}

impl Live {
    /// Makes room for `messages` more live messages (replay's estimate),
    /// so that the table does not grow step by step.
    pub(crate) fn reserve(&mut self, messages: usize) {
        self.messages.reserve(messages);
    }

    /// Adds a segment (with no pins yet).
    pub(crate) fn add_segment(&mut self, first_seq: u64) {
        self.segments.add(first_seq, 0);
    }

    /// Forgets a segment (its file is being replaced or was skipped).
    pub(crate) fn remove_segment(&mut self, first_seq: u64) {
        self.segments.remove(first_seq);
        self.release_tombstones(first_seq);
        self.ranges.remove_tag(first_seq);
    }

    /// Forgets the delivery ranges (a reopened log: every new id is above
    /// them, so they cover no later message), releasing their pins.
    pub(crate) fn forget_ranges(&mut self) {
        for segment in self.ranges.clear() {
            self.unpin_one(segment);
        }
    }

    /// Takes account of `record`, written to (or read from) `segment`.
    pub(crate) fn apply(&mut self, segment: u64, record: &Record<'_>) {
        match *record {
            Record::Enqueue { id, .. } => {
                // Enqueued under a range's cover: it may be delivered
                // without a record of its own, so the range's segment is
                // its `Delivered` from the start (one table operation per
                // enqueue, not an insert and then a lookup).
                let pins = Pins {
                    enqueue: segment,
                    requeued: NONE,
                    delivered: self.ranges.find(id).unwrap_or(NONE),
                };
                self.pin(pins);
                // A second enqueue of an id replaces the message.
                if let Some(old) = self.messages.insert(id, pins) {
                    self.unpin(old);
                    self.tombstone(old.enqueue, segment);
                }
            }
            Record::DeliveredRange { first, last } => {
                self.deliver_range(segment, first, last);
                self.segments.add(segment, 1);
                if let Some(old) = self.ranges.push(first, last, segment) {
                    self.unpin_one(old);
                }
            }
            Record::Ack { id } | Record::DeadLetter { id } => {
                if let Some(old) = self.messages.remove(id) {
                    self.unpin(old);
                    self.tombstone(old.enqueue, segment);
                }
            }
            Record::AckRange { first, last } => self.ack_range(segment, first, last),
            Record::Delivered { id } => self.repin(id, segment, false),
            Record::Requeued { id, .. } => self.repin(id, segment, true),
            Record::CleanClose => {
                let mut voided = Vec::new();
                self.messages.for_each(|pins| {
                    let delivered = std::mem::replace(&mut pins.delivered, NONE);
                    if delivered != NONE {
                        voided.push(delivered);
                    }
                });
                for delivered in voided {
                    self.unpin_one(delivered);
                    self.tombstone(delivered, segment);
                }
                self.forget_ranges();
            }
            Record::Start { .. } => {}
        }
    }

    /// Forgets every message (a purge): every segment is left unpinned, so
    /// that all but the active one go at once (tombstones included: nothing
    /// in them matters once every older record is gone).
    pub(crate) fn clear(&mut self) {
        self.messages.clear();
        self.tombstones.clear();
        self.ranges.clear();
        self.segments.zero_all();
        self.maybe_unpinned = true;
    }

    /// The number of live messages.
    pub(crate) fn messages(&self) -> usize {
        self.messages.len()
    }

    /// The number of segments.
    pub(crate) fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Takes out and returns every segment other than `active` that holds no
    /// pin: the caller deletes them, and syncs the directory before the next
    /// call (their tombstones are released, so segments that the next call
    /// returns were pinned by these until the deletion was durable).
    pub(crate) fn take_unpinned(&mut self, active: u64) -> Vec<u64> {
        if !std::mem::take(&mut self.maybe_unpinned) {
            return Vec::new();
        }
        let dead: Vec<u64> = self
            .segments
            .iter()
            .filter(|&(segment, pins)| pins == 0 && segment != active)
            .map(|(segment, _)| segment)
            .collect();
        for &segment in &dead {
            self.remove_segment(segment);
        }
        dead
    }

    /// Marks that segments may have become deletable without a pin being
    /// dropped (a new active segment leaves the old one to the tally).
    pub(crate) fn recheck(&mut self) {
        self.maybe_unpinned = true;
    }

    /// An `AckRange` in `segment`: what an `Ack` of each id does, with the
    /// pin counts changed once per segment rather than once per message
    /// (the ids of a range were enqueued, and delivered under ranges, in a
    /// few segments: a lookup in `segments` and `tombstones` per ack was
    /// most of the tally's work).
    fn ack_range(&mut self, segment: u64, first: u64, last: u64) {
        let mut unpins = Counts::default();
        // Enqueue segments, and the tombstones owed to each.
        let mut voided = Counts::default();
        let mut count = |pins: Pins, n: u64| {
            for pinned in pins.each() {
                unpins.add(pinned, n);
            }
            voided.add(pins.enqueue, n);
        };
        // Consecutive messages mostly have the same pins (enqueued in one
        // segment, delivered under ranges in one): a run of equal pins is
        // counted once.
        let mut run: Option<(Pins, u64)> = None;
        self.messages.remove_in(first, last, |old| match &mut run {
            Some((pins, n)) if *pins == old => *n += 1,
            _ => {
                if let Some((pins, n)) = run.replace((old, 1)) {
                    count(pins, n);
                }
            }
        });
        if let Some((pins, n)) = run {
            count(pins, n);
        }
        for (pinned, n) in unpins.0 {
            self.unpin_n(pinned, n);
        }
        for (older, n) in voided.0 {
            self.tombstone_n(older, segment, n);
        }
    }

    /// A `DeliveredRange` in `segment`: moves the `Delivered` pin of each
    /// live message with an id in `first..=last` there, with the pin counts
    /// changed once per segment rather than once per message (as
    /// [`ack_range`](Live::ack_range) does).
    fn deliver_range(&mut self, segment: u64, first: u64, last: u64) {
        // Pins taken from older segments, and how many moved to `segment`.
        let mut unpins = Counts::default();
        let mut moved = 0u64;
        self.messages.for_each_in(first, last, |pins| {
            // Another delivery in the same segment changes no count.
            if pins.delivered != segment {
                if pins.delivered != NONE {
                    unpins.add(pins.delivered, 1);
                }
                pins.delivered = segment;
                moved += 1;
            }
        });
        // Added before the old ones drop, as a message's own move does.
        if moved > 0 {
            self.segments.add(segment, moved);
        }
        for (pinned, n) in unpins.0 {
            self.unpin_n(pinned, n);
        }
    }

    /// Moves a live message's `Delivered` pin (or, for a requeue, its
    /// `Requeued` pin, dropping the `Delivered` one it makes void) to
    /// `segment`. Records about an id that is not live pin nothing.
    fn repin(&mut self, id: u64, segment: u64, requeue: bool) {
        let Some(pins) = self.messages.get_mut(id) else {
            return;
        };
        let old = *pins;
        if requeue {
            pins.requeued = segment;
            pins.delivered = NONE;
        } else {
            pins.delivered = segment;
        }
        let new = *pins;
        // Only the pins that moved change counts (another delivery in the
        // same segment, the usual case, changes none).
        for (was, now) in [(old.requeued, new.requeued), (old.delivered, new.delivered)] {
            if was != now {
                if now != NONE {
                    self.segments.add(now, 1);
                }
                if was != NONE {
                    self.unpin_one(was);
                }
            }
        }
    }

    /// Makes `newer` stay while `older` exists: it holds a record that voids
    /// one in `older`.
    fn tombstone(&mut self, older: u64, newer: u64) {
        self.tombstone_n(older, newer, 1);
    }

    /// [`tombstone`](Live::tombstone) for `n` records at once.
    fn tombstone_n(&mut self, older: u64, newer: u64, n: u64) {
        if older == newer || !self.segments.contains(older) {
            return;
        }
        self.segments.add(newer, n);
        *self
            .tombstones
            .entry(older)
            .or_default()
            .entry(newer)
            .or_insert(0) += n;
    }

    /// Releases the tombstone pins that `gone` held on newer segments.
    fn release_tombstones(&mut self, gone: u64) {
        for (newer, count) in self.tombstones.remove(&gone).unwrap_or_default() {
            self.unpin_n(newer, count);
        }
    }

    /// Adds one pin to each segment `pins` names.
    fn pin(&mut self, pins: Pins) {
        for segment in pins.each() {
            self.segments.add(segment, 1);
        }
    }

    /// Drops one pin from each segment `pins` names.
    fn unpin(&mut self, pins: Pins) {
        for segment in pins.each() {
            self.unpin_one(segment);
        }
    }

    /// Drops one pin from `segment`.
    fn unpin_one(&mut self, segment: u64) {
        self.unpin_n(segment, 1);
    }

    /// Drops `n` pins from `segment`.
    fn unpin_n(&mut self, segment: u64, n: u64) {
        if let Some(count) = self.segments.get_mut(segment) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.maybe_unpinned = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_segment_lives_while_a_live_message_needs_it() {
        let mut live = Live::default();
        for segment in [1, 10, 20] {
            live.add_segment(segment);
        }
        live.apply(
            1,
            &Record::Enqueue {
                id: 7,
                payload: b"",
            },
        );
        live.apply(
            1,
            &Record::Enqueue {
                id: 8,
                payload: b"",
            },
        );
        live.apply(10, &Record::Ack { id: 8 });
        // The requeue of 7 in segment 10 keeps it too.
        live.apply(
            10,
            &Record::Requeued {
                id: 7,
                redeliveries: 1,
            },
        );
        assert!(live.take_unpinned(20).is_empty());
        live.apply(
            20,
            &Record::Requeued {
                id: 7,
                redeliveries: 2,
            },
        );
        // 10 has no requeue in force now, but its ack of 8 must outlive
        // segment 1, which still holds 8's enqueue.
        assert!(live.take_unpinned(20).is_empty());
        live.apply(20, &Record::Delivered { id: 7 });
        live.apply(20, &Record::Ack { id: 7 });
        // Segment 1 goes; 20 is active and stays; 10 goes once 1 is gone.
        assert_eq!(live.take_unpinned(20), vec![1]);
        assert_eq!(live.take_unpinned(20), vec![10]);
        assert_eq!((live.messages(), live.segments()), (0, 1));
    }

    #[test]
    fn records_about_unknown_ids_pin_nothing() {
        let mut live = Live::default();
        live.add_segment(1);
        live.add_segment(5);
        live.apply(5, &Record::Delivered { id: 3 });
        live.apply(5, &Record::Ack { id: 3 });
        live.recheck();
        assert_eq!(live.take_unpinned(5), vec![1]);
    }

    #[test]
    fn a_clean_close_stays_while_the_deliveries_it_voids_do() {
        let mut live = Live::default();
        for segment in [1, 2, 3] {
            live.add_segment(segment);
        }
        live.apply(
            1,
            &Record::Enqueue {
                id: 1,
                payload: b"",
            },
        );
        live.apply(1, &Record::Delivered { id: 1 });
        live.apply(2, &Record::CleanClose);
        live.recheck();
        assert!(live.take_unpinned(3).is_empty());
        live.apply(3, &Record::Ack { id: 1 });
        assert_eq!(live.take_unpinned(3), vec![1]);
        assert_eq!(live.take_unpinned(3), vec![2]);
    }

    #[test]
    fn clear_releases_everything() {
        let mut live = Live::default();
        live.add_segment(1);
        live.add_segment(2);
        live.apply(
            1,
            &Record::Enqueue {
                id: 1,
                payload: b"",
            },
        );
        live.apply(2, &Record::Delivered { id: 1 });
        live.clear();
        assert_eq!(live.take_unpinned(3), vec![1, 2]);
    }

    #[test]
    fn an_old_message_keeps_its_segments_while_thousands_after_it_come_and_go() {
        let mut live = Live::default();
        for segment in 1..=4 {
            live.add_segment(segment);
        }
        let enqueue = |id| Record::Enqueue { id, payload: b"" };
        live.apply(1, &enqueue(1));
        // The messages after it, delivered and acked in runs of 64: the
        // table moves the old one out of its window meanwhile
        // (`idtable.rs`), and must not lose it.
        for id in 2..5002 {
            live.apply(2, &enqueue(id));
        }
        for first in (2..5002).step_by(64) {
            let last = first + 63;
            live.apply(2, &Record::DeliveredRange { first, last });
            live.apply(2, &Record::AckRange { first, last });
        }
        assert_eq!(live.messages(), 1);
        // A requeue of the old one pins segment 3; its enqueue, segment 1.
        live.apply(
            3,
            &Record::Requeued {
                id: 1,
                redeliveries: 1,
            },
        );
        live.recheck();
        assert!(live.take_unpinned(4).is_empty());
        live.apply(4, &Record::Ack { id: 1 });
        // Segment 2 stays for its delivery ranges, 4 is active.
        assert_eq!(live.take_unpinned(4), vec![1, 3]);
        assert_eq!(live.messages(), 0);
    }
}
