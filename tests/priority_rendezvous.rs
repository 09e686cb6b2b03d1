//! The priority rendezvous (capacity 0) is a true rendezvous (issue 10,
//! defect 12): a send completes only when a receiver takes the message, on
//! every receive form, as on the FIFO rendezvous.
//!
//! Before the fix a send returned once its message was queued for a parked
//! receiver (so `len()` read 1 right after most sends), and a receiver that
//! only polled never took the message of a sender blocked in `send` (so
//! crossbeam's `zero::stress_iter` pattern livelocked).
//!
//! Where a test needs a sender to be blocked before it goes on, it builds the
//! mailbox on a shared [`Priority`] queue and waits until the queue reports
//! the sender's offer (`Priority::offers`): an observable condition, not a
//! pause.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_balanced, spawn, wait_until, TIMEOUT};
use crossbeam_channel as cb;
use postbox::{
    Mailbox, Message, PopError, Priority, PushError, Queue, Receiver, Requeue, SendError,
    SendTimeoutError, Sender, TryRecvError, TrySendError,
};

/// Levels of the mailboxes under test.
const LEVELS: u8 = 4;

/// The bound on the runs that used to livelock: generous, so that a slow
/// machine passes, but a livelock fails instead of hanging.
const LIVELOCK_LIMIT: Duration = Duration::from_secs(30);

/// A priority rendezvous mailbox, built as users build one.
fn rendezvous() -> (Sender<u32>, Receiver<u32>) {
    Mailbox::<u32>::builder()
        .priority(LEVELS)
        .capacity(0)
        .build()
}

/// A priority rendezvous queue that the test keeps a handle to while a
/// mailbox uses it, to see which senders are blocked (`offers`).
struct Shared(Arc<Priority<u32>>);

