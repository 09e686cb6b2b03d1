//! Regressions for the defects found by testing postbox as an outsider would
//! (issue 10): each test failed on the tree before its fix. Defects are
//! numbered as in the issue.

mod common;

use std::panic::{self, AssertUnwindSafe, RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postbox::{DeadLetterReason, Mailbox, Message, Owner, PostOffice, Receiver, Requeue, Sender};

use common::assert_balanced;

/// Defect 3: Message ids are unique across mailboxes, not only within one.
#[test]
fn d03_message_ids_are_unique_across_mailboxes() {
    let mut ids = std::collections::HashSet::new();
    for _ in 0..50 {
        let (tx, rx) = Mailbox::<u8>::builder().build();
        tx.send(1).unwrap();
        tx.clone().send(2).unwrap();
        for msg in rx.try_iter() {
            assert!(
                ids.insert(msg.header().id()),
                "id {} repeated",
                msg.header().id()
            );
        }
    }
    assert_eq!(ids.len(), 100);
}

/// Defect 3: The office's dead-letter store can key on ids: letters of two
/// mailboxes never share one.
#[test]
fn d03_dead_letters_of_two_mailboxes_have_distinct_ids() {
    let office = PostOffice::new();
    for name in ["a", "b"] {
        office
            .create::<u32>(name, Mailbox::builder(), Owner::System)
            .unwrap();
        office.connect_sender::<u32>(name).unwrap().send(7).unwrap();
        office.destroy(name).unwrap();
    }
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(letters.len(), 2);
    assert_ne!(letters[0].header().id(), letters[1].header().id());
}

/// Defect 6: Handles retired in any order leave exact statistics: each handle's
/// slot in the tally follows it when another one is retired (the O(1)
/// retirement that replaced a list search).
#[test]
fn d06_dropping_handles_in_any_order_keeps_the_counts() {
    let (tx, rx) = Mailbox::<u32>::builder().unbounded().build();
    let senders: Vec<Sender<u32>> = (0..64).map(|_| tx.clone()).collect();
    let receivers: Vec<Receiver<u32>> = (0..16).map(|_| rx.clone()).collect();
    for (i, s) in senders.iter().enumerate() {
        s.send(i as u32).unwrap();
    }
    // Drop every third, then the rest from the back, then the front.
    let mut senders: Vec<Option<Sender<u32>>> = senders.into_iter().map(Some).collect();
    for i in (0..senders.len()).step_by(3) {
        senders[i] = None;
    }
    while let Some(s) = senders.pop() {
        drop(s);
        assert_eq!(tx.stats().sent, 64);
    }
    for (i, r) in receivers.iter().enumerate().take(10) {
        assert_eq!(r.recv().unwrap().into_body() as usize, i);
    }
    drop(receivers);
    assert_eq!(rx.stats().received, 10);
    assert_eq!(rx.try_iter().count(), 54);
    assert_balanced(&rx.stats(), 64);
}

/// Defect 7: `Message::ttl(Duration::MAX)` means "never expires", and it wins over
/// the mailbox's own time to live.
#[test]
fn d07_a_ttl_too_large_to_represent_overrides_the_mailbox_ttl() {
    let (tx, rx) = Mailbox::<&str>::builder().ttl(Duration::ZERO).build();
    tx.send(Message::new("forever").ttl(Duration::MAX)).unwrap();
    tx.send("stale").unwrap();
    let msg = rx.try_recv().unwrap();
    assert_eq!(*msg.body(), "forever");
    assert_eq!(msg.header().expires_at(), None);
    assert!(rx.try_recv().is_err());
    assert_eq!(rx.stats().dead_letters.get(DeadLetterReason::Expired), 1);
}

/// Defect 8: A message a mailbox accepts from a send starts at zero redeliveries
/// there: a dead letter re-sent into a `max_redeliveries(1)` mailbox gets
/// its two deliveries.
#[test]
fn d08_redeliveries_start_at_zero_in_each_mailbox() {
    let (dead_tx, dead_rx) = Mailbox::<&str>::builder().build();
    let (tx, rx) = Mailbox::<&str>::builder()
        .max_redeliveries(2)
        .dead_letters(dead_tx)
        .build();
    tx.send("poison").unwrap();
    for _ in 0..3 {
        rx.recv_ack().unwrap().nack(Requeue::Yes);
    }
    let letter = dead_rx.try_recv().unwrap();
    // The letter records how often it was tried where it came from...
    assert_eq!(letter.header().redeliveries(), 2);

    // ... and starts at zero in the mailbox a user sends it on to.
    let (retry_tx, retry_rx) = Mailbox::<&str>::builder().max_redeliveries(1).build();
    retry_tx.send(letter).unwrap();
    let first = retry_rx.recv_ack().unwrap();
    assert_eq!(first.header().redeliveries(), 0);
    first.nack(Requeue::Yes);
    let second = retry_rx.recv_ack().unwrap();
    assert_eq!(second.header().redeliveries(), 1);
    second.ack();
    assert_eq!(retry_rx.stats().dead_letters.total(), 0);
}

/// A dead-letter mailbox with a time to live of its own keeps the letters it
/// is sent: their expiry was taken off for good.
#[test]
fn a_dead_letter_mailbox_with_a_ttl_does_not_expire_letters() {
    let (dead_tx, dead_rx) = Mailbox::<&str>::builder().ttl(Duration::ZERO).build();
    let (tx, rx) = Mailbox::<&str>::builder().dead_letters(dead_tx).build();
    tx.send(Message::new("stale").ttl(Duration::ZERO)).unwrap();
    assert!(rx.try_recv().is_err());
    let letter = dead_rx.try_recv().unwrap();
    assert_eq!(*letter.body(), "stale");
    assert_eq!(dead_rx.stats().dead_letters.total(), 0);
}

/// A body whose `Drop` panics, counting its drops.
struct PanicOnDrop(Arc<AtomicUsize>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("body drop panics");
    }
}

