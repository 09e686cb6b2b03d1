//! One batch of the writer: its bytes written segment by segment, the
//! rollovers its layout asks for, the sync, and the deletion of segments no
//! live message needs. Only the leader runs it (under the writer's `io`
//! lock), so nothing here waits for anybody. The writer's syncs run beside
//! it, through a second handle on the active segment, and then tell it how
//! far the log is synced ([`Io::synced`]): segments are deleted only when
//! that covers every record the tally took.
//!
//! # The tally runs behind the writes
//!
//! A batch does not update the live tally itself: it queues what the tally
//! needs of each record (`untallied`), and the background thread takes
//! that in bounded steps ([`Io::tally`]) at most `LINGER` later. A
//! consumer that leads a batch (a delivery range, and the acks queued
//! before it) so pays for a `write`, not for a hash-map update per message.
//! Every deletion decision first tallies everything written (a rollover,
//! a sync's [`Io::synced`], a purge), so segments are deleted on the word
//! of the same records as before; a tally that is behind only ever keeps
//! segments longer (its pins are those of an older prefix of the log,
//! whose later records only move pins to the active segment or drop them).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;

use super::live::Live;
use super::record::{self, Kind, Record};
use super::segment;
use super::storage::{Storage, StorageFile};

/// The room left at the end of every segment for its end marker.
pub(crate) const END: u64 = 4;

/// The size of a `Start` record.
pub(crate) const START_SIZE: usize = record::FRAME + record::MIN_LEN + 8;

/// One entry of a batch, beside the encoded bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    /// A record, for the live tally.
    Record {
        /// Its kind.
        kind: Kind,
        /// The message it is about, if any.
        id: u64,
    },
    /// A `DeliveredRange` record, for the live tally.
    Range {
        /// The lowest id it covers.
        first: u64,
        /// The highest.
        last: u64,
    },
    /// An `AckRange` record, for the live tally.
    Acks {
        /// The lowest id acked.
        first: u64,
        /// The highest.
        last: u64,
    },
    /// A new segment starts at byte `at` of the batch.
    Roll {
        /// The offset in the batch's bytes.
        at: usize,
        /// The new segment's first sequence number (its name).
        first_seq: u64,
        /// Its preallocated size.
        size: u64,
    },
    // Reached only from the journal's tests (`Journal::purge`, `wait_durable`).
    #[cfg_attr(not(test), allow(dead_code))]
    /// Every message so far is dropped.
    Purge,
}

/// What only the leader touches: the active segment and the live tally.
#[derive(Debug)]
pub(crate) struct Io {
    /// The active segment.
    pub(crate) file: Box<dyn StorageFile>,
    /// A second handle on the active segment, for the writer's syncs, which
    /// run without the `io` lock (a batch may be written meanwhile). Replaced
    /// at each rollover, after the old segment was synced.
    pub(crate) sync_file: Arc<Mutex<Box<dyn StorageFile>>>,
    /// Its first sequence number.
    pub(crate) active: u64,
    /// Where the next write goes in it.
    pub(crate) pos: u64,
    /// Which segments live messages need, as of every record written
    /// (synced or not: see [`Io::synced`] for when it may delete).
    pub(crate) live: Live,
    /// The sequence number of the last record the tally took (0: none
    /// since open, whose records are all synced).
    tallied: u64,
    /// Records written and not yet taken by the tally, in log order, with
    /// the segment each is in.
    untallied: VecDeque<Untallied>,
    /// The ids those records name, summed: the tally's work they stand for.
    untallied_ids: u64,
}

/// A record written and not yet taken by the tally.
#[derive(Debug, Clone, Copy)]
struct Untallied {
    /// The segment it is in.
    segment: u64,
    /// Its sequence number.
    seq: u64,
    /// What the tally reads of it (`Op::Record`, `Range` or `Acks`).
    op: Op,
}

/// How many ids' worth of records may wait for the tally before the leader
/// takes them itself (the background thread is starved): bounds the
/// memory, and the `io` lock's hold by whoever tallies them all.
const MAX_UNTALLIED_IDS: u64 = 1 << 16;

/// The records `untallied` holds before it grows (see `Io::new`).
const UNTALLIED_CAPACITY: usize = 4096;

impl Untallied {
    /// The ids it names: its share of the tally's work.
    fn ids(&self) -> u64 {
        match self.op {
            Op::Range { first, last } | Op::Acks { first, last } => {
                last.saturating_sub(first).saturating_add(1)
            }
            _ => 1,
        }
    }
}

