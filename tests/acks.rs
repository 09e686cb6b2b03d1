//! Delivery guarantees (issue 4): consumer acknowledgements, prefetch,
//! `Confirm::Acked`, the receipt life cycle, time to live, overflow policies,
//! delayed requeues and dead letters.
//!
//! Most tests are functions of the backend, run on every built-in backend
//! (FIFO and priority; bounded, unbounded and rendezvous) or on the group
//! where they make sense (`bounded` for overflow, `buffered` where messages
//! must sit in the mailbox with no receiver, `priority` for levels). A
//! rendezvous holds nothing until a receiver takes it, so there a sender
//! thread feeds the messages (see [`Feed`]); a message given back with a
//! requeue *is* held, whatever the capacity.
//!
//! Every count is checked exactly, and every test that moves messages ends
//! with [`assert_balanced`]. No sleep stands in for synchronization: threads
//! meet through channels; a sleep appears only where time is the behaviour
//! under test (a time to live running out), and a short timeout only to
//! observe that something does *not* happen (a sender still blocked).

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{assert_balanced, spawn, wait_until, Backend, Joiner, TIMEOUT};
use crossbeam_channel as cb;
use postbox::{
    Confirm, DeadLetterReason, Delivery, Mailbox, MailboxBuilder, Message, Overflow, Owner, Port,
    PostOffice, Receipt, ReceiptError, ReceiptState, Receiver, RecvError, RecvTimeoutError,
    Requeue, SendError, SendTimeoutError, Sender, Topic, TryRecvAckError, TrySendError, Wait,
};

/// How long a test watches for something that must *not* happen (a blocked
/// sender returning, a prefetch wait ending).
const SHORT: Duration = Duration::from_millis(50);

/// A mailbox's default time to live in the TTL tests.
const TTL: Duration = Duration::from_millis(30);

/// The delay of a delayed requeue.
const DELAY: Duration = Duration::from_millis(40);

/// How long a confirmed send waits for an ack that never comes. Generous: the
/// consumer must take the message within it.
const CONFIRM_WAIT: Duration = Duration::from_millis(400);

/// Longer than any test runs: a wait that must be cut short by a refusal,
/// and a delayed requeue that must never come back by itself.
const FOREVER: Duration = Duration::from_secs(600);

/// Runs each listed test function (`fn(Backend)`) as its own `#[test]`, once
/// per listed backend, as `group::backend::test`.
macro_rules! on_backends {
    ($group:ident: $tests:tt => $($module:ident = $backend:ident),+ $(,)?) => {
        mod $group {
            $( on_backends!(@one $module, $backend, $tests); )+
        }
    };
    (@one $module:ident, $backend:ident, { $($test:ident),* $(,)? }) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    crate::$test(crate::common::$backend)
                }
            )*
        }
    };
}

on_backends!(every_backend: {
    ack_removes_the_message_for_good,
    drop_without_ack_requeues,
    panic_in_a_worker_requeues,
    nack_requeue_goes_before_later_messages_of_its_level,
    reject_goes_to_dead_letters_as_rejected,
    max_redeliveries_is_exact,
    prefetch_full_at_the_limit,
    ack_on_another_thread_unblocks_a_blocked_recv_ack,
    prefetch_bounds_a_shared_handle_under_concurrency,
    separate_handles_have_separate_limits,
    confirm_acked_returns_only_after_the_ack,
    confirm_acked_times_out_unconfirmed_while_received,
    confirm_acked_unconfirmed_when_rejected,
    receipt_life_cycle_through_a_requeue,
    receipt_of_a_rejected_message_says_it_was_delivered,
    expiring_in_flight_is_still_ackable_and_not_redelivered,
    requeue_after_comes_back_after_the_delay,
    closed_mailbox_waits_for_a_delayed_requeue,
    destroy_sends_delayed_messages_to_dead_letters_at_once,
    delivery_outlives_its_receiver_handle,
    delivery_outliving_the_last_receiver_ends_in_dead_letters,
    borrowed_and_owned_deliveries_answer_once,
} =>
    fifo_bounded = FIFO_BOUNDED,
    fifo_unbounded = FIFO_UNBOUNDED,
    fifo_rendezvous = FIFO_RENDEZVOUS,
    priority_bounded = PRIORITY_BOUNDED,
    priority_unbounded = PRIORITY_UNBOUNDED,
    priority_rendezvous = PRIORITY_RENDEZVOUS,
);

on_backends!(priority: {
    nack_requeue_stays_behind_more_urgent_levels,
} =>
    priority_bounded = PRIORITY_BOUNDED,
    priority_unbounded = PRIORITY_UNBOUNDED,
    priority_rendezvous = PRIORITY_RENDEZVOUS,
);

on_backends!(buffered: {
    expired_messages_are_never_delivered,
    expired_dead_letters_can_be_read_from_a_typed_dead_letter_mailbox,
    no_receivers_dead_letters_reach_a_typed_dead_letter_mailbox,
} =>
    fifo_bounded = FIFO_BOUNDED,
    fifo_unbounded = FIFO_UNBOUNDED,
    priority_bounded = PRIORITY_BOUNDED,
    priority_unbounded = PRIORITY_UNBOUNDED,
);

on_backends!(bounded: {
    receipt_final_states,
    overflow_block_waits_for_a_receive,
    overflow_reject_fails_at_once,
    overflow_drop_oldest_evicts_the_head,
    overflow_drop_lowest_evicts_the_least_urgent,
    an_expired_message_evicted_for_room_is_labelled_expired,
    every_dead_letter_reason_reaches_the_office_store,
} =>
    fifo_bounded = FIFO_BOUNDED,
    priority_bounded = PRIORITY_BOUNDED,
);

on_backends!(rendezvous: {
    drop_policies_refuse_like_reject,
} =>
    fifo_rendezvous = FIFO_RENDEZVOUS,
    priority_rendezvous = PRIORITY_RENDEZVOUS,
);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// A builder for a mailbox on backend `b`, to add the settings under test to.
fn builder<T: Send>(b: Backend) -> MailboxBuilder<T> {
    let builder = Mailbox::<T>::builder();
    let builder = match b.levels() {
        Some(levels) => builder.priority(levels),
        None => builder.fifo(),
    };
    match b.capacity() {
        Some(cap) => builder.capacity(cap),
        None => builder.unbounded(),
    }
}

/// A typed dead-letter mailbox that never refuses a letter.
fn dead_letter_box<T: Send>() -> (Sender<T>, Receiver<T>) {
    Mailbox::<T>::builder().fifo().unbounded().build()
}

/// An office mailbox on backend `b` (with `settings` applied), and a sender
/// and a receiver connected to it by name.
fn office_mailbox(
    office: &PostOffice,
    name: &str,
    b: Backend,
    settings: impl FnOnce(MailboxBuilder<u32>) -> MailboxBuilder<u32>,
) -> (Sender<u32>, Receiver<u32>) {
    office
        .create(name, settings(builder::<u32>(b)), Owner::System)
        .unwrap();
    let tx = office.connect_sender::<u32>(name).unwrap();
    let rx = office.connect_receiver::<u32>(name).unwrap();
    (tx, rx)
}

/// Takes one delivery, waiting at most [`TIMEOUT`].
#[track_caller]
fn take<T: Send + 'static>(rx: &Receiver<T>) -> Delivery<'_, T> {
    rx.recv_ack_timeout(TIMEOUT)
        .expect("a delivery within the timeout")
}

/// Messages on their way into a mailbox: sent at once where the mailbox holds
/// them, or, on a rendezvous (which holds nothing until a receiver takes it),
/// by a sender thread, one after another, in order.
struct Feed {
    /// The receipts of tracked sends, in send order (on a rendezvous, each
    /// once its message was taken).
    receipts: cb::Receiver<Receipt>,
    /// The sender thread, on a rendezvous.
    sender: Option<Joiner<()>>,
}

impl Feed {
    /// The receipt of the next tracked message.
    fn receipt(&self) -> Receipt {
        self.receipts
            .recv_timeout(TIMEOUT)
            .expect("the tracked send returns within the timeout")
    }

    /// Waits for the sender thread, if any, to have sent everything.
    fn finish(self) {
        if let Some(sender) = self.sender {
            sender.join();
        }
    }
}

/// Feeds `msgs` into the mailbox (untracked sends).
fn feed<T, M>(b: Backend, tx: &Sender<T>, msgs: Vec<M>) -> Feed
where
    T: Send + 'static,
    M: Into<Message<T>> + Send + 'static,
{
    feed_with(b, tx, msgs, false)
}

