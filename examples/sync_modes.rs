//! The synchronization design issue: the textbook's three send/receive
//! combinations, then the test for arrival on the sender's side (receipts).
//!
//! | combination | postbox |
//! | --- | --- |
//! | blocking send, blocking receive (rendezvous) | capacity 0, or `Confirm::Received` on any mailbox |
//! | non-blocking send, blocking receive | `try_send` + `recv` |
//! | non-blocking send, non-blocking receive | `try_send` + `try_recv` / `is_empty` |
//! | test for arrival (sender) | `send_tracked` -> `Receipt` |
//!
//! Run with `cargo run --example sync_modes`.

use std::thread;
use std::time::{Duration, Instant};

use postbox::{
    Confirm, Mailbox, ReceiptError, ReceiptState, RecvTimeoutError, SendError, SendTimeoutError,
    TryRecvError, TrySendError, Wait,
};

/// How long the "slow" side of each demo dawdles before acting.
const DELAY: Duration = Duration::from_millis(30);

fn main() {
    println!("(the slow side of each case waits {DELAY:?} before acting)\n");
    blocking_send_blocking_receive();
    nonblocking_send_blocking_receive();
    nonblocking_send_nonblocking_receive();
    receipts();
    unconfirmed();
}

/// Prints one labelled result line.
fn line(label: &str, what: impl std::fmt::Display) {
    println!("  {label:<38} {what}");
}

fn blocking_send_blocking_receive() {
    println!("1. blocking send + blocking receive (rendezvous)");

    // A capacity-0 mailbox holds nothing: a send completes only when a
    // receiver takes the message.
    let (tx, rx) = Mailbox::<&str>::builder().rendezvous().build();
    let receiver = thread::spawn(move || {
        thread::sleep(DELAY);
        rx.recv().expect("the sender is alive").into_body()
    });
    let start = Instant::now();
    tx.send("hello").expect("the receiver is alive");
    line(
        "capacity 0: send returned after",
        format!("{:.1?} (when the receiver took it)", start.elapsed()),
    );
    receiver.join().expect("receiver");

    // On a buffered mailbox there is room at once, so a plain send returns
    // immediately; Confirm::Received still waits for the receiver.
    let (tx, rx) = Mailbox::<&str>::builder().capacity(8).build();
    let receiver = thread::spawn(move || {
        thread::sleep(DELAY);
        let first = rx.recv().expect("alive").into_body();
        let second = rx.recv().expect("alive").into_body();
        (first, second)
    });
    let start = Instant::now();
    tx.send("queued").expect("the receiver is alive");
    line(
        "capacity 8, send:",
        format!("returned after {:.1?} (queued)", start.elapsed()),
    );
    let start = Instant::now();
    tx.send_with("confirmed", Wait::Blocking, Confirm::Received)
        .expect("the receiver is alive");
    line(
        "capacity 8, Confirm::Received:",
        format!("returned after {:.1?} (received)", start.elapsed()),
    );
    receiver.join().expect("receiver");
}

fn nonblocking_send_blocking_receive() {
    println!("\n2. non-blocking send + blocking receive");

    let (tx, rx) = Mailbox::<u32>::builder().capacity(2).build();
    let receiver = thread::spawn(move || {
        let start = Instant::now();
        let first = rx.recv().expect("the sender is alive").into_body();
        let waited = start.elapsed();
        thread::sleep(3 * DELAY); // busy with the first job
        let rest: Vec<u32> = rx.iter().map(|m| m.into_body()).collect();
        (first, waited, rest)
    });

    thread::sleep(DELAY); // the receiver is blocked in recv meanwhile
    tx.try_send(1).expect("room");
    thread::sleep(DELAY); // the sender goes on with other work

    // The receiver is busy: two jobs fit, the others come straight back.
    let start = Instant::now();
    let mut handed_back = Vec::new();
    for job in 2..=5 {
        match tx.try_send(job) {
            Ok(()) => {}
            // Full: the message comes back instead of the sender waiting.
            Err(TrySendError::Full(msg)) => handed_back.push(msg.into_body()),
            Err(other) => panic!("unexpected: {other}"),
        }
    }
    let send_time = start.elapsed();
    drop(tx);
    let (first, waited, rest) = receiver.join().expect("receiver");
    line(
        "receiver blocked in recv for",
        format!("{waited:.1?}, until job {first} arrived"),
    );
    line(
        "4 try_sends on capacity 2 took",
        format!("{send_time:.1?} in all (never waited)"),
    );
    line(
        "queued / handed back as Full:",
        format!("{rest:?} / {handed_back:?}"),
    );
}

