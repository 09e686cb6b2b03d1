//! A bounded priority mailbox counts its room without a lock (a claim per
//! send, a give-back per receive, on counters each side writes alone).
//! These tests race senders for the last units of room and check that
//! exactly the capacity is admitted: never more (a lost claim), never less
//! (a `Full` reported while room was free).

use std::sync::{Arc, Barrier};
use std::thread;

use postbox::{Mailbox, Message, Requeue, TrySendError};

const LEVELS: u8 = 8;
const CAPACITY: usize = 64;
const SENDERS: usize = 4;
const ROUNDS: usize = 50;

/// Each round, with the receiver idle, 4 senders race `try_send` (mixed
/// priorities) and `try_reserve` until each sees the mailbox full: what
/// they got in all (messages plus permits) is exactly the capacity. Then
/// the permits send, the receiver takes exactly the capacity in priority
/// order, and the next round starts from an empty mailbox, so the counters
/// move on by the capacity every round.
#[test]
fn racing_senders_fill_exactly_the_capacity_every_round() {
    let (tx, rx) = Mailbox::<u64>::builder()
        .priority(LEVELS)
        .capacity(CAPACITY)
        .build();
    let start = Arc::new(Barrier::new(SENDERS + 1));
    let filled = Arc::new(Barrier::new(SENDERS + 1));
    let handles: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (tx, start, filled) = (tx.clone(), start.clone(), filled.clone());
            thread::spawn(move || {
                let mut per_round = Vec::new();
                for round in 0..ROUNDS {
                    start.wait();
                    let mut permits = Vec::new();
                    let mut sent = 0usize;
                    for seq in 0u64.. {
                        if seq % 5 == 4 {
                            match tx.try_reserve() {
                                Ok(permit) => permits.push(permit),
                                Err(_) => break,
                            }
                            continue;
                        }
                        let body = ((round * SENDERS + sender) as u64) << 32 | seq;
                        let msg = Message::new(body).priority((seq % u64::from(LEVELS)) as u8);
                        match tx.try_send(msg) {
                            Ok(()) => sent += 1,
                            Err(TrySendError::Full(_)) => break,
                            Err(other) => panic!("round {round}: {other:?}"),
                        }
                    }
                    let held = sent + permits.len();
                    // The permits' messages take the room they hold.
                    for permit in permits {
                        assert!(permit.send(Message::new(u64::MAX).priority(0)).is_ok());
                    }
                    per_round.push(held);
                    filled.wait();
                }
                per_round
            })
        })
        .collect();
    let mut totals = vec![0usize; ROUNDS];
    for round in 0..ROUNDS {
        start.wait();
        filled.wait();
        assert!(
            tx.try_send(Message::new(0).priority(7)).is_err(),
            "round {round}: a send found room in a full mailbox"
        );
        let mut last = u8::MAX;
        for taken in 0..CAPACITY {
            let msg = rx
                .try_recv()
                .unwrap_or_else(|err| panic!("round {round}: message {taken}: {err:?}"));
            let priority = msg.header().priority();
            assert!(priority <= last, "round {round}: priority rose");
            last = priority;
        }
        assert!(rx.try_recv().is_err(), "round {round}: more than capacity");
    }
    for handle in handles {
        let per_round = handle.join().expect("a sender panicked");
        for (total, held) in totals.iter_mut().zip(per_round) {
            *total += held;
        }
    }
    for (round, total) in totals.iter().enumerate() {
        assert_eq!(*total, CAPACITY, "round {round}: units admitted");
    }
}

/// Requeued messages are held over the capacity and give their room back
/// when they leave: a full mailbox takes two requeues past its capacity,
/// and once everything is received exactly the capacity is admitted again.
#[test]
fn requeues_past_capacity_give_their_room_back() {
    let (tx, rx) = Mailbox::<u64>::builder()
        .priority(LEVELS)
        .capacity(4)
        .build();
    for round in 0..20u64 {
        let mut admitted = 0;
        while tx.try_send(Message::new(round).priority(1)).is_ok() {
            admitted += 1;
        }
        assert_eq!(admitted, 4, "round {round}: units admitted");
        let taken = [
            rx.recv_ack().expect("queued"),
            rx.recv_ack().expect("queued"),
        ];
        for _ in 0..2 {
            assert!(tx.try_send(Message::new(round).priority(1)).is_ok());
        }
        assert!(
            tx.try_send(Message::new(round)).is_err(),
            "round {round}: full"
        );
        for delivery in taken {
            delivery.nack(Requeue::Yes);
        }
        assert_eq!(rx.len(), 6, "round {round}: requeues pass the capacity");
        assert!(
            tx.try_send(Message::new(round)).is_err(),
            "round {round}: full"
        );
        let mut got = 0;
        while rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 6, "round {round}: every message once");
    }
}
