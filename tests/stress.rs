//! Stress: many producers and consumers on every backend, every message
//! counted exactly once, order checked where the discipline defines it.
//!
//! Sizes are chosen for debug builds on a 2-core machine: the whole file
//! runs in about 20 s there (rendezvous backends are the slow ones: one
//! park/unpark round trip per message), well under the one-minute budget.

#[macro_use]
mod common;

use std::time::Duration;

use common::{spawn, Backend, Order, LEVELS, TIMEOUT};
use postbox::{Confirm, Mailbox, Message, ReceiptState, Wait};

const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;

/// A generous bound for a whole stress run: a lost wake-up fails the test
/// instead of hanging CI.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Messages per producer, on every backend (rendezvous included: about 7 s
/// each for 400 000 hand-overs in a debug build on 2 cores).
const PER_PRODUCER: usize = 100_000;

/// The priority a producer gives its `seq`-th message: every level is used,
/// and producers differ.
fn priority_of(producer: usize, seq: usize) -> u8 {
    ((seq * 3 + producer) % usize::from(LEVELS)) as u8
}

per_backend!({
    many_producers_many_consumers,
    confirmed_sends_under_contention,
});

/// 4 producers x 4 consumers. Every `(producer, seq)` is received exactly
/// once. Each consumer sees each producer's messages in the order they were
/// sent: per producer on FIFO backends, per producer and priority level on
/// priority backends (FIFO within a level; a consumer's successive takes are
/// ordered in the queue's own order).
fn many_producers_many_consumers(b: Backend) {
    let n = PER_PRODUCER;
    let (tx, rx) = b.build::<(usize, usize)>();
    let order = b.order();

    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let rx = rx.clone();
            spawn(format!("{b:?} consumer {c}"), move || {
                let levels = usize::from(LEVELS);
                // Last seq seen per producer (and level, for priority).
                let mut last = vec![None::<usize>; PRODUCERS * levels];
                let mut got = Vec::new();
                for msg in rx.iter() {
                    let (p, seq) = *msg.body();
                    let level = usize::from(msg.header().priority());
                    assert_eq!(msg.header().priority(), priority_of(p, seq));
                    let slot = match order {
                        Order::Fifo => p * levels,
                        Order::Priority => p * levels + level,
                    };
                    if let Some(prev) = last[slot] {
                        assert!(
                            prev < seq,
                            "consumer {c}: producer {p} seq {seq} after {prev} ({order:?})"
                        );
                    }
                    last[slot] = Some(seq);
                    got.push(p * n + seq);
                }
                got
            })
        })
        .collect();
    drop(rx);

    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            spawn(format!("{b:?} producer {p}"), move || {
                for seq in 0..n {
                    tx.send(Message::new((p, seq)).priority(priority_of(p, seq)))
                        .expect("receivers are alive");
                }
            })
        })
        .collect();
    let stats_handle = tx.clone();
    drop(tx);
    for p in producers {
        p.join_within(RUN_LIMIT);
    }
    drop(stats_handle);

    let mut counts = vec![0u8; PRODUCERS * n];
    let mut per_consumer = Vec::new();
    for c in consumers {
        let got = c.join_within(RUN_LIMIT);
        per_consumer.push(got.len());
        for i in got {
            counts[i] += 1;
        }
    }
    let missing = counts.iter().filter(|&&c| c == 0).count();
    let duplicated = counts.iter().filter(|&&c| c > 1).count();
    assert_eq!(
        (missing, duplicated),
        (0, 0),
        "{b:?}: messages missing / received more than once"
    );
    assert_eq!(per_consumer.iter().sum::<usize>(), PRODUCERS * n);
}

/// Confirmed sends (`Confirm::Received`) from 4 producers to 4 consumers:
/// every send returns Ok only after its message was taken, and no confirmed
/// sender is left waiting (a lost receipt wake-up would hang it).
fn confirmed_sends_under_contention(b: Backend) {
    const N: usize = 2_000;
    let (tx, rx) = b.build::<usize>();
    // A receiver handle does not keep the mailbox open for the consumers.
    let stats = rx.clone();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let rx = rx.clone();
            spawn(format!("{b:?} consumer {c}"), move || {
                rx.iter().map(|m| m.into_body()).collect::<Vec<_>>()
            })
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            spawn(format!("{b:?} producer {p}"), move || {
                let mut receipts = Vec::new();
                for seq in 0..N {
                    let body = p * N + seq;
                    if seq % 2 == 0 {
                        tx.send_with(body, Wait::Timeout(TIMEOUT), Confirm::Received)
                            .expect("confirmed in time");
                    } else {
                        receipts.push(tx.send_tracked(body).expect("queued"));
                    }
                }
                receipts
            })
        })
        .collect();
    drop(tx);
    let mut receipts = Vec::new();
    for p in producers {
        receipts.extend(p.join_within(RUN_LIMIT));
    }
    let mut counts = vec![0u8; PRODUCERS * N];
    for c in consumers {
        for body in c.join_within(RUN_LIMIT) {
            counts[body] += 1;
        }
    }
    assert!(counts.iter().all(|&c| c == 1), "{b:?}: not exactly once");
    for r in receipts {
        assert_eq!(r.wait_timeout(TIMEOUT), Ok(()), "{b:?}");
        assert_eq!(r.state(), ReceiptState::Acked);
    }
    let s = stats.stats();
    assert_eq!(
        (s.sent, s.received),
        ((PRODUCERS * N) as u64, (PRODUCERS * N) as u64)
    );
    assert_eq!((s.dropped, s.len), (0, 0));
}

