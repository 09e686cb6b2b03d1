//! One handle used from several threads at once: the thread that counts
//! first owns the handle's counters and counts with plain stores; every
//! other thread counts in the mailbox's shared counters (issue 13). The
//! statistics must stay exact, every message must arrive once, and ids must
//! stay unique, whichever thread owns which handle.

use std::collections::HashSet;
use std::sync::Barrier;
use std::thread;

use postbox::{Mailbox, MessageId};

const THREADS: usize = 4;
const PER_THREAD: u64 = 50_000;

/// Four threads send through one shared `Sender` and four take through one
/// shared `Receiver` (plain and batch receives), after the main thread
/// claimed both handles: every send and receive of the workers takes the
/// shared path, racing with each other.
#[test]
fn shared_sender_and_receiver_count_exactly() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(256).build();
    // The main thread counts first: it owns both handles from here on.
    tx.send(u64::MAX).unwrap();
    let first = rx.recv().unwrap();
    assert_eq!(*first.body(), u64::MAX);

    let total = THREADS as u64 * PER_THREAD;
    let start = Barrier::new(2 * THREADS);
    let received: Vec<Vec<(MessageId, u64)>> = thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let (tx, start) = (&tx, &start);
            s.spawn(move || {
                start.wait();
                for i in 0..PER_THREAD {
                    tx.send(t * PER_THREAD + i).unwrap();
                }
            });
        }
        let takers: Vec<_> = (0..THREADS)
            .map(|k| {
                let (rx, start) = (&rx, &start);
                s.spawn(move || {
                    start.wait();
                    let mut got = Vec::new();
                    let mut batch = Vec::new();
                    // Each takes a quarter: together, exactly the total.
                    while (got.len() as u64) < PER_THREAD {
                        if k % 2 == 0 {
                            let msg = rx.recv().unwrap();
                            got.push((msg.header().id(), *msg.body()));
                        } else {
                            let room = (PER_THREAD as usize - got.len()).min(32);
                            rx.recv_many(&mut batch, room).unwrap();
                            got.extend(batch.drain(..).map(|m| (m.header().id(), *m.body())));
                        }
                    }
                    got
                })
            })
            .collect();
        takers.into_iter().map(|h| h.join().unwrap()).collect()
    });

    let mut bodies = HashSet::new();
    let mut ids = HashSet::from([first.header().id()]);
    for (id, body) in received.into_iter().flatten() {
        assert!(bodies.insert(body), "message {body} arrived twice");
        assert!(ids.insert(id), "id {id:?} was given twice");
    }
    assert_eq!(bodies.len() as u64, total, "every message arrived");
    let stats = rx.stats();
    assert_eq!(stats.sent, total + 1, "every send counted once");
    assert_eq!(stats.received, total + 1, "every receive counted once");
    assert_eq!(stats.len, 0);
}

/// A handle moved to another thread after its first send keeps counting
/// exactly there (through the shared counters), and its clones made on
/// that thread own their counters.
#[test]
fn moved_handles_count_exactly() {
    let (tx, rx) = Mailbox::<u32>::builder().unbounded().build();
    tx.send(0).unwrap();
    let sent = thread::spawn(move || {
        let clone = tx.clone();
        for i in 1..=1000 {
            tx.send(i).unwrap();
            clone.send(i + 1000).unwrap();
        }
        2001u64
    })
    .join()
    .unwrap();
    let taken = thread::spawn(move || {
        let mut n = 0u64;
        while rx.try_recv().is_ok() {
            n += 1;
        }
        (n, rx.stats())
    })
    .join()
    .unwrap();
    assert_eq!(taken.0, sent);
    assert_eq!(taken.1.sent, sent);
    assert_eq!(taken.1.received, sent);
}

/// Deliveries taken through one shared receiver on several threads and
/// answered on yet others: the handle's `unacked` and the mailbox's
/// `acked` stay exact (the owner's thread and the others count in words
/// of their own).
#[test]
fn shared_receiver_acks_count_exactly() {
    const EACH: u64 = 20_000;
    let (tx, rx) = Mailbox::<u64>::builder().capacity(64).build();
    tx.send(0).unwrap();
    // The main thread owns the receiver's counters.
    let first = rx.recv_ack().unwrap();
    let (answers, deliveries) = std::sync::mpsc::channel();
    let start = Barrier::new(THREADS + 1);
    let both = Barrier::new(2);
    thread::scope(|s| {
        let (tx, gate) = (&tx, &start);
        s.spawn(move || {
            gate.wait();
            for i in 1..=THREADS as u64 * EACH {
                tx.send(i).unwrap();
            }
        });
        for _ in 0..THREADS {
            let (rx, start, answers) = (&rx, &start, answers.clone());
            s.spawn(move || {
                start.wait();
                for _ in 0..EACH {
                    answers.send(rx.recv_ack().unwrap()).unwrap();
                }
            });
        }
        drop(answers);
        let all: Vec<_> = deliveries.iter().collect();
        let bodies: HashSet<u64> = all.iter().map(|d| *d.body()).collect();
        assert_eq!(bodies.len() as u64, THREADS as u64 * EACH, "each once");
        assert_eq!(rx.unacked(), 1 + all.len() as u64);
        // Answered at once here (the owner's thread) and on another.
        let (mine, theirs): (Vec<_>, Vec<_>) = all.into_iter().partition(|d| d.body() % 2 == 0);
        let both = &both;
        let other = s.spawn(move || {
            both.wait();
            theirs.into_iter().for_each(|d| drop(d.ack()));
        });
        both.wait();
        mine.into_iter().for_each(|d| drop(d.ack()));
        other.join().unwrap();
    });
    assert_eq!(rx.unacked(), 1);
    first.ack();
    assert_eq!(rx.unacked(), 0);
    let stats = rx.stats();
    assert_eq!(stats.acked, THREADS as u64 * EACH + 1);
    assert_eq!(stats.received, stats.acked);
    assert_eq!(stats.unacked, 0);
}
