//! loom models of postbox's own synchronization: the priority backend's
//! parking and waking, closing, receipts, and a select's readiness signals.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --test loom --release`. Under
//! `cfg(loom)` the crate's `sync` facade swaps parking_lot and std atomics for
//! loom's, and spinning is turned off, so loom explores every interleaving of
//! the lock, condition-variable and atomic operations (bounded by a preemption
//! limit to keep the run short). The FIFO backend is crossbeam-channel's own
//! synchronization and is not modelled here.
#![cfg(loom)]

use loom::thread;
use postbox::{Confirm, Mailbox, Message, ReceiptState, RecvError, Select, SendError, Wait};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A producer blocked on a full priority mailbox is woken by the consumer, and
/// both messages arrive in priority order of what was queued.
#[test]
fn priority_bounded_send_recv() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(4).capacity(1).build();
        let producer = thread::spawn(move || {
            tx.send(Message::new(1).priority(1)).unwrap();
            tx.send(Message::new(2).priority(3)).unwrap();
        });
        let first = rx.recv().unwrap().into_body();
        let second = rx.recv().unwrap().into_body();
        assert_eq!((first, second), (1, 2));
        producer.join().unwrap();
        assert!(rx.recv().is_err(), "closed once the producer is gone");
    });
}

/// Two consumers parked on an empty mailbox: two sends wake both (no lost
/// wake-up with notify_one).
#[test]
fn priority_two_parked_receivers_both_wake() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let rx2 = rx.clone();
        let a = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        let b = thread::spawn(move || rx2.recv().map(|m| m.into_body()));
        tx.send(10).unwrap();
        tx.send(20).unwrap();
        let mut got = [a.join().unwrap().unwrap(), b.join().unwrap().unwrap()];
        got.sort();
        assert_eq!(got, [10, 20]);
    });
}

/// A receiver parked on an empty mailbox wakes with Closed when the last
/// sender goes.
#[test]
fn last_sender_drop_wakes_receiver() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(1).build();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        drop(tx);
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

/// A sender parked on a full mailbox wakes with Closed (message handed back)
/// when the last receiver goes; the queued message is counted as dropped.
#[test]
fn last_receiver_drop_wakes_sender() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(1).build();
        tx.send(1).unwrap();
        let stats_tx = tx.clone();
        let sender = thread::spawn(move || match tx.send(2) {
            Err(SendError::Closed(m)) => Some(m.into_body()),
            Ok(()) => None,
            Err(_) => panic!("unexpected error"),
        });
        drop(rx);
        assert_eq!(sender.join().unwrap(), Some(2));
        let stats = stats_tx.stats();
        assert_eq!(stats.sent, 1);
        assert_eq!(stats.dropped, 1);
    });
}

/// Rendezvous on the priority backend: the send completes only with a receiver.
#[test]
fn priority_rendezvous() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let sender = thread::spawn(move || tx.send(7).is_ok());
        assert_eq!(rx.recv().unwrap().into_body(), 7);
        assert!(sender.join().unwrap());
    });
}

/// A receipt moves to Received when the message is taken, and a waiter wakes.
#[test]
fn receipt_wakes_waiter() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let receipt = tx.send_tracked(3).unwrap();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        assert_eq!(receipt.wait(), Ok(()));
        assert_eq!(receipt.state(), ReceiptState::Received);
        assert_eq!(receiver.join().unwrap(), Ok(3));
    });
}

/// A receipt whose message is dropped unreceived (last receiver gone) says so,
/// and its waiter wakes.
#[test]
fn receipt_dropped_wakes_waiter() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let receipt = tx.send_tracked(3).unwrap();
        let dropper = thread::spawn(move || drop(rx));
        assert!(receipt.wait().is_err());
        assert_eq!(receipt.state(), ReceiptState::Dropped);
        dropper.join().unwrap();
    });
}

/// `Confirm::Received` returns only after the receiver has the message.
#[test]
fn confirm_received() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        tx.send_with(9, Wait::Blocking, Confirm::Received).unwrap();
        assert_eq!(tx.stats().received, 1, "received before the send returned");
        assert_eq!(receiver.join().unwrap(), Ok(9));
    });
}

/// A select waiting on two mailboxes is woken by a send on either: the
/// registration before the poll and the sender's check after its push leave
/// no interleaving in which the select sleeps past the message.
#[test]
fn select_wakes_on_send() {
    model(|| {
        let (tx_a, a) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let (_tx_b, b) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let sender = thread::spawn(move || tx_a.send(5).unwrap());
        let mut sel = Select::new();
        sel.recv(&b, |m| m.into_body() + 100)
            .recv(&a, |m| m.into_body());
        assert_eq!(sel.select(), Ok(5));
        sender.join().unwrap();
    });
}

/// A select waiting on a mailbox wakes with Closed when its last sender goes.
#[test]
fn select_wakes_on_close() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let dropper = thread::spawn(move || drop(tx));
        let mut sel = Select::new();
        sel.recv(&rx, |m| m.into_body());
        assert_eq!(sel.select(), Err(RecvError));
        dropper.join().unwrap();
    });
}

/// Two selects competing for one message and a close: exactly one gets the
/// message, the other sees Closed, neither sleeps forever.
#[test]
fn competing_selects_take_a_message_once() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let rx2 = rx.clone();
        let other = thread::spawn(move || {
            let mut sel = Select::new();
            sel.recv(&rx2, |m| m.into_body());
            sel.select()
        });
        tx.send(1).unwrap();
        drop(tx);
        let mut sel = Select::new();
        sel.recv(&rx, |m| m.into_body());
        let mine = sel.select();
        let theirs = other.join().unwrap();
        assert!(
            (mine, theirs) == (Ok(1), Err(RecvError)) || (mine, theirs) == (Err(RecvError), Ok(1)),
            "got {mine:?} and {theirs:?}"
        );
    });
}
