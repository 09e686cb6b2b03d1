//! Async forms on the handles built over mailboxes (issue 11): ports, topic
//! subscribers and `publish_async`, monitors, and processes (plain,
//! acknowledged and selective receives, streams, `request_async`). Each form
//! runs from tokio on both the multi-threaded and the current-thread
//! runtime; the cancellation tests race every receiving form against a
//! constantly firing timer and count every message exactly once.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};
use std::thread;
use std::time::Duration;

use futures_util::StreamExt;
use postbox::{
    ExitReason, Message, Monitor, Port, PostOffice, Process, PublishError, RequestError, Topic,
};

mod common;
use common::cancel::{first_cancel, ticker};

/// Both runtimes: the multi-threaded one (2 workers) and the current-thread
/// one, on which a future that blocked its thread would stall every task.
fn runtimes() -> [tokio::runtime::Runtime; 2] {
    [
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap(),
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    ]
}

fn assert_exactly_once(mut got: Vec<u64>, n: u64) {
    assert_eq!(got.len() as u64, n, "messages lost or duplicated");
    got.sort_unstable();
    got.dedup();
    assert_eq!(got.len() as u64, n, "a message was received twice");
    assert_eq!(got.last(), Some(&(n - 1)));
}

fn is_send<T: Send>(_: &T) {}

// ---- ports ----------------------------------------------------------------

/// `recv_async`, `recv_ack_async` and `stream` on a port, fed by a thread.
#[test]
fn port_forms_on_both_runtimes() {
    for rt in runtimes() {
        let (tx, port) = Port::<u64>::builder().capacity(4).build();
        let producer = thread::spawn(move || {
            for n in 0..300 {
                tx.send(n).unwrap();
            }
        });
        let got = rt.block_on(async move {
            let mut got = Vec::new();
            for _ in 0..100 {
                got.push(port.recv_async().await.unwrap().into_body());
            }
            for _ in 0..100 {
                let delivery = port.recv_ack_async().await.unwrap();
                got.push(*delivery.body());
                delivery.ack();
            }
            let rest: Vec<u64> = port.stream().map(|m| m.into_body()).collect().await;
            got.extend(rest);
            assert_eq!(port.stats().acked, 100);
            got
        });
        producer.join().unwrap();
        assert_eq!(
            got,
            (0..300).collect::<Vec<_>>(),
            "one consumer keeps FIFO order"
        );
    }
}

/// A task and a blocking thread receive from the same port: every message
/// once, and a spawned task's future is `Send`.
#[test]
fn port_shared_by_a_task_and_a_thread() {
    const N: u64 = 20_000;
    for rt in runtimes() {
        let (tx, port) = Port::<u64>::builder().capacity(8).build();
        let port = Arc::new(port);
        let producer = thread::spawn(move || {
            for n in 0..N {
                tx.send(n).unwrap();
            }
        });
        let blocking = {
            let port = Arc::clone(&port);
            thread::spawn(move || port.iter().map(|m| m.into_body()).collect::<Vec<_>>())
        };
        let task = {
            let port = Arc::clone(&port);
            rt.spawn(async move {
                let fut = port.recv_async();
                is_send(&fut);
                drop(fut);
                let mut got = Vec::new();
                while let Ok(m) = port.recv_async().await {
                    got.push(m.into_body());
                }
                got
            })
        };
        producer.join().unwrap();
        let mut got = blocking.join().unwrap();
        got.extend(rt.block_on(task).unwrap());
        assert_exactly_once(got, N);
    }
}

// ---- topics ---------------------------------------------------------------

