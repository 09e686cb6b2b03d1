//! loom models of postbox's own synchronization: the priority backend's
//! parking and waking (requeue, eviction, sends racing a receiver about to
//! park), closing, receipts, a select's readiness signals, and
//! the office registry (name races, destroy vs send, registration ids,
//! monitors vs process teardown).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --test loom --release`. Under
//! `cfg(loom)` the crate's `sync` facade swaps parking_lot and std atomics for
//! loom's, and spinning is turned off, so loom explores every interleaving of
//! the lock, condition-variable and atomic operations (bounded by a preemption
//! limit to keep the run short). The FIFO backend is crossbeam-channel's own
//! synchronization and is not modelled here.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use postbox::{
    Confirm, Mailbox, Message, OfficeError, Owner, PopError, Port, PostOffice, Priority, Queue,
    ReceiptState, RecvError, Select, SendError, Wait,
};

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

/// A producer blocked on a full priority mailbox is woken by the consumer, and
/// both messages arrive in priority order of what was queued.
#[test]
fn priority_bounded_send_recv() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(4).capacity(1).build();
        let producer = thread::spawn(move || {
            tx.send(Message::new(1).priority(1)).unwrap();
            tx.send(Message::new(2).priority(3)).unwrap();
        });
        let first = rx.recv().unwrap().into_body();
        let second = rx.recv().unwrap().into_body();
        assert_eq!((first, second), (1, 2));
        producer.join().unwrap();
        assert!(rx.recv().is_err(), "closed once the producer is gone");
    });
}

/// The same over bounded(2), whose messages go through the lanes (a
/// bounded(1) queue keeps its one message under the lock): the producer
/// blocks on the third send until the consumer frees room, and every
/// message arrives once.
#[test]
fn priority_bounded_lanes_send_recv() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(4).capacity(2).build();
        let producer = thread::spawn(move || {
            for (body, priority) in [(1, 1), (2, 3), (3, 2)] {
                tx.send(Message::new(body).priority(priority)).unwrap();
            }
        });
        let mut got: Vec<u32> = (0..3).map(|_| rx.recv().unwrap().into_body()).collect();
        producer.join().unwrap();
        assert!(rx.recv().is_err(), "closed once the producer is gone");
        got.sort();
        assert_eq!(got, [1, 2, 3]);
    });
}

/// Two consumers parked on an empty mailbox: two sends wake both (no lost
/// wake-up with notify_one).
#[test]
fn priority_two_parked_receivers_both_wake() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let rx2 = rx.clone();
        let a = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        let b = thread::spawn(move || rx2.recv().map(|m| m.into_body()));
        tx.send(10).unwrap();
        tx.send(20).unwrap();
        let mut got = [a.join().unwrap().unwrap(), b.join().unwrap().unwrap()];
        got.sort();
        assert_eq!(got, [10, 20]);
    });
}

/// A receiver parked on an empty mailbox wakes with Closed when the last
/// sender goes.
#[test]
fn last_sender_drop_wakes_receiver() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(1).build();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        drop(tx);
        assert_eq!(receiver.join().unwrap(), Err(RecvError));
    });
}

/// A sender blocked on a full mailbox wakes with Closed (message handed
/// back) when the last receiver goes, and the queued message is counted as
/// dropped. A send that races the close may instead find the room the
/// close's drain freed and land, as the `Queue` contract allows: then its
/// message is counted as dropped too. Either way nothing goes uncounted.
#[test]
fn last_receiver_drop_wakes_sender() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).capacity(1).build();
        tx.send(1).unwrap();
        let stats_tx = tx.clone();
        let sender = thread::spawn(move || match tx.send(2) {
            Err(SendError::Closed(m)) => Some(m.into_body()),
            Ok(()) => None,
            Err(_) => panic!("unexpected error"),
        });
        drop(rx);
        let handed_back = sender.join().unwrap();
        let stats = stats_tx.stats();
        match handed_back {
            Some(body) => {
                assert_eq!(body, 2);
                assert_eq!((stats.sent, stats.dropped), (1, 1));
            }
            None => assert_eq!((stats.sent, stats.dropped), (2, 2)),
        }
    });
}

