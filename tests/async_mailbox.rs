//! Async sends and receives on mailboxes (issue 11): every form from tokio
//! on both runtimes, tasks and threads on one mailbox, rendezvous and
//! confirmations from tasks, permits, custom backends, and a stress test
//! that counts every message.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use postbox::{
    Confirm, Mailbox, MailboxBuilder, Message, PopError, PushError, Queue, ReceiptError,
    ReceiptState, Requeue, ReserveError, SendError,
};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn runtimes() -> [tokio::runtime::Runtime; 2] {
    [multi_thread(), current_thread()]
}

fn backends() -> Vec<(&'static str, MailboxBuilder<u64>)> {
    vec![
        ("fifo bounded", Mailbox::builder().capacity(8)),
        ("fifo unbounded", Mailbox::builder().unbounded()),
        ("fifo rendezvous", Mailbox::builder().capacity(0)),
        (
            "priority bounded",
            Mailbox::builder().priority(4).capacity(8),
        ),
        (
            "priority unbounded",
            Mailbox::builder().priority(4).unbounded(),
        ),
        (
            "priority rendezvous",
            Mailbox::builder().priority(4).capacity(0),
        ),
    ]
}

/// Task to task on every backend and both runtimes: every message arrives
/// once, in order (one producer).
#[test]
fn task_to_task_every_backend_both_runtimes() {
    for rt in runtimes() {
        for (name, builder) in backends() {
            let (tx, rx) = builder.build();
            let got = rt.block_on(async move {
                let producer = tokio::spawn(async move {
                    for n in 0..500u64 {
                        tx.send_async(n).await.unwrap();
                    }
                });
                let mut got = Vec::new();
                while let Ok(msg) = rx.recv_async().await {
                    got.push(msg.into_body());
                }
                producer.await.unwrap();
                got
            });
            assert_eq!(got, (0..500).collect::<Vec<_>>(), "{name}");
        }
    }
}

/// Threads send, a task receives; a task sends, threads receive: the two
/// worlds on one mailbox, both directions, every backend.
#[test]
fn threads_and_tasks_share_a_mailbox() {
    let rt = multi_thread();
    for (name, builder) in backends() {
        // Blocking producers, async consumer.
        let (tx, rx) = builder.build();
        let producers: Vec<_> = (0..3u64)
            .map(|p| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for n in 0..200 {
                        tx.send(p * 1000 + n).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let got: Vec<u64> = rt.block_on(rx.stream().map(|m| m.into_body()).collect());
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(got.len(), 600, "{name}");
        assert_eq!(got.iter().collect::<HashSet<_>>().len(), 600, "{name}");

        // Async producer, blocking consumers.
        let (tx, rx) = backends()
            .into_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, b)| b.build())
            .unwrap();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || rx.iter().map(|m| m.into_body()).collect::<Vec<_>>())
            })
            .collect();
        drop(rx);
        rt.block_on(async move {
            for n in 0..600u64 {
                tx.send_async(n).await.unwrap();
            }
        });
        let mut all: Vec<u64> = consumers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..600).collect::<Vec<_>>(), "{name}");
    }
}