/// A subscriber's async forms, and a subscriber shared by a task and a
/// thread.
#[test]
fn subscriber_forms_and_mixed_use() {
    for rt in runtimes() {
        let topic = Topic::<u64>::builder().capacity(4).build();
        let sub = Arc::new(topic.subscribe());
        let publisher = {
            let topic = topic.clone();
            thread::spawn(move || {
                for n in 0..300 {
                    topic.publish(n).unwrap();
                }
            })
        };
        let got = rt.block_on({
            let sub = Arc::clone(&sub);
            async move {
                let mut got = Vec::new();
                for _ in 0..100 {
                    got.push(sub.recv_async().await.unwrap().into_body());
                }
                for _ in 0..100 {
                    let d = sub.recv_ack_async().await.unwrap();
                    got.push(*d.body());
                    d.ack();
                }
                let mut stream = sub.stream();
                for _ in 0..100 {
                    got.push(stream.next().await.unwrap().into_body());
                }
                got
            }
        });
        publisher.join().unwrap();
        assert_eq!(got, (0..300).collect::<Vec<_>>());

        // Mixed: a thread and a task on the same subscriber.
        const N: u64 = 10_000;
        let blocking = {
            let sub = Arc::clone(&sub);
            thread::spawn(move || sub.iter().map(|m| m.into_body()).collect::<Vec<_>>())
        };
        let task = {
            let sub = Arc::clone(&sub);
            rt.spawn(async move {
                let mut got = Vec::new();
                while let Ok(m) = sub.recv_async().await {
                    got.push(m.into_body());
                }
                got
            })
        };
        for n in 0..N {
            topic.publish(n).unwrap();
        }
        drop(topic); // the last publisher: the subscription drains, then ends
        let mut got = blocking.join().unwrap();
        got.extend(rt.block_on(task).unwrap());
        assert_exactly_once(got, N);
    }
}

/// Backpressure: a slow subscriber makes `publish_async` await, not block.
/// On the current-thread runtime a ticker task keeps running while the
/// publisher waits; every subscriber gets every message once, in order.
#[test]
fn publish_async_awaits_a_slow_subscriber() {
    const N: u64 = 200;
    for rt in runtimes() {
        let topic = Topic::<u64>::builder().capacity(2).build();
        let fast = topic.subscribe();
        let slow = topic.subscribe();
        let slow_reader = thread::spawn(move || {
            let mut got = Vec::new();
            for _ in 0..N {
                thread::sleep(Duration::from_micros(200));
                got.push(slow.recv().unwrap().into_body());
            }
            (got, slow)
        });
        let fast_reader = thread::spawn(move || {
            let got: Vec<u64> = fast.iter().map(|m| m.into_body()).collect();
            got
        });
        let ticks = Arc::new(AtomicU64::new(0));
        let done = Arc::new(AtomicBool::new(false));
        let counts = rt.block_on({
            let (ticks, done) = (Arc::clone(&ticks), Arc::clone(&done));
            async move {
                let ticker = tokio::spawn({
                    let (ticks, done) = (Arc::clone(&ticks), Arc::clone(&done));
                    async move {
                        while !done.load(Ordering::Relaxed) {
                            ticks.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_micros(100)).await;
                        }
                    }
                });
                let fut = topic.publish_async(0);
                is_send(&fut);
                let mut counts = vec![fut.await.unwrap()];
                for n in 1..N {
                    counts.push(topic.publish_async(n).await.unwrap());
                }
                done.store(true, Ordering::Relaxed);
                ticker.await.unwrap();
                assert_eq!(topic.stats().published, N);
                assert_eq!(topic.stats().delivered, 2 * N);
                drop(topic);
                counts
            }
        });
        assert!(counts.iter().all(|&c| c == 2));
        assert!(
            ticks.load(Ordering::Relaxed) > 10,
            "the ticker did not run while the publisher waited: the thread was blocked"
        );
        let (slow_got, _slow) = slow_reader.join().unwrap();
        assert_eq!(slow_got, (0..N).collect::<Vec<_>>());
        assert_eq!(fast_reader.join().unwrap(), (0..N).collect::<Vec<_>>());
    }
}

