//! The post office (dynamic association): create / connect / destroy by name,
//! the office errors with the real type names, destruction (waking every
//! waiter with `Closed`, leftovers to dead letters, the name free again), the
//! dead-letter store, statistics, what an office mailbox does when its users
//! come and go and when the office itself goes, and a stress run of
//! concurrent create / connect / destroy / lookup over reused names that
//! counts every message exactly once.

mod common;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn, wait_until, SETTLE, TIMEOUT};
use postbox::{
    DeadLetterReason, Mailbox, MailboxBuilder, Message, OfficeError, Owner, Pid, Port, PostOffice,
    Process, RecvError, RecvTimeoutError, SendError, SendTimeoutError, Sender, TryRecvError,
    TrySendError,
};

/// A short wait for calls that are expected to time out.
const SHORT: Duration = Duration::from_millis(20);

/// A named way to make a mailbox builder.
type Kind = (&'static str, fn() -> MailboxBuilder<u32>);

/// The builders the destruction tests run against: buffered and rendezvous,
/// FIFO and priority.
fn kinds() -> [Kind; 4] {
    [
        ("fifo bounded(2)", || Mailbox::builder().fifo().capacity(2)),
        ("priority(4) bounded(2)", || {
            Mailbox::builder().priority(4).capacity(2)
        }),
        ("fifo rendezvous", || Mailbox::builder().fifo().rendezvous()),
        ("priority(4) rendezvous", || {
            Mailbox::builder().priority(4).rendezvous()
        }),
    ]
}

#[test]
fn create_connect_send_receive_destroy() {
    let office = PostOffice::new();
    office
        .create::<String>("jobs", Mailbox::builder().capacity(8), Owner::System)
        .unwrap();
    assert!(office.contains("jobs"));
    let tx = office.connect_sender::<String>("jobs").unwrap();
    let rx = office.connect_receiver::<String>("jobs").unwrap();
    let tx2 = office.connect_sender::<String>("jobs").unwrap();
    assert!(tx.same_mailbox(&tx2));
    assert!(rx.same_mailbox(&office.connect_receiver::<String>("jobs").unwrap()));
    assert_eq!(tx.capacity(), Some(8));

    tx.send("one".to_string()).unwrap();
    tx2.send("two".to_string()).unwrap();
    let got: Vec<String> = rx.try_iter().map(Message::into_body).collect();
    assert_eq!(got, ["one", "two"]);

    office.destroy("jobs").unwrap();
    assert!(!office.contains("jobs"));
    assert!(tx.is_closed());
    assert_eq!(
        office.connect_sender::<String>("jobs").unwrap_err(),
        OfficeError::NotFound("jobs".into())
    );
}

/// Every office error, with the exact payload (names, real type names, pids).
#[test]
fn office_errors() {
    let office = PostOffice::new();
    office
        .create::<String>("box", Mailbox::builder(), Owner::System)
        .unwrap();
    let _port = office.port::<String>("port", Port::builder()).unwrap();
    let _proc = office.process::<String>("proc").unwrap();

    // NameTaken, whatever holds the name and whatever wants it.
    for name in ["box", "port", "proc"] {
        let taken = OfficeError::NameTaken(name.to_string());
        assert_eq!(
            office
                .create::<u8>(name, Mailbox::builder(), Owner::System)
                .unwrap_err(),
            taken
        );
        assert_eq!(office.port::<u8>(name, Port::builder()).unwrap_err(), taken);
        assert_eq!(office.process::<u8>(name).unwrap_err(), taken);
        assert_eq!(office.spawn::<u8, _>(name, |_| ()).unwrap_err(), taken);
    }
    assert_eq!(
        OfficeError::NameTaken("box".into()).to_string(),
        "the name `box` is taken"
    );

    // NotFound from every by-name operation.
    let missing = OfficeError::NotFound("nope".into());
    assert_eq!(office.connect_sender::<u8>("nope").unwrap_err(), missing);
    assert_eq!(office.connect_receiver::<u8>("nope").unwrap_err(), missing);
    assert_eq!(office.destroy("nope").unwrap_err(), missing);
    assert_eq!(office.lookup::<u8>("nope").unwrap_err(), missing);
    assert_eq!(missing.to_string(), "nothing is registered under `nope`");

    // TypeMismatch names the type asked for and the type carried.
    let mismatch = OfficeError::TypeMismatch {
        expected: "u64",
        found: "alloc::string::String",
    };
    assert_eq!(office.connect_sender::<u64>("box").unwrap_err(), mismatch);
    assert_eq!(office.connect_receiver::<u64>("box").unwrap_err(), mismatch);
    assert_eq!(office.connect_sender::<u64>("port").unwrap_err(), mismatch);
    assert_eq!(office.connect_sender::<u64>("proc").unwrap_err(), mismatch);
    assert_eq!(office.lookup::<u64>("proc").unwrap_err(), mismatch);
    assert_eq!(office.address_of::<u64>(_proc.pid()).unwrap_err(), mismatch);
    assert_eq!(
        mismatch.to_string(),
        "type mismatch: expected messages of type `u64`, the mailbox carries `alloc::string::String`"
    );

    // NotAProcess: lookup is for processes only.
    assert_eq!(
        office.lookup::<String>("box").unwrap_err(),
        OfficeError::NotAProcess("box".into())
    );
    assert_eq!(
        office.lookup::<String>("port").unwrap_err(),
        OfficeError::NotAProcess("port".into())
    );

    // ReceiverOwned: ports and inboxes keep their receive right.
    for name in ["port", "proc"] {
        let owned = OfficeError::ReceiverOwned(name.to_string());
        assert_eq!(office.connect_receiver::<String>(name).unwrap_err(), owned);
        assert_eq!(office.destroy(name).unwrap_err(), owned);
        assert!(office.contains(name), "a refused destroy left {name}");
    }

    // NoProcess: an ended owner, an unknown pid.
    let ended = office.anonymous::<u8>().pid();
    assert_eq!(
        office
            .create::<u8>("owned", Mailbox::builder(), Owner::Creator(ended))
            .unwrap_err(),
        OfficeError::NoProcess(ended)
    );
    assert!(!office.contains("owned"), "a refused create kept its name");
    let unknown = Pid::from_u64(1_000_000);
    assert_eq!(
        office
            .create::<u8>("owned", Mailbox::builder(), Owner::Creator(unknown))
            .unwrap_err(),
        OfficeError::NoProcess(unknown)
    );
    assert_eq!(
        office.address_of::<u8>(ended).unwrap_err(),
        OfficeError::NoProcess(ended)
    );
    assert_eq!(
        OfficeError::NoProcess(Pid::from_u64(7)).to_string(),
        "process <7> does not exist or has ended"
    );
}

#[test]
fn two_offices_do_not_share_names_and_clones_do() {
    let a = PostOffice::new();
    let b = PostOffice::new();
    a.create::<u32>("shared-name", Mailbox::builder(), Owner::System)
        .unwrap();
    assert!(!b.contains("shared-name"));
    assert_eq!(
        b.connect_sender::<u32>("shared-name").unwrap_err(),
        OfficeError::NotFound("shared-name".into())
    );
    // The same name in b is a different mailbox.
    b.create::<u32>("shared-name", Mailbox::builder(), Owner::System)
        .unwrap();
    let tx_a = a.connect_sender::<u32>("shared-name").unwrap();
    let tx_b = b.connect_sender::<u32>("shared-name").unwrap();
    assert!(!tx_a.same_mailbox(&tx_b));
    tx_a.send(1).unwrap();
    let rx_b = b.connect_receiver::<u32>("shared-name").unwrap();
    assert_eq!(rx_b.try_recv().unwrap_err(), TryRecvError::Empty);
    // Destroying in one office leaves the other alone.
    a.destroy("shared-name").unwrap();
    assert!(b.contains("shared-name"));
    assert!(!tx_b.is_closed());
    // Dead letters are per office too.
    assert_eq!(a.dead_letters().len(), 1);
    assert_eq!(b.dead_letters().len(), 0);

    // Clones share one registry.
    let a2 = a.clone();
    a2.create::<u32>("via-clone", Mailbox::builder(), Owner::System)
        .unwrap();
    assert!(a.contains("via-clone"));
    let tx = a.connect_sender::<u32>("via-clone").unwrap();
    tx.send(5).unwrap();
    let rx = a2.connect_receiver::<u32>("via-clone").unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().into_body(), 5);
    a.destroy("via-clone").unwrap();
    assert!(!a2.contains("via-clone"));
    assert_eq!(
        a2.destroy("via-clone").unwrap_err(),
        OfficeError::NotFound("via-clone".into())
    );
}

