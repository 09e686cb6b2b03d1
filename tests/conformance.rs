//! The shared suite: the same behaviour, asserted on every backend of
//! `common::BACKENDS` (FIFO bounded / unbounded / rendezvous, priority bounded
//! / unbounded / rendezvous, and the custom `DeadlineQueue` of the examples).
//!
//! Each test is a function of the backend; `per_backend!` turns it into one
//! `#[test]` per backend (`fifo_rendezvous::smoke`, ...). Tests that need
//! messages to sit in the mailbox with no receiver adapt to rendezvous
//! backends, where nothing can: they state what a rendezvous does instead.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn, wait_until, Backend, Order, SETTLE, TIMEOUT};
use crossbeam_channel as cb;
use postbox::{
    Confirm, Message, MessageId, Pid, ReceiptError, ReceiptState, Receiver, RecvError,
    RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError, Wait,
};

/// A short timeout for the tests that expect one.
const SHORT: Duration = Duration::from_millis(50);

per_backend!({
    smoke,
    every_message_received_exactly_once,
    blocking_recv_wakes_on_send,
    blocking_send_wakes_on_recv,
    try_send_full_hands_back_the_same_message,
    try_recv_empty_then_closed,
    senders_dropped_receivers_drain_then_closed,
    receivers_dropped_sends_fail_closed_and_queued_are_counted_dropped,
    receiver_close_returns_queued_and_wakes_blocked_sender,
    blocked_sender_gets_closed_on_receiver_close_every_time,
    blocked_sender_gets_closed_when_last_receiver_drops_every_time,
    blocked_receivers_wake_closed_when_last_sender_drops,
    receiver_close_wakes_blocked_receivers,
    disconnect_is_drop,
    recv_timeout_and_deadline_time_out,
    send_timeout_and_deadline_time_out,
    iterators,
    len_is_empty_is_full_capacity_is_closed,
    stats_invariant_holds,
    message_ids_are_unique_and_never_unsent,
    confirm_received_returns_only_after_the_receiver_took_it,
    send_tracked_receipt_moves_queued_to_received,
    send_tracked_receipt_dropped_when_last_receiver_drops,
    unconfirmed_on_timeout_and_message_still_delivered,
    confirmed_send_fails_when_last_receiver_drops,
});

/// Receives one body, waiting at most [`TIMEOUT`].
fn recv_body<T: Send>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(TIMEOUT)
        .expect("a message within the timeout")
        .into_body()
}

/// A message with every header field a sender can set (priority valid on
/// every backend of the list).
fn full_header(body: u32, reply_to: Pid, expires_at: Instant) -> Message<u32> {
    Message::new(body)
        .priority(3)
        .correlation_id(0xC0FFEE)
        .reply_to(reply_to)
        .expires_at(expires_at)
}

/// Asserts that a handed-back message is the one that was sent.
fn assert_same_message(m: &Message<u32>, body: u32, reply_to: Pid, expires_at: Instant) {
    assert_eq!(*m.body(), body);
    assert_eq!(m.header().priority(), 3);
    assert_eq!(m.header().correlation_id(), Some(0xC0FFEE));
    assert_eq!(m.header().reply_to(), Some(reply_to));
    assert_eq!(m.header().expires_at(), Some(expires_at));
    assert_eq!(m.header().redeliveries(), 0);
    assert_eq!(m.header().source(), None);
    assert!(!m.header().is_tracked());
}

fn smoke(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let receiver = {
        let rx = rx.clone();
        spawn("receiver", move || rx.recv_timeout(TIMEOUT))
    };
    tx.send_timeout(7, TIMEOUT).unwrap();
    let msg = receiver.join().expect("the message");
    assert_eq!(*msg.body(), 7, "{b:?}");
    assert_ne!(msg.header().id(), MessageId::UNSENT);

    if b.room(1) == 1 {
        // Buffered: no second thread needed.
        tx.try_send(8).unwrap();
        assert_eq!(rx.try_recv().unwrap().into_body(), 8);
    } else {
        // Rendezvous: nobody is receiving, so a non-blocking send cannot complete.
        assert!(tx.try_send(8).unwrap_err().is_full(), "{b:?}");
    }
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
}