/// Defect 11: Two bodies whose `Drop` panics, left in a mailbox whose last receiver
/// is dropped inside `catch_unwind`: the first panic comes out, the process
/// does not abort, and both bodies were dropped and counted.
#[test]
fn d11_two_panicking_destructors_do_not_abort() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = Mailbox::<PanicOnDrop>::builder().build();
    tx.send(PanicOnDrop(Arc::clone(&drops))).unwrap();
    tx.send(PanicOnDrop(Arc::clone(&drops))).unwrap();
    drop(tx);
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(rx)));
    assert!(outcome.is_err(), "the first panic is propagated");
    assert_eq!(drops.load(Ordering::SeqCst), 2, "both bodies dropped");
}

/// Defect 11: The same with a sender still alive: the statistics count both as
/// dropped although dropping them panicked.
#[test]
fn d11_panicking_destructors_are_counted() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = Mailbox::<PanicOnDrop>::builder().build();
    tx.send(PanicOnDrop(Arc::clone(&drops))).unwrap();
    tx.send(PanicOnDrop(Arc::clone(&drops))).unwrap();
    let outcome = panic::catch_unwind(AssertUnwindSafe(move || drop(rx)));
    assert!(outcome.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    let stats = tx.stats();
    assert_eq!(stats.dropped, 2);
    assert_eq!(stats.dead_letters.get(DeadLetterReason::NoReceivers), 2);
}

fn is_unwind_safe<T: UnwindSafe + RefUnwindSafe>() {}

/// Defect 11: Handles are `UnwindSafe` and `RefUnwindSafe`, as crossbeam's are.
#[test]
fn d11_handles_are_unwind_safe() {
    is_unwind_safe::<Sender<std::cell::Cell<u8>>>();
    is_unwind_safe::<Receiver<std::cell::Cell<u8>>>();
    let (tx, rx) = Mailbox::<u8>::builder().build();
    let result = panic::catch_unwind(|| {
        tx.send(1).unwrap();
        panic!("worker failed after sending");
    });
    assert!(result.is_err());
    assert_eq!(rx.try_recv().unwrap().into_body(), 1);
}

