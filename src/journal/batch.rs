//! One batch of the writer: its bytes written segment by segment, the
//! rollovers its layout asks for, the sync, and the deletion of segments no
//! live message needs. Only the leader runs it (under the writer's `io`
//! lock), so nothing here waits for anybody. The writer's syncs run beside
//! it, through a second handle on the active segment, and then tell it how
//! far the log is synced ([`Io::synced`]): only then does the tally take
//! the records and delete segments.

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
    /// Which segments live messages need, as of the records known synced
    /// (see [`Io::synced`]).
    pub(crate) live: Live,
    /// Records written to the active segment and not yet known synced, in
    /// order, for the tally: applied once a sync covers them.
    pending: VecDeque<Pending>,
    /// The sequence number of the first record in `pending`.
    pending_from: u64,
}

/// A written record the tally has not taken yet.
#[derive(Debug, Clone, Copy)]
enum Pending {
    /// A record: its kind and id.
    Record(Kind, u64),
    /// A purge (after the record before it).
    Purge,
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
            pending: VecDeque::new(),
            pending_from: 0,
        })
    }

    /// Writes one batch, whose first record has sequence number
    /// `first_seq`: its bytes segment by segment, rolling over where the
    /// layout says. No sync, except at a rollover: the old segment is synced
    /// before the new one exists, and then everything written is on disk, so
    /// the tally takes every record so far and segments no live message
    /// needs are deleted. ([`Done::rolled`] says how far that synced.)
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
                Op::Record { kind, id } => {
                    if self.pending.is_empty() {
                        self.pending_from = seq;
                    }
                    self.pending.push_back(Pending::Record(kind, id));
                    seq = seq.saturating_add(1);
                }
                Op::Purge => self.pending.push_back(Pending::Purge),
                Op::Roll {
                    at,
                    first_seq,
                    size,
                } => {
                    self.write(buf.get(from..at).unwrap_or(&[]), &mut done)?;
                    // The old segment is complete on disk before a newer one
                    // exists (see "Segments" in `writer.rs`). This sync runs
                    // under the `io` lock, so nothing else is written until
                    // the new segment is there: every record so far (all in
                    // this segment or in older ones, each synced at its own
                    // rollover) is now synced, and the tally may take them.
                    self.file.sync_data()?;
                    done.syncs += 1;
                    self.settle(u64::MAX);
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
                    // The directory sync after the first deletions also
                    // makes the new segment's entry durable.
                    if !self.delete_unpinned(storage, &mut done)? {
                        storage.sync_dir()?;
                    }
                }
            }
        }
        self.write(buf.get(from..).unwrap_or(&[]), &mut done)?;
        if let Some(rolled) = done.rolled {
            // Everything up to the last Start record is synced: the tally
            // takes a purge right after it (the Start itself changes
            // nothing), and the segments it leaves unneeded go.
            self.settle(rolled);
            self.delete_unpinned(storage, &mut done)?;
        }
        Ok(done)
    }

    /// A sync of the active segment that began after record `upto` was
    /// written has returned: the tally takes every record up to `upto`, and
    /// the segments that no live message needs any more are deleted.
    ///
    /// Only records known synced enter the tally, so a deletion is always
    /// decided by records that are on disk: a newer record that made a
    /// segment unneeded (an ack, a requeue that replaces an older count) can
    /// never be lost to a power loss after the older segment is gone. Records
    /// written while the sync ran (batches that wait for no sync) wait in
    /// `pending` for the next one.
    pub(crate) fn synced(&mut self, storage: &dyn Storage, upto: u64) -> io::Result<Done> {
        let mut done = Done::default();
        self.settle(upto);
        self.delete_unpinned(storage, &mut done)?;
        Ok(done)
    }

    /// Applies to the tally the pending records up to sequence number
    /// `upto` (and the purges among them).
    fn settle(&mut self, upto: u64) {
        while let Some(&front) = self.pending.front() {
            match front {
                Pending::Purge => self.live.clear(),
                Pending::Record(kind, id) => {
                    if self.pending_from > upto {
                        return;
                    }
                    self.live.apply(self.active, &for_tally(kind, id));
                    self.pending_from = self.pending_from.saturating_add(1);
                }
            }
            self.pending.pop_front();
        }
    }

    /// Deletes the segments no live message needs, syncing the directory
    /// after each round (a segment that a deleted one's tombstones kept goes
    /// in the next round, once that deletion is durable). The tally holds
    /// only synced records (see [`Io::synced`]): a newer record that made a segment unneeded (a requeue
    /// that replaces an older one's count, say) must be on disk before the
    /// older record is gone, or a power loss could bring back a stale state.
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
    }
}
