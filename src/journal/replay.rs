//! Opening a log: the lock, the format check, reading every segment in
//! order, cutting a torn tail, and handing back what is still pending.
//!
//! Replay keeps, per message, only what its last records say: the payload
//! and position of its last `Enqueue`, the count of its last `Requeued`, and
//! whether a `Delivered` came after those with no `CleanClose` after it (the
//! message may have been in a consumer's hands at the crash); a
//! `DeliveredRange` counts as a `Delivered` of every live message it covers,
//! and of those enqueued later while it is among the last ranges (see
//! `ranges.rs`). An `Ack` or
//! `DeadLetter` ends it; records about an id with no `Enqueue` are ignored
//! (their message's segment was deleted once it was acked).
//!
//! Damage is judged by where it is. In the last segment it is the normal
//! remains of a crash (a write cut short, an unsynced write that reached the
//! disk in part, possibly with a flipped bit): everything from the first bad
//! byte on is cut, overwritten with zeros and synced before anything new is
//! written, so that stale records after the cut can never be read as new
//! ones. A segment that is not the last was synced before its successor was
//! made, so damage there is corruption: an error, or skipped and counted
//! under [`Recovery::SkipCorrupt`].

use std::path::Path;
use std::sync::Arc;

use super::batch::Io;
use super::error::{OpenError, Recovery};
use super::live::{IdMap, Live};
use super::ranges::{self, Ranges};
use super::record::{Kind, Record};
use super::segment::{self, Scan};
use super::storage::{LockError, StdStorage, Storage, StorageFile};
use super::writer::{Start, Writer};
use super::{Journal, Options};

/// A message the log still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restored {
    /// Its id.
    pub(crate) id: u64,
    /// Its encoded body, as appended.
    pub(crate) payload: Vec<u8>,
    /// A consumer may have had it when the log was last left: it was
    /// delivered after its last enqueue or requeue, and no clean close
    /// followed.
    pub(crate) possibly_delivered: bool,
    /// Its last recorded redelivery count (0 if it was never requeued).
    pub(crate) redeliveries: u32,
}

/// What opening found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Replay {
    /// Every message enqueued and neither acked nor dead-lettered, in the
    /// order of their (last) enqueue.
    pub(crate) messages: Vec<Restored>,
    /// The highest message id any record names: new ids must be above it.
    pub(crate) max_id: u64,
    /// The last record is a clean close.
    pub(crate) clean_close: bool,
    /// Valid records read.
    pub(crate) records: u64,
    /// Segment files read.
    pub(crate) segments: u64,
    /// Bytes cut off the end of the last segment (a torn tail).
    pub(crate) tail_cut: u64,
    /// Damaged stretches skipped under [`Recovery::SkipCorrupt`] (each the
    /// rest of a segment, or a whole segment out of order).
    pub(crate) skipped: u64,
    /// Bytes in those stretches.
    pub(crate) skipped_bytes: u64,
}

/// Opens (creating it if needed) the log in `dir`.
pub(crate) fn open(dir: &Path, options: Options) -> Result<(Journal, Replay), OpenError> {
    let storage = StdStorage::new(dir)?;
    open_with(Arc::new(storage), options)
}