/// Cancellation of `publish_async` is all-or-nothing: a `select!` loop that
/// a timer keeps cancelling publishes each number until one attempt
/// completes; every subscriber receives each number exactly once, in order.
#[test]
fn cancelled_publish_async_is_all_or_nothing() {
    const N: u64 = 1_000;
    for rt in runtimes() {
        let topic = Topic::<u64>::builder().capacity(1).build();
        // The slow reader stops before its second-to-last message until a
        // publish was cancelled: the last publish then waits for room.
        let (cancelled_once, first) = first_cancel();
        let mut first = Some(first);
        let readers: Vec<_> = (0..3)
            .map(|i| {
                let sub = topic.subscribe();
                let gate = if i == 0 { first.take() } else { None };
                thread::spawn(move || {
                    let mut got = Vec::new();
                    for m in sub.iter() {
                        if i == 0 && got.len() % 16 == 0 {
                            thread::sleep(Duration::from_micros(50)); // the slow one
                        }
                        got.push(m.into_body());
                        if got.len() as u64 == N - 2 {
                            if let Some(gate) = &gate {
                                gate.wait();
                            }
                        }
                    }
                    got
                })
            })
            .collect();
        let cancelled = rt.block_on(async {
            let mut cancelled = 0u64;
            let mut tick = ticker();
            for n in 0..N {
                loop {
                    tokio::select! {
                        biased;
                        _ = tick.tick() => {
                            cancelled += 1;
                            cancelled_once.note();
                        }
                        count = topic.publish_async(n) => {
                            assert_eq!(count.unwrap(), 3);
                            break;
                        }
                    }
                }
            }
            cancelled
        });
        assert!(cancelled > 0, "the timer never won");
        let stats = topic.stats();
        assert_eq!((stats.published, stats.delivered), (N, 3 * N));
        drop(topic);
        for reader in readers {
            assert_eq!(reader.join().unwrap(), (0..N).collect::<Vec<_>>());
        }
    }
}

/// `publish_async`'s errors are the blocking form's; a subscriber dropped
/// while the publish waits for room in its queue is skipped.
#[test]
fn publish_async_errors_and_leaving_subscribers() {
    for rt in runtimes() {
        rt.block_on(async {
            let topic = Topic::<u8>::builder().capacity(1).build();
            assert!(matches!(
                topic.publish_async(1).await,
                Err(PublishError::NoSubscribers(_))
            ));
            let stay = topic.subscribe();
            let leave = topic.subscribe();
            assert_eq!(topic.publish_async(1).await.unwrap(), 2);
            stay.recv_async().await.unwrap();
            // `leave` is full: the publish waits; dropping it (on this very
            // thread, from another task) lets the publish go on.
            let dropper = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                drop(leave);
            });
            assert_eq!(topic.publish_async(2).await.unwrap(), 1);
            dropper.await.unwrap();
            assert_eq!(stay.recv_async().await.unwrap().into_body(), 2);
            topic.close();
            assert!(matches!(
                topic.publish_async(3).await,
                Err(PublishError::Closed(_))
            ));
            let prio = Topic::<u8>::builder().priority(2).build();
            let _sub = prio.subscribe();
            assert!(matches!(
                prio.publish_async(Message::new(1).priority(7)).await,
                Err(PublishError::InvalidPriority(_))
            ));
        });
    }
}

/// Cancelled `recv_async` / `recv_ack_async` on a subscriber and on a port
/// lose nothing and leave no trace.
#[test]
fn cancelled_port_recv_async_loses_nothing() {
    const N: u64 = 5_000;
    for rt in runtimes() {
        // Port, recv_async.
        let (tx, port) = Port::<u64>::builder().capacity(32).build();
        let (cancelled_once, first) = first_cancel();
        let producer = thread::spawn(move || {
            (0..N - 1).for_each(|n| tx.send(n).unwrap());
            first.wait();
            tx.send(N - 1).unwrap();
        });
        let (got, cancelled) = rt.block_on(async {
            let (mut got, mut cancelled) = (Vec::new(), 0);
            let mut tick = ticker();
            loop {
                tokio::select! {
                    biased;
                    _ = tick.tick() => {
                        cancelled += 1;
                        cancelled_once.note();
                    }
                    m = port.recv_async() => match m {
                        Ok(m) => got.push(m.into_body()),
                        Err(_) => break,
                    },
                }
            }
            (got, cancelled)
        });
        producer.join().unwrap();
        assert!(cancelled > 0);
        assert_exactly_once(got, N);
    }
}

