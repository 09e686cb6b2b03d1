//! Ownership: how long a mailbox lives. `Owner::System` until `destroy`;
//! `Owner::Creator(pid)` until that process ends (its `Process` dropped, its
//! spawned closure returning or panicking), with waiters woken with `Closed`,
//! leftovers in dead letters and the name free; registration ids, so that an
//! owner's end never destroys a name someone else re-created; receiver-owned
//! ports; and the messages a process set aside and never took.

mod common;

use std::thread;
use std::time::Duration;

use common::{spawn, wait_until, Joiner, SETTLE, TIMEOUT};
use crossbeam_channel as cb;
use postbox::{
    DeadLetterReason, ExitReason, Mailbox, Message, OfficeError, Owner, Pid, Port, PostOffice,
    Process, RecvError, RecvTimeoutError, SendError, Sender, TryRecvError, TrySendError,
};

const SHORT: Duration = Duration::from_millis(20);

/// Compiles only if `$t` does not implement `$tr`: if it did, the two blanket
/// impls would both apply and `some_item` would be ambiguous (the trick of
/// static_assertions' `assert_not_impl_any!`, written out to stay free of
/// dependencies).
macro_rules! assert_not_impl {
    ($t:ty: $tr:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

// One receive right: a port cannot be cloned, whatever its body type.
assert_not_impl!(Port<u32>: Clone);
assert_not_impl!(Port<String>: Clone);
// A process belongs to one thread at a time.
assert_not_impl!(Process<u32>: Clone);
assert_not_impl!(Process<u32>: Sync);

fn is_send<T: Send>() {}

#[test]
fn port_and_process_can_move_between_threads() {
    is_send::<Port<u32>>();
    is_send::<Process<u32>>();
}

// ---------------------------------------------------------------------------
// Owned mailboxes
// ---------------------------------------------------------------------------

/// Threads blocked on two owned mailboxes: receivers on `empty`, senders on
/// `full` (capacity 2, holding 0 and 1).
struct Blocked {
    receivers: Vec<Joiner<Result<Message<u32>, RecvError>>>,
    senders: Vec<Joiner<Result<(), SendError<u32>>>>,
    /// A handle to `full`, to read its statistics afterwards.
    full: Sender<u32>,
}

const EMPTY: &str = "owned-empty";
const FULL: &str = "owned-full";

/// Creates `EMPTY` and `FULL` owned by `owner` (unless the owner made them
/// itself) and blocks two receivers and two senders on them.
fn block_on_owned(office: &PostOffice, owner: Option<Pid>) -> Blocked {
    if let Some(pid) = owner {
        office
            .create::<u32>(EMPTY, Mailbox::builder(), Owner::Creator(pid))
            .unwrap();
        office
            .create::<u32>(FULL, Mailbox::builder().capacity(2), Owner::Creator(pid))
            .unwrap();
    }
    let full = office.connect_sender::<u32>(FULL).unwrap();
    full.try_send(0).unwrap();
    full.try_send(1).unwrap();
    let receivers = (0..2)
        .map(|i| {
            let rx = office.connect_receiver::<u32>(EMPTY).unwrap();
            spawn(format!("receiver {i}"), move || rx.recv())
        })
        .collect();
    let senders = (0..2)
        .map(|i| {
            let tx = office.connect_sender::<u32>(FULL).unwrap();
            spawn(format!("sender {i}"), move || tx.send(100 + i))
        })
        .collect();
    wait_until("senders blocked", || full.stats().found_full >= 2);
    thread::sleep(SETTLE); // the receivers likely sleep too (not required)
    Blocked {
        receivers,
        senders,
        full,
    }
}

/// Everything an owner's end must have done to its mailboxes.
fn assert_destroyed_with_owner(office: &PostOffice, blocked: Blocked) {
    for r in blocked.receivers {
        assert_eq!(r.join().unwrap_err(), RecvError);
    }
    let mut back: Vec<u32> = blocked
        .senders
        .into_iter()
        .map(|s| match s.join() {
            Err(SendError::Closed(m)) => m.into_body(),
            other => panic!("blocked sender got {other:?}"),
        })
        .collect();
    back.sort_unstable();
    assert_eq!(back, [100, 101], "blocked senders get their message back");

    let letters = office.dead_letters().drain::<u32>();
    let seen: Vec<(&str, DeadLetterReason, u32)> = letters
        .iter()
        .map(|l| (l.mailbox(), l.reason(), *l.body()))
        .collect();
    assert_eq!(
        seen,
        [
            (FULL, DeadLetterReason::Destroyed, 0),
            (FULL, DeadLetterReason::Destroyed, 1)
        ]
    );
    assert!(blocked.full.is_closed());
    assert_eq!(blocked.full.stats().dead_lettered, 2);

    // The names are free.
    assert!(!office.contains(EMPTY) && !office.contains(FULL));
    office
        .create::<u32>(EMPTY, Mailbox::builder(), Owner::System)
        .unwrap();
    office.destroy(EMPTY).unwrap();
}

#[test]
fn creator_owned_mailboxes_end_when_the_process_is_dropped() {
    let office = PostOffice::new();
    let owner = office.process::<u32>("owner").unwrap();
    let monitor = office.monitor(owner.pid());
    let blocked = block_on_owned(&office, Some(owner.pid()));
    drop(owner);
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(down.reason(), &ExitReason::Normal);
    // Down comes last: by then the owned mailboxes are gone.
    assert!(!office.contains(FULL) && !office.contains(EMPTY));
    assert_destroyed_with_owner(&office, blocked);
}

/// A spawned owner that makes its own mailboxes, says so, waits for `go`,
/// then returns or panics.
fn spawn_owner(office: &PostOffice, panics: bool) -> (postbox::ProcessHandle, cb::Sender<()>) {
    let (ready_tx, ready) = cb::bounded(1);
    let (go, go_rx) = cb::bounded::<()>(1);
    let handle = office
        .spawn::<u32, _>("owner", move |me| {
            let office = me.office();
            office
                .create::<u32>(EMPTY, Mailbox::builder(), Owner::Creator(me.pid()))
                .unwrap();
            office
                .create::<u32>(
                    FULL,
                    Mailbox::builder().capacity(2),
                    Owner::Creator(me.pid()),
                )
                .unwrap();
            ready_tx.send(()).unwrap();
            go_rx.recv_timeout(TIMEOUT).unwrap();
            assert!(!panics, "owner gives up");
        })
        .unwrap();
    ready.recv_timeout(TIMEOUT).unwrap();
    (handle, go)
}

#[test]
fn creator_owned_mailboxes_end_when_the_spawned_closure_returns() {
    let office = PostOffice::new();
    let (handle, go) = spawn_owner(&office, false);
    let monitor = office.monitor(handle.pid());
    let blocked = block_on_owned(&office, None);
    go.send(()).unwrap();
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        (down.pid(), down.reason()),
        (handle.pid(), &ExitReason::Normal)
    );
    assert!(!office.contains(FULL) && !office.contains(EMPTY));
    assert!(handle.join().is_ok());
    assert_destroyed_with_owner(&office, blocked);
}

#[test]
fn creator_owned_mailboxes_end_when_the_spawned_closure_panics() {
    let office = PostOffice::new();
    let (handle, go) = spawn_owner(&office, true);
    let monitor = office.monitor(handle.pid());
    let blocked = block_on_owned(&office, None);
    go.send(()).unwrap();
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        down.reason(),
        &ExitReason::Panicked("owner gives up".to_string())
    );
    assert!(!office.contains(FULL) && !office.contains(EMPTY));
    assert!(handle.join().is_err());
    assert_destroyed_with_owner(&office, blocked);
}

