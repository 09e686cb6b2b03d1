//! Broadcast: a postbox `Topic` against one channel per subscriber, measured
//! in one run.
//!
//! Group `topic_fanout`, at 1, 4 and 16 subscribers: `postbox_subsN`, a
//! postbox `Topic`, against `crossbeam_subsN`, one crossbeam `bounded`
//! channel per subscriber with the publisher sending a clone into each, and
//! `postbox_mailboxes_subsN`, the same over postbox mailboxes, which shows
//! what the topic layer itself costs. An element is one delivered copy.
//!
//! The fan-out runs on one thread, publishing a batch that fits every queue
//! and then draining each subscriber in turn: 16 consumer threads on a
//! 2-core machine would measure the scheduler rather than the topic.
//! `benches/ratios.py` tabulates the group with the throughput bench's.
//!
//! Run: `cargo bench --bench fanout`.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use postbox::Topic;

use common::harness::config;
use common::peers::{crossbeam, postbox_fifo};

/// Messages per fan-out batch, and every subscriber queue's capacity: a
/// batch always fits, so the publisher never waits.
const FANOUT_BATCH: u64 = 64;

/// Publishes `total` messages on a fresh topic with `subs` subscribers, in
/// batches, each batch then drained subscriber by subscriber, on this thread.
fn fanout_topic(subs: usize, total: u64) -> Duration {
    let topic = Topic::<u64>::builder()
        .capacity(FANOUT_BATCH as usize)
        .build();
    let subscribers: Vec<_> = (0..subs).map(|_| topic.subscribe()).collect();
    let mut sum = 0u64;
    let mut done = 0;
    let start = Instant::now();
    while done < total {
        let k = FANOUT_BATCH.min(total - done);
        for i in 0..k {
            topic.publish(done + i).unwrap();
        }
        for sub in &subscribers {
            for _ in 0..k {
                sum = sum.wrapping_add(sub.recv().unwrap().into_body());
            }
        }
        done += k;
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed
}

/// The same with one crossbeam channel per subscriber.
fn fanout_crossbeam(subs: usize, total: u64) -> Duration {
    let channels: Vec<_> = (0..subs)
        .map(|_| crossbeam(Some(FANOUT_BATCH as usize)))
        .collect();
    let mut sum = 0u64;
    let mut done = 0;
    let start = Instant::now();
    while done < total {
        let k = FANOUT_BATCH.min(total - done);
        for i in 0..k {
            let v = done + i;
            for (tx, _) in &channels {
                tx.send(v).unwrap(); // a copy into each (u64 is `Copy`)
            }
        }
        for (_, rx) in &channels {
            for _ in 0..k {
                sum = sum.wrapping_add(rx.recv().unwrap());
            }
        }
        done += k;
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed
}

/// The same with one postbox mailbox per subscriber: what the topic layer
/// costs on top of the mailboxes it is made of.
fn fanout_mailboxes(subs: usize, total: u64) -> Duration {
    let mailboxes: Vec<_> = (0..subs)
        .map(|_| postbox_fifo(Some(FANOUT_BATCH as usize)))
        .collect();
    let mut sum = 0u64;
    let mut done = 0;
    let start = Instant::now();
    while done < total {
        let k = FANOUT_BATCH.min(total - done);
        for i in 0..k {
            let v = done + i;
            for (tx, _) in &mailboxes {
                tx.send(v).unwrap();
            }
        }
        for (_, rx) in &mailboxes {
            for _ in 0..k {
                sum = sum.wrapping_add(rx.recv().unwrap().into_body());
            }
        }
        done += k;
    }
    let elapsed = start.elapsed();
    black_box(sum);
    elapsed
}

/// Broadcast: time per delivered copy, postbox topic against one crossbeam
/// channel per subscriber.
fn topic_fanout(c: &mut Criterion) {
    /// Messages published per iteration.
    const MESSAGES: u64 = 4_096;
    let mut g = c.benchmark_group("topic_fanout");
    g.sampling_mode(SamplingMode::Flat);
    for subs in [1usize, 4, 16] {
        g.throughput(Throughput::Elements(MESSAGES * subs as u64));
        g.bench_function(format!("crossbeam_subs{subs}"), |b| {
            b.iter_custom(|iters| fanout_crossbeam(subs, iters * MESSAGES))
        });
        g.bench_function(format!("postbox_mailboxes_subs{subs}"), |b| {
            b.iter_custom(|iters| fanout_mailboxes(subs, iters * MESSAGES))
        });
        g.bench_function(format!("postbox_subs{subs}"), |b| {
            b.iter_custom(|iters| fanout_topic(subs, iters * MESSAGES))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = topic_fanout
}
criterion_main!(benches);
