//! The writer: appends records in sequence order, batches concurrent
//! appenders into one write and one fdatasync (group commit), rolls segments
//! over, deletes the ones no live message needs, and tells waiters and
//! callbacks how far the log is durable.
//!
//! # Group commit
//!
//! Appenders share writes and syncs: whoever finds records queued and
//! nobody writing leads the next batch (`commit.rs` has the leader, the
//! sync beside it, and the background thread).
//!
//! Records nobody waits for (acks, requeues, dead letters) ride along with
//! the next batch; if none comes, the background thread writes them
//! `LINGER` (2 ms) later, or an appender does once 16 KiB wait. A process
//! crash may lose them (at least once: the module docs); a drop or a close
//! writes them first. A delivery waits for the write of a record that
//! covers it, which is usually written already (`deliver`, `ranges.rs`).
//!
//! # Segments
//!
//! A segment is preallocated (`set_len`) to the segment size, or to a record
//! that is larger. Before a new one is made, the old one is synced: a segment
//! that is not the last is then always complete on disk, which is what lets
//! replay call any damage there corruption rather than a torn tail. The
//! directory is synced after each segment is created and after deletions.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use super::batch::{Io, Op, END};
use super::error::AppendError;
use super::live::IdSet;
use super::ranges::{Ranges, RANGE_SPAN};
use super::record::{self, Record};
use super::storage::{LockGuard, Storage, StorageFile};
use super::SyncPolicy;

mod acks;
mod commit;
mod covered;

use self::acks::{AckTail, OpenAcks};
use self::covered::Covered;

/// A callback told the new durable sequence number after each advance.
pub(crate) type OnDurable = Arc<dyn Fn(u64) + Send + Sync>;

/// What an appender waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Nothing: the record rides along with the next write.
    Nothing,
    /// The record was handed to the OS (`write` returned).
    Written,
    /// The record is durable as the policy defines it: synced for `Always`
    /// and `Every`, written for `Buffered`.
    Durable,
    /// The record was synced, whatever the policy (flush, close).
    Synced,
}

/// Counters of the writer's work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct JournalStats {
    /// Records appended since open.
    pub(crate) records: u64,
    /// Batches written (one `write` each, per segment).
    pub(crate) batches: u64,
    /// The most records one batch held.
    pub(crate) max_batch: u64,
    /// fdatasync calls on segments.
    pub(crate) syncs: u64,
    /// Bytes written.
    pub(crate) bytes: u64,
    /// Segments the log has now.
    pub(crate) segments: u64,
    /// Segments created since open.
    pub(crate) segments_created: u64,
    /// Segments deleted since open (at open included).
    pub(crate) segments_deleted: u64,
    /// Live messages (enqueued, not acked or dead-lettered) as of the
    /// records the tally took (it runs at most about `LINGER` behind the
    /// writes, and catches up at every sync and rollover).
    pub(crate) live: u64,
    /// The highest sequence number written.
    pub(crate) written_seq: u64,
    /// The highest sequence number durable under the policy.
    pub(crate) durable_seq: u64,
}