/// A process that owns mailboxes created on its behalf by someone else (and
/// a `System` one it created itself, which outlives it).
#[test]
fn system_owned_mailbox_lives_until_destroy() {
    let office = PostOffice::new();
    let creator = office.process::<u8>("creator").unwrap();
    creator
        .office()
        .create::<u32>("kept", Mailbox::builder(), Owner::System)
        .unwrap();
    office
        .create::<u32>("theirs", Mailbox::builder(), Owner::Creator(creator.pid()))
        .unwrap();
    let tx = office.connect_sender::<u32>("kept").unwrap();
    tx.send(1).unwrap();
    drop(creator);

    assert!(!office.contains("theirs"), "creator-owned ended with it");
    assert!(office.contains("kept"), "system-owned outlived its creator");
    assert!(!tx.is_closed());
    tx.send(2).unwrap();
    let rx = office.connect_receiver::<u32>("kept").unwrap();
    let got: Vec<u32> = rx.try_iter().map(Message::into_body).collect();
    assert_eq!(got, [1, 2]);
    assert!(office.dead_letters().is_empty());
    office.destroy("kept").unwrap();
    assert!(tx.is_closed());
}

/// Registration ids: an owner that destroyed its mailbox, whose name someone
/// else then took, does not destroy the newcomer when it ends.
#[test]
fn owner_end_spares_a_name_recreated_by_someone_else() {
    for by_system in [true, false] {
        let office = PostOffice::new();
        let old_owner = office.anonymous::<u8>();
        let new_owner = office.anonymous::<u8>();
        office
            .create::<u32>(
                "shared",
                Mailbox::builder(),
                Owner::Creator(old_owner.pid()),
            )
            .unwrap();
        let old_tx = office.connect_sender::<u32>("shared").unwrap();
        office.destroy("shared").unwrap();
        assert!(old_tx.is_closed());

        let owner = if by_system {
            Owner::System
        } else {
            Owner::Creator(new_owner.pid())
        };
        office
            .create::<u32>("shared", Mailbox::builder(), owner)
            .unwrap();
        let tx = office.connect_sender::<u32>("shared").unwrap();
        let rx = office.connect_receiver::<u32>("shared").unwrap();
        tx.send(7).unwrap();
        drop(old_owner);
        assert!(
            office.contains("shared"),
            "{owner:?}: destroyed by the old owner"
        );
        assert!(!tx.is_closed(), "{owner:?}");
        assert_eq!(rx.try_recv().unwrap().into_body(), 7);
        // Its own owner's end does destroy it.
        drop(new_owner);
        assert_eq!(office.contains("shared"), by_system, "{owner:?}");
        assert!(office.dead_letters().is_empty());
    }
}

