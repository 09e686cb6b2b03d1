//! Durable mailboxes (issue 12's performance goals, measured through the
//! mailbox rather than the bare journal of `benches/journal.rs`):
//!
//! 1. **Sends.** Confirmed sends per second through a durable FIFO mailbox
//!    (`Vec<u8>` bodies, [`Raw`]) with 1, 8 and 64 sender threads, 100-byte
//!    and 4 KiB bodies, [`SyncPolicy::Always`] and [`SyncPolicy::Buffered`],
//!    against the two hand-written baselines of `common/baselines.rs` in the
//!    same run (`fsync-each`: `write` + `fdatasync` per record; `writer-64`:
//!    one writer thread syncing every 64 records and replying). A send is
//!    counted once it returned. One consumer thread drains the mailbox with
//!    `recv_ack` + `ack` all along. The mailbox is **unbounded**, so that
//!    the figure is the senders' (a bounded one would report the consumer's
//!    pace whenever it falls behind); the consumer's acks per second over
//!    the same window and the backlog left at the end are printed beside it,
//!    and a second table repeats the mailbox cases at the default capacity
//!    (1024), where a slow consumer does hold the senders back. Goal: with
//!    64 senders, `Always` at least 50 % of `writer-64` and 10x
//!    `fsync-each`.
//! 2. **Replay.** A log of 10^6 pending 100-byte messages is written once
//!    (4 sender threads, `Buffered`, outside the timing); then the time until
//!    `open()` returns, three times, and the bare journal's open of the same
//!    directory, which splits the time into the log's scan and the mailbox's
//!    decode and restore. Goal: under 2 s.
//! 3. **Receive path.** A pre-filled queue of 10^5 100-byte messages drained
//!    by one thread, in ns per message: a plain mailbox's `recv` and
//!    `recv_ack` + `ack` against a durable one's, `Buffered` and `Always`
//!    (goal: durable within 2x of plain). Then where the durable time goes:
//!    the journal's calls alone (`deliver_acked` for a `recv`; `deliver` +
//!    `ack` for `recv_ack` + `ack`: a write per delivery range of 64 ids,
//!    acks riding along), the bare `pwrite(2)` of one 25-byte record per
//!    call, the same records written 64 to a `pwrite`, the CRC of one
//!    record, and the live tally's own work on the background thread
//!    (`journal/live.rs` as it is: a fill's `Enqueue`s, a drain's
//!    `DeliveredRange` and `AckRange` per 64 ids).
//! 4. **A consumer under load.** Why the consumer of part 1 falls behind
//!    `Always` senders: the journal alone, 0, 1, 8 and 64 threads enqueueing
//!    with `Always` while one thread does a `recv_ack` + `ack`'s log work
//!    (`deliver` + `ack`): both rates, the journal's batches and
//!    syncs per second, and the consumer's worst wait.
//!
//! Not a criterion benchmark: each send figure is one run of a fixed
//! duration, each receive figure the minimum and median of several drains.
//!
//! Run: `cargo bench --bench durable`. `DURABLE_BENCH_SECS` sets the seconds
//! per send case (default 1), `DURABLE_REPLAY` the messages of the replay log
//! (default 1000000), `DURABLE_RECV` the messages per drain (default
//! 100000), `DURABLE_PARTS` which parts run (default `sends,bounded,replay,
//! recv,lag`; `profile` runs two long drains for a profiler, `cg` four drains for
//! callgrind). Files go to the system's temp dir.

// The journal is crate-private: the receive-path breakdown compiles its
// source itself, as `benches/journal.rs` does (see there for the lints).
#[allow(unreachable_pub, unused_imports, dead_code)]
#[path = "../src/journal/mod.rs"]
mod journal;

mod common;

use std::fs::OpenOptions;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use postbox::{Durable, Mailbox, Raw, Receiver, Sender, SyncPolicy};

use common::baselines::{env_f64, fsync_each, run_with, writer_64, Scratch};

const BENCH: &str = "durable";

/// The mailbox over the log in `dir`: unbounded, or holding `cap` messages.
fn open_durable(
    dir: &Scratch,
    policy: SyncPolicy,
    cap: Option<usize>,
) -> (Sender<Vec<u8>>, Receiver<Vec<u8>>) {
    let builder = Mailbox::<Vec<u8>>::builder();
    let builder = match cap {
        Some(n) => builder.capacity(n),
        None => builder.unbounded(),
    };
    builder
        .durable(Durable::at(dir.path()).codec(Raw).sync(policy))
        .open()
        .unwrap()
}