/// The queue of records waiting to be written, and what waiters look at.
#[derive(Debug)]
struct Queue {
    /// Encoded, sealed records waiting to be written, in sequence order.
    buf: Vec<u8>,
    /// What `buf` holds, in order.
    ops: Vec<Op>,
    /// Records in `ops`.
    queued: u64,
    /// The next sequence number to hand out.
    next_seq: u64,
    /// Bytes of the active segment taken by records written or queued.
    seg_used: u64,
    /// The size of the active segment as laid out.
    seg_size: u64,
    /// The highest message id in any record so far.
    max_id: u64,
    /// Someone is writing a batch.
    leader: bool,
    /// Someone is syncing the active segment (without the `io` lock: a
    /// batch may be written meanwhile).
    syncing: bool,
    /// Appenders blocked until their record is written or synced.
    waiting: usize,
    /// The highest sequence number a waiter needs synced.
    want_sync: u64,
    /// When the oldest queued record that nobody waits for was queued: the
    /// background thread writes it [`LINGER`] after that, if no batch took
    /// it first.
    lingering_since: Option<Instant>,
    /// When the background thread tallies the records written and not yet
    /// tallied (`batch.rs`), if any wait.
    tally_at: Option<Instant>,
    /// When the background thread will look next (`None`: when told).
    background_wakes: Option<Instant>,
    /// The highest sequence number written.
    written: u64,
    /// The highest sequence number synced.
    synced: u64,
    /// When the oldest write not yet synced was made (for `Every`).
    unsynced_since: Option<Instant>,
    /// The I/O error that stopped the log, if one did.
    failed: Option<Arc<io::Error>>,
    /// No more records are taken.
    closed: bool,
    /// The background syncer must stop.
    shutdown: bool,
    /// Counters.
    stats: JournalStats,
    /// Spare buffers, to reuse their allocations.
    spare: (Vec<u8>, Vec<Op>),
    /// The latest delivery ranges, tagged with their records' sequence
    /// numbers: a delivery they cover needs no record (`ranges.rs`).
    ranges: Ranges,
    /// Ids requeued since: their next delivery needs a `Delivered` of its
    /// own, as a requeue ends a range's cover at replay.
    requeued: IdSet,
    /// The last record queued, if it is an ack run still open to the next
    /// id (`acks.rs`).
    open_acks: Option<OpenAcks>,
}

/// Where the writer starts: the state open recovered.
#[derive(Debug)]
pub(crate) struct Start {
    /// The active segment and the live tally.
    pub(crate) io: Io,
    /// The active segment's size.
    pub(crate) seg_size: u64,
    /// The next sequence number.
    pub(crate) next_seq: u64,
    /// The highest message id seen.
    pub(crate) max_id: u64,
    /// Segments deleted during open.
    pub(crate) deleted: u64,
    /// Segments created during open.
    pub(crate) created: u64,
    /// Whether the log's meta file allows `AckRange` records.
    pub(crate) ack_ranges: bool,
}

