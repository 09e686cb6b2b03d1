//! Queueing discipline: FIFO, and priority order (highest first, ties strictly
//! FIFO, levels `0..levels`), checked by hand and against a model with
//! proptest; and the backends' redelivery hooks (`Queue::requeue`,
//! `Queue::evict_lowest`), used directly through the trait as the mailbox
//! uses them.

mod common;

use std::collections::VecDeque;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{DeadlineQueue, SETTLE, TIMEOUT};
use postbox::{
    Confirm, Fifo, Mailbox, Message, MessageId, PopError, Priority, PushError, Queue, Receiver,
    SendError, SendTimeoutError, TrySendError, Wait,
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

// ---------------------------------------------------------------------------
// Requeue and eviction, on the backends directly (through the `Queue` trait).
// ---------------------------------------------------------------------------

/// A backend built directly, not through a mailbox.
#[derive(Clone, Copy, Debug)]
enum Direct {
    /// `Fifo::bounded(n)` (0: rendezvous) or `Fifo::unbounded()`.
    Fifo(Option<usize>),
    /// `Priority::new(levels, capacity)`.
    Priority(u8, Option<usize>),
    /// The example's `DeadlineQueue::bounded(n)` (no rendezvous).
    Deadline(usize),
}

impl Direct {
    fn build<T: Send + 'static>(self) -> Arc<dyn Queue<T>> {
        match self {
            Direct::Fifo(Some(cap)) => Arc::new(Fifo::bounded(cap)),
            Direct::Fifo(None) => Arc::new(Fifo::unbounded()),
            Direct::Priority(levels, cap) => Arc::new(Priority::new(levels, cap)),
            Direct::Deadline(cap) => Arc::new(DeadlineQueue::bounded(cap)),
        }
    }

    fn is_rendezvous(self) -> bool {
        matches!(self, Direct::Fifo(Some(0)) | Direct::Priority(_, Some(0)))
    }
}

/// The built-in backends in their three capacities, bounded ones holding `cap`.
fn built_ins(cap: usize) -> [Direct; 6] {
    [
        Direct::Fifo(Some(cap)),
        Direct::Fifo(None),
        Direct::Fifo(Some(0)),
        Direct::Priority(8, Some(cap)),
        Direct::Priority(8, None),
        Direct::Priority(8, Some(0)),
    ]
}

/// The built-in backends and the example's custom one.
fn every_backend(cap: usize) -> Vec<Direct> {
    let mut all = built_ins(cap).to_vec();
    all.push(Direct::Deadline(cap));
    all
}

fn msg(body: u32, priority: u8) -> Message<u32> {
    Message::new(body).priority(priority)
}

fn body(result: Result<Message<u32>, PopError>) -> Result<u32, PopError> {
    result.map(Message::into_body)
}

/// Pops without waiting until the queue says Empty or Closed.
fn drain_queue(q: &dyn Queue<u32>) -> Vec<u32> {
    std::iter::from_fn(|| q.try_pop().ok().map(Message::into_body)).collect()
}

/// A requeued message leaves before every message queued after it (the
/// latest requeue first), on every backend; on one level, the FIFO and the
/// priority backends agree.
#[test]
fn requeue_leaves_before_the_messages_queued_after_it() {
    for kind in every_backend(4) {
        let q = kind.build::<u32>();
        if kind.is_rendezvous() {
            // Nothing can be queued without a receiver; requeues still are.
            q.requeue(msg(1, 3)).unwrap();
            q.requeue(msg(2, 3)).unwrap();
            assert_eq!(q.len(), 2, "{kind:?}");
            assert_eq!(drain_queue(&*q), [2, 1], "{kind:?}");
            assert_eq!(body(q.try_pop()), Err(PopError::Empty), "{kind:?}");
            continue;
        }
        for n in 1..=3 {
            q.try_push(msg(n, 3)).unwrap();
        }
        let first = q.try_pop().unwrap();
        let second = q.try_pop().unwrap();
        assert_eq!((*first.body(), *second.body()), (1, 2), "{kind:?}");
        q.requeue(first).unwrap();
        q.requeue(second).unwrap();
        q.try_push(msg(4, 3)).unwrap();
        assert_eq!(q.len(), 4, "{kind:?}");
        assert_eq!(drain_queue(&*q), [2, 1, 3, 4], "{kind:?}");
        assert!(q.is_empty(), "{kind:?}");
    }
}