/// Feeds `msgs` into the mailbox with `send_tracked`.
fn feed_tracked<T, M>(b: Backend, tx: &Sender<T>, msgs: Vec<M>) -> Feed
where
    T: Send + 'static,
    M: Into<Message<T>> + Send + 'static,
{
    feed_with(b, tx, msgs, true)
}

fn feed_with<T, M>(b: Backend, tx: &Sender<T>, msgs: Vec<M>, tracked: bool) -> Feed
where
    T: Send + 'static,
    M: Into<Message<T>> + Send + 'static,
{
    let (receipt_tx, receipts) = cb::unbounded();
    let send_all = {
        let tx = tx.clone();
        move || {
            for msg in msgs {
                if tracked {
                    receipt_tx.send(tx.send_tracked(msg).unwrap()).unwrap();
                } else {
                    tx.send_timeout(msg, TIMEOUT).unwrap();
                }
            }
        }
    };
    if b.is_rendezvous() {
        Feed {
            receipts,
            sender: Some(spawn("feeding sender", send_all)),
        }
    } else {
        send_all();
        Feed {
            receipts,
            sender: None,
        }
    }
}

/// A sender thread that sends `bodies` in order (for streams longer than a
/// bounded mailbox holds), then drops its sender.
fn produce(tx: Sender<u32>, bodies: std::ops::Range<u32>) -> Joiner<()> {
    spawn("producer", move || {
        for n in bodies {
            tx.send_timeout(n, TIMEOUT).unwrap();
        }
    })
}

/// A thread whose result is watched: [`assert_still_running`] to observe
/// that it is blocked, [`finish`] to get its result.
///
/// [`assert_still_running`]: Background::assert_still_running
/// [`finish`]: Background::finish
struct Background<R> {
    done: cb::Receiver<R>,
    what: &'static str,
}

fn background<R, F>(what: &'static str, f: F) -> Background<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let (tx, done) = cb::bounded(1);
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    Background { done, what }
}

/// A sender that sends `body` with `Confirm::Acked`, waiting as `wait`
/// says, in the background.
fn confirmed_send(
    tx: &Sender<u32>,
    body: u32,
    wait: Wait,
) -> Background<Result<(), SendTimeoutError<u32>>> {
    let tx = tx.clone();
    background("confirmed sender", move || {
        tx.send_with(body, wait, Confirm::Acked)
    })
}

impl<R> Background<R> {
    /// Asserts that the thread does not finish within [`SHORT`].
    #[track_caller]
    fn assert_still_running(&self) {
        match self.done.recv_timeout(SHORT) {
            Err(cb::RecvTimeoutError::Timeout) => {}
            Ok(_) => panic!("{} finished while it should still wait", self.what),
            Err(cb::RecvTimeoutError::Disconnected) => panic!("{} panicked", self.what),
        }
    }

    /// The thread's result, waiting at most [`TIMEOUT`].
    #[track_caller]
    fn finish(self) -> R {
        match self.done.recv_timeout(TIMEOUT) {
            Ok(r) => r,
            Err(cb::RecvTimeoutError::Timeout) => {
                panic!("{} did not finish within {TIMEOUT:?}", self.what)
            }
            Err(cb::RecvTimeoutError::Disconnected) => panic!("{} panicked", self.what),
        }
    }
}

/// The bodies of the messages queued now, in delivery order (plain receives).
fn drain_bodies(rx: &Receiver<u32>) -> Vec<u32> {
    rx.try_iter().map(Message::into_body).collect()
}

/// Sleeps until `at` has passed: for waiting out a time to live, where time
/// is the behaviour under test.
fn sleep_past(at: Instant) {
    let now = Instant::now();
    if at >= now {
        thread::sleep(at - now + Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------
// 1. Ack semantics
// ---------------------------------------------------------------------------

fn ack_removes_the_message_for_good(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed(b, &tx, vec![1u32, 2, 3]);
    for n in 1..=3u32 {
        let d = take(&rx);
        assert_eq!(*d.body(), n, "{b:?}");
        assert!(!d.is_redelivered());
        let held = rx.stats();
        let done = u64::from(n - 1);
        assert_eq!((held.unacked, held.acked, held.received), (1, done, done));
        assert_eq!(rx.unacked(), 1);
        let id = d.header().id();
        // ack hands the message back.
        let msg = d.ack();
        assert_eq!((*msg.body(), msg.header().id()), (n, id));
        assert_eq!(rx.unacked(), 0);
    }
    feed.finish();
    drop(tx);
    // Gone for good: nothing comes back.
    assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Closed);
    let s = rx.stats();
    assert_eq!((s.acked, s.received, s.unacked), (3, 3, 0));
    assert_eq!((s.nacked, s.redelivered, s.len), (0, 0, 0));
    assert_balanced(&s, 3);
}

fn drop_without_ack_requeues(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed_tracked(b, &tx, vec![7u32]);
    let first = take(&rx);
    let receipt = feed.receipt();
    assert_eq!(receipt.state(), ReceiptState::Received);
    let id = first.header().id();
    assert_eq!(first.header().redeliveries(), 0);
    assert!(!first.is_redelivered());
    drop(first);

    assert_eq!(receipt.state(), ReceiptState::Requeued);
    let s = rx.stats();
    assert_eq!(
        (s.nacked, s.redelivered, s.unacked, s.len),
        (1, 1, 0, 1),
        "{b:?}"
    );
    assert_eq!((s.acked, s.received), (0, 0));
    assert_balanced(&s, 1);

    let again = take(&rx);
    assert_eq!(*again.body(), 7);
    assert_eq!(again.header().id(), id, "the same message comes back");
    assert_eq!(again.header().redeliveries(), 1);
    assert!(again.is_redelivered());
    assert_eq!(receipt.state(), ReceiptState::Received);
    again.ack();
    assert!(receipt.is_acked());
    feed.finish();

    let s = rx.stats();
    // Counted once as received, however often delivered.
    assert_eq!((s.acked, s.received, s.nacked, s.redelivered), (1, 1, 1, 1));
    assert_balanced(&s, 1);
}

fn panic_in_a_worker_requeues(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed_tracked(b, &tx, vec![9u32]);
    let crashed = panic::catch_unwind(AssertUnwindSafe(|| {
        let job = take(&rx);
        assert_eq!(*job.body(), 9);
        panic!("worker died holding job {}", *job.body());
    }));
    let payload = crashed.expect_err("the worker panicked");
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("worker died holding job 9")
    );
    let receipt = feed.receipt();
    assert_eq!(receipt.state(), ReceiptState::Requeued);
    let s = rx.stats();
    assert_eq!(
        (s.nacked, s.redelivered, s.unacked, s.len),
        (1, 1, 0, 1),
        "{b:?}"
    );
    assert_balanced(&s, 1);

    let again = take(&rx);
    assert_eq!((*again.body(), again.header().redeliveries()), (9, 1));
    again.ack();
    assert!(receipt.is_acked());
    feed.finish();
    let s = rx.stats();
    assert_eq!((s.acked, s.received, s.unacked), (1, 1, 0));
    assert_balanced(&s, 1);
}

fn nack_requeue_goes_before_later_messages_of_its_level(b: Backend) {
    // All at priority 0: one level on every backend.
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed(b, &tx, vec![1u32, 2, 3]);
    let first = take(&rx);
    assert_eq!(*first.body(), 1);
    // On a rendezvous, 2 waits in its sender: it cannot be handed to anyone
    // before this nack, since nobody is receiving.
    first.nack(Requeue::Yes);

    let order: Vec<(u32, u32)> = (0..3)
        .map(|_| {
            let d = take(&rx);
            let seen = (*d.body(), d.header().redeliveries());
            d.ack();
            seen
        })
        .collect();
    assert_eq!(order, [(1, 1), (2, 0), (3, 0)], "{b:?}");
    feed.finish();
    let s = rx.stats();
    assert_eq!((s.acked, s.nacked, s.redelivered), (3, 1, 1));
    assert_balanced(&s, 3);
}

fn nack_requeue_stays_behind_more_urgent_levels(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed;
    let expected;
    if b.is_rendezvous() {
        // A rendezvous holds only what comes back: take the urgent one too
        // and give it back first, so that it is queued when the low one is.
        feed = self::feed(
            b,
            &tx,
            vec![
                Message::new(10).priority(1),
                Message::new(50).priority(5),
                Message::new(11).priority(1),
            ],
        );
        let low = take(&rx);
        let urgent = take(&rx);
        assert_eq!((*low.body(), *urgent.body()), (10, 50));
        urgent.nack(Requeue::Yes);
        low.nack(Requeue::Yes);
        expected = [(50, 1), (10, 1), (11, 0)];
    } else {
        feed = self::feed(
            b,
            &tx,
            vec![Message::new(10).priority(1), Message::new(11).priority(1)],
        );
        let low = take(&rx);
        assert_eq!(*low.body(), 10);
        // A more urgent message arrives while the low one is out.
        tx.try_send(Message::new(50).priority(5)).unwrap();
        low.nack(Requeue::Yes);
        expected = [(50, 0), (10, 1), (11, 0)];
    }
    let order: Vec<(u32, u32)> = (0..3)
        .map(|_| {
            let d = take(&rx);
            let seen = (*d.body(), d.header().redeliveries());
            d.ack();
            seen
        })
        .collect();
    // Front of its own level: before 11, never before the urgent 50.
    assert_eq!(order, expected, "{b:?}");
    feed.finish();
    assert_balanced(&rx.stats(), 3);
}

fn reject_goes_to_dead_letters_as_rejected(b: Backend) {
    // A typed dead-letter mailbox.
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    let feed = feed_tracked(
        b,
        &tx,
        vec![
            Message::new(1).correlation_id(11),
            Message::new(2).correlation_id(22),
        ],
    );
    take(&rx).reject();
    let r1 = feed.receipt();
    take(&rx).nack(Requeue::No);
    let r2 = feed.receipt();
    feed.finish();
    for r in [&r1, &r2] {
        assert_eq!(
            r.state(),
            ReceiptState::DeadLettered(DeadLetterReason::Rejected),
            "{b:?}"
        );
        assert_eq!(
            r.wait_acked_timeout(TIMEOUT),
            Err(ReceiptError::DeadLettered(DeadLetterReason::Rejected))
        );
    }
    let letters: Vec<Message<u32>> = dead_rx.try_iter().collect();
    let seen: Vec<_> = letters
        .iter()
        .map(|m| {
            (
                *m.body(),
                m.header().correlation_id(),
                m.header().redeliveries(),
                m.header().is_tracked(),
            )
        })
        .collect();
    assert_eq!(seen, [(1, Some(11), 0, false), (2, Some(22), 0, false)]);
    assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Empty);
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Rejected), 2);
    assert_eq!((s.dead_lettered, s.dropped), (2, 0));
    assert_eq!((s.nacked, s.redelivered, s.acked, s.received), (2, 0, 0, 0));
    assert_balanced(&s, 2);

    // An office mailbox: the store keeps the reason, the mailbox and the
    // header.
    let office = PostOffice::new();
    let (tx, rx) = office_mailbox(&office, "jobs", b, |m| m);
    let feed = self::feed(b, &tx, vec![Message::new(3).correlation_id(33)]);
    let d = take(&rx);
    let id = d.header().id();
    d.reject();
    feed.finish();
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(letter.reason(), DeadLetterReason::Rejected);
    assert_eq!(letter.mailbox(), "jobs");
    assert_eq!(letter.header().id(), id);
    assert_eq!(letter.header().correlation_id(), Some(33));
    assert_eq!(*letter.body(), 3);
    assert_eq!(office.dead_letters().count(DeadLetterReason::Rejected), 1);
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Rejected), 1);
    assert_eq!((s.dead_lettered, s.dropped), (1, 0));
    assert_balanced(&s, 1);
}

