//! Batch receives (issue 13): `recv_many`, `try_recv_many`,
//! `recv_many_timeout`, `recv_many_async` and the acknowledged
//! `recv_ack_many` forms. Every test counts each message exactly once, and
//! checks that what a single receive does to a message (expiry, receipts,
//! statistics, wake-ups of waiting senders, prefetch, redelivery, the
//! durable log) happens to each message of a batch.

mod common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use postbox::{
    Confirm, DeadLetterReason, Delivery, Durable, Mailbox, Message, Port, Raw, ReceiptState,
    RecvError, RecvTimeoutError, Requeue, SyncPolicy, Topic, TryRecvAckError, TryRecvError, Wait,
};

use common::cancel::{first_cancel, ticker};
use common::{assert_balanced, spawn, Backend, BACKENDS, TIMEOUT};

fn bodies<T: Copy + Send>(batch: &[Message<T>]) -> Vec<T> {
    batch.iter().map(|m| *m.body()).collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Takes everything queued in batches of at most `max`, checking each
/// batch's size.
fn drain_in_batches(rx: &postbox::Receiver<u64>, max: usize) -> Vec<u64> {
    let mut all = Vec::new();
    let mut buf = Vec::new();
    while let Ok(n) = rx.try_recv_many(&mut buf, max) {
        assert!((1..=max).contains(&n), "a batch of {n} for max {max}");
        assert_eq!(buf.len(), n);
        all.extend(bodies(&buf));
        buf.clear();
    }
    all
}

#[test]
fn fifo_batches_keep_arrival_order_and_append() {
    let (tx, rx) = Mailbox::<u64>::builder().unbounded().build();
    for n in 0..10 {
        tx.send(n).unwrap();
    }
    let mut buf = vec![Message::new(99)];
    assert_eq!(rx.recv_many(&mut buf, 4), Ok(4));
    // Appended behind what the buffer held.
    assert_eq!(bodies(&buf), [99, 0, 1, 2, 3]);
    buf.clear();
    // Only what is queued: no waiting for `max`.
    assert_eq!(rx.recv_many(&mut buf, 100), Ok(6));
    assert_eq!(bodies(&buf), [4, 5, 6, 7, 8, 9]);
    let stats = rx.stats();
    assert_eq!(stats.received, 10);
    assert_balanced(&stats, 10);
}

#[test]
fn every_backend_drains_each_message_once() {
    for b in BACKENDS.iter().filter(|b| !b.is_rendezvous()) {
        let (tx, rx) = b.build::<u64>();
        let n = b.room(50) as u64;
        for i in 0..n {
            tx.send(i).unwrap();
        }
        let got = drain_in_batches(&rx, 3);
        assert_eq!(got, (0..n).collect::<Vec<_>>(), "{b:?}");
        assert_balanced(&rx.stats(), n);
    }
}

/// On a rendezvous, batches take what blocked senders offer, in order.
#[test]
fn rendezvous_batches_take_what_is_offered() {
    for b in BACKENDS.iter().filter(|b| b.is_rendezvous()) {
        let (tx, rx) = b.build::<u64>();
        let producer = spawn("rendezvous producer", move || {
            for n in 0..100 {
                tx.send(n).unwrap();
            }
        });
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while let Ok(n) = rx.recv_many(&mut buf, 64) {
            assert!(n >= 1);
            got.extend(bodies(&buf));
            buf.clear();
        }
        producer.join();
        assert_eq!(got, (0..100).collect::<Vec<_>>(), "{b:?}");
    }
}

#[test]
fn priority_order_holds_within_and_across_batches() {
    let (tx, rx) = Mailbox::<(u8, u32)>::builder()
        .priority(8)
        .unbounded()
        .build();
    let mut sent = Vec::new();
    for seq in 0..200u32 {
        let prio = ((seq * 5) % 8) as u8;
        tx.send(Message::new((prio, seq)).priority(prio)).unwrap();
        sent.push((prio, seq));
    }
    // Highest priority first, FIFO (by sequence) within a priority: the
    // batches joined are that order, so each batch is in order too.
    sent.sort_by_key(|&(prio, seq)| (std::cmp::Reverse(prio), seq));
    let mut got = Vec::new();
    let mut buf = Vec::new();
    while let Ok(n) = rx.try_recv_many(&mut buf, 7) {
        assert!(n <= 7);
        got.extend(bodies(&buf));
        buf.clear();
    }
    assert_eq!(got, sent);
}

/// A higher priority sent between two batches leaves first in the next.
#[test]
fn urgent_message_leads_the_next_batch() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(4).unbounded().build();
    for n in 0..6 {
        tx.send(n).unwrap();
    }
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many(&mut buf, 3), Ok(3));
    tx.send(Message::new(100).priority(3)).unwrap();
    buf.clear();
    assert_eq!(rx.recv_many(&mut buf, 3), Ok(3));
    assert_eq!(bodies(&buf), [100, 3, 4]);
}