/// A mailbox destroyed by name before its owner ends is destroyed once:
/// its leftovers are dead letters once, and the owner's end adds nothing.
#[test]
fn destroyed_by_name_then_owner_ends() {
    let office = PostOffice::new();
    let owner = office.process::<u8>("owner").unwrap();
    office
        .create::<u32>("m", Mailbox::builder(), Owner::Creator(owner.pid()))
        .unwrap();
    let tx = office.connect_sender::<u32>("m").unwrap();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    office.destroy("m").unwrap();
    assert_eq!(office.dead_letters().total(), 2);
    drop(owner);
    assert_eq!(office.dead_letters().total(), 2);
    assert_eq!(tx.stats().dead_lettered, 2);
}

/// An owner that has ended cannot own anything new; the refused create
/// leaves no name behind.
#[test]
fn ended_owner_cannot_create() {
    let office = PostOffice::new();
    let handle = office.spawn::<u8, _>("brief", |_| ()).unwrap();
    let pid = handle.pid();
    handle.join().unwrap();
    assert!(!office.is_alive(pid));
    assert_eq!(
        office
            .create::<u32>("late", Mailbox::builder(), Owner::Creator(pid))
            .unwrap_err(),
        OfficeError::NoProcess(pid)
    );
    assert!(!office.contains("late"));
}