/// Defect 1: a request does not take a peer's request as its reply. B asks
/// A (and does not wait), then A asks B: A's request times out with no
/// reply, and B's request is still in A's inbox, in order.
#[test]
fn d01_a_request_does_not_take_a_peers_request_as_its_reply() {
    let office = PostOffice::new();
    let a = office.process::<&str>("a").unwrap();
    let b = office.process::<&str>("b").unwrap();
    assert!(matches!(
        b.request(&a.address(), "B asks A", Duration::ZERO),
        Err(postbox::RequestError::NoReply)
    ));
    let asked = a.request(&b.address(), "A asks B", Duration::from_millis(50));
    assert!(
        matches!(asked, Err(postbox::RequestError::NoReply)),
        "{asked:?}"
    );
    let waiting = a.try_recv().unwrap();
    assert_eq!(*waiting.body(), "B asks A");
    assert!(!waiting.header().is_reply());
    assert_eq!(*b.try_recv().unwrap().body(), "A asks B");
}

/// Defect 1: a request to oneself does not return one's own request.
#[test]
fn d01_a_request_to_oneself_is_not_its_own_reply() {
    let office = PostOffice::new();
    let me = office.process::<u32>("me").unwrap();
    let asked = me.request(&me.address(), 7, Duration::from_millis(20));
    assert!(matches!(asked, Err(postbox::RequestError::NoReply)));
    assert_eq!(me.try_recv().unwrap().into_body(), 7);
}