/// Requeued messages leave first, the latest requeue first, inside a
/// batch as with single receives.
#[test]
fn requeued_messages_lead_the_batch() {
    for b in BACKENDS.iter().filter(|b| !b.is_rendezvous()) {
        let (tx, rx) = b.build::<u64>();
        let n = b.room(4) as u64;
        for i in 0..n {
            tx.send(i).unwrap();
        }
        let first = rx.recv_ack().unwrap();
        let second = rx.recv_ack().unwrap();
        first.nack(Requeue::Yes);
        second.nack(Requeue::Yes);
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 64), Ok(n as usize), "{b:?}");
        let want: Vec<u64> = [1, 0].into_iter().chain(2..n).collect();
        assert_eq!(bodies(&buf), want, "{b:?}");
        assert!(buf[..2].iter().all(|m| m.header().redeliveries() == 1));
        assert_balanced(&rx.stats(), n);
    }
}

#[test]
fn max_zero_returns_zero_at_once() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let mut buf = Vec::new();
    let mut deliveries = Vec::new();
    // Empty and open: a wait for a message would never end.
    assert_eq!(rx.recv_many(&mut buf, 0), Ok(0));
    assert_eq!(rx.recv_ack_many(&mut deliveries, 0), Ok(0));
    tx.send(1).unwrap();
    // Nothing taken either when a message is there.
    assert_eq!(rx.try_recv_many(&mut buf, 0), Ok(0));
    assert_eq!(rx.recv_many_timeout(&mut buf, 0, Duration::ZERO), Ok(0));
    assert_eq!(rx.try_recv_ack_many(&mut deliveries, 0), Ok(0));
    assert_eq!(
        rx.recv_ack_many_timeout(&mut deliveries, 0, Duration::ZERO),
        Ok(0)
    );
    futures_executor::block_on(async {
        assert_eq!(rx.recv_many_async(&mut buf, 0).await, Ok(0));
        assert_eq!(rx.recv_ack_many_async(&mut deliveries, 0).await, Ok(0));
    });
    assert!(buf.is_empty() && deliveries.is_empty());
    assert_eq!(rx.len(), 1);
    // And closed: still 0, as tokio's `recv_many` with limit 0.
    drop(tx);
    assert_eq!(rx.recv_many(&mut buf, 0), Ok(0));
    assert_eq!(rx.recv_many(&mut buf, 5), Ok(1));
    assert_eq!(rx.recv_many(&mut buf, 0), Ok(0));
    assert_eq!(rx.stats().received, 1);
}