fn nonblocking_send_nonblocking_receive() {
    println!("\n3. non-blocking send + non-blocking receive");

    let (tx, rx) = Mailbox::<&str>::builder().build();
    line(
        "try_recv on an empty mailbox:",
        format!("{:?}", rx.try_recv().unwrap_err()),
    );
    line(
        "recv_with(Wait::NonBlocking):",
        format!("{:?}", rx.recv_with(Wait::NonBlocking).unwrap_err()),
    );
    tx.try_send("ping").expect("room");
    line(
        "after try_send, test for arrival:",
        format!("is_empty() = {}, len() = {}", rx.is_empty(), rx.len()),
    );
    let msg = rx.try_recv().expect("queued");
    line("try_recv:", format!("{:?}", msg.body()));
    drop(tx);
    assert_eq!(rx.try_recv().unwrap_err(), TryRecvError::Closed);
    line("try_recv after the sender left:", "Closed");
    assert_eq!(
        rx.recv_with(Wait::NonBlocking).unwrap_err(),
        RecvTimeoutError::Closed
    );
}

fn receipts() {
    println!("\n4. receipts: the sender's test for arrival");

    let (tx, rx) = Mailbox::<&str>::builder().build();
    let receipt = tx
        .send_tracked("portrait #1")
        .expect("the receiver is alive");
    line(
        "send_tracked, before any receive:",
        format!(
            "{:?}, is_delivered() = {}",
            receipt.state(),
            receipt.is_delivered()
        ),
    );
    let start = Instant::now();
    line(
        "wait_timeout(10ms), nobody receives:",
        format!(
            "{:?} after {:.1?}",
            receipt.wait_timeout(Duration::from_millis(10)),
            start.elapsed()
        ),
    );

    let receiver = thread::spawn(move || {
        thread::sleep(DELAY);
        rx.recv().expect("queued");
        rx // keep the receiver alive for the next step
    });
    let start = Instant::now();
    let waited = receipt.wait_timeout(Duration::from_secs(5));
    line(
        "wait_timeout(5s), receiver is slow:",
        format!("{waited:?} after {:.1?}", start.elapsed()),
    );
    line(
        "then:",
        format!(
            "{:?}, is_delivered() = {}",
            receipt.state(),
            receipt.is_delivered()
        ),
    );

    // A message nobody will ever take: its receipt says so.
    let rx = receiver.join().expect("receiver");
    let orphan = tx
        .send_tracked("portrait #2")
        .expect("the receiver is alive");
    drop(rx); // the last receiver goes: what is queued is dropped, counted
    assert_eq!(orphan.wait(), Err(ReceiptError::Closed));
    assert_eq!(orphan.state(), ReceiptState::Dropped);
    line(
        "last receiver dropped, queued msg:",
        format!(
            "{:?}; wait() = Err({:?}); stats.dropped = {}",
            orphan.state(),
            ReceiptError::Closed,
            tx.stats().dropped
        ),
    );
}

fn unconfirmed() {
    println!("\n5. Unconfirmed: queued, but the confirmation did not come");

    // A handle whose sends all wait for the receiver.
    let (tx, rx) = Mailbox::<&str>::builder().build();
    let tx = tx.with_confirm(Confirm::Received);
    let start = Instant::now();
    match tx.send_timeout("retouch", Duration::from_millis(20)) {
        Err(SendTimeoutError::Unconfirmed(receipt)) => {
            line(
                "send_timeout(20ms), nobody receives:",
                format!(
                    "Unconfirmed after {:.1?}, receipt {:?}",
                    start.elapsed(),
                    receipt.state()
                ),
            );
            // Not lost: it is still in the mailbox, and the receipt follows it.
            let msg = rx.recv().expect("still queued");
            line(
                "the message was not lost:",
                format!(
                    "recv got {:?}; receipt now {:?}",
                    msg.body(),
                    receipt.state()
                ),
            );
        }
        other => panic!("expected Unconfirmed, got {other:?}"),
    }

    // Non-blocking with confirmation: queued at once, unconfirmed at once.
    match tx.try_send("crop") {
        Err(err @ TrySendError::Unconfirmed(_)) => {
            assert!(err.message().is_none());
            line(
                "try_send with Confirm::Received:",
                "Unconfirmed at once; into_message() is None (still queued)",
            );
        }
        other => panic!("expected Unconfirmed, got {other:?}"),
    }
    rx.recv().expect("queued");

    // Blocking with confirmation, and the receiver goes away: the confirmation
    // can never come, and the receipt says why.
    let leaver = thread::spawn(move || {
        thread::sleep(DELAY);
        drop(rx);
    });
    match tx.send("upscale") {
        Err(SendError::Unconfirmed(receipt)) => {
            assert_eq!(receipt.state(), ReceiptState::Dropped);
            line(
                "send, receiver dropped meanwhile:",
                format!("Unconfirmed, receipt {:?}", receipt.state()),
            );
        }
        other => panic!("expected Unconfirmed, got {other:?}"),
    }
    leaver.join().expect("leaver");
    assert_eq!(tx.stats().dropped, 1);
    assert!(tx.is_closed());
}
