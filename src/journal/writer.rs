//! The writer: appends records in sequence order, batches concurrent
//! appenders into one write and one fdatasync (group commit), rolls segments
//! over, deletes the ones no live message needs, and tells waiters and
//! callbacks how far the log is durable.
//!
//! # Group commit: leader and followers
//!
//! An appender encodes its record into the shared queue under a short lock,
//! taking the next sequence number and its place in the active segment (so
//! the segment layout, rollovers included, is fixed in log order there). If
//! nobody is writing, it becomes the *leader*: it takes everything queued,
//! writes it with one `write` at the segment's end, syncs once if any waiter
//! needs durability, publishes the new written and synced sequence numbers,
//! and wakes everybody. Appenders that arrive meanwhile queue up behind it;
//! when it is done, one of them leads the next batch with all of them in it.
//! So a batch is one record when the log is idle and grows with the load (as
//! RabbitMQ's quorum-queue log does: sync after a batch, or when nothing
//! more is waiting), and no thread ever waits for a timer.
//!
//! A leader and not a dedicated writer thread: on a 2-core machine the hand
//! over to a writer thread and back costs two context switches per batch
//! that a leader does not pay, and a lone appender on an idle log writes and
//! syncs on its own thread at once. Measured in `benches/journal.rs` against
//! a writer thread that syncs every 64 records (the figures are in the
//! closing note of issue 12).
//!
//! Records nobody waits for (acks, deliveries, requeues, dead letters) ride
//! along with the next batch; if no batch is in flight and nobody is about to
//! lead one, the appender writes them itself, without a sync.
//!
//! # Segments
//!
//! A segment is preallocated (`set_len`) to the segment size, or to a record
//! that is larger. Before a new one is made, the old one is synced: a segment
//! that is not the last is then always complete on disk, which is what lets
//! replay call any damage there corruption rather than a torn tail. The
//! directory is synced after each segment is created and after deletions.

use std::io;
use std::mem;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard, RwLock};

use super::batch::{Io, Op, END};
use super::error::AppendError;
use super::record::{self, Record};
use super::storage::{LockGuard, Storage};
use super::SyncPolicy;

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
    /// Live messages (enqueued, not acked or dead-lettered) as of the last
    /// batch written.
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
    /// Appenders whose records are in `ops` and who wait for them (they
    /// lead the next batch; records nobody waits for may not).
    queued_waiters: usize,
    /// Appenders blocked until their record is written or synced.
    waiting: usize,
    /// The highest sequence number an `Always` waiter needs synced.
    want_sync: u64,
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
}

/// The writer's state, shared by every appender.
pub(crate) struct Writer {
    /// The directory.
    storage: Arc<dyn Storage>,
    /// When appends return and when syncs happen.
    policy: SyncPolicy,
    /// The size new segments are preallocated to.
    segment_size: u64,
    /// Records waiting, and the waiters' view.
    queue: Mutex<Queue>,
    /// Notified after every batch, and on close.
    changed: Condvar,
    /// The leader's state.
    io: Mutex<Io>,
    /// The durable sequence number, readable without the lock.
    durable: AtomicU64,
    /// Callbacks told each advance of `durable`.
    callbacks: RwLock<Vec<OnDurable>>,
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
            queue: Mutex::new(Queue {
                buf: Vec::new(),
                ops: Vec::new(),
                queued: 0,
                next_seq: start.next_seq,
                seg_used: start.io.pos,
                seg_size: start.seg_size,
                max_id: start.max_id,
                leader: false,
                queued_waiters: 0,
                waiting: 0,
                want_sync: 0,
                // Open synced everything it found (or cut it off).
                written: last,
                synced: last,
                unsynced_since: None,
                failed: None,
                closed: false,
                shutdown: false,
                stats,
                spare: (Vec::new(), Vec::new()),
            }),
            changed: Condvar::new(),
            io: Mutex::new(start.io),
            durable: AtomicU64::new(last),
            callbacks: RwLock::new(Vec::new()),
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
        if need != Need::Nothing {
            q.queued_waiters += 1;
        }
        if need == Need::Nothing {
            // Rides along with a batch in flight; otherwise written now,
            // without a sync (a waiter whose record this writes too syncs
            // it next), so that an ack on an idle log does not wait in
            // memory for the next send, nor for anybody's sync.
            if !q.leader {
                q = self.lead(q, SyncMode::Never);
                check(&q)?;
            }
            return Ok(seq);
        }
        match self.wait(q, seq, need, None) {
            Ok(_) => Ok(seq),
            Err(e) => Err(e),
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
        q.ops.push(Op::Purge);
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
        drop(q);
        self.changed.notify_all();
    }