#[test]
fn closed_and_drained_is_an_error_like_recv() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    for n in 0..3 {
        tx.send(n).unwrap();
    }
    drop(tx);
    let mut buf = Vec::new();
    let mut deliveries: Vec<Delivery<'_, u32>> = Vec::new();
    // What was queued is still delivered.
    assert_eq!(rx.recv_many(&mut buf, 10), Ok(3));
    assert_eq!(rx.recv_many(&mut buf, 10), Err(RecvError));
    assert_eq!(rx.try_recv_many(&mut buf, 10), Err(TryRecvError::Closed));
    assert_eq!(
        rx.recv_many_timeout(&mut buf, 10, TIMEOUT),
        Err(RecvTimeoutError::Closed)
    );
    assert_eq!(rx.recv_ack_many(&mut deliveries, 10), Err(RecvError));
    assert_eq!(
        rx.try_recv_ack_many(&mut deliveries, 10),
        Err(TryRecvAckError::Closed)
    );
    futures_executor::block_on(async {
        assert_eq!(rx.recv_many_async(&mut buf, 10).await, Err(RecvError));
        assert_eq!(
            rx.recv_ack_many_async(&mut deliveries, 10).await,
            Err(RecvError)
        );
    });
    assert_eq!(buf.len(), 3);
    assert!(deliveries.is_empty());
}

#[test]
fn explicit_close_ends_a_blocked_batch() {
    let (_tx, rx) = Mailbox::<u32>::builder().build();
    let closer = rx.clone();
    let waiter = spawn("blocked recv_many", move || {
        let mut buf = Vec::new();
        rx.recv_many(&mut buf, 8)
    });
    closer.close();
    assert_eq!(waiter.join(), Err(RecvError));
}