fn every_message_received_exactly_once(b: Backend) {
    const PRODUCERS: usize = 3;
    const CONSUMERS: usize = 3;
    const PER_PRODUCER: usize = 2_000;
    let (tx, rx) = b.build::<(usize, usize)>();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|c| {
            let rx = rx.clone();
            spawn(format!("consumer {c}"), move || {
                // Ends when every sender is gone and the mailbox is drained.
                rx.iter().map(|m| m.into_body()).collect::<Vec<_>>()
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            spawn(format!("producer {p}"), move || {
                for seq in 0..PER_PRODUCER {
                    tx.send((p, seq)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join();
    }
    let mut counts = vec![0u32; PRODUCERS * PER_PRODUCER];
    for c in consumers {
        let got = c.join();
        // All priorities are equal: each consumer sees each producer's
        // messages in the order they were sent, on every backend.
        let mut last = [None; PRODUCERS];
        for &(p, seq) in &got {
            if let Some(l) = last[p] {
                assert!(l < seq, "{b:?}: producer {p} out of order");
            }
            last[p] = Some(seq);
            counts[p * PER_PRODUCER + seq] += 1;
        }
    }
    for (i, &n) in counts.iter().enumerate() {
        assert_eq!(n, 1, "{b:?}: message {i} received {n} times");
    }
    let stats = rx.stats();
    assert_eq!(stats.sent, (PRODUCERS * PER_PRODUCER) as u64);
    assert_eq!(stats.received, stats.sent);
    assert_eq!((stats.dropped, stats.len), (0, 0));
}

fn blocking_recv_wakes_on_send(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let receiver = spawn("blocked receiver", move || rx.recv());
    thread::sleep(SETTLE); // likely parked by now
    assert!(
        !receiver.is_finished(),
        "{b:?}: recv returned with nothing sent"
    );
    tx.send_timeout(5, TIMEOUT).unwrap();
    assert_eq!(receiver.join().unwrap().into_body(), 5);
}

fn blocking_send_wakes_on_recv(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let Some(cap) = b.capacity() else {
        // Unbounded: a send never waits for room.
        for n in 0..10_000 {
            tx.try_send(n).unwrap();
        }
        assert!(!tx.is_full());
        assert_eq!(rx.len(), 10_000);
        return;
    };
    let cap = cap as u32;
    for n in 0..cap {
        tx.try_send(n).unwrap();
    }
    assert!(tx.try_send(99).unwrap_err().is_full(), "{b:?}");
    let sender = {
        let tx = tx.clone();
        spawn("blocked sender", move || tx.send(100))
    };
    thread::sleep(SETTLE); // likely parked by now
    assert!(!sender.is_finished(), "{b:?}: send returned with no room");
    let first = recv_body(&rx);
    sender.join().expect("room after a receive");
    // Equal priorities: everything leaves in arrival order.
    let mut got = vec![first];
    got.extend((0..cap).map(|_| recv_body(&rx)));
    let want: Vec<u32> = (0..cap).chain([100]).collect();
    assert_eq!(got, want, "{b:?}");
}

fn try_send_full_hands_back_the_same_message(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let reply_to = Pid::from_u64(9);
    let expires_at = Instant::now() + Duration::from_secs(3600);
    let Some(cap) = b.capacity() else {
        for n in 0..1_000 {
            tx.try_send(full_header(n, reply_to, expires_at)).unwrap();
        }
        assert_eq!(rx.len(), 1_000, "{b:?}: unbounded is never full");
        return;
    };
    for n in 0..cap as u32 {
        tx.try_send(n).unwrap();
    }

    let err = tx
        .try_send(full_header(42, reply_to, expires_at))
        .unwrap_err();
    assert!(err.is_full() && !err.is_closed(), "{b:?}: {err:?}");
    match err {
        TrySendError::Full(m) => assert_same_message(&m, 42, reply_to, expires_at),
        other => panic!("{b:?}: expected Full, got {other:?}"),
    }

    // The same through the run-time wait and a timeout.
    let err = tx
        .send_with(
            full_header(43, reply_to, expires_at),
            Wait::NonBlocking,
            Confirm::Queued,
        )
        .unwrap_err();
    match err {
        SendTimeoutError::Full(m) => assert_same_message(&m, 43, reply_to, expires_at),
        other => panic!("{b:?}: expected Full, got {other:?}"),
    }
    let err = tx
        .send_timeout(
            full_header(44, reply_to, expires_at),
            Duration::from_millis(5),
        )
        .unwrap_err();
    match err {
        SendTimeoutError::Timeout(m) => assert_same_message(&m, 44, reply_to, expires_at),
        other => panic!("{b:?}: expected Timeout, got {other:?}"),
    }

    // Nothing refused was queued.
    let left: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
    assert_eq!(left, (0..cap as u32).collect::<Vec<_>>(), "{b:?}");
    assert_eq!(rx.stats().sent, cap as u64);
}

fn try_recv_empty_then_closed(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(rx.try_recv().unwrap_err().is_empty());
    let k = b.room(2) as u32;
    for n in 0..k {
        tx.try_send(n).unwrap();
    }
    drop(tx);
    // Closed, but what is queued still comes out first.
    for n in 0..k {
        assert_eq!(rx.try_recv().unwrap().into_body(), n, "{b:?}");
    }
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    assert!(rx.try_recv().unwrap_err().is_closed());
}

fn senders_dropped_receivers_drain_then_closed(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let tx2 = tx.clone();
    let k = b.room(3) as u32;
    for n in 0..k {
        tx.try_send(n).unwrap();
    }
    drop(tx);
    assert!(!rx.is_closed(), "{b:?}: a sender is still alive");
    assert!(!tx2.is_closed());
    drop(tx2);
    assert!(rx.is_closed(), "{b:?}: the last sender is gone");

    let rx2 = rx.clone();
    let drained: Vec<u32> = (0..k).map(|_| recv_body(&rx2)).collect();
    assert_eq!(drained, (0..k).collect::<Vec<_>>(), "{b:?}");

    let start = Instant::now();
    assert_eq!(rx.recv().unwrap_err(), RecvError);
    assert_eq!(
        rx.recv_timeout(TIMEOUT).unwrap_err(),
        RecvTimeoutError::Closed
    );
    assert_eq!(
        rx2.recv_deadline(Instant::now() + TIMEOUT).unwrap_err(),
        RecvTimeoutError::Closed
    );
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(rx.iter().count(), 0);
    assert!(
        start.elapsed() < TIMEOUT / 2,
        "{b:?}: receives on a closed, empty mailbox must not wait"
    );
}

fn receivers_dropped_sends_fail_closed_and_queued_are_counted_dropped(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let k = b.room(3) as u32;
    for n in 0..k {
        tx.try_send(n).unwrap();
    }
    let rx2 = rx.clone();
    drop(rx);
    assert!(!tx.is_closed(), "{b:?}: a receiver is still alive");
    assert_eq!(tx.len(), k as usize);
    drop(rx2);
    assert!(tx.is_closed(), "{b:?}: the last receiver is gone");

    let reply_to = Pid::from_u64(1);
    let expires_at = Instant::now() + Duration::from_secs(60);
    match tx.try_send(full_header(10, reply_to, expires_at)) {
        Err(TrySendError::Closed(m)) => assert_same_message(&m, 10, reply_to, expires_at),
        other => panic!("{b:?}: expected Closed, got {other:?}"),
    }
    match tx.send(full_header(11, reply_to, expires_at)) {
        Err(SendError::Closed(m)) => assert_same_message(&m, 11, reply_to, expires_at),
        other => panic!("{b:?}: expected Closed, got {other:?}"),
    }
    let err = tx.send_timeout(12, TIMEOUT).unwrap_err();
    assert!(err.is_closed(), "{b:?}: {err:?}");
    assert_eq!(err.into_inner(), Some(12));
    let err = tx
        .send_with(13, Wait::Blocking, Confirm::Received)
        .unwrap_err();
    assert!(err.is_closed(), "{b:?}: {err:?}");
    let err = tx.send_tracked(14).unwrap_err();
    assert!(matches!(err, SendError::Closed(_)), "{b:?}: {err:?}");

    let stats = tx.stats();
    assert_eq!(
        stats.sent,
        u64::from(k),
        "{b:?}: refused sends are not counted"
    );
    assert_eq!(
        stats.dropped,
        u64::from(k),
        "{b:?}: queued messages dropped"
    );
    assert_eq!((stats.received, stats.len), (0, 0));
}

fn receiver_close_returns_queued_and_wakes_blocked_sender(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    // Bounded: fill it, so that one more send blocks.
    let k = b.capacity().unwrap_or(3) as u32;
    for n in 0..k {
        tx.try_send(n).unwrap();
    }
    let blocked = if b.capacity().is_some() {
        // Full (or rendezvous): this send waits until the close.
        let tx = tx.clone();
        let sender = spawn("blocked sender", move || tx.send(99));
        thread::sleep(SETTLE); // likely parked by now
        assert!(!sender.is_finished(), "{b:?}: send returned with no room");
        Some(sender)
    } else {
        None
    };

    let left: Vec<u32> = rx.close().into_iter().map(|m| m.into_body()).collect();
    assert_eq!(left, (0..k).collect::<Vec<_>>(), "{b:?}");
    assert!(rx.is_closed() && tx.is_closed());

    if let Some(sender) = blocked {
        match sender.join() {
            Err(SendError::Closed(m)) => assert_eq!(m.into_body(), 99),
            Ok(()) => {
                // Not lost, but against the documented rule.
                let late: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
                panic!(
                    "{b:?}: a sender blocked before Receiver::close got Ok instead of \
                     Closed; its message landed after close() returned (still queued: {late:?})"
                );
            }
            Err(other) => panic!("{b:?}: expected Closed, got {other:?}"),
        }
    }
    assert!(tx.try_send(7).unwrap_err().is_closed());
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    let stats = rx.stats();
    assert_eq!(stats.sent, u64::from(k));
    assert_eq!(stats.received, u64::from(k), "close counts as received");
    assert_eq!((stats.dropped, stats.len), (0, 0));
}

/// How many times the blocked-sender races below are run.
const RACE_ROUNDS: usize = 40;

/// A long-lived thread that runs one blocking send per mailbox it is handed.
///
/// Long-lived on purpose: crossbeam's `Select` shuffles its operations with a
/// per-thread generator that starts from the same seed in every new thread, so
/// a fresh thread per round would try them in the same order every time and
/// hide an order-dependent race.
struct BlockedSender {
    jobs: cb::Sender<(postbox::Sender<u32>, u32)>,
    results: cb::Receiver<Result<(), SendError<u32>>>,
}

impl BlockedSender {
    fn start() -> BlockedSender {
        let (jobs, job_rx) = cb::unbounded::<(postbox::Sender<u32>, u32)>();
        let (result_tx, results) = cb::unbounded();
        thread::spawn(move || {
            for (tx, body) in job_rx {
                if result_tx.send(tx.send(body)).is_err() {
                    break;
                }
            }
        });
        BlockedSender { jobs, results }
    }

    fn send(&self, tx: postbox::Sender<u32>, body: u32) {
        self.jobs.send((tx, body)).unwrap();
    }

    fn result(&self) -> Result<(), SendError<u32>> {
        self.results
            .recv_timeout(TIMEOUT)
            .expect("the blocked send returned within the timeout")
    }
}

fn blocked_sender_gets_closed_on_receiver_close_every_time(b: Backend) {
    let Some(cap) = b.capacity() else {
        return; // unbounded: a send never blocks
    };
    let sender = BlockedSender::start();
    for round in 0..RACE_ROUNDS {
        let (tx, rx) = b.build::<u32>();
        for n in 0..cap as u32 {
            tx.try_send(n).unwrap();
        }
        sender.send(tx.clone(), 99);
        // Inside its blocking send (it found the mailbox full); parked, or
        // about to be: nothing observable tells the two apart.
        wait_until("the sender waits for room", || tx.stats().found_full >= 1);
        let left: Vec<u32> = rx.close().into_iter().map(|m| m.into_body()).collect();
        match sender.result() {
            Err(SendError::Closed(m)) => {
                assert_eq!(m.into_body(), 99);
                assert_eq!(left.len(), cap, "{b:?}");
            }
            // Two documented ways a send can complete across a close, its
            // message never lost: a send still between its closed check and
            // its push lands afterwards, into the room the close's drain
            // made, and is there to receive; and on a rendezvous the
            // close's own drain may pair with the waiting sender and return
            // its message (see `Receiver::close` and the FIFO backend).
            Ok(()) => {
                let late: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
                let returned = left.iter().filter(|&&n| n == 99).count();
                assert_eq!(
                    returned + late.iter().filter(|&&n| n == 99).count(),
                    1,
                    "{b:?}, round {round}: a send racing Receiver::close returned Ok, but its \
                     message is neither returned by close ({left:?}) nor in the mailbox ({late:?})"
                );
                assert_eq!(left.len(), cap + returned, "{b:?}");
            }
            Err(other) => panic!("{b:?}: expected Closed, got {other:?}"),
        }
    }
}

fn blocked_sender_gets_closed_when_last_receiver_drops_every_time(b: Backend) {
    let Some(cap) = b.capacity() else {
        return; // unbounded: a send never blocks
    };
    let sender = BlockedSender::start();
    for round in 0..RACE_ROUNDS {
        let (tx, rx) = b.build::<u32>();
        for n in 0..cap as u32 {
            tx.try_send(n).unwrap();
        }
        sender.send(tx.clone(), 99);
        // Inside its blocking send (it found the mailbox full); parked, or
        // about to be: nothing observable tells the two apart.
        wait_until("the sender waits for room", || tx.stats().found_full >= 1);
        drop(rx);
        let result = sender.result();
        let stats = tx.stats();
        let dropped = match result {
            Err(SendError::Closed(m)) => {
                assert_eq!(m.into_body(), 99);
                cap as u64
            }
            // A send still between its closed check and its push when the
            // last receiver went may land after the drain: the sender then
            // settles it itself (dropped and counted, as crossbeam drops a
            // message that races a disconnect), never stranded.
            Ok(()) => cap as u64 + 1,
            Err(other) => panic!("{b:?}: expected Closed, got {other:?}"),
        };
        assert_eq!(stats.len, 0, "{b:?}, round {round}: {stats:?}");
        assert_eq!(stats.dropped, dropped, "{b:?}, round {round}: {stats:?}");
    }
}

fn blocked_receivers_wake_closed_when_last_sender_drops(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let receivers: Vec<_> = (0..2)
        .map(|i| {
            let rx = rx.clone();
            spawn(format!("blocked receiver {i}"), move || rx.recv())
        })
        .collect();
    let tx2 = tx.clone();
    thread::sleep(SETTLE); // likely parked by now
    drop(tx);
    thread::sleep(SETTLE);
    for r in &receivers {
        assert!(!r.is_finished(), "{b:?}: woke while a sender is alive");
    }
    drop(tx2);
    for r in receivers {
        assert_eq!(r.join().unwrap_err(), RecvError, "{b:?}");
    }
}

fn receiver_close_wakes_blocked_receivers(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let receivers: Vec<_> = (0..2)
        .map(|i| {
            let rx = rx.clone();
            spawn(format!("blocked receiver {i}"), move || rx.recv())
        })
        .collect();
    thread::sleep(SETTLE); // likely parked by now
    assert!(rx.close().is_empty());
    for r in receivers {
        assert_eq!(r.join().unwrap_err(), RecvError, "{b:?}");
    }
    // Senders are still alive, yet the mailbox is closed for them too.
    assert!(tx.is_closed());
    assert!(tx.try_send(1).unwrap_err().is_closed());
}

fn disconnect_is_drop(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let tx2 = tx.clone();
    tx.disconnect();
    assert!(!rx.is_closed());
    tx2.disconnect();
    assert!(rx.is_closed());
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);

    let (tx, rx) = b.build::<u32>();
    let rx2 = rx.clone();
    rx.disconnect();
    assert!(!tx.is_closed());
    rx2.disconnect();
    assert!(tx.is_closed());
    assert!(tx.try_send(1).unwrap_err().is_closed());
}

fn recv_timeout_and_deadline_time_out(b: Backend) {
    let (_tx, rx) = b.build::<u32>();
    let start = Instant::now();
    assert_eq!(
        rx.recv_timeout(SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    let elapsed = start.elapsed();
    assert!(elapsed >= SHORT, "{b:?}: returned after {elapsed:?}");
    assert!(elapsed < SHORT + TIMEOUT / 2, "{b:?}: took {elapsed:?}");

    let start = Instant::now();
    let deadline = start + SHORT;
    let err = rx.recv_deadline(deadline).unwrap_err();
    assert!(err.is_timeout(), "{b:?}: {err:?}");
    assert!(
        Instant::now() >= deadline,
        "{b:?}: returned before the deadline"
    );
    assert!(start.elapsed() < SHORT + TIMEOUT / 2);

    // A deadline already passed does not wait.
    let err = rx.recv_deadline(Instant::now()).unwrap_err();
    assert_eq!(err, RecvTimeoutError::Timeout);
}

fn send_timeout_and_deadline_time_out(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let Some(cap) = b.capacity() else {
        // Unbounded: never waits.
        let start = Instant::now();
        tx.send_timeout(1, SHORT).unwrap();
        tx.send_deadline(2, Instant::now()).unwrap();
        assert!(start.elapsed() < SHORT);
        assert_eq!(rx.len(), 2);
        return;
    };
    for n in 0..cap as u32 {
        tx.try_send(n).unwrap();
    }
    let start = Instant::now();
    let err = tx.send_timeout(50, SHORT).unwrap_err();
    let elapsed = start.elapsed();
    assert!(err.is_timeout(), "{b:?}: {err:?}");
    assert_eq!(err.into_inner(), Some(50));
    assert!(elapsed >= SHORT, "{b:?}: returned after {elapsed:?}");
    assert!(elapsed < SHORT + TIMEOUT / 2, "{b:?}: took {elapsed:?}");

    let deadline = Instant::now() + SHORT;
    let err = tx.send_deadline(51, deadline).unwrap_err();
    assert!(
        Instant::now() >= deadline,
        "{b:?}: returned before the deadline"
    );
    assert!(matches!(err, SendTimeoutError::Timeout(ref m) if *m.body() == 51));
    assert_eq!(rx.len(), cap, "{b:?}: timed-out sends queued nothing");
}

fn iterators(b: Backend) {
    // Blocking iterator: yields everything, ends when the senders are gone.
    let (tx, rx) = b.build::<u32>();
    let producer = spawn("producer", move || {
        for n in 0..10 {
            tx.send(n).unwrap();
        }
    });
    let got: Vec<u32> = rx.iter().map(|m| m.into_body()).collect();
    producer.join();
    assert_eq!(got, (0..10).collect::<Vec<_>>(), "{b:?}");

    // `for m in &rx` and `for m in rx`.
    for by_ref in [true, false] {
        let (tx, rx) = b.build::<u32>();
        let producer = spawn("producer", move || {
            for n in 0..5 {
                tx.send(n).unwrap();
            }
        });
        let mut got = Vec::new();
        if by_ref {
            for m in &rx {
                got.push(m.into_body());
            }
        } else {
            for m in rx {
                got.push(m.into_body());
            }
        }
        producer.join();
        assert_eq!(got, [0, 1, 2, 3, 4], "{b:?}: by_ref={by_ref}");
    }

    // Non-blocking iterator: what is queued now, then stops, even though a
    // sender is alive.
    let (tx, rx) = b.build::<u32>();
    assert_eq!(rx.try_iter().count(), 0);
    let k = b.room(3) as u32;
    for n in 0..k {
        tx.try_send(n).unwrap();
    }
    let start = Instant::now();
    let got: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
    assert_eq!(got, (0..k).collect::<Vec<_>>(), "{b:?}");
    assert!(start.elapsed() < TIMEOUT / 2, "try_iter must not wait");
    assert!(!tx.is_closed());
}

fn len_is_empty_is_full_capacity_is_closed(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    assert_eq!(tx.capacity(), b.capacity(), "{b:?}");
    assert_eq!(rx.capacity(), b.capacity(), "{b:?}");
    assert!(tx.is_empty() && rx.is_empty());
    assert_eq!((tx.len(), rx.len()), (0, 0));
    assert!(!tx.is_closed() && !rx.is_closed());
    match b.capacity() {
        Some(0) => {
            // A rendezvous holds nothing: always full, always empty.
            assert!(tx.is_full() && rx.is_full(), "{b:?}");
        }
        Some(cap) => {
            for n in 0..cap {
                assert!(!tx.is_full() && !rx.is_full(), "{b:?}: {n} of {cap}");
                tx.try_send(n as u32).unwrap();
                assert_eq!((tx.len(), rx.len()), (n + 1, n + 1));
                assert!(!tx.is_empty() && !rx.is_empty());
            }
            assert!(tx.is_full() && rx.is_full(), "{b:?}");
            rx.try_recv().unwrap();
            assert!(!tx.is_full());
            assert_eq!(rx.len(), cap - 1);
        }
        None => {
            for n in 0..100 {
                tx.try_send(n).unwrap();
            }
            assert!(!tx.is_full() && !rx.is_full(), "{b:?}");
            assert_eq!(rx.len(), 100);
        }
    }
    let rx2 = rx.clone();
    assert!(rx.same_mailbox(&rx2));
    let (other_tx, other_rx) = b.build::<u32>();
    assert!(!tx.same_mailbox(&other_tx) && !rx.same_mailbox(&other_rx));
    assert!(tx.same_mailbox(&tx.clone()));

    drop(tx);
    assert!(rx.is_closed() && rx2.is_closed(), "{b:?}");
    drop(other_rx);
    assert!(other_tx.is_closed(), "{b:?}");
}

fn stats_invariant_holds(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let check = |rx: &Receiver<u32>, what: &str| {
        let s = rx.stats();
        assert_eq!(
            s.sent,
            s.received + s.dropped + s.len as u64,
            "{b:?}: {what}: {s:?}"
        );
        s
    };
    assert_eq!(check(&rx, "new"), Default::default());

    let k = b.room(3) as u32;
    for n in 0..k {
        tx.try_send(n).unwrap();
    }
    let s = check(&rx, "queued");
    assert_eq!((s.sent, s.received, s.len), (u64::from(k), 0, k as usize));

    // Through a second thread (rendezvous needs one).
    let producer = {
        let tx = tx.clone();
        spawn("producer", move || {
            for n in 0..20 {
                tx.send(100 + n).unwrap();
            }
        })
    };
    let got: Vec<u32> = (0..k + 20).map(|_| recv_body(&rx)).collect();
    producer.join();
    assert_eq!(got.len(), k as usize + 20);
    let s = check(&rx, "drained");
    assert_eq!(
        (s.sent, s.received, s.len),
        (u64::from(k) + 20, u64::from(k) + 20, 0)
    );
    assert!(s.peak_len <= b.room(usize::MAX).max(1), "{b:?}: {s:?}");

    // Refused sends are not counted as sent, but as having found it full.
    if let Some(cap) = b.capacity() {
        for n in 0..cap as u32 {
            tx.try_send(n).unwrap();
        }
        let before = check(&rx, "full").found_full;
        assert!(tx.try_send(0).unwrap_err().is_full());
        assert!(tx.send_timeout(0, Duration::from_millis(1)).is_err());
        let s = check(&rx, "refused");
        assert_eq!(s.sent, u64::from(k) + 20 + cap as u64);
        assert_eq!(s.found_full, before + 2, "{b:?}: {s:?}");
    } else {
        assert_eq!(rx.stats().found_full, 0, "{b:?}: unbounded is never full");
    }

    // Sampled peak: every 32nd send of a handle reads the length, so 64 sends
    // with nothing received record at least 32.
    if b.capacity().is_none() {
        let (tx, rx) = b.build::<u32>();
        for n in 0..64 {
            tx.try_send(n).unwrap();
        }
        let s = check(&rx, "peak");
        assert!((32..=64).contains(&s.peak_len), "{b:?}: {s:?}");
        // A peak, once reported, is never reported lower.
        let peak = rx.len();
        while rx.try_recv().is_ok() {}
        assert_eq!(rx.stats().peak_len, peak, "{b:?}: peak after draining");
    }

    // Dropped: the last receiver goes with messages queued.
    let tx_stats = tx.clone();
    let queued = rx.len() as u64;
    drop(rx);
    let s = tx_stats.stats();
    assert_eq!(s.dropped, queued, "{b:?}: {s:?}");
    assert_eq!(
        s.sent,
        s.received + s.dropped + s.len as u64,
        "{b:?}: {s:?}"
    );
    assert_eq!(s.len, 0);
}

fn message_ids_are_unique_and_never_unsent(b: Backend) {
    // Three handles at once, each numbering from its own block of ids.
    const SENDERS: u32 = 3;
    const PER_SENDER: u32 = 4_500;
    let (tx, rx) = b.build::<u32>();
    let consumer = spawn("consumer", move || {
        rx.iter().map(|m| m.header().id()).collect::<Vec<_>>()
    });
    let producers: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            spawn(format!("sender {s}"), move || {
                for n in 0..PER_SENDER {
                    tx.send(n).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join();
    }
    let ids = consumer.join();
    assert_eq!(ids.len(), (SENDERS * PER_SENDER) as usize);
    assert!(!ids.contains(&MessageId::UNSENT), "{b:?}");
    let unique: HashSet<MessageId> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "{b:?}: duplicate message ids");

    // A receipt names the id its message got.
    let (tx, rx) = b.build::<u32>();
    let tracker = spawn("tracked sender", move || tx.send_tracked(1).unwrap());
    let msg = rx.recv_timeout(TIMEOUT).unwrap();
    let receipt = tracker.join();
    assert_eq!(receipt.id(), msg.header().id());
    assert_ne!(receipt.id(), MessageId::UNSENT);
}

fn confirm_received_returns_only_after_the_receiver_took_it(b: Backend) {
    for use_handle_default in [false, true] {
        let (tx, rx) = b.build::<u32>();
        // Set by the receiver right before it starts receiving. The receipt
        // is settled inside that receive, so a sender that returned before
        // it would see `false`.
        let receiving = Arc::new(AtomicBool::new(false));
        let (open_gate, gate) = cb::bounded::<()>(1);

        let receiver = {
            let rx = rx.clone();
            let receiving = Arc::clone(&receiving);
            spawn("receiver", move || {
                gate.recv_timeout(TIMEOUT).expect("gate opened");
                receiving.store(true, Ordering::SeqCst);
                rx.recv_timeout(TIMEOUT).map(|m| m.into_body())
            })
        };
        let sender = {
            let receiving = Arc::clone(&receiving);
            spawn("confirming sender", move || {
                let result = if use_handle_default {
                    tx.with_confirm(Confirm::Received)
                        .send(1)
                        .map_err(|e| format!("{e:?}"))
                } else {
                    tx.send_with(1, Wait::Timeout(TIMEOUT), Confirm::Received)
                        .map_err(|e| format!("{e:?}"))
                };
                (result, receiving.load(Ordering::SeqCst))
            })
        };

        if b.is_rendezvous() {
            thread::sleep(SETTLE); // the sender is likely waiting by now
        } else {
            // The message is queued and nobody takes it yet.
            wait_until("message queued", || rx.len() == 1);
            thread::sleep(SETTLE);
        }
        assert!(
            !sender.is_finished(),
            "{b:?}: a Confirm::Received send returned before any receive"
        );
        open_gate.send(()).unwrap();
        let (result, saw_receiving) = sender.join();
        assert_eq!(result, Ok(()), "{b:?}");
        assert!(saw_receiving, "{b:?}: returned before the receiver took it");
        assert_eq!(receiver.join(), Ok(1));
    }
}

fn send_tracked_receipt_moves_queued_to_received(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    if b.is_rendezvous() {
        // A tracked send on a rendezvous completes with the receive.
        let sender = spawn("tracked sender", move || tx.send_tracked(3).unwrap());
        let msg = rx.recv_timeout(TIMEOUT).unwrap();
        let receipt = sender.join();
        assert_eq!(receipt.id(), msg.header().id());
        assert_eq!(receipt.wait_timeout(TIMEOUT), Ok(()));
        // A plain receive is an automatic acknowledgement.
        assert_eq!(receipt.state(), ReceiptState::Acked);
        return;
    }

    let receipt = tx.send_tracked(3).unwrap();
    assert_eq!(receipt.state(), ReceiptState::Queued);
    assert!(!receipt.state().is_final());
    assert!(!receipt.is_delivered());
    assert_eq!(
        receipt.wait_timeout(Duration::from_millis(5)),
        Err(ReceiptError::Timeout)
    );
    assert_eq!(
        receipt.wait_deadline(Instant::now()),
        Err(ReceiptError::Timeout)
    );

    // A clone waits on another thread and wakes on the receive.
    let waiter = {
        let receipt = receipt.clone();
        spawn("receipt waiter", move || receipt.wait())
    };
    thread::sleep(SETTLE); // likely parked by now
    assert!(
        !waiter.is_finished(),
        "{b:?}: wait returned before a receive"
    );
    let msg = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(waiter.join(), Ok(()));
    assert_eq!(msg.header().id(), receipt.id());
    assert!(
        !msg.header().is_tracked(),
        "the receipt link stays with the mailbox"
    );
    // A plain receive is an automatic acknowledgement: final at once.
    assert_eq!(receipt.state(), ReceiptState::Acked);
    assert!(receipt.state().is_final());
    assert!(receipt.is_delivered());
    assert!(receipt.is_acked());
    assert_eq!(receipt.wait(), Ok(()));
    assert_eq!(receipt.wait_acked(), Ok(()));

    // Taken back by Receiver::close: also received, and acknowledged.
    let receipt = tx.send_tracked(4).unwrap();
    assert_eq!(rx.close().len(), 1);
    assert_eq!(receipt.state(), ReceiptState::Acked);
}

fn send_tracked_receipt_dropped_when_last_receiver_drops(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    if b.is_rendezvous() {
        // Nothing can be queued: a tracked send waiting for a receiver fails
        // with Closed when the last receiver goes, and hands the message back.
        let sender = spawn("tracked sender", move || tx.send_tracked(3));
        thread::sleep(SETTLE);
        drop(rx);
        match sender.join() {
            Err(SendError::Closed(m)) => assert_eq!(m.into_body(), 3),
            other => panic!("{b:?}: expected Closed, got {other:?}"),
        }
        return;
    }
    let receipt = tx.send_tracked(3).unwrap();
    let waiter = {
        let receipt = receipt.clone();
        spawn("receipt waiter", move || receipt.wait())
    };
    thread::sleep(SETTLE); // likely parked by now
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(receipt.state(), ReceiptState::Queued, "a receiver is left");
    drop(rx2);
    assert_eq!(waiter.join(), Err(ReceiptError::Closed), "{b:?}");
    assert_eq!(receipt.state(), ReceiptState::Dropped);
    assert!(receipt.state().is_final() && !receipt.is_delivered());
    assert_eq!(receipt.wait_timeout(TIMEOUT), Err(ReceiptError::Closed));
    assert_eq!(tx.stats().dropped, 1);
}

fn unconfirmed_on_timeout_and_message_still_delivered(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let start = Instant::now();
    let err = tx
        .send_with(5, Wait::Timeout(SHORT), Confirm::Received)
        .unwrap_err();
    assert!(start.elapsed() >= SHORT, "{b:?}: gave up early");
    if b.is_rendezvous() {
        // Never queued: a plain timeout, message handed back.
        assert!(err.is_timeout(), "{b:?}: {err:?}");
        assert_eq!(err.into_inner(), Some(5));
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
        return;
    }
    assert!(err.is_unconfirmed(), "{b:?}: {err:?}");
    assert!(err.message().is_none());
    let SendTimeoutError::Unconfirmed(receipt) = err else {
        unreachable!()
    };
    assert_eq!(receipt.state(), ReceiptState::Queued);
    assert_eq!(rx.len(), 1, "{b:?}: the message stays queued");
    let msg = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((*msg.body(), msg.header().id()), (5, receipt.id()));
    assert_eq!(receipt.state(), ReceiptState::Acked);

    // The handle's default confirmation, with a non-blocking send.
    let tx = tx.with_confirm(Confirm::Received);
    match tx.try_send(6) {
        Err(TrySendError::Unconfirmed(receipt)) => {
            assert_eq!(receipt.state(), ReceiptState::Queued);
            assert_eq!(recv_body(&rx), 6);
            assert!(receipt.is_delivered());
        }
        other => panic!("{b:?}: expected Unconfirmed, got {other:?}"),
    }
    let stats = rx.stats();
    assert_eq!((stats.sent, stats.received), (2, 2));
}

fn confirmed_send_fails_when_last_receiver_drops(b: Backend) {
    let (tx, rx) = b.build::<u32>();
    let sender = spawn("confirming sender", move || {
        tx.with_confirm(Confirm::Received).send(8)
    });
    if !b.is_rendezvous() {
        wait_until("message queued", || rx.len() == 1);
    }
    thread::sleep(SETTLE);
    drop(rx);
    match sender.join() {
        // Queued, then dropped with the mailbox: the confirmation can never come.
        Err(SendError::Unconfirmed(receipt)) if !b.is_rendezvous() => {
            assert_eq!(receipt.state(), ReceiptState::Dropped)
        }
        // Never queued: handed back.
        Err(SendError::Closed(m)) if b.is_rendezvous() => assert_eq!(m.into_body(), 8),
        other => panic!("{b:?}: got {other:?}"),
    }
}

/// `MailboxStats::sent` counts "messages the mailbox accepted". A send still
/// waiting for room has not been accepted (it may yet time out or be handed
/// back), so it must not be counted while it waits: a mailbox under
/// backpressure would otherwise report phantom sends for as long as its
/// producers are blocked, and `sent == received + dropped + len` would not
/// hold for a mailbox that nobody is touching.
#[test]
fn stats_do_not_count_a_send_still_waiting_for_room() {
    let mut wrong = Vec::new();
    for b in common::BACKENDS {
        let Some(cap) = b.capacity() else { continue };
        let (tx, rx) = b.build::<u32>();
        for n in 0..cap as u32 {
            tx.try_send(n).unwrap();
        }
        let sender = {
            let tx = tx.clone();
            spawn("blocked sender", move || tx.send_timeout(99, TIMEOUT))
        };
        thread::sleep(SETTLE); // parked, waiting for room
        let waiting = rx.stats();
        let _ = rx.recv_timeout(TIMEOUT).unwrap();
        sender.join().unwrap();
        if waiting.sent != cap as u64
            || waiting.sent != waiting.received + waiting.dropped + waiting.len as u64
        {
            wrong.push(format!("{b:?}: {waiting:?}"));
        }
        let done = rx.stats();
        assert_eq!(done.sent, cap as u64 + 1, "{b:?}: {done:?}");
    }
    assert!(
        wrong.is_empty(),
        "a send blocked for room is counted as sent:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn order_kinds_are_covered() {
    // The list holds both orders and all three capacities.
    let backends = common::BACKENDS;
    assert!(backends.iter().any(|b| b.order() == Order::Fifo));
    assert!(backends.iter().any(|b| b.order() == Order::Priority));
    assert!(backends.iter().any(|b| b.is_rendezvous()));
    assert!(backends.iter().any(|b| b.is_bounded_buffer()));
    assert!(backends.iter().any(|b| b.capacity().is_none()));
}
