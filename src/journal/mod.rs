//! The write-ahead log under durable mailboxes: messages as bytes and `u64`
//! ids in, the same messages back after a crash.
//!
//! A durable mailbox appends a record for everything that changes a
//! message's fate (enqueued, delivered, requeued, acked, dead-lettered) and,
//! when it is opened again, gets back every message that was enqueued and
//! never acked or dead-lettered, in order. The log knows nothing of message
//! types, priorities or codecs: the mailbox encodes those into the payload.
//!
//! Why hand-written: the embedded stores that were candidates either never
//! fsync, sync on a timer, turn every ack into a tombstone, or have one writer
//! at a time with a sync per commit. A queue's log only appends, marks
//! messages done and drops whole segments, which is simpler than any of them.
//!
//! # On disk
//!
//! A directory holds a `LOCK` file (an exclusive `flock` while a journal has
//! it open: a second opener, in this process or another, gets
//! [`OpenError::Locked`]), a `META` file (magic `PBJRNL02`, the format tag's
//! length as u32 LE, the tag, a CRC-32 of all that as u32 LE) and segment
//! files named by the sequence number of their first record, zero-padded to
//! 20 digits (`00000000000000000001.seg`). Segments are preallocated to the
//! segment size (8 MiB by default; a record larger than that gets a segment
//! of its own size) and hold records back to back; a zero length field (the
//! preallocated zeros) ends them. Every integer is little-endian:
//!
//! | offset | size | field | meaning |
//! | --- | --- | --- | --- |
//! | 0 | 4 | `len` (u32) | bytes after the CRC field: 9 + body length; 0 = end of segment |
//! | 4 | 4 | `crc` (u32) | CRC-32 (IEEE, `crc32fast`) of the `len` bytes after it |
//! | 8 | 8 | `seq` (u64) | sequence number: +1 per record across the whole log |
//! | 16 | 1 | `kind` (u8) | what the record says, below |
//! | 17 | `len` - 9 | body | by kind |
//!
//! | kind | name | body | meaning |
//! | --- | --- | --- | --- |
//! | 1 | `Start` | `max_id` u64 | first record of every segment: the highest id the log had seen |
//! | 2 | `Enqueue` | `id` u64, payload | a message entered the log |
//! | 3 | `Ack` | `id` u64 | acknowledged: gone |
//! | 4 | `DeadLetter` | `id` u64 | dead-lettered: gone |
//! | 5 | `Delivered` | `id` u64 | handed to a consumer |
//! | 6 | `Requeued` | `id` u64, `redeliveries` u32 | given back by a consumer |
//! | 7 | `CleanClose` | (empty) | every handle closed cleanly: no message in a consumer's hands |
//! | 8 | `DeliveredRange` | `first` u64, `last` u64 | messages with ids in `first..=last` may be handed out without a record each |
//! | 9 | `AckRange` | `first` u64, `last` u64 (`first < last`) | every message with an id in `first..=last` was acknowledged: consecutive acks in one record (`writer/acks.rs`) |
//!
//! The magic says which kinds a log may hold: `PBJRNL02` (every log this
//! version creates) all of the above; `PBJRNL01`, a log made before
//! `AckRange`, kinds 1 to 8, and this version goes on writing an `Ack` per
//! message to it, so that the build that made it can still open it. A build
//! from before `AckRange` refuses a `PBJRNL02` log ([`OpenError::Corrupt`]:
//! "the meta file is missing or unreadable") instead of reading a kind it
//! does not know, which in the last segment it would cut off as a torn
//! tail, undoing acks. (An older build told to `Recovery::SkipCorrupt`
//! skips the unreadable meta file, writes its own and then does cut: that
//! mode is for logs one accepts to lose damaged records of, and a log of a
//! newer version is such damage to it.)
//!
//! `Start` is not a message event. It is there because segments whose
//! messages are all acked are deleted: without it a log whose older segments
//! are gone could forget the highest id it handed out, and a reopened
//! mailbox would reuse ids.
//!
//! # Durability
//!
//! [`SyncPolicy`] says when an enqueue returns; concurrent appenders share
//! writes and syncs (group commit, see `writer.rs`). Nothing on the
//! receive side waits for a sync, whatever the policy, and only a
//! delivery that no range covers waits for a write:
//!
//! | record | waits for | lost to a process crash means |
//! | --- | --- | --- |
//! | `Ack`, `AckRange` (an `ack`, or a plain receive's) | nothing: rides along with the next write, at most `LINGER` (2 ms) or 16 KiB later | the message comes back, flagged |
//! | `Requeued`, `DeadLetter` | nothing, the same way | the message comes back with its older count, flagged if it was delivered; a dead letter comes back |
//! | `DeliveredRange` | its write, by the delivery that needed it | (never lost once a delivery returned) |
//! | `Delivered` (a redelivery after a requeue) | its write | (the same) |
//!
//! # Delivery ranges: the crash semantics of a receive
//!
//! A message a consumer had when the process died must come back flagged as
//! possibly delivered (its redelivery count raised), so something naming
//! it must reach the OS before the consumer has it. Rather than a
//! `write(2)` per delivery, a delivery that no recent range covers writes a
//! `DeliveredRange` of the next 64 ids from its own; deliveries of the ids
//! it covers write nothing (`ranges.rs`). So after a process crash:
//!
//! - every message handed out by `recv_ack` and not acked comes back,
//!   flagged (as before);
//! - a message acked, or taken by a plain receive, comes back flagged if
//!   its `Ack` was still in memory (a plain receive's message could not
//!   come back before: its `Ack` was written first);
//! - a message never handed out may come back flagged too, if a range
//!   covered its id: at most 63 per range, and 8 ranges cover at a time
//!   (one per sender handle whose messages were being taken, in practice);
//! - an `Ack` that reached the OS is never undone: an acked message whose
//!   `Ack` was written (and, for a power loss, synced) never comes back.
//!
//! A power loss loses what was not synced; with `Always`, a send's sync
//! also syncs every receive-side record written before it.
//!
//! # Opening
//!
//! [`open`](replay::open) replays the log (see `replay.rs`): a torn tail of
//! the last segment is cut off and reported, damage anywhere else is
//! [`OpenError::Corrupt`] (or skipped under [`Recovery::SkipCorrupt`]), a
//! log made with another format tag is [`OpenError::FormatMismatch`]. No
//! input bytes make it panic.
//!
//! # Layout of this module
//!
//! | file | concern |
//! | --- | --- |
//! | `record.rs` | one record's bytes: encode, seal, decode without trusting them |
//! | `segment.rs` | segment names, reading a segment, the meta file |
//! | `storage.rs` | the file-system seam and its std implementation |
//! | `live.rs` | which segments live messages still need |
//! | `segpins.rs` | the live tally's pin count per segment, the active one found first |
//! | `idtable.rs` | the live tally's map from id to pins: a window for ids in order, a hash map for the rest |
//! | `writer.rs` | appending: the queue of records, sequence numbers, segment layout, deliveries |
//! | `writer/acks.rs` | ack runs: consecutive acks as one `AckRange`, widened without the lock once open |
//! | `writer/covered.rs` | deliveries the newest written range covers, without the writer's lock, and why that is safe |
//! | `writer/commit.rs` | group commit: the leader, the sync beside it, waiting, durability callbacks, the background thread |
//! | `ranges.rs` | delivery ranges: which deliveries need no record of their own |
//! | `batch.rs` | one batch: writes, rollover, sync, segment deletion; the tally that runs behind the writes |
//! | `replay.rs` | opening: lock, format, scan, cut, restore |
//! | `error.rs` | `OpenError`, `Recovery`, `AppendError` |
//! | `fault.rs` | tests only: a storage that loses power |

