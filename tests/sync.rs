//! Synchronization: blocking and non-blocking send and receive, the three
//! textbook combinations, run-time wait modes (`Wait`), a handle's defaults
//! (`post`, `with_wait`, `with_confirm`) and timeouts too large to represent.

#[macro_use]
mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn, Backend, BACKENDS, SETTLE, TIMEOUT};
use crossbeam_channel as cb;
use postbox::{
    Confirm, Mailbox, Message, Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError,
    TrySendError, Wait,
};

const SHORT: Duration = Duration::from_millis(50);

/// The backends whose capacity is above zero and bounded.
fn bounded_buffers() -> impl Iterator<Item = Backend> {
    BACKENDS.into_iter().filter(Backend::is_bounded_buffer)
}

/// A mailbox on `b`, filled to capacity with bodies `0..cap`.
fn full(b: Backend) -> (Sender<u32>, Receiver<u32>) {
    let (tx, rx) = b.build::<u32>();
    let cap = b.capacity().expect("bounded");
    for n in 0..cap as u32 {
        tx.try_send(n).unwrap();
    }
    assert!(tx.is_full());
    (tx, rx)
}

/// Blocking send, blocking receive: the rendezvous. On a capacity-0 mailbox
/// a plain `send` returns only once a receiver has the message.
#[test]
fn textbook_blocking_send_blocking_receive() {
    let rendezvous = [
        Mailbox::<u32>::builder().rendezvous().build(),
        Mailbox::<u32>::builder().priority(4).capacity(0).build(),
    ];
    for (tx, rx) in rendezvous {
        let receiving = Arc::new(AtomicBool::new(false));
        let (open_gate, gate) = cb::bounded::<()>(1);
        let receiver = {
            let receiving = Arc::clone(&receiving);
            spawn("receiver", move || {
                gate.recv_timeout(TIMEOUT).unwrap();
                receiving.store(true, Ordering::SeqCst);
                rx.recv().map(|m| m.into_body())
            })
        };
        let sender = {
            let receiving = Arc::clone(&receiving);
            spawn("sender", move || {
                let sent = tx.send(1).is_ok();
                (sent, receiving.load(Ordering::SeqCst))
            })
        };
        thread::sleep(SETTLE); // the sender is likely waiting by now
        assert!(!sender.is_finished(), "a rendezvous send returned alone");
        open_gate.send(()).unwrap();
        assert_eq!(sender.join(), (true, true));
        assert_eq!(receiver.join(), Ok(1));
    }

    // On a buffered mailbox, Confirm::Received gives the same guarantee.
    for b in BACKENDS {
        let (tx, rx) = b.build::<u32>();
        let receiver = spawn("receiver", move || {
            thread::sleep(SETTLE);
            rx.recv().map(|m| m.into_body())
        });
        tx.send_with(2, Wait::Blocking, Confirm::Received).unwrap();
        assert_eq!(receiver.join(), Ok(2), "{b:?}");
    }
}

/// Non-blocking send, blocking receive: the sender never waits and gets a
/// full mailbox's message back; the receiver sleeps until a message comes.
#[test]
fn textbook_nonblocking_send_blocking_receive() {
    for b in bounded_buffers() {
        let (tx, rx) = b.build::<u32>();
        let cap = b.capacity().unwrap() as u32;
        let receiver = {
            let rx = rx.clone();
            spawn("blocking receiver", move || {
                rx.recv().map(|m| m.into_body())
            })
        };
        thread::sleep(SETTLE);
        assert!(!receiver.is_finished());
        tx.try_send(0).unwrap();
        assert_eq!(receiver.join(), Ok(0), "{b:?}");

        for n in 0..cap {
            tx.try_send(n).unwrap();
        }
        let start = Instant::now();
        match tx.try_send(100) {
            Err(TrySendError::Full(m)) => assert_eq!(m.into_body(), 100),
            other => panic!("{b:?}: expected Full, got {other:?}"),
        }
        assert!(start.elapsed() < TIMEOUT / 2, "try_send waited");
        let got: Vec<u32> = (0..cap).map(|_| rx.recv().unwrap().into_body()).collect();
        assert_eq!(got, (0..cap).collect::<Vec<_>>());
    }
}

