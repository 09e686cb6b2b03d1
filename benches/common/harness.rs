//! How the benches move and time messages: the shapes (who sends, who
//! receives), messages per iteration, the transfer on one thread or on
//! producer and consumer threads released together by a barrier, and the
//! criterion settings every criterion bench uses.
//!
//! A threaded transfer is timed from the first thread's start to the last
//! one's end, each read by the thread itself (see [`span`]).

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

use super::peers::{Cap, Rx, Tx};

/// The criterion settings of every criterion bench: 10 samples, 300 ms of
/// warm-up, 1 s of measurement (command-line options override them).
pub(crate) fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

/// The name of a capacity in a group name: `cap{n}` or `unbounded`.
pub(crate) fn cap_name(cap: Cap) -> String {
    match cap {
        Some(n) => format!("cap{n}"),
        None => "unbounded".to_string(),
    }
}

/// Who sends and who receives.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    /// One thread: send a batch of this many, then receive them, repeat.
    Seq(u64),
    /// Producer threads and consumer threads.
    Threads { producers: usize, consumers: usize },
}

/// Messages per iteration at a capacity: rendezvous and bounded(1) transfers
/// cost a thread hand-off each, so they get fewer.
pub(crate) fn messages(cap: Cap) -> u64 {
    match cap {
        Some(0) => 2_000,
        Some(1) => 10_000,
        _ => 32_000,
    }
}

/// Part `i` of `total` split in `k` near-equal parts.
pub(crate) fn share(total: u64, k: usize, i: usize) -> u64 {
    let k = k as u64;
    total / k + u64::from((i as u64) < total % k)
}

/// One thread moves `total` messages in batches: `batch` sends, then as many
/// receives, repeat. Returns the time taken.
pub(crate) fn seq(
    total: u64,
    batch: u64,
    mut send: impl FnMut(u64),
    mut recv: impl FnMut() -> u64,
) -> Duration {
    let mut sum = 0u64;
    let mut done = 0;
    let start = Instant::now();
    while done < total {
        let k = batch.min(total - done);
        for i in 0..k {
            send(done + i);
        }
        for _ in 0..k {
            sum = sum.wrapping_add(recv());
        }
        done += k;
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed
}

/// Moves `total` messages through a fresh channel in the given shape and
/// returns the time the transfer took.
pub(crate) fn run<T: Tx, R: Rx>(shape: Shape, total: u64, make: &impl Fn() -> (T, R)) -> Duration {
    let (tx, rx) = make();
    match shape {
        Shape::Seq(batch) => seq(total, batch, |v| tx.put(v), || rx.take()),
        Shape::Threads {
            producers,
            consumers,
        } => {
            let mut receivers = Vec::with_capacity(consumers);
            for _ in 1..consumers {
                receivers.push(rx.dup().expect("this channel has one receiver only"));
            }
            receivers.push(rx);
            // Each consumer takes a fixed share, so none waits for a close
            // and the counts add up to exactly what was sent.
            let receivers = receivers
                .into_iter()
                .enumerate()
                .map(|(c, rx)| (rx, share(total, consumers, c)));
            let (elapsed, _) = transfer(tx, producers, total, receivers, |(rx, count)| {
                let mut sum = 0u64;
                for _ in 0..count {
                    sum = sum.wrapping_add(rx.take());
                }
                black_box(sum);
            });
            elapsed
        }
    }
}

/// Moves `total` messages from `producers` threads, each sending its share
/// on a clone of `tx`, to one thread per consumer running `consume` on it.
/// `tx` itself is dropped before the start: a channel that closes when its
/// senders are gone closes when the producers are done. Every thread waits
/// at one barrier, then times itself; returns the [`span`] of those times and
/// what each consumer returned.
pub(crate) fn transfer<T: Tx, C: Send, R: Send>(
    tx: T,
    producers: usize,
    total: u64,
    consumers: impl ExactSizeIterator<Item = C>,
    consume: impl Fn(C) -> R + Sync,
) -> (Duration, Vec<R>) {
    let barrier = Barrier::new(producers + consumers.len());
    let (barrier, consume) = (&barrier, &consume);
    thread::scope(|s| {
        let mut threads = Vec::with_capacity(producers);
        for p in 0..producers {
            let tx = tx.clone();
            let count = share(total, producers, p);
            threads.push(s.spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for i in 0..count {
                    tx.put(i);
                }
                (start, Instant::now())
            }));
        }
        drop(tx);
        let consumers: Vec<_> = consumers
            .map(|c| {
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    let out = consume(c);
                    (start, Instant::now(), out)
                })
            })
            .collect();
        let mut times: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let mut outs = Vec::with_capacity(consumers.len());
        for consumer in consumers {
            let (start, end, out) = consumer.join().unwrap();
            times.push((start, end));
            outs.push(out);
        }
        (span(times.into_iter()), outs)
    })
}

/// The time from the first thread's start to the last one's end, each read by
/// the thread itself. Not by a coordinating thread woken with them: on a
/// 2-core machine it may only run again once the transfer is over, and a
/// clock read then misses part or all of it (seen: 0 ns for a whole run).
pub(crate) fn span(times: impl Iterator<Item = (Instant, Instant)>) -> Duration {
    let (mut first, mut last) = (None::<Instant>, None::<Instant>);
    for (start, end) in times {
        first = Some(first.map_or(start, |f| f.min(start)));
        last = Some(last.map_or(end, |l| l.max(end)));
    }
    match (first, last) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    }
}

/// Adds one peer to a group: `run` in `shape`, `n` messages per iteration,
/// on channels made by `make`.
pub(crate) fn peer<T: Tx, R: Rx>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    shape: Shape,
    n: u64,
    make: impl Fn() -> (T, R),
) {
    g.bench_function(name, |b| {
        b.iter_custom(|iters| run(shape, iters * n, &make))
    });
}