mod batch;
mod error;
mod idtable;
mod live;
mod ranges;
mod record;
mod replay;
mod segment;
mod segpins;
mod storage;
mod writer;

#[cfg(test)]
mod fault;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
#[cfg(test)]
use std::time::Instant;

pub(crate) use self::error::AppendError;
pub use self::error::{OpenError, Recovery};
pub(crate) use self::replay::{Replay, Restored};
pub(crate) use self::writer::{JournalStats, OnDurable};

use self::record::Record;
#[cfg(test)]
use self::storage::Storage;
use self::writer::{Need, Writer};

/// The default segment size: 8 MiB.
pub(crate) const DEFAULT_SEGMENT_SIZE: u64 = 8 << 20;

/// When a durable send returns, and when the log is synced to disk.
///
/// Named so as not to clash with `std::marker::Sync`.
///
/// | policy | a send returns after | survives a process crash | survives a power loss |
/// | --- | --- | --- | --- |
/// | `Always` | its record was synced (fdatasync) | yes | yes |
/// | `Buffered` | its record was written to the OS | yes | no: what was not yet synced may be lost |
/// | `Every(d)` | its record was written to the OS | yes | all but at most the last `d` |
///
/// With `Always`, concurrent senders share one sync (group commit), so many
/// senders get far more confirmed messages per second than one.
///
/// # Examples
///
/// ```
/// use postbox::SyncPolicy;
/// use std::time::Duration;
///
/// assert_eq!(SyncPolicy::default(), SyncPolicy::Always);
/// let relaxed = SyncPolicy::Every(Duration::from_millis(100));
/// assert_ne!(relaxed, SyncPolicy::Buffered);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// A send returns once its record is on disk (synced with fdatasync).
    #[default]
    Always,
    /// A send returns once its record was written to the operating system:
    /// it survives the process crashing, not the machine losing power.
    Buffered,
    /// A send returns once its record was written to the operating system;
    /// a background thread syncs at most this long after a write.
    Every(Duration),
}