/// 4 producers fill an unbounded priority mailbox at once; a single consumer
/// that starts after they finished must then see priorities never increase,
/// and each producer's messages in order within a level. Run on bounded
/// mailboxes too, with the consumer draining concurrently; there only exact
/// counting and per-(producer, level) order hold.
#[test]
fn priority_single_consumer_sees_exact_priority_order() {
    const N: usize = 50_000;
    let (tx, rx) = Mailbox::<(usize, usize)>::builder()
        .priority(LEVELS)
        .unbounded()
        .build();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(PRODUCERS));
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let barrier = std::sync::Arc::clone(&barrier);
            spawn(format!("producer {p}"), move || {
                barrier.wait(); // all start together, to interleave
                for seq in 0..N {
                    // A different pattern per producer.
                    let prio = ((seq * (p + 1) * 7 + seq / 3) % usize::from(LEVELS)) as u8;
                    tx.send(Message::new((p, seq)).priority(prio)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join_within(RUN_LIMIT);
    }
    assert_eq!(rx.len(), PRODUCERS * N);

    let mut counts = vec![0u8; PRODUCERS * N];
    let mut last_priority = u8::MAX;
    let mut last_seq = vec![None::<usize>; PRODUCERS * usize::from(LEVELS)];
    let mut received = 0;
    for msg in rx.iter() {
        let prio = msg.header().priority();
        let (p, seq) = msg.into_body();
        assert!(
            prio <= last_priority,
            "priority rose from {last_priority} to {prio}"
        );
        last_priority = prio;
        let slot = p * usize::from(LEVELS) + usize::from(prio);
        if let Some(prev) = last_seq[slot] {
            assert!(prev < seq, "producer {p} level {prio}: {seq} after {prev}");
        }
        last_seq[slot] = Some(seq);
        counts[p * N + seq] += 1;
        received += 1;
    }
    assert_eq!(received, PRODUCERS * N);
    assert!(counts.iter().all(|&c| c == 1));
    let s = rx.stats();
    assert_eq!(
        (s.sent, s.received, s.len),
        ((PRODUCERS * N) as u64, (PRODUCERS * N) as u64, 0)
    );
}

/// Producers and consumers that only ever poll (`try_send` / `try_recv`) on
/// small bounded mailboxes: no message lost or duplicated by the non-blocking
/// paths under contention.
#[test]
fn polling_producers_and_consumers() {
    const N: usize = 20_000;
    let builders = [
        Mailbox::<usize>::builder().fifo().capacity(2),
        Mailbox::<usize>::builder().priority(LEVELS).capacity(2),
    ];
    for builder in builders {
        let (tx, rx) = builder.build();
        let consumers: Vec<_> = (0..2)
            .map(|c| {
                let rx = rx.clone();
                spawn(format!("polling consumer {c}"), move || {
                    let mut got = Vec::new();
                    loop {
                        match rx.try_recv() {
                            Ok(m) => got.push(m.into_body()),
                            Err(postbox::TryRecvError::Empty) => std::thread::yield_now(),
                            Err(postbox::TryRecvError::Closed) => return got,
                        }
                    }
                })
            })
            .collect();
        drop(rx);
        let producers: Vec<_> = (0..2)
            .map(|p| {
                let tx = tx.clone();
                spawn(format!("polling producer {p}"), move || {
                    for seq in 0..N {
                        let mut msg = Message::new(p * N + seq).priority((seq % 8) as u8);
                        loop {
                            match tx.try_send(msg) {
                                Ok(()) => break,
                                Err(postbox::TrySendError::Full(m)) => {
                                    msg = m;
                                    std::thread::yield_now();
                                }
                                Err(other) => panic!("{other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.join_within(RUN_LIMIT);
        }
        let mut counts = vec![0u8; 2 * N];
        for c in consumers {
            for body in c.join_within(RUN_LIMIT) {
                counts[body] += 1;
            }
        }
        assert!(counts.iter().all(|&c| c == 1), "not exactly once");
    }
}