/// On the priority backend a requeued message goes to the front of its own
/// level: after every more urgent message, before its level's others, and the
/// header keeps its priority.
#[test]
fn priority_requeue_goes_to_the_front_of_its_level_only() {
    for cap in [Some(8), None] {
        let q = Priority::<u32>::new(4, cap);
        for (body, p) in [(10, 1), (11, 1), (12, 3), (13, 0)] {
            q.try_push(msg(body, p)).unwrap();
        }
        assert_eq!(body(q.try_pop()), Ok(12));
        let ten = q.try_pop().unwrap();
        assert_eq!(*ten.body(), 10);
        q.requeue(ten).unwrap();
        q.try_push(msg(14, 2)).unwrap(); // more urgent: leaves before the requeue
        q.try_push(msg(15, 1)).unwrap(); // same level, later: leaves after it
        let order: Vec<(u8, u32)> = std::iter::from_fn(|| q.try_pop().ok())
            .map(|m| (m.header().priority(), m.into_body()))
            .collect();
        assert_eq!(
            order,
            [(2, 14), (1, 10), (1, 11), (1, 15), (0, 13)],
            "capacity {cap:?}"
        );
    }
}

/// A requeued message whose priority is outside the levels is clamped to the
/// top level, as a push is, instead of indexing out of bounds.
#[test]
fn priority_requeue_clamps_its_level() {
    let q = Priority::<u32>::new(2, None);
    q.try_push(msg(1, 1)).unwrap();
    q.try_push(msg(0, 0)).unwrap();
    q.requeue(msg(7, 200)).unwrap();
    let first = q.try_pop().unwrap();
    assert_eq!((first.header().priority(), *first.body()), (200, 7));
    assert_eq!(drain_queue(&q), [1, 0]);
}

/// A requeue ignores the capacity: a full bounded queue takes it and holds
/// more than its capacity; new messages stay refused until it is below again.
#[test]
fn requeue_onto_a_full_queue_is_accepted_and_len_exceeds_capacity() {
    for kind in every_backend(2) {
        let q = kind.build::<u32>();
        let Some(cap) = q.capacity() else {
            continue; // an unbounded queue is never full
        };
        for n in 1..=cap as u32 {
            q.try_push(msg(n, 0)).unwrap();
        }
        assert!(matches!(q.try_push(msg(90, 0)), Err(PushError::Full(_))));
        q.requeue(msg(0, 0)).unwrap();
        assert_eq!(q.len(), cap + 1, "{kind:?}: the requeue counts");
        match q.try_push(msg(91, 0)) {
            Err(PushError::Full(m)) => assert_eq!(*m.body(), 91),
            other => panic!("{kind:?}: over capacity, a push got {other:?}"),
        }
        let want: Vec<u32> = (0..=cap as u32).collect();
        assert_eq!(drain_queue(&*q), want, "{kind:?}");
        if !kind.is_rendezvous() {
            q.try_push(msg(92, 0))
                .unwrap_or_else(|e| panic!("{kind:?}: room again, got {e:?}"));
        }
    }
}

/// A requeue after `close` is accepted, and pops hand it out (with what was
/// queued before the close) before they report Closed; pushes stay refused.
#[test]
fn requeue_after_close_is_handed_out_before_closed() {
    for kind in every_backend(4) {
        let q = kind.build::<u32>();
        if !kind.is_rendezvous() {
            q.try_push(msg(1, 0)).unwrap();
        }
        assert!(q.close(), "{kind:?}");
        match q.try_push(msg(2, 0)) {
            Err(PushError::Closed(m)) => assert_eq!(*m.body(), 2),
            other => panic!("{kind:?}: push after close got {other:?}"),
        }
        q.requeue(msg(9, 0)).unwrap();
        q.requeue(msg(8, 0)).unwrap();
        let queued = if kind.is_rendezvous() { 2 } else { 3 };
        assert_eq!(q.len(), queued, "{kind:?}");
        assert_eq!(body(q.try_pop()), Ok(8), "{kind:?}");
        // The blocking pop too: a closed queue never waits.
        assert_eq!(body(q.pop(None)), Ok(9), "{kind:?}");
        if !kind.is_rendezvous() {
            assert_eq!(body(q.try_pop()), Ok(1), "{kind:?}");
        }
        assert_eq!(body(q.try_pop()), Err(PopError::Closed), "{kind:?}");
        assert_eq!(body(q.pop(None)), Err(PopError::Closed), "{kind:?}");
    }
}

