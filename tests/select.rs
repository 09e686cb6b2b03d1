//! `Select`: waiting on several sources at once.
//!
//! The per-backend suite runs on every backend of `common::BACKENDS`, the
//! rendezvous ones included (a select polls, and takes a blocked
//! sender's message on either backend). The rest are standalone:
//! mixed message types, ordering (biased and fair), closing, timeouts, and
//! exactly-once delivery under real threads.

#[macro_use]
mod common;

use std::collections::HashSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn, Backend, DeadlineQueue, SETTLE, TIMEOUT};
use postbox::{
    Confirm, Mailbox, Message, Port, Receiver, RecvError, RecvTimeoutError, Select, Sender, Source,
    TryRecvError, Wait,
};

/// A short timeout for the tests that expect one.
const SHORT: Duration = Duration::from_millis(50);

/// Runs each listed `fn(Backend)` once per backend a select supports, in one
/// module per backend (`fifo_rendezvous::blocks_until_a_message_arrives`).
macro_rules! per_select_backend {
    ($tests:tt) => {
        per_select_backend!(@one fifo_bounded, FIFO_BOUNDED, $tests);
        per_select_backend!(@one fifo_unbounded, FIFO_UNBOUNDED, $tests);
        per_select_backend!(@one fifo_rendezvous, FIFO_RENDEZVOUS, $tests);
        per_select_backend!(@one priority_bounded, PRIORITY_BOUNDED, $tests);
        per_select_backend!(@one priority_unbounded, PRIORITY_UNBOUNDED, $tests);
        per_select_backend!(@one priority_rendezvous, PRIORITY_RENDEZVOUS, $tests);
        per_select_backend!(@one deadline_bounded, DEADLINE_BOUNDED, $tests);
    };
    (@one $module:ident, $backend:ident, { $($test:ident),* $(,)? }) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test(crate::common::$backend)
                }
            )*
        }
    };
}

per_select_backend!({
    picks_the_ready_source,
    blocks_until_a_message_arrives,
    every_message_once_with_competing_selects,
    closed_only_when_every_source_is_closed,
    blocked_select_wakes_when_last_sender_drops,
    closed_source_is_skipped,
});

/// Waits far less than [`TIMEOUT`] for a select that must deliver or find
/// everything closed: `Err(RecvError)` when closed. Fails the test on a
/// timeout, and on a call that took half of it (a missed wake-up that only
/// the deadline's last poll rescued).
fn timely<R>(sel: &mut Select<'_, R>) -> Result<R, RecvError> {
    let start = Instant::now();
    let got = sel.select_timeout(TIMEOUT);
    let took = start.elapsed();
    assert!(took < TIMEOUT / 2, "a select took {took:?}: missed wake-up");
    match got {
        Ok(r) => Ok(r),
        Err(RecvTimeoutError::Closed) => Err(RecvError),
        Err(RecvTimeoutError::Timeout) => panic!("a select timed out: missed wake-up"),
    }
}

/// `n` mailboxes on one backend.
fn mailboxes<T: Send + 'static>(b: Backend, n: usize) -> (Vec<Sender<T>>, Vec<Receiver<T>>) {
    (0..n).map(|_| b.build::<T>()).unzip()
}

/// A select over `rxs` that returns (branch index, body).
fn indexed<T: Send>(rxs: &[Receiver<T>]) -> Select<'_, (usize, T)> {
    let mut sel = Select::new();
    for (i, rx) in rxs.iter().enumerate() {
        sel.recv(rx, move |m| (i, m.into_body()));
    }
    sel
}