/// Rendezvous on the priority backend: the send completes only with a receiver.
#[test]
fn priority_rendezvous() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).rendezvous().build();
        let sender = thread::spawn(move || tx.send(7).is_ok());
        assert_eq!(rx.recv().unwrap().into_body(), 7);
        assert!(sender.join().unwrap());
    });
}

// ---------------------------------------------------------------------------
// The priority backend's redelivery hooks, used directly through the `Queue`
// trait as the mailbox uses them.
// ---------------------------------------------------------------------------

/// A receiver blocked in `pop` is woken by a requeue (the requeue counts
/// parked receivers under the lock and notifies like a push).
#[test]
fn priority_requeue_wakes_blocked_pop() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, None));
        let popper = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.pop(None).map(Message::into_body))
        };
        q.requeue(Message::new(1).priority(1)).unwrap();
        assert_eq!(popper.join().unwrap(), Ok(1));
        assert!(q.is_empty());
    });
}

/// The same on a rendezvous queue, where a requeue is the only way a message
/// is queued without a parked receiver counted for it.
#[test]
fn priority_rendezvous_requeue_wakes_blocked_pop() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, Some(0)));
        let popper = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.pop(None).map(Message::into_body))
        };
        q.requeue(Message::new(1)).unwrap();
        assert_eq!(popper.join().unwrap(), Ok(1));
        assert!(q.is_empty());
    });
}

/// Two receivers blocked in `pop`, one requeue and one push: both wake, each
/// with one message (no wake-up lost between the two kinds of notify).
#[test]
fn priority_requeue_and_push_wake_two_receivers() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, None));
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.pop(None).map(Message::into_body))
            })
            .collect();
        q.requeue(Message::new(1)).unwrap();
        q.try_push(Message::new(2).priority(1)).unwrap();
        let mut got: Vec<u32> = poppers
            .into_iter()
            .map(|p| p.join().unwrap().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// A requeue racing with `close` is accepted either way, and a later pop
/// hands it out before reporting Closed.
#[test]
fn priority_requeue_vs_close() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, Some(1)));
        let closer = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.close())
        };
        q.requeue(Message::new(5)).unwrap();
        assert_eq!(q.pop(None).map(Message::into_body), Ok(5));
        assert!(closer.join().unwrap());
        assert_eq!(q.pop(None).map(Message::into_body), Err(PopError::Closed));
    });
}

/// A sender blocked on a full queue is woken by an eviction, which made room.
#[test]
fn priority_evict_wakes_blocked_sender() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, Some(1)));
        q.try_push(Message::new(1)).unwrap();
        let pusher = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.push(Message::new(2).priority(1), None).is_ok())
        };
        assert_eq!(q.evict_lowest(0).map(Message::into_body), Some(1));
        assert!(pusher.join().unwrap());
        assert_eq!(q.try_pop().map(Message::into_body), Ok(2));
    });
}

/// A batch pop frees room for two: both senders blocked on the full queue
/// wake (one notify per message taken, as many as are parked), none sleeps
/// on.
#[test]
fn priority_batch_pop_wakes_blocked_senders() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, Some(2)));
        q.try_push(Message::new(1)).unwrap();
        q.try_push(Message::new(2)).unwrap();
        let pushers: Vec<_> = (3..5)
            .map(|n| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.push(Message::new(n), None).is_ok())
            })
            .collect();
        let mut buf = Vec::new();
        assert_eq!(q.try_pop_many(&mut buf, 2), Ok(2));
        for pusher in pushers {
            assert!(pusher.join().unwrap());
        }
        assert_eq!(q.len(), 2);
    });
}

/// A receiver about to park against a sender: the receiver never sleeps
/// through a message, and takes the two in an order the queue allows (the
/// urgent one first if both were queued when it chose).
#[test]
fn priority_send_vs_parking_receiver() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, None));
        let popper = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let first = q.pop(None).map(Message::into_body);
                let second = q.pop(None).map(Message::into_body);
                (first, second)
            })
        };
        q.try_push(Message::new(1)).unwrap();
        q.try_push(Message::new(2).priority(1)).unwrap();
        let got = popper.join().unwrap();
        assert!(got == (Ok(1), Ok(2)) || got == (Ok(2), Ok(1)), "{got:?}");
        assert!(q.is_empty());
    });
}