/// Many tasks on the multi-threaded runtime and blocking threads, sending
/// and receiving on one bounded mailbox at once: every message is received
/// exactly once, and nothing hangs.
#[test]
fn stress_tasks_and_threads_count_every_message() {
    const TASKS: u64 = 16;
    const THREADS: u64 = 2;
    const PER: u64 = 5_000;
    for builder in [
        Mailbox::<u64>::builder().capacity(16),
        Mailbox::<u64>::builder().priority(8).capacity(16),
        Mailbox::<u64>::builder().capacity(0),
    ] {
        let (tx, rx) = builder.build();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let rt = multi_thread();
        let thread_consumers: Vec<_> = (0..THREADS)
            .map(|_| {
                let rx = rx.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mine: Vec<u64> = rx.iter().map(|m| m.into_body()).collect();
                    seen.lock().unwrap().extend(mine);
                })
            })
            .collect();
        let thread_producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for n in 0..PER {
                        tx.send(Message::new((TASKS + t) * PER + n).priority((n % 8) as u8))
                            .unwrap();
                    }
                })
            })
            .collect();
        rt.block_on(async {
            let mut handles = Vec::new();
            for t in 0..TASKS {
                let tx = tx.clone();
                handles.push(tokio::spawn(async move {
                    for n in 0..PER {
                        let msg = Message::new(t * PER + n).priority((n % 8) as u8);
                        tx.send_async(msg).await.unwrap();
                    }
                }));
            }
            for _ in 0..4 {
                let rx = rx.clone();
                let seen = seen.clone();
                handles.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while let Ok(msg) = rx.recv_async().await {
                        mine.push(msg.into_body());
                    }
                    seen.lock().unwrap().extend(mine);
                }));
            }
            drop(tx);
            drop(rx);
            for p in thread_producers {
                tokio::task::spawn_blocking(move || p.join().unwrap())
                    .await
                    .unwrap();
            }
            for h in handles {
                h.await.unwrap();
            }
        });
        for c in thread_consumers {
            c.join().unwrap();
        }
        let mut all = std::mem::take(&mut *seen.lock().unwrap());
        let total = (TASKS + THREADS) * PER;
        assert_eq!(all.len() as u64, total, "lost or duplicated");
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len() as u64, total, "a message arrived twice");
    }
}

/// A rendezvous between a task and a thread, both directions, and between
/// two tasks: a send completes only when a receiver took the message.
#[test]
fn rendezvous_from_tasks() {
    for rt in runtimes() {
        for levels in [None, Some(3u8)] {
            let builder = match levels {
                None => Mailbox::<u64>::builder().capacity(0),
                Some(l) => Mailbox::<u64>::builder().priority(l).capacity(0),
            };
            let (tx, rx) = builder.build();
            // Task sends, thread receives.
            let receiver = std::thread::spawn({
                let rx = rx.clone();
                move || rx.recv().unwrap().into_body()
            });
            rt.block_on(tx.send_async(1)).unwrap();
            assert_eq!(receiver.join().unwrap(), 1);
            // Thread sends, task receives.
            let sender = std::thread::spawn({
                let tx = tx.clone();
                move || tx.send(2).unwrap()
            });
            assert_eq!(rt.block_on(rx.recv_async()).unwrap().into_body(), 2);
            sender.join().unwrap();
            // A send with nobody receiving stays pending, and completes
            // the moment a task receives.
            let out = rt.block_on(async {
                let send = tx.send_async(3);
                let recv = async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    rx.recv_async().await
                };
                let (sent, got) = tokio::join!(send, recv);
                sent.unwrap();
                got.unwrap().into_body()
            });
            assert_eq!(out, 3);
            assert_eq!(rx.len(), 0);
        }
    }
}

/// A rendezvous send cancelled before a receiver came takes its message
/// back: nothing is delivered, nothing is counted sent.
#[test]
fn cancelled_rendezvous_send_delivers_nothing() {
    let rt = current_thread();
    let (tx, rx) = Mailbox::<u64>::builder().capacity(0).build();
    rt.block_on(async {
        let timed_out = tokio::time::timeout(Duration::from_millis(5), tx.send_async(9)).await;
        assert!(timed_out.is_err());
    });
    assert!(rx.try_recv().is_err());
    assert_eq!(rx.stats().sent, 0);
}