impl Queue<u32> for Shared {
    fn try_push(&self, msg: Message<u32>) -> Result<(), PushError<u32>> {
        self.0.try_push(msg)
    }
    fn push(&self, msg: Message<u32>, deadline: Option<Instant>) -> Result<(), PushError<u32>> {
        self.0.push(msg, deadline)
    }
    fn try_pop(&self) -> Result<Message<u32>, PopError> {
        self.0.try_pop()
    }
    fn pop(&self, deadline: Option<Instant>) -> Result<Message<u32>, PopError> {
        self.0.pop(deadline)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn capacity(&self) -> Option<usize> {
        self.0.capacity()
    }
    fn close(&self) -> bool {
        self.0.close()
    }
    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
    fn priority_levels(&self) -> Option<u8> {
        self.0.priority_levels()
    }
    fn requeue(&self, msg: Message<u32>) -> Result<(), PushError<u32>> {
        self.0.requeue(msg)
    }
    fn evict_lowest(&self, at_most: u8) -> Option<Message<u32>> {
        self.0.evict_lowest(at_most)
    }
}

/// A priority rendezvous mailbox on a queue the test can look into.
fn observed_rendezvous() -> (Arc<Priority<u32>>, Sender<u32>, Receiver<u32>) {
    let queue = Arc::new(Priority::new(LEVELS, Some(0)));
    let (tx, rx) = Mailbox::<u32>::builder()
        .backend(Shared(Arc::clone(&queue)))
        .build();
    assert_eq!(tx.capacity(), Some(0));
    (queue, tx, rx)
}

/// Starts a thread that sends `body` at `priority` with a blocking `send`,
/// and returns once its message is on offer (the sender is blocked).
fn blocked_sender(
    queue: &Priority<u32>,
    tx: &Sender<u32>,
    body: u32,
    priority: u8,
) -> common::Joiner<Result<(), SendError<u32>>> {
    let before = queue.offers();
    let tx = tx.clone();
    let sender = spawn(format!("sender of {body}"), move || {
        tx.send(Message::new(body).priority(priority))
    });
    wait_until(&format!("the sender of {body} blocks"), || {
        queue.offers() == before + 1
    });
    sender
}

/// (1) A blocking send completes only once the receiver took the message:
/// right after every `send` returns, nothing is queued, and the receiver has
/// finished with every earlier message (it was receiving this one).
#[test]
fn blocking_send_returns_only_once_the_message_is_taken() {
    const N: usize = 20_000;
    let (tx, rx) = rendezvous();
    // Messages the receiver has finished with (its `recv` returned).
    let done = Arc::new(AtomicUsize::new(0));
    let receiver = {
        let done = Arc::clone(&done);
        spawn("receiver", move || {
            let mut got = Vec::with_capacity(N);
            while let Ok(msg) = rx.recv() {
                got.push(msg.into_body());
                done.fetch_add(1, Ordering::SeqCst);
            }
            (got, rx.stats())
        })
    };
    for n in 0..N {
        let priority = (n % usize::from(LEVELS)) as u8;
        tx.send(Message::new(n as u32).priority(priority)).unwrap();
        let len = tx.len();
        assert_eq!(len, 0, "send {n} returned with {len} message(s) queued");
        let finished = done.load(Ordering::SeqCst);
        assert!(
            finished >= n,
            "send {n} returned while the receiver had finished only {finished}"
        );
    }
    drop(tx);
    let (got, stats) = receiver.join_within(LIVELOCK_LIMIT);
    // One sender: every message once, in the order sent.
    assert_eq!(got, (0..N as u32).collect::<Vec<_>>());
    assert_balanced(&stats, N as u64);
    assert_eq!(stats.received, N as u64);
}

/// Runs crossbeam's `zero::stress_iter` pattern: a sender blocked in `send`
/// and a receiver that only polls with `poll` (and yields between polls).
/// Every message must arrive, once and in order, well within the limit.
fn polling_receiver_meets_blocked_sender(poll: impl Fn(&Receiver<u32>) -> Vec<u32>) {
    const N: u32 = 10_000;
    let (tx, rx) = rendezvous();
    let sender = spawn("blocked sender", move || {
        for n in 0..N {
            let priority = (n % u32::from(LEVELS)) as u8;
            tx.send(Message::new(n).priority(priority))?;
        }
        Ok::<_, SendError<u32>>(())
    });
    let start = Instant::now();
    let mut got = Vec::with_capacity(N as usize);
    while got.len() < N as usize {
        assert!(
            start.elapsed() < LIVELOCK_LIMIT,
            "livelock: a polling receiver took {} of {N} messages in {LIVELOCK_LIMIT:?}",
            got.len()
        );
        got.extend(poll(&rx));
        thread::yield_now();
    }
    sender.join_within(LIVELOCK_LIMIT).unwrap();
    assert_eq!(got, (0..N).collect::<Vec<_>>());
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_balanced(&rx.stats(), u64::from(N));
}

/// (2) crossbeam's `zero::stress_iter`, with `try_recv`: a sender blocked in
/// `send` hands its message to a receiver that only polls.
#[test]
fn polling_try_recv_takes_the_message_of_a_blocked_sender() {
    polling_receiver_meets_blocked_sender(|rx| match rx.try_recv() {
        Ok(msg) => vec![msg.into_body()],
        Err(TryRecvError::Empty) => Vec::new(),
        Err(TryRecvError::Closed) => panic!("closed before every message arrived"),
    });
}

/// (2) The same with `try_iter`, as `stress_iter` itself polls.
#[test]
fn polling_try_iter_takes_the_message_of_a_blocked_sender() {
    polling_receiver_meets_blocked_sender(|rx| rx.try_iter().map(Message::into_body).collect());
}

/// (3) Blocked senders' messages leave by priority, the oldest first within a
/// priority, and after a requeued message of their priority; for a polling
/// and a blocking receive alike. Each send completes with its own take.
#[test]
fn blocked_senders_leave_most_urgent_first_fifo_within_a_priority() {
    let (queue, tx, rx) = observed_rendezvous();
    // One message is delivered and then given back, so that it waits as a
    // requeued message at priority 1.
    let first = blocked_sender(&queue, &tx, 100, 1);
    let delivery = rx.try_recv_ack().unwrap();
    assert_eq!(*delivery.body(), 100);
    first.join().unwrap();
    // (body, priority), in the order the senders block.
    let arrivals = [(0, 1), (1, 0), (2, 3), (3, 1), (4, 3), (5, 0), (6, 2)];
    let senders: Vec<_> = arrivals
        .iter()
        .map(|&(body, priority)| (body, blocked_sender(&queue, &tx, body, priority)))
        .collect();
    delivery.nack(Requeue::Yes);
    assert_eq!(rx.len(), 1, "only the requeued message is held");
    assert_eq!(queue.offers(), arrivals.len());
    let mut got = Vec::new();
    for turn in 0..=arrivals.len() {
        // Both receive forms, in turn: both take an offer.
        let msg = if turn % 2 == 0 {
            rx.try_recv().unwrap()
        } else {
            rx.recv_timeout(TIMEOUT).unwrap()
        };
        got.push(msg.into_body());
    }
    assert_eq!(got, [2, 4, 6, 100, 0, 3, 1, 5]);
    for (body, sender) in senders {
        assert!(sender.join().is_ok(), "the send of {body} failed");
    }
    assert_eq!(queue.offers(), 0);
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_balanced(&rx.stats(), 1 + arrivals.len() as u64);
}

/// (4) With no receiver, `send_timeout` times out with its message, which is
/// then nowhere in the mailbox; with a receiver that only polls, it succeeds
/// long before its timeout.
#[test]
fn send_timeout_times_out_without_a_receiver_and_meets_a_polling_one() {
    let (queue, tx, rx) = observed_rendezvous();
    match tx.send_timeout(7, Duration::from_millis(50)) {
        Err(SendTimeoutError::Timeout(msg)) => assert_eq!(msg.into_body(), 7),
        other => panic!("no receiver: expected Timeout, got {other:?}"),
    }
    assert_eq!(queue.offers(), 0, "the offer was withdrawn");
    assert_eq!(rx.len(), 0);
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);

