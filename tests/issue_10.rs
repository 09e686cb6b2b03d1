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