impl Io {
    /// The writer's state on `file`, the active segment `active`, whose next
    /// record goes at `pos`, with the tally of every record before (all of
    /// them synced).
    pub(crate) fn new(
        file: Box<dyn StorageFile>,
        active: u64,
        pos: u64,
        live: Live,
    ) -> io::Result<Io> {
        let sync_file = Arc::new(Mutex::new(file.try_clone()?));
        Ok(Io {
            file,
            sync_file,
            active,
            pos,
            live,
            tallied: 0,
            // Sized up front (4096 records, 192 KiB, touched only as used)
            // so that it does not grow on a consumer's thread, which leads
            // most batches of a drain: a growing buffer past 1 KiB makes
            // glibc's `malloc` consolidate the fast bins the consumer's
            // freed bodies sit in, about 30 instructions a message over a
            // fresh mailbox's first 20,000 receives (callgrind, cg bench).
            untallied: VecDeque::with_capacity(UNTALLIED_CAPACITY),
            untallied_ids: 0,
        })
    }

    /// Writes one batch, whose first record has sequence number
    /// `first_seq`: its bytes segment by segment, rolling over where the
    /// layout says, each record taken by the tally as it goes (per record,
    /// in the batch: nothing piles up for later). No sync, except at a
    /// rollover: the old segment is synced before the new one exists, and
    /// then every record the tally took so far is on disk, so segments no
    /// live message needs are deleted. ([`Done::rolled`] says how far that
    /// synced.)
    pub(crate) fn write_batch(
        &mut self,
        storage: &dyn Storage,
        buf: &[u8],
        ops: &[Op],
        first_seq: u64,
    ) -> io::Result<Done> {
        let mut done = Done::default();
        let mut from = 0;
        let mut seq = first_seq;
        for op in ops {
            match *op {
                Op::Record { .. } | Op::Range { .. } | Op::Acks { .. } => {
                    let record = Untallied {
                        segment: self.active,
                        seq,
                        op: *op,
                    };
                    self.untallied_ids = self.untallied_ids.saturating_add(record.ids());
                    self.untallied.push_back(record);
                    seq = seq.saturating_add(1);
                }
                Op::Purge => {
                    self.tally_all();
                    self.live.clear();
                    // A purge comes right after its rollover's Start: the
                    // tally took nothing since that rollover synced, and
                    // every older segment goes now (the purge returns once
                    // that is on disk).
                    if done.rolled == Some(self.tallied) {
                        self.delete_unpinned(storage, &mut done)?;
                    }
                }
                Op::Roll {
                    at,
                    first_seq,
                    size,
                } => {
                    self.write(buf.get(from..at).unwrap_or(&[]), &mut done)?;
                    // The deletion below goes on the word of every record
                    // before the rollover (and the untallied ones are in the
                    // old segment: they must not be taken as the new one's).
                    self.tally_all();
                    // The old segment is complete on disk before a newer one
                    // exists (see "Segments" in `writer.rs`). This sync runs
                    // under the `io` lock, so nothing else is written until
                    // the new segment is there: every record the tally took
                    // (the ops before this one, and earlier batches: all in
                    // this segment or in older ones, each synced at its own
                    // rollover) is now synced.
                    self.file.sync_data()?;
                    done.syncs += 1;
                    let mut file = storage.create(&segment::name(first_seq))?;
                    file.set_len(size)?;
                    // A sync in flight on the old segment finishes before
                    // its handle is replaced (it holds the mutex); one that
                    // starts later syncs the new segment, which covers what
                    // it promises, since the old one is synced already.
                    let sync_file = file.try_clone()?;
                    *self.sync_file.lock() = sync_file;
                    self.file = file;
                    self.active = first_seq;
                    self.pos = 0;
                    self.live.add_segment(first_seq);
                    self.live.recheck();
                    done.created += 1;
                    // Its Start record (queued first in it) carries the
                    // highest id: durable before any older segment, which
                    // may be the last to name that id, is deleted.
                    let start_end = at.saturating_add(START_SIZE).min(buf.len());
                    self.write(buf.get(at..start_end).unwrap_or(&[]), &mut done)?;
                    from = start_end;
                    self.file.sync_data()?;
                    done.syncs += 1;
                    done.rolled = Some(first_seq);
                    // The tally holds only the records before the Start
                    // (its op comes after this one), all synced: segments
                    // may go on its word. The directory sync after the
                    // first deletions also makes the new segment's entry
                    // durable.
                    if !self.delete_unpinned(storage, &mut done)? {
                        storage.sync_dir()?;
                    }
                }
            }
        }
        // The records after the last rollover are not synced: no deletion
        // on their word here (a sync's `synced` does it, or the next
        // rollover).
        self.write(buf.get(from..).unwrap_or(&[]), &mut done)?;
        if self.untallied_ids > MAX_UNTALLIED_IDS {
            self.tally_all();
        }
        Ok(done)
    }

