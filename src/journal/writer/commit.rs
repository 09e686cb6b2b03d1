//! Group commit: the leader that writes a batch, the sync beside it, the
//! waiters, the callbacks, and the background thread.
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
//! A leader publishes `written` and wakes the waiters for the write as soon
//! as its `write` returns; a waiter that needs the sync then syncs through a
//! second handle on the active segment, without the `io` lock, so the next
//! batch (a consumer's delivery, say) is written beside the sync instead of
//! waiting for it. A sync publishes as synced only what was written before
//! it began. Only a rollover syncs under the `io` lock ("Segments" in
//! `writer.rs`).
//!
//! Records nobody waits for linger in the queue until a batch takes them;
//! the background thread writes them if none does within `LINGER`, syncs
//! for `Every`, and takes the records written into the live tally, at most
//! `LINGER` after their batch (`batch.rs`: not on the thread that wrote
//! them, often a consumer's).

use std::mem;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::MutexGuard;

use super::super::batch::Done;
use super::super::error::AppendError;
use super::super::SyncPolicy;
use super::{Need, OnDurable, Queue, Writer, LINGER};

/// How many ids' worth of records the background thread tallies per hold
/// of the `io` lock (a few hundred microseconds at most: a leader, a
/// consumer's delivery say, waits for no longer than that).
const TALLY_STEP: u64 = 4096;

/// How soon the background thread looks again when a deadline passed while
/// a batch or a sync was under way.
const BUSY_POLL: Duration = Duration::from_micros(200);

impl Writer {
    /// The durable sequence number as the policy defines it.
    pub(super) fn durable_of(&self, q: &Queue) -> u64 {
        match self.policy {
            SyncPolicy::Buffered => q.written,
            _ => q.synced,
        }
    }

    /// Whether `seq` meets `need`.
    pub(super) fn met(&self, q: &Queue, seq: u64, need: Need) -> bool {
        match need {
            Need::Nothing => true,
            Need::Written => q.written >= seq,
            Need::Durable => self.durable_of(q) >= seq,
            Need::Synced => q.synced >= seq,
        }
    }

