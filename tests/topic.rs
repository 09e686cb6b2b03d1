//! Indirect one-to-many addressing: broadcast topics. Every subscriber gets
//! its own copy; slow subscribers are handled by the topic's policy; dropped
//! subscribers never block a publisher.

mod common;

use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{spawn, wait_until, TIMEOUT};
use postbox::{
    Message, PublishError, RecvError, RecvTimeoutError, SlowSubscriber, Subscriber, SubscriberId,
    Topic, TopicBuilder, TopicStats, TryRecvError, Wait,
};

/// Everything queued for `sub` now, bodies only.
fn drain<T: Send>(sub: &Subscriber<T>) -> Vec<T> {
    sub.try_iter().map(Message::into_body).collect()
}

/// Both backends a topic can build its subscribers' queues on.
fn builders(capacity: usize) -> [(&'static str, TopicBuilder<u32>); 2] {
    [
        ("fifo", Topic::<u32>::builder().fifo().capacity(capacity)),
        (
            "priority",
            Topic::<u32>::builder().priority(4).capacity(capacity),
        ),
    ]
}

#[test]
fn every_subscriber_gets_every_message_in_order() {
    for (name, builder) in builders(64) {
        let topic = builder.build();
        let subs: Vec<_> = (0..3).map(|_| topic.subscribe()).collect();
        for n in 0..50 {
            assert_eq!(topic.publish(n).unwrap(), 3, "{name}");
        }
        for sub in &subs {
            assert_eq!(drain(sub), (0..50).collect::<Vec<_>>(), "{name}");
        }
    }
}

#[test]
fn priority_subscribers_get_the_most_urgent_first_ties_in_order() {
    let topic = Topic::<&str>::builder().priority(3).build();
    let a = topic.subscribe();
    let b = topic.subscribe();
    topic.publish(Message::new("low 1").priority(0)).unwrap();
    topic.publish(Message::new("high 1").priority(2)).unwrap();
    topic.publish(Message::new("low 2").priority(0)).unwrap();
    topic.publish(Message::new("high 2").priority(2)).unwrap();
    for sub in [&a, &b] {
        assert_eq!(drain(sub), ["high 1", "high 2", "low 1", "low 2"]);
    }
}

#[test]
fn header_is_copied_to_every_subscriber() {
    let topic = Topic::<u8>::builder().build();
    let subs = [topic.subscribe(), topic.subscribe()];
    topic
        .publish(Message::new(1).correlation_id(77).priority(5))
        .unwrap();
    for sub in &subs {
        let m = sub.recv_timeout(TIMEOUT).unwrap();
        assert_eq!(m.header().correlation_id(), Some(77));
        assert_eq!(m.header().priority(), 5);
        assert_eq!(m.header().source(), None);
    }
}

#[test]
fn late_subscriber_sees_only_later_messages() {
    let topic = Topic::<u32>::new();
    let early = topic.subscribe();
    topic.publish(1).unwrap();
    topic.publish(2).unwrap();
    let late = topic.subscribe();
    topic.publish(3).unwrap();
    assert_eq!(drain(&early), [1, 2, 3]);
    assert_eq!(drain(&late), [3]);
}

#[test]
fn publish_count_equals_subscribers() {
    let topic = Topic::<u32>::new();
    let mut subs = Vec::new();
    for n in 1..=5 {
        subs.push(topic.subscribe());
        assert_eq!(topic.publish(0).unwrap(), n);
        assert_eq!(topic.subscriber_count(), n);
    }
    let ids: Vec<SubscriberId> = subs.iter().map(Subscriber::id).collect();
    assert_eq!(topic.subscribers(), ids);
}

#[test]
fn no_subscribers_hands_the_message_back() {
    let topic = Topic::<String>::new();
    let err = topic
        .publish(Message::new("hello".to_string()).correlation_id(3))
        .unwrap_err();
    assert!(err.is_no_subscribers());
    assert_eq!(err.delivered(), 0);
    assert!(err.full_subscribers().is_empty());
    let msg = err.into_message();
    assert_eq!(msg.header().correlation_id(), Some(3));
    assert_eq!(msg.into_body(), "hello");

    // Everyone left: the same.
    let sub = topic.subscribe();
    drop(sub);
    assert!(matches!(
        topic.publish("again".to_string()),
        Err(PublishError::NoSubscribers(m)) if m.body() == "again"
    ));
    assert_eq!(topic.stats().published, 0);
}

#[test]
fn dropped_subscriber_is_skipped() {
    let topic = Topic::<u32>::new();
    let a = topic.subscribe();
    let b = topic.subscribe();
    let c = topic.subscribe();
    assert_eq!(topic.publish(1).unwrap(), 3);
    drop(b);
    assert_eq!(topic.subscriber_count(), 2);
    assert_eq!(topic.publish(2).unwrap(), 2);
    assert_eq!(topic.subscribers(), [a.id(), c.id()]);
    assert_eq!(drain(&a), [1, 2]);
    assert_eq!(drain(&c), [1, 2]);
}

#[test]
fn subscriber_close_returns_what_was_queued_and_leaves() {
    let topic = Topic::<u32>::new();
    let a = topic.subscribe();
    let b = topic.subscribe();
    topic.publish(1).unwrap();
    topic.publish(2).unwrap();
    let left: Vec<u32> = a.close().into_iter().map(Message::into_body).collect();
    assert_eq!(left, [1, 2]);
    assert!(a.is_closed());
    assert_eq!(a.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(topic.subscribers(), [b.id()]);
    assert_eq!(topic.publish(3).unwrap(), 1);
    assert_eq!(drain(&b), [1, 2, 3]);
}

/// A publisher blocked on a full subscriber (the topic's default `Block`)
/// wakes when that subscriber is dropped, and the others still got the
/// message.
#[test]
fn blocked_publisher_wakes_when_the_full_subscriber_is_dropped() {
    for (name, builder) in builders(1) {
        let topic = builder.build();
        let slow = topic.subscribe();
        let fast_1 = topic.subscribe();
        let fast_2 = topic.subscribe();
        assert_eq!(topic.publish(0).unwrap(), 3, "{name}");
        assert_eq!(drain(&fast_1), [0]);
        assert_eq!(drain(&fast_2), [0]);

        let publisher = {
            let topic = topic.clone();
            spawn(format!("{name} publisher"), move || topic.publish(1))
        };
        // The fast subscribers get their copy before the publisher waits.
        assert_eq!(fast_1.recv_timeout(TIMEOUT).unwrap().into_body(), 1);
        assert_eq!(fast_2.recv_timeout(TIMEOUT).unwrap().into_body(), 1);
        // Found full once without waiting, then once more as it starts to
        // wait for room.
        wait_until("publisher waits on the slow subscriber", || {
            slow.stats().found_full >= 2
        });
        assert!(!publisher.is_finished(), "{name}: publisher did not wait");
        drop(slow);
        assert_eq!(publisher.join().unwrap(), 2, "{name}");
        assert_eq!(topic.subscriber_count(), 2);
        assert_eq!(topic.publish(2).unwrap(), 2);
    }
}

#[test]
fn blocked_publisher_wakes_when_the_topic_is_closed() {
    for others in [0, 1] {
        let topic = Topic::<u32>::builder().capacity(1).build();
        let slow = topic.subscribe();
        topic.publish(0).unwrap();
        let fast: Vec<_> = (0..others).map(|_| topic.subscribe()).collect();
        let publisher = {
            let topic = topic.clone();
            spawn("publisher", move || topic.publish(1))
        };
        wait_until("publisher waits on the slow subscriber", || {
            slow.stats().found_full >= 2
        });
        topic.close();
        let result = publisher.join();
        if others == 0 {
            // Nobody got it, and the topic is closed.
            let err = result.unwrap_err();
            assert!(err.is_closed(), "{err:?}");
            assert_eq!(err.into_inner(), 1);
        } else {
            // Published before the close reached the others.
            assert_eq!(result.unwrap(), 1);
            assert_eq!(drain(&fast[0]), [1]);
        }
        // The slow subscriber drains what it had, then sees Closed.
        assert_eq!(slow.recv_timeout(TIMEOUT).unwrap().into_body(), 0);
        assert_eq!(
            slow.recv_timeout(TIMEOUT).unwrap_err(),
            RecvTimeoutError::Closed
        );
    }
}

#[test]
fn drop_oldest_counts_lost_and_keeps_the_newest() {
    const CAPACITY: usize = 3;
    let topic = Topic::<u32>::builder()
        .capacity(CAPACITY)
        .on_full(SlowSubscriber::DropOldest)
        .build();
    assert_eq!(topic.on_full(), SlowSubscriber::DropOldest);
    let slow = topic.subscribe();
    let fast = topic.subscribe();
    let mut fast_seen = Vec::new();
    for n in 0..10 {
        assert_eq!(topic.publish(n).unwrap(), 2); // never waits
        fast_seen.extend(drain(&fast));
    }
    assert_eq!(slow.lost(), 7);
    assert_eq!(fast.lost(), 0);
    assert_eq!(drain(&slow), [7, 8, 9]);
    assert_eq!(fast_seen, (0..10).collect::<Vec<_>>());
    // The evictions are also counted as dropped by the subscriber's queue.
    assert_eq!(slow.stats().dropped, 7);
    let stats = topic.stats();
    assert_eq!(
        (stats.published, stats.delivered, stats.lost, stats.missed),
        (10, 20, 7, 0)
    );
}

/// Documented behaviour: `DropOldest` evicts the head of the queue, which on
/// a priority topic is the most urgent message.
#[test]
fn drop_oldest_on_a_priority_topic_evicts_the_head() {
    let topic = Topic::<&str>::builder()
        .priority(3)
        .capacity(2)
        .on_full(SlowSubscriber::DropOldest)
        .build();
    let sub = topic.subscribe();
    topic.publish(Message::new("urgent").priority(2)).unwrap();
    topic
        .publish(Message::new("routine a").priority(0))
        .unwrap();
    topic
        .publish(Message::new("routine b").priority(0))
        .unwrap();
    assert_eq!(sub.lost(), 1);
    assert_eq!(drain(&sub), ["routine a", "routine b"]);
}

#[test]
fn reject_lists_exactly_the_full_subscribers() {
    let topic = Topic::<u32>::builder()
        .capacity(1)
        .on_full(SlowSubscriber::Reject)
        .build();
    let a = topic.subscribe();
    let b = topic.subscribe();
    let c = topic.subscribe();
    let d = topic.subscribe();
    assert_eq!(topic.publish(0).unwrap(), 4);
    // b and d keep up; a and c do not.
    assert_eq!(drain(&b), [0]);
    assert_eq!(drain(&d), [0]);
    let err = topic
        .publish(Message::new(1).correlation_id(5))
        .unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.full_subscribers(), [a.id(), c.id()]);
    assert_eq!(err.delivered(), 2);
    assert_eq!(
        err.to_string(),
        "2 of the topic's subscribers were full (2 received the message)"
    );
    match err {
        PublishError::Full {
            delivered,
            full,
            message,
        } => {
            assert_eq!(delivered, 2);
            assert_eq!(full, [a.id(), c.id()]);
            assert_eq!(message.header().correlation_id(), Some(5));
            assert_eq!(message.into_body(), 1);
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(drain(&b), [1]);
    assert_eq!(drain(&d), [1]);
    assert_eq!(drain(&a), [0]);
    assert_eq!(drain(&c), [0]);
    let stats = topic.stats();
    assert_eq!((stats.published, stats.delivered, stats.missed), (2, 6, 2));
    // Every subscriber full: nobody got it, still `Full`.
    topic.publish(2).unwrap();
    let err = topic.publish(3).unwrap_err();
    assert_eq!(err.delivered(), 0);
    assert_eq!(err.full_subscribers(), [a.id(), b.id(), c.id(), d.id()]);
}

#[test]
fn try_publish_never_waits_under_block() {
    let topic = Topic::<u32>::builder().capacity(1).build();
    assert_eq!(topic.on_full(), SlowSubscriber::Block);
    let slow = topic.subscribe();
    let fast = topic.subscribe();
    assert_eq!(topic.try_publish(0).unwrap(), 2);
    assert_eq!(drain(&fast), [0]);
    let err = topic.try_publish(1).unwrap_err();
    assert_eq!(err.full_subscribers(), [slow.id()]);
    assert_eq!(err.delivered(), 1);
    assert_eq!(err.into_inner(), 1);
    assert_eq!(drain(&fast), [1]);
    // The same through the mode-taking form.
    let err = topic.publish_with(2, Wait::NonBlocking).unwrap_err();
    assert_eq!(err.full_subscribers(), [slow.id()]);
    assert_eq!(drain(&slow), [0]);
}

#[test]
fn publish_timeout_reports_subscribers_still_full_at_the_deadline() {
    let topic = Topic::<u32>::builder().capacity(1).build();
    let slow_1 = topic.subscribe();
    let fast = topic.subscribe();
    let slow_2 = topic.subscribe();
    let slow_3 = topic.subscribe();
    let slow = [slow_1.id(), slow_2.id(), slow_3.id()];
    topic.publish(0).unwrap();
    drain(&fast);
    let timeout = Duration::from_millis(300);
    let start = Instant::now();
    let err = topic.publish_timeout(1, timeout).unwrap_err();
    let took = start.elapsed();
    assert!(took >= timeout, "returned after {took:?}");
    // The three slow subscribers share the one deadline: a timeout per
    // subscriber would take 900 ms or more. (The margin, 600 ms, only has to
    // cover scheduling delay.)
    assert!(
        took < 3 * timeout,
        "took {took:?}: the timeout is not shared"
    );
    assert_eq!(err.full_subscribers(), slow);
    assert_eq!(err.delivered(), 1);
    assert_eq!(drain(&fast), [1]);
    // A deadline already passed: no wait at all, same report.
    let err = topic
        .publish_deadline(2, Instant::now() - Duration::from_millis(1))
        .unwrap_err();
    assert_eq!(err.full_subscribers(), slow);
    assert_eq!(drain(&fast), [2]);
    let stats = topic.stats();
    assert_eq!((stats.published, stats.missed), (3, 6));
}

#[test]
fn publish_timeout_delivers_when_room_appears_in_time() {
    let topic = Topic::<u32>::builder().capacity(1).build();
    let slow = topic.subscribe();
    let fast = topic.subscribe();
    topic.publish(0).unwrap();
    drain(&fast);
    let publisher = {
        let topic = topic.clone();
        spawn("publisher", move || topic.publish_timeout(1, TIMEOUT))
    };
    wait_until("publisher waits on the slow subscriber", || {
        slow.stats().found_full >= 2
    });
    assert_eq!(slow.recv_timeout(TIMEOUT).unwrap().into_body(), 0);
    assert_eq!(publisher.join().unwrap(), 2);
    assert_eq!(slow.recv_timeout(TIMEOUT).unwrap().into_body(), 1);
    assert_eq!(drain(&fast), [1]);
}

#[test]
fn closed_topic_refuses_publishes_and_subscribers_drain() {
    let topic = Topic::<u32>::new();
    let sub = topic.subscribe();
    topic.publish(1).unwrap();
    topic.publish(2).unwrap();
    assert!(!topic.is_closed());
    topic.close();
    topic.close(); // idempotent
    assert!(topic.is_closed());
    assert_eq!(topic.subscriber_count(), 0);
    let err = topic.publish(3).unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.to_string(), "publishing on a closed topic");
    assert_eq!(err.into_inner(), 3);
    assert!(topic.try_publish(4).unwrap_err().is_closed());
    // Drained first, then Closed.
    assert!(sub.is_closed());
    assert_eq!(drain(&sub), [1, 2]);
    assert_eq!(sub.recv().unwrap_err(), RecvError);
    // A subscriber of a closed topic is closed from the start.
    let late = topic.subscribe();
    assert!(late.is_closed());
    assert_eq!(late.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(topic.subscriber_count(), 0);
}

#[test]
fn dropping_the_last_topic_handle_closes_the_subscribers() {
    let topic = Topic::<u32>::new();
    let other = topic.clone();
    assert!(topic.same_topic(&other));
    let sub = topic.subscribe();
    topic.publish(1).unwrap();
    drop(topic);
    // A publisher is left: still open.
    other.publish(2).unwrap();
    assert!(!sub.is_closed());
    drop(other);
    let seen: Vec<u32> = sub.iter().map(Message::into_body).collect();
    assert_eq!(seen, [1, 2]);
    assert!(sub.is_closed());
}

#[test]
fn invalid_priority_is_refused_before_anyone_gets_it() {
    let topic = Topic::<u32>::builder().priority(3).build();
    let sub = topic.subscribe();
    let err = topic.publish(Message::new(9).priority(3)).unwrap_err();
    assert!(matches!(err, PublishError::InvalidPriority(_)));
    assert_eq!(
        err.to_string(),
        "message priority 3 is outside the topic's priority levels"
    );
    assert_eq!(err.message().header().priority(), 3);
    assert_eq!(err.into_inner(), 9);
    assert!(sub.is_empty());
    assert_eq!(topic.publish(Message::new(1).priority(2)).unwrap(), 1);
    // A FIFO topic takes any priority.
    let fifo = Topic::<u32>::new();
    let _sub = fifo.subscribe();
    assert_eq!(fifo.publish(Message::new(1).priority(255)).unwrap(), 1);
}

#[test]
fn capacity_zero_is_taken_as_one() {
    for builder in [
        Topic::<u32>::builder().capacity(0),
        Topic::<u32>::builder().priority(2).capacity(0),
    ] {
        let topic = builder.on_full(SlowSubscriber::DropOldest).build();
        let sub = topic.subscribe();
        assert_eq!(sub.capacity(), Some(1));
        // No receiver waiting, yet nothing blocks: one slot each.
        assert_eq!(topic.publish(1).unwrap(), 1);
        assert_eq!(topic.publish(2).unwrap(), 1);
        assert_eq!(sub.lost(), 1);
        assert_eq!(drain(&sub), [2]);
    }
    let topic = Topic::<u32>::builder().unbounded().build();
    assert_eq!(topic.subscribe().capacity(), None);
}

#[test]
fn subscriber_ids_are_unique_and_printable() {
    let topic = Topic::<u8>::new();
    let subs: Vec<_> = (0..100).map(|_| topic.subscribe()).collect();
    let ids: HashSet<SubscriberId> = subs.iter().map(Subscriber::id).collect();
    assert_eq!(ids.len(), 100);
    // Never reused, even after a subscriber leaves.
    drop(subs);
    let next = topic.subscribe();
    assert!(!ids.contains(&next.id()));
    assert_eq!(next.id().as_u64(), 101);
    assert_eq!(next.id().to_string(), "#101");
    let mut sorted: Vec<_> = ids.into_iter().collect();
    sorted.sort();
    assert!(sorted.windows(2).all(|w| w[0] < w[1]));
}

/// No copy leaks and none is dropped twice, on every path: delivered,
/// evicted, handed back in an error, left in a dropped subscriber.
#[test]
fn no_copy_leaks() {
    let body = Arc::new(0u32);
    for policy in [
        SlowSubscriber::Block,
        SlowSubscriber::DropOldest,
        SlowSubscriber::Reject,
    ] {
        let topic = Topic::<Arc<u32>>::builder()
            .capacity(2)
            .on_full(policy)
            .build();
        let subs: Vec<_> = (0..3).map(|_| topic.subscribe()).collect();
        for _ in 0..2 {
            topic.publish(Arc::clone(&body)).unwrap();
        }
        for _ in 0..3 {
            let _ = topic.try_publish(Arc::clone(&body));
        }
        drop(subs.into_iter().next());
        let _ = topic.try_publish(Arc::clone(&body));
        drop(topic);
    }
    let _ = Topic::<Arc<u32>>::new().publish(Arc::clone(&body));
    assert_eq!(Arc::strong_count(&body), 1);
}

/// 4 publishers x 4 subscribers x 10k messages through small queues: each
/// subscriber sees each (publisher, seq) exactly once, and each publisher's
/// messages in order.
#[test]
fn concurrent_publishers_and_subscribers() {
    const PUBLISHERS: u32 = 4;
    const SUBSCRIBERS: usize = 4;
    const PER_PUBLISHER: u32 = 10_000;
    let topic = Topic::<(u32, u32)>::builder().capacity(16).build();
    let barrier = Arc::new(Barrier::new(PUBLISHERS as usize + SUBSCRIBERS));
    let consumers: Vec<_> = (0..SUBSCRIBERS)
        .map(|s| {
            let sub = topic.subscribe();
            let barrier = Arc::clone(&barrier);
            spawn(format!("subscriber {s}"), move || {
                barrier.wait();
                let mut seen = Vec::new();
                loop {
                    match sub.recv_timeout(TIMEOUT) {
                        Ok(m) => seen.push(m.into_body()),
                        Err(RecvTimeoutError::Closed) => return seen,
                        Err(RecvTimeoutError::Timeout) => panic!("subscriber {s} stalled"),
                    }
                }
            })
        })
        .collect();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let topic = topic.clone();
            let barrier = Arc::clone(&barrier);
            spawn(format!("publisher {p}"), move || {
                barrier.wait();
                for seq in 0..PER_PUBLISHER {
                    assert_eq!(topic.publish((p, seq)).unwrap(), SUBSCRIBERS);
                }
            })
        })
        .collect();
    for p in publishers {
        p.join_within(Duration::from_secs(120));
    }
    let stats = topic.stats();
    assert_eq!(stats.published, u64::from(PUBLISHERS * PER_PUBLISHER));
    assert_eq!(stats.delivered, stats.published * SUBSCRIBERS as u64);
    drop(topic); // the last publisher handle: subscribers drain, then Closed
    for (s, c) in consumers.into_iter().enumerate() {
        let seen = c.join_within(Duration::from_secs(120));
        assert_eq!(seen.len(), (PUBLISHERS * PER_PUBLISHER) as usize);
        let mut next = [0u32; PUBLISHERS as usize];
        for (p, seq) in seen {
            assert_eq!(
                seq, next[p as usize],
                "subscriber {s}: publisher {p} out of order"
            );
            next[p as usize] += 1;
        }
        assert!(next.iter().all(|&n| n == PER_PUBLISHER));
    }
}

/// The next message for churner `c`'s `sub`, or `None` once `published_all`
/// is set and nothing is left for it; panics (a stalled publisher) if
/// neither happens within [`TIMEOUT`].
fn next_unless_published_all(
    c: usize,
    sub: &Subscriber<u32>,
    published_all: &AtomicBool,
) -> Option<Message<u32>> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // Read before the receive: once set, every publish has returned and
        // its copy for `sub`, if any, is queued, so a receive that then finds
        // nothing finds nothing for good.
        if published_all.load(Ordering::Acquire) {
            return sub.try_recv().ok();
        }
        // Short waits, to read the flag again: nothing but a message or a
        // close would end a longer one, and the topic stays open.
        match sub.recv_timeout(Duration::from_millis(5)) {
            Ok(m) => return Some(m),
            // Not while this test runs, but no message comes after it either.
            Err(RecvTimeoutError::Closed) => return None,
            Err(RecvTimeoutError::Timeout) => {
                assert!(Instant::now() < deadline, "churner {c} stalled");
            }
        }
    }
}