/// A cancelled `recv_ack_async` on a subscriber (with a prefetch limit)
/// leaves no trace.
#[test]
fn cancelled_subscriber_recv_ack_async_leaves_no_trace() {
    const N: u64 = 5_000;
    for rt in runtimes() {
        let topic = Topic::<u64>::builder().capacity(32).build();
        let sub = topic.subscribe().with_prefetch(2);
        let (cancelled_once, first) = first_cancel();
        let publisher = thread::spawn(move || {
            (0..N - 1).for_each(|n| assert_eq!(topic.publish(n).unwrap(), 1));
            first.wait();
            assert_eq!(topic.publish(N - 1).unwrap(), 1);
        });
        let (got, cancelled) = rt.block_on(async {
            let (mut got, mut cancelled) = (Vec::new(), 0);
            let mut tick = ticker();
            loop {
                tokio::select! {
                    biased;
                    _ = tick.tick() => {
                        cancelled += 1;
                        cancelled_once.note();
                    }
                    d = sub.recv_ack_async() => match d {
                        Ok(d) => {
                            assert!(!d.is_redelivered());
                            got.push(*d.body());
                            d.ack();
                        }
                        Err(_) => break,
                    },
                }
            }
            (got, cancelled)
        });
        publisher.join().unwrap();
        assert!(cancelled > 0);
        let stats = sub.stats();
        assert_eq!((stats.acked, stats.redelivered, stats.unacked), (N, 0, 0));
        assert_exactly_once(got, N);
    }
}

// ---- monitors -------------------------------------------------------------

/// `Monitor::recv_async` gets one notice per ended process, also when a
/// timer keeps cancelling it.
#[test]
fn monitor_recv_async_counts_every_end() {
    const PROCESSES: usize = 50;
    for rt in runtimes() {
        let office = PostOffice::new();
        let monitor = Monitor::new(&office);
        let mut pids = HashSet::new();
        let mut processes = Vec::new();
        for _ in 0..PROCESSES {
            let p = office.anonymous::<u8>();
            monitor.watch(p.pid());
            pids.insert(p.pid());
            processes.push(p);
        }
        // The last process ends only once a receive was cancelled.
        let (cancelled_once, first) = first_cancel();
        let ender = thread::spawn(move || {
            let last = processes.pop();
            for p in processes {
                drop(p);
                thread::sleep(Duration::from_micros(20));
            }
            first.wait();
            drop(last);
        });
        let (seen, cancelled) = rt.block_on(async {
            let fut = monitor.recv_async();
            is_send(&fut);
            drop(fut);
            let (mut seen, mut cancelled) = (HashSet::new(), 0);
            let mut tick = ticker();
            while seen.len() < PROCESSES {
                tokio::select! {
                    biased;
                    _ = tick.tick() => {
                        cancelled += 1;
                        cancelled_once.note();
                    }
                    down = monitor.recv_async() => {
                        let down = down.unwrap();
                        assert_eq!(down.reason(), &ExitReason::Normal);
                        assert!(seen.insert(down.pid()), "a notice came twice");
                    }
                }
            }
            (seen, cancelled)
        });
        ender.join().unwrap();
        assert!(cancelled > 0);
        assert_eq!(seen, pids);
        assert!(monitor.try_recv().is_err());
    }
}

// ---- processes ------------------------------------------------------------