/// Defect 1: replies still reach their requests, each its own, when two
/// clients ask one server at once.
#[test]
fn d01_replies_match_their_requests() {
    let office = PostOffice::new();
    let server = office
        .spawn::<u32, _>("server", |me| {
            while let Ok(req) = me.recv() {
                let n = *req.body();
                if n == u32::MAX {
                    break;
                }
                me.reply(req.header(), n * 10).unwrap();
            }
        })
        .unwrap();
    let server_addr = office.lookup::<u32>("server").unwrap();
    let clients: Vec<_> = (1..=2u32)
        .map(|c| {
            let office = office.clone();
            let server_addr = server_addr.clone();
            std::thread::spawn(move || {
                let me = office.anonymous::<u32>();
                for n in 0..200 {
                    let reply = me
                        .request(&server_addr, c * 1000 + n, Duration::from_secs(10))
                        .unwrap();
                    assert!(reply.header().is_reply());
                    assert_eq!(reply.into_body(), (c * 1000 + n) * 10);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server_addr.send(u32::MAX).unwrap();
    server.join().unwrap();
}

/// Defect 2: pids are unique across offices, so a reply to a requester of
/// another office is never delivered to a process of the replier's office
/// that happens to share its number.
#[test]
fn d02_pids_do_not_collide_across_offices() {
    let office_a = PostOffice::new();
    let office_b = PostOffice::new();
    let a: Vec<_> = (0..3).map(|_| office_a.anonymous::<u32>()).collect();
    let b: Vec<_> = (0..3).map(|_| office_b.anonymous::<u32>()).collect();
    for pa in &a {
        for pb in &b {
            assert_ne!(pa.pid(), pb.pid());
        }
        assert!(!office_b.is_alive(pa.pid()));
        assert!(office_b.address_of::<u32>(pa.pid()).is_err());
    }
    // A request from office A answered from office B: the reply cannot
    // reach the requester, and says so, instead of reaching B's process
    // with the same number.
    let client = &a[1];
    let server = &b[1];
    client
        .send_to(&server.address(), Message::new(5).reply_to(client.pid()))
        .unwrap();
    let req = server.try_recv().unwrap();
    let err = server.reply(req.header(), 50u32).unwrap_err();
    assert!(matches!(err, postbox::ReplyError::NoProcess(_)));
    for p in &b {
        assert!(
            p.try_recv().is_err(),
            "no process of office B got the reply"
        );
    }
    // A monitor of a foreign pid says the process is unknown here.
    let down = office_b
        .monitor(client.pid())
        .recv_timeout(common::TIMEOUT)
        .unwrap();
    assert_eq!(down.reason(), &postbox::ExitReason::NoProcess);
    // An owner of another office is refused with a typed error.
    let owned = office_b.create::<u32>("owned", Mailbox::builder(), Owner::Creator(client.pid()));
    assert!(matches!(owned, Err(postbox::OfficeError::NoProcess(pid)) if pid == client.pid()));
}

/// Defect 4: dropping a monitor takes it off the process's list (nothing is
/// left to notify), and watching one pid twice gives one notice.
#[test]
fn d04_dropped_monitors_unregister_and_double_watches_notify_once() {
    let office = PostOffice::new();
    let worker = office.process::<u32>("worker").unwrap();
    let dropped: Vec<_> = (0..100).map(|_| office.monitor(worker.pid())).collect();
    drop(dropped);
    let twice = office.monitor(worker.pid());
    twice.watch(worker.pid());
    let pid = worker.pid();
    drop(worker);
    let down = twice.recv_timeout(common::TIMEOUT).unwrap();
    assert_eq!(
        (down.pid(), down.reason()),
        (pid, &postbox::ExitReason::Normal)
    );
    assert!(
        twice.recv_timeout(Duration::from_millis(50)).is_err(),
        "one notice only"
    );
}

/// Defect 9: a `recv_matching` predicate that panics does not lose the
/// message it was looking at: it stays in the process, in order.
#[test]
fn d09_a_panicking_predicate_keeps_the_message() {
    let office = PostOffice::new();
    let me = office.process::<u32>("me").unwrap();
    let to_me = me.address();
    for n in 1..=3 {
        to_me.send(n).unwrap();
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        me.try_recv_matching(|_| panic!("predicate bug"))
    }));
    assert!(outcome.is_err());
    let got: Vec<u32> = std::iter::from_fn(|| me.try_recv().ok())
        .map(Message::into_body)
        .collect();
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(me.stats().dead_letters.total(), 0);
}

/// Defect 10: a set-aside message given back with `Requeue::Yes` is
/// delivered again before the messages that came after it.
#[test]
fn d10_a_nacked_set_aside_message_comes_back_first() {
    let office = PostOffice::new();
    let me = office.process::<&str>("me").unwrap();
    let to_me = me.address();
    for body in ["a", "b", "c"] {
        to_me.send(body).unwrap();
    }
    // Sets a and b aside.
    assert_eq!(
        me.try_recv_matching(|_| false).unwrap_err(),
        postbox::TryRecvError::Empty
    );
    let a = me.try_recv_ack().unwrap();
    assert_eq!(*a.body(), "a");
    a.nack(Requeue::Yes);
    let again = me.try_recv_ack().unwrap();
    assert_eq!((*again.body(), again.header().redeliveries()), ("a", 1));
    again.ack();
    let rest: Vec<&str> = std::iter::from_fn(|| me.try_recv().ok())
        .map(Message::into_body)
        .collect();
    assert_eq!(rest, ["b", "c"]);
}

/// Defect 14: a request to a process that ends without replying fails at
/// once with `Ended`, not after its timeout; one to a process that has
/// already ended too.
#[test]
fn d14_a_request_notices_that_the_server_ended() {
    let office = PostOffice::new();
    let (started_tx, started_rx) = Mailbox::<()>::builder().build();
    let server = office
        .spawn::<u32, _>("server", move |me| {
            // Takes the request, then ends without a reply.
            let _request = me.recv().unwrap();
            started_tx.send(()).unwrap();
        })
        .unwrap();
    let server_addr = office.lookup::<u32>("server").unwrap();
    let client = office.anonymous::<u32>();
    let asked = client.request(&server_addr, 1, Duration::from_secs(3600));
    assert!(
        matches!(asked, Err(postbox::RequestError::Ended(pid)) if pid == server.pid()),
        "{asked:?}"
    );
    started_rx.recv_timeout(common::TIMEOUT).unwrap();
    server.join().unwrap();
    let again = client.request(&server_addr, 2, Duration::from_secs(3600));
    assert!(matches!(
        again,
        Err(postbox::RequestError::Unsent(_)) | Err(postbox::RequestError::Ended(_))
    ));
}

/// Defect 14: a reply sent just before the server ends is still received.
#[test]
fn d14_a_reply_sent_before_the_end_is_received() {
    let office = PostOffice::new();
    for n in 0..50u32 {
        let server = office
            .spawn_anonymous::<u32, _>(|me| {
                let req = me.recv().unwrap();
                let n = *req.body();
                me.reply(req.header(), n + 1).unwrap();
            })
            .unwrap();
        let addr = office.address_of::<u32>(server.pid()).unwrap();
        let client = office.anonymous::<u32>();
        let reply = client.request(&addr, n, Duration::from_secs(3600)).unwrap();
        assert_eq!(reply.into_body(), n + 1);
        server.join().unwrap();
    }
}

/// A prefetch limit set while deliveries taken without one are still
/// unanswered counts them, as RabbitMQ's `basic.qos` does; each answer
/// frees room again.
#[test]
fn a_prefetch_limit_counts_deliveries_taken_before_it() {
    let (tx, rx) = Mailbox::<u32>::builder().build();
    for n in 0..4 {
        tx.send(n).unwrap();
    }
    // Owned: they outlive the borrow of the handle that `with_prefetch`
    // consumes.
    let first = rx.try_recv_ack().unwrap().into_owned();
    let second = rx.try_recv_ack().unwrap().into_owned();
    let rx = rx.with_prefetch(2);
    assert_eq!(rx.unacked(), 2);
    assert_eq!(
        rx.try_recv_ack().unwrap_err(),
        postbox::TryRecvAckError::PrefetchFull
    );
    first.ack();
    let third = rx.try_recv_ack().unwrap();
    assert_eq!(*third.body(), 2);
    assert_eq!(
        rx.try_recv_ack().unwrap_err(),
        postbox::TryRecvAckError::PrefetchFull
    );
    drop(second); // unanswered: requeued, and its room is free again
    let again = rx.try_recv_ack().unwrap();
    assert_eq!((*again.body(), again.header().redeliveries()), (1, 1));
    third.ack();
    again.ack();
    assert_eq!(*rx.try_recv_ack().unwrap().body(), 3);
}

/// `Closed` explained: every handle can say why its mailbox closed.
#[test]
fn closed_reason_says_why_a_mailbox_closed() {
    use postbox::{ClosedReason, Port, Topic};
    let (tx, rx) = Mailbox::<u32>::builder().build();
    assert_eq!((tx.closed_reason(), rx.closed_reason()), (None, None));
    drop(tx);
    assert_eq!(rx.closed_reason(), Some(ClosedReason::SendersGone));

    let (tx, rx) = Mailbox::<u32>::builder().build();
    rx.close();
    assert_eq!(tx.closed_reason(), Some(ClosedReason::Closed));

    let (tx, rx) = Mailbox::<u32>::builder().build();
    drop(rx);
    assert_eq!(tx.closed_reason(), Some(ClosedReason::ReceiversGone));

    let (tx, port) = Port::<u32>::builder().build();
    drop(port);
    assert_eq!(tx.closed_reason(), Some(ClosedReason::Destroyed));

    let office = PostOffice::new();
    office
        .create::<u32>("jobs", Mailbox::builder(), Owner::System)
        .unwrap();
    let tx = office.connect_sender::<u32>("jobs").unwrap();
    office.destroy("jobs").unwrap();
    assert_eq!(tx.closed_reason(), Some(ClosedReason::Destroyed));

    let owner = office.process::<u32>("owner").unwrap();
    office
        .create::<u32>("owned", Mailbox::builder(), Owner::Creator(owner.pid()))
        .unwrap();
    let owned = office.connect_sender::<u32>("owned").unwrap();
    let inbox = owner.address();
    drop(owner);
    assert_eq!(owned.closed_reason(), Some(ClosedReason::OwnerEnded));
    assert_eq!(inbox.closed_reason(), Some(ClosedReason::OwnerEnded));

    let topic = Topic::<u32>::builder().build();
    let sub = topic.subscribe();
    topic.close();
    assert_eq!(sub.closed_reason(), Some(ClosedReason::Closed));
}