/// One run of the send case.
struct Sends {
    /// Confirmed sends per second.
    sent: f64,
    /// Acks per second by the consumer over the same window.
    acked: f64,
    /// Messages still queued when the time was up.
    backlog: usize,
}

/// `threads` senders send `body` through a durable mailbox for `secs`
/// seconds while one consumer drains it with `recv_ack` + `ack`.
fn mailbox_sends(
    threads: usize,
    body: &[u8],
    policy: SyncPolicy,
    cap: Option<usize>,
    secs: f64,
) -> Sends {
    let dir = Scratch::new(BENCH, "sends");
    let (tx, rx) = open_durable(&dir, policy, cap);
    let acked = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let (acked, stop, rx) = (&acked, &stop, &rx);
    let out = thread::scope(|s| {
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(delivery) = rx.recv_ack_timeout(Duration::from_millis(5)) {
                    black_box(delivery.ack());
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        let start = Instant::now();
        let sent = run_with(
            threads,
            secs,
            |_| tx.clone(),
            |tx, _| {
                tx.send(body.to_vec()).unwrap();
            },
        );
        // The senders' window ends when `run_with` returns (it joined them):
        // the consumer's count and the backlog are read right then.
        let acked_at_stop = acked.load(Ordering::Relaxed);
        let backlog = rx.len();
        let window = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        Sends {
            sent,
            acked: acked_at_stop as f64 / window,
            backlog,
        }
    });
    drop(tx);
    out
}

fn size_name(size: usize) -> &'static str {
    if size == 100 {
        "100 B"
    } else {
        "4 KiB"
    }
}

/// Part 1: the unbounded mailbox against both baselines.
fn sends(secs: f64) {
    println!("confirmed sends per second through a durable mailbox (unbounded; one consumer acking), {secs} s per case:");
    println!(
        "{:>6} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>10} {:>10} {:>8}   {:>10} {:>10} {:>10}",
        "body",
        "senders",
        "fsync-each",
        "writer-64",
        "Always",
        "acked/s",
        "backlog",
        "",
        "Buffered",
        "acked/s",
        "backlog",
        "Always/(b)",
        "Always/(a)",
        "Buf/(b)"
    );
    for size in [100usize, 4096] {
        let body = vec![0x5a; size];
        for threads in [1usize, 8, 64] {
            // The baselines write the same bytes the journal would for the
            // message: the body plus the payload's 7-byte header and the
            // record's 25-byte frame.
            let record = vec![0x5a; size + 32];
            let a = fsync_each(BENCH, threads, &record, secs);
            let b = writer_64(BENCH, threads, &record, secs);
            let always = mailbox_sends(threads, &body, SyncPolicy::Always, None, secs);
            let buffered = mailbox_sends(threads, &body, SyncPolicy::Buffered, None, secs);
            println!(
                "{:>6} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>10.0} {:>10} {:>8} {:>10.0} {:>10.0} {:>8}   {:>9.0}% {:>9.1}x {:>9.1}x",
                size_name(size),
                threads,
                a,
                b,
                always.sent,
                always.acked,
                always.backlog,
                "",
                buffered.sent,
                buffered.acked,
                buffered.backlog,
                100.0 * always.sent / b,
                always.sent / a,
                buffered.sent / b,
            );
        }
    }
}

/// Part 1b: the mailbox cases at the default capacity, where a consumer
/// that falls behind holds the senders back.
fn bounded_sends(secs: f64) {
    let cap = postbox::DEFAULT_CAPACITY;
    println!("\nthe same through a mailbox of capacity {cap} (senders wait for room):");
    println!(
        "{:>6} {:>7} {:>10} {:>10} {:>10} {:>10}",
        "body", "senders", "Always", "acked/s", "Buffered", "acked/s"
    );
    for size in [100usize, 4096] {
        let body = vec![0x5a; size];
        for threads in [1usize, 8, 64] {
            let always = mailbox_sends(threads, &body, SyncPolicy::Always, Some(cap), secs);
            let buffered = mailbox_sends(threads, &body, SyncPolicy::Buffered, Some(cap), secs);
            println!(
                "{:>6} {:>7} {:>10.0} {:>10.0} {:>10.0} {:>10.0}",
                size_name(size),
                threads,
                always.sent,
                always.acked,
                buffered.sent,
                buffered.acked
            );
        }
    }
}

