//! Direct addressing against indirect: `Process::send_to(&address)` against
//! `Sender::send` on the same backend (a FIFO inbox bounded at 1024), with raw
//! crossbeam-channel carrying `u64` as the floor, in the same run.
//!
//! | group | shape |
//! | --- | --- |
//! | `direct_seq` | one thread: a batch of 64 sends, then 64 receives |
//! | `direct_spsc` | one producer thread, one consumer thread |
//! | `lookup` | `office.lookup` by name (1, 2 threads over 1,024 names) |
//!
//! Run: `cargo bench --bench addressing`.

mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use postbox::{Mailbox, Port, PostOffice};

use common::harness::{config, seq};

/// Sends per batch of `direct_seq`, then as many receives.
const BATCH: u64 = 64;
const SPSC_MESSAGES: u64 = 100_000;

/// Two threads: the producer sends `n`, the consumer receives `n`; only the
/// transfer is timed.
fn spsc<P: FnOnce() -> S + Send, S: FnMut(u64), C: FnOnce() -> R + Send, R: FnMut() -> u64>(
    n: u64,
    producer: P,
    consumer: C,
) -> Duration {
    let barrier = Barrier::new(3);
    let barrier = &barrier;
    let start = thread::scope(|s| {
        s.spawn(move || {
            let mut send = producer();
            barrier.wait();
            for i in 0..n {
                send(i);
            }
        });
        s.spawn(move || {
            let mut recv = consumer();
            barrier.wait();
            let mut sum = 0u64;
            for _ in 0..n {
                sum = sum.wrapping_add(recv());
            }
            black_box(sum);
        });
        barrier.wait();
        Instant::now()
    });
    start.elapsed()
}

fn direct_seq(c: &mut Criterion) {
    let mut g = c.benchmark_group("direct_seq");
    g.throughput(Throughput::Elements(1));

    let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| seq(iters, BATCH, |v| tx.send(v).unwrap(), || rx.recv().unwrap()))
    });

    let (tx, port) = Port::<u64>::builder().build();
    g.bench_function("postbox_send", |b| {
        b.iter_custom(|iters| {
            seq(
                iters,
                BATCH,
                |v| tx.send(v).unwrap(),
                || port.recv().unwrap().into_body(),
            )
        })
    });

    let office = PostOffice::new();
    let me = office.anonymous::<u64>();
    let to_me = me.address();
    g.bench_function("postbox_send_to", |b| {
        b.iter_custom(|iters| {
            seq(
                iters,
                BATCH,
                |v| me.send_to(&to_me, v).unwrap(),
                || me.recv().unwrap().into_body(),
            )
        })
    });
    let office_port = office.port::<u64>("port", Port::builder()).unwrap();
    let office_tx = office.connect_sender::<u64>("port").unwrap();
    g.bench_function("postbox_office_port", |b| {
        b.iter_custom(|iters| {
            seq(
                iters,
                BATCH,
                |v| office_tx.send(v).unwrap(),
                || office_port.recv().unwrap().into_body(),
            )
        })
    });
    g.bench_function("postbox_address_send_process_recv", |b| {
        b.iter_custom(|iters| {
            seq(
                iters,
                BATCH,
                |v| to_me.send(v).unwrap(),
                || me.recv().unwrap().into_body(),
            )
        })
    });
    g.finish();
}

fn direct_spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("direct_spsc");
    g.throughput(Throughput::Elements(SPSC_MESSAGES));
    g.sampling_mode(SamplingMode::Flat);

    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (tx, rx) = crossbeam_channel::bounded::<u64>(1024);
                total += spsc(
                    SPSC_MESSAGES,
                    move || move |v| tx.send(v).unwrap(),
                    move || move || rx.recv().unwrap(),
                );
            }
            total
        })
    });

    g.bench_function("postbox_send", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (tx, rx) = Mailbox::<u64>::builder().build();
                total += spsc(
                    SPSC_MESSAGES,
                    move || move |v| tx.send(v).unwrap(),
                    move || move || rx.recv().unwrap().into_body(),
                );
            }
            total
        })
    });

    let office = PostOffice::new();
    g.bench_function("postbox_send_to", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let sender = office.anonymous::<u64>();
                let receiver = office.anonymous::<u64>();
                let to = receiver.address();
                total += spsc(
                    SPSC_MESSAGES,
                    move || move |v| sender.send_to(&to, v).unwrap(),
                    move || move || receiver.recv().unwrap().into_body(),
                );
            }
            total
        })
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    const NAMES: usize = 1024;
    const LOOKUPS: u64 = 100_000;
    let office = PostOffice::new();
    let names: Vec<String> = (0..NAMES).map(|i| format!("svc-{i}")).collect();
    let processes: Vec<_> = names
        .iter()
        .map(|name| office.process::<u64>(name).unwrap())
        .collect();
    let mut g = c.benchmark_group("lookup");
    g.sampling_mode(SamplingMode::Flat);
    for threads in [1usize, 2] {
        g.throughput(Throughput::Elements(LOOKUPS * threads as u64));
        g.bench_function(format!("threads_{threads}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let barrier = Barrier::new(threads + 1);
                    let (office, names, barrier) = (&office, &names, &barrier);
                    let start = thread::scope(|s| {
                        for t in 0..threads {
                            s.spawn(move || {
                                barrier.wait();
                                for i in 0..LOOKUPS as usize {
                                    let name = &names[(i * 7 + t * 13) % NAMES];
                                    black_box(office.lookup::<u64>(name).unwrap());
                                }
                            });
                        }
                        barrier.wait();
                        Instant::now()
                    });
                    total += start.elapsed();
                }
                total
            })
        });
    }
    g.finish();
    drop(processes);
}

criterion_group! {
    name = benches;
    config = config();
    targets = direct_seq, direct_spsc, lookup
}
criterion_main!(benches);
