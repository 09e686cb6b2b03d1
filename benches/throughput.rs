//! Throughput of postbox mailboxes against their peers, measured in one run.
//!
//! Each group is one shape (who sends, who receives) at one capacity; the
//! benchmarks inside a group are the peers, so their numbers come from the same
//! run on the same machine:
//!
//! | id | what |
//! | --- | --- |
//! | `crossbeam` | raw crossbeam-channel (`bounded(n)` / `unbounded()`) |
//! | `crossbeam_message` | crossbeam-channel carrying `postbox::Message<u64>`, no mailbox |
//! | `std` | `std::sync::mpsc` (`sync_channel(n)` / `channel()`); no mpmc |
//! | `flume` | flume (`bounded(n)` / `unbounded()`) |
//! | `postbox_fifo` | a postbox FIFO mailbox |
//! | `postbox_prio` | a postbox priority mailbox (8 levels), every message priority 0 |
//! | `postbox_prio_mixed` | the same, priorities cycling through 0..8 (buffered capacities) |
//! | `heap` | `Mutex<BinaryHeap<(prio, Reverse(seq), value)>>` + two condvars, priority 0 |
//! | `heap_mixed` | the same, priorities cycling through 0..8 (buffered capacities) |
//!
//! An iteration moves `n` `u64` messages (`Throughput::Elements(n)`); threads
//! are spawned once per sample and released together by a barrier, and only the
//! transfer is timed (`iter_custom`): from the first thread's start to the
//! last one's end, each read by the thread itself. The peers and this
//! harness are in `benches/common/`, shared with the other benches.
//! `benches/ratios.py` turns criterion's output into ns per message and
//! ratios against the peers.
//!
//! Rendezvous (`cap0`) also runs crowded: `mpmc4x4_cap0` (four senders, four
//! receivers) and `mpsc8_cap0` (eight senders, one receiver).
//!
//! Extra groups: `pingpong_bounded1` (one message bounced between two threads
//! over two bounded(1) channels; an element is one round trip),
//! `send_overhead` (one thread, send then receive, untracked vs tracked), and
//! `id_contention` (four producers on one unbounded mailbox, with cloned
//! handles and with one shared handle).
//!
//! Other comparisons have benches of their own: `fanout` (`topic_fanout`),
//! `select` (`select2_*`) and `acks` (`ack_overhead_*`, `job_loop`);
//! `ratios.py` reads their results too.
//!
//! Run: `cargo bench --bench throughput` (add a filter such as `spsc_` to run
//! some groups only).

mod common;

use std::hint::black_box;
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use common::harness::{cap_name, config, messages, peer, Shape};
use common::peers::{
    crossbeam, crossbeam_message, flume_channel, heap_channel, postbox_fifo, postbox_prio, Cap,
    MixedTx, Rx, SharedTx, Tx,
};

/// One group: one shape at one capacity, every peer that supports it.
fn shape_group(c: &mut Criterion, shape_name: &str, shape: Shape, cap: Cap) {
    let n = messages(cap);
    let mut g = c.benchmark_group(format!("{shape_name}_{}", cap_name(cap)));
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    let many_receivers = matches!(shape, Shape::Threads { consumers, .. } if consumers > 1);
    let buffered = cap.is_none_or(|n| n > 1);

    peer(&mut g, "crossbeam", shape, n, || crossbeam(cap));
    peer(&mut g, "crossbeam_message", shape, n, || {
        crossbeam_message(cap)
    });
    if !many_receivers {
        match cap {
            Some(k) => peer(&mut g, "std", shape, n, || mpsc::sync_channel(k)),
            None => peer(&mut g, "std", shape, n, mpsc::channel::<u64>),
        }
    }
    peer(&mut g, "flume", shape, n, || flume_channel(cap));
    peer(&mut g, "postbox_fifo", shape, n, || postbox_fifo(cap));
    peer(&mut g, "postbox_prio", shape, n, || postbox_prio(cap));
    if buffered {
        peer(&mut g, "postbox_prio_mixed", shape, n, || {
            let (tx, rx) = postbox_prio(cap);
            (MixedTx(tx), rx)
        });
    }
    // The baseline has no rendezvous.
    if cap != Some(0) {
        peer(&mut g, "heap", shape, n, || heap_channel(cap, false));
    }
    if buffered {
        peer(&mut g, "heap_mixed", shape, n, || heap_channel(cap, true));
    }
    g.finish();
}

fn shapes(c: &mut Criterion) {
    for cap in [Some(0), Some(1), Some(1024), None] {
        let batch = match cap {
            // Sending before receiving would deadlock on a rendezvous.
            Some(0) => None,
            Some(k) => Some(k as u64),
            None => Some(messages(cap)),
        };
        if let Some(batch) = batch {
            shape_group(c, "seq", Shape::Seq(batch), cap);
        }
        let threads = [
            ("spsc", 1, 1),
            ("mpsc2", 2, 1),
            ("mpsc4", 4, 1),
            ("mpmc2x2", 2, 2),
        ];
        // Rendezvous under crowding (issue 13): four senders and four
        // receivers, and eight senders into one receiver.
        let crowded: &[(&str, usize, usize)] = if cap == Some(0) {
            &[("mpmc4x4", 4, 4), ("mpsc8", 8, 1)]
        } else {
            &[]
        };
        for &(name, producers, consumers) in threads.iter().chain(crowded) {
            let shape = Shape::Threads {
                producers,
                consumers,
            };
            shape_group(c, name, shape, cap);
        }
    }
}