    /// The durable sequence number (synced, or written for `Buffered`).
    pub(crate) fn durable_seq(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Adds a callback told the durable sequence number after each advance.
    pub(crate) fn on_durable(&self, callback: OnDurable) {
        self.callbacks.write().push(callback);
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
        // Room is always left for a zero length field after the last
        // record: it marks a complete segment (see `segment::scan`).
        if q.seg_used.saturating_add(size).saturating_add(END) > q.seg_size {
            self.roll(q, size);
        }
        let seq = self.push_encoded(q, record, size);
        if let Some(id) = record.id() {
            q.max_id = q.max_id.max(id);
        }
        seq
    }

    /// Starts a new segment in the queue, sized for a `Start` record and
    /// then `room` bytes.
    fn roll(&self, q: &mut Queue, room: u64) {
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
        let seq = q.next_seq;
        // Saturating: a log whose names claim the last sequence numbers
        // (a crafted one) must not make an append panic.
        q.next_seq = q.next_seq.saturating_add(1);
        let at = q.buf.len();
        record.encode_unsealed(&mut q.buf);
        record::seal(&mut q.buf, at, seq);
        q.ops.push(Op::Record {
            kind: record.kind(),
            id: record.id().unwrap_or(0),
        });
        q.queued += 1;
        q.seg_used = q.seg_used.saturating_add(size);
        seq
    }

    /// The durable sequence number as the policy defines it.
    fn durable_of(&self, q: &Queue) -> u64 {
        match self.policy {
            SyncPolicy::Buffered => q.written,
            _ => q.synced,
        }
    }

    /// Whether `seq` meets `need`.
    fn met(&self, q: &Queue, seq: u64, need: Need) -> bool {
        match need {
            Need::Nothing => true,
            Need::Written => q.written >= seq,
            Need::Durable => self.durable_of(q) >= seq,
            Need::Synced => q.synced >= seq,
        }
    }

    /// Blocks until `seq` meets `need` or `deadline` passes, leading batches
    /// when that helps. Returns whether `seq` met `need`.
    fn wait<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
        seq: u64,
        need: Need,
        deadline: Option<Instant>,
    ) -> Result<bool, AppendError> {
        let sync_here = match need {
            Need::Synced => true,
            Need::Durable => self.policy == SyncPolicy::Always,
            Need::Nothing | Need::Written => false,
        };
        if sync_here {
            q.want_sync = q.want_sync.max(seq);
        }
        q.waiting += 1;
        let result = loop {
            if let Some(e) = &q.failed {
                break Err(AppendError::Failed(e.clone()));
            }
            if self.met(&q, seq, need) {
                break Ok(true);
            }
            // Lead if that moves `seq` on: there is something to write, or
            // a sync this waiter may do. An `Every` waiter for durability
            // with nothing to write waits for the syncer instead.
            let helps = !q.ops.is_empty() || (sync_here && q.synced < seq);
            if !q.leader && helps {
                let sync = if need == Need::Synced {
                    SyncMode::Force
                } else {
                    SyncMode::IfWanted
                };
                q = self.lead(q, sync);
                continue;
            }
            if q.closed && q.ops.is_empty() && !q.leader && !helps {
                // Nothing will ever move it (an `Every` log being closed
                // has no syncer left).
                break Ok(false);
            }
            match deadline {
                Some(at) => {
                    if self.changed.wait_until(&mut q, at).timed_out() {
                        break Ok(self.met(&q, seq, need));
                    }
                }
                None => self.changed.wait(&mut q),
            }
        };
        q.waiting -= 1;
        result
    }

    /// Writes everything queued as one batch (and syncs, as `sync` says),
    /// publishes the outcome, wakes the waiters and tells the callbacks.
    /// Called with the lock held and no leader; returns with the lock held
    /// again.
    fn lead<'a>(&'a self, mut q: MutexGuard<'a, Queue>, sync: SyncMode) -> MutexGuard<'a, Queue> {
        q = self.lead_once(q, sync);
        // Records nobody waits for that arrived while this batch was
        // written (an ack while a sync ran) would otherwise wait in memory
        // for the next append: write them now, without a sync. A waiter's
        // record in the queue means a waiter leads next, with them in.
        while !q.ops.is_empty() && q.queued_waiters == 0 && q.failed.is_none() && !q.leader {
            q = self.lead_once(q, SyncMode::Never);
        }
        q
    }