    /// Blocks until `seq` meets `need` or `deadline` passes, leading batches
    /// when that helps. Returns whether `seq` met `need`.
    pub(super) fn wait<'a>(
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
        let cv = if sync_here {
            &self.sync_waiters
        } else {
            &self.changed
        };
        q.waiting += 1;
        let result = loop {
            if let Some(e) = &q.failed {
                break Err(AppendError::Failed(e.clone()));
            }
            if self.met(&q, seq, need) {
                break Ok(true);
            }
            // Write if `seq` is still queued and nobody is writing: the
            // batch takes everything queued, this waiter's record and every
            // one before it included.
            if q.written < seq && !q.ops.is_empty() && !q.leader {
                q = self.lead(q);
                continue;
            }
            // Sync if `seq` is written and needs it, and no sync is in
            // flight (one in flight may have begun before `seq` was
            // written: wait for it, then look again). Records queued after
            // `seq` are not waited for: they go with the next batch.
            if sync_here && q.written >= seq && q.synced < seq && !q.syncing {
                q = self.sync(q);
                continue;
            }
            if q.closed && q.ops.is_empty() && !q.leader && !q.syncing {
                // Nothing will ever move it (an `Every` log being closed
                // has no syncer left).
                break Ok(false);
            }
            match deadline {
                Some(at) => {
                    if cv.wait_until(&mut q, at).timed_out() {
                        break Ok(self.met(&q, seq, need));
                    }
                }
                None => cv.wait(&mut q),
            }
        };
        q.waiting -= 1;
        result
    }

    /// Writes everything queued as one batch (no sync, but at a rollover),
    /// publishes the outcome and wakes the waiters (before any sync: a
    /// waiter for the write, such as a delivery, does not wait for the sync
    /// that senders in the same batch want). Called with the lock held, no
    /// leader and something queued; returns with the lock held again.
    pub(super) fn lead<'a>(&'a self, mut q: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        q.leader = true;
        q.lingering_since = None;
        // The batch takes the open ack run's bytes as they are now.
        self.close_acks(&mut q);
        let (spare_buf, spare_ops) = mem::take(&mut q.spare);
        let buf = mem::replace(&mut q.buf, spare_buf);
        let ops = mem::replace(&mut q.ops, spare_ops);
        let records = mem::take(&mut q.queued);
        let last = q.next_seq.saturating_sub(1);
        let first = last.saturating_add(1).saturating_sub(records);
        drop(q);

        // A sync may run meanwhile, through its own handle and without this
        // lock: it covers what was written before it began, and publishes
        // no more than that (see `sync`).
        let mut io = self.io.lock();
        let outcome = io.write_batch(&*self.storage, &buf, &ops, first);
        let (live, segments) = (io.live.messages() as u64, io.live.segments() as u64);
        let behind = io.behind();
        drop(io);

        let mut q = self.queue.lock();
        if behind && q.tally_at.is_none() {
            // The background thread tallies this batch's records, with
            // those of the batches until then (`batch.rs`): not this
            // thread, which may be a consumer's.
            let at = Instant::now() + LINGER;
            q.tally_at = Some(at);
            self.wake_background(&mut q, at);
        }
        let before = self.durable_of(&q);
        match outcome {
            Ok(done) => {
                q.written = last;
                if let Some(rolled) = done.rolled {
                    // A rollover synced everything up to the new segment's
                    // Start record, under the `io` lock.
                    q.synced = q.synced.max(rolled);
                }
                let stats = &mut q.stats;
                stats.records += records;
                stats.batches += done.writes;
                stats.max_batch = stats.max_batch.max(records);
                stats.bytes += buf.len() as u64;
                stats.segments = segments;
                stats.live = live;
                self.count(&mut q, &done);
                // The newest range may be relied on without the lock once
                // written, unless a requeued id waits for its `Delivered`
                // (`covered.rs`).
                if q.requeued.is_empty() && !q.closed {
                    if let Some((first, _, seq)) = q.ranges.newest() {
                        if seq <= q.written {
                            self.covered.publish(first);
                        }
                    }
                }
            }
            Err(e) => {
                q.failed = Some(Arc::new(e));
                self.covered.revoke();
                // No ack may join a run that will not be written.
                self.close_acks(&mut q);
            }
        }
        // Keep the larger allocations for the next batch.
        let (mut buf, mut ops) = (buf, ops);
        buf.clear();
        ops.clear();
        if buf.capacity() > q.spare.0.capacity() {
            q.spare = (buf, ops);
        }
        q.leader = false;
        // Sync waiters have something to do only if a sync is wanted and
        // none is in flight, or records wait and nobody writes them.
        let wake = (q.want_sync > q.synced && !q.syncing) || !q.ops.is_empty();
        self.published(q, before, wake)
    }

    /// Syncs the active segment: everything written before the sync began
    /// (`written` now) is then on disk. Runs without the `io` lock, so the
    /// next batch (records that need no sync, or senders that arrived
    /// meanwhile) is written beside it. Called with the lock held, no sync
    /// in flight and something written but not synced; returns with the
    /// lock held again.
    fn sync<'a>(&'a self, mut q: MutexGuard<'a, Queue>) -> MutexGuard<'a, Queue> {
        q.syncing = true;
        // Every record up to `upto` returned from its `write` before this
        // sync begins; each is in the segment the handle below names, or in
        // an older one that its rollover synced.
        let upto = q.written;
        drop(q);
        // The handle's mutex is let go before the `io` lock is taken: a
        // rollover takes them in the other order.
        let synced = {
            let mut file = self.sync_file.lock();
            file.sync_data()
        };
        let outcome = synced.and_then(|()| {
            // Segments are deleted only if this covers every record the
            // tally took (see `Io::synced`): on the word of synced records.
            let mut io = self.io.lock();
            let done = io.synced(&*self.storage, upto);
            done.map(|done| (done, io.live.messages() as u64, io.live.segments() as u64))
        });
        let mut q = self.queue.lock();
        let before = self.durable_of(&q);
        match outcome {
            Ok((done, live, segments)) => {
                q.synced = q.synced.max(upto);
                q.stats.syncs += 1;
                q.stats.live = live;
                q.stats.segments = segments;
                self.count(&mut q, &done);
            }
            Err(e) => {
                q.failed = Some(Arc::new(e));
                self.covered.revoke();
                // No ack may join a run that will not be written.
                self.close_acks(&mut q);
            }
        }
        q.syncing = false;
        self.published(q, before, true)
    }

    /// Adds a batch's or a sync's syncs, creations and deletions to the
    /// counters.
    fn count(&self, q: &mut Queue, done: &Done) {
        q.stats.syncs += done.syncs;
        q.stats.segments_created += done.created;
        q.stats.segments_deleted += done.deleted;
    }

    /// After a batch or a sync: keeps `unsynced_since`, publishes the
    /// durable sequence number, wakes the waiters and tells the callbacks
    /// (outside the lock) if it advanced from `before`.
    fn published<'a>(
        &'a self,
        mut q: MutexGuard<'a, Queue>,
        before: u64,
        wake_sync_waiters: bool,
    ) -> MutexGuard<'a, Queue> {
        if q.synced >= q.written {
            q.unsynced_since = None;
        } else if q.unsynced_since.is_none() {
            let now = Instant::now();
            q.unsynced_since = Some(now);
            if let SyncPolicy::Every(interval) = self.policy {
                self.wake_background(&mut q, now + interval);
            }
        }
        let after = self.durable_of(&q);
        self.durable.store(after, Ordering::Release);
        self.changed.notify_all();
        if wake_sync_waiters || after > before {
            self.sync_waiters.notify_all();
        }
        if after > before {
            drop(q);
            self.report();
            q = self.queue.lock();
        }
        q
    }

    /// Wakes the background thread if it would otherwise sleep past `at`.
    pub(super) fn wake_background(&self, q: &mut Queue, at: Instant) {
        if q.background_wakes.is_none_or(|wakes| wakes > at) {
            q.background_wakes = Some(at);
            self.background.notify_one();
        }
    }

    /// Adds a callback told the durable sequence number after each advance
    /// (a new list, so that `report` takes the current one by an `Arc`
    /// clone rather than a copy: no allocation per report).
    pub(crate) fn on_durable(&self, callback: OnDurable) {
        let mut callbacks = self.callbacks.write();
        *callbacks = callbacks.iter().cloned().chain([callback]).collect();
    }

    /// Tells the callbacks the durable sequence number, in increasing order,
    /// outside the queue lock (a callback may append). The number each is
    /// told is loaded `SeqCst` after the advance was stored, so that a
    /// callback that checks a `SeqCst` flag of its own (the durable
    /// mailbox's `DurableWatch`) and a thread that sets that flag and then
    /// reads [`Writer::durable_seq`] cannot both miss each other.
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
                let callbacks = Arc::clone(&self.callbacks.read());
                for callback in callbacks.iter() {
                    callback(now);
                }
            }
            drop(reported);
            if self.report_requests.load(Ordering::SeqCst) == asked {
                return;
            }
        }
    }

    /// The background thread: writes records nobody waits for at most
    /// [`LINGER`] after they were queued (if no batch took them first) and,
    /// for `Every(interval)`, syncs what was written at most `interval`
    /// after it was; tallies the records written at most [`LINGER`] after
    /// their batch, [`TALLY_STEP`] ids' worth per hold of the `io` lock;
    /// until the writer shuts down.
    pub(crate) fn background(&self) {
        let interval = match self.policy {
            SyncPolicy::Every(interval) => Some(interval),
            _ => None,
        };
        let mut q = self.queue.lock();
        loop {
            if q.shutdown || q.failed.is_some() {
                return;
            }
            let now = Instant::now();
            // Awake: appenders need not wake it.
            q.background_wakes = Some(now);
            let linger_at = q.lingering_since.map(|since| since + LINGER);
            let sync_at = interval.and_then(|i| q.unsynced_since.map(|since| since + i));
            let linger_due = linger_at.is_some_and(|at| now >= at);
            let sync_due = sync_at.is_some_and(|at| now >= at);
            let tally_due = q.tally_at.is_some_and(|at| now >= at);
            if (linger_due || sync_due) && !q.ops.is_empty() && !q.leader {
                q = self.lead(q);
                continue;
            }
            if tally_due && !q.leader {
                // Cleared before the `io` lock is taken: a batch written
                // after this point sets it again once it is done, and one
                // written before is in what the tally sees below.
                q.tally_at = None;
                drop(q);
                let (more, live, segments) = {
                    let mut io = self.io.lock();
                    let more = io.tally(TALLY_STEP);
                    (more, io.live.messages() as u64, io.live.segments() as u64)
                };
                q = self.queue.lock();
                q.stats.live = live;
                q.stats.segments = segments;
                if more && q.tally_at.is_none() {
                    // Go on at once, having let the locks go: a leader
                    // waits for one step at most.
                    q.tally_at = Some(Instant::now());
                }
                continue;
            }
            if sync_due && q.written > q.synced && !q.syncing {
                q = self.sync(q);
                continue;
            }
            let next = if linger_due || sync_due || tally_due {
                // Due, but a batch or a sync is under way: look again soon.
                Some(now + BUSY_POLL)
            } else {
                linger_at.into_iter().chain(sync_at).chain(q.tally_at).min()
            };
            q.background_wakes = next;
            match next {
                Some(at) => {
                    self.background.wait_until(&mut q, at);
                }
                None => self.background.wait(&mut q),
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
