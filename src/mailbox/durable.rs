//! Durable mailboxes: a mailbox over the write-ahead log (`journal`), so
//! that a crash, a deploy or an OOM kill loses no confirmed message.
//!
//! The log sees a message's whole life: a send logs it before it enters the
//! queue (and returns once the log holds it, per the [`SyncPolicy`]); a
//! delivery, an acknowledgement, a requeue and a dead letter are logged as
//! they happen. Opening the directory again replays the log: every message
//! neither acked nor dead-lettered comes back, in order, with its header.
//!
//! | event | record | waits for |
//! | --- | --- | --- |
//! | a send | `Enqueue` (header and body) | the sync policy: synced (`Always`) or written (`Buffered`, `Every`) |
//! | a push refused after logging (full, closed) | `DeadLetter` | nothing |
//! | `recv_ack` hands out a delivery | usually none: a `DeliveredRange` written by an earlier delivery covers it; else a new range (or, after a requeue, a `Delivered`) | the write of that record (a process crash brings the message back flagged) |
//! | a plain `recv` (an automatic ack) | the same, and an `Ack` | the range's write, as `recv_ack`; the `Ack` waits for nothing (taken just before a crash, the message may come back once, flagged; never unflagged) |
//! | `ack` | `Ack` | nothing: acked just before a crash, it may come back once, flagged |
//! | `nack` / a dropped delivery | `Requeued` with the new count | nothing |
//! | dead letters (rejected, expired, redelivered too often, evicted, destroyed) | `DeadLetter` | nothing |
//! | the last handle gone | `CleanClose` | the sync |
//!
//! So a receive writes nothing of its own: its `Ack` rides along with the
//! next write (at most 2 ms or 16 KiB later), and one range write covers
//! the deliveries of the next 64 ids. The price, after a process crash, is
//! that a message whose id a range covered may come back flagged though no
//! consumer had it yet (at most 63 per range; the journal's module docs
//! give the whole crash semantics). Nothing on the receive side waits for
//! a sync under any policy, as before.
//!
//! Handles going away is not a loss: a mailbox whose handles are all
//! dropped keeps its queued and unacked messages in the log for the next
//! open (they are not dead-lettered); only destroying it removes them.
//!
//! # Payload
//!
//! An `Enqueue` record's payload is the header, then the body as the codec
//! encodes it (all integers little-endian):
//!
//! | bytes | field |
//! | --- | --- |
//! | 1 | version (1) |
//! | 1 | flags: correlation id, reply-to, expiry, source, reply, expiry "never" |
//! | 1 | priority |
//! | 4 | redeliveries |
//! | 8 each, if flagged | correlation id, reply-to pid, expiry (Unix milliseconds), source pid |
//! | rest | the body |
//!
//! The expiry is stored as wall-clock time, so a time to live keeps running
//! while the process is down.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::codec::Codec;
use crate::id::{MessageId, Pid};
use crate::journal::{self, Journal, OpenError, Recovery, Replay, Restored, SyncPolicy};
use crate::message::Message;
use crate::receipt::Tracker;

/// The payload format's version.
const VERSION: u8 = 1;

/// Header flags in the payload.
const HAS_CORRELATION: u8 = 1;
const HAS_REPLY_TO: u8 = 2;
const HAS_EXPIRY: u8 = 4;
const HAS_SOURCE: u8 = 8;
const IS_REPLY: u8 = 16;
const EXPIRY_NEVER: u8 = 32;

/// Where and how a mailbox keeps its log: the argument of
/// [`MailboxBuilder::durable`](crate::MailboxBuilder::durable).
///
/// `C` is the codec ([`codec`](Durable::codec) sets it); a mailbox cannot be
/// made durable without one.
///
/// # Examples
///
/// ```
/// use postbox::{Durable, Mailbox, Raw, SyncPolicy};
///
/// let dir = std::env::temp_dir().join(format!("postbox-doc-durable-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// {
///     let (tx, _rx) = Mailbox::<String>::builder()
///         .durable(Durable::at(&dir).codec(Raw).sync(SyncPolicy::Always))
///         .open()
///         .unwrap();
///     tx.send("render profile 7".to_string()).unwrap(); // on disk when this returns
/// } // every handle dropped: the message stays in the log
/// let (_tx, rx) = Mailbox::<String>::builder()
///     .durable(Durable::at(&dir).codec(Raw))
///     .open()
///     .unwrap();
/// assert_eq!(rx.recv().unwrap().into_body(), "render profile 7");
/// # drop(rx); drop(_tx);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// ```
#[derive(Clone)]
pub struct Durable<C = ()> {
    dir: PathBuf,
    codec: C,
    sync: SyncPolicy,
    recovery: Recovery,
    segment_size: u64,
}

