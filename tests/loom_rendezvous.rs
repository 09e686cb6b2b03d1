//! loom models of the priority backend's rendezvous (capacity 0): a blocked
//! sender's offer taken by a polling receiver, offers in priority order, a
//! close or the last receiver's drop against a blocked sender, `try_send`
//! handing a message to a parked receiver, and a hand-off that belongs to
//! the receiver it was made for even when an offer comes after it.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --test loom_rendezvous
//! --release` (see `tests/loom.rs` for how the crate is modelled).
#![cfg(loom)]
use loom::thread;
use postbox::{Mailbox, Message, SendError, TryRecvError, TrySendError};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn rv_polling_receiver_takes_offer() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let sender = thread::spawn(move || tx.send(7).is_ok());
        let got = loop {
            match rx.try_recv() {
                Ok(m) => break m.into_body(),
                Err(TryRecvError::Empty) => thread::yield_now(),
                Err(TryRecvError::Closed) => panic!("closed"),
            }
        };
        assert_eq!(got, 7);
        assert!(sender.join().unwrap());
        assert_eq!(rx.len(), 0);
    });
}

#[test]
fn rv_two_senders_by_priority() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let tx2 = tx.clone();
        let a = thread::spawn(move || tx.send(Message::new(1).priority(0)).is_ok());
        let b = thread::spawn(move || tx2.send(Message::new(2).priority(1)).is_ok());
        let mut got = [
            rx.recv().unwrap().into_body(),
            rx.recv().unwrap().into_body(),
        ];
        assert!(a.join().unwrap());
        assert!(b.join().unwrap());
        got.sort();
        assert_eq!(got, [1, 2]);
        assert!(rx.recv().is_err());
    });
}

#[test]
fn rv_close_vs_blocked_sender() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let sender = thread::spawn(move || match tx.send(5) {
            Err(SendError::Closed(m)) => m.into_body(),
            _ => panic!("not closed"),
        });
        let left = rx.close();
        assert!(left.is_empty());
        assert_eq!(sender.join().unwrap(), 5);
    });
}

#[test]
fn rv_drop_receiver_vs_blocked_sender() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let stats = tx.clone();
        let sender = thread::spawn(move || match tx.send(5) {
            Err(SendError::Closed(m)) => m.into_body(),
            _ => panic!("not closed"),
        });
        drop(rx);
        assert_eq!(sender.join().unwrap(), 5);
        let s = stats.stats();
        assert_eq!((s.sent, s.dropped), (0, 0));
    });
}

#[test]
fn rv_try_send_into_parked_receiver() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        let mut msg = Message::new(3);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    msg = m;
                    thread::yield_now();
                }
                Err(_) => panic!("closed"),
            }
        }
        assert_eq!(tx.len(), 0);
        assert_eq!(receiver.join().unwrap(), Ok(3));
    });
}

#[test]
fn rv_handoff_and_offer_two_receivers() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let rx2 = rx.clone();
        let a = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        let b = thread::spawn(move || rx2.recv().map(|m| m.into_body()));
        let tx2 = tx.clone();
        let s = thread::spawn(move || tx2.send(Message::new(2).priority(1)).is_ok());
        let mut msg = Message::new(1);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    msg = m;
                    thread::yield_now();
                }
                Err(_) => panic!("closed"),
            }
        }
        assert!(s.join().unwrap());
        let mut got = [a.join().unwrap().unwrap(), b.join().unwrap().unwrap()];
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

#[test]
fn rv_handoff_belongs_to_its_receiver() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let rx2 = rx.clone();
        let r = thread::spawn(move || rx2.recv().map(|m| m.into_body()));
        let mut msg = Message::new(1);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    msg = m;
                    thread::yield_now();
                }
                Err(_) => panic!("closed"),
            }
        }
        let tx2 = tx.clone();
        let s = thread::spawn(move || tx2.send(Message::new(2).priority(1)).is_ok());
        assert_eq!(
            r.join().unwrap(),
            Ok(1),
            "the hand-off went to its receiver"
        );
        assert_eq!(rx.recv().unwrap().into_body(), 2);
        assert!(s.join().unwrap());
    });
}