fn picks_the_ready_source(b: Backend) {
    let (txs, rxs) = mailboxes::<u32>(b, 3);
    let mut sel = indexed(&rxs);
    assert_eq!(sel.try_select(), Err(TryRecvError::Empty), "{b:?}");
    // From another thread: on a rendezvous the send completes only when the
    // select takes the message.
    let sender = {
        let tx = txs[1].clone();
        spawn("sender", move || tx.send_timeout(42, TIMEOUT).is_ok())
    };
    assert_eq!(timely(&mut sel), Ok((1, 42)), "{b:?}");
    assert!(sender.join(), "{b:?}: send completed");
    for rx in &rxs {
        assert!(rx.is_empty(), "{b:?}: nothing else taken or left");
    }
    assert_eq!(rxs[1].stats().received, 1, "{b:?}: counted as received");

    if !b.is_rendezvous() {
        // Buffered: a queued message is found without waiting, from any
        // position.
        txs[2].send(7).unwrap();
        assert_eq!(sel.try_select(), Ok((2, 7)), "{b:?}");
        txs[0].send(8).unwrap();
        assert_eq!(sel.try_select(), Ok((0, 8)), "{b:?}");
        assert_eq!(sel.try_select(), Err(TryRecvError::Empty), "{b:?}");
    }
}

fn blocks_until_a_message_arrives(b: Backend) {
    let (txs, rxs) = mailboxes::<u32>(b, 2);
    let selector = spawn("selector", move || {
        let mut sel = indexed(&rxs);
        timely(&mut sel)
    });
    thread::sleep(SETTLE); // likely waiting by now
    assert!(
        !selector.is_finished(),
        "{b:?}: select returned with nothing sent"
    );
    txs[1].send_timeout(5, TIMEOUT).unwrap();
    assert_eq!(selector.join(), Ok((1, 5)), "{b:?}");
}