/// Subscribers join and leave while a publisher publishes: nobody deadlocks,
/// and each subscriber sees an unbroken run of the sequence (Block loses
/// nothing) from its first message on.
#[test]
fn subscribers_come_and_go_while_publishing() {
    const MESSAGES: u32 = 20_000;
    let topic = Topic::<u32>::builder().capacity(4).build();
    let anchor = topic.subscribe(); // keeps publishes from finding nobody

    // Set once the last publish has returned. The publisher leaving does not
    // close the topic (this thread and the churners hold handles to it), so
    // nothing else tells a churner that subscribed after the last publish
    // that no message will come: it would wait out `TIMEOUT` and report a
    // stall that is not one.
    let published_all = Arc::new(AtomicBool::new(false));
    let publisher = {
        let topic = topic.clone();
        let published_all = Arc::clone(&published_all);
        spawn("publisher", move || {
            for n in 0..MESSAGES {
                topic.publish(n).unwrap();
            }
            // Release: every copy pushed above is queued before the flag is
            // seen.
            published_all.store(true, Ordering::Release);
        })
    };
    let churners: Vec<_> = (0..2)
        .map(|c| {
            let topic = topic.clone();
            let published_all = Arc::clone(&published_all);
            spawn(format!("churner {c}"), move || {
                for round in 0..200 {
                    let sub = topic.subscribe();
                    let mut last = None;
                    // Take a few, then leave (sometimes with a full queue).
                    for _ in 0..(round % 7) {
                        let Some(m) = next_unless_published_all(c, &sub, &published_all) else {
                            break;
                        };
                        let n = m.into_body();
                        if let Some(prev) = last {
                            assert_eq!(n, prev + 1, "churner {c} missed a message");
                        }
                        last = Some(n);
                    }
                }
            })
        })
        .collect();
    let mut expected = 0;
    while expected < MESSAGES {
        let n = anchor.recv_timeout(TIMEOUT).unwrap().into_body();
        assert_eq!(n, expected);
        expected += 1;
    }
    publisher.join_within(Duration::from_secs(120));
    for c in churners {
        c.join_within(Duration::from_secs(120));
    }
    assert_eq!(topic.subscriber_count(), 1);
}