#[test]
fn empty_is_not_closed() {
    let (_tx, rx) = Mailbox::<u32>::builder().build();
    let mut buf = Vec::new();
    let mut deliveries = Vec::new();
    assert_eq!(rx.try_recv_many(&mut buf, 4), Err(TryRecvError::Empty));
    assert_eq!(
        rx.recv_many_timeout(&mut buf, 4, Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(
        rx.try_recv_ack_many(&mut deliveries, 4),
        Err(TryRecvAckError::Empty)
    );
    assert_eq!(
        rx.recv_ack_many_timeout(&mut deliveries, 4, Duration::from_millis(5)),
        Err(RecvTimeoutError::Timeout)
    );
}

/// A batch receive blocked on an empty mailbox wakes for the first message.
#[test]
fn a_blocked_batch_wakes_for_one_message() {
    for b in BACKENDS {
        let (tx, rx) = b.build::<u64>();
        let waiter = spawn("blocked recv_many", move || {
            let mut buf = Vec::new();
            let n = rx.recv_many(&mut buf, 64).unwrap();
            (n, bodies(&buf))
        });
        tx.send(7).unwrap();
        assert_eq!(waiter.join(), (1, vec![7]), "{b:?}");
    }
}

/// Senders blocked on a full bounded mailbox, threads and tasks, complete
/// once batches free the room: each message taken frees one slot and wakes
/// one waiting sender.
#[test]
fn blocked_senders_are_woken_by_batches() {
    for b in BACKENDS.iter().filter(|b| b.is_bounded_buffer()) {
        let cap = b.capacity().unwrap() as u64;
        let (tx, rx) = b.build::<u64>();
        for n in 0..cap {
            tx.send(n).unwrap();
        }
        // One thread and one task wait for room, `cap` messages each.
        let thread_tx = tx.clone();
        let blocked_thread = spawn("blocked sender", move || {
            for n in cap..2 * cap {
                thread_tx.send(n).unwrap();
            }
        });
        let rt = runtime();
        let task = rt.spawn(async move {
            for n in 2 * cap..3 * cap {
                tx.send_async(n).await.unwrap();
            }
        });
        let consumer = spawn("batch consumer", move || {
            let mut got = Vec::new();
            let mut buf = Vec::new();
            while got.len() < 3 * cap as usize {
                rx.recv_many(&mut buf, cap as usize).unwrap();
                got.extend(bodies(&buf));
                buf.clear();
            }
            (got, rx)
        });
        let (mut got, rx) = consumer.join();
        blocked_thread.join();
        rt.block_on(task).unwrap();
        got.sort_unstable();
        assert_eq!(got, (0..3 * cap).collect::<Vec<_>>(), "{b:?}");
        assert_balanced(&rx.stats(), 3 * cap);
    }
}

/// Expired messages are not handed out, do not count against `max`, and
/// go to dead letters with reason `Expired`, counted as such.
#[test]
fn expired_messages_are_skipped_and_dead_lettered() {
    for b in [common::FIFO_UNBOUNDED, common::PRIORITY_UNBOUNDED] {
        let (dead_tx, dead_rx) = Mailbox::<u32>::builder().unbounded().build();
        let (tx, rx) = match b.levels() {
            Some(levels) => Mailbox::<u32>::builder().priority(levels),
            None => Mailbox::<u32>::builder().fifo(),
        }
        .unbounded()
        .dead_letters(dead_tx)
        .build();
        for n in 0..10 {
            let msg = Message::new(n);
            // Every odd one is already out of time.
            let msg = if n % 2 == 1 {
                msg.ttl(Duration::ZERO)
            } else {
                msg
            };
            tx.send(msg).unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 3), Ok(3), "{b:?}");
        assert_eq!(bodies(&buf), [0, 2, 4]);
        buf.clear();
        let mut deliveries = Vec::new();
        assert_eq!(rx.recv_ack_many(&mut deliveries, 10), Ok(2));
        assert_eq!(
            deliveries.iter().map(|d| *d.body()).collect::<Vec<_>>(),
            [6, 8]
        );
        deliveries.drain(..).for_each(|d| {
            d.ack();
        });
        let dead: Vec<u32> = dead_rx.try_iter().map(|m| m.into_body()).collect();
        assert_eq!(dead, [1, 3, 5, 7, 9]);
        let stats = rx.stats();
        assert_eq!(stats.dead_letters.get(DeadLetterReason::Expired), 5);
        assert_eq!((stats.received, stats.acked), (5, 2));
        assert_balanced(&stats, 10);
    }
}

/// Each message of a plain batch is an automatic acknowledgement: its
/// receipt says `Acked`. Each delivery of an acknowledged batch says
/// `Received` until it is answered.
#[test]
fn receipts_are_settled_per_message() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let plain: Vec<_> = (0..4).map(|n| tx.send_tracked(n).unwrap()).collect();
    let acked: Vec<_> = (4..8).map(|n| tx.send_tracked(n).unwrap()).collect();
    let mut buf = Vec::new();
    assert_eq!(rx.recv_many(&mut buf, 4), Ok(4));
    assert!(plain.iter().all(|r| r.state() == ReceiptState::Acked));
    assert!(acked.iter().all(|r| r.state() == ReceiptState::Queued));
    let mut deliveries = Vec::new();
    assert_eq!(rx.recv_ack_many(&mut deliveries, 4), Ok(4));
    assert!(acked.iter().all(|r| r.state() == ReceiptState::Received));
    for (i, d) in deliveries.into_iter().enumerate() {
        if i % 2 == 0 {
            d.ack();
        } else {
            d.nack(Requeue::No);
        }
    }
    let states: Vec<_> = acked.iter().map(|r| r.state()).collect();
    assert_eq!(states[0], ReceiptState::Acked);
    // Rejected, with no dead-letter sender on a standalone mailbox: dropped.
    assert_eq!(states[1], ReceiptState::Dropped);
    assert_eq!(states[2], ReceiptState::Acked);
}

/// A batch that opens with plain messages still settles a receipt behind
/// them: the look for receipts covers every message taken, not the first.
#[test]
fn a_receipt_behind_plain_messages_is_settled() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    tx.send(0).unwrap();
    tx.send(1).unwrap();
    let receipt = tx.send_tracked(2).unwrap();
    let mut buf = Vec::new();
    assert_eq!(rx.try_recv_many(&mut buf, 8), Ok(3));
    assert_eq!(bodies(&buf), [0, 1, 2]);
    assert_eq!(receipt.state(), ReceiptState::Acked);
}

