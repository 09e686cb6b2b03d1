//! The journal: confirmed appends per second under concurrency, against two
//! hand-written baselines in the same run, and the time to replay a large log
//! (issue 12's performance goals).
//!
//! Prints, for 100-byte and 4 KiB records and 1, 8 and 64 appending threads:
//!
//! - `fsync-each`: baseline (a), one file, `write` then `sync_data` for every
//!   record (threads take turns on a mutex);
//! - `writer-64`: baseline (b), one writer thread receives records over a
//!   channel, writes each, syncs after 64 records or when nothing more is
//!   waiting, then replies to each sender;
//! - `Always` and `Buffered`: the journal (group commit, preallocated
//!   segments), an append counted once it returned.
//!
//! and the journal's ratios to the baselines (the goal: with 64 threads,
//! `Always` at least 50 % of `writer-64` and 10x `fsync-each`). Then the time
//! to open a log of 10^6 pending 100-byte messages (goal: under 2 s).
//!
//! The baselines (in `common/baselines.rs`, shared with `benches/durable.rs`)
//! append to a plain file (no preallocation), as the simplest hand-written
//! log would. Not a criterion benchmark: each figure is one run
//! of a fixed duration, already an average over many thousand records.
//!
//! Run: `cargo bench --bench journal`. `JOURNAL_BENCH_SECS` sets the seconds
//! per case (default 1), `JOURNAL_REPLAY` the messages of the replay log
//! (default 1000000). Files go to the system's temp dir.

// The journal is crate-private: the bench compiles its source itself. Its
// items are `pub` for the library's re-exports, and `cargo clippy
// --all-targets` checks benches with `cfg(test)` but no test harness, so the
// journal's test modules compile with their tests stripped and their imports
// unused.
#[allow(unreachable_pub, unused_imports, dead_code)]
#[path = "../src/journal/mod.rs"]
mod journal;

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::baselines::{env_f64, fsync_each, run, writer_64, Scratch};
use journal::{Options, SyncPolicy};

/// The journal under `policy`: returns records per second and the largest
/// batch.
fn journal(threads: usize, payload: &[u8], policy: SyncPolicy, secs: f64) -> (f64, u64) {
    let dir = Scratch::new("journal", "journal");
    let (journal, _) = journal::open(dir.path(), Options::new("bench").sync(policy)).unwrap();
    let rate = run(threads, secs, |t, i| {
        journal
            .enqueue(((t as u64) << 40) | (i + 1), payload)
            .unwrap();
    });
    (rate, journal.stats().max_batch)
}

/// Opens a log of `n` pending 100-byte messages; returns the time to write
/// it and the time to open it.
fn replay(n: u64) -> (Duration, Duration) {
    let dir = Scratch::new("journal", "replay");
    let options = Options::new("bench").sync(SyncPolicy::Buffered);
    let payload = [7u8; 100];
    let start = Instant::now();
    {
        // Four writers, so that records share writes.
        let (journal, _) = journal::open(dir.path(), options.clone()).unwrap();
        let journal = Arc::new(journal);
        thread::scope(|s| {
            for t in 0..4u64 {
                let journal = journal.clone();
                s.spawn(move || {
                    for i in (t..n).step_by(4) {
                        journal.enqueue(i + 1, &payload).unwrap();
                    }
                });
            }
        });
        journal.flush().unwrap();
    }
    let wrote = start.elapsed();
    let start = Instant::now();
    let (_journal, replay) = journal::open(dir.path(), options).unwrap();
    let opened = start.elapsed();
    assert_eq!(replay.messages.len() as u64, n);
    (wrote, opened)
}

fn main() {
    // Criterion-style arguments (`--bench`, filters) are accepted and ignored.
    let secs = env_f64("JOURNAL_BENCH_SECS", 1.0);
    let replay_n = env_f64("JOURNAL_REPLAY", 1e6) as u64;
    println!("confirmed appends per second, {secs} s per case:");
    println!(
        "{:>7} {:>7} {:>12} {:>12} {:>12} {:>12}   {:>14} {:>14} {:>9}",
        "record",
        "threads",
        "fsync-each",
        "writer-64",
        "Always",
        "Buffered",
        "Always/(b)",
        "Always/(a)",
        "max batch"
    );
    for size in [100usize, 4096] {
        let payload = vec![0x5a; size];
        for threads in [1usize, 8, 64] {
            let a = fsync_each("journal", threads, &payload, secs);
            let b = writer_64("journal", threads, &payload, secs);
            let (always, max_batch) = journal(threads, &payload, SyncPolicy::Always, secs);
            let (buffered, _) = journal(threads, &payload, SyncPolicy::Buffered, secs);
            println!(
                "{:>7} {:>7} {:>12.0} {:>12.0} {:>12.0} {:>12.0}   {:>13.0}% {:>13.1}x {:>9}",
                if size == 100 { "100 B" } else { "4 KiB" },
                threads,
                a,
                b,
                always,
                buffered,
                100.0 * always / b,
                always / a,
                max_batch
            );
        }
    }
    let (wrote, opened) = replay(replay_n);
    println!(
        "replay: {replay_n} pending 100-byte messages written in {:.2} s (Buffered, 4 threads), opened in {:.3} s",
        wrote.as_secs_f64(),
        opened.as_secs_f64()
    );
}