fn is_send<T: Send>() {}
fn is_send_sync<T: Send + Sync>() {}
fn is_clone<T: Clone>() {}
fn is_copy<T: Copy>() {}
fn is_debug<T: Debug>() {}

/// Shareable body that is neither `Debug` nor `Sync`-demanding beyond Clone.
#[derive(Clone)]
struct Opaque;

#[test]
fn auto_traits_and_debug() {
    is_send_sync::<Topic<std::cell::Cell<u8>>>();
    is_clone::<Topic<Opaque>>();
    is_send::<Subscriber<std::cell::Cell<u8>>>();
    is_send_sync::<Subscriber<Opaque>>();
    is_send::<TopicBuilder<std::cell::Cell<u8>>>();
    is_send_sync::<PublishError<u32>>();
    is_send_sync::<SubscriberId>();
    is_copy::<SubscriberId>();
    is_copy::<SlowSubscriber>();
    is_copy::<TopicStats>();
    is_debug::<Topic<Opaque>>();
    is_debug::<Subscriber<Opaque>>();
    is_debug::<TopicBuilder<Opaque>>();
    is_debug::<PublishError<Opaque>>();
    is_debug::<TopicStats>();

    let topic = Topic::<Opaque>::builder()
        .priority(2)
        .capacity(1)
        .on_full(SlowSubscriber::Reject)
        .build();
    let sub = topic.subscribe();
    topic.publish(Opaque).unwrap();
    let text = format!("{topic:?}");
    assert!(
        text.starts_with("Topic") && text.contains("subscribers: 1") && text.contains("Reject"),
        "{text}"
    );
    let text = format!("{sub:?}");
    assert!(
        text.contains("SubscriberId(1)") && text.contains("len: 1") && text.contains("lost: 0"),
        "{text}"
    );
    let err = topic.publish(Opaque).unwrap_err();
    let text = format!("{err:?}");
    assert!(
        text.starts_with("Full") && text.contains("delivered: 0"),
        "{text}"
    );
    let builder = format!("{:?}", Topic::<Opaque>::builder().priority(3).unbounded());
    assert!(
        builder.contains("priority(3)") && builder.contains("None"),
        "{builder}"
    );
    assert_eq!(
        format!("{:?}", Topic::<Opaque>::new().publish(Opaque).unwrap_err()),
        "NoSubscribers(..)"
    );
    assert_eq!(
        Topic::<u8>::new().publish(1).unwrap_err().to_string(),
        "publishing on a topic with no subscribers"
    );
}
