//! Bounded disk (issue 12): a soak through a durable mailbox keeps its log
//! to a few segments, and once every message is acked the log is at most one
//! segment.
//!
//! One producer thread sends numbered 100-byte bodies into a durable FIFO
//! mailbox of capacity 256 (`SyncPolicy::Buffered`, 256 KiB segments, so that
//! the log rolls over every ~1,300 messages); one consumer thread takes them,
//! alternating `recv_ack` + `ack` and plain `recv`, checks that they come in
//! order, once each, and every [`SAMPLE_EVERY`] messages sums the lengths of
//! the directory's files and asserts the sum never exceeds three segments'
//! worth (plus the small `LOCK` and `META` files). The capacity is what makes
//! a bound possible at all: an unbounded mailbox whose producer outruns its
//! consumer holds, and must log, an ever longer backlog. Why three: 256
//! queued messages (~190 bytes of records each) fit in one segment, so live
//! messages span the active segment and the one before it; `Buffered` syncs
//! only at a rollover, which is when the writer deletes, so the segment
//! before those two lives until the next rollover creates a new one, and is
//! deleted in that same batch. Seen: two segments between rollovers.
//!
//! After the last ack the handles are dropped (a clean close, synced: the
//! writer deletes segments after a sync), and the directory must hold at most
//! one segment file; reopened, the log gives back nothing.
//!
//! `cargo test --test durable_soak` runs 2·10^5 messages;
//! `POSTBOX_SOAK_MESSAGES=10000000 cargo test --release --test durable_soak
//! -- --nocapture` runs the 10^7 and prints the time and the largest
//! disk use seen.

use std::path::{Path, PathBuf};
use std::thread;
use std::time::Instant;

use postbox::{Durable, Mailbox, Raw, Receiver, Sender, SyncPolicy};

/// The segment size: small, so that rollovers and deletions happen often.
const SEGMENT: u64 = 256 << 10;
/// The mailbox's capacity: the most messages queued at once.
const CAPACITY: usize = 256;
/// The body's length.
const BODY: usize = 100;
/// Messages between two samples of the directory's size.
const SAMPLE_EVERY: u64 = 1000;
/// The most the directory may hold: three segments (see the module docs),
/// plus room for the `LOCK` and `META` files.
const BOUND: u64 = 3 * SEGMENT + 4096;

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("postbox-soak-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the directory holds now: the sum of its files' lengths and the
/// number of segment files. A file deleted between the listing and its
/// length counts as empty.
fn disk_use(dir: &Path) -> (u64, usize) {
    let (mut bytes, mut segments) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        bytes += entry.metadata().map_or(0, |m| m.len());
        if entry.file_name().to_string_lossy().ends_with(".seg") {
            segments += 1;
        }
    }
    (bytes, segments)
}

fn open(dir: &TempDir) -> (Sender<Vec<u8>>, Receiver<Vec<u8>>) {
    Mailbox::<Vec<u8>>::builder()
        .capacity(CAPACITY)
        .durable(
            Durable::at(&dir.0)
                .codec(Raw)
                .sync(SyncPolicy::Buffered)
                .segment_size(SEGMENT),
        )
        .open()
        .unwrap()
}

fn body(n: u64) -> Vec<u8> {
    let mut body = vec![0xa5; BODY];
    body[..8].copy_from_slice(&n.to_le_bytes());
    body
}

fn number(body: &[u8]) -> u64 {
    u64::from_le_bytes(body[..8].try_into().unwrap())
}

#[test]
fn disk_use_stays_bounded_and_shrinks_to_one_segment() {
    let total: u64 = std::env::var("POSTBOX_SOAK_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let dir = TempDir::new("bounded");
    let (tx, rx) = open(&dir);
    let start = Instant::now();
    let (max_bytes, max_segments, samples) = thread::scope(|s| {
        s.spawn(move || {
            for n in 0..total {
                tx.send(body(n)).unwrap();
            }
        });
        let consumer = s.spawn(|| {
            let (mut max_bytes, mut max_segments, mut samples) = (0, 0, 0u64);
            for n in 0..total {
                let got = if n % 2 == 0 {
                    let delivery = rx.recv_ack().unwrap();
                    assert!(!delivery.is_redelivered(), "message {n} redelivered");
                    delivery.ack()
                } else {
                    rx.recv().unwrap()
                };
                assert_eq!(number(got.body()), n, "out of order or lost");
                assert_eq!(got.body().len(), BODY);
                if n % SAMPLE_EVERY == SAMPLE_EVERY - 1 {
                    let (bytes, segments) = disk_use(&dir.0);
                    assert!(
                        bytes <= BOUND,
                        "after {} messages the log holds {bytes} bytes in {segments} segments \
                         (bound {BOUND})",
                        n + 1
                    );
                    max_bytes = max_bytes.max(bytes);
                    max_segments = max_segments.max(segments);
                    samples += 1;
                }
            }
            (max_bytes, max_segments, samples)
        });
        consumer.join().unwrap()
    });
    let elapsed = start.elapsed();
    assert!(rx.is_empty());
    let stats = rx.stats();
    drop(rx);
    // Every handle gone: the clean close is synced, and the segments no
    // message needs are deleted after that sync.
    let (bytes, segments) = disk_use(&dir.0);
    println!(
        "soak: {total} messages in {:.2} s ({:.0}/s); disk use sampled {samples} times, \
         at most {max_bytes} bytes ({:.2} segments of {SEGMENT}) in {max_segments} segment \
         files (bound {BOUND}); after the last ack and close: {bytes} bytes, {segments} \
         segment file(s); {stats:?}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        max_bytes as f64 / SEGMENT as f64,
    );
    assert!(samples >= total / SAMPLE_EVERY);
    assert!(
        segments <= 1,
        "{segments} segment files after every message was acked"
    );

    // Reopened: nothing comes back, and the log is still one segment.
    let (tx, rx) = open(&dir);
    assert!(rx.is_empty(), "{} acked messages came back", rx.len());
    drop((tx, rx));
    let (_, segments) = disk_use(&dir.0);
    assert!(segments <= 1, "{segments} segment files after a reopen");
}