/// How to open a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Options {
    /// The format tag (codec and message type): checked on every open.
    pub(crate) format: String,
    /// When appends return and when syncs happen.
    pub(crate) sync: SyncPolicy,
    /// The size segments are preallocated to.
    pub(crate) segment_size: u64,
    /// What to do with damage that is not a torn tail.
    pub(crate) recovery: Recovery,
}

impl Options {
    /// Options for a log of format `format`: `Always`, 8 MiB segments,
    /// strict recovery.
    pub(crate) fn new(format: impl Into<String>) -> Options {
        Options {
            format: format.into(),
            sync: SyncPolicy::Always,
            segment_size: DEFAULT_SEGMENT_SIZE,
            recovery: Recovery::Strict,
        }
    }

    /// Sets the sync policy.
    pub(crate) fn sync(mut self, sync: SyncPolicy) -> Options {
        self.sync = sync;
        self
    }

    /// Sets the segment size (at least 64 bytes).
    pub(crate) fn segment_size(mut self, bytes: u64) -> Options {
        self.segment_size = bytes.max(64);
        self
    }

    /// Sets the recovery mode.
    pub(crate) fn recovery(mut self, recovery: Recovery) -> Options {
        self.recovery = recovery;
        self
    }
}

/// For `benches/durable.rs` ("tally alone"): the live tally's own work
/// (`Live::apply`, as the background thread runs it) for `n` messages as
/// a fill and then a drain make it, in one segment: an `Enqueue` each,
/// then a `DeliveredRange` and an `AckRange` of every
/// [`RANGE_SPAN`](ranges::RANGE_SPAN) ids. Returns the time the enqueues
/// took, the time the rest took, and the live messages left (none).
#[allow(dead_code)]
pub(crate) fn tally_alone(n: u64) -> (Duration, Duration, usize) {
    let mut live = live::Live::default();
    live.add_segment(1);
    let start = std::time::Instant::now();
    for id in 1..=n {
        live.apply(1, &Record::Enqueue { id, payload: &[] });
    }
    let enqueues = start.elapsed();
    let start = std::time::Instant::now();
    let mut first = 1;
    while first <= n {
        let last = first.saturating_add(ranges::RANGE_SPAN - 1).min(n);
        live.apply(1, &Record::DeliveredRange { first, last });
        live.apply(1, &Record::AckRange { first, last });
        first = last.saturating_add(1);
    }
    (enqueues, start.elapsed(), live.messages())
}

/// Opens (creating it if needed) the log in `dir`, replaying it.
pub(crate) fn open(dir: &Path, options: Options) -> Result<(Journal, Replay), OpenError> {
    replay::open(dir, options)
}

/// Opens the log in `storage` (the tests' fault-injecting one).
#[cfg(test)]
fn open_with(storage: Arc<dyn Storage>, options: Options) -> Result<(Journal, Replay), OpenError> {
    replay::open_with(storage, options)
}

/// An open log: appends records, tells how far they are durable.
///
/// Every method takes `&self`; share it in an `Arc`. Dropping it writes and
/// syncs whatever is queued and releases the directory's lock (but does not
/// mark a clean close: see [`close`](Journal::close)).
#[derive(Debug)]
pub(crate) struct Journal {
    /// The shared writer.
    writer: Arc<Writer>,
    /// The background thread: writes lingering acks, and syncs for
    /// `Every`.
    syncer: Option<JoinHandle<()>>,
}

impl Journal {
    /// Starts a journal on `writer` (and its syncer, for `Every`).
    fn start(writer: Writer) -> Journal {
        let writer = Arc::new(writer);
        let w = writer.clone();
        let syncer = std::thread::Builder::new()
            .name("postbox-journal".into())
            .spawn(move || w.background())
            .ok();
        Journal { writer, syncer }
    }

    /// Appends a message. Returns its sequence number once it is as durable
    /// as the policy promises: synced for `Always`, written for `Buffered`
    /// and `Every`.
    pub(crate) fn enqueue(&self, id: u64, payload: &[u8]) -> Result<u64, AppendError> {
        let need = match self.writer.policy() {
            SyncPolicy::Always => Need::Durable,
            _ => Need::Written,
        };
        self.writer.append(Record::Enqueue { id, payload }, need)
    }

