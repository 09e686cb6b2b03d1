//! Queueing discipline: FIFO, and priority order (highest first, ties strictly
//! FIFO, levels `0..levels`), checked by hand and against a model with
//! proptest.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::DeadlineQueue;
use postbox::{
    Confirm, Mailbox, Message, MessageId, Receiver, SendError, SendTimeoutError, TrySendError, Wait,
};
use proptest::prelude::*;

/// Drains what is queued now as `(priority, body)` pairs.
fn drain<T: Send>(rx: &Receiver<T>) -> Vec<(u8, T)> {
    rx.try_iter()
        .map(|m| (m.header().priority(), m.into_body()))
        .collect()
}

/// The expected order: priority descending, arrival order within a priority.
fn model_order(sent: &[(u8, u32)]) -> Vec<(u8, u32)> {
    let mut want = sent.to_vec();
    want.sort_by_key(|&(p, _)| std::cmp::Reverse(p)); // stable: ties keep arrival order
    want
}

#[test]
fn highest_priority_first_ties_fifo() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(8).unbounded().build();
    let priorities = [0u8, 7, 3, 7, 1, 0, 3, 7, 0, 5];
    let sent: Vec<(u8, u32)> = priorities
        .iter()
        .enumerate()
        .map(|(i, &p)| (p, i as u32))
        .collect();
    for &(p, body) in &sent {
        tx.send(Message::new(body).priority(p)).unwrap();
    }
    assert_eq!(drain(&rx), model_order(&sent));
}

#[test]
fn many_ties_stay_strictly_fifo() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(3).unbounded().build();
    let mut sent = Vec::new();
    for i in 0..3_000u32 {
        // Mostly one level, with others interleaved.
        let p = match i % 7 {
            0 => 2,
            3 => 0,
            _ => 1,
        };
        sent.push((p, i));
        tx.send(Message::new(i).priority(p)).unwrap();
    }
    assert_eq!(drain(&rx), model_order(&sent));
}

#[test]
fn a_message_arriving_later_with_higher_priority_overtakes() {
    let (tx, rx) = Mailbox::<&str>::builder().priority(10).capacity(8).build();
    tx.send("free 1").unwrap();
    tx.send("free 2").unwrap();
    assert_eq!(rx.recv().unwrap().into_body(), "free 1");
    tx.send(Message::new("paid").priority(9)).unwrap();
    assert_eq!(rx.recv().unwrap().into_body(), "paid");
    assert_eq!(rx.recv().unwrap().into_body(), "free 2");
}

#[test]
fn priority_at_levels_is_refused_with_the_message_back() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(8).build();
    tx.send(Message::new(7).priority(7)).unwrap();
    let bad = || Message::new(8).priority(8).correlation_id(1);

    match tx.try_send(bad()) {
        Err(TrySendError::InvalidPriority(m)) => {
            assert_eq!((*m.body(), m.header().priority()), (8, 8));
            assert_eq!(m.header().correlation_id(), Some(1));
            assert_eq!(m.header().id(), MessageId::UNSENT);
        }
        other => panic!("expected InvalidPriority, got {other:?}"),
    }
    assert!(matches!(tx.send(bad()), Err(SendError::InvalidPriority(_))));
    assert!(matches!(
        tx.send_timeout(bad(), Duration::from_secs(1)),
        Err(SendTimeoutError::InvalidPriority(_))
    ));
    assert!(matches!(
        tx.send_with(bad(), Wait::Blocking, Confirm::Received),
        Err(SendTimeoutError::InvalidPriority(_))
    ));
    assert!(matches!(
        tx.send_tracked(bad()),
        Err(SendError::InvalidPriority(_))
    ));
    assert!(matches!(
        tx.post(Message::new(9).priority(255)),
        Err(SendTimeoutError::InvalidPriority(_))
    ));
    assert_eq!(drain(&rx), [(7, 7)]);
    assert_eq!(rx.stats().sent, 1, "refused messages are not counted");
}

#[test]
fn one_level_accepts_only_priority_zero() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(1).build();
    for i in 0..5 {
        tx.send(Message::new(i).priority(0)).unwrap();
    }
    let err = tx.try_send(Message::new(99).priority(1)).unwrap_err();
    assert!(matches!(err, TrySendError::InvalidPriority(_)));
    assert_eq!(err.into_inner(), Some(99));
    assert_eq!(drain(&rx), (0..5).map(|i| (0, i)).collect::<Vec<_>>());

    // Zero levels is taken as one.
    let (tx, rx) = Mailbox::<u32>::builder().priority(0).build();
    tx.send(1).unwrap();
    assert!(tx.send(Message::new(2).priority(1)).is_err());
    assert_eq!(drain(&rx), [(0, 1)]);
}

