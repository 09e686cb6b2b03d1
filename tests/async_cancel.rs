//! Cancellation never loses a message (issue 11): `select!` loops that race
//! every async receive and send against a timer that fires constantly, so
//! that futures are dropped at every stage of their life, and count every
//! message exactly once.

use std::collections::HashSet;

use postbox::{Mailbox, Message, Receiver, Sender};

mod common;
use common::cancel::{first_cancel, ticker, Cancelled, FirstCancel};

const MESSAGES: u64 = 100_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Receives every message through `recv_async` futures that a constantly
/// firing interval keeps cancelling (each cancellation noted to
/// `cancelled_once`, if given); returns the bodies and how many receives
/// were cancelled.
async fn receive_all_cancelling(
    rx: Receiver<u64>,
    cancelled_once: Option<Cancelled>,
) -> (Vec<u64>, u64) {
    let mut got = Vec::with_capacity(MESSAGES as usize);
    let mut cancelled = 0;
    let mut tick = ticker();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                cancelled += 1;
                if let Some(signal) = &cancelled_once {
                    signal.note();
                }
            }
            msg = rx.recv_async() => match msg {
                Ok(msg) => got.push(msg.into_body()),
                Err(_) => break,
            },
        }
    }
    (got, cancelled)
}

fn assert_exactly_once(mut got: Vec<u64>) {
    assert_eq!(got.len() as u64, MESSAGES, "messages lost or duplicated");
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len() as u64, MESSAGES, "a message was received twice");
    assert_eq!(got.first(), Some(&0));
    assert_eq!(got.last(), Some(&(MESSAGES - 1)));
}

fn produce_blocking(tx: Sender<u64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for n in 0..MESSAGES {
            tx.send(n).unwrap();
        }
    })
}

/// Sends every message but the last, then waits for the consumer's first
/// cancellation before sending it: however fast the consumer, at least one
/// receive is cancelled while messages still flow.
fn produce_gated(
    tx: Sender<u64>,
    priority: impl Fn(u64) -> u8 + Send + 'static,
    first: FirstCancel,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for n in 0..MESSAGES {
            if n == MESSAGES - 1 {
                first.wait();
            }
            tx.send(Message::new(n).priority(priority(n))).unwrap();
        }
    })
}

#[test]
fn cancelled_recv_async_loses_nothing_fifo() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(64).build();
    let (cancelled_once, first) = first_cancel();
    let producer = produce_gated(tx, |_| 0, first);
    let (got, cancelled) = runtime().block_on(receive_all_cancelling(rx, Some(cancelled_once)));
    producer.join().unwrap();
    assert!(cancelled > 0, "the timer never won: nothing was cancelled");
    assert_exactly_once(got);
}

#[test]
fn cancelled_recv_async_loses_nothing_priority() {
    let (tx, rx) = Mailbox::<u64>::builder().priority(4).capacity(64).build();
    let (cancelled_once, first) = first_cancel();
    let producer = produce_gated(tx, |n| (n % 4) as u8, first);
    let (got, cancelled) = runtime().block_on(receive_all_cancelling(rx, Some(cancelled_once)));
    producer.join().unwrap();
    assert!(cancelled > 0);
    assert_exactly_once(got);
}

/// Two tasks race `recv_async` against the timer on one mailbox: a wake
/// one of them received and then dropped must reach the other, or a message
/// would sit in the queue while a task sleeps (the test would hang).
#[test]
fn cancelled_receivers_pass_their_wakes_on() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(8).build();
    let producer = produce_blocking(tx);
    let rt = runtime();
    let (a, b) = rt.block_on(async {
        let rx2 = rx.clone();
        let a = tokio::spawn(receive_all_cancelling(rx, None));
        let b = tokio::spawn(receive_all_cancelling(rx2, None));
        (a.await.unwrap(), b.await.unwrap())
    });
    producer.join().unwrap();
    let mut all = a.0;
    all.extend(b.0);
    assert_exactly_once(all);
}

#[test]
fn cancelled_recv_ack_async_leaves_no_trace() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(64).build();
    let rx = rx.with_prefetch(4);
    let producer = produce_blocking(tx);
    let (got, stats) = runtime().block_on(async move {
        let mut got = Vec::with_capacity(MESSAGES as usize);
        let mut tick = ticker();
        loop {
            tokio::select! {
                    _ = tick.tick() => {}
                delivery = rx.recv_ack_async() => match delivery {
                    Ok(delivery) => {
                        // Never redelivered: a cancelled receive took nothing.
                        assert!(!delivery.is_redelivered());
                        got.push(*delivery.body());
                        delivery.ack();
                    }
                    Err(_) => break,
                },
            }
        }
        (got, rx.stats())
    });
    producer.join().unwrap();
    assert_exactly_once(got);
    assert_eq!(stats.acked, MESSAGES);
    assert_eq!(stats.redelivered, 0);
    assert_eq!(stats.unacked, 0);
}

/// Sends through permits in a `select!` that a timer keeps cancelling: a
/// cancelled `reserve_async` holds nothing and drops nothing, so every
/// message the loop meant to send arrives exactly once.
#[test]
fn cancelled_reserve_async_drops_nothing() {
    for builder in [
        Mailbox::<u64>::builder().capacity(16),
        Mailbox::<u64>::builder().priority(3).capacity(16),
    ] {
        let (tx, rx) = builder.build();
        // The consumer starts once a reservation was cancelled: until then
        // the mailbox fills and `reserve_async` waits for room.
        let (cancelled_once, first) = first_cancel();
        let consumer = std::thread::spawn(move || {
            first.wait();
            rx.iter().map(|m| m.into_body()).collect::<Vec<_>>()
        });
        let cancelled = runtime().block_on(async move {
            let mut cancelled = 0u64;
            let mut tick = ticker();
            let mut next = 0;
            while next < MESSAGES {
                tokio::select! {
                    _ = tick.tick() => {
                        cancelled += 1;
                        cancelled_once.note();
                    }
                    permit = tx.reserve_async() => {
                        permit.unwrap().send(next).unwrap();
                        next += 1;
                    }
                }
            }
            cancelled
        });
        let got = consumer.join().unwrap();
        assert!(cancelled > 0);
        assert_exactly_once(got);
    }
}

/// `send_async` raced against the timer: each cancelled send dropped its
/// message (documented); the sender resends it, so what arrives is every
/// message at least once, and exactly once for the ones whose future
/// completed. The statistics count the dropped ones as refused.
#[test]
fn cancelled_send_async_either_sent_or_dropped() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(4).build();
    let consumer = std::thread::spawn(move || rx.iter().map(|m| m.into_body()).collect::<Vec<_>>());
    let (completed, stats) = runtime().block_on(async move {
        let mut completed = HashSet::new();
        let mut tick = ticker();
        let mut next = 0;
        while next < 20_000u64 {
            tokio::select! {
                    _ = tick.tick() => {}
                sent = tx.send_async(next) => {
                    sent.unwrap();
                    completed.insert(next);
                    next += 1;
                }
            }
        }
        (completed, tx.stats())
    });
    let got = consumer.join().unwrap();
    let mut seen = HashSet::new();
    for n in &got {
        assert!(seen.insert(*n), "message {n} arrived twice");
    }
    // A cancelled send is never queued: what arrived is exactly what
    // completed.
    assert_eq!(seen, completed);
    assert_eq!(stats.sent, 20_000);
}