/// Two receivers parked on an empty buffered queue and two senders on two
/// threads: both receivers wake, each with one message (no wake-up lost when
/// one receiver could see both messages).
#[test]
fn priority_two_senders_two_parked_receivers() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, None));
        let poppers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.pop(None).map(Message::into_body))
            })
            .collect();
        let other = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.try_push(Message::new(1)).is_ok())
        };
        q.try_push(Message::new(2).priority(1)).unwrap();
        assert!(other.join().unwrap());
        let mut got: Vec<u32> = poppers
            .into_iter()
            .map(|p| p.join().unwrap().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// A push racing with `close`: either refused, or there for the pops after
/// it (a closed queue hands out what it holds before `Closed`).
#[test]
fn priority_push_vs_close() {
    model(|| {
        let q = Arc::new(Priority::<u32>::new(2, Some(2)));
        let closer = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.close())
        };
        let pushed = q.try_push(Message::new(3)).is_ok();
        assert!(closer.join().unwrap());
        if pushed {
            assert_eq!(q.pop(None).map(Message::into_body), Ok(3));
        }
        assert_eq!(q.pop(None).map(Message::into_body), Err(PopError::Closed));
        assert!(q.is_empty());
    });
}

/// A receipt moves to Received when the message is taken, and a waiter wakes.
#[test]
fn receipt_wakes_waiter() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let receipt = tx.send_tracked(3).unwrap();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        assert_eq!(receipt.wait(), Ok(()));
        assert_eq!(receipt.state(), ReceiptState::Acked);
        assert_eq!(receiver.join().unwrap(), Ok(3));
    });
}

/// A receipt whose message is dropped unreceived (last receiver gone) says so,
/// and its waiter wakes.
#[test]
fn receipt_dropped_wakes_waiter() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let receipt = tx.send_tracked(3).unwrap();
        let dropper = thread::spawn(move || drop(rx));
        assert!(receipt.wait().is_err());
        assert_eq!(receipt.state(), ReceiptState::Dropped);
        dropper.join().unwrap();
    });
}

/// `Confirm::Received` returns only after the receiver has the message.
#[test]
fn confirm_received() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let receiver = thread::spawn(move || rx.recv().map(|m| m.into_body()));
        tx.send_with(9, Wait::Blocking, Confirm::Received).unwrap();
        assert_eq!(tx.stats().received, 1, "received before the send returned");
        assert_eq!(receiver.join().unwrap(), Ok(9));
    });
}

/// A select waiting on two mailboxes is woken by a send on either: the
/// registration before the poll and the sender's check after its push leave
/// no interleaving in which the select sleeps past the message.
#[test]
fn select_wakes_on_send() {
    model(|| {
        let (tx_a, a) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let (_tx_b, b) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let sender = thread::spawn(move || tx_a.send(5).unwrap());
        let mut sel = Select::new();
        sel.recv(&b, |m| m.into_body() + 100)
            .recv(&a, |m| m.into_body());
        assert_eq!(sel.select(), Ok(5));
        sender.join().unwrap();
    });
}

/// A select waiting on a mailbox wakes with Closed when its last sender goes.
#[test]
fn select_wakes_on_close() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let dropper = thread::spawn(move || drop(tx));
        let mut sel = Select::new();
        sel.recv(&rx, |m| m.into_body());
        assert_eq!(sel.select(), Err(RecvError));
        dropper.join().unwrap();
    });
}