fn max_redeliveries_is_exact(b: Backend) {
    for n in [0u32, 1, 3] {
        let (dead_tx, dead_rx) = dead_letter_box::<u32>();
        let (tx, rx) = builder::<u32>(b)
            .max_redeliveries(n)
            .dead_letters(dead_tx)
            .build();
        let feed = feed_tracked(b, &tx, vec![n]);
        // Delivered exactly n + 1 times, redeliveries 0..=n; given back each
        // time (by nack, or by dropping the delivery).
        for expected in 0..=n {
            let d = take(&rx);
            assert_eq!(d.header().redeliveries(), expected, "{b:?}, n = {n}");
            if expected % 2 == 0 {
                d.nack(Requeue::Yes);
            } else {
                drop(d);
            }
        }
        let receipt = feed.receipt();
        feed.finish();
        assert_eq!(
            receipt.state(),
            ReceiptState::DeadLettered(DeadLetterReason::MaxRedeliveries),
            "{b:?}, n = {n}"
        );
        // Not delivered an (n + 2)th time.
        assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Empty);
        let letter = dead_rx
            .try_recv()
            .expect("the poison message is a dead letter");
        assert_eq!((*letter.body(), letter.header().redeliveries()), (n, n));
        let s = rx.stats();
        assert_eq!(s.dead_letters.get(DeadLetterReason::MaxRedeliveries), 1);
        assert_eq!((s.nacked, s.redelivered), (u64::from(n) + 1, u64::from(n)));
        assert_eq!(
            (s.dead_lettered, s.received, s.len, s.unacked),
            (1, 0, 0, 0)
        );
        assert_balanced(&s, 1);
    }
}

// ---------------------------------------------------------------------------
// 2. Prefetch
// ---------------------------------------------------------------------------

fn prefetch_full_at_the_limit(b: Backend) {
    for n in [1usize, 2] {
        let (tx, rx) = builder::<u32>(b).build();
        let rx = rx.with_prefetch(n);
        assert_eq!(rx.prefetch(), Some(n));
        let count = n as u32 + 1;
        let feed = feed(b, &tx, (0..count).collect());
        let mut held: Vec<Delivery<'_, u32>> = (0..n).map(|_| take(&rx)).collect();
        assert_eq!(rx.unacked(), n as u64);

        // At the limit: a message is there (queued, or waiting in its
        // sender), but this handle may not take it.
        assert_eq!(
            rx.try_recv_ack().unwrap_err(),
            TryRecvAckError::PrefetchFull,
            "{b:?}, n = {n}"
        );
        let started = Instant::now();
        assert_eq!(
            rx.recv_ack_timeout(SHORT).unwrap_err(),
            RecvTimeoutError::Timeout
        );
        assert!(started.elapsed() >= SHORT, "the timeout waited");
        if !b.is_rendezvous() {
            assert_eq!(rx.len(), 1, "the message stays queued");
        }

        // Answering one frees one slot, and only one.
        held.remove(0).ack();
        let last = take(&rx);
        assert_eq!(*last.body(), n as u32);
        held.push(last);
        assert_eq!(
            rx.try_recv_ack().unwrap_err(),
            TryRecvAckError::PrefetchFull
        );
        for d in held {
            d.ack();
        }
        assert_eq!(rx.unacked(), 0);
        feed.finish();
        let s = rx.stats();
        assert_eq!((s.acked, s.unacked), (u64::from(count), 0));
        assert_balanced(&s, u64::from(count));
    }
}

fn ack_on_another_thread_unblocks_a_blocked_recv_ack(b: Backend) {
    const ROUNDS: u32 = 20;
    let (tx, rx) = builder::<u32>(b).build();
    let rx = rx.with_prefetch(1);
    let producer = produce(tx, 0..ROUNDS + 1);
    let mut held = take(&rx);
    for round in 0..ROUNDS {
        assert_eq!(*held.body(), round);
        let acked = AtomicBool::new(false);
        held = thread::scope(|s| {
            let (ready_tx, ready_rx) = cb::bounded(1);
            let (rx, acked_flag) = (&rx, &acked);
            let waiter = s.spawn(move || {
                ready_tx.send(()).unwrap();
                // The handle's one slot is taken: this waits for the ack.
                let d = rx.recv_ack_timeout(TIMEOUT).expect("unblocked by the ack");
                assert!(
                    acked_flag.load(Ordering::SeqCst),
                    "recv_ack returned before the ack freed the slot"
                );
                d
            });
            ready_rx.recv_timeout(TIMEOUT).unwrap();
            let acked = &acked;
            // The delivery moves to another thread, which answers it there.
            s.spawn(move || {
                acked.store(true, Ordering::SeqCst);
                held.ack();
            })
            .join()
            .unwrap();
            waiter.join().unwrap()
        });
    }
    held.ack();
    producer.join();
    let s = rx.stats();
    assert_eq!((s.acked, s.unacked), (u64::from(ROUNDS) + 1, 0));
    assert_balanced(&s, u64::from(ROUNDS) + 1);
}