#[test]
fn two_hundred_fifty_five_levels_cover_every_bitmap_word() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(255).unbounded().build();
    // Every level, in a scrambled order, twice (ties across word boundaries).
    let mut sent = Vec::new();
    for round in 0..2u32 {
        for k in 0..255u32 {
            let p = ((k * 97 + round * 13) % 255) as u8;
            let body = round * 1000 + k;
            sent.push((p, body));
            tx.send(Message::new(body).priority(p)).unwrap();
        }
    }
    assert!(tx.try_send(Message::new(0).priority(255)).is_err());
    assert_eq!(drain(&rx), model_order(&sent));

    // Interleaved pushes and pops around the 64-bit word edges.
    for p in [63u8, 64, 0, 127, 128, 191, 192, 254, 1] {
        tx.send(Message::new(u32::from(p)).priority(p)).unwrap();
    }
    let order: Vec<u8> = drain(&rx).into_iter().map(|(p, _)| p).collect();
    assert_eq!(order, [254, 192, 191, 128, 127, 64, 63, 1, 0]);
}

#[test]
fn fifo_ignores_priority() {
    let (tx, rx) = Mailbox::<u32>::builder().fifo().unbounded().build();
    let priorities = [0u8, 255, 7, 255, 1];
    for (i, &p) in priorities.iter().enumerate() {
        tx.send(Message::new(i as u32).priority(p)).unwrap();
    }
    let got = drain(&rx);
    let bodies: Vec<u32> = got.iter().map(|&(_, b)| b).collect();
    assert_eq!(bodies, [0, 1, 2, 3, 4], "arrival order");
    let kept: Vec<u8> = got.iter().map(|&(p, _)| p).collect();
    assert_eq!(kept, priorities, "the header keeps the priority");
}

#[test]
fn a_full_priority_mailbox_refuses_even_urgent_messages() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(4).capacity(2).build();
    tx.send(Message::new(0).priority(0)).unwrap();
    tx.send(Message::new(1).priority(0)).unwrap();
    let err = tx.try_send(Message::new(2).priority(3)).unwrap_err();
    assert!(err.is_full());
    assert_eq!(drain(&rx), [(0, 0), (0, 1)]);
}

/// A receiver parked on an empty priority mailbox gets the most urgent of the
/// messages queued by the time it runs; one that arrives later takes its turn.
#[test]
fn blocked_priority_receiver_then_order() {
    let (tx, rx) = Mailbox::<u32>::builder().priority(4).capacity(8).build();
    let receiver = {
        let rx = rx.clone();
        common::spawn("receiver", move || rx.recv().map(|m| m.into_body()))
    };
    std::thread::sleep(common::SETTLE);
    tx.send(Message::new(1).priority(1)).unwrap();
    assert_eq!(receiver.join(), Ok(1));
    for (body, p) in [(2, 0), (3, 3), (4, 1)] {
        tx.send(Message::new(body).priority(p)).unwrap();
    }
    assert_eq!(drain(&rx), [(3, 3), (1, 4), (0, 2)]);
}

/// The custom backend of the examples: earliest expiry first, no expiry
/// last, ties in arrival order; the mailbox on top accepts any priority.
#[test]
fn custom_deadline_backend_orders_by_expiry() {
    let (tx, rx) = Mailbox::<&str>::builder()
        .backend(DeadlineQueue::unbounded())
        .build();
    let now = Instant::now();
    let at = |ms| now + Duration::from_millis(ms);
    tx.send(Message::new("none a")).unwrap();
    tx.send(Message::new("late").expires_at(at(900))).unwrap();
    tx.send(Message::new("soon a").expires_at(at(100))).unwrap();
    tx.send(Message::new("none b").priority(255)).unwrap();
    tx.send(Message::new("soon b").expires_at(at(100))).unwrap();
    let order: Vec<&str> = drain(&rx).into_iter().map(|(_, b)| b).collect();
    assert_eq!(order, ["soon a", "soon b", "late", "none a", "none b"]);
}

#[test]
fn the_last_backend_choice_wins_and_custom_backends_keep_their_capacity() {
    let (tx, _rx) = Mailbox::<u32>::builder().priority(3).fifo().build();
    assert!(
        tx.send(Message::new(1).priority(200)).is_ok(),
        "fifo chosen last"
    );
    let (tx, _rx) = Mailbox::<u32>::builder().fifo().priority(3).build();
    assert!(
        tx.send(Message::new(1).priority(3)).is_err(),
        "priority chosen last"
    );

    // A custom backend brings its own capacity; the builder's is ignored.
    let (tx, rx) = Mailbox::<u32>::builder()
        .capacity(100)
        .backend(DeadlineQueue::bounded(2))
        .build();
    assert_eq!(rx.capacity(), Some(2));
    let (_tx2, rx2) = Mailbox::<u32>::builder()
        .backend(DeadlineQueue::bounded(2))
        .unbounded()
        .build();
    assert_eq!(rx2.capacity(), Some(2));
    tx.send(Message::new(1).priority(255)).unwrap(); // no levels: any priority
    tx.send(2).unwrap();
    assert!(tx.try_send(3).unwrap_err().is_full());
}