/// Confirmations from a task: `Confirm::Received` returns once a receiver
/// took the message, `Confirm::Acked` once it was acked; a rejected message
/// ends as `Unconfirmed` with its receipt.
#[test]
fn confirmations_from_tasks() {
    let rt = multi_thread();
    let (tx, rx) = Mailbox::<u64>::builder().build();
    let worker = std::thread::spawn(move || {
        let first = rx.recv_ack().unwrap();
        first.ack();
        let second = rx.recv_ack().unwrap();
        second.nack(Requeue::No);
    });
    let acked = tx.clone().with_confirm(Confirm::Acked);
    rt.block_on(async {
        acked.send_async(1).await.unwrap();
        match acked.send_async(2).await {
            Err(SendError::Unconfirmed(receipt)) => {
                assert_eq!(receipt.state(), ReceiptState::Dropped);
                assert_eq!(receipt.wait_acked_async().await, Err(ReceiptError::Closed));
            }
            other => panic!("expected Unconfirmed, got {other:?}"),
        }
    });
    worker.join().unwrap();
    drop(tx);
}

/// A permit holds its room: sends (blocking or not) wait or fail while it
/// is held, its own send never finds the mailbox full, and dropping it
/// gives the room back at once, to a waiting task.
#[test]
fn permits_hold_room() {
    let rt = multi_thread();
    for builder in [
        Mailbox::<u64>::builder().capacity(2),
        Mailbox::<u64>::builder().priority(2).capacity(2),
    ] {
        let (tx, rx) = builder.build();
        rt.block_on(async {
            tx.send_async(1).await.unwrap();
            let permit = tx.reserve_async().await.unwrap();
            assert!(tx.try_send(2).unwrap_err().is_full(), "room is held");
            assert_eq!(tx.try_reserve().unwrap_err(), ReserveError::Full);
            // A task waiting for room gets it when the permit is dropped.
            let waiter = {
                let tx = tx.clone();
                tokio::spawn(async move { tx.send_async(3).await })
            };
            tokio::time::sleep(Duration::from_millis(5)).await;
            assert!(!waiter.is_finished());
            drop(permit);
            waiter.await.unwrap().unwrap();
            // The mailbox is full again: a new permit waits for a receive.
            let reserve = tx.reserve_async();
            let received = rx.recv_async().await.unwrap().into_body();
            assert_eq!(received, 1);
            reserve.await.unwrap().send(4).unwrap();
        });
        let left: Vec<u64> = rx.try_iter().map(|m| m.into_body()).collect();
        assert_eq!(left, [3, 4]);
    }
}

