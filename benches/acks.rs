//! What acknowledgements cost, and the job queue's core loop on top of them,
//! postbox against raw crossbeam-channel in one run.
//!
//! `ack_overhead_{seq,spsc}_{cap1024,unbounded}`: `fifo_recv` / `prio_recv`
//! (plain `recv`, auto-ack) against `fifo_recv_ack` / `prio_recv_ack`
//! (`recv_ack` then `ack` at once) on the same backend, with raw `crossbeam`
//! as the yardstick; `seq` is one thread sending a batch, then receiving it,
//! `spsc` one producer and one consumer thread. An element is one message.
//!
//! `job_loop`: the job queue's core loop without faults, two producers
//! filling a bounded(1024) queue and two workers taking, working (a
//! checksum) and acknowledging until it closes: `postbox_recv_ack` (also
//! with a prefetch of 1 per worker, `postbox_recv_ack_prefetch1`) against
//! `postbox_recv` (auto-ack) and `crossbeam` (`recv` until disconnected); an
//! element is one job.
//!
//! Threads are spawned once per sample and released together by a barrier,
//! and only the transfer is timed: from the first thread's start to the last
//! one's end, each read by the thread itself (the harness in
//! `benches/common/`). `benches/ratios.py` tabulates both and checks that a
//! FIFO `recv_ack` + `ack` costs at most twice a plain `recv`.
//!
//! Run: `cargo bench --bench acks` (add a filter such as `ack_overhead_spsc`
//! or `job_loop` to run some groups only).

mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use common::harness::{cap_name, config, messages, peer, transfer, Shape};
use common::peers::{crossbeam, postbox_fifo, postbox_prio, AckRx, Tx};

/// What acknowledgements cost: plain `recv` (auto-ack) against `recv_ack` +
/// `ack` on the same backend, with raw crossbeam-channel as the yardstick, on
/// one thread (send a batch, then receive it) and across two threads (SPSC).
fn ack_overhead(c: &mut Criterion) {
    for cap in [Some(1024), None] {
        let n = messages(cap);
        let batch = match cap {
            Some(k) => k as u64,
            None => n,
        };
        let shapes = [
            ("seq", Shape::Seq(batch)),
            (
                "spsc",
                Shape::Threads {
                    producers: 1,
                    consumers: 1,
                },
            ),
        ];
        for (shape_name, shape) in shapes {
            let mut g = c.benchmark_group(format!("ack_overhead_{shape_name}_{}", cap_name(cap)));
            g.throughput(Throughput::Elements(n));
            g.sampling_mode(SamplingMode::Flat);
            peer(&mut g, "crossbeam", shape, n, || crossbeam(cap));
            peer(&mut g, "fifo_recv", shape, n, || postbox_fifo(cap));
            peer(&mut g, "fifo_recv_ack", shape, n, || {
                let (tx, rx) = postbox_fifo(cap);
                (tx, AckRx(rx))
            });
            peer(&mut g, "prio_recv", shape, n, || postbox_prio(cap));
            peer(&mut g, "prio_recv_ack", shape, n, || {
                let (tx, rx) = postbox_prio(cap);
                (tx, AckRx(rx))
            });
            g.finish();
        }
    }
}