/// Part 2: opening a log of `n` pending 100-byte messages.
fn replay(n: u64) {
    let dir = Scratch::new(BENCH, "replay");
    let body = vec![7u8; 100];
    let start = Instant::now();
    {
        let (tx, _rx) = open_durable(&dir, SyncPolicy::Buffered, None);
        let tx = &tx;
        let body = &body;
        // Four senders, so that records share writes.
        thread::scope(|s| {
            for t in 0..4u64 {
                s.spawn(move || {
                    let tx = tx.clone();
                    for _ in (t..n).step_by(4) {
                        tx.send(body.clone()).unwrap();
                    }
                });
            }
        });
    } // every handle gone: a clean close, synced
    let wrote = start.elapsed();
    let bytes: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "\nreplay: {n} pending 100-byte messages written in {:.2} s (Buffered, 4 senders; {} MiB of segments)",
        wrote.as_secs_f64(),
        bytes >> 20
    );
    let mut opens = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let (tx, rx) = open_durable(&dir, SyncPolicy::Always, None);
        opens.push(start.elapsed().as_secs_f64());
        assert_eq!(rx.len() as u64, n);
        drop((tx, rx));
    }
    let mut scans = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let (journal, replay) =
            journal::open(dir.path(), journal::Options::new("raw-bytes")).unwrap();
        scans.push(start.elapsed().as_secs_f64());
        assert_eq!(replay.messages.len() as u64, n);
        drop((journal, replay));
    }
    let show = |v: &[f64]| {
        v.iter()
            .map(|s| format!("{s:.3}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "replay: open() returned in [{}] s (goal < 2 s); the journal's own open: [{}] s",
        show(&opens),
        show(&scans)
    );
}

/// The minimum and the median of `v`.
fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

/// How a drain receives.
#[derive(Clone, Copy)]
enum Recv {
    /// `recv`: an automatic ack.
    Plain,
    /// `recv_ack` then `ack`.
    Acked,
    /// The journal alone: the `ack` of an `ack` (no wait).
    AckOnly,
}

/// ns per message to drain `n` pre-filled 100-byte messages, plain mailbox
/// or durable with a policy.
fn drain(n: u64, durable: Option<SyncPolicy>, how: Recv) -> f64 {
    let dir = Scratch::new(BENCH, "recv");
    let body = vec![3u8; 100];
    let (_tx, rx) = if let Some(policy) = durable {
        // Filled with `Buffered` (10^5 single-sender syncs would take
        // minutes under `Always`), then reopened with the policy: after the
        // clean close the messages come back unflagged, in order, with
        // their ids, as if just sent.
        {
            let (tx, _rx) = open_durable(&dir, SyncPolicy::Buffered, None);
            for _ in 0..n {
                tx.send(body.clone()).unwrap();
            }
        }
        open_durable(&dir, policy, None)
    } else {
        let (tx, rx) = Mailbox::<Vec<u8>>::builder().unbounded().build();
        for _ in 0..n {
            tx.send(body.clone()).unwrap();
        }
        (tx, rx)
    };
    let mut sum = 0usize;
    let start = Instant::now();
    match how {
        Recv::Plain => {
            for _ in 0..n {
                sum += rx.recv().unwrap().body().len();
            }
        }
        Recv::Acked | Recv::AckOnly => {
            for _ in 0..n {
                sum += rx.recv_ack().unwrap().ack().body().len();
            }
        }
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed.as_nanos() as f64 / n as f64
}

/// ns per message of the journal's own work for a drain of `n` pending
/// messages: `deliver_acked` (a `recv`) or `deliver` + `ack` (a
/// `recv_ack` + `ack`).
fn journal_drain(n: u64, how: Recv) -> f64 {
    let dir = Scratch::new(BENCH, "recv-journal");
    let options = journal::Options::new("bench").sync(journal::SyncPolicy::Buffered);
    let (journal, _) = journal::open(dir.path(), options).unwrap();
    let payload = [3u8; 107];
    for id in 1..=n {
        journal.enqueue(id, &payload).unwrap();
    }
    let start = Instant::now();
    match how {
        Recv::Plain => {
            for id in 1..=n {
                journal.deliver_acked(id).unwrap();
            }
        }
        Recv::Acked => {
            for id in 1..=n {
                journal.deliver(id).unwrap();
                journal.ack(id).unwrap();
            }
        }
        Recv::AckOnly => {
            for id in 1..=n {
                journal.ack(id).unwrap();
            }
        }
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// ns per record of `pwrite`s of 25-byte records (an `Ack` or `Delivered`
/// record's size) into a preallocated file, `per_write` records to a call.
fn pwrite(n: u64, per_write: usize) -> f64 {
    let dir = Scratch::new(BENCH, "recv-pwrite");
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(dir.path().join("seg"))
        .unwrap();
    file.set_len(n * 25 + 4096).unwrap();
    let buf = vec![1u8; 25 * per_write];
    let calls = n / per_write as u64;
    let start = Instant::now();
    for i in 0..calls {
        file.write_at(&buf, i * buf.len() as u64).unwrap();
    }
    start.elapsed().as_nanos() as f64 / (calls * per_write as u64) as f64
}

/// ns per CRC-32 of a 21-byte record body (what a 25-byte record seals).
fn crc(n: u64) -> f64 {
    let mut bytes = [5u8; 21];
    let mut acc = 0u32;
    let start = Instant::now();
    for i in 0..n {
        bytes[0] = i as u8;
        acc ^= crc32fast::hash(black_box(&bytes));
    }
    let elapsed = start.elapsed();
    black_box(acc);
    elapsed.as_nanos() as f64 / n as f64
}

/// ns per message of the live tally's own work (`journal/live.rs`,
/// `Live::apply` on the table it really keeps, as the background thread
/// runs it) for `n` messages: the enqueues of a fill, and the
/// `DeliveredRange` and `AckRange` per 64 ids of a drain.
fn tally(n: u64) -> (f64, f64) {
    let (enqueues, drain, left) = journal::tally_alone(n);
    assert_eq!(left, 0);
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    (per(enqueues), per(drain))
}

/// Part 3: the receive path, and where a durable receive's time goes.
fn recv(n: u64) {
    const ROUNDS: usize = 5;
    let measure = |f: &dyn Fn() -> f64| min_median((0..ROUNDS).map(|_| f()).collect());
    println!(
        "\nreceive path: a pre-filled queue of {n} 100-byte messages drained by one thread, ns per message (min / median of {ROUNDS}):"
    );
    let buffered = Some(SyncPolicy::Buffered);
    let always = Some(SyncPolicy::Always);
    let plain_recv = measure(&|| drain(n, None, Recv::Plain));
    let plain_ack = measure(&|| drain(n, None, Recv::Acked));
    let durable_recv = measure(&|| drain(n, buffered, Recv::Plain));
    let durable_ack = measure(&|| drain(n, buffered, Recv::Acked));
    let always_recv = measure(&|| drain(n, always, Recv::Plain));
    let always_ack = measure(&|| drain(n, always, Recv::Acked));
    let journal_recv = measure(&|| journal_drain(n, Recv::Plain));
    let journal_ack = measure(&|| journal_drain(n, Recv::Acked));
    let journal_ack_only = measure(&|| journal_drain(n, Recv::AckOnly));
    let pwrite_1 = measure(&|| pwrite(n, 1));
    let pwrite_64 = measure(&|| pwrite(n, 64));
    let crc = measure(&|| crc(n));
    let tally_enqueue = measure(&|| tally(n).0);
    let tally_drain = measure(&|| tally(n).1);
    let row = |name: &str, (min, med): (f64, f64), base: Option<(f64, f64)>| {
        let ratio = base.map_or(String::new(), |(bmin, bmed)| {
            format!("{:>7.1}x {:>7.1}x", min / bmin, med / bmed)
        });
        println!("{name:<58} {min:>9.0} {med:>9.0}   {ratio}");
    };
    println!(
        "{:<58} {:>9} {:>9}   {:>8} {:>8}",
        "", "min", "median", "/plain", "(median)"
    );
    row("plain mailbox: recv", plain_recv, None);
    row(
        "durable mailbox, Buffered: recv (goal <= 2x plain)",
        durable_recv,
        Some(plain_recv),
    );
    row(
        "durable mailbox, Always: recv (goal <= 2x plain)",
        always_recv,
        Some(plain_recv),
    );
    row("plain mailbox: recv_ack + ack", plain_ack, None);
    row(
        "durable mailbox, Buffered: recv_ack + ack (goal <= 2x)",
        durable_ack,
        Some(plain_ack),
    );
    row(
        "durable mailbox, Always: recv_ack + ack (goal <= 2x)",
        always_ack,
        Some(plain_ack),
    );
    println!("where a durable receive's time goes:");
    row(
        "  journal alone: deliver_acked (= a recv's log work)",
        journal_recv,
        None,
    );
    row(
        "  journal alone: deliver + ack (= recv_ack + ack)",
        journal_ack,
        None,
    );
    row(
        "  journal alone: ack (waits for nothing)",
        journal_ack_only,
        None,
    );
    row("  pwrite(2) of one 25-byte record", pwrite_1, None);
    row(
        "  pwrite(2) of 64 25-byte records, per record",
        pwrite_64,
        None,
    );
    row("  CRC-32 of one record", crc, None);
    row(
        "  tally alone (live.rs Live::apply): Enqueue",
        tally_enqueue,
        None,
    );
    row(
        "  tally alone: DeliveredRange + AckRange per 64 ids",
        tally_drain,
        None,
    );
}

/// Part 4: why the consumer falls behind `Always` senders. The journal
/// alone: `threads` threads enqueue 100-byte payloads with `Always` while
/// one thread does what a `recv_ack` + `ack` does to the log
/// (`deliver`, then `ack`) on ids enqueued before the start.
/// Prints both rates and the journal's batches and syncs per second.
fn consumer_lag(threads: usize, secs: f64) {
    let dir = Scratch::new(BENCH, "lag");
    let options = journal::Options::new("bench").sync(journal::SyncPolicy::Always);
    let (journal, _) = journal::open(dir.path(), options).unwrap();
    let payload = [3u8; 107];
    let pending = 1u64 << 18;
    // Enqueued in one go (written with the first batch).
    for id in 1..=pending {
        journal.enqueue_nowait(id, &payload).unwrap();
    }
    journal.flush().unwrap();
    let before = journal.stats();
    let stop = AtomicBool::new(false);
    let (journal, stop) = (&journal, &stop);
    let (sent, (consumed, took, latency_max, ack_max)) = thread::scope(|s| {
        let consumer = s.spawn(move || {
            let (mut id, mut worst, mut worst_ack) = (0u64, Duration::ZERO, Duration::ZERO);
            let began = Instant::now();
            while !stop.load(Ordering::Relaxed) && id < pending {
                id += 1;
                let start = Instant::now();
                journal.deliver(id).unwrap();
                worst = worst.max(start.elapsed());
                // Timed apart: an ack may do the work (a rollover's sync
                // and deletions) that a delivery would otherwise do.
                let start = Instant::now();
                journal.ack(id).unwrap();
                worst_ack = worst_ack.max(start.elapsed());
            }
            (id, began.elapsed().as_secs_f64(), worst, worst_ack)
        });
        let sent = run_with(
            threads,
            secs,
            |t| ((t as u64) + 1) << 40,
            |base, i| {
                journal.enqueue(*base | i, &payload).unwrap();
            },
        );
        stop.store(true, Ordering::Relaxed);
        (sent, consumer.join().unwrap())
    });
    let after = journal.stats();
    let batches = (after.batches - before.batches) as f64 / secs;
    let syncs = (after.syncs - before.syncs) as f64 / secs;
    println!(
        "{threads:>7} {sent:>12.0} {:>12.0} {:>12.0} {:>10.0} {:>10.0} {:>12.1} {:>12.1}",
        consumed as f64 / took,
        1e9 * took / consumed.max(1) as f64,
        batches,
        syncs,
        latency_max.as_secs_f64() * 1e3,
        ack_max.as_secs_f64() * 1e3
    );
}

fn lag(secs: f64) {
    println!(
        "\nthe log work of one consumer (deliver + ack) while Always senders append (the journal alone, 100-byte payloads, {secs} s):"
    );
    println!(
        "{:>7} {:>12} {:>12} {:>12} {:>10} {:>10} {:>12} {:>12}",
        "senders",
        "enqueues/s",
        "consumed/s",
        "ns/consumed",
        "batches/s",
        "syncs/s",
        "worst ms",
        "worst ack ms"
    );
    for threads in [0usize, 1, 8, 64] {
        consumer_lag(threads, secs);
    }
}

/// For a profiler (`DURABLE_PARTS=profile`, not in the default run): fills a
/// durable mailbox with `n` messages, then drains it with `recv`, then the
/// same with `recv_ack` + `ack`, printing when each drain starts and ends
/// (seconds since the start) so that a profile can be cut to the drains.
fn profile(n: u64) {
    let t0 = Instant::now();
    for how in [Recv::Plain, Recv::Acked] {
        let dir = Scratch::new(BENCH, "profile");
        let (tx, rx) = open_durable(&dir, SyncPolicy::Buffered, None);
        for _ in 0..n {
            tx.send(vec![3u8; 100]).unwrap();
        }
        let start = t0.elapsed().as_secs_f64();
        let mut sum = 0usize;
        for _ in 0..n {
            sum += match how {
                Recv::Plain => rx.recv().unwrap().body().len(),
                _ => rx.recv_ack().unwrap().ack().body().len(),
            };
        }
        black_box(sum);
        let end = t0.elapsed().as_secs_f64();
        println!(
            "profile: {} drain from {start:.3} s to {end:.3} s ({:.0} ns/message)",
            match how {
                Recv::Plain => "recv",
                _ => "recv_ack + ack",
            },
            (end - start) * 1e9 / n as f64
        );
    }
    println!("profile: total {:.3} s", t0.elapsed().as_secs_f64());
}

/// For callgrind (`DURABLE_PARTS=cg`, not in the default run): drains `n`
/// pre-filled messages four ways, each drain in a function of its own, so
/// that `valgrind --tool=callgrind --toggle-collect='*cg_drain*'` counts
/// the consumer's instructions only (not the fill, not the background
/// thread); `callgrind_annotate --inclusive=yes` then gives each drain's
/// total. Divide by `n` for instructions per message.
fn cg(n: u64) {
    let body = vec![3u8; 100];
    let plain = || {
        let (tx, rx) = Mailbox::<Vec<u8>>::builder().unbounded().build();
        for _ in 0..n {
            tx.send(body.clone()).unwrap();
        }
        (tx, rx)
    };
    let durable = |dir: &Scratch| {
        {
            let (tx, _rx) = open_durable(dir, SyncPolicy::Buffered, None);
            for _ in 0..n {
                tx.send(body.clone()).unwrap();
            }
        }
        open_durable(dir, SyncPolicy::Buffered, None)
    };
    let (_tx, rx) = plain();
    black_box(cg_drain_plain_recv(&rx, n));
    let (_tx, rx) = plain();
    black_box(cg_drain_plain_ack(&rx, n));
    let dir = Scratch::new(BENCH, "cg-recv");
    let (_tx, rx) = durable(&dir);
    black_box(cg_drain_durable_recv(&rx, n));
    let dir = Scratch::new(BENCH, "cg-ack");
    let (_tx, rx) = durable(&dir);
    black_box(cg_drain_durable_ack(&rx, n));
    println!("cg: drained {n} messages four ways");
}

#[inline(never)]
fn cg_drain_plain_recv(rx: &Receiver<Vec<u8>>, n: u64) -> usize {
    (0..n).map(|_| rx.recv().unwrap().body().len()).sum()
}

#[inline(never)]
fn cg_drain_plain_ack(rx: &Receiver<Vec<u8>>, n: u64) -> usize {
    (0..n)
        .map(|_| rx.recv_ack().unwrap().ack().body().len())
        .sum()
}

#[inline(never)]
fn cg_drain_durable_recv(rx: &Receiver<Vec<u8>>, n: u64) -> usize {
    (0..n).map(|_| rx.recv().unwrap().body().len()).sum()
}

#[inline(never)]
fn cg_drain_durable_ack(rx: &Receiver<Vec<u8>>, n: u64) -> usize {
    (0..n)
        .map(|_| rx.recv_ack().unwrap().ack().body().len())
        .sum()
}

fn main() {
    // Criterion-style arguments (`--bench`, filters) are accepted and ignored.
    let secs = env_f64("DURABLE_BENCH_SECS", 1.0);
    let replay_n = env_f64("DURABLE_REPLAY", 1e6) as u64;
    let recv_n = env_f64("DURABLE_RECV", 1e5) as u64;
    let parts =
        std::env::var("DURABLE_PARTS").unwrap_or_else(|_| "sends,bounded,replay,recv,lag".into());
    let parts: Vec<&str> = parts.split(',').map(str::trim).collect();
    if parts.contains(&"sends") {
        sends(secs);
    }
    if parts.contains(&"bounded") {
        bounded_sends(secs);
    }
    if parts.contains(&"replay") {
        replay(replay_n);
    }
    if parts.contains(&"recv") {
        recv(recv_n);
    }
    if parts.contains(&"lag") {
        lag(secs);
    }
    if parts.contains(&"profile") {
        profile(recv_n);
    }
    if parts.contains(&"cg") {
        cg(recv_n);
    }
}