/// Starts `n` threads that each block in `pop(None)` and report what they got
/// on the returned channel. Returns once every thread is about to pop and,
/// after a pause that lets them park, none has returned (an empty queue must
/// not hand anything out). The pause is not needed for correctness: a thread
/// that has not parked yet finds the message on its own.
fn blocked_poppers(
    kind: Direct,
    q: &Arc<dyn Queue<u32>>,
    n: usize,
) -> (
    mpsc::Receiver<Result<u32, PopError>>,
    Vec<thread::JoinHandle<()>>,
) {
    let (started_tx, started_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let handles = (0..n)
        .map(|_| {
            let (q, started_tx, result_tx) = (Arc::clone(q), started_tx.clone(), result_tx.clone());
            thread::spawn(move || {
                started_tx.send(()).unwrap();
                result_tx.send(body(q.pop(None))).unwrap();
            })
        })
        .collect();
    for _ in 0..n {
        started_rx
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|e| panic!("{kind:?}: popper did not start: {e}"));
    }
    if let Ok(got) = result_rx.recv_timeout(SETTLE) {
        panic!("{kind:?}: a pop on an empty queue returned {got:?}");
    }
    (result_rx, handles)
}

/// A receiver blocked in `pop(None)` is woken by a requeue, on every backend
/// (the rendezvous ones included). A missing wake-up fails by timeout.
#[test]
fn requeue_wakes_a_blocked_pop() {
    for kind in every_backend(4) {
        let q = kind.build::<u32>();
        let (results, handles) = blocked_poppers(kind, &q, 1);
        q.requeue(msg(7, 0)).unwrap();
        let got = results
            .recv_timeout(TIMEOUT)
            .unwrap_or_else(|_| panic!("{kind:?}: the requeue did not wake the blocked pop"));
        assert_eq!(got, Ok(7), "{kind:?}");
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(q.is_empty(), "{kind:?}");
    }
}

/// Several requeues in a row with several receivers blocked: every receiver
/// wakes and every message is received exactly once (on the FIFO backend the
/// wake channel has one slot, so this needs the chained wake-up).
#[test]
fn requeues_wake_as_many_blocked_receivers_each_message_once() {
    const RECEIVERS: u32 = 4;
    for kind in every_backend(4) {
        let q = kind.build::<u32>();
        let (results, handles) = blocked_poppers(kind, &q, RECEIVERS as usize);
        for n in 0..RECEIVERS {
            q.requeue(msg(n, 0)).unwrap();
        }
        let mut got: Vec<u32> = (0..RECEIVERS)
            .map(|_| {
                results
                    .recv_timeout(TIMEOUT)
                    .unwrap_or_else(|_| panic!("{kind:?}: a blocked receiver was not woken"))
                    .unwrap_or_else(|e| panic!("{kind:?}: pop failed: {e}"))
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..RECEIVERS).collect::<Vec<_>>(), "{kind:?}");
        for handle in handles {
            handle.join().unwrap();
        }
        assert!(q.is_empty(), "{kind:?}");
        assert_eq!(body(q.try_pop()), Err(PopError::Empty), "{kind:?}");
    }
}

/// `evict_lowest(at_most)` takes the oldest message of the lowest occupied
/// level if that level is at most `at_most`, nothing otherwise, nothing when
/// empty; across every bitmap word.
#[test]
fn priority_evict_lowest_takes_the_oldest_of_the_lowest_level() {
    for cap in [Some(8), None] {
        let q = Priority::<u32>::new(8, cap);
        assert!(q.evict_lowest(255).is_none(), "empty");
        for (body, p) in [(30, 3), (10, 1), (11, 1), (50, 5)] {
            q.try_push(msg(body, p)).unwrap();
        }
        let evict = |at_most| q.evict_lowest(at_most).map(Message::into_body);
        assert_eq!(evict(0), None, "level 1 is above 0");
        assert_eq!(q.len(), 4, "nothing taken");
        assert_eq!(evict(1), Some(10));
        assert_eq!(evict(2), Some(11));
        assert_eq!(evict(2), None, "level 3 is above 2");
        assert_eq!(evict(255), Some(30));
        q.requeue(msg(51, 5)).unwrap();
        assert_eq!(evict(5), Some(51), "the requeued message is the front");
        assert_eq!(evict(5), Some(50));
        assert_eq!(evict(255), None, "empty again");
        assert!(q.is_empty());
    }
    let q = Priority::<u32>::new(255, None);
    for (body, p) in [(200, 200), (70, 70), (130, 130)] {
        q.try_push(msg(body, p)).unwrap();
    }
    assert!(q.evict_lowest(69).is_none());
    assert_eq!(q.evict_lowest(70).map(Message::into_body), Some(70));
    assert!(q.evict_lowest(129).is_none());
    assert_eq!(q.evict_lowest(254).map(Message::into_body), Some(130));
    assert_eq!(q.evict_lowest(254).map(Message::into_body), Some(200));
}