/// Every receiving form of a process, from a task the process moved into
/// (the futures are `Send`).
#[test]
fn process_forms_from_a_spawned_task() {
    for rt in runtimes() {
        let office = PostOffice::new();
        let mut me = office.anonymous::<u64>();
        let alice = office.anonymous::<u64>();
        let bob = office.anonymous::<u64>();
        let to_me = me.address();
        let (alice_pid, bob_pid) = (alice.pid(), bob.pid());
        let senders = thread::spawn(move || {
            for n in 0..100 {
                alice.send_to(&to_me, n).unwrap();
                bob.send_to(&to_me, 1000 + n).unwrap();
            }
            (alice, bob)
        });
        let task = rt.spawn(async move {
            is_send(&me.recv_async());
            is_send(&me.recv_ack_async());
            is_send(&me.recv_from_async(bob_pid));
            is_send(&me.stream());
            // All of bob's first: alice's are set aside, in order.
            let mut from_bob = Vec::new();
            for _ in 0..100 {
                let m = me.recv_from_async(bob_pid).await.unwrap();
                assert_eq!(m.header().source(), Some(bob_pid));
                from_bob.push(m.into_body());
            }
            // Alice's come back in order through every form.
            let mut from_alice = Vec::new();
            for _ in 0..25 {
                from_alice.push(me.recv_async().await.unwrap().into_body());
            }
            for _ in 0..25 {
                let d = me.recv_ack_async().await.unwrap();
                from_alice.push(*d.body());
                d.ack();
            }
            for _ in 0..25 {
                let m = me
                    .recv_matching_async(|h| h.source() == Some(alice_pid))
                    .await
                    .unwrap();
                from_alice.push(m.into_body());
            }
            let mut stream = me.stream();
            for _ in 0..25 {
                from_alice.push(stream.next().await.unwrap().into_body());
            }
            drop(stream);
            assert!(me.is_empty());
            (from_bob, from_alice)
        });
        let (from_bob, from_alice) = rt.block_on(task).unwrap();
        senders.join().unwrap();
        assert_eq!(from_bob, (1000..1100).collect::<Vec<_>>());
        assert_eq!(from_alice, (0..100).collect::<Vec<_>>());
    }
}

/// A set-aside message waiting for a prefetch slot: `recv_ack_async` waits
/// for the slot (woken by the ack), keeps the save queue's order, and a
/// cancelled wait puts the message back first in line.
#[test]
fn process_recv_ack_async_waits_for_a_slot_for_saved_messages() {
    for rt in runtimes() {
        rt.block_on(async {
            let office = PostOffice::new();
            let mut me = office.anonymous::<u32>().with_prefetch(1);
            let other = office.anonymous::<u32>();
            let to_me = me.address();
            for n in 0..3 {
                to_me.send(n).unwrap();
            }
            other.send_to(&to_me, 99).unwrap();
            // 0, 1, 2 set aside.
            assert_eq!(
                me.recv_from_async(other.pid()).await.unwrap().into_body(),
                99
            );
            let first = me.recv_ack_async().await.unwrap();
            assert_eq!(*first.body(), 0);
            // No slot: cancelled twice, then woken by the ack.
            for _ in 0..2 {
                let waited =
                    tokio::time::timeout(Duration::from_millis(5), me.recv_ack_async()).await;
                assert!(waited.is_err(), "a delivery without a slot");
            }
            let acker = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                first.ack();
            });
            let second = me.recv_ack_async().await.unwrap();
            assert_eq!(*second.body(), 1, "the cancelled waits kept the order");
            acker.await.unwrap();
            second.ack();
            let third = me.recv_ack_async().await.unwrap();
            assert_eq!(*third.body(), 2);
            third.ack();
            assert_eq!(me.stats().redelivered, 0);
        });
    }
}