fn prefetch_bounds_a_shared_handle_under_concurrency(b: Backend) {
    const WORKERS: usize = 4;
    const MESSAGES: u32 = 300;
    for n in [1usize, 2] {
        let (tx, rx) = builder::<u32>(b).build();
        let rx = rx.with_prefetch(n);
        let producer = produce(tx, 0..MESSAGES);
        let outstanding = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let acks: Vec<AtomicUsize> = (0..MESSAGES).map(|_| AtomicUsize::new(0)).collect();
        let nacks = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..WORKERS {
                s.spawn(|| loop {
                    // Every worker shares the one handle (and its limit).
                    let d = match rx.recv_ack_timeout(TIMEOUT) {
                        Ok(d) => d,
                        Err(RecvTimeoutError::Closed) => break,
                        Err(RecvTimeoutError::Timeout) => panic!("no message within the timeout"),
                    };
                    let now = outstanding.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // Hold the delivery briefly, so that others contend.
                    for _ in 0..10 {
                        thread::yield_now();
                    }
                    outstanding.fetch_sub(1, Ordering::SeqCst);
                    // Every 7th message fails once: the requeue path too.
                    if *d.body() % 7 == 0 && !d.is_redelivered() {
                        nacks.fetch_add(1, Ordering::SeqCst);
                        d.nack(Requeue::Yes);
                        continue;
                    }
                    let msg = d.ack();
                    acks[*msg.body() as usize].fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        producer.join();
        let most = most.load(Ordering::SeqCst);
        assert!(
            (1..=n).contains(&most),
            "{b:?}: {most} deliveries out at once on a handle with prefetch {n}"
        );
        for (body, count) in acks.iter().enumerate() {
            let count = count.load(Ordering::SeqCst);
            assert_eq!(count, 1, "{b:?}: message {body} acked {count} times");
        }
        let nacks = nacks.load(Ordering::SeqCst) as u64;
        assert_eq!(nacks, u64::from(MESSAGES.div_ceil(7)));
        let s = rx.stats();
        assert_eq!(
            (s.acked, s.received, s.nacked, s.redelivered, s.unacked),
            (u64::from(MESSAGES), u64::from(MESSAGES), nacks, nacks, 0)
        );
        assert_balanced(&s, u64::from(MESSAGES));
    }
}

fn separate_handles_have_separate_limits(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let first = rx.clone().with_prefetch(1);
    let second = rx.clone().with_prefetch(1);
    let feed = feed(b, &tx, vec![1u32, 2, 3]);
    let a = take(&first);
    assert_eq!(
        first.try_recv_ack().unwrap_err(),
        TryRecvAckError::PrefetchFull
    );
    // The first handle being full does not limit the second.
    let b2 = take(&second);
    assert_eq!(
        second.try_recv_ack().unwrap_err(),
        TryRecvAckError::PrefetchFull
    );
    // Nor the handle without a limit.
    assert_eq!(rx.prefetch(), None);
    let c = take(&rx);
    assert_eq!((first.unacked(), second.unacked(), rx.unacked()), (1, 1, 1));
    assert_eq!(rx.stats().unacked, 3, "{b:?}");
    let mut bodies = vec![*a.body(), *b2.body(), *c.body()];
    bodies.sort_unstable();
    assert_eq!(bodies, [1, 2, 3]);
    a.ack();
    b2.ack();
    c.ack();
    feed.finish();
    let s = rx.stats();
    assert_eq!((s.acked, s.unacked), (3, 0));
    assert_balanced(&s, 3);
}

// ---------------------------------------------------------------------------
// 3. Confirm::Acked
// ---------------------------------------------------------------------------

fn confirm_acked_returns_only_after_the_ack(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let sender = confirmed_send(&tx, 5, Wait::Blocking);
    let d = take(&rx);
    // The consumer holds the delivery: the sender still waits.
    sender.assert_still_running();
    assert_eq!(rx.stats().unacked, 1);
    d.ack();
    sender.finish().expect("confirmed once acked");

    // A plain receive is an automatic ack: it confirms too.
    let sender = confirmed_send(&tx, 6, Wait::Blocking);
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().into_body(), 6);
    sender.finish().expect("confirmed by the plain receive");
    let s = rx.stats();
    assert_eq!((s.acked, s.received), (1, 2));
    assert_balanced(&s, 2);
}

fn confirm_acked_times_out_unconfirmed_while_received(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let sender = confirmed_send(&tx, 6, Wait::Timeout(CONFIRM_WAIT));
    let d = take(&rx);
    let err = sender.finish().expect_err("no ack within the wait");
    let SendTimeoutError::Unconfirmed(receipt) = err else {
        panic!("expected Unconfirmed, got {err:?}");
    };
    // Not lost: the consumer holds it.
    assert_eq!(receipt.state(), ReceiptState::Received, "{b:?}");
    assert!(!receipt.is_acked());
    d.ack();
    assert!(receipt.is_acked(), "the receipt follows the message on");
    let s = rx.stats();
    assert_eq!((s.acked, s.unacked), (1, 0));
    assert_balanced(&s, 1);
}

fn confirm_acked_unconfirmed_when_rejected(b: Backend) {
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    let sender = confirmed_send(&tx, 7, Wait::Blocking);
    take(&rx).reject();
    let err = sender.finish().expect_err("rejected, never acked");
    let SendTimeoutError::Unconfirmed(receipt) = err else {
        panic!("expected Unconfirmed, got {err:?}");
    };
    assert_eq!(
        receipt.state(),
        ReceiptState::DeadLettered(DeadLetterReason::Rejected),
        "{b:?}"
    );
    assert_eq!(dead_rx.try_recv().unwrap().into_body(), 7, "not lost");
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Rejected), 1);
    assert_balanced(&s, 1);
}

// ---------------------------------------------------------------------------
// 4. Receipts
// ---------------------------------------------------------------------------

fn receipt_life_cycle_through_a_requeue(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let (receipt, first) = if b.is_rendezvous() {
        // The tracked send returns once a receiver took the message: there
        // is no Queued to see from outside.
        let sender = {
            let tx = tx.clone();
            spawn("tracked sender", move || tx.send_tracked(1).unwrap())
        };
        let first = take(&rx);
        (sender.join(), first)
    } else {
        let receipt = tx.send_tracked(1).unwrap();
        assert_eq!(receipt.state(), ReceiptState::Queued);
        assert!(!receipt.is_delivered());
        (receipt, take(&rx))
    };
    assert_eq!(receipt.state(), ReceiptState::Received);
    assert!(receipt.is_delivered());
    assert!(!receipt.is_acked());

    let waiter = {
        let receipt = receipt.clone();
        background("wait_acked", move || receipt.wait_acked_timeout(TIMEOUT))
    };
    first.nack(Requeue::Yes);
    assert_eq!(receipt.state(), ReceiptState::Requeued);
    assert!(receipt.is_delivered(), "it was taken once");
    // A requeue is not an end: the wait goes on through it.
    waiter.assert_still_running();

    let second = take(&rx);
    assert!(second.is_redelivered());
    assert_eq!(receipt.state(), ReceiptState::Received);
    second.ack();
    assert_eq!(receipt.state(), ReceiptState::Acked);
    assert!(receipt.is_acked());
    assert_eq!(waiter.finish(), Ok(()));
    assert_eq!(receipt.wait_acked(), Ok(()));
    assert_eq!(receipt.wait(), Ok(()));
    assert_balanced(&rx.stats(), 1);
}