/// Opens the log in `storage`.
pub(crate) fn open_with(
    storage: Arc<dyn Storage>,
    options: Options,
) -> Result<(Journal, Replay), OpenError> {
    let lock = match storage.lock() {
        Ok(lock) => lock,
        Err(LockError::Held) => return Err(OpenError::Locked { dir: storage.dir() }),
        Err(LockError::Io(e)) => return Err(OpenError::Io(e)),
    };
    let names = storage.list()?;
    let mut segments: Vec<u64> = names
        .iter()
        .filter_map(|n| segment::parse_name(n))
        .collect();
    segments.sort_unstable();
    let ack_ranges = check_meta(&*storage, &names, !segments.is_empty(), &options)?;

    let mut state = State::default();
    let mut replay = Replay::default();
    let mut live = Live::default();
    // The last segment's name, file, bytes and scan, for its tail.
    let mut last: Option<LastSegment> = None;
    let mut prev_last_seq: Option<u64> = None;
    let mut next_seq = 1u64;
    for (i, &first) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        let name = segment::name(first);
        let mut file = storage.open(&name)?;
        let buf = file.read_all()?;
        // Room for the messages this segment may hold, from its written
        // bytes (the preallocated zeros after them do not count) at ~128
        // bytes a message (a 100-byte one's record is ~130), so that the
        // maps do not grow by doubling, rehashing every entry each time.
        // A segment of small records or of acks makes it overshoot: by at
        // most a map entry per 128 bytes of log.
        let estimate = segment::written_after(&buf, 0) as usize / 128;
        state.index.reserve(estimate);
        state.order.reserve(estimate);
        live.reserve(estimate);
        replay.segments += 1;
        live.add_segment(first);
        next_seq = next_seq.max(first);
        if let Some(prev) = prev_last_seq.filter(|&prev| first <= prev) {
            // Its names say it overlaps the one before: not ours to read.
            let reason = format!("segment starts at {first}, not after {prev}");
            corrupt(&options, &*storage, &name, 0, reason)?;
            replay.skipped += 1;
            replay.skipped_bytes += segment::written_after(&buf, 0);
            continue;
        }
        let scan = segment::scan(&buf, first, is_last, |seq, record| {
            state.apply(seq, record);
            live.apply(first, &record);
        });
        replay.records += scan.records;
        if let Some(seq) = scan.last_seq {
            prev_last_seq = Some(seq);
            next_seq = next_seq.max(seq.saturating_add(1));
        }
        if is_last {
            last = Some((first, file, buf, scan));
        } else if let Some(defect) = &scan.defect {
            corrupt(&options, &*storage, &name, scan.end, defect.to_string())?;
            replay.skipped += 1;
            replay.skipped_bytes += segment::written_after(&buf, scan.end);
        }
    }

    let mut created = 0;
    let (io, seg_size) = match last {
        // Go on at the end of the last segment's records.
        Some((first, mut file, buf, scan)) if scan.records > 0 => {
            let cut = segment::written_after(&buf, scan.end);
            if cut > 0 {
                // Zeros over the torn tail, synced before anything new is
                // written after the cut.
                file.write_at(scan.end as u64, &vec![0; cut as usize])?;
                replay.tail_cut = cut;
            }
            // After a process crash what was read may still be only in the
            // page cache; it must be on disk before the writer deletes a
            // segment on its word (see `Writer::delete_unpinned`).
            file.sync_data()?;
            let io = Io::new(file, first, scan.end as u64, Live::default())?;
            (io, options.segment_size.max(buf.len() as u64))
        }
        // No segment, or a last one with no record (made just before a
        // crash): start a new one, replacing that one.
        last => {
            if let Some((first, _, buf, _)) = last {
                replay.tail_cut = segment::written_after(&buf, 0);
                if first != next_seq {
                    storage.remove(&segment::name(first))?;
                }
                live.remove_segment(first);
            }
            created += 1;
            let io = new_segment(&*storage, next_seq, state.max_id, options.segment_size)?;
            live.add_segment(next_seq);
            next_seq = next_seq.saturating_add(1);
            (io, options.segment_size)
        }
    };

    let (messages, max_id, clean_close) = state.finish();
    replay.messages = messages;
    replay.max_id = max_id;
    replay.clean_close = clean_close;

    // Segments no live message needs (all acked before the last close).
    // The delivery ranges of the log cover no message from now on: new ids
    // start above every id the log names, their ends included.
    live.forget_ranges();
    let mut io = io;
    io.live = live;
    io.live.recheck();
    let mut deleted = 0;
    loop {
        // In rounds, as the writer does (`Writer::delete_unpinned`).
        let dead = io.live.take_unpinned(io.active);
        if dead.is_empty() {
            break;
        }
        for &first in &dead {
            storage.remove(&segment::name(first))?;
        }
        storage.sync_dir()?;
        deleted += dead.len() as u64;
    }

    let start = Start {
        io,
        seg_size,
        next_seq,
        max_id,
        deleted,
        created,
        ack_ranges,
    };
    let writer = Writer::new(storage, options.sync, options.segment_size, start, lock);
    Ok((Journal::start(writer), replay))
}

/// The last segment's name, file, bytes and scan: where the writer goes on.
type LastSegment = (u64, Box<dyn StorageFile>, Vec<u8>, Scan);

/// Checks the meta file's format tag, writing the file if the log is new.
/// Returns whether `AckRange` records may be written (`segment::Meta`).
fn check_meta(
    storage: &dyn Storage,
    names: &[String],
    has_segments: bool,
    options: &Options,
) -> Result<bool, OpenError> {
    let found = if names.iter().any(|n| n == segment::META_FILE) {
        let buf = storage.open(segment::META_FILE)?.read_all()?;
        segment::decode_meta(&buf)
    } else {
        None
    };
    match found {
        Some(found) if found.format == options.format => Ok(found.ack_ranges),
        Some(found) => Err(OpenError::FormatMismatch {
            expected: options.format.clone(),
            found: found.format,
        }),
        None => {
            if has_segments {
                // Records with no format: unless told to, do not guess.
                let reason = "the meta file is missing or unreadable".to_string();
                corrupt(options, storage, segment::META_FILE, 0, reason)?;
            }
            // A new log (or a crash while making one): write it, durably,
            // before any segment exists.
            let mut file = storage.create(segment::META_FILE)?;
            file.write_at(0, &segment::encode_meta(&options.format))?;
            file.sync_data()?;
            storage.sync_dir()?;
            Ok(true)
        }
    }
}

/// Under [`Recovery::Strict`], the corruption error; under `SkipCorrupt`,
/// `Ok` (the caller skips and counts).
fn corrupt(
    options: &Options,
    storage: &dyn Storage,
    name: &str,
    offset: usize,
    reason: String,
) -> Result<(), OpenError> {
    match options.recovery {
        Recovery::SkipCorrupt => Ok(()),
        _ => Err(OpenError::Corrupt {
            segment: storage.path(name),
            offset: offset as u64,
            reason,
        }),
    }
}