    let sender = {
        let tx = tx.clone();
        spawn("send_timeout", move || tx.send_timeout(8, LIVELOCK_LIMIT))
    };
    let start = Instant::now();
    let msg = loop {
        match rx.try_recv() {
            Ok(msg) => break msg,
            Err(TryRecvError::Empty) => {
                assert!(
                    start.elapsed() < LIVELOCK_LIMIT,
                    "a polling receiver never took the message"
                );
                thread::yield_now();
            }
            Err(TryRecvError::Closed) => panic!("closed"),
        }
    };
    assert_eq!(msg.into_body(), 8);
    sender.join_within(LIVELOCK_LIMIT).unwrap();
    assert_balanced(&rx.stats(), 1);
}

/// (4) A close wakes blocked senders with `Closed` and their messages, and
/// hands none of them to the closer; before it, a polling receiver takes
/// the most urgent. Both ways to close: `Receiver::close` and dropping the
/// last receiver.
#[test]
fn close_hands_blocked_senders_their_messages_back() {
    for drop_last_receiver in [false, true] {
        let (queue, tx, rx) = observed_rendezvous();
        let low = blocked_sender(&queue, &tx, 1, 0);
        let high = blocked_sender(&queue, &tx, 2, 3);
        assert_eq!(rx.try_recv().unwrap().into_body(), 2);
        high.join().unwrap();
        if drop_last_receiver {
            drop(rx);
        } else {
            let left: Vec<u32> = rx.close().into_iter().map(Message::into_body).collect();
            assert!(left.is_empty(), "close took a blocked sender's: {left:?}");
            assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
        }
        match low.join() {
            Err(SendError::Closed(msg)) => assert_eq!(msg.into_body(), 1),
            other => panic!("closed (drop: {drop_last_receiver}): got {other:?}"),
        }
        assert_eq!(queue.offers(), 0);
        let stats = tx.stats();
        assert_balanced(&stats, 1);
        assert_eq!(stats.dropped, 0, "a blocked sender's message was dropped");
    }
}

/// (5) `try_send` succeeds only into the hands of a receiver blocked in
/// `recv`, and completes the exchange: nothing stays queued, and a second
/// `try_send` finds no receiver. Without a receiver in `recv` it fails with
/// `Full`, handing the message back.
#[test]
fn try_send_succeeds_only_into_a_blocked_receiver() {
    const ROUNDS: u32 = 1_000;
    let (tx, rx) = rendezvous();
    match tx.try_send(1) {
        Err(TrySendError::Full(msg)) => assert_eq!(msg.into_body(), 1),
        other => panic!("no receiver: expected Full, got {other:?}"),
    }
    let (ready_tx, ready_rx) = cb::bounded::<()>(0);
    let (got_tx, got_rx) = cb::bounded::<u32>(0);
    let receiver = spawn("receiver", move || {
        for _ in 0..ROUNDS {
            ready_tx.send(()).unwrap();
            let msg = rx.recv_timeout(TIMEOUT).unwrap();
            got_tx.send(msg.into_body()).unwrap();
        }
        rx
    });
    for round in 0..ROUNDS {
        ready_rx.recv_timeout(TIMEOUT).unwrap();
        // The receiver is on its way into `recv`: try until it is there.
        let mut msg = Some(Message::new(round));
        wait_until("a receiver blocked in recv takes a try_send", || {
            match tx.try_send(msg.take().expect("the message, handed back")) {
                Ok(()) => true,
                Err(TrySendError::Full(back)) => {
                    msg = Some(back);
                    false
                }
                Err(err) => panic!("round {round}: {err:?}"),
            }
        });
        let len = tx.len();
        assert_eq!(len, 0, "round {round}: try_send left {len} queued");
        // The only receiver has this round's message (or is about to): it
        // does not receive again before the next round.
        match tx.try_send(u32::MAX - 1) {
            Err(TrySendError::Full(back)) => assert_eq!(back.into_body(), u32::MAX - 1),
            other => panic!("round {round}: a second try_send got {other:?}"),
        }
        assert_eq!(got_rx.recv_timeout(TIMEOUT).unwrap(), round);
    }
    let rx = receiver.join();
    // A receiver that polls is not blocked in recv.
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert!(tx.try_send(2).unwrap_err().is_full());
    let stats = rx.stats();
    assert_balanced(&stats, u64::from(ROUNDS));
    assert_eq!(stats.received, u64::from(ROUNDS));
}