fn receipt_of_a_rejected_message_says_it_was_delivered(b: Backend) {
    // `Receipt::is_delivered`: "whether a receiver has taken the message (at
    // least once)"; `wait`: fails "if the message ended without being
    // taken". A rejected message was taken.
    let (dead_tx, _dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    let feed = feed_tracked(b, &tx, vec![1u32]);
    take(&rx).reject();
    let receipt = feed.receipt();
    feed.finish();
    assert_eq!(
        receipt.state(),
        ReceiptState::DeadLettered(DeadLetterReason::Rejected)
    );
    assert!(
        receipt.is_delivered(),
        "{b:?}: a consumer took the message, then rejected it"
    );
    assert_eq!(receipt.wait_timeout(TIMEOUT), Ok(()));
}

fn receipt_final_states(b: Backend) {
    let cap = b.room(usize::MAX);
    let office = PostOffice::new();
    let letters = office.dead_letters();

    // Rejected.
    let (tx, rx) = office_mailbox(&office, "reject", b, |m| m);
    let rejected = tx.send_tracked(1).unwrap();
    take(&rx).reject();

    // MaxRedeliveries.
    let (tx, rx) = office_mailbox(&office, "poison", b, |m| m.max_redeliveries(0));
    let poison = tx.send_tracked(2).unwrap();
    take(&rx).nack(Requeue::Yes);

    // Overflow: the head is evicted by a send to the full mailbox.
    let (tx, rx) = office_mailbox(&office, "overflow", b, |m| m.overflow(Overflow::DropOldest));
    let evicted = tx.send_tracked(3).unwrap();
    for n in 1..=cap as u32 {
        tx.send(n).unwrap();
    }
    assert_eq!(rx.len(), cap);

    // Destroyed.
    let (tx, _rx) = office_mailbox(&office, "destroyed", b, |m| m);
    let destroyed = tx.send_tracked(4).unwrap();
    office.destroy("destroyed").unwrap();

    // Expired.
    let (tx, rx) = office_mailbox(&office, "expired", b, |m| m);
    let expired = tx
        .send_tracked(Message::new(5).ttl(Duration::ZERO))
        .unwrap();
    assert!(
        rx.try_recv_ack().is_err(),
        "an expired message is never delivered"
    );

    // Dropped: a standalone mailbox without a dead-letter place loses its
    // last receiver.
    let (tx, rx) = builder::<u32>(b).build();
    let dropped = tx.send_tracked(6).unwrap();
    drop(rx);

    let cases = [
        (
            &rejected,
            ReceiptState::DeadLettered(DeadLetterReason::Rejected),
            ReceiptError::DeadLettered(DeadLetterReason::Rejected),
        ),
        (
            &poison,
            ReceiptState::DeadLettered(DeadLetterReason::MaxRedeliveries),
            ReceiptError::DeadLettered(DeadLetterReason::MaxRedeliveries),
        ),
        (
            &evicted,
            ReceiptState::DeadLettered(DeadLetterReason::Overflow),
            ReceiptError::DeadLettered(DeadLetterReason::Overflow),
        ),
        (
            &destroyed,
            ReceiptState::DeadLettered(DeadLetterReason::Destroyed),
            ReceiptError::DeadLettered(DeadLetterReason::Destroyed),
        ),
        (&expired, ReceiptState::Expired, ReceiptError::Expired),
        (&dropped, ReceiptState::Dropped, ReceiptError::Closed),
    ];
    for (receipt, state, error) in cases {
        assert_eq!(receipt.state(), state, "{b:?}");
        assert!(state.is_final());
        assert!(!receipt.is_acked());
        // Final: the waits return at once with where it ended.
        assert_eq!(receipt.wait_acked(), Err(error));
        assert_eq!(receipt.wait_acked_timeout(TIMEOUT), Err(error));
    }
    for reason in [
        DeadLetterReason::Rejected,
        DeadLetterReason::MaxRedeliveries,
        DeadLetterReason::Overflow,
        DeadLetterReason::Destroyed,
        DeadLetterReason::Expired,
    ] {
        assert_eq!(letters.count(reason), 1, "{reason:?}");
    }
}

// ---------------------------------------------------------------------------
// 5. Time to live
// ---------------------------------------------------------------------------

fn expired_messages_are_never_delivered(b: Backend) {
    let office = PostOffice::new();
    let (tx, rx) = office_mailbox(&office, "ttl", b, |m| m.ttl(TTL));
    let by_default = tx.send_tracked(1).unwrap();
    // Its own time to live wins over the mailbox's: it outlives the default.
    let own_long = tx
        .send_tracked(Message::new(2).ttl(Duration::from_secs(600)))
        .unwrap();
    let own_zero = tx
        .send_tracked(Message::new(3).ttl(Duration::ZERO))
        .unwrap();
    let by_default2 = tx.send_tracked(4).unwrap();
    let sent_at = Instant::now();
    // Time is the behaviour here: wait until the default has run out.
    sleep_past(sent_at + TTL);

    // 1 is skipped on the way to the live 2; 3 and 4 on the way to Empty.
    let d = take(&rx);
    assert_eq!(*d.body(), 2, "{b:?}");
    assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Empty);
    d.ack();
    assert!(own_long.is_acked());
    for receipt in [&by_default, &own_zero, &by_default2] {
        assert_eq!(receipt.state(), ReceiptState::Expired);
        assert_eq!(receipt.wait_acked(), Err(ReceiptError::Expired));
    }
    let letters = office.dead_letters().drain::<u32>();
    let seen: Vec<_> = letters.iter().map(|l| (l.reason(), *l.body())).collect();
    assert_eq!(
        seen,
        [
            (DeadLetterReason::Expired, 1),
            (DeadLetterReason::Expired, 3),
            (DeadLetterReason::Expired, 4),
        ]
    );
    for letter in &letters {
        let at = letter
            .header()
            .expires_at()
            .expect("an expiry in the header");
        assert!(letter.header().is_expired_at(Instant::now()));
        assert!(at <= Instant::now());
    }
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Expired), 3);
    assert_eq!((s.dead_lettered, s.received, s.len), (3, 1, 0));
    assert_balanced(&s, 4);

    // Its own time to live wins the other way too: shorter than the default.
    let (tx, rx) = builder::<u32>(b).ttl(Duration::from_secs(600)).build();
    tx.send(Message::new(5).ttl(Duration::ZERO)).unwrap();
    tx.send(6).unwrap();
    assert_eq!(take(&rx).ack().into_body(), 6);
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Expired), 1);
    assert_eq!(s.dropped, 1, "standalone: nowhere to put it");
    assert_balanced(&s, 2);
}

fn expiring_in_flight_is_still_ackable_and_not_redelivered(b: Backend) {
    // Long enough for the receiver to take both before they expire.
    const IN_FLIGHT_TTL: Duration = Duration::from_millis(100);
    let office = PostOffice::new();
    let (tx, rx) = office_mailbox(&office, "in-flight", b, |m| m);
    let feed = feed_tracked(
        b,
        &tx,
        vec![
            Message::new(1).ttl(IN_FLIGHT_TTL),
            Message::new(2).ttl(IN_FLIGHT_TTL),
        ],
    );
    let kept = take(&rx);
    let given_back = take(&rx);
    let (r1, r2) = (feed.receipt(), feed.receipt());
    feed.finish();
    let expires = kept.header().expires_at().unwrap();
    // Time is the behaviour here: both run out while out as deliveries.
    sleep_past(expires.max(given_back.header().expires_at().unwrap()));
    assert!(kept.header().is_expired_at(Instant::now()));

    // TTL applies to queued messages: the delivery is still answered.
    assert_eq!(kept.ack().into_body(), 1, "{b:?}");
    assert!(r1.is_acked());

    // Given back, it is queued again, and expired: never delivered again.
    given_back.nack(Requeue::Yes);
    assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Empty);
    assert_eq!(r2.state(), ReceiptState::Expired);
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason(), DeadLetterReason::Expired);
    assert_eq!(*letters[0].body(), 2);
    assert_eq!(letters[0].header().redeliveries(), 1);
    let s = rx.stats();
    assert_eq!((s.acked, s.redelivered, s.nacked), (1, 1, 1));
    assert_eq!(s.dead_letters.get(DeadLetterReason::Expired), 1);
    assert_balanced(&s, 2);
}

fn expired_dead_letters_can_be_read_from_a_typed_dead_letter_mailbox(b: Backend) {
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    tx.send(Message::new(1).ttl(Duration::ZERO)).unwrap();
    tx.send(2).unwrap();
    assert_eq!(take(&rx).ack().into_body(), 2);
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Expired), 1);
    assert_eq!(
        s.dead_lettered, 1,
        "counted as placed in the dead-letter mailbox"
    );
    assert_balanced(&s, 2);
    // Placed there, it must be readable there: a dead letter is kept for
    // someone to look at, not expired a second time.
    let letter = dead_rx.try_recv();
    let dead_stats = dead_rx.stats();
    assert_eq!(
        letter.map(Message::into_body),
        Ok(1),
        "{b:?}: the expired dead letter was lost in the dead-letter mailbox ({dead_stats:?})"
    );
}

// ---------------------------------------------------------------------------
// 6. Overflow policies
// ---------------------------------------------------------------------------

fn overflow_block_waits_for_a_receive(b: Backend) {
    let cap = b.room(usize::MAX) as u32;
    let (tx, rx) = builder::<u32>(b).overflow(Overflow::Block).build();
    for n in 0..cap {
        tx.try_send(n).unwrap();
    }
    assert!(tx.is_full());
    let sender = {
        let tx = tx.clone();
        background("blocked sender", move || tx.send(cap))
    };
    wait_until("the sender found the mailbox full", || {
        tx.stats().found_full == 1
    });
    sender.assert_still_running();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().into_body(), 0);
    sender.finish().expect("released by the receive");
    assert_eq!(drain_bodies(&rx), (1..=cap).collect::<Vec<_>>(), "{b:?}");
    let s = rx.stats();
    assert_eq!((s.found_full, s.dead_letters.total()), (1, 0));
    assert_balanced(&s, u64::from(cap) + 1);
}

