//! Batch receives (issue 13): what taking up to 64 queued messages at once
//! costs per message, postbox against its peers in one run.
//!
//! | group | what is timed |
//! | --- | --- |
//! | `batch_drain64` | one thread sends 64 `u64`, then drains them; only the drain is timed (the sends run between the timed spans) |
//! | `batch_send_drain64` | the same loop, sends and drain both timed |
//! | `batch_spsc` | a producer thread sends, a consumer thread takes batches of up to 64 until it has them all |
//!
//! | id | the drain |
//! | --- | --- |
//! | `crossbeam` | `try_iter().take(64)` (threaded: `recv()` then `try_iter().take(63)`) |
//! | `crossbeam_message` | crossbeam carrying `postbox::Message<u64>`, `try_iter().take(64)` collected into a reused `Vec`: what a batch of whole messages costs with no mailbox (single-thread groups only) |
//! | `flume` | `drain()` (threaded: `recv()` then `try_iter().take(63)`) |
//! | `postbox_fifo` / `postbox_prio` | `try_recv_many(&mut buf, 64)` (threaded: `recv_many`), one buffer reused with `clear()` |
//! | `postbox_fifo_single` / `postbox_prio_single` | postbox's one-message path: `try_iter().take(64)` (threaded: `recv()` per message) |
//!
//! Every mailbox is bounded(1024); priority mailboxes have 8 levels and
//! every message priority 0. An element is one message
//! (`Throughput::Elements`). `benches/ratios.py` prints ns per message and
//! the ratios; the target: `batch_drain64` postbox_fifo / crossbeam <= 1.2.
//! `crossbeam_message` splits the gap, as in the throughput bench, into
//! "whole messages into a buffer" (crossbeam_message / crossbeam) and "the
//! mailbox layer" (postbox_fifo / crossbeam_message).
//!
//! Run: `cargo bench --bench batch -- --noplot`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use common::harness::{config, messages, transfer};
use common::peers::{crossbeam, flume_channel, postbox_fifo, postbox_prio};
use postbox::Message;

/// The batch size under test.
const BATCH: u64 = 64;

/// The capacity of every channel.
const CAP: usize = 1024;

/// One thread moves `total` messages in rounds: `BATCH` sends, then drains
/// until all of them are back (`drain` returns how many one call took and
/// adds their values to the sum). Returns the time of the drains only, or
/// of the whole loop with `time_sends`.
fn rounds(
    total: u64,
    time_sends: bool,
    mut send: impl FnMut(u64),
    mut drain: impl FnMut(&mut u64) -> u64,
) -> Duration {
    let mut sum = 0u64;
    let mut drains = Duration::ZERO;
    let mut done = 0;
    let start = Instant::now();
    while done < total {
        let k = BATCH.min(total - done);
        for i in 0..k {
            send(done + i);
        }
        let drain_start = (!time_sends).then(Instant::now);
        let mut got = 0;
        while got < k {
            got += drain(&mut sum);
        }
        assert_eq!(got, k, "a drain took more than was sent");
        if let Some(at) = drain_start {
            drains += at.elapsed();
        }
        done += k;
    }
    let whole = start.elapsed();
    black_box(sum);
    if time_sends {
        whole
    } else {
        drains
    }
}

/// Raw crossbeam-channel carrying whole postbox messages.
fn crossbeam_message_channel(
    cap: Option<usize>,
) -> (
    crossbeam_channel::Sender<Message<u64>>,
    crossbeam_channel::Receiver<Message<u64>>,
) {
    match cap {
        Some(n) => crossbeam_channel::bounded(n),
        None => crossbeam_channel::unbounded(),
    }
}