/// Handles obtained before the destroy fail with `Closed` on every path, and
/// a receiver does not get what was queued (that went to dead letters).
#[test]
fn handles_of_a_destroyed_mailbox_are_closed() {
    for (kind, make) in kinds() {
        let office = PostOffice::new();
        office.create("m", make(), Owner::System).unwrap();
        let tx = office.connect_sender::<u32>("m").unwrap();
        let rx = office.connect_receiver::<u32>("m").unwrap();
        let queued = tx.capacity().unwrap() as u32;
        for n in 0..queued {
            tx.try_send(n).unwrap();
        }
        office.destroy("m").unwrap();

        assert!(tx.is_closed() && rx.is_closed(), "{kind}");
        match tx.send(10) {
            Err(SendError::Closed(m)) => assert_eq!(m.into_body(), 10, "{kind}"),
            other => panic!("{kind}: send after destroy: {other:?}"),
        }
        match tx.try_send(11) {
            Err(TrySendError::Closed(m)) => assert_eq!(m.into_body(), 11, "{kind}"),
            other => panic!("{kind}: try_send after destroy: {other:?}"),
        }
        match tx.send_timeout(12, TIMEOUT) {
            Err(SendTimeoutError::Closed(m)) => assert_eq!(m.into_body(), 12, "{kind}"),
            other => panic!("{kind}: send_timeout after destroy: {other:?}"),
        }
        assert_eq!(rx.recv().unwrap_err(), RecvError, "{kind}");
        assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed, "{kind}");
        assert_eq!(
            rx.recv_timeout(TIMEOUT).unwrap_err(),
            RecvTimeoutError::Closed,
            "{kind}"
        );
        let letters: Vec<u32> = office
            .dead_letters()
            .drain::<u32>()
            .into_iter()
            .map(|l| *l.body())
            .collect();
        assert_eq!(letters, (0..queued).collect::<Vec<_>>(), "{kind}");
        // Destroying again: the name is gone.
        assert_eq!(
            office.destroy("m").unwrap_err(),
            OfficeError::NotFound("m".into())
        );
    }
}

