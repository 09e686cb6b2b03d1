//! Direct addressing: processes, pids and addresses; the source stamp;
//! implicit and explicit (selective) receive; the non-blocking and timed
//! variants; request / reply with correlation; spawned processes, monitors
//! and a supervisor that restarts a crashed worker under the same name.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use common::{spawn, TIMEOUT};
use crossbeam_channel as cb;
use postbox::{
    Confirm, ExitReason, Mailbox, Message, OfficeError, Owner, Pid, Port, PostOffice, Process,
    RecvTimeoutError, ReplyError, RequestError, SendError, SendTimeoutError, TryRecvError,
    TrySendError, Wait,
};

const SHORT: Duration = Duration::from_millis(30);

fn is_pid_like<T: Copy + Eq + Hash + Ord + Display + Debug + Send + Sync>() {}

#[test]
fn pid_is_copy_eq_hash_ord_display() {
    is_pid_like::<Pid>();
    let office = PostOffice::new();
    let a = office.anonymous::<u8>();
    let b = office.anonymous::<u8>();
    let (pa, pb) = (a.pid(), b.pid());
    let copy = pa; // Copy: pa is still usable
    assert_eq!(copy, pa);
    assert_ne!(pa, pb);
    assert!(pa < pb, "later processes get larger pids");
    assert_eq!(HashSet::from([pa, pb, copy]).len(), 2);
    assert_eq!(
        BTreeSet::from([pb, pa]).into_iter().collect::<Vec<_>>(),
        [pa, pb]
    );
    assert_eq!(pa.to_string(), format!("<{}>", pa.as_u64()));
    assert_eq!(Pid::from_u64(pa.as_u64()), pa);
}

/// A process's pid, its address, a lookup by name and a lookup by pid all
/// agree.
#[test]
fn process_address_and_lookup_agree() {
    let office = PostOffice::new();
    let bob = office.process::<String>("bob").unwrap();
    let anon = office.anonymous::<String>();
    assert_eq!(bob.name(), Some("bob"));
    assert_eq!(anon.name(), None);
    assert_eq!(bob.address().pid(), bob.pid());
    assert_eq!(office.lookup::<String>("bob").unwrap().pid(), bob.pid());
    assert_eq!(
        office.address_of::<String>(bob.pid()).unwrap().pid(),
        bob.pid()
    );
    assert_eq!(
        office.address_of::<String>(anon.pid()).unwrap().pid(),
        anon.pid()
    );
    assert!(office.is_alive(bob.pid()) && office.is_alive(anon.pid()));
    assert!(office.contains("bob"));
    // An anonymous process is not registered under its pid's text.
    assert_eq!(
        office
            .lookup::<String>(&anon.pid().to_string())
            .unwrap_err(),
        OfficeError::NotFound(anon.pid().to_string())
    );

    // Every way in reaches the same inbox.
    office
        .lookup::<String>("bob")
        .unwrap()
        .send("lookup".to_string())
        .unwrap();
    bob.address().send("address".to_string()).unwrap();
    office
        .address_of::<String>(bob.pid())
        .unwrap()
        .send("address_of".to_string())
        .unwrap();
    office
        .connect_sender::<String>("bob")
        .unwrap()
        .send("connect_sender".to_string())
        .unwrap();
    let got: Vec<String> = (0..4)
        .map(|_| bob.try_recv().unwrap().into_body())
        .collect();
    assert_eq!(got, ["lookup", "address", "address_of", "connect_sender"]);
    assert_eq!(bob.try_recv().unwrap_err(), TryRecvError::Empty);
}

/// `send_to` stamps the sender's pid; every other way in has no source, and
/// a source cannot be forged by re-sending a received message.
#[test]
fn source_is_set_only_by_send_to() {
    let office = PostOffice::new();
    let alice = office.process::<&str>("alice").unwrap();
    let bob = office.process::<&str>("bob").unwrap();
    let carol = office.anonymous::<&str>();
    office
        .create::<&str>("box", Mailbox::builder(), Owner::System)
        .unwrap();

    alice.send_to(&bob.address(), "direct").unwrap();
    let m = bob.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(m.header().source(), Some(alice.pid()));

    // Forwarding it through a plain send clears the source...
    bob.address().send(m).unwrap();
    let m = bob.recv_timeout(TIMEOUT).unwrap();
    assert_eq!((m.header().source(), *m.body()), (None, "direct"));
    // ...and through send_to sets the forwarder's.
    carol.send_to(&bob.address(), m).unwrap();
    let m = bob.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(m.header().source(), Some(carol.pid()));

    // A message received from a process, sent into a mailbox: no source.
    let tx = office.connect_sender::<&str>("box").unwrap();
    let rx = office.connect_receiver::<&str>("box").unwrap();
    alice.send_to(&bob.address(), "via box").unwrap();
    tx.send(bob.recv_timeout(TIMEOUT).unwrap()).unwrap();
    assert_eq!(rx.recv_timeout(TIMEOUT).unwrap().header().source(), None);

    // send_to an address of another process's mailbox type works too.
    let numbers = office.anonymous::<u64>();
    alice.send_to(&numbers.address(), 5u64).unwrap();
    assert_eq!(
        numbers.try_recv().unwrap().header().source(),
        Some(alice.pid())
    );
}

