//! Teardown: what letting go of handles, mailboxes and monitors costs, in
//! time and in memory left behind (issue 10's hardening figures).
//!
//! Prints:
//!
//! - the time to drop N sender clones of one mailbox, for N = 10k, 40k and
//!   160k: linear when each handle leaves its mailbox's tally in O(1);
//! - heap bytes left behind per mailbox after building and dropping 10^5
//!   mailboxes, each holding a message nacked with a one-hour
//!   `Requeue::After` (the delayed-requeue timer must let go at once);
//! - heap bytes left behind per cycle after 10^6 monitors of one live
//!   process were made and dropped (a dropped monitor must unregister);
//! - the time to end a process watched by 10^5 monitors, and by one
//!   monitor that watched it 10^6 times (one registration, one notice);
//! - the process's resident set size before and after each memory figure,
//!   read from `/proc/self/statm` where there is one.
//!
//! Heap bytes come from a counting global allocator (`benches/common/alloc.rs`):
//! exact, and unlike RSS not blurred by the allocator keeping freed pages.
//! Not a criterion benchmark: each figure is one pass, already an average.
//! Run: `cargo bench --bench teardown` (set `TEARDOWN_SCALE` to a fraction
//! such as 0.1 for a quicker pass).

#[path = "common/alloc.rs"]
mod alloc;

use std::hint::black_box;
use std::time::{Duration, Instant};

use postbox::{Mailbox, PostOffice, Requeue};

use alloc::live;

/// Scales every count (for a quicker pass).
fn scaled(n: usize) -> usize {
    let scale: f64 = std::env::var("TEARDOWN_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    ((n as f64 * scale) as usize).max(1)
}

/// Resident set size in bytes, if the platform tells.
fn rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn print_rss(label: &str, before: Option<u64>, n: usize) {
    if let (Some(before), Some(after)) = (before, rss()) {
        let grew = after as f64 - before as f64;
        println!(
            "  {label}: RSS {:.1} MiB -> {:.1} MiB ({:+.1} bytes per iteration)",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            grew / n as f64
        );
    }
}

fn drop_sender_clones() {
    println!("dropping sender clones of one mailbox:");
    for n in [10_000, 40_000, 160_000].map(scaled) {
        let (tx, _rx) = Mailbox::<u64>::builder().build();
        let clones: Vec<_> = (0..n).map(|_| tx.clone()).collect();
        let start = Instant::now();
        drop(black_box(clones));
        let took = start.elapsed();
        println!(
            "  {n:>7} clones: {:>8.2} ms ({:.0} ns per handle)",
            took.as_secs_f64() * 1e3,
            took.as_nanos() as f64 / n as f64
        );
    }
}

fn mailboxes_with_delayed_requeues() {
    let n = scaled(100_000);
    println!("{n} mailboxes dropped, each with a message nacked for a one-hour delayed requeue:");
    // Warm up: the timer thread, its map and the allocator's pools.
    for _ in 0..1000 {
        let (tx, rx) = Mailbox::<u64>::builder().build();
        tx.send(1).unwrap();
        rx.recv_ack()
            .unwrap()
            .nack(Requeue::After(Duration::from_secs(3600)));
    }
    let rss_before = rss();
    let before = live();
    for i in 0..n {
        let (tx, rx) = Mailbox::<u64>::builder().build();
        tx.send(i as u64).unwrap();
        rx.recv_ack()
            .unwrap()
            .nack(Requeue::After(Duration::from_secs(3600)));
        let stats = rx.stats();
        assert_eq!(stats.delayed, 1);
    }
    let left = live() - before;
    println!(
        "  heap left behind: {left} bytes ({:.1} bytes per mailbox)",
        left as f64 / n as f64
    );
    print_rss("resident", rss_before, n);
}

fn monitor_cycles() {
    let n = scaled(1_000_000);
    println!("{n} monitors of one live process made and dropped:");
    let office = PostOffice::new();
    let worker = office.process::<u64>("worker").unwrap();
    for _ in 0..1000 {
        drop(office.monitor(worker.pid()));
    }
    let rss_before = rss();
    let before = live();
    for _ in 0..n {
        drop(black_box(office.monitor(worker.pid())));
    }
    let left = live() - before;
    println!(
        "  heap left behind: {left} bytes ({:.2} bytes per cycle)",
        left as f64 / n as f64
    );
    print_rss("resident", rss_before, n);
    drop(worker);
}

fn ending_a_watched_process() {
    let n = scaled(100_000);
    println!("ending a process watched {n} times:");
    let office = PostOffice::new();
    let worker = office.process::<u64>("many monitors").unwrap();
    let monitors: Vec<_> = (0..n).map(|_| office.monitor(worker.pid())).collect();
    let start = Instant::now();
    drop(worker);
    let took = start.elapsed();
    let told = monitors.iter().filter(|m| m.try_recv().is_ok()).count();
    assert_eq!(told, n);
    println!(
        "  by {n} monitors: {:.2} ms, every monitor told",
        took.as_secs_f64() * 1e3
    );
    drop(monitors);

    let watches = scaled(1_000_000);
    let worker = office.process::<u64>("one monitor").unwrap();
    let monitor = office.monitor(worker.pid());
    for _ in 1..watches {
        monitor.watch(worker.pid());
    }
    let start = Instant::now();
    drop(worker);
    let took = start.elapsed();
    let mut notices = 0;
    while monitor.try_recv().is_ok() {
        notices += 1;
    }
    println!(
        "  by one monitor watching it {watches} times: {:.2} ms, {notices} notice(s)",
        took.as_secs_f64() * 1e3
    );
}

fn main() {
    // Criterion-style arguments (`--bench`, filters) are accepted and ignored.
    drop_sender_clones();
    mailboxes_with_delayed_requeues();
    monitor_cycles();
    ending_a_watched_process();
}