/// Several threads blocked in `recv` on an empty mailbox and several blocked
/// in `send` on a full one all wake at once with `Closed` when the mailboxes
/// are destroyed; the senders get their own message back, and only what was
/// queued becomes a dead letter.
#[test]
fn destroy_wakes_every_blocked_sender_and_receiver() {
    const WAITERS: u32 = 3;
    for (kind, make) in kinds() {
        let office = PostOffice::new();
        office.create("empty", make(), Owner::System).unwrap();
        office.create("full", make(), Owner::System).unwrap();
        let fill = office.connect_sender::<u32>("full").unwrap();
        let queued = fill.capacity().unwrap() as u32;
        for n in 0..queued {
            fill.try_send(n).unwrap();
        }

        let receivers: Vec<_> = (0..WAITERS)
            .map(|i| {
                let rx = office.connect_receiver::<u32>("empty").unwrap();
                spawn(format!("{kind}: receiver {i}"), move || rx.recv())
            })
            .collect();
        let senders: Vec<_> = (0..WAITERS)
            .map(|i| {
                let tx = office.connect_sender::<u32>("full").unwrap();
                spawn(format!("{kind}: sender {i}"), move || tx.send(100 + i))
            })
            .collect();
        // Every sender has found the mailbox full, so it waits (or is about
        // to); the receivers probably sleep by now (they get Closed either way).
        wait_until("senders blocked", || {
            fill.stats().found_full >= u64::from(WAITERS)
        });
        thread::sleep(SETTLE);
        assert!(senders.iter().all(|s| !s.is_finished()), "{kind}");
        assert!(receivers.iter().all(|r| !r.is_finished()), "{kind}");

        office.destroy("empty").unwrap();
        office.destroy("full").unwrap();

        for r in receivers {
            assert_eq!(r.join().unwrap_err(), RecvError, "{kind}");
        }
        let mut back: Vec<u32> = senders
            .into_iter()
            .map(|s| match s.join() {
                Err(SendError::Closed(m)) => m.into_body(),
                other => panic!("{kind}: blocked sender got {other:?}"),
            })
            .collect();
        back.sort_unstable();
        assert_eq!(back, [100, 101, 102], "{kind}");

        let letters = office.dead_letters().drain::<u32>();
        let bodies: Vec<u32> = letters.iter().map(|l| *l.body()).collect();
        assert_eq!(bodies, (0..queued).collect::<Vec<_>>(), "{kind}");
        assert!(letters
            .iter()
            .all(|l| l.mailbox() == "full" && l.reason() == DeadLetterReason::Destroyed));
        let stats = fill.stats();
        assert_eq!(
            stats.sent,
            u64::from(queued),
            "{kind}: refused sends are not sent"
        );
        assert_eq!(stats.dead_lettered, u64::from(queued), "{kind}");
        assert_eq!(stats.len, 0, "{kind}");
    }
}