#[test]
fn ack_batches_respect_the_prefetch_limit() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let rx = rx.with_prefetch(3);
    for n in 0..10 {
        tx.send(n).unwrap();
    }
    let mut held = Vec::new();
    assert_eq!(rx.recv_ack_many(&mut held, 64), Ok(3));
    assert_eq!(rx.unacked(), 3);
    assert_eq!(
        rx.try_recv_ack_many(&mut held, 64),
        Err(TryRecvAckError::PrefetchFull)
    );
    assert_eq!(rx.len(), 7, "a batch at its limit takes nothing more");
    // Answer two: ack one, give one back. Two slots free.
    let mut drain = held.drain(..2);
    drain.next().unwrap().ack();
    drain.next().unwrap().nack(Requeue::Yes);
    drop(drain);
    assert_eq!(rx.try_recv_ack_many(&mut held, 64), Ok(2));
    // The requeued message came back at the front, flagged.
    assert_eq!(*held[1].body(), 1);
    assert!(held[1].is_redelivered());
    assert_eq!(held[1].header().redeliveries(), 1);
    assert_eq!(*held[2].body(), 3);
    assert!(!held[2].is_redelivered());
    assert_eq!(rx.unacked(), 3);

    // A slot freed by an answer lets the next batch take one more.
    held.pop().unwrap().ack();
    let mut more = Vec::new();
    assert_eq!(rx.recv_ack_many(&mut more, 64), Ok(1));
    assert_eq!(*more[0].body(), 4);

    // Answer everything; the rest in batches within the limit.
    held.drain(..).for_each(|d| {
        d.ack();
    });
    more.drain(..).for_each(|d| {
        d.ack();
    });
    let mut seen = vec![0, 1, 2, 3, 4];
    while let Ok(n) = rx.try_recv_ack_many(&mut more, 64) {
        assert!(n <= 3);
        seen.extend(more.drain(..).map(|d| *d.ack().body()));
    }
    seen.sort_unstable();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    let stats = rx.stats();
    assert_eq!((stats.acked, stats.redelivered, stats.unacked), (10, 1, 0));
    assert_balanced(&stats, 10);
}

/// A thread blocked in `recv_ack_many` at its prefetch limit wakes when a
/// delivery is answered, and takes one message for the one freed slot.
#[test]
fn a_batch_at_its_limit_waits_for_an_answer() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let rx = rx.with_prefetch(2);
    for n in 0..5 {
        tx.send(n).unwrap();
    }
    let mut held = Vec::new();
    assert_eq!(rx.recv_ack_many(&mut held, 64), Ok(2));
    // Owned: held while the handle moves to the waiting thread.
    let mut held: Vec<_> = held.into_iter().map(Delivery::into_owned).collect();
    let waiter = spawn("recv_ack_many at its limit", move || {
        let mut batch = Vec::new();
        let n = rx.recv_ack_many(&mut batch, 64).unwrap();
        let got: Vec<u32> = batch.into_iter().map(|d| *d.ack().body()).collect();
        (n, got, rx)
    });
    held.pop().unwrap().ack();
    let (n, got, rx) = waiter.join();
    assert_eq!((n, got), (1, vec![2]));
    held.pop().unwrap().ack();
    assert_eq!(rx.stats().acked, 3);
}

/// Deliveries of a batch dropped unanswered are requeued, each counted as
/// a redelivery; past `max_redeliveries`, dead letters.
#[test]
fn dropped_batches_are_redelivered_then_dead_lettered() {
    let (dead_tx, dead_rx) = Mailbox::<u32>::builder().unbounded().build();
    let (tx, rx) = Mailbox::<u32>::builder()
        .max_redeliveries(1)
        .dead_letters(dead_tx)
        .build();
    for n in 0..4 {
        tx.send(n).unwrap();
    }
    let mut batch = Vec::new();
    assert_eq!(rx.recv_ack_many(&mut batch, 64), Ok(4));
    batch.clear(); // all four dropped unanswered
    assert_eq!(rx.recv_ack_many(&mut batch, 64), Ok(4));
    assert!(batch.iter().all(|d| d.header().redeliveries() == 1));
    batch.clear(); // once more: past the limit
    assert_eq!(
        rx.try_recv_ack_many(&mut batch, 64),
        Err(TryRecvAckError::Empty)
    );
    assert_eq!(dead_rx.len(), 4);
    let stats = rx.stats();
    assert_eq!(stats.dead_letters.get(DeadLetterReason::MaxRedeliveries), 4);
    assert_balanced(&stats, 4);
}