/// Eight senders crowd a rendezvous served by two receivers; then the
/// mailbox closes under the last of them. Half the senders block without a
/// deadline: a take must wake exactly the sender whose offer it took, and a
/// lost wake leaves that sender asleep (the bounded join fails). The other
/// half wait with a short deadline and try again on a timeout, which
/// exercises the withdrawal racing a take. Every send ends one way:
/// received once, or handed back by the close. FIFO and priority mailboxes.
#[test]
fn crowded_senders_with_deadlines_each_message_once() {
    const SENDERS: u32 = 8;
    const PER_SENDER: u32 = 400;
    const TOTAL: usize = (SENDERS * PER_SENDER) as usize;
    for priority in [false, true] {
        let builder = Mailbox::<u32>::builder().capacity(0);
        let (tx, rx) = if priority {
            builder.priority(LEVELS).build()
        } else {
            builder.fifo().build()
        };
        let received: Arc<Vec<AtomicUsize>> =
            Arc::new((0..TOTAL).map(|_| AtomicUsize::new(0)).collect());
        let handed_back = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(AtomicUsize::new(0));
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let tx = tx.clone();
                let handed_back = Arc::clone(&handed_back);
                spawn(format!("sender {s}"), move || {
                    for i in 0..PER_SENDER {
                        let mut msg = Message::new(s * PER_SENDER + i).priority((i % 4) as u8);
                        loop {
                            let sent = if s % 2 == 0 {
                                tx.send(msg).map_err(|err| match err {
                                    SendError::Closed(m) => SendTimeoutError::Closed(m),
                                    other => panic!("unexpected send error: {other:?}"),
                                })
                            } else {
                                tx.send_timeout(msg, Duration::from_micros(200))
                            };
                            match sent {
                                Ok(()) => break,
                                Err(SendTimeoutError::Timeout(back)) => msg = back,
                                Err(SendTimeoutError::Closed(_)) => {
                                    handed_back.fetch_add(1, Ordering::SeqCst);
                                    break;
                                }
                                Err(other) => panic!("unexpected send error: {other:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        // The receivers stop after most messages, then one closes the mailbox
        // while senders are still blocked on offers.
        let stop_at = TOTAL - 100;
        let receivers: Vec<_> = (0..2)
            .map(|r| {
                let rx = rx.clone();
                let received = Arc::clone(&received);
                let taken = Arc::clone(&taken);
                spawn(format!("receiver {r}"), move || loop {
                    if taken.load(Ordering::SeqCst) >= stop_at {
                        return;
                    }
                    if let Ok(msg) = rx.recv_timeout(Duration::from_millis(20)) {
                        received[*msg.body() as usize].fetch_add(1, Ordering::SeqCst);
                        taken.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for r in receivers {
            r.join();
        }
        rx.close();
        for s in senders {
            s.join();
        }
        // What was on offer or handed over when the close came is still
        // drained here; sends after it failed with their message back.
        while let Ok(msg) = rx.try_recv() {
            received[*msg.body() as usize].fetch_add(1, Ordering::SeqCst);
        }
        let once = received
            .iter()
            .filter(|c| c.load(Ordering::SeqCst) == 1)
            .count();
        let twice = received
            .iter()
            .filter(|c| c.load(Ordering::SeqCst) > 1)
            .count();
        assert_eq!(
            twice, 0,
            "priority={priority}: a message was received twice"
        );
        assert_eq!(
            once + handed_back.load(Ordering::SeqCst),
            TOTAL,
            "priority={priority}: every send is received once or handed back"
        );
        assert!(once >= stop_at, "priority={priority}: {once} received");
    }
}