/// The dead-letter store: mailbox name, reason, header and body of each
/// letter; typed `drain` leaves other types; `take_all`, `downcast`, `is`,
/// `into_message`; `count` and `total` include letters already taken.
#[test]
fn dead_letters_store() {
    let office = PostOffice::new();
    let letters = office.dead_letters();
    assert!(letters.is_empty());
    office
        .create::<u32>("numbers", Mailbox::builder().priority(8), Owner::System)
        .unwrap();
    office
        .create::<String>("words", Mailbox::builder(), Owner::System)
        .unwrap();
    let numbers = office.connect_sender::<u32>("numbers").unwrap();
    let words = office.connect_sender::<String>("words").unwrap();
    numbers
        .send(Message::new(1).priority(2).correlation_id(41))
        .unwrap();
    words.send("a".to_string()).unwrap();
    numbers
        .send(Message::new(2).priority(7).correlation_id(42))
        .unwrap();
    words.send("b".to_string()).unwrap();
    office.destroy("numbers").unwrap();
    office.destroy("words").unwrap();

    assert_eq!(letters.len(), 4);
    assert_eq!(office.dead_letters().len(), 4, "handles share the store");
    assert_eq!(letters.count(DeadLetterReason::Destroyed), 4);
    assert_eq!(letters.count(DeadLetterReason::NoReceivers), 0);
    assert_eq!(letters.total(), 4);

    // Typed drain: only the u32s, in the order they left the mailbox
    // (priority order), with their headers; the strings stay.
    let typed = letters.drain::<u32>();
    let seen: Vec<(u32, u8, Option<u64>)> = typed
        .iter()
        .map(|l| {
            (
                *l.body(),
                l.header().priority(),
                l.header().correlation_id(),
            )
        })
        .collect();
    assert_eq!(seen, [(2, 7, Some(42)), (1, 2, Some(41))]);
    for l in &typed {
        assert_eq!(l.mailbox(), "numbers");
        assert_eq!(l.reason(), DeadLetterReason::Destroyed);
        assert_ne!(l.header().id(), postbox::MessageId::UNSENT);
    }
    let msg = typed.into_iter().next().unwrap().into_message();
    assert_eq!((msg.header().priority(), msg.into_body()), (7, 2));
    assert_eq!(letters.len(), 2);
    assert!(letters.drain::<u64>().is_empty(), "no u64 letters");
    assert_eq!(letters.len(), 2);

    // Type-erased: take_all, is, downcast (a wrong type hands the letter back).
    let all = letters.take_all();
    assert!(letters.is_empty());
    assert_eq!(all.len(), 2);
    let mut bodies = Vec::new();
    for letter in all {
        assert!(letter.is::<String>() && !letter.is::<u32>());
        let letter = letter.downcast::<u32>().unwrap_err();
        assert_eq!(letter.mailbox(), "words");
        let letter = letter.downcast::<String>().unwrap();
        bodies.push(letter.body().clone());
    }
    assert_eq!(bodies, ["a", "b"]);
    // Counts are of letters ever stored.
    assert_eq!(letters.total(), 4);
    assert_eq!(letters.count(DeadLetterReason::Destroyed), 4);
}