/// Adds the single-thread peers to a group.
fn single_thread(c: &mut Criterion, group: &str, time_sends: bool) {
    let n = messages(Some(CAP));
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    let cap = Some(CAP);
    let size = BATCH as usize;

    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = crossbeam(cap);
            let drain = |sum: &mut u64| {
                let mut k = 0;
                for v in rx.try_iter().take(size) {
                    *sum = sum.wrapping_add(v);
                    k += 1;
                }
                k
            };
            rounds(iters * n, time_sends, |v| tx.send(v).unwrap(), drain)
        })
    });
    g.bench_function("crossbeam_message", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = crossbeam_message_channel(cap);
            let mut buf = Vec::with_capacity(size);
            let drain = |sum: &mut u64| {
                buf.clear();
                buf.extend(rx.try_iter().take(size));
                for m in &buf {
                    *sum = sum.wrapping_add(*m.body());
                }
                buf.len() as u64
            };
            let send = |v| tx.send(Message::new(v)).unwrap();
            rounds(iters * n, time_sends, send, drain)
        })
    });
    g.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = flume_channel(cap);
            let drain = |sum: &mut u64| {
                let mut k = 0;
                for v in rx.drain() {
                    *sum = sum.wrapping_add(v);
                    k += 1;
                }
                k
            };
            rounds(iters * n, time_sends, |v| tx.send(v).unwrap(), drain)
        })
    });
    for (name, make) in [
        ("postbox_fifo", postbox_fifo as fn(_) -> _),
        ("postbox_prio", postbox_prio),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = make(cap);
                let mut buf = Vec::with_capacity(size);
                let drain = |sum: &mut u64| {
                    buf.clear();
                    let k = rx.try_recv_many(&mut buf, size).unwrap();
                    for m in &buf {
                        *sum = sum.wrapping_add(*m.body());
                    }
                    k as u64
                };
                rounds(iters * n, time_sends, |v| tx.send(v).unwrap(), drain)
            })
        });
        g.bench_function(format!("{name}_single"), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = make(cap);
                let drain = |sum: &mut u64| {
                    let mut k = 0;
                    for m in rx.try_iter().take(size) {
                        *sum = sum.wrapping_add(m.into_body());
                        k += 1;
                    }
                    k
                };
                rounds(iters * n, time_sends, |v| tx.send(v).unwrap(), drain)
            })
        });
    }
    g.finish();
}

fn drain64(c: &mut Criterion) {
    single_thread(c, "batch_drain64", false);
    single_thread(c, "batch_send_drain64", true);
}

/// A producer thread sends `total` messages; one consumer thread runs
/// `consume(total)`, which must take them all and return their sum.
fn spsc<T: common::peers::Tx>(total: u64, tx: T, consume: impl Fn(u64) -> u64 + Sync) -> Duration {
    let (elapsed, sums) = transfer(tx, 1, total, std::iter::once(total), consume);
    black_box(sums);
    elapsed
}

fn threaded(c: &mut Criterion) {
    let n = messages(Some(CAP));
    let mut g = c.benchmark_group("batch_spsc");
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    let cap = Some(CAP);
    let rest = BATCH as usize - 1;

    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = crossbeam(cap);
            spsc(iters * n, tx, |total| {
                let (mut got, mut sum) = (0, 0u64);
                while got < total {
                    sum = sum.wrapping_add(rx.recv().unwrap());
                    got += 1;
                    for v in rx.try_iter().take(rest) {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    }
                }
                sum
            })
        })
    });
    g.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = flume_channel(cap);
            spsc(iters * n, tx, |total| {
                let (mut got, mut sum) = (0, 0u64);
                while got < total {
                    sum = sum.wrapping_add(rx.recv().unwrap());
                    got += 1;
                    for v in rx.try_iter().take(rest) {
                        sum = sum.wrapping_add(v);
                        got += 1;
                    }
                }
                sum
            })
        })
    });
    for (name, make) in [
        ("postbox_fifo", postbox_fifo as fn(_) -> _),
        ("postbox_prio", postbox_prio),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = make(cap);
                spsc(iters * n, tx, |total| {
                    let (mut got, mut sum) = (0, 0u64);
                    let mut buf = Vec::with_capacity(BATCH as usize);
                    while got < total {
                        buf.clear();
                        got += rx.recv_many(&mut buf, BATCH as usize).unwrap() as u64;
                        for m in &buf {
                            sum = sum.wrapping_add(*m.body());
                        }
                    }
                    sum
                })
            })
        });
        g.bench_function(format!("{name}_single"), |b| {
            b.iter_custom(|iters| {
                let (tx, rx) = make(cap);
                spsc(iters * n, tx, |total| {
                    let mut sum = 0u64;
                    for _ in 0..total {
                        sum = sum.wrapping_add(rx.recv().unwrap().into_body());
                    }
                    sum
                })
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = drain64, threaded
}
criterion_main!(benches);