/// Two selects competing for one message and a close: exactly one gets the
/// message, the other sees Closed, neither sleeps forever.
#[test]
fn competing_selects_take_a_message_once() {
    model(|| {
        let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        let rx2 = rx.clone();
        let other = thread::spawn(move || {
            let mut sel = Select::new();
            sel.recv(&rx2, |m| m.into_body());
            sel.select()
        });
        tx.send(1).unwrap();
        drop(tx);
        let mut sel = Select::new();
        sel.recv(&rx, |m| m.into_body());
        let mine = sel.select();
        let theirs = other.join().unwrap();
        assert!(
            (mine, theirs) == (Ok(1), Err(RecvError)) || (mine, theirs) == (Err(RecvError), Ok(1)),
            "got {mine:?} and {theirs:?}"
        );
    });
}

// ---------------------------------------------------------------------------
// The office registry: sharded reader-writer locks, registration ids, the
// process teardown. Every model uses one name and one pid: the shard a key
// lands in depends on a random hasher, so with one key of each kind every
// execution touches the same locks in the same way. Mailboxes here use the
// priority backend (loom-aware); the FIFO backend is crossbeam's and is only
// used non-blockingly (monitor notices).
// ---------------------------------------------------------------------------

/// Two threads create the same name: exactly one wins, the other is told
/// `NameTaken`.
#[test]
fn office_create_race() {
    model(|| {
        let office = PostOffice::new();
        let other = office.clone();
        let racer = thread::spawn(move || {
            other.create::<u32>("x", Mailbox::builder().priority(1), Owner::System)
        });
        let mine = office.create::<u32>("x", Mailbox::builder().priority(1), Owner::System);
        let theirs = racer.join().unwrap();
        assert!(
            matches!(
                (&mine, &theirs),
                (Ok(()), Err(OfficeError::NameTaken(_))) | (Err(OfficeError::NameTaken(_)), Ok(()))
            ),
            "{mine:?} / {theirs:?}"
        );
        assert!(office.contains("x"));
    });
}

/// A send racing with destroy: the message is handed back, or accepted and
/// then a dead letter; exactly once either way.
#[test]
fn office_destroy_vs_send() {
    model(|| {
        let office = PostOffice::new();
        office
            .create::<u32>(
                "x",
                Mailbox::builder().priority(1).unbounded(),
                Owner::System,
            )
            .unwrap();
        let tx = office.connect_sender::<u32>("x").unwrap();
        let sender = thread::spawn(move || tx.send(7).map_err(|e| e.into_inner()));
        office.destroy("x").unwrap();
        let sent = sender.join().unwrap();
        let letters = office.dead_letters().drain::<u32>();
        match sent {
            Ok(()) => assert_eq!(letters.len(), 1),
            Err(back) => {
                assert_eq!(back, Some(7));
                assert!(letters.is_empty());
            }
        }
        assert!(!office.contains("x"));
    });
}

/// An owner ending while someone destroys its mailbox and creates the name
/// again: the owner's end never removes the newcomer (registration ids).
#[test]
fn office_owner_end_vs_destroy_and_recreate() {
    model(|| {
        let office = PostOffice::new();
        let owner = office.anonymous_with::<u32>(Port::builder().priority(1));
        office
            .create::<u32>(
                "x",
                Mailbox::builder().priority(1),
                Owner::Creator(owner.pid()),
            )
            .unwrap();
        let ender = thread::spawn(move || drop(owner));
        // Destroy (it may be gone already: the owner ended first), then take
        // the name.
        match office.destroy("x") {
            Ok(()) | Err(OfficeError::NotFound(_)) => {}
            Err(e) => panic!("destroy: {e}"),
        }
        office
            .create::<u32>("x", Mailbox::builder().priority(1), Owner::System)
            .unwrap();
        let tx = office.connect_sender::<u32>("x").unwrap();
        ender.join().unwrap();
        assert!(
            office.contains("x"),
            "the old owner removed the new mailbox"
        );
        assert!(!tx.is_closed(), "the old owner destroyed the new mailbox");
    });
}