/// The forms on ports and topic subscribers are the receiver's.
#[test]
fn ports_and_subscribers_receive_in_batches() {
    let (tx, port) = Port::<u32>::builder().build();
    for n in 0..5 {
        tx.send(n).unwrap();
    }
    let mut buf = Vec::new();
    assert_eq!(port.recv_many(&mut buf, 2), Ok(2));
    assert_eq!(port.try_recv_many(&mut buf, 2), Ok(2));
    let mut deliveries = Vec::new();
    assert_eq!(port.recv_ack_many(&mut deliveries, 9), Ok(1));
    assert_eq!(bodies(&buf), [0, 1, 2, 3]);
    deliveries.clear();
    assert_eq!(
        port.recv_ack_many_timeout(&mut deliveries, 9, TIMEOUT),
        Ok(1)
    );

    let topic = Topic::<u32>::builder().build();
    let sub = topic.subscribe();
    for n in 0..3 {
        topic.publish(n).unwrap();
    }
    buf.clear();
    futures_executor::block_on(async {
        assert_eq!(sub.recv_many_async(&mut buf, 2).await, Ok(2));
        let mut deliveries = Vec::new();
        assert_eq!(sub.recv_ack_many_async(&mut deliveries, 2).await, Ok(1));
        deliveries.pop().unwrap().ack();
    });
    assert_eq!(bodies(&buf), [0, 1]);
    assert_eq!(
        sub.recv_many_timeout(&mut buf, 2, Duration::ZERO),
        Err(RecvTimeoutError::Timeout)
    );
    assert_eq!(
        sub.try_recv_ack_many(&mut Vec::new(), 2),
        Err(TryRecvAckError::Empty)
    );
}