/// Implicit receive: from anyone, in arrival order, across threads.
#[test]
fn implicit_receive_from_anyone() {
    const SENDERS: u64 = 4;
    const EACH: u64 = 200;
    let office = PostOffice::new();
    let sink = office.process::<u64>("sink").unwrap();
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let office = office.clone();
            spawn(format!("sender {s}"), move || {
                let me = office.anonymous::<u64>();
                let to = office.lookup::<u64>("sink").unwrap();
                for n in 0..EACH {
                    me.send_to(&to, s * EACH + n).unwrap();
                }
                me.pid()
            })
        })
        .collect();
    let mut by_source: std::collections::HashMap<Pid, Vec<u64>> = Default::default();
    for _ in 0..SENDERS * EACH {
        let m = sink.recv_timeout(TIMEOUT).unwrap();
        let source = m.header().source().expect("send_to sets the source");
        by_source.entry(source).or_default().push(m.into_body());
    }
    let pids: HashSet<Pid> = senders.into_iter().map(|s| s.join()).collect();
    assert_eq!(by_source.keys().copied().collect::<HashSet<_>>(), pids);
    for bodies in by_source.values() {
        // Each sender's messages arrive in the order it sent them.
        let first = bodies[0];
        assert_eq!(*bodies, (first..first + EACH).collect::<Vec<_>>());
    }
    assert_eq!(sink.try_recv().unwrap_err(), TryRecvError::Empty);
}

/// Explicit receive takes only the named sender's messages; the others keep
/// their order for later receives, implicit or explicit.
#[test]
fn recv_from_is_selective_and_keeps_order() {
    let office = PostOffice::new();
    let me = office.process::<&str>("me").unwrap();
    let (a, b, c) = (
        office.anonymous::<&str>(),
        office.anonymous::<&str>(),
        office.anonymous::<&str>(),
    );
    let to = me.address();
    a.send_to(&to, "a1").unwrap();
    b.send_to(&to, "b1").unwrap();
    a.send_to(&to, "a2").unwrap();
    c.send_to(&to, "c1").unwrap();
    b.send_to(&to, "b2").unwrap();

    assert_eq!(me.recv_from(c.pid()).unwrap().into_body(), "c1");
    assert_eq!(me.len(), 4, "set-aside messages still count as waiting");
    assert_eq!(me.recv_from(b.pid()).unwrap().into_body(), "b1");
    assert_eq!(me.recv().unwrap().into_body(), "a1");
    assert_eq!(me.recv_from(b.pid()).unwrap().into_body(), "b2");
    assert_eq!(me.try_recv_from(c.pid()).unwrap_err(), TryRecvError::Empty);
    assert_eq!(me.recv().unwrap().into_body(), "a2");
    assert!(me.is_empty());
    assert_eq!(me.stats().received, 5);
}

/// A blocked `recv_from` skips other senders' messages as they arrive and
/// returns when the awaited one comes; the skipped ones are kept in order.
#[test]
fn blocking_recv_from_across_threads() {
    let office = PostOffice::new();
    let a = office.anonymous::<u32>();
    let b = office.anonymous::<u32>();
    let (me_tx, me_rx) = cb::bounded(1);
    let waiter = {
        let office = office.clone();
        let b_pid = b.pid();
        spawn("waiter", move || {
            let me = office.process::<u32>("waiter").unwrap();
            me_tx.send(me.address()).unwrap();
            let from_b = me.recv_from(b_pid).unwrap().into_body();
            let rest: Vec<u32> = (0..3).map(|_| me.recv().unwrap().into_body()).collect();
            (from_b, rest)
        })
    };
    let to = me_rx.recv_timeout(TIMEOUT).unwrap();
    for n in 0..3 {
        a.send_to(&to, n).unwrap();
    }
    b.send_to(&to, 100).unwrap();
    assert_eq!(waiter.join(), (100, vec![0, 1, 2]));
}

#[test]
fn recv_matching_takes_the_first_match() {
    let office = PostOffice::new();
    let me = office.anonymous::<&str>();
    let to = me.address();
    to.send("routine").unwrap();
    to.send(Message::new("tagged").correlation_id(7)).unwrap();
    to.send(Message::new("urgent").priority(9)).unwrap();
    to.send(Message::new("tagged too").correlation_id(7))
        .unwrap();

    let m = me.recv_matching(|h| h.priority() > 5).unwrap();
    assert_eq!(m.into_body(), "urgent");
    let m = me.recv_matching(|h| h.correlation_id() == Some(7)).unwrap();
    assert_eq!(m.into_body(), "tagged");
    // No match now: Empty / Timeout, and nothing is lost.
    assert_eq!(
        me.try_recv_matching(|h| h.priority() == 3).unwrap_err(),
        TryRecvError::Empty
    );
    assert_eq!(
        me.recv_matching_timeout(|h| h.priority() == 3, SHORT)
            .unwrap_err(),
        RecvTimeoutError::Timeout
    );
    let m = me
        .try_recv_matching(|h| h.correlation_id() == Some(7))
        .unwrap();
    assert_eq!(m.into_body(), "tagged too");
    assert_eq!(me.try_recv().unwrap().into_body(), "routine");
    assert!(me.is_empty());
}