/// The writer's state, shared by every appender.
pub(crate) struct Writer {
    /// The directory.
    storage: Arc<dyn Storage>,
    /// When appends return and when syncs happen.
    policy: SyncPolicy,
    /// The size new segments are preallocated to.
    segment_size: u64,
    /// Whether consecutive acks may be written as one `AckRange` (the
    /// log's meta file says its readers know the kind: `acks.rs`).
    ack_ranges: bool,
    /// Records waiting, and the waiters' view.
    queue: Mutex<Queue>,
    /// Notified after every batch and every sync, and on close: waiters
    /// for a write.
    changed: Condvar,
    /// Waiters for a sync: notified after every sync, on close, and after
    /// a batch only when one of them has something to do (see
    /// `published`). A consumer's deliveries, written one batch each while
    /// a sync is in flight, would otherwise wake every sender each time.
    sync_waiters: Condvar,
    /// Wakes the background thread (a deadline earlier than the one it
    /// sleeps to, or shutdown).
    background: Condvar,
    /// The leader's state.
    io: Mutex<Io>,
    /// The syncers' handle on the active segment (see `Io::sync_file`).
    sync_file: Arc<Mutex<Box<dyn StorageFile>>>,
    /// The durable sequence number, readable without the lock.
    durable: AtomicU64,
    /// The newest written delivery range, for deliveries that need no
    /// lock (`covered.rs`).
    covered: Covered,
    /// The open ack run's last id, for acks that need no lock (`acks.rs`).
    ack_tail: AckTail,
    /// Callbacks told each advance of `durable`.
    callbacks: RwLock<Arc<[OnDurable]>>,
    /// The last durable sequence number told to the callbacks; held while
    /// telling them, so that they see the numbers in increasing order.
    reported: Mutex<u64>,
    /// Bumped by every leader that advanced `durable`, so that one that found
    /// `reported` busy leaves the telling to the thread holding it.
    report_requests: AtomicU64,
    /// The directory lock, released when the writer goes.
    _lock: LockGuard,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("policy", &self.policy)
            .field("segment_size", &self.segment_size)
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer that goes on from `start`, holding `lock`.
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        policy: SyncPolicy,
        segment_size: u64,
        start: Start,
        lock: LockGuard,
    ) -> Writer {
        let last = start.next_seq.saturating_sub(1);
        let stats = JournalStats {
            segments: start.io.live.segments() as u64,
            segments_created: start.created,
            segments_deleted: start.deleted,
            live: start.io.live.messages() as u64,
            written_seq: last,
            durable_seq: last,
            ..JournalStats::default()
        };
        Writer {
            storage,
            policy,
            segment_size,
            ack_ranges: start.ack_ranges,
            queue: Mutex::new(Queue {
                buf: Vec::new(),
                ops: Vec::new(),
                queued: 0,
                next_seq: start.next_seq,
                seg_used: start.io.pos,
                seg_size: start.seg_size,
                max_id: start.max_id,
                leader: false,
                syncing: false,
                waiting: 0,
                want_sync: 0,
                lingering_since: None,
                tally_at: None,
                background_wakes: None,
                // Open synced everything it found (or cut it off).
                written: last,
                synced: last,
                unsynced_since: None,
                failed: None,
                closed: false,
                shutdown: false,
                stats,
                spare: (Vec::new(), Vec::new()),
                ranges: Ranges::default(),
                requeued: IdSet::default(),
                open_acks: None,
            }),
            changed: Condvar::new(),
            sync_waiters: Condvar::new(),
            background: Condvar::new(),
            sync_file: start.io.sync_file.clone(),
            io: Mutex::new(start.io),
            durable: AtomicU64::new(last),
            covered: Covered::new(),
            ack_tail: AckTail::new(),
            callbacks: RwLock::new(Arc::new([])),
            reported: Mutex::new(last),
            report_requests: AtomicU64::new(0),
            _lock: lock,
        }
    }

    /// Appends `record` and waits for `need`. Returns its sequence number.
    pub(crate) fn append(&self, record: Record<'_>, need: Need) -> Result<u64, AppendError> {
        let Some(size) = record.size() else {
            let len = match record {
                Record::Enqueue { payload, .. } => payload.len(),
                _ => 0,
            };
            return Err(AppendError::TooLong { len });
        };
        let mut q = self.queue.lock();
        check(&q)?;
        let seq = self.push(&mut q, &record, size as u64);
        if need == Need::Nothing {
            self.linger(q)?;
            return Ok(seq);
        }
        match self.wait(q, seq, need, None) {
            Ok(_) => Ok(seq),
            Err(e) => Err(e),
        }
    }

    /// Appends an ack of message `id` (into the open ack run when `id`
    /// follows it: `acks.rs`), waiting for nothing. Returns the sequence
    /// number of the record that holds it.
    #[inline]
    pub(crate) fn ack(&self, id: u64) -> Result<u64, AppendError> {
        // The usual case, without the lock: the id after the open run's
        // last (`acks.rs` argues the races).
        if let Some(seq) = self.ack_tail.try_ack(id) {
            return Ok(seq);
        }
        self.ack_locked(id)
    }

    /// `ack` under the lock (out of line: the fast path inlines alone).
    #[inline(never)]
    fn ack_locked(&self, id: u64) -> Result<u64, AppendError> {
        let mut q = self.queue.lock();
        check(&q)?;
        let seq = self.push_ack(&mut q, id);
        self.linger(q)?;
        Ok(seq)
    }

    /// Message `id` is being handed to a consumer (and, with `ack`, is
    /// acknowledged with it: a plain receive). Returns once a record that
    /// flags it as possibly delivered after a process crash has reached
    /// the OS: a range written before (the usual case: no `write` at all),
    /// or one appended now, which covers the next [`RANGE_SPAN`] ids too;
    /// after a requeue, a `Delivered` of its own. The `Ack` waits for
    /// nothing: it rides along with a later batch (`linger`).
    #[inline]
    pub(crate) fn deliver(&self, id: u64, ack: bool) -> Result<(), AppendError> {
        // The usual case, without the lock: the newest written range
        // covers it (`covered.rs` argues the races).
        if self.covered.covers(id) {
            return if ack { self.ack(id).map(drop) } else { Ok(()) };
        }
        self.deliver_uncovered(id, ack)
    }

    /// `deliver` of an id the published range does not cover, under the
    /// lock (out of line, as `ack_locked`).
    #[inline(never)]
    fn deliver_uncovered(&self, id: u64, ack: bool) -> Result<(), AppendError> {
        let mut q = self.queue.lock();
        check(&q)?;
        let mark = if !q.requeued.is_empty() && q.requeued.remove(&id) {
            self.push(&mut q, &Record::Delivered { id }, DELIVERED_SIZE)
        } else if let Some(range) = q.ranges.find(id) {
            range
        } else {
            let range = Record::DeliveredRange {
                first: id,
                last: id.saturating_add(RANGE_SPAN - 1),
            };
            self.push(&mut q, &range, RANGE_SIZE)
        };
        if ack {
            self.push_ack(&mut q, id);
        }
        if q.written >= mark {
            return if ack { self.linger(q) } else { Ok(()) };
        }
        if ack {
            // A batch under way may write the range but not the `Ack`.
            self.start_linger(&mut q);
        }
        // The range (or record) is not written yet, whoever queued it: the
        // consumer must not have the message before it is.
        self.wait(q, mark, Need::Written, None).map(drop)
    }

    /// Leaves the records just queued, which nobody waits for, in memory
    /// for the next batch (a delivery's, a send's), for the buffer to fill,
    /// or for the background thread, at most `LINGER` from now: an ack does
    /// not pay a `write` of its own. Losing it to a process crash is the
    /// loss of an ack that at least once allows (the module docs): the
    /// message comes back, flagged as possibly delivered (a record that
    /// covers its delivery was written before the consumer had it).
    fn linger<'a>(&'a self, mut q: MutexGuard<'a, Queue>) -> Result<(), AppendError> {
        if q.buf.len() >= LINGER_BYTES && !q.leader {
            q = self.lead(q);
            check(&q)?;
        } else {
            self.start_linger(&mut q);
        }
        Ok(())
    }

    /// Has the background thread write what is queued [`LINGER`] from now,
    /// unless it already will sooner.
    fn start_linger(&self, q: &mut Queue) {
        if q.lingering_since.is_none() {
            let now = Instant::now();
            q.lingering_since = Some(now);
            self.wake_background(q, now + LINGER);
        }
    }

    // Reached only from the journal's tests (`Journal::purge`, `wait_durable`).
    #[cfg_attr(not(test), allow(dead_code))]
    /// Appends a purge: a new segment, and every message so far dropped and
    /// its segments deleted. Returns once that is synced.
    pub(crate) fn purge(&self) -> Result<(), AppendError> {
        let mut q = self.queue.lock();
        check(&q)?;
        let start = Record::Start { max_id: 0 }.size().unwrap_or(0) as u64;
        self.roll(&mut q, start);
        self.close_acks(&mut q);
        q.ops.push(Op::Purge);
        q.ranges.clear();
        self.covered.revoke();
        q.requeued.clear();
        let seq = q.next_seq.saturating_sub(1);
        self.wait(q, seq, Need::Synced, None).map(|_| ())
    }

    // Reached only from the journal's tests (`Journal::purge`, `wait_durable`).
    #[cfg_attr(not(test), allow(dead_code))]
    /// Waits until `seq` (clamped to the last sequence number handed out)
    /// meets `need`, or `deadline` passes. Returns whether it did.
    pub(crate) fn wait_for(
        &self,
        seq: u64,
        need: Need,
        deadline: Option<Instant>,
    ) -> Result<bool, AppendError> {
        let q = self.queue.lock();
        let seq = seq.min(q.next_seq.saturating_sub(1));
        self.wait(q, seq, need, deadline)
    }

    /// Stops taking records: later appends get [`AppendError::Closed`].
    pub(crate) fn close(&self) {
        let mut q = self.queue.lock();
        q.closed = true;
        q.shutdown = true;
        self.covered.revoke();
        self.close_acks(&mut q);
        drop(q);
        self.changed.notify_all();
        self.sync_waiters.notify_all();
        self.background.notify_all();
    }

    /// The durable sequence number (synced, or written for `Buffered`);
    /// `SeqCst`, as the loads before the callbacks (see `report`).
    pub(crate) fn durable_seq(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// The counters.
    pub(crate) fn stats(&self) -> JournalStats {
        let q = self.queue.lock();
        let mut stats = q.stats;
        stats.written_seq = q.written;
        stats.durable_seq = self.durable_of(&q);
        stats
    }

    /// The policy.
    pub(crate) fn policy(&self) -> SyncPolicy {
        self.policy
    }

    /// Encodes `record` into the queue with the next sequence number, after
    /// a segment rollover if it does not fit the active segment.
    fn push(&self, q: &mut Queue, record: &Record<'_>, size: u64) -> u64 {
        // The open ack run is final before anything follows it (a
        // rollover's `Start` reads its last id as the highest).
        self.close_acks(q);
        // Room is always left for a zero length field after the last
        // record: it marks a complete segment (see `segment::scan`).
        if q.seg_used.saturating_add(size).saturating_add(END) > q.seg_size {
            self.roll(q, size);
        }
        let seq = self.push_encoded(q, record, size);
        if let Some(id) = record.id() {
            q.max_id = q.max_id.max(id);
        }
        // What the next delivery of a message needs (see `deliver`), kept
        // in log order, as the tally and replay keep it.
        match *record {
            Record::Requeued { id, .. } => {
                q.requeued.insert(id);
                // Its next delivery needs a `Delivered`: no delivery
                // skips the lock until that is queued.
                self.covered.revoke();
            }
            Record::Enqueue { id, .. } | Record::Ack { id } | Record::DeadLetter { id } => {
                if !q.requeued.is_empty() {
                    q.requeued.remove(&id);
                }
            }
            Record::DeliveredRange { first, last } => {
                q.ranges.push(first, last, seq);
            }
            Record::CleanClose => {
                q.ranges.clear();
                self.covered.revoke();
            }
            Record::Start { .. } | Record::Delivered { .. } | Record::AckRange { .. } => {}
        }
        seq
    }

    /// Starts a new segment in the queue, sized for a `Start` record and
    /// then `room` bytes.
    fn roll(&self, q: &mut Queue, room: u64) {
        // The old segment's last ack run is final first: its last id may
        // be the highest the `Start` record names.
        self.close_acks(q);
        let start = Record::Start { max_id: q.max_id };
        let start_size = start.size().unwrap_or(0) as u64;
        let size = self
            .segment_size
            .max(start_size.saturating_add(room).saturating_add(END));
        let at = q.buf.len();
        q.ops.push(Op::Roll {
            at,
            first_seq: q.next_seq,
            size,
        });
        q.seg_used = 0;
        q.seg_size = size;
        self.push_encoded(q, &start, start_size);
    }

    /// Encodes and seals `record` at the end of the queue.
    fn push_encoded(&self, q: &mut Queue, record: &Record<'_>, size: u64) -> u64 {
        // An open ack run is final once anything follows it.
        self.close_acks(q);
        let seq = q.next_seq;
        // Saturating: a log whose names claim the last sequence numbers
        // (a crafted one) must not make an append panic.
        q.next_seq = q.next_seq.saturating_add(1);
        let at = q.buf.len();
        record.encode_unsealed(&mut q.buf);
        record::seal(&mut q.buf, at, seq);
        q.ops.push(match *record {
            Record::DeliveredRange { first, last } => Op::Range { first, last },
            _ => Op::Record {
                kind: record.kind(),
                id: record.id().unwrap_or(0),
            },
        });
        q.queued += 1;
        q.seg_used = q.seg_used.saturating_add(size);
        seq
    }
}

/// How long a record nobody waits for (an ack) may wait in memory for a
/// batch to take it before the background thread writes it.
pub(crate) const LINGER: Duration = Duration::from_millis(2);

/// The size of an `Ack` or `Delivered` record.
const DELIVERED_SIZE: u64 = (record::FRAME + record::MIN_LEN + 8) as u64;

/// The size of a `DeliveredRange` record.
const RANGE_SIZE: u64 = (record::FRAME + record::MIN_LEN + 16) as u64;

/// How many bytes of such records make an appender write them at once.
pub(crate) const LINGER_BYTES: usize = 16 << 10;

/// The failure, if the log failed; or `Closed`.
fn check(q: &Queue) -> Result<(), AppendError> {
    if let Some(e) = &q.failed {
        return Err(AppendError::Failed(e.clone()));
    }
    if q.closed {
        return Err(AppendError::Closed);
    }
    Ok(())
}