/// A FIFO queue is one level: `evict_lowest` takes its head (a requeued
/// message first) whatever `at_most` says, and nothing when empty.
#[test]
fn fifo_evict_lowest_takes_the_head() {
    for q in [Fifo::<u32>::bounded(4), Fifo::unbounded()] {
        assert!(q.evict_lowest(255).is_none(), "empty");
        for n in 1..=3 {
            q.try_push(msg(n, 9)).unwrap();
        }
        let evict = |at_most| q.evict_lowest(at_most).map(Message::into_body);
        assert_eq!(evict(0), Some(1));
        q.requeue(msg(7, 9)).unwrap();
        assert_eq!(evict(0), Some(7));
        assert_eq!(evict(255), Some(2));
        assert_eq!(evict(0), Some(3));
        assert_eq!(evict(0), None);
        assert!(q.is_empty());
    }
}

/// Starts a thread that pushes `m` with no deadline, waits until it runs,
/// and returns it with where it reports whether the push succeeded.
fn blocked_push(
    q: &Arc<dyn Queue<u32>>,
    m: Message<u32>,
) -> (thread::JoinHandle<()>, mpsc::Receiver<bool>) {
    let (started_tx, started_rx) = mpsc::channel();
    let (result_tx, result_rx) = mpsc::channel();
    let sender = {
        let q = Arc::clone(q);
        thread::spawn(move || {
            started_tx.send(()).unwrap();
            result_tx.send(q.push(m, None).is_ok()).unwrap();
        })
    };
    started_rx.recv_timeout(TIMEOUT).unwrap();
    (sender, result_rx)
}

/// On a rendezvous queue, `evict_lowest` takes requeued messages only: it
/// never pairs with a sender blocked in `push` (that would complete a send
/// nobody received). The sender's message goes to the next real pop.
#[test]
fn rendezvous_evict_never_takes_a_blocked_senders_message() {
    for kind in [Direct::Fifo(Some(0)), Direct::Priority(8, Some(0))] {
        let q = kind.build::<u32>();
        let (sender, result_rx) = blocked_push(&q, msg(5, 0));
        // Gives the sender time to block; asserts it has not completed alone.
        assert!(result_rx.recv_timeout(SETTLE).is_err(), "{kind:?}");
        assert!(q.evict_lowest(255).is_none(), "{kind:?}: took the sender's");
        assert!(
            result_rx.try_recv().is_err(),
            "{kind:?}: the send completed"
        );
        q.requeue(msg(9, 0)).unwrap();
        assert_eq!(q.evict_lowest(0).map(Message::into_body), Some(9));
        let deadline = Instant::now() + TIMEOUT;
        assert_eq!(body(q.pop(Some(deadline))), Ok(5), "{kind:?}");
        assert_eq!(result_rx.recv_timeout(TIMEOUT), Ok(true), "{kind:?}");
        sender.join().unwrap();
    }
}

/// Evicting from a full queue makes room for a sender blocked in `push`.
#[test]
fn evict_lowest_makes_room_for_a_blocked_sender() {
    for kind in [Direct::Fifo(Some(1)), Direct::Priority(2, Some(1))] {
        let q = kind.build::<u32>();
        q.try_push(msg(1, 0)).unwrap();
        let (sender, result_rx) = blocked_push(&q, msg(2, 0));
        assert!(
            result_rx.recv_timeout(SETTLE).is_err(),
            "{kind:?}: pushed into a full queue"
        );
        assert_eq!(q.evict_lowest(1).map(Message::into_body), Some(1));
        assert_eq!(
            result_rx.recv_timeout(TIMEOUT),
            Ok(true),
            "{kind:?}: sender not woken"
        );
        sender.join().unwrap();
        assert_eq!(drain_queue(&*q), [2], "{kind:?}");
    }
}