/// A FIFO permit's message keeps FIFO order against sends that came after
/// it, even when a racing send took its room (the late lane): many rounds of
/// a permit racing a sender thread, each round checked.
#[test]
fn fifo_permits_race_senders_without_loss() {
    let (tx, rx) = Mailbox::<u64>::builder().capacity(4).build();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let tx = tx.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if tx.try_send(1_000_000 + n).is_ok() {
                    n += 1;
                }
            }
            n
        })
    };
    let consumer = std::thread::spawn(move || rx.iter().map(|m| m.into_body()).collect::<Vec<_>>());
    let rt = multi_thread();
    rt.block_on(async {
        for n in 0..20_000u64 {
            tx.reserve_async().await.unwrap().send(n).unwrap();
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let raced = racer.join().unwrap();
    drop(tx);
    let got = consumer.join().unwrap();
    assert_eq!(got.len() as u64, 20_000 + raced, "lost or duplicated");
    let permits: Vec<u64> = got.iter().copied().filter(|&n| n < 1_000_000).collect();
    assert_eq!(permits, (0..20_000).collect::<Vec<_>>(), "permit order");
    let racers: Vec<u64> = got.iter().copied().filter(|&n| n >= 1_000_000).collect();
    assert!(racers.windows(2).all(|w| w[0] < w[1]), "racer order");
}

/// A closed mailbox: pending receives end with an error once it is empty,
/// pending sends and reservations fail with `Closed` (message handed back).
#[test]
fn close_wakes_every_task() {
    let rt = multi_thread();
    let (tx, rx) = Mailbox::<u64>::builder().capacity(1).build();
    rt.block_on(async {
        tx.send_async(1).await.unwrap();
        let blocked_send = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.send_async(2).await })
        };
        let blocked_reserve = {
            let tx = tx.clone();
            tokio::spawn(async move { tx.reserve_async().await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let left = rx.close();
        assert_eq!(left.len(), 1);
        match blocked_send.await.unwrap() {
            Err(SendError::Closed(msg)) => assert_eq!(msg.into_body(), 2),
            other => panic!("expected Closed, got {other:?}"),
        }
        assert_eq!(blocked_reserve.await.unwrap(), Err(ReserveError::Closed));
        assert!(rx.recv_async().await.is_err());
    });
    let (tx, rx) = Mailbox::<u64>::builder().build();
    let rx2 = rx.clone();
    let waiting = rt.spawn(async move { rx2.recv_async().await.map(|m| m.into_body()) });
    std::thread::sleep(Duration::from_millis(5));
    drop(tx);
    assert!(rt.block_on(waiting).unwrap().is_err());
    drop(rx);
}

/// A custom backend without readiness support still works from tasks: the
/// mailbox wakes tasks after its own pushes and pops.
#[test]
fn custom_backend_from_tasks() {
    #[derive(Default)]
    struct Lifo {
        items: Mutex<(Vec<Message<u64>>, bool)>,
    }
    impl Queue<u64> for Lifo {
        fn try_push(&self, msg: Message<u64>) -> Result<(), PushError<u64>> {
            let mut g = self.items.lock().unwrap();
            if g.1 {
                return Err(PushError::Closed(msg));
            }
            if g.0.len() >= 2 {
                return Err(PushError::Full(msg));
            }
            g.0.push(msg);
            Ok(())
        }
        fn push(
            &self,
            mut msg: Message<u64>,
            deadline: Option<Instant>,
        ) -> Result<(), PushError<u64>> {
            loop {
                msg = match self.try_push(msg) {
                    Err(PushError::Full(m)) if deadline.is_none_or(|d| Instant::now() < d) => m,
                    Err(PushError::Full(m)) => return Err(PushError::Timeout(m)),
                    done => return done,
                };
                std::thread::yield_now();
            }
        }
        fn try_pop(&self) -> Result<Message<u64>, PopError> {
            let mut g = self.items.lock().unwrap();
            match g.0.pop() {
                Some(m) => Ok(m),
                None if g.1 => Err(PopError::Closed),
                None => Err(PopError::Empty),
            }
        }
        fn pop(&self, deadline: Option<Instant>) -> Result<Message<u64>, PopError> {
            loop {
                match self.try_pop() {
                    Err(PopError::Empty) if deadline.is_none_or(|d| Instant::now() < d) => {
                        std::thread::yield_now()
                    }
                    Err(PopError::Empty) => return Err(PopError::Timeout),
                    other => return other,
                }
            }
        }
        fn len(&self) -> usize {
            self.items.lock().unwrap().0.len()
        }
        fn capacity(&self) -> Option<usize> {
            Some(2)
        }
        fn close(&self) -> bool {
            !std::mem::replace(&mut self.items.lock().unwrap().1, true)
        }
        fn is_closed(&self) -> bool {
            self.items.lock().unwrap().1
        }
    }
    let (tx, rx) = Mailbox::<u64>::builder().backend(Lifo::default()).build();
    let rt = multi_thread();
    let got = rt.block_on(async move {
        let producer = tokio::spawn(async move {
            for n in 0..1_000u64 {
                tx.send_async(n).await.unwrap();
            }
        });
        let mut got = Vec::new();
        while let Ok(msg) = rx.recv_async().await {
            got.push(msg.into_body());
        }
        producer.await.unwrap();
        got
    });
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1_000).collect::<Vec<_>>());
}