#[test]
fn default_mailbox_is_fifo_and_bounded() {
    assert_eq!(postbox::DEFAULT_CAPACITY, 1024);
    let (tx, rx) = Mailbox::<u32>::builder().build();
    assert_eq!(rx.capacity(), Some(postbox::DEFAULT_CAPACITY));
    for n in 0..postbox::DEFAULT_CAPACITY as u32 {
        tx.try_send(Message::new(n).priority((n % 7) as u8))
            .unwrap();
    }
    assert!(
        tx.try_send(0).unwrap_err().is_full(),
        "backpressure by default"
    );
    let got: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
    assert_eq!(
        got,
        (0..postbox::DEFAULT_CAPACITY as u32).collect::<Vec<_>>()
    );
}

/// "No panics in library code on any input": a capacity too large for a
/// preallocated ring (here `usize::MAX`, which the FIFO engine refuses with a
/// panic) must still build a working mailbox, on every backend.
#[test]
fn a_huge_capacity_builds_without_panicking() {
    for backend in ["fifo", "priority"] {
        let result = std::panic::catch_unwind(|| {
            let builder = Mailbox::<u32>::builder().capacity(usize::MAX);
            let builder = if backend == "fifo" {
                builder.fifo()
            } else {
                builder.priority(2)
            };
            let (tx, rx) = builder.build();
            tx.try_send(1).unwrap();
            rx.try_recv().unwrap().into_body()
        });
        assert_eq!(
            result.ok(),
            Some(1),
            "{backend}: capacity(usize::MAX) panicked"
        );
    }
}

/// One step of the model tests.
#[derive(Clone, Debug)]
enum Op {
    /// Send a message with this priority (possibly outside the levels).
    Push(u8),
    /// Receive without waiting.
    Pop,
}

fn ops(max_priority: u8) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0..=max_priority).prop_map(Op::Push),
        2 => Just(Op::Pop),
    ];
    proptest::collection::vec(op, 0..200)
}

/// Levels and a sequence of operations whose priorities sometimes fall
/// outside the levels (to exercise refusals too).
fn levels_and_ops() -> impl Strategy<Value = (u8, Option<usize>, Vec<Op>)> {
    (
        prop_oneof![Just(1u8), Just(2), Just(8), 1..=255u8],
        proptest::option::of(1..12usize),
    )
        .prop_flat_map(|(levels, cap)| {
            let max = levels.saturating_add(1);
            (Just(levels), Just(cap), ops(max))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A priority mailbox matches a model: a list popped at the first entry
    /// of the highest priority (stable among equal priorities).
    #[test]
    fn priority_matches_model((levels, cap, ops) in levels_and_ops()) {
        let builder = Mailbox::<u32>::builder().priority(levels);
        let (tx, rx) = match cap {
            Some(cap) => builder.capacity(cap).build(),
            None => builder.unbounded().build(),
        };
        let mut model: Vec<(u8, u32)> = Vec::new();
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Push(p) => {
                    next += 1;
                    let result = tx.try_send(Message::new(next).priority(p));
                    if p >= levels {
                        prop_assert!(
                            matches!(result, Err(TrySendError::InvalidPriority(_))),
                            "priority {} of {} levels: {:?}", p, levels, result
                        );
                    } else if cap.is_some_and(|c| model.len() >= c) {
                        prop_assert!(matches!(result, Err(TrySendError::Full(_))));
                    } else {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        model.push((p, next));
                    }
                }
                Op::Pop => {
                    let got = rx.try_recv().ok().map(|m| (m.header().priority(), m.into_body()));
                    let want = model
                        .iter()
                        .enumerate()
                        // max_by_key returns the last maximum: compare on
                        // (priority, reversed index) to pick the first one.
                        .max_by_key(|&(i, &(p, _))| (p, std::cmp::Reverse(i)))
                        .map(|(i, _)| i)
                        .map(|i| model.remove(i));
                    prop_assert_eq!(got, want);
                }
            }
            prop_assert_eq!(rx.len(), model.len());
        }
        let rest = drain(&rx);
        prop_assert_eq!(rest, model_order(&model));
    }

    /// A FIFO mailbox matches a queue, whatever the priorities say.
    #[test]
    fn fifo_matches_model(cap in proptest::option::of(1..12usize), ops in ops(255)) {
        let builder = Mailbox::<u32>::builder().fifo();
        let (tx, rx) = match cap {
            Some(cap) => builder.capacity(cap).build(),
            None => builder.unbounded().build(),
        };
        let mut model: VecDeque<u32> = VecDeque::new();
        let mut next = 0u32;
        for op in ops {
            match op {
                Op::Push(p) => {
                    next += 1;
                    let result = tx.try_send(Message::new(next).priority(p));
                    if cap.is_some_and(|c| model.len() >= c) {
                        prop_assert!(matches!(result, Err(TrySendError::Full(_))));
                    } else {
                        prop_assert!(result.is_ok(), "{:?}", result);
                        model.push_back(next);
                    }
                }
                Op::Pop => {
                    let got = rx.try_recv().ok().map(|m| m.into_body());
                    prop_assert_eq!(got, model.pop_front());
                }
            }
            prop_assert_eq!(rx.len(), model.len());
        }
        let rest: Vec<u32> = rx.try_iter().map(|m| m.into_body()).collect();
        prop_assert_eq!(rest, Vec::from(model));
    }
}
