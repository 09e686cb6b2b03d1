//! Issue 10, defect 13 (second half): the count a publish returns is exactly
//! the subscribers whose queues took the copy while they were subscribed, and
//! the topic's statistics agree with it. A publisher racing with a subscriber
//! being dropped used to count a copy that landed in the departing
//! subscriber's queue after its receiver had begun to go (the FIFO backend
//! checks its closed flag, then pushes, into room the drop's own drain had
//! just made), so the copy was dropped with the subscriber yet counted:
//! `tests/topic.rs::blocked_publisher_wakes_when_the_full_subscriber_is_dropped`
//! saw 3 for 2 subscribers.
//!
//! The races are repeated many times, each bounded in time; every wait is
//! bounded by `common::TIMEOUT`.

mod common;

use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn, wait_until, TIMEOUT};
use postbox::{Message, PublishError, SlowSubscriber, Subscriber, Topic, TopicBuilder};

/// Both backends a topic can build its subscribers' queues on (as in
/// `tests/topic.rs`).
fn builders(capacity: usize) -> [(&'static str, TopicBuilder<u32>); 2] {
    [
        ("fifo", Topic::<u32>::builder().fifo().capacity(capacity)),
        (
            "priority",
            Topic::<u32>::builder().priority(4).capacity(capacity),
        ),
    ]
}

const POLICIES: [SlowSubscriber; 3] = [
    SlowSubscriber::Block,
    SlowSubscriber::DropOldest,
    SlowSubscriber::Reject,
];

/// Everything queued for `sub` now, bodies only.
fn drain<T: Send>(sub: &Subscriber<T>) -> Vec<T> {
    sub.try_iter().map(Message::into_body).collect()
}

/// How many subscribers a publish reports as having got the message: the
/// count it returned, or the one in its `Full` error.
fn count_of(result: Result<usize, PublishError<u32>>) -> usize {
    match result {
        Ok(n) => n,
        Err(err @ PublishError::Full { .. }) => err.delivered(),
        Err(err) => panic!("unexpected publish error: {err:?}"),
    }
}

/// Runs `round(i)` for i = 0, 1, ... up to `rounds` times or until `budget`
/// has passed (at least once); returns how many rounds ran.
fn repeat(rounds: usize, budget: Duration, mut round: impl FnMut(usize)) -> usize {
    let start = Instant::now();
    let mut i = 0;
    while i < rounds && (i == 0 || start.elapsed() < budget) {
        round(i);
        i += 1;
    }
    i
}

/// A publisher blocked on (or offering to) a full subscriber while that
/// subscriber is dropped: the count it returns is the subscribers that
/// received the copy, and every copy the topic counted is received, evicted
/// or abandoned with the dropped subscriber, for every slow-subscriber policy
/// on both backends.
///
/// The slow subscriber is full throughout (capacity 1, never received from),
/// so under `Block` and `Reject` no copy can reach it before it leaves: the
/// count is exactly 2, the fast subscribers. Under `DropOldest` the publisher
/// makes room by evicting, so the copy may be queued while the slow
/// subscriber is still subscribed; then it is counted, and abandoned when the
/// subscriber is dropped.
///
/// The race needs the publisher to be preempted between the queue's closed
/// check and its push, so the rounds run on several threads at once: more
/// threads than cores make preemption likely.
#[test]
fn publisher_racing_with_the_full_subscribers_drop_counts_only_receivers() {
    const WORKERS: usize = 3;
    const ROUNDS: usize = 6_000;
    for policy in POLICIES {
        for variant in 0..builders(1).len() {
            let what = format!("{policy:?} {}", builders(1)[variant].0);
            let workers: Vec<_> = (0..WORKERS)
                .map(|w| {
                    let what = format!("{what} worker {w}");
                    spawn(what.clone(), move || {
                        repeat(ROUNDS / WORKERS, Duration::from_secs(4), |i| {
                            let topic = fresh(variant, 1).on_full(policy).build();
                            blocked_publisher_round(&what, topic, policy, i);
                        })
                    })
                })
                .collect();
            for worker in workers {
                worker.join_within(Duration::from_secs(60));
            }
        }
    }
}

/// A fresh builder of the `variant`th entry of [`builders`].
fn fresh(variant: usize, capacity: usize) -> TopicBuilder<u32> {
    let [fifo, priority] = builders(capacity);
    if variant == 0 {
        fifo.1
    } else {
        priority.1
    }
}

/// One round of the race: message 0 fills the slow subscriber, then the
/// slow subscriber is dropped while message 1 is published.
fn blocked_publisher_round(what: &str, topic: Topic<u32>, policy: SlowSubscriber, i: usize) {
    let slow = topic.subscribe();
    let fast = [topic.subscribe(), topic.subscribe()];
    assert_eq!(topic.publish(0).unwrap(), 3, "{what}");
    for sub in &fast {
        assert_eq!(drain(sub), [0], "{what}");
    }
    let slow_id = slow.id();

    let start = Arc::new(Barrier::new(2));
    let publisher = {
        let topic = topic.clone();
        let start = Arc::clone(&start);
        spawn(format!("{what} publisher"), move || {
            start.wait();
            topic.publish(1)
        })
    };
    start.wait();
    // Vary where the drop lands: under `Block`, as the publisher first finds
    // the slow subscriber full or as it starts to wait for room (the spin
    // before it parks); otherwise a few scheduler turns in.
    if policy == SlowSubscriber::Block {
        let full = 1 + (i % 2) as u64;
        wait_until("publisher finds the slow subscriber full", || {
            slow.stats().found_full >= full
        });
    }
    for _ in 0..(i % 4) {
        thread::yield_now();
    }
    drop(slow);
    let result = publisher.join();
    if let Err(PublishError::Full { full, .. }) = &result {
        assert_eq!(policy, SlowSubscriber::Reject, "{what}: {result:?}");
        assert_eq!(full, &[slow_id], "{what}");
    }
    let count = count_of(result);

    // The fast subscribers received the copy; the slow one never can.
    for sub in &fast {
        assert_eq!(sub.recv_timeout(TIMEOUT).unwrap().into_body(), 1, "{what}");
        assert!(sub.is_empty(), "{what}");
    }
    let received = fast.len();
    let stats = topic.stats();
    match policy {
        // Full throughout until it left: no copy could reach it.
        SlowSubscriber::Block | SlowSubscriber::Reject => {
            assert_eq!(count, received, "{what} round {i}: {stats:?}");
            assert_eq!((stats.lost, stats.abandoned), (0, 1), "{what}: {stats:?}");
        }
        // Queued (after an eviction) before it left, or skipped.
        _ => assert!(
            count == received || count == received + 1,
            "{what} round {i}: count {count}"
        ),
    }
    // The statistics agree with the counts: 3 for message 0, then `count`;
    // and every counted copy is accounted for. The slow subscriber had
    // message 0 and perhaps the copy of 1 counted for it, each either
    // evicted or abandoned when it was dropped.
    assert_eq!(stats.delivered, 3 + count as u64, "{what}: {stats:?}");
    let slow_counted = 1 + (count - received) as u64;
    assert_eq!(
        stats.lost + stats.abandoned,
        slow_counted,
        "{what} round {i}: count {count}, {stats:?}"
    );
    assert_eq!(topic.subscriber_count(), 2, "{what}");
}

/// Publishers racing with subscribers being dropped, with room everywhere
/// (nobody blocks): the sum of the counts the publishes returned is exactly
/// the copies the subscribers received plus those the topic reports as
/// abandoned with the dropped ones, and the topic's `delivered` is that sum.
#[test]
fn publishers_racing_with_dropped_subscribers_count_exactly() {
    const PUBLISHERS: usize = 2;
    const PER_PUBLISHER: u32 = 40;
    const SURVIVORS: usize = 2;
    const DOOMED: usize = 4;
    for policy in POLICIES {
        for variant in 0..builders(1).len() {
            let what = format!("{policy:?} {}", builders(1)[variant].0);
            repeat(300, Duration::from_secs(3), |i| {
                let topic = fresh(variant, 1 << 12).on_full(policy).build();
                let survivors: Vec<_> = (0..SURVIVORS).map(|_| topic.subscribe()).collect();
                let doomed: Vec<_> = (0..DOOMED).map(|_| topic.subscribe()).collect();
                let start = Arc::new(Barrier::new(PUBLISHERS + 1));
                let publishers: Vec<_> = (0..PUBLISHERS)
                    .map(|p| {
                        let topic = topic.clone();
                        let start = Arc::clone(&start);
                        spawn(format!("{what} publisher {p}"), move || {
                            start.wait();
                            let mut sum = 0;
                            for n in 0..PER_PUBLISHER {
                                // Survivors are always there: never an error.
                                let count = topic.publish(n).unwrap();
                                assert!(count >= SURVIVORS, "count {count}");
                                sum += count;
                            }
                            sum
                        })
                    })
                    .collect();
                // The doomed subscribers receive a little, then are dropped
                // one by one while the publishers run.
                let mut doomed_received = 0;
                start.wait();
                for (d, sub) in doomed.into_iter().enumerate() {
                    for _ in 0..((i + d) % 5) {
                        thread::yield_now();
                    }
                    doomed_received += sub.try_iter().take((i + d) % 3).count();
                    drop(sub);
                }
                let sum: usize = publishers.into_iter().map(|p| p.join()).sum();

                let published = PUBLISHERS * PER_PUBLISHER as usize;
                let mut survivors_received = 0;
                for sub in &survivors {
                    let got = drain(sub).len();
                    assert_eq!(got, published, "{what}: a survivor missed copies");
                    survivors_received += got;
                }
                let stats = topic.stats();
                assert_eq!(stats.delivered, sum as u64, "{what}: {stats:?}");
                assert_eq!(stats.published, published as u64, "{what}: {stats:?}");
                assert_eq!((stats.lost, stats.missed), (0, 0), "{what}: {stats:?}");
                assert_eq!(
                    sum as u64,
                    (survivors_received + doomed_received) as u64 + stats.abandoned,
                    "{what} round {i}: returned counts vs received + abandoned: {stats:?}"
                );
                assert_eq!(topic.subscriber_count(), SURVIVORS, "{what}");
            });
        }
    }
}

/// What a dropped subscriber leaves queued is counted as abandoned; what
/// `close` hands back is not.
#[test]
fn abandoned_counts_what_a_dropped_subscriber_left_queued() {
    for (name, builder) in builders(8) {
        let topic = builder.build();
        let kept = topic.subscribe();
        let closed = topic.subscribe();
        let dropped = topic.subscribe();
        for n in 0..3 {
            assert_eq!(topic.publish(n).unwrap(), 3, "{name}");
        }
        assert_eq!(dropped.recv_timeout(TIMEOUT).unwrap().into_body(), 0);
        drop(dropped);
        assert_eq!(topic.stats().abandoned, 2, "{name}");
        let back: Vec<u32> = closed.close().into_iter().map(Message::into_body).collect();
        assert_eq!(back, [0, 1, 2], "{name}");
        drop(closed);
        assert_eq!(topic.publish(3).unwrap(), 1, "{name}");
        let stats = topic.stats();
        assert_eq!((stats.delivered, stats.abandoned), (10, 2), "{name}");
        assert_eq!(drain(&kept), [0, 1, 2, 3], "{name}");
        // A subscriber of a closed topic leaves its queued copies too.
        topic.publish(4).unwrap();
        topic.close();
        drop(kept);
        assert_eq!(topic.stats().abandoned, 3, "{name}");
    }
}
