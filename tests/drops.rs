//! Drop counting: no message leaks and none is dropped twice, whichever path
//! it takes (received, handed back in an error, returned by `close`, swept
//! when the last receiver goes, or dropped with the mailbox), on every
//! backend, including when handles come and go while others are active.

#[macro_use]
mod common;

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{spawn, Backend, DropCounter, DropLog, SETTLE, TIMEOUT};
use postbox::{
    Confirm, Message, ReceiptError, ReceiptState, SendError, SendTimeoutError, TrySendError, Wait,
};

per_backend!({
    received_messages_are_dropped_once,
    mailbox_dropped_with_messages_queued_receiver_first,
    mailbox_dropped_with_messages_queued_sender_first,
    refused_messages_are_handed_back_and_dropped_once,
    receiver_close_hands_everything_back,
    tracked_message_dropped_with_the_mailbox,
    receivers_leave_mid_stream,
    senders_leave_mid_stream,
    close_mid_stream,
});

const SHORT: Duration = Duration::from_millis(20);

fn received_messages_are_dropped_once(b: Backend) {
    let log = DropLog::new(10);
    let (tx, rx) = b.build::<DropCounter>();
    let producer = {
        let log = log.clone();
        spawn("producer", move || {
            for id in 0..10 {
                tx.send(log.body(id)).unwrap();
            }
        })
    };
    let mut ids = Vec::new();
    for msg in rx.iter() {
        assert_eq!(
            log.drops_of(msg.body().id()),
            0,
            "{b:?}: dropped before received"
        );
        ids.push(msg.body().id());
    }
    producer.join();
    assert_eq!(ids, (0..10).collect::<Vec<_>>());
    log.assert_each_dropped_once(b.name);
}

fn mailbox_dropped_with_messages_queued_receiver_first(b: Backend) {
    let k = b.room(3);
    let log = DropLog::new(k);
    let (tx, rx) = b.build::<DropCounter>();
    for id in 0..k {
        tx.try_send(log.body(id)).unwrap();
    }
    assert_eq!(log.total(), 0);
    drop(rx);
    // Swept with the last receiver, and counted.
    log.assert_each_dropped_once(b.name);
    assert_eq!(tx.stats().dropped, k as u64);
    drop(tx);
    log.assert_each_dropped_once(b.name);
}

fn mailbox_dropped_with_messages_queued_sender_first(b: Backend) {
    let k = b.room(3);
    let log = DropLog::new(k);
    let (tx, rx) = b.build::<DropCounter>();
    for id in 0..k {
        tx.try_send(log.body(id)).unwrap();
    }
    drop(tx);
    assert_eq!(log.total(), 0, "{b:?}: still receivable");
    let rx2 = rx.clone();
    drop(rx);
    assert_eq!(log.total(), 0, "{b:?}: a receiver is left");
    drop(rx2);
    log.assert_each_dropped_once(b.name);
}

fn refused_messages_are_handed_back_and_dropped_once(b: Backend) {
    let log = DropLog::new(16);
    let (tx, rx) = b.build::<DropCounter>();
    let next = Cell::new(0);
    let body = || {
        let id = next.get();
        next.set(id + 1);
        log.body(id)
    };

    if let Some(cap) = b.capacity() {
        for _ in 0..cap {
            tx.try_send(body()).unwrap();
        }
        // Full, Timeout: handed back, then dropped by us.
        let err = tx.try_send(body()).unwrap_err();
        assert!(err.is_full());
        let returned = err.into_inner().unwrap();
        assert_eq!(log.drops_of(returned.id()), 0, "handed back alive");
        drop(returned);
        let err = tx.send_timeout(body(), SHORT).unwrap_err();
        assert!(err.is_timeout(), "{b:?}: {err:?}");
        drop(err);
        let err = tx
            .send_with(body(), Wait::NonBlocking, Confirm::Received)
            .unwrap_err();
        assert!(err.is_full(), "{b:?}: {err:?}");
        drop(err);
    }
    if let Some(levels) = b.levels() {
        let err = tx
            .try_send(Message::new(body()).priority(levels))
            .unwrap_err();
        assert!(matches!(err, TrySendError::InvalidPriority(_)));
        drop(err);
    }
    let queued = rx.len();
    assert_eq!(
        log.total(),
        next.get() - queued,
        "{b:?}: refused ones dropped"
    );

    // Closed: the last receiver goes; later sends hand their message back.
    drop(rx);
    assert_eq!(log.total(), next.get(), "{b:?}: queued ones swept");
    let err = tx.send(body()).unwrap_err();
    assert!(matches!(err, SendError::Closed(_)));
    drop(err);
    let err = tx.send_tracked(body()).unwrap_err();
    assert!(matches!(err, SendError::Closed(_)));
    drop(err);
    drop(tx);
    let log_n = next.get();
    for id in 0..log_n {
        assert_eq!(log.drops_of(id), 1, "{b:?}: body {id}");
    }
    assert_eq!(log.total(), log_n);
}

