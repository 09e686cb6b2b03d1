//! One batch of the writer: its bytes written segment by segment, the
//! rollovers its layout asks for, the sync, and the deletion of segments no
//! live message needs. Only the leader runs it (under the writer's `io`
//! lock), so nothing here waits for anybody.

use std::io;

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
    /// Its first sequence number.
    pub(crate) active: u64,
    /// Where the next write goes in it.
    pub(crate) pos: u64,
    /// Which segments live messages need.
    pub(crate) live: Live,
}

impl Io {
    /// Writes one batch: its bytes segment by segment (rolling over where
    /// the layout says), then a sync if asked; segments no live message
    /// needs are deleted after each sync.
    pub(crate) fn write_batch(
        &mut self,
        storage: &dyn Storage,
        buf: &[u8],
        ops: &[Op],
        sync: bool,
    ) -> io::Result<Done> {
        let mut done = Done::default();
        let mut from = 0;
        for op in ops {
            match *op {
                Op::Record { kind, id } => self.live.apply(self.active, &for_tally(kind, id)),
                Op::Purge => self.live.clear(),
                Op::Roll {
                    at,
                    first_seq,
                    size,
                } => {
                    self.write(buf.get(from..at).unwrap_or(&[]), &mut done)?;
                    // The old segment is complete on disk before a newer one
                    // exists (see "Segments" in `writer.rs`).
                    self.file.sync_data()?;
                    done.syncs += 1;
                    let mut file = storage.create(&segment::name(first_seq))?;
                    file.set_len(size)?;
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
                    // The directory sync after the first deletions also
                    // makes the new segment's entry durable.
                    if !self.delete_unpinned(storage, &mut done)? {
                        storage.sync_dir()?;
                    }
                }
            }
        }
        self.write(buf.get(from..).unwrap_or(&[]), &mut done)?;
        if sync {
            self.file.sync_data()?;
            done.syncs += 1;
            self.delete_unpinned(storage, &mut done)?;
        }
        Ok(done)
    }

    /// Deletes the segments no live message needs, syncing the directory
    /// after each round (a segment that a deleted one's tombstones kept goes
    /// in the next round, once that deletion is durable). Only called right
    /// after a sync: a newer record that made a segment unneeded (a requeue
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