impl Durable<()> {
    /// A log in directory `dir` (created if needed), synced as
    /// [`SyncPolicy::Always`], strict about corruption. Set a codec next.
    pub fn at(dir: impl Into<PathBuf>) -> Durable<()> {
        Durable {
            dir: dir.into(),
            codec: (),
            sync: SyncPolicy::Always,
            recovery: Recovery::Strict,
            segment_size: journal::DEFAULT_SEGMENT_SIZE,
        }
    }
}

impl<C> Durable<C> {
    /// The codec that turns bodies into bytes ([`Raw`](crate::Raw),
    /// `Postcard`, or your own [`Codec`]).
    pub fn codec<D>(self, codec: D) -> Durable<D> {
        Durable {
            dir: self.dir,
            codec,
            sync: self.sync,
            recovery: self.recovery,
            segment_size: self.segment_size,
        }
    }

    /// When a send returns and when the log is synced (default `Always`).
    #[must_use]
    pub fn sync(mut self, sync: SyncPolicy) -> Self {
        self.sync = sync;
        self
    }

    /// What opening does with damage other than a torn tail (default
    /// [`Recovery::Strict`]: a typed error).
    #[must_use]
    pub fn recovery(mut self, recovery: Recovery) -> Self {
        self.recovery = recovery;
        self
    }

    /// The size log segments are preallocated to (default 8 MiB).
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// The log's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

impl<C> fmt::Debug for Durable<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Durable")
            .field("dir", &self.dir)
            .field("sync", &self.sync)
            .field("recovery", &self.recovery)
            .field("segment_size", &self.segment_size)
            .finish()
    }
}

/// A durable mailbox's log and codec.
pub(super) struct Log<T> {
    /// `None` once closed (the core's drop).
    journal: Option<Journal>,
    codec: Box<dyn Codec<T>>,
    /// Receipts waiting to hear that their message is durable.
    watch: Arc<DurableWatch>,
}

/// The receipts of messages logged but not yet durable, each with the
/// sequence number the log must reach.
///
/// The log tells it every advance (once per batch under `Buffered`), and
/// most often no receipt waits: `waiting` lets that case skip the lock.
/// Why it cannot miss a receipt: the registering thread sets `waiting`
/// then reads the durable sequence number, the log stores an advance then
/// loads the number it reports, and the callback then reads `waiting`, all
/// four `SeqCst`; so either the callback sees the receipt waiting, or the
/// registering thread sees the advance and checks the receipt itself.
#[derive(Default)]
struct DurableWatch {
    pending: Mutex<Vec<(u64, Weak<Tracker>)>>,
    /// `pending`'s length, kept under its lock.
    waiting: AtomicUsize,
}

impl DurableWatch {
    /// Registers `tracker` to be marked once the log is durable up to
    /// `target`.
    fn watch(&self, target: u64, tracker: Weak<Tracker>) {
        let mut pending = self.pending.lock();
        pending.push((target, tracker));
        self.waiting.store(pending.len(), Ordering::SeqCst);
    }

    /// The log is durable up to `seq`: marks every receipt it covers.
    fn reached(&self, seq: u64) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let due: Vec<Weak<Tracker>> = {
            let mut pending = self.pending.lock();
            let mut due = Vec::new();
            pending.retain(|(target, tracker)| {
                if *target <= seq {
                    due.push(tracker.clone());
                    false
                } else {
                    true
                }
            });
            self.waiting.store(pending.len(), Ordering::SeqCst);
            due
        };
        for tracker in due.iter().filter_map(Weak::upgrade) {
            tracker.mark_durable();
        }
    }
}

/// What opening found, for the mailbox to restore (`restore.rs`).
pub(super) struct Opened<T> {
    pub(super) log: Log<T>,
    /// The messages to restore, still encoded, in log order.
    pub(super) messages: Vec<Restored>,
    /// The highest message id the log names.
    pub(super) max_id: u64,
}