/// A fresh directory for the durable test, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A durable mailbox's log learns of each message of a batch: taken by a
/// plain batch (acknowledged), acked, rejected, or handed out and given
/// back unanswered (comes back after a reopen, flagged).
#[test]
fn durable_batches_are_recorded_per_message() {
    let dir =
        TempDir(std::env::temp_dir().join(format!("postbox-batch-durable-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let open = || {
        Mailbox::<String>::builder()
            .durable(Durable::at(&dir.0).codec(Raw).sync(SyncPolicy::Buffered))
            .open()
            .unwrap()
    };
    {
        let (tx, rx) = open();
        for n in 0..10 {
            tx.send(format!("{n}")).unwrap();
        }
        let mut buf = Vec::new();
        assert_eq!(rx.recv_many(&mut buf, 3), Ok(3)); // 0 1 2: taken for good
        let mut deliveries = Vec::new();
        assert_eq!(rx.recv_ack_many(&mut deliveries, 4), Ok(4)); // 3 4 5 6
        let mut it = deliveries.into_iter();
        it.next().unwrap().ack(); // 3: gone
        it.next().unwrap().nack(Requeue::No); // 4: a dead letter, gone
                                              // 5 and 6 dropped unanswered: requeued, redelivery counted.
    }
    let (_tx, rx) = open();
    let mut buf = Vec::new();
    assert_eq!(rx.try_recv_many(&mut buf, 64), Ok(5));
    let got: Vec<(String, u32)> = buf
        .into_iter()
        .map(|m| {
            let redeliveries = m.header().redeliveries();
            (m.into_body(), redeliveries)
        })
        .collect();
    let want: Vec<(String, u32)> = [("5", 1), ("6", 1), ("7", 0), ("8", 0), ("9", 0)]
        .iter()
        .map(|&(b, r)| (b.to_string(), r))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn async_batches_from_a_thread_producer() {
    const N: u64 = 10_000;
    let (tx, rx) = Mailbox::<u64>::builder().capacity(32).build();
    let producer = spawn("producer", move || {
        for n in 0..N {
            tx.send(n).unwrap();
        }
    });
    let got = runtime().block_on(async move {
        let mut got = Vec::new();
        let mut buf = Vec::new();
        while let Ok(n) = rx.recv_many_async(&mut buf, 16).await {
            assert!((1..=16).contains(&n));
            got.extend(bodies(&buf));
            buf.clear();
        }
        got
    });
    producer.join();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

const CANCEL_MESSAGES: u64 = 20_000;

fn assert_exactly_once(mut got: Vec<u64>, n: u64) {
    assert_eq!(got.len() as u64, n, "messages lost or duplicated");
    got.sort_unstable();
    got.dedup();
    assert_eq!(
        got,
        (0..n).collect::<Vec<_>>(),
        "a message was received twice"
    );
}

#[test]
fn cancelled_recv_many_async_takes_nothing() {
    for b in [common::FIFO_BOUNDED, common::PRIORITY_BOUNDED] {
        let (tx, rx) = b.build::<u64>();
        // The last message waits for the first cancelled batch: however
        // fast the consumer, one is cancelled while messages still flow.
        let (cancelled_once, first) = first_cancel();
        let producer = spawn("producer", move || {
            for n in 0..CANCEL_MESSAGES {
                if n == CANCEL_MESSAGES - 1 {
                    first.wait();
                }
                tx.send(Message::new(n).priority((n % 4) as u8)).unwrap();
            }
        });
        let (got, cancelled) = runtime().block_on(async move {
            let mut got = Vec::new();
            let mut buf = Vec::new();
            let mut cancelled = 0u64;
            let mut tick = ticker();
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        // A cancelled batch left the buffer as it was.
                        assert!(buf.is_empty());
                        cancelled += 1;
                        cancelled_once.note();
                    }
                    taken = rx.recv_many_async(&mut buf, 8) => match taken {
                        Ok(n) => {
                            assert_eq!(n, buf.len());
                            got.extend(bodies(&buf));
                            buf.clear();
                        }
                        Err(_) => break,
                    },
                }
            }
            (got, cancelled)
        });
        producer.join();
        assert!(cancelled > 0, "the timer never won: nothing was cancelled");
        assert_exactly_once(got, CANCEL_MESSAGES);
    }
}

#[test]
fn cancelled_recv_ack_many_async_leaves_no_trace() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(16).build();
    let rx = rx.with_prefetch(6);
    let producer = spawn("producer", move || {
        for n in 0..CANCEL_MESSAGES {
            tx.send(n).unwrap();
        }
    });
    let (got, stats) = runtime().block_on(async move {
        let mut got = Vec::new();
        let mut batch = Vec::new();
        let mut tick = ticker();
        loop {
            tokio::select! {
                _ = tick.tick() => assert!(batch.is_empty()),
                taken = rx.recv_ack_many_async(&mut batch, 4) => match taken {
                    Ok(n) => {
                        assert!(n <= 4);
                        for d in batch.drain(..) {
                            // Never redelivered: a cancelled batch took nothing.
                            assert!(!d.is_redelivered());
                            got.push(*d.ack().body());
                        }
                    }
                    Err(_) => break,
                },
            }
        }
        (got, rx.stats())
    });
    producer.join();
    assert_exactly_once(got, CANCEL_MESSAGES);
    assert_eq!(
        (stats.acked, stats.redelivered, stats.unacked),
        (CANCEL_MESSAGES, 0, 0)
    );
    assert_balanced(&stats, CANCEL_MESSAGES);
}