/// Futures are `Send` when the body is: they can be spawned on a
/// multi-threaded runtime.
#[test]
fn futures_are_send() {
    fn is_send<F: Send>(_: &F) {}
    let (tx, rx) = Mailbox::<String>::builder().build();
    is_send(&tx.send_async("a".to_string()));
    is_send(&tx.reserve_async());
    is_send(&rx.recv_async());
    is_send(&rx.recv_ack_async());
    is_send(&rx.stream());
    let receipt = tx.send_tracked("b".to_string()).unwrap();
    is_send(&receipt.wait_async());
    // And they work when spawned.
    let rt = multi_thread();
    let handle = rt.spawn(async move { rx.recv_async().await.map(|m| m.into_body()) });
    assert_eq!(rt.block_on(handle).unwrap().unwrap(), "b");
}

/// A custom backend whose messages become visible only when released
/// (as messages that ripen with time would): the mailbox cannot see the
/// release, so a waiting task learns of it through the readiness hook if the
/// backend takes it, and by polling if it does not.
#[test]
fn custom_backend_readiness_hook_or_polling() {
    use postbox::ReadyHook;
    use std::sync::Arc;

    #[derive(Default)]
    struct Held {
        state: Mutex<(Vec<Message<u64>>, usize, bool)>,
        hook: Mutex<Option<ReadyHook>>,
        takes_hook: bool,
    }
    impl Held {
        /// Makes the first `n` held messages visible.
        fn release(&self, n: usize) {
            self.state.lock().unwrap().1 = n;
            if let Some(hook) = &*self.hook.lock().unwrap() {
                hook.message_ready();
            }
        }
    }
    struct Shared(Arc<Held>);
    impl std::ops::Deref for Shared {
        type Target = Held;
        fn deref(&self) -> &Held {
            &self.0
        }
    }
    impl Queue<u64> for Shared {
        fn try_push(&self, msg: Message<u64>) -> Result<(), PushError<u64>> {
            self.state.lock().unwrap().0.push(msg);
            Ok(())
        }
        fn push(&self, msg: Message<u64>, _: Option<Instant>) -> Result<(), PushError<u64>> {
            self.try_push(msg)
        }
        fn try_pop(&self) -> Result<Message<u64>, PopError> {
            let mut g = self.state.lock().unwrap();
            if g.1 > 0 && !g.0.is_empty() {
                g.1 -= 1;
                return Ok(g.0.remove(0));
            }
            if g.2 {
                Err(PopError::Closed)
            } else {
                Err(PopError::Empty)
            }
        }
        fn pop(&self, _: Option<Instant>) -> Result<Message<u64>, PopError> {
            self.try_pop()
        }
        fn len(&self) -> usize {
            self.state.lock().unwrap().0.len()
        }
        fn capacity(&self) -> Option<usize> {
            None
        }
        fn close(&self) -> bool {
            !std::mem::replace(&mut self.state.lock().unwrap().2, true)
        }
        fn is_closed(&self) -> bool {
            self.state.lock().unwrap().2
        }
        fn ready_hook(&self, hook: ReadyHook) -> bool {
            if self.takes_hook {
                *self.hook.lock().unwrap() = Some(hook);
            }
            self.takes_hook
        }
    }
    let rt = multi_thread();
    for takes_hook in [true, false] {
        let held = Arc::new(Held {
            takes_hook,
            ..Held::default()
        });
        let (tx, rx) = Mailbox::<u64>::builder()
            .backend(Shared(held.clone()))
            .build();
        tx.send(1).unwrap();
        let waiting = rt.spawn(async move { rx.recv_async().await.map(|m| m.into_body()) });
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiting.is_finished(), "nothing was visible yet");
        let released = Instant::now();
        held.release(1);
        let got = rt.block_on(waiting).unwrap().unwrap();
        assert_eq!(got, 1);
        // With the hook the wake is immediate; polling looks at least every
        // 32 ms.
        assert!(
            released.elapsed() < Duration::from_secs(1),
            "hook={takes_hook}"
        );
        assert_eq!(held.hook.lock().unwrap().is_some(), takes_hook);
    }
}