/// Non-blocking send, non-blocking receive: both sides poll, neither ever
/// parks, and every message still arrives exactly once, in order.
#[test]
fn textbook_nonblocking_send_nonblocking_receive() {
    const N: u32 = 2_000;
    for b in bounded_buffers() {
        let (tx, rx) = b.build::<u32>();
        let producer = spawn("polling producer", move || {
            let mut full = 0u64;
            for n in 0..N {
                let mut msg = Message::new(n);
                loop {
                    match tx.try_send(msg) {
                        Ok(()) => break,
                        Err(TrySendError::Full(m)) => {
                            full += 1;
                            msg = m;
                            thread::yield_now();
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
            }
            full
        });
        let mut got = Vec::with_capacity(N as usize);
        let start = Instant::now();
        loop {
            match rx.try_recv() {
                Ok(m) => got.push(m.into_body()),
                Err(TryRecvError::Empty) => {
                    assert!(start.elapsed() < TIMEOUT, "{b:?}: stuck");
                    thread::yield_now();
                }
                Err(TryRecvError::Closed) => break,
            }
        }
        producer.join();
        assert_eq!(got, (0..N).collect::<Vec<_>>(), "{b:?}");
    }
}

/// Blocking send, non-blocking receive on a rendezvous: a receiver that polls
/// with `try_recv` must meet a sender that is waiting in `send` (as in
/// crossbeam's zero-capacity channel), or the pair never makes progress.
///
/// Only the FIFO rendezvous does this today: the priority rendezvous hands a
/// message over only to a receiver parked in a blocking receive (documented on
/// `postbox::Priority`), so a polling receiver never meets a blocked sender.
/// Known gap, tracked for the priority backend's redesign.
#[test]
fn polling_receiver_meets_blocked_sender_on_rendezvous() {
    for b in BACKENDS
        .into_iter()
        .filter(Backend::is_rendezvous)
        .filter(|b| b.name.starts_with("fifo"))
    {
        let (tx, rx) = b.build::<u32>();
        let sender = spawn("blocked sender", move || tx.send_timeout(7, TIMEOUT));
        thread::sleep(SETTLE); // the sender is likely waiting by now
        let start = Instant::now();
        let got = loop {
            match rx.try_recv() {
                Ok(m) => break Some(m.into_body()),
                Err(TryRecvError::Empty) if start.elapsed() < Duration::from_secs(1) => {
                    thread::yield_now()
                }
                Err(_) => break None,
            }
        };
        assert_eq!(
            got,
            Some(7),
            "{b:?}: try_recv never took the message of a sender blocked in send"
        );
        sender.join().unwrap();
    }
}

/// Non-blocking send, blocking receive on a rendezvous: a sender that polls
/// with `try_send` meets a receiver waiting in `recv`.
#[test]
fn polling_sender_meets_blocked_receiver_on_rendezvous() {
    for b in BACKENDS.into_iter().filter(Backend::is_rendezvous) {
        let (tx, rx) = b.build::<u32>();
        let receiver = spawn("blocked receiver", move || {
            rx.recv_timeout(TIMEOUT).map(|m| m.into_body())
        });
        let start = Instant::now();
        let mut msg = Message::new(8);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) if start.elapsed() < TIMEOUT => {
                    msg = m;
                    thread::yield_now();
                }
                Err(other) => panic!("{b:?}: {other:?}"),
            }
        }
        assert_eq!(receiver.join(), Ok(8), "{b:?}");
    }
}

