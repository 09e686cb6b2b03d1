//! Select: one consumer waiting on two FIFO channels at once, one producer
//! per channel, postbox against its peers in one run.
//!
//! Groups `select2_cap0`, `select2_cap1024` and `select2_unbounded` (both
//! channels at that capacity), with the peers
//!
//! | id | what |
//! | --- | --- |
//! | `postbox_fifo` | `postbox::Select` over two FIFO mailboxes, built once, reused |
//! | `crossbeam` | crossbeam-channel's `select!` macro |
//! | `crossbeam_select` | crossbeam-channel's `Select`, built once, reused |
//! | `flume` | flume's `Selector`, built per message (its API consumes it) |
//!
//! An iteration moves `n` `u64` messages (`Throughput::Elements(n)`, `n` as
//! in the throughput bench's groups at the same capacity). The producers and
//! the consumer start together at a barrier; the consumer times the transfer
//! itself, from its start to its last message. `benches/ratios.py`
//! tabulates the groups with the throughput bench's.
//!
//! Run: `cargo bench --bench select` (add a filter such as `select2_cap0` to
//! run one capacity only).

mod common;

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};

use common::harness::{cap_name, config, messages, share};
use common::peers::{crossbeam, flume_channel, postbox_fifo, Cap, Tx};

/// The peers of the select groups: one consumer waiting on two channels.
#[derive(Clone, Copy)]
enum SelectPeer {
    /// `postbox::Select` over two FIFO mailboxes, built once, reused.
    Postbox,
    /// crossbeam-channel's `select!` macro.
    CrossbeamMacro,
    /// crossbeam-channel's `Select`, built once, reused.
    CrossbeamSelect,
    /// flume's `Selector`, built per message (its API consumes it).
    Flume,
}

/// Moves `total` messages from two producers, one per channel, to one
/// consumer selecting over both channels; returns the time the transfer took.
/// The consumer holds a sender of each channel until it is done, so that no
/// channel disconnects while it selects.
fn select_run(peer: SelectPeer, cap: Cap, total: u64) -> Duration {
    /// Starts the producers, runs `consume` on this thread, and times it.
    fn transfer<T: Tx>(txs: [&T; 2], total: u64, consume: impl FnOnce(u64) -> u64) -> Duration {
        let barrier = Barrier::new(3);
        let barrier = &barrier;
        thread::scope(|s| {
            for (p, tx) in txs.into_iter().enumerate() {
                let tx = tx.clone();
                let count = share(total, 2, p);
                s.spawn(move || {
                    barrier.wait();
                    for i in 0..count {
                        tx.put(i);
                    }
                });
            }
            barrier.wait();
            let start = Instant::now();
            black_box(consume(total));
            start.elapsed()
        })
    }

    match peer {
        SelectPeer::Postbox => {
            let (tx_a, rx_a) = postbox_fifo(cap);
            let (tx_b, rx_b) = postbox_fifo(cap);
            let mut sel = postbox::Select::new();
            sel.recv(&rx_a, |m| m.into_body())
                .recv(&rx_b, |m| m.into_body());
            transfer([&tx_a, &tx_b], total, |n| {
                (0..n).fold(0u64, |sum, _| sum.wrapping_add(sel.select().unwrap()))
            })
        }
        SelectPeer::CrossbeamMacro => {
            let (tx_a, rx_a) = crossbeam(cap);
            let (tx_b, rx_b) = crossbeam(cap);
            transfer([&tx_a, &tx_b], total, |n| {
                (0..n).fold(0u64, |sum, _| {
                    let v = crossbeam_channel::select! {
                        recv(rx_a) -> m => m.unwrap(),
                        recv(rx_b) -> m => m.unwrap(),
                    };
                    sum.wrapping_add(v)
                })
            })
        }
        SelectPeer::CrossbeamSelect => {
            let (tx_a, rx_a) = crossbeam(cap);
            let (tx_b, rx_b) = crossbeam(cap);
            let mut sel = crossbeam_channel::Select::new();
            let a = sel.recv(&rx_a);
            sel.recv(&rx_b);
            transfer([&tx_a, &tx_b], total, |n| {
                (0..n).fold(0u64, |sum, _| {
                    let op = sel.select();
                    let v = if op.index() == a {
                        op.recv(&rx_a)
                    } else {
                        op.recv(&rx_b)
                    };
                    sum.wrapping_add(v.unwrap())
                })
            })
        }
        SelectPeer::Flume => {
            let (tx_a, rx_a) = flume_channel(cap);
            let (tx_b, rx_b) = flume_channel(cap);
            transfer([&tx_a, &tx_b], total, |n| {
                (0..n).fold(0u64, |sum, _| {
                    let v = flume::Selector::new()
                        .recv(&rx_a, |m| m.unwrap())
                        .recv(&rx_b, |m| m.unwrap())
                        .wait();
                    sum.wrapping_add(v)
                })
            })
        }
    }
}

/// One consumer selecting over two channels, one producer each.
fn select(c: &mut Criterion) {
    for cap in [Some(0), Some(1024), None] {
        let n = messages(cap);
        let mut g = c.benchmark_group(format!("select2_{}", cap_name(cap)));
        g.throughput(Throughput::Elements(n));
        g.sampling_mode(SamplingMode::Flat);
        let peers = [
            ("postbox_fifo", SelectPeer::Postbox),
            ("crossbeam", SelectPeer::CrossbeamMacro),
            ("crossbeam_select", SelectPeer::CrossbeamSelect),
            ("flume", SelectPeer::Flume),
        ];
        for (name, peer) in peers {
            g.bench_function(name, |b| {
                b.iter_custom(|iters| select_run(peer, cap, iters * n))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = select
}
criterion_main!(benches);
