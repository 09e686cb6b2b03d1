//! Scale: the cost of many idle mailboxes and named processes.
//!
//! Prints, for each kind of idle channel, the heap bytes one of them holds
//! (measured with a counting global allocator), and for the post office the
//! time to create, look up and destroy a million named processes and
//! mailboxes, with lookups from one and from two threads. The crossbeam,
//! flume and postbox mailbox rows are made by the throughput bench's peer
//! constructors in `benches/common/peers.rs`.
//!
//! Not a criterion benchmark: each figure is one pass over a million objects,
//! which is already an average. Run: `cargo bench --bench scale` (set
//! `SCALE_N` to change the million).

#[path = "common/alloc.rs"]
mod alloc;
mod common;

use alloc::live;

use std::hint::black_box;
use std::thread;
use std::time::Instant;

use postbox::{Mailbox, Owner, Port, PostOffice};

use common::peers::{crossbeam, crossbeam_message, flume_channel, postbox_fifo, postbox_prio, Cap};

/// Heap bytes per object: makes `n` with `make`, keeps them, measures.
fn bytes_each<T>(n: usize, make: impl Fn() -> T) -> f64 {
    let mut keep = Vec::with_capacity(n);
    let before = live();
    for _ in 0..n {
        keep.push(make());
    }
    let after = live();
    black_box(&keep);
    (after - before) as f64 / n as f64
}

/// Heap bytes per channel made by `make`: `n` unbounded, `n` bounded(16) and
/// `big` bounded(1024).
fn per_cap<T>(n: usize, big: usize, make: impl Fn(Cap) -> T) -> [f64; 3] {
    [
        bytes_each(n, || make(None)),
        bytes_each(n, || make(Some(16))),
        bytes_each(big, || make(Some(1024))),
    ]
}

fn memory(n: usize) {
    println!("## Heap bytes per idle channel (sender + receiver), {n} of each\n");
    println!("| channel | unbounded | bounded(16) | bounded(1024) |");
    println!("| --- | ---: | ---: | ---: |");
    // Bounded(1024) channels allocate their slots up front: fewer of them.
    let big = (n / 100).max(1);
    let rows: [(&str, [f64; 3]); 6] = [
        ("crossbeam `u64`", per_cap(n, big, crossbeam)),
        (
            "crossbeam `Message<u64>`",
            per_cap(n, big, crossbeam_message),
        ),
        ("postbox FIFO mailbox", per_cap(n, big, postbox_fifo)),
        ("postbox priority(8) mailbox", per_cap(n, big, postbox_prio)),
        (
            "postbox port",
            [
                bytes_each(n, || Port::<u64>::builder().unbounded().build()),
                bytes_each(n, || Port::<u64>::builder().capacity(16).build()),
                bytes_each(big, || Port::<u64>::builder().capacity(1024).build()),
            ],
        ),
        ("flume `u64`", per_cap(n, big, flume_channel)),
    ];
    for (name, [unbounded, b16, b1024]) in &rows {
        println!("| {name} | {unbounded:.0} | {b16:.0} | {b1024:.0} |");
    }
    // Where a mailbox's bytes go: the backend alone, without the mailbox core
    // (ids, statistics, dead letters, select) and handle counters.
    println!(
        "| (postbox `Fifo` backend alone) | {:.0} | {:.0} | {:.0} |",
        bytes_each(n, postbox::Fifo::<u64>::unbounded),
        bytes_each(n, || postbox::Fifo::<u64>::bounded(16)),
        bytes_each(big, || postbox::Fifo::<u64>::bounded(1024)),
    );
    println!();
    // Issue 13's goal: an idle postbox channel holds at most twice what an
    // idle crossbeam pair carrying the same message (`Message<u64>`) holds,
    // unbounded and bounded(16).
    let peer = rows[1].1;
    println!("Against an idle crossbeam pair carrying `Message<u64>` (target: at most {IDLE_RATIO_TARGET}x, unbounded and bounded(16)):\n");
    println!("| channel | unbounded | bounded(16) | target |");
    println!("| --- | ---: | ---: | --- |");
    for (name, bytes) in rows.iter().filter(|(name, _)| name.starts_with("postbox")) {
        let ratios = [bytes[0] / peer[0], bytes[1] / peer[1]];
        let met = ratios.iter().all(|&r| r <= IDLE_RATIO_TARGET);
        println!(
            "| {name} | {:.2}x | {:.2}x | {} |",
            ratios[0],
            ratios[1],
            verdict(met)
        );
    }
    println!();
}

/// The most heap an idle channel may hold, as a multiple of an idle crossbeam
/// pair carrying the same message (issue 13).
const IDLE_RATIO_TARGET: f64 = 2.0;

/// The most heap an idle named process may hold, in bytes (issue 13).
const IDLE_PROCESS_TARGET: f64 = 1024.0;

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "missed"
    }
}

/// Seconds since `start`, and per item in ns.
fn report(what: &str, n: usize, start: Instant) {
    let s = start.elapsed().as_secs_f64();
    println!("| {what} | {s:.2} s | {:.0} ns |", s * 1e9 / n as f64);
}

fn office_scale(n: usize) {
    println!("## A million names in one office ({n})\n");
    println!("| step | total | per item |");
    println!("| --- | ---: | ---: |");
    let names: Vec<String> = (0..n).map(|i| format!("worker-{i}")).collect();

    let office = PostOffice::new();
    // The handles' own vector is the caller's, made before the count starts
    // (as `bytes_each` does): a `Process` is 160 bytes of it.
    let mut processes = Vec::with_capacity(n);
    let before = live();
    let start = Instant::now();
    for name in &names {
        processes.push(
            office
                .process_with::<u64>(name, Port::builder().unbounded())
                .unwrap(),
        );
    }
    report("create named processes (unbounded inbox)", n, start);
    let per_process = (live() - before) as f64 / n as f64;

    let start = Instant::now();
    for name in &names {
        black_box(office.lookup::<u64>(name).unwrap());
    }
    report("lookup, 1 thread", n, start);

    let start = Instant::now();
    thread::scope(|s| {
        for half in names.chunks(n.div_ceil(2)) {
            let office = &office;
            s.spawn(move || {
                for name in half {
                    black_box(office.lookup::<u64>(name).unwrap());
                }
            });
        }
    });
    report("lookup, 2 threads (each half the names)", n, start);

    let start = Instant::now();
    drop(processes);
    report("end (drop) the processes", n, start);

    let start = Instant::now();
    for name in &names {
        office
            .create::<u64>(name, Mailbox::builder().unbounded(), Owner::System)
            .unwrap();
    }
    report("create named mailboxes (unbounded)", n, start);
    let start = Instant::now();
    for name in &names {
        black_box(office.connect_sender::<u64>(name).unwrap());
    }
    report("connect_sender", n, start);
    let start = Instant::now();
    for name in &names {
        office.destroy(name).unwrap();
    }
    report("destroy the mailboxes", n, start);
    println!(
        "\nHeap per idle named process (inbox, registry entry, record): {per_process:.0} bytes \
         (target: at most {IDLE_PROCESS_TARGET:.0}: {})\n",
        verdict(per_process <= IDLE_PROCESS_TARGET)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; no other arguments are taken.
    let n: usize = std::env::var("SCALE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    memory(n);
    office_scale(n);
}