/// The smallest linear congruential generator (Knuth's MMIX constants):
/// reproducible choices without a dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

/// Producers push while consumers pop and requeue about a quarter of what they
/// get (each message at most once); the queue is closed when the producers are
/// done. Every message is received exactly once in the end, and every requeued
/// one comes back.
#[test]
fn concurrent_push_pop_and_requeue_count_every_message_once() {
    const PRODUCERS: u32 = 3;
    const CONSUMERS: u64 = 3;
    const PER_PRODUCER: u32 = 2_000;
    const TOTAL: u32 = PRODUCERS * PER_PRODUCER;
    for kind in built_ins(8) {
        let q: Arc<dyn Queue<(u32, bool)>> = kind.build();
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                let q = Arc::clone(&q);
                common::spawn(format!("{kind:?} producer {p}"), move || {
                    for n in 0..PER_PRODUCER {
                        let id = p * PER_PRODUCER + n;
                        let priority = (id % 8) as u8;
                        let deadline = Instant::now() + TIMEOUT;
                        if let Err(e) =
                            q.push(Message::new((id, false)).priority(priority), Some(deadline))
                        {
                            panic!("push {id}: {e}");
                        }
                    }
                })
            })
            .collect();
        let consumers: Vec<_> = (0..CONSUMERS)
            .map(|c| {
                let q = Arc::clone(&q);
                common::spawn(format!("{kind:?} consumer {c}"), move || {
                    let mut lcg = Lcg(0x5eed + c);
                    let (mut received, mut requeued) = (Vec::new(), 0u32);
                    loop {
                        match q.pop(Some(Instant::now() + TIMEOUT)) {
                            Ok(mut m) => {
                                if !m.body().1 && lcg.next().is_multiple_of(4) {
                                    m.body_mut().1 = true;
                                    if let Err(e) = q.requeue(m) {
                                        panic!("requeue refused: {e}");
                                    }
                                    requeued += 1;
                                } else {
                                    received.push(*m.body());
                                }
                            }
                            Err(PopError::Closed) => return (received, requeued),
                            Err(e) => panic!("pop: {e}"),
                        }
                    }
                })
            })
            .collect();
        for producer in producers {
            producer.join();
        }
        q.close();
        let mut received = Vec::new();
        let mut requeued = 0;
        for consumer in consumers {
            let (got, n) = consumer.join_within(TIMEOUT * 3);
            received.extend(got);
            requeued += n;
        }
        let came_back = received.iter().filter(|&&(_, again)| again).count();
        assert_eq!(
            came_back, requeued as usize,
            "{kind:?}: requeued messages lost"
        );
        assert!(requeued > 0, "{kind:?}: the test requeued nothing");
        let mut ids: Vec<u32> = received.into_iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        assert_eq!(ids.len(), TOTAL as usize, "{kind:?}: messages received");
        assert!(
            ids.iter().copied().eq(0..TOTAL),
            "{kind:?}: a message was lost or received twice"
        );
        assert!(q.is_empty(), "{kind:?}");
        assert!(matches!(q.try_pop(), Err(PopError::Closed)), "{kind:?}");
    }
}

/// The example's custom backend requeues as the contract asks: before every
/// message of its deadline (the latest requeue first), never before an earlier
/// deadline, over its capacity, and after close.
#[test]
fn deadline_queue_requeue_goes_first_among_its_deadline() {
    let q = DeadlineQueue::<&str>::bounded(2);
    let now = Instant::now();
    let at = |ms| now + Duration::from_millis(ms);
    q.try_push(Message::new("a").expires_at(at(500))).unwrap();
    q.try_push(Message::new("b").expires_at(at(500))).unwrap();
    let a = q.try_pop().unwrap();
    assert_eq!(*a.body(), "a");
    q.try_push(Message::new("soon").expires_at(at(100)))
        .unwrap();
    q.requeue(a).unwrap();
    q.requeue(Message::new("a2").expires_at(at(500))).unwrap();
    assert_eq!(q.len(), 4, "over its capacity of 2");
    assert!(q.try_push(Message::new("c")).is_err(), "still full");
    q.close();
    q.requeue(Message::new("none")).unwrap();
    let order: Vec<&str> = std::iter::from_fn(|| q.try_pop().ok())
        .map(Message::into_body)
        .collect();
    assert_eq!(order, ["soon", "a2", "a", "b", "none"]);
    assert!(matches!(q.try_pop(), Err(PopError::Closed)));
}