/// The non-blocking and timed receives of a process: `Empty` at once,
/// `Timeout` after the wait (never early), a message as soon as one comes.
#[test]
fn process_try_and_timeout_receives() {
    let office = PostOffice::new();
    let me = office.anonymous::<u32>();
    let other = office.anonymous::<u32>();
    assert_eq!(me.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(
        me.try_recv_from(other.pid()).unwrap_err(),
        TryRecvError::Empty
    );
    assert_eq!(
        me.recv_with(Wait::NonBlocking).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    let start = Instant::now();
    assert_eq!(
        me.recv_timeout(SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert!(start.elapsed() >= SHORT);
    let start = Instant::now();
    assert_eq!(
        me.recv_from_timeout(other.pid(), SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert!(start.elapsed() >= SHORT);
    assert_eq!(
        me.recv_deadline(Instant::now() + SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );

    // One deadline for a whole selective wait, however many messages it
    // skips: a steady stream of non-matching messages cannot extend it.
    let stream = {
        let to = me.address();
        let (stop_tx, stop) = cb::bounded::<()>(1);
        let feeder = spawn("feeder", move || {
            let mut n = 0;
            while stop.try_recv().is_err() {
                if to.try_send(n).is_ok() {
                    n += 1;
                }
                thread::yield_now();
            }
        });
        (stop_tx, feeder)
    };
    let start = Instant::now();
    assert_eq!(
        me.recv_from_timeout(other.pid(), SHORT).unwrap_err(),
        RecvTimeoutError::Timeout
    );
    assert!(
        start.elapsed() < TIMEOUT,
        "skipped messages extended the wait"
    );
    stream.0.send(()).unwrap();
    stream.1.join();

    other.send_to(&me.address(), 1).unwrap();
    assert_eq!(
        me.recv_from_timeout(other.pid(), TIMEOUT)
            .unwrap()
            .into_body(),
        1
    );
}

/// Sending to a process that has ended fails with `Closed` on every path and
/// hands the message back; the name and pid no longer resolve.
#[test]
fn sending_to_an_ended_process_is_closed() {
    let office = PostOffice::new();
    let alice = office.anonymous::<&str>();
    let bob = office.process::<&str>("bob").unwrap();
    let (addr, pid) = (bob.address(), bob.pid());
    let inbox = office.connect_sender::<&str>("bob").unwrap();
    drop(bob);

    assert!(addr.is_closed());
    match alice.send_to(&addr, "late") {
        Err(SendError::Closed(m)) => assert_eq!(m.into_body(), "late"),
        other => panic!("send_to an ended process: {other:?}"),
    }
    match alice.send_to_with(&addr, "late", Wait::NonBlocking, Confirm::Queued) {
        Err(SendTimeoutError::Closed(m)) => assert_eq!(m.into_body(), "late"),
        other => panic!("send_to_with an ended process: {other:?}"),
    }
    assert!(matches!(addr.send("x"), Err(SendError::Closed(_))));
    assert!(matches!(addr.try_send("x"), Err(TrySendError::Closed(_))));
    assert!(matches!(inbox.send("x"), Err(SendError::Closed(_))));
    assert!(!office.is_alive(pid));
    assert_eq!(
        office.lookup::<&str>("bob").unwrap_err(),
        OfficeError::NotFound("bob".into())
    );
    assert_eq!(
        office.address_of::<&str>(pid).unwrap_err(),
        OfficeError::NoProcess(pid)
    );

    // A new process under the same name is a new pid; old addresses do not
    // reach it (direct addressing is by pid, not by name).
    let bob2 = office.process::<&str>("bob").unwrap();
    assert_ne!(bob2.pid(), pid);
    assert!(addr.send("x").is_err());
    assert_eq!(bob2.try_recv().unwrap_err(), TryRecvError::Empty);
    assert_eq!(office.lookup::<&str>("bob").unwrap().pid(), bob2.pid());
}

/// `send_to_with` on a full inbox: `Full` without waiting, `Timeout` after
/// the wait, the message handed back either way.
#[test]
fn send_to_a_full_inbox() {
    let office = PostOffice::new();
    let small = office
        .process_with::<u32>("small", Port::builder().capacity(1))
        .unwrap();
    let me = office.anonymous::<u32>();
    me.send_to(&small.address(), 1).unwrap();
    match me.send_to_with(&small.address(), 2, Wait::NonBlocking, Confirm::Queued) {
        Err(SendTimeoutError::Full(m)) => assert_eq!(m.into_body(), 2),
        other => panic!("expected Full, got {other:?}"),
    }
    match me.send_to_with(&small.address(), 3, Wait::Timeout(SHORT), Confirm::Queued) {
        Err(SendTimeoutError::Timeout(m)) => assert_eq!(m.into_body(), 3),
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert_eq!(small.try_recv().unwrap().into_body(), 1);
    assert!(small.is_empty());
}

/// A process with a priority inbox: most urgent first, FIFO among equals,
/// out-of-range priorities refused with the message back.
#[test]
fn process_with_a_priority_inbox() {
    let office = PostOffice::new();
    let p = office
        .process_with::<&str>("prio", Port::builder().priority(4).unbounded())
        .unwrap();
    let me = office.anonymous::<&str>();
    let to = office.lookup::<&str>("prio").unwrap();
    for (body, prio) in [
        ("low-1", 0),
        ("high-1", 3),
        ("mid", 2),
        ("high-2", 3),
        ("low-2", 0),
    ] {
        me.send_to(&to, Message::new(body).priority(prio)).unwrap();
    }
    match me.send_to(&to, Message::new("too high").priority(4)) {
        Err(SendError::InvalidPriority(m)) => assert_eq!(m.into_body(), "too high"),
        other => panic!("expected InvalidPriority, got {other:?}"),
    }
    let got: Vec<&str> = (0..5).map(|_| p.try_recv().unwrap().into_body()).collect();
    assert_eq!(got, ["high-1", "high-2", "mid", "low-1", "low-2"]);
}

// ---------------------------------------------------------------------------
// Request / reply
// ---------------------------------------------------------------------------

/// The request that stops a `doubler`.
const STOP: u64 = u64::MAX;

/// A server that doubles every request and replies, until `STOP`.
fn doubler(office: &PostOffice, name: &str) -> postbox::ProcessHandle {
    office
        .spawn::<u64, _>(name, |me| loop {
            let request = me.recv().unwrap();
            let n = *request.body();
            if n == STOP {
                return;
            }
            me.reply(request.header(), n * 2).unwrap();
        })
        .unwrap()
}

/// Stops a `doubler` and waits for it to end normally.
fn stop(office: &PostOffice, server: postbox::ProcessHandle) {
    let monitor = office.monitor(server.pid());
    office
        .address_of::<u64>(server.pid())
        .unwrap()
        .send(STOP)
        .unwrap();
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(down.reason(), &ExitReason::Normal);
    server.join().unwrap();
}

#[test]
fn request_reply_round_trip() {
    let office = PostOffice::new();
    let server = doubler(&office, "doubler");
    let client = office.process::<u64>("client").unwrap();
    let to = office.lookup::<u64>("doubler").unwrap();
    let reply = client.request(&to, 21, TIMEOUT).unwrap();
    assert_eq!(reply.header().source(), Some(server.pid()));
    assert!(reply.header().correlation_id().is_some());
    assert_eq!(reply.into_body(), 42);
    // Another, with a fresh correlation id.
    let reply = client.request(&to, 5, TIMEOUT).unwrap();
    assert_eq!(reply.into_body(), 10);
    assert!(client.is_empty());
    stop(&office, server);
}

/// Messages that arrive while a request waits for its reply keep their order
/// for later receives.
#[test]
fn request_keeps_other_messages() {
    let office = PostOffice::new();
    let server = office
        .spawn::<u64, _>("chatty", |me| {
            if let Ok(request) = me.recv() {
                let requester = office_address(&me, request.header().reply_to().unwrap());
                // Two unrelated messages first, then the reply.
                me.send_to(&requester, 1000).unwrap();
                me.send_to(&requester, Message::new(1001).correlation_id(999))
                    .unwrap();
                me.reply(request.header(), *request.body() + 1).unwrap();
            }
        })
        .unwrap();
    let client = office.anonymous::<u64>();
    let to = office.lookup::<u64>("chatty").unwrap();
    assert_eq!(client.request(&to, 1, TIMEOUT).unwrap().into_body(), 2);
    let later: Vec<u64> = (0..2)
        .map(|_| client.try_recv().unwrap().into_body())
        .collect();
    assert_eq!(later, [1000, 1001]);
    server.join().unwrap();
}

fn office_address(me: &Process<u64>, pid: Pid) -> postbox::Address<u64> {
    me.office().address_of::<u64>(pid).unwrap()
}

/// A server that never replies: `NoReply` once the timeout has passed. A
/// reply that comes later lands in the inbox, and does not answer the next
/// request (correlation ids).
#[test]
fn request_times_out_and_late_replies_do_not_answer_later_requests() {
    let office = PostOffice::new();
    let (release_tx, release) = cb::bounded::<()>(1);
    let (replied_tx, replied) = cb::bounded::<()>(1);
    let server = office
        .spawn::<u64, _>("slow", move |me| {
            let first = me.recv().unwrap();
            release.recv_timeout(TIMEOUT).unwrap();
            me.reply(first.header(), 1u64).unwrap();
            replied_tx.send(()).unwrap();
            let second = me.recv().unwrap();
            me.reply(second.header(), 2u64).unwrap();
        })
        .unwrap();
    let client = office.anonymous::<u64>();
    let to = office.lookup::<u64>("slow").unwrap();

    let start = Instant::now();
    match client.request(&to, 10, SHORT) {
        Err(RequestError::NoReply) => {}
        other => panic!("expected NoReply, got {other:?}"),
    }
    assert!(start.elapsed() >= SHORT);

    release_tx.send(()).unwrap();
    replied.recv_timeout(TIMEOUT).unwrap();
    // The late reply to request 1 is queued; request 2 must get reply 2.
    let reply = client.request(&to, 20, TIMEOUT).unwrap();
    assert_eq!(reply.into_body(), 2);
    let late = client.try_recv().unwrap();
    assert_eq!(late.header().source(), Some(server.pid()));
    assert_eq!(late.into_body(), 1);
    server.join().unwrap();
}

#[test]
fn request_to_an_ended_process_is_unsent() {
    let office = PostOffice::new();
    let client = office.anonymous::<u64>();
    let gone = office.anonymous::<u64>();
    let to = gone.address();
    drop(gone);
    let err = client.request(&to, 7, TIMEOUT).unwrap_err();
    assert!(
        matches!(&err, RequestError::Unsent(SendTimeoutError::Closed(_))),
        "{err:?}"
    );
    assert_eq!(err.into_message().map(Message::into_body), Some(7));
}

#[test]
fn reply_errors() {
    let office = PostOffice::new();
    let server = office.process::<u64>("server").unwrap();
    let numbers = office.anonymous::<u64>();
    let words = office.anonymous::<String>();

    // A plain message names nobody to reply to.
    numbers.send_to(&server.address(), 1).unwrap();
    let plain = server.try_recv().unwrap();
    match server.reply(plain.header(), 2u64) {
        Err(ReplyError::NoReplyTo(m)) => assert_eq!(m.into_body(), 2),
        other => panic!("expected NoReplyTo, got {other:?}"),
    }

    // The requester's inbox carries Strings: a u64 reply is refused, named.
    let to_server = server.address();
    let asked = Message::new(3u64).reply_to(words.pid()).correlation_id(1);
    words.send_to(&to_server, asked).unwrap();
    let request = server.try_recv().unwrap();
    match server.reply(request.header(), 4u64) {
        Err(ReplyError::TypeMismatch {
            expected,
            found,
            message,
        }) => {
            assert_eq!((expected, found), ("u64", "alloc::string::String"));
            assert_eq!(message.into_body(), 4);
        }
        other => panic!("expected TypeMismatch, got {other:?}"),
    }
    // The right type goes through, with the request's correlation id.
    server.reply(request.header(), "ok".to_string()).unwrap();
    let reply = words.try_recv().unwrap();
    assert_eq!(reply.header().correlation_id(), Some(1));
    assert_eq!(reply.header().source(), Some(server.pid()));

    // The requester has ended.
    let asked = Message::new(5u64).reply_to(numbers.pid());
    numbers.send_to(&to_server, asked).unwrap();
    let request = server.try_recv().unwrap();
    drop(numbers);
    let err = server.reply(request.header(), 6u64).unwrap_err();
    assert!(matches!(err, ReplyError::NoProcess(_)), "{err:?}");
    assert_eq!(err.into_message().map(Message::into_body), Some(6));
}

/// Many requesters at once, one server: each gets the reply to its own
/// request.
#[test]
fn concurrent_requesters_get_their_own_replies() {
    const CLIENTS: u64 = 8;
    const EACH: u64 = 100;
    let office = PostOffice::new();
    let server = doubler(&office, "server");
    let start = Arc::new(Barrier::new(CLIENTS as usize));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let office = office.clone();
            let start = Arc::clone(&start);
            spawn(format!("client {c}"), move || {
                let me = office.anonymous::<u64>();
                let to = office.lookup::<u64>("server").unwrap();
                start.wait();
                for n in 0..EACH {
                    let body = c * 1_000_000 + n;
                    let reply = me.request(&to, body, TIMEOUT).unwrap();
                    assert_eq!(
                        reply.into_body(),
                        body * 2,
                        "client {c} got another's reply"
                    );
                }
                assert!(me.is_empty(), "client {c}: stray replies");
            })
        })
        .collect();
    for c in clients {
        c.join();
    }
    let stats = office.connect_sender::<u64>("server").unwrap().stats();
    assert_eq!(stats.received, CLIENTS * EACH);
    stop(&office, server);
}

// ---------------------------------------------------------------------------
// Spawn, monitors, supervision
// ---------------------------------------------------------------------------

#[test]
fn spawn_runs_on_its_own_named_thread() {
    let office = PostOffice::new();
    let (tx, rx) = cb::bounded(1);
    let handle = office
        .spawn::<u8, _>("worker-1", move |me| {
            let current = thread::current();
            tx.send((current.id(), current.name().map(str::to_string), me.pid()))
                .unwrap();
        })
        .unwrap();
    let (id, name, pid) = rx.recv_timeout(TIMEOUT).unwrap();
    assert_ne!(id, thread::current().id());
    assert_eq!(name.as_deref(), Some("worker-1"));
    assert_eq!(pid, handle.pid());
    assert!(handle.join().is_ok());
    assert!(!office.contains("worker-1"));
    assert!(!office.is_alive(pid));

    // Anonymous: the thread is named after the pid.
    let (tx, rx) = cb::bounded(1);
    let handle = office
        .spawn_anonymous::<u8, _>(move |_| {
            tx.send(thread::current().name().map(str::to_string))
                .unwrap();
        })
        .unwrap();
    let name = rx.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(name, Some(handle.pid().to_string()));
    handle.join().unwrap();
}

#[test]
fn join_reports_a_panic() {
    let office = PostOffice::new();
    let handle = office
        .spawn::<u8, _>("doomed", |_| panic!("doomed by design"))
        .unwrap();
    let payload = handle.join().unwrap_err();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned());
    assert_eq!(text.as_deref(), Some("doomed by design"));
}

#[test]
fn monitor_reports_how_a_process_ended() {
    let office = PostOffice::new();

    // Normal: the closure returned.
    let (go, go_rx) = cb::bounded::<()>(1);
    let normal = office
        .spawn::<u8, _>("normal", move |_| go_rx.recv_timeout(TIMEOUT).unwrap())
        .unwrap();
    let monitor = office.monitor(normal.pid());
    assert_eq!(monitor.try_recv().unwrap_err(), TryRecvError::Empty);
    go.send(()).unwrap();
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        (down.pid(), down.reason()),
        (normal.pid(), &ExitReason::Normal)
    );
    normal.join().unwrap();

    // Panicked: the exact panic text, formatted or not.
    let (go, go_rx) = cb::bounded::<()>(1);
    let crash = office
        .spawn::<u8, _>("crash", move |me| {
            go_rx.recv_timeout(TIMEOUT).unwrap();
            panic!("worker {} hit job {}", me.name().unwrap(), 13);
        })
        .unwrap();
    let monitor = office.monitor(crash.pid());
    go.send(()).unwrap();
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        down.reason(),
        &ExitReason::Panicked("worker crash hit job 13".to_string())
    );
    assert!(crash.join().is_err());

    // A panic without a message.
    let odd = office
        .spawn::<u8, _>("odd", |_| std::panic::panic_any(42u8))
        .unwrap();
    let odd_pid = odd.pid();
    assert!(odd.join().is_err());
    // Ended already: the notice says NoProcess, at once.
    let monitor = office.monitor(odd_pid);
    let down = monitor.try_recv().unwrap();
    assert_eq!(
        (down.pid(), down.reason()),
        (odd_pid, &ExitReason::NoProcess)
    );

    // Never existed: NoProcess at once.
    let unknown = Pid::from_u64(u64::MAX);
    let down = office.monitor(unknown).try_recv().unwrap();
    assert_eq!(
        (down.pid(), down.reason()),
        (unknown, &ExitReason::NoProcess)
    );

    // A Process dropped while its thread unwinds ends as Panicked.
    let holder = office.process::<u8>("holder").unwrap();
    let monitor = office.monitor(holder.pid());
    let unwinding = thread::spawn(move || {
        let _holder = holder;
        panic!("the holder's thread fails");
    });
    assert!(unwinding.join().is_err());
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        down.reason(),
        &ExitReason::Panicked("the thread owning the process panicked".to_string())
    );
}

#[test]
fn panic_without_message_is_reported() {
    let office = PostOffice::new();
    let (go, go_rx) = cb::bounded::<()>(1);
    let odd = office
        .spawn::<u8, _>("odd", move |_| {
            go_rx.recv_timeout(TIMEOUT).unwrap();
            std::panic::panic_any(42u8)
        })
        .unwrap();
    let monitor = office.monitor(odd.pid());
    go.send(()).unwrap();
    let down = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        down.reason(),
        &ExitReason::Panicked("a panic without a message".to_string())
    );
    assert!(odd.join().is_err());
}

/// One monitor, several processes: a notice per process, in the order they
/// end.
#[test]
fn monitor_watches_several_processes() {
    let office = PostOffice::new();
    let workers: Vec<_> = (0..3)
        .map(|i| {
            office
                .spawn::<u32, _>(&format!("w{i}"), |me| {
                    let stop = me.recv().unwrap().into_body();
                    assert!(stop != 13, "poisoned");
                })
                .unwrap()
        })
        .collect();
    let monitor = office.monitor(workers[0].pid());
    monitor.watch(workers[1].pid());
    monitor.watch(workers[2].pid());
    let unknown = Pid::from_u64(u64::MAX - 1);
    monitor.watch(unknown);
    let first = monitor.recv_timeout(TIMEOUT).unwrap();
    assert_eq!(
        (first.pid(), first.reason()),
        (unknown, &ExitReason::NoProcess)
    );

    let mut expected = Vec::new();
    for (i, body) in [(2usize, 0u32), (0, 13), (1, 0)] {
        office
            .lookup::<u32>(&format!("w{i}"))
            .unwrap()
            .send(body)
            .unwrap();
        let down = monitor.recv_timeout(TIMEOUT).unwrap();
        let reason = if body == 13 {
            ExitReason::Panicked("poisoned".into())
        } else {
            ExitReason::Normal
        };
        assert_eq!((down.pid(), down.reason()), (workers[i].pid(), &reason));
        expected.push(workers[i].pid());
    }
    assert_eq!(expected.len(), 3);
    assert_eq!(
        monitor.recv_timeout(SHORT).unwrap_err(),
        RecvTimeoutError::Timeout,
        "one notice per process"
    );
    for (i, w) in workers.into_iter().enumerate() {
        assert_eq!(w.join().is_err(), i == 0);
    }
}

/// A supervisor: when the worker crashes, it starts a new one under the same
/// name, right away (the name is free by the time the notice comes), and
/// the jobs after the poisoned ones are still done.
#[test]
fn supervisor_restarts_a_crashed_worker_under_the_same_name() {
    let office = PostOffice::new();
    let (done_tx, done) = cb::unbounded::<u32>();
    let start_worker = |office: &PostOffice| {
        let done_tx = done_tx.clone();
        office
            .spawn::<u32, _>("worker", move |me| {
                while let Ok(job) = me.recv() {
                    let job = job.into_body();
                    assert!(job != 13, "job {job} is poisoned");
                    done_tx.send(job).unwrap();
                }
            })
            .expect("the worker's name is free")
    };
    let mut worker = start_worker(&office);
    let monitor = office.monitor(worker.pid());
    let mut pids = vec![worker.pid()];
    let mut restarts = 0;
    for job in [1, 2, 13, 3, 13, 13, 4] {
        let addr = office.lookup::<u32>("worker").unwrap();
        addr.send(job).unwrap();
        if job == 13 {
            let down = monitor.recv_timeout(TIMEOUT).unwrap();
            assert_eq!(down.pid(), worker.pid());
            assert_eq!(
                down.reason(),
                &ExitReason::Panicked("job 13 is poisoned".into())
            );
            assert!(addr.is_closed());
            // The name must be free now: restart at once.
            let old = std::mem::replace(&mut worker, start_worker(&office));
            assert!(old.join().is_err());
            monitor.watch(worker.pid());
            pids.push(worker.pid());
            restarts += 1;
        } else {
            assert_eq!(done.recv_timeout(TIMEOUT).unwrap(), job);
        }
    }
    assert_eq!(restarts, 3);
    assert_eq!(
        pids.iter().collect::<HashSet<_>>().len(),
        4,
        "a new pid each time"
    );
    assert_eq!(office.lookup::<u32>("worker").unwrap().pid(), worker.pid());
    // Nothing was lost: the poisoned jobs were taken (and crashed); no other
    // message was left behind.
    assert!(office.dead_letters().is_empty());
}

/// Ending a process's only sender-side handles does not close its inbox: the
/// office keeps it reachable while the process lives.
#[test]
fn inbox_stays_open_while_the_process_lives() {
    let office = PostOffice::new();
    let p = office.process::<u32>("p").unwrap();
    drop(office.lookup::<u32>("p").unwrap());
    drop(p.address());
    assert_eq!(p.try_recv().unwrap_err(), TryRecvError::Empty);
    office.lookup::<u32>("p").unwrap().send(1).unwrap();
    assert_eq!(p.recv_timeout(TIMEOUT).unwrap().into_body(), 1);
}

/// Regression: a monitor set up while a process was ending (its teardown
/// takes a while when its inbox holds messages, which go to dead letters)
/// was told `NoProcess` at once, before the name was free and the
/// process's mailboxes were destroyed: a supervisor restarting on that
/// notice got `NameTaken`. Now every notice comes after the teardown.
#[test]
fn monitor_set_up_while_a_process_ends_is_told_after_its_name_is_free() {
    for round in 0..200 {
        let office = PostOffice::new();
        let p = office
            .process_with::<u32>("worker", Port::builder().unbounded())
            .unwrap();
        office
            .create::<u32>("owned", Mailbox::builder(), Owner::Creator(p.pid()))
            .unwrap();
        for n in 0..2_000 {
            p.address().send(n).unwrap();
        }
        let pid = p.pid();
        let start = Arc::new(Barrier::new(2));
        let ender = {
            let start = Arc::clone(&start);
            spawn("ender", move || {
                start.wait();
                drop(p);
            })
        };
        start.wait();
        let down = office.monitor(pid).recv_timeout(TIMEOUT).unwrap();
        assert!(
            !office.contains("owned") && !office.is_alive(pid),
            "round {round}: {:?} before the teardown finished",
            down.reason()
        );
        office
            .process::<u32>("worker")
            .unwrap_or_else(|e| panic!("round {round}: restart after {down:?}: {e}"));
        ender.join();
    }
}

/// Senders racing with a process's end: each message is, exactly once,
/// received by the process, handed back in a `Closed` error, or a dead letter
/// (including the ones a selective receive had set aside).
#[test]
fn sends_racing_with_a_process_end_are_counted_once() {
    const SENDERS: u64 = 3;
    for round in 0..50u64 {
        let office = PostOffice::new();
        let (got_tx, got) = cb::unbounded::<u64>();
        let (senders_tx, senders_rx) = cb::bounded::<Pid>(SENDERS as usize);
        let start = Arc::new(Barrier::new(SENDERS as usize + 1));
        let receiver = office
            .spawn::<u64, _>("target", {
                let start = Arc::clone(&start);
                move |me| {
                    let picky: Pid = senders_rx.recv_timeout(TIMEOUT).unwrap();
                    start.wait();
                    // Selective for a while (setting the others aside), then
                    // anything, then it ends with messages still coming.
                    for _ in 0..50 {
                        let m = me.recv_from_timeout(picky, TIMEOUT).unwrap();
                        got_tx.send(m.into_body()).unwrap();
                    }
                    for _ in 0..(round * 7) % 100 {
                        let m = me.recv_timeout(TIMEOUT).unwrap();
                        got_tx.send(m.into_body()).unwrap();
                    }
                }
            })
            .unwrap();
        let monitor = office.monitor(receiver.pid());
        let senders: Vec<_> = (0..SENDERS)
            .map(|s| {
                let office = office.clone();
                let start = Arc::clone(&start);
                let senders_tx = senders_tx.clone();
                spawn(format!("sender {s}"), move || {
                    let me = office.anonymous::<u64>();
                    if s == 0 {
                        senders_tx.send(me.pid()).unwrap();
                    }
                    let to = office.lookup::<u64>("target").unwrap();
                    start.wait();
                    let mut back = Vec::new();
                    let mut sent = 0;
                    for n in 0.. {
                        let id = (s << 32) | n;
                        match me.send_to(&to, id) {
                            Ok(()) => sent += 1,
                            Err(SendError::Closed(m)) => {
                                back.push(m.into_body());
                                break;
                            }
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    (sent, back)
                })
            })
            .collect();
        let results: Vec<(u64, Vec<u64>)> = senders.into_iter().map(|s| s.join()).collect();
        receiver.join().unwrap();
        assert_eq!(
            monitor.recv_timeout(TIMEOUT).unwrap().reason(),
            &ExitReason::Normal
        );
        let received: Vec<u64> = got.try_iter().collect();
        let dead: Vec<u64> = office
            .dead_letters()
            .drain::<u64>()
            .into_iter()
            .map(|l| *l.body())
            .collect();
        let mut seen = HashSet::new();
        for id in received.iter().chain(&dead) {
            assert!(seen.insert(*id), "round {round}: message {id:#x} twice");
        }
        for (s, (sent, back)) in results.iter().enumerate() {
            assert_eq!(back.len(), 1);
            assert!(!seen.contains(&back[0]), "handed back and delivered");
            // Every accepted message of this sender is accounted for.
            for n in 0..*sent {
                let id = ((s as u64) << 32) | n;
                assert!(seen.contains(&id), "round {round}: message {id:#x} lost");
            }
        }
        let accepted: u64 = results.iter().map(|(sent, _)| sent).sum();
        assert_eq!(seen.len() as u64, accepted, "round {round}");
    }
}

/// A server never hangs on a requester whose inbox stays full: `reply_with`
/// gives up as told and hands the reply back; the blocking `reply` goes
/// through once there is room.
#[test]
fn reply_with_does_not_wait_on_a_full_requester() {
    let office = PostOffice::new();
    let server = office.anonymous::<u64>();
    let requester = office
        .process_with::<u64>("requester", Port::builder().capacity(1))
        .unwrap();
    let asked = Message::new(1u64)
        .reply_to(requester.pid())
        .correlation_id(9);
    requester.send_to(&server.address(), asked).unwrap();
    let request = server.try_recv().unwrap();

    // Something else fills the requester's one slot.
    requester.address().send(100).unwrap();
    match server.reply_with(request.header(), 2u64, Wait::NonBlocking) {
        Err(ReplyError::Unsent(SendTimeoutError::Full(m))) => {
            assert_eq!((m.header().correlation_id(), m.into_body()), (Some(9), 2))
        }
        other => panic!("expected Unsent(Full), got {other:?}"),
    }
    let start = Instant::now();
    match server.reply_with(
        request.header(),
        3u64,
        Wait::Timeout(Duration::from_millis(30)),
    ) {
        Err(ReplyError::Unsent(SendTimeoutError::Timeout(m))) => assert_eq!(m.into_body(), 3),
        other => panic!("expected Unsent(Timeout), got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(30));

    // Room again: the reply lands, from the server, correlated.
    assert_eq!(requester.try_recv().unwrap().into_body(), 100);
    server.reply(request.header(), 4u64).unwrap();
    let reply = requester.try_recv().unwrap();
    assert_eq!(reply.header().source(), Some(server.pid()));
    assert_eq!(reply.header().correlation_id(), Some(9));
    assert_eq!(reply.into_body(), 4);
}