fn overflow_reject_fails_at_once(b: Backend) {
    let cap = b.room(usize::MAX) as u32;
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b)
        .overflow(Overflow::Reject)
        .dead_letters(dead_tx)
        .build();
    for n in 0..cap {
        tx.send(n).unwrap();
    }
    let err = tx.try_send(100).unwrap_err();
    assert!(matches!(err, TrySendError::Full(_)), "{err:?}");
    assert_eq!(err.into_inner(), Some(100));

    // Sends that would wait (forever, or far longer than the test) fail at
    // once too: the thread must be done well within its waits.
    let sender = {
        let tx = tx.clone();
        background("rejected sender", move || {
            let blocking = tx.send(101);
            let timeout = tx.send_timeout(102, FOREVER);
            let with = tx.send_with(103, Wait::Blocking, Confirm::Acked);
            (blocking, timeout, with)
        })
    };
    let (blocking, timeout, with) = sender.finish();
    let blocking = blocking.unwrap_err();
    assert!(matches!(blocking, SendError::Full(_)), "{blocking:?}");
    assert!(blocking.is_full());
    assert_eq!(blocking.into_inner(), Some(101));
    let timeout = timeout.unwrap_err();
    assert!(matches!(timeout, SendTimeoutError::Full(_)), "{timeout:?}");
    assert_eq!(timeout.into_inner(), Some(102));
    let with = with.unwrap_err();
    assert!(matches!(with, SendTimeoutError::Full(_)), "{with:?}");
    assert_eq!(with.into_inner(), Some(103));

    // Nothing was evicted or dead-lettered; the queue is as it was.
    assert!(dead_rx.is_empty());
    let s = rx.stats();
    assert_eq!(
        (s.found_full, s.dead_letters.total(), s.len),
        (4, 0, cap as usize)
    );
    assert_balanced(&s, u64::from(cap));
    assert_eq!(drain_bodies(&rx), (0..cap).collect::<Vec<_>>(), "{b:?}");
}

fn overflow_drop_oldest_evicts_the_head(b: Backend) {
    let cap = b.room(usize::MAX) as u32;
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b)
        .overflow(Overflow::DropOldest)
        .dead_letters(dead_tx)
        .build();
    let head = tx.send_tracked(0).unwrap();
    for n in 1..cap {
        tx.send(n).unwrap();
    }
    // A blocking send to the full mailbox evicts the head and queues.
    tx.send(cap).unwrap();
    assert_eq!(
        head.state(),
        ReceiptState::DeadLettered(DeadLetterReason::Overflow)
    );
    // So does a non-blocking one.
    tx.try_send(cap + 1).unwrap();
    assert_eq!(drain_bodies(&dead_rx), [0, 1]);
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Overflow), 2);
    assert_eq!((s.found_full, s.dead_lettered, s.len), (2, 2, cap as usize));
    assert_balanced(&s, u64::from(cap) + 2);
    assert_eq!(
        drain_bodies(&rx),
        (2..=cap + 1).collect::<Vec<_>>(),
        "{b:?}"
    );

    if b.levels().is_some() {
        // In a priority mailbox the head is the oldest of the most urgent
        // level (RabbitMQ's drop-head).
        let (dead_tx, dead_rx) = dead_letter_box::<u32>();
        let (tx, rx) = builder::<u32>(b)
            .overflow(Overflow::DropOldest)
            .dead_letters(dead_tx)
            .build();
        tx.send(Message::new(50).priority(5)).unwrap();
        for n in 1..cap {
            tx.send(Message::new(n).priority(1)).unwrap();
        }
        tx.send(Message::new(cap).priority(1)).unwrap();
        assert_eq!(drain_bodies(&dead_rx), [50]);
        assert_eq!(drain_bodies(&rx), (1..=cap).collect::<Vec<_>>());
    }
}

fn an_expired_message_evicted_for_room_is_labelled_expired(b: Backend) {
    let cap = b.room(usize::MAX) as u32;
    for policy in [Overflow::DropOldest, Overflow::DropLowest] {
        let (tx, rx) = builder::<u32>(b).overflow(policy).build();
        // The head's time ran out while it was queued (expiry is checked
        // when a message leaves, so it is still there).
        let head = tx
            .send_tracked(Message::new(0).ttl(Duration::ZERO))
            .unwrap();
        for n in 1..cap {
            tx.send(n).unwrap();
        }
        tx.send(cap).unwrap();
        assert_eq!(head.state(), ReceiptState::Expired, "{b:?} {policy:?}");
        let s = rx.stats();
        assert_eq!(
            (
                s.dead_letters.get(DeadLetterReason::Expired),
                s.dead_letters.get(DeadLetterReason::Overflow)
            ),
            (1, 0),
            "{b:?} {policy:?}"
        );
        assert_balanced(&s, u64::from(cap) + 1);
        assert_eq!(drain_bodies(&rx), (1..=cap).collect::<Vec<_>>());
    }
}

fn overflow_drop_lowest_evicts_the_least_urgent(b: Backend) {
    let cap = b.room(usize::MAX) as u32;
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b)
        .overflow(Overflow::DropLowest)
        .dead_letters(dead_tx)
        .build();
    if b.levels().is_none() {
        // One level: DropLowest is DropOldest.
        for n in 0..=cap {
            tx.send(n).unwrap();
        }
        assert_eq!(drain_bodies(&dead_rx), [0]);
        assert_eq!(drain_bodies(&rx), (1..=cap).collect::<Vec<_>>());
        let s = rx.stats();
        assert_eq!(s.dead_letters.get(DeadLetterReason::Overflow), 1);
        assert_balanced(&s, u64::from(cap) + 1);
        return;
    }
    assert_eq!(cap, 4, "the plan below fills four slots");
    // Several levels queued: 5, 3, 1, 1.
    tx.send(Message::new(50).priority(5)).unwrap();
    tx.send(Message::new(30).priority(3)).unwrap();
    tx.send(Message::new(10).priority(1)).unwrap();
    tx.send(Message::new(11).priority(1)).unwrap();
    // A level-2 message evicts the oldest of the lowest level (10).
    tx.send(Message::new(20).priority(2)).unwrap();
    // A level-1 message, equal to the lowest: the older one (11) goes.
    let lowest_equal = tx.send_tracked(Message::new(12).priority(1));
    assert!(lowest_equal.is_ok(), "{b:?}");
    // A level-0 message is less urgent than everything queued: refused, even
    // by a blocking send, and handed back.
    let refused = tx.send(Message::new(0).priority(0)).unwrap_err();
    assert!(refused.is_full(), "{refused:?}");
    assert_eq!(refused.into_inner(), Some(0));

    assert_eq!(drain_bodies(&dead_rx), [10, 11], "{b:?}");
    let s = rx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::Overflow), 2);
    assert_eq!((s.found_full, s.len), (3, 4));
    assert_balanced(&s, 6);
    assert_eq!(drain_bodies(&rx), [50, 30, 20, 12]);
}

fn drop_policies_refuse_like_reject(b: Backend) {
    for policy in [Overflow::Reject, Overflow::DropOldest, Overflow::DropLowest] {
        let (dead_tx, dead_rx) = dead_letter_box::<u32>();
        let (tx, rx) = builder::<u32>(b)
            .overflow(policy)
            .dead_letters(dead_tx)
            .build();
        let err = tx.try_send(1).unwrap_err();
        assert!(err.is_full(), "{b:?} {policy:?}: {err:?}");
        assert_eq!(err.into_inner(), Some(1));
        let sender = {
            let tx = tx.clone();
            background("refused sender", move || {
                (tx.send(2), tx.send_timeout(3, FOREVER))
            })
        };
        let (blocking, timeout) = sender.finish();
        let blocking = blocking.unwrap_err();
        assert!(blocking.is_full(), "{b:?} {policy:?}: {blocking:?}");
        assert_eq!(blocking.into_inner(), Some(2));
        let timeout = timeout.unwrap_err();
        assert!(timeout.is_full(), "{b:?} {policy:?}: {timeout:?}");
        assert_eq!(timeout.into_inner(), Some(3));
        assert!(dead_rx.is_empty(), "nothing to evict on a rendezvous");
        let s = rx.stats();
        assert_eq!((s.found_full, s.dead_letters.total()), (3, 0));
        assert_balanced(&s, 0);
        drop(rx);
    }
}