    /// Has the tally take untallied records, in log order, until about
    /// `budget` ids' worth are taken (at least one record). Returns whether
    /// some are left.
    pub(crate) fn tally(&mut self, budget: u64) -> bool {
        let mut spent = 0u64;
        while spent < budget {
            let Some(record) = self.untallied.pop_front() else {
                break;
            };
            let ids = record.ids();
            spent = spent.saturating_add(ids);
            self.untallied_ids = self.untallied_ids.saturating_sub(ids);
            let segment = record.segment;
            match record.op {
                Op::Record { kind, id } => self.live.apply(segment, &for_tally(kind, id)),
                Op::Range { first, last } => {
                    self.live
                        .apply(segment, &Record::DeliveredRange { first, last });
                }
                Op::Acks { first, last } => {
                    self.live.apply(segment, &Record::AckRange { first, last });
                }
                Op::Roll { .. } | Op::Purge => {}
            }
            self.tallied = record.seq;
        }
        !self.untallied.is_empty()
    }

    /// Has the tally take every record written.
    fn tally_all(&mut self) {
        self.tally(u64::MAX);
    }

    /// Whether written records wait for the tally.
    pub(crate) fn behind(&self) -> bool {
        !self.untallied.is_empty()
    }

    /// A sync of the active segment that began after record `upto` was
    /// written has returned: if that covers every record the tally took,
    /// the segments that no live message needs any more are deleted.
    ///
    /// A deletion is decided only by a tally of records that are all on
    /// disk: a newer record that made a segment unneeded (an ack, a requeue
    /// that replaces an older count) can never be lost to a power loss after
    /// the older segment is gone. If a batch was written while the sync ran
    /// (records that wait for no sync, senders who came meanwhile), the
    /// tally holds records the sync may not cover, and the deletion waits
    /// for a sync that covers them, or for the next rollover (which syncs
    /// everything under the `io` lock): a segment stays on disk a little
    /// longer, never too short.
    pub(crate) fn synced(&mut self, storage: &dyn Storage, upto: u64) -> io::Result<Done> {
        let mut done = Done::default();
        self.tally_all();
        if upto >= self.tallied {
            self.delete_unpinned(storage, &mut done)?;
        }
        Ok(done)
    }

    /// Deletes the segments no live message needs, syncing the directory
    /// after each round (a segment that a deleted one's tombstones kept goes
    /// in the next round, once that deletion is durable). Only called when
    /// every record the tally took is synced (see [`Io::synced`]): a newer
    /// record that made a segment unneeded (a requeue that replaces an older
    /// one's count, say) must be on disk before the older record is gone, or
    /// a power loss could bring back a stale state.
    /// Returns whether it deleted any.
    fn delete_unpinned(&mut self, storage: &dyn Storage, done: &mut Done) -> io::Result<bool> {
        let mut any = false;
        loop {
            let dead = self.live.take_unpinned(self.active);
            if dead.is_empty() {
                return Ok(any);
            }
            for &first_seq in &dead {
                match storage.remove(&segment::name(first_seq)) {
                    Ok(()) => {}
                    // Already gone: nothing to delete.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                done.deleted += 1;
            }
            storage.sync_dir()?;
            any = true;
        }
    }

    /// Writes `bytes` at the end of the active segment.
    fn write(&mut self, bytes: &[u8], done: &mut Done) -> io::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.file.write_at(self.pos, bytes)?;
        self.pos += bytes.len() as u64;
        done.writes += 1;
        Ok(())
    }
}

/// What one batch did.
#[derive(Debug, Default)]
pub(crate) struct Done {
    /// `write` calls.
    pub(crate) writes: u64,
    /// fdatasync calls.
    pub(crate) syncs: u64,
    /// Segments created.
    pub(crate) created: u64,
    /// Segments deleted.
    pub(crate) deleted: u64,
    /// The first sequence number of the last segment this batch created:
    /// every record up to it is synced.
    pub(crate) rolled: Option<u64>,
}

/// A record standing for one in a batch, for the live tally (which reads
/// only the kind and the id).
fn for_tally(kind: Kind, id: u64) -> Record<'static> {
    match kind {
        Kind::Enqueue => Record::Enqueue { id, payload: &[] },
        Kind::Ack => Record::Ack { id },
        Kind::DeadLetter => Record::DeadLetter { id },
        Kind::Delivered => Record::Delivered { id },
        Kind::Requeued => Record::Requeued {
            id,
            redeliveries: 0,
        },
        Kind::Start => Record::Start { max_id: id },
        Kind::CleanClose => Record::CleanClose,
        // Queued as `Op::Range` and `Op::Acks`, with both ends.
        Kind::DeliveredRange => Record::DeliveredRange {
            first: id,
            last: id,
        },
        Kind::AckRange => Record::Ack { id },
    }
}