    /// Appends a message and returns its sequence number at once: it is
    /// written with the next batch. (For benches that fill a log fast; the
    /// mailbox's sends wait as their policy says.)
    #[allow(dead_code)]
    pub(crate) fn enqueue_nowait(&self, id: u64, payload: &[u8]) -> Result<u64, AppendError> {
        self.writer
            .append(Record::Enqueue { id, payload }, Need::Nothing)
    }

    /// Records that message `id` was acknowledged. Does not wait for a sync.
    /// Consecutive acks share one `AckRange` record (`writer/acks.rs`): the
    /// sequence number returned is that record's.
    #[inline]
    pub(crate) fn ack(&self, id: u64) -> Result<u64, AppendError> {
        self.writer.ack(id)
    }

    /// Records that message `id` went to dead letters. Does not wait for a
    /// sync.
    pub(crate) fn dead_letter(&self, id: u64) -> Result<u64, AppendError> {
        self.writer.append(Record::DeadLetter { id }, Need::Nothing)
    }

    /// Records that message `id` was handed to a consumer. Does not wait for
    /// a sync. (The mailbox uses `deliver`, which waits for the write of a
    /// record that covers the delivery.)
    #[cfg(test)]
    pub(crate) fn delivered(&self, id: u64) -> Result<u64, AppendError> {
        self.writer.append(Record::Delivered { id }, Need::Nothing)
    }

    /// Message `id` is being handed to a consumer: returns once a record
    /// that flags it as possibly delivered reached the OS, so that a
    /// process crash after this brings it back flagged. Usually a
    /// `DeliveredRange` written by an earlier delivery covers it and this
    /// writes nothing (see "Delivery ranges" above).
    #[inline]
    pub(crate) fn deliver(&self, id: u64) -> Result<(), AppendError> {
        self.writer.deliver(id, false)
    }

    /// A plain receive of message `id`: [`deliver`](Journal::deliver), and
    /// an `Ack` that waits for nothing. A crash that loses the `Ack` brings
    /// the message back flagged.
    #[inline]
    pub(crate) fn deliver_acked(&self, id: u64) -> Result<(), AppendError> {
        self.writer.deliver(id, true)
    }

    /// Records that message `id` was given back, with its redelivery count
    /// from now on. Does not wait for a sync.
    pub(crate) fn requeued(&self, id: u64, redeliveries: u32) -> Result<u64, AppendError> {
        self.writer
            .append(Record::Requeued { id, redeliveries }, Need::Nothing)
    }

    /// Marks a clean close (no message is in a consumer's hands), syncs, and
    /// closes the log.
    pub(crate) fn close(self) -> Result<(), AppendError> {
        self.writer.append(Record::CleanClose, Need::Synced)?;
        Ok(())
    }

    /// Writes and syncs everything appended so far, whatever the policy.
    /// Returns the synced sequence number.
    #[cfg(test)]
    pub(crate) fn flush(&self) -> Result<u64, AppendError> {
        self.writer.flush()
    }

    /// Drops every message in the log: a new segment starts and every older
    /// one is deleted. Returns once that is on disk.
    #[cfg(test)]
    pub(crate) fn purge(&self) -> Result<(), AppendError> {
        self.writer.purge()
    }

    /// The highest sequence number known durable: synced, or written for
    /// `Buffered`.
    pub(crate) fn durable_seq(&self) -> u64 {
        self.writer.durable_seq()
    }

    /// Blocks until record `seq` is durable, or `deadline` passes (`None`:
    /// no deadline). With `Always` and `Buffered` the caller writes and syncs
    /// itself if nobody else is; with `Every` it waits for the syncer.
    /// Returns whether `seq` is durable.
    #[cfg(test)]
    pub(crate) fn wait_durable(
        &self,
        seq: u64,
        deadline: Option<Instant>,
    ) -> Result<bool, AppendError> {
        self.writer.wait_for(seq, Need::Durable, deadline)
    }

    /// Registers a callback, called with the new durable sequence number
    /// after each advance, in increasing order, on the thread that advanced
    /// it, with no lock of the journal held (it may append).
    pub(crate) fn on_durable(&self, callback: OnDurable) {
        self.writer.on_durable(callback);
    }

    /// The writer's counters.
    pub(crate) fn stats(&self) -> JournalStats {
        self.writer.stats()
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Best effort: an error here was, or will be, seen by an append.
        let _ = self.writer.flush();
        self.writer.close();
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
    }
}