/// Cancelled process receives (plain, acknowledged, selective) lose
/// nothing and reorder nothing: each source's messages arrive once, in the
/// order sent.
#[test]
fn cancelled_process_receives_lose_nothing() {
    const N: u64 = 3_000;
    for rt in runtimes() {
        let office = PostOffice::new();
        let mut me = office.anonymous_with::<u64>(Port::builder().capacity(16));
        let to_me = me.address();
        let a = office.anonymous::<u64>();
        let b = office.anonymous::<u64>();
        let a_pid = a.pid();
        // The senders start once a first receive was cancelled while
        // waiting: at least one cancellation however fast the rest runs (the
        // ticks below need the timer, whose first tick may come only after
        // the whole exchange).
        let gate = Arc::new(Barrier::new(2));
        let open = Arc::clone(&gate);
        let senders = thread::spawn(move || {
            open.wait();
            for n in 0..N {
                // Evens from a, odds from b.
                let from = if n % 2 == 0 { &a } else { &b };
                from.send_to(&to_me, n).unwrap();
            }
            (a, b)
        });
        let (from_a, rest, cancelled) = rt.block_on(async {
            let mut tick = ticker();
            let mut cancelled = 0u64;
            {
                let mut waiting = std::pin::pin!(me.recv_from_async(a_pid));
                let mut cx = Context::from_waker(Waker::noop());
                assert!(
                    waiting.as_mut().poll(&mut cx).is_pending(),
                    "nothing sent yet"
                );
                cancelled += 1;
            }
            gate.wait();
            // Selective: a's messages only; b's are set aside meanwhile.
            let mut from_a = Vec::new();
            while (from_a.len() as u64) < N / 2 {
                tokio::select! {
                    biased;
                    _ = tick.tick() => cancelled += 1,
                    m = me.recv_from_async(a_pid) => from_a.push(m.unwrap().into_body()),
                }
            }
            // Then everything else, alternating plain and acknowledged.
            let mut rest = Vec::new();
            while (rest.len() as u64) < N / 2 {
                if rest.len() % 2 == 0 {
                    tokio::select! {
                        biased;
                        _ = tick.tick() => cancelled += 1,
                        m = me.recv_async() => rest.push(m.unwrap().into_body()),
                    }
                } else {
                    tokio::select! {
                        biased;
                        _ = tick.tick() => cancelled += 1,
                        d = me.recv_ack_async() => {
                            let d = d.unwrap();
                            assert!(!d.is_redelivered());
                            rest.push(*d.body());
                            d.ack();
                        }
                    }
                }
            }
            (from_a, rest, cancelled)
        });
        senders.join().unwrap();
        assert!(cancelled > 0);
        assert_eq!(from_a, (0..N).step_by(2).collect::<Vec<_>>());
        assert_eq!(rest, (1..N).step_by(2).collect::<Vec<_>>());
        assert!(me.is_empty());
        assert_eq!(me.stats().redelivered, 0);
    }
}

/// `request_async` round trips with a server task and with a server
/// thread, other messages keeping their order; and the errors.
#[test]
fn request_async_round_trips() {
    const REQUESTS: u64 = 200;
    for rt in runtimes() {
        let office = PostOffice::new();
        // A server thread.
        let _thread_server = office
            .spawn::<u64, _>("thread-doubler", |me| {
                while let Ok(request) = me.recv() {
                    let n = *request.body();
                    me.reply(request.header(), n * 2).unwrap();
                }
            })
            .unwrap();
        // A server task.
        let mut task_server = office.process::<u64>("task-doubler").unwrap();
        let server_task = rt.spawn(async move {
            let mut served = 0;
            while let Ok(request) = task_server.recv_async().await {
                let n = *request.body();
                task_server.reply(request.header(), n * 2).unwrap();
                served += 1;
                if served == REQUESTS {
                    break;
                }
            }
            task_server // ends when dropped by the caller
        });
        let mut client = office.anonymous::<u64>();
        let noise = office.anonymous::<u64>();
        let to_client = client.address();
        let by_thread = office.lookup::<u64>("thread-doubler").unwrap();
        let by_task = office.lookup::<u64>("task-doubler").unwrap();
        let (client, server) = rt.block_on(async move {
            let fut = client.request_async(&by_task, 1);
            is_send(&fut);
            drop(fut); // a request future never polled sends nothing
            for n in 0..REQUESTS {
                noise.send_to(&to_client, 10_000 + n).unwrap();
                let r = client.request_async(&by_thread, n).await.unwrap();
                assert_eq!(r.into_body(), 2 * n);
                let r = client.request_async(&by_task, n).await.unwrap();
                assert_eq!(r.header().source(), Some(by_task.pid()));
                assert_eq!(r.into_body(), 2 * n);
            }
            // The noise waited, in order.
            for n in 0..REQUESTS {
                assert_eq!(client.recv_async().await.unwrap().into_body(), 10_000 + n);
            }
            let server = server_task.await.unwrap();
            (client, server)
        });
        // The task server ends without replying: `Ended`, not a hang.
        let server_pid = server.pid();
        let mut client = client;
        let by_task = office.lookup::<u64>("task-doubler").unwrap();
        let ended = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            drop(server);
        });
        let err = rt.block_on(client.request_async(&by_task, 5)).unwrap_err();
        assert!(matches!(err, RequestError::Ended(pid) if pid == server_pid));
        ended.join().unwrap();
        // And to a process that had ended: the request comes back.
        let err = rt.block_on(client.request_async(&by_task, 6)).unwrap_err();
        assert!(matches!(err, RequestError::Unsent(_)));
    }
}