/// Bounces one message between two threads over two channels made by `make`,
/// `total` round trips; returns the time taken.
fn ping_pong<T: Tx, R: Rx>(total: u64, make: &impl Fn() -> (T, R)) -> Duration {
    let (ping_tx, ping_rx) = make();
    let (pong_tx, pong_rx) = make();
    let barrier = Barrier::new(2);
    let barrier = &barrier;
    thread::scope(|s| {
        s.spawn(move || {
            barrier.wait();
            for _ in 0..total {
                let v = ping_rx.take();
                pong_tx.put(v + 1);
            }
        });
        barrier.wait();
        let start = Instant::now();
        for i in 0..total {
            ping_tx.put(i);
            black_box(pong_rx.take());
        }
        start.elapsed()
    })
}

fn pingpong(c: &mut Criterion) {
    /// Round trips per iteration.
    const TRIPS: u64 = 5_000;
    let mut g = c.benchmark_group("pingpong_bounded1");
    g.throughput(Throughput::Elements(TRIPS));
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| ping_pong(iters * TRIPS, &|| crossbeam(Some(1))))
    });
    g.bench_function("std", |b| {
        b.iter_custom(|iters| ping_pong(iters * TRIPS, &|| mpsc::sync_channel(1)))
    });
    g.bench_function("flume", |b| {
        b.iter_custom(|iters| ping_pong(iters * TRIPS, &|| flume_channel(Some(1))))
    });
    g.bench_function("postbox_fifo", |b| {
        b.iter_custom(|iters| ping_pong(iters * TRIPS, &|| postbox_fifo(Some(1))))
    });
    g.bench_function("postbox_prio", |b| {
        b.iter_custom(|iters| ping_pong(iters * TRIPS, &|| postbox_prio(Some(1))))
    });
    g.bench_function("heap", |b| {
        b.iter_custom(|iters| ping_pong(iters * TRIPS, &|| heap_channel(Some(1), false)))
    });
    g.finish();
}

/// One thread, one message at a time: send then receive, so the queue stays
/// empty and only the per-message cost of each side shows.
fn send_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_overhead");
    g.throughput(Throughput::Elements(1));
    for cap in [Some(1024), None] {
        let name = cap_name(cap);

        let (tx, rx) = crossbeam(cap);
        g.bench_function(format!("crossbeam_{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                tx.send(i).unwrap();
                black_box(rx.recv().unwrap())
            })
        });

        let (tx, rx) = crossbeam_message(cap);
        g.bench_function(format!("crossbeam_message_{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                tx.put(i);
                black_box(rx.take())
            })
        });

        let (tx, rx) = postbox_fifo(cap);
        g.bench_function(format!("fifo_{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                tx.send(i).unwrap();
                black_box(rx.recv().unwrap().into_body())
            })
        });
        g.bench_function(format!("fifo_tracked_{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                let receipt = tx.send_tracked(i).unwrap();
                let v = rx.recv().unwrap().into_body();
                black_box(receipt);
                black_box(v)
            })
        });

        let (tx, rx) = postbox_prio(cap);
        g.bench_function(format!("prio_{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                tx.send(i).unwrap();
                black_box(rx.recv().unwrap().into_body())
            })
        });
        g.bench_function(format!("prio_tracked_{name}"), |b| {
            let mut i = 0u64;
            b.iter(|| {
                i += 1;
                let receipt = tx.send_tracked(i).unwrap();
                let v = rx.recv().unwrap().into_body();
                black_box(receipt);
                black_box(v)
            })
        });
    }
    g.finish();
}

/// Four producers into one unbounded mailbox: a cloned handle per producer
/// (ids come from each handle's own block) against one handle shared by all
/// four (they contend on its id cursor and counter).
fn id_contention(c: &mut Criterion) {
    let n = messages(None);
    let shape = Shape::Threads {
        producers: 4,
        consumers: 1,
    };
    let mut g = c.benchmark_group("id_contention");
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    peer(&mut g, "crossbeam_cloned", shape, n, || crossbeam(None));
    peer(&mut g, "crossbeam_shared", shape, n, || {
        let (tx, rx) = crossbeam(None);
        (SharedTx(Arc::new(tx)), rx)
    });
    peer(&mut g, "postbox_fifo_cloned", shape, n, || {
        postbox_fifo(None)
    });
    peer(&mut g, "postbox_fifo_shared", shape, n, || {
        let (tx, rx) = postbox_fifo(None);
        (SharedTx(Arc::new(tx)), rx)
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = shapes, pingpong, send_overhead, id_contention
}
criterion_main!(benches);