/// Several producers, two consumers taking batches: every message exactly
/// once, and on FIFO each producer's messages in the order it sent them.
#[test]
fn stress_two_batch_consumers() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 25_000;
    let backends: [Backend; 2] = [common::FIFO_BOUNDED, common::PRIORITY_BOUNDED];
    for b in backends {
        let (tx, rx) = b.build::<u64>();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let tx = tx.clone();
                spawn(format!("producer {p}"), move || {
                    for i in 0..PER_PRODUCER {
                        let v = p * PER_PRODUCER + i;
                        tx.send(Message::new(v).priority((i % 3) as u8)).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let consumers: Vec<_> = (0..2)
            .map(|c| {
                let rx = rx.clone();
                spawn(format!("consumer {c}"), move || {
                    let mut got = Vec::new();
                    let mut buf = Vec::new();
                    let mut batches = 0u64;
                    while let Ok(n) = rx.recv_many(&mut buf, 64) {
                        assert!((1..=64).contains(&n));
                        got.extend(bodies(&buf));
                        buf.clear();
                        batches += 1;
                    }
                    (got, batches)
                })
            })
            .collect();
        for p in producers {
            p.join();
        }
        let mut all = Vec::new();
        for c in consumers {
            let (got, batches) = c.join();
            assert!(batches as usize <= got.len());
            if b.levels().is_none() {
                // FIFO: a consumer sees each producer's messages in order.
                for p in 0..PRODUCERS {
                    let own: Vec<u64> = got
                        .iter()
                        .copied()
                        .filter(|v| v / PER_PRODUCER == p)
                        .collect();
                    assert!(own.windows(2).all(|w| w[0] < w[1]), "{b:?}: out of order");
                }
            }
            all.extend(got);
        }
        let total = PRODUCERS * PER_PRODUCER;
        let unique: HashSet<u64> = all.iter().copied().collect();
        assert_eq!(all.len() as u64, total, "{b:?}: lost or duplicated");
        assert_eq!(unique.len() as u64, total, "{b:?}: a message twice");
        assert_balanced(&rx.stats(), total);
    }
}

/// The batch futures are `Send` when the body is (spawnable on a
/// multi-threaded runtime) and print without `T: Debug`.
#[test]
fn batch_futures_are_send_and_debug() {
    fn is_send_debug<F: Send + std::fmt::Debug>(_: &F) {}
    /// A body that is neither `Debug` nor `Sync`.
    struct Opaque(std::cell::Cell<u32>);
    let (tx, rx) = Mailbox::<Opaque>::builder().build();
    {
        let mut buf = Vec::new();
        let mut deliveries = Vec::new();
        is_send_debug(&rx.recv_many_async(&mut buf, 4));
        is_send_debug(&rx.recv_ack_many_async(&mut deliveries, 4));
    }
    tx.send(Opaque(std::cell::Cell::new(5))).unwrap();
    let rt = runtime();
    let task = rt.spawn(async move {
        let mut buf = Vec::new();
        rx.recv_many_async(&mut buf, 4).await.unwrap();
        buf.pop().unwrap().into_body().0.get()
    });
    assert_eq!(rt.block_on(task).unwrap(), 5);
}

/// A sender that waits for `Confirm::Received` finds the receive already
/// counted when it returns, whether a batch took its message with
/// `recv_many` or `recv_ack_many`: the batch counts before any receipt
/// moves, as the one-message forms do. Many rounds, so that the receiver's
/// count and the sender's look race every way they can.
#[test]
fn confirmed_senders_find_batches_counted() {
    for acked in [false, true] {
        let (tx, rx) = Mailbox::<u32>::builder().unbounded().build();
        let rounds = 2_000;
        let receiver = spawn("batch receiver", move || {
            let mut plain = Vec::new();
            let mut deliveries = Vec::new();
            let mut got = 0;
            while got < rounds {
                if acked {
                    got += rx.recv_ack_many(&mut deliveries, 8).expect("open");
                    for d in deliveries.drain(..) {
                        d.ack();
                    }
                } else {
                    got += rx.recv_many(&mut plain, 8).expect("open");
                    plain.clear();
                }
            }
        });
        for i in 0..rounds {
            tx.send_with(i as u32, Wait::Blocking, Confirm::Received)
                .expect("confirmed");
            let stats = tx.stats();
            // Handed out: processed (`received`, acks included) or still
            // waiting for an answer (`unacked`).
            let taken = stats.received + stats.unacked;
            assert!(
                taken > i as u64,
                "acked={acked}: round {i}: the send returned before its receive was counted ({taken})"
            );
        }
        receiver.join();
    }
}