#[test]
fn send_with_each_wait_mode() {
    for b in bounded_buffers() {
        // NonBlocking: room → queued; full → Full at once, message back.
        let (tx, rx) = b.build::<u32>();
        tx.send_with(1, Wait::NonBlocking, Confirm::Queued).unwrap();
        assert_eq!(rx.len(), 1);
        let (tx, rx) = full(b);
        let start = Instant::now();
        let err = tx
            .send_with(9, Wait::NonBlocking, Confirm::Queued)
            .unwrap_err();
        assert!(err.is_full() && !err.is_timeout(), "{b:?}: {err:?}");
        assert_eq!(err.into_inner(), Some(9));
        assert!(start.elapsed() < TIMEOUT / 2);

        // Timeout: full → Timeout after at least the timeout.
        let start = Instant::now();
        let err = tx
            .send_with(9, Wait::Timeout(SHORT), Confirm::Queued)
            .unwrap_err();
        assert!(start.elapsed() >= SHORT, "{b:?}");
        assert!(err.is_timeout() && !err.is_full(), "{b:?}: {err:?}");
        assert!(matches!(err, SendTimeoutError::Timeout(ref m) if *m.body() == 9));

        // Zero timeout on a full mailbox: Timeout, not Full.
        let err = tx
            .send_with(9, Wait::Timeout(Duration::ZERO), Confirm::Queued)
            .unwrap_err();
        assert!(err.is_timeout(), "{b:?}: {err:?}");

        // Deadline: in the past → at once; in the future → at the deadline.
        let err = tx
            .send_with(9, Wait::Deadline(Instant::now()), Confirm::Queued)
            .unwrap_err();
        assert!(err.is_timeout(), "{b:?}: {err:?}");
        let deadline = Instant::now() + SHORT;
        let err = tx
            .send_with(9, Wait::Deadline(deadline), Confirm::Queued)
            .unwrap_err();
        assert!(Instant::now() >= deadline && err.is_timeout(), "{b:?}");

        // Blocking: waits for room.
        let sender = {
            let tx = tx.clone();
            spawn("blocking sender", move || {
                tx.send_with(100, Wait::Blocking, Confirm::Queued)
            })
        };
        thread::sleep(SETTLE);
        assert!(
            !sender.is_finished(),
            "{b:?}: blocking send returned with no room"
        );
        assert_eq!(rx.recv().unwrap().into_body(), 0);
        sender.join().unwrap();

        // A deadline in the past still sends when there is room now.
        rx.recv().unwrap();
        tx.send_with(101, Wait::Deadline(Instant::now() - SHORT), Confirm::Queued)
            .unwrap();
        tx.send_deadline(102, Instant::now() - SHORT).unwrap_err(); // full again
        let cap = b.capacity().unwrap() as u32;
        let rest: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
        let want: Vec<u32> = (2..cap).chain([100, 101]).collect();
        assert_eq!(rest, want, "{b:?}");
        assert_eq!(rx.stats().sent, u64::from(cap) + 2);
    }
}