// ---------------------------------------------------------------------------
// 7. Delayed requeue
// ---------------------------------------------------------------------------

fn requeue_after_comes_back_after_the_delay(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed_tracked(b, &tx, vec![1u32]);
    let d = take(&rx);
    let receipt = feed.receipt();
    feed.finish();
    let given_back = Instant::now();
    d.nack(Requeue::After(DELAY));

    let early = rx.try_recv_ack();
    let meanwhile = rx.stats();
    let state = receipt.state();
    // A slow machine may already be past the delay; if not, nothing is
    // available yet and the message is counted as delayed.
    if given_back.elapsed() < DELAY {
        assert_eq!(
            early.map(|d| *d.body()).unwrap_err(),
            TryRecvAckError::Empty
        );
        assert_eq!((meanwhile.delayed, meanwhile.len), (1, 0), "{b:?}");
        assert_eq!((meanwhile.unacked, meanwhile.redelivered), (0, 1));
        assert_eq!(state, ReceiptState::Requeued);
        assert_balanced(&meanwhile, 1);
    } else {
        drop(early);
    }

    let back = take(&rx);
    assert!(
        given_back.elapsed() >= DELAY,
        "{b:?}: came back after {:?}, before the delay",
        given_back.elapsed()
    );
    assert_eq!((*back.body(), back.header().redeliveries()), (1, 1));
    assert_eq!(receipt.state(), ReceiptState::Received);
    wait_until("delayed back to 0", || rx.stats().delayed == 0);
    back.ack();
    assert!(receipt.is_acked());
    let s = rx.stats();
    assert_eq!((s.acked, s.nacked, s.redelivered, s.delayed), (1, 1, 1, 0));
    assert_balanced(&s, 1);
}

fn closed_mailbox_waits_for_a_delayed_requeue(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed(b, &tx, vec![1u32]);
    let d = take(&rx);
    feed.finish();
    drop(tx);
    assert!(rx.is_closed());
    let given_back = Instant::now();
    d.nack(Requeue::After(DELAY));

    let early = rx.try_recv_ack().map(|d| *d.body());
    if given_back.elapsed() < DELAY {
        // Not Closed: something will still come.
        assert_eq!(early, Err(TryRecvAckError::Empty), "{b:?}");
    }
    let waiter = background("recv_ack on a closed mailbox", move || {
        let got = rx
            .recv_ack()
            .map(|d| (d.header().redeliveries(), d.ack().into_body()));
        (got, rx)
    });
    let (got, rx) = waiter.finish();
    assert_eq!(
        got,
        Ok((1, 1)),
        "{b:?}: recv_ack must wait for the delayed message"
    );
    assert!(given_back.elapsed() >= DELAY);
    // Now nothing will come.
    assert_eq!(rx.recv_ack().map(|d| *d.body()), Err(RecvError));
    assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Closed);
    wait_until("delayed back to 0", || rx.stats().delayed == 0);
    let s = rx.stats();
    assert_eq!((s.acked, s.redelivered), (1, 1));
    assert_balanced(&s, 1);
}

fn destroy_sends_delayed_messages_to_dead_letters_at_once(b: Backend) {
    let office = PostOffice::new();
    let (tx, rx) = office_mailbox(&office, "delayed", b, |m| m);
    let feed = feed_tracked(b, &tx, vec![1u32]);
    let d = take(&rx);
    let receipt = feed.receipt();
    feed.finish();
    // Far beyond the test: it must not come back by itself.
    d.nack(Requeue::After(FOREVER));
    assert_eq!(rx.stats().delayed, 1);
    assert_eq!(receipt.state(), ReceiptState::Requeued);

    office.destroy("delayed").unwrap();
    let s = rx.stats();
    assert_eq!(s.delayed, 0, "{b:?}: settled at once");
    assert_eq!(
        receipt.state(),
        ReceiptState::DeadLettered(DeadLetterReason::Destroyed)
    );
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].reason(), DeadLetterReason::Destroyed);
    assert_eq!(letters[0].mailbox(), "delayed");
    assert_eq!(
        (*letters[0].body(), letters[0].header().redeliveries()),
        (1, 1)
    );
    assert_eq!(s.dead_letters.get(DeadLetterReason::Destroyed), 1);
    assert_eq!(s.dead_lettered, 1);
    assert_balanced(&s, 1);
    assert_eq!(rx.try_recv_ack().unwrap_err(), TryRecvAckError::Closed);
}

// ---------------------------------------------------------------------------
// 8. Dead-letter reasons and statistics
// ---------------------------------------------------------------------------

fn every_dead_letter_reason_reaches_the_office_store(b: Backend) {
    let cap = b.room(usize::MAX) as u32;
    let office = PostOffice::new();
    let (tx, rx) = office_mailbox(&office, "letters", b, |m| {
        m.overflow(Overflow::DropOldest).max_redeliveries(0)
    });
    // Rejected.
    tx.send(10).unwrap();
    take(&rx).reject();
    // MaxRedeliveries.
    tx.send(20).unwrap();
    take(&rx).nack(Requeue::Yes);
    // Expired (31 is delivered past it).
    tx.send(Message::new(30).ttl(Duration::ZERO)).unwrap();
    tx.send(31).unwrap();
    assert_eq!(take(&rx).ack().into_body(), 31);
    // Overflow.
    for n in 0..=cap {
        tx.send(40 + n).unwrap();
    }
    // Destroyed: what is still queued.
    office.destroy("letters").unwrap();

    let store = office.dead_letters();
    let letters = store.drain::<u32>();
    let seen: Vec<_> = letters.iter().map(|l| (l.reason(), *l.body())).collect();
    let mut expected = vec![
        (DeadLetterReason::Rejected, 10),
        (DeadLetterReason::MaxRedeliveries, 20),
        (DeadLetterReason::Expired, 30),
        (DeadLetterReason::Overflow, 40),
    ];
    expected.extend((41..=40 + cap).map(|n| (DeadLetterReason::Destroyed, n)));
    assert_eq!(seen, expected, "{b:?}");
    assert!(letters.iter().all(|l| l.mailbox() == "letters"));
    assert!(letters.iter().all(|l| l.header().redeliveries() == 0));

    let s = rx.stats();
    for (reason, count) in [
        (DeadLetterReason::Rejected, 1),
        (DeadLetterReason::Expired, 1),
        (DeadLetterReason::MaxRedeliveries, 1),
        (DeadLetterReason::Overflow, 1),
        (DeadLetterReason::Destroyed, u64::from(cap)),
        // An office mailbox is held open by the office: it never loses its
        // last receiver.
        (DeadLetterReason::NoReceivers, 0),
    ] {
        assert_eq!(store.count(reason), count, "store, {reason:?}");
        assert_eq!(s.dead_letters.get(reason), count, "stats, {reason:?}");
    }
    assert_eq!((s.dead_lettered, s.dropped), (u64::from(cap) + 4, 0));
    assert_eq!((s.received, s.acked, s.nacked, s.found_full), (1, 1, 2, 1));
    assert_balanced(&s, u64::from(cap) + 5);
}

fn no_receivers_dead_letters_reach_a_typed_dead_letter_mailbox(b: Backend) {
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    let r1 = tx.send_tracked(1).unwrap();
    tx.send(2).unwrap();
    drop(rx);
    assert_eq!(
        r1.state(),
        ReceiptState::DeadLettered(DeadLetterReason::NoReceivers)
    );
    assert_eq!(drain_bodies(&dead_rx), [1, 2], "{b:?}");
    let s = tx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::NoReceivers), 2);
    assert_eq!((s.dead_lettered, s.dropped), (2, 0));
    assert_balanced(&s, 2);

    // Without a dead-letter place they are dropped, and counted.
    let (tx, rx) = builder::<u32>(b).build();
    let r = tx.send_tracked(3).unwrap();
    drop(rx);
    assert_eq!(r.state(), ReceiptState::Dropped);
    let s = tx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::NoReceivers), 1);
    assert_eq!((s.dead_lettered, s.dropped), (0, 1));
    assert_balanced(&s, 1);
}

// ---------------------------------------------------------------------------
// 9. Ports, topic subscribers, process inboxes
// ---------------------------------------------------------------------------