/// A monitor set up while its process ends gets exactly one notice, and
/// only once the name is free.
#[test]
fn office_monitor_vs_process_end() {
    model(|| {
        let office = PostOffice::new();
        let p = office
            .process_with::<u32>("p", Port::builder().priority(1))
            .unwrap();
        let pid = p.pid();
        let ender = thread::spawn(move || drop(p));
        let monitor = office.monitor(pid);
        let early = monitor.try_recv().ok();
        if let Some(down) = &early {
            assert!(!office.contains("p"), "notice before the name was free");
            assert_eq!(down.pid(), pid);
        }
        ender.join().unwrap();
        let notices = early.into_iter().chain(monitor.try_recv().ok()).count();
        assert_eq!(notices, 1);
        assert!(!office.contains("p"));
    });
}

// ---------------------------------------------------------------------------
// Acknowledgements: deliveries given back (nack, dropped unanswered) racing
// with receivers, the prefetch gate, confirmed sends waiting for an ack, and
// requeues racing with the mailbox's retirement. Priority backend only (the
// FIFO backend is crossbeam's and not modelled); no `Requeue::After` and no
// TTL (they need real time and the timer thread).
// ---------------------------------------------------------------------------

mod acks {
    use super::model;
    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use loom::sync::Arc;
    use loom::thread;
    use postbox::{
        Confirm, DeadLetterReason, Delivery, Mailbox, MailboxBuilder, MailboxStats, Overflow,
        Owner, Port, PostOffice, ReceiptState, Receiver, Requeue, SendTimeoutError,
        TryRecvAckError, Wait,
    };