/// Opens the log of `durable`. Its messages are decoded by the builder
/// (`restore::fill`), before anything is written.
pub(super) fn open<T, C: Codec<T> + 'static>(durable: Durable<C>) -> Result<Opened<T>, OpenError> {
    let options = journal::Options::new(durable.codec.name())
        .sync(durable.sync)
        .recovery(durable.recovery)
        .segment_size(durable.segment_size);
    let (journal, replay) = journal::open(&durable.dir, options)?;
    let watch = Arc::new(DurableWatch::default());
    let reached = Arc::downgrade(&watch);
    journal.on_durable(Arc::new(move |seq| {
        if let Some(watch) = reached.upgrade() {
            watch.reached(seq);
        }
    }));
    let log = Log {
        journal: Some(journal),
        codec: Box::new(durable.codec),
        watch,
    };
    let Replay {
        messages, max_id, ..
    } = replay;
    Ok(Opened {
        log,
        messages,
        max_id,
    })
}

impl<T> Log<T> {
    #[inline]
    fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// Logs a send: returns once the log holds the message as the policy
    /// promises. `Err` if the body did not encode or the log failed.
    pub(super) fn enqueue(&self, msg: &Message<T>) -> Result<(), ()> {
        let payload = self.encode(msg).map_err(drop)?;
        match self.journal() {
            Some(journal) => journal
                .enqueue(msg.header().id().as_u64(), &payload)
                .map(drop)
                .map_err(drop),
            None => Err(()),
        }
    }

    /// A tracked message was just logged: its receipt learns when the log
    /// holds it durably (at once for `Always`, whose send returned after
    /// the sync). The target is the last record written, which is at or
    /// after this message's.
    pub(super) fn watch_durable(&self, tracker: &Arc<Tracker>) {
        let Some(journal) = self.journal() else {
            return;
        };
        let target = journal.stats().written_seq;
        if journal.durable_seq() >= target {
            tracker.mark_durable();
            return;
        }
        self.watch.watch(target, Arc::downgrade(tracker));
        // The log may have got there while this was registered (a `SeqCst`
        // load after `watch`'s store: see `DurableWatch`).
        self.watch.reached(journal.durable_seq());
    }

    /// A logged message the queue then refused: gone (never sent).
    pub(super) fn withdrawn(&self, id: MessageId) {
        self.dead_lettered(id);
    }

    /// A delivery is being handed out (returns once a record that covers
    /// it is written: usually one already was).
    #[inline]
    pub(super) fn delivered(&self, id: MessageId) {
        if let Some(journal) = self.journal() {
            // A failed log takes no more records; the message may come
            // back after a restart (at least once).
            let _ = journal.deliver(id.as_u64());
        }
    }

    /// A plain receive: acknowledged with its delivery (returns once a
    /// record that covers the delivery is written; the `Ack` lingers).
    #[inline]
    pub(super) fn auto_acked(&self, id: MessageId) {
        if let Some(journal) = self.journal() {
            let _ = journal.deliver_acked(id.as_u64());
        }
    }

    /// A delivery was acknowledged.
    #[inline]
    pub(super) fn acked(&self, id: MessageId) {
        if let Some(journal) = self.journal() {
            let _ = journal.ack(id.as_u64());
        }
    }

    /// A message was given back, with its new redelivery count.
    pub(super) fn requeued(&self, id: MessageId, redeliveries: u32) {
        if let Some(journal) = self.journal() {
            let _ = journal.requeued(id.as_u64(), redeliveries);
        }
    }

    /// A message went to dead letters: gone from the log.
    pub(super) fn dead_lettered(&self, id: MessageId) {
        if let Some(journal) = self.journal() {
            let _ = journal.dead_letter(id.as_u64());
        }
    }

    /// Every handle is gone: marks a clean close and syncs.
    pub(super) fn close(&mut self) {
        if let Some(journal) = self.journal.take() {
            let _ = journal.close();
        }
    }