/// A request to a full server inbox awaits room; dropped meanwhile, it sent
/// nothing; a server that never answers is left with a timeout, and its
/// late reply lands in the inbox like any other message.
#[test]
fn request_async_backpressure_and_cancellation() {
    for rt in runtimes() {
        let office = PostOffice::new();
        let server: Process<u64> = office
            .process_with("slow", Port::builder().capacity(1))
            .unwrap();
        let mut client = office.anonymous::<u64>();
        let to_server = office.lookup::<u64>("slow").unwrap();
        to_server.send(0).unwrap(); // the inbox is full
        rt.block_on(async {
            let waited = tokio::time::timeout(
                Duration::from_millis(10),
                client.request_async(&to_server, 1),
            )
            .await;
            assert!(waited.is_err(), "a full inbox took the request");
        });
        // The cancelled request was never sent.
        assert_eq!(server.recv().unwrap().into_body(), 0);
        assert!(server.try_recv().is_err());
        // Now sent, never answered in time: cancelled while awaiting.
        rt.block_on(async {
            let waited = tokio::time::timeout(
                Duration::from_millis(10),
                client.request_async(&to_server, 2),
            )
            .await;
            assert!(waited.is_err());
        });
        let request = server.recv().unwrap();
        assert_eq!(*request.body(), 2);
        server.reply(request.header(), 20u64).unwrap();
        // The late reply is an ordinary message now.
        let late = rt.block_on(client.recv_async()).unwrap();
        assert!(late.header().is_reply());
        assert_eq!(late.into_body(), 20);
        // A thread frees room while a request awaits it.
        to_server.send(0).unwrap();
        let server = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            assert_eq!(server.recv().unwrap().into_body(), 0);
            let request = server.recv().unwrap();
            server
                .reply(request.header(), *request.body() * 10)
                .unwrap();
            server
        });
        let reply = rt.block_on(client.request_async(&to_server, 3)).unwrap();
        assert_eq!(reply.into_body(), 30);
        server.join().unwrap();
    }
}

/// A request to a server whose inbox is a rendezvous (capacity 0), served
/// by a task: the request waits on offer until the server's `recv_async`
/// takes it, on both runtimes.
#[test]
fn request_async_to_a_rendezvous_task_server() {
    const REQUESTS: u64 = 50;
    for rt in runtimes() {
        let office = PostOffice::new();
        let mut server = office
            .process_with::<u64>("rendezvous-doubler", postbox::Port::builder().capacity(0))
            .unwrap();
        let served = rt.spawn(async move {
            let mut served = 0;
            while served < REQUESTS {
                let request = server.recv_async().await.unwrap();
                server.reply(request.header(), *request.body() * 2).unwrap();
                served += 1;
            }
            (server, served)
        });
        let mut client = office.anonymous::<u64>();
        let to = office.lookup::<u64>("rendezvous-doubler").unwrap();
        rt.block_on(async {
            for n in 0..REQUESTS {
                let reply = client.request_async(&to, n).await.unwrap();
                assert_eq!(reply.into_body(), 2 * n);
            }
        });
        let (_server, served) = rt.block_on(served).unwrap();
        assert_eq!(served, REQUESTS);
    }
}