    /// One batch of [`lead`](Writer::lead).
    fn lead_once<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
        sync: SyncMode,
    ) -> MutexGuard<'a, Queue> {
        q.leader = true;
        q.queued_waiters = 0;
        let (spare_buf, spare_ops) = mem::take(&mut q.spare);
        let buf = mem::replace(&mut q.buf, spare_buf);
        let ops = mem::replace(&mut q.ops, spare_ops);
        let records = mem::take(&mut q.queued);
        let last = q.next_seq.saturating_sub(1);
        let sync = match sync {
            SyncMode::Never => false,
            SyncMode::IfWanted => self.policy == SyncPolicy::Always && q.want_sync > q.synced,
            SyncMode::Force => true,
        };
        drop(q);

        let mut io = self.io.lock();
        let outcome = io.write_batch(&*self.storage, &buf, &ops, sync);
        let (live, segments) = (io.live.messages() as u64, io.live.segments() as u64);
        drop(io);

        let mut q = self.queue.lock();
        let before = self.durable_of(&q);
        match outcome {
            Ok(done) => {
                q.written = last;
                if sync {
                    q.synced = last;
                    q.unsynced_since = None;
                } else if q.written > q.synced && q.unsynced_since.is_none() {
                    q.unsynced_since = Some(Instant::now());
                }
                let stats = &mut q.stats;
                stats.records += records;
                stats.batches += done.writes;
                stats.max_batch = stats.max_batch.max(records);
                stats.syncs += done.syncs;
                stats.bytes += buf.len() as u64;
                stats.segments_created += done.created;
                stats.segments_deleted += done.deleted;
                stats.segments = segments;
                stats.live = live;
            }
            Err(e) => q.failed = Some(Arc::new(e)),
        }
        // Keep the larger allocations for the next batch.
        let (mut buf, mut ops) = (buf, ops);
        buf.clear();
        ops.clear();
        if buf.capacity() > q.spare.0.capacity() {
            q.spare = (buf, ops);
        }
        q.leader = false;
        let after = self.durable_of(&q);
        self.durable.store(after, Ordering::Release);
        self.changed.notify_all();
        if after > before {
            drop(q);
            self.report();
            q = self.queue.lock();
        }
        q
    }

    /// Tells the callbacks the durable sequence number, in increasing order,
    /// outside the queue lock (a callback may append).
    fn report(&self) {
        self.report_requests.fetch_add(1, Ordering::SeqCst);
        loop {
            // Someone else is telling them: it looks again after it is done
            // and sees our request.
            let Some(mut reported) = self.reported.try_lock() else {
                return;
            };
            let asked = self.report_requests.load(Ordering::SeqCst);
            let now = self.durable.load(Ordering::SeqCst);
            if now > *reported {
                *reported = now;
                let callbacks = self.callbacks.read().clone();
                for callback in &callbacks {
                    callback(now);
                }
            }
            drop(reported);
            if self.report_requests.load(Ordering::SeqCst) == asked {
                return;
            }
        }
    }

    /// The `Every(interval)` background syncer: syncs what was written at
    /// most `interval` after it was, until the writer shuts down.
    pub(crate) fn sync_every(&self, interval: Duration) {
        let mut q = self.queue.lock();
        loop {
            if q.shutdown {
                return;
            }
            let due = q.unsynced_since.map(|since| since + interval);
            match due {
                Some(at) if Instant::now() >= at && !q.leader => {
                    q = self.lead(q, SyncMode::Force);
                    if q.failed.is_some() {
                        return;
                    }
                }
                Some(at) if !q.leader => {
                    self.changed.wait_until(&mut q, at);
                }
                _ => self.changed.wait(&mut q),
            }
        }
    }

    /// Writes what is queued and syncs it (leading as needed). Returns the
    /// synced sequence number.
    pub(crate) fn flush(&self) -> Result<u64, AppendError> {
        let q = self.queue.lock();
        let seq = q.next_seq.saturating_sub(1);
        self.wait(q, seq, Need::Synced, None)?;
        Ok(seq)
    }
}

/// Whether a batch is synced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SyncMode {
    /// No: the leader does not wait for a sync (records nobody waits for).
    Never,
    /// If an `Always` waiter wants it.
    IfWanted,
    /// Yes (flush, close, purge, the `Every` syncer).
    Force,
}

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