fn receiver_close_hands_everything_back(b: Backend) {
    let k = b.room(3);
    let log = DropLog::new(k + 1);
    let (tx, rx) = b.build::<DropCounter>();
    for id in 0..k {
        tx.try_send(log.body(id)).unwrap();
    }
    let left = rx.close();
    assert_eq!(left.len(), k);
    assert_eq!(log.total(), 0, "handed back alive");
    let err = tx.try_send(log.body(k)).unwrap_err();
    assert!(err.is_closed());
    drop(err);
    assert_eq!(log.drops_of(k), 1);
    drop(left);
    drop((tx, rx));
    log.assert_each_dropped_once(b.name);
}

fn tracked_message_dropped_with_the_mailbox(b: Backend) {
    let log = DropLog::new(1);
    let (tx, rx) = b.build::<DropCounter>();
    if b.is_rendezvous() {
        // Waits for a receiver; handed back when the last one goes.
        let sender = spawn("tracked sender", move || {
            match tx.send_tracked(log.body(0)) {
                Err(SendError::Closed(m)) => {
                    drop(m);
                    log
                }
                other => panic!("expected Closed, got {:?}", other.map(|_| ())),
            }
        });
        thread::sleep(SETTLE);
        drop(rx);
        sender.join().assert_each_dropped_once(b.name);
        return;
    }
    let receipt = tx.send_tracked(log.body(0)).unwrap();
    assert_eq!(receipt.state(), ReceiptState::Queued);
    drop(rx);
    assert_eq!(receipt.state(), ReceiptState::Dropped);
    assert_eq!(receipt.wait(), Err(ReceiptError::Closed));
    log.assert_each_dropped_once(b.name);
    drop(tx);
    log.assert_each_dropped_once(b.name);
}

/// Producers keep sending while the consumers give up one by one; the last
/// consumer to leave closes the mailbox under the producers' feet. Every body
/// ends up dropped exactly once: by a consumer, by a producer (handed back),
/// or by the mailbox (swept / dropped with it).
fn receivers_leave_mid_stream(b: Backend) {
    const PRODUCERS: usize = 3;
    const PER_PRODUCER: usize = 3_000;
    const TAKE_EACH: usize = 1_000;
    let log = DropLog::new(PRODUCERS * PER_PRODUCER);
    let (tx, rx) = b.build::<DropCounter>();
    let handed_back = Arc::new(AtomicUsize::new(0));

    let consumers: Vec<_> = (0..3)
        .map(|c| {
            let rx = rx.clone();
            spawn(format!("consumer {c}"), move || {
                // Each leaves after its share, dropping its handle.
                let mut taken = 0;
                while taken < TAKE_EACH * (c + 1) / 2 {
                    match rx.recv_timeout(TIMEOUT) {
                        Ok(msg) => {
                            drop(msg);
                            taken += 1;
                        }
                        Err(e) => panic!("consumer {c}: {e:?}"),
                    }
                }
                taken
            })
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let log = log.clone();
            let handed_back = Arc::clone(&handed_back);
            spawn(format!("producer {p}"), move || {
                for seq in 0..PER_PRODUCER {
                    if let Err(err) = tx.send_timeout(log.body(p * PER_PRODUCER + seq), TIMEOUT) {
                        assert!(err.is_closed(), "producer {p}: {err:?}");
                        handed_back.fetch_add(1, Ordering::SeqCst);
                        drop(err);
                    }
                }
            })
        })
        .collect();
    let stats = tx.clone();
    drop(tx);
    let taken: usize = consumers.into_iter().map(|c| c.join()).sum();
    for p in producers {
        p.join();
    }
    log.assert_none_dropped_twice(b.name);
    let s = stats.stats();
    assert_eq!(s.received, taken as u64, "{b:?}: {s:?}");
    assert_eq!(
        s.sent,
        s.received + s.dropped + s.len as u64,
        "{b:?}: {s:?}"
    );
    assert_eq!(
        s.sent as usize + handed_back.load(Ordering::SeqCst),
        PRODUCERS * PER_PRODUCER,
        "{b:?}: every send was accepted or handed back"
    );
    drop(stats);
    log.assert_each_dropped_once(b.name);
}