/// Creates segment `first_seq` with its `Start` record, durably.
fn new_segment(
    storage: &dyn Storage,
    first_seq: u64,
    max_id: u64,
    size: u64,
) -> Result<Io, OpenError> {
    let mut buf = Vec::new();
    let start = Record::Start { max_id };
    start.encode_unsealed(&mut buf);
    super::record::seal(&mut buf, 0, first_seq);
    let mut file = storage.create(&segment::name(first_seq))?;
    file.set_len(size.max(buf.len() as u64))?;
    file.write_at(0, &buf)?;
    file.sync_data()?;
    storage.sync_dir()?;
    Ok(Io::new(file, first_seq, buf.len() as u64, Live::default())?)
}

/// One message as replay goes.
#[derive(Debug)]
struct Entry {
    /// What replay returns for it.
    restored: Restored,
    /// The sequence number of its `Delivered`, if one is in force.
    delivered_at: Option<u64>,
}

/// The messages found so far.
#[derive(Debug, Default)]
struct State {
    /// Messages by enqueue order; `None` where one left.
    order: Vec<Option<Entry>>,
    /// Where each live id is in `order`.
    index: IdMap<usize>,
    /// The highest id seen.
    max_id: u64,
    /// The sequence number of the last clean close.
    clean_close_at: u64,
    /// The kind of the last record.
    last_kind: Option<Kind>,
    /// The latest delivery ranges, tagged with their sequence numbers.
    ranges: Ranges,
}

impl State {
    /// Takes account of one valid record.
    fn apply(&mut self, seq: u64, record: Record<'_>) {
        self.last_kind = Some(record.kind());
        if let Some(id) = record.id() {
            self.max_id = self.max_id.max(id);
        }
        match record {
            Record::Start { max_id } => self.max_id = self.max_id.max(max_id),
            Record::Enqueue { id, payload } => {
                if let Some(slot) = self.index.remove(&id).and_then(|i| self.order.get_mut(i)) {
                    *slot = None;
                }
                self.index.insert(id, self.order.len());
                self.order.push(Some(Entry {
                    restored: Restored {
                        id,
                        payload: payload.to_vec(),
                        possibly_delivered: false,
                        redeliveries: 0,
                    },
                    // Enqueued under a range's cover: it may have been
                    // delivered without a record of its own.
                    delivered_at: self.ranges.find(id),
                }));
            }
            Record::DeliveredRange { first, last } => {
                let live: Vec<u64> = if last.saturating_sub(first) < self.index.len() as u64 {
                    (first..=last).collect()
                } else {
                    // Wider than the live messages (a crafted log's).
                    ranges::live_in(first, last, self.index.len(), self.index.keys(), |id| {
                        self.index.contains_key(&id)
                    })
                };
                for id in live {
                    if let Some(entry) = self.entry(id) {
                        entry.delivered_at = Some(seq);
                    }
                }
                self.ranges.push(first, last, seq);
            }
            Record::Ack { id } | Record::DeadLetter { id } => self.remove(id),
            Record::AckRange { first, last } => {
                let order = &mut self.order;
                ranges::remove_in(&mut self.index, first, last, |i| vacate(order, i));
            }
            Record::Delivered { id } => {
                if let Some(entry) = self.entry(id) {
                    entry.delivered_at = Some(seq);
                }
            }
            Record::Requeued { id, redeliveries } => {
                if let Some(entry) = self.entry(id) {
                    entry.restored.redeliveries = redeliveries;
                    entry.delivered_at = None;
                }
            }
            Record::CleanClose => {
                self.clean_close_at = seq;
                self.ranges.clear();
            }
        }
    }

    /// Forgets message `id` (acked or dead-lettered), if it is live.
    fn remove(&mut self, id: u64) {
        if let Some(i) = self.index.remove(&id) {
            vacate(&mut self.order, i);
        }
    }

    /// The live entry of `id`.
    fn entry(&mut self, id: u64) -> Option<&mut Entry> {
        let &i = self.index.get(&id)?;
        self.order.get_mut(i)?.as_mut()
    }

    /// The messages in order, the highest id and whether the log ended with
    /// a clean close.
    fn finish(self) -> (Vec<Restored>, u64, bool) {
        let clean_close_at = self.clean_close_at;
        let mut messages = Vec::with_capacity(self.index.len());
        for entry in self.order.into_iter().flatten() {
            let mut restored = entry.restored;
            restored.possibly_delivered = entry.delivered_at.is_some_and(|at| at > clean_close_at);
            messages.push(restored);
        }
        let clean = self.last_kind == Some(Kind::CleanClose);
        (messages, self.max_id, clean)
    }
}

/// Empties place `i` in replay's `order`: its message is no longer live.
fn vacate(order: &mut [Option<Entry>], i: usize) {
    if let Some(slot) = order.get_mut(i) {
        *slot = None;
    }
}