/// The work a job-loop worker does per job: next to nothing, so that the
/// queue's own cost shows.
#[inline(always)]
fn job(checksum: u64, v: u64) -> u64 {
    checksum ^ black_box(v).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// A worker of the job loop: takes jobs until the queue is closed and empty.
trait Worker: Send + Sized {
    /// Processes jobs until the queue is closed and drained; returns how
    /// many it processed.
    fn work(&self) -> u64;

    /// A second worker on the same queue.
    fn dup(&self) -> Self;
}

impl Worker for crossbeam_channel::Receiver<u64> {
    fn work(&self) -> u64 {
        let (mut jobs, mut checksum) = (0, 0);
        while let Ok(v) = self.recv() {
            checksum = job(checksum, v);
            jobs += 1;
        }
        black_box(checksum);
        jobs
    }

    fn dup(&self) -> Self {
        self.clone()
    }
}

/// A postbox worker taking jobs with plain `recv` (auto-ack).
struct RecvWorker(postbox::Receiver<u64>);

impl Worker for RecvWorker {
    fn work(&self) -> u64 {
        let (mut jobs, mut checksum) = (0, 0);
        while let Ok(msg) = self.0.recv() {
            checksum = job(checksum, *msg.body());
            jobs += 1;
        }
        black_box(checksum);
        jobs
    }

    fn dup(&self) -> Self {
        RecvWorker(self.0.clone())
    }
}

/// A postbox worker taking jobs with `recv_ack` and acking each when done,
/// with a prefetch limit per worker (0: none).
struct AckWorker {
    rx: postbox::Receiver<u64>,
    prefetch: usize,
}

impl AckWorker {
    fn new(rx: postbox::Receiver<u64>, prefetch: usize) -> AckWorker {
        AckWorker {
            rx: rx.with_prefetch(prefetch),
            prefetch,
        }
    }
}

impl Worker for AckWorker {
    fn work(&self) -> u64 {
        let (mut jobs, mut checksum) = (0, 0);
        while let Ok(delivery) = self.rx.recv_ack() {
            checksum = job(checksum, *delivery.body());
            delivery.ack();
            jobs += 1;
        }
        black_box(checksum);
        jobs
    }

    fn dup(&self) -> Self {
        AckWorker::new(self.rx.clone(), self.prefetch)
    }
}

/// Producers of the job loop.
const JOB_PRODUCERS: usize = 2;

/// Workers of the job loop.
const JOB_WORKERS: usize = 2;

/// Runs the job queue's core loop once: `JOB_PRODUCERS` threads send `total`
/// jobs, then drop their senders (they hold the only ones, so the queue
/// closes when they are done); `JOB_WORKERS` threads work until the queue is
/// closed and empty. Returns the time from the first thread's start until the
/// last job is processed (see [`transfer`]).
fn job_loop_run<T: Tx, W: Worker>(total: u64, make: &impl Fn() -> (T, W)) -> Duration {
    let (tx, rx) = make();
    let mut workers = Vec::with_capacity(JOB_WORKERS);
    for _ in 1..JOB_WORKERS {
        workers.push(rx.dup());
    }
    workers.push(rx);
    let (elapsed, jobs) = transfer(tx, JOB_PRODUCERS, total, workers.into_iter(), |w| w.work());
    let processed: u64 = jobs.into_iter().sum();
    assert_eq!(processed, total, "every job is processed exactly once");
    elapsed
}

/// The job queue's core loop, no faults: producers fill a bounded(1024)
/// queue, workers take, work and acknowledge until it closes.
fn job_loop(c: &mut Criterion) {
    const CAP: usize = 1024;
    let n = messages(Some(CAP));
    let mut g = c.benchmark_group("job_loop");
    g.throughput(Throughput::Elements(n));
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("crossbeam", |b| {
        b.iter_custom(|iters| job_loop_run(iters * n, &|| crossbeam(Some(CAP))))
    });
    g.bench_function("postbox_recv", |b| {
        b.iter_custom(|iters| {
            job_loop_run(iters * n, &|| {
                let (tx, rx) = postbox_fifo(Some(CAP));
                (tx, RecvWorker(rx))
            })
        })
    });
    g.bench_function("postbox_recv_ack", |b| {
        b.iter_custom(|iters| {
            job_loop_run(iters * n, &|| {
                let (tx, rx) = postbox_fifo(Some(CAP));
                (tx, AckWorker::new(rx, 0))
            })
        })
    });
    // A prefetch limit puts each delivery through the slot accounting (the
    // loop holds one delivery at a time, so it never waits for a slot).
    g.bench_function("postbox_recv_ack_prefetch1", |b| {
        b.iter_custom(|iters| {
            job_loop_run(iters * n, &|| {
                let (tx, rx) = postbox_fifo(Some(CAP));
                (tx, AckWorker::new(rx, 1))
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = ack_overhead, job_loop
}
criterion_main!(benches);