    /// The message as an `Enqueue` payload (see the module docs), in one
    /// buffer sized up front: the header's most (7 bytes and four 8-byte
    /// fields) and the codec's hint for the body. (Sized without the body,
    /// every send of a 100-byte body reallocated: about 400 instructions.)
    fn encode(&self, msg: &Message<T>) -> Result<Vec<u8>, crate::codec::CodecError> {
        const MOST_HEADER: usize = 7 + 4 * 8;
        let header = msg.header();
        let body_hint = self
            .codec
            .size_hint(msg.body())
            .max(std::mem::size_of::<T>());
        let mut out = Vec::with_capacity(MOST_HEADER + body_hint);
        // The flags byte is written once the fields are known.
        out.extend_from_slice(&[VERSION, 0, header.priority()]);
        out.extend_from_slice(&header.redeliveries().to_le_bytes());
        let mut flags = 0;
        if let Some(id) = header.correlation_id() {
            flags |= HAS_CORRELATION;
            out.extend_from_slice(&id.to_le_bytes());
        }
        if let Some(pid) = header.reply_to() {
            flags |= HAS_REPLY_TO;
            out.extend_from_slice(&pid.as_u64().to_le_bytes());
        }
        if let Some(at) = header.expires_at() {
            flags |= HAS_EXPIRY;
            out.extend_from_slice(&wall_clock_ms(at).to_le_bytes());
        } else if header.expires_never() {
            flags |= EXPIRY_NEVER;
        }
        if let Some(pid) = header.source() {
            flags |= HAS_SOURCE;
            out.extend_from_slice(&pid.as_u64().to_le_bytes());
        }
        if header.is_reply() {
            flags |= IS_REPLY;
        }
        if let Some(byte) = out.get_mut(1) {
            *byte = flags;
        }
        self.codec.encode(msg.body(), &mut out)?;
        Ok(out)
    }

    /// A message back from an `Enqueue` payload (its id is set by the
    /// caller). `Err` with the reason if the bytes do not decode.
    pub(super) fn decode(&self, payload: &[u8]) -> Result<Message<T>, String> {
        let mut bytes = Reader(payload);
        let version = bytes.u8()?;
        if version != VERSION {
            return Err(format!("unknown payload version {version}"));
        }
        let flags = bytes.u8()?;
        let priority = bytes.u8()?;
        let redeliveries = bytes.u32()?;
        let correlation = (flags & HAS_CORRELATION != 0)
            .then(|| bytes.u64())
            .transpose()?;
        let reply_to = (flags & HAS_REPLY_TO != 0)
            .then(|| bytes.u64())
            .transpose()?;
        let expiry = (flags & HAS_EXPIRY != 0).then(|| bytes.u64()).transpose()?;
        let source = (flags & HAS_SOURCE != 0).then(|| bytes.u64()).transpose()?;
        let body = self.codec.decode(bytes.0).map_err(|err| err.to_string())?;
        let mut msg = Message::new(body).priority(priority);
        if let Some(id) = correlation {
            msg = msg.correlation_id(id);
        }
        if let Some(pid) = reply_to {
            msg = msg.reply_to(Pid::from_u64(pid));
        }
        if let Some(at) = expiry.and_then(instant_of_wall_clock_ms) {
            msg = msg.expires_at(at);
        } else if flags & EXPIRY_NEVER != 0 {
            msg.header_mut().clear_expiry();
        }
        if let Some(pid) = source {
            msg.header_mut().set_source(Pid::from_u64(pid));
        }
        if flags & IS_REPLY != 0 {
            msg.header_mut().mark_reply();
        }
        msg.header_mut().set_redeliveries(redeliveries);
        Ok(msg)
    }
}

impl<T> fmt::Debug for Log<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log")
            .field("codec", &self.codec.name())
            .field("open", &self.journal.is_some())
            .finish()
    }
}

/// Reads a payload's fields, failing (never panicking) on a short one.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let Some((head, rest)) = self.0.split_first_chunk::<N>() else {
            return Err("payload too short".to_string());
        };
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Result<u32, String> {
        self.take::<4>().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, String> {
        self.take::<8>().map(u64::from_le_bytes)
    }
}

/// An instant as Unix milliseconds (wall-clock time), saturating.
fn wall_clock_ms(at: Instant) -> u64 {
    let now = Instant::now();
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let wall = if at >= now {
        wall_now.saturating_add(at - now)
    } else {
        wall_now.saturating_sub(now - at)
    };
    u64::try_from(wall.as_millis()).unwrap_or(u64::MAX)
}

/// Unix milliseconds (wall-clock time) as an instant of this process: now
/// or earlier for a time already gone (the message is expired); `None` for
/// one too far ahead to represent (it never expires in this process).
fn instant_of_wall_clock_ms(ms: u64) -> Option<Instant> {
    let now = Instant::now();
    let wall_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let wall = Duration::from_millis(ms);
    if wall >= wall_now {
        now.checked_add(wall - wall_now)
    } else {
        Some(now.checked_sub(wall_now - wall).unwrap_or(now))
    }
}