/// One owner, many mailboxes (of different types): all end with it.
#[test]
fn owner_end_destroys_every_owned_mailbox() {
    let office = PostOffice::new();
    let owner = office.anonymous::<()>();
    let others = office.anonymous::<()>();
    for n in 0..5 {
        office
            .create::<u32>(
                &format!("n{n}"),
                Mailbox::builder(),
                Owner::Creator(owner.pid()),
            )
            .unwrap();
        office
            .create::<String>(
                &format!("s{n}"),
                Mailbox::builder(),
                Owner::Creator(owner.pid()),
            )
            .unwrap();
    }
    office
        .create::<u32>("other", Mailbox::builder(), Owner::Creator(others.pid()))
        .unwrap();
    office.connect_sender::<u32>("n3").unwrap().send(3).unwrap();
    office
        .connect_sender::<String>("s4")
        .unwrap()
        .send("four".to_string())
        .unwrap();
    drop(owner);
    for n in 0..5 {
        assert!(!office.contains(&format!("n{n}")) && !office.contains(&format!("s{n}")));
    }
    assert!(office.contains("other"));
    let letters = office.dead_letters();
    assert_eq!(letters.drain::<u32>()[0].mailbox(), "n3");
    assert_eq!(letters.drain::<String>()[0].body(), "four");
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/// Many senders, one port: every message arrives exactly once.
#[test]
fn port_many_senders_one_receiver() {
    const SENDERS: u32 = 4;
    const EACH: u32 = 500;
    let (tx, port) = Port::<u32>::builder().capacity(16).build();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            spawn(format!("sender {s}"), move || {
                for n in 0..EACH {
                    tx.send(s * EACH + n).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let mut seen = vec![0u8; (SENDERS * EACH) as usize];
    // All senders gone: the port drains, then reports Closed.
    loop {
        match port.recv_timeout(TIMEOUT) {
            Ok(m) => seen[m.into_body() as usize] += 1,
            Err(RecvTimeoutError::Closed) => break,
            Err(RecvTimeoutError::Timeout) => panic!("port stalled"),
        }
    }
    for s in senders {
        s.join();
    }
    assert!(seen.iter().all(|&n| n == 1), "each message exactly once");
    assert_eq!(port.stats().received, u64::from(SENDERS * EACH));
}

/// A sender blocked on a full port wakes with `Closed` and its message
/// when the port is dropped; later sends get `Closed` too.
fn blocked_sender_wakes_on_port_drop(tx: Sender<u32>, port: Port<u32>) {
    let cap = port.capacity().unwrap() as u32;
    for n in 0..cap {
        tx.try_send(n).unwrap();
    }
    let blocked = {
        let tx = tx.clone();
        spawn("blocked sender", move || tx.send(99))
    };
    wait_until("sender blocked", || tx.stats().found_full >= 1);
    thread::sleep(SETTLE);
    assert!(!blocked.is_finished());
    drop(port);
    match blocked.join() {
        Err(SendError::Closed(m)) => assert_eq!(m.into_body(), 99),
        other => panic!("blocked sender got {other:?}"),
    }
    match tx.try_send(5) {
        Err(TrySendError::Closed(m)) => assert_eq!(m.into_body(), 5),
        other => panic!("send after drop: {other:?}"),
    }
    assert!(tx.is_closed());
}

#[test]
fn dropped_port_leftovers_go_to_its_dead_letter_sender() {
    let (dead_tx, dead_rx) = Mailbox::<u32>::builder().unbounded().build();
    let (tx, port) = Port::<u32>::builder()
        .capacity(2)
        .dead_letters(dead_tx)
        .build();
    assert_eq!(port.name(), None);
    blocked_sender_wakes_on_port_drop(tx.clone(), port);
    let dead: Vec<u32> = dead_rx.try_iter().map(Message::into_body).collect();
    assert_eq!(dead, [0, 1]);
    let s = tx.stats();
    assert_eq!((s.sent, s.dead_lettered, s.dropped), (2, 2, 0));
}

#[test]
fn dropped_office_port_leftovers_go_to_office_dead_letters() {
    let office = PostOffice::new();
    let port = office
        .port::<u32>("port", Port::builder().capacity(2))
        .unwrap();
    assert_eq!(port.name(), Some("port"));
    let tx = office.connect_sender::<u32>("port").unwrap();
    blocked_sender_wakes_on_port_drop(tx.clone(), port);
    let letters = office.dead_letters().drain::<u32>();
    let seen: Vec<(&str, DeadLetterReason, u32)> = letters
        .iter()
        .map(|l| (l.mailbox(), l.reason(), *l.body()))
        .collect();
    assert_eq!(
        seen,
        [
            ("port", DeadLetterReason::Destroyed, 0),
            ("port", DeadLetterReason::Destroyed, 1)
        ]
    );
    // The name is free once the port is gone.
    assert!(!office.contains("port"));
    let again = office.port::<String>("port", Port::builder()).unwrap();
    assert!(tx.is_closed(), "the old sender does not reach the new port");
    drop(again);
    assert_eq!(tx.stats().dead_lettered, 2);
}

#[test]
fn dropped_standalone_port_leftovers_are_dropped_and_counted() {
    let (tx, port) = Port::<u32>::builder().capacity(2).build();
    blocked_sender_wakes_on_port_drop(tx.clone(), port);
    let s = tx.stats();
    assert_eq!((s.sent, s.dropped, s.dead_lettered, s.len), (2, 2, 0, 0));
}

#[test]
fn dropped_rendezvous_port_wakes_its_sender() {
    let (tx, port) = Port::<u32>::builder().rendezvous().build();
    blocked_sender_wakes_on_port_drop(tx, port);
}

/// `close` hands the leftovers back (no dead letters), then every receive
/// says `Closed` in its own way and sends are refused.
#[test]
fn port_close_returns_leftovers() {
    let office = PostOffice::new();
    let port = office
        .port::<u32>("port", Port::builder().capacity(4))
        .unwrap();
    let tx = office.connect_sender::<u32>("port").unwrap();
    for n in 0..3 {
        tx.send(n).unwrap();
    }
    let left: Vec<u32> = port.close().into_iter().map(Message::into_body).collect();
    assert_eq!(left, [0, 1, 2]);
    assert!(port.is_closed());
    assert_eq!(port.try_recv().unwrap_err(), TryRecvError::Closed);
    assert_eq!(
        port.recv_timeout(TIMEOUT).unwrap_err(),
        RecvTimeoutError::Closed
    );
    assert_eq!(port.recv().unwrap_err(), RecvError);
    assert!(matches!(tx.send(3), Err(SendError::Closed(_))));
    drop(port);
    assert!(office.dead_letters().is_empty());
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.received, s.dead_lettered, s.dropped),
        (3, 3, 0, 0)
    );
    assert!(!office.contains("port"));
}

/// A port's name can be sent to by anyone, but not received from or
/// destroyed by name.
#[test]
fn office_port_receive_right_is_its_owners() {
    let office = PostOffice::new();
    let port = office.port::<u32>("port", Port::builder()).unwrap();
    assert_eq!(
        office.connect_receiver::<u32>("port").unwrap_err(),
        OfficeError::ReceiverOwned("port".into())
    );
    assert_eq!(
        office.destroy("port").unwrap_err(),
        OfficeError::ReceiverOwned("port".into())
    );
    office
        .connect_sender::<u32>("port")
        .unwrap()
        .send(4)
        .unwrap();
    let m = port.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((m.header().source(), m.into_body()), (None, 4));
    assert_eq!(
        office.port::<u32>("port", Port::builder()).unwrap_err(),
        OfficeError::NameTaken("port".into())
    );
}

// ---------------------------------------------------------------------------
// A process's own inbox and set-aside messages
// ---------------------------------------------------------------------------

/// Messages a selective receive set aside and nobody took go to dead letters
/// when the process ends, before what was still queued, in arrival order.
#[test]
fn set_aside_messages_become_dead_letters_when_a_process_is_dropped() {
    let office = PostOffice::new();
    let p = office.process::<u32>("picky").unwrap();
    let a = office.anonymous::<u32>();
    let b = office.anonymous::<u32>();
    a.send_to(&p.address(), 1).unwrap();
    a.send_to(&p.address(), 2).unwrap();
    // Nothing from b: both of a's messages are set aside.
    assert_eq!(
        p.recv_from_timeout(b.pid(), SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert_eq!(p.len(), 2);
    a.send_to(&p.address(), 3).unwrap();
    drop(p);

    let letters = office.dead_letters().drain::<u32>();
    let seen: Vec<(&str, DeadLetterReason, Option<Pid>, u32)> = letters
        .iter()
        .map(|l| (l.mailbox(), l.reason(), l.header().source(), *l.body()))
        .collect();
    let from_a = Some(a.pid());
    assert_eq!(
        seen,
        [
            ("picky", DeadLetterReason::Destroyed, from_a, 1),
            ("picky", DeadLetterReason::Destroyed, from_a, 2),
            ("picky", DeadLetterReason::Destroyed, from_a, 3),
        ]
    );
}

/// Regression: set-aside messages were counted as received (when taken from
/// the inbox) and again as dead letters (when the process ended), so the
/// inbox's statistics counted them twice and `sent` read too high.
#[test]
fn set_aside_messages_are_counted_once() {
    let office = PostOffice::new();
    let p = office.process::<u32>("p").unwrap();
    let tx = office.connect_sender::<u32>("p").unwrap();
    for n in 0..3 {
        tx.send(n).unwrap();
    }
    // Sets all three aside, takes none.
    assert_eq!(
        p.try_recv_from(Pid::from_u64(u64::MAX)).unwrap_err(),
        TryRecvError::Empty
    );
    tx.send(3).unwrap();
    // Takes one of the set-aside ones.
    assert_eq!(p.try_recv().unwrap().into_body(), 0);
    let s = p.stats();
    assert_eq!((s.sent, s.received, s.len), (4, 3, 1));
    drop(p);
    let s = tx.stats();
    assert_eq!(
        (s.sent, s.received, s.dead_lettered, s.dropped, s.len),
        (4, 1, 3, 0, 0)
    );
    assert_eq!(
        s.sent,
        s.received + s.dropped + s.dead_lettered + s.len as u64
    );
    assert_eq!(office.dead_letters().total(), 3);
}

#[test]
fn set_aside_messages_become_dead_letters_when_a_spawned_process_returns() {
    let office = PostOffice::new();
    let (started_tx, started) = cb::bounded(1);
    let (sent_tx, sent) = cb::bounded::<()>(1);
    let handle = office
        .spawn::<u32, _>("picky", move |me| {
            started_tx.send(()).unwrap();
            sent.recv_timeout(TIMEOUT).unwrap();
            // Looks through everything queued, takes nothing.
            assert_eq!(
                me.try_recv_from(Pid::from_u64(u64::MAX)).unwrap_err(),
                TryRecvError::Empty
            );
            assert_eq!(me.len(), 2);
        })
        .unwrap();
    started.recv_timeout(TIMEOUT).unwrap();
    let to = office.lookup::<u32>("picky").unwrap();
    to.send(10).unwrap();
    to.send(11).unwrap();
    sent_tx.send(()).unwrap();
    handle.join().unwrap();
    let bodies: Vec<u32> = office
        .dead_letters()
        .drain::<u32>()
        .iter()
        .map(|l| {
            assert_eq!(l.mailbox(), "picky");
            *l.body()
        })
        .collect();
    assert_eq!(bodies, [10, 11]);
}

/// An anonymous process's leftovers are filed under its pid.
#[test]
fn anonymous_process_leftovers_are_filed_under_its_pid() {
    let office = PostOffice::new();
    let p = office.anonymous::<u32>();
    let label = p.pid().to_string();
    p.address().send(5).unwrap();
    drop(p);
    let letters = office.dead_letters().drain::<u32>();
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0].mailbox(), label);
    assert_eq!(letters[0].reason(), DeadLetterReason::Destroyed);
}