/// The name is free at once after a destroy; the new mailbox (even of another
/// type) is independent: old handles stay closed, new ones work.
#[test]
fn name_reused_after_destroy_is_a_new_mailbox() {
    let office = PostOffice::new();
    office
        .create::<u32>("jobs", Mailbox::builder(), Owner::System)
        .unwrap();
    let old_tx = office.connect_sender::<u32>("jobs").unwrap();
    let old_rx = office.connect_receiver::<u32>("jobs").unwrap();
    old_tx.send(1).unwrap();
    office.destroy("jobs").unwrap();

    office
        .create::<u32>("jobs", Mailbox::builder(), Owner::System)
        .unwrap();
    let new_tx = office.connect_sender::<u32>("jobs").unwrap();
    let new_rx = office.connect_receiver::<u32>("jobs").unwrap();
    assert!(!old_tx.same_mailbox(&new_tx));
    assert!(!old_rx.same_mailbox(&new_rx));
    new_tx.send(2).unwrap();
    assert!(matches!(old_tx.send(3), Err(SendError::Closed(_))));
    assert_eq!(old_rx.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(new_rx.try_recv().unwrap().into_body(), 2);
    assert_eq!(new_rx.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(new_tx.stats().dead_lettered, 0);

    // And with another type.
    office.destroy("jobs").unwrap();
    office
        .create::<String>("jobs", Mailbox::builder(), Owner::System)
        .unwrap();
    assert!(office.connect_sender::<u32>("jobs").is_err());
    assert!(new_tx.is_closed());
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(
        letters.iter().map(|l| *l.body()).collect::<Vec<_>>(),
        [1],
        "only the first mailbox had a leftover"
    );
}

/// Statistics count dead letters, and every accepted message is accounted
/// for: `sent == received + dropped + dead_lettered + len`.
#[test]
fn stats_count_dead_letters() {
    let office = PostOffice::new();
    office
        .create::<u32>("m", Mailbox::builder().capacity(8), Owner::System)
        .unwrap();
    let tx = office.connect_sender::<u32>("m").unwrap();
    let rx = office.connect_receiver::<u32>("m").unwrap();
    for n in 0..5 {
        tx.send(n).unwrap();
    }
    rx.recv().unwrap();
    let s = tx.stats();
    assert_eq!((s.sent, s.received, s.len, s.dead_lettered), (5, 1, 4, 0));
    assert_eq!(
        s.sent,
        s.received + s.dropped + s.dead_lettered + s.len as u64
    );

    office.destroy("m").unwrap();
    assert!(tx.send(9).is_err());
    let s = rx.stats();
    assert_eq!(
        (s.sent, s.received, s.len, s.dropped, s.dead_lettered),
        (5, 1, 0, 0, 4)
    );
    assert_eq!(
        s.sent,
        s.received + s.dropped + s.dead_lettered + s.len as u64
    );
    assert_eq!(office.dead_letters().count(DeadLetterReason::Destroyed), 4);
}

/// An office mailbox does not close when every connected sender and receiver
/// has gone: connect again later and what was queued is still there.
#[test]
fn office_mailbox_outlives_its_connected_handles() {
    let office = PostOffice::new();
    office
        .create::<u32>("queue", Mailbox::builder(), Owner::System)
        .unwrap();
    let tx = office.connect_sender::<u32>("queue").unwrap();
    let rx = office.connect_receiver::<u32>("queue").unwrap();
    for n in 0..3 {
        tx.send(n).unwrap();
    }
    assert_eq!(rx.recv().unwrap().into_body(), 0);
    tx.disconnect();
    rx.disconnect();

    let rx = office.connect_receiver::<u32>("queue").unwrap();
    assert!(!rx.is_closed(), "closed when its users left");
    let tx = office.connect_sender::<u32>("queue").unwrap();
    tx.send(3).unwrap();
    drop(tx);
    // No sender connected now: the receiver still waits rather than Closed.
    let got: Vec<u32> = rx.try_iter().map(Message::into_body).collect();
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(
        rx.recv_timeout(SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert!(office.dead_letters().is_empty());
    let s = rx.stats();
    assert_eq!((s.sent, s.received, s.dropped), (4, 4, 0));
}

/// What `src/office.rs` says about the last office handle going: each
/// mailbox then lives as long as the handles already connected to it, like a
/// standalone mailbox; once its last receiver goes, its leftovers go to the
/// office's dead letters, which a kept `DeadLetters` handle still reads.
#[test]
fn last_office_handle_dropped() {
    let office = PostOffice::new();
    let letters = office.dead_letters();
    for name in ["both", "senders-only", "receivers-only"] {
        office
            .create::<u32>(name, Mailbox::builder(), Owner::System)
            .unwrap();
    }
    let both_tx = office.connect_sender::<u32>("both").unwrap();
    let both_rx = office.connect_receiver::<u32>("both").unwrap();
    let only_tx = office.connect_sender::<u32>("senders-only").unwrap();
    only_tx.send(1).unwrap();
    only_tx.send(2).unwrap();
    let only_rx = office.connect_receiver::<u32>("receivers-only").unwrap();
    {
        let tx = office.connect_sender::<u32>("receivers-only").unwrap();
        tx.send(10).unwrap();
        tx.send(11).unwrap();
    }
    let (port_tx, port) = {
        let port = office.port::<u32>("port", Port::builder()).unwrap();
        (office.connect_sender::<u32>("port").unwrap(), port)
    };
    // A process holds an office handle too: the office lives while it does.
    let process: Process<u32> = office.anonymous();
    drop(office);
    assert!(process.office().contains("both"));
    assert!(!only_tx.is_closed());
    drop(process);

    // Both kinds of handle kept: the mailbox works as before...
    both_tx.send(5).unwrap();
    assert_eq!(both_rx.recv_timeout(TIMEOUT).unwrap().into_body(), 5);
    // ...and closes like a standalone one when its senders are gone.
    both_tx.send(6).unwrap();
    drop(both_tx);
    assert_eq!(both_rx.recv_timeout(TIMEOUT).unwrap().into_body(), 6);
    assert_eq!(
        both_rx.recv_timeout(TIMEOUT).unwrap_err(),
        RecvTimeoutError::Closed
    );

    // Senders only: the office's receiver was the last one, so the leftovers
    // went to dead letters, and sends fail with the message back.
    match only_tx.send(3) {
        Err(SendError::Closed(m)) => assert_eq!(m.into_body(), 3),
        other => panic!("send with no receiver left: {other:?}"),
    }
    let dead = letters.drain::<u32>();
    assert_eq!(dead.iter().map(|l| *l.body()).collect::<Vec<_>>(), [1, 2]);
    assert!(dead
        .iter()
        .all(|l| l.mailbox() == "senders-only" && l.reason() == DeadLetterReason::NoReceivers));
    assert_eq!(only_tx.stats().dead_lettered, 2);

    // Receivers only: the office's sender was the last one: what was queued
    // is delivered, then Closed.
    let got: Vec<u32> = only_rx.iter().map(Message::into_body).collect();
    assert_eq!(got, [10, 11]);

    // A port keeps working with its owner, and drops cleanly.
    port_tx.send(7).unwrap();
    assert_eq!(port.recv_timeout(TIMEOUT).unwrap().into_body(), 7);
    port_tx.send(8).unwrap();
    drop(port);
    assert!(port_tx.is_closed());
    let dead = letters.drain::<u32>();
    assert_eq!(dead.iter().map(|l| *l.body()).collect::<Vec<_>>(), [8]);
    assert_eq!(dead[0].mailbox(), "port");
}

#[test]
fn office_debug_counts() {
    let office = PostOffice::new();
    office
        .create::<u8>("a", Mailbox::builder(), Owner::System)
        .unwrap();
    let _p = office.process::<u8>("p").unwrap();
    let _q: Process<u8> = office.anonymous();
    assert_eq!(
        format!("{office:?}"),
        "PostOffice { names: 2, processes: 2, dead_letters: 0 }"
    );
}

// ---------------------------------------------------------------------------
// Stress
// ---------------------------------------------------------------------------

/// A tiny seeded PRNG (xorshift64*), so that a failing run can be replayed.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one stress thread saw happen to the messages it made.
#[derive(Default)]
struct Outcome {
    /// Accepted by a send.
    accepted: Vec<u64>,
    /// Handed back in a send error.
    handed_back: Vec<u64>,
    /// Taken by a receive (of any thread's message).
    received: Vec<u64>,
}

const NAMES: [&str; 4] = ["n0", "n1", "n2", "n3"];
const THREADS: u64 = 4;
const ITERATIONS: u64 = 2_000;
/// Waits inside the stress run: short, so that destroys hit waiting threads.
const TICK: Duration = Duration::from_millis(1);

/// A mailbox builder for a stress name: small, FIFO or priority.
fn stress_builder(rng: &mut XorShift) -> MailboxBuilder<u64> {
    match rng.below(3) {
        0 => Mailbox::builder().fifo().capacity(4),
        1 => Mailbox::builder().priority(4).capacity(4),
        _ => Mailbox::builder().fifo().rendezvous(),
    }
}

/// Sends `id` through `tx`, waiting at most a tick, and records the outcome.
fn stress_send(tx: &Sender<u64>, id: u64, rng: &mut XorShift, out: &mut Outcome) {
    let msg = Message::new(id).priority(rng.below(4) as u8);
    let result = if rng.below(2) == 0 {
        tx.try_send(msg).map_err(|e| e.into_inner())
    } else {
        tx.send_timeout(msg, TICK).map_err(|e| e.into_inner())
    };
    match result {
        Ok(()) => out.accepted.push(id),
        Err(back) => {
            assert_eq!(back, Some(id), "a refused send handed back something else");
            out.handed_back.push(id);
        }
    }
}

/// One stress thread: random registry operations over the shared names,
/// holding some handles across destroys.
fn stress_thread(office: PostOffice, seed: u64) -> Outcome {
    let mut rng = XorShift::new(seed);
    let mut out = Outcome::default();
    let mut next_id = seed << 32;
    let mut senders: Vec<Sender<u64>> = Vec::new();
    let mut receivers = Vec::new();
    let mut named: Vec<Process<u64>> = Vec::new();
    let mut owner: Option<Process<u64>> = None;
    for _ in 0..ITERATIONS {
        let name = NAMES[rng.below(NAMES.len() as u64) as usize];
        match rng.below(14) {
            0 => match office.create(name, stress_builder(&mut rng), Owner::System) {
                Ok(()) | Err(OfficeError::NameTaken(_)) => {}
                Err(e) => panic!("create: {e}"),
            },
            1 => {
                let pid = owner.get_or_insert_with(|| office.anonymous()).pid();
                match office.create(name, stress_builder(&mut rng), Owner::Creator(pid)) {
                    Ok(()) | Err(OfficeError::NameTaken(_)) => {}
                    Err(e) => panic!("create owned: {e}"),
                }
            }
            // Ends the owner: its mailboxes are destroyed.
            2 => drop(owner.take()),
            3 => match office.destroy(name) {
                Ok(()) | Err(OfficeError::NotFound(_) | OfficeError::ReceiverOwned(_)) => {}
                Err(e) => panic!("destroy: {e}"),
            },
            4 | 5 => match office.connect_sender::<u64>(name) {
                Ok(tx) => {
                    next_id += 1;
                    stress_send(&tx, next_id, &mut rng, &mut out);
                    if senders.len() < 4 {
                        senders.push(tx);
                    }
                }
                Err(OfficeError::NotFound(_)) => {}
                Err(e) => panic!("connect_sender: {e}"),
            },
            6 if !senders.is_empty() => {
                let i = rng.below(senders.len() as u64) as usize;
                next_id += 1;
                stress_send(&senders[i], next_id, &mut rng, &mut out);
                if rng.below(4) == 0 {
                    senders.swap_remove(i);
                }
            }
            7 | 8 => match office.connect_receiver::<u64>(name) {
                Ok(rx) => {
                    if let Ok(m) = rx.recv_timeout(TICK) {
                        out.received.push(m.into_body());
                    }
                    if receivers.len() < 4 {
                        receivers.push(rx);
                    }
                }
                Err(OfficeError::NotFound(_) | OfficeError::ReceiverOwned(_)) => {}
                Err(e) => panic!("connect_receiver: {e}"),
            },
            9 if !receivers.is_empty() => {
                let i = rng.below(receivers.len() as u64) as usize;
                if let Ok(m) = receivers[i].try_recv() {
                    out.received.push(m.into_body());
                }
                if rng.below(4) == 0 {
                    receivers.swap_remove(i);
                }
            }
            10 => match office.lookup::<u64>(name) {
                Ok(addr) => {
                    next_id += 1;
                    let id = next_id;
                    match addr.try_send(id) {
                        Ok(()) => out.accepted.push(id),
                        Err(e) => {
                            assert_eq!(e.into_inner(), Some(id));
                            out.handed_back.push(id);
                        }
                    }
                }
                Err(OfficeError::NotFound(_) | OfficeError::NotAProcess(_)) => {}
                Err(e) => panic!("lookup: {e}"),
            },
            11 if named.len() < 2 => match office.process::<u64>(name) {
                Ok(p) => named.push(p),
                Err(OfficeError::NameTaken(_)) => {}
                Err(e) => panic!("process: {e}"),
            },
            12 if !named.is_empty() => {
                let i = rng.below(named.len() as u64) as usize;
                if let Ok(m) = named[i].recv_timeout(TICK) {
                    out.received.push(m.into_body());
                }
                if rng.below(3) == 0 {
                    // Ends the process: its inbox's leftovers are dead letters.
                    drop(named.swap_remove(i));
                }
            }
            _ => {
                let _ = office.contains(name);
            }
        }
    }
    out
}

/// Concurrent create / connect / destroy / lookup / process start and end
/// over a few reused names. Every message made is, exactly once, received,
/// handed back in an error, or found in the dead letters once everything is
/// gone; nothing deadlocks (every wait is bounded, and the run is under a
/// watchdog).
#[test]
fn stress_registry_with_reused_names() {
    let watchdog = spawn("stress run", || {
        let office = PostOffice::new();
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let office = office.clone();
                spawn(format!("stress thread {t}"), move || {
                    stress_thread(office, 0x5EED + t)
                })
            })
            .collect();
        let outcomes: Vec<Outcome> = threads
            .into_iter()
            .map(|t| t.join_within(Duration::from_secs(120)))
            .collect();
        for name in NAMES {
            match office.destroy(name) {
                Ok(()) | Err(OfficeError::NotFound(_)) => {}
                Err(e) => panic!("final destroy: {e}"),
            }
        }
        assert_eq!(
            format!("{office:?}"),
            format!(
                "PostOffice {{ names: 0, processes: 0, dead_letters: {} }}",
                office.dead_letters().len()
            )
        );
        let dead: Vec<u64> = office
            .dead_letters()
            .drain::<u64>()
            .into_iter()
            .map(|l| *l.body())
            .collect();
        assert!(office.dead_letters().is_empty(), "letters of another type");
        (outcomes, dead)
    });
    let (outcomes, dead) = watchdog.join_within(Duration::from_secs(180));

    // Where each message ended up: 1 = accepted, 2 = handed back, then +10
    // per receive and +100 per dead letter.
    let mut fate: HashMap<u64, u32> = HashMap::new();
    let mut made = 0;
    for out in &outcomes {
        for &id in &out.accepted {
            assert!(fate.insert(id, 1).is_none(), "id {id} sent twice");
        }
        for &id in &out.handed_back {
            assert!(fate.insert(id, 2).is_none(), "id {id} sent twice");
        }
        made += out.accepted.len() + out.handed_back.len();
    }
    for out in &outcomes {
        for id in &out.received {
            *fate.get_mut(id).expect("received an unknown id") += 10;
        }
    }
    for id in &dead {
        *fate.get_mut(id).expect("dead letter of an unknown id") += 100;
    }
    for (id, fate) in &fate {
        assert!(
            *fate == 11 || *fate == 101 || *fate == 2,
            "message {id}: fate code {fate} (1 accepted / 2 handed back, +10 per receive, +100 per dead letter)"
        );
    }
    let accepted: usize = outcomes.iter().map(|o| o.accepted.len()).sum();
    let received: usize = outcomes.iter().map(|o| o.received.len()).sum();
    assert_eq!(accepted, received + dead.len());
    assert_eq!(fate.len(), made);
    // The run did exercise every path.
    assert!(accepted > 0 && received > 0 && !dead.is_empty() && made > accepted);
}

/// Destroy racing with a blocked waiter: every waiter wakes within the bound,
/// whichever of its wait and the destroy comes first.
#[test]
fn destroy_racing_with_waiters_never_loses_a_wakeup() {
    let office = PostOffice::new();
    for round in 0..200u32 {
        office
            .create::<u32>("race", Mailbox::builder().capacity(1), Owner::System)
            .unwrap();
        let tx = office.connect_sender::<u32>("race").unwrap();
        let rx = office.connect_receiver::<u32>("race").unwrap();
        tx.send(0).unwrap();
        let sender = spawn("sender", move || tx.send(round));
        let receiver = spawn("receiver", move || {
            // Drain, then wait on the empty mailbox.
            let mut got = Vec::new();
            while let Ok(m) = rx.recv() {
                got.push(m.into_body());
            }
            got
        });
        office.destroy("race").unwrap();
        let start = Instant::now();
        let sent = sender.join();
        let got = receiver.join();
        assert!(start.elapsed() < TIMEOUT);
        let letters: Vec<u32> = office
            .dead_letters()
            .drain::<u32>()
            .into_iter()
            .map(|l| *l.body())
            .collect();
        // Message 0 and `round` each end up in exactly one place.
        let mut seen = got.clone();
        seen.extend(&letters);
        if let Err(e) = sent {
            seen.extend(e.into_inner());
        }
        seen.sort_unstable();
        let mut expected = vec![0, round];
        expected.sort_unstable();
        assert_eq!(
            seen, expected,
            "round {round}: got {got:?}, letters {letters:?}"
        );
    }
}

/// Regression: a send racing with `destroy` could land after destroy had
/// drained the queue (the FIFO backend checks its closed flag, then pushes).
/// The message then sat in the destroyed mailbox: a receiver obtained
/// before the destroy got it instead of `Closed`, and it was not a dead
/// letter. Now every accepted message is a dead letter by the time its send
/// returns, and later receives get `Closed`.
#[test]
fn send_racing_with_destroy_is_dead_lettered_not_left_queued() {
    use std::sync::{Arc, Barrier};
    const ROUNDS: u32 = 1_000;
    for round in 0..ROUNDS {
        let office = PostOffice::new();
        office
            .create::<u32>("m", Mailbox::builder().unbounded(), Owner::System)
            .unwrap();
        let rx = office.connect_receiver::<u32>("m").unwrap();
        let start = Arc::new(Barrier::new(3));
        let senders: Vec<_> = (0..2)
            .map(|_| {
                let tx = office.connect_sender::<u32>("m").unwrap();
                let start = Arc::clone(&start);
                spawn("sender", move || {
                    start.wait();
                    let mut accepted = 0;
                    loop {
                        match tx.send(round) {
                            Ok(()) => accepted += 1,
                            Err(e) => {
                                assert!(e.is_closed());
                                assert_eq!(e.into_inner(), Some(round));
                                return accepted;
                            }
                        }
                    }
                })
            })
            .collect();
        start.wait();
        office.destroy("m").unwrap();
        let accepted: usize = senders.into_iter().map(|s| s.join()).sum();
        assert_eq!(
            rx.try_recv().map(Message::into_body),
            Err(TryRecvError::Closed),
            "round {round}: a message was left in the destroyed mailbox"
        );
        assert_eq!(
            office.dead_letters().len(),
            accepted,
            "round {round}: accepted messages missing from dead letters"
        );
        let s = rx.stats();
        assert_eq!(
            (s.sent, s.dead_lettered, s.len),
            (accepted as u64, accepted as u64, 0)
        );
    }
}