/// Producers come and go (each drops its handle when done, at different
/// times) while a consumer drains: everything is received exactly once.
fn senders_leave_mid_stream(b: Backend) {
    const PRODUCERS: usize = 4;
    let sizes = [10usize, 500, 2_000, 4_000];
    let total: usize = sizes.iter().sum();
    let log = DropLog::new(total);
    let (tx, rx) = b.build::<DropCounter>();
    let consumer = spawn("consumer", move || {
        let mut ids: Vec<usize> = rx.iter().map(|m| m.body().id()).collect();
        ids.sort_unstable();
        ids
    });
    let mut start = 0;
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let log = log.clone();
            let range = start..start + sizes[p];
            start += sizes[p];
            spawn(format!("producer {p}"), move || {
                for id in range {
                    tx.send(log.body(id)).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    for p in producers {
        p.join();
    }
    let ids = consumer.join();
    assert_eq!(ids, (0..total).collect::<Vec<_>>(), "{b:?}");
    log.assert_each_dropped_once(b.name);
}

/// `Receiver::close` while producers and consumers are busy: what close
/// returns, what consumers still get, what producers get back, and what the
/// mailbox sweeps add up to every body, each exactly once.
fn close_mid_stream(b: Backend) {
    const PRODUCERS: usize = 2;
    const PER_PRODUCER: usize = 4_000;
    let log = DropLog::new(PRODUCERS * PER_PRODUCER);
    let (tx, rx) = b.build::<DropCounter>();
    let received = Arc::new(AtomicUsize::new(0));

    let consumers: Vec<_> = (0..2)
        .map(|c| {
            let rx = rx.clone();
            let received = Arc::clone(&received);
            spawn(format!("consumer {c}"), move || {
                let mut n = 0;
                for msg in rx.iter() {
                    drop(msg);
                    n += 1;
                    received.fetch_add(1, Ordering::SeqCst);
                }
                n
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let tx = tx.clone();
            let log = log.clone();
            spawn(format!("producer {p}"), move || {
                let mut back = 0;
                for seq in 0..PER_PRODUCER {
                    match tx.send(log.body(p * PER_PRODUCER + seq)) {
                        Ok(()) => {}
                        Err(SendError::Closed(m)) => {
                            drop(m);
                            back += 1;
                        }
                        Err(other) => panic!("producer {p}: {other:?}"),
                    }
                }
                back
            })
        })
        .collect();
    drop(tx);
    common::wait_until("some messages received", || {
        received.load(Ordering::SeqCst) >= 500
    });
    let closed_with = rx.close().len();
    let back: usize = producers.into_iter().map(|p| p.join()).sum();
    let by_consumers: usize = consumers.into_iter().map(|c| c.join()).sum();
    // Every handle but `rx` is gone; a straggler that raced with the close is
    // still receivable.
    let stragglers = rx.try_iter().count();
    assert_eq!(
        closed_with + back + by_consumers + stragglers,
        PRODUCERS * PER_PRODUCER,
        "{b:?}: close {closed_with}, handed back {back}, consumers {by_consumers}, \
         stragglers {stragglers}"
    );
    let s = rx.stats();
    assert_eq!(
        s.sent,
        s.received + s.dropped + s.len as u64,
        "{b:?}: {s:?}"
    );
    assert_eq!((s.dropped, s.len), (0, 0), "{b:?}: {s:?}");
    drop(rx);
    log.assert_each_dropped_once(b.name);
}

/// Timeouts and unconfirmed sends with a body that counts its drops.
#[test]
fn unconfirmed_and_timed_out_messages_are_not_lost() {
    for b in common::BACKENDS {
        let log = DropLog::new(1);
        let (tx, rx) = b.build::<DropCounter>();
        let err = tx
            .send_with(log.body(0), Wait::Timeout(SHORT), Confirm::Received)
            .unwrap_err();
        match err {
            // Queued: the mailbox still holds it.
            SendTimeoutError::Unconfirmed(receipt) => {
                assert!(!b.is_rendezvous(), "{b:?}");
                assert_eq!(log.total(), 0);
                let msg = rx.try_recv().unwrap();
                assert_eq!(msg.body().id(), 0);
                assert!(receipt.is_delivered());
            }
            // Never queued: handed back.
            SendTimeoutError::Timeout(m) => {
                assert!(b.is_rendezvous(), "{b:?}");
                assert_eq!(m.body().id(), 0);
            }
            other => panic!("{b:?}: {other:?}"),
        }
        assert_eq!(log.drops_of(0), 1, "{b:?}");
        drop((tx, rx));
        log.assert_each_dropped_once(b.name);
    }
}

/// A send racing with the last receiver's drop never leaves its message
/// queued in a mailbox nobody can read: every accepted message is settled
/// (here: dropped and counted) by the time the senders return, so `len` is 0
/// and the counts add up while the handles are still alive.
#[test]
fn send_racing_with_the_last_receiver_is_settled_at_once() {
    use postbox::Mailbox;
    use std::sync::Barrier;
    for round in 0..5_000u32 {
        let (tx, rx) = Mailbox::<u32>::builder().unbounded().build();
        let start = Arc::new(Barrier::new(3));
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let tx = tx.clone();
                let start = Arc::clone(&start);
                thread::spawn(move || {
                    start.wait();
                    // One send each: no refused send afterwards could tidy up.
                    u64::from(tx.send(round).is_ok())
                })
            })
            .collect();
        start.wait();
        drop(rx);
        let accepted: u64 = senders.into_iter().map(|s| s.join().unwrap()).sum();
        let s = tx.stats();
        assert_eq!(s.len, 0, "round {round}: a message was left queued");
        assert_eq!(
            (s.sent, s.dropped + s.received + s.dead_lettered),
            (accepted, accepted),
            "round {round}: {s:?}"
        );
    }
}