#[test]
fn recv_ack_on_a_port() {
    let office = PostOffice::new();
    let port = office
        .port::<u32>("port", Port::builder().capacity(4))
        .unwrap()
        .with_prefetch(1);
    let tx = office.connect_sender::<u32>("port").unwrap();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let d = port.recv_ack().unwrap();
    assert_eq!(*d.body(), 1);
    assert_eq!(port.unacked(), 1);
    assert_eq!(
        port.try_recv_ack().unwrap_err(),
        TryRecvAckError::PrefetchFull
    );
    assert_eq!(port.prefetch(), Some(1));
    d.nack(Requeue::Yes);
    let d = port.recv_ack_deadline(Instant::now() + TIMEOUT).unwrap();
    assert_eq!((*d.body(), d.header().redeliveries()), (1, 1));
    d.ack();
    let d = port.recv_ack_with(Wait::NonBlocking).unwrap();
    assert_eq!(*d.body(), 2);
    d.reject();
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (
            letters[0].reason(),
            letters[0].mailbox(),
            *letters[0].body()
        ),
        (DeadLetterReason::Rejected, "port", 2)
    );
    let s = port.stats();
    assert_eq!((s.acked, s.nacked, s.redelivered, s.unacked), (1, 2, 1, 0));
    assert_eq!(s.dead_letters.get(DeadLetterReason::Rejected), 1);
    assert_balanced(&s, 2);
}

#[test]
fn recv_ack_on_a_topic_subscriber() {
    let topic = Topic::<u32>::builder().capacity(4).build();
    let slow = topic.subscribe().with_prefetch(1);
    let other = topic.subscribe();
    assert_eq!(topic.publish(1).unwrap(), 2);
    assert_eq!(topic.publish(2).unwrap(), 2);

    let d = slow.recv_ack_timeout(TIMEOUT).unwrap();
    assert_eq!(*d.body(), 1);
    assert_eq!(
        slow.try_recv_ack().unwrap_err(),
        TryRecvAckError::PrefetchFull
    );
    assert_eq!((slow.prefetch(), slow.unacked()), (Some(1), 1));
    drop(d); // back to the front of this subscriber's queue only
    let d = slow.recv_ack_deadline(Instant::now() + TIMEOUT).unwrap();
    assert_eq!((*d.body(), d.header().redeliveries()), (1, 1));
    d.ack();
    assert_eq!(slow.recv_ack().unwrap().ack().into_body(), 2);

    // The other subscriber's copies are untouched.
    for n in [1, 2] {
        let d = other.try_recv_ack().unwrap();
        assert_eq!((*d.body(), d.header().redeliveries()), (n, 0));
        d.ack();
    }
    let s = slow.stats();
    assert_eq!((s.acked, s.nacked, s.redelivered, s.unacked), (2, 1, 1, 0));
    assert_balanced(&s, 2);
    let s = other.stats();
    assert_eq!((s.acked, s.nacked, s.redelivered), (2, 0, 0));
    assert_balanced(&s, 2);
}

#[test]
fn recv_ack_on_a_process_inbox_with_set_aside_messages() {
    let office = PostOffice::new();
    let worker = office.anonymous::<u32>();
    let alice = office.anonymous::<u32>();
    let bob = office.anonymous::<u32>();
    let to = worker.address();
    alice.send_to(&to, 1).unwrap();
    alice.send_to(&to, 3).unwrap();
    bob.send_to(&to, 2).unwrap();
    alice.send_to(&to, 4).unwrap();

    // Explicit receive: bob's message; alice's 1 and 3 are set aside.
    assert_eq!(worker.recv_from(bob.pid()).unwrap().into_body(), 2);
    assert_eq!(worker.len(), 3);
    let worker = worker.with_prefetch(1);

    // A set-aside message is handed out first, as a delivery.
    let d = worker.recv_ack().unwrap();
    assert_eq!((*d.body(), d.header().source()), (1, Some(alice.pid())));
    // At the limit, the next set-aside message stays where it is.
    assert_eq!(
        worker.try_recv_ack().unwrap_err(),
        TryRecvAckError::PrefetchFull
    );
    assert_eq!(
        worker.recv_ack_timeout(SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert_eq!(
        worker.recv_ack_deadline(Instant::now()).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert_eq!((worker.prefetch(), worker.unacked()), (Some(1), 1));
    assert_eq!(worker.len(), 2);

    // Given back, it is not lost.
    d.nack(Requeue::Yes);
    assert_eq!(worker.len(), 3);
    let mut order = Vec::new();
    for _ in 0..3 {
        let d = worker.recv_ack_timeout(TIMEOUT).unwrap();
        order.push((*d.body(), d.header().redeliveries(), d.header().source()));
        d.ack();
    }
    // `Requeue::Yes`: delivered again before the later messages, the
    // set-aside 3 included (issue 10, defect 10), then the inbox's 4.
    let a = Some(alice.pid());
    assert_eq!(order, [(1, 1, a), (3, 0, a), (4, 0, a)]);
    assert!(worker.is_empty());
    let s = worker.stats();
    assert_eq!((s.received, s.acked, s.nacked, s.redelivered), (4, 3, 1, 1));
    assert_eq!((s.unacked, s.len), (0, 0));
    assert_balanced(&s, 4);
}

// ---------------------------------------------------------------------------
// 10. Deliveries outliving their handle
// ---------------------------------------------------------------------------

fn delivery_outlives_its_receiver_handle(b: Backend) {
    let (tx, rx) = builder::<u32>(b).build();
    let feed = feed(b, &tx, vec![1u32, 2]);
    let short_lived = rx.clone().with_prefetch(2);
    // Owned deliveries: they outlive the handle, and may change threads.
    let d1 = take(&short_lived).into_owned();
    let d2 = take(&short_lived).into_owned();
    drop(short_lived);
    feed.finish();
    assert!(!rx.is_closed(), "another receiver keeps it open");
    let s = rx.stats();
    assert_eq!(
        s.unacked, 2,
        "{b:?}: the dropped handle's deliveries still count"
    );
    assert_balanced(&s, 2);

    d1.nack(Requeue::Yes);
    // Answered on another thread.
    let acked = spawn("acking thread", move || d2.ack().into_body()).join();
    assert_eq!(acked, 2);
    let again = take(&rx);
    assert_eq!((*again.body(), again.header().redeliveries()), (1, 1));
    again.ack();
    let s = rx.stats();
    assert_eq!(
        (s.acked, s.received, s.nacked, s.redelivered, s.unacked),
        (2, 2, 1, 1, 0)
    );
    assert_balanced(&s, 2);
}

fn delivery_outliving_the_last_receiver_ends_in_dead_letters(b: Backend) {
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    let feed = feed(b, &tx, vec![1u32, 2]);
    let d1 = take(&rx).into_owned();
    let d2 = take(&rx).into_owned();
    feed.finish();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.stats().unacked, 2);
    // Nobody can take it again: given back, it is a dead letter.
    d1.nack(Requeue::Yes);
    assert_eq!(d2.ack().into_body(), 2);
    assert_eq!(drain_bodies(&dead_rx), [1], "{b:?}");
    let s = tx.stats();
    assert_eq!(s.dead_letters.get(DeadLetterReason::NoReceivers), 1);
    assert_eq!((s.acked, s.unacked, s.len), (1, 0, 0));
    assert_balanced(&s, 2);
}

/// A borrowed delivery may be answered on a scoped thread while its handle
/// lives; one made owned (twice over) still answers once, and one owned and
/// dropped unanswered after its handle went is requeued, into dead letters.
fn borrowed_and_owned_deliveries_answer_once(b: Backend) {
    let (dead_tx, dead_rx) = dead_letter_box::<u32>();
    let (tx, rx) = builder::<u32>(b).dead_letters(dead_tx).build();
    let feed = feed(b, &tx, vec![1u32, 2, 3]);
    let first = take(&rx);
    let acked = thread::scope(|s| s.spawn(move || first.ack().into_body()).join());
    assert_eq!(acked.ok(), Some(1), "{b:?}");
    let second = take(&rx).into_owned().into_owned();
    let third = take(&rx).into_owned();
    feed.finish();
    assert_eq!(
        rx.unacked(),
        2,
        "{b:?}: owned deliveries count while the handle lives"
    );
    drop(rx);
    assert_eq!(second.ack().into_body(), 2);
    drop(third);
    assert_eq!(drain_bodies(&dead_rx), [3], "{b:?}");
    let s = tx.stats();
    assert_eq!(
        (s.acked, s.nacked, s.unacked, s.len),
        (2, 1, 0, 0),
        "{b:?}: {s:?}"
    );
    assert_eq!(s.dead_letters.get(DeadLetterReason::NoReceivers), 1);
    assert_balanced(&s, 3);
}