    /// `builder` on the priority backend (loom cannot see inside crossbeam),
    /// sending its dead letters to a fresh mailbox, and that mailbox's
    /// receiver.
    fn dead_lettered<K>(
        builder: MailboxBuilder<u32, K>,
    ) -> (MailboxBuilder<u32, K>, Receiver<u32>) {
        let (dead_tx, dead_rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
        (builder.priority(2).dead_letters(dead_tx), dead_rx)
    }

    /// What a model's one look for a redelivery found: acks it (`true`) if
    /// it came.
    fn ack_if_redelivered(looked: Result<Delivery<'_, u32>, TryRecvAckError>) -> bool {
        match looked {
            Ok(again) => {
                assert!(again.is_redelivered());
                again.ack();
                true
            }
            Err(_) => false,
        }
    }

    /// Every message the mailbox accepted is in exactly one place.
    fn assert_balanced(s: &MailboxStats) {
        assert_eq!(
            s.sent,
            s.received + s.dropped + s.dead_lettered + s.len as u64 + s.unacked + s.delayed,
            "stats do not balance: {s:?}"
        );
    }

    /// A consumer drops a delivery unanswered while another consumer takes
    /// both messages, blocking in `recv_ack` for the one given back: that
    /// message comes back exactly once, flagged, and is acked.
    #[test]
    fn unanswered_delivery_reaches_blocked_receiver() {
        model(|| {
            let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            let taken = rx.recv_ack().unwrap();
            assert_eq!(*taken.body(), 1);
            let other = rx.clone();
            let waiter = thread::spawn(move || {
                let mut got = Vec::new();
                for _ in 0..2 {
                    let d = other.recv_ack().unwrap();
                    got.push((*d.body(), d.header().redeliveries()));
                    d.ack();
                }
                got
            });
            drop(taken); // unanswered: requeued at the front of its level
            let mut got = waiter.join().unwrap();
            got.sort();
            assert_eq!(got, [(1, 1), (2, 0)]);
            let s = rx.stats();
            assert_balanced(&s);
            assert_eq!((s.sent, s.received, s.acked), (2, 2, 2));
            assert_eq!((s.nacked, s.redelivered), (1, 1));
            assert_eq!((s.unacked, s.len, s.dropped), (0, 0, 0));
        });
    }

    /// Checks that nobody else holds one of a prefetch(1) handle's
    /// deliveries while `d` is out, then acks it.
    fn hold_and_ack(rx: &Receiver<u32>, d: Delivery<'_, u32>, held: &AtomicUsize) -> u32 {
        assert_eq!(
            held.fetch_add(1, SeqCst),
            0,
            "two deliveries outstanding on a prefetch(1) handle"
        );
        assert_eq!(rx.unacked(), 1);
        // Leave the gauge before the ack: the ack frees the slot.
        held.fetch_sub(1, SeqCst);
        let body = *d.body();
        d.ack();
        body
    }

    /// Two threads take one message each with `take` on one prefetch(1)
    /// handle: never two deliveries outstanding at once, both messages
    /// acked, and the slot is free afterwards.
    fn prefetch_one_shared_handle_with(take: fn(&Receiver<u32>, &AtomicUsize) -> u32) {
        model(move || {
            let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
            let rx = Arc::new(rx.with_prefetch(1));
            let held = Arc::new(AtomicUsize::new(0));
            tx.send(1).unwrap();
            tx.send(2).unwrap();
            let other = {
                let (rx, held) = (Arc::clone(&rx), Arc::clone(&held));
                thread::spawn(move || take(&rx, &held))
            };
            let mine = take(&rx, &held);
            let theirs = other.join().unwrap();
            let mut got = [mine, theirs];
            got.sort();
            assert_eq!(got, [1, 2]);
            let s = rx.stats();
            assert_balanced(&s);
            assert_eq!((s.acked, s.unacked, s.nacked), (2, 0, 0));
            // No slot leaked: the handle can take a delivery again.
            tx.send(3).unwrap();
            assert_eq!(rx.try_recv_ack().map(|d| d.ack().into_body()), Ok(3));
        });
    }

    /// The blocking `recv_ack` through the prefetch gate.
    ///
    /// The gate (`Acker::reserve_slot` / `Acker::release`) is a store-buffer
    /// handshake on two SeqCst atomics (`waiters` up then `slots` read;
    /// `slots` down then `waiters` read). Loom models SeqCst accesses as
    /// AcqRel (loom README, "Unsupported features"), so the library puts a
    /// `fence(SeqCst)` after each of the two writes under `cfg(loom)`
    /// (`sync::handshake_fence`), which loom does model.
    #[test]
    fn prefetch_one_shared_handle() {
        prefetch_one_shared_handle_with(|rx, held| {
            let d = rx.recv_ack().unwrap();
            hold_and_ack(rx, d, held)
        });
    }

    /// Without the gate's blocking wait: the two threads poll with
    /// `try_recv_ack` (`PrefetchFull` and `Empty` mean look again).
    #[test]
    fn prefetch_one_shared_handle_polling() {
        prefetch_one_shared_handle_with(|rx, held| {
            let d = loop {
                match rx.try_recv_ack() {
                    Ok(d) => break d,
                    Err(TryRecvAckError::PrefetchFull | TryRecvAckError::Empty) => {
                        thread::yield_now();
                    }
                    Err(err) => panic!("{err:?}"),
                }
            };
            hold_and_ack(rx, d, held)
        });
    }

    /// A `DropOldest` send to a full mailbox races a receiver's `close`: the
    /// eviction either made room for the new message (then the evicted one
    /// is a dead letter, `Overflow`) or, when the close came first, it goes
    /// back and the send fails `Closed`; never both evicted and refused.
    #[test]
    fn drop_oldest_eviction_vs_close() {
        model(|| {
            let (builder, dead_rx) = dead_lettered(
                Mailbox::builder()
                    .capacity(1)
                    .overflow(Overflow::DropOldest),
            );
            let (tx, rx) = builder.build();
            tx.send(1).unwrap();
            let sender = thread::spawn(move || tx.send(2).map_err(|e| e.into_inner()));
            let mut left: Vec<u32> = rx.close().into_iter().map(|m| m.into_body()).collect();
            let sent = sender.join().unwrap();
            left.extend(rx.try_iter().map(|m| m.into_body()));
            let letters: Vec<u32> = dead_rx.try_iter().map(|m| m.into_body()).collect();
            match sent {
                Ok(()) => {
                    left.sort();
                    let mut all = [left, letters.clone()].concat();
                    all.sort();
                    assert_eq!(all, [1, 2], "each message once");
                    assert!(letters.iter().all(|&n| n == 1), "{letters:?}");
                }
                Err(refused) => {
                    assert_eq!(refused, Some(2));
                    assert!(letters.is_empty(), "evicted for a refused send");
                    assert_eq!(left, [1]);
                }
            }
            let s = rx.stats();
            assert_balanced(&s);
            assert_eq!(
                s.dead_letters.get(DeadLetterReason::Overflow),
                letters.len() as u64
            );
        });
    }

    /// `Confirm::Acked`: the sender returns Ok only after the consumer's ack
    /// (a flag set just before the ack is seen set), and a tracked message
    /// acked on the way ends `Acked`.
    #[test]
    fn confirm_acked_returns_after_ack() {
        model(|| {
            let (tx, rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
            let receipt = tx.send_tracked(4).unwrap();
            let acking = Arc::new(AtomicBool::new(false));
            let sender = {
                let (tx, acking) = (tx.clone(), Arc::clone(&acking));
                thread::spawn(move || {
                    let sent = tx.send_with(5, Wait::Blocking, Confirm::Acked);
                    assert!(sent.is_ok(), "{sent:?}");
                    assert!(
                        acking.load(SeqCst),
                        "Confirm::Acked returned before the ack"
                    );
                })
            };
            let first = rx.recv_ack().unwrap();
            assert_eq!(*first.body(), 4);
            first.ack();
            let second = rx.recv_ack().unwrap();
            assert_eq!(*second.body(), 5);
            acking.store(true, SeqCst);
            second.ack();
            sender.join().unwrap();
            assert_eq!(receipt.state(), ReceiptState::Acked);
            assert_eq!(receipt.wait_acked(), Ok(()));
            let s = rx.stats();
            assert_balanced(&s);
            assert_eq!((s.sent, s.acked, s.unacked), (2, 2, 0));
        });
    }

    /// `Confirm::Acked` when the consumer rejects (`nack(Requeue::No)`): the
    /// sender gets `Unconfirmed` with a receipt saying
    /// `DeadLettered(Rejected)`, and the message is in the typed dead-letter
    /// mailbox.
    #[test]
    fn confirm_acked_rejected_is_unconfirmed() {
        model(|| {
            let (builder, dead_rx) = dead_lettered(Mailbox::builder().unbounded());
            let (tx, rx) = builder.build();
            let sender = {
                let tx = tx.clone();
                thread::spawn(
                    move || match tx.send_with(5, Wait::Blocking, Confirm::Acked) {
                        Err(SendTimeoutError::Unconfirmed(receipt)) => receipt.state(),
                        other => panic!("expected Unconfirmed, got {other:?}"),
                    },
                )
            };
            rx.recv_ack().unwrap().nack(Requeue::No);
            assert_eq!(
                sender.join().unwrap(),
                ReceiptState::DeadLettered(DeadLetterReason::Rejected)
            );
            assert_eq!(dead_rx.try_recv().map(|m| m.into_body()), Ok(5));
            let s = rx.stats();
            assert_balanced(&s);
            assert_eq!((s.sent, s.acked, s.nacked, s.dead_lettered), (1, 0, 1, 1));
            assert_eq!(s.dead_letters.get(DeadLetterReason::Rejected), 1);
        });
    }

    /// Where a message given back ended: redelivered and acked (`true`), or
    /// in dead letters for `reason` (`false`); never both, never lost.
    fn assert_once(
        acked: bool,
        letters: &[u32],
        state: ReceiptState,
        s: &MailboxStats,
        reason: DeadLetterReason,
    ) {
        assert_balanced(s);
        assert_eq!((s.sent, s.nacked, s.redelivered), (1, 1, 1), "{s:?}");
        assert_eq!((s.unacked, s.len, s.dropped), (0, 0, 0), "{s:?}");
        if acked {
            assert!(letters.is_empty(), "redelivered and dead-lettered");
            assert_eq!(state, ReceiptState::Acked);
            assert_eq!((s.acked, s.dead_lettered), (1, 0), "{s:?}");
        } else {
            assert_eq!(letters, [1], "neither redelivered nor dead-lettered");
            assert_eq!(state, ReceiptState::DeadLettered(reason));
            assert_eq!((s.acked, s.dead_lettered), (0, 1), "{s:?}");
            assert_eq!(s.dead_letters.get(reason), 1, "{s:?}");
        }
    }

    /// A delivery, outliving its own handle, is nacked with `Requeue::Yes`
    /// while the last other receiver looks once more and then goes away: the
    /// message is redelivered to it and acked, or goes to dead letters
    /// (`NoReceivers`), exactly once.
    #[test]
    fn requeue_vs_last_receiver_drop() {
        model(|| {
            let (builder, dead_rx) = dead_lettered(Mailbox::builder().unbounded());
            let (tx, rx) = builder.build();
            let receipt = tx.send_tracked(1).unwrap();
            let other = rx.clone();
            let delivery = rx.recv_ack().unwrap().into_owned();
            drop(rx);
            let nacker = thread::spawn(move || delivery.nack(Requeue::Yes));
            let acked = ack_if_redelivered(other.try_recv_ack());
            drop(other); // the last receiver
            nacker.join().unwrap();
            let letters: Vec<u32> = dead_rx.try_iter().map(|m| m.into_body()).collect();
            assert_once(
                acked,
                &letters,
                receipt.state(),
                &tx.stats(),
                DeadLetterReason::NoReceivers,
            );
        });
    }

    /// A delivery nacked with `Requeue::Yes` while its port looks once more
    /// and is then destroyed (dropped): the redelivery is taken and acked if
    /// the requeue lands before the look; otherwise the port was the only
    /// receiver, and whether the requeue lands before the destroy's sweep or
    /// after it (the requeuer then sweeps), the message reaches dead letters
    /// exactly once, reason `Destroyed`. The port's counters are folded by
    /// whichever thread drops its `Acker` last (a loom `Arc` under loom).
    #[test]
    fn requeue_vs_port_destroy() {
        model(|| {
            let (builder, dead_rx) = dead_lettered(Port::builder().unbounded());
            let (tx, port) = builder.build();
            let receipt = tx.send_tracked(1).unwrap();
            let delivery = port.recv_ack().unwrap().into_owned();
            let nacker = thread::spawn(move || delivery.nack(Requeue::Yes));
            let acked = ack_if_redelivered(port.try_recv_ack());
            drop(port); // destroys it
            nacker.join().unwrap();
            assert!(tx.is_closed());
            let letters: Vec<u32> = dead_rx.try_iter().map(|m| m.into_body()).collect();
            assert_once(
                acked,
                &letters,
                receipt.state(),
                &tx.stats(),
                DeadLetterReason::Destroyed,
            );
        });
    }

    /// A delivery nacked with `Requeue::Yes` while another receiver looks
    /// once more and the office mailbox is destroyed: redelivered and acked,
    /// or dead-lettered with reason `Destroyed`, exactly once.
    #[test]
    fn requeue_vs_office_destroy() {
        model(|| {
            let office = PostOffice::new();
            let (dead_tx, dead_rx) = Mailbox::<u32>::builder().priority(2).unbounded().build();
            office
                .create::<u32>(
                    "jobs",
                    Mailbox::builder()
                        .priority(2)
                        .unbounded()
                        .dead_letters(dead_tx),
                    Owner::System,
                )
                .unwrap();
            let tx = office.connect_sender::<u32>("jobs").unwrap();
            let taker = office.connect_receiver::<u32>("jobs").unwrap();
            let other = office.connect_receiver::<u32>("jobs").unwrap();
            let receipt = tx.send_tracked(1).unwrap();
            let delivery = taker.recv_ack().unwrap().into_owned();
            drop(taker);
            let nacker = thread::spawn(move || delivery.nack(Requeue::Yes));
            let acked = ack_if_redelivered(other.try_recv_ack());
            office.destroy("jobs").unwrap();
            nacker.join().unwrap();
            assert!(tx.is_closed());
            let letters: Vec<u32> = dead_rx.try_iter().map(|m| m.into_body()).collect();
            assert_once(
                acked,
                &letters,
                receipt.state(),
                &tx.stats(),
                DeadLetterReason::Destroyed,
            );
            assert_eq!(office.dead_letters().total(), 0, "typed dead letters only");
        });
    }
}