#[test]
fn recv_with_each_wait_mode() {
    for b in BACKENDS {
        let (tx, rx) = b.build::<u32>();
        // NonBlocking on empty: a zero timeout, so Timeout.
        assert_eq!(
            rx.recv_with(Wait::NonBlocking).unwrap_err(),
            RecvTimeoutError::Timeout,
            "{b:?}"
        );
        let start = Instant::now();
        assert_eq!(
            rx.recv_with(Wait::Timeout(SHORT)).unwrap_err(),
            RecvTimeoutError::Timeout
        );
        assert!(start.elapsed() >= SHORT, "{b:?}");
        let deadline = Instant::now() + SHORT;
        assert!(rx
            .recv_with(Wait::Deadline(deadline))
            .unwrap_err()
            .is_timeout());
        assert!(Instant::now() >= deadline, "{b:?}");

        // Blocking: wakes on a send.
        let receiver = {
            let rx = rx.clone();
            spawn("blocking receiver", move || {
                rx.recv_with(Wait::Blocking).map(|m| m.into_body())
            })
        };
        thread::sleep(SETTLE);
        assert!(!receiver.is_finished(), "{b:?}");
        tx.send_timeout(5, TIMEOUT).unwrap();
        assert_eq!(receiver.join(), Ok(5), "{b:?}");

        if b.room(1) == 1 {
            // A message already there is taken whatever the wait, even with a
            // deadline that has passed.
            tx.try_send(6).unwrap();
            assert_eq!(rx.recv_with(Wait::NonBlocking).unwrap().into_body(), 6);
            tx.try_send(7).unwrap();
            let past = Instant::now() - SHORT;
            assert_eq!(rx.recv_with(Wait::Deadline(past)).unwrap().into_body(), 7);
            tx.try_send(8).unwrap();
            assert_eq!(rx.recv_deadline(past).unwrap().into_body(), 8);
        }

        drop(tx);
        for wait in [
            Wait::NonBlocking,
            Wait::Blocking,
            Wait::Timeout(TIMEOUT),
            Wait::Deadline(Instant::now() + TIMEOUT),
        ] {
            let start = Instant::now();
            assert_eq!(
                rx.recv_with(wait).unwrap_err(),
                RecvTimeoutError::Closed,
                "{b:?}: {wait:?}"
            );
            assert!(start.elapsed() < TIMEOUT / 2, "{b:?}: {wait:?} waited");
        }
    }
}

#[test]
fn handle_defaults_and_post() {
    for b in bounded_buffers() {
        let (tx, rx) = b.build::<u32>();
        assert_eq!(tx.wait_mode(), Wait::Blocking);
        assert_eq!(tx.confirm_mode(), Confirm::Queued);
        assert_eq!(Wait::default(), Wait::Blocking);
        assert_eq!(Confirm::default(), Confirm::Queued);
        let cap = b.capacity().unwrap() as u32;
        for n in 0..cap {
            tx.post(n).unwrap(); // blocking by default, room: queued at once
        }

        // NonBlocking: post never waits.
        let nb = tx.clone().with_wait(Wait::NonBlocking);
        assert_eq!(nb.wait_mode(), Wait::NonBlocking);
        assert_eq!(nb.clone().wait_mode(), Wait::NonBlocking, "clone keeps it");
        let err = nb.post(50).unwrap_err();
        assert!(err.is_full(), "{b:?}: {err:?}");
        assert_eq!(err.into_inner(), Some(50));

        // Timeout: post waits that long.
        let timed = tx.clone().with_wait(Wait::Timeout(SHORT));
        let start = Instant::now();
        assert!(timed.post(51).unwrap_err().is_timeout(), "{b:?}");
        assert!(start.elapsed() >= SHORT);

        // The handle's wait is only for post: send still blocks, try_send
        // still never waits.
        assert!(nb.try_send(52).unwrap_err().is_full());
        let sender = {
            let nb = nb.clone();
            spawn("send on a NonBlocking handle", move || nb.send(53))
        };
        thread::sleep(SETTLE);
        assert!(
            !sender.is_finished(),
            "{b:?}: send followed the post default"
        );

        // Blocking post waits for room too.
        let poster = {
            let tx = tx.clone();
            spawn("blocking post", move || tx.post(54))
        };
        thread::sleep(SETTLE);
        assert!(!poster.is_finished());
        let first_two: Vec<u32> = (0..2).map(|_| rx.recv().unwrap().into_body()).collect();
        assert_eq!(first_two, [0, 1]);
        sender.join().unwrap();
        poster.join().unwrap();
        let mut rest: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
        let tail = rest.split_off(cap as usize - 2);
        assert_eq!(rest, (2..cap).collect::<Vec<_>>(), "{b:?}");
        let mut tail_sorted = tail.clone();
        tail_sorted.sort();
        assert_eq!(tail_sorted, [53, 54], "{b:?}: {tail:?}");
    }
}

