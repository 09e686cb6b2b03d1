//! Async throughput of postbox mailboxes against the async channels, on one
//! tokio multi-threaded runtime (2 worker threads), measured in one run.
//!
//! Each group is one shape at one capacity; the benchmarks inside a group
//! are the peers, so their numbers come from the same run:
//!
//! | id | what |
//! | --- | --- |
//! | `tokio` | `tokio::sync::mpsc` (`channel(n)` / `unbounded_channel()`) |
//! | `flume` | flume's async API (`send_async` / `recv_async`) |
//! | `async_channel` | async-channel (`bounded(n)` / `unbounded()`) |
//! | `postbox_fifo` | a postbox FIFO mailbox, `send_async` / `recv_async` |
//! | `postbox_prio` | a postbox priority mailbox (8 levels), every message priority 0 |
//! | `postbox_prio_mixed` | the same, priorities cycling through 0..8 (buffered groups) |
//! | `postbox_fifo_spin` | FIFO, `send_async` in, a `try_recv` + `yield_now` loop out: no receive wait list (spsc groups, a diagnostic) |
//!
//! Groups: `async_spsc_{cap1024,unbounded}` and `async_mpsc4_{cap1024,unbounded}`
//! (producer tasks and one consumer task; an element is one `u64` message),
//! and `async_pingpong_bounded1` (one message bounced between two tasks over
//! two bounded(1) channels; an element is one round trip). Every task reads
//! its own clock: a transfer is timed from the first task's start to the
//! last one's end, as the threaded benches do (`harness::span`).
//!
//! Run: `cargo bench --bench async`; then `python3 benches/ratios.py`
//! prints the `async_*` tables with postbox / tokio checked against the
//! issue's 1.5x.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use tokio::runtime::Runtime;

use common::async_peers::{async_channel, flume_async, AsyncMixedTx, AsyncRx, AsyncTx, SpinRx};
use common::harness::{cap_name, config, messages, share, span};
use common::peers::{postbox_fifo, postbox_prio, Cap};

/// The runtime every group runs on: multi-threaded, 2 workers.
fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a tokio runtime")
}

/// Moves `total` messages from `producers` tasks to one consumer task
/// through a fresh channel; returns the span of the tasks' own times.
fn transfer<T: AsyncTx, R: AsyncRx>(
    rt: &Runtime,
    producers: usize,
    total: u64,
    make: &impl Fn() -> (T, R),
) -> Duration {
    let (tx, mut rx) = make();
    rt.block_on(async move {
        let mut tasks = Vec::with_capacity(producers + 1);
        for p in 0..producers {
            let tx = tx.clone();
            let count = share(total, producers, p);
            tasks.push(tokio::spawn(async move {
                let start = Instant::now();
                for i in 0..count {
                    tx.put(i).await;
                }
                (start, Instant::now())
            }));
        }
        drop(tx);
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let mut sum = 0u64;
            for _ in 0..total {
                sum = sum.wrapping_add(rx.take().await);
            }
            black_box(sum);
            (start, Instant::now())
        }));
        let mut times = Vec::with_capacity(tasks.len());
        for task in tasks {
            times.push(task.await.expect("a bench task panicked"));
        }
        span(times.into_iter())
    })
}

/// Bounces one message between two tasks over two channels made by `make`,
/// `total` round trips; returns the time the pinging task took.
fn ping_pong<T: AsyncTx, R: AsyncRx>(
    rt: &Runtime,
    total: u64,
    make: &impl Fn() -> (T, R),
) -> Duration {
    let (ping_tx, mut ping_rx) = make();
    let (pong_tx, mut pong_rx) = make();
    rt.block_on(async move {
        let echo = tokio::spawn(async move {
            for _ in 0..total {
                let v = ping_rx.take().await;
                pong_tx.put(v + 1).await;
            }
        });
        let pinger = tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..total {
                ping_tx.put(i).await;
                black_box(pong_rx.take().await);
            }
            start.elapsed()
        });
        let elapsed = pinger.await.expect("the pinging task panicked");
        echo.await.expect("the echoing task panicked");
        elapsed
    })
}

/// One throughput group: `producers` tasks into one consumer at `cap`.
fn shape_group(c: &mut Criterion, rt: &Runtime, shape: &str, producers: usize, cap: Cap) {
    let n = messages(cap);
    let mut g = c.benchmark_group(format!("async_{shape}_{}", cap_name(cap)));
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    macro_rules! peer {
        ($name:expr, $make:expr) => {
            g.bench_function($name, |b| {
                b.iter_custom(|iters| transfer(rt, producers, iters * n, &$make))
            })
        };
    }
    match cap {
        Some(k) => peer!("tokio", || tokio::sync::mpsc::channel::<u64>(k)),
        None => peer!("tokio", tokio::sync::mpsc::unbounded_channel::<u64>),
    };
    peer!("flume", || flume_async(cap));
    peer!("async_channel", || async_channel(cap));
    peer!("postbox_fifo", || postbox_fifo(cap));
    peer!("postbox_prio", || postbox_prio(cap));
    peer!("postbox_prio_mixed", || {
        let (tx, rx) = postbox_prio(cap);
        (AsyncMixedTx(tx), rx)
    });
    if producers == 1 {
        peer!("postbox_fifo_spin", || {
            let (tx, rx) = postbox_fifo(cap);
            (tx, SpinRx(rx))
        });
    }
    g.finish();
}

fn shapes(c: &mut Criterion) {
    let rt = runtime();
    for cap in [Some(1024), None] {
        shape_group(c, &rt, "spsc", 1, cap);
        shape_group(c, &rt, "mpsc4", 4, cap);
    }
}

fn pingpong(c: &mut Criterion) {
    /// Round trips per iteration.
    const TRIPS: u64 = 5_000;
    let rt = runtime();
    let rt = &rt;
    let mut g = c.benchmark_group("async_pingpong_bounded1");
    g.throughput(Throughput::Elements(TRIPS));
    g.sampling_mode(SamplingMode::Flat);
    macro_rules! peer {
        ($name:expr, $make:expr) => {
            g.bench_function($name, |b| {
                b.iter_custom(|iters| ping_pong(rt, iters * TRIPS, &$make))
            })
        };
    }
    peer!("tokio", || tokio::sync::mpsc::channel::<u64>(1));
    peer!("flume", || flume_async(Some(1)));
    peer!("async_channel", || async_channel(Some(1)));
    peer!("postbox_fifo", || postbox_fifo(Some(1)));
    peer!("postbox_prio", || postbox_prio(Some(1)));
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = shapes, pingpong
}
criterion_main!(benches);
