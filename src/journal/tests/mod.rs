//! The journal's behaviour tests: this file the plain ones on real files,
//! `model.rs` a reference replay and workload, `crash.rs` simulated power
//! loss, `corrupt.rs` damaged real files, `concurrent.rs` group commit,
//! `acks.rs` ack runs, `covered.rs` deliveries without the lock.

mod acks;
mod concurrent;
mod corrupt;
mod covered;
mod crash;
mod model;
mod receive;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::segment;
use super::{open, OpenError, Options, Recovery, SyncPolicy};

/// A directory under the system's temp dir, removed when dropped.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty, uniquely named directory.
    pub(super) fn new(name: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("postbox-journal-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    /// Its path.
    pub(super) fn path(&self) -> &Path {
        &self.0
    }

    /// The segment files in it, in order.
    pub(super) fn segments(&self) -> Vec<PathBuf> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| segment::parse_name(n).is_some())
            .collect();
        names.sort();
        names.into_iter().map(|n| self.0.join(n)).collect()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The payload of message `id` in these tests.
pub(super) fn payload(id: u64) -> Vec<u8> {
    let len = (id * 7 % 50) as usize;
    (0..len).map(|i| (id as u8).wrapping_add(i as u8)).collect()
}

/// Options for these tests: small segments.
fn small(sync: SyncPolicy) -> Options {
    Options::new("test:v1").sync(sync).segment_size(512)
}

#[test]
fn messages_come_back_in_order_with_their_state() {
    let dir = TempDir::new("order");
    {
        let (journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
        assert!(replay.messages.is_empty());
        for id in 1..=20 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
        journal.ack(2).unwrap();
        journal.dead_letter(3).unwrap();
        journal.delivered(4).unwrap();
        journal.requeued(5, 2).unwrap();
        journal.requeued(6, 1).unwrap();
        journal.delivered(6).unwrap();
        journal.delivered(7).unwrap();
        journal.requeued(7, 1).unwrap();
        journal.ack(99).unwrap(); // never enqueued: ignored
    }
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    let ids: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    let expected: Vec<u64> = (1..=20).filter(|id| ![2, 3].contains(id)).collect();
    assert_eq!(ids, expected);
    for m in &replay.messages {
        assert_eq!(m.payload, payload(m.id));
        let (delivered, count) = match m.id {
            4 => (true, 0),
            5 => (false, 2),
            6 => (true, 1),
            7 => (false, 1),
            _ => (false, 0),
        };
        assert_eq!(
            (m.possibly_delivered, m.redeliveries),
            (delivered, count),
            "{}",
            m.id
        );
    }
    assert_eq!(replay.max_id, 99);
    assert!(!replay.clean_close);
    assert!(replay.segments > 1, "512-byte segments roll over");
}

#[test]
fn a_clean_close_means_nothing_was_in_a_consumers_hands() {
    let dir = TempDir::new("clean");
    let (journal, _) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    journal.enqueue(1, b"a").unwrap();
    journal.enqueue(2, b"b").unwrap();
    journal.delivered(1).unwrap();
    journal.close().unwrap();
    let (journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    assert!(replay.clean_close);
    assert!(replay.messages.iter().all(|m| !m.possibly_delivered));
    // Delivered again after the reopen, then a crash (no clean close).
    journal.delivered(2).unwrap();
    drop(journal);
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    assert!(!replay.clean_close);
    let flags: Vec<(u64, bool)> = replay
        .messages
        .iter()
        .map(|m| (m.id, m.possibly_delivered))
        .collect();
    assert_eq!(flags, [(1, false), (2, true)]);
}

#[test]
fn after_every_ack_the_log_is_one_segment_and_remembers_the_ids() {
    let dir = TempDir::new("shrink");
    {
        let (journal, _) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
        for id in 1..=200 {
            journal.enqueue(id, &[7; 100]).unwrap();
            if id % 3 == 0 {
                journal.delivered(id).unwrap();
                journal.requeued(id, 1).unwrap();
            }
        }
        assert!(dir.segments().len() > 20);
        for id in 1..=200 {
            journal.ack(id).unwrap();
        }
        journal.flush().unwrap();
        assert_eq!(dir.segments().len(), 1, "{:?}", dir.segments());
        let stats = journal.stats();
        assert_eq!((stats.live, stats.segments), (0, 1));
        assert_eq!(stats.segments_created, stats.segments_deleted + 1);
    }
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    assert!(replay.messages.is_empty());
    assert_eq!(replay.max_id, 200, "the active segment's Start carries it");
    assert_eq!(dir.segments().len(), 1);
}

#[test]
fn the_background_thread_tallies_what_batches_wrote() {
    // A batch leaves its records to the background thread's tally
    // (`batch.rs`): with no sync or rollover to make anyone catch up, the
    // tally (and so `stats().live`) still reaches the acks soon after.
    let dir = TempDir::new("tally-behind");
    let (journal, _) = open(dir.path(), Options::new("t").sync(SyncPolicy::Buffered)).unwrap();
    for id in 1..=100 {
        journal.enqueue(id, b"x").unwrap();
    }
    for id in 1..=100 {
        journal.ack(id).unwrap();
    }
    // A write of the acks, without a sync (a `Buffered` enqueue waits for
    // its write only).
    journal.enqueue(101, b"y").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while journal.stats().live != 1 {
        assert!(Instant::now() < deadline, "{:?}", journal.stats());
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(journal.stats().syncs, 0, "no sync made the tally catch up");
}

#[test]
fn a_second_opener_is_locked_out_until_the_first_is_gone() {
    let dir = TempDir::new("lock");
    let (journal, _) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    match open(dir.path(), small(SyncPolicy::Always)) {
        Err(OpenError::Locked { dir: locked }) => assert_eq!(locked, dir.path()),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(journal);
    assert!(open(dir.path(), small(SyncPolicy::Always)).is_ok());
}

#[test]
fn another_format_is_refused() {
    let dir = TempDir::new("format");
    drop(open(dir.path(), Options::new("bytes")).unwrap());
    match open(dir.path(), Options::new("postcard:Job")) {
        Err(OpenError::FormatMismatch { expected, found }) => {
            assert_eq!(
                (expected.as_str(), found.as_str()),
                ("postcard:Job", "bytes")
            );
        }
        other => panic!("expected FormatMismatch, got {other:?}"),
    }
    assert!(open(dir.path(), Options::new("bytes")).is_ok());
}

#[test]
fn a_torn_tail_is_cut_and_the_next_record_goes_at_the_cut() {
    let dir = TempDir::new("tail");
    {
        let (journal, _) = open(dir.path(), Options::new("t")).unwrap();
        for id in 1..=3 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
    }
    // Half of a fourth record, as a crash mid-write leaves it.
    let last = dir.segments().pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let end = segment::scan(&bytes, 1, true, |_, _| {}).end;
    let mut record = Vec::new();
    super::record::Record::Enqueue {
        id: 4,
        payload: &payload(4),
    }
    .encode_unsealed(&mut record);
    super::record::seal(&mut record, 0, 5);
    let half = record.len() / 2;
    bytes[end..end + half].copy_from_slice(&record[..half]);
    std::fs::write(&last, &bytes).unwrap();

    {
        let (journal, replay) = open(dir.path(), Options::new("t")).unwrap();
        assert_eq!(replay.messages.len(), 3);
        assert!(replay.tail_cut > 0 && replay.tail_cut <= half as u64);
        journal.enqueue(5, b"five").unwrap();
    }
    let (_journal, replay) = open(dir.path(), Options::new("t")).unwrap();
    assert_eq!(replay.tail_cut, 0);
    let ids: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [1, 2, 3, 5]);
}

#[test]
fn damage_before_the_last_segment_is_an_error_or_skipped_on_request() {
    let dir = TempDir::new("damage");
    {
        let (journal, _) = open(dir.path(), small(SyncPolicy::Buffered)).unwrap();
        for id in 1..=40 {
            journal.enqueue(id, &payload(id)).unwrap();
        }
    }
    let first = dir.segments()[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[40] ^= 0x10; // inside its second record
    std::fs::write(&first, &bytes).unwrap();
    match open(dir.path(), small(SyncPolicy::Buffered)) {
        Err(OpenError::Corrupt {
            segment, offset, ..
        }) => {
            assert_eq!(segment, first);
            assert!(offset > 0 && offset <= 40, "{offset}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let options = small(SyncPolicy::Buffered).recovery(Recovery::SkipCorrupt);
    let (_journal, replay) = open(dir.path(), options).unwrap();
    assert_eq!(replay.skipped, 1);
    assert!(!replay.messages.is_empty() && replay.messages.len() < 40);
    for m in &replay.messages {
        assert_eq!(m.payload, payload(m.id));
    }
}

#[test]
fn the_durable_seq_advances_and_callbacks_see_it_in_order() {
    let dir = TempDir::new("durable");
    let (journal, _) = open(dir.path(), Options::new("t")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    journal.on_durable(Arc::new(move |seq| log.lock().unwrap().push(seq)));
    let seq = journal.enqueue(1, b"x").unwrap();
    assert!(journal.durable_seq() >= seq);
    // An ack waits for no sync; waiting for it makes one.
    let ack = journal.ack(1).unwrap();
    assert!(journal.wait_durable(ack, None).unwrap());
    assert!(journal.durable_seq() >= ack);
    let seen = seen.lock().unwrap().clone();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&journal.durable_seq()));
}

/// A callback may add another (no lock is held while callbacks run); one
/// added after an advance hears the advances after it, in order.
#[test]
fn a_callback_added_later_hears_later_advances() {
    let dir = TempDir::new("callbacks");
    let (journal, _) = open(dir.path(), Options::new("t").sync(SyncPolicy::Buffered)).unwrap();
    let journal = Arc::new(journal);
    let first = Arc::new(Mutex::new(Vec::new()));
    let second = Arc::new(Mutex::new(Vec::new()));
    let (log, added, weak) = (first.clone(), second.clone(), Arc::downgrade(&journal));
    journal.on_durable(Arc::new(move |seq| {
        let mut log = log.lock().unwrap();
        log.push(seq);
        if log.len() == 1 {
            let added = added.clone();
            if let Some(journal) = weak.upgrade() {
                journal.on_durable(Arc::new(move |seq| added.lock().unwrap().push(seq)));
            }
        }
    }));
    let one = journal.enqueue(1, b"x").unwrap();
    let two = journal.enqueue(2, b"y").unwrap();
    let three = journal.enqueue(3, b"z").unwrap();
    assert!(one < two && two < three);
    let first = first.lock().unwrap().clone();
    let second = second.lock().unwrap().clone();
    assert_eq!(first.first(), Some(&one), "{first:?}");
    assert_eq!(first.last(), Some(&three), "{first:?}");
    assert!(first.windows(2).all(|w| w[0] < w[1]), "{first:?}");
    // Every advance after the first, and only those.
    assert_eq!(second, first[1..], "{first:?} {second:?}");
}

#[test]
fn buffered_is_durable_when_written_and_every_syncs_in_the_background() {
    let dir = TempDir::new("policies");
    {
        let (journal, _) = open(dir.path(), Options::new("t").sync(SyncPolicy::Buffered)).unwrap();
        let seq = journal.enqueue(1, b"x").unwrap();
        assert_eq!(journal.durable_seq(), seq);
        assert_eq!(journal.stats().syncs, 0);
    }
    let every = SyncPolicy::Every(Duration::from_millis(5));
    let (journal, replay) = open(dir.path(), Options::new("t").sync(every)).unwrap();
    assert_eq!(replay.messages.len(), 1);
    let seq = journal.enqueue(2, b"y").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    assert!(journal.wait_durable(seq, Some(deadline)).unwrap());
    assert!(journal.stats().syncs >= 1);
}

#[test]
fn purge_drops_every_message_and_every_older_segment() {
    let dir = TempDir::new("purge");
    {
        let (journal, _) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
        for id in 1..=30 {
            journal.enqueue(id, &[1; 60]).unwrap();
        }
        journal.purge().unwrap();
        assert_eq!(dir.segments().len(), 1);
        journal.enqueue(31, b"after").unwrap();
    }
    let (_journal, replay) = open(dir.path(), small(SyncPolicy::Always)).unwrap();
    let ids: Vec<u64> = replay.messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [31]);
    assert_eq!(replay.max_id, 31);
}

#[test]
fn a_journal_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<super::Journal>();
    shared::<OpenError>();
}