#[test]
fn handle_confirm_default_applies_to_every_send_but_send_with() {
    for b in BACKENDS.into_iter().filter(|b| !b.is_rendezvous()) {
        let (tx, rx) = b.build::<u32>();
        let confirming = tx.clone().with_confirm(Confirm::Received);
        assert_eq!(confirming.confirm_mode(), Confirm::Received);
        assert_eq!(confirming.clone().confirm_mode(), Confirm::Received);

        // Nobody receives: the handle's default confirmation cannot come.
        assert!(
            confirming.try_send(1).unwrap_err().is_unconfirmed(),
            "{b:?}"
        );
        assert!(confirming
            .send_timeout(2, Duration::from_millis(5))
            .unwrap_err()
            .is_unconfirmed());
        assert!(confirming
            .send_deadline(3, Instant::now() + Duration::from_millis(5))
            .unwrap_err()
            .is_unconfirmed());
        let timed = confirming
            .clone()
            .with_wait(Wait::Timeout(Duration::from_millis(5)));
        assert!(timed.post(4).unwrap_err().is_unconfirmed());
        let got: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
        assert_eq!(got, [1, 2, 3, 4], "{b:?}: unconfirmed sends stay queued");

        // send_with says its own confirmation; send_tracked never waits for one.
        confirming
            .send_with(5, Wait::NonBlocking, Confirm::Queued)
            .unwrap();
        let receipt = confirming.send_tracked(6).unwrap();
        assert!(!receipt.is_delivered());

        let got: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
        assert_eq!(got, [5, 6], "{b:?}");
        assert!(receipt.is_delivered());

        // With a receiver, a confirmed blocking send succeeds.
        let receiver = spawn("receiver", move || rx.recv().map(|m| m.into_body()));
        confirming.send(7).unwrap();
        assert_eq!(receiver.join(), Ok(7));
    }
}

/// A timeout too large to represent as an `Instant` waits forever, as in std
/// and crossbeam; it must not fail at once or panic.
#[test]
fn duration_max_waits_forever() {
    for b in BACKENDS {
        let (tx, rx) = b.build::<u32>();
        if b.room(1) == 1 {
            tx.send_timeout(1, Duration::MAX).unwrap();
            tx.send_with(2, Wait::Timeout(Duration::MAX), Confirm::Queued)
                .unwrap();
            assert_eq!(rx.recv_timeout(Duration::MAX).unwrap().into_body(), 1);
            assert_eq!(
                rx.recv_with(Wait::Timeout(Duration::MAX))
                    .unwrap()
                    .into_body(),
                2
            );
            let receipt = tx.send_tracked(3).unwrap();
            rx.recv().unwrap();
            assert_eq!(receipt.wait_timeout(Duration::MAX), Ok(()));
            assert!(tx
                .clone()
                .with_wait(Wait::Timeout(Duration::MAX))
                .post(4)
                .is_ok());
            rx.recv().unwrap();
        }

        // Blocked with Duration::MAX: wakes on the event, not at once.
        let receiver = {
            let rx = rx.clone();
            spawn("receiver", move || {
                rx.recv_timeout(Duration::MAX).map(|m| m.into_body())
            })
        };
        thread::sleep(SETTLE);
        assert!(!receiver.is_finished(), "{b:?}: returned at once");
        tx.send_timeout(10, Duration::MAX).unwrap();
        assert_eq!(receiver.join(), Ok(10), "{b:?}");

        // A full (or rendezvous) mailbox: send_timeout(MAX) waits for room.
        if let Some(cap) = b.capacity() {
            for n in 0..cap as u32 {
                tx.try_send(n).unwrap();
            }
            let sender = {
                let tx = tx.clone();
                spawn("sender", move || tx.send_timeout(20, Duration::MAX))
            };
            thread::sleep(SETTLE);
            assert!(!sender.is_finished(), "{b:?}: returned at once");
            let got: Vec<u32> = (0..=cap)
                .map(|_| rx.recv_timeout(TIMEOUT).unwrap().into_body())
                .collect();
            sender.join().unwrap();
            assert_eq!(got.last(), Some(&20), "{b:?}");
        }
    }
}