fn every_message_once_with_competing_selects(b: Backend) {
    const SOURCES: usize = 2;
    const PER_PRODUCER: usize = 2_000;
    let (txs, rxs) = mailboxes::<(usize, usize)>(b, SOURCES);
    let selectors: Vec<_> = (0..2)
        .map(|s| {
            let rxs = rxs.clone();
            spawn(format!("selector {s}"), move || {
                let mut got = Vec::new();
                let mut sel = indexed(&rxs);
                while let Ok((_, body)) = timely(&mut sel) {
                    got.push(body);
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(p, tx)| {
            spawn(format!("producer {p}"), move || {
                for seq in 0..PER_PRODUCER {
                    tx.send_timeout((p, seq), TIMEOUT).unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join();
    }
    let mut seen = HashSet::new();
    for s in selectors {
        for (p, seq) in s.join() {
            assert!(seen.insert((p, seq)), "{b:?}: ({p}, {seq}) received twice");
        }
    }
    assert_eq!(seen.len(), SOURCES * PER_PRODUCER, "{b:?}: none lost");
    for rx in &rxs {
        let stats = rx.stats();
        assert_eq!(stats.sent, PER_PRODUCER as u64, "{b:?}");
        assert_eq!(stats.received, stats.sent, "{b:?}");
        assert_eq!((stats.len, stats.dropped), (0, 0), "{b:?}");
    }
}

fn closed_only_when_every_source_is_closed(b: Backend) {
    let (mut txs, rxs) = mailboxes::<u32>(b, 2);
    let mut sel = indexed(&rxs);
    if !b.is_rendezvous() {
        txs[0].send(1).unwrap();
    }
    drop(txs.remove(0));
    // One source closed (its message still queued on buffered backends), the
    // other open: never Closed.
    if !b.is_rendezvous() {
        assert_eq!(sel.try_select(), Ok((0, 1)), "{b:?}: drained after close");
    }
    assert_eq!(sel.try_select(), Err(TryRecvError::Empty), "{b:?}");
    assert_eq!(
        sel.select_timeout(SHORT),
        Err(RecvTimeoutError::Timeout),
        "{b:?}"
    );
    drop(txs);
    assert_eq!(sel.try_select(), Err(TryRecvError::Closed), "{b:?}");
    assert_eq!(
        sel.select_timeout(SHORT),
        Err(RecvTimeoutError::Closed),
        "{b:?}"
    );
    assert_eq!(sel.select(), Err(RecvError), "{b:?}");
}

fn blocked_select_wakes_when_last_sender_drops(b: Backend) {
    let (txs, rxs) = mailboxes::<u32>(b, 2);
    let selector = spawn("selector", move || {
        timely(&mut indexed(&rxs)) // woke at once, not at the deadline
    });
    thread::sleep(SETTLE); // likely waiting by now
    drop(txs);
    assert_eq!(selector.join(), Err(RecvError), "{b:?}");
}

fn closed_source_is_skipped(b: Backend) {
    let (mut txs, rxs) = mailboxes::<u32>(b, 3);
    drop(txs.remove(0)); // source 0: closed and empty, listed first
    let tx = txs.remove(0);
    let sender = spawn("sender", move || {
        for n in 0..3 {
            tx.send_timeout(n, TIMEOUT).unwrap();
        }
    });
    let mut sel = Select::biased();
    for (i, rx) in rxs.iter().enumerate() {
        sel.recv(rx, move |m| (i, m.into_body()));
    }
    for n in 0..3 {
        assert_eq!(timely(&mut sel), Ok((1, n)), "{b:?}");
    }
    sender.join();
    // Sources 0 and 1 are closed and empty, 2 is open: nothing, not Closed.
    assert_eq!(sel.try_select(), Err(TryRecvError::Empty), "{b:?}");
    drop(txs);
    assert_eq!(sel.try_select(), Err(TryRecvError::Closed), "{b:?}");
}

/// A receiver and a port of different types in one select.
#[test]
fn mixes_message_types() {
    #[derive(Debug, PartialEq)]
    enum Event {
        Num(u32),
        Text(String),
    }
    let (num_tx, nums) = Mailbox::<u32>::builder().build();
    let (text_tx, texts) = Port::<String>::builder().build();
    let mut sel = Select::new();
    sel.recv(&nums, |m| Event::Num(m.into_body()))
        .recv(&texts, |m| Event::Text(m.into_body()));

    text_tx.send("hello".to_string()).unwrap();
    assert_eq!(sel.try_select(), Ok(Event::Text("hello".to_string())));
    num_tx.send(3).unwrap();
    assert_eq!(sel.try_select(), Ok(Event::Num(3)));

    let sender = spawn("sender", move || {
        text_tx.send("later".to_string()).unwrap();
        text_tx // keep the port open until joined
    });
    assert_eq!(timely(&mut sel), Ok(Event::Text("later".to_string())));
    let text_tx = sender.join();
    drop((num_tx, text_tx));
    assert_eq!(sel.select(), Err(RecvError));
}

/// `Source` works as a bound in user code.
#[test]
fn source_is_usable_as_a_bound() {
    fn first_body<S: Source>(source: &S) -> Option<S::Item> {
        let mut sel = Select::new();
        sel.recv(source, |m| m.into_body());
        sel.try_select().ok()
    }
    let (tx, rx) = Mailbox::<u8>::builder().build();
    let (ptx, port) = Port::<&str>::builder().build();
    tx.send(9).unwrap();
    ptx.send("p").unwrap();
    assert_eq!(first_body(&rx), Some(9));
    assert_eq!(first_body(&port), Some("p"));
    assert_eq!(first_body(&rx), None);
}

#[test]
fn try_select_empty_then_closed() {
    let (tx_a, a) = Mailbox::<u32>::builder().build();
    let (tx_b, b) = Mailbox::<u32>::builder().build();
    let mut sel = Select::new();
    sel.recv(&a, |m| m.into_body()).recv(&b, |m| m.into_body());
    assert_eq!(sel.try_select(), Err(TryRecvError::Empty));
    tx_b.send(2).unwrap();
    drop((tx_a, tx_b));
    // Closed, but a message is still queued: delivered first.
    assert_eq!(sel.try_select(), Ok(2));
    assert_eq!(sel.try_select(), Err(TryRecvError::Closed));
}

#[test]
fn timeout_deadline_and_nonblocking_forms() {
    let (_tx_a, a) = Mailbox::<u32>::builder().build();
    let (tx_b, b) = Mailbox::<u32>::builder().build();
    let mut sel = Select::new();
    sel.recv(&a, |m| m.into_body()).recv(&b, |m| m.into_body());

    let start = Instant::now();
    assert_eq!(sel.select_timeout(SHORT), Err(RecvTimeoutError::Timeout));
    assert!(start.elapsed() >= SHORT, "waited the whole timeout");

    let at = Instant::now() + SHORT;
    assert_eq!(sel.select_deadline(at), Err(RecvTimeoutError::Timeout));
    assert!(Instant::now() >= at, "waited until the deadline");

    // A deadline in the past still polls once.
    tx_b.send(4).unwrap();
    assert_eq!(sel.select_deadline(start), Ok(4));

    assert_eq!(
        sel.select_with(Wait::NonBlocking),
        Err(RecvTimeoutError::Timeout)
    );
    tx_b.send(5).unwrap();
    assert_eq!(sel.select_with(Wait::NonBlocking), Ok(5));
    tx_b.send(6).unwrap();
    assert_eq!(sel.select_with(Wait::Blocking), Ok(6));
    // A timeout too large for an Instant waits forever, as in std: here it
    // returns because a message is there.
    tx_b.send(7).unwrap();
    assert_eq!(sel.select_timeout(Duration::MAX), Ok(7));
}

#[test]
fn no_branches_is_closed_at_once() {
    let mut sel = Select::<'_, ()>::new();
    assert_eq!(sel.try_select(), Err(TryRecvError::Closed));
    assert_eq!(sel.select(), Err(RecvError));
    assert_eq!(sel.select_timeout(TIMEOUT), Err(RecvTimeoutError::Closed));
}

#[test]
fn biased_takes_the_first_ready_in_listed_order() {
    let boxes: Vec<_> = (0..3)
        .map(|_| Mailbox::<u32>::builder().unbounded().build())
        .collect();
    for (i, (tx, _)) in boxes.iter().enumerate() {
        for n in 0..5 {
            tx.send(i as u32 * 10 + n).unwrap();
        }
    }
    let mut sel = Select::biased();
    for (_, rx) in &boxes {
        sel.recv(rx, |m| m.into_body());
    }
    let order: Vec<u32> = (0..15).map(|_| sel.try_select().unwrap()).collect();
    let want: Vec<u32> = (0..3)
        .flat_map(|i| (0..5).map(move |n| i * 10 + n))
        .collect();
    assert_eq!(order, want);

    // A message on the first source wins over the others, even mid-way.
    boxes[2].0.send(99).unwrap();
    boxes[0].0.send(1).unwrap();
    assert_eq!(sel.try_select(), Ok(1));
    assert_eq!(sel.try_select(), Ok(99));
}

#[test]
fn fair_select_does_not_starve_later_branches() {
    const ROUNDS: usize = 1_000;
    let (tx_a, a) = Mailbox::<u32>::builder().unbounded().build();
    let (tx_b, b) = Mailbox::<u32>::builder().unbounded().build();
    let (_tx_c, c) = Mailbox::<u32>::builder().unbounded().build(); // never ready
    for _ in 0..ROUNDS {
        tx_a.send(0).unwrap();
        tx_b.send(1).unwrap();
    }
    let mut wins = [0usize; 3];
    let mut sel = Select::new();
    sel.recv(&a, |_| 0).recv(&c, |_| 2).recv(&b, |_| 1);
    for _ in 0..ROUNDS {
        wins[sel.try_select().unwrap()] += 1;
    }
    // Both sources were ready on every call.
    assert!(!a.is_empty() && !b.is_empty());
    assert_eq!(wins[2], 0);
    for (i, &w) in wins[..2].iter().enumerate() {
        assert!(
            w > ROUNDS / 10,
            "branch {i} won only {w} of {ROUNDS}: {wins:?}"
        );
    }
}

#[test]
fn the_same_source_in_two_branches_delivers_once() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let mut sel = Select::new();
    sel.recv(&rx, |m| ("first", m.into_body()))
        .recv(&rx, |m| ("second", m.into_body()));
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    let a = sel.try_select().unwrap();
    let b = sel.try_select().unwrap();
    assert_eq!((a.1, b.1), (1, 2));
    assert_eq!(sel.try_select(), Err(TryRecvError::Empty));
    // Waiting registers twice with the same mailbox; a send still wakes it.
    let sender = spawn("sender", move || tx.send(3).unwrap());
    assert_eq!(timely(&mut sel).map(|(_, n)| n), Ok(3));
    sender.join();
}

/// The spec's stress test: 2 selector threads over 3 mailboxes (three
/// backends) fed by 3 producers of 20k messages each. Every (producer, seq)
/// is received exactly once, each selector sees each producer in order, and
/// the mailboxes' statistics agree.
#[test]
fn exactly_once_under_concurrency() {
    const PRODUCERS: usize = 3;
    const PER_PRODUCER: usize = 20_000;
    /// (producer, sequence number).
    type Tag = (usize, usize);
    let boxes: Vec<(Sender<Tag>, Receiver<Tag>)> = vec![
        Mailbox::builder().fifo().capacity(64).build(),
        Mailbox::builder().priority(8).capacity(64).build(),
        Mailbox::builder()
            .backend(DeadlineQueue::bounded(64))
            .build(),
    ];
    let rxs: Vec<_> = boxes.iter().map(|(_, rx)| rx.clone()).collect();
    let selectors: Vec<_> = (0..2)
        .map(|s| {
            let rxs = rxs.clone();
            spawn(format!("selector {s}"), move || {
                let mut got = Vec::with_capacity(PRODUCERS * PER_PRODUCER);
                let mut sel = Select::new();
                for rx in &rxs {
                    sel.recv(rx, |m| m.into_body());
                }
                // Ends when every producer is done and all is drained.
                while let Ok(body) = timely(&mut sel) {
                    got.push(body);
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = boxes
        .iter()
        .enumerate()
        .map(|(p, (tx, _))| {
            let tx = tx.clone();
            spawn(format!("producer {p}"), move || {
                for seq in 0..PER_PRODUCER {
                    tx.send_timeout((p, seq), TIMEOUT).unwrap();
                }
            })
        })
        .collect();
    let rxs: Vec<_> = boxes.into_iter().map(|(_, rx)| rx).collect(); // drop our senders
    for p in producers {
        p.join_within(TIMEOUT * 3);
    }
    let mut counts = vec![0u32; PRODUCERS * PER_PRODUCER];
    let mut total = 0;
    for s in selectors {
        let got = s.join_within(TIMEOUT * 3);
        total += got.len();
        let mut last = [None; PRODUCERS];
        for (p, seq) in got {
            if let Some(l) = last[p] {
                assert!(l < seq, "producer {p} out of order: {l} then {seq}");
            }
            last[p] = Some(seq);
            counts[p * PER_PRODUCER + seq] += 1;
        }
    }
    for (i, &n) in counts.iter().enumerate() {
        assert_eq!(
            n,
            1,
            "({}, {}) received {n} times",
            i / PER_PRODUCER,
            i % PER_PRODUCER
        );
    }
    let mut received = 0;
    for rx in &rxs {
        let stats = rx.stats();
        assert_eq!(stats.sent, PER_PRODUCER as u64);
        assert_eq!(stats.received, stats.sent);
        assert_eq!((stats.len, stats.dropped, stats.dead_lettered), (0, 0, 0));
        received += stats.received;
    }
    assert_eq!(received, total as u64);
    assert_eq!(total, PRODUCERS * PER_PRODUCER);
}

/// A select waiting on a port wakes when the port is closed from another
/// thread (the close that destroying a port starts with): with Closed if it
/// was the only source, and keeps waiting for the others otherwise.
#[test]
fn blocked_select_wakes_when_port_is_closed() {
    let (_tx, port) = Port::<u32>::builder().build();
    let port = Arc::new(port);
    let selector = {
        let port = Arc::clone(&port);
        spawn("selector", move || {
            let mut sel = Select::new();
            sel.recv(&*port, |m| m.into_body());
            timely(&mut sel) // woke at once, not at the deadline
        })
    };
    thread::sleep(SETTLE); // likely waiting by now
    assert!(port.close().is_empty());
    assert_eq!(selector.join(), Err(RecvError));

    let (_tx, port) = Port::<u32>::builder().build();
    let (other_tx, other) = Mailbox::<String>::builder().build();
    let port = Arc::new(port);
    let selector = {
        let port = Arc::clone(&port);
        spawn("selector", move || {
            let mut sel = Select::new();
            sel.recv(&*port, |_| "port".to_string())
                .recv(&other, |m| m.into_body());
            timely(&mut sel)
        })
    };
    thread::sleep(SETTLE); // likely waiting by now
    assert!(port.close().is_empty());
    thread::sleep(SETTLE); // the select was rung and had time to return
    assert!(!selector.is_finished(), "returned although `other` is open");
    other_tx.send("other".to_string()).unwrap();
    assert_eq!(selector.join(), Ok("other".to_string()));
}

/// Closing one of two sources does not end a blocked select; a later
/// message on the other still does.
#[test]
fn close_of_one_source_keeps_waiting_for_the_other() {
    let (tx_a, a) = Mailbox::<u32>::builder().build();
    let (tx_b, b) = Mailbox::<u32>::builder().build();
    let selector = spawn("selector", move || {
        let mut sel = Select::new();
        sel.recv(&a, |m| ('a', m.into_body()))
            .recv(&b, |m| ('b', m.into_body()));
        timely(&mut sel)
    });
    thread::sleep(SETTLE); // likely waiting by now
    drop(tx_a);
    thread::sleep(SETTLE); // the select was rung and had time to return
    assert!(!selector.is_finished(), "returned although b is open");
    tx_b.send(8).unwrap();
    assert_eq!(selector.join(), Ok(('b', 8)));
}

/// A rendezvous sender hands its message to a select (blocking `send` and
/// `Confirm::Received` alike), many times in a row.
#[test]
fn rendezvous_senders_meet_a_select() {
    const N: u32 = 200;
    let (tx_r, rendezvous) = Mailbox::<u32>::builder().rendezvous().build();
    let (tx_b, buffered) = Mailbox::<u32>::builder().build();
    let sender = spawn("rendezvous sender", move || {
        for n in 0..N {
            tx_r.send(n).unwrap();
        }
    });
    let confirmer = spawn("confirmed sender", move || {
        for n in 0..N {
            tx_b.send_with(1000 + n, Wait::Timeout(TIMEOUT), Confirm::Received)
                .unwrap();
        }
    });
    let mut sel = Select::new();
    sel.recv(&rendezvous, |m| m.into_body())
        .recv(&buffered, |m| m.into_body());
    let mut got: Vec<u32> = Vec::new();
    while let Ok(n) = timely(&mut sel) {
        got.push(n);
    }
    sender.join();
    confirmer.join();
    got.sort_unstable();
    let want: Vec<u32> = (0..N).chain(1000..1000 + N).collect();
    assert_eq!(got, want);
}

/// A rendezvous source alone: no other source rings, so a ring the select
/// spent too early (before the sender could pair) must not strand it.
#[test]
fn rendezvous_source_alone_never_strands_a_sender() {
    const N: u32 = 2_000;
    let (tx, rx) = Mailbox::<u32>::builder().rendezvous().build();
    let sender = spawn("rendezvous sender", move || {
        for n in 0..N {
            tx.send(n).unwrap();
        }
    });
    let mut sel = Select::new();
    sel.recv(&rx, |m| m.into_body());
    for n in 0..N {
        assert_eq!(timely(&mut sel), Ok(n));
    }
    sender.join();
    assert_eq!(timely(&mut sel), Err(RecvError));
}

/// A message taken by a select counts as received: its receipt settles.
#[test]
fn receipts_settle_when_a_select_takes_the_message() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let receipt = tx.send_tracked(1).unwrap();
    assert!(!receipt.is_delivered());
    let mut sel = Select::new();
    sel.recv(&rx, |m| m.into_body());
    assert_eq!(sel.try_select(), Ok(1));
    assert!(receipt.is_delivered());
    assert_eq!(rx.stats().received, 1);
}

/// A panicking closure does not break the select: the message it was given
/// is gone (it was taken), and the next call works, waiting included.
#[test]
fn select_survives_a_panicking_closure() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    let mut sel = Select::new();
    sel.recv(&rx, |m| {
        let n = m.into_body();
        assert!(n != 13, "unlucky");
        n
    });
    let sender = {
        let tx = tx.clone();
        spawn("sender", move || {
            thread::sleep(SETTLE); // so that the select is likely waiting
            tx.send(13).unwrap();
        })
    };
    let result = panic::catch_unwind(AssertUnwindSafe(|| timely(&mut sel)));
    assert!(result.is_err(), "the closure panicked");
    sender.join();
    assert!(rx.is_empty(), "the message was taken, not left behind");
    let sender = spawn("sender", move || tx.send(14).unwrap());
    assert_eq!(timely(&mut sel), Ok(14));
    sender.join();
}

/// Selects of messages with headers: the closure gets the whole message.
#[test]
fn closure_gets_the_whole_message() {
    let (tx, rx) = Mailbox::<&str>::builder().priority(4).build();
    tx.send(Message::new("urgent").priority(3).correlation_id(9))
        .unwrap();
    let mut sel = Select::new();
    sel.recv(&rx, |m| {
        (m.header().priority(), m.header().correlation_id())
    });
    assert_eq!(sel.try_select(), Ok((3, Some(9))));
}

/// The other receiving handles are sources too: a topic subscriber, a process
/// inbox (its set-aside messages first) and a monitor, in one select.
#[test]
fn selects_over_subscribers_processes_and_monitors() {
    #[derive(Debug, PartialEq)]
    enum Event {
        News(&'static str),
        Mail(&'static str),
        Down(postbox::ExitReason),
    }
    let office = postbox::PostOffice::new();
    let topic = postbox::Topic::<&'static str>::builder().build();
    let news = topic.subscribe();
    let me = office.anonymous::<&'static str>();
    let other = office.anonymous::<&'static str>();
    let worker = office.anonymous::<()>();
    let monitor = office.monitor(worker.pid());

    // One message set aside by a selective receive: the select takes it.
    me.address().send("aside").unwrap();
    assert_eq!(
        me.try_recv_from(other.pid()).unwrap_err(),
        TryRecvError::Empty
    );
    let mut sel = Select::biased();
    sel.recv(&news, |m| Event::News(m.into_body()))
        .recv(&me, |m| Event::Mail(m.into_body()))
        .recv(&monitor, |m| Event::Down(m.into_body().reason().clone()));
    assert_eq!(timely(&mut sel).unwrap(), Event::Mail("aside"));

    // Each source wakes a waiting select from another thread.
    let to_me = me.address();
    let (go_tx, go_rx) = Mailbox::<u8>::builder().build();
    let feeder = spawn("feeder", move || {
        let mut worker = Some(worker);
        for step in 0..3 {
            go_rx.recv_timeout(TIMEOUT).unwrap();
            match step {
                0 => assert_eq!(topic.publish("headline").unwrap(), 1),
                1 => other.send_to(&to_me, "letter").unwrap(),
                _ => drop(worker.take()),
            }
        }
    });
    let mut seen = Vec::new();
    for step in 0..3u8 {
        go_tx.send(step).unwrap();
        seen.push(timely(&mut sel).unwrap());
    }
    feeder.join();
    assert_eq!(
        seen,
        [
            Event::News("headline"),
            Event::Mail("letter"),
            Event::Down(postbox::ExitReason::Normal)
        ]
    );
}
